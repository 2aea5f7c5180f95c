//! `hilt time-to-bug`: how fast the native fuzz targets find each planted
//! bug, and how fast they run on the shipped build.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use hilt::native::{self, Build, Campaign, Ended, Finding, Running, Stats};
use mbnode_core::planted::{Bug, Planted, Symptom, BUGS};
use serde::Serialize;

/// Measure the native fuzzers' bug-finding power on the planted bugs.
///
/// For each planted bug (the core's `planted-bugs` feature, one bug active
/// at a time), every native target runs at once from its seed corpus with
/// the Modbus dictionary, for at most the budget, over several trials with
/// different seeds; the first target to fail wins the trial. Every finding
/// is replayed on the shipped build, where it must run clean (else it is a
/// real bug, and the command fails). Then each target runs alone on the
/// shipped build to measure its executions per second.
#[derive(Debug, Args)]
pub struct TimeToBugCmd {
    /// Trials per bug (libFuzzer seeds 1, 2, ...).
    #[arg(long, default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    trials: u32,

    /// Seconds each trial may take before it counts as not found.
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    budget: u64,

    /// Only these bugs (ids such as PB03, or names); all by default.
    #[arg(long = "bug", value_name = "BUG")]
    bugs: Vec<String>,

    /// Only these targets; all by default.
    #[arg(long = "fuzz-target", value_name = "TARGET")]
    targets: Vec<String>,

    /// Seconds each target runs alone on the shipped build for its
    /// executions per second (0 skips it).
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    exec_seconds: u64,

    /// Fail unless at least this many bugs are found in at least one trial.
    #[arg(long, value_name = "N")]
    require: Option<usize>,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Where every finding is kept, as `BUG/TARGET/ARTIFACT` (the input
    /// libFuzzer wrote), for `hilt replay` and `hilt triage`.
    #[arg(long, value_name = "DIR", default_value = "target/hilt-time-to-bug")]
    keep: PathBuf,
}

/// One bug's results.
#[derive(Debug, Serialize)]
struct BugResult {
    id: &'static str,
    name: &'static str,
    depth: u8,
    symptom: &'static str,
    trials: u32,
    found: u32,
    /// Seconds to the first failure, per trial that found it.
    times_s: Vec<f64>,
    /// Which target found it, per trial that found it.
    found_by: Vec<&'static str>,
    median_s: Option<f64>,
    min_s: Option<f64>,
    max_s: Option<f64>,
    /// What the failure said, from the first trial that found it.
    evidence: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    budget_s: u64,
    trials: u32,
    targets: Vec<&'static str>,
    bugs: Vec<BugResult>,
    /// Executions per second of each target on the shipped build.
    exec_per_sec: Vec<(&'static str, u64)>,
}

fn symptom(s: Symptom) -> &'static str {
    match s {
        Symptom::Panic => "panic",
        Symptom::Hang => "hang",
        Symptom::WrongAnswer => "wrong answer",
    }
}

fn median(sorted: &[f64]) -> Option<f64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

impl TimeToBugCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let root = hilt::firmware::source_root()?;
        let targets = if self.targets.is_empty() {
            native::TARGETS.to_vec()
        } else {
            self.targets
                .iter()
                .map(|t| native::check_target(t))
                .collect::<Result<_, _>>()?
        };
        let bugs: Vec<&Planted> = if self.bugs.is_empty() {
            BUGS.iter().collect()
        } else {
            self.bugs
                .iter()
                .map(|key| {
                    Bug::find(key).map(Bug::planted).ok_or_else(|| {
                        anyhow::anyhow!(hilt::script::ScriptError::whole(
                            "--bug",
                            format!("no planted bug {key:?} (PB01 to PB{:02})", BUGS.len()),
                        ))
                    })
                })
                .collect::<anyhow::Result<_>>()?
        };

        eprintln!("hilt: building the fuzz targets, shipped and with the planted bugs (cargo +nightly fuzz build)");
        let shipped = Build::new(&root, "fuzz-libfuzzer", &[])?;
        let planted = Build::new(&root, "fuzz-planted", &["planted-bugs"])?;
        let scratch = tempfile::Builder::new()
            .prefix("hilt-time-to-bug-")
            .tempdir()
            .context("creating a scratch folder")?;

