//! `hilt replay`: saved inputs replayed on a backend, with the transcript
//! and the outcome.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use hilt::triage::input::{self, Format};

use super::triage::BackendArgs;

/// How input files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InputFormat {
    /// From where the file lies: a PDU in a folder named `request`
    /// (libFuzzer's artifacts of the `request` target), else steps.
    Auto,
    /// Steps (frames, bursts, resets), as the corpus and `hilt fuzz` keep them.
    Steps,
    /// A bare PDU, sent to unit 1 with its CRC.
    Pdu,
}

/// Replay saved inputs and print what was sent, what came back and the
/// outcome: clean, or the failure (crash, hang, wrong answer or state
/// against the reference model) with its signature.
///
/// INPUT is a `hilt fuzz` crash record (`KIND-ID.json`), a libFuzzer
/// artifact, a step file (a corpus entry, a regression case) or a folder
/// of them. On `native` the core runs in a child process, so a panic or a
/// hang cannot take hilt down. Exits 0 when every input ran clean, 1 when
/// one failed.
#[derive(Debug, Args)]
pub struct ReplayCmd {
    /// Inputs, or folders of inputs.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Backends: native, sim, qemu or boards of the hardware map.
    #[arg(
        long = "target",
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "native"
    )]
    targets: Vec<String>,

    /// How input files are read.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    format: InputFormat,

    #[command(flatten)]
    backends: BackendArgs,
}

impl ReplayCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let format = match self.format {
            InputFormat::Auto => None,
            InputFormat::Steps => Some(Format::Steps),
            InputFormat::Pdu => Some(Format::Pdu),
        };
        let mut paths = Vec::new();
        for path in &self.inputs {
            if path.is_dir() {
                paths.extend(input::scan(path).map_err(anyhow::Error::msg)?);
            } else {
                paths.push(path.clone());
            }
        }
        let inputs = paths
            .iter()
            .map(|p| input::load(p, format))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!(hilt::script::ScriptError::whole("INPUT", e)))?;
        let mut backends = self.backends.start(&self.targets)?;
        let mut failed = 0;
        for input in &inputs {
            for backend in backends.iter_mut() {
                println!(
                    "== {} on {} ({})",
                    input.path.display(),
                    backend.name(),
                    input.origin
                );
                let replay = backend.replay(&input.steps)?;
                print!("{}", replay.text());
                match &replay.failure {
                    None => println!("outcome: clean"),
                    Some(f) => {
                        failed += 1;
                        println!("outcome: {} at step {}: {}", f.kind, f.step + 1, f.summary);
                        println!("signature: {}", f.signature);
                        for d in &f.details {
                            println!("  {d}");
                        }
                    }
                }
            }
        }
        eprintln!(
            "hilt: {} replays, {failed} failed",
            inputs.len() * backends.len()
        );
        Ok(if failed == 0 {
            hilt::exit::SUCCESS
        } else {
            hilt::exit::DEVICE
        })
    }
}
