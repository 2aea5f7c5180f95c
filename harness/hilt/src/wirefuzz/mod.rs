//! Wire fuzz campaigns: inputs generated and mutated on the host, sent over
//! the UART to the real firmware (on a board, the emulated board or the
//! simulation), every outcome classified, the device recovered after each
//! crash or hang, and nothing found ever lost.
//!
//! Each job drives one target. An input is a sequence of steps
//! (`hilt_modbus::fuzzing::Steps`); each step is sent as soon as the
//! previous transaction ends (by framing, by exception, or by the line's
//! silence), never after a fixed sleep. The device is reset every
//! `reset_every` inputs and after each crash or hang, and the steps since
//! its last reset are kept, so a stored crash replays from a reset.
//!
//! The reference model follows every step, for one thing only: whether an
//! answer is due (it knows listen-only mode and broadcasts), and the state
//! transitions that count as new behaviour. Whether answers are right is
//! the device suites' business.

pub mod corpus;
pub mod crashes;
pub mod feedback;
pub mod mutate;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fastrand::Rng;
use hilt_modbus::fuzzing::{Step, Steps};
use hilt_modbus::model::{LockState, Model};
use hilt_modbus::{ModbusRequest, ModbusRtu, RequestKind};
use hilt_protocol::Protocol;
use serde::Serialize;

use self::corpus::Corpus;
use self::crashes::{CrashRecord, CrashStore, Stored};
use self::feedback::{length_class, timing_class, Feedback, Observation};
use crate::crash::Outcome;
use crate::target::{Target, TargetError};
use crate::{hex, session};

/// Resets tried after a crash or hang before a job gives up.
pub const RECOVERY_ATTEMPTS: u32 = 3;

/// What a campaign does, the same for every job.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    pub dictionary: Vec<Vec<u8>>,
    /// Stop after this long.
    pub time: Option<Duration>,
    /// Stop after this many inputs (all jobs together).
    pub runs: Option<u64>,
    /// Reset the device every this many inputs.
    pub reset_every: u32,
    /// The quiet that ends a frame on this target's line: how long a step
    /// that gets no answer (none due) is listened to, and the gap left
    /// before the next step.
    pub quiet: Duration,
    /// The firmware's path (or program) and the SHA-1 of its bytes.
    pub firmware: String,
    pub firmware_sha1: String,
}

/// The quiet that ends a frame on a kind of target's line: the emulated
/// board's firmware ends frames after 10 ms of silence (its UART has no
/// baud timing); a real board after t3.5 (1.75 ms), plus the USB serial
/// port's latency; the simulation after t3.5.
pub fn quiet_for(kind: crate::boards::Kind) -> Duration {
    match kind {
        crate::boards::Kind::Qemu => Duration::from_millis(12),
        crate::boards::Kind::ProbeRs => Duration::from_millis(5),
        crate::boards::Kind::Sim => Duration::from_millis(3),
    }
}

/// Counters every job adds to.
#[derive(Debug, Default)]
pub struct Counters {
    /// Inputs run.
    pub execs: AtomicU64,
    /// Steps sent.
    pub steps: AtomicU64,
    /// Crashes seen (duplicates included).
    pub crashes: AtomicU64,
    /// Hangs seen (duplicates included).
    pub hangs: AtomicU64,
    /// Crashes and hangs stored as new signatures in this run.
    pub new_failures: AtomicU64,
    /// Device resets.
    pub resets: AtomicU64,
    /// Inputs added to the corpus in this run.
    pub new_inputs: AtomicU64,
    /// Steps that got no answer (each costs a listen and a quiet gap).
    pub silent_steps: AtomicU64,
}

/// What the jobs share.
pub struct Shared {
    pub corpus: Mutex<Corpus>,
    pub crashes: Mutex<CrashStore>,
    pub feedback: Mutex<Box<dyn Feedback>>,
    pub counters: Counters,
    /// Set to stop every job at its next input.
    pub stop: AtomicBool,
    pub started: Instant,
    /// When set, the byte count of every step sent (for `hilt bench`).
    pub trace: Mutex<Option<Vec<usize>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("counters", &self.counters)
            .finish()
    }
}

/// A snapshot of a campaign, as the status line and the JSON stats file
/// show it.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub elapsed_s: f64,
    pub execs: u64,
    pub execs_per_s: f64,
    pub steps: u64,
    pub corpus: usize,
    pub new_inputs: u64,
    /// Distinct behaviours the feedback has seen.
    pub shapes: usize,
    /// Distinct crashes and hangs in the crash folder.
    pub unique_failures: usize,
    pub crashes: u64,
    pub hangs: u64,
    pub resets: u64,
}

