//! hilt: a hardware-in-the-loop test and fuzzing harness for microcontroller
//! firmware.
//!
//! The centre of hilt is protocol-agnostic: [`target`]s run the firmware
//! (emulated board, host simulation; real boards next), the [`link`] moves
//! bytes over a real serial port, and [`session`] puts a
//! [`hilt_protocol::Protocol`] plug-in on top to frame and decode responses.
//! The Modbus RTU plug-in lives in the `hilt-modbus` crate.
//!
//! Architecture Invariant: the centre (`link`, `target`, `session`,
//! `script`) never parses a protocol's bytes; everything protocol-specific
//! goes through the `Protocol` trait. [`suite`] is where the centre meets the
//! Modbus plug-in's reference model.

pub mod boards;
pub mod crash;
pub mod exit;
pub mod firmware;
pub mod interrupt;
pub mod link;
pub mod native;
pub mod nightly;
pub mod script;
pub mod session;
pub mod suite;
pub mod symbols;
pub mod target;
pub mod triage;
pub mod wirefuzz;

/// Bytes as upper-case hex pairs separated by spaces (`01 03 00 00`), as
/// transcripts and records show them.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `n` lines of a program's output, for error messages.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
