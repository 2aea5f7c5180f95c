//! The seam between hilt's protocol-agnostic centre and a protocol plug-in.
//!
//! The centre of hilt (targets, the serial link, campaigns, reports) moves
//! bytes and measures time; it knows nothing of any wire protocol. Everything
//! that needs to understand the bytes goes through [`Protocol`]: turning the
//! readable request language into frames, telling the link when a response is
//! complete, and rendering a transaction for a person.
//!
//! Architecture Invariant: this crate depends on nothing but `std`. A team with
//! another protocol implements [`Protocol`] in its own crate without pulling in
//! serial ports, probes or QEMU.

#![forbid(unsafe_code)]

use std::fmt;

/// What the link should do with the bytes received so far for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// The response is complete: it is the first `n` bytes received.
    Complete(usize),
    /// The response is not complete yet; keep reading.
    NeedMore,
    /// Its length cannot be told from the bytes (garbage, an unknown function):
    /// keep reading until the line has been silent for the inter-frame gap.
    UntilSilence,
}

/// A request that failed to parse from its readable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong, and what would be right, in one line.
    pub message: String,
}

impl ParseError {
    /// A parse error with the given one-line message.
    pub fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// How a response (or its absence) reads against its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A well-formed, normal answer.
    Answer,
    /// A well-formed exception (error) answer with its protocol code.
    Exception(u8),
    /// Nothing came back.
    Silence,
    /// Bytes came back that are not a well-formed answer to this request
    /// (bad checksum, wrong length, wrong address, stray bytes).
    Malformed,
}

/// A response decoded for a person: the verdict and a one-line rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// What kind of response it was.
    pub verdict: Verdict,
    /// One line, without the request, e.g. `holding 0x0000: 1 2 3`.
    pub text: String,
}

/// A wire protocol, as hilt's centre sees it.
///
/// Implementations must never panic, whatever bytes they are handed: responses
/// come from a device under test, which by definition may be wrong.
pub trait Protocol {
    /// One request, parsed from the readable language. It keeps enough of
    /// what was asked to frame and decode the response.
    type Request: Clone + fmt::Debug;

    /// Parses one request written in the readable request language.
    fn parse_request(&self, text: &str) -> Result<Self::Request, ParseError>;

    /// Writes the request's bytes as they go on the wire (after clearing `out`).
    fn encode(&self, request: &Self::Request, out: &mut Vec<u8>);

    /// Whether a conforming device answers this request at all (a Modbus
    /// broadcast, for example, is never answered).
    fn expects_response(&self, request: &Self::Request) -> bool;

    /// Whether the device, once it has completed (and perhaps answered) a
    /// frame of this request's bytes, still holds more of them that only a
    /// silence on the line ends: then the next request must wait for a
    /// quiet line, or it runs into them. Bytes sent as they are can do
    /// that; well-formed requests do not.
    fn leaves_partial_frame(&self, _request: &Self::Request) -> bool {
        false
    }

    /// Tells whether `received` holds a complete response to `request`.
    fn framing(&self, request: &Self::Request, received: &[u8]) -> Framing;

    /// Decodes the bytes received for `request` (empty for silence).
    fn decode(&self, request: &Self::Request, response: &[u8]) -> Decoded;

    /// Renders the request in the readable language, so that the rendering
    /// parses back to the same bytes.
    fn render_request(&self, request: &Self::Request) -> String;

    /// A request every healthy device answers, that changes nothing a test
    /// looks at: what the harness sends to tell a hang from a lost answer,
    /// and to see that a device is back after a reset.
    fn health_request(&self) -> Self::Request;
}
