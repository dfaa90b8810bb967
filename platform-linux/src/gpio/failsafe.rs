//! The last line of defence for transmitters: a panic anywhere drives
//! every PTT line unkeyed before the process ends (DESIGN.md "PTT and
//! COR": `panic = "abort"` in release runs no destructors, so the lines'
//! own release on drop cannot be counted on).
//!
//! The node arms it once, after it requested its PTT lines; [`install`]
//! puts the hook in front of the default one. The hook takes no lock and
//! allocates nothing: the handles are set once and only read.

use std::sync::OnceLock;

/// Each PTT line's release, set once at start.
static RELEASES: OnceLock<Vec<Box<dyn Fn() + Send + Sync>>> = OnceLock::new();

/// Arms the fail-safe with every PTT line's release handle. Only the
/// first call counts (one node per process).
pub fn arm(releases: Vec<Box<dyn Fn() + Send + Sync>>) {
    let _ = RELEASES.set(releases);
}

/// Drives every armed PTT line unkeyed, now.
pub fn release_all() {
    if let Some(releases) = RELEASES.get() {
        for release in releases {
            release();
        }
    }
}

/// Installs a panic hook that releases every armed PTT line, then runs
/// the hook that was there (the message and backtrace).
pub fn install() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        release_all();
        previous(info);
    }));
}
