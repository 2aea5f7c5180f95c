//! The readable request language: parsing one line, and rendering a request
//! in its canonical form. The grammar is documented at the crate root.

use std::fmt::Write as _;

use hilt_protocol::ParseError;

use crate::request::{FileRecordRead, FileRecordWrite, ModbusRequest, RequestKind};
use crate::wire::hex;

/// The value of `write-coil ADDR on`.
pub const COIL_ON: u16 = 0xFF00;
/// The value of `write-coil ADDR off`.
pub const COIL_OFF: u16 = 0x0000;

/// How one command is written, for error messages.
struct Syntax {
    name: &'static str,
    /// The arguments, or "" for none.
    args: &'static str,
    example: &'static str,
}

macro_rules! syntax {
    ($($id:ident = $name:literal $args:literal $example:literal;)*) => {
        $(const $id: Syntax = Syntax { name: $name, args: $args, example: $example };)*
        /// Every keyword, in the order they are listed to people.
        const KEYWORDS: &[&str] = &[$($name),*];
    };
}

syntax! {
    READ_COILS = "read-coils" "ADDR QTY" "read-coils 0x0000 8";
    READ_DISCRETE = "read-discrete" "ADDR QTY" "read-discrete 0x0000 8";
    READ_HOLDING = "read-holding" "ADDR QTY" "read-holding 0x0000 4";
    READ_INPUT = "read-input" "ADDR QTY" "read-input 0x0000 4";
    WRITE_COIL = "write-coil" "ADDR on|off|VALUE" "write-coil 0x0003 on";
    WRITE_REGISTER = "write-register" "ADDR VALUE" "write-register 0x0000 0x1234";
    READ_EXCEPTION_STATUS = "read-exception-status" "" "read-exception-status";
    DIAGNOSTICS = "diagnostics" "SUB [WORD...]" "diagnostics 0x0000 0x1234";
    WRITE_COILS = "write-coils" "ADDR BITS" "write-coils 0x0000 10110";
    WRITE_REGISTERS = "write-registers" "ADDR VALUE..." "write-registers 0x0000 1 2 3";
    REPORT_SERVER_ID = "report-server-id" "" "report-server-id";
    READ_FILE_RECORD = "read-file-record" "FILE/RECORD/LEN..." "read-file-record 1/0/4 2/10/1";
    WRITE_FILE_RECORD = "write-file-record" "FILE/RECORD=V,V,..." "write-file-record 1/0=0x1,0x2 3/5=7";
    MASK_WRITE = "mask-write" "ADDR AND OR" "mask-write 0x0004 0x00F2 0x0025";
    READ_WRITE = "read-write" "RADDR RQTY WADDR VALUE..." "read-write 0x0000 4 0x0010 1 2";
    READ_FIFO = "read-fifo" "ADDR" "read-fifo 0x0200";
    READ_DEVICE_ID = "read-device-id" "CODE OBJECT" "read-device-id 1 0x00";
    PDU = "pdu" "HEX..." "pdu 03 0000 0004";
    FRAME = "frame" "HEX..." "frame 01 03 0000 0004";
    RAW = "raw" "HEX..." "raw 01 03 0000 0004 4409";
}

/// Whether a line carries no request: blank, or a `#` comment.
pub fn is_blank_or_comment(line: &str) -> bool {
    let line = line.trim_start();
    line.is_empty() || line.starts_with('#')
}

/// Parses a number written in decimal or as `0x` hex, at most `max`.
fn number(token: &str, max: u32) -> Option<u32> {
    let (digits, radix) = match token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
    {
        Some(h) => (h, 16),
        None => (token, 10),
    };
    // `from_str_radix` alone would accept a leading `+`.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix)
        .ok()
        .filter(|v| *v <= max)
}

/// Strips an optional `0x`; true when what is left is non-empty hex digits.
fn looks_hex(token: &str) -> bool {
    let digits = token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
        .unwrap_or(token);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The bytes of one hex token: pairs of hex digits, optional `0x`.
fn hex_token(token: &str) -> Option<Vec<u8>> {
    let digits = token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
        .unwrap_or(token);
    if digits.is_empty() || digits.len() % 2 != 0 || !looks_hex(digits) {
        return None;
    }
    digits
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect()
}

/// One command being parsed: its syntax and its argument tokens.
struct Cmd<'a> {
    syntax: &'static Syntax,
    args: &'a [&'a str],
}

