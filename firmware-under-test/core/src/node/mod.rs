//! The node: MODBUS-NODE.md's data model, functions, lock and counters.
//!
//! [`Node::handle`] takes what the [`Receiver`](crate::rtu::Receiver) hands
//! over and writes the answer, if any, into a caller's buffer. Everything is
//! decided from the request bytes and the node's state; the only outside
//! input is the uptime in milliseconds (input registers 0x0020..=0x0021).
//!
//! Checks follow the order of the specification's state diagrams: function
//! supported (exception 0x01), then quantity and byte-count validity (0x03),
//! then address validity (0x02), then execution (0x04 for a refused write,
//! and 0x03 for an out-of-range unit id). A request answered with an
//! exception has executed nothing.
//!
//! No-panic contract: every index into request data is preceded by a length
//! check of the whole PDU, and all output goes through [`PduWriter`], which
//! drops rather than overflows.

use crate::frame::{Frame, PduWriter, MAX_ADU};
use crate::planted::{self, Bug};
use crate::request::{be16, diagnostic, read_subs, Request, SubRequest, WriteWalk};
use crate::rtu::Received;

#[cfg(test)]
mod tests;

/// Firmware version in input register 0x0017: `major << 8 | minor`.
pub const FIRMWARE_VERSION: u16 = 0x0100;
/// Unit id after reset.
pub const DEFAULT_UNIT: u8 = 1;
/// Value that arms the lock when written to [`LOCK_REGISTER`].
pub const LOCK_ARM: u16 = 0xA55A;
/// Value that unlocks an armed lock when written to [`LOCK_REGISTER`].
pub const LOCK_OPEN: u16 = 0x5AA5;
/// Holding register of the write lock.
pub const LOCK_REGISTER: u16 = 0x0110;
/// Holding register of the unit id.
pub const UNIT_REGISTER: u16 = 0x0100;
/// Holding register of the line settings code.
pub const LINE_REGISTER: u16 = 0x0101;
/// The only FIFO pointer address of Read FIFO Queue.
pub const FIFO_ADDRESS: u16 = 0x0200;

const COILS: u16 = 32;
const INPUT_REGISTERS: u16 = 0x40;
const GENERAL: u16 = 0x40;
const CALIBRATION: u16 = 0x10;
const FILE_RECORDS: u16 = 64;
const WRITABLE_FILES: usize = 3;
const HISTORY: usize = 64;
const FIFO_DEPTH: usize = 31;
const SERVER_ID: u8 = 0x4E;
const RUN_INDICATOR: u8 = 0xFF;
const SERVER_TEXT: &[u8] = b"hilt MB-NODE-1";
const CONFORMITY: u8 = 0x82;
const VENDOR: &[u8] = b"hilt";
const PRODUCT_CODE: &[u8] = b"MB-NODE-1";
const REVISION: &[u8] = b"1.0";
const VENDOR_URL: &[u8] = b"https://example.invalid/hilt";
const PRODUCT_NAME: &[u8] = b"hilt sensor node";

/// A Modbus exception code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exception {
    /// 0x01: the function (or sub-function, or MEI type) is not supported.
    IllegalFunction = 0x01,
    /// 0x02: the request touches an address that does not exist.
    IllegalDataAddress = 0x02,
    /// 0x03: a quantity, byte count, length or value is out of range.
    IllegalDataValue = 0x03,
    /// 0x04: the request was refused while executing (write lock).
    ServerDeviceFailure = 0x04,
}

/// The write lock that guards the protected registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// At reset; protected writes are refused.
    Locked,
    /// 0xA55A was written; 0x5AA5 to this unit id next unlocks.
    Armed,
    /// Protected writes are allowed.
    Unlocked,
}

