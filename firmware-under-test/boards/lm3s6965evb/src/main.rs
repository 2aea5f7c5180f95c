//! The Modbus RTU sensor node on QEMU's `lm3s6965evb` (TI Stellaris LM3S6965,
//! Cortex-M3): UART0 (PA0/PA1, the first `-serial` of QEMU) at 115200 8N1,
//! the system clock at 50 MHz from the PLL.
//!
//! Everything board-independent is in `mbnode-fw`; this file is the
//! [`Board`] implementation and the vectors that call into it. Register
//! names and offsets are those of the LM3S6965 datasheet (DS-LM3S6965).

#![no_std]
#![no_main]
#![deny(unsafe_code)]

use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use lm3s6965::{interrupt, Interrupt};
use mbnode_fw::mmio::Reg;
use mbnode_fw::{Board, RxEvent};

/// System control (datasheet section 6).
#[allow(unsafe_code, clippy::identity_op)] // identity_op: offsets as the manual lists them
mod sysctl {
    use super::Reg;
    const BASE: usize = 0x400F_E000;
    // SAFETY (all four): System Control registers, always clocked.
    /// Raw interrupt status; bit 6 PLLLRIS: the PLL has locked.
    pub const RIS: Reg = unsafe { Reg::new(BASE + 0x050) };
    /// Run-mode clock configuration.
    pub const RCC: Reg = unsafe { Reg::new(BASE + 0x060) };
    /// Run-mode clock gating 1; bit 0 UART0.
    pub const RCGC1: Reg = unsafe { Reg::new(BASE + 0x104) };
    /// Run-mode clock gating 2; bit 0 GPIO port A.
    pub const RCGC2: Reg = unsafe { Reg::new(BASE + 0x108) };
}

/// GPIO port A (datasheet section 8), APB aperture.
#[allow(unsafe_code, clippy::identity_op)] // identity_op: offsets as the manual lists them
mod gpioa {
    use super::Reg;
    const BASE: usize = 0x4000_4000;
    // SAFETY (both): port A registers, used only after RCGC2 enables its clock.
    /// Alternate function select.
    pub const AFSEL: Reg = unsafe { Reg::new(BASE + 0x420) };
    /// Digital enable.
    pub const DEN: Reg = unsafe { Reg::new(BASE + 0x51C) };
}

/// UART0 (datasheet section 12), an ARM PL011 with Stellaris additions.
#[allow(unsafe_code, clippy::identity_op)] // identity_op: offsets as the manual lists them
mod uart0 {
    use super::Reg;
    const BASE: usize = 0x4000_C000;
    // SAFETY (all): UART0 registers, used only after RCGC1 enables its clock.
    /// Data: bits 7:0 the byte, bits 11:8 OE, BE, PE, FE of that byte.
    pub const DR: Reg = unsafe { Reg::new(BASE + 0x000) };
    /// Flags: bit 4 RXFE (receive FIFO empty), bit 5 TXFF (transmit FIFO full).
    pub const FR: Reg = unsafe { Reg::new(BASE + 0x018) };
    /// Integer baud-rate divisor.
    pub const IBRD: Reg = unsafe { Reg::new(BASE + 0x024) };
    /// Fractional baud-rate divisor, in 64ths.
    pub const FBRD: Reg = unsafe { Reg::new(BASE + 0x028) };
    /// Line control: word length, FIFO enable. Latches the divisors.
    pub const LCRH: Reg = unsafe { Reg::new(BASE + 0x02C) };
    /// Control: UART, transmit and receive enables.
    pub const CTL: Reg = unsafe { Reg::new(BASE + 0x030) };
    /// FIFO interrupt levels.
    pub const IFLS: Reg = unsafe { Reg::new(BASE + 0x034) };
    /// Interrupt mask (1 = enabled).
    pub const IM: Reg = unsafe { Reg::new(BASE + 0x038) };
    /// Interrupt clear.
    pub const ICR: Reg = unsafe { Reg::new(BASE + 0x044) };
}

const RIS_PLLLRIS: u32 = 1 << 6;

const RCC_SYSDIV_MASK: u32 = 0xF << 23;
const RCC_USESYSDIV: u32 = 1 << 22;
const RCC_PWRDN: u32 = 1 << 13;
const RCC_OEN: u32 = 1 << 12;
const RCC_BYPASS: u32 = 1 << 11;
const RCC_XTAL_MASK: u32 = 0xF << 6;
const RCC_OSCSRC_MASK: u32 = 0x3 << 4;
/// The evaluation board's 8 MHz crystal.
const RCC_XTAL_8MHZ: u32 = 0xE << 6;
/// The main oscillator.
const RCC_OSCSRC_MAIN: u32 = 0 << 4;
/// 400 MHz PLL / 2 / (3 + 1) = 50 MHz, the LM3S6965's maximum. QEMU models
/// the same result as 200 MHz / (SYSDIV + 1).
const RCC_SYSDIV_50MHZ: u32 = 3 << 23;

const PORT_A_UART0_PINS: u32 = 0b11; // PA0 U0Rx, PA1 U0Tx
const RCGC1_UART0: u32 = 1 << 0;
const RCGC2_GPIOA: u32 = 1 << 0;

const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const DR_OE: u32 = 1 << 11;
const LCRH_WLEN_8: u32 = 0x3 << 5;
const LCRH_FEN: u32 = 1 << 4;
const CTL_UARTEN: u32 = 1 << 0;
const CTL_TXE: u32 = 1 << 8;
const CTL_RXE: u32 = 1 << 9;
/// Receive interrupt at 1/8 full (2 bytes), the lowest level: the earliest
/// time stamps (see `mbnode_fw::on_uart_interrupt`).
const IFLS_RX_1_8: u32 = 0 << 3;
const INT_RX: u32 = 1 << 4;
const INT_RT: u32 = 1 << 6;
const INT_OE: u32 = 1 << 10;
/// Every interrupt source of the UART, for ICR.
const INT_ALL: u32 = 0x7F2;

