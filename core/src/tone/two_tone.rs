//! Two-tone sequential ("Quick Call II") matching on runs.
//!
//! The current run is B when its mean is in B's window and it has lasted
//! B's minimum; A is the latest closed run, ending at most `max_gap_ms`
//! (plus the gap slack) before B starts, whose mean is in A's window and
//! which lasted A's minimum. Closed runs in between that are not A (a
//! noise blip) are skipped, as long as the gap still holds. The check runs
//! every frame, so the alert fires on the first frame at which B has met
//! its minimum, while B is still sounding; the detector fires it once
//! per B run. Stacked pages are consecutive runs, so each B finds its own A.

use heapless::Deque;

use super::definition::TwoToneDef;
use super::event::{Match, Measured, ms_to_pos};
use super::runs::{GAP_SLACK_MS, RUN_HISTORY, Run, gap_ms, meets, within};

/// Whether `current` completes a page of `def`.
pub(crate) fn check(
    def: &TwoToneDef,
    current: &Run,
    history: &Deque<Run, RUN_HISTORY>,
) -> Option<Match> {
    let b_hz = current.mean_hz();
    if !within(b_hz, def.b_hz, def.b_range_hz) || !meets(current.duration_ms(), def.b_length_ms) {
        return None;
    }
    let max_gap_ms = def.max_gap_ms + GAP_SLACK_MS;
    for prev in history.iter().rev() {
        if gap_ms(prev, current) > max_gap_ms {
            break;
        }
        let a_hz = prev.mean_hz();
        if within(a_hz, def.a_hz, def.a_range_hz) && meets(prev.duration_ms(), def.a_length_ms) {
            return Some(Match {
                start_pos: prev.start_pos(),
                end_pos: current.end_pos(),
                met_pos: current.start_pos() + ms_to_pos(def.b_length_ms),
                measured: Measured::TwoTone { a_hz, b_hz },
            });
        }
    }
    None
}
