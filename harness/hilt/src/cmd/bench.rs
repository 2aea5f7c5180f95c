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

/// Measure request round trips per second on the emulated board and on the
/// simulation in one run.
///
/// Both targets run at once and take turns in short rounds, so that a busy
/// machine slows both alike and their ratio stays meaningful. Each round
/// sends the same mix of reads and writes. Prints a table and the ratio.
#[derive(Debug, Args)]
pub struct BenchCmd {
    #[command(flatten)]
    start: StartArgs,

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
        for (target, _) in &mut targets {
            target.shutdown()?;
        }
        Ok(hilt::exit::SUCCESS)
    }
}