/// 50 MHz / (16 * 115200) = 27.127: 27 and 8/64.
const IBRD_115200: u32 = 27;
const FBRD_115200: u32 = 8;

/// The board.
struct Lm3s6965evb;

impl Board for Lm3s6965evb {
    const MODEL_NAME: &'static str = "lm3s6965evb";
    /// SysTick counts the 50 MHz system clock. Measured on QEMU 7.2 (the
    /// uptime registers against the host's clock over 10 s): 50 MHz after
    /// `init_clocks` (0.5 % slow: QEMU reloads the counter a few
    /// microseconds late every millisecond), 12.5 MHz with the reset
    /// clocks, where QEMU computes 200 MHz / 16 instead of the datasheet's
    /// crystal bypass.
    const SYSTICK_HZ: u32 = 50_000_000;

    // QEMU's UART has no baud timing; see `Board::SILENCE_US`. 10 ms keeps
    // a burst whole on a loaded host and stays below the 20 ms that hilt
    // leaves between a malformed frame and the next request.
    const SILENCE_US: u32 = 10_000;

    fn init_clocks() {
        // The datasheet's PLL sequence (6.3): bypass, configure and power
        // up, set the divider, wait for lock, then switch over.
        let rcc = (sysctl::RCC.read() | RCC_BYPASS) & !RCC_USESYSDIV;
        sysctl::RCC.write(rcc);
        let rcc = (rcc & !(RCC_XTAL_MASK | RCC_OSCSRC_MASK | RCC_PWRDN | RCC_OEN))
            | RCC_XTAL_8MHZ
            | RCC_OSCSRC_MAIN;
        sysctl::RCC.write(rcc);
        let rcc = (rcc & !RCC_SYSDIV_MASK) | RCC_SYSDIV_50MHZ | RCC_USESYSDIV;
        sysctl::RCC.write(rcc);
        // Lock takes well under a millisecond. Bounded, so a chip (or an
        // emulator) that never reports it still boots, on a slower clock.
        for _ in 0..100_000 {
            if sysctl::RIS.read() & RIS_PLLLRIS != 0 {
                break;
            }
        }
        sysctl::RCC.write(rcc & !RCC_BYPASS);
    }

    fn init_uart() {
        sysctl::RCGC1.modify(0, RCGC1_UART0);
        sysctl::RCGC2.modify(0, RCGC2_GPIOA);
        // The clocks take three system clock cycles to reach the peripherals.
        for _ in 0..3 {
            sysctl::RCGC2.read();
        }
        gpioa::AFSEL.modify(0, PORT_A_UART0_PINS);
        gpioa::DEN.modify(0, PORT_A_UART0_PINS);

        uart0::CTL.write(0);
        uart0::IBRD.write(IBRD_115200);
        uart0::FBRD.write(FBRD_115200);
        uart0::LCRH.write(LCRH_WLEN_8 | LCRH_FEN);
        uart0::IFLS.write(IFLS_RX_1_8);
        // Discard what the FIFO still holds: QEMU 7.2's PL011 keeps its FIFO
        // across a system reset and raises the receive interrupt only as the
        // FIFO goes from empty to one byte, so stale bytes would silence the
        // receiver for good. Clear first, then drain: a byte that arrives
        // after the drain leaves its interrupt raised for IM below.
        uart0::ICR.write(INT_ALL);
        while uart0::FR.read() & FR_RXFE == 0 {
            uart0::DR.read();
        }
        // RX: the FIFO reached its level; RT: bytes sit below the level and
        // the line has been idle for 32 bit times; OE: the FIFO overflowed.
        uart0::IM.write(INT_RX | INT_RT | INT_OE);
        uart0::CTL.write(CTL_UARTEN | CTL_TXE | CTL_RXE);
        // SAFETY: the handler (UART0 below) and everything it shares with the
        // main loop are ready; it keeps the reset priority, equal to SysTick's.
        #[allow(unsafe_code)]
        unsafe {
            NVIC::unmask(Interrupt::UART0)
        };
    }

    fn write(bytes: &[u8]) {
        for &byte in bytes {
            while uart0::FR.read() & FR_TXFF != 0 {}
            uart0::DR.write(u32::from(byte));
        }
    }

    fn drain_rx(mut sink: impl FnMut(RxEvent)) {
        // Clear first: a byte that arrives after the FIFO is drained raises
        // the interrupt again instead of waiting behind a cleared flag.
        uart0::ICR.write(INT_RX | INT_RT | INT_OE);
        while uart0::FR.read() & FR_RXFE == 0 {
            let data = uart0::DR.read();
            // The PL011 flags an overrun on the first byte received after
            // it: the lost bytes came before this one.
            if data & DR_OE != 0 {
                sink(RxEvent::Lost);
            }
            sink(RxEvent::Byte(data as u8));
        }
    }
}

#[entry]
fn main() -> ! {
    mbnode_fw::run::<Lm3s6965evb>()
}

#[exception]
fn SysTick() {
    mbnode_fw::on_systick();
}

// cortex-m-rt requires HardFault to be declared `unsafe`; the handler only
// reads the exception frame it is given.
#[allow(unsafe_code)]
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    mbnode_fw::hard_fault(frame)
}

#[interrupt]
fn UART0() {
    mbnode_fw::on_uart_interrupt::<Lm3s6965evb>();
}
