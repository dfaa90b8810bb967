//! Long-tone matching on runs: the current run's mean is in the window
//! and it has lasted the minimum. The detector fires once per run.

use super::definition::LongToneDef;
use super::event::{Match, Measured, ms_to_pos};
use super::runs::{Run, meets, within};

/// Whether `current` is a long tone of `def`.
pub(crate) fn check(def: &LongToneDef, current: &Run) -> Option<Match> {
    let hz = current.mean_hz();
    if !within(hz, def.hz, def.range_hz) || !meets(current.duration_ms(), def.length_ms) {
        return None;
    }
    Some(Match {
        start_pos: current.start_pos(),
        end_pos: current.end_pos(),
        met_pos: current.start_pos() + ms_to_pos(def.length_ms),
        measured: Measured::LongTone { hz },
    })
}
