//! The crash record, the panic handler and the HardFault helper.
//!
//! A panic or a HardFault fills [`HILT_CRASH_RECORD`], then announces the
//! crash on the UART as one ASCII line, then stays halted (interrupts
//! masked, SysTick stopped, the core asleep in [`halted`]) until a debugger
//! or a reset. Nothing resets automatically: the harness decides.
//!
//! # The UART line
//!
//! Written with blocking writes, after the record, as
//! `\r\nHILT-CRASH <what>\r\n`, where `<what>` is one of
//!
//! - `panic at <file>:<line>: <message>` (the whole message, not truncated)
//! - `hardfault pc=0x%08x lr=0x%08x xpsr=0x%08x cfsr=0x%08x hfsr=0x%08x mmfar=0x%08x bfar=0x%08x`
//!
//! Bytes outside printable ASCII (CR, LF, UTF-8) are written as `?`, so the
//! announcement is always exactly one line. If the crash happens before the
//! UART is set up, only the record is written.
//!
//! # The record
//!
//! `HILT_CRASH_RECORD` is an unmangled symbol (find its address and size in
//! the ELF's symbol table) in cortex-m-rt's `.uninit` section, which the
//! start-up code neither zeroes nor initialises: it survives a reset (not a
//! power cycle). At every boot the firmware checks `magic` and `version`: if
//! both match, it increments `boot_count` and leaves the rest alone (so the
//! last crash stays readable after the reset that recovers the node);
//! otherwise it zeroes the record and writes `magic`, `version` and
//! `boot_count = 1`. A crash overwrites the crash fields.
//!
//! Layout (`#[repr(C)]`, little-endian, 256 bytes, 4-byte aligned):
//!
//! | offset | size | field | contents |
//! | --- | --- | --- | --- |
//! | 0x00 | 4 | `magic` | [`MAGIC`], 0x544C4948 (the bytes `HILT`), when the record is valid |
//! | 0x04 | 4 | `version` | [`VERSION`], 1: this layout |
//! | 0x08 | 4 | `boot_count` | boots since the record was (re)initialised, this one included; wraps |
//! | 0x0C | 4 | `kind` | 0 none, 1 panic, 2 HardFault: the last crash |
//! | 0x10 | 4 | `crash_boot` | the `boot_count` of the boot that crashed (so `crash_boot == boot_count` means "this boot crashed") |
//! | 0x14 | 4 | `flags` | bit 0: `file` truncated; bit 1: `message` truncated |
//! | 0x18 | 4 | `line` | panic: line (0 for a HardFault) |
//! | 0x1C | 4 | `column` | panic: column |
//! | 0x20 | 4 | `pc` | HardFault: stacked PC, the faulting instruction (0 for a panic) |
//! | 0x24 | 4 | `lr` | HardFault: stacked LR |
//! | 0x28 | 4 | `xpsr` | HardFault: stacked xPSR |
//! | 0x2C | 4 | `cfsr` | HardFault: SCB CFSR (0xE000ED28) |
//! | 0x30 | 4 | `hfsr` | HardFault: SCB HFSR (0xE000ED2C) |
//! | 0x34 | 4 | `mmfar` | HardFault: SCB MMFAR (0xE000ED34), meaningful if CFSR.MMARVALID |
//! | 0x38 | 4 | `bfar` | HardFault: SCB BFAR (0xE000ED38), meaningful if CFSR.BFARVALID |
//! | 0x3C | 2 | `file_len` | bytes used in `file` |
//! | 0x3E | 2 | `message_len` | bytes used in `message` |
//! | 0x40 | 64 | `file` | panic: source file, UTF-8, zero-padded; if longer, its last bytes (cut at a character boundary) |
//! | 0x80 | 128 | `message` | panic: message, UTF-8, zero-padded; if longer, its first bytes (cut at a character boundary) |
//!
//! For a HardFault the panic fields are zero, and the other way round.
//! The offsets are checked at compile time below.

use core::cell::{Cell, UnsafeCell};
use core::fmt::{self, Write};
use core::mem::{offset_of, size_of, MaybeUninit};
use core::panic::PanicInfo;
use core::ptr::{self, addr_of, addr_of_mut};
use core::sync::atomic::{compiler_fence, AtomicBool, Ordering};

use cortex_m::peripheral::{NVIC, SCB};
use cortex_m_rt::ExceptionFrame;
use critical_section::Mutex;

