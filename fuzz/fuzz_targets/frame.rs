//! `frame`: any bytes through the RTU frame decoder.
//!
//! The input's steps (see `hilt_modbus::fuzzing`) go through the core's
//! receiver as bursts, all bytes of a burst at one instant and a silence
//! after each; a reset step stands for bytes lost below the receiver.
//! Checked, beyond "does not panic":
//! - the receiver hands over exactly the bytes fed since its last frame,
//!   and an overrun only when more than 256 bytes came or bytes were lost;
//! - a frame it completes early (before the silence) has a good CRC;
//! - every frame that decodes encodes back to the same bytes: decode, then
//!   encode its unit id and PDU, gives back the frame.

#![no_main]

use hilt_modbus::fuzzing::{Step, Steps};
use libfuzzer_sys::fuzz_target;
use mbnode_core::frame::{encode, Frame, MAX_ADU};
use mbnode_core::rtu::{Received, Receiver};

const SILENCE_US: u32 = 1750;

fuzz_target!(|input: Steps| {
    hilt_fuzz::init();
    let mut receiver = Receiver::new(SILENCE_US);
    let mut now = 0u32;
    let mut pending: Vec<u8> = Vec::new();
    let mut lost = false;
    for step in &input.0 {
        let bytes = step.wire();
        round_trip(&bytes);
        if *step == Step::Reset {
            receiver.lose(now, |_| unreachable!("the line was silent"));
            lost = true;
        }
        for &byte in &bytes {
            pending.push(byte);
            receiver.feed(byte, now, |received| {
                let Received::Frame(frame) = received else {
                    panic!("an overrun before the silence");
                };
                assert!(!lost, "a frame completed early despite lost bytes");
                assert_eq!(frame, &pending[..], "a frame that is not what was fed");
                assert!(
                    Frame::new_checked(frame).is_ok(),
                    "completed early with a bad CRC"
                );
                round_trip(frame);
                pending.clear();
            });
        }
        now = now.wrapping_add(2 * SILENCE_US);
        match receiver.poll(now) {
            Some(Received::Frame(frame)) => {
                assert!(!lost, "lost bytes did not spoil their frame");
                assert_eq!(frame, &pending[..], "a frame that is not what was fed");
                round_trip(frame);
            }
            Some(Received::Overrun) => {
                assert!(
                    lost || pending.len() > MAX_ADU,
                    "an overrun of {} bytes",
                    pending.len()
                );
            }
            None => assert!(pending.is_empty() && !lost, "bytes fed but no frame"),
        }
        pending.clear();
        lost = false;
    }
});

/// A frame that decodes encodes back to its own bytes.
fn round_trip(bytes: &[u8]) {
    if let Ok(frame) = Frame::new_checked(bytes) {
        let mut out = [0u8; MAX_ADU];
        let n = encode(frame.unit(), frame.pdu(), &mut out).expect("a decoded frame encodes");
        assert_eq!(&out[..n], bytes, "decode -> encode changed the frame");
    }
}
