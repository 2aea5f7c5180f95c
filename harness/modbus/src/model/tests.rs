//! Golden tests of the reference model, written from `MODBUS-NODE.md` and
//! the decisions in the model's documentation, plus a property test that it
//! never panics.
//!
//! Index:
//! - `script`: runs request lines (the request language) on a model and
//!   compares every answer with the expected bytes (CRC appended by
//!   `wire::append_crc`, itself checked against published vectors).
//! - one `#[test]` per function or topic: coils, holding registers, input
//!   registers and the uptime, diagnostics and counters, listen-only mode,
//!   broadcast, the lock, the unit id, files and the FIFO, device
//!   identification, server id, unsupported functions and exact lengths,
//!   framing (early completion, garbage, overrun).
//! - `props`: `exchange` never panics on any bursts, and what it answers is
//!   always a CRC-valid frame of at most 256 bytes.

use hilt_protocol::Protocol;

use super::*;
use crate::wire::crc16;
use crate::{ModbusRequest, ModbusRtu};

/// Bytes from space-separated hex pairs.
fn h(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|p| u8::from_str_radix(p, 16).expect("test hex"))
        .collect()
}

/// A frame from hex without its CRC.
fn f(s: &str) -> Vec<u8> {
    let mut bytes = h(s);
    append_crc(&mut bytes);
    bytes
}

fn req(line: &str) -> ModbusRequest {
    ModbusRtu::default()
        .parse_request(line)
        .unwrap_or_else(|e| panic!("`{line}` should parse: {e}"))
}

/// Sends one request line as its own burst.
fn send(model: &mut Model, line: &str) -> Vec<Expected> {
    model.expect(&req(line))
}

/// Runs `steps` in order: each a request line and the bytes of the one
/// answer without its CRC, or "" for no answer at all.
fn script(model: &mut Model, steps: &[(&str, &str)]) {
    for (i, (line, want)) in steps.iter().enumerate() {
        let got = send(model, line);
        let want: Vec<Expected> = if want.is_empty() {
            Vec::new()
        } else {
            vec![Expected {
                bytes: f(want),
                dont_care: Vec::new(),
            }]
        };
        let show = |v: &[Expected]| v.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            want,
            "step {i}: `{line}`: got {:?}, want {:?}; {model}",
            show(&got),
            show(&want)
        );
    }
}

fn fresh() -> Model {
    Model::new("lm3s6965evb")
}

#[test]
fn coils_and_discrete_inputs() {
    let mut m = fresh();
    script(
        &mut m,
        &[
            ("read-coils 0 8", "01 01 01 00"),
            ("write-coil 0x0003 on", "01 05 00 03 FF 00"),
            ("write-coil 0x001F on", "01 05 00 1F FF 00"),
            ("read-coils 0 32", "01 01 04 08 00 00 80"),
            ("read-coils 3 1", "01 01 01 01"),
            ("read-coils 0x001F 1", "01 01 01 01"),
            ("read-coils 2 3", "01 01 01 02"),
            // Discrete inputs are the inverted coils.
            ("read-discrete 0 8", "01 02 01 F7"),
            ("read-discrete 0 10", "01 02 02 F7 03"),
            ("read-discrete 0x001C 4", "01 02 01 07"),
            ("read-exception-status", "01 07 08"),
            // Quantity before address.
            ("read-coils 0 0", "01 81 03"),
            ("read-coils 0 2001", "01 81 03"),
            ("read-coils 0 2000", "01 81 02"),
            ("read-coils 0x001F 2", "01 81 02"),
            ("read-coils 0x0020 1", "01 81 02"),
            ("read-coils 0xFFFF 1", "01 81 02"),
            ("read-discrete 0x0020 0", "01 82 03"),
            ("read-discrete 0x0020 1", "01 82 02"),
            // Write Single Coil: the value before the address.
            ("write-coil 0 0x1234", "01 85 03"),
            ("write-coil 0x0020 0x00FF", "01 85 03"),
            ("write-coil 0x0020 on", "01 85 02"),
            ("write-coil 0x0003 off", "01 05 00 03 00 00"),
            ("read-coils 0 8", "01 01 01 00"),
            // Write Multiple Coils.
            ("write-coils 0 10110", "01 0F 00 00 00 05"),
            ("read-coils 0 5", "01 01 01 0D"),
            ("write-coils 0x001E 011", "01 8F 02"),
            ("write-coils 0x001E 01", "01 0F 00 1E 00 02"),
            ("read-coils 0x001E 2", "01 01 01 02"),
            ("write-coils 0", "01 8F 03"),
            ("pdu 0F 0000 0008 02 FF 00", "01 8F 03"),
            ("pdu 0F 0000 0008 01 FF 00", "01 8F 03"),
            ("pdu 0F 0000 0008 01", "01 8F 03"),
            ("pdu 0F 0000 00", "01 8F 03"),
        ],
    );
    let max = format!("write-coils 0 {}", "1".repeat(1968));
    script(&mut m, &[(&max, "01 8F 02")]);
    let over = format!("write-coils 0 {}", "1".repeat(1969));
    script(&mut m, &[(&over, "01 8F 03")]);
    // Nothing of the refused writes happened.
    assert_eq!(m.coils(), 0x8000_000D);
}

