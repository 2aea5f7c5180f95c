//! Tests of the generators, and of the model driven by them.
//!
//! Index:
//! - `generated_requests_render_and_parse_back`: every request of every
//!   generator is encodable and its canonical text parses back to it.
//! - `model_runs`: runs of [`any_request_for`] against the model, one
//!   deterministic RNG: answers are frames, protected registers never change
//!   unless unlocked, the model agrees with `wire_expects_response`, with
//!   the plug-in's framing and with its decoder on every answer.
//!   `model_runs_shrinkable` checks the same on [`any_request`] sequences
//!   for unit 1, as a proptest that shrinks a failure.
//! - `runs_reach_the_interesting_states`: short runs unlock the node and
//!   leave listen-only mode often enough (deterministic RNG, lenient
//!   thresholds).

use hilt_protocol::{Framing, Protocol, Verdict};
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use super::*;
use crate::wire::{crc_ok, EXCEPTION_BIT};
use crate::ModbusRtu;

/// Draws one value of `strategy`.
fn draw<T: std::fmt::Debug>(runner: &mut TestRunner, strategy: &BoxedStrategy<T>) -> T {
    strategy
        .new_tree(runner)
        .expect("the generators never reject")
        .current()
}

fn round_trip(request: &ModbusRequest, default_unit: u8) -> Result<(), TestCaseError> {
    request
        .kind
        .check_encodable()
        .map_err(TestCaseError::fail)?;
    let modbus = ModbusRtu { default_unit };
    let text = modbus.render_request(request);
    let parsed = modbus.parse_request(&text);
    prop_assert_eq!(parsed.as_ref(), Ok(request), "`{}`", text);
    Ok(())
}

proptest! {
    #[test]
    fn generated_requests_render_and_parse_back(
        (unit, request) in any::<u8>().prop_flat_map(|u| (Just(u), any_request(u))),
        default_unit in prop_oneof![Just(1u8), any::<u8>()],
    ) {
        round_trip(&request, unit)?;
        round_trip(&request, default_unit)?;
    }

    #[test]
    fn malformed_requests_render_and_parse_back(
        (unit, request) in any::<u8>().prop_flat_map(|u| (Just(u), malformed(u))),
    ) {
        round_trip(&request, unit)?;
    }
}

/// One step of a run: checks what the model did with `request`.
fn step(model: &mut Model, request: &ModbusRequest) {
    let before = model.clone();
    let modbus = ModbusRtu {
        default_unit: before.unit_id(),
    };
    let wire = request.to_bytes();
    let answers = model.exchange(&wire);
    let text = modbus.render_request(request);
    let context = format!("`{text}` in state {before}");

    for answer in &answers {
        assert!(crc_ok(&answer.bytes), "{context}: {answer}");
        assert!(answer.bytes.len() <= MAX_ADU, "{context}: {answer}");
    }
    if before.lock() != LockState::Unlocked {
        assert_eq!(
            model.protected_values(),
            before.protected_values(),
            "{context}: a protected register changed while not unlocked"
        );
    }
    if before.listen_only() {
        assert!(
            answers.is_empty(),
            "{context}: answered in listen-only mode"
        );
    }

    let typed = !matches!(
        request.kind,
        RequestKind::Pdu(_) | RequestKind::Frame(_) | RequestKind::Raw(_)
    );
    let ours = request.unit == before.unit_id() || request.unit == BROADCAST;
    // `wire_expects_response` calls every Force Listen Only unanswered,
    // but the node answers one with bad data with exception 0x03.
    let force_listen_only = matches!(
        request.kind,
        RequestKind::Diagnostics { sub_function: 0x0004, ref data } if data.len() != 1
    );
    if typed && ours && !before.listen_only() && !force_listen_only {
        assert_eq!(
            answers.len(),
            usize::from(request.expects_response()),
            "{context}: {answers:?}"
        );
    }
    // The plug-in's own reading of an answer agrees with the model.
    if let ([answer], false) = (&answers[..], matches!(request.kind, RequestKind::Raw(_))) {
        let bytes = &answer.bytes;
        assert_eq!(
            modbus.framing(request, bytes),
            Framing::Complete(bytes.len()),
            "{context}: {answer}"
        );
        let decoded = modbus.decode(request, bytes);
        match bytes.get(1) {
            Some(f) if f & EXCEPTION_BIT != 0 => assert_eq!(
                decoded.verdict,
                Verdict::Exception(bytes[2]),
                "{context}: {answer}: {}",
                decoded.text
            ),
            _ => assert_eq!(
                decoded.verdict,
                Verdict::Answer,
                "{context}: {answer}: {}",
                decoded.text
            ),
        }
    }
}

proptest! {
    #[test]
    fn model_runs_shrinkable(requests in proptest::collection::vec(any_request(1), 1..60)) {
        let mut model = Model::new("lm3s6965evb");
        for request in &requests {
            step(&mut model, request);
        }
    }
}

#[test]
fn model_runs() {
    let mut runner = TestRunner::deterministic();
    for _ in 0..200 {
        let mut model = Model::new("host-sim");
        for _ in 0..100 {
            let request = draw(&mut runner, &any_request_for(&model));
            step(&mut model, &request);
        }
    }
}

/// Out of `runs` runs of `len` requests, how many reach the unlocked
/// state, and the share of requests met in listen-only mode.
fn survey(
    runs: usize,
    len: usize,
    next: impl Fn(&Model) -> BoxedStrategy<ModbusRequest>,
) -> (usize, f64) {
    let mut runner = TestRunner::deterministic();
    let (mut unlocked, mut listening, mut total) = (0, 0, 0);
    for _ in 0..runs {
        let mut model = Model::new("host-sim");
        let mut reached = false;
        for _ in 0..len {
            let request = draw(&mut runner, &next(&model));
            model.expect(&request);
            reached |= model.lock() == LockState::Unlocked;
            listening += usize::from(model.listen_only());
            total += 1;
        }
        unlocked += usize::from(reached);
    }
    (unlocked, listening as f64 / total as f64)
}

#[test]
fn runs_reach_the_interesting_states() {
    let (plain, plain_listening) = survey(200, 50, |m| request(m.unit_id()));
    let (guided, guided_listening) = survey(200, 50, request_for);
    eprintln!(
        "runs of 50 that unlock: request {plain}/200, request_for {guided}/200; \
         time in listen-only: {:.1}%, {:.1}%",
        plain_listening * 100.0,
        guided_listening * 100.0
    );
    assert!(plain >= 30, "request unlocks in {plain}/200 runs");
    assert!(guided >= 150, "request_for unlocks in {guided}/200 runs");
    assert!(plain_listening < 0.15 && guided_listening < 0.10);
}
