//! An independent reference model of the Modbus RTU sensor node described in
//! `MODBUS-NODE.md`: feed it the bytes that reach the node, get back the
//! answers the node must send.
//!
//! Architecture Invariant: the model is written from the node's
//! specification alone. It shares no code with the firmware (`mbnode-core`)
//! and must not be "fixed" by reading the firmware: a bug that lives in both
//! can never be found. Where the specification is silent the model follows
//! decisions written down next to the code that implements them.
//!
//! # What it models
//!
//! [`Model::exchange`] takes one *burst*: bytes that reach the node with no
//! silence inside, followed by a silence. It cuts the burst into frames the
//! way the node's receiver does (early completion on a known request length
//! with a good CRC, the silence ends whatever is left, over 256 bytes is an
//! overrun), handles each frame (counters, unit id, broadcast, listen-only
//! mode, the lock, every function and its exceptions) and returns the
//! answers in order as [`Expected`] frames.
//!
//! The only thing the model cannot predict is the uptime (input registers
//! 0x0020 and 0x0021): their bytes, and so the CRC, are marked "don't care".
//!
//! No method panics, whatever the bytes: everything untrusted is read
//! through `get`, and arithmetic on wire values is done in `usize`/`u32`
//! where it cannot overflow.

use std::fmt;

use crate::request::ModbusRequest;
use crate::wire::{
    append_crc, be16, crc_ok, function as fc, BROADCAST, EXCEPTION_BIT, FILE_REFERENCE_TYPE,
    MAX_ADU, MAX_PDU, MEI_READ_DEVICE_ID, MIN_FRAME,
};

#[cfg(test)]
mod tests;

/// The firmware version in input register 0x0017, `major << 8 | minor`.
pub const FIRMWARE_VERSION: u16 = 0x0100;

/// Holding register of the unit id (protected).
pub const UNIT_ID_REGISTER: u16 = 0x0100;
/// Holding register of the line settings code (protected, stored only).
pub const LINE_SETTINGS_REGISTER: u16 = 0x0101;
/// Holding register of the lock.
pub const LOCK_REGISTER: u16 = 0x0110;
/// The value written to [`LOCK_REGISTER`] to arm the lock.
pub const LOCK_ARM: u16 = 0xA55A;
/// The value written to [`LOCK_REGISTER`], while armed, to unlock.
pub const LOCK_UNLOCK: u16 = 0x5AA5;
/// The only FIFO pointer address of Read FIFO Queue (0x18).
pub const FIFO_ADDRESS: u16 = 0x0200;

/// Number of coils (and discrete inputs).
const COILS: u32 = 32;
/// General-purpose (0x00..=0x3F) and calibration (0x40..=0x4F) holding
/// registers, stored together.
const HOLDING_LOW: usize = 0x50;
/// First calibration (protected) holding register.
const CALIBRATION: u16 = 0x40;
/// Input registers 0x0000..=0x003F exist.
const INPUT_REGISTERS: u32 = 0x40;
/// Records per file.
const FILE_RECORDS: usize = 64;
/// Writable files 1..=3; file 4 is the log of holding register 0.
const WRITABLE_FILES: usize = 3;
/// Most values Read FIFO Queue returns.
const FIFO_MAX: usize = 31;
/// Uptime input registers: unpredictable, "don't care" in answers.
const UPTIME: [u16; 2] = [0x0020, 0x0021];
/// Largest valid unit id.
const MAX_UNIT_ID: u16 = 247;

/// The text of Report Server ID (0x11), after the server id and run
/// indicator.
const SERVER_ID_TEXT: &[u8] = b"hilt MB-NODE-1";
/// Server id byte of Report Server ID.
const SERVER_ID: u8 = 0x4E;
/// Run indicator byte of Report Server ID (on).
const RUN_INDICATOR: u8 = 0xFF;
/// Conformity level of Read Device Identification: regular, with
/// individual access.
const CONFORMITY_LEVEL: u8 = 0x82;
/// Device identification objects 0x00..=0x04; 0x05 is the model name.
const DEVICE_OBJECTS: [&[u8]; 5] = [
    b"hilt",
    b"MB-NODE-1",
    b"1.0",
    b"https://example.invalid/hilt",
    b"hilt sensor node",
];
/// The longest model name that still lets a regular Read Device
/// Identification answer (all six objects) fit in a 253-byte PDU: 7 bytes
/// of header, 2 per object, 60 of objects 0..=4.
const MAX_MODEL_NAME: usize = MAX_PDU - 7 - 2 * 6 - 60;

/// Exception codes the node sends.
mod exception {
    pub const ILLEGAL_FUNCTION: u8 = 0x01;
    pub const ILLEGAL_DATA_ADDRESS: u8 = 0x02;
    pub const ILLEGAL_DATA_VALUE: u8 = 0x03;
    pub const DEVICE_FAILURE: u8 = 0x04;
}
use exception::{DEVICE_FAILURE, ILLEGAL_DATA_ADDRESS, ILLEGAL_DATA_VALUE, ILLEGAL_FUNCTION};

/// Diagnostics (0x08) sub-functions the node supports.
mod diag {
    pub const RETURN_QUERY_DATA: u16 = 0x0000;
    pub const RESTART_COMMUNICATIONS: u16 = 0x0001;
    pub const FORCE_LISTEN_ONLY: u16 = 0x0004;
    pub const CLEAR_COUNTERS: u16 = 0x000A;
    pub const BUS_MESSAGES: u16 = 0x000B;
    pub const BUS_CHARACTER_OVERRUNS: u16 = 0x0012;
}

