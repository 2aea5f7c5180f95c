//! What the fuzz targets share.
//!
//! With the `planted-bugs` feature, the `HILT_PLANTED` environment variable
//! chooses which planted bugs are active (a comma-separated list of ids or
//! names, such as `PB03,PB07`; unset means all). `hilt time-to-bug` uses it
//! to measure the time to find each bug alone.

#[cfg(feature = "planted-bugs")]
use mbnode_core::planted::{self, Bug};

/// Call at the start of every run; does its work once.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(select_planted_bugs);
}

#[cfg(feature = "planted-bugs")]
fn select_planted_bugs() {
    let Ok(list) = std::env::var("HILT_PLANTED") else {
        return;
    };
    let bugs: Vec<Bug> = list
        .split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(|key| Bug::find(key).unwrap_or_else(|| panic!("HILT_PLANTED: no planted bug {key:?}")))
        .collect();
    planted::select(&bugs);
}

#[cfg(not(feature = "planted-bugs"))]
fn select_planted_bugs() {}
