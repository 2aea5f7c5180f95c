//! The emulated board: the firmware's ELF on QEMU's `lm3s6965evb`.
//!
//! Start-up order matters. QEMU's `-serial pty` throws away what the guest
//! sends while no one has the pty open, and again after a reader closes it.
//! So QEMU starts paused (`-S`), hilt asks QMP which pty the UART got, opens
//! it and keeps it open for the emulated board's whole life, and only then
//! lets the CPU run (`cont`).
//!
//! Opening the pty is not enough: QEMU's pty backend notices a new reader
//! only on a one-second timer, and until then neither reads what is written
//! to the pty nor passes on what the guest sends. So, still paused, hilt
//! writes one sync byte and watches the UART's flag register (over QMP)
//! until the byte reaches the UART's receive FIFO: from then on QEMU moves
//! bytes both ways. The firmware discards whatever sits in the FIFO when it
//! sets up its UART, sync byte included.
//!
//! Resets go through QMP's `system_reset`, which resets the CPU and devices
//! but not RAM (so the firmware's crash record survives), and reloads the
//! image. hilt waits for QEMU's `RESET` event, then until the firmware says
//! its UART is set up: a request sent earlier could be discarded with the
//! receive FIFO's stale bytes (QEMU 7.2's PL011 keeps its FIFO and its
//! registers across a reset). The firmware under test says so by writing its
//! boot count to `HILT_READY` (found by its ELF symbol); hilt reads it before
//! the reset and waits for a new, non-zero value. The same wait follows the
//! first `cont`. A foreign ELF without the symbol is taken as ready once its
//! UART receive interrupt is unmasked, which is only meaningful at start-up.

use std::io::BufRead;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qapi::{qmp, Qmp};

use super::{spawn_child, still_running, stop_child, Tail, Target, TargetError};
use crate::interrupt;
use crate::link::{SerialLink, Timing};

/// The QEMU program used unless told otherwise.
pub const DEFAULT_QEMU: &str = "qemu-system-arm";
/// The emulated board.
pub const MACHINE: &str = "lm3s6965evb";

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// UART0 of the lm3s6965evb, an ARM PL011: the flag register and its
/// receive-FIFO-empty bit.
const UART0_FR: u32 = 0x4000_C018;
const FR_RXFE: u32 = 1 << 4;
/// The interrupt mask register and its receive-interrupt bit.
const UART0_IMSC: u32 = 0x4000_C038;
const IMSC_RXIM: u32 = 1 << 4;
const QMP_TIMEOUT: Duration = Duration::from_secs(5);

type QmpStream = Qmp<qapi::Stream<std::io::BufReader<UnixStream>, UnixStream>>;

/// Finds the QEMU program: a path as given, or a name on `PATH`.
pub fn find_qemu(program: &str) -> Result<PathBuf, TargetError> {
    let not_found = || TargetError::QemuNotFound {
        program: program.to_owned(),
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(not_found())
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or_else(not_found)
}

/// How to start the emulated board.
#[derive(Debug, Clone)]
pub struct QemuOptions {
    /// The QEMU program (a name on `PATH` or a path).
    pub qemu: String,
    /// The firmware ELF.
    pub elf: PathBuf,
    /// The UART's baud rate (QEMU's pty ignores it; the link records it).
    pub baud: u32,
    /// Link timing.
    pub timing: Timing,
}

impl QemuOptions {
    /// Options for `elf` with the defaults.
    pub fn new(elf: impl Into<PathBuf>) -> Self {
        QemuOptions {
            qemu: DEFAULT_QEMU.to_owned(),
            elf: elf.into(),
            baud: 115_200,
            timing: Timing::default(),
        }
    }
}

/// A running emulated board.
#[derive(Debug)]
pub struct QemuTarget {
    child: Child,
    qmp: Option<QmpStreamDebug>,
    readiness: Readiness,
    link: SerialLink,
    stderr: Tail,
    timing: Timing,
    elf: PathBuf,
    /// The crash record's address, from the ELF's symbols (`None`: a
    /// firmware without one).
    record: Option<u64>,
    /// The firmware's debug information, loaded at the first crash or hang.
    symbols: Option<crate::symbols::Symbols>,
    // Holds the QMP socket; removed on drop.
    _dir: tempfile::TempDir,
}

/// `Qmp` is not `Debug`; this wrapper is.
struct QmpStreamDebug(QmpStream);

impl std::fmt::Debug for QmpStreamDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Qmp")
    }
}

