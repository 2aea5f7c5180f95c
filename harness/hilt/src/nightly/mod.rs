//! The nightly run on one board: the property and scenario suites, a
//! time-boxed wire campaign, the regression cases and saved crash inputs
//! replayed, anything new triaged; and the reports of all boards
//! ([`junit`], [`html`], and the JSON of [`Nightly`]).
//!
//! Architecture Invariant: the nightly runs what the other commands run
//! (`suite`, `wirefuzz`, `triage`) on a target it is handed; it starts no
//! target itself, so a board that cannot start is the command line's
//! verdict (an infrastructure problem), not this module's.

pub mod html;
pub mod junit;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::suite::{self, properties, sequences, SuiteError};
use crate::target::Target;
use crate::triage::replay::{Backend, Wire};
use crate::wirefuzz::corpus::Corpus;
use crate::wirefuzz::crashes::CrashStore;
use crate::wirefuzz::feedback::ShapeFeedback;
use crate::wirefuzz::{self, Settings, Shared};

/// How a board (or the whole night) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Passed,
    /// A test failed, or something new crashed or hung.
    Failed,
    /// The board could not be used: missing, not answering, a link lost.
    Infrastructure,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Infrastructure => "infrastructure problem",
        }
    }
}

/// One test case of a board.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// `properties`, `scenarios`, `regressions`, `campaign`.
    pub suite: String,
    pub name: String,
    pub passed: bool,
    pub seconds: f64,
    pub message: Option<String>,
    /// What was sent and received, for a failure.
    pub transcript: Option<String>,
    /// The snapshot's difference, for a scenario that changed.
    pub diff: Option<String>,
}

impl Case {
    /// A case that passed, or failed with `message`.
    fn new(suite: &str, name: &str, seconds: f64, failure: Option<String>) -> Case {
        Case {
            suite: suite.into(),
            name: name.into(),
            passed: failure.is_none(),
            seconds,
            message: failure,
            transcript: None,
            diff: None,
        }
    }
}

/// The campaign, once a second.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub t: f64,
    pub corpus: usize,
    pub execs_per_s: f64,
    pub shapes: usize,
}

/// The wire campaign's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub seconds: f64,
    pub execs: u64,
    pub steps: u64,
    pub corpus_before: usize,
    pub corpus_after: usize,
    pub shapes: usize,
    pub crashes: u64,
    pub hangs: u64,
    pub samples: Vec<Sample>,
}

/// A crash group first seen tonight.
#[derive(Debug, Clone, Serialize)]
pub struct NewGroup {
    pub signature: String,
    pub summary: String,
    /// The minimised input, steps format, hex.
    pub minimised: String,
    pub decoded: Vec<String>,
    pub members: usize,
}

/// One board's night.
#[derive(Debug, Clone, Serialize)]
pub struct BoardResult {
    pub board: String,
    pub status: Status,
    /// Why the board could not be used, for an infrastructure problem.
    pub problem: Option<String>,
    pub seconds: f64,
    /// Seconds per suite, in the order run.
    pub suite_seconds: Vec<(String, f64)>,
    pub cases: Vec<Case>,
    pub campaign: Option<Campaign>,
    pub new_groups: Vec<NewGroup>,
    /// Signatures of saved crashes that still fail (known, not new).
    pub known_failures: Vec<String>,
}

impl BoardResult {
    /// A board that could not be used at all.
    pub fn unusable(board: &str, problem: String, seconds: f64) -> BoardResult {
        BoardResult {
            board: board.to_owned(),
            status: Status::Infrastructure,
            problem: Some(problem),
            seconds,
            suite_seconds: Vec::new(),
            cases: Vec::new(),
            campaign: None,
            new_groups: Vec::new(),
            known_failures: Vec::new(),
        }
    }

    /// Records a suite's time and logs how many of its cases failed.
    fn close_suite(&mut self, suite: &str, started: Instant, log: &mut dyn FnMut(&str)) {
        let failed = self
            .cases
            .iter()
            .filter(|c| c.suite == suite && !c.passed)
            .count();
        log(&format!("{}: {suite}, {failed} failed", self.board));
        self.suite_seconds
            .push((suite.into(), started.elapsed().as_secs_f64()));
    }

