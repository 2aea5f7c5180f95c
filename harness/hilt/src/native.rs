//! Native fuzz campaigns: the `fuzz/` crate's libFuzzer targets, built with
//! cargo-fuzz and run as child processes, one scratch folder each.
//!
//! Architecture Invariant: this module knows the layout of `fuzz/` and
//! `fixtures/corpus/`, cargo-fuzz's and libFuzzer's command lines and what
//! they print; nothing of Modbus or of what the targets check.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The native fuzz targets, cheapest first.
pub const TARGETS: [&str; 4] = ["frame", "request", "node", "model"];

/// The host triple cargo-fuzz builds for (hilt runs on Linux).
fn host() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// Why a native campaign could not run.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error(
        "cargo-fuzz is not installed for the nightly toolchain: run ci/setup, \
         or `cargo install cargo-fuzz --locked --version 0.13.2`"
    )]
    NoCargoFuzz,
    #[error("building the fuzz targets failed: `{command}` (in {dir}):\n{tail}")]
    Build {
        command: String,
        dir: String,
        tail: String,
    },
    #[error("no fuzz target {0:?} (the targets are {targets})", targets = TARGETS.join(", "))]
    NoTarget(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> NativeError {
    let what = what.into();
    move |source| NativeError::Io { what, source }
}

/// Checks a target name.
pub fn check_target(name: &str) -> Result<&'static str, NativeError> {
    TARGETS
        .iter()
        .find(|t| **t == name)
        .copied()
        .ok_or_else(|| NativeError::NoTarget(name.to_owned()))
}

/// The fuzz crate's folder.
pub fn fuzz_dir(root: &Path) -> PathBuf {
    root.join("fuzz")
}

/// A target's committed seed corpus.
pub fn seed_corpus(root: &Path, target: &str) -> PathBuf {
    root.join("fixtures/corpus").join(target)
}

/// The Modbus dictionary every target gets.
pub fn dictionary(root: &Path) -> PathBuf {
    fuzz_dir(root).join("modbus.dict")
}

/// Whether `cargo +nightly fuzz` works.
pub fn cargo_fuzz_installed() -> bool {
    Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Built fuzz targets: one binary per target.
#[derive(Debug, Clone)]
pub struct Build {
    dir: PathBuf,
}

impl Build {
    /// Builds every target with `features` into `target/<name>` under the
    /// source root, a folder of its own per feature set so that builds do
    /// not undo each other.
    pub fn new(root: &Path, name: &str, features: &[&str]) -> Result<Build, NativeError> {
        if !cargo_fuzz_installed() {
            return Err(NativeError::NoCargoFuzz);
        }
        let target_dir = crate::firmware::target_dir(root).join(name);
        let mut args = vec![
            "+nightly".to_owned(),
            "fuzz".into(),
            "build".into(),
            "--target-dir".into(),
            target_dir.display().to_string(),
        ];
        if !features.is_empty() {
            args.push("--features".into());
            args.push(features.join(","));
        }
        let output = Command::new("cargo")
            .args(&args)
            .current_dir(root)
            .output()
            .map_err(io_error("running cargo +nightly fuzz build"))?;
        if !output.status.success() {
            return Err(NativeError::Build {
                command: format!("cargo {}", args.join(" ")),
                dir: root.display().to_string(),
                tail: crate::last_lines(&String::from_utf8_lossy(&output.stderr), 20),
            });
        }
        Ok(Build {
            dir: target_dir.join(host()).join("release"),
        })
    }

    /// The binary of `target`.
    pub fn binary(&self, target: &str) -> PathBuf {
        self.dir.join(target)
    }
}

/// One libFuzzer process's settings.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub target: &'static str,
    pub binary: PathBuf,
    /// Read-only seed folders; new inputs go to `work/corpus`.
    pub seeds: Vec<PathBuf>,
    pub dictionary: Option<PathBuf>,
    /// libFuzzer's `-seed`.
    pub seed: u32,
    pub max_time: Duration,
    /// Seconds one input may run before it counts as a hang.
    pub hang_after_s: u32,
    /// `HILT_PLANTED` for the planted build: which bugs are active.
    pub planted: Option<String>,
    /// A scratch folder of the campaign's own.
    pub work: PathBuf,
}

