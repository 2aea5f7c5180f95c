//! The crash folder: one record per distinct crash or hang, written
//! atomically before the device is reset, so that nothing found is lost.
//!
//! For each signature (the failure's kind and symbolised location) the
//! folder holds `ID.json`, the record, and `ID.steps`, the input that
//! replays it: every step since the device's last reset, in the corpus
//! format. A crash seen again only raises the record's count.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::corpus::write_atomically;
use crate::crash::Evidence;

/// A stored crash or hang.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrashRecord {
    /// What groups crashes with one root cause.
    pub signature: String,
    /// `crash` or `hang`.
    pub outcome: String,
    /// `panic`, `fault`, `hang`, `exit`.
    pub kind: String,
    pub summary: String,
    /// Function, file and line, where known.
    pub location: Option<String>,
    pub pc: Option<u64>,
    pub details: Vec<String>,
    /// The target's name (`qemu`, `sim`, a board).
    pub target: String,
    /// The firmware: its path and the SHA-1 of its bytes.
    pub firmware: String,
    pub firmware_sha1: String,
    /// The campaign's seed.
    pub seed: u64,
    /// The input file, next to this record.
    pub input: String,
    /// The input's steps as hex, one per line (a reset is `reset`).
    pub steps: Vec<String>,
    /// The last bytes the device was sent.
    pub last_sent: String,
    /// The last bytes received from it (a crash announcement, a partial
    /// answer), if any.
    #[serde(default)]
    pub last_received: String,
    /// Unix seconds when first seen.
    pub first_seen: u64,
    /// How many times it was seen.
    pub count: u64,
}

/// The signature of a failure: its kind and where it happened; the
/// summary only when the location is unknown.
pub fn signature(evidence: &Evidence) -> String {
    let place = match &evidence.location {
        Some(l) => format!(
            "{}|{}:{}",
            l.function.as_deref().unwrap_or("?"),
            l.file
                .as_deref()
                .map(|f| f.rsplit('/').next().unwrap_or(f))
                .unwrap_or("?"),
            l.line.unwrap_or(0)
        ),
        None => evidence.summary.clone(),
    };
    format!("{}|{place}", evidence.kind.as_str())
}

/// What [`CrashStore::record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A new signature: its record's path.
    New(PathBuf),
    /// Seen before: its count now.
    Again(u64),
}

/// The crash folder.
#[derive(Debug)]
pub struct CrashStore {
    dir: PathBuf,
    known: HashMap<String, (PathBuf, CrashRecord)>,
}

impl CrashStore {
    /// Opens `dir` (created if missing), checks that it can be written,
    /// and reads the records already there, so a resumed campaign counts
    /// duplicates instead of storing them again.
    pub fn open(dir: &Path) -> Result<CrashStore, String> {
        let what = |e: std::io::Error| format!("crash folder {}: {e}", dir.display());
        std::fs::create_dir_all(dir).map_err(what)?;
        let probe = dir.join(".hilt-write-test");
        std::fs::write(&probe, b"")
            .map_err(|e| format!("crash folder {} cannot be written: {e}", dir.display()))?;
        let _ = std::fs::remove_file(&probe);
        let mut known = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(what)? {
            let path = entry.map_err(what)?.path();
            // Only this store's records: `KIND-ID.json`, ID 12 hex digits.
            let is_record = path.extension().is_some_and(|e| e == "json")
                && path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.rsplit_once('-'))
                    .is_some_and(|(_, id)| {
                        id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())
                    });
            if !is_record {
                continue;
            }
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let record: CrashRecord = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a crash record: {e}", path.display()))?;
            known.insert(record.signature.clone(), (path, record));
        }
        Ok(CrashStore {
            dir: dir.to_owned(),
            known,
        })
    }

    /// Distinct crashes and hangs stored.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Stores a crash: the input first, then the record, each atomically;
    /// or, for a signature seen before, its count.
    pub fn record(&mut self, mut record: CrashRecord, input: &[u8]) -> std::io::Result<Stored> {
        if let Some((path, known)) = self.known.get_mut(&record.signature) {
            known.count += 1;
            let json = serde_json::to_vec_pretty(known).map_err(std::io::Error::other)?;
            write_atomically(path, &json)?;
            return Ok(Stored::Again(known.count));
        }
        let id = format!(
            "{}-{}",
            record.kind,
            &super::corpus::name_of(record.signature.as_bytes())[..12]
        );
        let input_path = self.dir.join(format!("{id}.steps"));
        write_atomically(&input_path, input)?;
        record.input = input_path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        record.count = 1;
        let path = self.dir.join(format!("{id}.json"));
        let json = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
        write_atomically(&path, &json)?;
        self.known
            .insert(record.signature.clone(), (path.clone(), record));
        Ok(Stored::New(path))
    }

    /// The records, by signature.
    pub fn records(&self) -> impl Iterator<Item = &CrashRecord> {
        self.known.values().map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::{FailureKind, Location};

    fn record(signature: &str) -> CrashRecord {
        CrashRecord {
            signature: signature.into(),
            outcome: "crash".into(),
            kind: "panic".into(),
            summary: "boom".into(),
            location: None,
            pc: None,
            details: vec![],
            target: "sim".into(),
            firmware: "hilt".into(),
            firmware_sha1: "00".into(),
            seed: 7,
            input: String::new(),
            steps: vec!["01 07".into()],
            last_sent: "01 07 41 E2".into(),
            last_received: String::new(),
            first_seen: 0,
            count: 0,
        }
    }

    #[test]
    fn a_crash_is_stored_once_and_counted_after() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("crashes");
        let mut store = CrashStore::open(&folder).unwrap();
        let Stored::New(path) = store
            .record(record("panic|f|a.rs:1"), b"\x05\x01\x07")
            .unwrap()
        else {
            panic!("not new");
        };
        assert_eq!(
            store.record(record("panic|f|a.rs:1"), b"other").unwrap(),
            Stored::Again(2)
        );
        let saved: CrashRecord =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved.count, 2);
        assert_eq!(
            std::fs::read(folder.join(&saved.input)).unwrap(),
            b"\x05\x01\x07",
            "the first input stays"
        );
        // A resumed campaign knows it.
        let mut again = CrashStore::open(&folder).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(
            again.record(record("panic|f|a.rs:1"), b"x").unwrap(),
            Stored::Again(3)
        );
        assert!(matches!(
            again.record(record("hang|g|b.rs:2"), b"y").unwrap(),
            Stored::New(_)
        ));
    }

    #[test]
    fn an_unwritable_folder_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"").unwrap();
        let e = CrashStore::open(&file.join("crashes")).unwrap_err();
        assert!(e.starts_with("crash folder "), "{e}");
    }

    #[test]
    fn signatures_are_kind_and_place() {
        let evidence = Evidence {
            kind: FailureKind::Panic,
            summary: "x".into(),
            location: Some(Location {
                function: Some("m::f".into()),
                file: Some("/a/b/run.rs".into()),
                line: Some(9),
            }),
            pc: None,
            details: vec![],
        };
        assert_eq!(signature(&evidence), "panic|m::f|run.rs:9");
    }
}
