//! `hilt triage`, `hilt replay` and promotion, on the planted-bug builds.
//!
//! `fixtures/triage/` holds raw inputs saved by real campaigns on the
//! planted-bug builds: libFuzzer artifacts of the four native targets
//! (`native/TARGET/`, from `hilt time-to-bug`), `hilt fuzz` crash records
//! from the simulation (`wire/`), copies of some of them (duplicates), and
//! inputs that never failed. Which bug each input hits is found here, not
//! written down: the input is replayed on the core with each planted bug
//! alone. One bug, PB10, counts as fixed: it is left out of the build the
//! triage runs on, so its inputs must be listed as no longer failing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use hilt::triage::input;
use hilt::triage::replay::{Backend, Native};
use mbnode_core::planted::BUGS;

use crate::common::hilt_bin;

/// The bug taken out of the build, as if fixed.
const FIXED: &str = "PB10";

fn hilt(args: &[&str], planted: Option<&str>) -> (i32, String, String) {
    let mut command = Command::new(hilt_bin());
    command.args(args).stdin(std::process::Stdio::null());
    match planted {
        Some(list) => command.env("HILT_PLANTED", list),
        None => command.env_remove("HILT_PLANTED"),
    };
    let out = command.output().expect("running hilt");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The planted bugs under which, each alone, `steps` fail on the core,
/// with the step at which each shows.
fn bugs_hit(program: &Path, steps: &hilt_modbus::fuzzing::Steps) -> BTreeMap<&'static str, usize> {
    BUGS.iter()
        .filter_map(|bug| {
            let mut native = Native::program(program);
            native.env = vec![("HILT_PLANTED".into(), bug.id.into())];
            let failure = native.replay(steps).expect("replaying").failure?;
            Some((bug.id, failure.step))
        })
        .collect()
}