/// The state of the write-protection lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LockState {
    /// Protected registers refuse writes (at reset).
    #[default]
    Locked,
    /// 0xA55A was written to the lock register: 0x5AA5, next, unlocks.
    Armed,
    /// Protected registers can be written.
    Unlocked,
}

/// The node's diagnostic counters (serial line specification), all u16
/// wrapping. NAK and busy are always 0 and not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Counters {
    /// Frames with a good CRC, any unit id.
    pub bus_messages: u16,
    /// Frames with a bad CRC or too short to hold one.
    pub comm_errors: u16,
    /// Exception responses sent.
    pub exceptions: u16,
    /// Frames for this unit id or broadcast.
    pub server_messages: u16,
    /// Server messages that got no answer (broadcast, listen-only, 0x0004).
    pub no_responses: u16,
    /// Frames dropped for being longer than 256 bytes.
    pub overruns: u16,
}

impl Counters {
    /// The counters in the order of input registers 0x0010..=0x0015.
    fn registers(&self) -> [u16; 6] {
        [
            self.bus_messages,
            self.comm_errors,
            self.exceptions,
            self.server_messages,
            self.no_responses,
            self.overruns,
        ]
    }
}

/// One answer the node must send: its exact bytes, except at positions the
/// model cannot predict.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Expected {
    /// The whole frame, unit id to CRC. Unpredictable bytes hold 0 here and
    /// the CRC is computed over those zeros.
    pub bytes: Vec<u8>,
    /// Positions in `bytes` whose value cannot be predicted (the uptime).
    /// When it is not empty, the two CRC bytes are among them.
    pub dont_care: Vec<usize>,
}

impl Expected {
    /// A frame from a unit id and a PDU, with "don't care" positions given
    /// relative to the PDU.
    fn new(unit: u8, pdu: &[u8], pdu_dont_care: &[usize]) -> Self {
        let mut bytes = Vec::with_capacity(pdu.len() + 3);
        bytes.push(unit);
        bytes.extend_from_slice(pdu);
        append_crc(&mut bytes);
        let mut dont_care: Vec<usize> = pdu_dont_care.iter().map(|i| i + 1).collect();
        if !dont_care.is_empty() {
            dont_care.extend([bytes.len() - 2, bytes.len() - 1]);
        }
        Expected { bytes, dont_care }
    }

    /// Whether `actual` is this answer: the same length, equal everywhere
    /// except at the "don't care" positions; when there are any, the CRC is
    /// not compared but `actual` must carry a valid one.
    pub fn matches(&self, actual: &[u8]) -> bool {
        if actual.len() != self.bytes.len() {
            return false;
        }
        let relaxed = !self.dont_care.is_empty();
        let crc_at = self.bytes.len().saturating_sub(2);
        let equal = self
            .bytes
            .iter()
            .zip(actual)
            .enumerate()
            .all(|(i, (want, got))| {
                want == got || self.dont_care.contains(&i) || (relaxed && i >= crc_at)
            });
        equal && (!relaxed || crc_ok(actual))
    }
}

impl fmt::Display for Expected {
    /// Hex pairs, `??` for a "don't care" byte, e.g.
    /// `01 04 04 ?? ?? ?? ?? ?? ??`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.bytes.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if self.dont_care.contains(&i) {
                f.write_str("??")?;
            } else {
                write!(f, "{b:02X}")?;
            }
        }
        Ok(())
    }
}

/// What executing one request produced.
enum Reply {
    /// A normal answer: its PDU and the "don't care" positions in it.
    Answer(Vec<u8>, Vec<usize>),
    /// Executed, but nothing is sent (Force Listen Only Mode).
    Silent,
}

/// An exception code; `Err` of an execution.
type Exec = Result<Reply, u8>;

/// `Ok` when `ok`, else exception `code`.
fn check(ok: bool, code: u8) -> Result<(), u8> {
    if ok {
        Ok(())
    } else {
        Err(code)
    }
}

/// What one execution needs to know besides the PDU.
struct Ctx {
    /// The request came as a broadcast (unit 0).
    broadcast: bool,
    /// A value was written to the lock register (so the "any other request
    /// breaks an armed sequence" rule does not apply).
    lock_written: bool,
}

/// The node's whole state. `Clone` so that a property test can keep it as
/// its reference state; equal states answer every burst alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Model {
    /// Device identification object 0x05 (at most [`MAX_MODEL_NAME`]
    /// bytes).
    model_name: Vec<u8>,
    /// Holding register 0x0100, always 1..=247.
    unit_id: u8,
    /// Holding register 0x0101.
    line_settings: u16,
    /// Holding registers 0x0000..=0x004F.
    holding: [u16; HOLDING_LOW],
    /// Coil n in bit n.
    coils: u32,
    /// Files 1..=3.
    files: [[u16; FILE_RECORDS]; WRITABLE_FILES],
    /// The last 64 values written to holding register 0, newest at 63, 0
    /// where none yet: file 4, and the FIFO's source.
    hr0_log: [u16; FILE_RECORDS],
    /// Writes to holding register 0 since reset (saturating; only
    /// `min(31, n)` matters).
    hr0_writes: u32,
    lock: LockState,
    listen_only: bool,
    counters: Counters,
    /// Input register 0x0016.
    last_exception: u8,
    /// Successful 0x04 answers since reset (wrapping, only its value mod
    /// 2^16 ever shows).
    reads: u16,
}

