//! `hilt triage`: a folder of saved crash inputs to groups, one per root
//! cause, each with its smallest input; and what `hilt replay` shares with
//! it: choosing backends.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use hilt::boards::{HardwareMap, Kind};
use hilt::firmware::{self, LM3S6965EVB};
use hilt::script::ScriptError;
use hilt::triage::replay::{Backend, Native, Wire};
use hilt::triage::{self, Promoted, Settings};

use super::StartArgs;

/// Where inputs are replayed, and with which build.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// The hardware map (see fixtures/boards.toml), for board names.
    #[arg(long = "boards", value_name = "FILE", env = "HILT_BOARDS")]
    pub map: Option<PathBuf>,

    /// Test only: replay on the builds with the planted bugs (the
    /// firmware and the simulation with the `planted-bugs` feature), as a
    /// campaign on them found its inputs.
    #[arg(long)]
    pub planted: bool,

    /// How long the native core may go without finishing a step before it
    /// counts as a hang, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub hang_after_ms: u64,

    #[command(flatten)]
    pub start: StartArgs,
}

impl BackendArgs {
    /// Starts the named backends: `native` (the core in a child process),
    /// `sim`, `qemu`, or a board of the hardware map.
    pub fn start(&self, names: &[String]) -> anyhow::Result<Vec<Box<dyn Backend>>> {
        let map = HardwareMap::choose(self.map.as_deref())?;
        let mut start = self.start.clone();
        if self.planted && (start.sim_program.is_some() || start.elf.is_some()) {
            eprintln!(
                "hilt: --planted: the program given by --sim/--elf (or HILT_SIM/HILT_ELF) is used as it is"
            );
        }
        let mut backends: Vec<Box<dyn Backend>> = Vec::new();
        for name in names {
            let board = match name.as_str() {
                "native" => None,
                _ => Some(
                    super::board_named(&map, name, "--target")
                        .context("a backend is `native` or a board of the hardware map")?,
                ),
            };
            let needs_sim = board.as_ref().is_none_or(|b| b.kind == Kind::Sim);
            if self.planted && needs_sim && start.sim_program.is_none() {
                eprintln!("hilt: building the simulation with its planted bugs");
                start.sim_program = Some(firmware::build_sim_variant(&["planted-bugs"])?);
            }
            if self.planted
                && board.as_ref().is_some_and(|b| b.kind == Kind::Qemu)
                && start.elf.is_none()
            {
                eprintln!("hilt: building the firmware with its planted bugs");
                start.elf = Some(firmware::build_variant(&LM3S6965EVB, &["planted-bugs"])?);
            }
            let Some(board) = board else {
                let mut native = match &start.sim_program {
                    Some(program) => Native::program(program),
                    None => Native::hilt_binary(
                        std::env::current_exe().context("cannot find the hilt program itself")?,
                    ),
                };
                native.hang_after = Duration::from_millis(self.hang_after_ms);
                backends.push(Box::new(native));
                continue;
            };
            let model_name = super::model_name(&board);
            let target = start.start_board(&board)?;
            let quiet = hilt::wirefuzz::quiet_for(board.kind);
            backends.push(Box::new(Wire::new(target, model_name, quiet)));
        }
        Ok(backends)
    }
}

/// Replay every saved crash input in a folder on each backend, group the
/// failures by root cause, minimise each group's smallest input, and
/// write a markdown and a JSON report.
///
/// Inputs are `hilt fuzz` crash records (`KIND-ID.json` with its
/// `.steps`), libFuzzer artifacts (`crash-…`, `timeout-…`; those in a
/// folder named `request` are a bare PDU) and step files, in DIR and its
/// subfolders. Every answer is checked against the reference model, so a
/// wrong answer is a failure as much as a crash or a hang. Inputs that no
/// longer fail anywhere are listed as fixed.
///
/// Exits 0 when nothing fails any more, 1 when some input still fails.
#[derive(Debug, Args)]
pub struct TriageCmd {
    /// The folder of saved inputs.
    dir: PathBuf,

    /// Backends, in order (the first that reproduces a group minimises
    /// it): native, sim, qemu or boards of the hardware map.
    #[arg(
        long = "target",
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "native,sim"
    )]
    targets: Vec<String>,

    /// Replays of each input on each backend.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeats: u32,

    /// Replays minimisation may spend on each group.
    #[arg(long, value_name = "N", default_value_t = 400)]
    budget: usize,

    /// Where to write triage.md and triage.json.
    #[arg(long, value_name = "DIR", default_value = "target/hilt-triage")]
    report: PathBuf,

    /// Write each group's minimised input into this folder as a regression
    /// case (NAME.steps and NAME.json, NAME from its signature), which the
    /// test suite replays.
    #[arg(long, value_name = "DIR", num_args = 0..=1,
          default_missing_value = "fixtures/regressions")]
    promote: Option<PathBuf>,

    #[command(flatten)]
    backends: BackendArgs,
}

impl TriageCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        if !self.dir.is_dir() {
            anyhow::bail!(ScriptError::whole(
                "DIR",
                format!("{} is not a folder", self.dir.display())
            ));
        }
        let mut backends = self.backends.start(&self.targets)?;
        let settings = Settings {
            repeats: self.repeats,
            budget: self.budget,
        };
        let result = triage::triage(&self.dir, &mut backends, &settings, |line| {
            eprintln!("hilt: {line}")
        })
        .context("triage");
        drop(backends);
        let result = result?;
        std::fs::create_dir_all(&self.report)
            .with_context(|| format!("creating {}", self.report.display()))?;
        let md = self.report.join("triage.md");
        let json = self.report.join("triage.json");
        let markdown = triage::report::markdown(&result);
        std::fs::write(&md, &markdown).with_context(|| format!("writing {}", md.display()))?;
        std::fs::write(&json, serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", json.display()))?;
        print!("{markdown}");
        eprintln!("hilt: reports in {} and {}", md.display(), json.display());
        if let Some(dir) = &self.promote {
            for promoted in triage::promote(&result, dir)? {
                match promoted {
                    Promoted::New(p) => eprintln!("hilt: promoted {}", p.display()),
                    Promoted::Unsavable(p) => eprintln!(
                        "hilt: not promoted: {} (its input does not survive the steps format)",
                        p.display()
                    ),
                    Promoted::Known(p) => {
                        eprintln!("hilt: already a regression case: {}", p.display())
                    }
                }
            }
        }
        Ok(if result.groups.is_empty() {
            hilt::exit::SUCCESS
        } else {
            hilt::exit::DEVICE
        })
    }
}
