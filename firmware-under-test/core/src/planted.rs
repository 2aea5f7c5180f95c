//! Planted bugs: deliberate defects, modelled on real Modbus implementation
//! bugs, that measure how good hilt's fuzzing is at finding bugs.
//!
//! TEST ONLY. The defects exist only with the `planted-bugs` feature; without
//! it [`on`] is a constant `false` and every planted branch compiles away,
//! so the shipped firmware carries none of them (a test replays every
//! bug's [`Planted::witness`] on the shipped build and gets the specified
//! answers). With the feature all bugs are active unless [`select`] narrows
//! them down, so a benchmark can measure the time to find each one alone.
//!
//! Each bug fires in a recognisable way: a panic whose message starts with
//! `planted bug PBnn`, a hang, or a wrong answer that a fuzz target's
//! property (or the reference model) catches.

/// The planted bugs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Bug {
    /// PB01.
    RwWriteRange = 1,
    /// PB02.
    ExceptionStatusOverread = 2,
    /// PB03.
    FileRecordWalk = 3,
    /// PB04.
    RegisterCountOverflow = 4,
    /// PB05.
    LockBypass = 5,
    /// PB06.
    ZeroLengthLoop = 6,
    /// PB07.
    MaskWriteNoEcho = 7,
    /// PB08.
    UnitIdZero = 8,
    /// PB09.
    CrcByteOrder = 9,
    /// PB10.
    CoilsTrailingBytes = 10,
}

/// How a planted bug shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symptom {
    /// A panic naming the bug's id.
    Panic,
    /// The node never returns.
    Hang,
    /// An answer or state that differs from MODBUS-NODE.md.
    WrongAnswer,
}

/// A planted bug's documentation.
#[derive(Debug, Clone, Copy)]
pub struct Planted {
    pub bug: Bug,
    /// `PB01`...
    pub id: &'static str,
    /// A short name.
    pub name: &'static str,
    /// One line: what is wrong.
    pub description: &'static str,
    /// How many frames the shortest trigger takes.
    pub depth: u8,
    /// What a trigger needs, beyond the number of frames.
    pub trigger: &'static str,
    pub symptom: Symptom,
    /// A shortest trigger: frames as unit id and PDU. Each is sent with its
    /// correct CRC, except for [`Bug::CrcByteOrder`]'s, whose CRC is sent
    /// high byte first.
    pub witness: &'static [&'static [u8]],
}

/// Every planted bug, in id order.
pub const BUGS: [Planted; 10] = [
    Planted {
        bug: Bug::RwWriteRange,
        id: "PB01",
        name: "rw-write-range",
        description: "Read/Write Multiple Registers never checks that its write range exists",
        depth: 1,
        trigger: "0x17 with a readable read range and a write range outside the register map",
        symptom: Symptom::WrongAnswer,
        witness: &[&[
            0x01, 0x17, 0x00, 0x00, 0x00, 0x01, 0x00, 0x50, 0x00, 0x01, 0x02, 0x12, 0x34,
        ]],
    },
    Planted {
        bug: Bug::ExceptionStatusOverread,
        id: "PB02",
        name: "exception-status-overread",
        description: "Read Exception Status reads a request byte past the end of its frame",
        depth: 1,
        trigger: "a well-formed 0x07 request (it has no data)",
        symptom: Symptom::Panic,
        witness: &[&[0x01, 0x07]],
    },
    Planted {
        bug: Bug::FileRecordWalk,
        id: "PB03",
        name: "file-record-walk",
        description: "the Write File Record sub-request walk trusts each sub-request's length",
        depth: 1,
        trigger: "0x15 whose byte count matches its body, with a sub-request longer than what is left",
        symptom: Symptom::Panic,
        witness: &[&[
            0x01, 0x15, 0x09, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0xAB, 0xCD,
        ]],
    },
    Planted {
        bug: Bug::RegisterCountOverflow,
        id: "PB04",
        name: "register-count-overflow",
        description: "Write Multiple Registers computes its byte count in a u8 and checks the quantity against 255",
        depth: 1,
        trigger: "0x10 with a quantity of 128 (byte count 0) or 124..=127",
        symptom: Symptom::WrongAnswer,
        witness: &[&[0x01, 0x10, 0x00, 0x00, 0x00, 0x80, 0x00]],
    },
    Planted {
        bug: Bug::LockBypass,
        id: "PB05",
        name: "lock-bypass",
        description: "a Mask Write Register that makes the lock register 0x5AA5 unlocks without arming",
        depth: 1,
        trigger: "0x16 to register 0x0110 whose masks give 0x5AA5",
        symptom: Symptom::WrongAnswer,
        witness: &[&[0x01, 0x16, 0x01, 0x10, 0x00, 0x00, 0x5A, 0xA5]],
    },
    Planted {
        bug: Bug::ZeroLengthLoop,
        id: "PB06",
        name: "zero-length-loop",
        description: "a Write File Record sub-request of length zero makes the walk loop forever",
        depth: 1,
        trigger: "0x15 whose byte count matches its body, with a sub-request of length 0",
        symptom: Symptom::Hang,
        witness: &[&[
            0x01, 0x15, 0x09, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]],
    },
    Planted {
        bug: Bug::MaskWriteNoEcho,
        id: "PB07",
        name: "mask-write-no-echo",
        description: "Mask Write Register answers with the register's new value instead of echoing its AND mask",
        depth: 1,
        trigger: "0x16 to a writable register whose new value differs from the AND mask",
        symptom: Symptom::WrongAnswer,
        witness: &[&[0x01, 0x16, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x01]],
    },
    Planted {
        bug: Bug::UnitIdZero,
        id: "PB08",
        name: "unit-id-zero",
        description: "the unit-id register accepts 0, the broadcast address, and the node goes deaf",
        depth: 3,
        trigger: "arm and open the lock, then write 0 to register 0x0100",
        symptom: Symptom::WrongAnswer,
        witness: &[
            &[0x01, 0x06, 0x01, 0x10, 0xA5, 0x5A],
            &[0x01, 0x06, 0x01, 0x10, 0x5A, 0xA5],
            &[0x01, 0x06, 0x01, 0x00, 0x00, 0x00],
        ],
    },
    Planted {
        bug: Bug::CrcByteOrder,
        id: "PB09",
        name: "crc-byte-order",
        description: "the frame decoder also accepts a CRC sent high byte first",
        depth: 1,
        trigger: "any frame whose CRC is byte-swapped (and not a palindrome)",
        symptom: Symptom::WrongAnswer,
        witness: &[&[0x01, 0x03, 0x00, 0x00, 0x00, 0x01]],
    },
    Planted {
        bug: Bug::CoilsTrailingBytes,
        id: "PB10",
        name: "coils-trailing-bytes",
        description: "Write Multiple Coils accepts bytes after its values and ignores them",
        depth: 1,
        trigger: "a valid 0x0F request with one or more extra bytes before the CRC",
        symptom: Symptom::WrongAnswer,
        witness: &[&[0x01, 0x0F, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0xEE]],
    },
];

