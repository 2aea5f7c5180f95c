//! The triage report: markdown for people, JSON for tools.

use std::fmt::Write as _;

use hilt_modbus::fuzzing::{Step, Steps};
use hilt_modbus::wire::crc_ok;

use super::Triage;
use crate::hex;

/// The function codes of MODBUS-NODE.md, by name.
fn function_name(code: u8) -> &'static str {
    match code {
        0x01 => "Read Coils",
        0x02 => "Read Discrete Inputs",
        0x03 => "Read Holding Registers",
        0x04 => "Read Input Registers",
        0x05 => "Write Single Coil",
        0x06 => "Write Single Register",
        0x07 => "Read Exception Status",
        0x08 => "Diagnostics",
        0x0B => "Get Comm Event Counter",
        0x0F => "Write Multiple Coils",
        0x10 => "Write Multiple Registers",
        0x11 => "Report Server ID",
        0x14 => "Read File Record",
        0x15 => "Write File Record",
        0x16 => "Mask Write Register",
        0x17 => "Read/Write Multiple Registers",
        0x18 => "Read FIFO Queue",
        0x2B => "Encapsulated Interface Transport",
        _ => "unknown function",
    }
}

/// One step, readable: `unit 1, 0x15 Write File Record: 09 06 00 01`.
fn decode_frame(body: &[u8]) -> String {
    match body {
        [unit, function, data @ ..] => {
            let to = if *unit == 0 {
                "broadcast".to_owned()
            } else {
                format!("unit {unit}")
            };
            let data = if data.is_empty() {
                "no data".to_owned()
            } else {
                hex(data)
            };
            format!("{to}, {function:#04x} {}: {data}", function_name(*function))
        }
        _ => format!("{} (too short for a function code)", hex(body)),
    }
}

