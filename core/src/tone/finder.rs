//! The tone finder: reports every stable two-tone pair, long tone,
//! hi-low warble ([`Warble`]) and pulsed tone (a `PulseTrain` in finder
//! mode, `pulsed.rs`), with no definitions, so users can discover unknown
//! codes.
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

use super::definition::{FinderConfig, MIN_LENGTH_MS};
use super::event::{Match, Measured, ms_to_pos};
use super::runs::{
    DURATION_SLACK_MS, FinderMark, GAP_SLACK_MS, RUN_HISTORY, Run, gap_ms, meets,
    track_tolerance_hz,
};

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

/// The longest tone the finder counts as a step of a hi-low warble, ms.
pub(crate) const WARBLE_TONE_MS_MAX: u32 = 1_000;
/// The longest silence the finder allows between a warble's tones, ms.
pub(crate) const WARBLE_GAP_MS_MAX: u32 = 250;

/// The finder's hi-low memory: two tones alternating, on closed runs.
///
/// A closed run of at most [`WARBLE_TONE_MS_MAX`] starts a chain; the
/// next, at least 1.2 % (4 Hz) away and at most [`WARBLE_GAP_MS_MAX`]
/// after it, is the chain's second tone; after that each run must be the
/// other tone than the last (within 1.2 % of its mean so far), after the
/// same short gap, and about as long as the tones so far (within a
/// quarter, at least 96 ms). Anything else starts a new chain. Every
/// frame, the current run is tried as the chain's next tone, so the
/// report comes as soon as the `hi_low_alternations`-th tone has lasted
/// two frames; then once per chain.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Warble {
    /// Tones counted (0 = no chain).
    count: u32,
    /// Each tone's frequencies added up, and how many runs (A, B).
    sum_hz: [f32; 2],
    runs: [u32; 2],
    /// The last counted run, and which tone it was.
    last: Option<Run>,
    last_tone: usize,
    start_pos: i64,
    /// The counted runs' lengths added up, ms.
    sum_ms: u32,
    fired: bool,
}

impl Warble {
    fn tone_hz(&self, tone: usize) -> f32 {
        self.sum_hz[tone] / self.runs[tone].max(1) as f32
    }

    /// Which of the chain's tones `run` would be next, if it continues it.
    fn next(&self, run: &Run, closed: bool) -> Option<usize> {
        let last = self.last.as_ref().filter(|_| self.count > 0)?;
        if gap_ms(last, run) > WARBLE_GAP_MS_MAX + GAP_SLACK_MS {
            return None;
        }
        let hz = run.mean_hz();
        if self.count == 1 {
            let a = self.tone_hz(0);
            return ((hz - a).abs() > track_tolerance_hz(hz.min(a))).then_some(1);
        }
        let tone = 1 - self.last_tone;
        let want = self.tone_hz(tone);
        let mean_ms = self.sum_ms as f32 / self.count as f32;
        let steady =
            !closed || (run.duration_ms() as f32 - mean_ms).abs() <= (0.25 * mean_ms).max(96.0);
        (steady && (hz - want).abs() <= track_tolerance_hz(want)).then_some(tone)
    }

    /// Updates the chain with a run that just closed.
    pub fn on_close(&mut self, run: &Run) {
        if run.duration_ms() >= WARBLE_TONE_MS_MAX + DURATION_SLACK_MS {
            *self = Warble::default();
            return;
        }
        match self.next(run, true) {
            Some(tone) => {
                self.count = self.count.saturating_add(1);
                self.sum_ms = self.sum_ms.saturating_add(run.duration_ms());
                self.last_tone = tone;
            }
            None => {
                *self = Warble {
                    count: 1,
                    start_pos: run.start_pos(),
                    sum_ms: run.duration_ms(),
                    ..Warble::default()
                };
            }
        }
        let tone = self.last_tone;
        self.sum_hz[tone] += run.mean_hz();
        self.runs[tone] = self.runs[tone].saturating_add(1);
        self.last = Some(*run);
    }

    /// Whether `current` completes a warble of `cfg.hi_low_alternations`
    /// tones.
    pub fn check(&mut self, cfg: &FinderConfig, current: &Run) -> Option<Match> {
        if self.fired || current.duration_ms() >= WARBLE_TONE_MS_MAX + DURATION_SLACK_MS {
            return None;
        }
        let tone = self.next(current, false)?;
        let count = self.count.saturating_add(1);
        if count < cfg.hi_low_alternations {
            return None;
        }
        self.fired = true;
        let mut hz = [self.tone_hz(0), self.tone_hz(1)];
        hz[tone] =
            (self.sum_hz[tone] + current.mean_hz()) / self.runs[tone].saturating_add(1) as f32;
        Some(Match {
            start_pos: self.start_pos,
            end_pos: current.end_pos(),
            met_pos: current.start_pos() + ms_to_pos(MIN_LENGTH_MS),
            measured: Measured::HiLow {
                a_hz: hz[0],
                b_hz: hz[1],
                alternations: count,
                tone_ms: self.sum_ms / self.count,
            },
        })
    }
}
