//! The firmware under test: where its board crates are, building them, and
//! measuring what they take of flash and RAM.
//!
//! Each board is its own cargo project under `firmware-under-test/boards/`,
//! pinning its target in its own `.cargo/config.toml`; hilt builds it with
//! cargo from that directory, into the workspace's one target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use object::{elf, Object, ObjectSection, ObjectSymbol, SectionFlags, SectionKind};

/// A board the firmware under test is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// The board's name, as in the hardware map and in Device Identification.
    pub name: &'static str,
    /// The Rust target triple.
    pub triple: &'static str,
    /// The cargo package (and binary) name.
    pub package: &'static str,
    /// The crate's directory, relative to the source root.
    pub dir: &'static str,
}

/// QEMU's Stellaris LM3S6965 evaluation board (Cortex-M3): the emulated board.
pub const LM3S6965EVB: Board = Board {
    name: "lm3s6965evb",
    triple: "thumbv7m-none-eabi",
    package: "mbnode-lm3s6965evb",
    dir: "firmware-under-test/boards/lm3s6965evb",
};

/// ST NUCLEO-F401RE (Cortex-M4F): the real board.
pub const NUCLEO_F401RE: Board = Board {
    name: "nucleo-f401re",
    triple: "thumbv7em-none-eabihf",
    package: "mbnode-nucleo-f401re",
    dir: "firmware-under-test/boards/nucleo-f401re",
};

/// Every board the firmware is built for.
pub const BOARDS: &[Board] = &[LM3S6965EVB, NUCLEO_F401RE];

/// Where the budgets are, relative to the source root.
pub const BUDGETS: &str = "firmware-under-test/budgets.toml";

/// A board's budget, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Flash.
    pub flash: u64,
    /// Static RAM (data, bss, uninit; the stack not counted).
    pub ram: u64,
    /// The stack's high-water mark, for boards whose stack is measured.
    pub stack: Option<u64>,
}

/// Reads the checked-in budgets, one per board name.
pub fn budgets(root: &Path) -> Result<std::collections::BTreeMap<String, Budget>, FirmwareError> {
    let path = root.join(BUDGETS);
    let text = std::fs::read_to_string(&path).map_err(|e| FirmwareError::Budgets {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| FirmwareError::Budgets {
        path,
        reason: e.to_string(),
    })
}

/// Looks a board up by name.
pub fn board(name: &str) -> Option<Board> {
    BOARDS.iter().copied().find(|b| b.name == name)
}

/// Errors of building and measuring firmware.
#[derive(Debug, thiserror::Error)]
pub enum FirmwareError {
    /// The budgets file is missing or malformed.
    #[error("budgets file {path}: {reason}")]
    Budgets {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and field for a malformed file).
        reason: String,
    },
    /// hilt runs outside the source tree it was built from.
    #[error(
        "the firmware sources are not at {0}: pass --elf PATH, or run hilt from its source tree"
    )]
    NoSources(PathBuf),
    /// cargo could not be run.
    #[error("cannot run cargo to build the firmware: {0}")]
    Cargo(std::io::Error),
    /// The build failed.
    #[error("building the firmware for {board} failed:\n{output}")]
    Build {
        /// Which board.
        board: &'static str,
        /// The end of cargo's output.
        output: String,
    },
    /// A build takes more flash or RAM than its budget.
    #[error("over budget: {0} (see the table above; shrink the firmware or raise the budget with a reason)")]
    OverBudget(String),
    /// A shipped build carries test-only code.
    #[error(
        "the shipped firmware for {board} carries test-only code: its image contains {text:?}"
    )]
    TestOnlyCode {
        /// Which board.
        board: &'static str,
        /// What was found.
        text: String,
    },
    /// The ELF could not be read.
    #[error("cannot read firmware ELF {path}: {reason}")]
    Elf {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The source tree hilt was built from, if it is still there.
pub fn source_root() -> Result<PathBuf, FirmwareError> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap_or(root);
    if root.join(LM3S6965EVB.dir).join("Cargo.toml").is_file() {
        Ok(root)
    } else {
        Err(FirmwareError::NoSources(root))
    }
}

/// The target directory shared by the workspace and the firmware.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                std::env::current_dir().unwrap_or_default().join(dir)
            }
        }
        _ => root.join("target"),
    }
}

