//! Crash and hang evidence: what a request's outcome was, the firmware's
//! crash record, and the Cortex-M fault status registers.
//!
//! The crash record's layout is a contract with the firmware
//! (`firmware-under-test/fw/src/crash.rs` documents it); this module reads
//! it from the bytes of target memory, with no dependency on the firmware's
//! crates.

use std::fmt;

/// The record's symbol in the firmware ELF.
pub const RECORD_SYMBOL: &str = "HILT_CRASH_RECORD";
/// The record's size in bytes.
pub const RECORD_LEN: u64 = 256;
/// What the firmware writes on its UART when it crashes, before the details.
pub const ANNOUNCEMENT: &[u8] = b"HILT-CRASH ";

const MAGIC: u32 = u32::from_le_bytes(*b"HILT");
const VERSION: u32 = 1;

/// Where something happened in a program, as its debug information says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The function, demangled, without its hash.
    pub function: Option<String>,
    /// The source file.
    pub file: Option<String>,
    pub line: Option<u32>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let function = self.function.as_deref().unwrap_or("?");
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{function} at {file}:{line}"),
            (Some(file), None) => write!(f, "{function} in {file}"),
            _ => f.write_str(function),
        }
    }
}

/// What kind of failure the evidence is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A Rust panic.
    Panic,
    /// A processor fault (HardFault, or a host process killed by a signal).
    Fault,
    /// Running, but not answering.
    Hang,
    /// A host process that exited without a panic or a signal.
    Exit,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Panic => "panic",
            FailureKind::Fault => "fault",
            FailureKind::Hang => "hang",
            FailureKind::Exit => "exit",
        }
    }
}

/// What a target could tell about a crash or a hang.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub kind: FailureKind,
    /// One line: the panic message, the fault type, where it spun.
    pub summary: String,
    /// The symbolised location, where the debug information has one.
    pub location: Option<Location>,
    /// The program counter, where one was read.
    pub pc: Option<u64>,
    /// More, one item per line: registers, the firmware's announcement.
    pub details: Vec<String>,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.summary)?;
        if let Some(location) = &self.location {
            write!(f, " (in {location})")?;
        }
        Ok(())
    }
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A well-formed normal answer.
    Answered,
    /// A well-formed exception answer, with its code.
    Exception(u8),
    /// No answer, where none was due (broadcast, listen-only).
    NoAnswer,
    /// No answer where one was due, from a device that still answers
    /// others (a lost or dropped answer: a misbehaviour, not a hang).
    Missing,
    /// Bytes that are not a well-formed answer, from a device still alive.
    Malformed,
    /// No answer when one was due, and the device answers nothing since.
    Hang(Evidence),
    /// The device crashed.
    Crash(Evidence),
}

impl Outcome {
    /// The class's name, as reports print it.
    pub fn class(&self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Exception(_) => "exception",
            Outcome::NoAnswer => "no answer",
            Outcome::Missing => "missing answer",
            Outcome::Malformed => "malformed",
            Outcome::Hang(_) => "hang",
            Outcome::Crash(_) => "crash",
        }
    }

    /// The evidence of a hang or crash.
    pub fn evidence(&self) -> Option<&Evidence> {
        match self {
            Outcome::Hang(e) | Outcome::Crash(e) => Some(e),
            _ => None,
        }
    }
}

/// The kind of the last crash in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    None,
    Panic,
    HardFault,
    Unknown(u32),
}

/// The firmware's crash record, read from target memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct CrashRecord {
    pub boot_count: u32,
    pub kind: RecordKind,
    pub crash_boot: u32,
    pub line: u32,
    pub column: u32,
    pub pc: u32,
    pub lr: u32,
    pub xpsr: u32,
    pub cfsr: u32,
    pub hfsr: u32,
    pub mmfar: u32,
    pub bfar: u32,
    pub file: String,
    pub message: String,
}

