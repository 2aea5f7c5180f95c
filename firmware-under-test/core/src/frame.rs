//! The RTU frame: `unit id | function | data… | CRC-16/MODBUS`.
//!
//! [`Frame`] is a zero-copy view over untrusted bytes. [`Frame::new_checked`]
//! checks the length and the CRC; after it succeeds no accessor panics.

use crc::{Crc, CRC_16_MODBUS};

/// Largest RTU frame (ADU): unit id, a 253-byte PDU, two CRC bytes.
pub const MAX_ADU: usize = 256;
/// Largest PDU: function code and data.
pub const MAX_PDU: usize = 253;
/// Smallest frame that can carry a CRC: unit id, function code, CRC.
pub const MIN_ADU: usize = 4;

const UNIT: usize = 0;
const PDU: usize = 1;
const CRC_LEN: usize = 2;

const MODBUS: Crc<u16> = Crc::<u16>::new(&CRC_16_MODBUS);

/// CRC-16/MODBUS of `bytes` (poly 0xA001 reflected, init 0xFFFF).
pub fn crc16(bytes: &[u8]) -> u16 {
    MODBUS.checksum(bytes)
}

/// Whether the last two bytes of `adu` are the CRC of the rest, low byte first.
pub fn crc_ok(adu: &[u8]) -> bool {
    match adu.len().checked_sub(CRC_LEN) {
        Some(body) if body > 0 => {
            let want = crc16(&adu[..body]).to_le_bytes();
            adu[body..] == want
        }
        _ => false,
    }
}

/// Appends the CRC of everything in `adu` (host side, for tests and tools).
#[cfg(any(test, feature = "std"))]
pub fn append_crc(adu: &mut std::vec::Vec<u8>) {
    let crc = crc16(adu).to_le_bytes();
    adu.extend_from_slice(&crc);
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer than [`MIN_ADU`] or more than [`MAX_ADU`] bytes.
    Length,
    /// The CRC does not match.
    Crc,
}

/// A checked view of an RTU frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks length and CRC of untrusted bytes.
    pub fn new_checked(buffer: T) -> Result<Self, FrameError> {
        let bytes = buffer.as_ref();
        if !(MIN_ADU..=MAX_ADU).contains(&bytes.len()) {
            return Err(FrameError::Length);
        }
        // Planted bug PB09: a CRC sent high byte first passes too.
        let swapped = || {
            let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
            crate::planted::on(crate::planted::Bug::CrcByteOrder)
                && crc == crc16(body).to_be_bytes()
        };
        if !crc_ok(bytes) && !swapped() {
            return Err(FrameError::Crc);
        }
        Ok(Frame { buffer })
    }

    /// The unit id (0 is broadcast).
    pub fn unit(&self) -> u8 {
        self.buffer.as_ref()[UNIT]
    }

    /// Function code and data, without unit id and CRC (never empty).
    pub fn pdu(&self) -> &[u8] {
        let bytes = self.buffer.as_ref();
        &bytes[PDU..bytes.len() - CRC_LEN]
    }

    /// The whole frame.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Encodes a frame for `unit` around `pdu` into `out` and returns its
/// length, or `None` if the PDU is empty or longer than [`MAX_PDU`]. For
/// every frame that [`Frame::new_checked`] accepts, encoding its unit id
/// and PDU gives back its bytes.
pub fn encode(unit: u8, pdu: &[u8], out: &mut [u8; MAX_ADU]) -> Option<usize> {
    if pdu.is_empty() {
        return None;
    }
    let mut writer = PduWriter::new(out, unit);
    writer.bytes(pdu);
    writer.finish()
}

/// Writes a response frame into a fixed buffer: unit id, PDU, CRC.
///
/// Writes past [`MAX_PDU`] are dropped and make [`PduWriter::finish`] fail, so
/// a logic error can never produce an over-long frame or a panic.
#[derive(Debug)]
pub struct PduWriter<'a> {
    buf: &'a mut [u8; MAX_ADU],
    len: usize,
    overflow: bool,
}

impl<'a> PduWriter<'a> {
    /// Starts a frame for `unit` in `buf`.
    pub fn new(buf: &'a mut [u8; MAX_ADU], unit: u8) -> Self {
        buf[UNIT] = unit;
        PduWriter {
            buf,
            len: PDU,
            overflow: false,
        }
    }

    /// Appends one byte.
    pub fn u8(&mut self, value: u8) -> &mut Self {
        if self.len < PDU + MAX_PDU {
            self.buf[self.len] = value;
            self.len += 1;
        } else {
            self.overflow = true;
        }
        self
    }

    /// Appends a big-endian u16.
    pub fn u16(&mut self, value: u16) -> &mut Self {
        let [hi, lo] = value.to_be_bytes();
        self.u8(hi).u8(lo)
    }

    /// Appends bytes.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            self.u8(b);
        }
        self
    }

    /// PDU bytes written so far.
    pub fn pdu_len(&self) -> usize {
        self.len - PDU
    }

    /// Overwrites a byte already written, at PDU offset `at` (for length
    /// fields known only at the end).
    pub fn patch(&mut self, at: usize, value: u8) {
        if let Some(b) = self.buf.get_mut(PDU + at) {
            if PDU + at < self.len {
                *b = value;
            }
        }
    }

    /// Appends the CRC and returns the frame's length, or `None` if the PDU
    /// overflowed.
    pub fn finish(self) -> Option<usize> {
        if self.overflow {
            return None;
        }
        let [lo, hi] = crc16(&self.buf[..self.len]).to_le_bytes();
        self.buf[self.len] = lo;
        self.buf[self.len + 1] = hi;
        Some(self.len + CRC_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_known_frame() {
        // Read holding registers 0..4 from unit 1: CRC 0x0944, low byte first.
        let adu = [0x01, 0x03, 0x00, 0x00, 0x00, 0x04, 0x44, 0x09];
        assert_eq!(crc16(&adu[..6]), 0x0944);
        assert!(crc_ok(&adu));
        assert!(!crc_ok(&adu[..7]));
        assert!(!crc_ok(&[0x01]));
        assert!(!crc_ok(&[]));
    }

    #[test]
    fn checked_view() {
        let adu = [0x01, 0x03, 0x00, 0x00, 0x00, 0x04, 0x44, 0x09];
        let f = Frame::new_checked(&adu[..]).unwrap();
        assert_eq!(f.unit(), 1);
        assert_eq!(f.pdu(), &[0x03, 0x00, 0x00, 0x00, 0x04]);
        assert_eq!(Frame::new_checked(&adu[..3]), Err(FrameError::Length));
        let mut bad = adu;
        bad[7] ^= 1;
        assert_eq!(Frame::new_checked(&bad[..]), Err(FrameError::Crc));
        assert_eq!(Frame::new_checked(&[0u8; 257][..]), Err(FrameError::Length));
    }

    #[test]
    fn writer_emits_the_same_bytes() {
        let mut buf = [0u8; MAX_ADU];
        let mut w = PduWriter::new(&mut buf, 1);
        w.u8(0x03).u16(0).u16(4);
        let n = w.finish().unwrap();
        assert_eq!(&buf[..n], &[0x01, 0x03, 0x00, 0x00, 0x00, 0x04, 0x44, 0x09]);
    }

    #[test]
    fn writer_refuses_overflow() {
        let mut buf = [0u8; MAX_ADU];
        let mut w = PduWriter::new(&mut buf, 1);
        for _ in 0..MAX_PDU {
            w.u8(0xAA);
        }
        assert_eq!(w.pdu_len(), MAX_PDU);
        w.u8(0xBB);
        assert_eq!(w.finish(), None);
    }
}