    fn settle_status(&mut self) {
        self.status = if self.cases.iter().any(|c| !c.passed) || !self.new_groups.is_empty() {
            Status::Failed
        } else if self.problem.is_some() {
            Status::Infrastructure
        } else {
            Status::Passed
        };
    }
}

/// The night: every board.
#[derive(Debug, Clone, Serialize)]
pub struct Nightly {
    /// Unix seconds.
    pub started: u64,
    pub seconds: f64,
    /// Whether the firmware had its planted bugs (a test of the harness).
    pub planted: bool,
    pub status: Status,
    pub boards: Vec<BoardResult>,
}

impl Nightly {
    /// A new failure anywhere wins; then an infrastructure problem.
    pub fn settle(boards: Vec<BoardResult>, started: u64, seconds: f64, planted: bool) -> Nightly {
        let status = if boards.iter().any(|b| b.status == Status::Failed) {
            Status::Failed
        } else if boards.iter().any(|b| b.status == Status::Infrastructure) {
            Status::Infrastructure
        } else {
            Status::Passed
        };
        Nightly {
            started,
            seconds,
            planted,
            status,
            boards,
        }
    }
}

/// What to run on a board.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The source tree: fixtures and snapshots.
    pub root: PathBuf,
    pub property_cases: u32,
    /// How long the property suite may shrink a failure.
    pub shrink_time: Duration,
    /// Replays minimisation may spend on each new crash group.
    pub minimise_budget: usize,
    pub seed: u64,
    pub fuzz_time: Duration,
    /// The campaign's corpus and crash folders (kept between nights).
    pub corpus: PathBuf,
    pub crashes: PathBuf,
    /// The Device Identification ModelName the firmware reports.
    pub model_name: String,
    pub quiet: Duration,
    pub firmware: String,
    pub firmware_sha1: String,
}

/// A failure that is the board's, not the firmware's.
fn is_infrastructure(e: &SuiteError) -> bool {
    matches!(e, SuiteError::Target(_) | SuiteError::Link(_))
}

/// A snapshot file's content: what follows its header.
fn snapshot_body(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    Some(&rest[end + 5..])
}

fn unified_diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .header("snapshot", "tonight")
        .to_string()
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == extension))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Runs the night on one board; `log` hears progress.
pub fn run_board(
    board: &str,
    mut target: Box<dyn Target>,
    plan: &Plan,
    log: &mut dyn FnMut(&str),
) -> BoardResult {
    let started = Instant::now();
    let since = unix_now();
    let mut result = BoardResult::unusable(board, String::new(), 0.0);
    result.problem = None;
    if let Err(problem) = suites(target.as_mut(), plan, &mut result, log) {
        result.problem = Some(problem);
    }
    if result.problem.is_none() {
        if let Err(problem) = campaign(target.as_mut(), plan, &mut result, log) {
            result.problem = Some(problem);
        }
    }
    if result.problem.is_none() {
        let wire = Wire::new(target, &plan.model_name, plan.quiet);
        if let Err(problem) = replays(Box::new(wire), plan, since, &mut result, log) {
            result.problem = Some(problem);
        }
    } else {
        let _ = target.shutdown();
    }
    result.seconds = started.elapsed().as_secs_f64();
    result.settle_status();
    log(&format!("{board}: {}", result.status.as_str()));
    result
}