fn word(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

fn text(bytes: &[u8], at: usize, capacity: usize, len: usize) -> String {
    let field = bytes.get(at..at + capacity).unwrap_or_default();
    String::from_utf8_lossy(&field[..len.min(field.len())]).into_owned()
}

impl CrashRecord {
    /// Reads a record; `None` unless it is a valid record of the layout
    /// this module knows (magic and version).
    pub fn parse(bytes: &[u8]) -> Option<CrashRecord> {
        if bytes.len() < RECORD_LEN as usize
            || word(bytes, 0x00) != MAGIC
            || word(bytes, 0x04) != VERSION
        {
            return None;
        }
        let lengths = word(bytes, 0x3C);
        Some(CrashRecord {
            boot_count: word(bytes, 0x08),
            kind: match word(bytes, 0x0C) {
                0 => RecordKind::None,
                1 => RecordKind::Panic,
                2 => RecordKind::HardFault,
                k => RecordKind::Unknown(k),
            },
            crash_boot: word(bytes, 0x10),
            line: word(bytes, 0x18),
            column: word(bytes, 0x1C),
            pc: word(bytes, 0x20),
            lr: word(bytes, 0x24),
            xpsr: word(bytes, 0x28),
            cfsr: word(bytes, 0x2C),
            hfsr: word(bytes, 0x30),
            mmfar: word(bytes, 0x34),
            bfar: word(bytes, 0x38),
            file: text(bytes, 0x40, 64, (lengths & 0xFFFF) as usize),
            message: text(bytes, 0x80, 128, (lengths >> 16) as usize),
        })
    }

    /// Whether the boot now running is the one that crashed.
    pub fn crashed_this_boot(&self) -> bool {
        self.kind != RecordKind::None && self.crash_boot == self.boot_count
    }
}

/// CFSR bits: (bit, name, meaning).
const CFSR_BITS: [(u32, &str, &str); 16] = [
    (0, "IACCVIOL", "instruction access violation"),
    (1, "DACCVIOL", "data access violation"),
    (3, "MUNSTKERR", "fault on exception return unstacking"),
    (4, "MSTKERR", "fault on exception entry stacking"),
    (7, "MMARVALID", "MMFAR holds the faulting address"),
    (8, "IBUSERR", "bus fault on instruction fetch"),
    (9, "PRECISERR", "precise data bus fault"),
    (10, "IMPRECISERR", "imprecise data bus fault"),
    (11, "UNSTKERR", "bus fault on exception return unstacking"),
    (12, "STKERR", "bus fault on exception entry stacking"),
    (15, "BFARVALID", "BFAR holds the faulting address"),
    (16, "UNDEFINSTR", "undefined instruction"),
    (17, "INVSTATE", "invalid state (Thumb bit clear)"),
    (18, "INVPC", "invalid PC load on exception return"),
    (24, "UNALIGNED", "unaligned access"),
    (25, "DIVBYZERO", "division by zero"),
];

/// The names of the CFSR and HFSR bits that are set.
pub fn fault_bits(cfsr: u32, hfsr: u32) -> Vec<&'static str> {
    let mut bits: Vec<&str> = CFSR_BITS
        .iter()
        .filter(|(bit, _, _)| cfsr & (1 << bit) != 0)
        .map(|(_, name, _)| *name)
        .collect();
    for (bit, name) in [(1, "VECTTBL"), (30, "FORCED"), (31, "DEBUGEVT")] {
        if hfsr & (1 << bit) != 0 {
            bits.push(name);
        }
    }
    bits
}

/// One line saying what the fault was, from the fault status registers.
pub fn fault_type(record: &CrashRecord) -> String {
    let cause = CFSR_BITS
        .iter()
        .find(|(bit, name, _)| record.cfsr & (1 << bit) != 0 && !name.ends_with("VALID"))
        .map(|(_, _, meaning)| *meaning);
    let mut line = match cause {
        Some(meaning) => meaning.to_owned(),
        None if record.hfsr & (1 << 1) != 0 => "vector table read fault".to_owned(),
        None => "HardFault".to_owned(),
    };
    if record.cfsr & (1 << 15) != 0 {
        line.push_str(&format!(" at {:#010x}", record.bfar));
    } else if record.cfsr & (1 << 7) != 0 {
        line.push_str(&format!(" at {:#010x}", record.mmfar));
    }
    if record.hfsr & (1 << 30) != 0 {
        line.push_str(", escalated to HardFault");
    }
    line
}

