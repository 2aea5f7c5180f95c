//! The subcommands, and what they share: choosing and starting a target.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use hilt::boards::{Board, HardwareMap, Kind};
use hilt::firmware::{self, FirmwareError, LM3S6965EVB};
use hilt::link::{LinkError, Timing};
use hilt::script::ScriptError;
use hilt::target::board::BoardTarget;
use hilt::target::qemu::{QemuOptions, QemuTarget, DEFAULT_QEMU};
use hilt::target::sim::{SimOptions, SimTarget};
use hilt::target::{Target, TargetError};

pub mod bench;
pub mod boards;
pub mod build;
pub mod coverage;
pub mod exec;
pub mod flash;
pub mod fuzz;
pub mod nightly;
pub mod replay;
pub mod serve;
pub mod sim_node;
pub mod test;
pub mod time_to_bug;
pub mod triage;

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

    /// A board of the hardware map, instead of --target; repeat it to run
    /// on several boards at once, one thread each.
    #[arg(long = "board", value_name = "NAME", conflicts_with = "all")]
    pub boards: Vec<String>,

    /// Every board of the hardware map, the implicit `qemu` and `sim`
    /// included, at once.
    #[arg(long)]
    pub all: bool,

    /// The hardware map (see fixtures/boards.toml).
    #[arg(long = "boards", value_name = "FILE", env = "HILT_BOARDS")]
    pub map: Option<PathBuf>,

    #[command(flatten)]
    pub start: StartArgs,
}

impl TargetArgs {
    /// The boards to run on: those named, every one with `--all`, or the
    /// implicit entry of `--target`.
    pub fn chosen(&self) -> anyhow::Result<Vec<Board>> {
        let map = HardwareMap::choose(self.map.as_deref())?;
        if self.all {
            return Ok(map.boards);
        }
        if self.boards.is_empty() {
            return Ok(vec![self.start.implicit_board(self.target)]);
        }
        self.boards
            .iter()
            .map(|name| board_named(&map, name, "--board"))
            .collect()
    }

    /// Starts the one chosen target.
    pub fn start(&self) -> anyhow::Result<Box<dyn Target>> {
        match self.chosen()?.as_slice() {
            [board] => self.start_one(board),
            _ => anyhow::bail!(ScriptError::whole(
                "--board",
                "this command runs on one board at a time"
            )),
        }
    }

    /// Starts a board of the map.
    pub fn start_one(&self, board: &Board) -> anyhow::Result<Box<dyn Target>> {
        self.start.start_board(board)
    }
}

/// What a command did on one of several boards.
#[derive(Debug)]
pub struct BoardReport<T> {
    pub board: String,
    /// Its log file.
    pub log: PathBuf,
    pub result: anyhow::Result<T>,
}

