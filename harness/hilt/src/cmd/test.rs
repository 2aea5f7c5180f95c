//! `hilt test`: the device suites (properties against the reference model,
//! scenario snapshots) on a target.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};
use clap::Args;
use hilt::firmware;

use super::TargetKind;

/// Run the device suites on a target: saved failing sequences, random
/// request sequences checked against the reference model (shrunk on the
/// device and saved to fixtures/sequences/ when one fails), and every
/// scenario in fixtures/scenarios/ checked against the model and its
/// snapshot.
///
/// The suites are the `suite` test binary of the hilt crate; this command
/// runs it with cargo (cargo-nextest when it is installed) from hilt's
/// source tree.
#[derive(Debug, Args)]
pub struct TestCmd {
    /// Where the firmware runs.
    #[arg(long, value_enum, default_value_t = TargetKind::Qemu, env = "HILT_TARGET")]
    target: TargetKind,

    /// Random sequences to try (few for a slow target, more for the
    /// simulation); the suite's default when not given.
    #[arg(long, value_name = "N")]
    cases: Option<u32>,

    /// Seed of the random sequences, to repeat a run.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,

    /// Write a JUnit XML report to FILE (needs cargo-nextest).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

fn has_nextest(cargo: &std::ffi::OsStr) -> bool {
    Command::new(cargo)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl TestCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let root = firmware::source_root()?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let nextest = has_nextest(&cargo);
        if self.junit.is_some() && !nextest {
            bail!(hilt::script::ScriptError::whole(
                "--junit",
                "needs cargo-nextest: cargo install cargo-nextest --locked"
            ));
        }
        let mut command = Command::new(&cargo);
        if nextest {
            command.args(["nextest", "run", "--profile", "hilt", "--no-tests", "fail"]);
        } else {
            command.arg("test");
        }
        command
            .args(["-p", "hilt", "--test", "suite"])
            .current_dir(&root)
            .env(
                "HILT_TARGET",
                match self.target {
                    TargetKind::Qemu => "qemu",
                    TargetKind::Sim => "sim",
                },
            )
            .env("INSTA_UPDATE", "no");
        if let Some(cases) = self.cases {
            command.env("PROPTEST_CASES", cases.to_string());
        }
        if let Some(seed) = self.seed {
            command.env("HILT_SEED", seed.to_string());
        }
        if !nextest {
            command.args(["--", "--nocapture", "--test-threads", "1"]);
        }
        let status = command.status().context("cannot run cargo")?;
        if let Some(junit) = &self.junit {
            let report = firmware::target_dir(&root).join("nextest/hilt/junit.xml");
            std::fs::copy(&report, junit).with_context(|| {
                format!("cannot copy {} to {}", report.display(), junit.display())
            })?;
            eprintln!("hilt: JUnit report in {}", junit.display());
        }
        Ok(if status.success() {
            hilt::exit::SUCCESS
        } else {
            hilt::exit::DEVICE
        })
    }
}
