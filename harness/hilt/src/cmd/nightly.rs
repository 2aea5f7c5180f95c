//! `hilt nightly`: the nightly job, on the emulated board and every board
//! of the hardware map, into one report folder.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hilt::boards::{Board, HardwareMap, Kind};
use hilt::firmware::{self, FirmwareError, LM3S6965EVB};
use hilt::nightly::{self, BoardResult, Nightly, Plan, Status};

use super::StartArgs;

/// Exit code: a board could not be used (missing, a probe that does not
/// answer, QEMU missing, a link lost), and nothing failed.
pub const INFRASTRUCTURE: u8 = hilt::exit::TARGET;

/// The nightly job: for the emulated board and every board of the
/// hardware map, build the firmware and flash it, run the property suite
/// and every scenario (against its snapshot), a time-boxed wire campaign
/// seeded from the corpus, replay every regression case and saved crash
/// input, and triage anything new. Writes `index.html`, `junit.xml` and
/// `summary.json` to the report folder.
///
/// Exits 0 when everything passed; 1 on a new failure or crash (a test
/// failed, a regression came back, the campaign found a new crash group);
/// 4 on an infrastructure problem alone (a board missing, a probe or
/// emulator that does not answer).
#[derive(Debug, Args)]
pub struct NightlyCmd {
    /// The hardware map (see fixtures/boards.toml).
    #[arg(long = "boards", value_name = "FILE", env = "HILT_BOARDS")]
    map: Option<PathBuf>,

    /// Only these boards of the map (`qemu`, `sim`, or its boards); repeat
    /// it. By default: the emulated board and every board of the map.
    #[arg(long = "board", value_name = "NAME")]
    boards: Vec<String>,

    /// The report folder.
    #[arg(long, value_name = "DIR", default_value = "target/hilt-nightly/report")]
    report: PathBuf,

    /// Where each board's corpus and crash folders live between nights
    /// (`DIR/BOARD/corpus`, `DIR/BOARD/crashes`): cache it.
    #[arg(long, value_name = "DIR", default_value = "target/hilt-nightly/state")]
    state: PathBuf,

    /// Seconds of wire fuzzing per board.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    fuzz_seconds: u64,

    /// Random sequences of the property suite per board.
    #[arg(long, value_name = "N", default_value_t = 32)]
    cases: u32,

    /// How long the property suite may shrink a failure, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    shrink_seconds: u64,

    /// Replays the minimisation of each new crash group may spend.
    #[arg(long, value_name = "N", default_value_t = 60)]
    minimise_budget: usize,

    /// The random seed (default: from the clock; in the report).
    #[arg(long)]
    seed: Option<u64>,

    /// Test only: the firmware and the simulation with their planted bugs,
    /// to check that the nightly catches them.
    #[arg(long)]
    planted: bool,

    #[command(flatten)]
    start: StartArgs,
}

impl NightlyCmd {
    fn boards(&self) -> anyhow::Result<Vec<Board>> {
        let map = HardwareMap::choose(self.map.as_deref())?;
        if self.boards.is_empty() {
            return Ok(map
                .boards
                .iter()
                .filter(|b| b.kind != Kind::Sim)
                .cloned()
                .collect());
        }
        self.boards
            .iter()
            .map(|name| super::board_named(&map, name, "--board"))
            .collect()
    }

    /// The firmware a board runs, built (with the planted bugs, for
    /// `--planted`); and its path and SHA-1 for the records.
    fn prepare(&self, board: &Board) -> anyhow::Result<(StartArgs, String, String)> {
        let mut start = self.start.clone();
        if self.planted {
            match board.kind {
                Kind::Sim if start.sim_program.is_none() => {
                    start.sim_program = Some(firmware::build_sim_variant(&["planted-bugs"])?)
                }
                Kind::Qemu if start.elf.is_none() => {
                    start.elf = Some(firmware::build_variant(&LM3S6965EVB, &["planted-bugs"])?)
                }
                _ => {}
            }
        }
        let (path, sha1) = match start.elf_for(board)? {
            Some(elf) => (elf.display().to_string(), super::sha1_of_file(&elf)),
            None => {
                let program = start.sim_options()?.program;
                (program.display().to_string(), super::sha1_of_file(&program))
            }
        };
        Ok((start, path, sha1))
    }