#[test]
fn holding_registers() {
    let mut m = fresh();
    script(
        &mut m,
        &[
            ("read-holding 0 2", "01 03 04 00 00 00 00"),
            ("write-register 0 0x1234", "01 06 00 00 12 34"),
            ("read-holding 0 1", "01 03 02 12 34"),
            ("read-holding 0x004F 1", "01 03 02 00 00"),
            (
                "read-holding 0 80",
                &format!("01 03 A0 12 34{}", " 00".repeat(158)),
            ),
            ("read-holding 0x0100 2", "01 03 04 00 01 00 00"),
            ("read-holding 0x0110 1", "01 03 02 00 00"),
            ("read-holding 0x004F 2", "01 83 02"),
            ("read-holding 0x0050 1", "01 83 02"),
            ("read-holding 0x00FF 2", "01 83 02"),
            ("read-holding 0x0100 3", "01 83 02"),
            ("read-holding 0x010F 2", "01 83 02"),
            ("read-holding 0xFFFF 1", "01 83 02"),
            ("read-holding 0 125", "01 83 02"),
            ("read-holding 0 126", "01 83 03"),
            ("read-holding 0x0050 0", "01 83 03"),
            ("write-register 0x0050 1", "01 86 02"),
            ("write-register 0x010F 1", "01 86 02"),
            // Protected while locked: 0x04 (after the address check).
            ("write-register 0x0040 5", "01 86 04"),
            ("write-register 0x004F 5", "01 86 04"),
            ("write-register 0x0100 2", "01 86 04"),
            ("write-register 0x0101 9", "01 86 04"),
            ("write-register 0x0100 0", "01 86 04"),
            ("write-registers 0 1 2 3", "01 10 00 00 00 03"),
            ("read-holding 0 3", "01 03 06 00 01 00 02 00 03"),
            // Atomic: a protected register in the range refuses all of it.
            ("write-registers 0x003E 7 8 9", "01 90 04"),
            ("read-holding 0x003E 2", "01 03 04 00 00 00 00"),
            ("write-registers 0x004F 1 2", "01 90 02"),
            ("write-registers 0", "01 90 03"),
            ("pdu 10 0000 0001 03 00 01 00", "01 90 03"),
            ("pdu 10 0000 0002 02 00 01", "01 90 03"),
            ("pdu 10 0000 00", "01 90 03"),
            // Mask Write: the specification's example.
            ("write-register 4 0x0012", "01 06 00 04 00 12"),
            ("mask-write 4 0x00F2 0x0025", "01 16 00 04 00 F2 00 25"),
            ("read-holding 4 1", "01 03 02 00 17"),
            ("mask-write 0x0050 0 0", "01 96 02"),
            ("mask-write 0x0040 0 0", "01 96 04"),
            ("pdu 16 0004 00F2 0025 00", "01 96 03"),
            // Read/Write Multiple: write first, then read.
            (
                "read-write 0x0010 2 0x0010 0x00AA 0x00BB",
                "01 17 04 00 AA 00 BB",
            ),
            ("read-write 0 1 0x0010 1", "01 17 02 00 01"),
            ("read-write 0 0 0 1", "01 97 03"),
            ("read-write 0 126 0 1", "01 97 03"),
            ("read-write 0 1 0", "01 97 03"),
            ("read-write 0x0050 1 0 1", "01 97 02"),
            ("read-write 0 1 0x004F 1 2", "01 97 02"),
            ("read-write 0 1 0x0040 1", "01 97 04"),
            ("pdu 17 0000 0001 0000 0001 02 00", "01 97 03"),
            ("pdu 17 0000 0001 0000 00", "01 97 03"),
        ],
    );
    let max_write = format!("write-registers 0 {}", "1 ".repeat(123));
    script(&mut m, &[(&max_write, "01 90 02")]);
    // 124 values do not fit in a frame: 257 bytes, an overrun.
    let over = format!("write-registers 0 {}", "1 ".repeat(124));
    script(&mut m, &[(&over, "")]);
    script(&mut m, &[("pdu 10 0000 007C F8 0001", "01 90 03")]);
    let rw_max = format!("read-write 0 1 0 {}", "1 ".repeat(121));
    script(&mut m, &[(&rw_max, "01 97 02")]);
    let rw_over = format!("read-write 0 1 0 {}", "1 ".repeat(122));
    script(&mut m, &[(&rw_over, "")]);
    script(
        &mut m,
        &[("pdu 17 0000 0001 0000 007A F4 0001", "01 97 03")],
    );
    assert_eq!(m.counters().overruns, 2);
    assert_eq!(m.holding(0x0010), Some(1));
    assert_eq!(m.holding(0x0050), None);
    assert_eq!(m.holding(0x0110), Some(0));
    assert_eq!(m.protected_values(), [&[0u16; 16][..], &[1, 0]].concat());
}

#[test]
fn input_registers_and_reads() {
    let mut m = fresh();
    script(
        &mut m,
        &[
            // reads = 0: channel i is 1000 * i.
            ("read-input 0 3", "01 04 06 00 00 03 E8 07 D0"),
            // reads = 1: 1000 * i + (i + 1).
            ("read-input 0 2", "01 04 04 00 01 03 EA"),
            // reads = 2.
            ("read-input 0x000F 1", "01 04 02 3A B8"),
            // Exceptions and broadcasts do not count as reads.
            ("read-input 0x0040 1", "01 84 02"),
            ("read-input 0 0", "01 84 03"),
            ("read-input 0 126", "01 84 03"),
            ("read-input 0 125", "01 84 02"),
            ("read-input 0x003F 2", "01 84 02"),
            ("@0 read-input 0 1", ""),
            // reads = 3.
            ("read-input 0x0001 1", "01 04 02 03 EE"),
            ("read-input 0x0016 2", "01 04 04 00 02 01 00"),
            ("read-input 0x003F 1", "01 04 02 00 00"),
            (
                "read-input 0x0018 8",
                &format!("01 04 10{}", " 00".repeat(16)),
            ),
        ],
    );
}

