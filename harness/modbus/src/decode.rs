//! Decoding a response against its request into a verdict and one line of
//! text for people (transcripts, snapshots).
//!
//! The checks run in a fixed order, and the first one that fails makes the
//! response `Malformed`: length at most 256 bytes, at least 4, CRC, no answer
//! expected to a broadcast, unit id, function code (the request's or its
//! exception), then the function's own layout against the request. A
//! malformed text is the reason followed by the response's bytes in hex.
//!
//! Every access to the response goes through a length check or `get`, so
//! nothing here panics, whatever the bytes.

use std::fmt::Write as _;

use hilt_protocol::{Decoded, Verdict};

use crate::framing::{response_len, Len, EXCEPTION_LEN};
use crate::language::coil_value;
use crate::request::{expectation, FileRecordRead, ModbusRequest, RequestKind};
use crate::wire::{
    be16, crc16, diagnostics_echoes_data, diagnostics_name, diagnostics_returns_value,
    exception_name, hex, quoted, BROADCAST, EXCEPTION_BIT, FILE_REFERENCE_TYPE, MAX_ADU,
    MEI_READ_DEVICE_ID, MIN_FRAME,
};

/// Most values a FIFO queue answer may carry.
const MAX_FIFO_COUNT: u16 = 31;

fn malformed(reason: &str, response: &[u8]) -> Decoded {
    Decoded {
        verdict: Verdict::Malformed,
        text: format!("{reason}: {}", hex(response)),
    }
}

fn exception(code: u8) -> String {
    match exception_name(code) {
        Some(name) => format!("exception 0x{code:02X} {name}"),
        None => format!("exception 0x{code:02X} (not a standard code)"),
    }
}

/// Decodes `response` to `request` (empty for silence).
pub(crate) fn decode(request: &ModbusRequest, response: &[u8]) -> Decoded {
    if response.is_empty() {
        return Decoded {
            verdict: Verdict::Silence,
            text: "no response".to_owned(),
        };
    }
    let n = response.len();
    if n > MAX_ADU {
        return malformed(
            &format!("{n} bytes, over the {MAX_ADU}-byte maximum"),
            response,
        );
    }
    if n < MIN_FRAME {
        return malformed(&format!("too short ({n} bytes)"), response);
    }
    let (body, tail) = response.split_at(n - 2);
    let crc = crc16(body).to_le_bytes();
    if tail != crc {
        return malformed(
            &format!("bad CRC (ends {}, expected {})", hex(tail), hex(&crc)),
            response,
        );
    }
    let (unit, function) = (response[0], response[1]);
    // Between the function code and the CRC.
    let payload = &response[2..n - 2];

    let wire = request.to_bytes();
    let Some((want_unit, want_function)) = expectation(&wire) else {
        // The request was garbage: say what the response's own bytes say.
        return if function & EXCEPTION_BIT != 0 {
            exception_answer(
                response,
                &format!(" (unit 0x{unit:02X} function 0x{function:02X})"),
            )
        } else {
            generic_answer(function, response, None, &format!("unit 0x{unit:02X} "))
        };
    };
    if want_unit == BROADCAST {
        return malformed("answer to a broadcast, which is never answered", response);
    }
    if unit != want_unit {
        return malformed(
            &format!("unit id 0x{unit:02X}, expected 0x{want_unit:02X}"),
            response,
        );
    }
    if function == want_function | EXCEPTION_BIT {
        return exception_answer(response, "");
    }
    if function != want_function {
        return malformed(
            &format!(
                "function 0x{function:02X}, expected 0x{want_function:02X} or its exception 0x{:02X}",
                want_function | EXCEPTION_BIT
            ),
            response,
        );
    }
    let request_payload = wire
        .get(2..wire.len().saturating_sub(2))
        .unwrap_or_default();
    let typed = Typed {
        n,
        payload,
        request_payload,
    };
    let answer = match &request.kind {
        RequestKind::Pdu(_) | RequestKind::Frame(_) | RequestKind::Raw(_) => {
            return generic_answer(function, response, Some(wire.len()), "");
        }
        kind => typed.decode(kind),
    };
    match answer {
        Ok(text) => Decoded {
            verdict: Verdict::Answer,
            text,
        },
        Err(reason) => malformed(&reason, response),
    }
}