/// The serial-line diagnostic counters (wrapping u16, as on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Frames with a good CRC, any unit id.
    pub bus_messages: u16,
    /// Frames with a bad CRC (or too short to carry one).
    pub comm_errors: u16,
    /// Exception responses sent.
    pub exceptions: u16,
    /// Frames for this unit id or broadcast.
    pub server_messages: u16,
    /// Server messages that got no answer (broadcast, listen-only).
    pub no_response: u16,
    /// Frames longer than 256 bytes.
    pub overruns: u16,
}

/// What a node is, beyond the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeConfig {
    /// Device Identification object 0x05, ModelName: the board's name.
    pub model_name: &'static str,
}

/// The sensor node's whole state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    config: NodeConfig,
    unit: u8,
    coils: u32,
    general: [u16; GENERAL as usize],
    calibration: [u16; CALIBRATION as usize],
    line_settings: u16,
    lock: Lock,
    counters: Counters,
    last_exception: u8,
    listen_only: bool,
    reads: u16,
    files: [[u16; FILE_RECORDS as usize]; WRITABLE_FILES],
    /// Values written to holding register 0, newest last (file 4).
    history: [u16; HISTORY],
    /// How many of `history` were written (at most [`HISTORY`]).
    history_len: u8,
    /// Set while executing a request that wrote the lock register.
    lock_written: bool,
}

/// How a request ended when it did not end in an exception.
enum Reply {
    /// The writer holds the answer.
    Answer,
    /// The request asks for no answer (force listen-only mode).
    Silent,
}

type Outcome = Result<Reply, Exception>;

/// Where a request came from, as far as execution cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Addressing {
    Unicast,
    Broadcast,
}

/// Whether `[start, start + quantity)` fits inside `[0, limit)`.
fn fits(start: u16, quantity: u16, limit: u16) -> bool {
    u32::from(start) + u32::from(quantity) <= u32::from(limit)
}

fn holding_exists(address: u16) -> bool {
    address < GENERAL + CALIBRATION
        || address == UNIT_REGISTER
        || address == LINE_REGISTER
        || address == LOCK_REGISTER
}

fn holding_range_exists(start: u16, quantity: u16) -> bool {
    (0..quantity).all(|i| start.checked_add(i).is_some_and(holding_exists))
}

fn protected(address: u16) -> bool {
    (GENERAL..GENERAL + CALIBRATION).contains(&address)
        || address == UNIT_REGISTER
        || address == LINE_REGISTER
}

/// Register values carried big-endian in request bytes.
fn words(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]))
}

/// Functions that a broadcast executes; every other broadcast is ignored.
fn is_broadcast_write(pdu: &[u8]) -> bool {
    match pdu.first() {
        Some(0x05 | 0x06 | 0x0F | 0x10 | 0x15 | 0x16 | 0x17) => true,
        Some(0x08) => matches!(be16(pdu, 1), 0x0001 | 0x0004 | 0x000A) && pdu.len() >= 3,
        _ => false,
    }
}

/// Whether a PDU is a valid Restart Communications request, the one request
/// a node in listen-only mode acts on.
fn is_restart(pdu: &[u8]) -> bool {
    matches!(
        Request::parse(pdu),
        Ok(Request::Diagnostics {
            sub: diagnostic::RESTART_COMMUNICATIONS,
            ..
        })
    )
}

impl Node {
    /// A node in its reset state.
    pub const fn new(config: NodeConfig) -> Self {
        Node {
            config,
            unit: DEFAULT_UNIT,
            coils: 0,
            general: [0; GENERAL as usize],
            calibration: [0; CALIBRATION as usize],
            line_settings: 0,
            lock: Lock::Locked,
            counters: Counters {
                bus_messages: 0,
                comm_errors: 0,
                exceptions: 0,
                server_messages: 0,
                no_response: 0,
                overruns: 0,
            },
            last_exception: 0,
            listen_only: false,
            reads: 0,
            files: [[0; FILE_RECORDS as usize]; WRITABLE_FILES],
            history: [0; HISTORY],
            history_len: 0,
            lock_written: false,
        }
    }

