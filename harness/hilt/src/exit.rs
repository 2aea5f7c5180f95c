//! hilt's exit codes, one per kind of failure, so that scripts and CI can
//! tell a firmware problem from an infrastructure one.

/// Everything worked and every response was well-formed.
pub const SUCCESS: u8 = 0;
/// The device misbehaved: a malformed response, or a check failed.
pub const DEVICE: u8 = 1;
/// The command line or a request's text is wrong (clap uses 2 as well).
pub const USAGE: u8 = 2;
/// The firmware could not be found, built or measured, or is over budget.
pub const FIRMWARE: u8 = 3;
/// The target could not be started or died (no QEMU, QEMU exited, ...).
pub const TARGET: u8 = 4;
/// The serial link failed (port busy, vanished, unreadable).
pub const LINK: u8 = 5;
/// Interrupted by Ctrl-C or SIGTERM.
pub const INTERRUPTED: u8 = 130;
