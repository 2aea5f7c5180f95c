//! Wire-level facts of Modbus RTU: sizes, function codes, exception codes and
//! the CRC. Everything here is a small pure function of bytes; nothing panics.

use crc::{Crc, CRC_16_MODBUS};

/// Largest RTU frame (ADU: unit id, PDU, CRC) a conforming device accepts.
pub const MAX_ADU: usize = 256;

/// Largest PDU (function code and data).
pub const MAX_PDU: usize = 253;

/// Shortest frame that can carry anything: unit id, function code, CRC.
pub const MIN_FRAME: usize = 4;

/// The unit id that addresses every device and is never answered.
pub const BROADCAST: u8 = 0;

/// The bit a device sets in the function code of an exception response.
pub const EXCEPTION_BIT: u8 = 0x80;

/// The MEI type of Read Device Identification within function 0x2B.
pub const MEI_READ_DEVICE_ID: u8 = 0x0E;

/// The only reference type of file-record sub-requests.
pub const FILE_REFERENCE_TYPE: u8 = 6;

/// Public function codes this crate knows by name.
pub mod function {
    /// 0x01 Read Coils.
    pub const READ_COILS: u8 = 0x01;
    /// 0x02 Read Discrete Inputs.
    pub const READ_DISCRETE_INPUTS: u8 = 0x02;
    /// 0x03 Read Holding Registers.
    pub const READ_HOLDING_REGISTERS: u8 = 0x03;
    /// 0x04 Read Input Registers.
    pub const READ_INPUT_REGISTERS: u8 = 0x04;
    /// 0x05 Write Single Coil.
    pub const WRITE_SINGLE_COIL: u8 = 0x05;
    /// 0x06 Write Single Register.
    pub const WRITE_SINGLE_REGISTER: u8 = 0x06;
    /// 0x07 Read Exception Status.
    pub const READ_EXCEPTION_STATUS: u8 = 0x07;
    /// 0x08 Diagnostics.
    pub const DIAGNOSTICS: u8 = 0x08;
    /// 0x0F Write Multiple Coils.
    pub const WRITE_MULTIPLE_COILS: u8 = 0x0F;
    /// 0x10 Write Multiple Registers.
    pub const WRITE_MULTIPLE_REGISTERS: u8 = 0x10;
    /// 0x11 Report Server ID.
    pub const REPORT_SERVER_ID: u8 = 0x11;
    /// 0x14 Read File Record.
    pub const READ_FILE_RECORD: u8 = 0x14;
    /// 0x15 Write File Record.
    pub const WRITE_FILE_RECORD: u8 = 0x15;
    /// 0x16 Mask Write Register.
    pub const MASK_WRITE_REGISTER: u8 = 0x16;
    /// 0x17 Read/Write Multiple Registers.
    pub const READ_WRITE_MULTIPLE_REGISTERS: u8 = 0x17;
    /// 0x18 Read FIFO Queue.
    pub const READ_FIFO_QUEUE: u8 = 0x18;
    /// 0x2B Encapsulated Interface Transport (with MEI 0x0E: Read Device
    /// Identification).
    pub const ENCAPSULATED_INTERFACE: u8 = 0x2B;
}

/// Diagnostics (0x08) sub-function 0x0004, Force Listen Only Mode: the one
/// unicast request a conforming device never answers.
pub const DIAG_FORCE_LISTEN_ONLY: u16 = 0x0004;

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_MODBUS);

/// CRC-16/MODBUS of `bytes` (poly 0xA001 reflected, init 0xFFFF). On the wire
/// it follows the frame low byte first.
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC16.checksum(bytes)
}

/// Appends the CRC of everything in `frame` to it, low byte first.
pub fn append_crc(frame: &mut Vec<u8>) {
    let crc = crc16(frame);
    frame.extend_from_slice(&crc.to_le_bytes());
}

/// Whether the last two bytes of `frame` are the CRC of the bytes before them.
/// False for anything shorter than two bytes.
pub fn crc_ok(frame: &[u8]) -> bool {
    match frame.len().checked_sub(2) {
        Some(body_len) => {
            let (body, tail) = frame.split_at(body_len);
            crc16(body).to_le_bytes() == tail
        }
        None => false,
    }
}