    /// Back to the reset state.
    pub fn reset(&mut self) {
        *self = Node::new(self.config);
    }

    /// The unit id the node answers to.
    pub fn unit_id(&self) -> u8 {
        self.unit
    }

    /// The write lock's state.
    pub fn lock(&self) -> Lock {
        self.lock
    }

    /// The diagnostic counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The 32 coils, coil 0 in bit 0.
    pub fn coils(&self) -> u32 {
        self.coils
    }

    /// Whether the node is in listen-only mode.
    pub fn listen_only(&self) -> bool {
        self.listen_only
    }

    /// Reads a holding register as a master would, or `None` if it does not
    /// exist.
    pub fn holding(&self, address: u16) -> Option<u16> {
        holding_exists(address).then(|| self.read_holding(address))
    }

    /// Handles what the receiver completed. Returns the length of the answer
    /// written to `out`, or `None` when nothing is to be sent.
    pub fn handle(
        &mut self,
        received: Received<'_>,
        uptime_ms: u32,
        out: &mut [u8; MAX_ADU],
    ) -> Option<usize> {
        let bytes = match received {
            Received::Overrun => {
                self.counters.overruns = self.counters.overruns.wrapping_add(1);
                return None;
            }
            Received::Frame(bytes) => bytes,
        };
        if bytes.is_empty() {
            return None;
        }
        if bytes.len() > MAX_ADU {
            self.counters.overruns = self.counters.overruns.wrapping_add(1);
            return None;
        }
        let Ok(frame) = Frame::new_checked(bytes) else {
            self.counters.comm_errors = self.counters.comm_errors.wrapping_add(1);
            return None;
        };
        self.counters.bus_messages = self.counters.bus_messages.wrapping_add(1);
        let unit = frame.unit();
        let addressing = match unit {
            0 => Addressing::Broadcast,
            u if u == self.unit => Addressing::Unicast,
            _ => return None,
        };
        self.counters.server_messages = self.counters.server_messages.wrapping_add(1);
        let pdu = frame.pdu();

        if self.listen_only {
            self.counters.no_response = self.counters.no_response.wrapping_add(1);
            if is_restart(pdu) {
                self.restart_communications();
                if self.lock == Lock::Armed {
                    self.lock = Lock::Locked;
                }
            }
            return None;
        }
        if addressing == Addressing::Broadcast {
            self.counters.no_response = self.counters.no_response.wrapping_add(1);
            if is_broadcast_write(pdu) {
                let mut scratch = PduWriter::new(out, 0);
                let _ = self.execute(pdu, addressing, uptime_ms, &mut scratch);
            }
            return None;
        }

        let mut writer = PduWriter::new(out, unit);
        let exception = match self.execute(pdu, addressing, uptime_ms, &mut writer) {
            Ok(Reply::Answer) => match writer.finish() {
                Some(len) => return Some(len),
                // An answer that does not fit is a logic error; say so
                // rather than send a truncated frame.
                None => Exception::ServerDeviceFailure,
            },
            Ok(Reply::Silent) => {
                self.counters.no_response = self.counters.no_response.wrapping_add(1);
                return None;
            }
            Err(exception) => exception,
        };
        self.counters.exceptions = self.counters.exceptions.wrapping_add(1);
        self.last_exception = exception as u8;
        let mut writer = PduWriter::new(out, unit);
        writer.u8(pdu[0] | 0x80).u8(exception as u8);
        writer.finish()
    }

    /// Executes one request and keeps the lock sequence: any request that
    /// executes while armed, other than a write of the lock register, locks.
    fn execute(
        &mut self,
        pdu: &[u8],
        addressing: Addressing,
        uptime_ms: u32,
        w: &mut PduWriter<'_>,
    ) -> Outcome {
        self.lock_written = false;
        let outcome = self.dispatch(pdu, addressing, uptime_ms, w);
        if outcome.is_ok() && !self.lock_written && self.lock == Lock::Armed {
            self.lock = Lock::Locked;
        }
        outcome
    }

