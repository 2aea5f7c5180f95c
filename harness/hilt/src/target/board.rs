//! A real board: the firmware flashed through a probe-rs debug probe, the
//! device talked to over its USB serial port.
//!
//! Everything that needs a physical probe is in this file and kept small;
//! choosing the probe and the port (the hardware map, exact matching) and
//! reading the evidence (the crash record, the fault registers,
//! symbolisation) are shared with the other targets and tested without
//! hardware.
//!
//! - Start: the probe that the map's selector names is opened and attached
//!   to the chip; the ELF is flashed with verification
//!   (`flashing::download_file_with_options` with an `ElfLoader`); the core
//!   is reset and runs; the serial port is matched and opened; hilt waits
//!   for the firmware's `HILT_READY` marker, read over the debug port.
//! - Reset: through the probe, then the same wait. If the serial port
//!   vanished (USB re-enumeration), it is matched again and re-opened.
//! - Evidence: the crash record is read over the debug port; a hang is
//!   sampled by halting the core for an instant and reading its PC.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use probe_rs::flashing::{self, DownloadOptions, ElfLoader};
use probe_rs::{MemoryInterface, Permissions, Session};

use super::{Target, TargetError};
use crate::boards::{self, attached, Board};
use crate::crash::{CrashRecord, Evidence, FailureKind};
use crate::link::{SerialLink, Timing};
use crate::symbols::Symbols;

const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// A board behind a debug probe.
pub struct BoardTarget {
    board: Board,
    session: Session,
    link: SerialLink,
    elf: PathBuf,
    /// `HILT_READY`'s and the crash record's addresses, from the ELF.
    ready: Option<u64>,
    record: Option<u64>,
    symbols: Option<Symbols>,
    timing: Timing,
}

impl std::fmt::Debug for BoardTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoardTarget")
            .field("board", &self.board.name)
            .finish()
    }
}

fn board_error(board: &Board, reason: impl std::fmt::Display) -> TargetError {
    TargetError::Board {
        board: board.name.clone(),
        reason: reason.to_string(),
    }
}

/// Checks that exactly one attached probe matches the board's selector;
/// the error says which probe was expected and which were found.
pub fn check_probe(board: &Board) -> Result<(), TargetError> {
    let Some(selector) = &board.probe else {
        return Err(board_error(
            board,
            "not a probe-rs board (no probe in the map)",
        ));
    };
    boards::match_probe(selector, &attached::probes())
        .map(drop)
        .map_err(|e| board_error(board, e))
}

/// Opens the probe the map names and attaches to the chip.
pub fn attach(board: &Board) -> Result<Session, TargetError> {
    let (Some(selector), Some(chip)) = (&board.probe, &board.chip) else {
        return Err(board_error(
            board,
            "not a probe-rs board (no probe or chip in the map)",
        ));
    };
    // Exactly one attached probe must match, or it is an error naming what
    // was expected and what was found.
    let probes = attached::probes();
    let wanted = boards::match_probe(selector, &probes).map_err(|e| board_error(board, e))?;
    let lister = probe_rs::probe::list::Lister::new();
    let info = lister
        .list_all()
        .into_iter()
        .find(|p| {
            p.vendor_id == wanted.vid
                && p.product_id == wanted.pid
                && p.serial_number == wanted.serial
        })
        .ok_or_else(|| board_error(board, format!("probe {wanted} went away")))?;
    let probe = info
        .open()
        .map_err(|e| board_error(board, format!("opening probe {wanted}: {e}")))?;
    probe
        .attach(chip.as_str(), Permissions::default())
        .map_err(|e| board_error(board, format!("attaching to {chip} through {wanted}: {e}")))
}

/// Flashes `elf` with verification, then resets the core and lets it run.
pub fn flash(board: &Board, session: &mut Session, elf: &Path) -> Result<Duration, TargetError> {
    let started = Instant::now();
    let mut options = DownloadOptions::new();
    options.verify = true;
    flashing::download_file_with_options(session, elf, ElfLoader(Default::default()), options)
        .map_err(|e| board_error(board, format!("flashing {}: {e}", elf.display())))?;
    let took = started.elapsed();
    if took > board.flash_timeout {
        return Err(board_error(
            board,
            format!(
                "flashing took {took:?}, over the map's {:?}",
                board.flash_timeout
            ),
        ));
    }
    let mut core = session.core(0).map_err(|e| board_error(board, e))?;
    core.reset()
        .map_err(|e| board_error(board, format!("reset: {e}")))?;
    Ok(took)
}

fn open_port(board: &Board) -> Result<SerialLink, TargetError> {
    let selector = board
        .port_selector()
        .ok_or_else(|| board_error(board, "no serial port in the map"))?;
    let ports = attached::ports();
    let port = boards::match_port(&selector, &ports).map_err(|e| board_error(board, e))?;
    Ok(SerialLink::open(&port.path, board.baud)?)
}

