//! Triage of saved crash inputs: which still fail, on which backends and
//! how reliably, how many distinct bugs they are, the smallest input of
//! each, and regression cases that keep each one fixed.
//!
//! - [`input`]: crash records, libFuzzer artifacts and step files, read
//!   back as steps.
//! - [`replay`]: steps replayed on a backend (the core natively in a child
//!   process, the simulation, the emulated board, a board), checked against
//!   the reference model; the signature of a failure.
//! - [`minimise`]: the smallest input with the same signature.
//! - [`report`]: the markdown and JSON reports.
//!
//! Architecture Invariant: triage knows backends only through
//! [`replay::Backend`]; it never starts a target itself (the command line
//! does), so the same triage runs on any mix of backends.

pub mod input;
pub mod minimise;
pub mod replay;
pub mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hilt_modbus::fuzzing::Steps;
use serde::Serialize;

use self::input::Input;
use self::replay::{Backend, Failure};
use crate::target::TargetError;

/// How a triage runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Replays of each input on each backend.
    pub repeats: u32,
    /// Replays minimisation may spend on each group.
    pub budget: usize,
}

/// How one input fared on one backend.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Runs {
    pub runs: u32,
    /// Runs that failed, by signature.
    pub signatures: BTreeMap<String, u32>,
}

impl Runs {
    pub fn failed(&self) -> u32 {
        self.signatures.values().sum()
    }

    /// The signature seen most often.
    pub fn main_signature(&self) -> Option<&str> {
        self.signatures
            .iter()
            .max_by_key(|(s, n)| (**n, std::cmp::Reverse(s.as_str())))
            .map(|(s, _)| s.as_str())
    }
}

/// One input's replays.
#[derive(Debug, Clone, Serialize)]
pub struct Triaged {
    pub path: PathBuf,
    pub origin: String,
    pub first_seen: u64,
    /// Bytes on the line.
    pub size: usize,
    /// By backend.
    pub backends: BTreeMap<String, Runs>,
    /// The first failure seen, for its summary and details.
    pub failure: Option<Failure>,
    #[serde(skip)]
    pub steps: Steps,
}

/// How often a group reproduces on a backend: runs of its members.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reproduction {
    pub backend: String,
    pub failed: u32,
    pub runs: u32,
}

/// Inputs with one root cause.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The signature, as the first backend that reproduces it gives it.
    pub signature: String,
    /// Every signature its members showed (backends may word one root
    /// cause differently: a hang's function on the host and on the board).
    pub signatures: Vec<String>,
    pub kind: String,
    pub summary: String,
    pub details: Vec<String>,
    pub reproduces: Vec<Reproduction>,
    pub members: Vec<PathBuf>,
    /// The smallest member, before minimisation.
    pub smallest: PathBuf,
    pub smallest_size: usize,
    /// The minimised input: its bytes in the steps format, as hex.
    pub minimised: String,
    pub minimised_size: usize,
    /// Each minimised step, readable.
    pub decoded: Vec<String>,
    /// Where it was minimised, and the replays spent.
    pub minimised_on: String,
    pub minimise_replays: usize,
    /// Unix seconds: the earliest of its members.
    pub first_seen: u64,
    #[serde(skip)]
    pub steps: Steps,
}

/// A triage's findings.
#[derive(Debug, Clone, Serialize)]
pub struct Triage {
    pub folder: PathBuf,
    pub backends: Vec<String>,
    pub repeats: u32,
    pub inputs: Vec<Triaged>,
    pub groups: Vec<Group>,
    /// Inputs that no backend fails on any more.
    pub fixed: Vec<PathBuf>,
    /// libFuzzer artifacts of what no replay can show (`oom-`, `leak-`,
    /// `slow-unit-`), that did not fail: not called fixed.
    pub not_replayable: Vec<PathBuf>,
    /// Files that could not be read as inputs.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Seconds spent replaying, by backend; and minimising.
    pub replay_seconds: BTreeMap<String, f64>,
    pub minimise_seconds: f64,
}

