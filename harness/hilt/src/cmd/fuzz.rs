//! `hilt fuzz`: a wire fuzz campaign on the emulated board, the simulation
//! or real boards.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use hilt::boards::Kind;
use hilt::script::ScriptError;
use hilt::wirefuzz::corpus::{write_atomically, Corpus};
use hilt::wirefuzz::crashes::CrashStore;
use hilt::wirefuzz::feedback::ShapeFeedback;
use hilt::wirefuzz::{self, mutate, Settings, Shared, Snapshot};

use super::TargetArgs;

/// Fuzz the firmware over its UART: mutate frames on the host, send them,
/// classify every outcome, recover from crashes and hangs, keep what is
/// new.
///
/// Inputs are sequences of frames (with correct CRCs around mutated
/// bodies), malformed bursts and resets, in the native fuzzers' corpus
/// format: the committed seeds and any native corpus can be fed in. An
/// input is kept when the device does something new (a new response
/// shape, a lock or listen-only transition, a new timing class). Each crash
/// or hang is written to the crash folder, with every step since the last
/// reset and its evidence, before the device is reset; a crash seen again
/// is only counted. Running the same command again resumes from the corpus
/// and crash folders. Ctrl-C stops cleanly.
///
/// Exits 1 if this run found a crash or hang not in the crash folder
/// before.
#[derive(Debug, Args)]
pub struct FuzzCmd {
    #[command(flatten)]
    target: TargetArgs,

    /// Where the campaign keeps its inputs (created if missing).
    #[arg(long, value_name = "DIR", default_value = "target/hilt-fuzz/corpus")]
    corpus: PathBuf,

    /// Where crashes and hangs are written (created if missing).
    #[arg(long, value_name = "DIR", default_value = "target/hilt-fuzz/crashes")]
    crashes: PathBuf,

    /// Read-only seed folders (default: fixtures/corpus/node).
    #[arg(long = "seeds", value_name = "DIR")]
    seeds: Vec<PathBuf>,

    /// The dictionary (default: fuzz/modbus.dict).
    #[arg(long, value_name = "FILE")]
    dict: Option<PathBuf>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    time: Option<u64>,

    /// Stop after this many inputs.
    #[arg(long, value_name = "N")]
    runs: Option<u64>,

    /// The random seed (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,

    /// Targets at once (emulated boards or simulations), one campaign.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    jobs: u64,

    /// Reset the device every N inputs (and after each crash or hang).
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    reset_every: u32,

    /// The statistics file, rewritten as the campaign runs (default: next
    /// to the corpus folder, `stats.json`).
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
}

fn status(s: &Snapshot) -> String {
    format!(
        "{:>6.0} s  {:>7} execs  {:>6.1} exec/s  corpus {} (+{})  shapes {}  crashes {}  hangs {}  unique {}  resets {}",
        s.elapsed_s, s.execs, s.execs_per_s, s.corpus, s.new_inputs, s.shapes, s.crashes, s.hangs, s.unique_failures, s.resets
    )
}

