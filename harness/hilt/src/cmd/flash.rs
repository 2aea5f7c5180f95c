//! `hilt flash`: flashes a board of the hardware map through its probe.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use hilt::boards::{HardwareMap, Kind};
use hilt::script::ScriptError;
use hilt::target::board;

use super::StartArgs;

/// Flash a board's firmware through its debug probe, with verification,
/// then reset it and let it run.
///
/// The probe must be attached: when it is not, the error says which probe
/// the hardware map expects and which are attached.
#[derive(Debug, Args)]
pub struct FlashCmd {
    /// The board, by its name in the hardware map.
    #[arg(long, value_name = "NAME")]
    board: String,

    /// The hardware map (see fixtures/boards.toml).
    #[arg(long = "boards", value_name = "FILE", env = "HILT_BOARDS")]
    map: Option<PathBuf>,

    #[command(flatten)]
    start: StartArgs,
}

impl FlashCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let map = HardwareMap::choose(self.map.as_deref())?;
        let entry = map.get(&self.board).ok_or_else(|| {
            anyhow::anyhow!(ScriptError::whole(
                "--board",
                format!("no board {:?} in the hardware map", self.board),
            ))
        })?;
        if entry.kind != Kind::ProbeRs {
            anyhow::bail!(ScriptError::whole(
                "--board",
                format!(
                    "{} is a {} board: it boots its ELF directly, there is nothing to flash",
                    entry.name,
                    entry.kind.as_str()
                ),
            ));
        }
        // The probe first, so that a missing board fails at once.
        board::check_probe(entry)?;
        let elf = self.start.elf_for(entry)?.context("an ELF for the board")?;
        let mut session = board::attach(entry)?;
        let took = board::flash(entry, &mut session, &elf)?;
        println!(
            "flashed {} with {} in {:.1} s (verified), reset and running",
            entry.name,
            elf.display(),
            took.as_secs_f64()
        );
        Ok(hilt::exit::SUCCESS)
    }
}
