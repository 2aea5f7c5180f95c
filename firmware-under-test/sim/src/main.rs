//! `mbnode-sim [--crash-trigger] [--echo] [--replay] [BAUD]`: the simulated
//! node on a fresh pty. Prints the pty's path on the first line of standard
//! output, then serves until killed. With `--replay`, runs the core on the
//! bursts read from standard input instead (see `mbnode_sim::replay`).
//! `HILT_PLANTED` chooses the planted bugs, as for the fuzz targets. `hilt sim-node` is the same, built into hilt; this
//! program exists for builds with test-only features (`planted-bugs`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut options = mbnode_sim::SimOptions::default();
    let mut replay = false;
    for arg in std::env::args().skip(1) {
        if arg == "--crash-trigger" {
            options.crash_trigger = true;
            continue;
        }
        if arg == "--replay" {
            replay = true;
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
                    "mbnode-sim: usage: mbnode-sim [--crash-trigger] [--echo] [--replay] [BAUD] (BAUD a positive number, got {arg:?})"
                );
                return ExitCode::from(2);
            }
        }
    }
    if let Ok(list) = std::env::var("HILT_PLANTED") {
        if let Err(e) = mbnode_sim::select_planted(&list) {
            eprintln!("mbnode-sim: HILT_PLANTED: {e}");
            return ExitCode::from(2);
        }
    }
    let result = if replay {
        mbnode_sim::replay(std::io::stdin().lock(), std::io::stdout().lock(), &options)
    } else {
        mbnode_sim::main_with(&options)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mbnode-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
