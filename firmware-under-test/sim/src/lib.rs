//! The host simulation: the node's core behind a host pseudo-terminal.
//!
//! It runs the very [`Receiver`] and [`Node`] the firmware runs, with the same
//! framing behaviour (early completion by length and CRC, t3.5 silence), so
//! that hilt can exercise everything with no emulator at all. Its "UART" is
//! the slave side of a pty: the path is printed on start, and any program
//! that can open a serial port can talk to it.
//!
//! The simulation keeps a descriptor of the slave side open itself, in raw
//! mode. Without it, the pty would hang up each time the last client closes
//! it (losing whatever was in flight); with it, clients may open and close
//! the port as often as they like.
//!
//! Architecture Invariant: the simulation knows the core and the pty, nothing
//! of hilt; hilt drives it only through its serial port and its process.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mbnode_core::frame::MAX_ADU;
use mbnode_core::node::{Node, NodeConfig};
use mbnode_core::rtu::{silence_us, Received, Receiver};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::openpty;
use nix::sys::termios::{self, SetArg};
use nix::unistd::{read, ttyname, write};

/// The Device Identification ModelName the simulation reports.
pub const MODEL_NAME: &str = "host-sim";

/// How to run the simulation.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Baud rate the silence (t3.5) is derived from.
    pub baud: u32,
    /// Test only: act on the crash trigger's requests (see [`crash_trigger`]).
    pub crash_trigger: bool,
    /// Benchmarks only: no node, every byte received is sent back (the
    /// link's practical limit).
    pub echo: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            baud: 115_200,
            crash_trigger: false,
            echo: false,
        }
    }
}

/// A simulated node on a fresh pseudo-terminal.
#[derive(Debug)]
pub struct Simulation {
    master: OwnedFd,
    /// Held open for the life of the simulation; see the module docs.
    _slave: OwnedFd,
    path: PathBuf,
    receiver: Receiver,
    node: Node,
    started: Instant,
    crash_trigger: bool,
    echo: bool,
}

impl Simulation {
    /// Opens a pty in raw mode and a node in its reset state.
    pub fn new(options: &SimOptions) -> io::Result<Self> {
        let pty = openpty(None, None)?;
        let path = ttyname(&pty.slave)?;
        let mut attrs = termios::tcgetattr(&pty.slave)?;
        termios::cfmakeraw(&mut attrs);
        termios::tcsetattr(&pty.slave, SetArg::TCSANOW, &attrs)?;
        Ok(Simulation {
            master: pty.master,
            _slave: pty.slave,
            path,
            receiver: Receiver::new(silence_us(options.baud)),
            node: Node::new(NodeConfig {
                model_name: MODEL_NAME,
            }),
            started: Instant::now(),
            crash_trigger: options.crash_trigger,
            echo: options.echo,
        })
    }

    /// The serial device a master opens to talk to the node.
    pub fn path(&self) -> &PathBuf {
        &self.path
    }

    fn now_us(&self) -> u32 {
        // Wrapping, as the firmware's clock: only differences matter.
        self.started.elapsed().as_micros() as u32
    }

    /// Serves requests until the pty fails.
    pub fn run(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 512];
        loop {
            let now = self.now_us();
            // poll() counts whole milliseconds: round up, or the loop would
            // spin through the last fraction of a millisecond.
            let timeout = match self.receiver.until_silence(now) {
                Some(us) => {
                    PollTimeout::try_from(us.div_ceil(1000).max(1)).unwrap_or(PollTimeout::MAX)
                }
                None => PollTimeout::NONE,
            };
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let readable = fds[0]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLIN));
            let now = self.now_us();
            if readable {
                let n = match read(&self.master, &mut buf) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
                    Err(e) => return Err(e.into()),
                };
                if self.echo {
                    write_all(&self.master, &buf[..n])?;
                    continue;
                }
                for &byte in &buf[..n] {
                    let Simulation {
                        receiver,
                        node,
                        master,
                        started,
                        crash_trigger,
                        ..
                    } = self;
                    let uptime_ms = started.elapsed().as_millis() as u32;
                    let mut result = Ok(());
                    receiver.feed(byte, now, |frame| {
                        if *crash_trigger {
                            crash_trigger::act_on(&frame);
                        }
                        if result.is_ok() {
                            result = answer(node, master, frame, uptime_ms);
                        }
                    });
                    result?;
                }
            } else {
                let uptime_ms = self.started.elapsed().as_millis() as u32;
                if let Some(frame) = self.receiver.poll(now) {
                    if self.crash_trigger {
                        crash_trigger::act_on(&frame);
                    }
                    answer(&mut self.node, &self.master, frame, uptime_ms)?;
                }
            }
        }
    }
}

