//! Proptest generators of requests for the sensor node of `MODBUS-NODE.md`
//! (behind the `proptest` feature).
//!
//! - [`request`]: requests of every function, mostly to the node's unit id,
//!   some broadcasts and some for other unit ids, weighted towards the
//!   edges: quantity limits, address boundaries, protected registers, the
//!   lock sequence, file-record limits, the FIFO, device identification
//!   codes and objects, diagnostics sub-functions.
//! - [`malformed`]: frames the node must ignore or reject: bad CRCs,
//!   truncated and over-long frames, wrong byte counts and lengths, garbage.
//! - [`any_request`]: about 85% of the first, 15% of the second.
//! - [`request_for`] and [`any_request_for`]: the same, for a reference
//!   state ([`Model`]): they follow its unit id, and make the step that
//!   leaves a state likely when it is in one that a run would otherwise
//!   rarely leave (an armed lock: the unlocking write; listen-only mode: a
//!   restart). Made for `proptest-state-machine`'s `transitions`.
//!
//! Every generated request respects [`RequestKind::check_encodable`], so
//! its rendering in the request language parses back to the same request.
//!
//! The weights are relative, and chosen so that a short run sees a bit of
//! everything: the lock is written about one request in five (nearly half
//! of them arming, as many unlocking), so that about half of the runs of 50
//! [`request`]s unlock the node (nearly all runs of [`request_for`]);
//! Force Listen Only Mode is rare (about one request in 350) and a valid
//! Restart Communications common (about one in 25), so a run spends about
//! 5% of its requests in listen-only mode. The module's tests measure both
//! with a fixed seed.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};

use crate::model::{
    LockState, Model, FIFO_ADDRESS, LOCK_ARM, LOCK_REGISTER, LOCK_UNLOCK, UNIT_ID_REGISTER,
};
use crate::wire::{function as fc, BROADCAST, MAX_ADU};
use crate::{FileRecordRead, FileRecordWrite, ModbusRequest, RequestKind, COIL_OFF, COIL_ON};

/// Requests of every function for a node whose unit id is `unit`, weighted
/// towards the edges (see the module documentation).
pub fn request(unit: u8) -> BoxedStrategy<ModbusRequest> {
    (target(unit), kind(unit))
        .prop_map(|(unit, kind)| ModbusRequest::new(unit, kind))
        .boxed()
}

/// Frames a node whose unit id is `unit` must ignore or reject: a bad CRC,
/// truncated, over 256 bytes, wrong byte counts or lengths (as `pdu`),
/// garbage (as `raw`), and a valid request followed by garbage in the same
/// burst.
pub fn malformed(unit: u8) -> BoxedStrategy<ModbusRequest> {
    prop_oneof![
        3 => bad_crc(unit),
        3 => truncated(unit),
        1 => over_long(unit),
        5 => wrong_lengths(unit),
        2 => garbage(),
        1 => trailing_garbage(unit),
    ]
    .boxed()
}

/// About 85% [`request`], 15% [`malformed`].
pub fn any_request(unit: u8) -> BoxedStrategy<ModbusRequest> {
    prop_oneof![
        85 => request(unit),
        15 => malformed(unit),
    ]
    .boxed()
}

/// [`request`] for the node in state `model`: to its unit id, and when the
/// lock is armed, the unlocking write half of the time; in listen-only
/// mode, a valid Restart Communications a quarter of the time.
pub fn request_for(model: &Model) -> BoxedStrategy<ModbusRequest> {
    with_way_out(model, request(model.unit_id()))
}

/// [`any_request`] for the node in state `model`; see [`request_for`].
pub fn any_request_for(model: &Model) -> BoxedStrategy<ModbusRequest> {
    with_way_out(model, any_request(model.unit_id()))
}

