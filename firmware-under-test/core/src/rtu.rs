//! RTU framing on the receive side: bytes with timestamps in, frames out.
//!
//! A Modbus RTU frame ends after the line has been silent for t3.5 (1.75 ms
//! above 19200 baud). The [`Receiver`] also completes a frame early, the moment
//! its length is fully determined by its function code and its CRC checks, as
//! MODBUS-NODE.md allows: a master that waits for our answer then never pays
//! the inter-frame gap. A frame whose length cannot be told (garbage, an
//! unsupported function, a diagnostics echo of any length) or whose CRC fails
//! at the expected length keeps collecting until the next silence, so the
//! receiver always resynchronises there.
//!
//! Timestamps are free-running `u32` microseconds that may wrap; only
//! differences are used.

use crate::frame::{crc_ok, MAX_ADU};

/// The silence that ends a frame above 19200 baud (t3.5), in microseconds.
pub const T35_FAST_US: u32 = 1750;

/// The silence that ends a frame at `baud`, in microseconds: 3.5 character
/// times of 11 bits below 19200 baud, a fixed 1.75 ms above.
pub const fn silence_us(baud: u32) -> u32 {
    if baud > 19_200 || baud == 0 {
        T35_FAST_US
    } else {
        // 3.5 characters * 11 bits * 1e6 us / baud, rounded up.
        38_500_000_u32.div_ceil(baud)
    }
}

/// What the receiver hands to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    /// A complete frame as it arrived: unit id, PDU, CRC (not yet checked,
    /// unless it was completed early).
    Frame(&'a [u8]),
    /// More than [`MAX_ADU`] bytes arrived before a silence: a character
    /// overrun. The bytes are gone.
    Overrun,
}

/// Assembles RTU frames from timestamped bytes. Never allocates, never panics.
#[derive(Debug, Clone)]
pub struct Receiver {
    buf: [u8; MAX_ADU],
    len: usize,
    overrun: bool,
    active: bool,
    last_at: u32,
    silence_us: u32,
}

impl Receiver {
    /// A receiver that ends frames after `silence_us` microseconds of silence.
    pub const fn new(silence_us: u32) -> Self {
        Receiver {
            buf: [0; MAX_ADU],
            len: 0,
            overrun: false,
            active: false,
            last_at: 0,
            silence_us,
        }
    }

    /// Feeds one byte that arrived at `at_us`, calling `on_frame` for every
    /// frame this completes: the frame before it, if the line had been silent
    /// long enough, and the frame it ends, if its length is known and its CRC
    /// checks.
    pub fn feed(&mut self, byte: u8, at_us: u32, mut on_frame: impl FnMut(Received<'_>)) {
        if let Some(done) = self.poll(at_us) {
            on_frame(done);
        }
        if let Some(done) = self.push(byte, at_us) {
            on_frame(done);
        }
    }

    /// Ends the frame in progress if the line has been silent since its last
    /// byte for the inter-frame gap. Call it when idle, with the time now.
    pub fn poll(&mut self, now_us: u32) -> Option<Received<'_>> {
        if !self.active || now_us.wrapping_sub(self.last_at) < self.silence_us {
            return None;
        }
        self.active = false;
        if self.overrun {
            Some(Received::Overrun)
        } else {
            Some(Received::Frame(&self.buf[..self.len]))
        }
    }

    /// Whether a frame is in progress (some bytes arrived, no silence yet).
    pub fn in_frame(&self) -> bool {
        self.active
    }

    /// Microseconds from `now_us` until [`Receiver::poll`] would end the frame
    /// in progress, or `None` when no frame is in progress.
    pub fn until_silence(&self, now_us: u32) -> Option<u32> {
        if !self.active {
            return None;
        }
        Some(
            self.silence_us
                .saturating_sub(now_us.wrapping_sub(self.last_at)),
        )
    }

