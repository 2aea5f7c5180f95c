//! `mbnode-sim [--crash-trigger] [--echo] [BAUD]`: the simulated node on a fresh
//! pty. Prints the pty's path on the first line of standard output, then
//! serves until killed. `hilt sim-node` is the same, built into hilt; this
//! program exists for builds with test-only features (`planted-bugs`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut options = mbnode_sim::SimOptions::default();
    for arg in std::env::args().skip(1) {
        if arg == "--crash-trigger" {
            options.crash_trigger = true;
            continue;
        }
        if arg == "--echo" {
            options.echo = true;
            continue;
        }
        match arg.parse() {
            Ok(baud) if baud > 0 => options.baud = baud,
            _ => {
                eprintln!(
                    "mbnode-sim: usage: mbnode-sim [--crash-trigger] [--echo] [BAUD] (BAUD a positive number, got {arg:?})"
                );
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