fn with_way_out(model: &Model, base: BoxedStrategy<ModbusRequest>) -> BoxedStrategy<ModbusRequest> {
    let unit = model.unit_id();
    if model.listen_only() {
        let restart = (
            prop_oneof![4 => Just(unit), 1 => Just(BROADCAST)],
            restart(),
        )
            .prop_map(|(unit, kind)| ModbusRequest::new(unit, kind));
        prop_oneof![3 => base, 1 => restart].boxed()
    } else if model.lock() == LockState::Armed {
        let unlock = ModbusRequest::new(
            unit,
            RequestKind::WriteSingleRegister {
                address: LOCK_REGISTER,
                value: LOCK_UNLOCK,
            },
        );
        prop_oneof![1 => base, 1 => Just(unlock)].boxed()
    } else {
        base
    }
}

/// The unit id a request goes to: mostly the node's, some broadcasts, some
/// any other.
fn target(unit: u8) -> impl Strategy<Value = u8> {
    prop_oneof![
        85 => Just(unit),
        8 => Just(BROADCAST),
        7 => any::<u8>(),
    ]
}

/// What a well-formed request asks, every function, weighted (the weights
/// add up to about 1000).
fn kind(unit: u8) -> BoxedStrategy<RequestKind> {
    prop_oneof![
        50 => bit_range().prop_map(|(address, quantity)| RequestKind::ReadCoils { address, quantity }),
        35 => bit_range()
            .prop_map(|(address, quantity)| RequestKind::ReadDiscreteInputs { address, quantity }),
        70 => holding_range()
            .prop_map(|(address, quantity)| RequestKind::ReadHoldingRegisters { address, quantity }),
        55 => input_range()
            .prop_map(|(address, quantity)| RequestKind::ReadInputRegisters { address, quantity }),
        45 => (coil_address(), coil_value())
            .prop_map(|(address, value)| RequestKind::WriteSingleCoil { address, value }),
        80 => write_register(unit),
        220 => lock_write(),
        15 => Just(RequestKind::ReadExceptionStatus),
        55 => diagnostics(),
        40 => restart(),
        3 => force_listen_only(),
        40 => write_coils(),
        60 => write_registers(unit),
        15 => Just(RequestKind::ReportServerId),
        40 => read_file_record(),
        40 => write_file_record(),
        35 => mask_write(unit),
        45 => read_write(unit),
        30 => read_fifo(),
        35 => device_identification(),
        20 => unsupported(),
    ]
    .boxed()
}

// --- Coils -----------------------------------------------------------------

/// Coil (and discrete input) addresses: mostly existing, the last one and
/// the first missing one often.
fn coil_address() -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => 0u16..0x20,
        2 => Just(0x001F),
        2 => Just(0x0020),
        1 => any::<u16>(),
    ]
}

/// Quantities of bits: small, 0, 1, `max` and `max + 1`, anything.
fn bit_quantity(max: u16) -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => 1u16..=32,
        1 => Just(0),
        1 => Just(1),
        1 => Just(max),
        1 => Just(max + 1),
        1 => any::<u16>(),
    ]
}

prop_compose! {
    /// A coil range for 0x01/0x02; some end at the last coil exactly or one
    /// past it.
    fn bit_range()(address in coil_address(), quantity in bit_quantity(2000), edge in 0u8..6)
        -> (u16, u16)
    {
        match edge {
            0 if address < 0x20 => (address, 0x20 - address),
            1 if address <= 0x20 => (address, 0x21 - address),
            _ => (address, quantity),
        }
    }
}

/// Values of Write Single Coil: on and off mostly, some invalid.
fn coil_value() -> impl Strategy<Value = u16> {
    prop_oneof![
        8 => Just(COIL_ON),
        8 => Just(COIL_OFF),
        1 => Just(0x00FF),
        1 => Just(0xFFFF),
        1 => Just(0x0001),
        1 => any::<u16>(),
    ]
}

/// 0x0F: coil counts 1..=32 mostly, 0, 1968, 1969; some filling the coils
/// to the last one.
fn write_coils() -> impl Strategy<Value = RequestKind> {
    let count = prop_oneof![
        8 => 1usize..=32,
        1 => Just(0usize),
        1 => Just(1968usize),
        1 => Just(1969usize),
    ];
    (coil_address(), count, 0u8..5).prop_flat_map(|(address, n, edge)| {
        let n = match edge {
            0 if address < 0x20 => usize::from(0x20 - address),
            _ => n,
        };
        vec(any::<bool>(), n)
            .prop_map(move |coils| RequestKind::WriteMultipleCoils { address, coils })
    })
}

