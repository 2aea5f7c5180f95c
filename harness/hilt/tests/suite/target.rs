//! The target under test, from `HILT_TARGET`.

use std::path::PathBuf;
use std::time::Duration;

use hilt::firmware::{self, LM3S6965EVB};
use hilt::link::Timing;
use hilt::target::qemu::{find_qemu, QemuOptions, QemuTarget, DEFAULT_QEMU};
use hilt::target::sim::{SimOptions, SimTarget};
use hilt::target::Target;

/// Generous for a loaded 2-core machine; answers that do not come cost
/// only `hilt::suite::QUIET`.
pub const TIMING: Timing = Timing {
    response_timeout: Duration::from_millis(1000),
    silence: Duration::from_millis(20),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Qemu,
    Sim,
}

pub fn kind() -> Kind {
    match std::env::var("HILT_TARGET").as_deref() {
        Ok("sim") => Kind::Sim,
        Ok("qemu") | Ok("") | Err(_) => Kind::Qemu,
        Ok(other) => panic!("HILT_TARGET={other}: use qemu or sim"),
    }
}

/// The Device Identification ModelName of the target.
pub fn model_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Qemu => LM3S6965EVB.name,
        Kind::Sim => mbnode_sim::MODEL_NAME,
    }
}

pub fn source_root() -> PathBuf {
    firmware::source_root().expect("the source tree")
}

/// Starts the target; `elf` replaces the firmware under test on QEMU.
pub fn start(kind: Kind, elf: Option<PathBuf>) -> Box<dyn Target> {
    match kind {
        Kind::Qemu => {
            if let Err(e) = find_qemu(DEFAULT_QEMU) {
                panic!("{e}; `ci/test` installs it");
            }
            let elf = elf
                .unwrap_or_else(|| firmware::build(&LM3S6965EVB).unwrap_or_else(|e| panic!("{e}")));
            let mut options = QemuOptions::new(elf);
            options.timing = TIMING;
            Box::new(QemuTarget::start(&options).expect("starting QEMU"))
        }
        Kind::Sim => {
            let mut options = SimOptions::hilt_binary(env!("CARGO_BIN_EXE_hilt"));
            options.timing = TIMING;
            Box::new(SimTarget::start(&options).expect("starting the simulation"))
        }
    }
}

/// A number from the environment, or `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// The seed: `HILT_SEED`, or a fresh one from the clock.
pub fn seed() -> u64 {
    env_number(
        "HILT_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    )
}