    fn dispatch(
        &mut self,
        pdu: &[u8],
        addressing: Addressing,
        uptime_ms: u32,
        w: &mut PduWriter<'_>,
    ) -> Outcome {
        match Request::parse(pdu)? {
            Request::ReadCoils { start, quantity } => self.read_bits(0x01, start, quantity, w),
            Request::ReadDiscreteInputs { start, quantity } => {
                self.read_bits(0x02, start, quantity, w)
            }
            Request::ReadHoldingRegisters { start, quantity } => {
                if !holding_range_exists(start, quantity) {
                    return Err(Exception::IllegalDataAddress);
                }
                self.answer_holding(0x03, start, quantity, w);
                Ok(Reply::Answer)
            }
            Request::ReadInputRegisters { start, quantity } => {
                self.read_input_registers(start, quantity, uptime_ms, w)
            }
            Request::WriteSingleCoil { address, on } => {
                if address >= COILS {
                    return Err(Exception::IllegalDataAddress);
                }
                self.set_coil(address, on);
                w.bytes(pdu);
                Ok(Reply::Answer)
            }
            Request::WriteSingleRegister { address, value } => {
                if !holding_exists(address) {
                    return Err(Exception::IllegalDataAddress);
                }
                self.write_holding(address, &value.to_be_bytes(), addressing)?;
                w.bytes(pdu);
                Ok(Reply::Answer)
            }
            Request::ReadExceptionStatus => {
                let mut status = self.coils as u8;
                if planted::on(Bug::ExceptionStatusOverread) {
                    // Planted bug PB02: a "mask" byte the request never has.
                    status &= planted::byte(pdu, 1, Bug::ExceptionStatusOverread);
                }
                w.u8(0x07).u8(status);
                Ok(Reply::Answer)
            }
            Request::Diagnostics { sub, .. } => self.diagnostics(pdu, sub, w),
            Request::WriteMultipleCoils {
                start,
                quantity,
                values,
            } => {
                if !fits(start, quantity, COILS) {
                    return Err(Exception::IllegalDataAddress);
                }
                for i in 0..quantity {
                    let byte = values[usize::from(i / 8)];
                    self.set_coil(start + i, byte >> (i % 8) & 1 == 1);
                }
                w.u8(0x0F).u16(start).u16(quantity);
                Ok(Reply::Answer)
            }
            Request::WriteMultipleRegisters {
                start,
                quantity,
                values,
            } => {
                if !holding_range_exists(start, quantity) {
                    return Err(Exception::IllegalDataAddress);
                }
                // The seeded divergence (a test-only feature): one register too few.
                #[cfg(feature = "seeded-divergence")]
                let values = &values[..values.len() - usize::from(quantity > 1) * 2];
                self.write_holding(start, values, addressing)?;
                w.u8(0x10).u16(start).u16(quantity);
                Ok(Reply::Answer)
            }
            Request::ReportServerId => {
                w.u8(0x11)
                    .u8(2 + SERVER_TEXT.len() as u8)
                    .u8(SERVER_ID)
                    .u8(RUN_INDICATOR)
                    .bytes(SERVER_TEXT);
                Ok(Reply::Answer)
            }
            Request::ReadFileRecord { subs } => self.read_file_record(subs, w),
            Request::WriteFileRecord { subs } => self.write_file_record(pdu, subs, w),
            Request::MaskWriteRegister { address, and, or } => {
                self.mask_write_register(pdu, address, and, or, addressing, w)
            }
            Request::ReadWriteRegisters {
                read_start,
                read_quantity,
                write_start,
                write_quantity,
                values,
            } => {
                // Planted bug PB01: the write range is never checked.
                let write_checked = !planted::on(Bug::RwWriteRange);
                if !holding_range_exists(read_start, read_quantity)
                    || write_checked && !holding_range_exists(write_start, write_quantity)
                {
                    return Err(Exception::IllegalDataAddress);
                }
                // The write happens before the read.
                self.write_holding(write_start, values, addressing)?;
                self.answer_holding(0x17, read_start, read_quantity, w);
                Ok(Reply::Answer)
            }
            Request::ReadFifoQueue { address } => {
                if address != FIFO_ADDRESS {
                    return Err(Exception::IllegalDataAddress);
                }
                let n = usize::from(self.history_len).min(FIFO_DEPTH);
                w.u8(0x18).u16(2 + 2 * n as u16).u16(n as u16);
                for &value in &self.history[HISTORY - n..] {
                    w.u16(value);
                }
                Ok(Reply::Answer)
            }
            Request::ReadDeviceIdentification { code, object } => {
                self.read_device_identification(code, object, w)
            }
        }
    }

