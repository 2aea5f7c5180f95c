//! `hilt bench`: round trips per second of `hilt exec`-style requests on
//! the emulated board and the simulation, measured side by side.

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
        let mut scratch = Vec::new();
        // Warm up: QEMU translates code on first use.
        for (target, _) in &mut targets {
            for request in mix.iter().cycle().take(50) {
                session::transact(&protocol, target.as_mut(), request, &mut scratch)?;
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
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{:<6} {:>9} {:>14} {:>10} {:>8}",
            "target", "requests", "round trips/s", "median ms", "p99 ms"
        )?;
        for (_, m) in &targets {
            writeln!(
                out,
                "{:<6} {:>9} {:>14.0} {:>10.3} {:>8.3}",
                m.name,
                m.latencies.len(),
                m.per_second(),
                m.percentile_ms(0.5),
                m.percentile_ms(0.99)
            )?;
        }
        let rate = |name| {
            targets
                .iter()
                .find(|(_, m)| m.name == name)
                .map_or(0.0, |(_, m)| m.per_second())
        };
        writeln!(out, "ratio qemu/sim: {:.2}", rate("qemu") / rate("sim"))?;
        if self.suite_cases > 0 {
            self.suite_throughput(&mut targets, &mut out)?;
        }
        for (target, _) in &mut targets {
            target.shutdown()?;
        }
        drop(targets);
        if self.fuzz_seconds > 0 {
            self.fuzz_against_echo(&mut out)?;
        }
        Ok(hilt::exit::SUCCESS)
    }

    /// Wire fuzzing's rate on each target, then a raw echo of the very
    /// steps it sent (the same byte counts, each sent and read back whole)
    /// through the same kind of link: the practical limit of that link.
    fn fuzz_against_echo(&self, out: &mut impl Write) -> anyhow::Result<()> {
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
            writeln!(
                out,
                "{:<6} {:>10.1} {:>10.1} {:>12.1} {:>9.0} {:>12.1} {:>16.3}",
                name,
                snapshot.execs as f64 / fuzz_elapsed,
                steps_per_s,
                mean,
                100.0
                    * shared
                        .counters
                        .silent_steps
                        .load(std::sync::atomic::Ordering::Relaxed) as f64
                    / trace.len().max(1) as f64,
                echo_rate,
                steps_per_s / echo_rate
            )?;
        }
        Ok(())
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
    ) -> anyhow::Result<()> {
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
        Ok(())
    }
}

/// Steps per second of a raw echo: each traced step's byte count sent and
/// read back whole, in the traced order, for `limit`.
fn echo_rate(target: &mut dyn Target, trace: &[usize], limit: Duration) -> anyhow::Result<f64> {
    let timing = target.timing();
    let mut request = Vec::new();
    let started = Instant::now();
    let mut steps = 0u64;
    for &len in trace.iter().cycle() {
        if started.elapsed() >= limit || trace.is_empty() {
            break;
        }
        request.clear();
        request.extend((0..len).map(|i| (i as u8) | 1));
        let exchange = target.link().transact(&request, timing, |received| {
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
        steps += 1;
    }
    Ok(steps as f64 / started.elapsed().as_secs_f64())
}
