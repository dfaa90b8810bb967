//! The tone finder: reports every stable two-tone pair and every long
//! tone, with no definitions, so users can discover unknown codes.
//!
//! A pair is a closed run of at least `min_a_ms` followed (gap at most
//! `max_gap_ms`) by the current run once it has lasted `min_b_ms`; the
//! two must be different tones (not one tone split by a dropout). A run
//! that was a pair's second tone is never the first tone of another pair,
//! so stacked pages report each page once and not the seams between them.
//! A run that has lasted `long_ms` without being a pair's second tone is a
//! long tone. Each run is reported at most once. Speech does not hold a
//! frequency to ±1.2 % for half a second, let alone for two consecutive
//! stretches, so it reports nothing.

use heapless::Deque;

use super::definition::FinderConfig;
use super::event::{Match, Measured, ms_to_pos};
use super::runs::{FinderMark, GAP_SLACK_MS, RUN_HISTORY, Run, gap_ms, meets, track_tolerance_hz};

/// Whether `current` is a pair's second tone or a long tone; marks it.
pub(crate) fn check(
    cfg: &FinderConfig,
    current: &mut Run,
    history: &Deque<Run, RUN_HISTORY>,
) -> Option<Match> {
    if current.finder != FinderMark::None {
        return None;
    }
    let duration_ms = current.duration_ms();
    let b_hz = current.mean_hz();
    if meets(duration_ms, cfg.min_b_ms) {
        for prev in history.iter().rev() {
            if gap_ms(prev, current) > cfg.max_gap_ms + GAP_SLACK_MS {
                break;
            }
            let a_hz = prev.mean_hz();
            if prev.finder == FinderMark::PairB
                || !meets(prev.duration_ms(), cfg.min_a_ms)
                || (a_hz - b_hz).abs() <= track_tolerance_hz(a_hz.min(b_hz))
            {
                continue;
            }
            current.finder = FinderMark::PairB;
            return Some(Match {
                start_pos: prev.start_pos(),
                end_pos: current.end_pos(),
                met_pos: current.start_pos() + ms_to_pos(cfg.min_b_ms),
                measured: Measured::TwoTone { a_hz, b_hz },
            });
        }
    }
    if meets(duration_ms, cfg.long_ms) {
        current.finder = FinderMark::Long;
        return Some(Match {
            start_pos: current.start_pos(),
            end_pos: current.end_pos(),
            met_pos: current.start_pos() + ms_to_pos(cfg.long_ms),
            measured: Measured::LongTone { hz: b_hz },
        });
    }
    None
}
