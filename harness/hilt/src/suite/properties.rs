//! The property suite: random request sequences, each run on a freshly
//! reset device and on the model, compared request by request.
//!
//! Generation and shrinking come from proptest-state-machine's sequential
//! strategy over the reference model (so generated requests follow the
//! node's state: its unit id, for one). Execution is ours: each case resets
//! the target, sends the sequence, and returns a proptest failure (not a
//! panic) at the first divergence, so that shrinking replays quietly, each
//! replay on a reset target.
//!
//! Beyond exact answers, each case ends by checking two properties on the
//! device itself: unless the model says the lock was opened, the protected
//! registers still hold their reset values; and after a reset, a dump of the
//! whole state equals a fresh node's.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hilt_modbus::model::{LockState, Model};
use hilt_modbus::{ModbusRequest, ModbusRtu};
use hilt_protocol::Protocol;
use proptest::strategy::{BoxedStrategy, Just, Strategy};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use proptest_state_machine::ReferenceStateMachine;

use super::{sequences, Checker, SuiteError};
use crate::target::Target;

/// How the property suite runs.
#[derive(Debug, Clone)]
pub struct PropertyConfig {
    /// Random sequences to try.
    pub cases: u32,
    /// The longest sequence.
    pub max_len: usize,
    /// The random seed (printed, so a run can be repeated).
    pub seed: u64,
    /// Where to save a minimal failing sequence (none: do not save).
    pub save_to: Option<PathBuf>,
    /// How long shrinking a failure may take (none: up to 2,048 steps):
    /// on a device that hangs, each step costs answer timeouts.
    pub shrink_time: Option<Duration>,
}

/// What a passing run did.
#[derive(Debug, Clone)]
pub struct PropertyReport {
    /// Saved sequences replayed.
    pub replayed: usize,
    /// Generated cases run.
    pub cases: u32,
    /// Requests sent in all.
    pub requests: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// A failing run: the minimal sequence and its transcript.
#[derive(Debug, Clone)]
pub struct PropertyFailure {
    /// Why the minimal sequence fails.
    pub reason: String,
    /// The minimal failing sequence.
    pub minimal: Vec<ModbusRequest>,
    /// Its transcript on the device, one line a request, the failing one
    /// last, with what the model expected.
    pub transcript: String,
    /// Where it was saved, if it was.
    pub saved: Option<PathBuf>,
    /// The seed that found it.
    pub seed: u64,
}

/// The reference state machine: the model drives generation.
struct Node;

impl ReferenceStateMachine for Node {
    type State = Model;
    type Transition = ModbusRequest;

