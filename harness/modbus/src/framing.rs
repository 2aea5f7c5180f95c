//! The master's end-of-response detection: how long a response is, told from
//! its function code and the bytes received so far, so the link can stop
//! reading the moment it is complete instead of waiting for the line to go
//! silent.
//!
//! Every function here takes untrusted bytes of any length and only reads
//! them through `get`, so none of them can panic.

use hilt_protocol::Framing;

use crate::request::expectation;
use crate::wire::{be16, crc_ok, function as fc, EXCEPTION_BIT, MAX_ADU, MEI_READ_DEVICE_ID};

/// The length of a frame, as far as the bytes so far tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Len {
    /// The whole frame (unit id to CRC) is this many bytes.
    Exact(usize),
    /// The bytes so far end before the field that tells the length.
    NeedMore,
    /// The length cannot be told: an unknown function or an impossible
    /// header.
    Unknown,
}

/// Length of an exception response: unit id, function | 0x80, code, CRC.
pub(crate) const EXCEPTION_LEN: usize = 5;

/// The length of a normal (non-exception) response with function `function`,
/// from the bytes `rx` received so far (`rx[0]` is the unit id).
/// `request_len` is the request frame's length, which a Diagnostics answer
/// repeats; `None` when the request is not a frame.
pub(crate) fn response_len(function: u8, rx: &[u8], request_len: Option<usize>) -> Len {
    match function {
        // unit, function, byte count, data, CRC.
        fc::READ_COILS
        | fc::READ_DISCRETE_INPUTS
        | fc::READ_HOLDING_REGISTERS
        | fc::READ_INPUT_REGISTERS
        | fc::REPORT_SERVER_ID
        | fc::READ_FILE_RECORD
        | fc::WRITE_FILE_RECORD
        | fc::READ_WRITE_MULTIPLE_REGISTERS => match rx.get(2) {
            Some(&count) => Len::Exact(5 + usize::from(count)),
            None => Len::NeedMore,
        },
        // unit, function, address, value or quantity, CRC.
        fc::WRITE_SINGLE_COIL
        | fc::WRITE_SINGLE_REGISTER
        | fc::WRITE_MULTIPLE_COILS
        | fc::WRITE_MULTIPLE_REGISTERS => Len::Exact(8),
        // unit, function, status, CRC.
        fc::READ_EXCEPTION_STATUS => Len::Exact(5),
        // Every Diagnostics answer (echo or counter) has the request's length.
        fc::DIAGNOSTICS => request_len.map_or(Len::Unknown, Len::Exact),
        // unit, function, address, AND mask, OR mask, CRC.
        fc::MASK_WRITE_REGISTER => Len::Exact(10),
        // unit, function, byte count (u16), FIFO count and values, CRC.
        fc::READ_FIFO_QUEUE => match be16(rx, 2) {
            Some(count) => Len::Exact(6 + usize::from(count)),
            None => Len::NeedMore,
        },
        fc::ENCAPSULATED_INTERFACE => device_id_len(rx),
        _ => Len::Unknown,
    }
}

/// Offsets in a Read Device Identification answer.
const DEVICE_ID_MEI: usize = 2;
const DEVICE_ID_COUNT: usize = 7;
const DEVICE_ID_OBJECTS: usize = 8;

/// The length of a Read Device Identification answer: a header (unit,
/// function, MEI, read code, conformity, more follows, next object id,
/// number of objects), then objects (id, length, value), then the CRC.
fn device_id_len(rx: &[u8]) -> Len {
    match rx.get(DEVICE_ID_MEI) {
        None => return Len::NeedMore,
        Some(&MEI_READ_DEVICE_ID) => {}
        // Another MEI type (CANopen 0x0D, say): nothing we can measure.
        Some(_) => return Len::Unknown,
    }
    let Some(&count) = rx.get(DEVICE_ID_COUNT) else {
        return Len::NeedMore;
    };
    let mut at = DEVICE_ID_OBJECTS;
    for _ in 0..count {
        // Each object is id, length, then `length` bytes.
        let Some(&len) = rx.get(at + 1) else {
            return Len::NeedMore;
        };
        at += 2 + usize::from(len);
        if at + 2 > MAX_ADU {
            // No conforming frame is this long: wait for silence instead.
            return Len::Unknown;
        }
    }
    Len::Exact(at + 2)
}

/// Tells whether `rx` holds a complete response to the request frame `wire`.
///
/// The length comes from the response's function code when it is the
/// request's (see [`response_len`]) or its exception (5 bytes). A response
/// is complete once that many bytes are in and their CRC checks; a CRC that
/// fails at that length, a wrong unit id, a function that is neither the
/// request's nor its exception, an unknown function, a length over 256
/// bytes, or a request that is not a frame (garbage `raw` bytes) all mean
/// the end can only be told by silence.
pub(crate) fn framing(wire: &[u8], rx: &[u8]) -> Framing {
    if rx.is_empty() {
        return Framing::NeedMore;
    }
    let Some((unit, function)) = expectation(wire) else {
        return Framing::UntilSilence;
    };
    if rx[0] != unit {
        return Framing::UntilSilence;
    }
    let Some(&got) = rx.get(1) else {
        return Framing::NeedMore;
    };
    let len = if got == function | EXCEPTION_BIT {
        Len::Exact(EXCEPTION_LEN)
    } else if got == function {
        response_len(function, rx, Some(wire.len()))
    } else {
        Len::Unknown
    };
    match len {
        Len::Exact(n) if n > MAX_ADU => Framing::UntilSilence,
        Len::Exact(n) => match rx.get(..n) {
            None => Framing::NeedMore,
            Some(frame) if crc_ok(frame) => Framing::Complete(n),
            Some(_) => Framing::UntilSilence,
        },
        Len::NeedMore => Framing::NeedMore,
        Len::Unknown => Framing::UntilSilence,
    }
}
