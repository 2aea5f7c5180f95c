//! Every scenario in `fixtures/scenarios/`, each step checked against the
//! model, its transcript pinned as an insta snapshot (the same snapshot for
//! every target: only Device Identification's ModelName differs, and it is
//! redacted).

use crate::target::{kind, model_name, start};

#[test]
fn scenarios() {
    let kind = kind();
    let mut target = start(kind, None);
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r#"0x05 "(lm3s6965evb|host-sim)""#, r#"0x05 "[board]""#);
    // Input registers 0x0020..=0x0021 are the uptime: never deterministic.
    settings.add_filter(r"input 0x0020: \d+ \d+", "input 0x0020: [uptime] [uptime]");
    settings.bind(|| {
        insta::glob!("../../../../fixtures/scenarios", "*.txt", |path| {
            let transcript = hilt::suite::scenario(target.as_mut(), model_name(kind), path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            insta::assert_snapshot!(transcript);
        });
    });
}