impl Model {
    /// A node just after reset, whose device identification object 0x05 is
    /// `model_name` (e.g. `lm3s6965evb`, `host-sim`). A name longer than
    /// would fit in a Read Device Identification answer is cut short.
    pub fn new(model_name: &str) -> Self {
        let mut name = model_name.as_bytes().to_vec();
        name.truncate(MAX_MODEL_NAME);
        Model {
            model_name: name,
            unit_id: crate::DEFAULT_UNIT,
            line_settings: 0,
            holding: [0; HOLDING_LOW],
            coils: 0,
            files: [[0; FILE_RECORDS]; WRITABLE_FILES],
            hr0_log: [0; FILE_RECORDS],
            hr0_writes: 0,
            lock: LockState::Locked,
            listen_only: false,
            counters: Counters::default(),
            last_exception: 0,
            reads: 0,
        }
    }

    /// Back to the state after reset (the model name stays).
    pub fn reset(&mut self) {
        let name = std::mem::take(&mut self.model_name);
        *self = Model {
            model_name: name,
            ..Model::new("")
        };
    }

    /// The node's unit id (holding register 0x0100).
    pub fn unit_id(&self) -> u8 {
        self.unit_id
    }

    /// The state of the write-protection lock.
    pub fn lock(&self) -> LockState {
        self.lock
    }

    /// Whether the node is in listen-only mode (Diagnostics 0x0004).
    pub fn listen_only(&self) -> bool {
        self.listen_only
    }

    /// The diagnostic counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Coil `n` in bit `n`.
    pub fn coils(&self) -> u32 {
        self.coils
    }

    /// The model name, device identification object 0x05.
    pub fn model_name(&self) -> &[u8] {
        &self.model_name
    }

    /// Holding register `address` as a master reads it (the lock register
    /// reads 1 when unlocked, else 0); `None` if it does not exist.
    pub fn holding(&self, address: u16) -> Option<u16> {
        match address {
            a if usize::from(a) < HOLDING_LOW => self.holding.get(usize::from(a)).copied(),
            UNIT_ID_REGISTER => Some(u16::from(self.unit_id)),
            LINE_SETTINGS_REGISTER => Some(self.line_settings),
            LOCK_REGISTER => Some(u16::from(self.lock == LockState::Unlocked)),
            _ => None,
        }
    }

    /// Everything write protection guards, for the property "protected
    /// registers never change unless unlocked": the calibration table
    /// 0x0040..=0x004F, then the unit id, then the line settings code.
    pub fn protected_values(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.holding[usize::from(CALIBRATION)..].to_vec();
        v.push(u16::from(self.unit_id));
        v.push(self.line_settings);
        v
    }

    /// Sends `request` as one burst; see [`Model::exchange`].
    pub fn expect(&mut self, request: &ModbusRequest) -> Vec<Expected> {
        self.exchange(&request.to_bytes())
    }

    /// The bytes that reach the node in one burst (no silence inside),
    /// followed by a silence: advances the state and returns every answer
    /// the node sends, in order (usually none or one).
    ///
    /// Framing, as the node's receiver does it: bytes collect in a frame
    /// buffer; after each byte, if the buffer is as long as a request of its
    /// function code is and ends in the CRC of the rest, the frame is
    /// complete at once and the next byte starts a new one. The silence ends
    /// whatever is left. A frame that grows past 256 bytes is dropped whole:
    /// the rest of the burst is discarded and one overrun is counted.
    pub fn exchange(&mut self, wire: &[u8]) -> Vec<Expected> {
        let mut answers = Vec::new();
        let burst = split_burst(wire);
        for frame in &burst.frames {
            self.frame(frame, &mut answers);
        }
        if burst.overrun {
            self.counters.overruns = self.counters.overruns.wrapping_add(1);
        } else {
            self.frame(burst.rest, &mut answers);
        }
        answers
    }

    /// Handles one complete frame.
    fn frame(&mut self, frame: &[u8], answers: &mut Vec<Expected>) {
        if frame.is_empty() {
            return;
        }
        let c = &mut self.counters;
        if frame.len() < MIN_FRAME || !crc_ok(frame) {
            c.comm_errors = c.comm_errors.wrapping_add(1);
            return;
        }
        c.bus_messages = c.bus_messages.wrapping_add(1);
        let unit = frame[0];
        if unit != self.unit_id && unit != BROADCAST {
            return;
        }
        c.server_messages = c.server_messages.wrapping_add(1);
        let pdu = &frame[1..frame.len() - 2];
        let broadcast = unit == BROADCAST;

        if self.listen_only {
            c.no_responses = c.no_responses.wrapping_add(1);
            // Only a valid Restart Communications gets through, and it is
            // never answered in listen-only mode.
            if matches!(pdu, [0x08, 0x00, 0x01, 0x00 | 0xFF, 0x00]) {
                self.counters = Counters::default();
                self.listen_only = false;
                if self.lock == LockState::Armed {
                    self.lock = LockState::Locked;
                }
            }
            return;
        }
        if broadcast {
            c.no_responses = c.no_responses.wrapping_add(1);
            if is_write(pdu) {
                // Executed; whatever it yields (exceptions included) is never
                // sent, so no counter or last exception code changes.
                let _ = self.execute(pdu, true);
            }
            return;
        }
        match self.execute(pdu, false) {
            Ok(Reply::Answer(answer, dont_care)) => {
                answers.push(Expected::new(unit, &answer, &dont_care));
            }
            Ok(Reply::Silent) => {
                self.counters.no_responses = self.counters.no_responses.wrapping_add(1);
            }
            Err(code) => {
                self.counters.exceptions = self.counters.exceptions.wrapping_add(1);
                self.last_exception = code;
                let function = pdu.first().copied().unwrap_or_default() | EXCEPTION_BIT;
                answers.push(Expected::new(unit, &[function, code], &[]));
            }
        }
    }