        println!(
            "time to bug: {} planted bugs; targets {} at once; {} trial{} of at most {} s each",
            bugs.len(),
            targets.join(", "),
            self.trials,
            if self.trials == 1 { "" } else { "s" },
            self.budget
        );
        let mut results = Vec::new();
        for p in &bugs {
            let mut result = BugResult {
                id: p.id,
                name: p.name,
                depth: p.depth,
                symptom: symptom(p.symptom),
                trials: self.trials,
                found: 0,
                times_s: Vec::new(),
                found_by: Vec::new(),
                median_s: None,
                min_s: None,
                max_s: None,
                evidence: None,
            };
            for trial in 1..=self.trials {
                let work = scratch.path().join(format!("{}-{trial}", p.id));
                let campaigns = targets.iter().map(|&target| Campaign {
                    target,
                    binary: planted.binary(target),
                    seeds: vec![native::seed_corpus(&root, target)],
                    dictionary: Some(native::dictionary(&root)),
                    seed: trial,
                    max_time: Duration::from_secs(self.budget),
                    hang_after_s: 2,
                    planted: Some(p.id.to_owned()),
                    work: work.join(target),
                });
                let Some(finding) = race(campaigns.collect())? else {
                    eprintln!("  {} trial {trial}: not found in {} s", p.id, self.budget);
                    continue;
                };
                // A finding counts when it reproduces with the bug and not
                // without it: a timeout of a loaded machine, or a leak, does
                // neither.
                if native::replay(
                    &planted.binary(finding.target),
                    &finding.artifact,
                    Some(p.id),
                )?
                .is_ok()
                {
                    eprintln!(
                        "  {} trial {trial}: the {} target's finding ({}) does not reproduce; not counted",
                        p.id, finding.target, finding.summary
                    );
                    continue;
                }
                if let Err(said) =
                    native::replay(&shipped.binary(finding.target), &finding.artifact, None)?
                {
                    bail!(
                        "{} trial {trial}: the input the {} target found also fails on the shipped build, \
                         a real bug: {said} (input: {})",
                        p.id,
                        finding.target,
                        keep(&finding, &root)?
                    );
                }
                let kept = self.keep.join(p.id).join(finding.target);
                std::fs::create_dir_all(&kept)
                    .and_then(|()| {
                        std::fs::copy(
                            &finding.artifact,
                            kept.join(finding.artifact.file_name().unwrap_or_default()),
                        )
                    })
                    .with_context(|| format!("keeping the finding in {}", kept.display()))?;
                eprintln!(
                    "  {} trial {trial}: {} target, {:.1} s: {}",
                    p.id,
                    finding.target,
                    finding.after.as_secs_f64(),
                    finding.summary
                );
                result.found += 1;
                result.times_s.push(finding.after.as_secs_f64());
                result.found_by.push(finding.target);
                result.evidence.get_or_insert(finding.summary);
            }
            let mut sorted = result.times_s.clone();
            sorted.sort_by(f64::total_cmp);
            result.median_s = median(&sorted);
            result.min_s = sorted.first().copied();
            result.max_s = sorted.last().copied();
            results.push(result);
        }