/// The standard name of an exception code, e.g. `illegal data address` for
/// 0x02; `None` for codes the specification does not define.
pub fn exception_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x01 => "illegal function",
        0x02 => "illegal data address",
        0x03 => "illegal data value",
        0x04 => "server device failure",
        0x05 => "acknowledge",
        0x06 => "server device busy",
        0x08 => "memory parity error",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target device failed to respond",
        _ => return None,
    })
}

/// The name of a Diagnostics (0x08) sub-function, for the ones the serial
/// line specification defines.
pub fn diagnostics_name(sub_function: u16) -> Option<&'static str> {
    Some(match sub_function {
        0x0000 => "return query data",
        0x0001 => "restart communications",
        0x0002 => "diagnostic register",
        0x0003 => "change ASCII delimiter",
        0x0004 => "force listen only",
        0x000A => "clear counters",
        0x000B => "bus messages",
        0x000C => "bus communication errors",
        0x000D => "bus exception errors",
        0x000E => "server messages",
        0x000F => "server no responses",
        0x0010 => "server NAKs",
        0x0011 => "server busy",
        0x0012 => "bus character overruns",
        0x0014 => "clear overrun counter",
        _ => return None,
    })
}

/// Whether a Diagnostics sub-function's answer echoes the request's data
/// (as opposed to carrying a value such as a counter).
pub(crate) fn diagnostics_echoes_data(sub_function: u16) -> bool {
    matches!(
        sub_function,
        0x0000 | 0x0001 | 0x0003 | 0x0004 | 0x000A | 0x0014
    )
}

/// Whether a Diagnostics sub-function's answer carries a value (a counter or
/// the diagnostic register) instead of an echo.
pub(crate) fn diagnostics_returns_value(sub_function: u16) -> bool {
    matches!(sub_function, 0x0002 | 0x000B..=0x0012)
}

/// The big-endian u16 at `at`, if `bytes` is long enough.
pub(crate) fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..at.checked_add(2)?) {
        Some(&[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}

/// Bytes as uppercase hex pairs separated by spaces, e.g. `01 03 00 00`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// Bytes as a double-quoted string: printable ASCII as is, `"` and `\`
/// escaped with a backslash, anything else as `\xNN`. Deterministic and
/// unambiguous, so it is safe in snapshots.
pub(crate) fn quoted(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7E => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02X}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_published_vectors() {
        // The catalogue's check value for "123456789", and two frames quoted
        // in countless Modbus tutorials.
        assert_eq!(crc16(b"123456789"), 0x4B37);
        let mut f = vec![0x01, 0x03, 0x00, 0x00, 0x00, 0x01];
        append_crc(&mut f);
        assert_eq!(f, [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A]);
        let mut f = vec![0x01, 0x03, 0x00, 0x00, 0x00, 0x0A];
        append_crc(&mut f);
        assert_eq!(f[6..], [0xC5, 0xCD]);
        assert!(crc_ok(&f));
    }

    #[test]
    fn crc_ok_rejects_short_and_wrong() {
        assert!(!crc_ok(&[]));
        assert!(!crc_ok(&[0xFF]));
        // The CRC of nothing is 0xFFFF, so two 0xFF bytes are a "valid" frame
        // of nothing; callers also check the length.
        assert!(crc_ok(&[0xFF, 0xFF]));
        assert!(!crc_ok(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x0A, 0x84]));
    }

    #[test]
    fn helpers() {
        assert_eq!(be16(&[0x12, 0x34], 0), Some(0x1234));
        assert_eq!(be16(&[0x12, 0x34], 1), None);
        assert_eq!(be16(&[], usize::MAX), None);
        assert_eq!(hex(&[0x01, 0xAB]), "01 AB");
        assert_eq!(hex(&[]), "");
        assert_eq!(quoted(b"a\"b\\c\x00\xff"), r#""a\"b\\c\x00\xFF""#);
        assert_eq!(exception_name(0x02), Some("illegal data address"));
        assert_eq!(exception_name(0x07), None);
    }
}