/// `magic` of a valid record: the bytes `HILT` in memory order.
pub const MAGIC: u32 = u32::from_le_bytes(*b"HILT");
/// `version` of this layout.
pub const VERSION: u32 = 1;
/// `kind`: no crash recorded since the record was initialised.
pub const KIND_NONE: u32 = 0;
/// `kind`: a Rust panic.
pub const KIND_PANIC: u32 = 1;
/// `kind`: a HardFault (including escalated MemManage, BusFault, UsageFault).
pub const KIND_HARDFAULT: u32 = 2;
/// `flags` bit: the file name was truncated.
pub const FLAG_FILE_TRUNCATED: u32 = 1 << 0;
/// `flags` bit: the panic message was truncated.
pub const FLAG_MESSAGE_TRUNCATED: u32 = 1 << 1;
/// Capacity of `file`.
pub const FILE_CAPACITY: usize = 64;
/// Capacity of `message`.
pub const MESSAGE_CAPACITY: usize = 128;

/// The crash record; see the [module documentation](self) for its layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // The fields are documented in the module's table.
pub struct CrashRecord {
    pub magic: u32,
    pub version: u32,
    pub boot_count: u32,
    pub kind: u32,
    pub crash_boot: u32,
    pub flags: u32,
    pub line: u32,
    pub column: u32,
    pub pc: u32,
    pub lr: u32,
    pub xpsr: u32,
    pub cfsr: u32,
    pub hfsr: u32,
    pub mmfar: u32,
    pub bfar: u32,
    pub file_len: u16,
    pub message_len: u16,
    pub file: [u8; FILE_CAPACITY],
    pub message: [u8; MESSAGE_CAPACITY],
}

// The layout is a contract with the harness: keep it exactly as documented.
const _: () = {
    assert!(size_of::<CrashRecord>() == 0x100);
    assert!(offset_of!(CrashRecord, magic) == 0x00);
    assert!(offset_of!(CrashRecord, version) == 0x04);
    assert!(offset_of!(CrashRecord, boot_count) == 0x08);
    assert!(offset_of!(CrashRecord, kind) == 0x0C);
    assert!(offset_of!(CrashRecord, crash_boot) == 0x10);
    assert!(offset_of!(CrashRecord, flags) == 0x14);
    assert!(offset_of!(CrashRecord, line) == 0x18);
    assert!(offset_of!(CrashRecord, column) == 0x1C);
    assert!(offset_of!(CrashRecord, pc) == 0x20);
    assert!(offset_of!(CrashRecord, lr) == 0x24);
    assert!(offset_of!(CrashRecord, xpsr) == 0x28);
    assert!(offset_of!(CrashRecord, cfsr) == 0x2C);
    assert!(offset_of!(CrashRecord, hfsr) == 0x30);
    assert!(offset_of!(CrashRecord, mmfar) == 0x34);
    assert!(offset_of!(CrashRecord, bfar) == 0x38);
    assert!(offset_of!(CrashRecord, file_len) == 0x3C);
    assert!(offset_of!(CrashRecord, message_len) == 0x3E);
    assert!(offset_of!(CrashRecord, file) == 0x40);
    assert!(offset_of!(CrashRecord, message) == 0x80);
};

impl CrashRecord {
    /// A valid record with no crash and no boots counted.
    pub const EMPTY: CrashRecord = CrashRecord {
        magic: MAGIC,
        version: VERSION,
        boot_count: 0,
        kind: KIND_NONE,
        crash_boot: 0,
        flags: 0,
        line: 0,
        column: 0,
        pc: 0,
        lr: 0,
        xpsr: 0,
        cfsr: 0,
        hfsr: 0,
        mmfar: 0,
        bfar: 0,
        file_len: 0,
        message_len: 0,
        file: [0; FILE_CAPACITY],
        message: [0; MESSAGE_CAPACITY],
    };
}

/// Storage for the crash record outside Rust's initialised statics.
#[derive(Debug)]
#[repr(transparent)]
pub struct RecordCell(UnsafeCell<MaybeUninit<CrashRecord>>);

// SAFETY: one core. The record is written only at boot, before any interrupt
// is unmasked, and by the crash handlers, which mask interrupts, run at most
// once (`CRASHING`) and never return. No reference to the contents is ever
// handed out; all accesses are volatile through a raw pointer.
#[allow(unsafe_code)]
unsafe impl Sync for RecordCell {}

/// The crash record, found by the harness by this symbol name.
// `no_mangle` keeps the name the harness looks up; `.uninit` is the section
// cortex-m-rt's start-up code leaves alone, so the record survives a reset.
#[allow(unsafe_code)]
#[no_mangle]
#[used]
#[link_section = ".uninit.HILT_CRASH_RECORD"]
pub static HILT_CRASH_RECORD: RecordCell = RecordCell(UnsafeCell::new(MaybeUninit::uninit()));

