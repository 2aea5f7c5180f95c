//! The host simulation: the node's core in a process of its own, behind a
//! pty (see the `mbnode-sim` crate).
//!
//! The simulation prints its pty's path on its first line of output; hilt
//! opens it and keeps it open. A reset restarts the process, which gives a
//! fresh node on a fresh pty, as a power cycle would.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{spawn_child, still_running, stop_child, Tail, Target, TargetError};
use crate::crash::Evidence;
use crate::link::{SerialLink, Timing};

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start the simulation.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The program that runs the simulation (`hilt` itself, or `mbnode-sim`).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The UART's baud rate.
    pub baud: u32,
    /// Link timing.
    pub timing: Timing,
}

impl SimOptions {
    /// The simulation as a hidden subcommand of the `hilt` binary at `hilt`.
    pub fn hilt_binary(hilt: impl Into<PathBuf>) -> Self {
        SimOptions {
            program: hilt.into(),
            args: vec!["sim-node".into()],
            baud: 115_200,
            timing: Timing::default(),
        }
    }
}

/// A running simulation.
#[derive(Debug)]
pub struct SimTarget {
    options: SimOptions,
    child: Child,
    stderr: Tail,
    link: SerialLink,
}

impl SimTarget {
    /// Starts the simulation and connects to its pty.
    pub fn start(options: &SimOptions) -> Result<Self, TargetError> {
        let program = options.program.display().to_string();
        let mut command = Command::new(&options.program);
        command
            .args(&options.args)
            .arg(options.baud.to_string())
            // A panic's backtrace says in which function it happened.
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn_child(&mut command).map_err(|source| TargetError::Spawn {
            program: program.clone(),
            source,
        })?;
        let stderr = child.stderr.take().map(Tail::follow).unwrap_or_default();
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let _ = tx.send(lines.next());
                // Keep draining so the simulation never blocks on stdout.
                for _ in lines {}
            });
        }
        let started = std::time::Instant::now();
        let first_line = loop {
            match rx.recv_timeout(crate::interrupt::POLL) {
                Err(mpsc::RecvTimeoutError::Timeout)
                    if started.elapsed() < START_TIMEOUT && !crate::interrupt::requested() =>
                {
                    continue
                }
                other => break other,
            }
        };
        if crate::interrupt::requested() {
            stop_child(&mut child, Duration::from_millis(200));
            return Err(TargetError::Link(crate::link::LinkError::Interrupted));
        }
        let path = match first_line {
            Ok(Some(Ok(line))) if !line.trim().is_empty() => PathBuf::from(line.trim()),
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                stop_child(&mut child, Duration::from_millis(200));
                let status = child.wait().map_err(|source| TargetError::Spawn {
                    program: program.clone(),
                    source,
                })?;
                std::thread::sleep(Duration::from_millis(20));
                return Err(TargetError::Exited {
                    what: format!("the simulation ({program})"),
                    status,
                    stderr: stderr.text(),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                stop_child(&mut child, Duration::from_millis(200));
                return Err(TargetError::StartTimeout {
                    what: format!("the simulation ({program})"),
                    seconds: START_TIMEOUT.as_secs(),
                    stderr: stderr.text(),
                });
            }
        };
        match SerialLink::open(&path, options.baud) {
            Ok(link) => Ok(SimTarget {
                options: options.clone(),
                child,
                stderr,
                link,
            }),
            Err(e) => {
                stop_child(&mut child, Duration::from_millis(200));
                Err(e.into())
            }
        }
    }
}

impl Target for SimTarget {
    fn name(&self) -> &str {
        "sim"
    }

    fn link(&mut self) -> &mut SerialLink {
        &mut self.link
    }

    fn timing(&self) -> Timing {
        self.options.timing
    }

    fn reset(&mut self) -> Result<(), TargetError> {
        let fresh = SimTarget::start(&self.options)?;
        let mut old = std::mem::replace(self, fresh);
        old.shutdown()
    }

    fn check_alive(&mut self) -> Result<(), TargetError> {
        still_running(&mut self.child, "the simulation", &self.stderr)
    }

    fn post_mortem(&mut self) -> Result<Option<Evidence>, TargetError> {
        let Ok(Some(status)) = self.child.try_wait() else {
            return Ok(None);
        };
        // The reader of its standard error may still be collecting.
        let deadline = std::time::Instant::now() + Duration::from_millis(200);
        let mut stderr = self.stderr.text();
        while !self.stderr.closed() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            stderr = self.stderr.text();
        }
        Ok(Some(crate::crash::process_evidence(status, &stderr)))
    }

    fn sample_hang(&mut self) -> Result<Evidence, TargetError> {
        match super::sample_process(
            self.child.id(),
            "no answer, not even to a health request; the simulation runs",
        ) {
            Ok(evidence) => Ok(evidence),
            // It died as it was sampled: that is the evidence, of a crash.
            Err(super::SampleError::Ended(status)) => {
                std::thread::sleep(Duration::from_millis(50));
                Ok(crate::crash::process_evidence(status, &self.stderr.text()))
            }
            Err(super::SampleError::Failed(e)) => Err(TargetError::Spawn {
                program: "ptrace".into(),
                source: e.into(),
            }),
        }
    }

    fn shutdown(&mut self) -> Result<(), TargetError> {
        stop_child(&mut self.child, Duration::from_millis(500));
        Ok(())
    }
}

impl Drop for SimTarget {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
