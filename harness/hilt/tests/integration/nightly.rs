//! `hilt nightly` end to end on the emulated board: it passes on the
//! shipped firmware and fails (exit 1) on the planted-bug build, and writes
//! JUnit, JSON and an HTML page that headless Chromium loads without
//! errors and whose screenshot shows the plots.

use std::path::Path;
use std::process::Command;

use crate::common::{hilt_bin, require_qemu};

fn nightly(dir: &Path, name: &str, extra: &[&str]) -> (i32, String, String) {
    let report = dir.join(name);
    let state = dir.join(format!("{name}-state"));
    let out = Command::new(hilt_bin())
        .args([
            "nightly",
            "--board",
            "qemu",
            "--fuzz-seconds",
            "10",
            "--cases",
            "6",
            "--shrink-seconds",
            "10",
            "--minimise-budget",
            "20",
            "--seed",
            "7",
            "--report",
            report.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ])
        .args(extra)
        .env_remove("HILT_BOARDS")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running hilt nightly");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// The pixels of a PNG of the plots' colour.
fn plot_pixels(png_path: &Path) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let colour = hilt::nightly::html::PLOT_COLOUR;
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| {
            p.len() >= 3
                && p[0].abs_diff(colour.0) < 12
                && p[1].abs_diff(colour.1) < 12
                && p[2].abs_diff(colour.2) < 12
        })
        .count()
}

#[test]
fn nightly_passes_on_shipped_firmware_fails_on_planted_and_reports() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();

    let (code, stdout, stderr) = nightly(dir.path(), "shipped", &[]);
    assert_eq!(code, 0, "the shipped firmware passes\n{stdout}\n{stderr}");
    let shipped = dir.path().join("shipped");
    let s = summary(&shipped);
    assert_eq!(s["status"], "passed");
    let cases = s["boards"][0]["cases"].as_array().unwrap();
    let suites: std::collections::BTreeSet<&str> =
        cases.iter().map(|c| c["suite"].as_str().unwrap()).collect();
    assert_eq!(
        suites,
        ["campaign", "properties", "regressions", "scenarios"].into(),
        "{s}"
    );
    let junit = std::fs::read_to_string(shipped.join("junit.xml")).unwrap();
    let scenarios = std::fs::read_dir(
        hilt::firmware::source_root()
            .unwrap()
            .join("fixtures/scenarios"),
    )
    .unwrap()
    .count();
    assert_eq!(
        junit.matches("classname=\"hilt.qemu.scenarios\"").count(),
        scenarios,
        "a test case per scenario"
    );
    assert!(junit.contains("testsuite name=\"hilt.qemu\""), "{junit}");
    assert!(junit.contains("failures=\"0\""), "{junit}");
    assert!(
        junit.contains("name=\"board\""),
        "a test case for the board"
    );

    let (code, stdout, stderr) = nightly(dir.path(), "planted", &["--planted"]);
    assert_eq!(
        code, 1,
        "the planted build is a new failure\n{stdout}\n{stderr}"
    );
    let planted = dir.path().join("planted");
    let s = summary(&planted);
    assert_eq!(s["status"], "failed");
    assert_eq!(s["planted"], true);
    let failed: Vec<&str> = s["boards"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["suite"].as_str().unwrap())
        .collect();
    assert!(
        failed.contains(&"regressions"),
        "regressions come back: {failed:?}"
    );
    assert!(
        failed.contains(&"properties"),
        "the properties fail: {failed:?}"
    );
    let junit = std::fs::read_to_string(planted.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");

    // The page, in a real browser.
    let html = planted.join("index.html");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.matches("<svg").count() >= 4,
        "the plots are inline SVG"
    );
    let shot = dir.path().join("shot.png");
    let chromium = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1300,1600",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap_or_else(|e| {
            panic!("running chromium: {e} (ci/test installs it: apt-get install chromium)")
        });
    let log = String::from_utf8_lossy(&chromium.stderr);
    assert!(chromium.status.success(), "chromium failed:\n{log}");
    let page_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Failed to load") || l.contains("Uncaught"))
        .collect();
    assert!(
        page_errors.is_empty(),
        "the page has errors: {page_errors:?}"
    );
    let pixels = plot_pixels(&shot);
    assert!(
        pixels > 2000,
        "the screenshot shows the plots in their colour ({pixels} pixels)"
    );
}