/// Each step, readable.
pub fn decode(steps: &Steps) -> Vec<String> {
    steps
        .0
        .iter()
        .map(|s| match s {
            Step::Reset => "reset".to_owned(),
            Step::Frame(body) => format!("frame: {} (CRC appended)", decode_frame(body)),
            Step::Raw(bytes) if bytes.len() >= 4 && crc_ok(bytes) => {
                format!("frame: {}", decode_frame(&bytes[..bytes.len() - 2]))
            }
            Step::Raw(bytes) => format!("raw burst of {} bytes: {}", bytes.len(), hex(bytes)),
        })
        .collect()
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`.
pub fn date(seconds: u64) -> String {
    // Days to a civil date (Howard Hinnant's algorithm).
    let days = (seconds / 86_400) as i64;
    let (hh, mm) = ((seconds % 86_400) / 3600, (seconds % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

/// The median reduction of the groups' inputs, smallest member to
/// minimised, as a fraction of the smallest member's bytes.
pub fn median_reduction(triage: &Triage) -> Option<f64> {
    let mut r: Vec<f64> = triage
        .groups
        .iter()
        .filter(|g| g.smallest_size > 0)
        .map(|g| 1.0 - g.minimised_size as f64 / g.smallest_size as f64)
        .collect();
    if r.is_empty() {
        return None;
    }
    r.sort_by(f64::total_cmp);
    let n = r.len();
    Some(if n % 2 == 1 {
        r[n / 2]
    } else {
        (r[n / 2 - 1] + r[n / 2]) / 2.0
    })
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The markdown report.
pub fn markdown(triage: &Triage) -> String {
    let mut md = String::new();
    let failing = triage.inputs.len() - triage.fixed.len() - triage.not_replayable.len();
    let _ = writeln!(md, "# Triage of {}\n", triage.folder.display());
    let _ = writeln!(
        md,
        "{} inputs replayed {} times each on {}: {} fail, in **{} group{}**; {} no longer fail anywhere{}.\n",
        triage.inputs.len(),
        triage.repeats,
        triage.backends.join(", "),
        failing,
        triage.groups.len(),
        if triage.groups.len() == 1 { "" } else { "s" },
        triage.fixed.len(),
        if triage.unreadable.is_empty() {
            String::new()
        } else {
            format!("; {} files could not be read", triage.unreadable.len())
        }
    );
    if let Some(r) = median_reduction(triage) {
        let _ = writeln!(
            md,
            "Median size reduction, smallest input to minimised: {:.0} %.\n",
            r * 100.0
        );
    }
    if !triage.groups.is_empty() {
        let _ = writeln!(
            md,
            "| # | signature | reproduces | inputs | minimised | first seen |\n|---|---|---|---|---|---|"
        );
        for (n, g) in triage.groups.iter().enumerate() {
            let reproduces: Vec<String> = g
                .reproduces
                .iter()
                .map(|r| format!("{} {}/{}", r.backend, r.failed, r.runs))
                .collect();
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} | {} B (from {} B): `{}` | {} |",
                n + 1,
                cell(&g.signature),
                reproduces.join(", "),
                g.members.len(),
                g.minimised_size,
                g.smallest_size,
                g.minimised,
                date(g.first_seen)
            );
        }
        let _ = writeln!(md);
    }
    for (n, g) in triage.groups.iter().enumerate() {
        let _ = writeln!(md, "## {}. {}\n", n + 1, g.summary);
        let _ = writeln!(md, "- signature: `{}`", g.signature);
        if g.signatures.len() > 1 {
            let others: Vec<String> = g.signatures.iter().map(|s| format!("`{s}`")).collect();
            let _ = writeln!(md, "- signatures seen: {}", others.join(", "));
        }
        let _ = writeln!(
            md,
            "- minimised on {} in {} replays, from {} ({} B) to {} B; steps format: `{}`",
            g.minimised_on,
            g.minimise_replays,
            g.smallest.display(),
            g.smallest_size,
            g.minimised_size,
            g.minimised
        );
        let _ = writeln!(md, "\nSteps:\n");
        for (i, s) in g.decoded.iter().enumerate() {
            let _ = writeln!(md, "{}. {s}", i + 1);
        }
        if !g.details.is_empty() {
            let _ = writeln!(md, "\nEvidence:\n\n```");
            for d in &g.details {
                let _ = writeln!(md, "{d}");
            }
            let _ = writeln!(md, "```");
        }
        let _ = writeln!(md, "\nInputs:\n");
        for m in &g.members {
            let _ = writeln!(md, "- {}", m.display());
        }
        let _ = writeln!(md);
    }
    if !triage.fixed.is_empty() {
        let _ = writeln!(md, "## Fixed: no longer fail on any backend\n");
        for f in &triage.fixed {
            let _ = writeln!(md, "- {}", f.display());
        }
        let _ = writeln!(md);
    }
    if !triage.not_replayable.is_empty() {
        let _ = writeln!(
            md,
            "## Not shown by replay\n\nlibFuzzer's out-of-memory, leak and slow-input findings of the host build: replays cannot show them, so they are not called fixed.\n"
        );
        for f in &triage.not_replayable {
            let _ = writeln!(md, "- {}", f.display());
        }
        let _ = writeln!(md);
    }
    if !triage.unreadable.is_empty() {
        let _ = writeln!(md, "## Unreadable\n");
        for (f, e) in &triage.unreadable {
            let _ = writeln!(md, "- {}: {e}", f.display());
        }
        let _ = writeln!(md);
    }
    let times: Vec<String> = triage
        .replay_seconds
        .iter()
        .map(|(b, s)| format!("{b} {s:.1} s"))
        .collect();
    let _ = writeln!(
        md,
        "Replays: {}; minimisation {:.1} s.",
        times.join(", "),
        triage.minimise_seconds
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_decoded_for_people() {
        let mut raw = vec![0x01, 0x07];
        hilt_modbus::wire::append_crc(&mut raw);
        let steps = Steps(vec![
            Step::Frame(vec![0x01, 0x15, 0x09, 0x06]),
            Step::Reset,
            Step::Raw(raw),
            Step::Raw(vec![0xFF, 0x00]),
            Step::Frame(vec![0x00, 0x06, 0x01, 0x00, 0x00, 0x00]),
        ]);
        assert_eq!(
            decode(&steps),
            [
                "frame: unit 1, 0x15 Write File Record: 09 06 (CRC appended)",
                "reset",
                "frame: unit 1, 0x07 Read Exception Status: no data",
                "raw burst of 2 bytes: FF 00",
                "frame: broadcast, 0x06 Write Single Register: 01 00 00 00 (CRC appended)",
            ]
        );
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(1_795_337_580), "2026-11-22 08:53 UTC");
    }
}
