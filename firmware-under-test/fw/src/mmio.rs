//! Memory-mapped registers, for boards that talk to their peripherals
//! directly rather than through a generated PAC.
//!
//! The unsafety is in naming the register: [`Reg::new`] is `unsafe` and
//! promises a valid, always-accessible 32-bit register. Reading and writing a
//! register so named is then safe, so a board has one `unsafe` per register
//! block (the constants it defines from its reference manual) instead of one
//! per access.

/// A 32-bit memory-mapped register at a fixed address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg(usize);

impl Reg {
    /// The register at `addr`.
    ///
    /// # Safety
    ///
    /// `addr` must be a 4-byte aligned, 32-bit memory-mapped register of the
    /// running chip that may be read and written at any time without
    /// faulting (its peripheral clock enabled before use where the chip
    /// gates it), and whose reads and writes have no effect on memory that
    /// Rust owns.
    #[allow(unsafe_code)]
    pub const unsafe fn new(addr: usize) -> Reg {
        Reg(addr)
    }

    /// The register's address.
    pub const fn addr(self) -> usize {
        self.0
    }

    /// Reads the register.
    #[inline(always)]
    pub fn read(self) -> u32 {
        // SAFETY: `Reg::new` promised a valid, readable MMIO register. A
        // volatile read, so that every read reaches the peripheral.
        #[allow(unsafe_code)]
        unsafe {
            core::ptr::read_volatile(self.0 as *const u32)
        }
    }

    /// Writes `value` to the register.
    #[inline(always)]
    pub fn write(self, value: u32) {
        // SAFETY: `Reg::new` promised a valid, writable MMIO register that
        // aliases no memory Rust owns.
        #[allow(unsafe_code)]
        unsafe {
            core::ptr::write_volatile(self.0 as *mut u32, value)
        }
    }

    /// Read-modify-write: sets the bits of `set`, after clearing those of
    /// `clear`. Not atomic: use it from one context only, or with interrupts
    /// masked.
    #[inline(always)]
    pub fn modify(self, clear: u32, set: u32) {
        self.write((self.read() & !clear) | set);
    }
}