/// Runs `work` on each board at once, one thread per board; each thread
/// starts its board, writes to its own log (`target/hilt-logs/BOARD.log`)
/// and shuts the board down. Reports per board, in the order given.
pub fn on_each_board<T: Send>(
    args: &TargetArgs,
    boards: &[Board],
    work: impl Fn(&mut dyn Target, &mut dyn std::io::Write) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<BoardReport<T>>> {
    let dir = firmware::target_dir(&firmware::source_root().unwrap_or_else(|_| PathBuf::from(".")))
        .join("hilt-logs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Firmware builds share one target directory: build before the threads.
    for board in boards {
        args.start.elf_for(board)?;
    }
    let work = &work;
    Ok(std::thread::scope(|scope| {
        let handles: Vec<_> = boards
            .iter()
            .map(|board| {
                let log = dir.join(format!("{}.log", board.name));
                scope.spawn(move || {
                    let result = (|| {
                        let mut file = std::fs::File::create(&log)
                            .with_context(|| format!("creating {}", log.display()))?;
                        let mut target = args.start_one(board)?;
                        let result = work(target.as_mut(), &mut file);
                        let shutdown = target.shutdown();
                        let value = result?;
                        shutdown?;
                        Ok(value)
                    })();
                    BoardReport {
                        board: board.name.clone(),
                        log,
                        result,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(boards)
            .map(|(h, board)| {
                h.join().unwrap_or_else(|_| BoardReport {
                    board: board.name.clone(),
                    log: PathBuf::new(),
                    result: Err(anyhow::anyhow!(
                        "the thread for board {} panicked",
                        board.name
                    )),
                })
            })
            .collect()
    }))
}

/// How targets are started.
#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// Firmware ELF to run (on the emulated board, or flashed on a board).
    /// Without it, the hardware map's firmware for the board, or the
    /// firmware under test, built first if it is missing or out of date.
    #[arg(long, value_name = "PATH", env = "HILT_ELF")]
    pub elf: Option<PathBuf>,

    /// The QEMU program to run.
    #[arg(long, value_name = "PROGRAM", default_value = DEFAULT_QEMU, env = "HILT_QEMU")]
    pub qemu: String,

    /// The simulation program to run instead of `hilt sim-node`: a build
    /// of `mbnode-sim` with test-only features (`planted-bugs`).
    #[arg(long = "sim", value_name = "PROGRAM", env = "HILT_SIM")]
    pub sim_program: Option<PathBuf>,

    /// Test only: the simulation crashes, faults or hangs on the crash
    /// trigger's requests (see the README).
    #[arg(long)]
    pub sim_crash_trigger: bool,

    /// How long to wait for the first byte of a response, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
}

impl StartArgs {
    /// The ELF a board runs: `--elf`, else the map's firmware (a board of
    /// `hilt build`, built if needed, or a path), else the firmware under
    /// test for the emulated board. `None` for the simulation.
    pub fn elf_for(&self, board: &Board) -> anyhow::Result<Option<PathBuf>> {
        if board.kind == Kind::Sim {
            return Ok(None);
        }
        if let Some(elf) = &self.elf {
            return Ok(Some(elf.clone()));
        }
        let Some(firmware) = &board.firmware else {
            return Ok(Some(firmware_under_test()?));
        };
        match firmware::board(firmware) {
            Some(b) if b == LM3S6965EVB => Ok(Some(firmware_under_test()?)),
            Some(b) => Ok(Some(firmware::build(&b)?)),
            None => Ok(Some(PathBuf::from(firmware))),
        }
    }

    /// How to run the simulation: `hilt sim-node`, or `--sim PROGRAM`.
    pub fn sim_options(&self) -> anyhow::Result<SimOptions> {
        let mut options = match &self.sim_program {
            Some(program) => SimOptions {
                program: program.clone(),
                args: Vec::new(),
                ..SimOptions::hilt_binary(program)
            },
            None => SimOptions::hilt_binary(
                std::env::current_exe().context("cannot find the hilt program itself")?,
            ),
        };
        if self.sim_crash_trigger {
            options.args.push("--crash-trigger".into());
        }
        Ok(options)
    }

    /// Starts a board of the hardware map.
    pub fn start_board(&self, board: &Board) -> anyhow::Result<Box<dyn Target>> {
        let timing = Timing {
            response_timeout: board.response_timeout,
            ..Timing::default()
        };
        match board.kind {
            Kind::Qemu => {
                hilt::target::qemu::find_qemu(&self.qemu)?;
                let elf = self
                    .elf_for(board)?
                    .context("an ELF for the emulated board")?;
                let mut options = QemuOptions::new(elf);
                options.qemu = self.qemu.clone();
                options.baud = board.baud;
                options.timing = timing;
                Ok(Box::new(QemuTarget::start(&options)?))
            }
            Kind::Sim => {
                let mut options = self.sim_options()?;
                options.baud = board.baud;
                options.timing = timing;
                Ok(Box::new(SimTarget::start(&options)?))
            }
            Kind::ProbeRs => {
                // The probe first: a missing board fails before a build.
                hilt::target::board::check_probe(board)?;
                let elf = self.elf_for(board)?.context("an ELF for the board")?;
                Ok(Box::new(BoardTarget::start(board, &elf)?))
            }
        }
    }

    /// The hardware map's implicit entry for `kind`, with `--timeout-ms`.
    pub fn implicit_board(&self, kind: TargetKind) -> Board {
        let mut board = match kind {
            TargetKind::Qemu => Board::implicit("qemu", Kind::Qemu),
            TargetKind::Sim => Board::implicit("sim", Kind::Sim),
        };
        board.response_timeout = std::time::Duration::from_millis(self.timeout_ms);
        board
    }

    /// Starts a target of `kind`: its implicit board.
    pub fn start(&self, kind: TargetKind) -> anyhow::Result<Box<dyn Target>> {
        self.start_board(&self.implicit_board(kind))
    }
}

/// The SHA-1 of a file's bytes (for crash records and reports), or
/// `unknown`.
pub fn sha1_of_file(path: &std::path::Path) -> String {
    std::fs::read(path)
        .map(|bytes| hilt::wirefuzz::corpus::name_of(&bytes))
        .unwrap_or_else(|_| "unknown".into())
}

/// The board of the hardware map called `name`; an error naming `flag`
/// and the boards there are, if there is none.
pub fn board_named(map: &HardwareMap, name: &str, flag: &str) -> anyhow::Result<Board> {
    map.get(name).cloned().ok_or_else(|| {
        let names: Vec<&str> = map.boards.iter().map(|b| b.name.as_str()).collect();
        anyhow::anyhow!(ScriptError::whole(
            flag,
            format!(
                "no board {name:?} in the hardware map (it has {})",
                names.join(", ")
            ),
        ))
    })
}

/// The Device Identification ModelName a board's firmware reports: its
/// board's name (the simulation's own).
pub fn model_name(board: &Board) -> &'static str {
    match board.kind {
        Kind::Sim => mbnode_sim::MODEL_NAME,
        _ => {
            board
                .firmware
                .as_deref()
                .and_then(firmware::board)
                .unwrap_or(LM3S6965EVB)
                .name
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
        if let Some(hilt::native::NativeError::NoTarget(_)) = cause.downcast_ref() {
            return exit::USAGE;
        }
        if cause.is::<hilt::wirefuzz::JobError>() {
            // The crash or corpus folder could not be written.
            return exit::TARGET;
        }
        if cause.is::<FirmwareError>() || cause.is::<hilt::native::NativeError>() {
            return exit::FIRMWARE;
        }
        if cause.is::<ScriptError>() || cause.is::<hilt::boards::MapError>() {
            return exit::USAGE;
        }
    }
    exit::DEVICE
}
