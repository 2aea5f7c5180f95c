//! Requests through a protocol plug-in over a target's link: the glue between
//! the protocol-agnostic link and a [`Protocol`].

use std::time::Duration;

use hilt_protocol::{Decoded, Protocol, Verdict};

use crate::crash::Outcome;
use crate::link::Ended;
use crate::target::{Target, TargetError};

/// One request and what came back, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The request in the readable language.
    pub request: String,
    /// The bytes sent.
    pub sent: Vec<u8>,
    /// The bytes received.
    pub received: Vec<u8>,
    /// The response as the protocol reads it.
    pub decoded: Decoded,
    /// Whether a conforming device answers this request at all.
    pub expected_answer: bool,
    /// From the end of sending to the end of the response.
    pub elapsed: Duration,
    /// How the response ended.
    pub ended: Ended,
    /// Bytes that arrived before this request was sent (see
    /// [`crate::link::Exchange::stale`]).
    pub stale: Vec<u8>,
}

impl Transaction {
    /// Whether what came back is well-formed: an answer (normal or
    /// exception) where one may come, or silence. It says nothing of whether
    /// the answer is right: the reference model does (`crate::suite`).
    pub fn well_formed(&self) -> bool {
        match self.decoded.verdict {
            Verdict::Answer | Verdict::Exception(_) => self.expected_answer,
            Verdict::Silence => true,
            Verdict::Malformed => false,
        }
    }

    /// Whether no answer came where a conforming device in its normal mode
    /// answers. (In listen-only mode a node rightly answers nothing; only the
    /// model-checked suites know the node's mode.)
    pub fn missing(&self) -> bool {
        self.expected_answer && self.decoded.verdict == Verdict::Silence
    }

    /// `request -> response`, one line.
    pub fn line(&self) -> String {
        format!("{} -> {}", self.request, self.decoded.text)
    }
}

/// Sends one request to `target` and decodes the response. `scratch` is
/// reused for the encoded request, so a loop of requests does not allocate
/// for it.
pub fn transact<P: Protocol>(
    protocol: &P,
    target: &mut dyn Target,
    request: &P::Request,
    scratch: &mut Vec<u8>,
) -> Result<Transaction, TargetError> {
    let timing = target.timing();
    transact_timed(protocol, target, request, timing, scratch)
}

/// How long to listen for an answer that is not due: long enough for a
/// loaded emulator to send one it should not (the device suites use the
/// same window).
pub const NO_ANSWER_WAIT: Duration = Duration::from_millis(30);

/// [`transact`] with its own timing.
pub fn transact_timed<P: Protocol>(
    protocol: &P,
    target: &mut dyn Target,
    request: &P::Request,
    timing: crate::link::Timing,
    scratch: &mut Vec<u8>,
) -> Result<Transaction, TargetError> {
    protocol.encode(request, scratch);
    let exchange = target.link().transact(scratch, timing, |received| {
        protocol.framing(request, received)
    })?;
    let decoded = protocol.decode(request, exchange.response);
    let expected_answer = protocol.expects_response(request);
    let (response, stale, elapsed, ended) = (
        exchange.response.to_vec(),
        exchange.stale.to_vec(),
        exchange.elapsed,
        exchange.ended,
    );
    // The device ends what it still holds of the request only at a
    // silence: leave it one before the next request.
    if !expected_answer || protocol.leaves_partial_frame(request) {
        target.settle()?;
    }
    Ok(Transaction {
        request: protocol.render_request(request),
        sent: scratch.clone(),
        received: response,
        decoded,
        expected_answer,
        elapsed,
        ended,
        stale,
    })
}

/// Sends a request and says what became of it: answered, an exception, no
/// answer (where none was due), missing, malformed, a hang or a crash (with
/// the target's evidence). A link that fails while the device is alive is
/// returned as the error.
///
/// `answer_due` overrides the protocol's view of whether an answer is due,
/// for a caller that knows the device's mode (a model that knows the node
/// is in listen-only mode). When an answer is due and none comes, the
/// target is asked for crash evidence; if it has none, a health request
/// tells a lost answer (the device answers it: [`Outcome::Missing`]) from
/// a hang (it does not: [`Outcome::Hang`], with where the program runs).
pub fn classify<P: Protocol>(
    protocol: &P,
    target: &mut dyn Target,
    request: &P::Request,
    answer_due: Option<bool>,
    scratch: &mut Vec<u8>,
) -> Result<(Option<Transaction>, Outcome), TargetError> {
    let timing = target.timing();
    classify_timed(
        protocol,
        target,
        request,
        answer_due,
        timing,
        NO_ANSWER_WAIT,
        scratch,
    )
}