    /// Bytes were lost below us (a receiver overrun, a full receive queue)
    /// just before `at_us`. Like [`Receiver::feed`], first ends the frame
    /// before if the line had been silent long enough; then the frame the
    /// lost bytes belong to (the one in progress, or a new one) will end as
    /// an overrun, whatever else arrives in it.
    pub fn lose(&mut self, at_us: u32, mut on_frame: impl FnMut(Received<'_>)) {
        if let Some(done) = self.poll(at_us) {
            on_frame(done);
        }
        if !self.active {
            self.active = true;
            self.len = 0;
        }
        self.overrun = true;
        self.last_at = at_us;
    }

    /// Appends one byte; returns the frame if this byte completes it early.
    /// Callers normally use [`Receiver::feed`], which first ends a frame that
    /// a silence has already ended.
    fn push(&mut self, byte: u8, at_us: u32) -> Option<Received<'_>> {
        if !self.active {
            self.active = true;
            self.len = 0;
            self.overrun = false;
        }
        self.last_at = at_us;
        if self.len == MAX_ADU {
            self.overrun = true;
            return None;
        }
        if self.overrun {
            return None;
        }
        self.buf[self.len] = byte;
        self.len += 1;
        let sofar = &self.buf[..self.len];
        if request_len(sofar) == Some(self.len) && crc_ok(sofar) {
            self.active = false;
            return Some(Received::Frame(sofar));
        }
        None
    }
}

