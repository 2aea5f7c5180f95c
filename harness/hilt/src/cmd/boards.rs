//! `hilt boards`: the hardware map next to what is attached.

use std::path::PathBuf;

use clap::Args;
use hilt::boards::{self, attached, HardwareMap, Kind};

/// List the hardware map's boards, the debug probes and serial ports
/// attached to this machine, and whether each board's probe and port were
/// found.
///
/// A board's probe and port are found only when exactly one attached device
/// matches each: with two look-alike boards, only the serial number picks
/// one, and hilt never guesses.
#[derive(Debug, Args)]
pub struct BoardsCmd {
    /// The hardware map (see fixtures/boards.toml).
    #[arg(long = "boards", value_name = "FILE", env = "HILT_BOARDS")]
    map: Option<PathBuf>,
}

impl BoardsCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let map = HardwareMap::choose(self.map.as_deref())?;
        let probes = attached::probes();
        let ports = attached::ports();
        match &map.path {
            Some(path) => println!("hardware map {}", path.display()),
            None => {
                println!("no hardware map (--boards FILE or HILT_BOARDS): the implicit boards only")
            }
        }
        let mut missing = 0;
        for board in &map.boards {
            println!(
                "\n{} ({}, {})",
                board.name,
                board.kind.as_str(),
                board.origin
            );
            let line = |what: &str, text: String| println!("  {what:<9} {text}");
            if let Some(chip) = &board.chip {
                line("chip", chip.clone());
            }
            if let Some(firmware) = &board.firmware {
                line("firmware", firmware.clone());
            }
            line("baud", board.baud.to_string());
            match board.kind {
                Kind::ProbeRs => {
                    if let Some(probe) = &board.probe {
                        let found = boards::match_probe(probe, &probes);
                        missing += usize::from(found.is_err());
                        line(
                            "probe",
                            match found {
                                Ok(p) => format!("{probe}: found, {p}"),
                                Err(e) => format!("{probe}: NOT FOUND: {e}"),
                            },
                        );
                    }
                    if let Some(port) = board.port_selector() {
                        let found = boards::match_port(&port, &ports);
                        missing += usize::from(found.is_err());
                        line(
                            "port",
                            match found {
                                Ok(p) => format!("{port}: found, {}", p.path.display()),
                                Err(e) => format!("{port}: NOT FOUND: {e}"),
                            },
                        );
                    }
                }
                Kind::Qemu => line(
                    "qemu",
                    match hilt::target::qemu::find_qemu(hilt::target::qemu::DEFAULT_QEMU) {
                        Ok(path) => format!("found, {}", path.display()),
                        Err(e) => {
                            missing += 1;
                            format!("NOT FOUND: {e}")
                        }
                    },
                ),
                Kind::Sim => line("program", "hilt sim-node (built in)".into()),
            }
            if let Some(notes) = &board.notes {
                line("notes", notes.clone());
            }
        }
        println!("\nattached debug probes:");
        if probes.is_empty() {
            println!("  none");
        }
        for probe in &probes {
            println!("  {probe}");
        }
        println!("attached serial ports:");
        if ports.is_empty() {
            println!("  none");
        }
        for port in &ports {
            println!("  {port}");
        }
        if missing > 0 {
            println!("\n{missing} probe(s) or port(s) of the map not found");
        }
        Ok(hilt::exit::SUCCESS)
    }
}