/// Replays every input of `folder` on every backend, groups the failures
/// by root cause, and minimises each group's smallest input on the first
/// backend that reproduces it. `progress` hears each step.
pub fn triage(
    folder: &Path,
    backends: &mut [Box<dyn Backend>],
    settings: &Settings,
    mut progress: impl FnMut(&str),
) -> Result<Triage, TriageError> {
    let paths = input::scan(folder).map_err(TriageError::Folder)?;
    let mut inputs = Vec::new();
    let mut unreadable = Vec::new();
    for path in paths {
        match input::load(&path, None) {
            Ok(i) => inputs.push(i),
            Err(e) => unreadable.push((path, e)),
        }
    }
    progress(&format!(
        "{} inputs in {}{}",
        inputs.len(),
        folder.display(),
        if unreadable.is_empty() {
            String::new()
        } else {
            format!(" ({} unreadable)", unreadable.len())
        }
    ));
    let mut triaged: Vec<Triaged> = inputs.iter().map(triaged_of).collect();
    let mut replay_seconds = BTreeMap::new();
    for backend in backends.iter_mut() {
        let started = Instant::now();
        for (input, t) in inputs.iter().zip(triaged.iter_mut()) {
            let runs = t.backends.entry(backend.name().to_owned()).or_default();
            for _ in 0..settings.repeats {
                let replay = backend.replay(&input.steps)?;
                runs.runs += 1;
                if let Some(f) = replay.failure {
                    *runs.signatures.entry(f.signature.clone()).or_default() += 1;
                    t.failure.get_or_insert(f);
                }
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        progress(&format!(
            "replayed {} inputs {}x on {} in {seconds:.1} s",
            inputs.len(),
            settings.repeats,
            backend.name()
        ));
        replay_seconds.insert(backend.name().to_owned(), seconds);
    }
    let names: Vec<String> = backends.iter().map(|b| b.name().to_owned()).collect();
    let started = Instant::now();
    let mut groups = Vec::new();
    for members in components(&triaged) {
        groups.push(group(
            &triaged,
            &members,
            &names,
            backends,
            settings,
            &mut progress,
        )?);
    }
    groups.sort_by(|a, b| a.signature.cmp(&b.signature));
    let (not_replayable, fixed): (Vec<PathBuf>, Vec<PathBuf>) = triaged
        .iter()
        .filter(|t| t.backends.values().all(|r| r.failed() == 0))
        .map(|t| t.path.clone())
        .partition(|p| input::not_replayable(p));
    Ok(Triage {
        folder: folder.to_owned(),
        backends: names,
        repeats: settings.repeats,
        inputs: triaged,
        groups,
        fixed,
        not_replayable,
        unreadable,
        replay_seconds,
        minimise_seconds: started.elapsed().as_secs_f64(),
    })
}

fn triaged_of(input: &Input) -> Triaged {
    Triaged {
        path: input.path.clone(),
        origin: input.origin.clone(),
        first_seen: input.first_seen,
        size: input.size(),
        backends: BTreeMap::new(),
        failure: None,
        steps: input.steps.clone(),
    }
}

/// A signature that names no place.
fn vague(signature: &str) -> bool {
    signature.starts_with("exit|")
        || signature == "hang|?"
        || signature.starts_with("fault|?|")
        || signature.starts_with("panic|?|")
}

/// The failing inputs, joined when they share a signature on some backend
/// (each input's most frequent signature per backend): one component per
/// root cause.
fn components(triaged: &[Triaged]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..triaged.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, t) in triaged.iter().enumerate() {
        let signatures: Vec<&str> = t
            .backends
            .values()
            .filter_map(Runs::main_signature)
            .collect();
        // A signature that does not say where (a hang whose place could
        // not be read, a process killed by a signal) would join unrelated
        // bugs: it joins only when the input has no better one.
        let precise: Vec<&str> = signatures.iter().copied().filter(|s| !vague(s)).collect();
        let joining = if precise.is_empty() {
            signatures
        } else {
            precise
        };
        for signature in joining {
            {
                match owner.get(signature) {
                    Some(&j) => {
                        let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                        parent[a] = b;
                    }
                    None => {
                        owner.insert(signature, i);
                    }
                }
            }
        }
    }
    let mut by_root: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, t) in triaged.iter().enumerate() {
        if t.backends.values().any(|r| r.failed() > 0) {
            by_root.entry(root(&mut parent, i)).or_default().push(i);
        }
    }
    by_root.into_values().collect()
}