        let mut exec_per_sec = Vec::new();
        if self.exec_seconds > 0 {
            for &target in &targets {
                let stats = exec_rate(&root, &shipped, target, self.exec_seconds, scratch.path())?;
                exec_per_sec.push((target, stats.exec_per_sec));
            }
        }
        let report = Report {
            budget_s: self.budget,
            trials: self.trials,
            targets,
            bugs: results,
            exec_per_sec,
        };
        print!("{}", render(&report));
        if let Some(path) = &self.json {
            let json = serde_json::to_string_pretty(&report)?;
            std::fs::write(path, json + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let found = report.bugs.iter().filter(|b| b.found > 0).count();
        if let Some(required) = self.require {
            if found < required {
                bail!(
                    "found {found} of {} planted bugs, fewer than the {required} required",
                    report.bugs.len()
                );
            }
        }
        Ok(hilt::exit::SUCCESS)
    }
}

/// Runs campaigns at once until one finds something; stops the others.
fn race(campaigns: Vec<Campaign>) -> anyhow::Result<Option<Finding>> {
    let mut running: Vec<Running> = campaigns
        .into_iter()
        .map(Campaign::spawn)
        .collect::<Result<_, _>>()?;
    while !running.is_empty() {
        if hilt::interrupt::requested() {
            bail!(hilt::link::LinkError::Interrupted);
        }
        let mut i = 0;
        while i < running.len() {
            match running[i].poll() {
                None => i += 1,
                Some(Ended::Found(finding)) => return Ok(Some(finding)),
                Some(Ended::Clean(_)) => {
                    running.swap_remove(i);
                }
                Some(Ended::Failed(said)) => {
                    bail!(
                        "the {} fuzz target ended unexpectedly:\n{said}",
                        running[i].target()
                    )
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(None)
}

/// Copies a finding where it outlives the scratch folder (cargo-fuzz's
/// artifact folder), and says where and what it is: the log then keeps the
/// input even where the folder is lost with the machine.
fn keep(finding: &Finding, root: &std::path::Path) -> anyhow::Result<String> {
    let dir = root.join("fuzz/artifacts").join(finding.target);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(finding.artifact.file_name().unwrap_or_default());
    std::fs::copy(&finding.artifact, &path)?;
    let bytes = std::fs::read(&path)?;
    let hex: String = bytes
        .iter()
        .take(1024)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("{}, {} bytes: {hex}", path.display(), bytes.len()))
}

/// One target alone on the shipped build (also `hilt bench`'s native rates).
pub fn exec_rate(
    root: &std::path::Path,
    shipped: &Build,
    target: &'static str,
    seconds: u64,
    scratch: &std::path::Path,
) -> anyhow::Result<Stats> {
    let started = Instant::now();
    let campaign = Campaign {
        target,
        binary: shipped.binary(target),
        seeds: vec![native::seed_corpus(root, target)],
        dictionary: Some(native::dictionary(root)),
        seed: 1,
        max_time: Duration::from_secs(seconds),
        hang_after_s: 10,
        planted: None,
        work: scratch.join(format!("shipped-{target}")),
    };
    match campaign.spawn()?.wait() {
        Ended::Clean(stats) => Ok(stats),
        Ended::Found(finding) => bail!(
            "the {target} target failed on the shipped build after {:.1} s: {} (input: {})",
            started.elapsed().as_secs_f64(),
            finding.summary,
            keep(&finding, root)?
        ),
        Ended::Failed(said) => bail!("the {target} fuzz target ended unexpectedly:\n{said}"),
    }
}

fn seconds(s: Option<f64>) -> String {
    s.map_or_else(|| "-".into(), |s| format!("{s:.1}"))
}

fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<5} {:<26} {:>5}  {:<12} {:>5}  {:<22} {:>8}  {:>13}",
        "bug", "name", "depth", "symptom", "found", "found by", "median s", "spread s"
    );
    for b in &report.bugs {
        let mut by: Vec<(&str, usize)> = Vec::new();
        for t in &b.found_by {
            match by.iter_mut().find(|(name, _)| name == t) {
                Some((_, n)) => *n += 1,
                None => by.push((t, 1)),
            }
        }
        let by = by
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let spread = match (b.min_s, b.max_s) {
            (Some(lo), Some(hi)) => format!("{lo:.1}..{hi:.1}"),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<5} {:<26} {:>5}  {:<12} {:>5}  {:<22} {:>8}  {:>13}",
            b.id,
            b.name,
            b.depth,
            b.symptom,
            format!("{}/{}", b.found, b.trials),
            if by.is_empty() { "-".into() } else { by },
            seconds(b.median_s),
            spread
        );
    }
    let found = report.bugs.iter().filter(|b| b.found > 0).count();
    let fast = report
        .bugs
        .iter()
        .filter(|b| b.median_s.is_some_and(|m| m < 60.0))
        .count();
    let _ = writeln!(
        out,
        "\nfound: {found} of {} planted bugs; {fast} with a median time under 60 s",
        report.bugs.len()
    );
    if !report.exec_per_sec.is_empty() {
        let _ = writeln!(
            out,
            "\nexecutions per second on the shipped build, each target alone:"
        );
        for (target, rate) in &report.exec_per_sec {
            let _ = writeln!(out, "  {target:<8} {rate:>9}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, 2.0, 9.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), Some(3.0));
    }

    #[test]
    fn the_table_counts_finders_and_spreads() {
        let report = Report {
            budget_s: 60,
            trials: 3,
            targets: vec!["node", "model"],
            bugs: vec![BugResult {
                id: "PB01",
                name: "rw-write-range",
                depth: 1,
                symptom: "wrong answer",
                trials: 3,
                found: 2,
                times_s: vec![1.5, 4.0],
                found_by: vec!["model", "model"],
                median_s: Some(2.75),
                min_s: Some(1.5),
                max_s: Some(4.0),
                evidence: None,
            }],
            exec_per_sec: vec![("node", 17_000)],
        };
        let table = render(&report);
        assert!(table.contains("PB01"), "{table}");
        assert!(table.contains("2/3"), "{table}");
        assert!(table.contains("model 2"), "{table}");
        assert!(table.contains("1.5..4.0"), "{table}");
        assert!(
            table.contains("found: 1 of 1 planted bugs; 1 with a median"),
            "{table}"
        );
        assert!(table.contains("node         17000"), "{table}");
    }
}