/// The bug an input is caught by when all `active` bugs are: the one
/// that shows first on its path. `None` if none of them fails it.
fn first_bug(hits: &BTreeMap<&'static str, usize>, active: &[&str]) -> Option<&'static str> {
    let active: Vec<(&'static str, usize)> = hits
        .iter()
        .filter(|(b, _)| active.contains(b))
        .map(|(b, s)| (*b, *s))
        .collect();
    let first = active.iter().map(|(_, s)| *s).min()?;
    let at_first: Vec<&str> = active
        .iter()
        .filter(|(_, s)| *s == first)
        .map(|(b, _)| *b)
        .collect();
    assert_eq!(
        at_first.len(),
        1,
        "bugs {at_first:?} show at the same step: the input cannot tell them apart"
    );
    Some(at_first[0])
}

#[test]
fn saved_inputs_triage_into_one_group_per_planted_bug_then_promote() {
    let root = hilt::firmware::source_root().unwrap();
    let folder = root.join("fixtures/triage");
    let planted = hilt::firmware::build_sim_variant(&["planted-bugs"]).unwrap();
    // The core with no planted bug active runs every input clean.
    let shipped_like = {
        let mut n = Native::program(&planted);
        n.env = vec![("HILT_PLANTED".into(), String::new())];
        n
    };
    let active: Vec<&str> = BUGS
        .iter()
        .map(|b| b.id)
        .filter(|&id| id != FIXED)
        .collect();
    let mut hits_of: BTreeMap<PathBuf, BTreeMap<&str, usize>> = BTreeMap::new();
    for path in input::scan(&folder).unwrap() {
        let steps = input::load(&path, None).unwrap().steps;
        assert!(
            shipped_like
                .clone()
                .replay(&steps)
                .unwrap()
                .failure
                .is_none(),
            "{} fails with no bug planted",
            path.display()
        );
        hits_of.insert(path, bugs_hit(&planted, &steps));
    }
    // Which bug each input is caught by in the build triaged: the first
    // active one on its path.
    let by_input: BTreeMap<PathBuf, Option<&str>> = hits_of
        .iter()
        .map(|(p, hits)| (p.clone(), first_bug(hits, &active)))
        .collect();
    let expected_bugs: BTreeSet<&str> = by_input.values().flatten().copied().collect();
    assert!(
        expected_bugs.len() >= 6,
        "the folder should hold inputs for most planted bugs: {expected_bugs:?}"
    );
    assert!(
        hits_of.values().any(|h| h.contains_key(FIXED)),
        "the folder holds inputs of the fixed bug"
    );
    assert!(
        hits_of.values().any(|h| h.is_empty()),
        "the folder holds inputs that never failed"
    );

    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("report");
    let regressions = out.path().join("regressions");
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = hilt(
        &[
            "triage",
            folder.to_str().unwrap(),
            "--planted",
            "--target",
            "native,sim",
            "--repeats",
            "2",
            "--report",
            report.to_str().unwrap(),
            "--promote",
            regressions.to_str().unwrap(),
        ],
        Some(&active.join(",")),
    );
    assert_eq!(code, 1, "inputs still fail: exit 1\n{stdout}\n{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("triage.json")).unwrap())
            .unwrap();
    let groups = json["groups"].as_array().unwrap();
    let mut bug_groups: BTreeMap<&str, usize> = BTreeMap::new();
    for group in groups {
        let members: BTreeSet<&str> = group["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                by_input[Path::new(m.as_str().unwrap())]
                    .unwrap_or_else(|| panic!("{m} is in a group but no active bug fails it"))
            })
            .collect();
        assert_eq!(
            members.len(),
            1,
            "group {} mixes bugs {members:?}",
            group["signature"]
        );
        *bug_groups.entry(members.first().unwrap()).or_default() += 1;
        // Frames and bursts: everything but resets.
        let frames = group["decoded"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s.as_str().unwrap() != "reset")
            .count();
        assert!(
            (1..=3).contains(&frames),
            "group {} minimised to {frames} frames: {}",
            group["signature"],
            group["decoded"]
        );
        assert!(
            group["minimised_size"].as_u64() <= group["smallest_size"].as_u64(),
            "{group}"
        );
    }
    let found: BTreeSet<&str> = bug_groups.keys().copied().collect();
    assert_eq!(found, expected_bugs, "every bug of the folder has a group");
    assert!(
        bug_groups.values().all(|&n| n == 1),
        "one group per bug: {bug_groups:?}"
    );
    // Inputs no active bug fails (the fixed bug's, and those that never
    // failed) are listed as fixed; nothing else is.
    let fixed: BTreeSet<PathBuf> = json["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    let want_fixed: BTreeSet<PathBuf> = by_input
        .iter()
        .filter(|(_, b)| b.is_none())
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(fixed, want_fixed);
    let markdown = std::fs::read_to_string(report.join("triage.md")).unwrap();
    assert!(
        markdown.contains(&format!("in **{} groups**", expected_bugs.len())),
        "{markdown}"
    );
    assert!(markdown.contains("## Fixed"), "{markdown}");
    eprintln!(
        "triage: {} inputs, {} bugs, {} groups ({:.2} per bug), median reduction {}, {:.1} s",
        by_input.len(),
        expected_bugs.len(),
        groups.len(),
        groups.len() as f64 / expected_bugs.len() as f64,
        markdown
            .lines()
            .find(|l| l.starts_with("Median size reduction"))
            .unwrap_or("?"),
        started.elapsed().as_secs_f64()
    );

    // Promotion: one case per group; on the shipped build they all run
    // clean, on the planted build each fails with its signature.
    let cases = hilt::triage::regressions(&regressions).unwrap();
    assert_eq!(cases.len(), groups.len());
    assert!(cases.iter().all(|(_, meta)| meta.is_some()));
    let dir = regressions.to_str().unwrap();
    let (code, stdout, stderr) = hilt(&["replay", dir, "--target", "native,sim"], None);
    assert_eq!(code, 0, "the shipped build passes\n{stdout}\n{stderr}");
    let (code, stdout, stderr) = hilt(
        &["replay", dir, "--target", "native,sim", "--planted"],
        Some(&active.join(",")),
    );
    assert_eq!(code, 1, "the planted build fails\n{stdout}\n{stderr}");
    for (_, meta) in &cases {
        let signature = &meta.as_ref().unwrap().signature;
        assert!(
            stdout.contains(&format!("signature: {signature}")),
            "{signature} not reported\n{stdout}"
        );
    }
}

#[test]
fn replay_reads_every_kind_of_input_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let request = dir.path().join("request");
    std::fs::create_dir(&request).unwrap();
    // Read Exception Status as a bare PDU (the request target's format).
    std::fs::write(request.join("crash-0001"), [0x07]).unwrap();
    let (code, stdout, stderr) = hilt(
        &["replay", request.join("crash-0001").to_str().unwrap()],
        None,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("> 01 07 41 E2"), "{stdout}");
    assert!(stdout.contains("outcome: clean"), "{stdout}");

    // A frame and a stray 0x00 (which even passes a CRC check as a
    // whole), then a frame: the device must get the silence after the
    // burst that the model assumes, or the stray byte runs into the next
    // frame and its answer goes missing.
    let mut burst = vec![0x01, 0x05, 0x00, 0x00, 0x45, 0x00];
    hilt_modbus::wire::append_crc(&mut burst);
    burst.push(0x00);
    let steps = hilt_modbus::fuzzing::Steps(vec![
        hilt_modbus::fuzzing::Step::Raw(burst),
        hilt_modbus::fuzzing::Step::Frame(vec![0x01, 0x0F, 0, 0, 0, 0, 0]),
    ]);
    let stray = dir.path().join("stray.steps");
    std::fs::write(&stray, steps.encode()).unwrap();
    let (code, stdout, stderr) = hilt(
        &["replay", stray.to_str().unwrap(), "--target", "native,sim"],
        None,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    let (code, _, stderr) = hilt(&["replay", "/no/such/input"], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("/no/such/input"), "{stderr}");
    let (code, _, stderr) = hilt(
        &[
            "replay",
            request.join("crash-0001").to_str().unwrap(),
            "--target",
            "nowhere",
        ],
        None,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no board \"nowhere\"") && stderr.contains("`native`"),
        "{stderr}"
    );
    let (code, _, stderr) = hilt(&["triage", "/no/such/folder"], None);
    assert_eq!(code, 2, "{stderr}");
}