    fn read_bits(
        &mut self,
        function: u8,
        start: u16,
        quantity: u16,
        w: &mut PduWriter<'_>,
    ) -> Outcome {
        if !fits(start, quantity, COILS) {
            return Err(Exception::IllegalDataAddress);
        }
        // Discrete input n is the inverse of coil n (a loopback fixture).
        let source = if function == 0x01 {
            self.coils
        } else {
            !self.coils
        };
        let bits = (source >> start) & mask(quantity);
        w.u8(function).u8(quantity.div_ceil(8) as u8);
        for byte in bits
            .to_le_bytes()
            .iter()
            .take(usize::from(quantity.div_ceil(8)))
        {
            w.u8(*byte);
        }
        Ok(Reply::Answer)
    }

    fn answer_holding(&self, function: u8, start: u16, quantity: u16, w: &mut PduWriter<'_>) {
        w.u8(function).u8((quantity * 2) as u8);
        for address in start..start + quantity {
            w.u16(self.read_holding(address));
        }
    }

    fn read_input_registers(
        &mut self,
        start: u16,
        quantity: u16,
        uptime_ms: u32,
        w: &mut PduWriter<'_>,
    ) -> Outcome {
        if !fits(start, quantity, INPUT_REGISTERS) {
            return Err(Exception::IllegalDataAddress);
        }
        w.u8(0x04).u8((quantity * 2) as u8);
        for address in start..start + quantity {
            w.u16(self.read_input(address, uptime_ms));
        }
        self.reads = self.reads.wrapping_add(1);
        Ok(Reply::Answer)
    }

    fn read_input(&self, address: u16, uptime_ms: u32) -> u16 {
        let c = &self.counters;
        match address {
            0x00..=0x0F => (1000 * address).wrapping_add(self.reads.wrapping_mul(address + 1)),
            0x10 => c.bus_messages,
            0x11 => c.comm_errors,
            0x12 => c.exceptions,
            0x13 => c.server_messages,
            0x14 => c.no_response,
            0x15 => c.overruns,
            0x16 => u16::from(self.last_exception),
            0x17 => FIRMWARE_VERSION,
            0x20 => (uptime_ms >> 16) as u16,
            0x21 => uptime_ms as u16,
            _ => 0,
        }
    }

    /// A parsed Diagnostics request: `data` follows the sub-function.
    fn diagnostics(&mut self, pdu: &[u8], sub: u16, w: &mut PduWriter<'_>) -> Outcome {
        match sub {
            diagnostic::FORCE_LISTEN_ONLY => {
                self.listen_only = true;
                return Ok(Reply::Silent);
            }
            diagnostic::RESTART_COMMUNICATIONS => self.restart_communications(),
            diagnostic::CLEAR_COUNTERS => self.counters = Counters::default(),
            diagnostic::RETURN_QUERY_DATA => {}
            _ => {
                let c = &self.counters;
                let count = match sub {
                    0x000B => c.bus_messages,
                    0x000C => c.comm_errors,
                    0x000D => c.exceptions,
                    0x000E => c.server_messages,
                    0x000F => c.no_response,
                    // NAK (0x10) and busy (0x11) counts are always zero.
                    0x0012 => c.overruns,
                    _ => 0,
                };
                w.u8(0x08).u16(sub).u16(count);
                return Ok(Reply::Answer);
            }
        }
        w.bytes(pdu);
        Ok(Reply::Answer)
    }