/// The property suite and every scenario.
fn suites(
    target: &mut dyn Target,
    plan: &Plan,
    result: &mut BoardResult,
    log: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let started = Instant::now();
    let saved = sequences::load(&plan.root.join(sequences::DIR)).map_err(|e| e.to_string())?;
    let config = properties::PropertyConfig {
        cases: plan.property_cases,
        max_len: 24,
        seed: plan.seed,
        save_to: None,
        // A hanging device makes every shrinking step slow.
        shrink_time: Some(plan.shrink_time),
    };
    // The same name every night, for trends; the figures go in the log.
    let name = "saved and random sequences".to_owned();
    log(&format!(
        "{}: properties: {} saved sequences, {} random ones, seed {}",
        result.board,
        saved.len(),
        plan.property_cases,
        plan.seed
    ));
    let seconds = || started.elapsed().as_secs_f64();
    let case = match properties::run(target, &plan.model_name, &saved, &config) {
        Ok(_) => Case::new("properties", &name, seconds(), None),
        Err(properties::PropertyOutcome::Failed(failure)) => Case {
            transcript: Some(failure.transcript.clone()),
            ..Case::new("properties", &name, seconds(), Some(failure.reason.clone()))
        },
        Err(properties::PropertyOutcome::Error(e)) if is_infrastructure(&e) => {
            return Err(format!("properties: {e}"))
        }
        Err(properties::PropertyOutcome::Error(e)) => {
            Case::new("properties", &name, seconds(), Some(e.to_string()))
        }
    };
    log(&format!(
        "{}: properties {}",
        result.board,
        if case.passed { "passed" } else { "FAILED" }
    ));
    result.cases.push(case);
    result
        .suite_seconds
        .push(("properties".into(), started.elapsed().as_secs_f64()));

    let started = Instant::now();
    let snapshots = plan.root.join("harness/hilt/tests/suite/snapshots");
    for path in files(&plan.root.join("fixtures/scenarios"), "txt") {
        let one = Instant::now();
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let snapshot = snapshots.join(format!("suite__scenarios__scenarios@{file}.snap"));
        let mut case = Case::new("scenarios", &stem(&path), 0.0, None);
        case.passed = false;
        match suite::scenario(target, &plan.model_name, &path) {
            Ok(transcript) => {
                let got = suite::redact(&transcript);
                let want = std::fs::read_to_string(&snapshot)
                    .ok()
                    .and_then(|t| snapshot_body(&t).map(str::to_owned));
                match want {
                    Some(want) if want.trim_end() == got.trim_end() => case.passed = true,
                    Some(want) => {
                        case.message = Some("the transcript differs from its snapshot".into());
                        case.diff = Some(unified_diff(want.trim_end(), got.trim_end()));
                        case.transcript = Some(got);
                    }
                    None => {
                        case.message = Some(format!("no snapshot {}", snapshot.display()));
                        case.transcript = Some(got);
                    }
                }
            }
            Err(e) if is_infrastructure(&e) => return Err(format!("scenario {file}: {e}")),
            Err(e) => case.message = Some(e.to_string()),
        }
        case.seconds = one.elapsed().as_secs_f64();
        result.cases.push(case);
    }
    result.close_suite("scenarios", started, log);
    Ok(())
}

/// The time-boxed wire campaign, seeded from the corpus folder and the
/// committed seeds, sampled once a second.
fn campaign(
    target: &mut dyn Target,
    plan: &Plan,
    result: &mut BoardResult,
    log: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let started = Instant::now();
    let seeds = [plan.root.join("fixtures/corpus/node")];
    let corpus = Corpus::open(&plan.corpus, &seeds)?;
    let crashes = CrashStore::open(&plan.crashes)?;
    let corpus_before = corpus.len();
    let dictionary = std::fs::read_to_string(plan.root.join("fuzz/modbus.dict"))
        .ok()
        .and_then(|t| wirefuzz::mutate::parse_dictionary(&t).ok())
        .unwrap_or_default();
    let settings = Settings {
        seed: plan.seed,
        dictionary,
        time: Some(plan.fuzz_time),
        runs: None,
        reset_every: 32,
        quiet: plan.quiet,
        firmware: plan.firmware.clone(),
        firmware_sha1: plan.firmware_sha1.clone(),
    };
    let shared = Shared::new(corpus, crashes, Box::new(ShapeFeedback::default()));
    target.reset().map_err(|e| e.to_string())?;
    let mut samples = Vec::new();
    let outcome = std::thread::scope(|scope| {
        let job = scope.spawn(|| {
            let r = wirefuzz::run_job(&shared, &settings, 0, 1, target);
            shared.stop.store(true, Ordering::Relaxed);
            r
        });
        while !shared.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            let s = shared.snapshot();
            if s.elapsed_s >= samples.len() as f64 {
                samples.push(Sample {
                    t: s.elapsed_s,
                    corpus: s.corpus,
                    execs_per_s: s.execs_per_s,
                    shapes: s.shapes,
                });
            }
        }
        job.join()
    });
    let s = shared.snapshot();
    samples.push(Sample {
        t: s.elapsed_s,
        corpus: s.corpus,
        execs_per_s: s.execs_per_s,
        shapes: s.shapes,
    });
    let new = shared.counters.new_failures.load(Ordering::Relaxed);
    log(&format!(
        "{}: campaign, {} inputs, {} new crash(es) or hang(s)",
        result.board, s.execs, new
    ));
    result.campaign = Some(Campaign {
        seconds: s.elapsed_s,
        execs: s.execs,
        steps: s.steps,
        corpus_before,
        corpus_after: s.corpus,
        shapes: s.shapes,
        crashes: s.crashes,
        hangs: s.hangs,
        samples,
    });
    result
        .suite_seconds
        .push(("campaign".into(), started.elapsed().as_secs_f64()));
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("campaign: {e}")),
        Err(_) => Err("campaign: the fuzzing thread panicked".into()),
    }
}