// --- Registers ---------------------------------------------------------------

/// Holding register addresses on both sides of every boundary.
const HOLDING_EDGES: &[u16] = &[
    0x0000, 0x003F, 0x0040, 0x004F, 0x0050, 0x00FF, 0x0100, 0x0101, 0x0102, 0x010F, 0x0110, 0x0111,
    0x0200, 0xFFFF,
];

/// Holding register addresses: general purpose, calibration (protected),
/// the edges, anything.
fn holding_address() -> impl Strategy<Value = u16> {
    prop_oneof![
        8 => 0u16..0x40,
        3 => 0x40u16..0x50,
        4 => select(HOLDING_EDGES),
        1 => any::<u16>(),
    ]
}

/// Quantities of registers: small, 0, `max`, `max + 1`, anything.
fn register_quantity(max: u16) -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => 1u16..=8,
        1 => Just(0),
        1 => Just(max),
        1 => Just(max + 1),
        1 => any::<u16>(),
    ]
}

/// Numbers of register values to write: small, 0, `max`, `max + 1`.
fn register_count(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 1usize..=8,
        1 => Just(0usize),
        1 => Just(max),
        1 => Just(max + 1),
    ]
}

prop_compose! {
    /// A holding register range; some end exactly at a boundary (the end of
    /// the general-purpose registers, of the calibration table, one past
    /// it, the end of 0x0100..=0x0101).
    fn holding_range()(address in holding_address(), quantity in register_quantity(125),
                       edge in 0u8..8) -> (u16, u16)
    {
        let end = match edge {
            0 => 0x40,
            1 => 0x50,
            2 => 0x51,
            3 => 0x102,
            _ => 0,
        };
        if end > address {
            (address, end - address)
        } else {
            (address, quantity)
        }
    }
}

/// Input register addresses on both sides of every boundary.
const INPUT_EDGES: &[u16] = &[
    0x0000, 0x000F, 0x0010, 0x0015, 0x0016, 0x0017, 0x001F, 0x0020, 0x0021, 0x003F, 0x0040, 0xFFFF,
];

prop_compose! {
    /// An input register range; some end at 0x003F exactly or one past it.
    fn input_range()(address in prop_oneof![6 => 0u16..0x40, 3 => select(INPUT_EDGES),
                                            1 => any::<u16>()],
                     quantity in register_quantity(125), edge in 0u8..6) -> (u16, u16)
    {
        match edge {
            0 if address < 0x40 => (address, 0x40 - address),
            1 if address <= 0x40 => (address, 0x41 - address),
            _ => (address, quantity),
        }
    }
}

/// Register values: anything, with the extremes and the lock's values.
fn register_value() -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => any::<u16>(),
        1 => Just(0),
        1 => Just(0xFFFF),
        1 => Just(LOCK_ARM),
        1 => Just(LOCK_UNLOCK),
    ]
}

/// Values for the unit id register: mostly valid (often the current one, so
/// a run does not wander off), and 0, 247, 248, anything.
fn unit_id_value(unit: u8) -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => Just(u16::from(unit)),
        3 => 1u16..=247,
        1 => Just(0),
        1 => Just(247),
        1 => Just(248),
        1 => any::<u16>(),
    ]
}

/// Puts `id` where `values`, written from `start`, land on the unit id
/// register.
fn set_unit_id(start: u16, values: &mut [u16], id: u16) {
    if let Some(slot) = UNIT_ID_REGISTER
        .checked_sub(start)
        .and_then(|i| values.get_mut(usize::from(i)))
    {
        *slot = id;
    }
}