    /// Executes one request and applies the lock's "anything else breaks an
    /// armed sequence" rule to a successful one.
    fn execute(&mut self, pdu: &[u8], broadcast: bool) -> Exec {
        let was_armed = self.lock == LockState::Armed;
        let mut ctx = Ctx {
            broadcast,
            lock_written: false,
        };
        let result = self.dispatch(pdu, &mut ctx);
        if result.is_ok() && was_armed && !ctx.lock_written {
            self.lock = LockState::Locked;
        }
        result
    }

    fn dispatch(&mut self, pdu: &[u8], ctx: &mut Ctx) -> Exec {
        let Some(&function) = pdu.first() else {
            return Err(ILLEGAL_FUNCTION);
        };
        match function {
            fc::READ_COILS | fc::READ_DISCRETE_INPUTS => self.read_bits(pdu, function),
            fc::READ_HOLDING_REGISTERS => self.read_holding(pdu),
            fc::READ_INPUT_REGISTERS => self.read_input(pdu),
            fc::WRITE_SINGLE_COIL => self.write_coil(pdu),
            fc::WRITE_SINGLE_REGISTER => self.write_register(pdu, ctx),
            fc::READ_EXCEPTION_STATUS => {
                check(pdu.len() == 1, ILLEGAL_DATA_VALUE)?;
                Ok(answer(vec![function, (self.coils & 0xFF) as u8]))
            }
            fc::DIAGNOSTICS => self.diagnostics(pdu),
            fc::WRITE_MULTIPLE_COILS => self.write_coils(pdu),
            fc::WRITE_MULTIPLE_REGISTERS => self.write_registers(pdu, ctx),
            fc::REPORT_SERVER_ID => {
                check(pdu.len() == 1, ILLEGAL_DATA_VALUE)?;
                let mut out = vec![function, (SERVER_ID_TEXT.len() + 2) as u8];
                out.extend([SERVER_ID, RUN_INDICATOR]);
                out.extend_from_slice(SERVER_ID_TEXT);
                Ok(answer(out))
            }
            fc::READ_FILE_RECORD => self.read_file_record(pdu),
            fc::WRITE_FILE_RECORD => self.write_file_record(pdu),
            fc::MASK_WRITE_REGISTER => self.mask_write(pdu, ctx),
            fc::READ_WRITE_MULTIPLE_REGISTERS => self.read_write(pdu, ctx),
            fc::READ_FIFO_QUEUE => self.read_fifo(pdu),
            fc::ENCAPSULATED_INTERFACE => self.device_identification(pdu),
            _ => Err(ILLEGAL_FUNCTION),
        }
    }

    /// 0x01 / 0x02: bits from the coils (inverted for discrete inputs).
    fn read_bits(&self, pdu: &[u8], function: u8) -> Exec {
        let (start, quantity) = address_quantity(pdu)?;
        check((1..=2000).contains(&quantity), ILLEGAL_DATA_VALUE)?;
        check(
            u32::from(start) + u32::from(quantity) <= COILS,
            ILLEGAL_DATA_ADDRESS,
        )?;
        let bits = if function == fc::READ_DISCRETE_INPUTS {
            !self.coils
        } else {
            self.coils
        };
        let count = usize::from(quantity).div_ceil(8);
        let mut out = vec![function, count as u8];
        out.resize(2 + count, 0);
        for i in 0..usize::from(quantity) {
            if (bits >> (usize::from(start) + i)) & 1 == 1 {
                out[2 + i / 8] |= 1 << (i % 8);
            }
        }
        Ok(answer(out))
    }

    /// 0x03.
    fn read_holding(&self, pdu: &[u8]) -> Exec {
        let (start, quantity) = address_quantity(pdu)?;
        check((1..=125).contains(&quantity), ILLEGAL_DATA_VALUE)?;
        let values = self
            .holding_range(start, quantity)
            .ok_or(ILLEGAL_DATA_ADDRESS)?;
        Ok(answer(registers_answer(
            fc::READ_HOLDING_REGISTERS,
            &values,
        )))
    }

    /// 0x04. Counts a successful answer in `reads` (after computing it).
    fn read_input(&mut self, pdu: &[u8]) -> Exec {
        let (start, quantity) = address_quantity(pdu)?;
        check((1..=125).contains(&quantity), ILLEGAL_DATA_VALUE)?;
        check(
            u32::from(start) + u32::from(quantity) <= INPUT_REGISTERS,
            ILLEGAL_DATA_ADDRESS,
        )?;
        let addresses = start..start + quantity;
        let values: Vec<u16> = addresses.clone().map(|a| self.input(a)).collect();
        let dont_care = addresses
            .enumerate()
            .filter(|(_, a)| UPTIME.contains(a))
            .flat_map(|(i, _)| [2 + 2 * i, 3 + 2 * i])
            .collect();
        self.reads = self.reads.wrapping_add(1);
        Ok(Reply::Answer(
            registers_answer(fc::READ_INPUT_REGISTERS, &values),
            dont_care,
        ))
    }

    /// Input register `address` (< 0x40); the uptime reads as 0 here.
    fn input(&self, address: u16) -> u16 {
        let registers = self.counters.registers();
        match address {
            0x00..=0x0F => 1000u16
                .wrapping_mul(address)
                .wrapping_add(self.reads.wrapping_mul(address + 1)),
            0x10..=0x15 => registers
                .get(usize::from(address - 0x10))
                .copied()
                .unwrap_or_default(),
            0x16 => u16::from(self.last_exception),
            0x17 => FIRMWARE_VERSION,
            _ => 0,
        }
    }