/// Where the release ELF of `board` is (whether or not it was built).
pub fn elf_path(board: &Board) -> Result<PathBuf, FirmwareError> {
    let root = source_root()?;
    Ok(target_dir(&root)
        .join(board.triple)
        .join("release")
        .join(board.package))
}

/// Builds the release firmware of `board` (cargo makes this a no-op when it
/// is up to date) and returns its ELF.
pub fn build(board: &Board) -> Result<PathBuf, FirmwareError> {
    build_into(board, &[], &target_dir(&source_root()?))
}

/// Builds a variant of the firmware with cargo `features` of the board crate
/// (test-only features such as `seeded-divergence`), in a target directory
/// of its own under the shared one, so that the default ELF is never
/// replaced by a variant. Returns its ELF.
pub fn build_variant(board: &Board, features: &[&str]) -> Result<PathBuf, FirmwareError> {
    let dir = target_dir(&source_root()?)
        .join("variants")
        .join(features.join("+"));
    build_into(board, features, &dir)
}

/// Builds the simulation as its own program (`mbnode-sim`) with cargo
/// `features` of its crate (`planted-bugs`), in a target directory of its
/// own; returns the program. `hilt sim-node` is the shipped simulation.
pub fn build_sim_variant(features: &[&str]) -> Result<PathBuf, FirmwareError> {
    let root = source_root()?;
    let dir = target_dir(&root)
        .join("variants")
        .join(format!("sim+{}", features.join("+")));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "-q",
            // Optimised as a shipped program is, and so that a hang's place
            // is the function the loop is compiled into, not whichever
            // helper a sample lands in.
            "--release",
            "-p",
            "mbnode-sim",
            "--bin",
            "mbnode-sim",
            "--target-dir",
        ])
        .arg(&dir);
    if !features.is_empty() {
        command.arg("--features").arg(features.join(","));
    }
    let output = command
        .current_dir(&root)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .map_err(FirmwareError::Cargo)?;
    if !output.status.success() {
        return Err(FirmwareError::Build {
            board: "sim",
            output: crate::last_lines(&String::from_utf8_lossy(&output.stderr), 30),
        });
    }
    Ok(dir.join("release").join("mbnode-sim"))
}

fn build_into(board: &Board, features: &[&str], dir: &Path) -> Result<PathBuf, FirmwareError> {
    let root = source_root()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target-dir"])
        .arg(dir);
    if !features.is_empty() {
        command.arg("--features").arg(features.join(","));
    }
    let output = command
        .current_dir(root.join(board.dir))
        // The host build's flags are not the firmware's: the board's own
        // .cargo/config.toml says how it is built.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .map_err(FirmwareError::Cargo)?;
    if !output.status.success() {
        let tail = crate::last_lines(&String::from_utf8_lossy(&output.stderr), 30);
        return Err(FirmwareError::Build {
            board: board.name,
            output: tail,
        });
    }
    Ok(dir.join(board.triple).join("release").join(board.package))
}

/// What a firmware image takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes of flash: code, read-only data, initial values of data.
    pub flash: u64,
    /// Bytes of static RAM: data, bss and the uninitialised (crash record)
    /// section; the stack is not counted.
    pub ram: u64,
}

/// Measures an ELF's flash and static RAM from its allocated sections: a
/// section with contents in the file takes flash, a writable one takes RAM
/// (initialised data takes both).
pub fn footprint(elf: &Path) -> Result<Footprint, FirmwareError> {
    let elf_err = |reason: String| FirmwareError::Elf {
        path: elf.to_owned(),
        reason,
    };
    let data = std::fs::read(elf).map_err(|e| elf_err(e.to_string()))?;
    let file = object::File::parse(&*data).map_err(|e| elf_err(e.to_string()))?;
    let mut sizes = Footprint { flash: 0, ram: 0 };
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags, .. } = section.flags() else {
            continue;
        };
        if sh_flags & u64::from(elf::SHF_ALLOC) == 0 || section.size() == 0 {
            continue;
        }
        if section.kind() != SectionKind::UninitializedData {
            sizes.flash += section.size();
        }
        if sh_flags & u64::from(elf::SHF_WRITE) != 0 {
            sizes.ram += section.size();
        }
    }
    Ok(sizes)
}

