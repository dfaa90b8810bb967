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

/// Windows that must miss a digit before measured silence may end it: a
/// sudden drop in its level (fading) spoils at most five windows, a gap
/// of 15 ms at least six.
pub(super) const SILENCE_MISSES_MIN: u32 = 6;

/// A sub-block missing at most this part of the digit's level counts as
/// full: the two tones beat, so a full 5 ms sub-block holds 0.79 to 1.21
/// of the mean (941 + 1209 Hz, the closest pair).
const FULL_MISSING_MAX: f32 = 0.25;

/// The least energy of a run at most this part of the digit's level is
/// taken as the noise in a gap (per-tone SNR above about +3 dB), and the
/// run is measured between it and the level.
const NOISE_FLOOR_MAX: f32 = 0.25;

/// The digit state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum State {
    /// No digit down.
    Idle,
    /// `digit` was reported; `misses` windows in a row have not held it.
    Down {
        digit: u8,
        misses: u32,
        silence: Silence,
    },
}

/// The silence measured inside a digit that is down, from the energies of
/// the sub-blocks since the last window that held it. A gap is a run of
/// sub-blocks short of the digit's level; each holds the signal for the
/// part of it its energy says, measured between the digit's level and the
/// run's floor (the quietest sub-block: silence, or the noise in the
/// gap), so a gap is measured to about a millisecond where counting
/// windows sees it to one 5 ms sub-block. The sub-blocks either side of
/// a run count too, for the part of them the gap may cover.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Silence {
    /// Energy of a sub-block the digit fills (mean removed), from the
    /// last window that held it.
    level: f32,
    /// The energies of the newest sub-block but one, and the newest.
    recent: [f32; 2],
    /// The current run's shortfalls, summed (with the sub-block before
    /// it), and its least energy; `None` outside a run.
    run: Option<(f32, f32)>,
    /// The longest run since the last window that held the digit, in
    /// sub-blocks.
    longest: f32,
}

impl Silence {
    fn new(level: f32) -> Silence {
        Silence {
            level,
            recent: [level; 2],
            run: None,
            longest: 0.0,
        }
    }

    /// How far a sub-block of `energy` falls short of the level (not
    /// below 0), and whether it is full all the same.
    fn shortfall(&self, energy: f32) -> (f32, bool) {
        let shortfall = (self.level - energy).max(0.0);
        (shortfall, shortfall <= FULL_MISSING_MAX * self.level)
    }

    /// A window ending on the newest sub-block held the digit at `level`:
    /// only that sub-block can be part of a gap to come (its start).
    pub(super) fn held(&mut self, level: f32) {
        self.level = level;
        self.longest = 0.0;
        self.run = None;
        let [before, newest] = self.recent;
        if let (shortfall, false) = self.shortfall(newest) {
            self.run = Some((self.shortfall(before).0 + shortfall, newest));
        }
    }

    /// A sub-block of `energy` (mean removed) was closed.
    pub(super) fn close(&mut self, energy: f32) {
        let (shortfall, full) = self.shortfall(energy);
        let before = self.shortfall(self.recent[1]).0;
        self.recent = [self.recent[1], energy];
        match (&mut self.run, full) {
            (Some((sum, floor)), false) => {
                *sum += shortfall;
                *floor = floor.min(energy);
            }
            (None, false) => self.run = Some((before + shortfall, energy)),
            (Some((sum, _)), true) => {
                *sum += shortfall;
                self.longest = self.longest.max(self.run_subs());
                self.run = None;
            }
            (None, true) => {}
        }
    }

    /// The current run, in sub-blocks.
    fn run_subs(&self) -> f32 {
        match self.run {
            Some((sum, floor)) => {
                // A floor this low is the gap's noise; a higher one is a
                // dip, measured from zero.
                let floor = if floor <= NOISE_FLOOR_MAX * self.level {
                    floor
                } else {
                    0.0
                };
                if self.level > floor {
                    sum / (self.level - floor)
                } else {
                    0.0
                }
            }
            None => 0.0,
        }
    }

    /// The longest silence since the digit was last held, in sub-blocks.
    fn longest_subs(&self) -> f32 {
        self.longest.max(self.run_subs())
    }
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
            silence,
        } = &mut self.state
        {
            if *down == digit {
                *misses = 0;
                silence.held(hit.level);
                self.candidate = None;
                return;
            }
            self.missed();
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
        self.state = State::Down {
            digit,
            misses: 0,
            silence: Silence::new(hit.level),
        };
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
        self.missed();
    }

    /// A window did not hold the digit that is down (if one is): it ends
    /// when windows without it span 3/4 of the minimum off-time, or
    /// (sooner, for short settings) when enough windows missed it and the
    /// silence measured in its sub-blocks reaches 3/4 of that time.
    fn missed(&mut self) {
        if let State::Down {
            misses, silence, ..
        } = &mut self.state
        {
            *misses += 1;
            if *misses >= self.misses_to_end
                || (*misses >= SILENCE_MISSES_MIN
                    && silence.longest_subs() >= self.silence_subs_to_end)
            {
                self.state = State::Idle;
            }
        }
    }
}

fn power_to_db(ratio: f32) -> f32 {
    10.0 * libm::log10f(ratio)
}