impl Shared {
    pub fn new(corpus: Corpus, crashes: CrashStore, feedback: Box<dyn Feedback>) -> Shared {
        Shared {
            corpus: Mutex::new(corpus),
            crashes: Mutex::new(crashes),
            feedback: Mutex::new(feedback),
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            started: Instant::now(),
            trace: Mutex::new(None),
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let c = &self.counters;
        let elapsed = self.started.elapsed().as_secs_f64();
        let execs = c.execs.load(Ordering::Relaxed);
        Snapshot {
            elapsed_s: elapsed,
            execs,
            execs_per_s: if elapsed > 0.0 {
                execs as f64 / elapsed
            } else {
                0.0
            },
            steps: c.steps.load(Ordering::Relaxed),
            corpus: lock(&self.corpus).len(),
            new_inputs: c.new_inputs.load(Ordering::Relaxed),
            shapes: lock(&self.feedback).seen(),
            unique_failures: lock(&self.crashes).len(),
            crashes: c.crashes.load(Ordering::Relaxed),
            hangs: c.hangs.load(Ordering::Relaxed),
            resets: c.resets.load(Ordering::Relaxed),
        }
    }

    fn out_of_budget(&self, settings: &Settings) -> bool {
        self.stop.load(Ordering::Relaxed)
            || crate::interrupt::requested()
            || settings.time.is_some_and(|t| self.started.elapsed() >= t)
            || settings
                .runs
                .is_some_and(|r| self.counters.execs.load(Ordering::Relaxed) >= r)
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn model_state(model: &Model) -> (u8, bool) {
    let lock = match model.lock() {
        LockState::Locked => 0,
        LockState::Armed => 1,
        LockState::Unlocked => 2,
    };
    (lock, model.listen_only())
}

/// Why a job stopped early.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("writing to the {what} folder: {source}")]
    Store {
        what: &'static str,
        source: std::io::Error,
    },
}

/// One job's state: the device as the reference model follows it, and
/// the steps since its last reset (what replays a failure).
struct Job<'a> {
    shared: &'a Shared,
    settings: &'a Settings,
    model: Model,
    history: Vec<Step>,
    scratch: Vec<u8>,
    /// Whether the last step sent needed no answer: a failure it caused
    /// shows only at the next request that does.
    last_unanswered: bool,
}

impl Job<'_> {
    /// The protocol as the device now is: requests and the health request
    /// go to the unit id it answers to.
    fn protocol(&self) -> ModbusRtu {
        ModbusRtu {
            default_unit: self.model.unit_id(),
        }
    }

    fn timing(&self, target: &dyn Target) -> crate::link::Timing {
        crate::link::Timing {
            silence: self.settings.quiet,
            ..target.timing()
        }
    }

