//! The main loop and the interrupt entry points.

use core::sync::atomic::{AtomicU32, Ordering};

use mbnode_core::frame::MAX_ADU;
use mbnode_core::node::{Node, NodeConfig};
use mbnode_core::rtu::{Received, Receiver};

use crate::rxq::{self, Incoming};
use crate::{clock, crash, Board};

/// The line speed (8N1), MODBUS-NODE.md's default. The line settings
/// register (0x0101) is stored only, so this never changes at run time.
pub const BAUD: u32 = 115_200;

/// Below this many microseconds to the end of a frame the main loop polls
/// instead of sleeping, so that a frame is answered right after its silence
/// rather than at the next SysTick (up to a millisecond later).
const SPIN_BELOW_US: u32 = 1000;

/// The boot count of the boot whose UART is set up, 0 until then (it is in
/// `.bss`, zeroed at every boot). A harness that resets the board reads it
/// before the reset and waits for a new, non-zero value before it sends: a
/// request that arrived earlier could be discarded with whatever the UART's
/// receive FIFO held across the reset. Found by this symbol name.
// `no_mangle` (which the unsafe_code lint counts as unsafe) keeps the name
// the harness looks up; nothing else exports it.
#[allow(unsafe_code)]
#[no_mangle]
pub static HILT_READY: AtomicU32 = AtomicU32::new(0);

/// The SysTick exception: one millisecond. Call it from the board's
/// `#[exception] fn SysTick`.
pub fn on_systick() {
    clock::tick();
}

/// The UART receive interrupt: stamps and queues every received byte. Call
/// it from the board's handler for its UART's interrupt.
///
/// All bytes read in one interrupt get the same time stamp, the time the
/// interrupt started. With a receive FIFO they may have arrived up to the
/// FIFO's trigger level (or its receive timeout) earlier: a board should
/// set the lowest trigger level so that gaps between frames stay accurate to
/// well under the 1.75 ms that ends a frame.
pub fn on_uart_interrupt<B: Board>() {
    rxq::receive::<B>(clock::now_us::<B>());
}

/// The firmware: sets up the board, then forever turns received bytes into
/// frames, frames into answers, and sends them.
pub fn run<B: Board>() -> ! {
    crash::on_boot();
    let Some(mut core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken before run");
    };
    B::init_clocks();
    clock::start::<B>(&mut core.SYST);
    B::init_uart();
    crash::set_console(B::write);
    // From here on a byte sent to the UART is received: say so, with this
    // boot's number, for a harness that must not send before (see READY).
    HILT_READY.store(crash::boot_count(), Ordering::Release);

    let mut node = Node::new(NodeConfig {
        model_name: B::MODEL_NAME,
    });
    let mut out = [0u8; MAX_ADU];
    let mut answer = |frame: Received<'_>| {
        #[cfg(feature = "crash-trigger")]
        crash_trigger(&frame);
        if let Some(n) = node.handle(frame, clock::uptime_ms(), &mut out) {
            if let Some(reply) = out.get(..n) {
                B::write(reply);
            }
        }
    };
    let mut receiver = Receiver::new(B::SILENCE_US);

    loop {
        // The time before looking at the queue: a byte that is not queued
        // yet will be stamped later than this, so a silence measured up to
        // `now` really was silent.
        let now = clock::now_us::<B>();
        match rxq::pop() {
            Some(Incoming {
                byte,
                at_us,
                lost_before,
            }) => {
                // Lost bytes arrived just before this one: they spoil its
                // frame, not one a silence had already ended.
                // Benchmark builds only: the link's practical limit.
                #[cfg(feature = "echo")]
                {
                    let _ = (lost_before, at_us);
                    B::write(&[byte]);
                    continue;
                }
                #[cfg(not(feature = "echo"))]
                {
                    if lost_before {
                        receiver.lose(at_us, &mut answer);
                    }
                    receiver.feed(byte, at_us, &mut answer);
                }
            }
            None => {
                if let Some(frame) = receiver.poll(now) {
                    answer(frame);
                    continue;
                }
                match receiver.until_silence(now) {
                    Some(us) if us < SPIN_BELOW_US => {}
                    _ => rxq::sleep_unless_pending(),
                }
            }
        }
    }
}

/// Test builds only: crashes on request, so that the harness's crash and hang
/// detection can be tested end to end on every target. The request is a
/// frame for unit 0xFF (no node answers it) with function 0x66 and one data
/// byte: 0x01 panics, 0x02 makes a bad memory access (see
/// [`bad_memory_access`]), 0x03 hangs with interrupts enabled. The CRC must
/// be right.
/// Nothing answers at this address on either board (the crash trigger's
/// fault reads it).
#[cfg(feature = "crash-trigger")]
const UNMAPPED: usize = 0xF000_0000;

/// The crash trigger's fault: reads an unmapped address, a precise BusFault
/// on a real chip. QEMU answers that read with zero instead, so then it
/// calls into the same address, in the system region that is never
/// executable: a MemManage fault (IACCVIOL). Either escalates to a
/// HardFault, whose stacked LR points back here.
#[cfg(feature = "crash-trigger")]
#[inline(never)]
fn bad_memory_access() {
    // SAFETY: none; both accesses are meant to fault (test builds only).
    #[allow(unsafe_code)]
    unsafe {
        let value = core::ptr::read_volatile(UNMAPPED as *const u32);
        core::hint::black_box(value);
        let function: extern "C" fn() = core::mem::transmute(UNMAPPED | 1);
        function();
    }
}

#[cfg(feature = "crash-trigger")]
fn crash_trigger(frame: &Received<'_>) {
    let Received::Frame(bytes) = frame else {
        return;
    };
    if !mbnode_core::frame::crc_ok(bytes) {
        return;
    }
    match bytes {
        [0xFF, 0x66, 0x01, _, _] => panic!("crash trigger: panic requested"),
        [0xFF, 0x66, 0x02, _, _] => bad_memory_access(),
        [0xFF, 0x66, 0x03, _, _] => loop {
            core::hint::spin_loop();
        },
        _ => {}
    }
}