#[test]
fn uptime_is_dont_care() {
    let mut m = fresh();
    let got = send(&mut m, "read-input 0x0020 2");
    assert_eq!(got.len(), 1);
    let e = &got[0];
    assert_eq!(e.bytes, f("01 04 04 00 00 00 00"));
    assert_eq!(e.dont_care, [3, 4, 5, 6, 7, 8]);
    assert_eq!(e.to_string(), "01 04 04 ?? ?? ?? ?? ?? ??");
    assert!(e.matches(&f("01 04 04 00 01 E2 40")));
    assert!(e.matches(&e.bytes));
    // A bad CRC, a wrong byte elsewhere, a wrong length.
    assert!(!e.matches(&h("01 04 04 00 01 E2 40 00 00")));
    assert!(!e.matches(&f("01 04 06 00 01 E2 40")));
    assert!(!e.matches(&f("02 04 04 00 01 E2 40")));
    assert!(!e.matches(&f("01 04 04 00 01 E2 40 00")));
    assert!(!e.matches(&[]));

    // Only the uptime's bytes: 0x001F is predicted.
    let got = send(&mut m, "read-input 0x001F 3");
    assert_eq!(got[0].dont_care, [5, 6, 7, 8, 9, 10]);
    assert!(got[0].matches(&f("01 04 06 00 00 00 00 12 34")));
    assert!(!got[0].matches(&f("01 04 06 00 01 00 00 12 34")));

    // Without "don't care" bytes, the CRC is compared like the rest.
    let exact = &send(&mut m, "read-input 0 1")[0];
    assert!(exact.dont_care.is_empty());
    assert!(exact.matches(&exact.bytes));
    let mut other = exact.bytes.clone();
    other[3] ^= 1;
    assert!(!exact.matches(&other));
}

#[test]
fn diagnostics_and_counters() {
    let mut m = fresh();
    let mut long = vec![0x01, 0x03, 0, 0, 0, 1];
    long.resize(300, 0xAA);
    script(
        &mut m,
        &[
            // 1: bus 1, server 1.
            ("read-holding 0 1", "01 03 02 00 00"),
            // Bad CRC: communication error.
            ("raw 01 03 00 00 00 01 00 00", ""),
            // Another unit: bus 2 only.
            ("@2 read-holding 0 1", ""),
            // An exception: bus 3, server 2, exceptions 1 once sent.
            ("read-holding 0x0050 1", "01 83 02"),
            // Broadcast: bus 4, server 3, no response 1.
            ("@0 write-register 0 1", ""),
            // 1..=3 bytes: communication errors 2.
            ("raw 01", ""),
            // Bus 5 (counted before), and so on.
            ("diagnostics 0x000B 0", "01 08 00 0B 00 05"),
            ("diagnostics 0x000C 0", "01 08 00 0C 00 02"),
            ("diagnostics 0x000D 0", "01 08 00 0D 00 01"),
            ("diagnostics 0x000E 0", "01 08 00 0E 00 07"),
            ("diagnostics 0x000F 0", "01 08 00 0F 00 01"),
            ("diagnostics 0x0010 0", "01 08 00 10 00 00"),
            ("diagnostics 0x0011 0", "01 08 00 11 00 00"),
            ("diagnostics 0x0012 0", "01 08 00 12 00 00"),
        ],
    );
    m.exchange(&long);
    script(
        &mut m,
        &[
            ("diagnostics 0x0012 0", "01 08 00 12 00 01"),
            // bus 14, comm 2, exceptions 1, server 13, no response 1,
            // overruns 1, last exception 2, version 1.0.
            (
                "read-input 0x0010 8",
                "01 04 10 00 0E 00 02 00 01 00 0D 00 01 00 01 00 02 01 00",
            ),
            // Wrong data: 0x03, and unknown sub-functions 0x01 first.
            ("diagnostics 0x000B 1", "01 88 03"),
            ("diagnostics 0x000B", "01 88 03"),
            ("diagnostics 0x000B 0 0", "01 88 03"),
            ("diagnostics 0x0002 0", "01 88 01"),
            ("diagnostics 0x0013", "01 88 01"),
            ("diagnostics 0xFFFF 0 0 0", "01 88 01"),
            ("pdu 08 00", "01 88 03"),
            ("pdu 08", "01 88 03"),
            ("diagnostics 0x0001 0x1234", "01 88 03"),
            ("diagnostics 0x0001", "01 88 03"),
            ("diagnostics 0x0001 0 0", "01 88 03"),
            ("diagnostics 0x0004", "01 88 03"),
            ("diagnostics 0x0004 0 0", "01 88 03"),
            ("diagnostics 0x000A", "01 88 03"),
            // Return Query Data: any length, echoed.
            (
                "diagnostics 0x0000 0x1234 0x5678",
                "01 08 00 00 12 34 56 78",
            ),
            ("diagnostics 0x0000", "01 08 00 00"),
            ("pdu 08 00 00 01", "01 08 00 00 01"),
            ("read-input 0x0016 1", "01 04 02 00 03"),
            // Clear Counters: echoed; the last exception code stays.
            ("diagnostics 0x000A 0x1234", "01 08 00 0A 12 34"),
            (
                "read-input 0x0010 7",
                "01 04 0E 00 01 00 00 00 00 00 01 00 00 00 00 00 03",
            ),
            ("read-holding 0x0050 1", "01 83 02"),
            ("diagnostics 0x0001 0xFF00", "01 08 00 01 FF 00"),
            ("diagnostics 0x000D 0", "01 08 00 0D 00 00"),
            ("diagnostics 0x0001 0", "01 08 00 01 00 00"),
            ("diagnostics 0x000B 0", "01 08 00 0B 00 01"),
        ],
    );
    // The largest frame there is, 256 bytes, is echoed whole.
    let words = "0xABCD ".repeat(125);
    let got = send(&mut m, &format!("diagnostics 0 {words}"));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].bytes.len(), 256);
    assert_eq!(
        got[0].bytes,
        req(&format!("diagnostics 0 {words}")).to_bytes()
    );
}

