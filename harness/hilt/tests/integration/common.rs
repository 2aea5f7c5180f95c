//! Shared by the integration tests: starting targets, sending requests.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use hilt::firmware::{self, LM3S6965EVB};
use hilt::link::Timing;
use hilt::script::{self, Step};
use hilt::session::{self, Transaction};
use hilt::target::qemu::{find_qemu, QemuOptions, QemuTarget, DEFAULT_QEMU};
use hilt::target::sim::{SimOptions, SimTarget};
use hilt::target::Target;
use hilt_modbus::ModbusRtu;

/// Which target a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Qemu,
    Sim,
}

/// Generous enough for a loaded 2-core CI machine; every silent request
/// costs this much.
pub const TIMING: Timing = Timing {
    response_timeout: Duration::from_millis(400),
    silence: Duration::from_millis(20),
};

/// The `hilt` binary under test.
pub fn hilt_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hilt"))
}

/// Runs hilt; returns (exit code, stdout, stderr).
pub fn run_hilt(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(hilt_bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running hilt");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The emulated board's firmware, built once per test run.
pub fn firmware_elf() -> PathBuf {
    static ELF: OnceLock<PathBuf> = OnceLock::new();
    ELF.get_or_init(|| {
        firmware::build(&LM3S6965EVB).unwrap_or_else(|e| panic!("building the firmware: {e}"))
    })
    .clone()
}

/// Fails with instructions when QEMU is missing: the emulated board is the
/// default target and must always be tested.
pub fn require_qemu() {
    if let Err(e) = find_qemu(DEFAULT_QEMU) {
        panic!("{e}; `ci/test` installs it");
    }
}

pub fn start(kind: Kind) -> Box<dyn Target> {
    match kind {
        Kind::Qemu => {
            require_qemu();
            let mut options = QemuOptions::new(firmware_elf());
            options.timing = TIMING;
            Box::new(QemuTarget::start(&options).expect("starting QEMU"))
        }
        Kind::Sim => {
            let mut options = SimOptions::hilt_binary(hilt_bin());
            options.timing = TIMING;
            Box::new(SimTarget::start(&options).expect("starting the simulation"))
        }
    }
}

pub fn protocol() -> ModbusRtu {
    ModbusRtu { default_unit: 1 }
}

/// Runs script lines; returns every transaction (resets are not listed).
pub fn run(target: &mut dyn Target, lines: &str) -> Vec<Transaction> {
    let protocol = protocol();
    let steps = script::parse(&protocol, "test", lines.lines()).expect("script parses");
    let mut scratch = Vec::new();
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Reset => target.reset().expect("reset"),
            Step::Request(r) => out
                .push(session::transact(&protocol, target, &r, &mut scratch).expect("transaction")),
        }
    }
    out
}

/// Sends one request and returns its decoded response text.
pub fn ask(target: &mut dyn Target, line: &str) -> String {
    let t = run(target, line).pop().expect("one request");
    assert!(t.well_formed(), "malformed answer to {line}: {t:?}");
    t.decoded.text
}
