//! `hilt bench`: round trips per second of `hilt exec`-style requests on
//! the emulated board and the simulation, measured side by side, each next
//! to a raw echo of the same byte counts and the wire's limit; the property
//! suite's and the wire fuzzer's rates; the emulated board's boot to ready;
//! the native fuzz targets' exec/s.

use std::time::{Duration, Instant};

use anyhow::bail;
use std::io::Write;

use clap::Args;
use hilt::session;
use hilt::target::Target;
use hilt_modbus::ModbusRtu;
use hilt_protocol::{Protocol, Verdict};

use super::{StartArgs, TargetKind};

/// Measure request round trips per second, and the property suite's
/// requests per second, on the emulated board and on the simulation in one
/// run.
///
/// Both targets run at once and take turns in short rounds, so that a busy
/// machine slows both alike and their ratio stays meaningful. Each round
/// sends the same mix of reads and writes. Prints a table and the ratio.
#[derive(Debug, Args)]
pub struct BenchCmd {
    #[command(flatten)]
    start: StartArgs,

    /// Random sequences of the property suite per target (0 skips that
    /// part).
    #[arg(long, default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    suite_cases: u32,

    /// Seconds of wire fuzzing per target, side by side with a raw echo of
    /// the same byte counts through the same link (0 skips that part).
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    fuzz_seconds: u64,

    /// Round trips per target.
    #[arg(long, default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    requests: u64,

    /// Boots of the emulated board timed, from start to ready (0 skips).
    #[arg(long, default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    boots: u32,

    /// Seconds each native fuzz target runs alone on the shipped core for
    /// its exec/s (0 skips; needs cargo-fuzz, which `ci/test` installs).
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    native_seconds: u64,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
}

/// Everything measured, for `--json`.
#[derive(Debug, Default, serde::Serialize)]
struct Results {
    round_trips: Vec<RoundTrips>,
    property_suite: Vec<(String, f64)>,
    fuzz: Vec<FuzzRate>,
    boot_to_ready_ms: Option<BootTimes>,
    native_exec_per_s: Vec<(String, u64)>,
}

#[derive(Debug, serde::Serialize)]
struct RoundTrips {
    target: String,
    requests: usize,
    per_s: f64,
    median_ms: f64,
    p99_ms: f64,
    /// A raw echo of the same byte counts through the same link.
    echo_per_s: f64,
    ratio_to_echo: f64,
    /// What the wire allows at the UART's baud rate (a real board's
    /// ceiling; the emulated board's and the simulation's links are not
    /// paced by it).
    wire_limit_per_s: f64,
}

#[derive(Debug, serde::Serialize)]
struct FuzzRate {
    target: String,
    exec_per_s: f64,
    steps_per_s: f64,
    bytes_per_step: f64,
    silent_percent: f64,
    echo_steps_per_s: f64,
    ratio_to_echo: f64,
}

#[derive(Debug, serde::Serialize)]
struct BootTimes {
    /// Process start to the firmware's ready marker, median and spread.
    start_median: f64,
    start_min: f64,
    start_max: f64,
    /// A reset (QMP) to ready.
    reset_median: f64,
}

/// The wire's ceiling for a request and its answer at `baud`: 10 bits a
/// character (8N1), and the 3.5-character silence after each frame.
fn wire_limit_per_s(request: usize, response: usize, baud: u32) -> f64 {
    let char_s = 10.0 / f64::from(baud);
    let silence = if baud > 19_200 {
        0.001_75
    } else {
        3.5 * char_s
    };
    1.0 / ((request + response) as f64 * char_s + 2.0 * silence)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// A typical mix of requests, as `hilt exec` would send them.
const MIX: &[&str] = &[
    "read-holding 0x0000 4",
    "write-register 0x0001 0x1234",
    "read-input 0x0000 8",
    "read-coils 0x0000 16",
];

struct Measured {
    name: &'static str,
    latencies: Vec<Duration>,
    busy: Duration,
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.busy.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }
}

