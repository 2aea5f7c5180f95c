//! The Modbus RTU sensor node's parser core, as specified in MODBUS-NODE.md.
//!
//! Pure: bytes in, bytes out. [`rtu::Receiver`] turns timestamped bytes into
//! frames; [`node::Node`] turns a frame into the bytes to send back (or none).
//! The same code runs in the firmware, in the host simulation and under the
//! native fuzzers.
//!
//! Architecture Invariant: this crate knows nothing of serial ports, probes,
//! QEMU or time sources; it never allocates, never panics on any input, and
//! contains no `unsafe`.

#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

pub mod frame;
pub mod node;
pub mod planted;
pub mod request;
pub mod rtu;
