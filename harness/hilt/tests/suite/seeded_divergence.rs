//! Proof that the property suite catches bugs: the firmware built with the
//! core's `seeded-divergence` feature (Write Multiple Registers writes one
//! register too few) must fail the suite, shrunk to at most three requests.

use hilt::firmware::{self, LM3S6965EVB};
use hilt::suite::properties::{self, PropertyConfig, PropertyOutcome};

use crate::target::{kind, model_name, start, Kind};

#[test]
fn a_seeded_divergence_is_caught_and_shrunk() {
    if kind() != Kind::Qemu {
        eprintln!("skipped: the seeded divergence is built into the emulated board's firmware; run with HILT_TARGET=qemu");
        return;
    }
    let elf = firmware::build_variant(&LM3S6965EVB, &["seeded-divergence"])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut target = start(Kind::Qemu, Some(elf));
    let config = PropertyConfig {
        cases: 256,
        max_len: 24,
        // Fixed, so the test is repeatable; any seed finds it.
        seed: 2026,
        save_to: None,
    };
    match properties::run(target.as_mut(), model_name(Kind::Qemu), &[], &config) {
        Err(PropertyOutcome::Failed(failure)) => {
            eprintln!(
                "caught, shrunk to {} request(s):\n{}",
                failure.minimal.len(),
                failure.transcript
            );
            assert!(
                failure.minimal.len() <= 3,
                "shrunk only to {} requests:\n{}",
                failure.minimal.len(),
                failure.transcript
            );
            assert!(
                failure.transcript.contains("DIVERGES"),
                "{}",
                failure.transcript
            );
        }
        Err(PropertyOutcome::Error(e)) => panic!("the suite could not run: {e}"),
        Ok(report) => panic!(
            "the seeded divergence went unnoticed in {} cases ({} requests)",
            report.cases, report.requests
        ),
    }
}
