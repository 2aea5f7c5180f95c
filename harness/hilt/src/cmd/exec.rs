//! `hilt exec`: sends requests written in the readable language and prints
//! each decoded response.

use std::path::PathBuf;

use std::io::Write;

use clap::Args;
use hilt::script::{self, ScriptError, Step};
use hilt::session;
use hilt_modbus::ModbusRtu;

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

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
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

        let mut target = self.target.start()?;
        let mut scratch = Vec::new();
        let mut out = std::io::stdout().lock();
        let mut failures = 0;
        for step in &steps {
            match step {
                Step::Reset => {
                    target.reset()?;
                    writeln!(out, "reset")?;
                }
                Step::Request(request) => {
                    let t = match session::transact(
                        &protocol,
                        target.as_mut(),
                        request,
                        &mut scratch,
                    ) {
                        Ok(t) => t,
                        // A link that fails because the target died is the
                        // target's failure.
                        Err(e) => {
                            target.check_alive()?;
                            return Err(e.into());
                        }
                    };
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
                    if self.hex {
                        writeln!(out, "  > {}", hex(&t.sent))?;
                        if !t.received.is_empty() {
                            writeln!(out, "  < {}", hex(&t.received))?;
                        }
                    }
                    if !t.well_formed() || t.missing() {
                        failures += 1;
                    }
                }
            }
        }
        target.shutdown()?;
        if failures > 0 {
            eprintln!("hilt: {failures} response(s) malformed, missing or unexpected");
            return Ok(hilt::exit::DEVICE);
        }
        Ok(hilt::exit::SUCCESS)
    }
}