impl Cmd<'_> {
    fn usage(&self) -> ParseError {
        let s = self.syntax;
        if s.args.is_empty() {
            ParseError::new(format!("{} takes no arguments, e.g. {}", s.name, s.example))
        } else {
            ParseError::new(format!("{} takes {}, e.g. {}", s.name, s.args, s.example))
        }
    }

    /// An error about one argument, followed by the command's usage.
    fn bad(&self, what: &str, token: &str, expected: &str) -> ParseError {
        let s = self.syntax;
        ParseError::new(format!(
            "{}: {what} `{token}` is not {expected}; {} takes {}, e.g. {}",
            s.name, s.name, s.args, s.example
        ))
    }

    fn exactly(&self, n: usize) -> Result<(), ParseError> {
        if self.args.len() == n {
            Ok(())
        } else {
            Err(self.usage())
        }
    }

    fn at_least(&self, n: usize) -> Result<(), ParseError> {
        if self.args.len() >= n {
            Ok(())
        } else {
            Err(self.usage())
        }
    }

    fn num(&self, token: &str, what: &str, max: u32) -> Result<u32, ParseError> {
        number(token, max).ok_or_else(|| {
            self.bad(
                what,
                token,
                &format!("a number 0..={max} (decimal or 0x hex)"),
            )
        })
    }

    fn u16(&self, token: &str, what: &str) -> Result<u16, ParseError> {
        self.num(token, what, u32::from(u16::MAX)).map(|v| v as u16)
    }

    fn u8(&self, token: &str, what: &str) -> Result<u8, ParseError> {
        self.num(token, what, u32::from(u8::MAX)).map(|v| v as u8)
    }

    /// Argument `i` as a u16 (the caller has checked the arity).
    fn u16_at(&self, i: usize, what: &str) -> Result<u16, ParseError> {
        let token = self.args.get(i).ok_or_else(|| self.usage())?;
        self.u16(token, what)
    }

    fn u16_list(&self, tokens: &[&str], what: &str) -> Result<Vec<u16>, ParseError> {
        tokens.iter().map(|t| self.u16(t, what)).collect()
    }

    fn hex(&self, tokens: &[&str]) -> Result<Vec<u8>, ParseError> {
        let mut bytes = Vec::new();
        for token in tokens {
            let b = hex_token(token).ok_or_else(|| {
                self.bad(
                    "HEX",
                    token,
                    "hex bytes (pairs of hex digits, optional 0x per token)",
                )
            })?;
            bytes.extend(b);
        }
        if bytes.is_empty() {
            return Err(self.usage());
        }
        Ok(bytes)
    }

    fn addr_qty(&self) -> Result<(u16, u16), ParseError> {
        self.exactly(2)?;
        Ok((self.u16_at(0, "ADDR")?, self.u16_at(1, "QTY")?))
    }
}

