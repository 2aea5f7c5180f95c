//! The Modbus device suites: every response checked against the independent
//! reference model of MODBUS-NODE.md (`hilt_modbus::model`).
//!
//! - [`Checker`] sends requests to a target and to the model side by side
//!   and reports the first [`Divergence`].
//! - [`properties`] generates random request sequences (proptest, with the
//!   sequential strategy of proptest-state-machine), runs each on a freshly
//!   reset target, and on a divergence shrinks the sequence, resetting the
//!   target before each replay. The minimal sequence is printed as a
//!   transcript and saved as a request list in `fixtures/sequences/`; saved
//!   sequences are replayed before anything is generated.
//! - [`scenario`] runs a request script, checking each step against the
//!   model, and returns its transcript for a snapshot.
//!
//! This is where the centre meets the Modbus plug-in: the only module of the
//! library, besides `cmd/`, that names `hilt-modbus`.

use std::path::Path;
use std::time::Duration;

use hilt_modbus::model::{Expected, Model};
use hilt_modbus::{ModbusRequest, ModbusRtu};
use hilt_protocol::{Framing, Protocol};

use crate::link::{LinkError, Timing};
use crate::target::{Target, TargetError};

pub mod properties;
pub mod sequences;

/// How long to listen for an answer the model says will not come. A late
/// answer is not missed: it shows up as stale bytes before the next request.
pub const QUIET: Duration = Duration::from_millis(30);

/// A difference between the device and the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// 0-based index of the request in its sequence.
    pub index: usize,
    /// The request, in the request language.
    pub request: String,
    /// What the model says the device sends back (hex, `..` for bytes it
    /// cannot predict), or `no response`.
    pub expected: String,
    /// What came back (hex), or `no response`.
    pub got: String,
    /// What is wrong, in words.
    pub reason: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "request {} `{}`: {}; expected {}, got {}",
            self.index + 1,
            self.request,
            self.reason,
            self.expected,
            self.got
        )
    }
}

/// Why a suite stopped.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The device disagreed with the model.
    #[error("the device diverged from the model: {0}")]
    Divergence(Divergence),
    /// The target failed (could not reset, died).
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The link failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A script or saved sequence could not be read.
    #[error("{0}")]
    Script(String),
    /// A property of the device failed (beyond a single answer).
    #[error("property failed: {0}")]
    Property(String),
}

/// Bytes in hex, or "no response".
fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "no response".into();
    }
    crate::hex(bytes)
}

