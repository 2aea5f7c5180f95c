//! Unit tests of the whole plug-in through the `Protocol` trait.
//!
//! Index:
//! - `GOLDEN`: symmetric pairs for every command and every response kind:
//!   this text gives these bytes (and renders back to this canonical text);
//!   these response bytes give this framing, verdict and text. The CRCs in
//!   it were computed by a separate implementation (a few lines of Python
//!   outside this crate), not by the code under test.
//! - `golden_*` tests walk the table: encoding, rendering, expects_response,
//!   framing of every prefix, decoding.
//! - `parse_errors`: bad input and the one-line message it gets.
//! - `framing_*`: cases the table does not cover (garbage, lengths).
//! - `props`: proptest: framing and decode never panic and agree with each
//!   other on any bytes; render → parse gives the same encoding; parsing
//!   never panics on any text.

use hilt_protocol::{Framing, Protocol, Verdict};

use crate::wire::crc_ok;
use crate::{ModbusRequest, ModbusRtu, RequestKind};

/// Bytes from space-separated hex pairs.
fn h(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|p| u8::from_str_radix(p, 16).expect("test hex"))
        .collect()
}

fn parse(text: &str) -> ModbusRequest {
    ModbusRtu::default()
        .parse_request(text)
        .unwrap_or_else(|e| panic!("`{text}` should parse: {e}"))
}

fn bytes(text: &str) -> Vec<u8> {
    let mut out = vec![0xEE]; // encode must clear it
    ModbusRtu::default().encode(&parse(text), &mut out);
    out
}

/// One response to a golden request.
struct Rx {
    bytes: &'static str,
    framing: Framing,
    verdict: Verdict,
    text: &'static str,
}

/// One golden request and its responses.
struct Golden {
    text: &'static str,
    canonical: &'static str,
    bytes: &'static str,
    expects_response: bool,
    responses: &'static [Rx],
}

const fn rx(bytes: &'static str, framing: Framing, verdict: Verdict, text: &'static str) -> Rx {
    Rx {
        bytes,
        framing,
        verdict,
        text,
    }
}

use Framing::{Complete, NeedMore, UntilSilence};
use Verdict::{Answer, Exception, Malformed};