fn record() -> *mut CrashRecord {
    HILT_CRASH_RECORD.0.get().cast()
}

/// The record's boot count, if the record is valid.
fn valid_boot_count() -> Option<u32> {
    let p = record();
    // SAFETY: `p` points to the static, aligned and in RAM; no reference to
    // it exists (see `RecordCell`). The RAM holds whatever the previous boot
    // (or power-on) left; every bit pattern is a valid `u32`, and volatile
    // reads are opaque loads the compiler cannot assume anything about.
    #[allow(unsafe_code)]
    let (magic, version, boots) = unsafe {
        (
            ptr::read_volatile(addr_of!((*p).magic)),
            ptr::read_volatile(addr_of!((*p).version)),
            ptr::read_volatile(addr_of!((*p).boot_count)),
        )
    };
    (magic == MAGIC && version == VERSION).then_some(boots)
}

fn store(value: &CrashRecord) {
    // SAFETY: as in `valid_boot_count`; we are the only context running
    // (boot, or a crash handler with interrupts masked).
    #[allow(unsafe_code)]
    unsafe {
        ptr::write_volatile(record(), *value)
    }
}

/// This boot's number (1 after a power-on), once [`on_boot`] has run.
pub(crate) fn boot_count() -> u32 {
    valid_boot_count().unwrap_or(0)
}

/// Counts this boot in the record, initialising it if it is not valid.
/// Called once, first thing at boot.
pub(crate) fn on_boot() {
    match valid_boot_count() {
        Some(boots) => {
            // SAFETY: as in `valid_boot_count`; interrupts are not unmasked yet.
            #[allow(unsafe_code)]
            unsafe {
                ptr::write_volatile(addr_of_mut!((*record()).boot_count), boots.wrapping_add(1))
            }
        }
        None => store(&CrashRecord {
            boot_count: 1,
            ..CrashRecord::EMPTY
        }),
    }
}

/// Set once a crash handler runs, so that a fault while reporting a crash
/// does not overwrite the first one.
static CRASHING: AtomicBool = AtomicBool::new(false);

/// A board's blocking UART write.
type ConsoleWrite = fn(&[u8]);

/// The board's blocking UART write, once the UART is set up.
static CONSOLE: Mutex<Cell<Option<ConsoleWrite>>> = Mutex::new(Cell::new(None));

/// Makes the crash handlers announce crashes with `write`.
pub(crate) fn set_console(write: ConsoleWrite) {
    critical_section::with(|cs| CONSOLE.borrow(cs).set(Some(write)));
}

/// Masks interrupts and claims the crash; halts at once on a nested crash.
/// Returns a fresh record of `kind` for this boot.
fn begin(kind: u32) -> CrashRecord {
    cortex_m::interrupt::disable();
    if CRASHING.swap(true, Ordering::Relaxed) {
        halted();
    }
    let boots = valid_boot_count().unwrap_or(0);
    CrashRecord {
        boot_count: boots,
        kind,
        crash_boot: boots,
        ..CrashRecord::EMPTY
    }
}

/// Stops every interrupt source the firmware started, so that the core can
/// really sleep in [`halted`] (a pending interrupt ends `WFI` even while
/// masked, and an emulator would otherwise spin a host core).
fn quiesce() {
    // SAFETY: interrupts are masked and this context never returns, so no
    // code that relies on SysTick or on an interrupt line runs again. The
    // pointers are the core's own SysTick and NVIC, present on every
    // ARMv7-M; clearing SysTick's ENABLE and TICKINT stops the counter and
    // its interrupt, the ICER/ICPR writes disable and unpend every device
    // interrupt.
    #[allow(unsafe_code)]
    unsafe {
        let mut core = cortex_m::Peripherals::steal();
        core.SYST.disable_interrupt();
        core.SYST.disable_counter();
        let nvic = &*NVIC::PTR;
        for i in 0..nvic.icer.len() {
            nvic.icer[i].write(u32::MAX);
            nvic.icpr[i].write(u32::MAX);
        }
    }
    SCB::clear_pendst();
}

/// Where a crashed node stays, asleep with interrupts masked, until a
/// debugger halts it or a reset. Never inlined, so that a debugger's PC
/// names it.
#[inline(never)]
pub fn halted() -> ! {
    loop {
        cortex_m::asm::wfi();
        compiler_fence(Ordering::SeqCst);
    }
}

