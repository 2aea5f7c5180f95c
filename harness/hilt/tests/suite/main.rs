//! The device suites, on the target named by `HILT_TARGET`: `qemu` (the
//! emulated board, the default) or `sim` (the host simulation). `hilt test`
//! runs this binary.
//!
//! Index:
//! - `properties`: saved failing sequences (`fixtures/sequences/`), then
//!   random request sequences, every answer checked against the reference
//!   model; a failure is shrunk on the device and saved.
//! - `scenarios`: every `fixtures/scenarios/*.txt`, each step checked
//!   against the model, the transcript pinned as an insta snapshot.
//! - `regressions`: every `fixtures/regressions/*.steps` (cases promoted by
//!   `hilt triage --promote`), checked against the model, the transcript
//!   pinned as an insta snapshot.
//! - `seeded_divergence`: the firmware built with a deliberate bug is caught
//!   and shrunk to at most three requests (emulated board).
//!
//! Environment: `PROPTEST_CASES` (cases per run), `HILT_SEED` (repeat a
//! run), `HILT_SAVE_SEQUENCES=0` (do not save a failing sequence).

mod target;

mod properties;
mod regressions;
mod scenarios;
mod seeded_divergence;
