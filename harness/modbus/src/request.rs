//! The typed form of one request and its bytes on the wire.

use crate::wire::{
    self, crc_ok, function as fc, BROADCAST, DIAG_FORCE_LISTEN_ONLY, FILE_REFERENCE_TYPE, MAX_ADU,
    MEI_READ_DEVICE_ID, MIN_FRAME,
};

/// One Modbus RTU request: the unit id it is addressed to and what it asks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModbusRequest {
    /// The unit id (0 is broadcast). Ignored by [`RequestKind::Frame`] and
    /// [`RequestKind::Raw`], whose bytes carry their own; the parser sets it
    /// to their first byte for information.
    pub unit: u8,
    /// The function and its arguments, or bytes given as they are.
    pub kind: RequestKind,
}

/// One sub-request of Read File Record (0x14): `length` registers from
/// `record` of `file` (reference type 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileRecordRead {
    /// File number (the node has files 1..=4).
    pub file: u16,
    /// First record (register) number within the file.
    pub record: u16,
    /// Number of records (registers) to read.
    pub length: u16,
}

/// One sub-request of Write File Record (0x15): `values` written from
/// `record` of `file` (reference type 6); the record length is the number of
/// values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileRecordWrite {
    /// File number (the node accepts writes to files 1..=3).
    pub file: u16,
    /// First record (register) number within the file.
    pub record: u16,
    /// The register values, in record order.
    pub values: Vec<u16>,
}

/// What a request asks: one variant per supported function, plus bytes given
/// as they are (`Pdu`, `Frame`, `Raw`) for malformed and unknown requests.
///
/// Every field is encoded as given, without judging whether a device will
/// accept it (a quantity of 0, a coil value of 0x1234, file 9 are all fine):
/// the point is to be able to send invalid requests. The only limits are
/// those of the encoding itself, see [`RequestKind::check_encodable`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// 0x01 Read Coils: `quantity` coils from `address`.
    ReadCoils {
        /// First coil.
        address: u16,
        /// Number of coils.
        quantity: u16,
    },
    /// 0x02 Read Discrete Inputs: `quantity` inputs from `address`.
    ReadDiscreteInputs {
        /// First input.
        address: u16,
        /// Number of inputs.
        quantity: u16,
    },
    /// 0x03 Read Holding Registers: `quantity` registers from `address`.
    ReadHoldingRegisters {
        /// First register.
        address: u16,
        /// Number of registers.
        quantity: u16,
    },
    /// 0x04 Read Input Registers: `quantity` registers from `address`.
    ReadInputRegisters {
        /// First register.
        address: u16,
        /// Number of registers.
        quantity: u16,
    },
    /// 0x05 Write Single Coil. `value` is 0xFF00 for on, 0x0000 for off;
    /// anything else is invalid but can be sent.
    WriteSingleCoil {
        /// The coil.
        address: u16,
        /// The value field as sent.
        value: u16,
    },
    /// 0x06 Write Single Register.
    WriteSingleRegister {
        /// The register.
        address: u16,
        /// The value.
        value: u16,
    },
    /// 0x07 Read Exception Status.
    ReadExceptionStatus,
    /// 0x08 Diagnostics: a sub-function and its data words.
    Diagnostics {
        /// The sub-function, e.g. 0x0000 Return Query Data.
        sub_function: u16,
        /// The data field, as big-endian words (often exactly one).
        data: Vec<u16>,
    },
    /// 0x0F Write Multiple Coils: `coils[i]` goes to coil `address + i`;
    /// the quantity is `coils.len()`.
    WriteMultipleCoils {
        /// First coil.
        address: u16,
        /// The coil states, first one for `address`.
        coils: Vec<bool>,
    },
    /// 0x10 Write Multiple Registers: the quantity is `values.len()`.
    WriteMultipleRegisters {
        /// First register.
        address: u16,
        /// The values, first one for `address`.
        values: Vec<u16>,
    },
    /// 0x11 Report Server ID.
    ReportServerId,
    /// 0x14 Read File Record, one or more sub-requests.
    ReadFileRecord {
        /// The sub-requests, in order.
        records: Vec<FileRecordRead>,
    },
    /// 0x15 Write File Record, one or more sub-requests.
    WriteFileRecord {
        /// The sub-requests, in order.
        records: Vec<FileRecordWrite>,
    },
    /// 0x16 Mask Write Register.
    MaskWriteRegister {
        /// The register.
        address: u16,
        /// The AND mask.
        and_mask: u16,
        /// The OR mask.
        or_mask: u16,
    },
    /// 0x17 Read/Write Multiple Registers: writes `values` from
    /// `write_address`, then reads `read_quantity` from `read_address`.
    ReadWriteMultipleRegisters {
        /// First register to read.
        read_address: u16,
        /// Number of registers to read.
        read_quantity: u16,
        /// First register to write.
        write_address: u16,
        /// Values to write; the write quantity is their number.
        values: Vec<u16>,
    },
    /// 0x18 Read FIFO Queue.
    ReadFifoQueue {
        /// The FIFO pointer address.
        address: u16,
    },
    /// 0x2B / MEI 0x0E Read Device Identification.
    ReadDeviceIdentification {
        /// Read device id code: 1 basic, 2 regular, 3 extended, 4 one object.
        read_code: u8,
        /// The object id to start from (or the one object, for code 4).
        object_id: u8,
    },
    /// A PDU (function code and data) given as bytes; the unit id comes from
    /// [`ModbusRequest::unit`] and the CRC is appended.
    Pdu(Vec<u8>),
    /// A frame without its CRC (unit id, then the PDU) given as bytes; the
    /// CRC is appended.
    Frame(Vec<u8>),
    /// Exact bytes for the wire, nothing added: bad CRCs, garbage, truncated
    /// or oversized frames.
    Raw(Vec<u8>),
}