/// Writes `\r\nHILT-CRASH <what>\r\n` on the console, if there is one.
fn announce(what: fmt::Arguments<'_>) {
    let Some(write) = critical_section::with(|cs| CONSOLE.borrow(cs).get()) else {
        return;
    };
    let mut line = AsciiLine {
        write,
        buf: [0; 32],
        len: 0,
    };
    line.raw(b"\r\nHILT-CRASH ");
    // AsciiLine never fails; a failing `Display` impl just ends the line early.
    let _ = line.write_fmt(what);
    line.raw(b"\r\n");
    line.flush();
}

/// Records a panic, announces it and halts.
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut record = begin(KIND_PANIC);
    let (file, line) = match info.location() {
        Some(location) => (location.file(), location.line()),
        None => ("<unknown>", 0),
    };
    record.line = line;
    record.column = info.location().map_or(0, |l| l.column());
    let (file_len, file_cut) = copy_tail(&mut record.file, file);
    let mut field = Truncating::new(&mut record.message);
    let _ = write!(field, "{}", info.message());
    let (message_len, message_cut) = (field.len, field.truncated);
    record.file_len = file_len;
    record.message_len = message_len;
    record.flags = if file_cut { FLAG_FILE_TRUNCATED } else { 0 }
        | if message_cut {
            FLAG_MESSAGE_TRUNCATED
        } else {
            0
        };
    store(&record);
    quiesce();
    announce(format_args!(
        "panic at {}:{}: {}",
        file,
        line,
        info.message()
    ));
    halted()
}

/// Records a HardFault from its exception frame, announces it and halts.
/// Call it from the board's `#[exception] unsafe fn HardFault`.
pub fn hard_fault(frame: &ExceptionFrame) -> ! {
    let mut r = begin(KIND_HARDFAULT);
    // SAFETY: the System Control Block of the ARMv7-M core; reading its
    // fault status and address registers has no side effects.
    #[allow(unsafe_code)]
    let scb = unsafe { &*SCB::PTR };
    r.pc = frame.pc();
    r.lr = frame.lr();
    r.xpsr = frame.xpsr();
    r.cfsr = scb.cfsr.read();
    r.hfsr = scb.hfsr.read();
    r.mmfar = scb.mmfar.read();
    r.bfar = scb.bfar.read();
    store(&r);
    quiesce();
    announce(format_args!(
        "hardfault pc={:#010x} lr={:#010x} xpsr={:#010x} cfsr={:#010x} hfsr={:#010x} mmfar={:#010x} bfar={:#010x}",
        r.pc, r.lr, r.xpsr, r.cfsr, r.hfsr, r.mmfar, r.bfar
    ));
    halted()
}

/// Copies the end of `s` that fits into `buf` (the file name matters more
/// than the directories above it), cut at a character boundary. Returns the
/// length used and whether `s` was cut.
fn copy_tail(buf: &mut [u8], s: &str) -> (u16, bool) {
    let mut start = s.len().saturating_sub(buf.len());
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let tail = &s.as_bytes()[start..];
    buf[..tail.len()].copy_from_slice(tail);
    // tail.len() <= buf.len() <= FILE_CAPACITY, far below u16::MAX.
    (tail.len() as u16, start > 0)
}

/// A fixed buffer that keeps the beginning of what is written to it, cut at
/// a character boundary.
struct Truncating<'a> {
    buf: &'a mut [u8],
    len: u16,
    truncated: bool,
}

impl<'a> Truncating<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Truncating {
            buf,
            len: 0,
            truncated: false,
        }
    }
}

impl Write for Truncating<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let start = usize::from(self.len);
            let end = start + c.len_utf8();
            match self.buf.get_mut(start..end) {
                Some(room) if !self.truncated => {
                    c.encode_utf8(room);
                    // end <= buf.len() <= MESSAGE_CAPACITY, far below u16::MAX.
                    self.len = end as u16;
                }
                _ => {
                    self.truncated = true;
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Writes printable ASCII through the board's UART, everything else as `?`.
struct AsciiLine {
    write: ConsoleWrite,
    buf: [u8; 32],
    len: usize,
}

impl AsciiLine {
    fn push(&mut self, byte: u8) {
        if self.len == self.buf.len() {
            self.flush();
        }
        self.buf[self.len] = byte;
        self.len += 1;
    }

    fn raw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }

    fn flush(&mut self) {
        (self.write)(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Write for AsciiLine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            self.push(if (0x20..0x7F).contains(&b) { b } else { b'?' });
        }
        Ok(())
    }
}