#[test]
fn counters_wrap() {
    let mut m = fresh();
    for _ in 0..0x10000 {
        m.exchange(&[0x01]);
    }
    assert_eq!(m.counters().comm_errors, 0);
    m.exchange(&[0x01]);
    assert_eq!(m.counters().comm_errors, 1);
}

#[test]
fn listen_only() {
    let mut m = fresh();
    script(
        &mut m,
        &[
            ("write-register 0 0x0001", "01 06 00 00 00 01"),
            // Not answered, even though it executes.
            ("diagnostics 0x0004 0x1234", ""),
        ],
    );
    assert!(m.listen_only());
    assert_eq!(m.counters().no_responses, 1);
    script(
        &mut m,
        &[
            ("read-holding 0 1", ""),
            ("write-register 0 0x0002", ""),
            ("diagnostics 0x000A 0", ""),
            ("diagnostics 0x0000 0x0001", ""),
            ("diagnostics 0x0001 0x1234", ""),
            ("diagnostics 0x0001", ""),
            ("@2 diagnostics 0x0001 0", ""),
            ("pdu 09", ""),
        ],
    );
    assert!(m.listen_only());
    assert_eq!(m.holding(0), Some(1), "ignored in listen-only mode");
    let c = m.counters();
    assert_eq!((c.bus_messages, c.server_messages), (10, 9));
    assert_eq!((c.no_responses, c.exceptions), (8, 0));
    // Restart Communications: not answered, clears the counters, leaves.
    script(&mut m, &[("diagnostics 0x0001 0xFF00", "")]);
    assert!(!m.listen_only());
    assert_eq!(m.counters(), Counters::default());
    script(
        &mut m,
        &[
            ("read-holding 0 1", "01 03 02 00 01"),
            // Broadcast in and out.
            ("@0 diagnostics 0x0004 0", ""),
            ("read-holding 0 1", ""),
            ("@0 diagnostics 0x0001 0", ""),
            ("read-holding 0 1", "01 03 02 00 01"),
            (
                "read-input 0x0010 6",
                "01 04 0C 00 02 00 00 00 00 00 02 00 00 00 00",
            ),
        ],
    );
}

#[test]
fn broadcast() {
    let mut m = fresh();
    script(
        &mut m,
        &[
            ("@0 write-register 0 0x0055", ""),
            ("@0 write-coil 1 on", ""),
            ("@0 write-coils 4 11", ""),
            ("@0 write-registers 1 7 8", ""),
            ("@0 mask-write 1 0x00F0 0x000F", ""),
            ("@0 read-write 0 1 3 9", ""),
            ("@0 write-file-record 2/5=0x4242", ""),
            // Reads are ignored, exceptions are silent and change nothing.
            ("@0 read-holding 0 1", ""),
            ("@0 write-register 0x0050 1", ""),
            ("@0 write-register 0x0040 1", ""),
            ("@0 read-fifo 0x0200", ""),
            ("read-holding 0 4", "01 03 08 00 55 00 0F 00 08 00 09"),
            ("read-coils 0 8", "01 01 01 32"),
            ("read-file-record 2/5/1", "01 14 04 03 06 42 42"),
            ("read-input 0x0012 1", "01 04 02 00 00"),
            ("read-input 0x0016 1", "01 04 02 00 00"),
            // Broadcast Clear Counters is executed.
            ("@0 diagnostics 0x000A 0", ""),
            ("diagnostics 0x000B 0", "01 08 00 0B 00 01"),
            // Broadcast Return Query Data is not a write: ignored.
            ("@0 diagnostics 0x0000 1", ""),
            ("diagnostics 0x000F 0", "01 08 00 0F 00 01"),
        ],
    );
}