/// Most values a byte count of one byte can announce for 16-bit registers.
pub(crate) const MAX_REGISTER_VALUES: usize = 127;
/// Most coils a byte count of one byte can announce.
pub(crate) const MAX_COILS: usize = 255 * 8;
/// Most read-file-record sub-requests (7 bytes each) in a one-byte byte count.
pub(crate) const MAX_FILE_READS: usize = 255 / 7;

impl RequestKind {
    /// The function code this request carries on the wire, if it has one:
    /// the first byte for `Pdu`, the second for `Frame` and `Raw`.
    pub fn function_code(&self) -> Option<u8> {
        Some(match self {
            RequestKind::ReadCoils { .. } => fc::READ_COILS,
            RequestKind::ReadDiscreteInputs { .. } => fc::READ_DISCRETE_INPUTS,
            RequestKind::ReadHoldingRegisters { .. } => fc::READ_HOLDING_REGISTERS,
            RequestKind::ReadInputRegisters { .. } => fc::READ_INPUT_REGISTERS,
            RequestKind::WriteSingleCoil { .. } => fc::WRITE_SINGLE_COIL,
            RequestKind::WriteSingleRegister { .. } => fc::WRITE_SINGLE_REGISTER,
            RequestKind::ReadExceptionStatus => fc::READ_EXCEPTION_STATUS,
            RequestKind::Diagnostics { .. } => fc::DIAGNOSTICS,
            RequestKind::WriteMultipleCoils { .. } => fc::WRITE_MULTIPLE_COILS,
            RequestKind::WriteMultipleRegisters { .. } => fc::WRITE_MULTIPLE_REGISTERS,
            RequestKind::ReportServerId => fc::REPORT_SERVER_ID,
            RequestKind::ReadFileRecord { .. } => fc::READ_FILE_RECORD,
            RequestKind::WriteFileRecord { .. } => fc::WRITE_FILE_RECORD,
            RequestKind::MaskWriteRegister { .. } => fc::MASK_WRITE_REGISTER,
            RequestKind::ReadWriteMultipleRegisters { .. } => fc::READ_WRITE_MULTIPLE_REGISTERS,
            RequestKind::ReadFifoQueue { .. } => fc::READ_FIFO_QUEUE,
            RequestKind::ReadDeviceIdentification { .. } => fc::ENCAPSULATED_INTERFACE,
            RequestKind::Pdu(pdu) => return pdu.first().copied(),
            RequestKind::Frame(bytes) | RequestKind::Raw(bytes) => return bytes.get(1).copied(),
        })
    }

