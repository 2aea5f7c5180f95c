//! The `hilt` command line. Each subcommand is a module of `cmd` with a
//! clap `Args` struct and a `run`; errors travel up as `anyhow` chains and
//! leave as one line and an exit code from `hilt::exit`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// hilt: hardware-in-the-loop testing and fuzzing of microcontroller
/// firmware over its UART, on an emulated board or a host simulation.
#[derive(Debug, Parser)]
#[command(name = "hilt", version, about, long_about = None)]
#[command(after_help = "\
Exit codes: 0 success; 1 the device misbehaved (malformed response); \
2 bad command line or request text; 3 firmware missing, unbuildable or over budget; \
4 target could not start or died (e.g. QEMU not installed); 5 serial link failed; \
130 interrupted.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(cmd::serve::ServeCmd),
    Exec(cmd::exec::ExecCmd),
    Build(cmd::build::BuildCmd),
    Boards(cmd::boards::BoardsCmd),
    Flash(cmd::flash::FlashCmd),
    Bench(cmd::bench::BenchCmd),
    Test(cmd::test::TestCmd),
    Fuzz(cmd::fuzz::FuzzCmd),
    TimeToBug(cmd::time_to_bug::TimeToBugCmd),
    Coverage(cmd::coverage::CoverageCmd),
    Replay(cmd::replay::ReplayCmd),
    Nightly(cmd::nightly::NightlyCmd),
    Triage(cmd::triage::TriageCmd),
    #[command(hide = true)]
    SimNode(cmd::sim_node::SimNodeCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The simulation keeps the default signal actions: hilt stops it with
    // SIGTERM, and it has nothing to clean up.
    if !matches!(cli.command, Command::SimNode(_)) {
        hilt::interrupt::install();
    }
    let result = match cli.command {
        Command::Serve(c) => c.run(),
        Command::Exec(c) => c.run(),
        Command::Build(c) => c.run(),
        Command::Boards(c) => c.run(),
        Command::Flash(c) => c.run(),
        Command::Bench(c) => c.run(),
        Command::Test(c) => c.run(),
        Command::Fuzz(c) => c.run(),
        Command::TimeToBug(c) => c.run(),
        Command::Coverage(c) => c.run(),
        Command::Replay(c) => c.run(),
        Command::Nightly(c) => c.run(),
        Command::Triage(c) => c.run(),
        Command::SimNode(c) => c.run(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`hilt exec ... | head`): not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hilt: {e:#}");
            ExitCode::from(cmd::exit_code(&e))
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