    fn read_file_record(&mut self, subs: &[u8], w: &mut PduWriter<'_>) -> Outcome {
        if !read_subs(subs).all(|s| in_range(&s, 4)) {
            return Err(Exception::IllegalDataAddress);
        }
        let answer_len: usize = read_subs(subs).map(|s| 2 + 2 * usize::from(s.length)).sum();
        w.u8(0x14).u8(answer_len as u8);
        for s in read_subs(subs) {
            w.u8(1 + 2 * s.length as u8).u8(6);
            for record in s.record..s.record + s.length {
                w.u16(self.file_record(s.file, record));
            }
        }
        Ok(Reply::Answer)
    }

    fn write_file_record(&mut self, pdu: &[u8], subs: &[u8], w: &mut PduWriter<'_>) -> Outcome {
        // Every address is checked before anything is written.
        let walk = WriteWalk { rest: subs }.flatten();
        if !walk.clone().all(|(s, _)| in_range(&s, 4)) {
            return Err(Exception::IllegalDataAddress);
        }
        if walk
            .clone()
            .any(|(s, _)| usize::from(s.file) > WRITABLE_FILES)
        {
            // File 4 is the read-only history of holding register 0.
            return Err(Exception::IllegalDataAddress);
        }
        for (s, values) in walk {
            let file = &mut self.files[usize::from(s.file) - 1];
            for (record, value) in (s.record..).zip(words(values)) {
                file[usize::from(record)] = value;
            }
        }
        w.bytes(pdu);
        Ok(Reply::Answer)
    }

    fn mask_write_register(
        &mut self,
        pdu: &[u8],
        address: u16,
        and: u16,
        or: u16,
        addressing: Addressing,
        w: &mut PduWriter<'_>,
    ) -> Outcome {
        if !holding_exists(address) {
            return Err(Exception::IllegalDataAddress);
        }
        let result = (self.read_holding(address) & and) | (or & !and);
        if planted::on(Bug::LockBypass) && address == LOCK_REGISTER && result == LOCK_OPEN {
            // Planted bug PB05: a masked write skips the arming step.
            self.lock = Lock::Armed;
        }
        self.write_holding(address, &result.to_be_bytes(), addressing)?;
        if planted::on(Bug::MaskWriteNoEcho) {
            // Planted bug PB07: the new value where the AND mask belongs.
            w.u8(0x16)
                .u16(address)
                .u16(self.read_holding(address))
                .u16(or);
            return Ok(Reply::Answer);
        }
        w.bytes(pdu);
        Ok(Reply::Answer)
    }

    fn read_device_identification(
        &mut self,
        code: u8,
        object: u8,
        w: &mut PduWriter<'_>,
    ) -> Outcome {
        let objects = match code {
            // Basic and regular stream access: an object id outside the
            // category restarts at object 0.
            0x01 | 0x02 => {
                let last = if code == 0x01 { 0x02 } else { 0x05 };
                let first = if object > last { 0 } else { object };
                first..=last
            }
            _ if object <= 0x05 => object..=object,
            _ => return Err(Exception::IllegalDataAddress),
        };
        w.u8(0x2B)
            .u8(0x0E)
            .u8(code)
            .u8(CONFORMITY)
            .u8(0x00) // more follows: no
            .u8(0x00) // next object id
            .u8(objects.clone().count() as u8);
        for id in objects {
            let value = self.device_object(id);
            w.u8(id).u8(value.len() as u8).bytes(value);
        }
        Ok(Reply::Answer)
    }