    /// 0x05.
    fn write_coil(&mut self, pdu: &[u8]) -> Exec {
        let (address, value) = address_quantity(pdu)?;
        check(value == 0x0000 || value == 0xFF00, ILLEGAL_DATA_VALUE)?;
        check(u32::from(address) < COILS, ILLEGAL_DATA_ADDRESS)?;
        let bit = 1u32 << address;
        if value == 0xFF00 {
            self.coils |= bit;
        } else {
            self.coils &= !bit;
        }
        Ok(answer(pdu.to_vec()))
    }

    /// 0x06.
    fn write_register(&mut self, pdu: &[u8], ctx: &mut Ctx) -> Exec {
        let (address, value) = address_quantity(pdu)?;
        check(holding_exists(address), ILLEGAL_DATA_ADDRESS)?;
        self.write_holding(address, &[value], ctx)?;
        Ok(answer(pdu.to_vec()))
    }

    /// 0x08.
    fn diagnostics(&mut self, pdu: &[u8]) -> Exec {
        let sub = be16(pdu, 1).ok_or(ILLEGAL_DATA_VALUE)?;
        let data = pdu.get(3..).unwrap_or_default();
        let word = match data {
            &[hi, lo] => Some(u16::from_be_bytes([hi, lo])),
            _ => None,
        };
        match sub {
            diag::RETURN_QUERY_DATA => Ok(answer(pdu.to_vec())),
            diag::RESTART_COMMUNICATIONS => {
                check(matches!(word, Some(0x0000 | 0xFF00)), ILLEGAL_DATA_VALUE)?;
                self.counters = Counters::default();
                self.listen_only = false;
                Ok(answer(pdu.to_vec()))
            }
            diag::FORCE_LISTEN_ONLY => {
                check(word.is_some(), ILLEGAL_DATA_VALUE)?;
                self.listen_only = true;
                Ok(Reply::Silent)
            }
            diag::CLEAR_COUNTERS => {
                check(word.is_some(), ILLEGAL_DATA_VALUE)?;
                self.counters = Counters::default();
                Ok(answer(pdu.to_vec()))
            }
            diag::BUS_MESSAGES..=diag::BUS_CHARACTER_OVERRUNS => {
                check(word == Some(0), ILLEGAL_DATA_VALUE)?;
                let c = &self.counters;
                let count = match sub {
                    0x000B => c.bus_messages,
                    0x000C => c.comm_errors,
                    0x000D => c.exceptions,
                    0x000E => c.server_messages,
                    0x000F => c.no_responses,
                    0x0012 => c.overruns,
                    // 0x0010 NAK and 0x0011 busy: never.
                    _ => 0,
                };
                let mut out = pdu.get(..3).unwrap_or_default().to_vec();
                out.extend(count.to_be_bytes());
                Ok(answer(out))
            }
            _ => Err(ILLEGAL_FUNCTION),
        }
    }

    /// 0x0F.
    fn write_coils(&mut self, pdu: &[u8]) -> Exec {
        check(pdu.len() >= 6, ILLEGAL_DATA_VALUE)?;
        let (start, quantity) = (be16(pdu, 1).unwrap_or(0), be16(pdu, 3).unwrap_or(0));
        let count = usize::from(pdu[5]);
        check(
            (1..=1968).contains(&quantity)
                && count == usize::from(quantity).div_ceil(8)
                && pdu.len() == 6 + count,
            ILLEGAL_DATA_VALUE,
        )?;
        check(
            u32::from(start) + u32::from(quantity) <= COILS,
            ILLEGAL_DATA_ADDRESS,
        )?;
        for i in 0..usize::from(quantity) {
            let on = pdu.get(6 + i / 8).is_some_and(|b| (b >> (i % 8)) & 1 == 1);
            let bit = 1u32 << (usize::from(start) + i);
            if on {
                self.coils |= bit;
            } else {
                self.coils &= !bit;
            }
        }
        Ok(answer(pdu[..5].to_vec()))
    }

    /// 0x10.
    fn write_registers(&mut self, pdu: &[u8], ctx: &mut Ctx) -> Exec {
        check(pdu.len() >= 6, ILLEGAL_DATA_VALUE)?;
        let (start, quantity) = (be16(pdu, 1).unwrap_or(0), be16(pdu, 3).unwrap_or(0));
        let count = usize::from(pdu[5]);
        check(
            (1..=123).contains(&quantity)
                && count == 2 * usize::from(quantity)
                && pdu.len() == 6 + count,
            ILLEGAL_DATA_VALUE,
        )?;
        check(range_exists(start, quantity), ILLEGAL_DATA_ADDRESS)?;
        let values = words(&pdu[6..]);
        self.write_holding(start, &values, ctx)?;
        Ok(answer(pdu[..5].to_vec()))
    }