fn expected_hex(expected: &[Expected]) -> String {
    if expected.is_empty() {
        return "no response".into();
    }
    expected
        .iter()
        .map(|e| {
            e.bytes
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if e.dont_care.contains(&i) {
                        "..".to_owned()
                    } else {
                        format!("{b:02X}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// One request checked against the model.
#[derive(Debug, Clone)]
pub struct Checked {
    /// `request -> decoded response`, as in transcripts.
    pub line: String,
    /// How long the transaction took.
    pub elapsed: Duration,
}

/// A target and the model, side by side.
pub struct Checker<'t> {
    target: &'t mut dyn Target,
    model: Model,
    protocol: ModbusRtu,
    scratch: Vec<u8>,
    index: usize,
    /// Requests sent since the checker was made.
    pub requests: u64,
}

impl std::fmt::Debug for Checker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("target", &self.target.name())
            .field("model", &self.model)
            .field("index", &self.index)
            .finish()
    }
}

impl<'t> Checker<'t> {
    /// A checker for `target`, whose Device Identification ModelName is
    /// `model_name`. The target is assumed to be in its reset state; call
    /// [`Checker::reset`] when in doubt.
    pub fn new(target: &'t mut dyn Target, model_name: &str) -> Self {
        Checker {
            target,
            model: Model::new(model_name),
            protocol: ModbusRtu::default(),
            scratch: Vec::new(),
            index: 0,
            requests: 0,
        }
    }

    /// The target's name.
    pub fn target_name(&self) -> &str {
        self.target.name()
    }

    /// The model, as it stands after the requests so far.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Resets the target and the model, and starts counting requests anew.
    pub fn reset(&mut self) -> Result<(), SuiteError> {
        self.target.reset()?;
        self.model.reset();
        self.index = 0;
        Ok(())
    }

    /// Sends one request to the device and the model and compares.
    pub fn step(&mut self, request: &ModbusRequest) -> Result<Checked, SuiteError> {
        let index = self.index;
        self.index += 1;
        self.requests += 1;
        self.protocol.encode(request, &mut self.scratch);
        let expected = self.model.exchange(&self.scratch);
        let want: usize = expected.iter().map(|e| e.bytes.len()).sum();
        let timing = if want == 0 {
            Timing {
                response_timeout: QUIET,
                ..self.target.timing()
            }
        } else {
            self.target.timing()
        };
        let exchange = self.target.link().transact(&self.scratch, timing, |rx| {
            if want > 0 && rx.len() >= want {
                Framing::Complete(want)
            } else {
                Framing::NeedMore
            }
        })?;
        let diverged = |reason: String| {
            SuiteError::Divergence(Divergence {
                index,
                request: self.protocol.render_request(request),
                expected: expected_hex(&expected),
                got: hex(exchange.response),
                reason,
            })
        };
        if !exchange.stale.is_empty() {
            return Err(diverged(format!(
                "{} byte(s) arrived after the previous request's answer was complete: {}",
                exchange.stale.len(),
                hex(exchange.stale)
            )));
        }
        if exchange.response.len() != want {
            return Err(diverged(format!(
                "{} byte(s) came back, the model expects {want}",
                exchange.response.len()
            )));
        }
        let mut at = 0;
        for (i, e) in expected.iter().enumerate() {
            let part = &exchange.response[at..at + e.bytes.len()];
            if !e.matches(part) {
                return Err(diverged(format!("answer {} differs", i + 1)));
            }
            at += e.bytes.len();
        }
        // Each answer on its own (a burst of two frames gets two).
        let mut answers = Vec::new();
        let mut at = 0;
        for e in &expected {
            let part = &exchange.response[at..at + e.bytes.len()];
            answers.push(self.protocol.decode(request, part).text);
            at += e.bytes.len();
        }
        if answers.is_empty() {
            answers.push(self.protocol.decode(request, &[]).text);
        }
        let checked = Checked {
            line: format!(
                "{} -> {}",
                self.protocol.render_request(request),
                answers.join(" | ")
            ),
            elapsed: exchange.elapsed,
        };
        if !self.protocol.expects_response(request) || self.protocol.leaves_partial_frame(request) {
            self.target.settle()?;
        }
        Ok(checked)
    }
}

/// Runs a request script (see [`crate::script`]) against a target, each step
/// checked against the model; returns the transcript, one line a step.
pub fn scenario(
    target: &mut dyn Target,
    model_name: &str,
    path: &Path,
) -> Result<String, SuiteError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SuiteError::Script(format!("{}: {e}", path.display())))?;
    let protocol = ModbusRtu::default();
    let origin = path.display().to_string();
    let steps = crate::script::parse(&protocol, &origin, text.lines())
        .map_err(|e| SuiteError::Script(e.to_string()))?;
    let mut checker = Checker::new(target, model_name);
    checker.reset()?;
    let mut transcript = String::new();
    for step in steps {
        match step {
            crate::script::Step::Reset => {
                checker.reset()?;
                transcript.push_str("reset\n");
            }
            crate::script::Step::Request(request) => {
                let checked = checker.step(&request)?;
                transcript.push_str(&checked.line);
                transcript.push('\n');
            }
        }
    }
    Ok(transcript)
}

/// A scenario's transcript as its snapshot pins it: the board's ModelName
/// and the uptime, which vary, replaced by `[board]` and `[uptime]`.
pub fn redact(transcript: &str) -> String {
    transcript
        .lines()
        .map(|line| {
            let mut line = line.to_owned();
            for name in ["lm3s6965evb", "nucleo-f401re", mbnode_sim::MODEL_NAME] {
                line = line.replace(&format!("0x05 \"{name}\""), "0x05 \"[board]\"");
            }
            if let Some(at) = line.find("input 0x0020: ") {
                let head = &line[..at + "input 0x0020: ".len()];
                let rest = &line[head.len()..];
                let mut words = rest.splitn(3, ' ');
                let (a, b) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                if a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok() {
                    let tail = words.next().map(|t| format!(" {t}")).unwrap_or_default();
                    line = format!("{head}[uptime] [uptime]{tail}");
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends `requests` random requests (the property suite's generator,
/// following the model's state) after one reset and none between, each
/// checked against the model: a long run, for soaking and for measuring
/// what a single boot goes through (its stack, say). Returns the number
/// of requests sent.
pub fn long_run(
    target: &mut dyn Target,
    model_name: &str,
    requests: usize,
    seed: u64,
) -> Result<u64, SuiteError> {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let mut checker = Checker::new(target, model_name);
    checker.reset()?;
    for _ in 0..requests {
        let request = hilt_modbus::strategy::any_request_for(checker.model())
            .new_tree(&mut runner)
            .map_err(|e| SuiteError::Script(format!("generating a request: {e}")))?
            .current();
        checker.step(&request)?;
    }
    Ok(checker.requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_are_redacted_as_the_snapshots_are() {
        let t = "read-input 0x0020 2 -> input 0x0020: 12 345\nread-device-id 1 0 -> object 0x05 \"host-sim\" next";
        assert_eq!(
            redact(t),
            "read-input 0x0020 2 -> input 0x0020: [uptime] [uptime]\nread-device-id 1 0 -> object 0x05 \"[board]\" next"
        );
    }
}