/// An exception response: exactly 5 bytes (the CRC has been checked).
fn exception_answer(response: &[u8], suffix: &str) -> Decoded {
    match response {
        [_, _, code, _, _] => Decoded {
            verdict: Verdict::Exception(*code),
            text: format!("{}{suffix}", exception(*code)),
        },
        _ => malformed(
            &format!(
                "exception response of {} bytes, expected {EXCEPTION_LEN}",
                response.len()
            ),
            response,
        ),
    }
}

/// A normal answer to bytes given as they are (`pdu`, `frame`, `raw`): the
/// length must agree with what the function's layout says, and the data is
/// shown in hex.
fn generic_answer(
    function: u8,
    response: &[u8],
    request_len: Option<usize>,
    prefix: &str,
) -> Decoded {
    let n = response.len();
    match response_len(function, response, request_len) {
        Len::Exact(want) if want != n => {
            return malformed(
                &format!("{n} bytes, but function 0x{function:02X} says {want}"),
                response,
            )
        }
        Len::NeedMore => {
            return malformed(
                &format!("truncated function 0x{function:02X} answer"),
                response,
            )
        }
        _ => {}
    }
    let data = response.get(2..n - 2).unwrap_or_default();
    let data = if data.is_empty() {
        "(no data)".to_owned()
    } else {
        hex(data)
    };
    Decoded {
        verdict: Verdict::Answer,
        text: format!("{prefix}function 0x{function:02X}: {data}"),
    }
}

/// A normal answer to a typed request, whose unit id, function code and CRC
/// have been checked.
struct Typed<'a> {
    /// Length of the whole response.
    n: usize,
    /// The response between function code and CRC.
    payload: &'a [u8],
    /// The request between function code and CRC.
    request_payload: &'a [u8],
}

type Checked = Result<String, String>;