    /// 0x14.
    fn read_file_record(&self, pdu: &[u8]) -> Exec {
        check(pdu.len() >= 2, ILLEGAL_DATA_VALUE)?;
        let count = usize::from(pdu[1]);
        check(
            (0x07..=0xF5).contains(&count) && count % 7 == 0 && count == pdu.len() - 2,
            ILLEGAL_DATA_VALUE,
        )?;
        let subs: Vec<SubRequest> = pdu[2..].chunks_exact(7).map(SubRequest::parse).collect();
        check(subs.iter().all(|s| s.length > 0), ILLEGAL_DATA_VALUE)?;
        let size: usize = 2 + subs
            .iter()
            .map(|s| 2 + 2 * usize::from(s.length))
            .sum::<usize>();
        check(size <= MAX_PDU, ILLEGAL_DATA_VALUE)?;
        check(subs.iter().all(SubRequest::in_range), ILLEGAL_DATA_ADDRESS)?;
        let mut out = vec![fc::READ_FILE_RECORD, (size - 2) as u8];
        for s in &subs {
            out.push((1 + 2 * usize::from(s.length)) as u8);
            out.push(FILE_REFERENCE_TYPE);
            for record in s.records() {
                out.extend(self.file_value(s.file, record).to_be_bytes());
            }
        }
        Ok(answer(out))
    }

    /// Record `record` of file `file` (1..=4, record < 64).
    fn file_value(&self, file: u16, record: usize) -> u16 {
        match file {
            4 => self.hr0_log.get(record).copied().unwrap_or_default(),
            f => usize::from(f)
                .checked_sub(1)
                .and_then(|i| self.files.get(i))
                .and_then(|records| records.get(record))
                .copied()
                .unwrap_or_default(),
        }
    }

    /// 0x15.
    fn write_file_record(&mut self, pdu: &[u8]) -> Exec {
        check(pdu.len() >= 2, ILLEGAL_DATA_VALUE)?;
        let count = usize::from(pdu[1]);
        check(
            (0x09..=0xFB).contains(&count) && count == pdu.len() - 2,
            ILLEGAL_DATA_VALUE,
        )?;
        // Walk the sub-requests: each a 7-byte header, a non-zero length
        // and exactly that many values, together filling the request.
        let mut subs = Vec::new();
        let mut at = 2;
        while at < pdu.len() {
            let header = pdu.get(at..at + 7).ok_or(ILLEGAL_DATA_VALUE)?;
            let sub = SubRequest::parse(header);
            check(sub.length > 0, ILLEGAL_DATA_VALUE)?;
            let end = at + 7 + 2 * usize::from(sub.length);
            let values = pdu.get(at + 7..end).ok_or(ILLEGAL_DATA_VALUE)?;
            subs.push((sub, words(values)));
            at = end;
        }
        check(subs.iter().all(|(s, _)| s.in_range()), ILLEGAL_DATA_ADDRESS)?;
        // File 4 is the log of holding register 0: read-only.
        check(
            subs.iter()
                .all(|(s, _)| usize::from(s.file) <= WRITABLE_FILES),
            ILLEGAL_DATA_ADDRESS,
        )?;
        for (sub, values) in &subs {
            let Some(file) = usize::from(sub.file)
                .checked_sub(1)
                .and_then(|i| self.files.get_mut(i))
            else {
                continue;
            };
            for (record, value) in sub.records().zip(values) {
                if let Some(slot) = file.get_mut(record) {
                    *slot = *value;
                }
            }
        }
        Ok(answer(pdu.to_vec()))
    }

    /// 0x16.
    fn mask_write(&mut self, pdu: &[u8], ctx: &mut Ctx) -> Exec {
        check(pdu.len() == 7, ILLEGAL_DATA_VALUE)?;
        let address = be16(pdu, 1).unwrap_or(0);
        let and_mask = be16(pdu, 3).unwrap_or(0);
        let or_mask = be16(pdu, 5).unwrap_or(0);
        let current = self.holding(address).ok_or(ILLEGAL_DATA_ADDRESS)?;
        let result = (current & and_mask) | (or_mask & !and_mask);
        self.write_holding(address, &[result], ctx)?;
        Ok(answer(pdu.to_vec()))
    }

    /// 0x17: the write happens before the read.
    fn read_write(&mut self, pdu: &[u8], ctx: &mut Ctx) -> Exec {
        check(pdu.len() >= 10, ILLEGAL_DATA_VALUE)?;
        let read_start = be16(pdu, 1).unwrap_or(0);
        let read_quantity = be16(pdu, 3).unwrap_or(0);
        let write_start = be16(pdu, 5).unwrap_or(0);
        let write_quantity = be16(pdu, 7).unwrap_or(0);
        let count = usize::from(pdu[9]);
        check(
            (1..=125).contains(&read_quantity)
                && (1..=121).contains(&write_quantity)
                && count == 2 * usize::from(write_quantity)
                && pdu.len() == 10 + count,
            ILLEGAL_DATA_VALUE,
        )?;
        check(
            range_exists(read_start, read_quantity) && range_exists(write_start, write_quantity),
            ILLEGAL_DATA_ADDRESS,
        )?;
        self.write_holding(write_start, &words(&pdu[10..]), ctx)?;
        let values = self
            .holding_range(read_start, read_quantity)
            .ok_or(ILLEGAL_DATA_ADDRESS)?;
        Ok(answer(registers_answer(
            fc::READ_WRITE_MULTIPLE_REGISTERS,
            &values,
        )))
    }

    /// 0x18.
    fn read_fifo(&self, pdu: &[u8]) -> Exec {
        check(pdu.len() == 3, ILLEGAL_DATA_VALUE)?;
        check(be16(pdu, 1) == Some(FIFO_ADDRESS), ILLEGAL_DATA_ADDRESS)?;
        let n = usize::try_from(self.hr0_writes)
            .unwrap_or(usize::MAX)
            .min(FIFO_MAX);
        let mut out = vec![fc::READ_FIFO_QUEUE];
        out.extend(((2 + 2 * n) as u16).to_be_bytes());
        out.extend((n as u16).to_be_bytes());
        for v in &self.hr0_log[FILE_RECORDS - n..] {
            out.extend(v.to_be_bytes());
        }
        Ok(answer(out))
    }