/// Parses one line of the request language.
pub(crate) fn parse(text: &str, default_unit: u8) -> Result<ModbusRequest, ParseError> {
    // `#` never occurs in a request, so everything after it is a comment.
    let line = text.split('#').next().unwrap_or_default();
    let mut tokens: Vec<&str> = line.split_whitespace().collect();
    if tokens.is_empty() {
        return Err(ParseError::new(
            "empty request: expected a command such as `read-holding 0x0000 4`, or the hex bytes of a frame",
        ));
    }
    let mut unit = None;
    if let Some(u) = tokens[0].strip_prefix('@') {
        let id = number(u, 0xFF).ok_or_else(|| {
            ParseError::new(format!(
                "`{}` is not @UNIT with a unit id 0..=255 (decimal or 0x hex), e.g. @2 read-holding 0x0000 4",
                tokens[0]
            ))
        })?;
        unit = Some(id as u8);
        tokens.remove(0);
    }
    let Some((&first, args)) = tokens.split_first() else {
        return Err(ParseError::new(
            "@UNIT must be followed by a command, e.g. @2 read-holding 0x0000 4",
        ));
    };
    let unit_or_default = unit.unwrap_or(default_unit);
    let keyword = first.to_ascii_lowercase();
    let syntax = match keyword.as_str() {
        "read-coils" => &READ_COILS,
        "read-discrete" => &READ_DISCRETE,
        "read-holding" => &READ_HOLDING,
        "read-input" => &READ_INPUT,
        "write-coil" => &WRITE_COIL,
        "write-register" => &WRITE_REGISTER,
        "read-exception-status" => &READ_EXCEPTION_STATUS,
        "diagnostics" => &DIAGNOSTICS,
        "write-coils" => &WRITE_COILS,
        "write-registers" => &WRITE_REGISTERS,
        "report-server-id" => &REPORT_SERVER_ID,
        "read-file-record" => &READ_FILE_RECORD,
        "write-file-record" => &WRITE_FILE_RECORD,
        "mask-write" => &MASK_WRITE,
        "read-write" => &READ_WRITE,
        "read-fifo" => &READ_FIFO,
        "read-device-id" => &READ_DEVICE_ID,
        "pdu" => &PDU,
        "frame" => &FRAME,
        "raw" => &RAW,
        _ if looks_hex(first) => {
            // A line of bare hex is a frame: every token is part of it.
            let cmd = Cmd {
                syntax: &FRAME,
                args: &tokens,
            };
            return frame_or_raw(&cmd, unit, true);
        }
        _ => {
            return Err(ParseError::new(format!(
                "unknown command `{first}`: expected one of {}, or the hex bytes of a frame",
                KEYWORDS.join(", ")
            )))
        }
    };
    let cmd = Cmd { syntax, args };
    let kind = match keyword.as_str() {
        "read-coils" => {
            let (address, quantity) = cmd.addr_qty()?;
            RequestKind::ReadCoils { address, quantity }
        }
        "read-discrete" => {
            let (address, quantity) = cmd.addr_qty()?;
            RequestKind::ReadDiscreteInputs { address, quantity }
        }
        "read-holding" => {
            let (address, quantity) = cmd.addr_qty()?;
            RequestKind::ReadHoldingRegisters { address, quantity }
        }
        "read-input" => {
            let (address, quantity) = cmd.addr_qty()?;
            RequestKind::ReadInputRegisters { address, quantity }
        }
        "write-coil" => {
            cmd.exactly(2)?;
            let address = cmd.u16_at(0, "ADDR")?;
            let value = match args[1].to_ascii_lowercase().as_str() {
                "on" => COIL_ON,
                "off" => COIL_OFF,
                _ => number(args[1], u32::from(u16::MAX))
                    .map(|v| v as u16)
                    .ok_or_else(|| {
                        cmd.bad(
                            "VALUE",
                            args[1],
                            "on, off or a number 0..=65535 (decimal or 0x hex)",
                        )
                    })?,
            };
            RequestKind::WriteSingleCoil { address, value }
        }
        "write-register" => {
            cmd.exactly(2)?;
            RequestKind::WriteSingleRegister {
                address: cmd.u16_at(0, "ADDR")?,
                value: cmd.u16_at(1, "VALUE")?,
            }
        }
        "read-exception-status" => {
            cmd.exactly(0)?;
            RequestKind::ReadExceptionStatus
        }
        "diagnostics" => {
            cmd.at_least(1)?;
            RequestKind::Diagnostics {
                sub_function: cmd.u16_at(0, "SUB")?,
                data: cmd.u16_list(&args[1..], "WORD")?,
            }
        }
        "write-coils" => {
            if args.is_empty() || args.len() > 2 {
                return Err(cmd.usage());
            }
            let address = cmd.u16_at(0, "ADDR")?;
            let bits = args.get(1).copied().unwrap_or_default();
            let coils = bits
                .chars()
                .map(|c| match c {
                    '0' => Some(false),
                    '1' => Some(true),
                    _ => None,
                })
                .collect::<Option<Vec<bool>>>()
                .ok_or_else(|| {
                    cmd.bad("BITS", bits, "a string of 0 and 1 (the first is coil ADDR)")
                })?;
            RequestKind::WriteMultipleCoils { address, coils }
        }
        "write-registers" => {
            cmd.at_least(1)?;
            RequestKind::WriteMultipleRegisters {
                address: cmd.u16_at(0, "ADDR")?,
                values: cmd.u16_list(&args[1..], "VALUE")?,
            }
        }
        "report-server-id" => {
            cmd.exactly(0)?;
            RequestKind::ReportServerId
        }
        "read-file-record" => {
            let records = args
                .iter()
                .map(|arg| {
                    let bad =
                        || cmd.bad("sub-request", arg, "FILE/RECORD/LEN with numbers 0..=65535");
                    let mut parts = arg.split('/');
                    let mut next = || {
                        parts
                            .next()
                            .and_then(|p| number(p, u32::from(u16::MAX)))
                            .map(|v| v as u16)
                            .ok_or_else(bad)
                    };
                    let r = FileRecordRead {
                        file: next()?,
                        record: next()?,
                        length: next()?,
                    };
                    if parts.next().is_some() {
                        return Err(bad());
                    }
                    Ok(r)
                })
                .collect::<Result<Vec<_>, _>>()?;
            RequestKind::ReadFileRecord { records }
        }
        "write-file-record" => {
            let records = args
                .iter()
                .map(|arg| {
                    let bad = || {
                        cmd.bad(
                            "sub-request",
                            arg,
                            "FILE/RECORD=V,V,... with numbers 0..=65535",
                        )
                    };
                    let u16_of = |p: &str| {
                        number(p, u32::from(u16::MAX))
                            .map(|v| v as u16)
                            .ok_or_else(bad)
                    };
                    let (place, list) = arg.split_once('=').ok_or_else(bad)?;
                    let (file, record) = place.split_once('/').ok_or_else(bad)?;
                    let values = if list.is_empty() {
                        Vec::new()
                    } else {
                        list.split(',').map(u16_of).collect::<Result<_, _>>()?
                    };
                    Ok(FileRecordWrite {
                        file: u16_of(file)?,
                        record: u16_of(record)?,
                        values,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            RequestKind::WriteFileRecord { records }
        }
        "mask-write" => {
            cmd.exactly(3)?;
            RequestKind::MaskWriteRegister {
                address: cmd.u16_at(0, "ADDR")?,
                and_mask: cmd.u16_at(1, "AND")?,
                or_mask: cmd.u16_at(2, "OR")?,
            }
        }
        "read-write" => {
            cmd.at_least(3)?;
            RequestKind::ReadWriteMultipleRegisters {
                read_address: cmd.u16_at(0, "RADDR")?,
                read_quantity: cmd.u16_at(1, "RQTY")?,
                write_address: cmd.u16_at(2, "WADDR")?,
                values: cmd.u16_list(&args[3..], "VALUE")?,
            }
        }
        "read-fifo" => {
            cmd.exactly(1)?;
            RequestKind::ReadFifoQueue {
                address: cmd.u16_at(0, "ADDR")?,
            }
        }
        "read-device-id" => {
            cmd.exactly(2)?;
            RequestKind::ReadDeviceIdentification {
                read_code: cmd.u8(args[0], "CODE")?,
                object_id: cmd.u8(args[1], "OBJECT")?,
            }
        }
        "pdu" => RequestKind::Pdu(cmd.hex(args)?),
        // Only "frame" and "raw" are left.
        _ => return frame_or_raw(&cmd, unit, keyword == "frame"),
    };
    kind.check_encodable().map_err(ParseError::new)?;
    Ok(ModbusRequest {
        unit: unit_or_default,
        kind,
    })
}

/// `frame` and `raw` carry their own unit id, so `@UNIT` is refused.
fn frame_or_raw(cmd: &Cmd<'_>, unit: Option<u8>, frame: bool) -> Result<ModbusRequest, ParseError> {
    let s = cmd.syntax;
    if unit.is_some() {
        return Err(ParseError::new(format!(
            "{} carries its unit id as its first byte, so @UNIT is not allowed, e.g. {}",
            s.name, s.example
        )));
    }
    let bytes = cmd.hex(cmd.args)?;
    let unit = bytes.first().copied().unwrap_or_default();
    let kind = if frame {
        RequestKind::Frame(bytes)
    } else {
        RequestKind::Raw(bytes)
    };
    Ok(ModbusRequest { unit, kind })
}

/// Renders a request in its canonical form: keyword in lower case, unit
/// prefix only when not `default_unit`, addresses as `0x%04X`, quantities
/// and file/record numbers in decimal, values as `0x%04X`, bytes as
/// space-separated hex pairs.
pub(crate) fn render(request: &ModbusRequest, default_unit: u8) -> String {
    let mut s = String::new();
    let kind = &request.kind;
    let own_unit = matches!(kind, RequestKind::Frame(_) | RequestKind::Raw(_));
    if !own_unit && request.unit != default_unit {
        let _ = write!(s, "@{} ", request.unit);
    }
    s.push_str(kind.keyword());
    let values = |s: &mut String, values: &[u16]| {
        for v in values {
            let _ = write!(s, " 0x{v:04X}");
        }
    };
    match kind {
        RequestKind::ReadCoils { address, quantity }
        | RequestKind::ReadDiscreteInputs { address, quantity }
        | RequestKind::ReadHoldingRegisters { address, quantity }
        | RequestKind::ReadInputRegisters { address, quantity } => {
            let _ = write!(s, " 0x{address:04X} {quantity}");
        }
        RequestKind::WriteSingleCoil { address, value } => {
            let _ = write!(s, " 0x{address:04X} {}", coil_value(*value));
        }
        RequestKind::WriteSingleRegister { address, value } => {
            let _ = write!(s, " 0x{address:04X} 0x{value:04X}");
        }
        RequestKind::ReadExceptionStatus | RequestKind::ReportServerId => {}
        RequestKind::Diagnostics { sub_function, data } => {
            let _ = write!(s, " 0x{sub_function:04X}");
            values(&mut s, data);
        }
        RequestKind::WriteMultipleCoils { address, coils } => {
            let _ = write!(s, " 0x{address:04X} ");
            s.extend(coils.iter().map(|&on| if on { '1' } else { '0' }));
            // No bits at all renders as `write-coils 0x0000`.
            s.truncate(s.trim_end().len());
        }
        RequestKind::WriteMultipleRegisters { address, values: v } => {
            let _ = write!(s, " 0x{address:04X}");
            values(&mut s, v);
        }
        RequestKind::ReadFileRecord { records } => {
            for r in records {
                let _ = write!(s, " {}/{}/{}", r.file, r.record, r.length);
            }
        }
        RequestKind::WriteFileRecord { records } => {
            for r in records {
                let _ = write!(s, " {}/{}=", r.file, r.record);
                let list: Vec<String> = r.values.iter().map(|v| format!("0x{v:04X}")).collect();
                s.push_str(&list.join(","));
            }
        }
        RequestKind::MaskWriteRegister {
            address,
            and_mask,
            or_mask,
        } => {
            let _ = write!(s, " 0x{address:04X} 0x{and_mask:04X} 0x{or_mask:04X}");
        }
        RequestKind::ReadWriteMultipleRegisters {
            read_address,
            read_quantity,
            write_address,
            values: v,
        } => {
            let _ = write!(
                s,
                " 0x{read_address:04X} {read_quantity} 0x{write_address:04X}"
            );
            values(&mut s, v);
        }
        RequestKind::ReadFifoQueue { address } => {
            let _ = write!(s, " 0x{address:04X}");
        }
        RequestKind::ReadDeviceIdentification {
            read_code,
            object_id,
        } => {
            let _ = write!(s, " {read_code} 0x{object_id:02X}");
        }
        RequestKind::Pdu(bytes) | RequestKind::Frame(bytes) | RequestKind::Raw(bytes) => {
            if !bytes.is_empty() {
                s.push(' ');
                s.push_str(&hex(bytes));
            }
        }
    }
    s
}

/// A Write Single Coil value as written in the language: `on`, `off`, or
/// `0x%04X` for anything else.
pub(crate) fn coil_value(value: u16) -> String {
    match value {
        COIL_ON => "on".to_owned(),
        COIL_OFF => "off".to_owned(),
        v => format!("0x{v:04X}"),
    }
}