/// Test only: crashes on request, as the firmware's `crash-trigger` feature
/// does, so that the harness's crash and hang detection can be tested on
/// the simulation too. The request is a frame for unit 0xFF with function
/// 0x66 and one data byte, with its correct CRC: 0x01 panics; 0x02 is the
/// simulation's processor fault: it reports the fault on standard error as
/// the firmware's fault handler reports one on its UART
/// (`HILT-CRASH fault ...` with the faulting function and source line)
/// and aborts (SIGABRT); 0x03 spins forever.
pub mod crash_trigger {
    use mbnode_core::frame::crc_ok;
    use mbnode_core::rtu::Received;

    /// Acts on a trigger request; returns for any other frame.
    pub fn act_on(frame: &Received<'_>) {
        let Received::Frame(bytes) = frame else {
            return;
        };
        if !crc_ok(bytes) {
            return;
        }
        match bytes {
            [0xFF, 0x66, 0x01, _, _] => panic!("crash trigger: panic requested"),
            [0xFF, 0x66, 0x02, _, _] => fault("bad memory access requested"),
            [0xFF, 0x66, 0x03, _, _] => hang(),
            _ => {}
        }
    }

    #[inline(never)]
    #[track_caller]
    fn fault(what: &str) -> ! {
        let at = std::panic::Location::caller();
        eprintln!(
            "HILT-CRASH fault in mbnode_sim::crash_trigger::act_on at {}:{}: {what}",
            at.file(),
            at.line()
        );
        std::process::abort()
    }

    #[inline(never)]
    fn hang() -> ! {
        loop {
            std::hint::spin_loop();
        }
    }
}

fn answer(
    node: &mut Node,
    master: &OwnedFd,
    frame: Received<'_>,
    uptime_ms: u32,
) -> io::Result<()> {
    let mut out = [0u8; MAX_ADU];
    if let Some(len) = node.handle(frame, uptime_ms, &mut out) {
        write_all(master, &out[..len])?;
    }
    Ok(())
}

fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => std::thread::sleep(Duration::from_micros(200)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Runs a simulation: prints its serial device path as the first line of
/// standard output, then serves until killed.
pub fn main_with(options: &SimOptions) -> io::Result<()> {
    use std::io::Write;
    let mut sim = Simulation::new(options)?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{}", sim.path().display())?;
    stdout.flush()?;
    drop(stdout);
    sim.run()
}

/// Native replay: the node's core run straight from a list of bursts, with
/// no pty and no clock, for `hilt replay --target native`.
///
/// Each line read is a burst of bytes in hex (`01 03 00 00 00 01 84 0A`),
/// or `reset`. Every burst goes through the receiver as the firmware frames
/// it: all its bytes at one instant, then a silence. For each line the
/// replay writes the node's answers, one `< HEX` line each, then one
/// `= STATE` line with what a master can observe of the node (see
/// [`state_line`]); a reset writes `= STATE` alone. A panic or a hang of
/// the core ends the process or stalls it, which is what the harness
/// watching it looks for.
pub fn replay(
    input: impl io::BufRead,
    mut out: impl io::Write,
    options: &SimOptions,
) -> io::Result<()> {
    let silence = silence_us(options.baud);
    let mut receiver = Receiver::new(silence);
    let mut node = Node::new(NodeConfig {
        model_name: MODEL_NAME,
    });
    let mut now = 0u32;
    for line in input.lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "reset" {
            node.reset();
            receiver = Receiver::new(silence);
        } else {
            let burst = parse_hex(line).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not hex bytes: {line:?}"),
                )
            })?;
            let mut answers: Vec<Vec<u8>> = Vec::new();
            let mut answer = |frame: Received<'_>, node: &mut Node| {
                if options.crash_trigger {
                    crash_trigger::act_on(&frame);
                }
                let mut buf = [0u8; MAX_ADU];
                if let Some(n) = node.handle(frame, 0, &mut buf) {
                    answers.push(buf[..n].to_vec());
                }
            };
            for &byte in &burst {
                receiver.feed(byte, now, |frame| answer(frame, &mut node));
            }
            now = now.wrapping_add(2 * silence);
            if let Some(frame) = receiver.poll(now) {
                answer(frame, &mut node);
            }
            for a in &answers {
                writeln!(out, "< {}", hex(a))?;
            }
        }
        writeln!(out, "= {}", state_line(&node))?;
        out.flush()?;
    }
    Ok(())
}