fn qmp_error(what: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Qmp(format!("{what}: {e}"))
}

/// Reads a 32-bit word of the machine's physical address space (device
/// registers included) through the human monitor's `xp`, which has no side
/// effects on the registers hilt reads.
fn read_word(qmp: &mut QmpStream, address: u32) -> Result<u32, TargetError> {
    let line = qmp
        .execute(&qmp::human_monitor_command {
            command_line: format!("xp /1wx {address:#x}"),
            cpu_index: None,
        })
        .map_err(|e| qmp_error("xp", e))?;
    // "000000004000c018: 0x00000090"
    line.rsplit_once("0x")
        .and_then(|(_, hex)| u32::from_str_radix(hex.trim(), 16).ok())
        .ok_or_else(|| qmp_error("xp", format!("unexpected answer {line:?}")))
}

/// Polls a word until `done` says so.
fn wait_for_word(
    qmp: &mut QmpStream,
    address: u32,
    done: impl Fn(u32) -> bool,
    limit: Duration,
) -> Result<(), TargetError> {
    let deadline = Instant::now() + limit;
    loop {
        if done(read_word(qmp, address)?) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(TargetError::Qmp(format!(
                "word at {address:#x} did not change within {} s",
                limit.as_secs()
            )));
        }
        if interrupt::requested() {
            return Err(TargetError::Link(crate::link::LinkError::Interrupted));
        }
        // Each poll is a round trip through QEMU's main loop: keep them
        // sparse enough not to slow the emulator they wait for.
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How hilt tells that the firmware has set up its UART.
#[derive(Debug, Clone, Copy)]
enum Readiness {
    /// `HILT_READY` at this address holds the boot count of the boot whose
    /// UART is set up (0 before).
    Marker(u32),
    /// A foreign firmware: the UART's receive interrupt is unmasked.
    InterruptMask,
}

impl Readiness {
    fn of(elf: &Path) -> Result<Self, TargetError> {
        match crate::firmware::symbol(elf, "HILT_READY") {
            Ok(Some(address)) => u32::try_from(address)
                .map(Readiness::Marker)
                .map_err(|_| qmp_error("HILT_READY", "address beyond 32 bits")),
            Ok(None) => Ok(Readiness::InterruptMask),
            Err(e) => Err(qmp_error("reading the ELF's symbols", e)),
        }
    }

    /// What the marker says now (0 for the interrupt-mask kind).
    fn current(self, qmp: &mut QmpStream) -> Result<u32, TargetError> {
        match self {
            Readiness::Marker(address) => read_word(qmp, address),
            Readiness::InterruptMask => Ok(0),
        }
    }

    /// Waits until the firmware has set up its UART since the marker read
    /// `before` (see the module docs).
    fn wait(self, qmp: &mut QmpStream, before: u32) -> Result<(), TargetError> {
        let result = match self {
            Readiness::Marker(address) => wait_for_word(
                qmp,
                address,
                |boot| boot != 0 && boot != before,
                QMP_TIMEOUT,
            ),
            Readiness::InterruptMask => {
                wait_for_word(qmp, UART0_IMSC, |imsc| imsc & IMSC_RXIM != 0, QMP_TIMEOUT)
            }
        };
        result.map_err(|e| qmp_error("waiting for the firmware to set up its UART", e))
    }
}

impl QemuTarget {
    /// Boots the firmware on the emulated board and connects to its UART.
    pub fn start(options: &QemuOptions) -> Result<Self, TargetError> {
        if !options.elf.is_file() {
            return Err(TargetError::ElfMissing {
                path: options.elf.clone(),
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("hilt-qemu-")
            .tempdir()
            .map_err(|e| qmp_error("cannot create a directory for the QMP socket", e))?;
        let socket = dir.path().join("qmp.sock");
        let mut command = Command::new(&options.qemu);
        command
            .args(["-machine", MACHINE, "-nodefaults", "-display", "none"])
            .args(["-serial", "pty", "-S"])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", socket.display()))
            .arg("-kernel")
            .arg(&options.elf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = spawn_child(&mut command).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                TargetError::QemuNotFound {
                    program: options.qemu.clone(),
                }
            } else {
                TargetError::Spawn {
                    program: options.qemu.clone(),
                    source,
                }
            }
        })?;
        let stderr = match child.stderr.take() {
            Some(pipe) => Tail::follow(pipe),
            None => Tail::default(),
        };
        let readiness = Readiness::of(&options.elf)?;
        let record = crate::firmware::symbol(&options.elf, crate::crash::RECORD_SYMBOL)
            .map_err(|e| qmp_error("reading the ELF's symbols", e))?;
        match Self::connect(&mut child, &socket, &stderr, options, readiness) {
            Ok((qmp, link)) => Ok(QemuTarget {
                child,
                qmp: Some(QmpStreamDebug(qmp)),
                readiness,
                link,
                stderr,
                timing: options.timing,
                elf: options.elf.clone(),
                record,
                symbols: None,
                _dir: dir,
            }),
            Err(e) => {
                stop_child(&mut child, Duration::from_millis(500));
                Err(e)
            }
        }
    }

    fn connect(
        child: &mut Child,
        socket: &Path,
        stderr: &Tail,
        options: &QemuOptions,
        readiness: Readiness,
    ) -> Result<(QmpStream, SerialLink), TargetError> {
        let started = Instant::now();
        let stream = loop {
            if let Some(status) = child.try_wait().ok().flatten() {
                // Give the stderr reader a moment to collect QEMU's message.
                std::thread::sleep(Duration::from_millis(50));
                return Err(TargetError::Exited {
                    what: "QEMU".into(),
                    status,
                    stderr: stderr.text(),
                });
            }
            if let Ok(stream) = UnixStream::connect(socket) {
                break stream;
            }
            if interrupt::requested() {
                return Err(TargetError::Link(crate::link::LinkError::Interrupted));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(TargetError::StartTimeout {
                    what: "QEMU".into(),
                    seconds: START_TIMEOUT.as_secs(),
                    stderr: stderr.text(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let io = |e| qmp_error("socket", e);
        stream.set_read_timeout(Some(QMP_TIMEOUT)).map_err(io)?;
        let reader = std::io::BufReader::new(stream.try_clone().map_err(io)?);
        let mut qmp = Qmp::new(qapi::Stream::new(reader, stream));
        // The greeting is read by hand: qapi's own reader panics when QEMU
        // closes the socket instead of greeting.
        let mut greeting = String::new();
        let n = qmp
            .inner_mut()
            .read_line(&mut greeting)
            .map_err(|e| qmp_error("reading the greeting", e))?;
        if n == 0 || !greeting.contains("\"QMP\"") {
            return Err(qmp_error("unexpected greeting", greeting.trim()));
        }
        qmp.execute(&qmp::qmp_capabilities { enable: None })
            .map_err(|e| qmp_error("qmp_capabilities", e))?;
        let chardevs = qmp
            .execute(&qmp::query_chardev {})
            .map_err(|e| qmp_error("query-chardev", e))?;
        let pty = chardevs
            .iter()
            .find(|c| c.label == "serial0")
            .and_then(|c| c.filename.strip_prefix("pty:"))
            .ok_or_else(|| qmp_error("query-chardev", "serial0 is not on a pty"))?;
        // Open the pty before the CPU runs, and make sure QEMU has noticed:
        // see the module docs.
        let mut link = SerialLink::open(Path::new(pty), options.baud)?;
        link.send(&[0x00])?;
        wait_for_word(&mut qmp, UART0_FR, |fr| fr & FR_RXFE == 0, START_TIMEOUT)
            .map_err(|e| qmp_error("waiting for QEMU to connect the UART's pty", e))?;
        let before = readiness.current(&mut qmp)?;
        qmp.execute(&qmp::cont {})
            .map_err(|e| qmp_error("cont", e))?;
        readiness.wait(&mut qmp, before)?;
        link.clear_input()?;
        Ok((qmp, link))
    }

    fn qmp(&mut self) -> Result<&mut QmpStream, TargetError> {
        match self.qmp.as_mut() {
            Some(q) => Ok(&mut q.0),
            None => Err(TargetError::Qmp("the connection was lost".into())),
        }
    }

    /// Runs a QMP command; a broken connection is dropped, so later calls
    /// fail fast instead of waiting on a dead socket.
    fn execute<C: qapi::Command>(&mut self, command: &C) -> Result<C::Ok, TargetError> {
        let result = self.qmp()?.execute(command);
        result.map_err(|e| {
            if let qapi::ExecuteError::Io(_) = e {
                self.qmp = None;
            }
            qmp_error(C::NAME, e)
        })
    }

    /// Reads `len` bytes of the machine's memory from `address`, through
    /// QMP's `pmemsave` (to a file in the target's private directory).
    pub fn read_memory(&mut self, address: u64, len: u64) -> Result<Vec<u8>, TargetError> {
        let file = self._dir.path().join("memory.bin");
        self.execute(&qmp::pmemsave {
            val: address,
            size: len,
            filename: file.to_string_lossy().into_owned(),
        })?;
        let bytes = std::fs::read(&file).map_err(|e| qmp_error("pmemsave", e))?;
        let _ = std::fs::remove_file(&file);
        Ok(bytes)
    }
}

impl QemuTarget {
    fn symbols(&mut self) -> Option<&crate::symbols::Symbols> {
        if self.symbols.is_none() {
            self.symbols = crate::symbols::Symbols::load(&self.elf).ok();
        }
        self.symbols.as_ref()
    }

    /// The firmware's crash record, if the ELF has one.
    pub fn crash_record(&mut self) -> Result<Option<crate::crash::CrashRecord>, TargetError> {
        let Some(address) = self.record else {
            return Ok(None);
        };
        let bytes = self.read_memory(address, crate::crash::RECORD_LEN)?;
        Ok(crate::crash::CrashRecord::parse(&bytes))
    }

    /// The CPU's program counter, from the human monitor's `info registers`.
    pub fn program_counter(&mut self) -> Result<u32, TargetError> {
        let registers = self.execute(&qmp::human_monitor_command {
            command_line: "info registers".into(),
            cpu_index: None,
        })?;
        registers
            .split_whitespace()
            .find_map(|field| field.strip_prefix("R15="))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .ok_or_else(|| qmp_error("info registers", "no R15 in the answer"))
    }
}

impl Target for QemuTarget {
    fn name(&self) -> &str {
        "qemu"
    }

    fn link(&mut self) -> &mut SerialLink {
        &mut self.link
    }

    fn timing(&self) -> Timing {
        self.timing
    }

    fn post_mortem(&mut self) -> Result<Option<crate::crash::Evidence>, TargetError> {
        self.check_alive()?;
        let Some(record) = self.crash_record()? else {
            return Ok(None);
        };
        if !record.crashed_this_boot() {
            return Ok(None);
        }
        let symbols = self.symbols();
        Ok(Some(crate::crash::record_evidence(&record, symbols)))
    }

    fn sample_hang(&mut self) -> Result<crate::crash::Evidence, TargetError> {
        self.check_alive()?;
        let pc = self.program_counter()?;
        let location = self.symbols().and_then(|s| s.locate_spin(u64::from(pc)));
        Ok(crate::crash::Evidence {
            kind: crate::crash::FailureKind::Hang,
            summary: "no answer, not even to a health request; the CPU runs".into(),
            details: vec![format!("pc={pc:#010x}")],
            location,
            pc: Some(u64::from(pc)),
        })
    }

    fn reset(&mut self) -> Result<(), TargetError> {
        self.check_alive()?;
        // Events that came before this reset must not satisfy the wait.
        self.qmp()?.events().for_each(drop);
        let readiness = self.readiness;
        let before = readiness.current(self.qmp()?)?;
        self.execute(&qmp::system_reset {})?;
        let deadline = Instant::now() + QMP_TIMEOUT;
        loop {
            let reset = self
                .qmp()?
                .events()
                .any(|e| matches!(e, qmp::Event::RESET { .. }));
            if reset {
                break;
            }
            if Instant::now() > deadline {
                return Err(TargetError::Qmp("no RESET event after system_reset".into()));
            }
            // A round trip collects the events QEMU sent meanwhile.
            std::thread::sleep(Duration::from_millis(1));
            self.execute(&qmp::query_status {})?;
        }
        let ready = readiness.wait(self.qmp()?, before);
        if let Err(TargetError::Qmp(_)) = ready {
            // A broken connection must not be reused.
            self.check_alive()?;
        }
        ready?;
        self.link.clear_input()?;
        Ok(())
    }

    fn check_alive(&mut self) -> Result<(), TargetError> {
        still_running(&mut self.child, "QEMU", &self.stderr)
    }

    fn shutdown(&mut self) -> Result<(), TargetError> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Ok(());
        }
        if self.qmp.is_some() {
            // `quit` may close the socket before it answers.
            let _ = self.execute(&qmp::quit {});
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        stop_child(&mut self.child, Duration::from_millis(500));
        Ok(())
    }
}

impl Drop for QemuTarget {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
