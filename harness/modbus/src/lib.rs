//! hilt's Modbus RTU protocol plug-in, master (client) side: the readable
//! request language, the exact bytes of each request, the incremental
//! detection of the end of a response, and the decoding of a response into
//! a verdict and one line of text.
//!
//! Architecture Invariant: this crate does not depend on the firmware's core
//! (`mbnode-core`) and shares no code with it. It is the harness's own,
//! independent reading of the Modbus specification, so a bug in the firmware
//! cannot hide by also living here. It knows nothing of serial ports, probes
//! or QEMU either, so the native fuzz crate can depend on it.
//!
//! # The request language
//!
//! One request per line:
//!
//! ```text
//! [@UNIT] COMMAND ARGS...      # a comment
//! ```
//!
//! - Numbers are decimal (`16`) or hex with `0x` (`0x0010`), and must fit
//!   their field: unit ids, read device id codes and object ids 0..=255,
//!   everything else 0..=65535.
//! - `@UNIT` addresses the request to that unit id (`@0` is a broadcast,
//!   which is never answered); without it the request goes to
//!   [`ModbusRtu::default_unit`].
//! - `#` starts a comment that runs to the end of the line. Use
//!   [`is_blank_or_comment`] to skip lines that hold no request.
//! - Keywords are case-insensitive; the canonical form is lower case.
//!
//! | command | function | example |
//! | --- | --- | --- |
//! | `read-coils ADDR QTY` | 0x01 | `read-coils 0x0000 8` |
//! | `read-discrete ADDR QTY` | 0x02 | `read-discrete 0x0000 8` |
//! | `read-holding ADDR QTY` | 0x03 | `read-holding 0x0000 4` |
//! | `read-input ADDR QTY` | 0x04 | `read-input 0x0000 4` |
//! | `write-coil ADDR on\|off\|VALUE` | 0x05 | `write-coil 0x0003 on` |
//! | `write-register ADDR VALUE` | 0x06 | `write-register 0x0000 0x1234` |
//! | `read-exception-status` | 0x07 | `read-exception-status` |
//! | `diagnostics SUB [WORD...]` | 0x08 | `diagnostics 0x0000 0x1234` |
//! | `write-coils ADDR BITS` | 0x0F | `write-coils 0x0000 10110` |
//! | `write-registers ADDR VALUE...` | 0x10 | `write-registers 0x0000 1 2 3` |
//! | `report-server-id` | 0x11 | `report-server-id` |
//! | `read-file-record FILE/RECORD/LEN...` | 0x14 | `read-file-record 1/0/4 2/10/1` |
//! | `write-file-record FILE/RECORD=V,V,...` | 0x15 | `write-file-record 1/0=0x1,0x2 3/5=7` |
//! | `mask-write ADDR AND OR` | 0x16 | `mask-write 0x0004 0x00F2 0x0025` |
//! | `read-write RADDR RQTY WADDR VALUE...` | 0x17 | `read-write 0x0000 4 0x0010 1 2` |
//! | `read-fifo ADDR` | 0x18 | `read-fifo 0x0200` |
//! | `read-device-id CODE OBJECT` | 0x2B/0x0E | `read-device-id 1 0x00` |
//! | `pdu HEX...` | any | `@2 pdu 03 0000 0004` |
//! | `frame HEX...` | any | `frame 01 03 0000 0004` |
//! | `raw HEX...` | any | `raw 01 03 0000 0004 4409` |
//!
//! - `write-coil`: `on` is 0xFF00, `off` is 0x0000; any other VALUE is sent
//!   as given, so that invalid values can be tried.
//! - `diagnostics`: the sub-function and then the data, as 16-bit words.
//! - `write-coils`: BITS is a string of `0` and `1`, the first one for coil
//!   ADDR; the quantity is the number of bits and the byte count
//!   ceil(quantity / 8).
//! - `read-file-record` and `write-file-record`: sub-requests of reference
//!   type 6, sent in the order given; in `write-file-record` the record
//!   length is the number of values.
//! - `read-write`: the values are written from WADDR, then RQTY registers
//!   are read from RADDR.
//! - Lists (VALUE..., WORD..., BITS, sub-requests, the values after `=`)
//!   may be empty: the request then carries a quantity or byte count of 0,
//!   which a conforming device answers with exception 0x03. Byte counts are
//!   one byte, which bounds the lists (see [`RequestKind::check_encodable`]).
//! - HEX is one or more tokens of hex digit pairs in any grouping
//!   (`01 03 0000 0004`), each with an optional `0x`.
//!   `pdu` is the function code and data: the unit id (from `@UNIT` or the
//!   default) goes before it and the CRC after. `frame` is the unit id and
//!   the PDU: the CRC is appended. `raw` is the exact bytes on the wire,
//!   nothing added: bad CRCs, garbage, truncated frames. `frame` and `raw`
//!   carry their own unit id, so they take no `@UNIT`.
//! - A line that starts with hex bytes and no keyword is a `frame`:
//!   `01 03 0000 0004` is `frame 01 03 0000 0004`.
//!
//! [`Protocol::render_request`] prints the canonical form, which parses back
//! to the same bytes: the unit prefix only when it is not the default,
//! addresses as `0x%04X`, quantities, file and record numbers and read
//! device id codes in decimal, values and masks as `0x%04X`, object ids as
//! `0x%02X`, hex bytes as space-separated pairs, e.g.
//! `@2 write-registers 0x0010 0x0001 0x00FF` or `raw 01 03 00 00`.
//!
//! # Responses
//!
//! [`Protocol::framing`] tells the link when a response is complete, from
//! its function code: an exception is 5 bytes; functions 0x01 to 0x04, 0x11,
//! 0x14, 0x15 and 0x17 are 5 plus the byte count; 0x05, 0x06, 0x0F and 0x10
//! are 8; 0x07 is 5; 0x08 is as long as its request; 0x16 is 10; 0x18 is 6
//! plus its 16-bit byte count; 0x2B/0x0E is measured by walking its object
//! list. A response is complete once that many bytes are in and their CRC
//! checks. Anything it cannot measure (another unit id, an unexpected or
//! unknown function, a bad CRC at the measured length, more than 256 bytes)
//! is read until the line goes silent.
//!
//! [`Protocol::decode`] gives a verdict and one deterministic line:
//!
//! | response | verdict | text |
//! | --- | --- | --- |
//! | nothing | `Silence` | `no response` |
//! | registers | `Answer` | `holding 0x0000: 1 2 3 4` |
//! | coils, inputs | `Answer` | `coils 0x0000: 10110000 01` (first = ADDR, groups of 8) |
//! | write echoes | `Answer` | `wrote holding 0x0000: 5`, `wrote 3 registers at 0x0010` |
//! | an exception | `Exception(2)` | `exception 0x02 illegal data address` |
//! | anything wrong | `Malformed` | `bad CRC (ends 00 00, expected 44 09): 01 03 ...` |
//!
//! Register values are decimal, echoed words and masks `0x%04X`, text
//! (server id, device id objects) double-quoted with `\xNN` escapes.
//! Answers to `pdu`, `frame` and `raw` requests are checked as far as the
//! bytes allow (length, CRC, unit id, function, exception, the function's
//! own length) and their data is shown in hex: `function 0x03: 02 00 07`.
//!
//! ```
//! use hilt_modbus::ModbusRtu;
//! use hilt_protocol::{Protocol, Verdict};
//!
//! let modbus = ModbusRtu::default();
//! let request = modbus.parse_request("read-holding 0 2").unwrap();
//! let mut bytes = Vec::new();
//! modbus.encode(&request, &mut bytes);
//! assert_eq!(bytes, [0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0B]);
//! assert_eq!(modbus.render_request(&request), "read-holding 0x0000 2");
//!
//! let response = [0x01, 0x03, 0x04, 0x00, 0x01, 0x00, 0x02, 0x2A, 0x32];
//! let decoded = modbus.decode(&request, &response);
//! assert_eq!(decoded.verdict, Verdict::Answer);
//! assert_eq!(decoded.text, "holding 0x0000: 1 2");
//! ```
//!
//! # The reference model and the generators
//!
//! [`model::Model`] is an independent model of the sensor node of
//! `MODBUS-NODE.md`: given the bytes of one burst it returns the answers
//! the node must send ([`model::Expected`], exact except for the uptime),
//! so a property test can run the node and the model side by side.
//!
//! ```
//! use hilt_modbus::model::{LockState, Model};
//!
//! let mut node = Model::new("host-sim");
//! // Write Single Register 0x0110 = 0xA55A arms the lock; 0x5AA5 next would
//! // unlock it.
//! let arm = [0x01, 0x06, 0x01, 0x10, 0xA5, 0x5A, 0x72, 0x98];
//! let answers = node.exchange(&arm);
//! assert!(answers[0].matches(&arm)); // the echo
//! assert_eq!(node.lock(), LockState::Armed);
//! ```
//!
//! With the `proptest` feature, `strategy` has proptest generators of
//! requests weighted towards the node's edges, and of malformed frames.