prop_compose! {
    /// 0x06, with unit id values for the unit id register.
    fn write_register(unit: u8)(address in holding_address(), value in register_value(),
                                id in unit_id_value(unit)) -> RequestKind
    {
        let value = if address == UNIT_ID_REGISTER { id } else { value };
        RequestKind::WriteSingleRegister { address, value }
    }
}

/// 0x10: counts 1..=8 mostly, 0, 123, 124; some filling the registers to
/// the end of the calibration table.
fn write_registers(unit: u8) -> impl Strategy<Value = RequestKind> {
    (
        holding_address(),
        register_count(123),
        0u8..6,
        unit_id_value(unit),
    )
        .prop_flat_map(|(address, n, edge, id)| {
            let n = match edge {
                0 if address < 0x50 => usize::from(0x50 - address),
                _ => n,
            };
            vec(register_value(), n).prop_map(move |mut values| {
                set_unit_id(address, &mut values, id);
                RequestKind::WriteMultipleRegisters { address, values }
            })
        })
}

/// Writes to the lock register, by every function that can: mostly
/// 0xA55A and 0x5AA5, so that arming and unlocking happen in short runs.
fn lock_write() -> impl Strategy<Value = RequestKind> {
    let value = prop_oneof![
        9 => Just(LOCK_ARM),
        9 => Just(LOCK_UNLOCK),
        2 => any::<u16>(),
    ];
    (value, 0u8..10).prop_map(|(value, how)| match how {
        0..=6 => RequestKind::WriteSingleRegister {
            address: LOCK_REGISTER,
            value,
        },
        7 => RequestKind::WriteMultipleRegisters {
            address: LOCK_REGISTER,
            values: vec![value],
        },
        8 => RequestKind::MaskWriteRegister {
            address: LOCK_REGISTER,
            and_mask: 0,
            or_mask: value,
        },
        _ => RequestKind::ReadWriteMultipleRegisters {
            read_address: LOCK_REGISTER,
            read_quantity: 1,
            write_address: LOCK_REGISTER,
            values: vec![value],
        },
    })
}

/// AND and OR masks.
fn mask() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => any::<u16>(),
        1 => Just(0),
        1 => Just(0xFFFF),
        1 => Just(0x00FF),
        1 => Just(0xFF00),
    ]
}

prop_compose! {
    /// 0x16; on the unit id register, half of them set a unit id value
    /// (AND 0, OR the value).
    fn mask_write(unit: u8)(address in holding_address(), and_mask in mask(), or_mask in mask(),
                            id in unit_id_value(unit), set in any::<bool>()) -> RequestKind
    {
        let (and_mask, or_mask) = if address == UNIT_ID_REGISTER && set {
            (0, id)
        } else {
            (and_mask, or_mask)
        };
        RequestKind::MaskWriteRegister { address, and_mask, or_mask }
    }
}

/// 0x17: a read range as for 0x03, write counts 1..=8 mostly, 0, 121, 122.
fn read_write(unit: u8) -> impl Strategy<Value = RequestKind> {
    (
        holding_range(),
        holding_address(),
        register_count(121),
        unit_id_value(unit),
    )
        .prop_flat_map(|((read_address, read_quantity), write_address, n, id)| {
            vec(register_value(), n).prop_map(move |mut values| {
                set_unit_id(write_address, &mut values, id);
                RequestKind::ReadWriteMultipleRegisters {
                    read_address,
                    read_quantity,
                    write_address,
                    values,
                }
            })
        })
}

/// 0x18: the FIFO's address mostly, its neighbours, anything.
fn read_fifo() -> impl Strategy<Value = RequestKind> {
    prop_oneof![
        8 => Just(FIFO_ADDRESS),
        1 => select(vec![FIFO_ADDRESS - 1, FIFO_ADDRESS + 1, 0x0000]),
        1 => any::<u16>(),
    ]
    .prop_map(|address| RequestKind::ReadFifoQueue { address })
}

// --- Diagnostics -------------------------------------------------------------

fn diag(sub_function: u16, data: Vec<u16>) -> RequestKind {
    RequestKind::Diagnostics { sub_function, data }
}