    fn init_state() -> BoxedStrategy<Model> {
        // The ModelName does not matter for generation; the checker's own
        // model has the target's.
        Just(Model::new("reference")).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<ModbusRequest> {
        hilt_modbus::strategy::any_request_for(state)
    }

    fn apply(mut state: Model, transition: &ModbusRequest) -> Model {
        let mut bytes = Vec::new();
        ModbusRtu::default().encode(transition, &mut bytes);
        state.exchange(&bytes);
        state
    }
}

/// The requests that read the node's whole state (uptime aside), addressed
/// to `unit`, after leaving listen-only mode.
fn state_dump(unit: u8) -> Vec<ModbusRequest> {
    let protocol = ModbusRtu { default_unit: unit };
    [
        "diagnostics 0x0001 0x0000",
        "read-coils 0x0000 32",
        "read-holding 0x0000 80",
        "read-holding 0x0100 2",
        "read-holding 0x0110 1",
        "read-input 0x0000 32",
        "read-fifo 0x0200",
        "read-file-record 1/0/60",
        "read-file-record 2/0/60",
        "read-file-record 3/0/60",
        "read-file-record 4/0/60",
        "read-device-id 2 0",
    ]
    .iter()
    .filter_map(|line| protocol.parse_request(line).ok())
    .collect()
}

/// Protected registers at reset: calibration zeros, unit id 1, line 0.
fn protected_at_reset() -> Vec<u16> {
    Model::new("reference").protected_values()
}

/// Runs one sequence on a reset device; checks the properties at its end.
/// Every step's transcript line goes to `log`, if given.
fn run_case(
    checker: &mut Checker<'_>,
    requests: &[ModbusRequest],
    seen: Option<&Arc<AtomicUsize>>,
    mut log: Option<&mut Vec<String>>,
) -> Result<(), SuiteError> {
    let mut step = |checker: &mut Checker<'_>, request: &ModbusRequest| {
        let checked = checker.step(request)?;
        if let Some(log) = log.as_deref_mut() {
            log.push(checked.line);
        }
        Ok::<(), SuiteError>(())
    };
    checker.reset()?;
    let mut opened = false;
    for request in requests {
        if let Some(seen) = seen {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        step(checker, request)?;
        opened |= checker.model().lock() == LockState::Unlocked;
    }
    // Protected registers hold unless the lock was opened: read them from
    // the device itself (each read is checked against the model too).
    let unit = checker.model().unit_id();
    for request in state_dump(unit).iter().take(5) {
        step(checker, request)?;
    }
    if !opened && checker.model().protected_values() != protected_at_reset() {
        return Err(SuiteError::Property(
            "protected registers changed while the lock was never opened".into(),
        ));
    }
    // A reset restores the reset state, all of it.
    checker.reset()?;
    for request in &state_dump(1) {
        step(checker, request)?;
    }
    Ok(())
}

/// Replays saved sequences, then generates `config.cases` sequences.
pub fn run(
    target: &mut dyn Target,
    model_name: &str,
    saved: &[sequences::Sequence],
    config: &PropertyConfig,
) -> Result<PropertyReport, PropertyOutcome> {
    let started = Instant::now();
    let checker = RefCell::new(Checker::new(target, model_name));
    for sequence in saved {
        let mut c = checker.borrow_mut();
        if let Err(e) = run_case(&mut c, &sequence.requests, None, None) {
            return Err(PropertyOutcome::Failed(Box::new(PropertyFailure {
                reason: format!("saved sequence {}: {e}", sequence.path.display()),
                transcript: transcript(&mut c, &sequence.requests),
                minimal: sequence.requests.clone(),
                saved: Some(sequence.path.clone()),
                seed: config.seed,
            })));
        }
    }
    let proptest_config = Config {
        cases: config.cases,
        failure_persistence: None,
        // Shrinking replays on the device: bound it.
        max_shrink_iters: 2048,
        max_shrink_time: config.shrink_time.map_or(0, |t| {
            u32::try_from(t.as_millis()).unwrap_or(u32::MAX).max(1)
        }),
        ..Config::default()
    };
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&config.seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    let mut runner = TestRunner::new_with_rng(proptest_config, rng);
    let infrastructure: RefCell<Option<SuiteError>> = RefCell::new(None);
    let result = runner.run(
        &Node::sequential_strategy(1..=config.max_len),
        |(_, requests, seen)| {
            let mut c = checker.borrow_mut();
            match run_case(&mut c, &requests, seen.as_ref(), None) {
                Ok(()) => Ok(()),
                Err(e @ (SuiteError::Divergence(_) | SuiteError::Property(_))) => {
                    Err(TestCaseError::fail(e.to_string()))
                }
                Err(e) => {
                    // Not the device's answer but the target or link failing:
                    // stop rather than shrink.
                    *infrastructure.borrow_mut() = Some(e);
                    Err(TestCaseError::fail("infrastructure"))
                }
            }
        },
    );
    if let Some(e) = infrastructure.into_inner() {
        return Err(PropertyOutcome::Error(e));
    }
    let mut c = checker.into_inner();
    match result {
        Ok(()) => Ok(PropertyReport {
            replayed: saved.len(),
            cases: config.cases,
            requests: c.requests,
            elapsed: started.elapsed(),
        }),
        Err(TestError::Fail(reason, (_, minimal, _))) => {
            let transcript = transcript(&mut c, &minimal);
            let header = format!(
                "Found by the property suite on {}, seed {}.\n{}",
                c.target_name(),
                config.seed,
                reason
            );
            let saved = match &config.save_to {
                Some(dir) => sequences::save(dir, &header, &minimal).ok(),
                None => None,
            };
            Err(PropertyOutcome::Failed(Box::new(PropertyFailure {
                reason: reason.to_string(),
                minimal,
                transcript,
                saved,
                seed: config.seed,
            })))
        }
        Err(TestError::Abort(reason)) => Err(PropertyOutcome::Error(SuiteError::Script(format!(
            "the property run aborted: {reason}"
        )))),
    }
}

/// How a property run that did not pass ended.
#[derive(Debug)]
pub enum PropertyOutcome {
    /// The device diverged; here is the minimal sequence.
    Failed(Box<PropertyFailure>),
    /// The target or the link failed.
    Error(SuiteError),
}

/// Replays a case on a reset device and renders what happened: the
/// sequence, then the checks after it (`# then ...`), the failing request
/// last with what the model expected.
fn transcript(checker: &mut Checker<'_>, requests: &[ModbusRequest]) -> String {
    let mut log = Vec::new();
    let result = run_case(checker, requests, None, Some(&mut log));
    let mut out = String::new();
    for (i, line) in log.iter().enumerate() {
        if i == requests.len() {
            out.push_str("# then the checks after the sequence:\n");
        }
        out.push_str(line);
        out.push('\n');
    }
    match result {
        Ok(()) => out.push_str("(the case passed on this replay: the failure did not repeat)\n"),
        Err(SuiteError::Divergence(d)) => out.push_str(&format!(
            "{} -> DIVERGES: {}\n    expected {}\n    got      {}\n",
            d.request, d.reason, d.expected, d.got
        )),
        Err(e) => out.push_str(&format!("{e}\n")),
    }
    out
}
