//! The subcommands, and what they share: choosing and starting a target.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use hilt::firmware::{self, FirmwareError, LM3S6965EVB};
use hilt::link::{LinkError, Timing};
use hilt::script::ScriptError;
use hilt::target::qemu::{QemuOptions, QemuTarget, DEFAULT_QEMU};
use hilt::target::sim::{SimOptions, SimTarget};
use hilt::target::{Target, TargetError};

pub mod bench;
pub mod build;
pub mod coverage;
pub mod exec;
pub mod serve;
pub mod sim_node;
pub mod test;
pub mod time_to_bug;

/// Where the firmware runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// The firmware's ELF on QEMU's emulated lm3s6965evb board.
    Qemu,
    /// The node's core in a host process behind a pseudo-terminal.
    Sim,
}

/// Flags every command that talks to a target takes.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Where the firmware runs.
    #[arg(long, value_enum, default_value_t = TargetKind::Qemu, env = "HILT_TARGET")]
    pub target: TargetKind,

    #[command(flatten)]
    pub start: StartArgs,
}

/// How targets are started.
#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// Firmware ELF to boot on the emulated board. Without it, the firmware
    /// under test is used, built first if it is missing or out of date.
    #[arg(long, value_name = "PATH", env = "HILT_ELF")]
    pub elf: Option<PathBuf>,

    /// The QEMU program to run.
    #[arg(long, value_name = "PROGRAM", default_value = DEFAULT_QEMU, env = "HILT_QEMU")]
    pub qemu: String,

    /// How long to wait for the first byte of a response, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
}

impl TargetArgs {
    /// Starts the chosen target.
    pub fn start(&self) -> anyhow::Result<Box<dyn Target>> {
        self.start.start(self.target)
    }
}

impl StartArgs {
    fn timing(&self) -> Timing {
        Timing {
            response_timeout: std::time::Duration::from_millis(self.timeout_ms),
            ..Timing::default()
        }
    }

    /// Starts a target of `kind`.
    pub fn start(&self, kind: TargetKind) -> anyhow::Result<Box<dyn Target>> {
        match kind {
            TargetKind::Qemu => {
                // Before a first build that takes a minute.
                hilt::target::qemu::find_qemu(&self.qemu)?;
                let elf = match &self.elf {
                    Some(elf) => elf.clone(),
                    None => firmware_under_test()?,
                };
                let mut options = QemuOptions::new(elf);
                options.qemu = self.qemu.clone();
                options.timing = self.timing();
                Ok(Box::new(QemuTarget::start(&options)?))
            }
            TargetKind::Sim => {
                let hilt =
                    std::env::current_exe().context("cannot find the hilt program itself")?;
                let mut options = SimOptions::hilt_binary(hilt);
                options.timing = self.timing();
                Ok(Box::new(SimTarget::start(&options)?))
            }
        }
    }
}

/// The emulated board's firmware under test, built if needed.
fn firmware_under_test() -> Result<PathBuf, FirmwareError> {
    let elf = firmware::elf_path(&LM3S6965EVB)?;
    if !elf.is_file() {
        eprintln!(
            "hilt: building the firmware under test for {} (first run; this takes a minute)",
            LM3S6965EVB.name
        );
    }
    firmware::build(&LM3S6965EVB)
}

/// The exit code for an error, from the first error in its chain that hilt
/// knows.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    use hilt::exit;
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<LinkError>() {
            return match e {
                LinkError::Interrupted => exit::INTERRUPTED,
                _ => exit::LINK,
            };
        }
        if let Some(e) = cause.downcast_ref::<TargetError>() {
            return match e {
                TargetError::Link(LinkError::Interrupted) => exit::INTERRUPTED,
                TargetError::Link(_) => exit::LINK,
                TargetError::ElfMissing { .. } => exit::FIRMWARE,
                _ => exit::TARGET,
            };
        }
        if cause.is::<FirmwareError>() || cause.is::<hilt::native::NativeError>() {
            return exit::FIRMWARE;
        }
        if cause.is::<ScriptError>() {
            return exit::USAGE;
        }
    }
    exit::DEVICE
}