#[test]
fn lock() {
    let mut m = fresh();
    script(
        &mut m,
        &[
            ("read-holding 0x0110 1", "01 03 02 00 00"),
            ("write-register 0x0110 0xA55A", "01 06 01 10 A5 5A"),
        ],
    );
    assert_eq!(m.lock(), LockState::Armed);
    // Any other executed request breaks the sequence, a read included.
    script(&mut m, &[("read-holding 0x0110 1", "01 03 02 00 00")]);
    assert_eq!(m.lock(), LockState::Locked);
    // 0x5AA5 without arming first locks.
    script(
        &mut m,
        &[("write-register 0x0110 0x5AA5", "01 06 01 10 5A A5")],
    );
    assert_eq!(m.lock(), LockState::Locked);
    // Exceptions, other units, bad CRCs and ignored broadcasts don't break
    // it; a refused protected write is an exception too.
    script(
        &mut m,
        &[
            ("write-register 0x0110 0xA55A", "01 06 01 10 A5 5A"),
            ("read-holding 0x0050 1", "01 83 02"),
            ("write-register 0x0040 1", "01 86 04"),
            ("@2 write-register 0x0110 0", ""),
            ("raw 01 06 01 10 00 00 00 00", ""),
            ("@0 read-holding 0 1", ""),
            ("@0 write-register 0x0050 1", ""),
        ],
    );
    assert_eq!(m.lock(), LockState::Armed);
    script(
        &mut m,
        &[("write-register 0x0110 0x5AA5", "01 06 01 10 5A A5")],
    );
    assert_eq!(m.lock(), LockState::Unlocked);
    // While unlocked, other requests leave it unlocked.
    script(
        &mut m,
        &[
            ("read-holding 0x0110 1", "01 03 02 00 01"),
            ("write-register 0x0040 7", "01 06 00 40 00 07"),
            ("write-registers 0x004E 8 9", "01 10 00 4E 00 02"),
            ("write-register 0x0101 0x1234", "01 06 01 01 12 34"),
            ("read-holding 0x0100 2", "01 03 04 00 01 12 34"),
            // Out-of-range unit ids are 0x03 even when unlocked, atomically.
            ("write-register 0x0100 0", "01 86 03"),
            ("write-register 0x0100 248", "01 86 03"),
            ("write-registers 0x0100 0 5", "01 90 03"),
            ("mask-write 0x0110 0xFFFF 0", "01 16 01 10 FF FF 00 00"),
        ],
    );
    // The mask write wrote the read value 1: "any other v" locks.
    assert_eq!(m.lock(), LockState::Locked);
    assert_eq!(m.protected_values()[0], 7);
    assert_eq!(m.protected_values()[14..], [8, 9, 1, 0x1234]);
    script(
        &mut m,
        &[
            // Every write function moves the lock.
            ("mask-write 0x0110 0 0xA55A", "01 16 01 10 00 00 A5 5A"),
            ("read-write 0x0110 1 0x0110 0x5AA5", "01 17 02 00 01"),
            ("write-registers 0x0110 0xA55A", "01 10 01 10 00 01"),
        ],
    );
    // Armed from unlocked.
    assert_eq!(m.lock(), LockState::Armed);
    script(
        &mut m,
        &[("write-register 0x0110 0x5AA5", "01 06 01 10 5A A5")],
    );
    assert_eq!(m.lock(), LockState::Unlocked);
    script(
        &mut m,
        &[("write-register 0x0110 0x0001", "01 06 01 10 00 01")],
    );
    assert_eq!(m.lock(), LockState::Locked);

    // A broadcast can arm but never unlock; an executed broadcast write
    // breaks an armed sequence.
    script(
        &mut m,
        &[
            ("@0 write-register 0x0110 0xA55A", ""),
            ("@0 write-register 0x0110 0x5AA5", ""),
        ],
    );
    assert_eq!(m.lock(), LockState::Locked);
    script(&mut m, &[("@0 write-register 0x0110 0xA55A", "")]);
    assert_eq!(m.lock(), LockState::Armed);
    script(&mut m, &[("@0 write-coil 0 on", "")]);
    assert_eq!(m.lock(), LockState::Locked);
    script(
        &mut m,
        &[
            ("@0 write-register 0x0110 0xA55A", ""),
            ("write-register 0x0110 0x5AA5", "01 06 01 10 5A A5"),
        ],
    );
    assert_eq!(m.lock(), LockState::Unlocked);
    // Executed silently (Force Listen Only) while armed also locks.
    script(
        &mut m,
        &[
            ("write-register 0x0110 0xA55A", "01 06 01 10 A5 5A"),
            ("diagnostics 0x0004 0", ""),
        ],
    );
    assert_eq!(m.lock(), LockState::Locked);
    script(&mut m, &[("diagnostics 0x0001 0", "")]);
    assert_eq!(m.lock(), LockState::Locked);
    m.reset();
    assert_eq!(m, fresh());
}

#[test]
fn unit_id_changes_after_the_answer() {
    let mut m = fresh();
    script(
        &mut m,
        &[
            ("write-register 0x0110 0xA55A", "01 06 01 10 A5 5A"),
            ("write-register 0x0110 0x5AA5", "01 06 01 10 5A A5"),
            // Answered from the old id.
            ("write-register 0x0100 0x0007", "01 06 01 00 00 07"),
            ("read-holding 0x0100 1", ""),
            ("@7 read-holding 0x0100 1", "07 03 02 00 07"),
            ("@7 write-registers 0x0100 247 3", "07 10 01 00 00 02"),
            ("@247 read-holding 0x0100 2", "F7 03 04 00 F7 00 03"),
            // Read/Write: the read, after the write, sees the new value.
            ("@247 read-write 0x0100 1 0x0100 2", "F7 17 02 00 02"),
            ("@2 mask-write 0x0100 0 5", "02 16 01 00 00 00 00 05"),
            // A broadcast write of the unit id (unlocked) executes too.
            ("@0 write-register 0x0100 9", ""),
            ("@5 read-holding 0x0100 1", ""),
            ("@9 read-holding 0x0100 1", "09 03 02 00 09"),
        ],
    );
    assert_eq!(m.unit_id(), 9);
}