#![forbid(unsafe_code)]

mod decode;
mod framing;
#[cfg(feature = "arbitrary")]
pub mod fuzzing;
mod language;
pub mod model;
mod request;
#[cfg(feature = "proptest")]
pub mod strategy;
pub mod wire;

use hilt_protocol::{Decoded, Framing, ParseError, Protocol};

pub use language::{is_blank_or_comment, COIL_OFF, COIL_ON};
pub use request::{
    wire_expects_response, FileRecordRead, FileRecordWrite, ModbusRequest, RequestKind,
};

/// The unit id of the node under test at reset, and the default of
/// [`ModbusRtu::default_unit`].
pub const DEFAULT_UNIT: u8 = 1;

/// The Modbus RTU protocol, master side, as a [`Protocol`] plug-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModbusRtu {
    /// The unit id of requests written without `@UNIT`; rendering leaves
    /// the prefix out for it.
    pub default_unit: u8,
}

impl Default for ModbusRtu {
    /// Unit id 1.
    fn default() -> Self {
        ModbusRtu {
            default_unit: DEFAULT_UNIT,
        }
    }
}

impl Protocol for ModbusRtu {
    type Request = ModbusRequest;

    /// Parses one line of the request language (see the crate
    /// documentation). Never panics; the error is one line that says what
    /// was expected.
    fn parse_request(&self, text: &str) -> Result<ModbusRequest, ParseError> {
        language::parse(text, self.default_unit)
    }

