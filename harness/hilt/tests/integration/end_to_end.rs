//! The real firmware on the emulated board and the simulation, over the real
//! serial link: reset, and garbage followed by valid requests. (Every
//! function, checked against the reference model and pinned as snapshots,
//! is in the `suite` test binary's scenarios.)

use crate::common::{ask, run, start, Kind};

/// Changes every part of the state, resets, and checks it is all back.
fn reset_restores_reset_state(kind: Kind) {
    let mut target = start(kind);
    let changes = "
        write-register 0x0110 0xA55A
        write-register 0x0110 0x5AA5
        write-registers 0x0000 1 2 3
        write-register 0x0040 9
        write-register 0x0101 4
        write-coils 0 11111111
        write-file-record 2/5=0x55
        read-input 0 1
        read-input 0x0012 1
        write-register 0x0100 5
    ";
    for t in run(target.as_mut(), changes) {
        assert!(t.well_formed(), "{t:?}");
    }
    // The unit id is now 5.
    assert_eq!(
        ask(target.as_mut(), "@5 read-holding 0x0000 3"),
        "holding 0x0000: 1 2 3"
    );
    target.reset().expect("reset");
    let checks = [
        ("read-holding 0x0000 3", "holding 0x0000: 0 0 0"),
        ("read-holding 0x0040 1", "holding 0x0040: 0"),
        ("read-holding 0x0100 2", "holding 0x0100: 1 0"),
        ("read-holding 0x0110 1", "holding 0x0110: 0"),
        ("read-coils 0 8", "coils 0x0000: 00000000"),
        ("read-fifo 0x0200", "fifo 0x0200: (none)"),
        ("read-file-record 2/5/1", "file records 2/5: 0"),
        // reads was 0: channel 1 reads 1000.
        ("read-input 0x0001 1", "input 0x0001: 1000"),
        // Counters since reset include these eight requests and this one.
        ("read-input 0x0010 7", "input 0x0010: 9 0 0 9 0 0 0"),
        (
            "write-register 0x0040 1",
            "exception 0x04 server device failure",
        ),
    ];
    for (request, want) in checks {
        let got = ask(target.as_mut(), request);
        assert_eq!(got, want, "after reset, {request}");
    }
}

#[test]
fn reset_restores_reset_state_on_the_emulated_board() {
    reset_restores_reset_state(Kind::Qemu);
}

#[test]
fn reset_restores_reset_state_on_the_simulation() {
    reset_restores_reset_state(Kind::Sim);
}

/// Garbage, truncated, corrupted and over-long frames are dropped, and the
/// next valid request after a silence gets the right answer.
fn garbage_then_valid(kind: Kind) {
    let mut target = start(kind);
    assert_eq!(
        ask(target.as_mut(), "write-register 0x0007 0x4242"),
        "wrote holding 0x0007: 16962"
    );
    let junk: String = (0..300)
        .map(|i| format!("{:02X}", (i * 37 + 11) % 256))
        .collect();
    let bad = [
        "raw 01 03 00".to_owned(),                   // truncated
        "raw 01 03 00 07 00 01 00 00".to_owned(),    // bad CRC
        "raw FF FF FF".to_owned(),                   // noise
        format!("raw {junk}"),                       // over-long
        "raw 01".to_owned(),                         // a lone byte
        "@2 read-holding 0x0007 1".to_owned(),       // another unit
        "raw 01 10 00 07 00 02 04 00 01".to_owned(), // cut short
    ];
    for garbage in &bad {
        let t = run(target.as_mut(), garbage).pop().unwrap();
        assert_eq!(t.decoded.text, "no response", "{garbage} was answered");
        assert_eq!(
            ask(target.as_mut(), "read-holding 0x0007 1"),
            "holding 0x0007: 16962",
            "after {garbage}"
        );
    }
    // Counters: input registers 0x10 bus messages, 0x11 communication
    // errors, 0x15 character overruns.
    let counters = ask(target.as_mut(), "read-input 0x0010 6");
    let values: Vec<u32> = counters
        .trim_start_matches("input 0x0010: ")
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    // Good frames: the write, seven reads, the other unit's, this one.
    assert_eq!(values[0], 10, "bus messages in {counters}");
    // Five bad frames at least; the over-long one is an overrun unless the
    // host delivered it with gaps, then it is more errors.
    assert!(values[1] >= 5, "communication errors in {counters}");
    assert!(
        values[1] + values[5] >= 6,
        "errors and overruns in {counters}"
    );
}

#[test]
fn garbage_then_valid_on_the_emulated_board() {
    garbage_then_valid(Kind::Qemu);
}

#[test]
fn garbage_then_valid_on_the_simulation() {
    garbage_then_valid(Kind::Sim);
}
