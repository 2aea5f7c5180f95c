//! Replaying steps on a backend, every answer checked against the
//! reference model, and the signature of what went wrong.
//!
//! A replay stops at the first failure, which is one of:
//! - a crash (panic or fault) or a hang, with the backend's evidence;
//! - a wrong answer: the device answered where the model expects silence,
//!   was silent where an answer is due, or answered other bytes;
//! - a wrong state (native only, where the core's state can be read after
//!   every step): the lock, listen-only mode, unit id, coils, counters or
//!   holding registers differ from the model's.
//!
//! Signatures name the root cause and nothing that varies between inputs
//! that hit it: for a panic, its location and its message with numbers
//! masked; for a fault, the faulting function and fault type; for a hang,
//! the function the CPU spins in; for a wrong answer or state, the kind of
//! request (its function code, or that its CRC is bad, or that it is for
//! another unit) and what differs.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hilt_modbus::fuzzing::{Step, Steps};
use hilt_modbus::model::{Expected, LockState, Model};
use hilt_modbus::wire::crc_ok;
use hilt_modbus::{ModbusRequest, ModbusRtu, RequestKind};
use hilt_protocol::Protocol;
use serde::Serialize;

use crate::crash::{Evidence, FailureKind, Outcome};
use crate::target::{Target, TargetError};
use crate::{hex, session};

/// What went wrong in a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What groups failures with one root cause (see the module docs).
    pub signature: String,
    /// `panic`, `fault`, `hang`, `wrong-answer` or `wrong-state`.
    pub kind: String,
    /// One line, for people.
    pub summary: String,
    /// The step (from 0) at which it showed.
    pub step: usize,
    /// Evidence: location, registers, the answers that differ.
    pub details: Vec<String>,
}

/// A replay: what was sent and received, and the failure, if any.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// `> bytes sent`, `< bytes received` (bytes the model cannot predict,
    /// the uptime, as `??` when the answer is right), `reset`, and at the
    /// end `! failure` when there is one.
    pub transcript: Vec<String>,
    pub failure: Option<Failure>,
}

impl Replay {
    /// The transcript, one line each.
    pub fn text(&self) -> String {
        let mut text = self.transcript.join("\n");
        text.push('\n');
        text
    }
}

/// Somewhere steps can be replayed.
pub trait Backend {
    /// `native`, `sim`, `qemu` or a board's name.
    fn name(&self) -> &str;
    /// Replays `steps` from the device's reset state.
    fn replay(&mut self, steps: &Steps) -> Result<Replay, TargetError>;
}