    fn device_object(&self, id: u8) -> &'static [u8] {
        match id {
            0x00 => VENDOR,
            0x01 => PRODUCT_CODE,
            0x02 => REVISION,
            0x03 => VENDOR_URL,
            0x04 => PRODUCT_NAME,
            _ => self.config.model_name.as_bytes(),
        }
    }

    fn restart_communications(&mut self) {
        self.counters = Counters::default();
        self.listen_only = false;
    }

    fn set_coil(&mut self, address: u16, on: bool) {
        let bit = 1u32 << (address % COILS);
        if on {
            self.coils |= bit;
        } else {
            self.coils &= !bit;
        }
    }

    fn read_holding(&self, address: u16) -> u16 {
        match address {
            a if a < GENERAL => self.general[usize::from(a)],
            a if a < GENERAL + CALIBRATION => self.calibration[usize::from(a - GENERAL)],
            UNIT_REGISTER => u16::from(self.unit),
            LINE_REGISTER => self.line_settings,
            LOCK_REGISTER => u16::from(self.lock == Lock::Unlocked),
            _ => 0,
        }
    }

    /// Writes big-endian `values` from `start` on, all or nothing. The range
    /// is known to exist; this checks the lock and the unit id's value.
    fn write_holding(
        &mut self,
        start: u16,
        values: &[u8],
        addressing: Addressing,
    ) -> Result<(), Exception> {
        // Wrapping: only a planted bug (PB01) lets a range run past 0xFFFF.
        let writes = || (0u16..).map(|i| start.wrapping_add(i)).zip(words(values));
        if self.lock != Lock::Unlocked && writes().any(|(a, _)| protected(a)) {
            return Err(Exception::ServerDeviceFailure);
        }
        // Planted bug PB08: 0, the broadcast address, passes as a unit id.
        let lowest = if planted::on(Bug::UnitIdZero) { 0 } else { 1 };
        if writes().any(|(a, v)| a == UNIT_REGISTER && !(lowest..=247).contains(&v)) {
            return Err(Exception::IllegalDataValue);
        }
        for (address, value) in writes() {
            match address {
                0 => {
                    self.general[0] = value;
                    self.history.copy_within(1.., 0);
                    self.history[HISTORY - 1] = value;
                    self.history_len = self.history_len.saturating_add(1).min(HISTORY as u8);
                }
                a if a < GENERAL => self.general[usize::from(a)] = value,
                a if a < GENERAL + CALIBRATION => {
                    self.calibration[usize::from(a - GENERAL)] = value
                }
                // The new unit id takes effect after this request's answer,
                // which is addressed with the unit id the request came to.
                UNIT_REGISTER => self.unit = value as u8,
                LINE_REGISTER => self.line_settings = value,
                LOCK_REGISTER => {
                    self.lock_written = true;
                    self.lock = match value {
                        LOCK_ARM => Lock::Armed,
                        // A broadcast can never complete the sequence.
                        LOCK_OPEN
                            if self.lock == Lock::Armed && addressing == Addressing::Unicast =>
                        {
                            Lock::Unlocked
                        }
                        _ => Lock::Locked,
                    };
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn file_record(&self, file: u16, record: u16) -> u16 {
        let record = usize::from(record);
        match file {
            1..=3 => self.files[usize::from(file) - 1][record],
            // File 4: the last 64 values written to holding register 0,
            // newest at record 63, zero where nothing was written yet.
            _ => self.history.get(record).copied().unwrap_or(0),
        }
    }
}

/// The low `quantity` bits set (quantity may exceed 32).
fn mask(quantity: u16) -> u32 {
    if quantity >= 32 {
        u32::MAX
    } else {
        (1u32 << quantity) - 1
    }
}

/// Reference type 6, an existing file among `1..=files`, records inside it.
fn in_range(s: &SubRequest, files: u16) -> bool {
    s.reference == 6
        && (1..=files).contains(&s.file)
        && s.record < FILE_RECORDS
        && fits(s.record, s.length, FILE_RECORDS)
}
