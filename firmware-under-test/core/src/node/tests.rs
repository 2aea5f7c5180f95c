//! Golden frames for every function, every exception path and the lock.
//!
//! Requests and answers are written as PDUs (function code and data) in hex;
//! `send` wraps them in a frame for unit 1 and checks the answer's framing
//! (unit id, CRC, length) before returning its PDU.

use super::*;
use crate::frame::{append_crc, crc_ok, MAX_ADU};
use proptest::prelude::*;
use std::vec::Vec;

fn node() -> Node {
    Node::new(NodeConfig {
        model_name: "test-board",
    })
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn frame(unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut adu = std::vec![unit];
    adu.extend_from_slice(pdu);
    append_crc(&mut adu);
    adu
}

/// Sends a raw frame; returns the whole answer, checked for framing.
fn send_raw(n: &mut Node, adu: &[u8]) -> Option<Vec<u8>> {
    let mut out = [0u8; MAX_ADU];
    let len = n.handle(Received::Frame(adu), 0x0001_0002, &mut out)?;
    let answer = out[..len].to_vec();
    assert!(crc_ok(&answer), "bad CRC in {answer:02X?}");
    assert!(answer.len() <= MAX_ADU);
    Some(answer)
}

/// Sends a PDU to `unit`; returns the answer's PDU.
fn send_to(n: &mut Node, unit: u8, pdu: &str) -> Option<Vec<u8>> {
    let answer = send_raw(n, &frame(unit, &hex(pdu)))?;
    assert_eq!(answer[0], unit, "answer from the wrong unit id");
    Some(answer[1..answer.len() - 2].to_vec())
}

fn send(n: &mut Node, pdu: &str) -> Option<Vec<u8>> {
    send_to(n, n.unit_id(), pdu)
}

/// Asserts that `request` gets exactly `answer` (both PDUs in hex).
#[track_caller]
fn golden(n: &mut Node, request: &str, answer: &str) {
    assert_eq!(
        send(n, request),
        Some(hex(answer)),
        "request {request} should get {answer}"
    );
}

#[track_caller]
fn exception(n: &mut Node, request: &str, code: u8) {
    let function = hex(request)[0];
    assert_eq!(
        send(n, request),
        Some(std::vec![function | 0x80, code]),
        "request {request} should get exception {code:#04x}"
    );
}

fn unlock(n: &mut Node) {
    golden(n, "06 0110 A55A", "06 0110 A55A");
    golden(n, "06 0110 5AA5", "06 0110 5AA5");
    assert_eq!(n.lock(), Lock::Unlocked);
}

#[test]
fn whole_frames_on_the_wire() {
    let mut n = node();
    // Read 2 holding registers from 0: answer 01 03 04 0000 0000 + CRC.
    let answer = send_raw(&mut n, &hex("01 03 0000 0002 C40B")).unwrap();
    assert_eq!(answer, hex("01 03 04 0000 0000 FA33"));
    // Write single coil 0 on: echoed, CRC included.
    let answer = send_raw(&mut n, &hex("01 05 0000 FF00 8C3A")).unwrap();
    assert_eq!(answer, hex("01 05 0000 FF00 8C3A"));
}

#[test]
fn read_coils_and_discrete_inputs() {
    let mut n = node();
    golden(&mut n, "01 0000 0020", "01 04 00000000");
    golden(&mut n, "02 0000 0020", "02 04 FFFFFFFF");
    golden(&mut n, "0F 0000 000A 02 0D02", "0F 0000 000A");
    golden(&mut n, "01 0000 000A", "01 02 0D02");
    golden(&mut n, "01 0002 0003", "01 01 03");
    golden(&mut n, "02 0000 0010", "02 02 F2FD");
    golden(&mut n, "01 001F 0001", "01 01 00");
    exception(&mut n, "01 0000 0000", 0x03);
    exception(&mut n, "01 0000 07D1", 0x03);
    exception(&mut n, "01 0000 0021", 0x02);
    exception(&mut n, "01 0020 0001", 0x02);
    exception(&mut n, "01 FFFF 07D0", 0x02);
    exception(&mut n, "02 0010 0011", 0x02);
    exception(&mut n, "01 0000 01", 0x03);
}

#[test]
fn read_holding_registers() {
    let mut n = node();
    golden(&mut n, "03 0000 0003", "03 06 000000000000");
    golden(&mut n, "03 0100 0002", "03 04 0001 0000");
    golden(&mut n, "03 0110 0001", "03 02 0000");
    golden(&mut n, "03 004F 0001", "03 02 0000");
    golden(
        &mut n,
        "03 0000 0050",
        &std::format!("03 A0 {}", "0000".repeat(80)),
    );
    // The largest quantity, as far as it exists: 125 registers would cross
    // into 0x0050, which does not.
    exception(&mut n, "03 0000 007D", 0x02);
    exception(&mut n, "03 0000 0000", 0x03);
    exception(&mut n, "03 0000 007E", 0x03);
    exception(&mut n, "03 0000 0051", 0x02);
    exception(&mut n, "03 0050 0001", 0x02);
    exception(&mut n, "03 0100 0003", 0x02);
    exception(&mut n, "03 0102 0001", 0x02);
    exception(&mut n, "03 010F 0002", 0x02);
    exception(&mut n, "03 FFFF 0002", 0x02);
    // Quantity is checked before address.
    exception(&mut n, "03 0050 0000", 0x03);
}

#[test]
fn read_input_registers_sensors_counters_and_uptime() {
    let mut n = node();
    // reads = 0 on the first read: channel i = 1000 * i.
    golden(&mut n, "04 0000 0003", "04 06 0000 03E8 07D0");
    // reads = 1: channel i = 1000 * i + (i + 1).
    golden(&mut n, "04 0000 0003", "04 06 0001 03EA 07D3");
    // An exception answer does not count as a read.
    exception(&mut n, "04 0000 0041", 0x02);
    golden(&mut n, "04 000F 0001", "04 02 3AB8");
    // Counters: 5 bus messages (this one included), 0 errors, 1 exception,
    // 5 server messages, 0 no-response, 0 overruns, last exception 2,
    // version 1.0.
    golden(
        &mut n,
        "04 0010 0008",
        "04 10 0005 0000 0001 0005 0000 0000 0002 0100",
    );
    golden(
        &mut n,
        "04 0018 0008",
        &std::format!("04 10 {}", "0000".repeat(8)),
    );
    // Uptime 0x00010002 ms, high word first; then reserved zeros.
    golden(&mut n, "04 0020 0003", "04 06 0001 0002 0000");
    golden(&mut n, "04 003F 0001", "04 02 0000");
    exception(&mut n, "04 0040 0001", 0x02);
    exception(&mut n, "04 0000 007E", 0x03);
}

#[test]
fn sensor_values_wrap() {
    let mut n = node();
    n.reads = 0xFFFF;
    // 15000 + 65535 * 16 wraps to 15000 - 16.
    golden(&mut n, "04 000F 0001", "04 02 3A88");
}

#[test]
fn write_single_coil() {
    let mut n = node();
    golden(&mut n, "05 0003 FF00", "05 0003 FF00");
    golden(&mut n, "01 0000 0008", "01 01 08");
    golden(&mut n, "05 0003 0000", "05 0003 0000");
    golden(&mut n, "01 0000 0008", "01 01 00");
    exception(&mut n, "05 0003 0001", 0x03);
    // Value is checked before address.
    exception(&mut n, "05 0020 1234", 0x03);
    exception(&mut n, "05 0020 FF00", 0x02);
    exception(&mut n, "05 0003 FF", 0x03);
}

#[test]
fn write_single_register() {
    let mut n = node();
    golden(&mut n, "06 003F 1234", "06 003F 1234");
    golden(&mut n, "03 003F 0001", "03 02 1234");
    exception(&mut n, "06 0050 0001", 0x02);
    exception(&mut n, "06 0040 0001", 0x04);
    exception(&mut n, "06 0100 0002", 0x04);
    exception(&mut n, "06 0101 0002", 0x04);
    exception(&mut n, "06 0000 000001", 0x03);
}

#[test]
fn read_exception_status() {
    let mut n = node();
    golden(&mut n, "0F 0000 0009 02 A501", "0F 0000 0009");
    golden(&mut n, "07", "07 A5");
    exception(&mut n, "07 00", 0x03);
}

#[test]
fn diagnostics() {
    let mut n = node();
    golden(&mut n, "08 0000 1234 5678 9A", "08 0000 1234 5678 9A");
    golden(&mut n, "08 0000", "08 0000");
    // A frame with a bad CRC, one for another unit, one overrun.
    assert_eq!(send_raw(&mut n, &hex("01 03 0000 0001 0000")), None);
    assert_eq!(send_to(&mut n, 9, "03 0000 0001"), None);
    let mut out = [0u8; MAX_ADU];
    assert_eq!(n.handle(Received::Overrun, 0, &mut out), None);
    exception(&mut n, "08 0099 0000", 0x01);
    golden(&mut n, "08 000B 0000", "08 000B 0005"); // bus messages
    golden(&mut n, "08 000C 0000", "08 000C 0001"); // communication errors
    golden(&mut n, "08 000D 0000", "08 000D 0001"); // exceptions
    golden(&mut n, "08 000E 0000", "08 000E 0007"); // server messages
    golden(&mut n, "08 000F 0000", "08 000F 0000"); // no response
    golden(&mut n, "08 0010 0000", "08 0010 0000"); // NAK
    golden(&mut n, "08 0011 0000", "08 0011 0000"); // busy
    golden(&mut n, "08 0012 0000", "08 0012 0001"); // character overruns
    exception(&mut n, "08 000B 0001", 0x03);
    exception(&mut n, "08 000B", 0x03);
    exception(&mut n, "08 00", 0x03);
    golden(&mut n, "08 000A 0000", "08 000A 0000");
    golden(&mut n, "08 000B 0000", "08 000B 0001");
    golden(&mut n, "08 0001 FF00", "08 0001 FF00");
    golden(&mut n, "08 000E 0000", "08 000E 0001");
    exception(&mut n, "08 0001 1234", 0x03);
    exception(&mut n, "08 0001 0000 00", 0x03);
}

#[test]
fn listen_only_mode() {
    let mut n = node();
    assert_eq!(send(&mut n, "08 0004 0000"), None);
    assert!(n.listen_only());
    // Nothing is answered or executed, not even a valid write.
    assert_eq!(send(&mut n, "06 0000 0001"), None);
    assert_eq!(send(&mut n, "08 000B 0000"), None);
    // A bad restart is ignored too.
    assert_eq!(send(&mut n, "08 0001 1234"), None);
    assert!(n.listen_only());
    let c = n.counters();
    assert_eq!(
        (c.bus_messages, c.server_messages, c.no_response),
        (4, 4, 4)
    );
    // Restart communications: not answered in listen-only mode, but it
    // leaves it and clears the counters.
    assert_eq!(send(&mut n, "08 0001 0000"), None);
    assert!(!n.listen_only());
    assert_eq!(n.counters(), Counters::default());
    golden(&mut n, "03 0000 0001", "03 02 0000");
    golden(&mut n, "08 0001 0000", "08 0001 0000");
    exception(&mut n, "08 0004 00", 0x03);
}

#[test]
fn write_multiple_coils() {
    let mut n = node();
    golden(&mut n, "0F 001E 0002 01 03", "0F 001E 0002");
    golden(&mut n, "01 0018 0008", "01 01 C0");
    exception(&mut n, "0F 0000 0000 00", 0x03);
    exception(&mut n, "0F 0000 07B1 F7", 0x03);
    exception(&mut n, "0F 0000 0009 01 FF", 0x03);
    exception(&mut n, "0F 0000 0009 02 FF", 0x03);
    exception(&mut n, "0F 001F 0002 01 03", 0x02);
    exception(&mut n, "0F 0000", 0x03);
}

#[test]
fn write_multiple_registers() {
    let mut n = node();
    golden(&mut n, "10 0001 0002 04 000A 000B", "10 0001 0002");
    golden(&mut n, "03 0000 0004", "03 08 0000 000A 000B 0000");
    exception(&mut n, "10 0000 0000 00", 0x03);
    exception(&mut n, "10 0000 007C F8", 0x03);
    exception(&mut n, "10 0000 0001 03 000100", 0x03);
    exception(&mut n, "10 0000 0002 04 0001", 0x03);
    exception(&mut n, "10 004F 0002 04 0001 0002", 0x02);
    // Multi-register writes are atomic: a protected register in the range
    // refuses the whole write.
    exception(&mut n, "10 003F 0002 04 0007 0008", 0x04);
    golden(&mut n, "03 003F 0001", "03 02 0000");
}

#[test]
fn report_server_id() {
    let mut n = node();
    golden(
        &mut n,
        "11",
        "11 10 4E FF 68696C74204D422D4E4F44452D31", // "hilt MB-NODE-1"
    );
    exception(&mut n, "11 00", 0x03);
}

#[test]
fn file_records() {
    let mut n = node();
    golden(
        &mut n,
        "15 14 06 0001 0000 0002 1111 2222 06 0003 003F 0001 3333",
        "15 14 06 0001 0000 0002 1111 2222 06 0003 003F 0001 3333",
    );
    golden(
        &mut n,
        "14 0E 06 0001 0000 0003 06 0003 003F 0001",
        "14 0C 07 06 1111 2222 0000 03 06 3333",
    );
    // File 4: the history of holding register 0, newest at record 63.
    golden(&mut n, "06 0000 0001", "06 0000 0001");
    golden(&mut n, "06 0000 0002", "06 0000 0002");
    golden(
        &mut n,
        "14 07 06 0004 003D 0003",
        "14 08 07 06 0000 0001 0002",
    );
    // Read errors: byte count, length 0, answer too long, addresses.
    exception(&mut n, "14 06 06 0001 0000 00", 0x03);
    exception(&mut n, "14 08 06 0001 0000 0001 00", 0x03);
    exception(&mut n, "14 07 06 0001 0000 0000", 0x03);
    exception(&mut n, "14 0E 06 0001 0000 0040 06 0002 0000 0040", 0x03);
    exception(&mut n, "14 07 05 0001 0000 0001", 0x02);
    exception(&mut n, "14 07 06 0005 0000 0001", 0x02);
    exception(&mut n, "14 07 06 0000 0000 0001", 0x02);
    exception(&mut n, "14 07 06 0001 0040 0001", 0x02);
    exception(&mut n, "14 07 06 0001 003F 0002", 0x02);
    // Quantity before address: length 0 in a bad file is 0x03.
    exception(&mut n, "14 07 05 0009 0000 0000", 0x03);
    // Write errors.
    exception(&mut n, "15 09 06 0004 0000 0001 1234", 0x02);
    exception(&mut n, "15 09 06 0001 0000 0002 1234", 0x03);
    exception(&mut n, "15 0A 06 0001 0000 0001 1234 00", 0x03);
    exception(&mut n, "15 09 06 0001 0000 0000 1234", 0x03);
    exception(&mut n, "15 08 06 0001 0000 0001 12", 0x03);
    exception(&mut n, "15 09 06 0001 0040 0001 1234", 0x02);
    exception(&mut n, "15 09 07 0001 0000 0001 1234", 0x02);
    // Every sub-request is validated before any is written.
    exception(
        &mut n,
        "15 12 06 0002 0000 0001 AAAA 06 0004 0000 0001 BBBB",
        0x02,
    );
    golden(&mut n, "14 07 06 0002 0000 0001", "14 04 03 06 0000");
}

#[test]
fn mask_write_register() {
    let mut n = node();
    golden(&mut n, "06 0004 0012", "06 0004 0012");
    // The specification's example: (0x12 AND 0xF2) OR (0x25 AND NOT 0xF2).
    golden(&mut n, "16 0004 00F2 0025", "16 0004 00F2 0025");
    golden(&mut n, "03 0004 0001", "03 02 0017");
    exception(&mut n, "16 0050 00F2 0025", 0x02);
    exception(&mut n, "16 0040 00F2 0025", 0x04);
    exception(&mut n, "16 0004 00F2", 0x03);
}

#[test]
fn read_write_multiple_registers() {
    let mut n = node();
    // The write happens before the read.
    golden(
        &mut n,
        "17 0000 0003 0001 0002 04 0005 0006",
        "17 06 0000 0005 0006",
    );
    exception(&mut n, "17 0000 0000 0000 0001 02 0001", 0x03);
    exception(&mut n, "17 0000 007E 0000 0001 02 0001", 0x03);
    exception(&mut n, "17 0000 0001 0000 007A F4", 0x03);
    exception(&mut n, "17 0000 0001 0000 0001 04 0001", 0x03);
    exception(&mut n, "17 0050 0001 0000 0001 02 0001", 0x02);
    exception(&mut n, "17 0000 0001 0050 0001 02 0001", 0x02);
    exception(&mut n, "17 0000 0001 0040 0001 02 0001", 0x04);
    golden(&mut n, "03 0001 0001", "03 02 0005");
}

#[test]
fn read_fifo_queue() {
    let mut n = node();
    golden(&mut n, "18 0200", "18 0002 0000");
    golden(&mut n, "10 0000 0001 02 0007", "10 0000 0001");
    golden(&mut n, "16 0000 0000 0009", "16 0000 0000 0009");
    golden(&mut n, "17 0000 0001 0000 0001 02 000B", "17 02 000B");
    golden(&mut n, "18 0200", "18 0008 0003 0007 0009 000B");
    for v in 0..40u16 {
        send(&mut n, &std::format!("06 0000 {v:04X}")).unwrap();
    }
    // The last 31, oldest first.
    let values: std::string::String = (9..40u16).map(|v| std::format!("{v:04X}")).collect();
    golden(&mut n, "18 0200", &std::format!("18 0040 001F {values}"));
    exception(&mut n, "18 0201", 0x02);
    exception(&mut n, "18 02", 0x03);
}

#[test]
fn read_device_identification() {
    let mut n = node();
    golden(
        &mut n,
        "2B 0E 01 00",
        "2B 0E 01 82 00 00 03 00 04 68696C74 01 09 4D422D4E4F44452D31 02 03 312E30",
    );
    // Regular from object 4: ProductName and ModelName.
    golden(
        &mut n,
        "2B 0E 02 04",
        "2B 0E 02 82 00 00 02 04 10 68696C742073656E736F72206E6F6465 05 0A 746573742D626F617264",
    );
    // Basic from an object outside the category restarts at 0.
    let basic = send(&mut n, "2B 0E 01 00");
    assert_eq!(send(&mut n, "2B 0E 01 05"), basic);
    golden(
        &mut n,
        "2B 0E 04 03",
        "2B 0E 04 82 00 00 01 03 1C 68747470733A2F2F6578616D706C652E696E76616C69642F68696C74",
    );
    exception(&mut n, "2B 0E 04 06", 0x02);
    exception(&mut n, "2B 0E 03 00", 0x03);
    exception(&mut n, "2B 0E 05 00", 0x03);
    exception(&mut n, "2B 0D 01 00", 0x01);
    exception(&mut n, "2B 0E 01", 0x03);
    exception(&mut n, "2B", 0x03);
}

#[test]
fn unsupported_functions() {
    let mut n = node();
    for f in [0x00u8, 0x09, 0x0B, 0x0C, 0x12, 0x42, 0x7F, 0x80, 0xFF] {
        assert_eq!(
            send(&mut n, &std::format!("{f:02X} 0000")),
            Some(std::vec![f | 0x80, 0x01])
        );
    }
    golden(&mut n, "04 0016 0001", "04 02 0001");
}

#[test]
fn the_lock_opens_only_in_sequence() {
    let mut n = node();
    assert_eq!(n.lock(), Lock::Locked);
    exception(&mut n, "06 0040 0001", 0x04);
    // Open without arming: locked.
    golden(&mut n, "06 0110 5AA5", "06 0110 5AA5");
    assert_eq!(n.lock(), Lock::Locked);
    // Armed, then any other executed request breaks the sequence.
    golden(&mut n, "06 0110 A55A", "06 0110 A55A");
    assert_eq!(n.lock(), Lock::Armed);
    golden(&mut n, "03 0110 0001", "03 02 0000");
    assert_eq!(n.lock(), Lock::Locked);
    // An exception executed nothing, so it does not break it.
    golden(&mut n, "06 0110 A55A", "06 0110 A55A");
    exception(&mut n, "03 0500 0001", 0x02);
    exception(&mut n, "06 0040 0001", 0x04);
    assert_eq!(n.lock(), Lock::Armed);
    golden(&mut n, "06 0110 5AA5", "06 0110 5AA5");
    assert_eq!(n.lock(), Lock::Unlocked);
    golden(&mut n, "03 0110 0001", "03 02 0001");
    // Unlocked: protected writes go through, other requests keep it open.
    golden(&mut n, "10 003F 0002 04 0007 0008", "10 003F 0002");
    golden(&mut n, "03 003F 0002", "03 04 0007 0008");
    golden(&mut n, "06 0101 0003", "06 0101 0003");
    assert_eq!(n.lock(), Lock::Unlocked);
    // Arming again leaves unlocked; any other value locks.
    golden(&mut n, "06 0110 A55A", "06 0110 A55A");
    assert_eq!(n.lock(), Lock::Armed);
    golden(&mut n, "06 0110 5AA5", "06 0110 5AA5");
    golden(&mut n, "06 0110 1234", "06 0110 1234");
    assert_eq!(n.lock(), Lock::Locked);
}

#[test]
fn the_lock_through_every_write_function() {
    let mut n = node();
    golden(&mut n, "10 0110 0001 02 A55A", "10 0110 0001");
    golden(&mut n, "17 0110 0001 0110 0001 02 5AA5", "17 02 0001");
    assert_eq!(n.lock(), Lock::Unlocked);
    // Mask write of the lock register: (1 AND 0) OR (0xA55A AND NOT 0).
    golden(&mut n, "16 0110 0000 A55A", "16 0110 0000 A55A");
    assert_eq!(n.lock(), Lock::Armed);
    golden(&mut n, "16 0110 0000 5AA5", "16 0110 0000 5AA5");
    assert_eq!(n.lock(), Lock::Unlocked);
}

#[test]
fn a_broadcast_can_never_unlock() {
    let mut n = node();
    assert_eq!(send_to(&mut n, 0, "06 0110 A55A"), None);
    assert_eq!(n.lock(), Lock::Armed);
    assert_eq!(send_to(&mut n, 0, "06 0110 5AA5"), None);
    assert_eq!(n.lock(), Lock::Locked);
    // Armed by broadcast, opened by the unit's own id: allowed.
    assert_eq!(send_to(&mut n, 0, "06 0110 A55A"), None);
    golden(&mut n, "06 0110 5AA5", "06 0110 5AA5");
    assert_eq!(n.lock(), Lock::Unlocked);
    // A broadcast write executed while armed breaks the sequence.
    golden(&mut n, "06 0110 A55A", "06 0110 A55A");
    assert_eq!(send_to(&mut n, 0, "06 0001 0001"), None);
    assert_eq!(n.lock(), Lock::Locked);
    // A broadcast read is ignored, so it does not.
    golden(&mut n, "06 0110 A55A", "06 0110 A55A");
    assert_eq!(send_to(&mut n, 0, "03 0000 0001"), None);
    assert_eq!(n.lock(), Lock::Armed);
}

#[test]
fn unit_id_changes_after_the_answer() {
    let mut n = node();
    unlock(&mut n);
    exception(&mut n, "06 0100 0000", 0x03);
    exception(&mut n, "06 0100 00F8", 0x03);
    exception(&mut n, "10 00FF 0001 02 0000", 0x02);
    // The answer still comes from unit 1.
    assert_eq!(
        send_to(&mut n, 1, "06 0100 0007"),
        Some(hex("06 0100 0007"))
    );
    assert_eq!(n.unit_id(), 7);
    assert_eq!(send_to(&mut n, 1, "03 0100 0001"), None);
    assert_eq!(send_to(&mut n, 7, "03 0100 0001"), Some(hex("03 02 0007")));
    // An out-of-range unit id is refused atomically in a multiple write.
    exception(&mut n, "10 0100 0002 04 0000 0005", 0x03);
    golden(&mut n, "03 0100 0002", "03 04 0007 0000");
}

#[test]
fn broadcast_executes_writes_and_answers_nothing() {
    let mut n = node();
    assert_eq!(send_to(&mut n, 0, "06 0002 0042"), None);
    assert_eq!(send_to(&mut n, 0, "05 0000 FF00"), None);
    assert_eq!(send_to(&mut n, 0, "03 0000 0001"), None);
    assert_eq!(send_to(&mut n, 0, "04 0000 0001"), None);
    assert_eq!(send_to(&mut n, 0, "06 0050 0001"), None);
    golden(&mut n, "03 0002 0001", "03 02 0042");
    golden(&mut n, "07", "07 01");
    // reads was not counted for the broadcast 0x04.
    golden(&mut n, "04 0001 0001", "04 02 03E8");
    // No exception was sent for the broadcast to 0x0050.
    golden(
        &mut n,
        "04 0010 0006",
        "04 0C 0009 0000 0000 0009 0005 0000",
    );
    // Broadcast force listen-only.
    assert_eq!(send_to(&mut n, 0, "08 0004 0000"), None);
    assert!(n.listen_only());
}

#[test]
fn reset_restores_reset_state() {
    let mut n = node();
    unlock(&mut n);
    send(&mut n, "10 0000 0002 04 1234 5678").unwrap();
    send(&mut n, "06 0100 0009").unwrap();
    n.reset();
    assert_eq!(n, node());
}

#[test]
fn short_and_empty_frames() {
    let mut n = node();
    let mut out = [0u8; MAX_ADU];
    assert_eq!(n.handle(Received::Frame(&[]), 0, &mut out), None);
    assert_eq!(n.handle(Received::Frame(&[1, 3, 0]), 0, &mut out), None);
    assert_eq!(n.counters().comm_errors, 1);
    assert_eq!(n.handle(Received::Frame(&[0u8; 300]), 0, &mut out), None);
    assert_eq!(n.counters().overruns, 1);
}

#[test]
fn branches_where_the_specification_is_silent() {
    let mut n = node();
    // An out-of-range unit id while locked: the lock is checked first (the
    // write is refused at execution), so 0x04; unlocked it is 0x03.
    exception(&mut n, "06 0100 0000", 0x04);
    exception(&mut n, "10 0100 0002 04 0000 0005", 0x04);
    // Restart Communications in listen-only mode is executed: it breaks an
    // armed lock sequence.
    golden(&mut n, "06 0110 A55A", "06 0110 A55A");
    assert_eq!(send(&mut n, "08 0004 0000"), None);
    assert_eq!(n.lock(), Lock::Locked, "force listen-only is executed too");
    assert_eq!(send(&mut n, "08 0001 0000"), None);
    golden(&mut n, "06 0110 A55A", "06 0110 A55A");
    assert_eq!(send(&mut n, "08 0004 0000"), None);
    n.lock = Lock::Armed;
    assert_eq!(send(&mut n, "08 0001 0000"), None);
    assert_eq!(n.lock(), Lock::Locked);
    // Broadcast diagnostics that change state are executed.
    golden(&mut n, "06 0000 0001", "06 0000 0001");
    assert_eq!(send_to(&mut n, 0, "08 000A 0000"), None);
    assert_eq!(n.counters().bus_messages, 0);
    send(&mut n, "03 0000 0001").unwrap();
    assert_eq!(send_to(&mut n, 0, "08 0001 FF00"), None);
    assert_eq!(n.counters(), Counters::default());
    // ...but Return Query Data is a read: ignored.
    assert_eq!(send_to(&mut n, 0, "08 0000 1234"), None);
    // Clear counters with the wrong data length.
    exception(&mut n, "08 000A", 0x03);
    exception(&mut n, "08 000A 0000 00", 0x03);
}

/// A request frame for the node, valid or not, weighted towards frames that
/// get past the CRC and the unit id.
fn any_frame() -> impl Strategy<Value = Vec<u8>> {
    let function = prop_oneof![
        4 => prop::sample::select(std::vec![
            0x01u8, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0F, 0x10, 0x11, 0x14, 0x15,
            0x16, 0x17, 0x18, 0x2B
        ]),
        1 => any::<u8>(),
    ];
    let unit = prop_oneof![4 => Just(1u8), 1 => Just(0u8), 1 => any::<u8>()];
    let body = prop::collection::vec(any::<u8>(), 0..260);
    prop_oneof![
        8 => (unit, function, body).prop_map(|(u, f, body)| {
            let mut pdu = std::vec![f];
            pdu.extend(body);
            pdu.truncate(253);
            frame(u, &pdu)
        }),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

/// Writes aimed at the protected registers and the lock, by every write
/// function, with the lock's magic values among the data, to this unit or
/// broadcast.
fn protected_write() -> impl Strategy<Value = Vec<u8>> {
    let address = prop::sample::select(std::vec![
        0x003Fu16, 0x0040, 0x0047, 0x004F, 0x0100, 0x0101, 0x0110
    ]);
    let value = prop_oneof![
        3 => Just(0xA55Au16),
        3 => Just(0x5AA5u16),
        1 => Just(7u16),
        1 => any::<u16>(),
    ];
    let unit = prop_oneof![4 => Just(1u8), 1 => Just(0u8)];
    (unit, 0..4u8, address, prop::collection::vec(value, 1..4)).prop_map(
        |(unit, function, address, values)| {
            let [hi, lo] = address.to_be_bytes();
            let words: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
            let pdu: Vec<u8> = match function {
                0 => [&[0x06, hi, lo][..], &words[..2]].concat(),
                1 => [
                    &[0x10, hi, lo, 0, values.len() as u8, words.len() as u8][..],
                    &words,
                ]
                .concat(),
                2 => [&[0x16, hi, lo, 0, 0][..], &words[..2]].concat(),
                _ => [
                    &[
                        0x17,
                        hi,
                        lo,
                        0,
                        1,
                        hi,
                        lo,
                        0,
                        values.len() as u8,
                        words.len() as u8,
                    ][..],
                    &words,
                ]
                .concat(),
            };
            frame(unit, &pdu)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000)
    ))]

    /// No input of up to 300 bytes panics, and every answer is a well-formed
    /// frame: good CRC, at most 256 bytes, from the unit it was sent to, with
    /// the request's function code or its exception.
    #[test]
    fn any_bytes_get_a_well_formed_answer_or_none(frames in prop::collection::vec(any_frame(), 1..8)) {
        let mut n = node();
        for adu in frames {
            let unit_before = n.unit_id();
            let mut out = [0u8; MAX_ADU];
            if let Some(len) = n.handle(Received::Frame(&adu), 7, &mut out) {
                let answer = &out[..len];
                prop_assert!((4..=MAX_ADU).contains(&len));
                prop_assert!(crc_ok(answer));
                prop_assert_eq!(answer[0], unit_before);
                prop_assert_eq!(adu[0], unit_before);
                prop_assert!(answer[1] == adu[1] || answer[1] == adu[1] | 0x80);
                if answer[1] & 0x80 != 0 && adu[1] & 0x80 == 0 {
                    prop_assert_eq!(len, 5);
                    prop_assert!((1..=4).contains(&answer[2]));
                } else if matches!(answer[1], 0x01..=0x04 | 0x11 | 0x14 | 0x17) {
                    // Byte count, then exactly that many data bytes.
                    prop_assert_eq!(len, 5 + usize::from(answer[2]));
                }
            }
        }
    }

    /// Protected registers never change unless the right sequence to this
    /// unit id opened the lock.
    #[test]
    fn protected_registers_hold_while_locked(frames in prop::collection::vec(
        prop_oneof![3 => protected_write(), 1 => any_frame()], 1..24))
    {
        let mut n = node();
        for adu in frames {
            let before = (n.calibration, n.line_settings, n.unit);
            let was_unlocked = n.lock() == Lock::Unlocked;
            let mut out = [0u8; MAX_ADU];
            let _ = n.handle(Received::Frame(&adu), 0, &mut out);
            if !was_unlocked {
                prop_assert_eq!(before, (n.calibration, n.line_settings, n.unit));
            }
        }
    }
}