/// Numbers (decimal, or `0x` hex) as `N`: what varies between inputs in a
/// panic message such as `index out of bounds: the len is 3 but the index
/// is 5`. Digits inside a word (`PB03`, `u16`) stay.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let after_word = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c.is_ascii_digit() && !after_word {
            let hex = c == '0' && matches!(chars.get(i + 1), Some('x' | 'X'));
            i += if hex { 2 } else { 1 };
            while i < chars.len()
                && (chars[i].is_ascii_digit() || (hex && chars[i].is_ascii_hexdigit()))
            {
                i += 1;
            }
            out.push('N');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The longest panic message a signature keeps (the firmware's crash
/// record keeps 128 bytes).
const MESSAGE_IN_SIGNATURE: usize = 96;

/// The signature of a crash or hang.
pub fn evidence_signature(evidence: &Evidence) -> String {
    let location = evidence.location.as_ref();
    let function = location.and_then(|l| l.function.as_deref()).unwrap_or("?");
    match evidence.kind {
        FailureKind::Panic => {
            let place = location
                .map(|l| {
                    let file = l.file.as_deref().unwrap_or("?");
                    let file = file.rsplit('/').next().unwrap_or(file);
                    format!("{file}:{}", l.line.unwrap_or(0))
                })
                .unwrap_or_else(|| "?".into());
            let first_line = evidence.summary.lines().next().unwrap_or("");
            let message: String = mask_numbers(first_line)
                .chars()
                .take(MESSAGE_IN_SIGNATURE)
                .collect();
            format!("panic|{place}|{message}")
        }
        FailureKind::Fault => {
            let what = evidence.summary.split(',').next().unwrap_or("");
            format!("fault|{function}|{}", mask_numbers(what))
        }
        FailureKind::Hang => format!("hang|{function}"),
        FailureKind::Exit => format!("exit|{}", mask_numbers(&evidence.summary)),
    }
}

fn failure_of(evidence: &Evidence, step: usize) -> Failure {
    let mut details = Vec::new();
    if let Some(location) = &evidence.location {
        details.push(format!("at {location}"));
    }
    if let Some(pc) = evidence.pc {
        details.push(format!("pc {pc:#x}"));
    }
    details.extend(evidence.details.iter().cloned());
    Failure {
        signature: evidence_signature(evidence),
        kind: evidence.kind.as_str().to_owned(),
        summary: evidence.to_string(),
        step,
        details,
    }
}

/// What kind of request a burst is, as far as a wrong answer to it goes.
fn request_class(wire: &[u8], unit: u8) -> String {
    match wire {
        _ if wire.len() < 4 => "a short burst".into(),
        _ if !crc_ok(wire) => "a bad CRC".into(),
        [0, function, ..] => format!("broadcast {function:#04x}"),
        [u, function, ..] if *u == unit => format!("{function:#04x}"),
        [_, function, ..] => format!("another unit's {function:#04x}"),
        _ => "a short burst".into(),
    }
}

/// The kind of request answer `i` to `wire` answers: the function of the
/// answer the model expects, else the burst's `i`-th frame as the device
/// frames it.
fn answer_request_class(wire: &[u8], unit: u8, i: usize, want: Option<&Expected>) -> String {
    if let Some(w) = want {
        if let [u, function, ..] = w.bytes.as_slice() {
            if *u == unit {
                return format!("{:#04x}", function & 0x7F);
            }
        }
    }
    // The burst's frames as the device frames them; what the silence ends
    // last.
    let burst = hilt_modbus::model::split_burst(wire);
    let mut frames = burst.frames;
    if !burst.rest.is_empty() {
        frames.push(burst.rest);
    }
    let frame = frames.get(i).or(frames.last()).copied().unwrap_or(wire);
    request_class(frame, unit)
}

fn answer_class(answer: &[u8]) -> String {
    match answer {
        [] => "none".into(),
        [_, function, code, ..] if function & 0x80 != 0 => format!("exception {code:#04x}"),
        _ if answer.len() < 4 || !crc_ok(answer) => "malformed".into(),
        _ => "answer".into(),
    }
}

/// The reference model, following the device step by step.
struct Checker {
    model: Model,
    replay: Replay,
}

impl Checker {
    fn new(model_name: &str) -> Self {
        Checker {
            model: Model::new(model_name),
            replay: Replay::default(),
        }
    }

    fn reset(&mut self) {
        self.model.reset();
        self.replay.transcript.push("reset".into());
    }

    /// The model's answers to `wire`, and the unit id it had before.
    fn expect(&mut self, wire: &[u8]) -> (Vec<Expected>, u8) {
        let unit = self.model.unit_id();
        self.replay.transcript.push(format!("> {}", hex(wire)));
        (self.model.exchange(wire), unit)
    }

    /// Checks the answers the device sent to `wire`.
    fn answers(
        &mut self,
        step: usize,
        wire: &[u8],
        unit: u8,
        expected: &[Expected],
        got: &[Vec<u8>],
    ) -> Option<Failure> {
        let mut wrong = None;
        for i in 0..expected.len().max(got.len()) {
            let (want, answer) = (expected.get(i), got.get(i));
            let right = match (want, answer) {
                (Some(w), Some(a)) => w.matches(a),
                (None, None) => true,
                _ => false,
            };
            match (answer, right) {
                (Some(_), true) => self.replay.transcript.push(format!("< {}", want?)),
                (Some(a), false) => self.replay.transcript.push(format!("< {}", hex(a))),
                (None, _) => self.replay.transcript.push("< (none)".into()),
            }
            if !right && wrong.is_none() {
                let want_class = want.map_or_else(|| "none".into(), |w| answer_class(&w.bytes));
                let mut got_class = answer.map_or_else(|| "none".into(), |a| answer_class(a));
                if got_class == want_class {
                    got_class.push_str(" with other bytes");
                }
                // Answering where no answer is due (or the reverse) is one
                // root cause whatever the answer would say.
                let coarse = |class: &str| match class {
                    "none" => "none",
                    _ if want_class == "none" || got_class == "none" => "an answer",
                    _ => "",
                };
                let (want_sig, got_sig) = match (coarse(&want_class), coarse(&got_class)) {
                    ("", _) | (_, "") => (want_class.clone(), got_class.clone()),
                    (w, g) => (w.to_owned(), g.to_owned()),
                };
                let what = answer_request_class(wire, unit, i, want);
                wrong = Some(Failure {
                    signature: format!("wrong-answer|{what}|want {want_sig}|got {got_sig}"),
                    kind: "wrong-answer".into(),
                    summary: format!(
                        "to {what}: the model expects {want_class}, the device sent {got_class}"
                    ),
                    step,
                    details: vec![
                        format!("sent {}", hex(wire)),
                        format!(
                            "expected {}",
                            want.map_or_else(|| "no answer".into(), ToString::to_string)
                        ),
                        format!(
                            "received {}",
                            answer.map_or_else(|| "nothing".into(), |a| hex(a))
                        ),
                    ],
                });
            }
        }
        wrong
    }

    /// Checks the core's state line (`mbnode_sim::state_line`) after `wire`.
    fn state(&self, step: usize, wire: &[u8], unit: u8, line: &str) -> Option<Failure> {
        let want = state_line(&self.model);
        if want == line {
            return None;
        }
        let fields = |s: &str| -> Vec<(String, String)> {
            s.split_whitespace()
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        };
        let (want_fields, got_fields) = (fields(&want), fields(line));
        let differ: Vec<&str> = want_fields
            .iter()
            .filter(|(k, v)| !got_fields.iter().any(|(k2, v2)| k2 == k && v2 == v))
            .map(|(k, _)| k.as_str())
            .collect();
        let what = request_class(wire, unit);
        Some(Failure {
            signature: format!("wrong-state|{what}|{}", differ.join(",")),
            kind: "wrong-state".into(),
            summary: format!("after {what}: {} differ from the model", differ.join(", ")),
            step,
            details: vec![
                format!("sent {}", hex(wire)),
                format!("model  {want}"),
                format!("device {line}"),
            ],
        })
    }

    fn fail(mut self, failure: Option<Failure>) -> Replay {
        if let Some(f) = &failure {
            self.replay.transcript.push(format!("! {}", f.summary));
        }
        self.replay.failure = failure;
        self.replay
    }
}

/// The model's state, in the core's state-line form.
fn state_line(model: &Model) -> String {
    let lock = match model.lock() {
        LockState::Locked => "locked",
        LockState::Armed => "armed",
        LockState::Unlocked => "unlocked",
    };
    let c = model.counters();
    let holding: Vec<String> = (0x0000..0x0050)
        .chain([0x0100, 0x0101, 0x0110])
        .map(|a| match model.holding(a) {
            Some(v) => format!("{v:04X}"),
            None => "-".into(),
        })
        .collect();
    format!(
        "lock={lock} listen={} unit={} coils={:08X} counters={},{},{},{},{},{} holding={}",
        u8::from(model.listen_only()),
        model.unit_id(),
        model.coils(),
        c.bus_messages,
        c.comm_errors,
        c.exceptions,
        c.server_messages,
        c.no_responses,
        c.overruns,
        holding.join(",")
    )
}

/// How long the native core may go without finishing a step, by default:
/// a step takes microseconds, starting the process milliseconds.
pub const HANG_AFTER: Duration = Duration::from_millis(300);

/// The node's core in a child process (`hilt sim-node --replay`, or a
/// build of `mbnode-sim --replay` with test-only features), so that a
/// panic or a hang of the core cannot take hilt down. It gets every step
/// at once and reports its answers and state after each.
#[derive(Debug, Clone)]
pub struct Native {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// How long the core may go without finishing a step before it is a
    /// hang.
    pub hang_after: Duration,
    /// Its environment, besides hilt's own (`HILT_PLANTED`).
    pub env: Vec<(String, String)>,
}

impl Native {
    /// The core as built into the hilt program at `hilt`.
    pub fn hilt_binary(hilt: impl Into<PathBuf>) -> Native {
        Native {
            program: hilt.into(),
            args: vec!["sim-node".into(), "--replay".into()],
            hang_after: HANG_AFTER,
            env: Vec::new(),
        }
    }

    /// The core of an `mbnode-sim` build.
    pub fn program(program: impl Into<PathBuf>) -> Native {
        Native {
            program: program.into(),
            args: vec!["--replay".into()],
            hang_after: HANG_AFTER,
            env: Vec::new(),
        }
    }
}

impl Backend for Native {
    fn name(&self) -> &str {
        "native"
    }

    fn replay(&mut self, steps: &Steps) -> Result<Replay, TargetError> {
        let spawn_error = |source| TargetError::Spawn {
            program: self.program.display().to_string(),
            source,
        };
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env("RUST_BACKTRACE", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = crate::target::spawn_child(&mut command).map_err(spawn_error)?;
        let stderr = child
            .stderr
            .take()
            .map(crate::target::Tail::follow)
            .unwrap_or_default();
        // Steps with bytes, and resets; empty bursts put nothing on the line.
        let sent: Vec<(usize, Option<Vec<u8>>)> = steps
            .0
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Step::Reset => Some((i, None)),
                s => Some(s.wire())
                    .filter(|w| !w.is_empty())
                    .map(|w| (i, Some(w))),
            })
            .collect();
        let mut text = String::new();
        for (_, wire) in &sent {
            match wire {
                None => text.push_str("reset\n"),
                Some(w) => {
                    text.push_str(&hex(w));
                    text.push('\n');
                }
            }
        }
        // Written from a thread: a core that hangs stops reading.
        if let Some(mut stdin) = child.stdin.take() {
            std::thread::spawn(move || {
                let _ = stdin.write_all(text.as_bytes());
            });
        }
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut checker = Checker::new(mbnode_sim::MODEL_NAME);
        let mut deadline = Instant::now() + self.hang_after;
        let mut stderr_len = 0;
        let mut ended = None;
        let mut answers: Vec<Vec<u8>> = Vec::new();
        let mut at = 0;
        let mut current = None;
        let begin =
            |checker: &mut Checker, at: usize| -> Option<(usize, Vec<u8>, Vec<Expected>, u8)> {
                let (step, wire) = sent.get(at)?;
                match wire {
                    None => {
                        checker.reset();
                        Some((*step, Vec::new(), Vec::new(), 0))
                    }
                    Some(w) => {
                        let (expected, unit) = checker.expect(w);
                        Some((*step, w.clone(), expected, unit))
                    }
                }
            };
        current = current.or_else(|| begin(&mut checker, at));
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(crate::interrupt::POLL)) {
                Ok(line) => {
                    deadline = Instant::now() + self.hang_after;
                    if let Some(answer) = line.strip_prefix("< ") {
                        answers.push(parse_hex(answer));
                    } else if let Some(state) = line.strip_prefix("= ") {
                        let Some((step, wire, expected, unit)) = current.take() else {
                            continue;
                        };
                        if !wire.is_empty() {
                            let failure = checker
                                .answers(step, &wire, unit, &expected, &answers)
                                .or_else(|| checker.state(step, &wire, unit, state));
                            if failure.is_some() {
                                crate::target::stop_child(&mut child, Duration::ZERO);
                                return Ok(checker.fail(failure));
                            }
                        }
                        answers.clear();
                        at += 1;
                        current = begin(&mut checker, at);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if crate::interrupt::requested() {
                        crate::target::stop_child(&mut child, Duration::ZERO);
                        return Err(TargetError::Link(crate::link::LinkError::Interrupted));
                    }
                    // A core that is still writing (a panic's backtrace)
                    // is not hung.
                    let said = stderr.text().len();
                    if said != stderr_len {
                        stderr_len = said;
                        deadline = Instant::now() + self.hang_after;
                    }
                    if Instant::now() >= deadline {
                        if !matches!(child.try_wait(), Ok(None)) {
                            break;
                        }
                        let step = current.as_ref().map_or(steps.0.len(), |c| c.0);
                        let evidence = match crate::target::sample_process(
                            child.id(),
                            "the core ran past the time limit without finishing the input",
                        ) {
                            Ok(evidence) => evidence,
                            Err(crate::target::SampleError::Ended(status)) => {
                                ended = Some(status);
                                break;
                            }
                            Err(e) => {
                                if !matches!(child.try_wait(), Ok(None)) {
                                    break;
                                }
                                Evidence {
                                    kind: FailureKind::Hang,
                                    summary: "the core ran past the time limit".into(),
                                    location: None,
                                    pc: None,
                                    details: vec![format!("where it runs could not be read: {e}")],
                                }
                            }
                        };
                        crate::target::stop_child(&mut child, Duration::ZERO);
                        return Ok(checker.fail(Some(failure_of(&evidence, step))));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = match ended {
            Some(status) => status,
            None => child.wait().map_err(spawn_error)?,
        };
        if status.success() && current.is_none() {
            return Ok(checker.fail(None));
        }
        // Its standard error may still be on its way.
        let until = Instant::now() + Duration::from_millis(500);
        while !stderr.closed() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        let text = stderr.text();
        if at == 0 && !text.contains(" panicked at ") && !text.contains("HILT-CRASH") {
            let killed = std::os::unix::process::ExitStatusExt::signal(&status).is_some();
            if !killed {
                // It never ran a step: the program, not the input.
                return Err(TargetError::Exited {
                    what: format!("the native core ({})", self.program.display()),
                    status,
                    stderr: crate::last_lines(&text, 5),
                });
            }
        }
        let evidence = crate::crash::process_evidence(status, &text);
        let step = current.as_ref().map_or(steps.0.len(), |c| c.0);
        Ok(checker.fail(Some(failure_of(&evidence, step))))
    }
}

/// The answers in `received`, cut at the lengths of the answers the model
/// expects where a frame with a good CRC ends there (what is left over is
/// one more answer: one the model does not expect).
fn split(received: &[u8], expected: &[Expected]) -> Vec<Vec<u8>> {
    let mut answers = Vec::new();
    let mut rest = received;
    for e in expected {
        let n = e.bytes.len();
        // Cut only where a whole frame ends: a longer wrong answer stays one.
        if rest.len() <= n || !crc_ok(&rest[..n]) {
            break;
        }
        answers.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    if !rest.is_empty() {
        answers.push(rest.to_vec());
    }
    answers
}

fn parse_hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect()
}

/// A wire target (simulation, emulated board, board): every step over the
/// serial link as `hilt fuzz` sends it, every outcome classified.
pub struct Wire {
    pub target: Box<dyn Target>,
    /// The Device Identification ModelName the firmware reports.
    pub model_name: String,
    /// How long the line must be quiet to end a frame that gets no answer.
    pub quiet: Duration,
    /// Whether the last replay failed (or never ran): the device is then
    /// recovered (reset until it answers), not only reset, before the next.
    dirty: bool,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wire({})", self.target.name())
    }
}

impl Wire {
    pub fn new(target: Box<dyn Target>, model_name: &str, quiet: Duration) -> Wire {
        Wire {
            target,
            model_name: model_name.to_owned(),
            quiet,
            dirty: true,
            scratch: Vec::new(),
        }
    }

    fn timing(&self) -> crate::link::Timing {
        crate::link::Timing {
            silence: self.quiet,
            ..self.target.timing()
        }
    }

    /// Sends `request` and classifies what became of it, with the link's
    /// quiet for this target.
    fn classify(
        &mut self,
        protocol: &ModbusRtu,
        request: &ModbusRequest,
        due: bool,
    ) -> Result<(Option<session::Transaction>, Outcome), TargetError> {
        let timing = self.timing();
        session::classify_timed(
            protocol,
            self.target.as_mut(),
            request,
            Some(due),
            timing,
            self.quiet,
            &mut self.scratch,
        )
    }

    /// Sends one request, classified; `None` if all is well.
    fn exchange(
        &mut self,
        checker: &mut Checker,
        step: usize,
        wire: &[u8],
        unit: u8,
        expected: &[Expected],
    ) -> Result<Option<Failure>, TargetError> {
        let protocol = ModbusRtu { default_unit: unit };
        let request = ModbusRequest::new(unit, RequestKind::Raw(wire.to_vec()));
        let (transaction, outcome) = self.classify(&protocol, &request, !expected.is_empty())?;
        if let Some(evidence) = outcome.evidence() {
            return Ok(Some(failure_of(evidence, step)));
        }
        if outcome == Outcome::Missing {
            // The health request that told a lost answer from a hang went
            // to the device: the model hears it too.
            let mut health = Vec::new();
            protocol.encode(&protocol.health_request(), &mut health);
            checker.model.exchange(&health);
        }
        let mut received = transaction.map(|t| t.received).unwrap_or_default();
        // A burst of several frames gets several answers: the link may have
        // ended the response after the first; collect the rest.
        let total: usize = expected.iter().map(|e| e.bytes.len()).sum();
        if expected.len() > 1 && !received.is_empty() && received.len() < total {
            let mut timing = self.timing();
            timing.response_timeout = timing.response_timeout.min(session::NO_ANSWER_WAIT * 4);
            let exchange = self
                .target
                .link()
                .transact(&[], timing, |_| hilt_protocol::Framing::UntilSilence)?;
            received.extend_from_slice(exchange.stale);
            received.extend_from_slice(exchange.response);
        }
        Ok(checker.answers(step, wire, unit, expected, &split(&received, expected)))
    }

    /// After the last step: a crash it caused, or (when it needed no
    /// answer) a hang that only a health request shows.
    fn check_after(
        &mut self,
        checker: &mut Checker,
        step: usize,
        last_unanswered: bool,
    ) -> Result<Option<Failure>, TargetError> {
        if let Some(evidence) = self.target.post_mortem()? {
            return Ok(Some(failure_of(&evidence, step)));
        }
        if !last_unanswered {
            return Ok(None);
        }
        let protocol = ModbusRtu {
            default_unit: checker.model.unit_id(),
        };
        let health = protocol.health_request();
        let (_, outcome) = self.classify(&protocol, &health, !checker.model.listen_only())?;
        Ok(outcome.evidence().map(|e| failure_of(e, step)))
    }
}

impl Backend for Wire {
    fn name(&self) -> &str {
        self.target.name()
    }

    fn replay(&mut self, steps: &Steps) -> Result<Replay, TargetError> {
        // Every replay starts from the reset state; after a failure (or
        // before the first replay), the device must also answer again.
        if self.dirty {
            let protocol = ModbusRtu { default_unit: 1 };
            session::recover(
                &protocol,
                self.target.as_mut(),
                crate::wirefuzz::RECOVERY_ATTEMPTS,
                &mut self.scratch,
            )?;
        }
        // The health request of a recovery counts in the device's
        // counters: a reset after it, too.
        self.target.reset()?;
        self.dirty = true;
        let mut checker = Checker::new(&self.model_name);
        let mut last_unanswered = false;
        // The last step that put bytes on the line: a failure found after
        // it is its doing.
        let mut last_sent = None;
        for (step, s) in steps.0.iter().enumerate() {
            if *s == Step::Reset {
                if let Some(last) = last_sent.take() {
                    if let Some(f) = self.check_after(&mut checker, last, last_unanswered)? {
                        return Ok(checker.fail(Some(f)));
                    }
                }
                self.target.reset()?;
                checker.reset();
                last_unanswered = false;
                continue;
            }
            let wire = s.wire();
            if wire.is_empty() {
                continue;
            }
            let (expected, unit) = checker.expect(&wire);
            last_unanswered = expected.is_empty();
            last_sent = Some(step);
            if let Some(f) = self.exchange(&mut checker, step, &wire, unit, &expected)? {
                return Ok(checker.fail(Some(f)));
            }
        }
        if let Some(last) = last_sent {
            if let Some(f) = self.check_after(&mut checker, last, last_unanswered)? {
                return Ok(checker.fail(Some(f)));
            }
        }
        self.dirty = false;
        Ok(checker.fail(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::Location;

    #[test]
    fn numbers_are_masked_but_not_inside_words() {
        assert_eq!(
            mask_numbers("index out of bounds: the len is 3 but the index is 15"),
            "index out of bounds: the len is N but the index is N"
        );
        assert_eq!(
            mask_numbers("planted bug PB03 (file-record-walk) at 0x1F00, u16"),
            "planted bug PB03 (file-record-walk) at N, u16"
        );
    }

    #[test]
    fn signatures_keep_the_root_cause_only() {
        let panic = Evidence {
            kind: FailureKind::Panic,
            summary: "attempt to add with overflow at 17\nmore".into(),
            location: Some(Location {
                function: Some("mbnode_core::node::Node::handle".into()),
                file: Some("/src/firmware-under-test/core/src/node/mod.rs".into()),
                line: Some(42),
            }),
            pc: None,
            details: vec![],
        };
        assert_eq!(
            evidence_signature(&panic),
            "panic|mod.rs:42|attempt to add with overflow at N"
        );
        let hang = Evidence {
            kind: FailureKind::Hang,
            summary: "no answer".into(),
            pc: Some(0x1234),
            ..panic.clone()
        };
        assert_eq!(
            evidence_signature(&hang),
            "hang|mbnode_core::node::Node::handle"
        );
        let fault = Evidence {
            kind: FailureKind::Fault,
            summary: "bus fault at 0x20010000, killed by SIGABRT".into(),
            ..panic
        };
        assert_eq!(
            evidence_signature(&fault),
            "fault|mbnode_core::node::Node::handle|bus fault at N"
        );
    }

    #[test]
    fn wrong_answers_are_classed_by_request_and_difference() {
        let mut checker = Checker::new("x");
        // Read holding register 0: the model answers 0.
        let wire = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A];
        let (expected, unit) = checker.expect(&wire);
        let right = expected[0].bytes.clone();
        assert_eq!(
            checker.answers(0, &wire, unit, &expected, std::slice::from_ref(&right)),
            None
        );
        let mut other = right.clone();
        other[4] = 1;
        hilt_modbus::wire::append_crc({
            other.truncate(other.len() - 2);
            &mut other
        });
        let f = checker
            .answers(0, &wire, unit, &expected, &[other])
            .unwrap();
        assert_eq!(
            f.signature,
            "wrong-answer|0x03|want answer|got answer with other bytes"
        );
        let f = checker.answers(0, &wire, unit, &expected, &[]).unwrap();
        assert_eq!(f.signature, "wrong-answer|0x03|want an answer|got none");
        // A byte-swapped CRC: the model drops it, whatever the function.
        let swapped = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x0A, 0x84];
        let (expected, unit) = checker.expect(&swapped);
        let f = checker
            .answers(1, &swapped, unit, &expected, &[right])
            .unwrap();
        assert_eq!(
            f.signature,
            "wrong-answer|a bad CRC|want none|got an answer"
        );
    }
}