    /// The keyword of this request in the request language, e.g.
    /// `read-holding`.
    pub fn keyword(&self) -> &'static str {
        match self {
            RequestKind::ReadCoils { .. } => "read-coils",
            RequestKind::ReadDiscreteInputs { .. } => "read-discrete",
            RequestKind::ReadHoldingRegisters { .. } => "read-holding",
            RequestKind::ReadInputRegisters { .. } => "read-input",
            RequestKind::WriteSingleCoil { .. } => "write-coil",
            RequestKind::WriteSingleRegister { .. } => "write-register",
            RequestKind::ReadExceptionStatus => "read-exception-status",
            RequestKind::Diagnostics { .. } => "diagnostics",
            RequestKind::WriteMultipleCoils { .. } => "write-coils",
            RequestKind::WriteMultipleRegisters { .. } => "write-registers",
            RequestKind::ReportServerId => "report-server-id",
            RequestKind::ReadFileRecord { .. } => "read-file-record",
            RequestKind::WriteFileRecord { .. } => "write-file-record",
            RequestKind::MaskWriteRegister { .. } => "mask-write",
            RequestKind::ReadWriteMultipleRegisters { .. } => "read-write",
            RequestKind::ReadFifoQueue { .. } => "read-fifo",
            RequestKind::ReadDeviceIdentification { .. } => "read-device-id",
            RequestKind::Pdu(_) => "pdu",
            RequestKind::Frame(_) => "frame",
            RequestKind::Raw(_) => "raw",
        }
    }

    /// Checks the limits of the encoding itself, which [`parse_request`]
    /// enforces and generators of requests should respect:
    ///
    /// - byte counts are one byte: at most 127 values for `write-registers`
    ///   and `read-write`, 2040 coils for `write-coils`, 36 sub-requests for
    ///   `read-file-record`, 255 bytes of sub-requests (7 + 2 × values each)
    ///   for `write-file-record`;
    /// - `pdu`, `frame` and `raw` have at least one byte.
    ///
    /// Outside these limits [`ModbusRequest::encode_into`] still never panics,
    /// but a byte count wraps around and the rendering does not parse back.
    /// Nothing else is checked: quantities of 0, unknown files or frames over
    /// 256 bytes are all encodable on purpose.
    ///
    /// [`parse_request`]: hilt_protocol::Protocol::parse_request
    pub fn check_encodable(&self) -> Result<(), String> {
        let name = self.keyword();
        match self {
            RequestKind::WriteMultipleCoils { coils, .. } if coils.len() > MAX_COILS => Err(
                format!("{name} takes at most {MAX_COILS} BITS (the byte count is one byte)"),
            ),
            RequestKind::WriteMultipleRegisters { values, .. }
            | RequestKind::ReadWriteMultipleRegisters { values, .. }
                if values.len() > MAX_REGISTER_VALUES =>
            {
                Err(format!(
                    "{name} takes at most {MAX_REGISTER_VALUES} VALUEs (the byte count is one byte)"
                ))
            }
            RequestKind::ReadFileRecord { records } if records.len() > MAX_FILE_READS => Err(
                format!("{name} takes at most {MAX_FILE_READS} sub-requests (the byte count is one byte)"),
            ),
            RequestKind::WriteFileRecord { records } if write_file_data_len(records) > 255 => {
                Err(format!(
                    "{name} sub-requests take {} bytes, at most 255 fit (7 per sub-request plus 2 per value)",
                    write_file_data_len(records)
                ))
            }
            RequestKind::Pdu(b) | RequestKind::Frame(b) | RequestKind::Raw(b) if b.is_empty() => {
                Err(format!("{name} takes at least one hex byte"))
            }
            _ => Ok(()),
        }
    }
}

/// Request data length of Write File Record: 7 bytes of header per
/// sub-request plus its values.
fn write_file_data_len(records: &[FileRecordWrite]) -> usize {
    records
        .iter()
        .map(|r| 7usize.saturating_add(r.values.len().saturating_mul(2)))
        .fold(0usize, usize::saturating_add)
}

fn push16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A byte count as sent: it wraps beyond 255, which only requests outside
/// [`RequestKind::check_encodable`] reach.
fn count_byte(n: usize) -> u8 {
    (n & 0xFF) as u8
}

/// A quantity as sent, wrapping beyond 65535 likewise.
fn count_word(n: usize) -> u16 {
    (n & 0xFFFF) as u16
}

impl ModbusRequest {
    /// A request for `unit`.
    pub fn new(unit: u8, kind: RequestKind) -> Self {
        ModbusRequest { unit, kind }
    }

    /// Writes the request's bytes as they go on the wire, appending to `out`:
    /// unit id, PDU, CRC-16/MODBUS low byte first (except `Raw`, written as
    /// is). Never panics.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        match &self.kind {
            RequestKind::Raw(bytes) => {
                out.extend_from_slice(bytes);
                return;
            }
            RequestKind::Frame(bytes) => out.extend_from_slice(bytes),
            RequestKind::Pdu(pdu) => {
                out.push(self.unit);
                out.extend_from_slice(pdu);
            }
            kind => {
                out.push(self.unit);
                // Typed kinds always have a function code.
                out.push(kind.function_code().unwrap_or_default());
                kind.push_data(out);
            }
        }
        let crc = wire::crc16(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }

    /// The request's bytes as they go on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Whether a conforming device answers this request at all; see
    /// [`wire_expects_response`].
    pub fn expects_response(&self) -> bool {
        wire_expects_response(&self.to_bytes())
    }
}