    fn run_one(&self, board: &Board, seed: u64, root: &std::path::Path) -> BoardResult {
        let started = Instant::now();
        let log = |line: &str| eprintln!("hilt: {line}");
        let prepared = self.prepare(board).and_then(|(start, firmware, sha1)| {
            let target = start.start_board(board)?;
            Ok((target, firmware, sha1))
        });
        let (target, firmware, firmware_sha1) = match prepared {
            Ok(p) => p,
            Err(e) => {
                let mut result = BoardResult::unusable(
                    &board.name,
                    format!("{e:#}"),
                    started.elapsed().as_secs_f64(),
                );
                // A firmware that does not build is the code's failure,
                // not the runner's.
                if e.chain()
                    .any(|c| matches!(c.downcast_ref(), Some(FirmwareError::Build { .. })))
                {
                    result.status = Status::Failed;
                }
                log(&format!(
                    "{}: {}: {e:#}",
                    board.name,
                    result.status.as_str()
                ));
                return result;
            }
        };
        let state = self.state.join(&board.name);
        let plan = Plan {
            root: root.to_owned(),
            property_cases: self.cases,
            shrink_time: Duration::from_secs(self.shrink_seconds),
            minimise_budget: self.minimise_budget,
            seed,
            fuzz_time: Duration::from_secs(self.fuzz_seconds),
            corpus: state.join("corpus"),
            crashes: state.join("crashes"),
            model_name: super::model_name(board).to_owned(),
            quiet: hilt::wirefuzz::quiet_for(board.kind),
            firmware,
            firmware_sha1,
        };
        let mut log = log;
        nightly::run_board(&board.name, target, &plan, &mut log)
    }

    pub fn run(self) -> anyhow::Result<u8> {
        let root = firmware::source_root()?;
        let boards = self.boards()?;
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        let names: Vec<&str> = boards.iter().map(|b| b.name.as_str()).collect();
        eprintln!(
            "hilt: nightly on {}, seed {seed}, report in {}",
            names.join(", "),
            self.report.display()
        );
        let started = Instant::now();
        let started_unix = nightly::unix_now();
        let mut results = Vec::new();
        for board in &boards {
            if hilt::interrupt::requested() {
                break;
            }
            results.push(self.run_one(board, seed, &root));
        }
        let night = Nightly::settle(
            results,
            started_unix,
            started.elapsed().as_secs_f64(),
            self.planted,
        );
        std::fs::create_dir_all(&self.report)
            .with_context(|| format!("creating {}", self.report.display()))?;
        let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
            let path = self.report.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
        };
        write("summary.json", &serde_json::to_vec_pretty(&night)?)?;
        write(
            "junit.xml",
            nightly::junit::junit(&night)
                .map_err(anyhow::Error::msg)?
                .as_bytes(),
        )?;
        write("index.html", nightly::html::html(&night).as_bytes())?;
        for b in &night.boards {
            let failed = b.cases.iter().filter(|c| !c.passed).count();
            println!(
                "{:<16} {:<24} {} cases, {failed} failed, {} new crash group(s), {:.0} s{}",
                b.board,
                b.status.as_str(),
                b.cases.len(),
                b.new_groups.len(),
                b.seconds,
                b.problem
                    .as_deref()
                    .map(|p| format!(": {p}"))
                    .unwrap_or_default()
            );
        }
        println!(
            "nightly: {} in {:.0} s; report {}",
            night.status.as_str(),
            night.seconds,
            self.report.join("index.html").display()
        );
        Ok(match night.status {
            Status::Passed => hilt::exit::SUCCESS,
            Status::Failed => hilt::exit::DEVICE,
            Status::Infrastructure => INFRASTRUCTURE,
        })
    }
}