impl Bug {
    /// The bug's documentation.
    pub fn planted(self) -> &'static Planted {
        &BUGS[self as usize - 1]
    }

    /// The bug with this id (`PB03`, case-insensitive) or name.
    pub fn find(key: &str) -> Option<Bug> {
        BUGS.iter()
            .find(|p| p.id.eq_ignore_ascii_case(key) || p.name == key)
            .map(|p| p.bug)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

#[cfg(feature = "planted-bugs")]
static ACTIVE: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(u32::MAX);

/// Makes only `bugs` active (with the `planted-bugs` feature; without it
/// nothing is ever active).
pub fn select(bugs: &[Bug]) {
    let _mask = bugs.iter().fold(0, |mask, bug| mask | bug.bit());
    #[cfg(feature = "planted-bugs")]
    ACTIVE.store(_mask, core::sync::atomic::Ordering::Relaxed);
}

/// Whether `bug` is active: never without the `planted-bugs` feature.
#[inline(always)]
pub fn on(bug: Bug) -> bool {
    #[cfg(feature = "planted-bugs")]
    return ACTIVE.load(core::sync::atomic::Ordering::Relaxed) & bug.bit() != 0;
    #[cfg(not(feature = "planted-bugs"))]
    {
        let _ = bug;
        false
    }
}

/// Panics, naming the bug: what an out-of-bounds access would do.
#[cold]
#[track_caller]
pub fn fire(bug: Bug) -> ! {
    let p = bug.planted();
    panic!("planted bug {} ({}): {}", p.id, p.name, p.description)
}

/// `bytes[at]`, as a planted bug reads it: unchecked, and a panic naming
/// the bug when past the end.
#[track_caller]
pub fn byte(bytes: &[u8], at: usize, bug: Bug) -> u8 {
    match bytes.get(at) {
        Some(&b) => b,
        None => fire(bug),
    }
}

/// `&bytes[range]`, as a planted bug takes it.
#[track_caller]
pub fn slice(bytes: &[u8], range: core::ops::Range<usize>, bug: Bug) -> &[u8] {
    match bytes.get(range) {
        Some(s) => s,
        None => fire(bug),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_in_id_order_and_complete() {
        for (i, p) in BUGS.iter().enumerate() {
            assert_eq!(p.bug as usize, i + 1);
            assert_eq!(p.id, format!("PB{:02}", i + 1));
            assert_eq!(Bug::find(p.id), Some(p.bug));
            assert_eq!(Bug::find(p.name), Some(p.bug));
            assert!(p.depth as usize >= p.witness.len().min(1));
            assert_eq!(p.depth as usize, p.witness.len(), "{}", p.id);
        }
        assert!(BUGS.len() >= 8);
    }
}