impl RequestKind {
    /// The PDU's data (everything after the function code) of a typed kind.
    fn push_data(&self, out: &mut Vec<u8>) {
        match self {
            RequestKind::ReadCoils { address, quantity }
            | RequestKind::ReadDiscreteInputs { address, quantity }
            | RequestKind::ReadHoldingRegisters { address, quantity }
            | RequestKind::ReadInputRegisters { address, quantity } => {
                push16(out, *address);
                push16(out, *quantity);
            }
            RequestKind::WriteSingleCoil { address, value }
            | RequestKind::WriteSingleRegister { address, value } => {
                push16(out, *address);
                push16(out, *value);
            }
            RequestKind::ReadExceptionStatus | RequestKind::ReportServerId => {}
            RequestKind::Diagnostics { sub_function, data } => {
                push16(out, *sub_function);
                data.iter().for_each(|w| push16(out, *w));
            }
            RequestKind::WriteMultipleCoils { address, coils } => {
                push16(out, *address);
                push16(out, count_word(coils.len()));
                out.push(count_byte(coils.len().div_ceil(8)));
                // Coil `address + i` is bit i % 8 of byte i / 8: the first
                // coil in the least significant bit.
                for chunk in coils.chunks(8) {
                    let byte = chunk
                        .iter()
                        .enumerate()
                        .fold(0u8, |acc, (i, &on)| acc | (u8::from(on) << i));
                    out.push(byte);
                }
            }
            RequestKind::WriteMultipleRegisters { address, values } => {
                push16(out, *address);
                push16(out, count_word(values.len()));
                out.push(count_byte(values.len().saturating_mul(2)));
                values.iter().for_each(|v| push16(out, *v));
            }
            RequestKind::ReadFileRecord { records } => {
                out.push(count_byte(records.len().saturating_mul(7)));
                for r in records {
                    out.push(FILE_REFERENCE_TYPE);
                    push16(out, r.file);
                    push16(out, r.record);
                    push16(out, r.length);
                }
            }
            RequestKind::WriteFileRecord { records } => {
                out.push(count_byte(write_file_data_len(records)));
                for r in records {
                    out.push(FILE_REFERENCE_TYPE);
                    push16(out, r.file);
                    push16(out, r.record);
                    push16(out, count_word(r.values.len()));
                    r.values.iter().for_each(|v| push16(out, *v));
                }
            }
            RequestKind::MaskWriteRegister {
                address,
                and_mask,
                or_mask,
            } => {
                push16(out, *address);
                push16(out, *and_mask);
                push16(out, *or_mask);
            }
            RequestKind::ReadWriteMultipleRegisters {
                read_address,
                read_quantity,
                write_address,
                values,
            } => {
                push16(out, *read_address);
                push16(out, *read_quantity);
                push16(out, *write_address);
                push16(out, count_word(values.len()));
                out.push(count_byte(values.len().saturating_mul(2)));
                values.iter().for_each(|v| push16(out, *v));
            }
            RequestKind::ReadFifoQueue { address } => push16(out, *address),
            RequestKind::ReadDeviceIdentification {
                read_code,
                object_id,
            } => {
                out.push(MEI_READ_DEVICE_ID);
                out.push(*read_code);
                out.push(*object_id);
            }
            RequestKind::Pdu(_) | RequestKind::Frame(_) | RequestKind::Raw(_) => {}
        }
    }
}

/// The unit id and function code a conforming answer to the request frame
/// `wire` carries: known when `wire` is a CRC-valid frame of at least 4
/// bytes, `None` for garbage.
pub(crate) fn expectation(wire: &[u8]) -> Option<(u8, u8)> {
    match wire {
        [unit, function, ..] if wire.len() >= MIN_FRAME && crc_ok(wire) => Some((*unit, *function)),
        _ => None,
    }
}

/// Whether a conforming device answers the request frame `wire` at all:
/// only a CRC-valid frame of 4..=256 bytes for a non-zero unit id, and not
/// Diagnostics 0x0004 (Force Listen Only Mode), which is never answered.
///
/// Whether the unit id is the device's own, and whether the device is in
/// listen-only mode, depends on its state and is not judged here.
pub fn wire_expects_response(wire: &[u8]) -> bool {
    let Some((unit, function)) = expectation(wire) else {
        return false;
    };
    let listen_only = function == fc::DIAGNOSTICS
        && wire.len() >= 6
        && wire::be16(wire, 2) == Some(DIAG_FORCE_LISTEN_ONLY);
    unit != BROADCAST && wire.len() <= MAX_ADU && !listen_only
}