    /// Writes the frame: unit id, PDU, CRC-16/MODBUS low byte first; `raw`
    /// bytes as they are.
    fn encode(&self, request: &ModbusRequest, out: &mut Vec<u8>) {
        out.clear();
        request.encode_into(out);
    }

    /// False for a broadcast (unit 0), for bytes that are not a CRC-valid
    /// frame of 4..=256 bytes, and for Diagnostics 0x0004 (Force Listen
    /// Only Mode); see [`wire_expects_response`].
    fn expects_response(&self, request: &ModbusRequest) -> bool {
        request.expects_response()
    }

    /// The node completes a frame early when it is as long as its
    /// function says and ends in a good CRC; bytes after it (a stray byte
    /// after a frame even passes a CRC check as a whole) wait for the
    /// silence. See [`model::split_burst`].
    fn leaves_partial_frame(&self, request: &ModbusRequest) -> bool {
        let bytes = request.to_bytes();
        let burst = model::split_burst(&bytes);
        !burst.frames.is_empty() && (!burst.rest.is_empty() || burst.overrun)
    }

    /// Incremental end-of-response detection; see the crate documentation.
    fn framing(&self, request: &ModbusRequest, received: &[u8]) -> Framing {
        framing::framing(&request.to_bytes(), received)
    }

    /// Decodes a response (empty for silence); see the crate documentation.
    fn decode(&self, request: &ModbusRequest, response: &[u8]) -> Decoded {
        decode::decode(request, response)
    }

    /// The canonical form, which parses back to the same bytes.
    fn render_request(&self, request: &ModbusRequest) -> String {
        language::render(request, self.default_unit)
    }

    /// Diagnostics 0x0000, Return Query Data, with the bytes `HI`: the
    /// Modbus "ping", echoed by every server not in listen-only mode. (It
    /// counts as a message in the diagnostic counters.)
    fn health_request(&self) -> ModbusRequest {
        ModbusRequest::new(
            self.default_unit,
            RequestKind::Diagnostics {
                sub_function: 0x0000,
                data: vec![u16::from_be_bytes(*b"HI")],
            },
        )
    }
}

#[cfg(test)]
mod tests;