/// What a master can observe of the node, on one line: the lock, the
/// listen-only mode, the unit id, the coils, the six counters and the
/// holding registers 0x0000..0x0050, 0x0100, 0x0101 and 0x0110 (`-` where
/// there is none), e.g. `lock=locked listen=0 unit=1 coils=00000000
/// counters=0,0,0,0,0,0 holding=0000,...`.
pub fn state_line(node: &Node) -> String {
    use mbnode_core::node::Lock;
    let lock = match node.lock() {
        Lock::Locked => "locked",
        Lock::Armed => "armed",
        Lock::Unlocked => "unlocked",
    };
    let c = node.counters();
    let holding: Vec<String> = (0x0000..0x0050)
        .chain([0x0100, 0x0101, 0x0110])
        .map(|a| match node.holding(a) {
            Some(v) => format!("{v:04X}"),
            None => "-".into(),
        })
        .collect();
    format!(
        "lock={lock} listen={} unit={} coils={:08X} counters={},{},{},{},{},{} holding={}",
        u8::from(node.listen_only()),
        node.unit_id(),
        node.coils(),
        c.bus_messages,
        c.comm_errors,
        c.exceptions,
        c.server_messages,
        c.no_response,
        c.overruns,
        holding.join(",")
    )
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Test only: makes only the planted bugs in `list` active (ids or names,
/// comma-separated, as `HILT_PLANTED` gives them; see
/// `mbnode_core::planted`). Without the `planted-bugs` feature there are
/// none to choose from and this does nothing.
pub fn select_planted(list: &str) -> Result<(), String> {
    let bugs = list
        .split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(|key| {
            mbnode_core::planted::Bug::find(key).ok_or_else(|| format!("no planted bug {key:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    mbnode_core::planted::select(&bugs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_answers_each_burst_and_reports_the_state() {
        // Read holding register 0, then a burst with a bad CRC, then a reset.
        let input = "01 03 00 00 00 01 84 0A\n01 03 00 00 00 01 0A 84\nreset\n";
        let mut out = Vec::new();
        replay(input.as_bytes(), &mut out, &SimOptions::default()).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert_eq!(lines[0], "< 01 03 02 00 00 B8 44");
        assert!(
            lines[1].starts_with("= lock=locked listen=0 unit=1 "),
            "{out}"
        );
        assert!(lines[1].contains(" counters=1,0,0,1,0,0 "), "{out}");
        assert!(
            lines[2].contains(" counters=1,1,0,1,0,0 "),
            "a bad CRC is counted: {out}"
        );
        assert!(lines[3].contains(" counters=0,0,0,0,0,0 "), "reset: {out}");
    }

    #[test]
    fn replay_refuses_what_is_not_hex() {
        let e = replay("01 0Z\n".as_bytes(), Vec::new(), &SimOptions::default()).unwrap_err();
        assert!(e.to_string().contains("not hex"), "{e}");
    }
}