/// The registers of a HardFault record, one line.
pub fn fault_registers(record: &CrashRecord) -> String {
    format!(
        "pc={:#010x} lr={:#010x} xpsr={:#010x} cfsr={:#010x} ({}) hfsr={:#010x} mmfar={:#010x} bfar={:#010x}",
        record.pc,
        record.lr,
        record.xpsr,
        record.cfsr,
        fault_bits(record.cfsr, record.hfsr).join(" "),
        record.hfsr,
        record.mmfar,
        record.bfar
    )
}

/// The evidence in a record of a crash, symbolised where `symbols` has the
/// firmware's debug information.
pub fn record_evidence(
    record: &CrashRecord,
    symbols: Option<&crate::symbols::Symbols>,
) -> Evidence {
    match record.kind {
        RecordKind::Panic => {
            let location = symbols
                .and_then(|s| s.locate_line(&record.file, record.line))
                .unwrap_or(Location {
                    function: None,
                    file: Some(record.file.clone()),
                    line: Some(record.line),
                });
            Evidence {
                kind: FailureKind::Panic,
                summary: record.message.clone(),
                location: Some(location),
                pc: None,
                details: vec![format!(
                    "panicked at {}:{}:{}",
                    record.file, record.line, record.column
                )],
            }
        }
        _ => {
            let caller = symbols
                .and_then(|s| s.locate(u64::from(record.lr)))
                .map_or_else(|| "?".into(), |l| l.to_string());
            // A jump to a bad address faults with the PC there: then the
            // caller (LR) is where it happened.
            let location = symbols.and_then(|s| {
                s.locate(u64::from(record.pc))
                    .or_else(|| s.locate(u64::from(record.lr)))
            });
            Evidence {
                kind: FailureKind::Fault,
                summary: fault_type(record),
                location,
                pc: Some(u64::from(record.pc)),
                details: vec![fault_registers(record), format!("lr: {caller}")],
            }
        }
    }
}

/// Frames of the panic machinery, skipped to find where a panic happened.
const MACHINERY: [&str; 8] = [
    "__rustc::",
    "rust_begin_unwind",
    "std::",
    "core::",
    "alloc::",
    "<std::",
    "<core::",
    "<alloc::",
];

/// A Rust panic in a host process's standard error (with `RUST_BACKTRACE`
/// set): its message, and its location with the function of the first
/// backtrace frame that is not the panic machinery.
pub fn parse_rust_panic(stderr: &str) -> Option<(String, Location)> {
    let mut lines = stderr.lines();
    let header = lines.by_ref().find(|l| l.contains(" panicked at "))?;
    let place = header.split(" panicked at ").nth(1)?.trim_end_matches(':');
    // file:line:column
    let mut parts = place.rsplitn(3, ':');
    let (_column, line, file) = (parts.next()?, parts.next()?, parts.next()?);
    let mut message = Vec::new();
    let mut in_backtrace = false;
    // Frames with their "at file:line", innermost first.
    let mut frames: Vec<(String, Option<String>)> = Vec::new();
    for l in lines {
        let t = l.trim();
        if t == "stack backtrace:" {
            in_backtrace = true;
            continue;
        }
        if !in_backtrace {
            if t.starts_with("note: ") {
                break;
            }
            message.push(l);
            continue;
        }
        // "  12: some::function" (a frame) or "      at file:line:col".
        if let Some(at) = t.strip_prefix("at ") {
            if let Some(frame) = frames.last_mut() {
                frame.1.get_or_insert_with(|| at.to_owned());
            }
        } else if let Some((index, name)) = t.split_once(": ") {
            if index.chars().all(|c| c.is_ascii_digit()) {
                frames.push((name.to_owned(), None));
            }
        }
    }
    // The frame at the panic's own location (so a `#[track_caller]` helper
    // that panics for its caller is skipped), else the first frame past the
    // panic machinery.
    let place = format!("{file}:{line}:");
    let function = frames
        .iter()
        .find(|(_, at)| {
            at.as_deref()
                .is_some_and(|a| a.trim_start_matches("./").ends_with(&place) || a.contains(&place))
        })
        .or_else(|| {
            frames
                .iter()
                .find(|(name, _)| !MACHINERY.iter().any(|m| name.starts_with(m)))
        })
        .map(|(name, _)| name.clone());
    Some((
        message.join("\n"),
        Location {
            function,
            file: Some(file.to_owned()),
            line: line.parse().ok(),
        },
    ))
}