impl FuzzCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let boards = self.target.chosen()?;
        let root = hilt::firmware::source_root().ok();
        let seeds = if self.seeds.is_empty() {
            root.iter()
                .map(|r| r.join("fixtures/corpus/node"))
                .filter(|p| p.is_dir())
                .collect()
        } else {
            self.seeds.clone()
        };
        let dictionary = match self
            .dict
            .clone()
            .or_else(|| root.as_ref().map(|r| r.join("fuzz/modbus.dict")))
        {
            Some(path) if path.is_file() || self.dict.is_some() => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                mutate::parse_dictionary(&text)
                    .map_err(|e| ScriptError::whole(path.display().to_string(), e))?
            }
            _ => Vec::new(),
        };
        let corpus =
            Corpus::open(&self.corpus, &seeds).map_err(|e| ScriptError::whole("--corpus", e))?;
        let crashes =
            CrashStore::open(&self.crashes).map_err(|e| ScriptError::whole("--crashes", e))?;
        let stats_path = self.stats.clone().unwrap_or_else(|| {
            self.corpus
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join("stats.json")
        });

        // One job per board named; or --jobs copies of the one target.
        let jobs: Vec<hilt::boards::Board> = match boards.as_slice() {
            [one] if one.kind == Kind::ProbeRs && self.jobs > 1 => {
                bail!(ScriptError::whole(
                    "--jobs",
                    "a real board runs one job; name more boards instead"
                ))
            }
            [one] => (0..self.jobs).map(|_| one.clone()).collect(),
            many => many.to_vec(),
        };
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        // Each job's own settings: its line's quiet, its firmware.
        let mut settings = Vec::new();
        for board in &jobs {
            let (firmware, firmware_sha1) = match self.target.start.elf_for(board)? {
                Some(elf) => (elf.display().to_string(), super::sha1_of_file(&elf)),
                None => {
                    let options = self.target.start.sim_options()?;
                    let mut program = options.program.display().to_string();
                    for arg in &options.args {
                        program.push(' ');
                        program.push_str(&arg.to_string_lossy());
                    }
                    (program, super::sha1_of_file(&options.program))
                }
            };
            settings.push(Settings {
                seed,
                dictionary: dictionary.clone(),
                time: self.time.map(Duration::from_secs),
                runs: self.runs,
                reset_every: self.reset_every,
                quiet: wirefuzz::quiet_for(board.kind),
                firmware,
                firmware_sha1,
            });
        }
        let names: Vec<&str> = jobs.iter().map(|b| b.name.as_str()).collect();
        eprintln!(
            "hilt: fuzzing {} with {} job(s), seed {seed}; corpus {} ({} inputs), crashes {} ({} known)",
            names.join(", "),
            jobs.len(),
            self.corpus.display(),
            corpus.len(),
            self.crashes.display(),
            crashes.len()
        );
        let shared = Shared::new(corpus, crashes, Box::new(ShapeFeedback::default()));
        let job_count = jobs.len() as u64;

        let results: Vec<(String, anyhow::Result<()>)> = std::thread::scope(|scope| {
            let reporter = scope.spawn(|| report(&shared, &stats_path));
            let handles: Vec<_> = jobs
                .iter()
                .enumerate()
                .map(|(i, board)| {
                    let (shared, settings, target_args) = (&shared, &settings[i], &self.target);
                    scope.spawn(move || {
                        let result = (|| -> anyhow::Result<()> {
                            let mut target = target_args.start_one(board)?;
                            let result = wirefuzz::run_job(
                                shared,
                                settings,
                                i as u64,
                                job_count,
                                target.as_mut(),
                            );
                            let _ = target.shutdown();
                            result.map_err(|e| match e {
                                // Keep the target's error, and its exit code.
                                wirefuzz::JobError::Target(e) => anyhow::Error::from(e),
                                other => anyhow::Error::from(other),
                            })
                        })();
                        if result.is_err() {
                            // A job that cannot go on stops the others.
                            shared.stop.store(true, Ordering::Relaxed);
                        }
                        (board.name.clone(), result)
                    })
                })
                .collect();
            let results = handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| ("?".into(), Err(anyhow::anyhow!("a job panicked"))))
                })
                .collect();
            shared.stop.store(true, Ordering::Relaxed);
            let _ = reporter.join();
            results
        });

        let snapshot = shared.snapshot();
        write_stats(&stats_path, &snapshot);
        println!("{}", status(&snapshot));
        for record in hilt::wirefuzz::lock_records(&shared) {
            println!(
                "  {} x{}: {} ({})",
                record.outcome,
                record.count,
                record.summary,
                record.location.as_deref().unwrap_or("location unknown")
            );
        }
        for (board, result) in results {
            if let Err(e) = result {
                return Err(e.context(format!("fuzzing {board}")));
            }
        }
        if hilt::interrupt::requested() {
            eprintln!("hilt: stopped; run the same command again to resume");
        }
        let new = shared.counters.new_failures.load(Ordering::Relaxed);
        if new > 0 {
            eprintln!(
                "hilt: {new} new crash(es) or hang(s) in {}",
                self.crashes.display()
            );
            return Ok(hilt::exit::DEVICE);
        }
        Ok(hilt::exit::SUCCESS)
    }
}

fn write_stats(path: &std::path::Path, snapshot: &Snapshot) {
    if let Ok(json) = serde_json::to_vec_pretty(snapshot) {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = write_atomically(path, &json);
    }
}

/// The live status: a line redrawn in place on a terminal, a line every
/// ten seconds otherwise; and the stats file, every second.
fn report(shared: &Shared, stats: &std::path::Path) {
    let terminal = std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut ticks = 0u64;
    while !shared.stop.load(Ordering::Relaxed) && !hilt::interrupt::requested() {
        std::thread::sleep(Duration::from_millis(250));
        ticks += 1;
        let snapshot = shared.snapshot();
        if let Some(bar) = &bar {
            bar.set_message(status(&snapshot));
        } else if ticks % 40 == 0 {
            eprintln!("{}", status(&snapshot));
        }
        if ticks % 4 == 0 {
            write_stats(stats, &snapshot);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
