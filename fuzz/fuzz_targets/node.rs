//! `node`: any sequence of frames through the node.
//!
//! The input is cut into frames: each starts with a length byte, then that
//! many bytes (the rest if fewer remain). Odd length bytes get a correct CRC
//! appended, so most frames get past the CRC check and reach the parser.
//!
//! Checked, beyond "does not panic": every answer is a well-formed frame (at
//! most 256 bytes, good CRC), comes from the unit the request was sent to,
//! answers that request's function (or is its 2-byte exception), and a
//! broadcast is never answered.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mbnode_core::frame::{crc16, crc_ok, MAX_ADU};
use mbnode_core::node::{Node, NodeConfig};
use mbnode_core::rtu::Received;

fuzz_target!(|data: &[u8]| {
    let mut node = Node::new(NodeConfig { model_name: "fuzz" });
    let mut rest = data;
    let mut frame = [0u8; MAX_ADU + 64];
    let mut out = [0u8; MAX_ADU];
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len >> 1).min(tail.len()).min(MAX_ADU);
        let (body, tail) = tail.split_at(take);
        rest = tail;
        frame[..take].copy_from_slice(body);
        let mut n = take;
        if len & 1 == 1 && n >= 2 && n + 2 <= frame.len() {
            let crc = crc16(&frame[..n]).to_le_bytes();
            frame[n..n + 2].copy_from_slice(&crc);
            n += 2;
        }
        let request = &frame[..n];
        let unit = node.unit_id();
        if let Some(len) = node.handle(Received::Frame(request), 0, &mut out) {
            let answer = &out[..len];
            assert!((4..=MAX_ADU).contains(&len));
            assert!(crc_ok(answer));
            assert_ne!(request[0], 0, "a broadcast was answered");
            assert_eq!(answer[0], unit);
            assert_eq!(request[0], unit);
            assert!(answer[1] == request[1] || answer[1] == request[1] | 0x80);
            if answer[1] != request[1] {
                assert_eq!(len, 5, "an exception answer is function, code, CRC");
            }
        }
    }
});