/// A valid Restart Communications (the way out of listen-only mode).
fn restart() -> impl Strategy<Value = RequestKind> {
    prop_oneof![Just(0x0000u16), Just(0xFF00u16)].prop_map(|v| diag(0x0001, vec![v]))
}

/// Force Listen Only Mode, valid (any data word, mostly 0).
fn force_listen_only() -> impl Strategy<Value = RequestKind> {
    prop_oneof![3 => Just(0u16), 1 => any::<u16>()].prop_map(|v| diag(0x0004, vec![v]))
}

/// Every other diagnostics request: return query data (up to the largest
/// frame), clear counters, each counter, invalid data, unknown
/// sub-functions.
fn diagnostics() -> impl Strategy<Value = RequestKind> {
    let unknown = select(vec![
        0x0002u16, 0x0003, 0x0005, 0x0009, 0x0013, 0x0014, 0x0015, 0x0100, 0xFFFF,
    ]);
    prop_oneof![
        6 => vec(any::<u16>(), 0..=4).prop_map(|data| diag(0x0000, data)),
        // 125 words is a 256-byte frame, the largest there is.
        1 => vec(any::<u16>(), 120..=125).prop_map(|data| diag(0x0000, data)),
        4 => any::<u16>().prop_map(|v| diag(0x000A, vec![v])),
        10 => (0x000Bu16..=0x0012).prop_map(|sub| diag(sub, vec![0])),
        2 => (0x000Bu16..=0x0012, prop_oneof![
            Just(vec![]),
            (1u16..).prop_map(|v| vec![v]),
            Just(vec![0, 0]),
        ])
            .prop_map(|(sub, data)| diag(sub, data)),
        // Restart with a wrong value or length, the other two with a wrong
        // length: exception 0x03 rather than the action.
        2 => (select(vec![0x0001u16, 0x0004, 0x000A]), prop_oneof![
            Just(vec![]),
            (1u16..0xFF00).prop_map(|v| vec![v]),
            Just(vec![0, 0]),
        ])
            .prop_map(|(sub, mut data)| {
                // One word is valid data for 0x0004 and 0x000A.
                if sub != 0x0001 && data.len() == 1 {
                    data.push(0);
                }
                diag(sub, data)
            }),
        3 => (unknown, vec(any::<u16>(), 0..=2)).prop_map(|(sub, data)| diag(sub, data)),
    ]
}

// --- Files ------------------------------------------------------------------

/// File numbers: 1..=4 mostly, 0, 5, anything.
fn file_number() -> impl Strategy<Value = u16> {
    prop_oneof![
        8 => 1u16..=4,
        1 => Just(0),
        1 => Just(5),
        1 => any::<u16>(),
    ]
}

/// Record numbers: 0..64 mostly, 63, 64, anything.
fn record_number() -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => 0u16..64,
        1 => Just(63),
        1 => Just(64),
        1 => any::<u16>(),
    ]
}

prop_compose! {
    /// One Read File Record sub-request; some end at the last record
    /// exactly or one past it.
    fn file_read()(file in file_number(), record in record_number(),
                   length in prop_oneof![6 => 1u16..=8, 1 => Just(0), 1 => any::<u16>()],
                   edge in 0u8..6) -> FileRecordRead
    {
        let length = match edge {
            0 if record < 64 => 64 - record,
            1 if record <= 64 => 65 - record,
            _ => length,
        };
        FileRecordRead { file, record, length }
    }
}

/// 0x14: one to four sub-requests mostly; none; many (the byte count's
/// limit, 35 sub-requests, and past it); two long reads around the answer's
/// limit of 253 bytes.
fn read_file_record() -> impl Strategy<Value = RequestKind> {
    let long_pair = (1u16..=4, 1u16..=4, 57u16..=62).prop_map(|(a, b, length)| {
        vec![
            FileRecordRead {
                file: a,
                record: 0,
                length: 64,
            },
            FileRecordRead {
                file: b,
                record: 0,
                length,
            },
        ]
    });
    prop_oneof![
        8 => vec(file_read(), 1..=4),
        1 => Just(Vec::new()),
        1 => vec(file_read(), 34..=crate::request::MAX_FILE_READS),
        2 => long_pair,
    ]
    .prop_map(|records| RequestKind::ReadFileRecord { records })
}

