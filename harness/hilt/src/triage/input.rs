//! Saved crash inputs, read back as steps: `hilt fuzz` crash records
//! (`KIND-ID.json` with its `.steps`), files of steps (corpus entries,
//! regression cases, libFuzzer artifacts of the `frame`, `node` and `model`
//! targets), and libFuzzer artifacts of the `request` target, which are a
//! bare PDU (sent to unit 1 with its CRC).

use std::path::{Path, PathBuf};

use hilt_modbus::fuzzing::{Step, Steps};

use crate::wirefuzz::crashes::CrashRecord;

/// How an input file's bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The steps format of `hilt_modbus::fuzzing`.
    Steps,
    /// A PDU, as the `request` fuzz target reads its input.
    Pdu,
}

/// One saved input.
#[derive(Debug, Clone)]
pub struct Input {
    /// The file given (a crash record's `.json`, or the input itself).
    pub path: PathBuf,
    pub steps: Steps,
    /// Where it came from: `hilt fuzz on sim`, `libFuzzer (model)`, a file.
    pub origin: String,
    /// Unix seconds: the record's first sighting, else the file's time.
    pub first_seen: u64,
}

impl Input {
    /// The bytes this input puts on the line, resets not counted: what
    /// minimisation makes smaller.
    pub fn size(&self) -> usize {
        size(&self.steps)
    }
}

/// The bytes `steps` put on the line.
pub fn size(steps: &Steps) -> usize {
    steps.0.iter().map(|s| s.wire().len()).sum()
}

/// How to read `path`, from where it lies: a file in a folder named
/// `request` (libFuzzer's `fuzz/artifacts/request/`) is a PDU.
pub fn format_of(path: &Path) -> Format {
    let in_request = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "request");
    if in_request {
        Format::Pdu
    } else {
        Format::Steps
    }
}

/// Reads one input; `format` overrides the format from the path.
pub fn load(path: &Path, format: Option<Format>) -> Result<Input, String> {
    let what = |e: std::io::Error| format!("{}: {e}", path.display());
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    if path.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read_to_string(path).map_err(what)?;
        let record: CrashRecord = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a hilt crash record: {e}", path.display()))?;
        let steps_path = path.with_file_name(&record.input);
        let bytes = std::fs::read(&steps_path).map_err(|e| {
            format!(
                "{}: its input {}: {e}",
                path.display(),
                steps_path.display()
            )
        })?;
        return Ok(Input {
            path: path.to_owned(),
            steps: Steps::from_bytes(&bytes),
            origin: format!("hilt fuzz on {} ({})", record.target, record.signature),
            first_seen: if record.first_seen > 0 {
                record.first_seen
            } else {
                modified
            },
        });
    }
    let bytes = std::fs::read(path).map_err(what)?;
    let format = format.unwrap_or_else(|| format_of(path));
    let steps = match format {
        Format::Steps => Steps::from_bytes(&bytes),
        Format::Pdu => {
            let mut frame = vec![1];
            frame.extend_from_slice(&bytes);
            Steps(vec![Step::Frame(frame)])
        }
    };
    let origin = match path.parent().and_then(Path::file_name) {
        Some(dir) if is_artifact(path) => format!("libFuzzer ({})", dir.to_string_lossy()),
        _ => "file".to_owned(),
    };
    Ok(Input {
        path: path.to_owned(),
        steps,
        origin,
        first_seen: modified,
    })
}

/// A libFuzzer artifact, by its name: `crash-SHA1`, `timeout-…`, `oom-…`,
/// `leak-…`, `slow-unit-…`.
fn is_artifact(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        ["crash-", "timeout-", "oom-", "leak-", "slow-unit-"]
            .iter()
            .any(|p| n.starts_with(p))
    })
}

/// A libFuzzer artifact of a failure no replay can show: running out of
/// memory, a leak, a slow input (of the host build, under sanitizers).
pub fn not_replayable(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        ["oom-", "leak-", "slow-unit-"]
            .iter()
            .any(|p| n.starts_with(p))
    })
}