impl BenchCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let protocol = ModbusRtu::default();
        let mix: Vec<_> = MIX
            .iter()
            .map(|r| protocol.parse_request(r))
            .collect::<Result<_, _>>()?;
        let mut targets: Vec<(Box<dyn Target>, Measured)> = Vec::new();
        for (kind, name) in [(TargetKind::Qemu, "qemu"), (TargetKind::Sim, "sim")] {
            let measured = Measured {
                name,
                latencies: Vec::new(),
                busy: Duration::ZERO,
            };
            targets.push((self.start.start(kind)?, measured));
        }
        let mut results = Results::default();
        let mut scratch = Vec::new();
        // The mix's byte counts, request and answer, for the echo and the
        // wire's limit.
        let mut sizes = Vec::new();
        // Warm up: QEMU translates code on first use.
        for (target, _) in &mut targets {
            for request in mix.iter().cycle().take(50) {
                let t = session::transact(&protocol, target.as_mut(), request, &mut scratch)?;
                if sizes.len() < mix.len() {
                    sizes.push((t.sent.len(), t.received.len()));
                }
            }
        }
        let requests = self.requests as usize;
        let round = 50.min(requests);
        let mut done = 0;
        while done < requests {
            let n = round.min(requests - done);
            for (target, measured) in &mut targets {
                let started = Instant::now();
                for request in mix.iter().cycle().take(n) {
                    let t0 = Instant::now();
                    let t = session::transact(&protocol, target.as_mut(), request, &mut scratch)?;
                    if !t.well_formed() || t.decoded.verdict == Verdict::Silence {
                        bail!("{}: {} -> {}", measured.name, t.request, t.decoded.text);
                    }
                    measured.latencies.push(t0.elapsed());
                }
                measured.busy += started.elapsed();
            }
            done += n;
        }
        // A raw echo of the same byte counts through the same links, in
        // rounds alternating with each other as above.
        let mut echoes = Vec::new();
        for (kind, _) in [(TargetKind::Qemu, "qemu"), (TargetKind::Sim, "sim")] {
            echoes.push((self.start_echo(kind)?, 0u64, Duration::ZERO));
        }
        let trace: Vec<usize> = sizes.iter().map(|(req, _)| *req).collect();
        let mut done = 0;
        while done < requests {
            let n = round.min(requests - done);
            for (echo, count, busy) in &mut echoes {
                let started = Instant::now();
                *count += echo_count(echo.as_mut(), &trace, n)?;
                *busy += started.elapsed();
            }
            done += n;
        }
        for (echo, _, _) in &mut echoes {
            echo.shutdown()?;
        }
        let per_mix: f64 = sizes
            .iter()
            .map(|(req, resp)| 1.0 / wire_limit_per_s(*req, *resp, 115_200))
            .sum::<f64>()
            / sizes.len().max(1) as f64;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{:<6} {:>9} {:>14} {:>10} {:>8} {:>13} {:>14} {:>17}",
            "target",
            "requests",
            "round trips/s",
            "median ms",
            "p99 ms",
            "echo trips/s",
            "ratio to echo",
            "wire limit/s"
        )?;
        for ((_, m), (_, count, busy)) in targets.iter().zip(&echoes) {
            let echo = *count as f64 / busy.as_secs_f64();
            let row = RoundTrips {
                target: m.name.into(),
                requests: m.latencies.len(),
                per_s: m.per_second(),
                median_ms: m.percentile_ms(0.5),
                p99_ms: m.percentile_ms(0.99),
                echo_per_s: echo,
                ratio_to_echo: m.per_second() / echo,
                wire_limit_per_s: 1.0 / per_mix,
            };
            writeln!(
                out,
                "{:<6} {:>9} {:>14.0} {:>10.3} {:>8.3} {:>13.0} {:>14.3} {:>17.0}",
                row.target,
                row.requests,
                row.per_s,
                row.median_ms,
                row.p99_ms,
                row.echo_per_s,
                row.ratio_to_echo,
                row.wire_limit_per_s
            )?;
            results.round_trips.push(row);
        }
        writeln!(
            out,
            "(wire limit: the mix at 115,200 baud, 8N1, with the 1.75 ms inter-frame silence; a board's ceiling)"
        )?;
        let rate = |name| {
            targets
                .iter()
                .find(|(_, m)| m.name == name)
                .map_or(0.0, |(_, m)| m.per_second())
        };
        writeln!(out, "ratio qemu/sim: {:.2}", rate("qemu") / rate("sim"))?;
        if self.suite_cases > 0 {
            results.property_suite = self.suite_throughput(&mut targets, &mut out)?;
        }
        for (target, _) in &mut targets {
            target.shutdown()?;
        }
        drop(targets);
        if self.fuzz_seconds > 0 {
            results.fuzz = self.fuzz_against_echo(&mut out)?;
        }
        if self.boots > 0 {
            results.boot_to_ready_ms = Some(self.boot_times(&mut out)?);
        }
        if self.native_seconds > 0 {
            results.native_exec_per_s = self.native_rates(&mut out)?;
        }
        if let Some(path) = &self.json {
            std::fs::write(path, serde_json::to_vec_pretty(&results)?)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            writeln!(out, "\nresults in {}", path.display())?;
        }
        Ok(hilt::exit::SUCCESS)
    }

    /// The emulated board's start (process to ready marker) and reset
    /// (QMP reset to ready marker), each timed `--boots` times.
    fn boot_times(&self, out: &mut impl Write) -> anyhow::Result<BootTimes> {
        use hilt::target::qemu::{QemuOptions, QemuTarget};
        // The firmware built (or found up to date) once, outside the timing.
        let board = self.start.implicit_board(TargetKind::Qemu);
        let elf = self
            .start
            .elf_for(&board)?
            .ok_or_else(|| anyhow::anyhow!("no firmware for the emulated board"))?;
        let mut options = QemuOptions::new(elf);
        options.qemu = self.start.qemu.clone();
        let mut starts = Vec::new();
        let mut resets = Vec::new();
        for _ in 0..self.boots {
            let started = Instant::now();
            let mut target = QemuTarget::start(&options)?;
            starts.push(started.elapsed().as_secs_f64() * 1e3);
            let reset = Instant::now();
            target.reset()?;
            resets.push(reset.elapsed().as_secs_f64() * 1e3);
            target.shutdown()?;
        }
        let times = BootTimes {
            start_min: starts.iter().copied().fold(f64::INFINITY, f64::min),
            start_max: starts.iter().copied().fold(0.0, f64::max),
            start_median: median(&mut starts),
            reset_median: median(&mut resets),
        };
        writeln!(
            out,
            "\nemulated board, boot to ready ({} boots): start {:.0} ms (median; {:.0} to {:.0}), reset {:.0} ms (median)",
            self.boots, times.start_median, times.start_min, times.start_max, times.reset_median
        )?;
        Ok(times)
    }

    /// Each native fuzz target alone on the shipped core, as
    /// `hilt time-to-bug` measures it.
    fn native_rates(&self, out: &mut impl Write) -> anyhow::Result<Vec<(String, u64)>> {
        if !hilt::native::cargo_fuzz_installed() {
            writeln!(
                out,
                "\nnative exec/s: skipped, cargo-fuzz is not installed (cargo install cargo-fuzz; ci/test installs it)"
            )?;
            return Ok(Vec::new());
        }
        let root = hilt::firmware::source_root()?;
        let shipped = hilt::native::Build::new(&root, "fuzz-libfuzzer", &[])?;
        let scratch = tempfile::tempdir()?;
        writeln!(out, "\n{:<8} {:>10}", "native", "exec/s")?;
        let mut rates = Vec::new();
        for target in hilt::native::TARGETS {
            let stats = super::time_to_bug::exec_rate(
                &root,
                &shipped,
                target,
                self.native_seconds,
                scratch.path(),
            )?;
            writeln!(out, "{:<8} {:>10}", target, stats.exec_per_sec)?;
            rates.push((target.to_owned(), stats.exec_per_sec));
        }
        Ok(rates)
    }

    /// Wire fuzzing's rate on each target, then a raw echo of the very
    /// steps it sent (the same byte counts, each sent and read back whole)
    /// through the same kind of link: the practical limit of that link.
    fn fuzz_against_echo(&self, out: &mut impl Write) -> anyhow::Result<Vec<FuzzRate>> {
        let mut rows = Vec::new();
        use hilt::wirefuzz::{self, corpus::Corpus, crashes::CrashStore, feedback::ShapeFeedback};
        let root = hilt::firmware::source_root()?;
        let text = std::fs::read_to_string(root.join("fuzz/modbus.dict"))?;
        let dictionary =
            hilt::wirefuzz::mutate::parse_dictionary(&text).map_err(anyhow::Error::msg)?;
        let seconds = Duration::from_secs(self.fuzz_seconds);
        writeln!(
            out,
            "\n{:<6} {:>10} {:>10} {:>12} {:>9} {:>12} {:>16}",
            "target",
            "fuzz exec/s",
            "steps/s",
            "bytes/step",
            "silent %",
            "echo steps/s",
            "fuzz/echo ratio"
        )?;
        for (kind, name) in [(TargetKind::Qemu, "qemu"), (TargetKind::Sim, "sim")] {
            // The target first: its start is not fuzzing time.
            let mut target = self.start.start(kind)?;
            let scratch_dir = tempfile::tempdir()?;
            let corpus = Corpus::open(
                &scratch_dir.path().join("corpus"),
                &[root.join("fixtures/corpus/node")],
            )
            .map_err(anyhow::Error::msg)?;
            let crashes = CrashStore::open(&scratch_dir.path().join("crashes"))
                .map_err(anyhow::Error::msg)?;
            let shared = wirefuzz::Shared::new(corpus, crashes, Box::new(ShapeFeedback::default()));
            *shared.trace.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
            let settings = wirefuzz::Settings {
                seed: 1,
                dictionary: dictionary.clone(),
                time: Some(seconds),
                runs: None,
                reset_every: 32,
                quiet: wirefuzz::quiet_for(match kind {
                    TargetKind::Qemu => hilt::boards::Kind::Qemu,
                    TargetKind::Sim => hilt::boards::Kind::Sim,
                }),
                firmware: name.into(),
                firmware_sha1: String::new(),
            };
            wirefuzz::run_job(&shared, &settings, 0, 1, target.as_mut())?;
            let fuzz_elapsed = shared.started.elapsed().as_secs_f64();
            target.shutdown()?;
            drop(target);
            let snapshot = shared.snapshot();
            let trace = shared
                .trace
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            let steps_per_s = trace.len() as f64 / fuzz_elapsed;
            let mean = trace.iter().sum::<usize>() as f64 / trace.len().max(1) as f64;

            let mut echo = self.start_echo(kind)?;
            let echo_rate = echo_rate(echo.as_mut(), &trace, seconds)?;
            echo.shutdown()?;
            let row = FuzzRate {
                target: name.into(),
                exec_per_s: snapshot.execs as f64 / fuzz_elapsed,
                steps_per_s,
                bytes_per_step: mean,
                silent_percent: 100.0
                    * shared
                        .counters
                        .silent_steps
                        .load(std::sync::atomic::Ordering::Relaxed) as f64
                    / trace.len().max(1) as f64,
                echo_steps_per_s: echo_rate,
                ratio_to_echo: steps_per_s / echo_rate,
            };
            writeln!(
                out,
                "{:<6} {:>10.1} {:>10.1} {:>12.1} {:>9.0} {:>12.1} {:>16.3}",
                row.target,
                row.exec_per_s,
                row.steps_per_s,
                row.bytes_per_step,
                row.silent_percent,
                row.echo_steps_per_s,
                row.ratio_to_echo
            )?;
            rows.push(row);
        }
        Ok(rows)
    }

    /// The target kind with an echo in place of the node.
    fn start_echo(&self, kind: TargetKind) -> anyhow::Result<Box<dyn Target>> {
        use hilt::target::qemu::{QemuOptions, QemuTarget};
        use hilt::target::sim::{SimOptions, SimTarget};
        Ok(match kind {
            TargetKind::Qemu => {
                let elf = hilt::firmware::build_variant(&hilt::firmware::LM3S6965EVB, &["echo"])?;
                let mut options = QemuOptions::new(elf);
                options.qemu = self.start.qemu.clone();
                Box::new(QemuTarget::start(&options)?)
            }
            TargetKind::Sim => {
                let mut options = SimOptions::hilt_binary(std::env::current_exe()?);
                options.args.push("--echo".into());
                Box::new(SimTarget::start(&options)?)
            }
        })
    }

    /// The property suite's requests per second on each target: rounds of
    /// a few cases, alternating between the targets, each round with its own
    /// seed (the same for both targets).
    fn suite_throughput(
        &self,
        targets: &mut [(Box<dyn Target>, Measured)],
        out: &mut impl Write,
    ) -> anyhow::Result<Vec<(String, f64)>> {
        use hilt::suite::properties::{self, PropertyConfig, PropertyOutcome};
        let mut totals = vec![(0u64, Duration::ZERO); targets.len()];
        let rounds = self.suite_cases.div_ceil(4);
        for round in 0..rounds {
            let cases = 4.min(self.suite_cases - round * 4);
            let config = PropertyConfig {
                cases,
                max_len: 24,
                seed: u64::from(round) + 1,
                save_to: None,
                shrink_time: None,
            };
            for ((target, m), total) in targets.iter_mut().zip(&mut totals) {
                let model = match m.name {
                    "qemu" => hilt::firmware::LM3S6965EVB.name,
                    _ => mbnode_sim::MODEL_NAME,
                };
                match properties::run(target.as_mut(), model, &[], &config) {
                    Ok(report) => {
                        total.0 += report.requests;
                        total.1 += report.elapsed;
                    }
                    Err(PropertyOutcome::Failed(f)) => {
                        bail!("{}: the property suite failed: {}", m.name, f.reason)
                    }
                    Err(PropertyOutcome::Error(e)) => bail!("{}: {e}", m.name),
                }
            }
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:<6} {:>9} {:>14} {:>13}",
            "target", "cases", "requests", "requests/s"
        )?;
        let mut rates = Vec::new();
        for ((_, m), (requests, elapsed)) in targets.iter().zip(&totals) {
            let rate = *requests as f64 / elapsed.as_secs_f64();
            rates.push((m.name, rate));
            writeln!(
                out,
                "{:<6} {:>9} {:>14} {:>13.0}",
                m.name, self.suite_cases, requests, rate
            )?;
        }
        let rate = |name| rates.iter().find(|(n, _)| *n == name).map_or(0.0, |r| r.1);
        writeln!(
            out,
            "property suite ratio qemu/sim: {:.2}",
            rate("qemu") / rate("sim")
        )?;
        Ok(rates.into_iter().map(|(n, r)| (n.to_owned(), r)).collect())
    }
}

