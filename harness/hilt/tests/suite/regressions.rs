//! Every regression case in `fixtures/regressions/` (promoted there by
//! `hilt triage --promote`): replayed on the target, every answer checked
//! against the reference model, the transcript pinned as an insta snapshot.
//! A bug that comes back fails here with the signature it had when it was
//! caught.

use hilt::triage::replay::{Backend, Wire};
use hilt_modbus::fuzzing::Steps;

use crate::target::{kind, model_name, source_root, start, Kind};

#[test]
fn regressions() {
    let kind = kind();
    let quiet = hilt::wirefuzz::quiet_for(match kind {
        Kind::Qemu => hilt::boards::Kind::Qemu,
        Kind::Sim => hilt::boards::Kind::Sim,
    });
    let mut wire = Wire::new(start(kind, None), model_name(kind), quiet);
    let cases = hilt::triage::regressions(&source_root().join("fixtures/regressions"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!cases.is_empty(), "fixtures/regressions holds no cases");
    insta::glob!("../../../../fixtures/regressions", "*.steps", |path| {
        let steps = Steps::from_bytes(&std::fs::read(path).expect("a regression case"));
        let replay = wire
            .replay(&steps)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Some(failure) = &replay.failure {
            let caught = cases
                .iter()
                .find(|(p, _)| p == path)
                .and_then(|(_, meta)| meta.as_ref())
                .map_or_else(|| "no metadata".into(), |m| m.signature.clone());
            panic!(
                "regression {} is back on {}: {} (signature {}; caught as {caught})\n{}",
                path.display(),
                wire.name(),
                failure.summary,
                failure.signature,
                replay.text()
            );
        }
        insta::assert_snapshot!(replay.text());
    });
}