/// Every regression case, then the saved crash inputs triaged: groups
/// with an input first seen tonight are new.
fn replays(
    backend: Box<dyn Backend>,
    plan: &Plan,
    since: u64,
    result: &mut BoardResult,
    log: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let started = Instant::now();
    let mut backends = vec![backend];
    for path in files(&plan.root.join("fixtures/regressions"), "steps") {
        let one = Instant::now();
        let steps = hilt_modbus::fuzzing::Steps::from_bytes(
            &std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        );
        let replay = backends[0]
            .replay(&steps)
            .map_err(|e| format!("regression {}: {e}", stem(&path)))?;
        let failure = replay
            .failure
            .as_ref()
            .map(|f| format!("back: {} (signature {})", f.summary, f.signature));
        result.cases.push(Case {
            transcript: failure.is_some().then(|| replay.text()),
            ..Case::new(
                "regressions",
                &stem(&path),
                one.elapsed().as_secs_f64(),
                failure,
            )
        });
    }
    result.close_suite("regressions", started, log);

    let started = Instant::now();
    let settings = crate::triage::Settings {
        repeats: 1,
        budget: plan.minimise_budget,
    };
    let triage = crate::triage::triage(&plan.crashes, &mut backends, &settings, |_| {})
        .map_err(|e| format!("triage: {e}"))?;
    for group in &triage.groups {
        let new = group.first_seen >= since;
        if new {
            result.new_groups.push(NewGroup {
                signature: group.signature.clone(),
                summary: group.summary.clone(),
                minimised: group.minimised.clone(),
                decoded: group.decoded.clone(),
                members: group.members.len(),
            });
        } else {
            result.known_failures.push(group.signature.clone());
        }
    }
    let failing = result.new_groups.len();
    let failure = (failing > 0).then(|| {
        let signatures: Vec<&str> = result
            .new_groups
            .iter()
            .map(|g| g.signature.as_str())
            .collect();
        format!("{failing} new crash group(s): {}", signatures.join("; "))
    });
    let seconds = result.campaign.as_ref().map_or(0.0, |c| c.seconds);
    result.cases.push(Case::new(
        "campaign",
        "no new crash or hang",
        seconds,
        failure,
    ));
    log(&format!(
        "{}: triage, {} new group(s), {} known",
        result.board,
        result.new_groups.len(),
        result.known_failures.len()
    ));
    result
        .suite_seconds
        .push(("triage".into(), started.elapsed().as_secs_f64()));
    Ok(())
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_body_follows_its_header() {
        let snap = "---\nsource: x\nexpression: t\n---\nline 1\nline 2\n";
        assert_eq!(snapshot_body(snap), Some("line 1\nline 2\n"));
        assert_eq!(snapshot_body("no header"), None);
    }

    #[test]
    fn a_failure_outranks_an_infrastructure_problem() {
        let mut failed = BoardResult::unusable("a", "x".into(), 0.0);
        failed.problem = None;
        failed
            .cases
            .push(Case::new("scenarios", "lock", 0.0, Some("differs".into())));
        failed.settle_status();
        assert_eq!(failed.status, Status::Failed);
        let missing = BoardResult::unusable("b", "no probe".into(), 0.0);
        let night = Nightly::settle(vec![missing.clone(), failed], 0, 1.0, false);
        assert_eq!(night.status, Status::Failed);
        assert_eq!(
            Nightly::settle(vec![missing], 0, 1.0, false).status,
            Status::Infrastructure
        );
    }
}
