//! Crash and hang evidence, and recovery, end to end: the firmware built
//! with its `crash-trigger` feature on the emulated board, and the
//! simulation with `--crash-trigger`, each made to panic, fault and hang.

use std::time::{Duration, Instant};

use hilt::crash::{FailureKind, Outcome};
use hilt::firmware::{self, LM3S6965EVB};
use hilt::session;
use hilt::target::qemu::{QemuOptions, QemuTarget};
use hilt::target::sim::{SimOptions, SimTarget};
use hilt::target::{Target, TargetError};
use hilt_protocol::Protocol;

use crate::common::{self, Kind, TIMING};

/// The crash trigger's requests (see the firmware's `run.rs`).
const TRIGGERS: [(&str, &str, FailureKind); 3] = [
    ("panic", "frame FF 66 01", FailureKind::Panic),
    ("fault", "frame FF 66 02", FailureKind::Fault),
    ("hang", "frame FF 66 03", FailureKind::Hang),
];

fn start(kind: Kind) -> Box<dyn Target> {
    match kind {
        Kind::Qemu => {
            common::require_qemu();
            let elf = firmware::build_variant(&LM3S6965EVB, &["crash-trigger"])
                .expect("the crash-trigger build");
            let mut options = QemuOptions::new(elf);
            options.timing = TIMING;
            Box::new(QemuTarget::start(&options).expect("starting QEMU"))
        }
        Kind::Sim => {
            let mut options = SimOptions::hilt_binary(common::hilt_bin());
            options.args.push("--crash-trigger".into());
            options.timing = TIMING;
            Box::new(SimTarget::start(&options).expect("starting the simulation"))
        }
    }
}

fn each_failure_is_reported_with_its_location_and_recovered_from(kind: Kind) {
    let protocol = common::protocol();
    let mut target = start(kind);
    let mut scratch = Vec::new();
    for (name, trigger, expected) in TRIGGERS {
        // Some state first, so that the check after recovery means something.
        let before = common::run(target.as_mut(), "write-register 5 1234");
        assert!(
            before[0].decoded.text.contains("wrote"),
            "{}",
            before[0].line()
        );

        let request = protocol.parse_request(trigger).unwrap();
        let triggered = Instant::now();
        let (_, outcome) =
            session::classify(&protocol, target.as_mut(), &request, None, &mut scratch)
                .unwrap_or_else(|e| panic!("{kind:?} {name}: {e}"));
        let class = match (expected, &outcome) {
            (FailureKind::Hang, Outcome::Hang(_)) => "hang",
            (_, Outcome::Crash(_)) => "crash",
            _ => panic!("{kind:?} {name}: outcome {outcome:?}"),
        };
        let evidence = outcome.evidence().unwrap();
        assert_eq!(evidence.kind, expected, "{kind:?} {name}: {evidence}");
        let location = evidence
            .location
            .as_ref()
            .unwrap_or_else(|| panic!("{kind:?} {name}: no location in {evidence:?}"));
        let function = location.function.as_deref().unwrap_or_default();
        // The crash trigger's code: `mbnode_fw::run::crash_trigger` and
        // `bad_memory_access` in the firmware, `mbnode_sim::crash_trigger`.
        assert!(
            function.contains("crash_trigger") || function.ends_with("run::bad_memory_access"),
            "{kind:?} {name}: located in {location}"
        );
        assert!(
            location.line.is_some(),
            "{kind:?} {name}: no line in {location}"
        );

        let started = Instant::now();
        let took = session::recover(&protocol, target.as_mut(), 3, &mut scratch)
            .unwrap_or_else(|e| panic!("{kind:?} {name}: {e}"));
        println!(
            "{kind:?} {name}: {class} reported {:.0} ms after the trigger, {evidence}; recovered (reset and a health request answered) in {:.0} ms; {:.0} ms in all",
            (started - triggered).as_secs_f64() * 1000.0,
            took.as_secs_f64() * 1000.0,
            triggered.elapsed().as_secs_f64() * 1000.0
        );
        assert!(
            took < Duration::from_secs(30),
            "{kind:?} {name}: recovery took {took:?}"
        );

        // Back in its reset state, answering as it should.
        let after = common::run(
            target.as_mut(),
            "read-holding 5 1\nwrite-register 5 99\nread-holding 5 1",
        );
        assert_eq!(
            after[0].decoded.text, "holding 0x0005: 0",
            "{kind:?} {name}: not reset"
        );
        assert_eq!(
            after[2].decoded.text, "holding 0x0005: 99",
            "{kind:?} {name}"
        );
    }
    target.shutdown().unwrap();
}

#[test]
fn the_emulated_board_reports_and_recovers_from_a_panic_a_fault_and_a_hang() {
    each_failure_is_reported_with_its_location_and_recovered_from(Kind::Qemu);
}

#[test]
fn the_simulation_reports_and_recovers_from_a_panic_a_fault_and_a_hang() {
    each_failure_is_reported_with_its_location_and_recovered_from(Kind::Sim);
}

#[test]
fn a_target_that_stays_dead_is_given_up_after_a_bounded_number_of_resets() {
    // A simulation that starts once: every restart (its reset) fails.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let script = format!(
        "if [ -e '{marker}' ]; then echo 'no second start' >&2; exit 3; fi; touch '{marker}'; exec '{hilt}' sim-node --crash-trigger \"$0\"",
        marker = marker.display(),
        hilt = common::hilt_bin().display()
    );
    let mut options = SimOptions::hilt_binary("/bin/sh");
    options.args = vec!["-c".into(), script.into()];
    options.timing = TIMING;
    let mut target = SimTarget::start(&options).expect("the first start");
    let protocol = common::protocol();
    let mut scratch = Vec::new();
    let request = protocol.parse_request("frame FF 66 01").unwrap();
    let (_, outcome) =
        session::classify(&protocol, &mut target, &request, None, &mut scratch).unwrap();
    assert_eq!(outcome.class(), "crash", "{outcome:?}");
    let error = session::recover(&protocol, &mut target, 3, &mut scratch).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, TargetError::Unrecoverable { attempts: 3, .. }),
        "{message}"
    );
    assert!(
        message.contains("sim did not recover: 3 resets"),
        "{message}"
    );
    assert!(message.contains("no second start"), "{message}");
}
