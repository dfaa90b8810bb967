//! Digit timing: the state machine that turns window verdicts into
//! digits and their events. What it does and why is step 3 of the
//! [module docs](super).

use super::analysis::{Hit, Reject};
use super::{DIGITS, DtmfDetector, DtmfEvent, LEAD_FULL, SUB_LEN, WINDOW_LEN};

/// How long a digit must hold by how much of the window its two tones
/// hold ([`Hit::share`]): windows of at least `share` validate it after
/// `hits_to_validate + extra` of them in a row, and any run of
/// `hits_to_validate +` [`WEAK_EXTRA_WINDOWS`] windows does.
///
/// Why: a real digit is two tones and little else, and keeps its share
/// for as long as it lasts; speech whose harmonics land on a row and a
/// column (talk-off) holds 0.7–0.85 of the window for one or two windows,
/// while its other harmonics and its glide take the rest. Measured
/// (`sim/examples/dtmf_talkoff.rs`, 48 h of speech in four conditions,
/// and 40 ms digits at ±1.5 % with every twist the limits allow): every
/// false digit at the defaults held under 0.9 of its windows, and none
/// held 0.85 for three windows, 0.8 for four or anything for five; every
/// 40 ms digit clean, at +20 dB and at +10 dB per-tone SNR in band noise
/// holds 0.9 for the two windows the defaults need (0.94 and up from
/// +20 dB). At +6 dB some 40 ms digits fall short of every rung and are
/// lost (about 6 %; a 50 ms digit has the windows to spare).
const SHARE_TIERS: [(f32, u32); 3] = [(0.9, 0), (0.85, 1), (0.8, 2)];

/// Extra windows a digit needs when some of its windows hold less than
/// the last rung of [`SHARE_TIERS`] (but at least the configured
/// [`tone_ratio_min`](super::DtmfConfig::tone_ratio_min)).
const WEAK_EXTRA_WINDOWS: u32 = 3;

/// A window measuring either tone further than this from nominal
/// (fractional) is weaker evidence: the digit needs one window more on
/// every rung of [`SHARE_TIERS`]. Real tones within Q.24's 1.5 % measure
/// within about 0.3 % of their offset down to +10 dB per-tone SNR, so this
/// costs them nothing; talk-off pairs often sit past it (5 of the 11 false
/// digits with fast radio timing, and the one the defaults let through
/// in 16 h of a second corpus, at +2.01 %).
const DEVIATION_FIRM: f32 = 0.02;

/// A digit being confirmed: consecutive windows won by the same digit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Candidate {
    digit: u8,
    windows: u32,
    /// Per rung of [`SHARE_TIERS`], how many of the newest windows in a
    /// row held at least its share.
    runs: [u32; SHARE_TIERS.len()],
    /// Whether any window measured a tone past [`DEVIATION_FIRM`].
    off_nominal: bool,
    start: u64,
    low_hz_sum: f32,
    high_hz_sum: f32,
    low_energy_sum: f32,
    high_energy_sum: f32,
}

impl Candidate {
    /// Whether the windows so far validate the digit, when `hits` windows
    /// of the strongest evidence would (see [`SHARE_TIERS`]).
    fn validated(&self, hits: u32) -> bool {
        let hits = hits + u32::from(self.off_nominal);
        self.windows >= hits + WEAK_EXTRA_WINDOWS
            || self
                .runs
                .iter()
                .zip(&SHARE_TIERS)
                .any(|(&run, &(_, extra))| run >= hits + extra)
    }
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
                    runs: [0; SHARE_TIERS.len()],
                    off_nominal: false,
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
        candidate.off_nominal |= hit.deviation > DEVIATION_FIRM;
        for (run, &(share_min, _)) in candidate.runs.iter_mut().zip(&SHARE_TIERS) {
            *run = if hit.share >= share_min { *run + 1 } else { 0 };
        }
        if !candidate.validated(self.hits_to_validate) {
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
