//! hilt's integration tests, in one test binary.
//!
//! Index:
//! - `end_to_end`: the real firmware on the emulated board (QEMU) and the
//!   simulation, over the real serial link: reset, garbage and truncated
//!   frames. (The device suites, with every function checked against the
//!   reference model, are the `suite` test binary.)
//! - `cli`: the `hilt` binary itself: bad input gives a one-line error and a
//!   distinct exit code, never a panic; `serve` hands out a usable port.
//!
//! - `crashes`: the crash-trigger builds on the emulated board and the
//!   simulation panic, fault and hang; each is classified with its
//!   symbolised location, and the target recovers and answers correctly.
//! - `fuzzing`: `hilt fuzz` campaigns on the simulation and the emulated
//!   board with the planted bugs and the crash trigger; SIGKILL and resume;
//!   bad input.
//! - `firmware`: the shipped image carries no test-only code (planted bugs,
//!   crash trigger); the planted build does.
//! - `triage`: saved planted-bug inputs from native and wire campaigns
//!   triage into one group per bug, minimised; promotion, then the cases
//!   fail on the planted build and pass on the shipped one; `hilt replay`
//!   of each kind of input.
//! - `nightly`: `hilt nightly` on the emulated board passes on the shipped
//!   firmware and fails on the planted build; its HTML page loads in
//!   headless Chromium without errors and shows its plots.
//!
//! The emulated board needs `qemu-system-arm`: `ci/test` installs it.

mod cli;
mod common;
mod crashes;
mod end_to_end;
mod firmware;
mod fuzzing;
mod nightly;
mod triage;
