//! Random request sequences against the model, after the saved ones.

use hilt::suite::properties::{self, PropertyConfig, PropertyOutcome};
use hilt::suite::sequences;

use crate::target::{env_number, kind, model_name, seed, source_root, start, Kind};

#[test]
fn the_device_behaves_as_the_model_says() {
    let kind = kind();
    let mut target = start(kind, None);
    let root = source_root();
    let saved = sequences::load(&root.join(sequences::DIR)).expect("saved sequences");
    let save = std::env::var("HILT_SAVE_SEQUENCES").as_deref() != Ok("0");
    let config = PropertyConfig {
        // The simulation is several times faster: more cases for it.
        cases: env_number("PROPTEST_CASES", if kind == Kind::Sim { 96 } else { 32 }),
        max_len: 24,
        seed: seed(),
        save_to: save.then(|| root.join(sequences::DIR)),
        shrink_time: None,
    };
    match properties::run(target.as_mut(), model_name(kind), &saved, &config) {
        Ok(report) => eprintln!(
            "properties on {}: {} saved sequence(s), {} case(s), {} requests in {:.1} s ({:.0} requests/s), seed {}",
            target.name(),
            report.replayed,
            report.cases,
            report.requests,
            report.elapsed.as_secs_f64(),
            report.requests as f64 / report.elapsed.as_secs_f64(),
            config.seed
        ),
        Err(PropertyOutcome::Failed(f)) => panic!(
            "the device diverged from the model (seed {}, HILT_SEED={} repeats it)\n{}\nminimal sequence ({} requests):\n{}{}",
            f.seed,
            f.seed,
            f.reason,
            f.minimal.len(),
            f.transcript,
            f.saved
                .map(|p| format!("saved as {}: it is replayed first from now on", p.display()))
                .unwrap_or_default()
        ),
        Err(PropertyOutcome::Error(e)) => panic!("the property suite could not run: {e}"),
    }
}