/// [`classify`] with the caller's timing, and how long to listen when no
/// answer is due: a fuzzer that keeps the link busy listens no longer than
/// the device needs to end a frame.
pub fn classify_timed<P: Protocol>(
    protocol: &P,
    target: &mut dyn Target,
    request: &P::Request,
    answer_due: Option<bool>,
    mut timing: crate::link::Timing,
    no_answer_wait: Duration,
    scratch: &mut Vec<u8>,
) -> Result<(Option<Transaction>, Outcome), TargetError> {
    let due = answer_due.unwrap_or_else(|| protocol.expects_response(request));
    if !due {
        timing.response_timeout = timing.response_timeout.min(no_answer_wait);
    }
    let transaction = match transact_timed(protocol, target, request, timing, scratch) {
        Ok(t) => t,
        Err(e) => {
            // A link that broke because the device died: its process may
            // take a moment to be reaped.
            let mut evidence = target.post_mortem()?;
            let deadline = std::time::Instant::now() + Duration::from_millis(500);
            while evidence.is_none()
                && matches!(e, TargetError::Link(_))
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
                evidence = target.post_mortem()?;
            }
            // A link that fails while the device is alive is the caller's
            // error (its own exit code), not an outcome of the request.
            return match evidence {
                Some(evidence) => Ok((None, Outcome::Crash(evidence))),
                None => Err(e),
            };
        }
    };
    let outcome = match transaction.decoded.verdict {
        Verdict::Answer => Outcome::Answered,
        Verdict::Exception(code) => Outcome::Exception(code),
        Verdict::Malformed => match target.post_mortem()? {
            Some(evidence) => Outcome::Crash(evidence),
            None => Outcome::Malformed,
        },
        // Silence where none was due: a firmware that crashes announces it
        // on its UART (stray bytes), and a dead process fails the next
        // transaction, so there is nothing to ask the target here.
        Verdict::Silence if !due => Outcome::NoAnswer,
        Verdict::Silence => match target.post_mortem()? {
            Some(evidence) => Outcome::Crash(evidence),
            None => {
                let health = protocol.health_request();
                match transact(protocol, target, &health, scratch) {
                    Ok(t)
                        if matches!(t.decoded.verdict, Verdict::Answer | Verdict::Exception(_)) =>
                    {
                        Outcome::Missing
                    }
                    _ => match target.post_mortem()? {
                        Some(evidence) => Outcome::Crash(evidence),
                        None => hang_or_crash(target)?,
                    },
                }
            }
        },
    };
    Ok((Some(transaction), outcome))
}

/// Where a hung target runs; a hang whose place cannot be read (no ptrace
/// permission, a probe that does not answer) is still a hang, with the
/// reason in its details, unless the target turns out to have died in
/// the meantime (a process is reaped a moment after it ends): then it is
/// that crash.
fn hang_or_crash(target: &mut dyn Target) -> Result<Outcome, TargetError> {
    match target.sample_hang() {
        Ok(evidence) if evidence.kind == crate::crash::FailureKind::Hang => {
            Ok(Outcome::Hang(evidence))
        }
        // It ended as it was sampled.
        Ok(evidence) => Ok(Outcome::Crash(evidence)),
        Err(TargetError::Link(crate::link::LinkError::Interrupted)) => {
            Err(TargetError::Link(crate::link::LinkError::Interrupted))
        }
        Err(e) => {
            let deadline = std::time::Instant::now() + Duration::from_millis(500);
            loop {
                if let Some(evidence) = target.post_mortem()? {
                    return Ok(Outcome::Crash(evidence));
                }
                if std::time::Instant::now() >= deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(Outcome::Hang(unplaced_hang(e)))
        }
    }
}

fn unplaced_hang(e: TargetError) -> crate::crash::Evidence {
    crate::crash::Evidence {
        kind: crate::crash::FailureKind::Hang,
        summary: "no answer, not even to a health request".into(),
        location: None,
        pc: None,
        details: vec![format!("where it runs could not be read: {e}")],
    }
}

/// Brings a target back after a hang or crash: resets it and waits until it
/// answers a health request, up to `attempts` times. Returns how long it
/// took.
pub fn recover<P: Protocol>(
    protocol: &P,
    target: &mut dyn Target,
    attempts: u32,
    scratch: &mut Vec<u8>,
) -> Result<Duration, TargetError> {
    let started = std::time::Instant::now();
    let health = protocol.health_request();
    let mut last = String::from("no attempt");
    for _ in 0..attempts.max(1) {
        if let Err(e) = target.reset() {
            if matches!(e, TargetError::Link(crate::link::LinkError::Interrupted)) {
                return Err(e);
            }
            last = e.to_string();
            continue;
        }
        match transact(protocol, target, &health, scratch) {
            Ok(t) if t.decoded.verdict == Verdict::Answer => return Ok(started.elapsed()),
            Ok(t) => last = format!("the health request got: {}", t.decoded.text),
            Err(e) => last = e.to_string(),
        }
    }
    Err(TargetError::Unrecoverable {
        target: target.name().to_owned(),
        attempts: attempts.max(1),
        last,
    })
}
