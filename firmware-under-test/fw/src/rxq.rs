//! The hand-over of received bytes from the UART interrupt to the main loop.
//!
//! The interrupt stamps each byte with the time it read it and queues it; the
//! main loop takes them out in order and feeds the RTU receiver. Both sides
//! take a short critical section (a `PRIMASK` toggle on a single core), so
//! the queue needs no `unsafe`.
//!
//! Lost bytes (a receiver overrun, a full queue) are recorded on the byte
//! that follows them (`lost_before`): the UART reports an overrun with the
//! next byte it receives, and the bytes were lost just before it. The main
//! loop then calls [`Receiver::lose`](mbnode_core::rtu::Receiver::lose) with
//! that byte's time, which first ends a frame that a silence had already
//! ended, so only the frame that lost bytes ends as an overrun.
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

/// What the main loop takes out of the queue: a byte, the time it was read
/// (microseconds, see [`clock::now_us`](crate::clock::now_us)), and whether
/// bytes were lost right before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Incoming {
    /// The byte.
    pub(crate) byte: u8,
    /// When the interrupt read it.
    pub(crate) at_us: u32,
    /// Bytes were lost between the byte before and this one.
    pub(crate) lost_before: bool,
}

#[derive(Debug, Clone, Copy)]
struct Stamped {
    at_us: u32,
    byte: u8,
    lost_before: bool,
}

#[derive(Debug)]
struct Queue {
    bytes: Deque<Stamped, CAPACITY>,
    /// Bytes were lost since the last one queued: the next one says so.
    lost_before_next: bool,
}

static QUEUE: Mutex<RefCell<Queue>> = Mutex::new(RefCell::new(Queue {
    bytes: Deque::new(),
    lost_before_next: false,
}));

impl Queue {
    fn lost(&mut self) {
        self.lost_before_next = true;
    }

    fn push(&mut self, byte: u8, at_us: u32) {
        let stamped = Stamped {
            at_us,
            byte,
            lost_before: self.lost_before_next,
        };
        match self.bytes.push_back(stamped) {
            Ok(()) => self.lost_before_next = false,
            Err(_) => self.lost(),
        }
    }
}

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
        queue.bytes.pop_front().map(|s| Incoming {
            byte: s.byte,
            at_us: s.at_us,
            lost_before: s.lost_before,
        })
    })
}

pub(crate) fn sleep_unless_pending() {
    critical_section::with(|cs| {
        let queue = QUEUE.borrow_ref(cs);
        if queue.bytes.is_empty() {
            cortex_m::asm::wfi();
        }
    });
}