#[test]
fn file_records_and_fifo() {
    let mut m = fresh();
    script(
        &mut m,
        &[
            ("read-fifo 0x0200", "01 18 00 02 00 00"),
            ("read-file-record 4/63/1", "01 14 04 03 06 00 00"),
            ("write-file-record 1/0=0x1,0x2 3/63=0x7", "01 15 14 06 00 01 00 00 00 02 00 01 00 02 06 00 03 00 3F 00 01 00 07"),
            ("read-file-record 1/0/2 3/63/1", "01 14 0A 05 06 00 01 00 02 03 06 00 07"),
            ("write-register 0 0x1111", "01 06 00 00 11 11"),
            ("write-register 0 0x2222", "01 06 00 00 22 22"),
            ("read-file-record 4/61/3", "01 14 08 07 06 00 00 11 11 22 22"),
            ("read-fifo 0x0200", "01 18 00 06 00 02 11 11 22 22"),
            // Every write to holding register 0 counts: same value,
            // broadcast, 0x10, 0x16, 0x17.
            ("write-register 0 0x2222", "01 06 00 00 22 22"),
            ("@0 write-register 0 0x0003", ""),
            ("write-registers 0 4 5", "01 10 00 00 00 02"),
            ("mask-write 0 0 6", "01 16 00 00 00 00 00 06"),
            ("read-write 1 1 0 7", "01 17 02 00 05"),
            (
                "read-fifo 0x0200",
                "01 18 00 10 00 07 11 11 22 22 22 22 00 03 00 04 00 06 00 07",
            ),
            // Refused writes don't.
            ("write-registers 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65", "01 90 04"),
            ("read-fifo 0x0201", "01 98 02"),
            ("read-fifo 0", "01 98 02"),
            ("pdu 18 0200 00", "01 98 03"),
            ("pdu 18 02", "01 98 03"),
        ],
    );
    for v in 8..=40u16 {
        script(
            &mut m,
            &[(
                &format!("write-register 0 {v}"),
                &format!("01 06 00 00 00 {v:02X}"),
            )],
        );
    }
    // 40 writes so far: the FIFO holds the last 31, file 4 the last 64.
    let fifo: String = (10..=40u16).map(|v| format!(" 00 {v:02X}")).collect();
    script(
        &mut m,
        &[
            ("read-fifo 0x0200", &format!("01 18 00 40 00 1F{fifo}")),
            ("read-file-record 4/23/2", "01 14 06 05 06 00 00 11 11"),
        ],
    );
    let file4: String = [0u16; 24]
        .into_iter()
        .chain([0x1111, 0x2222, 0x2222, 3, 4, 6, 7])
        .chain(8..=40)
        .map(|v| format!(" {:02X} {:02X}", v >> 8, v & 0xFF))
        .collect();
    script(
        &mut m,
        &[("read-file-record 4/0/64", &format!("01 14 82 81 06{file4}"))],
    );
}

#[test]
fn file_record_exceptions() {
    let mut m = fresh();
    script(
        &mut m,
        &[
            (
                "write-file-record 2/0=0x9",
                "01 15 09 06 00 02 00 00 00 01 00 09",
            ),
            // Read: byte count, record length 0, answer size, then ranges.
            ("read-file-record", "01 94 03"),
            ("read-file-record 1/0/0", "01 94 03"),
            ("read-file-record 9/99/0", "01 94 03"),
            ("read-file-record 1/64/1", "01 94 02"),
            ("read-file-record 1/63/2", "01 94 02"),
            ("read-file-record 0/0/1", "01 94 02"),
            ("read-file-record 5/0/1", "01 94 02"),
            ("read-file-record 1/0/1 5/0/1", "01 94 02"),
            ("read-file-record 1/0/64 2/0/60", "01 94 03"),
            ("read-file-record 1/0/65", "01 94 02"),
            ("read-file-record 1/0/65 2/0/59", "01 94 03"),
            ("pdu 14 07 05 0001 0000 0001", "01 94 02"),
            ("pdu 14 08 06 0001 0000 0001 00", "01 94 03"),
            ("pdu 14 07 06 0001 0000 0001 00", "01 94 03"),
            ("pdu 14 0E 06 0001 0000 0001", "01 94 03"),
            ("pdu 14", "01 94 03"),
            // Write: byte count, walking the sub-requests, ranges, file 4.
            ("write-file-record", "01 95 03"),
            ("write-file-record 1/0=", "01 95 03"),
            ("write-file-record 1/0=1 1/1=", "01 95 03"),
            ("write-file-record 2/0=1 4/0=1", "01 95 02"),
            ("write-file-record 4/0=1 9/0=1", "01 95 02"),
            ("write-file-record 1/64=1", "01 95 02"),
            ("write-file-record 1/63=1,2", "01 95 02"),
            ("write-file-record 0/0=1", "01 95 02"),
            ("pdu 15 09 05 0002 0000 0001 0001", "01 95 02"),
            ("pdu 15 09 06 0002 0000 0001 00", "01 95 03"),
            ("pdu 15 0A 06 0002 0000 0001 0001 00", "01 95 03"),
            ("pdu 15 0A 06 0002 0000 0002 0001 00", "01 95 03"),
            ("pdu 15 09 06 0002 0000 0002 0001", "01 95 03"),
            ("pdu 15", "01 95 03"),
            ("read-file-record 2/0/1", "01 14 04 03 06 00 09"),
        ],
    );
    // 35 sub-requests is the largest byte count (0xF5); 36 do not fit in a
    // frame (257 bytes, an overrun).
    let subs = |n: usize| "1/0/1 ".repeat(n);
    let answer35 = format!("01 14 8C{}", " 03 06 00 00".repeat(35));
    script(
        &mut m,
        &[
            (&format!("read-file-record {}", subs(35)), &answer35),
            (&format!("read-file-record {}", subs(36)), ""),
            ("pdu 14 FC 06 0001 0000 0001", "01 94 03"),
        ],
    );
    let ok = f(&format!(
        "01 14 FA 81 06{} 77 06{}",
        " 00 00".repeat(64),
        " 00 00".repeat(59)
    ));
    assert_eq!(send(&mut m, "read-file-record 3/0/64 4/0/59")[0].bytes, ok);
    // Byte count 0xFB is the largest Write File Record takes (a 256-byte
    // frame); 0xFD, announced in a short PDU, is 0x03.
    let values = |n: usize| vec!["0x0001"; n].join(",");
    script(
        &mut m,
        &[
            (
                &format!("write-file-record 1/0={}", values(122)),
                "01 95 02",
            ),
            ("pdu 15 FD 06 0001 0000 0001 0001", "01 95 03"),
        ],
    );
}

