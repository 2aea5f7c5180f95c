//! The corpus folder: one input per file, named by the SHA-1 of its
//! content, in the format of the native targets (`hilt_modbus::fuzzing`),
//! so `fixtures/corpus/` seeds it and a native corpus can be fed straight
//! in.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A content-addressed name, as libFuzzer gives.
pub fn name_of(input: &[u8]) -> String {
    sha1_smol::Sha1::from(input).digest().to_string()
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in
/// the same folder, synced, renamed over `path`, then the folder synced. A
/// reader (or a crash of hilt, or of the machine) sees the whole file or
/// none of it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    // The rename itself survives a power loss once the folder is synced.
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The campaign's inputs.
#[derive(Debug)]
pub struct Corpus {
    dir: PathBuf,
    inputs: Vec<Vec<u8>>,
    names: HashSet<String>,
}

impl Corpus {
    /// Opens `dir` (created if missing) and reads every input in it and in
    /// the read-only `seeds` folders.
    pub fn open(dir: &Path, seeds: &[PathBuf]) -> Result<Corpus, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("corpus folder {}: {e}", dir.display()))?;
        let mut corpus = Corpus {
            dir: dir.to_owned(),
            inputs: Vec::new(),
            names: HashSet::new(),
        };
        for folder in std::iter::once(dir).chain(seeds.iter().map(PathBuf::as_path)) {
            let entries = std::fs::read_dir(folder)
                .map_err(|e| format!("corpus folder {}: {e}", folder.display()))?;
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths {
                if !path.is_file()
                    || path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                {
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                if corpus.names.insert(name_of(&bytes)) {
                    corpus.inputs.push(bytes);
                }
            }
        }
        Ok(corpus)
    }

    /// Adds an input; writes it to the folder unless it is there already.
    /// Returns whether it was new.
    pub fn add(&mut self, input: &[u8]) -> std::io::Result<bool> {
        let name = name_of(input);
        if !self.names.insert(name.clone()) {
            return Ok(false);
        }
        write_atomically(&self.dir.join(name), input)?;
        self.inputs.push(input.to_vec());
        Ok(true)
    }

    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.inputs.get(index).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_stored_once_by_content_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let seeds = tempfile::tempdir().unwrap();
        std::fs::write(seeds.path().join("a"), b"seed").unwrap();
        let folder = dir.path().join("new/corpus");
        let mut corpus = Corpus::open(&folder, &[seeds.path().to_owned()]).unwrap();
        assert_eq!(corpus.len(), 1);
        assert!(corpus.add(b"one").unwrap());
        assert!(!corpus.add(b"one").unwrap());
        assert!(!corpus.add(b"seed").unwrap(), "a seed is known");
        assert!(folder.join(name_of(b"one")).is_file());
        let again = Corpus::open(&folder, &[]).unwrap();
        assert_eq!(
            again.len(),
            1,
            "only what the campaign added is in its folder"
        );
        assert_eq!(name_of(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }
}