/// Text that only test-only code puts in a firmware image: the planted
/// bugs' panic messages and the crash trigger's request.
pub const TEST_ONLY_MARKERS: [&str; 2] = ["planted bug", "crash trigger"];

/// Whether the ELF's image (its allocated sections, what is flashed)
/// contains `needle`. Debug information is not looked at.
pub fn image_contains(elf: &Path, needle: &[u8]) -> Result<bool, FirmwareError> {
    let elf_err = |reason: String| FirmwareError::Elf {
        path: elf.to_owned(),
        reason,
    };
    let data = std::fs::read(elf).map_err(|e| elf_err(e.to_string()))?;
    let file = object::File::parse(&*data).map_err(|e| elf_err(e.to_string()))?;
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags, .. } = section.flags() else {
            continue;
        };
        if sh_flags & u64::from(elf::SHF_ALLOC) == 0 {
            continue;
        }
        let bytes = section.data().map_err(|e| elf_err(e.to_string()))?;
        if !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The value cortex-m-rt's `paint-stack` fills the stack with at boot.
pub const STACK_PAINT: u32 = 0xCCCC_CCCC;

/// The stack's region `[bottom, top)` from the ELF's `_stack_end` and
/// `_stack_start` (the stack grows down from `top`).
pub fn stack_region(elf: &Path) -> Result<Option<(u64, u64)>, FirmwareError> {
    Ok(
        match (symbol(elf, "_stack_end")?, symbol(elf, "_stack_start")?) {
            (Some(bottom), Some(top)) if bottom < top => Some((bottom, top)),
            _ => None,
        },
    )
}

/// The deepest the stack has been, in bytes, from a dump of its region
/// (little-endian words, `bottom` first): everything from the lowest word
/// that no longer holds [`STACK_PAINT`] up to the top was used.
pub fn stack_high_water(dump: &[u8]) -> u64 {
    let untouched = dump
        .chunks_exact(4)
        .take_while(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) == STACK_PAINT)
        .count();
    (dump.len() - untouched * 4) as u64
}

/// The address of a symbol of the ELF, if it has one by that name.
pub fn symbol(elf: &Path, name: &str) -> Result<Option<u64>, FirmwareError> {
    let elf_err = |reason: String| FirmwareError::Elf {
        path: elf.to_owned(),
        reason,
    };
    let data = std::fs::read(elf).map_err(|e| elf_err(e.to_string()))?;
    let file = object::File::parse(&*data).map_err(|e| elf_err(e.to_string()))?;
    Ok(file
        .symbols()
        .find(|s| s.name() == Ok(name))
        .map(|s| s.address()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets_from(text: &str) -> Result<std::collections::BTreeMap<String, Budget>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(BUDGETS);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        budgets(dir.path()).map_err(|e| e.to_string())
    }

    #[test]
    fn high_water_mark_from_a_painted_dump() {
        let paint = STACK_PAINT.to_le_bytes();
        let mut dump: Vec<u8> = paint.iter().copied().cycle().take(64).collect();
        assert_eq!(stack_high_water(&dump), 0);
        dump[40] = 0;
        assert_eq!(stack_high_water(&dump), 24);
        dump[3] = 0;
        assert_eq!(stack_high_water(&dump), 64);
    }

    #[test]
    fn the_checked_in_budgets_cover_every_board() {
        let budgets = budgets(&source_root().unwrap()).unwrap();
        for board in BOARDS {
            let budget = budgets.get(board.name).expect("a budget per board");
            assert!(budget.flash > 0 && budget.ram > 0);
        }
    }

    #[test]
    fn malformed_budgets_name_the_file_line_and_field() {
        let ok = budgets_from("[a]\nflash = 1\nram = 2\n").unwrap();
        assert_eq!(
            ok["a"],
            Budget {
                flash: 1,
                ram: 2,
                stack: None
            }
        );
        let err = budgets_from("[a]\nflash = 1\nrom = 2\n").unwrap_err();
        assert!(
            err.contains("budgets.toml") && err.contains("line 3") && err.contains("rom"),
            "{err}"
        );
        let err = budgets_from("[a]\nflash = \"big\"\nram = 2\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("flash"), "{err}");
    }
}