#[test]
fn device_identification() {
    let objects: [&[u8]; 6] = [
        b"hilt",
        b"MB-NODE-1",
        b"1.0",
        b"https://example.invalid/hilt",
        b"hilt sensor node",
        b"lm3s6965evb",
    ];
    let answer = |code: u8, ids: &[u8]| {
        let mut pdu = vec![0x01, 0x2B, 0x0E, code, 0x82, 0x00, 0x00, ids.len() as u8];
        for &id in ids {
            let o = objects[usize::from(id)];
            pdu.push(id);
            pdu.push(o.len() as u8);
            pdu.extend_from_slice(o);
        }
        vec![Expected {
            bytes: {
                append_crc(&mut pdu);
                pdu
            },
            dont_care: vec![],
        }]
    };
    let mut m = fresh();
    script(
        &mut m,
        &[(
            "read-device-id 4 0",
            "01 2B 0E 04 82 00 00 01 00 04 68 69 6C 74",
        )],
    );
    for (line, code, ids) in [
        ("read-device-id 1 0", 1, &[0u8, 1, 2][..]),
        ("read-device-id 1 2", 1, &[2]),
        ("read-device-id 1 3", 1, &[0, 1, 2]),
        ("read-device-id 1 0xFF", 1, &[0, 1, 2]),
        ("read-device-id 2 0", 2, &[0, 1, 2, 3, 4, 5]),
        ("read-device-id 2 4", 2, &[4, 5]),
        ("read-device-id 2 6", 2, &[0, 1, 2, 3, 4, 5]),
        ("read-device-id 4 5", 4, &[5]),
        ("read-device-id 4 3", 4, &[3]),
    ] {
        assert_eq!(send(&mut m, line), answer(code, ids), "{line}");
    }
    script(
        &mut m,
        &[
            ("read-device-id 4 6", "01 AB 02"),
            ("read-device-id 4 0xFF", "01 AB 02"),
            ("read-device-id 3 0", "01 AB 03"),
            ("read-device-id 0 0", "01 AB 03"),
            ("read-device-id 0xFF 0", "01 AB 03"),
            // MEI type before length; a lone 0x2B is 0x03.
            ("pdu 2B 0D 01 00", "01 AB 01"),
            ("pdu 2B 0D", "01 AB 01"),
            ("pdu 2B", "01 AB 03"),
            ("pdu 2B 0E 01", "01 AB 03"),
            ("pdu 2B 0E 01 00 00", "01 AB 03"),
        ],
    );
    // The model name is the board's.
    let mut sim = Model::new("host-sim");
    script(
        &mut sim,
        &[(
            "read-device-id 4 5",
            "01 2B 0E 04 82 00 00 01 05 08 68 6F 73 74 2D 73 69 6D",
        )],
    );
    // A name too long to fit is cut so the answer stays within 253 bytes.
    let mut long = Model::new(&"x".repeat(300));
    let got = send(&mut long, "read-device-id 2 0");
    assert_eq!(got[0].bytes.len(), 256);
}

#[test]
fn server_id_unsupported_functions_and_exact_lengths() {
    let mut m = fresh();
    script(
        &mut m,
        &[
            (
                "report-server-id",
                "01 11 10 4E FF 68 69 6C 74 20 4D 42 2D 4E 4F 44 45 2D 31",
            ),
            ("pdu 11 00", "01 91 03"),
            ("pdu 07 00", "01 87 03"),
            ("pdu 00", "01 80 01"),
            ("pdu 09 00 00", "01 89 01"),
            ("pdu 0B", "01 8B 01"),
            ("pdu 12", "01 92 01"),
            ("pdu 2A 00", "01 AA 01"),
            ("pdu 80", "01 80 01"),
            ("pdu 83 00 00", "01 83 01"),
            ("pdu FF", "01 FF 01"),
            // Exact lengths of fixed-size requests.
            ("pdu 01 0000 0001 00", "01 81 03"),
            ("pdu 02 0000 00", "01 82 03"),
            ("pdu 03 0000 0001 00", "01 83 03"),
            ("pdu 03", "01 83 03"),
            ("pdu 04 0000 0001 0000", "01 84 03"),
            ("pdu 05 0000 FF00 00", "01 85 03"),
            ("pdu 06 0000 00", "01 86 03"),
            ("read-holding 0 1", "01 03 02 00 00"),
        ],
    );
    // The exceptions counted, the last code kept.
    assert_eq!(m.counters().exceptions, 17);
    assert_eq!(m.last_exception, 0x03);
}