fn group(
    triaged: &[Triaged],
    members: &[usize],
    names: &[String],
    backends: &mut [Box<dyn Backend>],
    settings: &Settings,
    progress: &mut impl FnMut(&str),
) -> Result<Group, TriageError> {
    let smallest = *members
        .iter()
        .min_by_key(|&&i| (triaged[i].size, triaged[i].steps.0.len(), &triaged[i].path))
        .unwrap_or(&members[0]);
    let small = &triaged[smallest];
    // Where to minimise: the first backend (in the order given, so the
    // fastest first) on which the smallest member fails.
    let (on, signature) = names
        .iter()
        .enumerate()
        .find_map(|(b, name)| {
            let s = small.backends.get(name)?.main_signature()?;
            Some((b, s.to_owned()))
        })
        .or_else(|| {
            // It never failed itself (flaky): the group's first signature.
            members.iter().find_map(|&i| {
                names.iter().enumerate().find_map(|(b, name)| {
                    let s = triaged[i].backends.get(name)?.main_signature()?;
                    Some((b, s.to_owned()))
                })
            })
        })
        .ok_or(TriageError::Empty)?;
    let backend = &mut backends[on];
    let mut error = None;
    let (steps, spent) = minimise::minimise(&small.steps, settings.budget, |candidate| {
        if error.is_some() {
            return false;
        }
        match backend.replay(candidate) {
            Ok(r) => r.failure.is_some_and(|f| f.signature == signature),
            Err(e) => {
                error = Some(e);
                false
            }
        }
    });
    if let Some(e) = error {
        return Err(e.into());
    }
    // The minimised input's own failure, for the summary and details.
    let failure = backend
        .replay(&steps)?
        .failure
        .or_else(|| small.failure.clone());
    progress(&format!(
        "{signature}: {} inputs, smallest {} bytes minimised to {} on {} ({spent} replays)",
        members.len(),
        small.size,
        input::size(&steps),
        backend.name()
    ));
    let mut signatures: Vec<String> = members
        .iter()
        .flat_map(|&i| triaged[i].backends.values())
        .flat_map(|r| r.signatures.keys().cloned())
        .collect();
    signatures.sort();
    signatures.dedup();
    let reproduces = names
        .iter()
        .map(|name| {
            let (failed, runs) = members
                .iter()
                .filter_map(|&i| triaged[i].backends.get(name))
                .fold((0, 0), |(f, n), r| (f + r.failed(), n + r.runs));
            Reproduction {
                backend: name.clone(),
                failed,
                runs,
            }
        })
        .collect();
    let failure = failure.unwrap_or_else(|| Failure {
        signature: signature.clone(),
        kind: signature.split('|').next().unwrap_or("").to_owned(),
        summary: String::new(),
        step: 0,
        details: vec![],
    });
    Ok(Group {
        signature,
        signatures,
        kind: failure.kind,
        summary: failure.summary,
        details: failure.details,
        reproduces,
        members: members.iter().map(|&i| triaged[i].path.clone()).collect(),
        smallest: small.path.clone(),
        smallest_size: small.size,
        minimised: crate::hex(&steps.encode()),
        minimised_size: input::size(&steps),
        decoded: report::decode(&steps),
        minimised_on: backend.name().to_owned(),
        minimise_replays: spent,
        first_seen: members
            .iter()
            .map(|&i| triaged[i].first_seen)
            .min()
            .unwrap_or(0),
        steps,
    })
}

/// Why a triage stopped.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("{0}")]
    Folder(String),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("a group without a failure")]
    Empty,
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A regression case's metadata, next to its `.steps`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Regression {
    /// The signature of the failure it caught.
    pub signature: String,
    pub kind: String,
    pub summary: String,
    /// Each step, readable.
    pub steps: Vec<String>,
    /// Backends that reproduced it when it was promoted.
    pub reproduced_on: Vec<String>,
    /// Unix seconds: when the failure was first seen.
    pub first_seen: u64,
    /// How many saved inputs it stands for.
    pub members: usize,
}

/// A file name from a signature: readable words, and 8 hex digits of its
/// SHA-1 so that two signatures never share one.
pub fn case_name(signature: &str) -> String {
    let mut slug = String::new();
    for c in signature.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let id = &crate::wirefuzz::corpus::name_of(signature.as_bytes())[..8];
    format!("{slug}-{id}")
}

/// What [`promote`] did with a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Promoted {
    New(PathBuf),
    /// A case of this signature was there already.
    Known(PathBuf),
    /// The minimised input does not survive the steps file format.
    Unsavable(PathBuf),
}