    /// 0x2B / MEI 0x0E.
    fn device_identification(&self, pdu: &[u8]) -> Exec {
        let mei = *pdu.get(1).ok_or(ILLEGAL_DATA_VALUE)?;
        check(mei == MEI_READ_DEVICE_ID, ILLEGAL_FUNCTION)?;
        check(pdu.len() == 4, ILLEGAL_DATA_VALUE)?;
        let (code, object) = (pdu[2], pdu[3]);
        let objects = match code {
            0x01 | 0x02 => {
                let last = if code == 0x01 { 0x02 } else { 0x05 };
                let first = if object > last { 0 } else { object };
                first..=last
            }
            0x04 => {
                check(object <= 0x05, ILLEGAL_DATA_ADDRESS)?;
                object..=object
            }
            _ => return Err(ILLEGAL_DATA_VALUE),
        };
        let mut out = vec![fc::ENCAPSULATED_INTERFACE, MEI_READ_DEVICE_ID, code];
        // Conformity level, no more follows, next object id 0, count.
        out.extend([CONFORMITY_LEVEL, 0x00, 0x00, objects.clone().count() as u8]);
        for id in objects {
            let value = self.device_object(id);
            out.push(id);
            out.push(value.len() as u8);
            out.extend_from_slice(value);
        }
        Ok(answer(out))
    }

    fn device_object(&self, id: u8) -> &[u8] {
        DEVICE_OBJECTS
            .get(usize::from(id))
            .copied()
            .unwrap_or(&self.model_name)
    }

    /// `quantity` holding registers from `start` as a master reads them;
    /// `None` if any of them does not exist.
    fn holding_range(&self, start: u16, quantity: u16) -> Option<Vec<u16>> {
        (0..quantity)
            .map(|i| start.checked_add(i).and_then(|a| self.holding(a)))
            .collect()
    }

    /// Writes `values` from `start` (which the caller has checked exist) as
    /// one atomic write: a protected register while not unlocked is 0x04,
    /// an out-of-range unit id 0x03, and then nothing is written.
    fn write_holding(&mut self, start: u16, values: &[u16], ctx: &mut Ctx) -> Result<(), u8> {
        let writes = || {
            values
                .iter()
                .enumerate()
                .map(move |(i, &v)| (start.wrapping_add(i as u16), v))
        };
        check(
            self.lock == LockState::Unlocked || !writes().any(|(a, _)| is_protected(a)),
            DEVICE_FAILURE,
        )?;
        check(
            writes().all(|(a, v)| a != UNIT_ID_REGISTER || (1..=MAX_UNIT_ID).contains(&v)),
            ILLEGAL_DATA_VALUE,
        )?;
        for (address, value) in writes() {
            self.store(address, value, ctx);
        }
        Ok(())
    }

    /// Stores one validated holding register write.
    fn store(&mut self, address: u16, value: u16, ctx: &mut Ctx) {
        match address {
            0 => {
                self.holding[0] = value;
                self.hr0_log.copy_within(1.., 0);
                self.hr0_log[FILE_RECORDS - 1] = value;
                self.hr0_writes = self.hr0_writes.saturating_add(1);
            }
            a if usize::from(a) < HOLDING_LOW => self.holding[usize::from(a)] = value,
            // Validated as 1..=247. It takes effect for addressing after the
            // answer, which the caller sends from the request's unit id.
            UNIT_ID_REGISTER => self.unit_id = value as u8,
            LINE_SETTINGS_REGISTER => self.line_settings = value,
            LOCK_REGISTER => {
                ctx.lock_written = true;
                self.lock = match value {
                    LOCK_ARM => LockState::Armed,
                    LOCK_UNLOCK if self.lock == LockState::Armed && !ctx.broadcast => {
                        LockState::Unlocked
                    }
                    _ => LockState::Locked,
                };
            }
            _ => {}
        }
    }
}

/// A normal answer with nothing unpredictable in it.
fn answer(pdu: Vec<u8>) -> Reply {
    Reply::Answer(pdu, Vec::new())
}

/// A read answer: function, byte count, the values big-endian.
fn registers_answer(function: u8, values: &[u16]) -> Vec<u8> {
    let mut out = vec![function, (2 * values.len()) as u8];
    for v in values {
        out.extend(v.to_be_bytes());
    }
    out
}

/// Big-endian words of `bytes` (an odd last byte is ignored).
fn words(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]))
        .collect()
}