/// Sends `len` bytes to an echo and reads them back whole.
fn echo_once(target: &mut dyn Target, len: usize, request: &mut Vec<u8>) -> anyhow::Result<()> {
    let timing = target.timing();
    request.clear();
    request.extend((0..len).map(|i| (i as u8) | 1));
    let exchange = target.link().transact(request, timing, |received| {
        if received.len() >= len {
            hilt_protocol::Framing::Complete(len)
        } else {
            hilt_protocol::Framing::NeedMore
        }
    })?;
    if exchange.response.len() != len {
        bail!(
            "the echo returned {} of {len} bytes",
            exchange.response.len()
        );
    }
    Ok(())
}

/// Sends `n` echo transactions of the traced byte counts, in order; returns
/// how many were done.
fn echo_count(target: &mut dyn Target, trace: &[usize], n: usize) -> anyhow::Result<u64> {
    let mut request = Vec::new();
    for &len in trace.iter().cycle().take(n) {
        echo_once(target, len, &mut request)?;
    }
    Ok(n as u64)
}

/// Steps per second of a raw echo: each traced step's byte count sent and
/// read back whole, in the traced order, for `limit`.
fn echo_rate(target: &mut dyn Target, trace: &[usize], limit: Duration) -> anyhow::Result<f64> {
    let mut request = Vec::new();
    let started = Instant::now();
    let mut steps = 0u64;
    for &len in trace.iter().cycle() {
        if started.elapsed() >= limit || trace.is_empty() {
            break;
        }
        echo_once(target, len, &mut request)?;
        steps += 1;
    }
    Ok(steps as f64 / started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_limit_counts_characters_and_silences() {
        // 8 + 7 characters of 10 bits at 115,200 baud, and two 1.75 ms
        // silences: 4.80 ms a round trip.
        let limit = wire_limit_per_s(8, 7, 115_200);
        assert!((limit - 1.0 / 0.004_802).abs() < 1.0, "{limit}");
        // At 9,600 baud the silence is 3.5 characters.
        let slow = wire_limit_per_s(8, 7, 9_600);
        assert!((slow - 1.0 / (15.0 * 10.0 / 9600.0 + 7.0 * 10.0 / 9600.0)).abs() < 0.1);
    }
}
