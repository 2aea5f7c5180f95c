//! `hilt serve`: boots a target and keeps it up for any Modbus master.

use std::io::Write;

use clap::Args;
use hilt::interrupt;

use super::TargetArgs;

/// Boot a target and keep it running until interrupted, so that any serial
/// Modbus master (mbpoll, pymodbus, libmodbus, a PLC) can talk to it.
///
/// The first line of standard output is the serial device to open. hilt
/// holds that device open meanwhile, so that nothing the device sends is
/// lost between clients, but never reads from it: a master may open and
/// close it as often as it likes.
#[derive(Debug, Args)]
pub struct ServeCmd {
    #[command(flatten)]
    target: TargetArgs,
}

impl ServeCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let mut target = self.target.start()?;
        let path = target.link().path().to_owned();
        target.link().stand_aside()?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", path.display())?;
        stdout.flush()?;
        drop(stdout);
        eprintln!(
            "hilt: {} is up, its UART is {} (115200 8N1); Ctrl-C stops it",
            target.name(),
            path.display()
        );
        while !interrupt::requested() {
            target.check_alive()?;
            std::thread::sleep(interrupt::POLL);
        }
        target.shutdown()?;
        eprintln!("hilt: {} stopped", target.name());
        Ok(hilt::exit::SUCCESS)
    }
}
