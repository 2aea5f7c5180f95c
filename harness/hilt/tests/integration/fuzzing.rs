//! `hilt fuzz` end to end: campaigns on the simulation and the emulated
//! board, both built with the planted bugs and the crash trigger, find a
//! panic, a fault and a hang, store each once with its evidence, recover and
//! keep going; a SIGKILL loses nothing reported; bad input is a clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hilt::firmware::{self, LM3S6965EVB};
use hilt::wirefuzz::crashes::CrashRecord;
use hilt_modbus::fuzzing::{Step, Steps};

use crate::common::{hilt_bin, require_qemu, run_hilt as run};

/// Seeds that pull each crash trigger (see the firmware's `run.rs`): a
/// panic, a fault, and a hang (noticed at the read that follows it).
fn trigger_seeds(dir: &Path) -> PathBuf {
    let seeds = dir.join("trigger-seeds");
    std::fs::create_dir_all(&seeds).unwrap();
    let inputs = [
        Steps(vec![Step::Frame(vec![0xFF, 0x66, 0x01])]),
        Steps(vec![Step::Frame(vec![0xFF, 0x66, 0x02])]),
        Steps(vec![
            Step::Frame(vec![0xFF, 0x66, 0x03]),
            Step::Frame(vec![0x01, 0x03, 0x00, 0x00, 0x00, 0x01]),
        ]),
    ];
    for input in inputs {
        let bytes = input.encode();
        std::fs::write(seeds.join(hilt::wirefuzz::corpus::name_of(&bytes)), bytes).unwrap();
    }
    seeds
}

fn records(dir: &Path) -> Vec<CrashRecord> {
    let mut records: Vec<CrashRecord> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        .collect();
    records.sort_by(|a, b| a.signature.cmp(&b.signature));
    records
}

fn finds_a_panic_a_fault_and_a_hang(target_args: &[&str], seconds: &str) {
    let dir = tempfile::tempdir().unwrap();
    let seeds = trigger_seeds(dir.path());
    let node_seeds = hilt::firmware::source_root()
        .unwrap()
        .join("fixtures/corpus/node");
    let corpus = dir.path().join("new/corpus");
    let crashes = dir.path().join("crashes");
    let mut args = vec!["fuzz"];
    args.extend_from_slice(target_args);
    let (seeds, node_seeds, corpus_s, crashes_s) = (
        seeds.display().to_string(),
        node_seeds.display().to_string(),
        corpus.display().to_string(),
        crashes.display().to_string(),
    );
    args.extend_from_slice(&[
        "--seeds",
        &seeds,
        "--seeds",
        &node_seeds,
        "--corpus",
        &corpus_s,
        "--crashes",
        &crashes_s,
        "--time",
        seconds,
        "--seed",
        "1",
    ]);
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 1, "new crashes exit 1\n{stdout}\n{stderr}");
    assert!(corpus.is_dir(), "the missing corpus folder was created");
    let records = records(&crashes);
    for kind in ["panic", "fault", "hang"] {
        assert!(
            records
                .iter()
                .any(|r| r.kind == kind && r.location.is_some()),
            "no {kind} with a location among {records:#?}\n{stdout}"
        );
    }
    // Seen again and again, stored once: a count, not another record.
    assert!(
        records.iter().any(|r| r.count > 1),
        "no crash was counted twice: {records:#?}"
    );
    let stored = std::fs::read_dir(&crashes).unwrap().count();
    assert_eq!(
        stored,
        2 * records.len(),
        "a record and an input per signature"
    );
    for record in &records {
        let input =
            std::fs::read(crashes.join(&record.input)).expect("the input next to its record");
        assert!(!Steps::from_bytes(&input).0.is_empty(), "{record:?}");
        assert!(!record.firmware_sha1.is_empty() && record.seed == 1);
    }
    // It recovered and kept going: more inputs ran than the seeds alone.
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("new/stats.json")).unwrap())
            .unwrap();
    let execs = stats["execs"].as_u64().unwrap();
    assert!(execs > 20, "{stats}");
    // The feedback kept inputs that did something new.
    assert!(stats["new_inputs"].as_u64().unwrap() > 0, "{stats}");
    assert!(
        stats["resets"].as_u64().unwrap() >= records.len() as u64,
        "{stats}"
    );
    println!("{stdout}");
}

