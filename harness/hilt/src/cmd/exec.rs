//! `hilt exec`: sends requests written in the readable language and prints
//! each decoded response.

use std::path::PathBuf;

use std::io::Write;

use clap::Args;
use hilt::script::{self, ScriptError, Step};
use hilt::{hex, session};
use hilt_modbus::ModbusRtu;
use hilt_protocol::Protocol;

use super::TargetArgs;

/// Send requests to a target and print each decoded response.
///
/// Requests are written in the readable request language, for example
/// `read-holding 0x0000 4`, `write-register 0x0001 42`, `@0 write-coil 3 on`
/// (broadcast), `pdu 03 0000 0004` (CRC added) or `raw 01 03 00 00 00 04 44 09`
/// (sent as is). A script file may also say `reset`. Each request prints one
/// line, `REQUEST -> RESPONSE`.
///
/// Exits 1 if any response is malformed, or missing: a request a node
/// answers got nothing within the timeout. (A node in listen-only mode
/// rightly answers nothing: `hilt test` runs scripts against the reference
/// model, which knows the node's mode.)
#[derive(Debug, Args)]
pub struct ExecCmd {
    #[command(flatten)]
    target: TargetArgs,

    /// Read requests from FILE, one per line (`-` for standard input); `#`
    /// starts a comment.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,

    /// Unit id for requests without an `@UNIT` prefix.
    #[arg(long, default_value_t = 1)]
    unit: u8,

    /// Also print the bytes sent (`>`) and received (`<`).
    #[arg(long)]
    hex: bool,

    /// Requests, one per argument.
    #[arg(value_name = "REQUEST")]
    requests: Vec<String>,
}

impl ExecCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let protocol = ModbusRtu {
            default_unit: self.unit,
        };
        let mut steps = script::parse(
            &protocol,
            "argument",
            self.requests.iter().map(String::as_str),
        )?;
        if let Some(file) = &self.file {
            let origin = file.display().to_string();
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(file)
            }
            .map_err(|e| ScriptError::whole(&origin, format!("cannot read it: {e}")))?;
            steps.extend(script::parse(&protocol, &origin, text.lines())?);
        }
        if steps.is_empty() {
            anyhow::bail!(ScriptError::whole(
                "command line",
                "no requests: give them as arguments or with --file",
            ));
        }

        let targets = self.target.chosen()?;
        if let [only] = targets.as_slice() {
            let mut out = std::io::stdout().lock();
            let mut target = self.target.start_one(only)?;
            let failures = run_steps(&protocol, target.as_mut(), &steps, self.hex, &mut out)?;
            target.shutdown()?;
            if failures > 0 {
                eprintln!("hilt: {failures} response(s) malformed, missing or unexpected");
            }
            return Ok(verdict(failures));
        }
        // Several boards: one thread each, each with its own log.
        let reports = super::on_each_board(&self.target, &targets, |target, log| {
            run_steps(&protocol, target, &steps, self.hex, log)
        })?;
        let mut worst = hilt::exit::SUCCESS;
        for report in &reports {
            let code = match &report.result {
                Ok(failures) => verdict(*failures),
                Err(e) => super::exit_code(e),
            };
            let status = match &report.result {
                Ok(0) => "ok".to_owned(),
                Ok(n) => format!("{n} response(s) malformed, missing or unexpected"),
                Err(e) => format!("failed: {e:#}"),
            };
            println!(
                "board {}: {status} (log: {})",
                report.board,
                report.log.display()
            );
            worst = worst.max(code);
        }
        Ok(worst)
    }
}

fn verdict(failures: usize) -> u8 {
    if failures > 0 {
        hilt::exit::DEVICE
    } else {
        hilt::exit::SUCCESS
    }
}

/// Recoveries tried after a crash or hang before giving up.
const RECOVERY_ATTEMPTS: u32 = 3;

/// Runs the steps on one target, writing the transcript to `out`; returns
/// how many responses were malformed, missing or unexpected (a crash or a
/// hang counts, and the target is recovered before the next step).
fn run_steps(
    protocol: &ModbusRtu,
    target: &mut dyn hilt::target::Target,
    steps: &[Step<hilt_modbus::ModbusRequest>],
    show_hex: bool,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    use hilt::crash::Outcome;
    // The reference model follows the script for one thing: whether an
    // answer is due (listen-only mode, a changed unit id, broadcasts).
    let mut model = hilt_modbus::model::Model::new("exec");
    let mut scratch = Vec::new();
    let mut failures = 0;
    for step in steps {
        match step {
            Step::Reset => {
                target.reset()?;
                model.reset();
                writeln!(out, "reset")?;
            }
            Step::Request(request) => {
                protocol.encode(request, &mut scratch);
                let due = !model.exchange(&scratch).is_empty();
                let (t, outcome) =
                    session::classify(protocol, target, request, Some(due), &mut scratch)?;
                if let Some(t) = &t {
                    if !t.stale.is_empty() {
                        writeln!(
                            out,
                            "  ! {} unexpected byte(s) arrived before this request: {}",
                            t.stale.len(),
                            hex(&t.stale)
                        )?;
                        failures += 1;
                    }
                    writeln!(out, "{}", t.line())?;
                    if show_hex {
                        writeln!(out, "  > {}", hex(&t.sent))?;
                        if !t.received.is_empty() {
                            writeln!(out, "  < {}", hex(&t.received))?;
                        }
                    }
                }
                match &outcome {
                    Outcome::Answered | Outcome::Exception(_) | Outcome::NoAnswer => {}
                    Outcome::Malformed => failures += 1,
                    Outcome::Missing => {
                        failures += 1;
                        writeln!(
                            out,
                            "  ! no answer, though the device answered a health request after it"
                        )?;
                        let mut health = Vec::new();
                        protocol.encode(&protocol.health_request(), &mut health);
                        model.exchange(&health);
                    }
                    Outcome::Crash(evidence) | Outcome::Hang(evidence) => {
                        failures += 1;
                        writeln!(out, "  ! {}: {evidence}", outcome.class())?;
                        for line in &evidence.details {
                            writeln!(out, "    {line}")?;
                        }
                        // After a reset the node answers to its default unit id.
                        let took = session::recover(
                            &ModbusRtu::default(),
                            target,
                            RECOVERY_ATTEMPTS,
                            &mut scratch,
                        )?;
                        model.reset();
                        writeln!(
                            out,
                            "  ! reset; answering again after {} ms",
                            took.as_millis()
                        )?;
                    }
                }
            }
        }
    }
    Ok(failures)
}