#[test]
fn early_completion_and_resynchronisation() {
    let mut m = fresh();
    let a = req("read-holding 0 1").to_bytes();
    let b = req("read-coils 0 1").to_bytes();
    // Two frames in one burst: two answers, in order.
    let got = m.exchange(&[a.clone(), b.clone()].concat());
    assert_eq!(
        got.iter().map(|e| e.bytes.clone()).collect::<Vec<_>>(),
        [f("01 03 02 00 00"), f("01 01 01 00")]
    );
    // A valid frame followed by garbage: the frame is answered, the
    // garbage is a communication error at the silence.
    let before = m.counters();
    let got = m.exchange(&[a.clone(), h("01 02 03")].concat());
    assert_eq!(got.len(), 1);
    assert_eq!(m.counters().comm_errors, before.comm_errors + 1);
    assert_eq!(m.counters().bus_messages, before.bus_messages + 1);
    // Garbage before a frame hides it until the silence: nothing.
    let got = m.exchange(&[h("FF"), a.clone()].concat());
    assert!(got.is_empty());
    assert_eq!(m.counters().comm_errors, before.comm_errors + 2);
    // And the next burst is answered again.
    assert_eq!(m.exchange(&a).len(), 1);
    // Every function with a known length completes early.
    let lines = [
        "write-coil 0 on",
        "write-register 1 2",
        "read-exception-status",
        "diagnostics 0x000B 0",
        "write-coils 0 101",
        "write-registers 0 1 2",
        "report-server-id",
        "read-file-record 1/0/1",
        "write-file-record 1/0=1",
        "mask-write 0 0xFFFF 0",
        "read-write 0 1 0 1",
        "read-fifo 0x0200",
        "read-device-id 1 0",
    ];
    for line in lines {
        let bytes = req(line).to_bytes();
        let got = m.exchange(&[bytes.clone(), a.clone()].concat());
        assert_eq!(got.len(), 2, "{line} then read-holding");
    }
    // Return Query Data (sub-function 0) and unknown functions have no
    // known length: only the silence ends them, so a frame after them in
    // the same burst makes one frame with a bad CRC.
    for line in ["diagnostics 0 1", "pdu 09", "pdu 2B 0D 00 00"] {
        let got = m.exchange(&[req(line).to_bytes(), a.clone()].concat());
        assert!(got.is_empty(), "{line} then read-holding");
    }
    // A frame whose CRC fails at its known length keeps growing: a 0x03
    // PDU of 6 bytes is one frame, answered 0x03 at the silence.
    let got = send(&mut m, "pdu 03 0000 0001 00");
    assert_eq!(got[0].bytes, f("01 83 03"));
    // An empty burst is nothing at all.
    let before = m.clone();
    assert!(m.exchange(&[]).is_empty());
    assert_eq!(m, before);
}

#[test]
fn overrun() {
    let mut m = fresh();
    // 257 bytes with a good CRC: too long, dropped, one overrun.
    let words = "0xABCD ".repeat(126);
    let long = req(&format!("diagnostics 0 {words}")).to_bytes();
    assert_eq!(long.len(), 258);
    assert!(m.exchange(&long).is_empty());
    assert_eq!(
        m.counters(),
        Counters {
            overruns: 1,
            ..Counters::default()
        }
    );
    // The rest of the burst is discarded, however long, counted once.
    let mut burst = vec![0u8; 300];
    burst.extend(req("read-holding 0 1").to_bytes());
    burst.extend(vec![0x55; 300]);
    assert!(m.exchange(&burst).is_empty());
    // A valid frame before the long one is still answered.
    let mut burst = req("read-holding 0 1").to_bytes();
    burst.extend(vec![0x01; 257]);
    assert_eq!(m.exchange(&burst).len(), 1);
    assert_eq!(m.counters().overruns, 3);
    assert_eq!(m.counters().bus_messages, 1);
    // Exactly 256 bytes is a frame.
    let mut frame = vec![0x01, 0x09];
    frame.resize(254, 0);
    append_crc(&mut frame);
    assert_eq!(
        send(&mut m, &format!("raw {}", crate::wire::hex(&frame)))[0].bytes,
        f("01 89 01")
    );
}

#[test]
fn crc_of_answers_is_the_wire_crc() {
    // The golden CRC of an exception from the serial line guide's
    // examples: 01 83 02 C0 F1.
    let mut m = fresh();
    let got = send(&mut m, "read-holding 0x0050 1");
    assert_eq!(got[0].bytes, h("01 83 02 C0 F1"));
    assert_eq!(crc16(&got[0].bytes[..3]), 0xF1C0);
}

mod props {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// Frames with a good CRC and a random PDU: the unit id mostly 1 or
    /// broadcast, the function mostly one the node knows, so deep paths
    /// run too.
    fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
        let unit = prop_oneof![6 => Just(1u8), 2 => Just(0u8), 1 => any::<u8>()];
        let function = prop_oneof![
            8 => prop::sample::select(vec![
                0x01u8, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0F, 0x10, 0x11, 0x14,
                0x15, 0x16, 0x17, 0x18, 0x2B,
            ]),
            1 => any::<u8>(),
        ];
        (unit, function, vec(any::<u8>(), 0..=260)).prop_map(|(unit, function, data)| {
            let mut frame = vec![unit, function];
            frame.extend(data);
            append_crc(&mut frame);
            frame
        })
    }

    /// A burst: random bytes, valid frames, or a few frames back to back.
    fn burst() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            vec(any::<u8>(), 0..=600),
            valid_frame(),
            vec(valid_frame(), 1..=3).prop_map(|frames| frames.concat()),
        ]
    }

    proptest! {
        #[test]
        fn exchange_never_panics_and_answers_are_frames(
            bursts in vec(burst(), 0..12),
            name in "[a-z0-9-]{0,20}",
        ) {
            let mut m = Model::new(&name);
            for wire in &bursts {
                let unit = m.unit_id();
                let listen_only = m.listen_only();
                let answers = m.exchange(wire);
                if listen_only {
                    prop_assert!(answers.is_empty());
                }
                for e in &answers {
                    prop_assert!(e.bytes.len() >= 5 && e.bytes.len() <= MAX_ADU, "{}", e);
                    prop_assert!(crc_ok(&e.bytes), "{}", e);
                    // From the node's unit id (which a frame earlier in
                    // the same burst may have changed).
                    prop_assert!(e.bytes[0] == unit || e.bytes[0] != BROADCAST);
                    prop_assert!(e.dont_care.iter().all(|&i| i < e.bytes.len()));
                    prop_assert!(e.matches(&e.bytes));
                }
                prop_assert!((1..=247).contains(&m.unit_id()));
            }
        }
    }
}
