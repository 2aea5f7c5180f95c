//! `model`: the firmware's core and the harness's independent reference
//! model, fed the same bursts of bytes, must answer byte for byte alike.
//!
//! The input's steps (`hilt_modbus::fuzzing::Steps`: frames with their
//! correct CRC, raw bursts, resets) go to both. Each burst goes through the
//! core's own receiver (all bytes at one instant, then a silence), exactly
//! as the firmware frames it, and to
//! `Model::exchange`. Every answer must match, uptime bytes aside, and after
//! every burst both must agree on everything a master can observe: holding
//! registers, coils, the lock, the counters, listen-only mode and the unit id
//! (a bug that only changes state shows at once, not only when read back).

#![no_main]

use hilt_modbus::fuzzing::{Step, Steps};
use hilt_modbus::model::{LockState, Model};
use libfuzzer_sys::fuzz_target;
use mbnode_core::frame::MAX_ADU;
use mbnode_core::node::{Lock, Node, NodeConfig};
use mbnode_core::rtu::{Received, Receiver};

const SILENCE_US: u32 = 1750;

fuzz_target!(|input: Steps| {
    hilt_fuzz::init();
    let mut node = Node::new(NodeConfig { model_name: "fuzz" });
    let mut receiver = Receiver::new(SILENCE_US);
    let mut model = Model::new("fuzz");
    let mut now = 0u32;
    for step in &input.0 {
        if *step == Step::Reset {
            node.reset();
            model.reset();
            receiver = Receiver::new(SILENCE_US);
            continue;
        }
        let burst = step.wire();
        let mut answers: Vec<Vec<u8>> = Vec::new();
        let mut answer = |frame: Received<'_>| {
            let mut out = [0u8; MAX_ADU];
            if let Some(n) = node.handle(frame, 0, &mut out) {
                answers.push(out[..n].to_vec());
            }
        };
        for &byte in &burst {
            receiver.feed(byte, now, &mut answer);
        }
        now = now.wrapping_add(2 * SILENCE_US);
        if let Some(frame) = receiver.poll(now) {
            answer(frame);
        }

        let expected = model.exchange(&burst);
        assert_eq!(
            answers.len(),
            expected.len(),
            "burst {burst:02X?}: the core answered {answers:02X?}, the model expects {expected:?}"
        );
        for (got, want) in answers.iter().zip(&expected) {
            assert!(
                want.matches(got),
                "burst {burst:02X?}: the core answered {got:02X?}, the model expects {want}"
            );
        }
        assert_same_state(&node, &model, &burst);
    }
});

fn assert_same_state(node: &Node, model: &Model, burst: &[u8]) {
    for address in (0x0000..0x0050).chain([0x0100, 0x0101, 0x0110]) {
        assert_eq!(
            node.holding(address),
            model.holding(address),
            "after {burst:02X?}: holding register {address:#06x}"
        );
    }
    assert_eq!(node.coils(), model.coils(), "after {burst:02X?}: coils");
    let lock = match node.lock() {
        Lock::Locked => LockState::Locked,
        Lock::Armed => LockState::Armed,
        Lock::Unlocked => LockState::Unlocked,
    };
    assert_eq!(lock, model.lock(), "after {burst:02X?}: lock");
    assert_eq!(
        node.listen_only(),
        model.listen_only(),
        "after {burst:02X?}: listen-only"
    );
    assert_eq!(
        node.unit_id(),
        model.unit_id(),
        "after {burst:02X?}: unit id"
    );
    let (c, m) = (node.counters(), model.counters());
    assert_eq!(
        [
            c.bus_messages,
            c.comm_errors,
            c.exceptions,
            c.server_messages,
            c.no_response,
            c.overruns
        ],
        [
            m.bus_messages,
            m.comm_errors,
            m.exceptions,
            m.server_messages,
            m.no_responses,
            m.overruns
        ],
        "after {burst:02X?}: counters"
    );
}
