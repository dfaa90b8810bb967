//! Digit timing: the state machine that turns window verdicts into
//! digits and their events. What it does and why is step 3 of the
//! [module docs](super).

use super::analysis::{Hit, Reject};
use super::{DIGITS, DtmfDetector, DtmfEvent, LEAD_FULL, SUB_LEN, WINDOW_LEN};

/// A digit being confirmed: consecutive windows won by the same digit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Candidate {
    digit: u8,
    windows: u32,
    start: u64,
    low_hz_sum: f32,
    high_hz_sum: f32,
    low_energy_sum: f32,
    high_energy_sum: f32,
}

/// The digit state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// No digit down.
    Idle,
    /// `digit` was reported; `misses` windows in a row have not held it.
    Down { digit: u8, misses: u32 },
}

impl DtmfDetector {
    /// Acts on the verdict on the window ending just before sample `end`,
    /// whose preceding sub-block held `before` (energy, mean removed).
    pub(super) fn apply(&mut self, verdict: Result<Hit, Reject>, end: u64, before: f32) {
        match verdict {
            Ok(hit) => self.on_hit(&hit, end, before),
            Err(_) => self.on_miss(),
        }
    }

    /// A window ending just before sample `end`, whose preceding
    /// sub-block held `before`, holds `hit`.
    fn on_hit(&mut self, hit: &Hit, end: u64, before: f32) {
        let digit = DIGITS[hit.row * 4 + hit.column];
        if let State::Down {
            digit: down,
            misses,
        } = &mut self.state
        {
            if *down == digit {
                *misses = 0;
                self.candidate = None;
                return;
            }
            *misses += 1;
            if *misses >= self.misses_to_end {
                self.state = State::Idle;
            }
        }
        let candidate = match &mut self.candidate {
            Some(c) if c.digit == digit => c,
            other => {
                // Energy grows with the covered part of a sub-block: the
                // digit began as far into the window's first sub-block as
                // that is empty, or, if it is full, as far before it as the
                // previous sub-block is full.
                let window_start = end.wrapping_sub(WINDOW_LEN as u64);
                let start = if hit.lead_coverage < LEAD_FULL {
                    window_start
                        .wrapping_add(((1.0 - hit.lead_coverage) * SUB_LEN as f32 + 0.5) as u64)
                } else {
                    let before = if hit.sub_mean > 0.0 {
                        (before / hit.sub_mean).min(1.0)
                    } else {
                        0.0
                    };
                    window_start.wrapping_sub((before * SUB_LEN as f32 + 0.5) as u64)
                };
                other.insert(Candidate {
                    digit,
                    windows: 0,
                    start,
                    low_hz_sum: 0.0,
                    high_hz_sum: 0.0,
                    low_energy_sum: 0.0,
                    high_energy_sum: 0.0,
                })
            }
        };
        candidate.windows += 1;
        candidate.low_hz_sum += hit.low_hz;
        candidate.high_hz_sum += hit.high_hz;
        candidate.low_energy_sum += hit.low_energy;
        candidate.high_energy_sum += hit.high_energy;
        if candidate.windows < self.hits_to_validate {
            return;
        }
        let c = *candidate;
        self.candidate = None;
        self.state = State::Down { digit, misses: 0 };
        let n = c.windows as f32;
        // Mean square of a tone over the window, then dB re a full-scale
        // sine (mean square 1/2).
        let dbfs = |energy_sum: f32| power_to_db(2.0 * energy_sum / (n * WINDOW_LEN as f32));
        let event = DtmfEvent {
            digit,
            low_hz: c.low_hz_sum / n,
            high_hz: c.high_hz_sum / n,
            twist_db: power_to_db(c.high_energy_sum / c.low_energy_sum),
            low_dbfs: dbfs(c.low_energy_sum),
            high_dbfs: dbfs(c.high_energy_sum),
            start: c.start,
            end,
        };
        self.stats.digits += 1;
        if self.events.push_back(event).is_err() {
            self.stats.events_dropped += 1;
        }
    }

    fn on_miss(&mut self) {
        self.candidate = None;
        if let State::Down { misses, .. } = &mut self.state {
            *misses += 1;
            if *misses >= self.misses_to_end {
                self.state = State::Idle;
            }
        }
    }
}

fn power_to_db(ratio: f32) -> f32 {
    10.0 * libm::log10f(ratio)
}
