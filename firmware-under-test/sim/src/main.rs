//! `mbnode-sim [BAUD]`: the simulated node on a fresh pty. Prints the pty's
//! path on the first line of standard output, then serves until killed.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut options = mbnode_sim::SimOptions::default();
    if let Some(arg) = std::env::args().nth(1) {
        match arg.parse() {
            Ok(baud) if baud > 0 => options.baud = baud,
            _ => {
                eprintln!("mbnode-sim: usage: mbnode-sim [BAUD] (a positive number, got {arg:?})");
                return ExitCode::from(2);
            }
        }
    }
    match mbnode_sim::main_with(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mbnode-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