/// Writes each group's minimised input into `dir` as a regression case:
/// `NAME.steps` and its metadata `NAME.json`, `NAME` from the signature.
pub fn promote(triage: &Triage, dir: &Path) -> Result<Vec<Promoted>, TriageError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| TriageError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let mut done = Vec::new();
    for group in &triage.groups {
        let name = case_name(&group.signature);
        let steps_path = dir.join(format!("{name}.steps"));
        // A wrong state shows over the wire only when read back.
        let steps = if group.kind == "wrong-state" {
            with_state_read_back(&group.steps)
        } else {
            group.steps.clone()
        };
        let bytes = steps.encode();
        if Steps::from_bytes(&bytes) != steps {
            // Not every input survives the file format (a step over 382
            // bytes): such a case would replay something else.
            done.push(Promoted::Unsavable(steps_path));
            continue;
        }
        if steps_path.exists() {
            done.push(Promoted::Known(steps_path));
            continue;
        }
        // Paths in the source tree, relative to it.
        let summary = match crate::firmware::source_root() {
            Ok(root) => group.summary.replace(&format!("{}/", root.display()), ""),
            Err(_) => group.summary.clone(),
        };
        let meta = Regression {
            signature: group.signature.clone(),
            kind: group.kind.clone(),
            summary,
            steps: report::decode(&steps),
            reproduced_on: group
                .reproduces
                .iter()
                .filter(|r| r.failed > 0)
                .map(|r| r.backend.clone())
                .collect(),
            first_seen: group.first_seen,
            members: group.members.len(),
        };
        let json = serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other);
        let meta_path = dir.join(format!("{name}.json"));
        crate::wirefuzz::corpus::write_atomically(&steps_path, &bytes)
            .map_err(write_error(&steps_path))?;
        json.and_then(|j| crate::wirefuzz::corpus::write_atomically(&meta_path, &j))
            .map_err(write_error(&meta_path))?;
        done.push(Promoted::New(steps_path));
    }
    Ok(done)
}

/// `steps`, then requests that read back what a master can see of the
/// node's state (holding registers, the unit id and lock registers, the
/// coils, the event counter), so that a wrong state the native replay saw
/// is a wrong answer on any target.
pub fn with_state_read_back(steps: &Steps) -> Steps {
    use hilt_modbus::fuzzing::Step;
    let mut out = steps.clone();
    for pdu in [
        &[0x03, 0x00, 0x00, 0x00, 0x50][..],
        &[0x03, 0x01, 0x00, 0x00, 0x02],
        &[0x03, 0x01, 0x10, 0x00, 0x01],
        &[0x01, 0x00, 0x00, 0x00, 0x20],
        &[0x0B],
    ] {
        let mut frame = vec![1];
        frame.extend_from_slice(pdu);
        out.0.push(Step::Frame(frame));
    }
    out
}

/// The regression cases in `dir`: each `.steps` with its metadata, if any.
pub fn regressions(dir: &Path) -> Result<Vec<(PathBuf, Option<Regression>)>, String> {
    let mut cases = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cases),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|e| e == "steps") {
            let meta = std::fs::read_to_string(path.with_extension("json"))
                .ok()
                .map(|t| {
                    serde_json::from_str(&t)
                        .map_err(|e| format!("{}: {e}", path.with_extension("json").display()))
                })
                .transpose()?;
            cases.push((path, meta));
        }
    }
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(cases)
}

/// How long something took, for progress lines.
pub fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_readable_and_distinct() {
        let a = case_name("panic|request.rs:211|planted bug PB03 (file-record-walk): x");
        assert!(
            a.starts_with("panic-request-rs-211-planted-bug-pb03"),
            "{a}"
        );
        let b = case_name("panic|request.rs:211|planted bug PB03 (file-record-walk): y");
        assert_ne!(a, b);
        assert!(a.len() <= 48 + 9);
    }

    fn triaged(path: &str, backend: &str, signature: Option<&str>) -> Triaged {
        let mut runs = Runs {
            runs: 2,
            ..Runs::default()
        };
        if let Some(s) = signature {
            runs.signatures.insert(s.into(), 2);
        }
        Triaged {
            path: path.into(),
            origin: String::new(),
            first_seen: 0,
            size: 1,
            backends: BTreeMap::from([(backend.to_owned(), runs)]),
            failure: None,
            steps: Steps::default(),
        }
    }

    #[test]
    fn inputs_join_through_any_backend_they_share() {
        let mut a = triaged("a", "native", Some("hang|f"));
        a.backends.insert(
            "qemu".into(),
            Runs {
                runs: 1,
                signatures: BTreeMap::from([("hang|g".to_owned(), 1)]),
            },
        );
        let inputs = [
            a,
            triaged("b", "qemu", Some("hang|g")),
            triaged("c", "native", Some("panic|x")),
            triaged("d", "native", None),
            triaged("e", "native", Some("hang|f")),
        ];
        assert_eq!(components(&inputs), vec![vec![0, 1, 4], vec![2]]);
    }
}
