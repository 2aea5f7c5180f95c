//! The seed corpora in `fixtures/corpus/` hold the requests of every
//! scenario in `fixtures/scenarios/`: one file per scenario for the targets
//! that read `hilt_modbus::fuzzing::Steps` (`frame`, `node`, `model`), one
//! file per distinct PDU for `request`. Files are named by the SHA-1 of
//! their content, as libFuzzer names what it adds.
//!
//! Run with `HILT_WRITE_SEEDS=1` to write what is missing. Entries that
//! fuzzing added stay: a corpus only grows.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use hilt_modbus::fuzzing::{Step, Steps};
use hilt_modbus::wire::crc_ok;
use hilt_modbus::ModbusRtu;
use hilt_protocol::Protocol;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Each scenario's requests as steps: frames with a good CRC as frames
/// (so mutations keep it good), anything else as raw bursts.
fn scenario_steps() -> Vec<(String, Steps)> {
    let protocol = ModbusRtu::default();
    let mut scenarios: Vec<_> = fs::read_dir(fixtures().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    scenarios.sort();
    scenarios
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).unwrap();
            let steps = text
                .lines()
                .filter(|line| !hilt_modbus::is_blank_or_comment(line))
                .map(|line| {
                    let request = protocol.parse_request(line).unwrap();
                    let mut wire = Vec::new();
                    protocol.encode(&request, &mut wire);
                    if wire.len() >= 4 && crc_ok(&wire) {
                        wire.truncate(wire.len() - 2);
                        Step::Frame(wire)
                    } else {
                        Step::Raw(wire)
                    }
                })
                .collect();
            (path.display().to_string(), Steps(steps))
        })
        .collect()
}

fn check_corpus(target: &str, seeds: &BTreeSet<Vec<u8>>) {
    let dir = fixtures().join("corpus").join(target);
    let write = std::env::var_os("HILT_WRITE_SEEDS").is_some();
    let mut missing = Vec::new();
    for seed in seeds {
        let path = dir.join(sha1_smol::Sha1::from(seed).digest().to_string());
        if path.exists() {
            assert_eq!(&fs::read(&path).unwrap(), seed, "{}", path.display());
        } else if write {
            fs::create_dir_all(&dir).unwrap();
            fs::write(&path, seed).unwrap();
        } else {
            missing.push(path.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "seed corpus {target} lacks {} scenario seeds (HILT_WRITE_SEEDS=1 writes them): {missing:?}",
        missing.len()
    );
}

#[test]
fn the_seed_corpora_hold_every_scenario() {
    let scenarios = scenario_steps();
    assert!(scenarios.len() >= 7);
    let mut steps = BTreeSet::new();
    let mut pdus = BTreeSet::new();
    for (name, scenario) in &scenarios {
        let encoded = scenario.encode();
        assert_eq!(
            &Steps::from_bytes(&encoded),
            scenario,
            "{name} does not survive encoding"
        );
        steps.insert(encoded);
        for step in &scenario.0 {
            if let Step::Frame(body) = step {
                pdus.insert(body[1..].to_vec());
            }
        }
    }
    for target in ["frame", "node", "model"] {
        check_corpus(target, &steps);
    }
    check_corpus("request", &pdus);
}