/// Every input under `dir`, in a stable order. A crash record stands for
/// its `.steps` file, which is not read again on its own; hidden files,
/// reports and metadata (`.md`, `.toml`, other `.json`) are skipped.
pub fn scan(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    files.sort();
    let mut claimed = std::collections::HashSet::new();
    let mut inputs = Vec::new();
    for path in &files {
        if path.extension().is_some_and(|e| e == "json") {
            let record = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| serde_json::from_str::<CrashRecord>(&t).ok());
            if let Some(record) = record {
                claimed.insert(path.with_file_name(&record.input));
                inputs.push(path.clone());
            }
        }
    }
    for path in files {
        let skipped = path
            .extension()
            .is_some_and(|e| e == "json" || e == "md" || e == "toml" || e == "snap");
        if !skipped && !claimed.contains(&path) {
            inputs.push(path);
        }
    }
    inputs.sort();
    Ok(inputs)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            // A folder that cannot be read is listed as an input, which
            // then fails to load and is reported as unreadable.
            if walk(&path, files).is_err() {
                files.push(path);
            }
        } else {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_artifacts_are_pdus_and_others_are_steps() {
        let dir = tempfile::tempdir().unwrap();
        let request = dir.path().join("request");
        std::fs::create_dir(&request).unwrap();
        std::fs::write(request.join("crash-01"), [0x07]).unwrap();
        let input = load(&request.join("crash-01"), None).unwrap();
        assert_eq!(input.steps, Steps(vec![Step::Frame(vec![1, 7])]));
        assert_eq!(input.origin, "libFuzzer (request)");

        let steps = Steps(vec![Step::Frame(vec![1, 7]), Step::Reset]);
        std::fs::write(dir.path().join("a.steps"), steps.encode()).unwrap();
        let input = load(&dir.path().join("a.steps"), None).unwrap();
        assert_eq!(input.steps, steps);
        assert_eq!(input.size(), 4);
        assert_eq!(input.origin, "file");
    }

    #[test]
    fn a_crash_record_stands_for_its_steps() {
        let dir = tempfile::tempdir().unwrap();
        let steps = Steps(vec![Step::Frame(vec![1, 7])]);
        std::fs::write(dir.path().join("panic-0123456789ab.steps"), steps.encode()).unwrap();
        let record = serde_json::json!({
            "signature": "panic|f|a.rs:1", "outcome": "crash", "kind": "panic",
            "summary": "boom", "location": null, "pc": null, "details": [],
            "target": "sim", "firmware": "x", "firmware_sha1": "00", "seed": 1,
            "input": "panic-0123456789ab.steps", "steps": ["01 07"], "last_sent": "",
            "first_seen": 1_700_000_000u64, "count": 2
        });
        std::fs::write(
            dir.path().join("panic-0123456789ab.json"),
            record.to_string(),
        )
        .unwrap();
        std::fs::write(dir.path().join("report.md"), "x").unwrap();
        std::fs::write(dir.path().join("crash-99"), [5, 1, 7]).unwrap();
        let found = scan(dir.path()).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["crash-99", "panic-0123456789ab.json"]);
        let input = load(&found[1], None).unwrap();
        assert_eq!(input.steps, steps);
        assert_eq!(input.first_seen, 1_700_000_000);
        assert!(
            input.origin.starts_with("hilt fuzz on sim"),
            "{}",
            input.origin
        );
    }

    #[test]
    fn what_replay_cannot_show_is_told_by_name() {
        assert!(not_replayable(Path::new("a/node/oom-01ab")));
        assert!(not_replayable(Path::new("leak-01ab")));
        assert!(!not_replayable(Path::new("a/node/crash-01ab")));
        assert!(!not_replayable(Path::new("timeout-01ab")));
    }

    #[test]
    fn a_bad_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "{}").unwrap();
        let e = load(&path, None).unwrap_err();
        assert!(
            e.contains("x.json") && e.contains("not a hilt crash record"),
            "{e}"
        );
    }
}
