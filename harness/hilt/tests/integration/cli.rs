//! The `hilt` binary: bad input is one line on stderr and a distinct exit
//! code, never a panic; `serve` hands out a port any master can use.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{firmware_elf, hilt_bin, require_qemu, run_hilt as hilt};

/// Asserts a one-line error with `code` that mentions `needle`.
#[track_caller]
fn one_line_error(args: &[&str], code: i32, needle: &str) {
    let (got, _, stderr) = hilt(args);
    assert_eq!(got, code, "exit code of hilt {args:?}; stderr: {stderr}");
    assert!(
        !stderr.contains("panicked"),
        "hilt {args:?} panicked: {stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.starts_with("hilt: "), "{stderr}");
    assert!(stderr.contains(needle), "{stderr} should mention {needle}");
}

#[test]
fn no_qemu_installed() {
    one_line_error(
        &[
            "exec",
            "--qemu",
            "/nonexistent/qemu-system-arm",
            "read-holding 0 1",
        ],
        4,
        "apt-get install qemu-system-arm",
    );
    one_line_error(
        &["serve", "--qemu", "no-such-qemu-anywhere"],
        4,
        "no-such-qemu-anywhere was not found",
    );
}

#[test]
fn missing_elf() {
    require_qemu();
    one_line_error(
        &[
            "exec",
            "--elf",
            "/nonexistent/firmware.elf",
            "read-holding 0 1",
        ],
        3,
        "/nonexistent/firmware.elf does not exist",
    );
}

#[test]
fn malformed_request_text() {
    for (request, needle) in [
        ("read-holding 0x0000", "read-holding"),
        ("read-holding 0x10000 1", "0x10000"),
        ("launch-missiles 1", "launch-missiles"),
        ("raw 0g", "0g"),
        ("@300 read-coils 0 1", "300"),
        ("", "no requests"),
    ] {
        let args: Vec<&str> = if request.is_empty() {
            vec!["exec", "--target", "sim"]
        } else {
            vec!["exec", "--target", "sim", request]
        };
        one_line_error(&args, 2, needle);
    }
    one_line_error(
        &[
            "exec",
            "--target",
            "sim",
            "--file",
            "/nonexistent/requests.txt",
        ],
        2,
        "/nonexistent/requests.txt",
    );
}

#[test]
fn exec_prints_decoded_responses() {
    let (code, stdout, stderr) = hilt(&[
        "exec",
        "--target",
        "sim",
        "--hex",
        "write-register 1 42",
        "read-holding 0 2",
        "pdu 03 0000 0002",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "write-register 0x0001 0x002A -> wrote holding 0x0001: 42"
    );
    assert_eq!(lines[3], "read-holding 0x0000 2 -> holding 0x0000: 0 42");
    assert_eq!(lines[4], "  > 01 03 00 00 00 02 C4 0B");
    assert_eq!(lines[5], "  < 01 03 04 00 00 00 2A 7B EC");
    assert!(
        lines[6].starts_with("pdu 03 00 00 00 02 -> "),
        "{}",
        lines[6]
    );
}

/// All descendants of `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    // A zombie has finished; only a process still running counts.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Talks to a port the way an off-the-shelf master does: open, send a
/// request, read the answer, close.
fn master_round_trip(path: &str, request: &[u8], answer_len: usize) -> Vec<u8> {
    let mut port = serialport::new(path, 115_200)
        .timeout(Duration::from_secs(2))
        .open_native()
        .expect("a master opens the served port");
    port.write_all(request).unwrap();
    let mut answer = vec![0u8; answer_len];
    port.read_exact(&mut answer).expect("an answer");
    answer
}

/// A `hilt serve` started by a test, killed when the test ends, even by a
/// failed assertion (a `Child` is not killed when dropped, and a leftover
/// hilt would keep its emulator running).
struct Served(std::process::Child);

impl std::ops::Deref for Served {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Served {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn serve(target: &str, extra: &[&str]) -> (Served, String) {
    let mut child = Served(
        Command::new(hilt_bin())
            .args(["serve", "--target", target])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hilt serve"),
    );
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let path = first.trim().to_owned();
    assert!(
        path.starts_with("/dev/"),
        "first line should be the port: {first:?}"
    );
    (child, path)
}

fn serve_for_masters(target: &str, extra: &[&str]) {
    let (mut hilt, path) = serve(target, extra);
    let workers = children(hilt.id());
    assert!(
        !workers.is_empty(),
        "hilt serve should run the target as a child"
    );
    // Read holding register 0, twice, closing the port in between.
    let read = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A];
    let want = [0x01, 0x03, 0x02, 0x00, 0x00, 0xB8, 0x44];
    assert_eq!(master_round_trip(&path, &read, 7), want);
    assert_eq!(master_round_trip(&path, &read, 7), want);
    // Ctrl-C stops hilt and its target.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hilt.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = hilt.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    for pid in workers {
        assert!(wait_gone(pid), "target process {pid} outlived hilt serve");
    }
}

#[test]
fn serve_the_simulation_to_a_master() {
    serve_for_masters("sim", &[]);
}

#[test]
fn serve_the_emulated_board_to_a_master() {
    require_qemu();
    let elf = firmware_elf();
    serve_for_masters("qemu", &["--elf", elf.to_str().unwrap()]);
}

#[test]
fn no_orphaned_qemu_when_hilt_is_killed() {
    require_qemu();
    let elf = firmware_elf();
    let (mut hilt, _path) = serve("qemu", &["--elf", elf.to_str().unwrap()]);
    let qemu = children(hilt.id());
    assert_eq!(qemu.len(), 1, "one QEMU child");
    hilt.kill().unwrap(); // SIGKILL: no chance to clean up
    hilt.wait().unwrap();
    assert!(
        wait_gone(qemu[0]),
        "QEMU {} outlived a killed hilt",
        qemu[0]
    );
}

/// Runs mbpoll (libmodbus) once against `port`, writing `values` if any;
/// returns the values it printed, one per `[ref]: value` line.
fn mbpoll(port: &str, args: &[&str], values: &[&str]) -> Vec<String> {
    let out = Command::new("mbpoll")
        .args([
            "-m", "rtu", "-b", "115200", "-P", "none", "-a", "1", "-1", "-o", "2",
        ])
        .args(args)
        .arg(port)
        .args(values)
        .output()
        .expect("mbpoll is installed (ci/setup installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mbpoll {args:?} {values:?} failed: {stdout}"
    );
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix('[')?.split_once("]:"))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// An off-the-shelf master (mbpoll, on libmodbus) talks to the emulated
/// board through `hilt serve`, opening and closing the port for each call.
#[test]
fn mbpoll_talks_to_the_emulated_board() {
    require_qemu();
    let elf = firmware_elf();
    let (mut hilt, port) = serve("qemu", &["--elf", elf.to_str().unwrap()]);
    // mbpoll's references are 1-based: reference 1 is address 0.
    let holding = ["-t", "4", "-r", "1", "-c", "3"];
    assert_eq!(mbpoll(&port, &holding, &[]), ["0", "0", "0"]);
    mbpoll(&port, &["-t", "4", "-r", "2"], &["4242"]);
    assert_eq!(mbpoll(&port, &holding, &[]), ["0", "4242", "0"]);
    let inputs = ["-t", "3", "-r", "1", "-c", "3"];
    assert_eq!(mbpoll(&port, &inputs, &[]), ["0", "1000", "2000"]);
    // Coil 3 on; discrete input 3 reads its inverse.
    mbpoll(&port, &["-t", "0", "-r", "4"], &["1"]);
    let discrete = ["-t", "1", "-r", "1", "-c", "4"];
    assert_eq!(mbpoll(&port, &discrete, &[]), ["1", "1", "1", "0"]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hilt.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(hilt.wait().unwrap().code(), Some(0));
}

fn example_map() -> String {
    let root = hilt::firmware::source_root().unwrap();
    root.join(hilt::boards::EXAMPLE).display().to_string()
}

#[test]
fn boards_lists_the_map_and_what_is_attached() {
    let map = example_map();
    let (code, stdout, stderr) = hilt(&["boards", "--boards", &map]);
    assert_eq!(code, 0, "{stderr}");
    for needle in [
        "nucleo-1 (probe-rs, ",
        "probe     0483:374b:066DFF555654725187171931: NOT FOUND: expected probe",
        "qemu (qemu, implicit)",
        "sim (sim, implicit)",
        "attached debug probes:",
        "attached serial ports:",
    ] {
        assert!(stdout.contains(needle), "{needle:?} not in:\n{stdout}");
    }
}

#[test]
fn flash_without_the_probe_says_which_was_expected_and_what_was_found() {
    let map = example_map();
    one_line_error(
        &["flash", "--board", "nucleo-1", "--boards", &map],
        4,
        "board nucleo-1: expected probe 0483:374b:066DFF555654725187171931, but none is attached",
    );
    one_line_error(
        &["flash", "--board", "qemu", "--boards", &map],
        2,
        "there is nothing to flash",
    );
    one_line_error(
        &["flash", "--board", "nope", "--boards", &map],
        2,
        "no board \"nope\"",
    );
}

#[test]
fn a_malformed_map_is_one_line_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boards.toml");
    std::fs::write(&path, "[[board]]\nname = \"x\"\nkind = \"probe-rs\"\nchip = \"STM32F401RETx\"\nprobe = \"not-a-probe\"\n").unwrap();
    let path = path.display().to_string();
    one_line_error(&["boards", "--boards", &path], 2, "line 5, field `probe`");
    one_line_error(
        &[
            "exec",
            "--boards",
            &path,
            "--board",
            "x",
            "read-holding 0 1",
        ],
        2,
        "boards.toml: line 5",
    );
}

#[test]
fn exec_runs_on_several_boards_at_once_each_with_its_log() {
    require_qemu();
    firmware_elf();
    let (code, stdout, stderr) = hilt(&[
        "exec",
        "--board",
        "qemu",
        "--board",
        "sim",
        "write-register 3 77",
        "read-holding 3 1",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for board in ["qemu", "sim"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("board {board}: ok (log: ")))
            .unwrap_or_else(|| panic!("no report for {board}:\n{stdout}"));
        let log = line.trim_end_matches(')').rsplit("log: ").next().unwrap();
        let transcript = std::fs::read_to_string(log).unwrap();
        assert!(
            transcript.contains("read-holding 0x0003 1 -> holding 0x0003: 77"),
            "{board}: {transcript}"
        );
    }
}

#[test]
fn exec_leaves_the_silence_after_bytes_given_as_they_are() {
    // A frame and a stray 0x00 (the whole burst even passes a CRC check):
    // the stray byte must end at a silence, not run into the next frame.
    let (code, stdout, stderr) = hilt(&[
        "exec",
        "--target",
        "sim",
        "raw 01 05 00 00 45 00 FF 5A 00",
        "pdu 0F 00 00 00 00 00",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("pdu 0F 00 00 00 00 00 -> exception 0x03"),
        "{stdout}"
    );
}
