//! The request parser: a PDU's bytes in, a typed [`Request`] out.
//!
//! [`Request::parse`] makes the first two of MODBUS-NODE.md's checks: the
//! function (or sub-function, or MEI type) is supported (else exception
//! 0x01), and every quantity, byte count and length is valid (else 0x03).
//! What is left to the node is what needs its data model: whether addresses
//! exist (0x02) and whether a write may execute (0x04).
//!
//! A parsed request keeps borrowed views of its variable-length parts, and
//! [`Request::emit`] writes back the exact bytes it was parsed from: the
//! parser accepts nothing it would not reproduce (no trailing bytes, no
//! ignored fields). The `request` fuzz target checks that round trip.

use crate::node::Exception;
use crate::planted::{self, Bug};

/// A valid request, as far as its own bytes can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// 0x01.
    ReadCoils { start: u16, quantity: u16 },
    /// 0x02.
    ReadDiscreteInputs { start: u16, quantity: u16 },
    /// 0x03.
    ReadHoldingRegisters { start: u16, quantity: u16 },
    /// 0x04.
    ReadInputRegisters { start: u16, quantity: u16 },
    /// 0x05.
    WriteSingleCoil { address: u16, on: bool },
    /// 0x06.
    WriteSingleRegister { address: u16, value: u16 },
    /// 0x07.
    ReadExceptionStatus,
    /// 0x08: a supported sub-function; `data` is what follows it.
    Diagnostics { sub: u16, data: &'a [u8] },
    /// 0x0F: `values` holds `quantity` bits, coil `start` in bit 0.
    WriteMultipleCoils {
        start: u16,
        quantity: u16,
        values: &'a [u8],
    },
    /// 0x10: `values` holds `quantity` big-endian registers.
    WriteMultipleRegisters {
        start: u16,
        quantity: u16,
        values: &'a [u8],
    },
    /// 0x11.
    ReportServerId,
    /// 0x14: whole 7-byte sub-requests, each of a non-zero length.
    ReadFileRecord { subs: &'a [u8] },
    /// 0x15: sub-requests, each a 7-byte header and its values, exactly
    /// filling the request.
    WriteFileRecord { subs: &'a [u8] },
    /// 0x16.
    MaskWriteRegister { address: u16, and: u16, or: u16 },
    /// 0x17: `values` holds `write_quantity` big-endian registers.
    ReadWriteRegisters {
        read_start: u16,
        read_quantity: u16,
        write_start: u16,
        write_quantity: u16,
        values: &'a [u8],
    },
    /// 0x18.
    ReadFifoQueue { address: u16 },
    /// 0x2B / MEI 0x0E.
    ReadDeviceIdentification { code: u8, object: u8 },
}

/// Diagnostics sub-functions the node supports.
pub mod diagnostic {
    pub const RETURN_QUERY_DATA: u16 = 0x0000;
    pub const RESTART_COMMUNICATIONS: u16 = 0x0001;
    pub const FORCE_LISTEN_ONLY: u16 = 0x0004;
    pub const CLEAR_COUNTERS: u16 = 0x000A;
    /// The counters' sub-functions, 0x000B to 0x0012.
    pub const COUNTERS: core::ops::RangeInclusive<u16> = 0x000B..=0x0012;
}

/// The MEI type of Read Device Identification.
const MEI_DEVICE_ID: u8 = 0x0E;
/// The largest PDU, and so the largest answer.
const MAX_PDU: u32 = crate::frame::MAX_PDU as u32;

/// The big-endian u16 at `at`, or 0 where the bytes run out.
pub(crate) fn be16(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at + 2) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

/// Start and quantity of a read (functions 0x01 to 0x04): exactly four
/// bytes, a quantity of 1..=`max`.
fn read_range(data: &[u8], max: u16) -> Result<(u16, u16), Exception> {
    let quantity = be16(data, 2);
    if data.len() != 4 || !(1..=max).contains(&quantity) {
        return Err(Exception::IllegalDataValue);
    }
    Ok((be16(data, 0), quantity))
}

/// Exactly one 16-bit value follows the sub-function.
fn one_word(data: &[u8]) -> Result<u16, Exception> {
    match data {
        [hi, lo] => Ok(u16::from_be_bytes([*hi, *lo])),
        _ => Err(Exception::IllegalDataValue),
    }
}

impl<'a> Request<'a> {
    /// Parses a PDU (function code and data) of at most
    /// [`MAX_PDU`](crate::frame::MAX_PDU) bytes.
    pub fn parse(pdu: &'a [u8]) -> Result<Self, Exception> {
        let Some((&function, data)) = pdu.split_first() else {
            return Err(Exception::IllegalFunction);
        };
        // Longer than any frame can carry (the node never sees one).
        if pdu.len() > crate::frame::MAX_PDU {
            return Err(Exception::IllegalDataValue);
        }
        match function {
            0x01 => read_range(data, 2000)
                .map(|(start, quantity)| Request::ReadCoils { start, quantity }),
            0x02 => read_range(data, 2000)
                .map(|(start, quantity)| Request::ReadDiscreteInputs { start, quantity }),
            0x03 => read_range(data, 125)
                .map(|(start, quantity)| Request::ReadHoldingRegisters { start, quantity }),
            0x04 => read_range(data, 125)
                .map(|(start, quantity)| Request::ReadInputRegisters { start, quantity }),
            0x05 => {
                let on = match (data.len(), be16(data, 2)) {
                    (4, 0x0000) => false,
                    (4, 0xFF00) => true,
                    _ => return Err(Exception::IllegalDataValue),
                };
                Ok(Request::WriteSingleCoil {
                    address: be16(data, 0),
                    on,
                })
            }
            0x06 => match data.len() {
                4 => Ok(Request::WriteSingleRegister {
                    address: be16(data, 0),
                    value: be16(data, 2),
                }),
                _ => Err(Exception::IllegalDataValue),
            },
            0x07 => match data.is_empty() {
                true => Ok(Request::ReadExceptionStatus),
                false => Err(Exception::IllegalDataValue),
            },
            0x08 => Self::diagnostics(data),
            0x0F => Self::write_multiple_coils(data),
            0x10 => Self::write_multiple_registers(data),
            0x11 => match data.is_empty() {
                true => Ok(Request::ReportServerId),
                false => Err(Exception::IllegalDataValue),
            },
            0x14 => Self::read_file_record(data),
            0x15 => Self::write_file_record(data),
            0x16 => match data.len() {
                6 => Ok(Request::MaskWriteRegister {
                    address: be16(data, 0),
                    and: be16(data, 2),
                    or: be16(data, 4),
                }),
                _ => Err(Exception::IllegalDataValue),
            },
            0x17 => Self::read_write_registers(data),
            0x18 => match data.len() {
                2 => Ok(Request::ReadFifoQueue {
                    address: be16(data, 0),
                }),
                _ => Err(Exception::IllegalDataValue),
            },
            0x2B => Self::read_device_identification(data),
            _ => Err(Exception::IllegalFunction),
        }
    }

    /// The function code.
    pub fn function(&self) -> u8 {
        match self {
            Request::ReadCoils { .. } => 0x01,
            Request::ReadDiscreteInputs { .. } => 0x02,
            Request::ReadHoldingRegisters { .. } => 0x03,
            Request::ReadInputRegisters { .. } => 0x04,
            Request::WriteSingleCoil { .. } => 0x05,
            Request::WriteSingleRegister { .. } => 0x06,
            Request::ReadExceptionStatus => 0x07,
            Request::Diagnostics { .. } => 0x08,
            Request::WriteMultipleCoils { .. } => 0x0F,
            Request::WriteMultipleRegisters { .. } => 0x10,
            Request::ReportServerId => 0x11,
            Request::ReadFileRecord { .. } => 0x14,
            Request::WriteFileRecord { .. } => 0x15,
            Request::MaskWriteRegister { .. } => 0x16,
            Request::ReadWriteRegisters { .. } => 0x17,
            Request::ReadFifoQueue { .. } => 0x18,
            Request::ReadDeviceIdentification { .. } => 0x2B,
        }
    }

    /// Writes the request's PDU into `out`; returns its length, or `None`
    /// if `out` is too small.
    pub fn emit(&self, out: &mut [u8]) -> Option<usize> {
        let mut w = Cursor { out, len: 0 };
        w.u8(self.function())?;
        match *self {
            Request::ReadCoils { start, quantity }
            | Request::ReadDiscreteInputs { start, quantity }
            | Request::ReadHoldingRegisters { start, quantity }
            | Request::ReadInputRegisters { start, quantity } => {
                w.u16(start)?.u16(quantity)?;
            }
            Request::WriteSingleCoil { address, on } => {
                w.u16(address)?.u16(if on { 0xFF00 } else { 0x0000 })?;
            }
            Request::WriteSingleRegister { address, value } => {
                w.u16(address)?.u16(value)?;
            }
            Request::ReadExceptionStatus | Request::ReportServerId => {}
            Request::Diagnostics { sub, data } => {
                w.u16(sub)?.bytes(data)?;
            }
            Request::WriteMultipleCoils {
                start,
                quantity,
                values,
            }
            | Request::WriteMultipleRegisters {
                start,
                quantity,
                values,
            } => {
                w.u16(start)?
                    .u16(quantity)?
                    .u8(values.len() as u8)?
                    .bytes(values)?;
            }
            Request::ReadFileRecord { subs } | Request::WriteFileRecord { subs } => {
                w.u8(subs.len() as u8)?.bytes(subs)?;
            }
            Request::MaskWriteRegister { address, and, or } => {
                w.u16(address)?.u16(and)?.u16(or)?;
            }
            Request::ReadWriteRegisters {
                read_start,
                read_quantity,
                write_start,
                write_quantity,
                values,
            } => {
                w.u16(read_start)?
                    .u16(read_quantity)?
                    .u16(write_start)?
                    .u16(write_quantity)?
                    .u8(values.len() as u8)?
                    .bytes(values)?;
            }
            Request::ReadFifoQueue { address } => {
                w.u16(address)?;
            }
            Request::ReadDeviceIdentification { code, object } => {
                w.u8(MEI_DEVICE_ID)?.u8(code)?.u8(object)?;
            }
        }
        Some(w.len)
    }

    fn diagnostics(data: &'a [u8]) -> Result<Self, Exception> {
        use diagnostic::*;
        if data.len() < 2 {
            return Err(Exception::IllegalDataValue);
        }
        let (sub, rest) = (be16(data, 0), &data[2..]);
        match sub {
            // Return Query Data: echoed whatever its length.
            RETURN_QUERY_DATA => {}
            RESTART_COMMUNICATIONS => {
                if !matches!(one_word(rest)?, 0x0000 | 0xFF00) {
                    return Err(Exception::IllegalDataValue);
                }
            }
            FORCE_LISTEN_ONLY | CLEAR_COUNTERS => {
                one_word(rest)?;
            }
            s if COUNTERS.contains(&s) => {
                if one_word(rest)? != 0 {
                    return Err(Exception::IllegalDataValue);
                }
            }
            _ => return Err(Exception::IllegalFunction),
        }
        Ok(Request::Diagnostics { sub, data: rest })
    }

    fn write_multiple_coils(data: &'a [u8]) -> Result<Self, Exception> {
        let (start, quantity, count) = Self::write_header(data, 5)?;
        let exact = data.len() == 5 + count;
        // Planted bug PB10: bytes after the values are accepted and ignored.
        let long_enough = planted::on(Bug::CoilsTrailingBytes) && data.len() >= 5 + count;
        if !(1..=1968).contains(&quantity)
            || count != usize::from(quantity.div_ceil(8))
            || !(exact || long_enough)
        {
            return Err(Exception::IllegalDataValue);
        }
        Ok(Request::WriteMultipleCoils {
            start,
            quantity,
            values: &data[5..5 + count],
        })
    }

    fn write_multiple_registers(data: &'a [u8]) -> Result<Self, Exception> {
        let (start, quantity, count) = Self::write_header(data, 5)?;
        // Planted bug PB04: the quantity is checked only against what its
        // byte count can say, and the byte count is computed in a u8, so a
        // quantity of 128 "needs" zero bytes.
        let valid = if planted::on(Bug::RegisterCountOverflow) {
            (1..=0xFF).contains(&quantity) && count == usize::from((quantity as u8).wrapping_mul(2))
        } else {
            (1..=123).contains(&quantity) && count == 2 * usize::from(quantity)
        };
        if !valid || data.len() != 5 + count {
            return Err(Exception::IllegalDataValue);
        }
        Ok(Request::WriteMultipleRegisters {
            start,
            quantity,
            values: &data[5..],
        })
    }

    /// Start, quantity and byte count at the head of a multiple write,
    /// whose header is `len` bytes long.
    fn write_header(data: &[u8], len: usize) -> Result<(u16, u16, usize), Exception> {
        match data.get(len - 1) {
            Some(&count) => Ok((be16(data, len - 5), be16(data, len - 3), usize::from(count))),
            None => Err(Exception::IllegalDataValue),
        }
    }

    fn read_file_record(data: &'a [u8]) -> Result<Self, Exception> {
        let Some((&count, subs)) = data.split_first() else {
            return Err(Exception::IllegalDataValue);
        };
        if !(0x07..=0xF5).contains(&count) || count % 7 != 0 || subs.len() != usize::from(count) {
            return Err(Exception::IllegalDataValue);
        }
        // A zero length, or an answer beyond the largest PDU.
        let mut answer_len = 2u32;
        for sub in subs.chunks_exact(7).map(SubRequest::parse) {
            if sub.length == 0 {
                return Err(Exception::IllegalDataValue);
            }
            answer_len += 2 + 2 * u32::from(sub.length);
        }
        if answer_len > MAX_PDU {
            return Err(Exception::IllegalDataValue);
        }
        Ok(Request::ReadFileRecord { subs })
    }

    fn write_file_record(data: &'a [u8]) -> Result<Self, Exception> {
        let Some((&count, subs)) = data.split_first() else {
            return Err(Exception::IllegalDataValue);
        };
        if !(0x09..=0xFB).contains(&count) || subs.len() != usize::from(count) {
            return Err(Exception::IllegalDataValue);
        }
        // The sub-requests must fill the request exactly.
        if (WriteWalk { rest: subs }).any(|sub| sub.is_err()) {
            return Err(Exception::IllegalDataValue);
        }
        Ok(Request::WriteFileRecord { subs })
    }

    fn read_write_registers(data: &'a [u8]) -> Result<Self, Exception> {
        let (write_start, write_quantity, count) = Self::write_header(data, 9)?;
        let (read_start, read_quantity) = (be16(data, 0), be16(data, 2));
        if !(1..=125).contains(&read_quantity)
            || !(1..=121).contains(&write_quantity)
            || count != 2 * usize::from(write_quantity)
            || data.len() != 9 + count
        {
            return Err(Exception::IllegalDataValue);
        }
        Ok(Request::ReadWriteRegisters {
            read_start,
            read_quantity,
            write_start,
            write_quantity,
            values: &data[9..],
        })
    }

    fn read_device_identification(data: &'a [u8]) -> Result<Self, Exception> {
        match data {
            [] => Err(Exception::IllegalDataValue),
            [mei, ..] if *mei != MEI_DEVICE_ID => Err(Exception::IllegalFunction),
            [_, code @ (0x01 | 0x02 | 0x04), object] => Ok(Request::ReadDeviceIdentification {
                code: *code,
                object: *object,
            }),
            _ => Err(Exception::IllegalDataValue),
        }
    }
}

/// A bounded writer for [`Request::emit`].
struct Cursor<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn u8(&mut self, value: u8) -> Option<&mut Self> {
        *self.out.get_mut(self.len)? = value;
        self.len += 1;
        Some(self)
    }

    fn u16(&mut self, value: u16) -> Option<&mut Self> {
        let [hi, lo] = value.to_be_bytes();
        self.u8(hi)?.u8(lo)
    }

    fn bytes(&mut self, bytes: &[u8]) -> Option<&mut Self> {
        let end = self.len.checked_add(bytes.len())?;
        self.out.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(self)
    }
}

/// The 7-byte header of a file-record sub-request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubRequest {
    /// Reference type; 6 is the only valid one.
    pub reference: u8,
    pub file: u16,
    pub record: u16,
    /// Records to read or write.
    pub length: u16,
}

