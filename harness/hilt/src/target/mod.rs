//! Where the firmware runs: the [`Target`] trait and its implementations.
//!
//! | target | module | UART | reset |
//! | --- | --- | --- | --- |
//! | emulated board | [`qemu`] | QEMU's pty, found over QMP | QMP `system_reset` |
//! | host simulation | [`sim`] | the simulation's pty | restart the process |
//! | real board | [`board`] | its USB serial port, matched by the hardware map | probe-rs reset |
//!
//! Architecture Invariant: a target moves bytes and resets; it knows nothing
//! of the protocol spoken over its link.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::crash::{Evidence, FailureKind};
use crate::link::{LinkError, SerialLink, Timing};

pub mod board;
pub mod qemu;
pub mod sim;

/// Errors of starting, resetting and stopping targets.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The emulator is not installed.
    #[error("{program} was not found: install it (`apt-get install qemu-system-arm`) or pass --qemu PATH")]
    QemuNotFound {
        /// The program looked for.
        program: String,
    },
    /// The firmware image does not exist.
    #[error("firmware ELF {path} does not exist: build it with `hilt build` or pass --elf PATH")]
    ElfMissing {
        /// The missing file.
        path: std::path::PathBuf,
    },
    /// A program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A target's process ended while hilt needed it.
    #[error("{what} exited ({status}){}", last_words(.stderr))]
    Exited {
        /// Which process.
        what: String,
        /// How it ended.
        status: ExitStatus,
        /// Its last lines of standard error.
        stderr: String,
    },
    /// The target did not come up in time.
    #[error("{what} did not start within {seconds} s{}", last_words(.stderr))]
    StartTimeout {
        /// Which target.
        what: String,
        /// The limit.
        seconds: u64,
        /// Its last lines of standard error.
        stderr: String,
    },
    /// QEMU's machine protocol failed or answered something unexpected.
    #[error("QEMU machine protocol (QMP): {0}")]
    Qmp(String),
    /// The serial link failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A real board's probe, port or flashing failed.
    #[error("board {board}: {reason}")]
    Board {
        /// The board's name in the hardware map.
        board: String,
        /// What went wrong, with what was expected and what was found.
        reason: String,
    },
    /// Resets did not bring the device back.
    #[error("{target} did not recover: {attempts} resets, and it still does not answer a health request ({last})")]
    Unrecoverable {
        /// Which target.
        target: String,
        /// How many resets were tried.
        attempts: u32,
        /// What the last attempt saw.
        last: String,
    },
}

fn last_words(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {}", stderr.lines().last().unwrap_or_default())
    }
}

/// A running target: a device under test and the serial link to it.
///
/// Dropping a target shuts it down; [`Target::shutdown`] does the same and
/// reports errors.
pub trait Target: Send {
    /// A short name for messages and reports (`qemu`, `sim`, a board's name).
    fn name(&self) -> &str;

    /// The link to the device's UART.
    fn link(&mut self) -> &mut SerialLink;

    /// How long to wait for answers and silences on this target's link.
    fn timing(&self) -> Timing;

    /// Brings the device back to its reset state and returns when it can
    /// receive again. The link may be a new one afterwards.
    fn reset(&mut self) -> Result<(), TargetError>;

    /// Checks that the target is still running.
    fn check_alive(&mut self) -> Result<(), TargetError>;

    /// Makes sure the device ends the frame in progress before the next
    /// request arrives: called after sending bytes that get no answer
    /// (garbage, a broadcast), whose frame only a silence ends. The link
    /// listens for a quiet line before the next request. (Watching QEMU's
    /// UART FIFO over QMP as well was tried: polling QMP that often slowed a
    /// loaded emulator until requests went unanswered.)
    fn settle(&mut self) -> Result<(), TargetError> {
        self.link().settle_before_next();
        Ok(())
    }

    /// Stops the target and releases everything it holds.
    fn shutdown(&mut self) -> Result<(), TargetError>;

    /// Evidence of a crash, if the device has crashed since its last reset
    /// (a panic or fault record, a process that died); `None` if it shows
    /// no sign of one. Asked after a request got no answer or stray bytes.
    fn post_mortem(&mut self) -> Result<Option<Evidence>, TargetError> {
        Ok(None)
    }

    /// Where the device's program is now, as the evidence of a hang (it
    /// runs but answers nothing).
    fn sample_hang(&mut self) -> Result<Evidence, TargetError> {
        Ok(Evidence {
            kind: FailureKind::Hang,
            summary: "no answer, and the target cannot say where it is".into(),
            location: None,
            pc: None,
            details: Vec::new(),
        })
    }
}

/// Collects the last lines a child writes to a pipe, on a thread of its own,
/// so the child never blocks on a full pipe.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail(Arc<Mutex<Vec<String>>>, Arc<std::sync::atomic::AtomicBool>);

impl Tail {
    /// Enough for a panic's message and its backtrace's first frames.
    const LINES: usize = 200;

    pub(crate) fn follow(pipe: impl Read + Send + 'static) -> Self {
        let tail = Tail::default();
        let lines = tail.0.clone();
        let closed = tail.1.clone();
        std::thread::spawn(move || {
            let _closed = SetOnDrop(closed);
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
                if lines.len() == Self::LINES {
                    lines.remove(0);
                }
                lines.push(line);
            }
        });
        tail
    }

    /// Whether the pipe was closed and everything in it collected.
    pub(crate) fn closed(&self) -> bool {
        self.1.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
    }
}

