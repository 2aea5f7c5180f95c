//! Symbolisation: addresses and source lines to functions and locations,
//! from an ELF's DWARF debug information (the `addr2line` crate).

use std::path::Path;

use crate::crash::Location;

/// An ELF's debug information, loaded once for many lookups.
pub struct Symbols {
    loader: addr2line::Loader,
}

impl std::fmt::Debug for Symbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Symbols")
    }
}

/// `function::name::h0123456789abcdef` without the hash.
fn without_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

/// A function of Rust's standard library.
pub(crate) fn is_library(function: &str) -> bool {
    let function = function.trim_start_matches('<');
    ["core::", "alloc::", "std::", "compiler_builtins::"]
        .iter()
        .any(|prefix| function.starts_with(prefix))
}

impl Symbols {
    /// Loads the debug information of `elf`.
    pub fn load(elf: &Path) -> Result<Symbols, String> {
        addr2line::Loader::new(elf)
            .map(|loader| Symbols { loader })
            .map_err(|e| format!("reading the debug information of {}: {e}", elf.display()))
    }

    /// The function and source line of an address of the program (a Thumb
    /// address's low bit is ignored): the innermost frame, inlined ones
    /// included, that is not in the standard library (`core::ptr::read_volatile`
    /// says less than the function that called it).
    pub fn locate(&self, address: u64) -> Option<Location> {
        self.frames(address).0
    }

    /// Where a hung program spins: [`Symbols::locate`]'s file and line,
    /// with the function the code is compiled into (the outermost of its
    /// inlined frames), which does not change as the loop moves through
    /// the helpers inlined into it.
    pub fn locate_spin(&self, address: u64) -> Option<Location> {
        let (location, outermost) = self.frames(address);
        let mut location = location?;
        if outermost.is_some() {
            location.function = outermost;
        }
        Some(location)
    }

    /// The location of `address` and the function it is compiled into.
    fn frames(&self, address: u64) -> (Option<Location>, Option<String>) {
        let probe = address & !1;
        let mut located: Vec<Location> = Vec::new();
        if let Ok(mut frames) = self.loader.find_frames(probe) {
            while let Ok(Some(frame)) = frames.next() {
                let function = frame
                    .function
                    .as_ref()
                    .and_then(|f| f.demangle().ok())
                    .map(|name| without_hash(&name).to_owned());
                let (file, line) = frame
                    .location
                    .map_or((None, None), |l| (l.file.map(str::to_owned), l.line));
                located.push(Location {
                    function,
                    file,
                    line,
                });
            }
        }
        let outermost = located.last().and_then(|l| l.function.clone());
        let mut location = located
            .iter()
            .find(|l| !l.function.as_deref().is_some_and(is_library))
            .or(located.first())
            .cloned()
            .unwrap_or_default();
        if location.file.is_none() {
            if let Ok(Some(l)) = self.loader.find_location(probe) {
                location.file = l.file.map(str::to_owned);
                location.line = l.line;
            }
        }
        (
            (location != Location::default()).then_some(location),
            outermost,
        )
    }

    /// The function that holds a source line: for a panic, whose record
    /// has its file and line but no address. `file` may be a path's tail.
    pub fn locate_line(&self, file: &str, line: u32) -> Option<Location> {
        let rows = self.loader.find_location_range(0, u64::MAX).ok()?;
        for (address, _, location) in rows {
            let same_file = location
                .file
                .is_some_and(|f| f.ends_with(file) || file.ends_with(f));
            if same_file && location.line == Some(line) {
                let mut found = self.locate(address)?;
                found.file = location.file.map(str::to_owned);
                found.line = Some(line);
                return Some(found);
            }
        }
        None
    }
}

/// Where a process mapped its executable, from `/proc/PID/maps`: the start
/// of the mapping of `exe` at file offset 0 (addresses in the debug
/// information of a position-independent executable are relative to it).
pub fn process_load_base(maps: &str, exe: &Path) -> Option<u64> {
    let exe = exe.to_str()?;
    maps.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let range = fields.next()?;
        let _perms = fields.next()?;
        let offset = fields.next()?;
        let path = fields.nth(2)?;
        if path != exe || u64::from_str_radix(offset, 16).ok()? != 0 {
            return None;
        }
        u64::from_str_radix(range.split('-').next()?, 16).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_dropped_from_names() {
        assert_eq!(
            without_hash("mbnode_fw::run::crash_trigger::h0123456789abcdef"),
            "mbnode_fw::run::crash_trigger"
        );
        assert_eq!(without_hash("a::hello"), "a::hello");
    }

    /// This test binary's own debug information locates this function.
    #[test]
    fn an_address_of_this_program_is_located() {
        let exe = std::env::current_exe().unwrap();
        let symbols = Symbols::load(&exe).unwrap();
        // The address as linked: this binary is position-independent, so
        // subtract where it was loaded.
        let here = an_address_of_this_program_is_located as *const () as usize as u64;
        let base = load_base(&exe).unwrap();
        let location = symbols.locate(here - base).expect("located");
        assert!(
            location
                .function
                .as_deref()
                .unwrap_or_default()
                .ends_with("an_address_of_this_program_is_located"),
            "{location}"
        );
        assert!(
            location
                .file
                .as_deref()
                .unwrap_or_default()
                .ends_with("symbols.rs"),
            "{location}"
        );
        let line = location.line.unwrap();
        let by_line = symbols
            .locate_line("symbols.rs", line)
            .expect("the line is found");
        // The line may also hold a closure the compiler made of the test.
        let function = location.function.unwrap();
        assert!(by_line.function.unwrap().starts_with(&function));
    }

    fn load_base(exe: &Path) -> Option<u64> {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        crate::symbols::process_load_base(&maps, exe)
    }
}