impl SubRequest {
    /// Parses a header from its 7 bytes (missing bytes read as 0).
    pub fn parse(bytes: &[u8]) -> Self {
        SubRequest {
            reference: bytes.first().copied().unwrap_or(0),
            file: be16(bytes, 1),
            record: be16(bytes, 3),
            length: be16(bytes, 5),
        }
    }
}

/// The sub-requests of a parsed Read File Record request.
pub fn read_subs(subs: &[u8]) -> impl Iterator<Item = SubRequest> + Clone + '_ {
    subs.chunks_exact(7).map(SubRequest::parse)
}

/// Walks the sub-requests of a Write File Record request, yielding each
/// header with its value bytes, or an error (and then nothing more) where a
/// header is cut short, a length is zero, or the values run past the end.
#[derive(Debug, Clone)]
pub struct WriteWalk<'a> {
    /// What is left to walk.
    pub rest: &'a [u8],
}

impl<'a> Iterator for WriteWalk<'a> {
    type Item = Result<(SubRequest, &'a [u8]), Exception>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = core::mem::take(&mut self.rest);
        let Some(header) = rest.get(..7) else {
            return Some(Err(Exception::IllegalDataValue));
        };
        let s = SubRequest::parse(header);
        if s.length == 0 {
            if planted::on(Bug::ZeroLengthLoop) {
                // Planted bug PB06: a zero-length sub-request is taken as
                // having no values, and the walk stays where it is.
                self.rest = rest;
                return Some(Ok((s, &[])));
            }
            return Some(Err(Exception::IllegalDataValue));
        }
        let end = 7 + 2 * usize::from(s.length);
        let values = if planted::on(Bug::FileRecordWalk) {
            // Planted bug PB03: the walk trusts the sub-request's length.
            planted::slice(rest, 7..end, Bug::FileRecordWalk)
        } else {
            match rest.get(7..end) {
                Some(values) => values,
                None => return Some(Err(Exception::IllegalDataValue)),
            }
        };
        self.rest = rest.get(end..).unwrap_or_default();
        Some(Ok((s, values)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(pdu: &[u8]) {
        if let Ok(request) = Request::parse(pdu) {
            let mut out = [0u8; 300];
            let n = request.emit(&mut out).expect("a parsed PDU fits");
            assert_eq!(&out[..n], pdu, "{request:?}");
            assert_eq!(request.function(), pdu[0]);
        }
    }

    #[test]
    fn every_function_parses_and_emits_back() {
        let pdus: &[&[u8]] = &[
            &[0x01, 0x00, 0x00, 0x00, 0x20],
            &[0x02, 0x00, 0x03, 0x00, 0x01],
            &[0x03, 0x00, 0x00, 0x00, 0x7D],
            &[0x04, 0x00, 0x10, 0x00, 0x08],
            &[0x05, 0x00, 0x01, 0xFF, 0x00],
            &[0x06, 0x01, 0x10, 0xA5, 0x5A],
            &[0x07],
            &[0x08, 0x00, 0x00, 0x12, 0x34, 0x56],
            &[0x08, 0x00, 0x01, 0xFF, 0x00],
            &[0x08, 0x00, 0x0E, 0x00, 0x00],
            &[0x0F, 0x00, 0x00, 0x00, 0x0A, 0x02, 0xFF, 0x03],
            &[0x10, 0x00, 0x00, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x02],
            &[0x11],
            &[0x14, 0x07, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02],
            &[
                0x15, 0x09, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0xAB, 0xCD,
            ],
            &[0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25],
            &[
                0x17, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x09,
            ],
            &[0x18, 0x02, 0x00],
            &[0x2B, 0x0E, 0x01, 0x00],
        ];
        for pdu in pdus {
            assert!(Request::parse(pdu).is_ok(), "{pdu:02X?}");
            round_trip(pdu);
        }
    }

    #[test]
    fn the_checks_come_in_the_specified_order() {
        let cases: &[(&[u8], Exception)] = &[
            (&[], Exception::IllegalFunction),
            (&[0x09], Exception::IllegalFunction),
            (&[0x08, 0x00, 0x02, 0x00, 0x00], Exception::IllegalFunction),
            (&[0x08, 0x00], Exception::IllegalDataValue),
            (&[0x2B, 0x0D, 0x01, 0x00], Exception::IllegalFunction),
            (&[0x2B, 0x0E, 0x03, 0x00], Exception::IllegalDataValue),
            (&[0x03, 0x00, 0x00, 0x00, 0x7E], Exception::IllegalDataValue),
            (&[0x05, 0x00, 0x01, 0x12, 0x34], Exception::IllegalDataValue),
            (
                &[0x0F, 0x00, 0x00, 0x00, 0x0A, 0x02, 0xFF],
                Exception::IllegalDataValue,
            ),
            (
                &[0x0F, 0x00, 0x00, 0x00, 0x08, 0x01, 0xFF, 0x00],
                Exception::IllegalDataValue,
            ),
            (
                &[0x10, 0x00, 0x00, 0x00, 0x80, 0x00],
                Exception::IllegalDataValue,
            ),
            (
                &[0x15, 0x09, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0, 0],
                Exception::IllegalDataValue,
            ),
            (
                &[0x15, 0x09, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0, 0],
                Exception::IllegalDataValue,
            ),
        ];
        for (pdu, want) in cases {
            assert_eq!(Request::parse(pdu), Err(*want), "{pdu:02X?}");
        }
    }

    #[test]
    fn emit_refuses_a_buffer_too_small() {
        let request = Request::parse(&[0x03, 0x00, 0x00, 0x00, 0x01]).unwrap();
        assert_eq!(request.emit(&mut [0u8; 4]), None);
        assert_eq!(request.emit(&mut [0u8; 5]), Some(5));
    }

    proptest! {
        #[test]
        fn any_pdu_that_parses_emits_its_own_bytes(
            function in prop::sample::select(&[0x01u8, 0x03, 0x05, 0x06, 0x07, 0x08, 0x0F, 0x10, 0x11, 0x14, 0x15, 0x16, 0x17, 0x18, 0x2B][..]),
            data in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut pdu = vec![function];
            pdu.extend_from_slice(&data);
            round_trip(&pdu);
        }
    }
}
