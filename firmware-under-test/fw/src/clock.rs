//! Time since boot from SysTick: milliseconds counted by its interrupt, the
//! microseconds in between read from its current value.
//!
//! SysTick counts down from `ticks_per_ms - 1` to 0 on the processor clock,
//! reloads, and pends its exception as it reaches 0. The handler
//! ([`on_systick`](crate::on_systick)) adds one millisecond. A reader that
//! masks interrupts (or runs in an interrupt that SysTick cannot preempt)
//! may see the counter already wrapped while the millisecond is not yet
//! counted; [`now_us`] notices this from the pending bit and counts it
//! itself, so the clock never runs backwards.
//!
//! Microseconds are a wrapping `u32` (71 minutes), as the core's RTU
//! receiver wants; milliseconds ([`uptime_ms`]) wrap after 49 days.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::{syst::SystClkSource, SCB, SYST};

use crate::Board;

/// Milliseconds since [`start`], wrapping. Written only by [`tick`].
static MILLIS: AtomicU32 = AtomicU32::new(0);

/// SysTick ticks per millisecond on board `B`.
const fn ticks_per_ms<B: Board>() -> u32 {
    B::SYSTICK_HZ / 1000
}

/// Starts SysTick: processor clock, an interrupt every millisecond.
pub fn start<B: Board>(syst: &mut SYST) {
    const { assert!(B::SYSTICK_HZ % 1000 == 0 && B::SYSTICK_HZ >= 1000) };
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(ticks_per_ms::<B>() - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Counts one millisecond. Called by the SysTick exception handler only.
pub fn tick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

/// Milliseconds since boot, wrapping (the node's uptime registers).
pub fn uptime_ms() -> u32 {
    MILLIS.load(Ordering::Relaxed)
}

/// Microseconds since boot, wrapping; exact to the tick, never backwards.
pub fn now_us<B: Board>() -> u32 {
    let per_ms = ticks_per_ms::<B>();
    // Masked, so the SysTick handler cannot run between reading the
    // millisecond count and the counter.
    critical_section::with(|_| {
        let mut ms = MILLIS.load(Ordering::Relaxed);
        let mut current = SYST::get_current();
        // Read after the counter: if it is not pending now, the counter had
        // not wrapped when it was read.
        if SCB::is_pendst_pending() {
            // The counter reached 0 and the handler has not counted that
            // millisecond yet (we mask it). Count it here, and read the
            // counter again: this read is surely after the wrap.
            ms = ms.wrapping_add(1);
            current = SYST::get_current();
        }
        // Ticks since the counter last reached 0 (the moment a millisecond
        // is counted): 0 at 0, 1 right after the reload, per_ms - 1 at 1.
        let ticks = if current == 0 {
            0
        } else {
            per_ms.saturating_sub(current)
        };
        // ticks < per_ms and per_ms * 1000 = SYSTICK_HZ fits in a u32.
        ms.wrapping_mul(1000).wrapping_add(ticks * 1000 / per_ms)
    })
}
