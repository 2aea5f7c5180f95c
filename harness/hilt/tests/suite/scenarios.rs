//! Every scenario in `fixtures/scenarios/`, each step checked against the
//! model, its transcript pinned as an insta snapshot (the same snapshot for
//! every target: only Device Identification's ModelName differs, and it is
//! redacted, with the uptime, by `hilt::suite::redact`).

use crate::target::{kind, model_name, start};

#[test]
fn scenarios() {
    let kind = kind();
    let mut target = start(kind, None);
    insta::glob!("../../../../fixtures/scenarios", "*.txt", |path| {
        let transcript = hilt::suite::scenario(target.as_mut(), model_name(kind), path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The board's ModelName and the uptime vary; `hilt nightly` compares
        // with the same redaction.
        insta::assert_snapshot!(hilt::suite::redact(&transcript));
    });
}