/// Two simulations at once, one campaign: one corpus, one crash folder.
#[test]
fn a_campaign_on_the_simulation_finds_and_stores_a_panic_a_fault_and_a_hang() {
    let sim = firmware::build_sim_variant(&["planted-bugs"]).expect("the planted simulation");
    let sim = sim.display().to_string();
    finds_a_panic_a_fault_and_a_hang(
        &[
            "--target",
            "sim",
            "--sim",
            &sim,
            "--sim-crash-trigger",
            "--jobs",
            "2",
        ],
        "15",
    );
}

#[test]
fn a_campaign_on_the_emulated_board_finds_and_stores_a_panic_a_fault_and_a_hang() {
    require_qemu();
    let elf = firmware::build_variant(&LM3S6965EVB, &["planted-bugs", "crash-trigger"])
        .expect("the planted firmware");
    let elf = elf.display().to_string();
    finds_a_panic_a_fault_and_a_hang(&["--target", "qemu", "--elf", &elf], "25");
}

#[test]
fn a_killed_campaign_loses_no_reported_crash_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = trigger_seeds(dir.path()).display().to_string();
    let corpus = dir.path().join("corpus").display().to_string();
    let crashes = dir.path().join("crashes");
    let crashes_s = crashes.display().to_string();
    let args = [
        "fuzz",
        "--target",
        "sim",
        "--sim-crash-trigger",
        "--seeds",
        &seeds,
        "--corpus",
        &corpus,
        "--crashes",
        &crashes_s,
        "--seed",
        "3",
    ];
    let mut child = Command::new(hilt_bin())
        .args(args)
        .args(["--time", "120"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&crashes).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count()
    }) < 2
    {
        assert!(
            Instant::now() < deadline,
            "no crash reported within a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let reported = records(&crashes);
    assert!(reported.len() >= 2);
    for record in &reported {
        assert!(crashes.join(&record.input).is_file(), "{record:?}");
    }
    let (code, stdout, stderr) = run(&[&args[..], &["--runs", "5"]].concat());
    assert!(code == 0 || code == 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("({} known)", reported.len())),
        "the next run resumes from the crash folder: {stderr}"
    );
    let after = records(&crashes);
    for old in &reported {
        let now = after
            .iter()
            .find(|r| r.signature == old.signature)
            .expect("still there");
        assert!(now.count >= old.count);
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let bad = file.join("crashes").display().to_string();
    let (code, _, stderr) = run(&["fuzz", "--target", "sim", "--crashes", &bad, "--runs", "1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with("hilt: --crashes: crash folder "),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    // A target that dies for good: the simulation starts once, then crashes
    // and never comes back.
    let marker = dir.path().join("started");
    let script = dir.path().join("sim-once");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -e '{m}' ]; then echo 'no second start' >&2; exit 3; fi\ntouch '{m}'\nexec '{h}' sim-node --crash-trigger \"$@\"\n",
            m = marker.display(),
            h = hilt_bin().display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let seeds = trigger_seeds(dir.path()).display().to_string();
    let corpus = dir.path().join("corpus").display().to_string();
    let crashes = dir.path().join("crashes").display().to_string();
    let (code, _, stderr) = run(&[
        "fuzz",
        "--target",
        "sim",
        "--sim",
        &script.display().to_string(),
        "--seeds",
        &seeds,
        "--corpus",
        &corpus,
        "--crashes",
        &crashes,
        "--time",
        "30",
    ]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("did not recover: 3 resets"), "{stderr}");
    assert!(
        !records(Path::new(&crashes)).is_empty(),
        "the crash was stored before giving up"
    );
}
