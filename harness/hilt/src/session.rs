//! Requests through a protocol plug-in over a target's link: the glue between
//! the protocol-agnostic link and a [`Protocol`].

use std::time::Duration;

use hilt_protocol::{Decoded, Protocol, Verdict};

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
    protocol.encode(request, scratch);
    let timing = target.timing();
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
    if !expected_answer {
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
