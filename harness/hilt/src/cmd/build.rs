//! `hilt build`: builds the firmware under test and reports its footprint.

use anyhow::bail;
use std::io::Write;

use clap::Args;
use hilt::firmware::{self, Board, BOARDS, LM3S6965EVB};
use hilt::suite;
use hilt::target::qemu::{QemuOptions, QemuTarget};
use hilt::target::Target;

/// Build the firmware under test for each board and print the flash and
/// static RAM it takes against its budget (firmware-under-test/budgets.toml).
/// Fails when a build fails or a budget is exceeded.
#[derive(Debug, Args)]
pub struct BuildCmd {
    /// Also measure the stack's high-water mark on the emulated board: boot
    /// the firmware in QEMU, send a long run of random requests (each
    /// checked against the reference model) without a reset, then read the
    /// painted stack back. Checked against the `stack` budget.
    #[arg(long)]
    stack: bool,

    /// Requests in the run that measures the stack.
    #[arg(long, default_value_t = 2000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    stack_requests: u64,

    /// Build only this board (repeatable); all boards by default.
    #[arg(long = "board", value_name = "NAME", value_parser = board_name)]
    boards: Vec<String>,
}

fn board_name(name: &str) -> Result<String, String> {
    match firmware::board(name) {
        Some(_) => Ok(name.to_owned()),
        None => {
            let known: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
            Err(format!("unknown board; known boards: {}", known.join(", ")))
        }
    }
}

impl BuildCmd {
    /// Boots `elf` on the emulated board, runs the long run, and reads the
    /// stack's high-water mark.
    fn measure_stack(&self, elf: &std::path::Path) -> anyhow::Result<u64> {
        let Some((bottom, top)) = firmware::stack_region(elf)? else {
            bail!(
                "{}: no _stack_end/_stack_start symbols to measure the stack by",
                elf.display()
            );
        };
        eprintln!(
            "hilt: measuring the stack: {} random requests on the emulated board",
            self.stack_requests
        );
        let mut target = QemuTarget::start(&QemuOptions::new(elf))?;
        suite::long_run(
            &mut target,
            LM3S6965EVB.name,
            self.stack_requests as usize,
            1,
        )?;
        let dump = target.read_memory(bottom, top - bottom)?;
        target.shutdown()?;
        Ok(firmware::stack_high_water(&dump))
    }

    pub fn run(self) -> anyhow::Result<u8> {
        let boards: Vec<Board> = if self.boards.is_empty() {
            BOARDS.to_vec()
        } else {
            self.boards
                .iter()
                .filter_map(|n| firmware::board(n))
                .collect()
        };
        let budgets = firmware::budgets(&firmware::source_root()?)?;
        let mut over = Vec::new();
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{:<15} {:>16} {:>16} {:>16}  elf",
            "board", "flash (budget)", "ram (budget)", "stack (budget)"
        )?;
        for board in &boards {
            eprintln!("hilt: building {}", board.name);
            let elf = firmware::build(board)?;
            let size = firmware::footprint(&elf)?;
            for text in firmware::TEST_ONLY_MARKERS {
                if firmware::image_contains(&elf, text.as_bytes())? {
                    bail!(firmware::FirmwareError::TestOnlyCode {
                        board: board.name,
                        text: text.into(),
                    });
                }
            }
            let Some(budget) = budgets.get(board.name) else {
                bail!(firmware::FirmwareError::Budgets {
                    path: firmware::BUDGETS.into(),
                    reason: format!("no budget for board {}", board.name),
                });
            };
            let stack = if self.stack && *board == LM3S6965EVB {
                Some(self.measure_stack(&elf)?)
            } else {
                None
            };
            let stack_column = match (stack, budget.stack) {
                (Some(used), Some(limit)) => format!("{used:>7} ({limit:>6})"),
                (Some(used), None) => format!("{used:>7} (  none)"),
                (None, _) => format!("{:>16}", "not measured"),
            };
            writeln!(
                out,
                "{:<15} {:>7} ({:>6}) {:>7} ({:>6}) {}  {}",
                board.name,
                size.flash,
                budget.flash,
                size.ram,
                budget.ram,
                stack_column,
                elf.display()
            )?;
            let stack_over =
                matches!((stack, budget.stack), (Some(used), Some(limit)) if used > limit);
            if size.flash > budget.flash || size.ram > budget.ram || stack_over {
                over.push(board.name);
            }
        }
        if !over.is_empty() {
            bail!(firmware::FirmwareError::OverBudget(over.join(", ")));
        }
        Ok(hilt::exit::SUCCESS)
    }
}
