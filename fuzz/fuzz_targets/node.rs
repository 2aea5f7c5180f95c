//! `node`: an `arbitrary` sequence of frames, raw bursts and resets
//! (`hilt_modbus::fuzzing::Steps`) through the node.
//!
//! Checked, beyond "does not panic":
//! - every answer is a well-formed frame (4 to 256 bytes, good CRC), from
//!   the unit the request was sent to, for that request's function (or its
//!   2-byte exception); a broadcast is never answered;
//! - writes echo their request (0x05, 0x06, 0x16 whole; 0x0F, 0x10 start
//!   and quantity; diagnostics 0x0000, 0x0001, 0x000A whole);
//! - the lock is only opened by the right sequence: it never goes from
//!   locked to unlocked in one request, and it opens only from armed, on a
//!   unicast request;
//! - the unit id stays within 1..=247;
//! - the state after a reset equals the reset state.

#![no_main]

use hilt_modbus::fuzzing::{Step, Steps};
use libfuzzer_sys::fuzz_target;
use mbnode_core::frame::{crc_ok, MAX_ADU};
use mbnode_core::node::{Lock, Node, NodeConfig};
use mbnode_core::rtu::Received;

const CONFIG: NodeConfig = NodeConfig { model_name: "fuzz" };

fuzz_target!(|input: Steps| {
    hilt_fuzz::init();
    let mut node = Node::new(CONFIG);
    let mut out = [0u8; MAX_ADU];
    for step in &input.0 {
        if *step == Step::Reset {
            node.reset();
            assert_eq!(node, Node::new(CONFIG), "a reset left state behind");
            continue;
        }
        let request = step.wire();
        let (lock, unit) = (node.lock(), node.unit_id());
        let answer = node.handle(Received::Frame(&request), 0, &mut out);
        if let Some(len) = answer {
            check_answer(&request, &out[..len], unit);
        }
        match (lock, node.lock()) {
            (Lock::Locked, Lock::Unlocked) => {
                panic!("{request:02X?} opened the lock without arming")
            }
            (Lock::Armed, Lock::Unlocked) => {
                assert_ne!(request[0], 0, "a broadcast opened the lock")
            }
            _ => {}
        }
        assert!(
            (1..=247).contains(&node.unit_id()),
            "{request:02X?} made the unit id {}",
            node.unit_id()
        );
    }
});

fn check_answer(request: &[u8], answer: &[u8], unit: u8) {
    assert!(
        (4..=MAX_ADU).contains(&answer.len()),
        "{} bytes",
        answer.len()
    );
    assert!(crc_ok(answer), "an answer with a bad CRC");
    assert_ne!(request[0], 0, "a broadcast was answered");
    assert_eq!(request[0], unit, "answered another unit's request");
    assert_eq!(answer[0], unit, "answered as another unit");
    let (function, pdu) = (request[1], &request[1..request.len() - 2]);
    let answer_pdu = &answer[1..answer.len() - 2];
    if answer[1] == function | 0x80 {
        assert_eq!(
            answer.len(),
            5,
            "an exception answer is function, code, CRC"
        );
        assert!(
            (1..=4).contains(&answer[2]),
            "exception code {:#04x}",
            answer[2]
        );
        return;
    }
    assert_eq!(answer[1], function, "answered another function");
    let echoed = match function {
        0x05 | 0x06 | 0x16 => pdu.len(),
        0x0F | 0x10 => 5,
        0x08 if matches!(pdu.get(1..3), Some([0, 0 | 1 | 0x0A])) => pdu.len(),
        _ => 0,
    };
    assert_eq!(
        answer_pdu.get(..echoed),
        pdu.get(..echoed),
        "the answer does not echo its request"
    );
}
