//! The Modbus RTU sensor node on a NUCLEO-F401RE (STM32F401RE, Cortex-M4F):
//! USART2 on PA2 (TX) / PA3 (RX), alternate function 7, which the board wires
//! to the ST-LINK's virtual COM port; 115200 8N1; the system clock is the
//! 16 MHz HSI.
//!
//! Everything board-independent is in `mbnode-fw`; this file is the
//! [`Board`] implementation, the interrupt vector table and the vectors that
//! call into the firmware. Register names and offsets are those of the
//! reference manual RM0368.

#![no_std]
#![no_main]
#![deny(unsafe_code)]

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use mbnode_fw::mmio::Reg;
use mbnode_fw::{Board, RxEvent};

/// Reset and clock control (RM0368 section 6).
#[allow(unsafe_code, clippy::identity_op)] // identity_op: offsets as the manual lists them
mod rcc {
    use super::Reg;
    const BASE: usize = 0x4002_3800;
    // SAFETY (all four): RCC registers, always clocked.
    /// Clock control; bit 0 HSION, bit 1 HSIRDY.
    pub const CR: Reg = unsafe { Reg::new(BASE + 0x00) };
    /// Clock configuration: system clock switch, bus prescalers.
    pub const CFGR: Reg = unsafe { Reg::new(BASE + 0x08) };
    /// AHB1 peripheral clock enable; bit 0 GPIOA.
    pub const AHB1ENR: Reg = unsafe { Reg::new(BASE + 0x30) };
    /// APB1 peripheral clock enable; bit 17 USART2.
    pub const APB1ENR: Reg = unsafe { Reg::new(BASE + 0x40) };
}

/// GPIO port A (RM0368 section 8).
#[allow(unsafe_code, clippy::identity_op)] // identity_op: offsets as the manual lists them
mod gpioa {
    use super::Reg;
    const BASE: usize = 0x4002_0000;
    // SAFETY (all three): port A registers, used only after AHB1ENR enables
    // its clock.
    /// Mode, two bits per pin.
    pub const MODER: Reg = unsafe { Reg::new(BASE + 0x00) };
    /// Pull-up/pull-down, two bits per pin.
    pub const PUPDR: Reg = unsafe { Reg::new(BASE + 0x0C) };
    /// Alternate function of pins 0..=7, four bits per pin.
    pub const AFRL: Reg = unsafe { Reg::new(BASE + 0x20) };
}

/// USART2 (RM0368 section 19).
#[allow(unsafe_code, clippy::identity_op)] // identity_op: offsets as the manual lists them
mod usart2 {
    use super::Reg;
    const BASE: usize = 0x4000_4400;
    // SAFETY (all four): USART2 registers, used only after APB1ENR enables
    // its clock.
    /// Status: bit 3 ORE, bit 5 RXNE, bit 7 TXE.
    pub const SR: Reg = unsafe { Reg::new(BASE + 0x00) };
    /// Data.
    pub const DR: Reg = unsafe { Reg::new(BASE + 0x04) };
    /// Baud rate: the divisor in 16ths.
    pub const BRR: Reg = unsafe { Reg::new(BASE + 0x08) };
    /// Control 1: enables, word length, parity, interrupts.
    pub const CR1: Reg = unsafe { Reg::new(BASE + 0x0C) };
}

const CR_HSION: u32 = 1 << 0;
const CR_HSIRDY: u32 = 1 << 1;
const CFGR_SWS_MASK: u32 = 0b11 << 2;

const AHB1ENR_GPIOA: u32 = 1 << 0;
const APB1ENR_USART2: u32 = 1 << 17;

/// PA2 and PA3: alternate function (0b10) in MODER, AF7 in AFRL.
const MODER_PA2_PA3_MASK: u32 = 0b1111 << 4;
const MODER_PA2_PA3_AF: u32 = 0b1010 << 4;
const AFRL_PA2_PA3_MASK: u32 = 0xFF << 8;
const AFRL_PA2_PA3_AF7: u32 = 0x77 << 8;
/// A pull-up on PA3 (RX), so the line idles high while the ST-LINK's
/// side is not driving it.
const PUPDR_PA3_MASK: u32 = 0b11 << 6;
const PUPDR_PA3_UP: u32 = 0b01 << 6;

const SR_ORE: u32 = 1 << 3;
const SR_RXNE: u32 = 1 << 5;
const SR_TXE: u32 = 1 << 7;
const CR1_RE: u32 = 1 << 2;
const CR1_TE: u32 = 1 << 3;
const CR1_RXNEIE: u32 = 1 << 5;
const CR1_UE: u32 = 1 << 13;
/// 16 MHz / 115200 = 138.9: 139 sixteenths (8 + 11/16): 115,108 baud, 0.08 % slow.
const BRR_115200: u32 = 139;