/// The two words of a 5-byte PDU (functions 0x01..=0x06): address and
/// quantity or value; any other length is exception 0x03.
fn address_quantity(pdu: &[u8]) -> Result<(u16, u16), u8> {
    match pdu {
        [_, a, b, c, d] => Ok((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
        _ => Err(ILLEGAL_DATA_VALUE),
    }
}

fn holding_exists(address: u16) -> bool {
    usize::from(address) < HOLDING_LOW
        || matches!(
            address,
            UNIT_ID_REGISTER | LINE_SETTINGS_REGISTER | LOCK_REGISTER
        )
}

/// Whether all `quantity` holding registers from `start` exist.
fn range_exists(start: u16, quantity: u16) -> bool {
    (0..quantity).all(|i| start.checked_add(i).is_some_and(holding_exists))
}

fn is_protected(address: u16) -> bool {
    (CALIBRATION..CALIBRATION + 16).contains(&address)
        || address == UNIT_ID_REGISTER
        || address == LINE_SETTINGS_REGISTER
}

/// Whether a broadcast PDU is a "write", which a broadcast executes: the
/// write functions, and the Diagnostics sub-functions that change state.
fn is_write(pdu: &[u8]) -> bool {
    match pdu.first() {
        Some(
            &(fc::WRITE_SINGLE_COIL
            | fc::WRITE_SINGLE_REGISTER
            | fc::WRITE_MULTIPLE_COILS
            | fc::WRITE_MULTIPLE_REGISTERS
            | fc::WRITE_FILE_RECORD
            | fc::MASK_WRITE_REGISTER
            | fc::READ_WRITE_MULTIPLE_REGISTERS),
        ) => true,
        Some(&fc::DIAGNOSTICS) => matches!(
            be16(pdu, 1),
            Some(diag::RESTART_COMMUNICATIONS | diag::FORCE_LISTEN_ONLY | diag::CLEAR_COUNTERS)
        ),
        _ => false,
    }
}

/// The whole length of a request frame (unit id to CRC) with the function
/// code of `frame[1]`, as far as the bytes so far tell; `None` while the
/// byte that tells is not there yet, and for functions whose requests have
/// no fixed length (only the silence ends them).
/// A burst as the node's receiver frames it (see [`Model::exchange`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Burst<'a> {
    /// Frames completed by their length and CRC, before the silence.
    pub frames: Vec<&'a [u8]>,
    /// What only the silence after the burst ends.
    pub rest: &'a [u8],
    /// A frame grew past 256 bytes: it and the rest of the burst are
    /// dropped.
    pub overrun: bool,
}

/// Frames `wire` as the node's receiver does when it arrives in one burst.
pub fn split_burst(wire: &[u8]) -> Burst<'_> {
    let mut burst = Burst::default();
    let mut start = 0;
    for end in 1..=wire.len() {
        let frame = &wire[start..end];
        if frame.len() > MAX_ADU {
            burst.overrun = true;
            return burst;
        }
        if request_len(frame) == Some(frame.len()) && crc_ok(frame) {
            burst.frames.push(frame);
            start = end;
        }
    }
    burst.rest = &wire[start..];
    burst
}

/// Where a request's byte count is in its frame (unit id at 0), for the
/// functions that have one: the bytes it counts follow it to the CRC.
pub fn byte_count_at(function: u8) -> Option<usize> {
    match function {
        fc::WRITE_MULTIPLE_COILS | fc::WRITE_MULTIPLE_REGISTERS => Some(6),
        fc::READ_FILE_RECORD | fc::WRITE_FILE_RECORD => Some(2),
        fc::READ_WRITE_MULTIPLE_REGISTERS => Some(10),
        _ => None,
    }
}

fn request_len(frame: &[u8]) -> Option<usize> {
    let at = |i: usize| frame.get(i).copied().map(usize::from);
    match *frame.get(1)? {
        0x01..=0x06 => Some(8),
        fc::READ_EXCEPTION_STATUS | fc::REPORT_SERVER_ID => Some(4),
        // Return Query Data (0x0000) echoes data of any length.
        fc::DIAGNOSTICS => match (at(2)?, at(3)?) {
            (0, 0) => None,
            _ => Some(8),
        },
        // The byte count, the bytes it counts and the CRC.
        f @ (fc::WRITE_MULTIPLE_COILS
        | fc::WRITE_MULTIPLE_REGISTERS
        | fc::READ_FILE_RECORD
        | fc::WRITE_FILE_RECORD
        | fc::READ_WRITE_MULTIPLE_REGISTERS) => {
            let count_at = byte_count_at(f)?;
            Some(count_at + 3 + at(count_at)?)
        }
        fc::MASK_WRITE_REGISTER => Some(10),
        fc::READ_FIFO_QUEUE => Some(6),
        fc::ENCAPSULATED_INTERFACE => (at(2)? == usize::from(MEI_READ_DEVICE_ID)).then_some(7),
        _ => None,
    }
}

/// One file-record sub-request header: reference type, file, record,
/// record length.
struct SubRequest {
    reference: u8,
    file: u16,
    record: u16,
    length: u16,
}

impl SubRequest {
    /// From a 7-byte header (shorter input reads as zeros).
    fn parse(header: &[u8]) -> Self {
        SubRequest {
            reference: header.first().copied().unwrap_or_default(),
            file: be16(header, 1).unwrap_or_default(),
            record: be16(header, 3).unwrap_or_default(),
            length: be16(header, 5).unwrap_or_default(),
        }
    }

    /// Reference type 6, file 1..=4, records within 0..64.
    fn in_range(&self) -> bool {
        self.reference == FILE_REFERENCE_TYPE
            && (1..=4).contains(&self.file)
            && usize::from(self.record) < FILE_RECORDS
            && usize::from(self.record) + usize::from(self.length) <= FILE_RECORDS
    }

    /// The record numbers it covers.
    fn records(&self) -> std::ops::Range<usize> {
        let start = usize::from(self.record);
        start..start + usize::from(self.length)
    }
}

impl fmt::Display for Model {
    /// One line: unit id, lock, mode and counters, for failure messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        write!(
            f,
            "unit {} lock {:?}{} coils {:08X} counters bus {} comm {} exc {} server {} no-resp {} overrun {} reads {}",
            self.unit_id,
            self.lock,
            if self.listen_only { " listen-only" } else { "" },
            self.coils,
            c.bus_messages,
            c.comm_errors,
            c.exceptions,
            c.server_messages,
            c.no_responses,
            c.overruns,
            self.reads
        )
    }
}