#[rustfmt::skip]
const GOLDEN: &[Golden] = &[
    // 0x01: the specification's own example (coils 20..=29 are 0x13..).
    Golden { text: "read-coils 0x0013 10", canonical: "read-coils 0x0013 10",
        bytes: "01 01 00 13 00 0A 4D C8", expects_response: true, responses: &[
        rx("01 01 02 CD 01 2C AC", Complete(7), Answer, "coils 0x0013: 10110011 10"),
        rx("01 01 02 CD 05 2D 6F", Complete(7), Malformed,
            "padding bits after the last of 10 coils are not zero: 01 01 02 CD 05 2D 6F"),
        rx("01 01 01 CD 90 1D", Complete(6), Malformed,
            "byte count 1 for 10 coils, expected 2: 01 01 01 CD 90 1D"),
        rx("01 81 02 C1 91", Complete(5), Exception(2), "exception 0x02 illegal data address"),
    ]},
    Golden { text: "read-discrete 0 8", canonical: "read-discrete 0x0000 8",
        bytes: "01 02 00 00 00 08 79 CC", expects_response: true, responses: &[
        rx("01 02 01 FE 20 08", Complete(6), Answer, "discrete 0x0000: 01111111"),
        rx("01 82 01 81 60", Complete(5), Exception(1), "exception 0x01 illegal function"),
    ]},
    Golden { text: "read-discrete 0 0", canonical: "read-discrete 0x0000 0",
        bytes: "01 02 00 00 00 00 78 0A", expects_response: true, responses: &[
        rx("01 02 00 21 60", Complete(5), Answer, "discrete 0x0000: (none)"),
        rx("01 82 03 00 A1", Complete(5), Exception(3), "exception 0x03 illegal data value"),
    ]},
    // 0x03 with every way a register answer can be wrong.
    Golden { text: "read-holding 0x0000 4", canonical: "read-holding 0x0000 4",
        bytes: "01 03 00 00 00 04 44 09", expects_response: true, responses: &[
        rx("", NeedMore, Verdict::Silence, "no response"),
        rx("01 03 08 00 01 00 02 00 03 FF FF 0D 67", Complete(13), Answer,
            "holding 0x0000: 1 2 3 65535"),
        rx("01 03 06 00 01 00 02 00 03 FD 74", Complete(11), Malformed,
            "byte count 6 for 4 registers, expected 8: 01 03 06 00 01 00 02 00 03 FD 74"),
        rx("01 03 08 00 01 00 02 3A 33", NeedMore, Malformed,
            "byte count 8, but 4 bytes follow: 01 03 08 00 01 00 02 3A 33"),
        rx("01 03 08 00 01 00 02 00 03 FF FF 00 00", UntilSilence, Malformed,
            "bad CRC (ends 00 00, expected 0D 67): 01 03 08 00 01 00 02 00 03 FF FF 00 00"),
        rx("02 03 08 00 01 00 02 00 03 FF FF 02 23", UntilSilence, Malformed,
            "unit id 0x02, expected 0x01: 02 03 08 00 01 00 02 00 03 FF FF 02 23"),
        rx("01 04 08 00 01 00 02 00 03 FF FF BC BD", UntilSilence, Malformed,
            "function 0x04, expected 0x03 or its exception 0x83: 01 04 08 00 01 00 02 00 03 FF FF BC BD"),
        rx("01 83", NeedMore, Malformed, "too short (2 bytes): 01 83"),
        rx("01 83 02 00 F1 50", UntilSilence, Malformed,
            "exception response of 6 bytes, expected 5: 01 83 02 00 F1 50"),
        rx("01 83 07 00 F2", Complete(5), Exception(7), "exception 0x07 (not a standard code)"),
        // The CRC's first byte reads as a byte count of 0x40.
        rx("01 03 40 21", NeedMore, Malformed, "no byte count: 01 03 40 21"),
    ]},
    Golden { text: "01 03 0000 0004", canonical: "frame 01 03 00 00 00 04",
        bytes: "01 03 00 00 00 04 44 09", expects_response: true, responses: &[
        rx("01 03 08 00 01 00 02 00 03 FF FF 0D 67", Complete(13), Answer,
            "function 0x03: 08 00 01 00 02 00 03 FF FF"),
        rx("01 03 08 00 01 00 02 3A 33", NeedMore, Malformed,
            "9 bytes, but function 0x03 says 13: 01 03 08 00 01 00 02 3A 33"),
    ]},
    Golden { text: "READ-INPUT 0x10 2", canonical: "read-input 0x0010 2",
        bytes: "01 04 00 10 00 02 70 0E", expects_response: true, responses: &[
        rx("01 04 04 00 11 00 00 AB 81", Complete(9), Answer, "input 0x0010: 17 0"),
    ]},
    // 0x05: on, off and an invalid value, which is sent as given.
    Golden { text: "write-coil 3 on", canonical: "write-coil 0x0003 on",
        bytes: "01 05 00 03 FF 00 7C 3A", expects_response: true, responses: &[
        rx("01 05 00 03 FF 00 7C 3A", Complete(8), Answer, "wrote coil 0x0003: on"),
        rx("01 05 00 03 00 00 3D CA", Complete(8), Malformed,
            "echo differs from the request: 01 05 00 03 00 00 3D CA"),
        rx("01 85 04 43 53", Complete(5), Exception(4), "exception 0x04 server device failure"),
    ]},
    Golden { text: "write-coil 0x0003 OFF", canonical: "write-coil 0x0003 off",
        bytes: "01 05 00 03 00 00 3D CA", expects_response: true, responses: &[
        rx("01 05 00 03 00 00 3D CA", Complete(8), Answer, "wrote coil 0x0003: off"),
    ]},
    Golden { text: "write-coil 3 4660", canonical: "write-coil 0x0003 0x1234",
        bytes: "01 05 00 03 12 34 30 BD", expects_response: true, responses: &[
        rx("01 85 03 02 91", Complete(5), Exception(3), "exception 0x03 illegal data value"),
    ]},
    // 0x06, and a broadcast, which is never answered.
    Golden { text: "write-register 0x0000 0x1234", canonical: "write-register 0x0000 0x1234",
        bytes: "01 06 00 00 12 34 84 BD", expects_response: true, responses: &[
        rx("01 06 00 00 12 34 84 BD", Complete(8), Answer, "wrote holding 0x0000: 4660"),
        rx("01 06 00 00 12 35 45 7D", Complete(8), Malformed,
            "echo differs from the request: 01 06 00 00 12 35 45 7D"),
        rx("01 06 00 00 12 99 45", NeedMore, Malformed, "7 bytes, expected 8: 01 06 00 00 12 99 45"),
    ]},
    Golden { text: "@0 write-register 0 5", canonical: "@0 write-register 0x0000 0x0005",
        bytes: "00 06 00 00 00 05 48 18", expects_response: false, responses: &[
        rx("", NeedMore, Verdict::Silence, "no response"),
        rx("00 06 00 00 00 05 48 18", Complete(8), Malformed,
            "answer to a broadcast, which is never answered: 00 06 00 00 00 05 48 18"),
    ]},
    Golden { text: "@0x11 read-exception-status", canonical: "@17 read-exception-status",
        bytes: "11 07 4C 22", expects_response: true, responses: &[
        rx("11 07 6D E2 18", Complete(5), Answer, "exception status 0x6D"),
    ]},
    // 0x08: an echo, a counter, and Force Listen Only, never answered.
    Golden { text: "diagnostics 0 0x1234 0x5678", canonical: "diagnostics 0x0000 0x1234 0x5678",
        bytes: "01 08 00 00 12 34 56 78 73 33", expects_response: true, responses: &[
        rx("01 08 00 00 12 34 56 78 73 33", Complete(10), Answer,
            "diagnostics 0x0000 return query data: 0x1234 0x5678"),
        rx("01 08 00 00 12 34 56 79 B2 F3", Complete(10), Malformed,
            "echo differs from the request: 01 08 00 00 12 34 56 79 B2 F3"),
        rx("01 08 00 00 12 34 ED 7C", NeedMore, Malformed,
            "8 bytes, expected 10: 01 08 00 00 12 34 ED 7C"),
    ]},
    Golden { text: "diagnostics 0x000B 0", canonical: "diagnostics 0x000B 0x0000",
        bytes: "01 08 00 0B 00 00 91 C9", expects_response: true, responses: &[
        rx("01 08 00 0B 00 11 51 C5", Complete(8), Answer, "diagnostics 0x000B bus messages: 17"),
        rx("01 08 00 0C 00 11 E0 04", Complete(8), Malformed,
            "sub-function 0x000C, expected 0x000B: 01 08 00 0C 00 11 E0 04"),
    ]},
    Golden { text: "diagnostics 0x00AA", canonical: "diagnostics 0x00AA",
        bytes: "01 08 00 AA 00 65", expects_response: true, responses: &[
        rx("01 88 01 87 C0", Complete(5), Exception(1), "exception 0x01 illegal function"),
        rx("01 08 00 AA 00 65", Complete(6), Answer, "diagnostics 0x00AA: (none)"),
    ]},
    Golden { text: "diagnostics 4 0", canonical: "diagnostics 0x0004 0x0000",
        bytes: "01 08 00 04 00 00 A1 CA", expects_response: false, responses: &[
        rx("", NeedMore, Verdict::Silence, "no response"),
    ]},
    // 0x0F: the specification's example (coils 20..=29 = 0x13..).
    Golden { text: "write-coils 0x0013 1011001110", canonical: "write-coils 0x0013 1011001110",
        bytes: "01 0F 00 13 00 0A 02 CD 01 72 CB", expects_response: true, responses: &[
        rx("01 0F 00 13 00 0A 24 09", Complete(8), Answer, "wrote 10 coils at 0x0013"),
        rx("01 0F 00 13 00 09 64 08", Complete(8), Malformed,
            "echo differs from the request: 01 0F 00 13 00 09 64 08"),
    ]},
    Golden { text: "write-coils 7", canonical: "write-coils 0x0007",
        bytes: "01 0F 00 07 00 00 00 0A 4B", expects_response: true, responses: &[
        rx("01 8F 03 04 31", Complete(5), Exception(3), "exception 0x03 illegal data value"),
    ]},
    Golden { text: "write-registers 1 0x000A 258", canonical: "write-registers 0x0001 0x000A 0x0102",
        bytes: "01 10 00 01 00 02 04 00 0A 01 02 92 30", expects_response: true, responses: &[
        rx("01 10 00 01 00 02 10 08", Complete(8), Answer, "wrote 2 registers at 0x0001"),
        rx("01 90 04 4D C3", Complete(5), Exception(4), "exception 0x04 server device failure"),
        rx("01 10 00 02 00 02 E0 08", Complete(8), Malformed,
            "echo differs from the request: 01 10 00 02 00 02 E0 08"),
    ]},
    Golden { text: "report-server-id", canonical: "report-server-id",
        bytes: "01 11 C0 2C", expects_response: true, responses: &[
        rx("01 11 10 4E FF 68 69 6C 74 20 4D 42 2D 4E 4F 44 45 2D 31 02 03", Complete(21), Answer,
            r#"server id 0x4E run 0xFF "hilt MB-NODE-1""#),
        rx("01 11 03 4E 00 0A 1D 9D", Complete(8), Answer, r#"server id 0x4E run 0x00 "\x0A""#),
        rx("01 11 00 2C 50", Complete(5), Answer, "server id (none)"),
    ]},
    // 0x14: the specification's example.
    Golden { text: "read-file-record 4/1/2 3/9/2", canonical: "read-file-record 4/1/2 3/9/2",
        bytes: "01 14 0E 06 00 04 00 01 00 02 06 00 03 00 09 00 02 F4 FD", expects_response: true,
        responses: &[
        rx("01 14 0C 05 06 0D FE 00 20 05 06 33 CD 00 40 79 A1", Complete(17), Answer,
            "file records 4/1: 3582 32; 3/9: 13261 64"),
        rx("01 14 0C 05 07 0D FE 00 20 05 06 33 CD 00 40 7D 5D", Complete(17), Malformed,
            "sub-response 1 has reference type 7, expected 6: 01 14 0C 05 07 0D FE 00 20 05 06 33 CD 00 40 7D 5D"),
        rx("01 14 0A 05 06 0D FE 00 20 03 06 33 CD 41 83", Complete(15), Malformed,
            "sub-response 2 has length 3, expected 5 for 2 records: 01 14 0A 05 06 0D FE 00 20 03 06 33 CD 41 83"),
        rx("01 14 06 05 06 0D FE 00 20 8B 4E", Complete(11), Malformed,
            "sub-response 2 is missing: 01 14 06 05 06 0D FE 00 20 8B 4E"),
        rx("01 94 02 CF 01", Complete(5), Exception(2), "exception 0x02 illegal data address"),
    ]},
    // 0x15: the specification's example; the answer is an echo.
    Golden { text: "write-file-record 4/7=0x06AF,0x04BE,0x100D",
        canonical: "write-file-record 4/7=0x06AF,0x04BE,0x100D",
        bytes: "01 15 0D 06 00 04 00 07 00 03 06 AF 04 BE 10 0D D6 0B", expects_response: true,
        responses: &[
        rx("01 15 0D 06 00 04 00 07 00 03 06 AF 04 BE 10 0D D6 0B", Complete(18), Answer,
            "wrote file records 4/7: 1711 1214 4109"),
        rx("01 15 0D 06 00 04 00 07 00 03 06 AF 04 BE 10 0E 96 0A", Complete(18), Malformed,
            "echo differs from the request: 01 15 0D 06 00 04 00 07 00 03 06 AF 04 BE 10 0E 96 0A"),
    ]},
    Golden { text: "write-file-record 1/0=0x1,0x2 3/5=7 2/1=", canonical:
        "write-file-record 1/0=0x0001,0x0002 3/5=0x0007 2/1=",
        bytes: "01 15 1B 06 00 01 00 00 00 02 00 01 00 02 06 00 03 00 05 00 01 00 07 06 00 02 00 01 00 00 38 C2",
        expects_response: true, responses: &[
        rx("01 95 03 0F 51", Complete(5), Exception(3), "exception 0x03 illegal data value"),
    ]},
    // 0x16: the specification's example.
    Golden { text: "mask-write 4 0xF2 0x25", canonical: "mask-write 0x0004 0x00F2 0x0025",
        bytes: "01 16 00 04 00 F2 00 25 67 EE", expects_response: true, responses: &[
        rx("01 16 00 04 00 F2 00 25 67 EE", Complete(10), Answer,
            "masked holding 0x0004: and 0x00F2 or 0x0025"),
        rx("01 16 00 04 00 F2 00 24 A6 2E", Complete(10), Malformed,
            "echo differs from the request: 01 16 00 04 00 F2 00 24 A6 2E"),
    ]},
    // 0x17: the specification's example.
    Golden { text: "read-write 3 6 0x0E 0xFF 0xFF 0xFF",
        canonical: "read-write 0x0003 6 0x000E 0x00FF 0x00FF 0x00FF",
        bytes: "01 17 00 03 00 06 00 0E 00 03 06 00 FF 00 FF 00 FF 46 91", expects_response: true,
        responses: &[
        rx("01 17 0C 00 FE 0A CD 00 01 00 03 00 0D 00 FF 1D 79", Complete(17), Answer,
            "holding 0x0003: 254 2765 1 3 13 255"),
        rx("01 17 02 00 FE 3C 34", Complete(7), Malformed,
            "byte count 2 for 6 registers, expected 12: 01 17 02 00 FE 3C 34"),
    ]},
    // 0x18: the specification's example, and an empty queue.
    Golden { text: "read-fifo 0x04DE", canonical: "read-fifo 0x04DE",
        bytes: "01 18 04 DE 03 47", expects_response: true, responses: &[
        rx("01 18 00 06 00 02 01 B8 12 84 19 18", Complete(12), Answer, "fifo 0x04DE: 440 4740"),
        rx("01 18 00 02 00 00 80 08", Complete(8), Answer, "fifo 0x04DE: (none)"),
        rx("01 18 00 06 00 03 01 B8 12 84 24 D8", Complete(12), Malformed,
            "FIFO count 3, but byte count 6 holds 2 values: 01 18 00 06 00 03 01 B8 12 84 24 D8"),
        rx("01 18 00 06 00 02 01 C8 30", NeedMore, Malformed,
            "byte count 6, but 3 bytes follow: 01 18 00 06 00 02 01 C8 30"),
    ]},
    // 0x2B / 0x0E: the node's basic identification, in one go and in two.
    Golden { text: "read-device-id 1 0", canonical: "read-device-id 1 0x00",
        bytes: "01 2B 0E 01 00 70 77", expects_response: true, responses: &[
        rx("01 2B 0E 01 82 00 00 03 00 04 68 69 6C 74 01 09 4D 42 2D 4E 4F 44 45 2D 31 02 03 31 2E 30 0A 80", Complete(32),
            Answer, r#"device id 1 conformity 0x82: 0x00 "hilt", 0x01 "MB-NODE-1", 0x02 "1.0""#),
        rx("01 2B 0E 01 82 FF 02 02 00 04 68 69 6C 74 01 09 4D 42 2D 4E 4F 44 45 2D 31 A5 07", Complete(27),
            Answer, r#"device id 1 conformity 0x82: 0x00 "hilt", 0x01 "MB-NODE-1"; more from 0x02"#),
        rx("01 2B 0E 02 82 00 00 00 4A 53", Complete(10), Malformed,
            "read device id code 2, expected 1: 01 2B 0E 02 82 00 00 00 4A 53"),
        rx("01 2B 0E 01 82 00 00 02 00 04 68 69 6C 74 B6 79", NeedMore, Malformed,
            "object 2 of 2 is missing: 01 2B 0E 01 82 00 00 02 00 04 68 69 6C 74 B6 79"),
        rx("01 2B 0D 01 82 00 00 00 0E 60", UntilSilence, Malformed,
            "MEI type 0x0D, expected 0x0E: 01 2B 0D 01 82 00 00 00 0E 60"),
        rx("01 AB 03 1F 31", Complete(5), Exception(3), "exception 0x03 illegal data value"),
    ]},
    Golden { text: "read-device-id 4 0x05", canonical: "read-device-id 4 0x05",
        bytes: "01 2B 0E 04 05 B3 24", expects_response: true, responses: &[
        rx("01 2B 0E 04 82 00 00 01 05 0B 6C 6D 33 73 36 39 36 35 65 76 62 5C 79", Complete(23), Answer,
            r#"device id 4 conformity 0x82: 0x05 "lm3s6965evb""#),
        rx("01 2B 0E 04 82 00 00 01 04 03 78 22 5C 00 40", Complete(15), Malformed,
            r#"individual access to object 0x05 answered with 0x04: 01 2B 0E 04 82 00 00 01 04 03 78 22 5C 00 40"#),
    ]},
    // Bytes as given: a PDU, a frame with an unknown function, raw bytes.
    Golden { text: "@2 pdu 03 0000 0x0004", canonical: "@2 pdu 03 00 00 00 04",
        bytes: "02 03 00 00 00 04 44 3A", expects_response: true, responses: &[
        rx("02 03 02 00 07 BD 86", Complete(7), Answer, "function 0x03: 02 00 07"),
        rx("02 83 02 30 F1", Complete(5), Exception(2), "exception 0x02 illegal data address"),
        rx("01 03 02 00 07 F9 86", UntilSilence, Malformed,
            "unit id 0x01, expected 0x02: 01 03 02 00 07 F9 86"),
    ]},
    Golden { text: "frame 01 41", canonical: "frame 01 41",
        bytes: "01 41 C0 10", expects_response: true, responses: &[
        rx("01 C1 01 B0 50", Complete(5), Exception(1), "exception 0x01 illegal function"),
        rx("01 41 C0 10", UntilSilence, Answer, "function 0x41: (no data)"),
        rx("01 41 AA BB 6F 1F", UntilSilence, Answer, "function 0x41: AA BB"),
    ]},
    Golden { text: "frame 01", canonical: "frame 01",
        bytes: "01 7E 80", expects_response: false, responses: &[
        rx("01 07 00 22 30", UntilSilence, Answer, "unit 0x01 function 0x07: 00"),
    ]},
    Golden { text: "raw 01 03 00 00 00 04 44 09", canonical: "raw 01 03 00 00 00 04 44 09",
        bytes: "01 03 00 00 00 04 44 09", expects_response: true, responses: &[
        rx("01 03 02 00 07 F9 86", Complete(7), Answer, "function 0x03: 02 00 07"),
    ]},
    Golden { text: "raw 0x0103 0000 0004 0000", canonical: "raw 01 03 00 00 00 04 00 00",
        bytes: "01 03 00 00 00 04 00 00", expects_response: false, responses: &[
        rx("", NeedMore, Verdict::Silence, "no response"),
        rx("01 03 02 00 07 F9 86", UntilSilence, Answer, "unit 0x01 function 0x03: 02 00 07"),
        rx("01 83 02 C0 F1", UntilSilence, Exception(2),
            "exception 0x02 illegal data address (unit 0x01 function 0x83)"),
    ]},
];

#[test]
fn golden_requests_encode_render_and_expect() {
    let modbus = ModbusRtu::default();
    for g in GOLDEN {
        let request = parse(g.text);
        assert_eq!(bytes(g.text), h(g.bytes), "bytes of `{}`", g.text);
        assert_eq!(
            modbus.render_request(&request),
            g.canonical,
            "rendering of `{}`",
            g.text
        );
        assert_eq!(
            bytes(g.canonical),
            h(g.bytes),
            "bytes of canonical `{}`",
            g.canonical
        );
        assert_eq!(
            modbus.expects_response(&request),
            g.expects_response,
            "expects_response of `{}`",
            g.text
        );
    }
}

#[test]
fn golden_responses_frame_and_decode() {
    let modbus = ModbusRtu::default();
    for g in GOLDEN {
        let request = parse(g.text);
        for r in g.responses {
            let rx = h(r.bytes);
            let ctx = format!("`{}` answered {}", g.text, r.bytes);
            assert_eq!(modbus.framing(&request, &rx), r.framing, "framing of {ctx}");
            if let Framing::Complete(n) = r.framing {
                // Complete at exactly n bytes: every shorter prefix needs
                // more, and bytes after it (the next frame) do not matter.
                for k in 0..n {
                    assert_eq!(
                        modbus.framing(&request, &rx[..k]),
                        NeedMore,
                        "{ctx}, {k} bytes"
                    );
                }
                let mut longer = rx.clone();
                longer.extend_from_slice(&[0x01, 0x02, 0x03]);
                assert_eq!(
                    modbus.framing(&request, &longer),
                    Complete(n),
                    "{ctx} and more"
                );
            }
            let decoded = modbus.decode(&request, &rx);
            assert_eq!(decoded.verdict, r.verdict, "verdict of {ctx}");
            assert_eq!(decoded.text, r.text, "text of {ctx}");
        }
    }
}

#[test]
fn default_unit_is_used_and_omitted() {
    let modbus = ModbusRtu { default_unit: 7 };
    let request = modbus.parse_request("read-holding 0 1").unwrap();
    assert_eq!(request.unit, 7);
    assert_eq!(modbus.render_request(&request), "read-holding 0x0000 1");
    let other = modbus.parse_request("@1 read-holding 0 1").unwrap();
    assert_eq!(modbus.render_request(&other), "@1 read-holding 0x0000 1");
    assert_eq!(ModbusRtu::default().default_unit, 1);
}

#[test]
fn comments_and_blank_lines() {
    assert!(crate::is_blank_or_comment(""));
    assert!(crate::is_blank_or_comment("   \t"));
    assert!(crate::is_blank_or_comment("# read the sensors"));
    assert!(crate::is_blank_or_comment("   # indented"));
    assert!(!crate::is_blank_or_comment("read-holding 0 1 # trailing"));
    // A trailing comment is not part of the request.
    assert_eq!(
        bytes("read-holding 0 4 # four sensors"),
        bytes("read-holding 0 4")
    );
}

#[test]
fn oversized_requests_encode_but_expect_no_answer() {
    // 127 registers: byte count 254, a 260-byte frame the node drops.
    let values = vec!["1"; 127].join(" ");
    let request = parse(&format!("write-registers 0 {values}"));
    let wire = request.to_bytes();
    assert_eq!(wire.len(), 9 + 254);
    assert_eq!(wire[6], 254);
    assert!(!ModbusRtu::default().expects_response(&request));
}

#[test]
fn parse_errors() {
    let cases: &[(&str, &str)] = &[
        ("", "empty request: expected a command such as `read-holding 0x0000 4`, or the hex bytes of a frame"),
        ("  # only a comment", "empty request: expected a command such as `read-holding 0x0000 4`, or the hex bytes of a frame"),
        ("read-holding", "read-holding takes ADDR QTY, e.g. read-holding 0x0000 4"),
        ("read-holding 0 4 5", "read-holding takes ADDR QTY, e.g. read-holding 0x0000 4"),
        ("read-holding 0 70000", "read-holding: QTY `70000` is not a number 0..=65535 (decimal or 0x hex); read-holding takes ADDR QTY, e.g. read-holding 0x0000 4"),
        ("read-holding 0x 4", "read-holding: ADDR `0x` is not a number 0..=65535 (decimal or 0x hex); read-holding takes ADDR QTY, e.g. read-holding 0x0000 4"),
        ("read-holding +1 4", "read-holding: ADDR `+1` is not a number 0..=65535 (decimal or 0x hex); read-holding takes ADDR QTY, e.g. read-holding 0x0000 4"),
        ("read-holding -1 4", "read-holding: ADDR `-1` is not a number 0..=65535 (decimal or 0x hex); read-holding takes ADDR QTY, e.g. read-holding 0x0000 4"),
        ("read-coils 0x10000 1", "read-coils: ADDR `0x10000` is not a number 0..=65535 (decimal or 0x hex); read-coils takes ADDR QTY, e.g. read-coils 0x0000 8"),
        ("write-coil 3 maybe", "write-coil: VALUE `maybe` is not on, off or a number 0..=65535 (decimal or 0x hex); write-coil takes ADDR on|off|VALUE, e.g. write-coil 0x0003 on"),
        ("read-exception-status 1", "read-exception-status takes no arguments, e.g. read-exception-status"),
        ("report-server-id now", "report-server-id takes no arguments, e.g. report-server-id"),
        ("diagnostics", "diagnostics takes SUB [WORD...], e.g. diagnostics 0x0000 0x1234"),
        ("write-coils 0 10201", "write-coils: BITS `10201` is not a string of 0 and 1 (the first is coil ADDR); write-coils takes ADDR BITS, e.g. write-coils 0x0000 10110"),
        ("write-coils 0 1 1", "write-coils takes ADDR BITS, e.g. write-coils 0x0000 10110"),
        ("write-registers", "write-registers takes ADDR VALUE..., e.g. write-registers 0x0000 1 2 3"),
        ("read-file-record 1/0", "read-file-record: sub-request `1/0` is not FILE/RECORD/LEN with numbers 0..=65535; read-file-record takes FILE/RECORD/LEN..., e.g. read-file-record 1/0/4 2/10/1"),
        ("read-file-record 1/0/4/5", "read-file-record: sub-request `1/0/4/5` is not FILE/RECORD/LEN with numbers 0..=65535; read-file-record takes FILE/RECORD/LEN..., e.g. read-file-record 1/0/4 2/10/1"),
        ("write-file-record 1/0", "write-file-record: sub-request `1/0` is not FILE/RECORD=V,V,... with numbers 0..=65535; write-file-record takes FILE/RECORD=V,V,..., e.g. write-file-record 1/0=0x1,0x2 3/5=7"),
        ("write-file-record 1/0=1,,2", "write-file-record: sub-request `1/0=1,,2` is not FILE/RECORD=V,V,... with numbers 0..=65535; write-file-record takes FILE/RECORD=V,V,..., e.g. write-file-record 1/0=0x1,0x2 3/5=7"),
        ("mask-write 4 0xF2", "mask-write takes ADDR AND OR, e.g. mask-write 0x0004 0x00F2 0x0025"),
        ("read-write 0 4", "read-write takes RADDR RQTY WADDR VALUE..., e.g. read-write 0x0000 4 0x0010 1 2"),
        ("read-fifo", "read-fifo takes ADDR, e.g. read-fifo 0x0200"),
        ("read-device-id 1 256", "read-device-id: OBJECT `256` is not a number 0..=255 (decimal or 0x hex); read-device-id takes CODE OBJECT, e.g. read-device-id 1 0x00"),
        ("pdu", "pdu takes HEX..., e.g. pdu 03 0000 0004"),
        ("pdu 03 000", "pdu: HEX `000` is not hex bytes (pairs of hex digits, optional 0x per token); pdu takes HEX..., e.g. pdu 03 0000 0004"),
        ("raw zz", "raw: HEX `zz` is not hex bytes (pairs of hex digits, optional 0x per token); raw takes HEX..., e.g. raw 01 03 0000 0004 4409"),
        ("@2 frame 01 03", "frame carries its unit id as its first byte, so @UNIT is not allowed, e.g. frame 01 03 0000 0004"),
        ("@2 01 03", "frame carries its unit id as its first byte, so @UNIT is not allowed, e.g. frame 01 03 0000 0004"),
        ("@2 raw 01 03", "raw carries its unit id as its first byte, so @UNIT is not allowed, e.g. raw 01 03 0000 0004 4409"),
        ("1 3 0 0 0 4", "frame: HEX `1` is not hex bytes (pairs of hex digits, optional 0x per token); frame takes HEX..., e.g. frame 01 03 0000 0004"),
        ("@256 read-holding 0 1", "`@256` is not @UNIT with a unit id 0..=255 (decimal or 0x hex), e.g. @2 read-holding 0x0000 4"),
        ("@ read-holding 0 1", "`@` is not @UNIT with a unit id 0..=255 (decimal or 0x hex), e.g. @2 read-holding 0x0000 4"),
        ("@2", "@UNIT must be followed by a command, e.g. @2 read-holding 0x0000 4"),
        ("read-holdings 0 1", "unknown command `read-holdings`: expected one of read-coils, read-discrete, read-holding, read-input, write-coil, write-register, read-exception-status, diagnostics, write-coils, write-registers, report-server-id, read-file-record, write-file-record, mask-write, read-write, read-fifo, read-device-id, pdu, frame, raw, or the hex bytes of a frame"),
    ];
    let modbus = ModbusRtu::default();
    for (text, message) in cases {
        match modbus.parse_request(text) {
            Ok(r) => panic!("`{text}` should not parse, got {r:?}"),
            Err(e) => assert_eq!(e.message, *message, "error for `{text}`"),
        }
    }
}

#[test]
fn encoding_limits_are_parse_errors() {
    let modbus = ModbusRtu::default();
    let too_many = |cmd: &str, n: usize, item: &str| format!("{cmd} {}", vec![item; n].join(" "));
    let err = |text: String| modbus.parse_request(&text).unwrap_err().message;
    assert!(modbus
        .parse_request(&too_many("write-registers 0", 127, "1"))
        .is_ok());
    assert_eq!(
        err(too_many("write-registers 0", 128, "1")),
        "write-registers takes at most 127 VALUEs (the byte count is one byte)"
    );
    assert_eq!(
        err(too_many("read-write 0 1 0", 128, "1")),
        "read-write takes at most 127 VALUEs (the byte count is one byte)"
    );
    assert!(modbus
        .parse_request(&format!("write-coils 0 {}", "1".repeat(2040)))
        .is_ok());
    assert_eq!(
        err(format!("write-coils 0 {}", "1".repeat(2041))),
        "write-coils takes at most 2040 BITS (the byte count is one byte)"
    );
    assert!(modbus
        .parse_request(&too_many("read-file-record", 36, "1/0/1"))
        .is_ok());
    assert_eq!(
        err(too_many("read-file-record", 37, "1/0/1")),
        "read-file-record takes at most 36 sub-requests (the byte count is one byte)"
    );
    // 7 + 2 * 124 = 255 fits; one more value does not.
    let values = |n: usize| vec!["1"; n].join(",");
    assert!(modbus
        .parse_request(&format!("write-file-record 1/0={}", values(124)))
        .is_ok());
    assert_eq!(
        err(format!("write-file-record 1/0={}", values(125))),
        "write-file-record sub-requests take 257 bytes, at most 255 fit (7 per sub-request plus 2 per value)"
    );
}

#[test]
fn framing_of_garbage_and_impossible_lengths() {
    let modbus = ModbusRtu::default();
    let holding = parse("read-holding 0 4");
    // Nothing yet; one byte of the right unit.
    assert_eq!(modbus.framing(&holding, &[]), NeedMore);
    assert_eq!(modbus.framing(&holding, &[0x01]), NeedMore);
    // The wrong unit from the first byte.
    assert_eq!(modbus.framing(&holding, &[0x55]), UntilSilence);
    // A byte count of 255 announces a 260-byte frame, over the maximum.
    assert_eq!(modbus.framing(&holding, &[0x01, 0x03, 0xFF]), UntilSilence);
    // Read FIFO with a 16-bit byte count over the maximum.
    let fifo = parse("read-fifo 0x0200");
    assert_eq!(modbus.framing(&fifo, &[0x01, 0x18, 0x01]), NeedMore);
    assert_eq!(
        modbus.framing(&fifo, &[0x01, 0x18, 0x01, 0x00]),
        UntilSilence
    );
    // Device id whose objects run past 256 bytes.
    let id = parse("read-device-id 1 0");
    let mut rx = h("01 2B 0E 01 82 00 00 03");
    rx.extend_from_slice(&[0x00, 0xF0]);
    rx.extend_from_slice(&[0x41; 0xF0]);
    rx.extend_from_slice(&[0x01, 0xF0]);
    assert_eq!(modbus.framing(&id, &rx), UntilSilence);
    // Garbage raw bytes: no request function to measure the answer by.
    let garbage = parse("raw FF FF FF");
    assert_eq!(modbus.framing(&garbage, &h("FF 03 02 00 07")), UntilSilence);
}

#[test]
fn decode_length_limits() {
    let modbus = ModbusRtu::default();
    let holding = parse("read-holding 0 4");
    let long = vec![0x01; 257];
    let decoded = modbus.decode(&holding, &long);
    assert_eq!(decoded.verdict, Malformed);
    assert!(decoded
        .text
        .starts_with("257 bytes, over the 256-byte maximum: 01 01 "));
    let decoded = modbus.decode(&holding, &[0x01]);
    assert_eq!(decoded.text, "too short (1 bytes): 01");
}

mod props {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::framing::{response_len, Len};
    use crate::request::{MAX_COILS, MAX_FILE_READS, MAX_REGISTER_VALUES};
    use crate::{FileRecordRead, FileRecordWrite};

    fn kind() -> impl Strategy<Value = RequestKind> {
        let u16s = |max: usize| vec(any::<u16>(), 0..=max);
        let addr_qty = || (any::<u16>(), any::<u16>());
        prop_oneof![
            addr_qty().prop_map(|(address, quantity)| RequestKind::ReadCoils { address, quantity }),
            addr_qty().prop_map(|(address, quantity)| RequestKind::ReadDiscreteInputs {
                address,
                quantity
            }),
            addr_qty().prop_map(|(address, quantity)| RequestKind::ReadHoldingRegisters {
                address,
                quantity
            }),
            addr_qty().prop_map(|(address, quantity)| RequestKind::ReadInputRegisters {
                address,
                quantity
            }),
            (
                any::<u16>(),
                prop_oneof![Just(0xFF00u16), Just(0), any::<u16>()]
            )
                .prop_map(|(address, value)| RequestKind::WriteSingleCoil { address, value }),
            addr_qty()
                .prop_map(|(address, value)| RequestKind::WriteSingleRegister { address, value }),
            Just(RequestKind::ReadExceptionStatus),
            (any::<u16>(), u16s(4))
                .prop_map(|(sub_function, data)| RequestKind::Diagnostics { sub_function, data }),
            (any::<u16>(), vec(any::<bool>(), 0..=MAX_COILS))
                .prop_map(|(address, coils)| RequestKind::WriteMultipleCoils { address, coils }),
            (any::<u16>(), u16s(MAX_REGISTER_VALUES)).prop_map(|(address, values)| {
                RequestKind::WriteMultipleRegisters { address, values }
            }),
            Just(RequestKind::ReportServerId),
            vec(
                (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(file, record, length)| {
                    FileRecordRead {
                        file,
                        record,
                        length,
                    }
                }),
                0..=MAX_FILE_READS
            )
            .prop_map(|records| RequestKind::ReadFileRecord { records }),
            vec(
                (any::<u16>(), any::<u16>(), u16s(40)).prop_map(|(file, record, values)| {
                    FileRecordWrite {
                        file,
                        record,
                        values,
                    }
                }),
                0..=4
            )
            .prop_map(|records| RequestKind::WriteFileRecord { records })
            .prop_filter("byte count fits", |k| k.check_encodable().is_ok()),
            (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(address, and_mask, or_mask)| {
                RequestKind::MaskWriteRegister {
                    address,
                    and_mask,
                    or_mask,
                }
            }),
            (
                any::<u16>(),
                any::<u16>(),
                any::<u16>(),
                u16s(MAX_REGISTER_VALUES)
            )
                .prop_map(|(read_address, read_quantity, write_address, values)| {
                    RequestKind::ReadWriteMultipleRegisters {
                        read_address,
                        read_quantity,
                        write_address,
                        values,
                    }
                }),
            any::<u16>().prop_map(|address| RequestKind::ReadFifoQueue { address }),
            (any::<u8>(), any::<u8>()).prop_map(|(read_code, object_id)| {
                RequestKind::ReadDeviceIdentification {
                    read_code,
                    object_id,
                }
            }),
            vec(any::<u8>(), 1..=40).prop_map(RequestKind::Pdu),
            vec(any::<u8>(), 1..=40).prop_map(RequestKind::Frame),
            vec(any::<u8>(), 1..=40).prop_map(RequestKind::Raw),
        ]
    }

    fn request() -> impl Strategy<Value = ModbusRequest> {
        (prop_oneof![Just(1u8), Just(0u8), any::<u8>()], kind())
            .prop_map(|(unit, kind)| ModbusRequest { unit, kind })
    }

    /// Responses: arbitrary bytes, some made to look like an answer (the
    /// request's unit id and function, or its exception), some also cut to
    /// the length their function says and given a good CRC, so that the
    /// deeper checks of `decode` run too.
    fn response_for(request: ModbusRequest) -> impl Strategy<Value = (ModbusRequest, Vec<u8>)> {
        let wire = request.to_bytes();
        let head = wire.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
        (vec(any::<u8>(), 0..=300), 0..4u8, any::<bool>()).prop_map(
            move |(mut rx, shape, exception)| {
                if shape >= 1 && rx.len() >= 2 && head.len() == 2 {
                    rx[0] = head[0];
                    rx[1] = head[1] | if exception { 0x80 } else { 0 };
                }
                if shape >= 2 && rx.len() >= 2 {
                    let len = if rx[1] & 0x80 != 0 {
                        Len::Exact(5)
                    } else {
                        response_len(rx[1], &rx, Some(wire.len()))
                    };
                    if let Len::Exact(n) = len {
                        rx.resize(n.min(300), 0);
                    }
                }
                if shape >= 3 && rx.len() >= 4 {
                    let n = rx.len() - 2;
                    let crc = crate::wire::crc16(&rx[..n]).to_le_bytes();
                    rx[n..].copy_from_slice(&crc);
                }
                (request.clone(), rx)
            },
        )
    }

    /// Words of the language and pieces of its arguments.
    const NEAR_MISSES: &[&str] = &[
        "@",
        "@1",
        "@0x",
        "read-holding",
        "write-coils",
        "read-file-record",
        "write-file-record",
        "read-device-id",
        "pdu",
        "raw",
        "frame",
        "0x",
        "0",
        "65536",
        "1/0/",
        "1/0=",
        "=,",
        "/",
        "on",
        "01",
        "0x0103",
        "#",
    ];

    proptest! {
        #[test]
        fn framing_and_decode_never_panic_and_agree(
            (request, rx) in request().prop_flat_map(response_for)
        ) {
            let modbus = ModbusRtu::default();
            match modbus.framing(&request, &rx) {
                Framing::Complete(n) => {
                    prop_assert!(n >= 4 && n <= rx.len() && n <= 256);
                    prop_assert!(crc_ok(&rx[..n]));
                    // Stable: the same n from exactly n bytes, and no
                    // shorter prefix is complete.
                    prop_assert_eq!(modbus.framing(&request, &rx[..n]), Framing::Complete(n));
                    for k in 0..n {
                        prop_assert_eq!(modbus.framing(&request, &rx[..k]), Framing::NeedMore);
                    }
                    // What framing cut out decodes without a length complaint
                    // from the CRC, unit or function checks.
                    let decoded = modbus.decode(&request, &rx[..n]);
                    if decoded.verdict == Verdict::Malformed {
                        prop_assert!(!decoded.text.starts_with("bad CRC"), "{}", decoded.text);
                        prop_assert!(!decoded.text.starts_with("unit id"), "{}", decoded.text);
                        prop_assert!(!decoded.text.starts_with("function 0x"), "{}", decoded.text);
                    }
                }
                Framing::NeedMore | Framing::UntilSilence => {}
            }
            for k in [0, 1, 2, 3, 4, 5, rx.len() / 2, rx.len()] {
                let part = &rx[..k.min(rx.len())];
                let _ = modbus.framing(&request, part);
                let decoded = modbus.decode(&request, part);
                prop_assert!(!decoded.text.contains('\n'));
                prop_assert!(!decoded.text.is_empty());
                prop_assert_eq!(decoded.verdict == Verdict::Silence, part.is_empty());
            }
        }

        #[test]
        fn render_parses_back_to_the_same_bytes(request in request(), default_unit in any::<u8>()) {
            let modbus = ModbusRtu { default_unit };
            let text = modbus.render_request(&request);
            prop_assert!(!text.contains('\n'));
            let parsed = modbus.parse_request(&text);
            prop_assert!(parsed.is_ok(), "`{}` does not parse: {:?}", text, parsed);
            let parsed = parsed.unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            modbus.encode(&request, &mut a);
            modbus.encode(&parsed, &mut b);
            prop_assert_eq!(a, b, "`{}`", text);
            prop_assert_eq!(modbus.render_request(&parsed), text);
        }

        #[test]
        fn parse_never_panics(text in ".{0,80}") {
            let _ = ModbusRtu::default().parse_request(&text);
        }

        #[test]
        fn parse_never_panics_on_near_misses(
            tokens in vec(prop_oneof![
                prop::sample::select(NEAR_MISSES).prop_map(str::to_owned),
                "[0-9a-fx/=,@]{1,6}",
            ], 0..8)
        ) {
            let _ = ModbusRtu::default().parse_request(&tokens.join(" "));
        }
    }
}

#[test]
fn a_stray_byte_after_a_complete_frame_waits_for_the_silence() {
    let p = ModbusRtu::default();
    let request = |text: &str| p.parse_request(text).unwrap();
    let mut frame = vec![0x01, 0x05, 0x00, 0x00, 0x45, 0x00];
    crate::wire::append_crc(&mut frame);
    let mut stray = frame.clone();
    stray.push(0x00);
    // The whole burst even passes a CRC check: crc(frame ++ lo) is hi, 0.
    assert!(crc_ok(&stray));
    let raw = |bytes: &[u8]| ModbusRequest::new(1, RequestKind::Raw(bytes.to_vec()));
    assert!(p.leaves_partial_frame(&raw(&stray)));
    assert!(!p.leaves_partial_frame(&raw(&frame)), "one whole frame");
    assert!(
        !p.leaves_partial_frame(&raw(&[frame.clone(), frame.clone()].concat())),
        "two whole frames"
    );
    assert!(
        !p.leaves_partial_frame(&raw(&[0xFF, 0x00, 0x12])),
        "garbage ends at the silence, before any answer"
    );
    assert!(!p.leaves_partial_frame(&request("read-holding 0 4")));
    let burst = crate::model::split_burst(&stray);
    assert_eq!(burst.frames, [frame.as_slice()]);
    assert_eq!(burst.rest, [0x00]);
}
