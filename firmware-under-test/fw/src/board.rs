//! What a board must provide: everything chip-specific, nothing else.

/// One event from the UART's receiver, as the board's interrupt handler
/// finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxEvent {
    /// A received byte. Bytes with a framing, parity or break error are
    /// delivered as they are: the frame's CRC will reject them.
    Byte(u8),
    /// The hardware dropped bytes (receiver overrun) between the previous
    /// byte and the next one.
    Lost,
}

/// The specifics of one board. Implemented by a zero-sized type in the board
/// crate; all functions are associated (no `self`) so that interrupt and
/// fault handlers can call them without shared state.
///
/// The firmware calls, in this order: [`Board::init_clocks`], then starts
/// SysTick at [`Board::SYSTICK_HZ`], then [`Board::init_uart`]. After that
/// [`Board::write`] is called from the main loop (and from the crash
/// handlers, with interrupts masked) and [`Board::drain_rx`] from the UART
/// interrupt, through [`on_uart_interrupt`](crate::on_uart_interrupt).
///
/// Priority rule: the UART interrupt must not preempt SysTick (keep both at
/// the reset priority, 0, as both boards do). The microsecond clock is exact
/// in any context that SysTick cannot preempt halfway through its handler.
pub trait Board {
    /// The board's name, Device Identification object 0x05 (ModelName).
    const MODEL_NAME: &'static str;

    /// The frequency SysTick counts at with CLKSOURCE = processor clock,
    /// after [`Board::init_clocks`], in Hz. A multiple of 1000: SysTick
    /// interrupts every millisecond.
    const SYSTICK_HZ: u32;

    /// The silence that ends a frame, in microseconds. On a real line this
    /// is t3.5 at [`BAUD`](crate::BAUD) (1.75 ms), the default. An emulated
    /// UART has no baud timing: bytes that one host write sent together can
    /// reach the guest with pauses of a few milliseconds when the host is
    /// busy, so an emulated board waits longer before it ends a frame.
    /// (Frames whose length is known end early either way.)
    const SILENCE_US: u32 = mbnode_core::rtu::silence_us(crate::BAUD);

    /// Sets up the clock tree (PLL, dividers, flash wait states). Runs first,
    /// with interrupts enabled but none unmasked yet.
    fn init_clocks();

    /// Sets up the UART that reaches the host at [`BAUD`](crate::BAUD)
    /// 8N1: pins, clock gate, baud divisors, receive FIFO where the chip has
    /// one, the receive interrupt enabled in the peripheral and unmasked in
    /// the NVIC.
    fn init_uart();

    /// Writes `bytes` to the UART, blocking until the last one is in the
    /// transmitter. Must work with interrupts masked.
    fn write(bytes: &[u8]);

    /// Called from the UART interrupt: hands every byte waiting in the
    /// receiver to `sink` in arrival order, reports lost bytes, and leaves
    /// the receive interrupt deasserted.
    fn drain_rx(sink: impl FnMut(RxEvent));
}
