//! hilt's integration tests, in one test binary.
//!
//! Index:
//! - `end_to_end`: the real firmware on the emulated board (QEMU) and the
//!   simulation, over the real serial link: every function, reset, garbage
//!   and truncated frames.
//! - `cli`: the `hilt` binary itself: bad input gives a one-line error and a
//!   distinct exit code, never a panic; `serve` hands out a usable port.
//!
//! The emulated board needs `qemu-system-arm`: `ci/test` installs it.

mod cli;
mod common;
mod end_to_end;