impl BoardTarget {
    /// Flashes the firmware, starts it and connects to its serial port.
    pub fn start(board: &Board, elf: &Path) -> Result<BoardTarget, TargetError> {
        if !elf.is_file() {
            return Err(TargetError::ElfMissing {
                path: elf.to_owned(),
            });
        }
        let symbol = |name| crate::firmware::symbol(elf, name).map_err(|e| board_error(board, e));
        let (ready, record) = (symbol("HILT_READY")?, symbol(crate::crash::RECORD_SYMBOL)?);
        let mut session = attach(board)?;
        flash(board, &mut session, elf)?;
        let link = open_port(board)?;
        let mut target = BoardTarget {
            board: board.clone(),
            session,
            link,
            elf: elf.to_owned(),
            ready,
            record,
            symbols: None,
            timing: Timing {
                response_timeout: board.response_timeout,
                ..Timing::default()
            },
        };
        target.wait_ready(0)?;
        Ok(target)
    }

    fn read_word(&mut self, address: u64) -> Result<u32, TargetError> {
        let mut core = self
            .session
            .core(0)
            .map_err(|e| board_error(&self.board, e))?;
        core.read_word_32(address)
            .map_err(|e| board_error(&self.board, e))
    }

    /// Waits until `HILT_READY` holds a boot count other than `before`.
    fn wait_ready(&mut self, before: u32) -> Result<(), TargetError> {
        let Some(ready) = self.ready else {
            return Ok(());
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let boot = self.read_word(ready)?;
            if boot != 0 && boot != before {
                break;
            }
            if Instant::now() > deadline {
                return Err(board_error(
                    &self.board,
                    "the firmware did not set up its UART after reset",
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // The port may have vanished and come back with the reset.
        if self.link.clear_input().is_err() {
            self.link = self.reopen_port()?;
        }
        Ok(())
    }

    /// Matches and opens the serial port again, waiting for a USB device
    /// that re-enumerates.
    fn reopen_port(&mut self) -> Result<SerialLink, TargetError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match open_port(&self.board) {
                Ok(link) => return Ok(link),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn symbols(&mut self) -> Option<&Symbols> {
        if self.symbols.is_none() {
            self.symbols = Symbols::load(&self.elf).ok();
        }
        self.symbols.as_ref()
    }
}

impl Target for BoardTarget {
    fn name(&self) -> &str {
        &self.board.name
    }

    fn link(&mut self) -> &mut SerialLink {
        &mut self.link
    }

    fn timing(&self) -> Timing {
        self.timing
    }

    fn reset(&mut self) -> Result<(), TargetError> {
        let before = match self.ready {
            Some(ready) => self.read_word(ready)?,
            None => 0,
        };
        {
            let mut core = self
                .session
                .core(0)
                .map_err(|e| board_error(&self.board, e))?;
            core.reset()
                .map_err(|e| board_error(&self.board, format!("reset: {e}")))?;
        }
        self.wait_ready(before)
    }

    fn check_alive(&mut self) -> Result<(), TargetError> {
        self.session
            .core(0)
            .and_then(|mut core| core.status())
            .map(drop)
            .map_err(|e| board_error(&self.board, format!("the probe does not answer: {e}")))
    }

    fn shutdown(&mut self) -> Result<(), TargetError> {
        Ok(())
    }

    fn post_mortem(&mut self) -> Result<Option<Evidence>, TargetError> {
        let Some(address) = self.record else {
            return Ok(None);
        };
        let mut bytes = vec![0u8; crate::crash::RECORD_LEN as usize];
        {
            let mut core = self
                .session
                .core(0)
                .map_err(|e| board_error(&self.board, e))?;
            core.read_8(address, &mut bytes)
                .map_err(|e| board_error(&self.board, e))?;
        }
        match CrashRecord::parse(&bytes) {
            Some(record) if record.crashed_this_boot() => {
                let symbols = self.symbols();
                Ok(Some(crate::crash::record_evidence(&record, symbols)))
            }
            _ => Ok(None),
        }
    }

    fn sample_hang(&mut self) -> Result<Evidence, TargetError> {
        let pc: u32 = {
            let mut core = self
                .session
                .core(0)
                .map_err(|e| board_error(&self.board, e))?;
            core.halt(Duration::from_millis(100))
                .map_err(|e| board_error(&self.board, e))?;
            let pc = core.read_core_reg(core.program_counter());
            core.run().map_err(|e| board_error(&self.board, e))?;
            pc.map_err(|e| board_error(&self.board, e))?
        };
        let location = self.symbols().and_then(|s| s.locate_spin(u64::from(pc)));
        Ok(Evidence {
            kind: FailureKind::Hang,
            summary: "no answer, not even to a health request; the core runs".into(),
            details: vec![format!("pc={pc:#010x}")],
            location,
            pc: Some(u64::from(pc)),
        })
    }
}