/// One Write File Record sub-request: file 1..=3 mostly, the read-only
/// file 4, invalid files; 1..=8 values mostly, none, some to the last
/// record exactly or one past it.
fn file_write() -> impl Strategy<Value = FileRecordWrite> {
    let file = prop_oneof![
        8 => 1u16..=3,
        2 => Just(4),
        1 => Just(0),
        1 => Just(5),
        1 => any::<u16>(),
    ];
    let count = prop_oneof![8 => 1usize..=8, 1 => Just(0usize)];
    (file, record_number(), count, 0u8..6).prop_flat_map(|(file, record, n, edge)| {
        let n = match edge {
            0 if record < 64 => usize::from(64 - record),
            1 if record <= 64 => usize::from(65 - record),
            _ => n,
        };
        vec(any::<u16>(), n).prop_map(move |values| FileRecordWrite {
            file,
            record,
            values,
        })
    })
}

/// 0x15: one to three sub-requests mostly, none, and one long one around
/// the byte count's limit of 0xFB.
fn write_file_record() -> impl Strategy<Value = RequestKind> {
    let long = (1u16..=3, vec(any::<u16>(), 121..=124)).prop_map(|(file, values)| {
        vec![FileRecordWrite {
            file,
            record: 0,
            values,
        }]
    });
    prop_oneof![
        8 => vec(file_write(), 1..=3),
        1 => Just(Vec::new()),
        1 => long,
    ]
    .prop_map(|mut records| {
        // The byte count is one byte: drop sub-requests until it fits.
        loop {
            let kind = RequestKind::WriteFileRecord {
                records: records.clone(),
            };
            if kind.check_encodable().is_ok() {
                return kind;
            }
            records.pop();
        }
    })
}

// --- Device identification, unsupported functions -------------------------

/// 0x2B/0x0E: codes 1, 2, 4 mostly, 3, 0, anything; objects 0..=5 mostly,
/// the first beyond each category, anything.
fn device_identification() -> impl Strategy<Value = RequestKind> {
    let code = prop_oneof![
        3 => Just(1u8),
        3 => Just(2u8),
        3 => Just(4u8),
        1 => Just(3u8),
        1 => Just(0u8),
        1 => any::<u8>(),
    ];
    let object = prop_oneof![
        6 => 0u8..=5,
        2 => select(vec![0x03u8, 0x06]),
        1 => select(vec![0x7Fu8, 0x80, 0xFF]),
        1 => any::<u8>(),
    ];
    (code, object).prop_map(
        |(read_code, object_id)| RequestKind::ReadDeviceIdentification {
            read_code,
            object_id,
        },
    )
}

/// Function codes the node does not support (exception 0x01).
const UNSUPPORTED: &[u8] = &[
    0x00, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x12, 0x13, 0x19, 0x20, 0x2A, 0x2C, 0x41, 0x64, 0x7F,
    0x80, 0x81, 0x83, 0x88, 0x90, 0xAB, 0xFF,
];

/// Unsupported functions, and 0x2B with a MEI type other than 0x0E.
fn unsupported() -> impl Strategy<Value = RequestKind> {
    prop_oneof![
        3 => (select(UNSUPPORTED), vec(any::<u8>(), 0..=6)).prop_map(|(function, data)| {
            let mut pdu = vec![function];
            pdu.extend(data);
            RequestKind::Pdu(pdu)
        }),
        1 => (select(vec![0x00u8, 0x0D, 0x0F, 0xFF]), any::<u8>(), any::<u8>())
            .prop_map(|(mei, code, object)| {
                RequestKind::Pdu(vec![fc::ENCAPSULATED_INTERFACE, mei, code, object])
            }),
    ]
}

// --- Malformed ---------------------------------------------------------------