struct SetOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Starts a child process that cannot outlive hilt.
///
/// The child gets its own process group, so a Ctrl-C on the terminal reaches
/// hilt alone and hilt shuts the child down in order; and the kernel kills it
/// (SIGKILL) when the thread that started it ends, so not even a SIGKILL of
/// hilt leaves it orphaned.
pub(crate) fn spawn_child(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid();
    command.process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, getppid); it touches no memory
    // shared with the parent.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            // The parent may have died before the line above took effect.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
    command.spawn()
}

/// `Ok` while `child` runs; once it has ended, the error that says how,
/// with its last words.
pub(crate) fn still_running(
    child: &mut Child,
    what: &str,
    stderr: &Tail,
) -> Result<(), TargetError> {
    match child.try_wait() {
        Ok(Some(status)) => Err(TargetError::Exited {
            what: what.to_owned(),
            status,
            stderr: stderr.text(),
        }),
        _ => Ok(()),
    }
}

/// Where a running host process is: its instruction pointer, read by
/// stopping it for an instant (ptrace, as a debugger samples a program),
/// symbolised against its executable. The evidence of a hang of the
/// simulation or of the native core.
/// Why a process could not be sampled.
#[derive(Debug)]
pub(crate) enum SampleError {
    /// It ended while being sampled, and this is how (the sampler reaped
    /// it: its parent's `try_wait` will not see it again).
    Ended(ExitStatus),
    Failed(nix::Error),
}

impl From<nix::Error> for SampleError {
    fn from(e: nix::Error) -> Self {
        SampleError::Failed(e)
    }
}

impl std::fmt::Display for SampleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SampleError::Ended(status) => write!(f, "it ended ({status})"),
            SampleError::Failed(e) => e.fmt(f),
        }
    }
}

pub(crate) fn sample_process(pid: u32, summary: &str) -> Result<Evidence, SampleError> {
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let symbols = exe.as_deref().and_then(|exe| {
        let base = crate::symbols::process_load_base(&maps, exe)?;
        Some((crate::symbols::Symbols::load(exe).ok()?, base))
    });
    // One sample may land in a helper the loop calls (a slice's `get`,
    // not inlined): the place is the function most samples land in,
    // standard library aside.
    let mut samples: Vec<(u64, Option<crate::crash::Location>)> = Vec::new();
    for attempt in 0..SAMPLES {
        if attempt > 0 {
            std::thread::sleep(Duration::from_micros(500));
        }
        let pc = sample_program_counter(pid)?;
        let location = symbols
            .as_ref()
            .and_then(|(s, base)| s.locate_spin(pc.checked_sub(*base)?));
        samples.push((pc, location));
    }
    let own = |l: &Option<crate::crash::Location>| {
        l.as_ref()
            .and_then(|l| l.function.clone())
            .filter(|f| !crate::symbols::is_library(f))
    };
    let mut votes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (_, l) in &samples {
        if let Some(f) = own(l) {
            *votes.entry(f).or_default() += 1;
        }
    }
    let winner = votes
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(f, _)| f.clone());
    let (pc, location) = samples
        .iter()
        .find(|(_, l)| own(l).is_some() && own(l) == winner)
        .or(samples.first())
        .cloned()
        .unwrap_or((0, None));
    Ok(Evidence {
        kind: FailureKind::Hang,
        summary: summary.to_owned(),
        details: vec![format!("pc={pc:#x}")],
        location,
        pc: Some(pc),
    })
}

/// Samples of a hung process's program counter, at most.
const SAMPLES: u32 = 8;

fn sample_program_counter(pid: nix::unistd::Pid) -> Result<u64, SampleError> {
    use nix::sys::ptrace;
    use nix::sys::wait::WaitStatus;
    use std::os::unix::process::ExitStatusExt;
    // An ended process that its parent has not reaped yet: leave it to
    // the parent, which reads how it ended.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    if state
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'))
    {
        return Err(SampleError::Failed(nix::errno::Errno::ESRCH));
    }
    ptrace::seize(pid, ptrace::Options::empty())?;
    let stopped = ptrace::interrupt(pid).and_then(|()| nix::sys::wait::waitpid(pid, None));
    let regs = match stopped {
        // It ended in between, and waiting reaped it: say how.
        Ok(WaitStatus::Exited(_, code)) => {
            return Err(SampleError::Ended(ExitStatus::from_raw(code << 8)))
        }
        Ok(WaitStatus::Signaled(_, signal, _)) => {
            return Err(SampleError::Ended(ExitStatus::from_raw(signal as i32)))
        }
        Ok(_) => ptrace::getregs(pid),
        Err(e) => Err(e),
    };
    let _ = ptrace::detach(pid, None);
    let regs = regs?;
    #[cfg(target_arch = "x86_64")]
    return Ok(regs.rip);
    #[cfg(target_arch = "aarch64")]
    return Ok(regs.pc);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = regs;
        Err(SampleError::Failed(nix::errno::Errno::ENOSYS))
    }
}

/// Asks a child to stop with SIGTERM, then kills it if it is still there
/// after `grace`.
pub(crate) fn stop_child(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}