/// The whole length of a request frame (ADU, CRC included), if the bytes so
/// far determine it from the function code of a function this node supports.
pub fn request_len(adu: &[u8]) -> Option<usize> {
    let function = *adu.get(1)?;
    let byte = |i: usize| adu.get(i).map(|&b| usize::from(b));
    match function {
        0x01..=0x06 => Some(8),
        0x07 | 0x11 => Some(4),
        // Return Query Data (sub-function 0) echoes data of any length.
        0x08 => match (byte(2)?, byte(3)?) {
            (0, 0) => None,
            _ => Some(8),
        },
        0x0F | 0x10 => Some(9 + byte(6)?),
        0x14 | 0x15 => Some(5 + byte(2)?),
        0x16 => Some(10),
        0x17 => Some(13 + byte(10)?),
        0x18 => Some(6),
        0x2B => (byte(2)? == 0x0E).then_some(7),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::append_crc;

    fn collect(rx: &mut Receiver, bytes: &[(u8, u32)]) -> std::vec::Vec<std::vec::Vec<u8>> {
        let mut out = std::vec::Vec::new();
        for &(b, t) in bytes {
            rx.feed(b, t, |f| match f {
                Received::Frame(f) => out.push(f.to_vec()),
                Received::Overrun => out.push(b"OVERRUN".to_vec()),
            });
        }
        out
    }

    fn timed(bytes: &[u8], start: u32, step: u32) -> std::vec::Vec<(u8, u32)> {
        bytes
            .iter()
            .enumerate()
            .map(|(i, &b)| (b, start.wrapping_add(step * i as u32)))
            .collect()
    }

    #[test]
    fn silence_depends_on_baud() {
        assert_eq!(silence_us(115_200), 1750);
        assert_eq!(silence_us(19_200), 2006);
        assert_eq!(silence_us(9_600), 4011);
    }

    #[test]
    fn known_length_completes_early() {
        let mut rx = Receiver::new(1750);
        let frame = [0x01, 0x03, 0x00, 0x00, 0x00, 0x04, 0x44, 0x09];
        let got = collect(&mut rx, &timed(&frame, 0, 10));
        assert_eq!(got, [frame.to_vec()]);
        assert!(!rx.in_frame());
    }

    #[test]
    fn unknown_length_waits_for_silence() {
        let mut rx = Receiver::new(1750);
        let mut frame = std::vec![0x01, 0x08, 0x00, 0x00, 0xAB, 0xCD, 0xEF];
        append_crc(&mut frame);
        assert!(collect(&mut rx, &timed(&frame, 0, 10)).is_empty());
        // Nine bytes, the last at 80 us.
        assert_eq!(rx.until_silence(100), Some(1750 - 20));
        assert!(rx.poll(1000).is_none());
        assert!(rx.poll(80 + 1749).is_none());
        assert_eq!(rx.poll(80 + 1750), Some(Received::Frame(&frame[..])));
        assert!(rx.poll(10_000).is_none());
    }

    #[test]
    fn back_to_back_frames_both_complete() {
        let mut rx = Receiver::new(1750);
        let a = [0x01, 0x03, 0x00, 0x00, 0x00, 0x04, 0x44, 0x09];
        let both: std::vec::Vec<u8> = a.iter().chain(a.iter()).copied().collect();
        assert_eq!(collect(&mut rx, &timed(&both, 0, 10)).len(), 2);
    }

    #[test]
    fn garbage_then_silence_then_frame_resynchronises() {
        let mut rx = Receiver::new(1750);
        let mut bytes = timed(&[0x01, 0x03, 0x77], 0, 10);
        let frame = [0x01, 0x03, 0x00, 0x00, 0x00, 0x04, 0x44, 0x09];
        bytes.extend(timed(&frame, 5000, 10));
        let got = collect(&mut rx, &bytes);
        assert_eq!(got, [std::vec![0x01, 0x03, 0x77], frame.to_vec()]);
    }

    #[test]
    fn bad_crc_at_known_length_keeps_collecting() {
        let mut rx = Receiver::new(1750);
        let frame = [0x01, 0x03, 0x00, 0x00, 0x00, 0x04, 0x44, 0x0A, 0x55];
        assert!(collect(&mut rx, &timed(&frame, 0, 10)).is_empty());
        assert_eq!(rx.poll(5000), Some(Received::Frame(&frame[..])));
    }

    #[test]
    fn more_than_max_adu_is_an_overrun() {
        let mut rx = Receiver::new(1750);
        let bytes: std::vec::Vec<u8> = (0..300u32).map(|i| (i % 7) as u8 + 0x60).collect();
        assert!(collect(&mut rx, &timed(&bytes, 0, 1)).is_empty());
        assert_eq!(rx.poll(400 + 1750), Some(Received::Overrun));
        // The next frame is received normally.
        let frame = [0x01, 0x03, 0x00, 0x00, 0x00, 0x04, 0x44, 0x09];
        assert_eq!(
            collect(&mut rx, &timed(&frame, 10_000, 1)),
            [frame.to_vec()]
        );
    }

    #[test]
    fn lost_bytes_spoil_their_own_frame_only() {
        let frame = [0x01, 0x03, 0x00, 0x00, 0x00, 0x04, 0x44, 0x09];
        // A loss inside a frame: it ends as an overrun, however it ends.
        let mut rx = Receiver::new(1750);
        let mut got = collect(&mut rx, &timed(&frame[..4], 0, 10));
        rx.lose(50, |_| got.push(b"EARLY".to_vec()));
        got.extend(collect(&mut rx, &timed(&frame[4..], 60, 10)));
        assert!(got.is_empty());
        assert_eq!(rx.poll(100 + 1750), Some(Received::Overrun));
        // A loss after a silence belongs to the next frame: the frame before
        // it ends normally first.
        let mut rx = Receiver::new(1750);
        let unknown = [0x01, 0x42, 0x00, 0x01];
        let mut got = collect(&mut rx, &timed(&unknown, 0, 10));
        rx.lose(5000, |f| got.push(std::format!("{f:?}").into_bytes()));
        assert_eq!(
            got,
            [std::format!("{:?}", Received::Frame(&unknown)).into_bytes()]
        );
        let more = collect(&mut rx, &timed(&frame, 5010, 10));
        assert!(
            more.is_empty(),
            "a frame that lost its start is not a frame"
        );
        assert_eq!(rx.poll(5100 + 1750), Some(Received::Overrun));
        // And the receiver is back to normal.
        assert_eq!(
            collect(&mut rx, &timed(&frame, 20_000, 10)),
            [frame.to_vec()]
        );
    }

    #[test]
    fn timestamps_may_wrap() {
        let mut rx = Receiver::new(1750);
        let bytes = timed(&[0x01, 0x08, 0x00], u32::MAX - 15, 10);
        assert!(collect(&mut rx, &bytes).is_empty());
        assert!(rx.poll(100).is_none());
        assert!(rx.poll(1800).is_some());
    }

    proptest::proptest! {
        /// Any bytes at any gaps: no panic, no frame longer than the
        /// largest ADU, and after a silence the receiver is idle.
        #[test]
        fn any_bytes_at_any_gaps(input in proptest::collection::vec(
            (proptest::prelude::any::<u8>(), 0u32..4000), 0..600))
        {
            let mut rx = Receiver::new(1750);
            let mut at = 0u32;
            for (byte, gap) in input {
                at = at.wrapping_add(gap);
                rx.feed(byte, at, |f| {
                    if let Received::Frame(f) = f {
                        assert!(f.len() <= MAX_ADU);
                    }
                });
            }
            if let Some(Received::Frame(f)) = rx.poll(at.wrapping_add(1750)) {
                assert!(f.len() <= MAX_ADU);
            }
            assert!(!rx.in_frame());
        }
    }

    proptest::proptest! {
        /// The specification's resynchronisation: whatever came before, a
        /// silence, then a valid frame, then a silence, gives that frame.
        #[test]
        fn resynchronises_on_silence(garbage in proptest::collection::vec(
            (proptest::prelude::any::<u8>(), 0u32..3000), 0..400))
        {
            let mut rx = Receiver::new(1750);
            let mut at = 0u32;
            for (byte, gap) in garbage {
                at = at.wrapping_add(gap);
                rx.feed(byte, at, |_| {});
            }
            at = at.wrapping_add(1750);
            let _ = rx.poll(at);
            let frame = [0x01, 0x10, 0x00, 0x00, 0x00, 0x01, 0x02, 0x12, 0x34, 0x00, 0x00];
            let mut frame = frame.to_vec();
            frame.truncate(9);
            crate::frame::append_crc(&mut frame);
            let mut got = std::vec::Vec::new();
            for (i, &byte) in frame.iter().enumerate() {
                rx.feed(byte, at.wrapping_add(10 * i as u32), |f| got.push(std::format!("{f:?}")));
            }
            if let Some(f) = rx.poll(at.wrapping_add(10 * frame.len() as u32 + 1750)) {
                got.push(std::format!("{f:?}"));
            }
            proptest::prop_assert_eq!(got, std::vec![std::format!("{:?}", Received::Frame(&frame))]);
        }
    }

    #[test]
    fn request_lengths() {
        assert_eq!(request_len(&[1]), None);
        assert_eq!(request_len(&[1, 0x03]), Some(8));
        assert_eq!(request_len(&[1, 0x07]), Some(4));
        assert_eq!(request_len(&[1, 0x10, 0, 0, 0, 2]), None);
        assert_eq!(request_len(&[1, 0x10, 0, 0, 0, 2, 4]), Some(13));
        assert_eq!(request_len(&[1, 0x17, 0, 0, 0, 1, 0, 0, 0, 1, 2]), Some(15));
        assert_eq!(request_len(&[1, 0x14, 7]), Some(12));
        assert_eq!(request_len(&[1, 0x08, 0, 0]), None);
        assert_eq!(request_len(&[1, 0x08, 0, 0x0B]), Some(8));
        assert_eq!(request_len(&[1, 0x2B, 0x0E]), Some(7));
        assert_eq!(request_len(&[1, 0x2B, 0x0D]), None);
        assert_eq!(request_len(&[1, 0x42]), None);
        assert_eq!(request_len(&[1, 0x0F, 0, 0, 0, 9]), None);
        assert_eq!(request_len(&[1, 0x0F, 0, 0, 0, 9, 2]), Some(11));
        assert_eq!(request_len(&[1, 0x11]), Some(4));
        assert_eq!(request_len(&[1, 0x15, 9]), Some(14));
        assert_eq!(request_len(&[1, 0x16]), Some(10));
        assert_eq!(request_len(&[1, 0x18]), Some(6));
    }
}
