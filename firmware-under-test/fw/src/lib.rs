//! The board-independent firmware of the Modbus RTU sensor node (MODBUS-NODE.md).
//!
//! A board crate implements [`Board`] (UART registers, clock tree, interrupt
//! number) and forwards four entry points here:
//!
//! ```ignore
//! #[entry]
//! fn main() -> ! { mbnode_fw::run::<MyBoard>() }
//! #[exception]
//! fn SysTick() { mbnode_fw::on_systick() }
//! #[exception]
//! unsafe fn HardFault(frame: &ExceptionFrame) -> ! { mbnode_fw::hard_fault(frame) }
//! // the UART's receive interrupt, however the board names it:
//! fn UART0() { mbnode_fw::on_uart_interrupt::<MyBoard>() }
//! ```
//!
//! Everything else lives here: the microsecond clock ([`clock`]), the
//! hand-over of received bytes from the interrupt to the main loop
//! (`rxq`), the main loop ([`run`]) that feeds the core's RTU
//! [`Receiver`](mbnode_core::rtu::Receiver) and answers through the core's
//! [`Node`](mbnode_core::node::Node), and the crash record with the panic
//! and HardFault handlers ([`crash`]).
//!
//! Architecture Invariant: this crate knows no register of any chip beyond
//! the Cortex-M core's own (SysTick, SCB); everything chip-specific is behind
//! [`Board`]. It knows nothing of Modbus beyond handing frames to the core.
//!
//! `unsafe` is denied crate-wide and allowed item by item, each time with
//! the reason: registers ([`mmio`], SCB fault registers), and the crash
//! record that must live outside Rust's initialised statics ([`crash`]).

#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod board;
pub mod clock;
pub mod crash;
pub mod mmio;
mod run;
mod rxq;

pub use board::{Board, RxEvent};
pub use crash::hard_fault;
pub use run::{on_systick, on_uart_interrupt, run, BAUD};