/// What a finished campaign found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// A panic or another crash.
    Crash,
    /// An input that ran longer than the hang limit.
    Hang,
    /// A leak or running out of memory.
    Resources,
}

/// An input that made a target fail.
#[derive(Debug, Clone)]
pub struct Finding {
    pub target: &'static str,
    pub kind: FindingKind,
    /// The input, as libFuzzer saved it.
    pub artifact: PathBuf,
    /// From the campaign's start.
    pub after: Duration,
    /// The panic message, or what libFuzzer said.
    pub summary: String,
}

/// libFuzzer's closing figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub runs: u64,
    pub exec_per_sec: u64,
}

/// How a campaign ended.
#[derive(Debug)]
pub enum Ended {
    Found(Finding),
    /// Ran out its time without a finding.
    Clean(Stats),
    /// Ended some other way (bad arguments, killed): its last words.
    Failed(String),
}

/// A campaign under way.
#[derive(Debug)]
pub struct Running {
    campaign: Campaign,
    child: Child,
    started: Instant,
}

impl Campaign {
    /// Starts the libFuzzer process.
    pub fn spawn(self) -> Result<Running, NativeError> {
        let corpus = self.work.join("corpus");
        let artifacts = self.work.join("artifacts");
        for dir in [&corpus, &artifacts] {
            fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
        }
        let log = fs::File::create(self.work.join("log")).map_err(io_error("creating a log"))?;
        let mut command = Command::new(&self.binary);
        command
            .arg(&corpus)
            .args(&self.seeds)
            .arg(format!("-seed={}", self.seed))
            .arg(format!(
                "-max_total_time={}",
                self.max_time.as_secs().max(1)
            ))
            .arg(format!("-timeout={}", self.hang_after_s))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-print_final_stats=1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io_error("the log"))?)
            .stderr(log);
        if let Some(dict) = &self.dictionary {
            command.arg(format!("-dict={}", dict.display()));
        }
        match &self.planted {
            Some(bugs) => command.env("HILT_PLANTED", bugs),
            None => command.env_remove("HILT_PLANTED"),
        };
        let child = crate::target::spawn_child(&mut command)
            .map_err(io_error(format!("starting {}", self.binary.display())))?;
        Ok(Running {
            campaign: self,
            child,
            started: Instant::now(),
        })
    }
}