/// Raw bytes, as they go on the wire; the unit id is the first byte, as
/// the request language's parser sets it.
fn raw(bytes: Vec<u8>) -> ModbusRequest {
    ModbusRequest::new(
        bytes.first().copied().unwrap_or_default(),
        RequestKind::Raw(bytes),
    )
}

/// A request with its CRC changed.
fn bad_crc(unit: u8) -> impl Strategy<Value = ModbusRequest> {
    (request(unit), 1u16..).prop_map(|(request, flip)| {
        let mut bytes = request.to_bytes();
        let n = bytes.len();
        for (b, f) in bytes[n - 2..].iter_mut().zip(flip.to_le_bytes()) {
            *b ^= f;
        }
        raw(bytes)
    })
}

/// A request cut short (1 byte to all but the last).
fn truncated(unit: u8) -> impl Strategy<Value = ModbusRequest> {
    (request(unit), any::<Index>()).prop_map(|(request, cut)| {
        let mut bytes = request.to_bytes();
        let keep = 1 + cut.index(bytes.len() - 1);
        bytes.truncate(keep);
        raw(bytes)
    })
}

/// Over 256 bytes: a Return Query Data frame with a good CRC that is too
/// long, or garbage.
fn over_long(unit: u8) -> impl Strategy<Value = ModbusRequest> {
    let echo = (target(unit), (MAX_ADU + 1)..=300).prop_flat_map(|(unit, len)| {
        // Unit id, function, sub-function, data, CRC.
        vec(any::<u8>(), len - 6).prop_map(move |data| {
            let mut pdu = vec![fc::DIAGNOSTICS, 0x00, 0x00];
            pdu.extend(data);
            raw(ModbusRequest::new(unit, RequestKind::Pdu(pdu)).to_bytes())
        })
    });
    prop_oneof![
        2 => echo,
        1 => vec(any::<u8>(), (MAX_ADU + 1)..=320).prop_map(raw),
    ]
}

/// Random bytes: 1..=3 (shorter than any frame) or 4..=40.
fn garbage() -> impl Strategy<Value = ModbusRequest> {
    prop_oneof![
        1 => vec(any::<u8>(), 1..=3),
        3 => vec(any::<u8>(), 4..=40),
    ]
    .prop_map(raw)
}

/// A valid request followed by garbage in the same burst.
fn trailing_garbage(unit: u8) -> impl Strategy<Value = ModbusRequest> {
    (request(unit), vec(any::<u8>(), 1..=8)).prop_map(|(request, garbage)| {
        let mut bytes = request.to_bytes();
        bytes.extend(garbage);
        raw(bytes)
    })
}

/// PDUs (with a good CRC) whose byte counts or lengths are wrong.
fn wrong_lengths(unit: u8) -> impl Strategy<Value = ModbusRequest> {
    (
        target(unit),
        prop_oneof![
            4 => miscounted(unit),
            3 => wrong_fixed_length(),
            1 => file_reference_type(),
        ],
    )
        .prop_map(|(unit, pdu)| ModbusRequest::new(unit, RequestKind::Pdu(pdu)))
}

/// The PDU of a typed request.
fn pdu_of(kind: RequestKind) -> Vec<u8> {
    let bytes = ModbusRequest::new(0, kind).to_bytes();
    bytes[1..bytes.len() - 2].to_vec()
}

/// How a PDU with a byte count is spoiled.
#[derive(Debug, Clone)]
enum Spoil {
    /// The byte count set to this.
    Count(u8),
    /// The byte count one more or one less.
    CountBy(bool),
    /// The last n bytes dropped.
    Drop(usize),
    /// These bytes appended.
    Append(Vec<u8>),
}

