//! `hilt sim-node` (hidden): runs the host simulation in this process, so
//! that `--target sim` needs no program besides `hilt`.

use clap::Args;

/// Run the simulated node on a fresh pty (used by `--target sim`).
#[derive(Debug, Args)]
pub struct SimNodeCmd {
    /// Baud rate the inter-frame silence is derived from.
    #[arg(default_value_t = 115_200)]
    baud: u32,

    /// Test only: crash, fault or hang on the crash trigger's requests.
    #[arg(long)]
    crash_trigger: bool,

    /// Benchmarks only: echo every byte instead of running the node.
    #[arg(long)]
    echo: bool,

    /// Run the core on bursts read from standard input, one per line in
    /// hex (or `reset`), and print its answers and state (`--target
    /// native`).
    #[arg(long)]
    replay: bool,
}

impl SimNodeCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let options = mbnode_sim::SimOptions {
            baud: self.baud,
            crash_trigger: self.crash_trigger,
            echo: self.echo,
        };
        if self.replay {
            mbnode_sim::replay(std::io::stdin().lock(), std::io::stdout().lock(), &options)?;
        } else {
            mbnode_sim::main_with(&options)?;
        }
        Ok(hilt::exit::SUCCESS)
    }
}