impl Running {
    /// The target this campaign fuzzes.
    pub fn target(&self) -> &'static str {
        self.campaign.target
    }

    /// How it ended, or `None` while it runs.
    pub fn poll(&mut self) -> Option<Ended> {
        let status = match self.child.try_wait() {
            Ok(None) => return None,
            Ok(Some(status)) => status,
            Err(e) => return Some(Ended::Failed(e.to_string())),
        };
        let after = self.started.elapsed();
        let log = fs::read_to_string(self.campaign.work.join("log")).unwrap_or_default();
        if let Some((kind, artifact)) = artifact(&self.campaign.work.join("artifacts")) {
            return Some(Ended::Found(Finding {
                target: self.campaign.target,
                kind,
                artifact,
                after,
                summary: summary(&log),
            }));
        }
        match (status.success(), parse_stats(&log)) {
            (true, Some(stats)) => Some(Ended::Clean(stats)),
            _ => Some(Ended::Failed(crate::last_lines(&log, 10))),
        }
    }

    /// Waits for the end.
    pub fn wait(mut self) -> Ended {
        loop {
            if let Some(ended) = self.poll() {
                return ended;
            }
            if crate::interrupt::requested() {
                self.kill();
                return Ended::Failed("interrupted".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the process (and anything it started).
    pub fn kill(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// The first artifact libFuzzer wrote, by the prefix of its name.
fn artifact(dir: &Path) -> Option<(FindingKind, PathBuf)> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    found.sort();
    found.into_iter().find_map(|path| {
        let name = path.file_name()?.to_str()?;
        let kind = match name.split('-').next()? {
            "crash" => FindingKind::Crash,
            "timeout" => FindingKind::Hang,
            "leak" | "oom" => FindingKind::Resources,
            _ => return None,
        };
        Some((kind, path))
    })
}

/// The panic message in a libFuzzer log, or its error line.
pub fn summary(log: &str) -> String {
    let mut lines = log.lines();
    while let Some(line) = lines.next() {
        if line.contains("panicked at") {
            let message = lines.next().unwrap_or_default().trim();
            return message.to_owned();
        }
        if line.starts_with("ALARM: working on the last Unit for") {
            return line.trim_start_matches("ALARM: ").to_owned();
        }
        if let Some(error) = line
            .strip_prefix("==")
            .and_then(|l| l.split_once("ERROR: "))
        {
            return error.1.to_owned();
        }
    }
    crate::last_lines(log, 1)
}

/// libFuzzer's `-print_final_stats=1` figures.
pub fn parse_stats(log: &str) -> Option<Stats> {
    let value = |key: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim_start_matches(':').trim().parse::<u64>().ok())
    };
    Some(Stats {
        runs: value("stat::number_of_executed_units")?,
        exec_per_sec: value("stat::average_exec_per_sec")?,
    })
}

/// Runs `input` once through a fuzz target binary, with the planted bugs
/// `planted` active (for a planted build); `Ok(Ok(()))` when it ran clean,
/// `Ok(Err(what it said))` when it failed.
pub fn replay(
    binary: &Path,
    input: &Path,
    planted: Option<&str>,
) -> Result<Result<(), String>, NativeError> {
    let mut command = Command::new(binary);
    command.arg(input).arg("-timeout=5");
    match planted {
        Some(bugs) => command.env("HILT_PLANTED", bugs),
        None => command.env_remove("HILT_PLANTED"),
    };
    let output = command
        .output()
        .map_err(io_error(format!("running {}", binary.display())))?;
    if output.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(summary(&String::from_utf8_lossy(&output.stderr))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRASH_LOG: &str = "\
INFO: Running with entropic power schedule (0xFF, 100).
#2\tINITED cov: 5 ft: 5 corp: 1/1b exec/s: 0 rss: 30Mb

thread '<unnamed>' panicked at firmware-under-test/core/src/planted.rs:211:5:
planted bug PB03 (file-record-walk): the walk trusts each sub-request's length
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
==1234== ERROR: libFuzzer: deadly signal
";

    #[test]
    fn a_panic_is_summarised_by_its_message() {
        assert_eq!(
            summary(CRASH_LOG),
            "planted bug PB03 (file-record-walk): the walk trusts each sub-request's length"
        );
        assert_eq!(
            summary("ALARM: working on the last Unit for 2 seconds\n"),
            "working on the last Unit for 2 seconds"
        );
        assert_eq!(
            summary("==77== ERROR: libFuzzer: out-of-memory (used: 2100Mb)\n"),
            "libFuzzer: out-of-memory (used: 2100Mb)"
        );
    }

    #[test]
    fn final_stats_are_read() {
        let log = "Done 312361 runs in 21 second(s)\nstat::number_of_executed_units: 312361\nstat::average_exec_per_sec:     14874\nstat::new_units_added:          12\n";
        assert_eq!(
            parse_stats(log),
            Some(Stats {
                runs: 312_361,
                exec_per_sec: 14_874
            })
        );
        assert_eq!(parse_stats("Done 1 runs"), None);
    }

    #[test]
    fn artifacts_are_told_apart_by_name() {
        let dir = tempfile::tempdir().unwrap();
        assert!(artifact(dir.path()).is_none());
        fs::write(dir.path().join("timeout-0a1b"), b"x").unwrap();
        assert_eq!(artifact(dir.path()).unwrap().0, FindingKind::Hang);
        fs::write(dir.path().join("crash-0a1b"), b"x").unwrap();
        assert_eq!(artifact(dir.path()).unwrap().0, FindingKind::Crash);
    }

    #[test]
    fn unknown_targets_are_refused_by_name() {
        assert_eq!(check_target("node").unwrap(), "node");
        let e = check_target("nodes").unwrap_err().to_string();
        assert!(
            e.contains("\"nodes\"") && e.contains("frame, request, node, model"),
            "{e}"
        );
    }
}

/// A line-coverage report of the core.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// The HTML report's front page.
    pub index: PathBuf,
    /// llvm-cov's per-file summary table.
    pub summary: String,
}

/// The nightly toolchain's `llvm-cov` and `llvm-profdata`, installing the
/// `llvm-tools` component when they are missing.
fn llvm_tools() -> Result<PathBuf, NativeError> {
    let sysroot = Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .output()
        .map_err(io_error("running rustc +nightly"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    let bin = Path::new(&sysroot)
        .join("lib/rustlib")
        .join(host())
        .join("bin");
    if !bin.join("llvm-cov").is_file() {
        eprintln!("hilt: installing llvm-tools for the nightly toolchain (rustup component add)");
        let status = Command::new("rustup")
            .args([
                "component",
                "add",
                "llvm-tools-preview",
                "--toolchain",
                "nightly",
            ])
            .status()
            .map_err(io_error("running rustup"))?;
        if !status.success() || !bin.join("llvm-cov").is_file() {
            return Err(NativeError::Io {
                what: "installing llvm-tools".into(),
                source: io::Error::other(format!("no llvm-cov in {}", bin.display())),
            });
        }
    }
    Ok(bin)
}

/// Replays `corpora` through `target` built for coverage (`cargo fuzz
/// coverage`) and writes an HTML line-coverage report of the core's sources
/// into `out`.
pub fn coverage(
    root: &Path,
    target: &str,
    corpora: &[PathBuf],
    out: &Path,
) -> Result<Coverage, NativeError> {
    if !cargo_fuzz_installed() {
        return Err(NativeError::NoCargoFuzz);
    }
    let tools = llvm_tools()?;
    let target_dir = crate::firmware::target_dir(root).join("fuzz-coverage");
    let mut args = vec![
        "+nightly".to_owned(),
        "fuzz".into(),
        "coverage".into(),
        "--target-dir".into(),
        target_dir.display().to_string(),
        target.into(),
    ];
    args.extend(corpora.iter().map(|c| c.display().to_string()));
    let output = Command::new("cargo")
        .args(&args)
        .current_dir(root)
        .output()
        .map_err(io_error("running cargo +nightly fuzz coverage"))?;
    if !output.status.success() {
        return Err(NativeError::Build {
            command: format!("cargo {}", args.join(" ")),
            dir: root.display().to_string(),
            tail: crate::last_lines(&String::from_utf8_lossy(&output.stderr), 20),
        });
    }
    let binary = target_dir.join(host()).join("release").join(target);
    let profile = fuzz_dir(root)
        .join("coverage")
        .join(target)
        .join("coverage.profdata");
    let sources = root.join("firmware-under-test/core/src");
    let llvm_cov = |command: &str, extra: &[String]| {
        Command::new(tools.join("llvm-cov"))
            .arg(command)
            .arg(&binary)
            .arg(format!("-instr-profile={}", profile.display()))
            .args(extra)
            .arg(&sources)
            .output()
            .map_err(io_error("running llvm-cov"))
    };
    fs::create_dir_all(out).map_err(io_error(format!("creating {}", out.display())))?;
    let show = llvm_cov(
        "show",
        &[
            "-format=html".into(),
            format!("-output-dir={}", out.display()),
            "-show-line-counts-or-regions".into(),
        ],
    )?;
    let report = llvm_cov("report", &[])?;
    let summary = String::from_utf8_lossy(&report.stdout).into_owned();
    let index = out.join("index.html");
    if !show.status.success() || !report.status.success() || !index.is_file() {
        return Err(NativeError::Io {
            what: "writing the coverage report".into(),
            source: io::Error::other(crate::last_lines(
                &String::from_utf8_lossy(&show.stderr),
                10,
            )),
        });
    }
    Ok(Coverage { index, summary })
}
