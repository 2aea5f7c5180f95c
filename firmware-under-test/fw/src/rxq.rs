//! The hand-over of received bytes from the UART interrupt to the main loop.
//!
//! The interrupt stamps each byte with the time it read it and queues it; the
//! main loop takes them out in order and feeds the RTU receiver. Both sides
//! take a short critical section (a `PRIMASK` toggle on a single core), so
//! the queue needs no `unsafe`.
//!
//! Lost bytes are recorded where they were lost: on the last byte queued
//! before them (`lost_after`), or, with the queue empty, as a [`Incoming::Lost`]
//! ahead of the next byte. The main loop then calls
//! [`Receiver::mark_lost`](mbnode_core::rtu::Receiver::mark_lost) at the
//! right point, so the frame that lost bytes ends as an overrun.
//!
//! Capacity: the main loop stops taking bytes while it sends an answer
//! (blocking, up to 256 bytes, 22 ms at 115200 baud), and a master that does
//! not wait for the answer may send as many bytes meanwhile; 512 covers that
//! twice.

use core::cell::RefCell;

use critical_section::Mutex;
use heapless::Deque;

use crate::{Board, RxEvent};

/// How many received bytes the queue holds.
pub(crate) const CAPACITY: usize = 512;

/// What the main loop takes out of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A byte, the time it was read (microseconds, see
    /// [`clock::now_us`](crate::clock::now_us)), and whether bytes were lost
    /// right after it.
    Byte {
        /// The byte.
        byte: u8,
        /// When the interrupt read it.
        at_us: u32,
        /// Bytes were lost between this byte and the next.
        lost_after: bool,
    },
    /// Bytes were lost before the next byte.
    Lost,
}

#[derive(Debug, Clone, Copy)]
struct Stamped {
    at_us: u32,
    byte: u8,
    lost_after: bool,
}

#[derive(Debug)]
struct Queue {
    bytes: Deque<Stamped, CAPACITY>,
    lost_before_next: bool,
}

static QUEUE: Mutex<RefCell<Queue>> = Mutex::new(RefCell::new(Queue {
    bytes: Deque::new(),
    lost_before_next: false,
}));

impl Queue {
    fn lost(&mut self) {
        match self.bytes.back_mut() {
            Some(last) => last.lost_after = true,
            None => self.lost_before_next = true,
        }
    }

    fn push(&mut self, byte: u8, at_us: u32) {
        let stamped = Stamped {
            at_us,
            byte,
            lost_after: false,
        };
        if self.bytes.push_back(stamped).is_err() {
            self.lost();
        }
    }
}

/// Queues every byte board `B`'s receiver holds, all stamped `at_us`.
/// Called from the UART interrupt.
pub(crate) fn receive<B: Board>(at_us: u32) {
    critical_section::with(|cs| {
        let mut queue = QUEUE.borrow_ref_mut(cs);
        B::drain_rx(|event| match event {
            RxEvent::Byte(byte) => queue.push(byte, at_us),
            RxEvent::Lost => queue.lost(),
        });
    });
}

/// Takes the oldest received byte (or loss) out of the queue.
pub(crate) fn pop() -> Option<Incoming> {
    critical_section::with(|cs| {
        let mut queue = QUEUE.borrow_ref_mut(cs);
        if queue.lost_before_next {
            queue.lost_before_next = false;
            return Some(Incoming::Lost);
        }
        queue.bytes.pop_front().map(|s| Incoming::Byte {
            byte: s.byte,
            at_us: s.at_us,
            lost_after: s.lost_after,
        })
    })
}

/// Sleeps until the next interrupt (a received byte, or the next SysTick
/// within a millisecond), unless something is queued already.
///
/// The check and the `WFI` run with interrupts masked: an interrupt that
/// arrives between them stays pending, and a pending interrupt ends `WFI`
/// even while masked, so no byte can wait a whole tick unnoticed.
pub(crate) fn sleep_unless_pending() {
    critical_section::with(|cs| {
        let queue = QUEUE.borrow_ref(cs);
        if queue.bytes.is_empty() && !queue.lost_before_next {
            cortex_m::asm::wfi();
        }
    });
}
