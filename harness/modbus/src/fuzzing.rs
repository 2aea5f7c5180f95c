//! Structure-aware fuzz inputs: a sequence of frames, raw bursts and
//! resets, read from the fuzzer's bytes through [`arbitrary`].
//!
//! The byte format is small and invertible, so seed corpora can be written
//! from readable frames ([`Steps::encode`]) and a mutated input stays
//! meaningful. Each step starts with a length byte `L`:
//!
//! - `L == 0`: reset the device;
//! - `L` odd: a frame. The next `L >> 1` bytes are its unit id and PDU, and
//!   a correct CRC is appended, so mutated bodies get past the CRC check;
//! - `L` even: a raw burst of the next `L >> 1` bytes, sent as they are
//!   (bad CRCs, truncated and garbage frames);
//!
//! where a length of 127 (`L` of 0xFE or 0xFF) reads one more byte `E` and
//! means `127 + E` bytes, so over-long frames (up to 382 bytes) can be
//! made. A step cut short by the end of the input takes what is left.
//!
//! The native `node` and `model` fuzz targets read this format, and so
//! does the wire fuzzer: a corpus entry means the same on both.

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::wire::append_crc;

/// One thing done to the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A frame: unit id and PDU, sent with its correct CRC.
    Frame(Vec<u8>),
    /// Bytes sent as they are, as one burst.
    Raw(Vec<u8>),
    /// A reset of the device.
    Reset,
}

/// A fuzz input: steps in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Steps(pub Vec<Step>);

/// Lengths from 127 on take an extension byte.
const LONG: usize = 127;

impl Step {
    /// The bytes this step puts on the line (nothing for a reset).
    pub fn wire(&self) -> Vec<u8> {
        match self {
            Step::Frame(body) => {
                let mut frame = body.clone();
                append_crc(&mut frame);
                frame
            }
            Step::Raw(bytes) => bytes.clone(),
            Step::Reset => Vec::new(),
        }
    }

    fn read(u: &mut Unstructured<'_>) -> Result<Step> {
        let tag = u8::arbitrary(u)?;
        if tag == 0 {
            return Ok(Step::Reset);
        }
        let mut len = usize::from(tag >> 1);
        if len == LONG {
            len += usize::from(u8::arbitrary(u)?);
        }
        let bytes = u.bytes(len.min(u.len()))?.to_vec();
        Ok(if tag & 1 == 1 && bytes.len() >= 2 {
            Step::Frame(bytes)
        } else {
            Step::Raw(bytes)
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let (odd, bytes) = match self {
            Step::Reset => return out.push(0),
            Step::Frame(body) => (1, body),
            Step::Raw(bytes) => (0, bytes),
        };
        // Longer than the format can say: cut.
        let len = bytes.len().min(LONG + 255);
        if len < LONG {
            out.push((len as u8) << 1 | odd);
        } else {
            out.push((LONG as u8) << 1 | odd);
            out.push((len - LONG) as u8);
        }
        out.extend_from_slice(&bytes[..len]);
    }
}

impl Steps {
    /// The bytes that [`Arbitrary`] reads back as these steps. Raw steps
    /// of 0 bytes and frames shorter than 2 bytes do not survive the trip,
    /// and steps longer than 382 bytes are cut.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for step in &self.0 {
            step.encode(&mut out);
        }
        out
    }

    /// Reads steps from a fuzzer's bytes; never fails.
    pub fn from_bytes(data: &[u8]) -> Steps {
        let mut u = Unstructured::new(data);
        let mut steps = Vec::new();
        while !u.is_empty() {
            match Step::read(&mut u) {
                Ok(step) => steps.push(step),
                Err(_) => break,
            }
        }
        Steps(steps)
    }
}

impl<'a> Arbitrary<'a> for Steps {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let rest = u.bytes(u.len())?;
        Ok(Steps::from_bytes(rest))
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> Result<Self> {
        Ok(Steps::from_bytes(u.take_rest()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_format_reads_as_documented() {
        let data = [
            0x00, // reset
            0x05, 0x01, 0x07, // frame 01 07 (CRC appended)
            0x04, 0xAA, 0xBB, // raw AA BB
            0x03, 0x01, // a one-byte frame is raw
            0x0B, 0x01, 0x03, // cut short: what is left
        ];
        let steps = Steps::from_bytes(&data);
        assert_eq!(
            steps.0,
            [
                Step::Reset,
                Step::Frame(vec![0x01, 0x07]),
                Step::Raw(vec![0xAA, 0xBB]),
                Step::Raw(vec![0x01]),
                Step::Frame(vec![0x01, 0x03]),
            ]
        );
        assert_eq!(steps.0[1].wire(), [0x01, 0x07, 0x41, 0xE2]);
    }

    #[test]
    fn long_steps_take_an_extension_byte() {
        let body = vec![0x55u8; 300];
        let encoded = Steps(vec![Step::Raw(body.clone())]).encode();
        assert_eq!(&encoded[..2], &[0xFE, 173]);
        assert_eq!(Steps::from_bytes(&encoded).0, [Step::Raw(body)]);
    }

    proptest! {
        #[test]
        fn encode_then_read_gives_the_steps_back(
            steps in prop::collection::vec(
                prop_oneof![
                    Just(Step::Reset),
                    prop::collection::vec(any::<u8>(), 2..383).prop_map(Step::Frame),
                    prop::collection::vec(any::<u8>(), 1..383).prop_map(Step::Raw),
                ],
                0..8,
            )
        ) {
            let steps = Steps(steps);
            prop_assert_eq!(Steps::from_bytes(&steps.encode()), steps);
        }

        #[test]
        fn any_bytes_read_without_failing(data in prop::collection::vec(any::<u8>(), 0..600)) {
            let steps = Steps::from_bytes(&data);
            prop_assert!(steps.0.len() <= data.len());
        }
    }
}