/// A request with a byte count (0x0F, 0x10, 0x14, 0x15, 0x17) whose count
/// or length is then made wrong.
fn miscounted(unit: u8) -> impl Strategy<Value = Vec<u8>> {
    let counted = prop_oneof![
        write_coils(),
        write_registers(unit),
        read_write(unit),
        read_file_record(),
        write_file_record(),
    ];
    let spoil = prop_oneof![
        any::<u8>().prop_map(Spoil::Count),
        any::<bool>().prop_map(Spoil::CountBy),
        (1usize..=3).prop_map(Spoil::Drop),
        vec(any::<u8>(), 1..=3).prop_map(Spoil::Append),
    ];
    (counted, spoil).prop_map(|(kind, spoil)| {
        let mut pdu = pdu_of(kind);
        let at = match pdu.first() {
            Some(&(fc::WRITE_MULTIPLE_COILS | fc::WRITE_MULTIPLE_REGISTERS)) => 5,
            Some(&fc::READ_WRITE_MULTIPLE_REGISTERS) => 9,
            _ => 1,
        };
        match spoil {
            Spoil::Count(c) => {
                if let Some(b) = pdu.get_mut(at) {
                    *b = c;
                }
            }
            Spoil::CountBy(up) => {
                if let Some(b) = pdu.get_mut(at) {
                    *b = if up {
                        b.wrapping_add(1)
                    } else {
                        b.wrapping_sub(1)
                    };
                }
            }
            Spoil::Drop(n) => pdu.truncate(pdu.len().saturating_sub(n).max(1)),
            Spoil::Append(extra) => pdu.extend(extra),
        }
        pdu
    })
}

/// Functions with a fixed PDU length, with any other length; short 0x08,
/// 0x0F, 0x10, 0x17 and 0x2B PDUs.
fn wrong_fixed_length() -> impl Strategy<Value = Vec<u8>> {
    // Function and its data length.
    const FIXED: &[(u8, usize)] = &[
        (0x01, 4),
        (0x02, 4),
        (0x03, 4),
        (0x04, 4),
        (0x05, 4),
        (0x06, 4),
        (0x07, 0),
        (0x11, 0),
        (0x16, 6),
        (0x18, 2),
        (0x2B, 3),
    ];
    let fixed = (select(FIXED), vec(any::<u8>(), 0..=8)).prop_map(|((function, len), mut data)| {
        if data.len() == len {
            data.push(0);
        }
        if function == fc::ENCAPSULATED_INTERFACE {
            if let Some(mei) = data.first_mut() {
                *mei = crate::wire::MEI_READ_DEVICE_ID;
            }
        }
        let mut pdu = vec![function];
        pdu.extend(data);
        pdu
    });
    let short = (
        select(vec![0x08u8, 0x0F, 0x10, 0x17]),
        vec(any::<u8>(), 0..=8),
    )
        .prop_map(|(function, data)| {
            let max = if function == fc::READ_WRITE_MULTIPLE_REGISTERS {
                8
            } else {
                4
            };
            let keep = if function == fc::DIAGNOSTICS { 1 } else { max };
            let mut pdu = vec![function];
            pdu.extend(data.into_iter().take(keep));
            pdu
        });
    prop_oneof![3 => fixed, 1 => short]
}

/// File-record requests whose first sub-request has a reference type other
/// than 6.
fn file_reference_type() -> impl Strategy<Value = Vec<u8>> {
    let valid_read = vec(
        (1u16..=4, 0u16..60, 1u16..=4).prop_map(|(file, record, length)| FileRecordRead {
            file,
            record,
            length,
        }),
        1..=3,
    )
    .prop_map(|records| RequestKind::ReadFileRecord { records });
    let valid_write = vec(
        (1u16..=3, 0u16..60, vec(any::<u16>(), 1..=4)).prop_map(|(file, record, values)| {
            FileRecordWrite {
                file,
                record,
                values,
            }
        }),
        1..=3,
    )
    .prop_map(|records| RequestKind::WriteFileRecord { records });
    (
        prop_oneof![valid_read, valid_write],
        select(vec![0x00u8, 0x05, 0x07, 0xFF]),
    )
        .prop_map(|(kind, reference)| {
            let mut pdu = pdu_of(kind);
            if let Some(b) = pdu.get_mut(2) {
                *b = reference;
            }
            pdu
        })
}

#[cfg(test)]
mod tests;