    /// Stores a failure with the steps since the last reset, then recovers
    /// the device.
    fn fail(
        &mut self,
        target: &mut dyn Target,
        outcome: &Outcome,
        last_sent: &[u8],
        last_received: &[u8],
    ) -> Result<(), JobError> {
        let Some(evidence) = outcome.evidence() else {
            return Ok(());
        };
        let counter = match outcome {
            Outcome::Crash(_) => &self.shared.counters.crashes,
            _ => &self.shared.counters.hangs,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let steps = Steps(std::mem::take(&mut self.history));
        let record = CrashRecord {
            signature: crashes::signature(evidence),
            outcome: outcome.class().to_owned(),
            kind: evidence.kind.as_str().to_owned(),
            summary: evidence.summary.clone(),
            location: evidence.location.as_ref().map(ToString::to_string),
            pc: evidence.pc,
            details: evidence.details.clone(),
            target: target.name().to_owned(),
            firmware: self.settings.firmware.clone(),
            firmware_sha1: self.settings.firmware_sha1.clone(),
            seed: self.settings.seed,
            input: String::new(),
            steps: steps
                .0
                .iter()
                .map(|s| match s {
                    Step::Reset => "reset".to_owned(),
                    s => hex(&s.wire()),
                })
                .collect(),
            last_sent: hex(last_sent),
            last_received: hex(last_received),
            first_seen: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            count: 0,
        };
        // Stored before the reset that recovers the device.
        let stored = lock(&self.shared.crashes)
            .record(record, &steps.encode())
            .map_err(|source| JobError::Store {
                what: "crash",
                source,
            })?;
        if let Stored::New(_) = stored {
            self.shared
                .counters
                .new_failures
                .fetch_add(1, Ordering::Relaxed);
        }
        let protocol = ModbusRtu { default_unit: 1 };
        session::recover(&protocol, target, RECOVERY_ATTEMPTS, &mut self.scratch)?;
        self.model.reset();
        self.last_unanswered = false;
        self.shared.counters.resets.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Resets the device, after making sure the steps since the last reset
    /// left no failure behind: the target's crash evidence, and, when the
    /// last step needed no answer, a health request.
    fn reset(&mut self, target: &mut dyn Target) -> Result<(), JobError> {
        if !self.history.is_empty() {
            if let Some(evidence) = target.post_mortem()? {
                return self.fail(target, &Outcome::Crash(evidence), &[], &[]);
            }
            if self.last_unanswered {
                let protocol = self.protocol();
                let health = protocol.health_request();
                let timing = self.timing(target);
                let (t, outcome) = session::classify_timed(
                    &protocol,
                    target,
                    &health,
                    Some(true),
                    timing,
                    self.settings.quiet,
                    &mut self.scratch,
                )?;
                if outcome.evidence().is_some() {
                    let received = t.map(|t| t.received).unwrap_or_default();
                    return self.fail(target, &outcome, &[], &received);
                }
            }
        }
        target.reset()?;
        self.model.reset();
        self.history.clear();
        self.last_unanswered = false;
        self.shared.counters.resets.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Runs one input; returns whether it did something new.
    fn run(&mut self, target: &mut dyn Target, input: &Steps) -> Result<bool, JobError> {
        let mut interesting = false;
        for step in &input.0 {
            if *step == Step::Reset {
                self.reset(target)?;
                continue;
            }
            let wire = step.wire();
            if wire.is_empty() {
                continue;
            }
            self.history.push(step.clone());
            if let Some(trace) = lock(&self.shared.trace).as_mut() {
                trace.push(wire.len());
            }
            let protocol = self.protocol();
            let before = model_state(&self.model);
            let due = !self.model.exchange(&wire).is_empty();
            let request = ModbusRequest::new(protocol.default_unit, RequestKind::Raw(wire.clone()));
            let timing = self.timing(target);
            let (transaction, outcome) = session::classify_timed(
                &protocol,
                target,
                &request,
                Some(due),
                timing,
                self.settings.quiet,
                &mut self.scratch,
            )?;
            self.shared.counters.steps.fetch_add(1, Ordering::Relaxed);
            self.last_unanswered = !due;
            if outcome.evidence().is_some() {
                let received = transaction
                    .as_ref()
                    .map(|t| [t.stale.as_slice(), t.received.as_slice()].concat())
                    .unwrap_or_default();
                self.fail(target, &outcome, &wire, &received)?;
                // Crashing inputs live in the crash folder, not the corpus.
                return Ok(false);
            }
            if outcome == Outcome::Missing {
                // The health request that told it from a hang went to the
                // device: the model hears it too.
                let mut health = Vec::new();
                protocol.encode(&protocol.health_request(), &mut health);
                self.model.exchange(&health);
            }
            let Some(t) = transaction else { continue };
            if t.received.is_empty() {
                self.shared
                    .counters
                    .silent_steps
                    .fetch_add(1, Ordering::Relaxed);
            }
            let after = model_state(&self.model);
            let shape = match t.received.as_slice() {
                [] => None,
                [_, function, rest @ ..] if function & 0x80 != 0 => Some((
                    function & 0x7F,
                    rest.first().copied().unwrap_or(0),
                    length_class(t.received.len()),
                )),
                [_, function, ..] => Some((*function, 0, length_class(t.received.len()))),
                [_] => Some((0, 0, 1)),
            };
            let observation = Observation {
                shape,
                class: outcome.class(),
                transition: (before != after).then_some((before, after)),
                timing: timing_class(t.elapsed),
            };
            interesting |= lock(&self.shared.feedback).observe(&observation);
        }
        Ok(interesting)
    }
}

/// One job: runs inputs on `target` until the campaign's budget is spent,
/// the user stops it, or the target cannot be recovered.
pub fn run_job(
    shared: &Shared,
    settings: &Settings,
    job: u64,
    jobs: u64,
    target: &mut dyn Target,
) -> Result<(), JobError> {
    let mut rng = Rng::with_seed(
        settings
            .seed
            .wrapping_add(job.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    );
    let mut state = Job {
        shared,
        settings,
        model: Model::new("fuzz"),
        history: Vec::new(),
        scratch: Vec::new(),
        last_unanswered: false,
    };
    let mut since_reset = 0u32;
    let mut replay = job as usize;
    // A target starts in its reset state.
    while !shared.out_of_budget(settings) {
        // The corpus first, each entry once across the jobs; then mutants.
        let input = {
            let corpus = lock(&shared.corpus);
            if replay < corpus.len() {
                let bytes = corpus.get(replay).unwrap_or_default();
                replay += jobs as usize;
                Steps::from_bytes(bytes)
            } else if corpus.is_empty() {
                mutate::mutate(
                    &mut rng,
                    &Steps::default(),
                    &Steps::default(),
                    &settings.dictionary,
                )
            } else {
                let base =
                    Steps::from_bytes(corpus.get(rng.usize(..corpus.len())).unwrap_or_default());
                let other =
                    Steps::from_bytes(corpus.get(rng.usize(..corpus.len())).unwrap_or_default());
                mutate::mutate(&mut rng, &base, &other, &settings.dictionary)
            }
        };
        if since_reset >= settings.reset_every {
            state.reset(target)?;
            since_reset = 0;
        }
        let interesting = state.run(target, &input)?;
        since_reset += 1;
        shared.counters.execs.fetch_add(1, Ordering::Relaxed);
        if interesting {
            let added = lock(&shared.corpus)
                .add(&input.encode())
                .map_err(|source| JobError::Store {
                    what: "corpus",
                    source,
                })?;
            if added {
                shared.counters.new_inputs.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// The crash folder's records, most frequent first.
pub fn lock_records(shared: &Shared) -> Vec<CrashRecord> {
    let mut records: Vec<CrashRecord> = lock(&shared.crashes).records().cloned().collect();
    records.sort_by(|a, b| b.count.cmp(&a.count).then(a.signature.cmp(&b.signature)));
    records
}