/// The evidence of a host process that ended (the simulation): a panic,
/// a fault report and a signal, or an exit.
pub fn process_evidence(status: std::process::ExitStatus, stderr: &str) -> Evidence {
    use std::os::unix::process::ExitStatusExt;
    let signal = status.signal().map(|s| {
        nix::sys::signal::Signal::try_from(s)
            .map_or_else(|_| format!("signal {s}"), |s| s.as_str().to_owned())
    });
    let mut details = vec![format!("exited: {status}")];
    if let Some((message, location)) = parse_rust_panic(stderr) {
        return Evidence {
            kind: FailureKind::Panic,
            summary: message,
            location: Some(location),
            pc: None,
            details,
        };
    }
    let report = stderr
        .lines()
        .find_map(|l| l.strip_prefix("HILT-CRASH fault "));
    if let Some(report) = report {
        // "in FUNCTION at FILE:LINE: WHAT"
        let (place, what) = report.split_once(": ").unwrap_or((report, ""));
        let (function, at) = place
            .strip_prefix("in ")
            .and_then(|p| p.split_once(" at "))
            .unwrap_or(("", place));
        let (file, line) = at.rsplit_once(':').unwrap_or((at, ""));
        details.push(format!("HILT-CRASH fault {report}"));
        return Evidence {
            kind: FailureKind::Fault,
            summary: format!(
                "{what}{}",
                signal
                    .map(|s| format!(", killed by {s}"))
                    .unwrap_or_default()
            ),
            location: Some(Location {
                function: (!function.is_empty()).then(|| function.to_owned()),
                file: Some(file.to_owned()),
                line: line.parse().ok(),
            }),
            pc: None,
            details,
        };
    }
    details.extend(stderr.lines().rev().take(5).map(str::to_owned));
    match signal {
        Some(signal) => Evidence {
            kind: FailureKind::Fault,
            summary: format!("killed by {signal}"),
            location: None,
            pc: None,
            details,
        },
        None => Evidence {
            kind: FailureKind::Exit,
            summary: format!("exited with {status}"),
            location: None,
            pc: None,
            details,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the firmware wrote it after the crash trigger's bus
    /// fault, read back over QMP: boot 2 crashed; BusFault (PRECISERR,
    /// BFARVALID) at 0xF0000000, forced to a HardFault.
    fn captured_fault() -> Vec<u8> {
        let mut r = vec![0u8; 256];
        let words: [(usize, u32); 12] = [
            (0x00, MAGIC),
            (0x04, 1),
            (0x08, 2),
            (0x0C, 2),
            (0x10, 2),
            (0x20, 0x0000_0A3C),
            (0x24, 0x0000_0B11),
            (0x28, 0x6100_0000),
            (0x2C, 0x0000_8200),
            (0x30, 0x4000_0000),
            (0x34, 0xF000_0000),
            (0x38, 0xF000_0000),
        ];
        for (at, value) in words {
            r[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        r
    }

    #[test]
    fn a_hardfault_record_decodes_to_its_fault() {
        let record = CrashRecord::parse(&captured_fault()).unwrap();
        assert_eq!(record.kind, RecordKind::HardFault);
        assert!(record.crashed_this_boot());
        assert_eq!(record.pc, 0x0A3C);
        assert_eq!(
            fault_bits(record.cfsr, record.hfsr),
            ["PRECISERR", "BFARVALID", "FORCED"]
        );
        assert_eq!(
            fault_type(&record),
            "precise data bus fault at 0xf0000000, escalated to HardFault"
        );
        assert!(fault_registers(&record).contains("cfsr=0x00008200 (PRECISERR BFARVALID FORCED)"));
    }

    #[test]
    fn a_panic_record_keeps_file_line_and_message() {
        let mut r = captured_fault();
        r[0x0C..0x10].copy_from_slice(&1u32.to_le_bytes());
        r[0x18..0x1C].copy_from_slice(&128u32.to_le_bytes());
        let file = b"src/run.rs";
        let message = b"crash trigger: panic requested";
        r[0x3C..0x3E].copy_from_slice(&(file.len() as u16).to_le_bytes());
        r[0x3E..0x40].copy_from_slice(&(message.len() as u16).to_le_bytes());
        r[0x40..0x40 + file.len()].copy_from_slice(file);
        r[0x80..0x80 + message.len()].copy_from_slice(message);
        let record = CrashRecord::parse(&r).unwrap();
        assert_eq!(record.kind, RecordKind::Panic);
        assert_eq!((record.file.as_str(), record.line), ("src/run.rs", 128));
        assert_eq!(record.message, "crash trigger: panic requested");
    }

    #[test]
    fn stale_and_foreign_records_are_told_apart() {
        let mut r = captured_fault();
        // Rebooted since the crash: boot 3 runs, boot 2 crashed.
        r[0x08..0x0C].copy_from_slice(&3u32.to_le_bytes());
        assert!(!CrashRecord::parse(&r).unwrap().crashed_this_boot());
        r[0x04] = 9;
        assert_eq!(CrashRecord::parse(&r), None, "another layout");
        assert_eq!(CrashRecord::parse(&[0u8; 256]), None, "never initialised");
        assert_eq!(CrashRecord::parse(&r[..100]), None, "short read");
    }

    const SIM_PANIC: &str = "\
thread 'main' (4242) panicked at firmware-under-test/sim/src/lib.rs:181:46:
crash trigger: panic requested
stack backtrace:
   0: __rustc::rust_begin_unwind
             at /rustc/5980/library/std/src/panicking.rs:689:5
   1: core::panicking::panic_fmt
             at /rustc/5980/library/core/src/panicking.rs:80:14
   2: mbnode_sim::crash_trigger::act_on
             at ./firmware-under-test/sim/src/lib.rs:181:46
   3: mbnode_sim::Simulation::run::{{closure}}
             at ./firmware-under-test/sim/src/lib.rs:120:29
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
";

    #[test]
    fn a_host_panic_is_located_past_the_panic_machinery() {
        let (message, location) = parse_rust_panic(SIM_PANIC).unwrap();
        assert_eq!(message, "crash trigger: panic requested");
        assert_eq!(
            location.function.as_deref(),
            Some("mbnode_sim::crash_trigger::act_on")
        );
        assert_eq!(
            location.file.as_deref(),
            Some("firmware-under-test/sim/src/lib.rs")
        );
        assert_eq!(location.line, Some(181));
        assert_eq!(parse_rust_panic("no panic here\n"), None);
    }

    #[test]
    fn a_dead_process_is_told_by_its_panic_its_fault_report_or_its_signal() {
        use std::os::unix::process::ExitStatusExt;
        let panicked = process_evidence(std::process::ExitStatus::from_raw(101 << 8), SIM_PANIC);
        assert_eq!(panicked.kind, FailureKind::Panic);
        let aborted = std::process::ExitStatus::from_raw(6);
        let fault = process_evidence(
            aborted,
            "HILT-CRASH fault in mbnode_sim::crash_trigger::act_on at firmware-under-test/sim/src/lib.rs:182: bad memory access requested\n",
        );
        assert_eq!(fault.kind, FailureKind::Fault);
        assert_eq!(
            fault.summary,
            "bad memory access requested, killed by SIGABRT"
        );
        let at = fault.location.unwrap();
        assert_eq!(
            at.function.as_deref(),
            Some("mbnode_sim::crash_trigger::act_on")
        );
        assert_eq!(at.line, Some(182));
        let killed = process_evidence(std::process::ExitStatus::from_raw(9), "");
        assert_eq!(
            (killed.kind, killed.summary.as_str()),
            (FailureKind::Fault, "killed by SIGKILL")
        );
        let exited = process_evidence(std::process::ExitStatus::from_raw(3 << 8), "bye\n");
        assert_eq!(exited.kind, FailureKind::Exit);
    }

    #[test]
    fn outcomes_name_their_class() {
        let hang = Evidence {
            kind: FailureKind::Hang,
            summary: "spinning".into(),
            location: Some(Location {
                function: Some("mbnode_fw::run::crash_trigger".into()),
                file: Some("src/run.rs".into()),
                line: Some(140),
            }),
            pc: Some(0x0A40),
            details: vec![],
        };
        assert_eq!(
            hang.to_string(),
            "hang: spinning (in mbnode_fw::run::crash_trigger at src/run.rs:140)"
        );
        assert_eq!(Outcome::Hang(hang).class(), "hang");
        assert_eq!(Outcome::Exception(2).class(), "exception");
    }
}
