//! Saved request sequences: the minimal failing sequences the property
//! suite found, one file each, replayed before anything is generated.
//!
//! A sequence file is a request script: comments saying where it came from,
//! then one request per line in the request language (the request list
//! itself, not a seed, so it survives changes to the generators).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use hilt_modbus::{ModbusRequest, ModbusRtu};
use hilt_protocol::Protocol;

use super::SuiteError;

/// Where saved sequences live in the source tree.
pub const DIR: &str = "fixtures/sequences";

/// A saved sequence.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// The file it came from.
    pub path: PathBuf,
    /// Its requests.
    pub requests: Vec<ModbusRequest>,
}

/// Loads every `*.txt` sequence in `dir` (none if it does not exist).
pub fn load(dir: &Path) -> Result<Vec<Sequence>, SuiteError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    let protocol = ModbusRtu::default();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| SuiteError::Script(format!("{}: {e}", path.display())))?;
            let origin = path.display().to_string();
            let steps = crate::script::parse(&protocol, &origin, text.lines())
                .map_err(|e| SuiteError::Script(e.to_string()))?;
            let requests = steps
                .into_iter()
                .filter_map(|s| match s {
                    crate::script::Step::Request(r) => Some(r),
                    crate::script::Step::Reset => None,
                })
                .collect();
            Ok(Sequence { path, requests })
        })
        .collect()
}

/// Writes a sequence with a header of comments, under a name derived from
/// its requests (the same failure is saved once). Written to a temporary
/// file and renamed, so a half-written file never exists.
pub fn save(dir: &Path, header: &str, requests: &[ModbusRequest]) -> std::io::Result<PathBuf> {
    let protocol = ModbusRtu::default();
    let body: String = requests
        .iter()
        .map(|r| protocol.render_request(r) + "\n")
        .collect();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let path = dir.join(format!("sequence-{:016x}.txt", hasher.finish()));
    let mut text: String = header.lines().map(|l| format!("# {l}\n")).collect();
    text.push_str(&body);
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension("txt.partial");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, &path)?;
    Ok(path)
}
