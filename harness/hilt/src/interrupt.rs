//! Ctrl-C and SIGTERM: the first asks every long operation to stop at its
//! next check, so that targets shut down cleanly (QEMU told to quit, the
//! simulation stopped, temporary files removed); a second one exits at once.
//! Child processes are started so that they die with hilt even then (see
//! [`crate::target::spawn_child`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// How often waiting code looks at the flag.
pub const POLL: Duration = Duration::from_millis(100);

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
}

/// Whether the user asked to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