impl Typed<'_> {
    fn decode(&self, kind: &RequestKind) -> Checked {
        match kind {
            RequestKind::ReadCoils { address, quantity } => self.bits("coils", *address, *quantity),
            RequestKind::ReadDiscreteInputs { address, quantity } => {
                self.bits("discrete", *address, *quantity)
            }
            RequestKind::ReadHoldingRegisters { address, quantity } => {
                self.registers("holding", *address, *quantity)
            }
            RequestKind::ReadInputRegisters { address, quantity } => {
                self.registers("input", *address, *quantity)
            }
            RequestKind::WriteSingleCoil { address, value } => {
                self.echo(4)?;
                Ok(format!(
                    "wrote coil 0x{address:04X}: {}",
                    coil_value(*value)
                ))
            }
            RequestKind::WriteSingleRegister { address, value } => {
                self.echo(4)?;
                Ok(format!("wrote holding 0x{address:04X}: {value}"))
            }
            RequestKind::ReadExceptionStatus => {
                self.len_is(1)?;
                Ok(format!("exception status 0x{:02X}", self.payload[0]))
            }
            RequestKind::Diagnostics { sub_function, data } => {
                self.diagnostics(*sub_function, data)
            }
            RequestKind::WriteMultipleCoils { address, coils } => {
                self.echo(4)?;
                Ok(format!("wrote {} coils at 0x{address:04X}", coils.len()))
            }
            RequestKind::WriteMultipleRegisters { address, values } => {
                self.echo(4)?;
                Ok(format!(
                    "wrote {} registers at 0x{address:04X}",
                    values.len()
                ))
            }
            RequestKind::ReportServerId => self.server_id(),
            RequestKind::ReadFileRecord { records } => self.file_records(records),
            RequestKind::WriteFileRecord { records } => {
                self.echo(self.request_payload.len())?;
                let subs: Vec<String> = records
                    .iter()
                    .map(|r| format!("{}/{}: {}", r.file, r.record, decimal(&r.values)))
                    .collect();
                Ok(format!("wrote file records {}", list_or_none(&subs, "; ")))
            }
            RequestKind::MaskWriteRegister {
                address,
                and_mask,
                or_mask,
            } => {
                self.echo(6)?;
                Ok(format!(
                    "masked holding 0x{address:04X}: and 0x{and_mask:04X} or 0x{or_mask:04X}"
                ))
            }
            RequestKind::ReadWriteMultipleRegisters {
                read_address,
                read_quantity,
                ..
            } => self.registers("holding", *read_address, *read_quantity),
            RequestKind::ReadFifoQueue { address } => self.fifo(*address),
            RequestKind::ReadDeviceIdentification {
                read_code,
                object_id,
            } => self.device_id(*read_code, *object_id),
            // Handled by `generic_answer`.
            RequestKind::Pdu(_) | RequestKind::Frame(_) | RequestKind::Raw(_) => {
                Err("internal: bytes request decoded as typed".to_owned())
            }
        }
    }

    /// The payload must be `len` bytes: a fixed-size answer.
    fn len_is(&self, len: usize) -> Result<(), String> {
        if self.payload.len() == len {
            Ok(())
        } else {
            Err(format!("{} bytes, expected {}", self.n, len + 4))
        }
    }

    /// The payload must be `len` bytes and repeat the request's first `len`.
    fn echo(&self, len: usize) -> Result<(), String> {
        self.len_is(len)?;
        match self.request_payload.get(..len) {
            Some(asked) if asked == self.payload => Ok(()),
            _ => Err("echo differs from the request".to_owned()),
        }
    }

    /// A one-byte byte count followed by exactly that many bytes.
    fn counted(&self) -> Result<&[u8], String> {
        let Some((&count, data)) = self.payload.split_first() else {
            return Err("no byte count".to_owned());
        };
        if data.len() == usize::from(count) {
            Ok(data)
        } else {
            Err(format!(
                "byte count {count}, but {} bytes follow",
                data.len()
            ))
        }
    }

    fn bits(&self, label: &str, address: u16, quantity: u16) -> Checked {
        let data = self.counted()?;
        let q = usize::from(quantity);
        let want = q.div_ceil(8);
        if data.len() != want {
            return Err(format!(
                "byte count {} for {q} {label}, expected {want}",
                data.len()
            ));
        }
        // The bits after the last one asked for must be zero.
        if let (Some(&last), rem @ 1..) = (data.last(), q % 8) {
            if last >> rem != 0 {
                return Err(format!(
                    "padding bits after the last of {q} {label} are not zero"
                ));
            }
        }
        let mut s = format!("{label} 0x{address:04X}: ");
        if q == 0 {
            s.push_str("(none)");
        }
        for i in 0..q {
            if i > 0 && i % 8 == 0 {
                s.push(' ');
            }
            let on = data.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1);
            s.push(if on { '1' } else { '0' });
        }
        Ok(s)
    }

    fn registers(&self, label: &str, address: u16, quantity: u16) -> Checked {
        let data = self.counted()?;
        let want = 2 * usize::from(quantity);
        if data.len() != want {
            return Err(format!(
                "byte count {} for {quantity} registers, expected {want}",
                data.len()
            ));
        }
        Ok(format!(
            "{label} 0x{address:04X}: {}",
            decimal(&words(data))
        ))
    }

    fn diagnostics(&self, sub_function: u16, data: &[u16]) -> Checked {
        self.len_is(self.request_payload.len())?;
        let got_sub = be16(self.payload, 0).ok_or("no sub-function")?;
        if got_sub != sub_function {
            return Err(format!(
                "sub-function 0x{got_sub:04X}, expected 0x{sub_function:04X}"
            ));
        }
        let got = words(self.payload.get(2..).unwrap_or_default());
        let mut s = format!("diagnostics 0x{sub_function:04X}");
        if let Some(name) = diagnostics_name(sub_function) {
            let _ = write!(s, " {name}");
        }
        s.push_str(": ");
        if diagnostics_returns_value(sub_function) {
            s.push_str(&decimal(&got));
        } else {
            if diagnostics_echoes_data(sub_function) && got != data {
                return Err("echo differs from the request".to_owned());
            }
            s.push_str(&hex_words(&got));
        }
        Ok(s)
    }

    fn server_id(&self) -> Checked {
        let data = self.counted()?;
        // The server id is device specific; one byte, as the node (and most
        // devices) use, then the run indicator, then free-form data.
        Ok(match data {
            [] => "server id (none)".to_owned(),
            [id] => format!("server id 0x{id:02X}"),
            [id, run] => format!("server id 0x{id:02X} run 0x{run:02X}"),
            [id, run, more @ ..] => {
                format!("server id 0x{id:02X} run 0x{run:02X} {}", quoted(more))
            }
        })
    }

    fn file_records(&self, records: &[FileRecordRead]) -> Checked {
        let data = self.counted()?;
        let mut rest = data;
        let mut subs = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let number = i + 1;
            // Each sub-response: length (reference type + data), reference
            // type, data.
            let [len, reference, after @ ..] = rest else {
                return Err(format!("sub-response {number} is missing"));
            };
            if *reference != FILE_REFERENCE_TYPE {
                return Err(format!(
                    "sub-response {number} has reference type {reference}, expected {FILE_REFERENCE_TYPE}"
                ));
            }
            let got = usize::from(*len).saturating_sub(1);
            let want = 2 * usize::from(r.length);
            if *len == 0 || got != want {
                return Err(format!(
                    "sub-response {number} has length {len}, expected {} for {} records",
                    want + 1,
                    r.length
                ));
            }
            let Some((values, after)) = after.split_at_checked(got) else {
                return Err(format!("sub-response {number} is truncated"));
            };
            subs.push(format!(
                "{}/{}: {}",
                r.file,
                r.record,
                decimal(&words(values))
            ));
            rest = after;
        }
        if !rest.is_empty() {
            return Err(format!("{} bytes after the last sub-response", rest.len()));
        }
        Ok(format!("file records {}", list_or_none(&subs, "; ")))
    }

    fn fifo(&self, address: u16) -> Checked {
        let count = be16(self.payload, 0).ok_or("no byte count")?;
        let data = self.payload.get(2..).unwrap_or_default();
        if data.len() != usize::from(count) {
            return Err(format!(
                "byte count {count}, but {} bytes follow",
                data.len()
            ));
        }
        let fifo_count = be16(data, 0).ok_or("no FIFO count")?;
        let values = words(data.get(2..).unwrap_or_default());
        if values.len() != usize::from(fifo_count) || data.len() % 2 != 0 {
            return Err(format!(
                "FIFO count {fifo_count}, but byte count {count} holds {} values",
                values.len()
            ));
        }
        if fifo_count > MAX_FIFO_COUNT {
            return Err(format!(
                "FIFO count {fifo_count}, over the maximum of {MAX_FIFO_COUNT}"
            ));
        }
        Ok(format!("fifo 0x{address:04X}: {}", decimal(&values)))
    }

    fn device_id(&self, read_code: u8, object_id: u8) -> Checked {
        let [mei, code, conformity, more, next, count, objects @ ..] = self.payload else {
            return Err("device identification header is truncated".to_owned());
        };
        if *mei != MEI_READ_DEVICE_ID {
            return Err(format!(
                "MEI type 0x{mei:02X}, expected 0x{MEI_READ_DEVICE_ID:02X}"
            ));
        }
        if *code != read_code {
            return Err(format!("read device id code {code}, expected {read_code}"));
        }
        if *more != 0x00 && *more != 0xFF {
            return Err(format!("more follows 0x{more:02X}, expected 0x00 or 0xFF"));
        }
        let mut objects = objects;
        let mut listed = Vec::new();
        let mut ids = Vec::new();
        for i in 0..*count {
            let [id, len, after @ ..] = objects else {
                return Err(format!("object {} of {count} is missing", i + 1));
            };
            let Some((value, after)) = after.split_at_checked(usize::from(*len)) else {
                return Err(format!("object 0x{id:02X} is truncated"));
            };
            listed.push(format!("0x{id:02X} {}", quoted(value)));
            ids.push(*id);
            objects = after;
        }
        if !objects.is_empty() {
            return Err(format!(
                "{} bytes after the last of {count} objects",
                objects.len()
            ));
        }
        if read_code == 4 && ids != [object_id] {
            let ids: Vec<String> = ids.iter().map(|id| format!("0x{id:02X}")).collect();
            return Err(format!(
                "individual access to object 0x{object_id:02X} answered with {}",
                list_or_none(&ids, ", ")
            ));
        }
        let mut s = format!(
            "device id {code} conformity 0x{conformity:02X}: {}",
            list_or_none(&listed, ", ")
        );
        if *more == 0xFF {
            let _ = write!(s, "; more from 0x{next:02X}");
        }
        Ok(s)
    }
}

/// Big-endian words; an odd last byte is ignored (callers check lengths).
fn words(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect()
}

/// Values in decimal separated by spaces, or `(none)`.
fn decimal(values: &[u16]) -> String {
    let list: Vec<String> = values.iter().map(u16::to_string).collect();
    list_or_none(&list, " ")
}

/// Words as `0x%04X` separated by spaces, or `(none)`.
fn hex_words(values: &[u16]) -> String {
    let list: Vec<String> = values.iter().map(|v| format!("0x{v:04X}")).collect();
    list_or_none(&list, " ")
}

fn list_or_none(items: &[String], separator: &str) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(separator)
    }
}
