//! `hilt build`: builds the firmware under test and reports its footprint.

use anyhow::bail;
use std::io::Write;

use clap::Args;
use hilt::firmware::{self, Board, BOARDS};

/// Build the firmware under test for each board and print the flash and
/// static RAM it takes against its budget (firmware-under-test/budgets.toml).
/// Fails when a build fails or a budget is exceeded.
#[derive(Debug, Args)]
pub struct BuildCmd {
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
            "{:<15} {:>16} {:>16}  elf",
            "board", "flash (budget)", "ram (budget)"
        )?;
        for board in &boards {
            eprintln!("hilt: building {}", board.name);
            let elf = firmware::build(board)?;
            let size = firmware::footprint(&elf)?;
            let Some(budget) = budgets.get(board.name) else {
                bail!(firmware::FirmwareError::Budgets {
                    path: firmware::BUDGETS.into(),
                    reason: format!("no budget for board {}", board.name),
                });
            };
            writeln!(
                out,
                "{:<15} {:>7} ({:>6}) {:>7} ({:>6})  {}",
                board.name,
                size.flash,
                budget.flash,
                size.ram,
                budget.ram,
                elf.display()
            )?;
            if size.flash > budget.flash || size.ram > budget.ram {
                over.push(board.name);
            }
        }
        if !over.is_empty() {
            bail!(firmware::FirmwareError::OverBudget(over.join(", ")));
        }
        Ok(hilt::exit::SUCCESS)
    }
}