/// USART2's position in the STM32F401's vector table (RM0368 table 38).
const USART2_IRQ: u16 = 38;
/// Entries in the STM32F401's device vector table (up to SPI4, position 84).
const IRQ_COUNT: usize = 85;

#[derive(Debug, Clone, Copy)]
struct Usart2Irq;

// SAFETY: 38 is the number of a real interrupt of this chip (USART2 global
// interrupt), as the trait requires.
#[allow(unsafe_code)]
unsafe impl InterruptNumber for Usart2Irq {
    fn number(self) -> u16 {
        USART2_IRQ
    }
}

/// The board.
struct NucleoF401re;

impl Board for NucleoF401re {
    const MODEL_NAME: &'static str = "nucleo-f401re";
    /// SysTick counts the 16 MHz HSI (the processor clock; no PLL).
    const SYSTICK_HZ: u32 = 16_000_000;

    fn init_clocks() {
        // The reset state already runs on the HSI with no prescalers; set it
        // again in case a bootloader or debugger changed it. 16 MHz needs no
        // flash wait states.
        // The waits are bounded (the HSI is up within microseconds) so that
        // an emulator without an RCC model still boots.
        rcc::CR.modify(0, CR_HSION);
        for _ in 0..10_000 {
            if rcc::CR.read() & CR_HSIRDY != 0 {
                break;
            }
        }
        rcc::CFGR.write(0);
        for _ in 0..10_000 {
            if rcc::CFGR.read() & CFGR_SWS_MASK == 0 {
                break;
            }
        }
    }

    fn init_uart() {
        rcc::AHB1ENR.modify(0, AHB1ENR_GPIOA);
        rcc::APB1ENR.modify(0, APB1ENR_USART2);
        // Errata ES0182 2.1.6: wait for the clock to reach the peripheral
        // after enabling it; reading the enable register back does.
        rcc::APB1ENR.read();
        gpioa::AFRL.modify(AFRL_PA2_PA3_MASK, AFRL_PA2_PA3_AF7);
        gpioa::PUPDR.modify(PUPDR_PA3_MASK, PUPDR_PA3_UP);
        gpioa::MODER.modify(MODER_PA2_PA3_MASK, MODER_PA2_PA3_AF);

        usart2::CR1.write(0);
        usart2::BRR.write(BRR_115200);
        // 8 data bits, no parity (M = 0, PCE = 0); one stop bit (CR2 reset).
        // This USART has no FIFO: one interrupt per byte, each byte
        // stamped as it arrives. RXNEIE also enables the overrun interrupt.
        usart2::CR1.write(CR1_UE | CR1_TE | CR1_RE | CR1_RXNEIE);
        // Discard a byte left from before a reset (reading SR then DR also
        // clears a stale overrun).
        usart2::SR.read();
        usart2::DR.read();
        // SAFETY: the handler (usart2 below) and everything it shares with
        // the main loop are ready; it keeps the reset priority, equal to
        // SysTick's.
        #[allow(unsafe_code)]
        unsafe {
            NVIC::unmask(Usart2Irq)
        };
    }

    fn write(bytes: &[u8]) {
        for &byte in bytes {
            while usart2::SR.read() & SR_TXE == 0 {}
            usart2::DR.write(u32::from(byte));
        }
    }

    fn drain_rx(mut sink: impl FnMut(RxEvent)) {
        loop {
            // Reading SR then DR clears RXNE and ORE.
            let status = usart2::SR.read();
            if status & (SR_RXNE | SR_ORE) == 0 {
                break;
            }
            let data = usart2::DR.read();
            if status & SR_RXNE != 0 {
                sink(RxEvent::Byte(data as u8));
            }
            // On an overrun DR keeps the older byte and the new ones are
            // lost: they came after it.
            if status & SR_ORE != 0 {
                sink(RxEvent::Lost);
            }
        }
    }
}

#[entry]
fn main() -> ! {
    mbnode_fw::run::<NucleoF401re>()
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

/// USART2 global interrupt.
extern "C" fn usart2_interrupt() {
    mbnode_fw::on_uart_interrupt::<NucleoF401re>();
}

extern "C" {
    /// cortex-m-rt's handler for interrupts nobody handles.
    fn DefaultHandler();
}

/// The device part of the vector table, which cortex-m-rt's `device`
/// feature leaves to the board (a PAC would provide it): every interrupt to
/// `DefaultHandler` but USART2's. Reserved positions point there too; they
/// never fire.
// `no_mangle` and `link_section`: cortex-m-rt's link.x places the table by
// this name and section, right after the core exceptions.
#[allow(unsafe_code)]
#[no_mangle]
#[link_section = ".vector_table.interrupts"]
static __INTERRUPTS: [unsafe extern "C" fn(); IRQ_COUNT] = {
    let mut table: [unsafe extern "C" fn(); IRQ_COUNT] = [DefaultHandler; IRQ_COUNT];
    table[USART2_IRQ as usize] = usart2_interrupt;
    table
};
