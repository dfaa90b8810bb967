//! Hi-low matching on runs: tones A and B alternating.
//!
//! Each closed run that is A or B (mean in its window, lasted
//! `min_tone_ms`) extends the chain when it is the other tone than the
//! last one counted and the gap holds; otherwise it starts a new chain. A
//! run that is neither but lasted as long (another tone, a voice) breaks
//! the chain; shorter blips are ignored. Every frame, the current run is
//! tried as the chain's next tone, so the alert fires as soon as the
//! `alternations`-th tone has lasted its minimum; then once per chain.

use super::definition::HiLowDef;
use super::event::{Match, Measured, ms_to_pos};
use super::runs::{GAP_SLACK_MS, Run, gap_ms, meets, within};

/// One hi-low definition's memory of the chain so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct HiLowState {
    /// Alternating tones counted among closed runs (0 = no chain).
    chain: u32,
    /// The last counted run (valid when `chain > 0`).
    last: Option<Run>,
    /// Which tone that was: 0 = A, 1 = B.
    last_tone: usize,
    chain_start_pos: i64,
    /// The tones as last heard (A, B).
    hz: [f32; 2],
    /// The counted tones' lengths added up, ms.
    sum_ms: u32,
    /// This chain has alerted.
    fired: bool,
}

impl HiLowState {
    fn continues(&self, def: &HiLowDef, tone: usize, run: &Run) -> bool {
        match &self.last {
            Some(last) if self.chain > 0 && self.last_tone != tone => {
                gap_ms(last, run) <= def.max_gap_ms + GAP_SLACK_MS
            }
            _ => false,
        }
    }
}

fn which(def: &HiLowDef, run: &Run) -> Option<usize> {
    let hz = run.mean_hz();
    if !meets(run.duration_ms(), def.min_tone_ms) {
        None
    } else if within(hz, def.a_hz, def.a_range_hz) {
        Some(0)
    } else if within(hz, def.b_hz, def.b_range_hz) {
        Some(1)
    } else {
        None
    }
}

/// Updates the chain with a run that just closed.
pub(crate) fn on_close(def: &HiLowDef, state: &mut HiLowState, run: &Run) {
    match which(def, run) {
        Some(tone) => {
            if state.continues(def, tone, run) {
                state.chain += 1;
                state.sum_ms = state.sum_ms.saturating_add(run.duration_ms());
            } else {
                state.chain = 1;
                state.chain_start_pos = run.start_pos();
                state.sum_ms = run.duration_ms();
                state.fired = false;
            }
            state.last = Some(*run);
            state.last_tone = tone;
            state.hz[tone] = run.mean_hz();
        }
        None if meets(run.duration_ms(), def.min_tone_ms) => {
            state.chain = 0;
            state.fired = false;
        }
        None => {}
    }
}

/// Whether `current` completes the definition's alternations.
pub(crate) fn check(def: &HiLowDef, state: &mut HiLowState, current: &Run) -> Option<Match> {
    let tone = which(def, current)?;
    let continues = state.continues(def, tone, current);
    let (count, start_pos) = if continues {
        (state.chain + 1, state.chain_start_pos)
    } else {
        (1, current.start_pos())
    };
    if count < def.alternations || !continues || state.fired {
        // `alternations` is at least 2, so an alert always continues a
        // chain of closed runs.
        return None;
    }
    state.fired = true;
    let mut hz = state.hz;
    hz[tone] = current.mean_hz();
    Some(Match {
        start_pos,
        end_pos: current.end_pos(),
        met_pos: current.start_pos() + ms_to_pos(def.min_tone_ms),
        measured: Measured::HiLow {
            a_hz: hz[0],
            b_hz: hz[1],
            alternations: count,
            tone_ms: state.sum_ms / state.chain.max(1),
        },
    })
}
