//! `hilt coverage`: what a fuzz target's corpus reaches in the core.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use hilt::native;

/// Write an HTML line-coverage report of the firmware's core, as reached by
/// a native fuzz target's corpus.
///
/// Builds the target with coverage instrumentation (`cargo fuzz coverage`),
/// replays the corpus through it and renders the core's sources with
/// llvm-cov: lines never reached show in red. Installs the nightly
/// toolchain's llvm-tools when they are missing.
#[derive(Debug, Args)]
pub struct CoverageCmd {
    /// The fuzz target: frame, request, node or model.
    #[arg(value_name = "TARGET")]
    target: String,

    /// Corpus folders (or input files) to replay. Default: the committed
    /// seeds in fixtures/corpus/TARGET, and fuzz/corpus/TARGET where
    /// `cargo fuzz run` keeps what it finds.
    #[arg(long = "corpus", value_name = "DIR")]
    corpora: Vec<PathBuf>,

    /// Where to write the report. Default: target/coverage/TARGET.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

impl CoverageCmd {
    pub fn run(self) -> anyhow::Result<u8> {
        let target = native::check_target(&self.target)
            .map_err(|e| hilt::script::ScriptError::whole("TARGET", e.to_string()))?;
        let root = hilt::firmware::source_root()?;
        let corpora = if self.corpora.is_empty() {
            let local = root.join("fuzz/corpus").join(target);
            let mut corpora = vec![native::seed_corpus(&root, target)];
            corpora.extend(local.is_dir().then_some(local));
            corpora
        } else {
            self.corpora
        };
        for corpus in &corpora {
            if !corpus.exists() {
                bail!("no corpus at {}", corpus.display());
            }
        }
        let out = self.out.unwrap_or_else(|| {
            hilt::firmware::target_dir(&root)
                .join("coverage")
                .join(target)
        });
        eprintln!(
            "hilt: replaying {} through the {target} target built for coverage (cargo +nightly fuzz coverage)",
            corpora
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        );
        let report = native::coverage(&root, target, &corpora, &out)?;
        print!("{}", report.summary);
        println!("report: {}", report.index.display());
        Ok(hilt::exit::SUCCESS)
    }
}
