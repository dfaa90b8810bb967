//! Pulsed single-tone matching: one tone keyed on and off in a cadence,
//! followed frame by frame.
//!
//! Runs (`runs.rs`) bridge up to two frames without a fit, so a pulsed
//! tone whose pauses are under about 200 ms would be one long run; the
//! pulses are therefore followed on the tracker's frames directly. Each
//! frame is
//! - *on*: tonal, near the followed tone, and not weak (at least a
//!   quarter of the pulses' level: with half-overlapping Hann frames, a
//!   frame whose centre lies outside a pulse is weak, as in `runs.rs`, so
//!   pulses and pauses are measured to within half a frame at each edge);
//! - *other*: not on, not weak, and holding another tone the segmenter
//!   has followed for two frames or more (a warble's other tone, a page, a
//!   voice): the chain ends there;
//! - *off*: anything else (silence, noise, a weak edge).
//!
//! A stretch of on frames is a pulse, a stretch of off frames a pause; a
//! single frame of the other kind inside a stretch is a dropout or a speck
//! of noise and joins it, so a pulse or a pause is at least two frames
//! (128 ms). A closed pulse or pause out of its window ends the chain; a
//! pause past the longest allowed one forgets everything (the level, and
//! the finder's tone). The alert fires when the `min_pulses`-th pulse has
//! lasted its minimum; then once per chain.
//!
//! The tone finder uses the same train with no tone and no cadence given:
//! it follows the first tone the segmenter holds, takes pulses and pauses
//! of 128 ms to 1 s, and asks instead that each pulse and pause keep
//! within a quarter (at least 1.5 frames) of the chain's mean so far.

use super::definition::PulsedDef;
use super::event::{Match, Measured, ms_to_pos};
use super::runs::{DURATION_SLACK_MS, Run, WEAK_RATIO, centre, track_tolerance_hz, within};
use super::tracker::{Frame, HOP_LEN, HOP_MS};

/// The longest pulse or pause the finder takes, ms.
pub(crate) const FINDER_STRETCH_MS_MAX: u32 = 1_000;
/// The shortest pulse or pause the finder takes, ms: two frames.
const FINDER_STRETCH_MS_MIN: u32 = 2 * HOP_MS;

/// What a train accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cadence {
    /// The tone and its tolerance, Hz; `None` for the finder, which
    /// follows whatever tone is held.
    tone: Option<(f32, f32)>,
    /// Pulse lengths accepted, ms, both ends included (before the slack).
    on_ms: (u32, u32),
    /// Pause lengths accepted, ms.
    off_ms: (u32, u32),
    /// Pulses for an alert.
    pulses: u32,
}

impl Cadence {
    /// A definition's windows.
    pub fn of(def: &PulsedDef) -> Cadence {
        Cadence {
            tone: Some((def.hz, def.range_hz)),
            on_ms: (
                def.on_ms.saturating_sub(def.on_range_ms),
                def.on_ms.saturating_add(def.on_range_ms),
            ),
            off_ms: (
                def.off_ms.saturating_sub(def.off_range_ms),
                def.off_ms.saturating_add(def.off_range_ms),
            ),
            pulses: def.min_pulses,
        }
    }

    /// The finder's: any tone, any steady cadence of `pulses` pulses.
    pub fn finder(pulses: u32) -> Cadence {
        Cadence {
            tone: None,
            on_ms: (FINDER_STRETCH_MS_MIN, FINDER_STRETCH_MS_MAX),
            off_ms: (FINDER_STRETCH_MS_MIN, FINDER_STRETCH_MS_MAX),
            pulses,
        }
    }

    /// Whether a measured length (whole frames, so off by up to one
    /// frame) is in `window`.
    fn fits(window: (u32, u32), measured_ms: u32) -> bool {
        measured_ms.saturating_add(DURATION_SLACK_MS) > window.0
            && measured_ms < window.1.saturating_add(DURATION_SLACK_MS)
    }

    /// How far a frame may be from the followed tone.
    fn frame_window_hz(&self, hz: f32) -> f32 {
        let track = track_tolerance_hz(hz);
        self.tone.map_or(track, |(_, range_hz)| range_hz.max(track))
    }
}

/// The tone the segmenter holds at this frame: its current run, when
/// this frame extended it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Held {
    pub hz: f32,
    pub first: u64,
    pub frames: u32,
}

impl Held {
    /// `run`, if frame `index` extended it.
    pub fn by(run: &Run, index: u64) -> Option<Held> {
        (run.last == index).then(|| Held {
            hz: run.mean_hz(),
            first: run.first,
            frames: run.frames,
        })
    }
}

/// One train's memory: the stretch being heard and the chain so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct PulseTrain {
    /// The finder's followed tone, Hz (0: none yet).
    locked_hz: f32,
    /// The pulses' level (0: none heard yet).
    level: f32,
    /// The current stretch is a pulse (else a pause).
    on: bool,
    /// Frames in the current stretch, and its first frame.
    len: u32,
    first: u64,
    /// One frame of the other kind just heard, with its power and tone.
    pending: Option<(f32, f32)>,
    /// The current pulse's on frames: their frequencies added up, and
    /// how many.
    pulse_sum_hz: f64,
    pulse_frames: u32,
    /// Closed pulses in the chain (0: no chain), and where it began.
    pulses: u32,
    chain_first: u64,
    /// The chain's pulse and pause lengths added up (frames), pauses
    /// counted, and its pulses' frequencies added up.
    on_frames: u32,
    off_frames: u32,
    offs: u32,
    chain_sum_hz: f64,
    chain_frames: u32,
    /// The chain has alerted.
    fired: bool,
}

impl PulseTrain {
    /// Takes frame `index`; `held` is the tone the segmenter holds at it.
    /// Returns a match when the chain reaches its pulses.
    pub fn step(
        &mut self,
        cadence: &Cadence,
        index: u64,
        frame: &Frame,
        held: Option<Held>,
    ) -> Option<Match> {
        let hz = match cadence.tone {
            Some((hz, _)) => hz,
            None if self.locked_hz > 0.0 => self.locked_hz,
            None => {
                self.lock(index, frame, held);
                return None;
            }
        };
        let window_hz = cadence.frame_window_hz(hz);
        let strong = self.level == 0.0 || frame.power >= WEAK_RATIO * self.level;
        let fits = frame.tonal && within(frame.hz, hz, window_hz);
        if !fits && strong && held.is_some_and(|h| !within(h.hz, hz, window_hz)) {
            // Another tone holds the channel: not a pulsed tone.
            *self = PulseTrain::default();
            if cadence.tone.is_none() {
                self.lock(index, frame, held);
            }
            return None;
        }
        let on = fits && strong;
        if on == self.on {
            if self.pending.take().is_some() {
                // A dropout in a pulse, or a speck in a pause.
                self.len = self.len.saturating_add(1);
            }
            self.len = self.len.saturating_add(1);
            if on {
                self.hear(frame.hz, frame.power);
                return self.check(cadence, index);
            }
            if self.len.saturating_mul(HOP_MS) >= cadence.off_ms.1 + DURATION_SLACK_MS {
                // The pause is too long: whatever this was has ended.
                *self = PulseTrain::default();
            }
            return None;
        }
        let Some((pending_power, pending_hz)) = self.pending.take() else {
            self.pending = Some((frame.power, frame.hz));
            return None;
        };
        // Two frames of the other kind: the stretch ended where they began
        // (unless the first was a pulse's weak leading edge, which belongs
        // to the pause before it).
        let edge = on && pending_power < WEAK_RATIO * frame.power;
        let (closed, new_first, new_len) = if edge {
            (self.len.saturating_add(1), index, 1)
        } else {
            (self.len, index - 1, 2)
        };
        if self.on {
            self.close_pulse(cadence, closed);
        } else {
            self.close_pause(cadence, closed);
        }
        self.on = on;
        self.first = new_first;
        self.len = new_len;
        if on {
            self.pulse_sum_hz = 0.0;
            self.pulse_frames = 0;
            if !edge {
                self.hear(pending_hz, pending_power);
            }
            self.hear(frame.hz, frame.power);
            return self.check(cadence, index);
        }
        None
    }

    /// The finder follows the tone the segmenter holds, from its start.
    fn lock(&mut self, index: u64, frame: &Frame, held: Option<Held>) {
        let Some(h) = held else { return };
        *self = PulseTrain {
            locked_hz: h.hz,
            level: frame.power,
            on: true,
            len: u32::try_from(index + 1 - h.first).unwrap_or(u32::MAX),
            first: h.first,
            pulse_sum_hz: h.hz as f64 * h.frames as f64,
            pulse_frames: h.frames,
            ..PulseTrain::default()
        };
    }

    fn hear(&mut self, hz: f32, power: f32) {
        self.pulse_sum_hz += hz as f64;
        self.pulse_frames = self.pulse_frames.saturating_add(1);
        self.level = if self.level == 0.0 {
            power
        } else {
            self.level + 0.25 * (power - self.level)
        };
    }

    fn pulse_hz(&self) -> f32 {
        (self.pulse_sum_hz / self.pulse_frames.max(1) as f64) as f32
    }

    /// Whether `len` frames keep within a quarter (at least 1.5 frames)
    /// of a mean of `sum / count` frames; always true for a definition,
    /// whose windows say it all.
    fn steady(cadence: &Cadence, len: u32, sum: u32, count: u32) -> bool {
        if cadence.tone.is_some() || count == 0 {
            return true;
        }
        let mean = sum as f32 / count as f32;
        (len as f32 - mean).abs() <= (0.25 * mean).max(1.5)
    }

    fn end_chain(&mut self) {
        self.pulses = 0;
        self.fired = false;
    }

    fn close_pulse(&mut self, cadence: &Cadence, len: u32) {
        let hz = self.pulse_hz();
        let tone_ok = cadence
            .tone
            .is_none_or(|(want, range_hz)| within(hz, want, range_hz));
        let ok = tone_ok
            && Cadence::fits(cadence.on_ms, len.saturating_mul(HOP_MS))
            && Self::steady(cadence, len, self.on_frames, self.pulses);
        if !ok {
            self.end_chain();
            return;
        }
        if self.pulses == 0 {
            self.chain_first = self.first;
            self.on_frames = 0;
            self.off_frames = 0;
            self.offs = 0;
            self.chain_sum_hz = 0.0;
            self.chain_frames = 0;
        }
        // Saturating: a pulsed tone stuck on for weeks must not wrap.
        self.pulses = self.pulses.saturating_add(1);
        self.on_frames = self.on_frames.saturating_add(len);
        self.chain_sum_hz += self.pulse_sum_hz;
        self.chain_frames = self.chain_frames.saturating_add(self.pulse_frames);
        if cadence.tone.is_none() {
            // The finder follows the chain's tone as it settles.
            self.locked_hz = (self.chain_sum_hz / self.chain_frames.max(1) as f64) as f32;
        }
    }

    fn close_pause(&mut self, cadence: &Cadence, len: u32) {
        if self.pulses == 0 {
            return;
        }
        if Cadence::fits(cadence.off_ms, len.saturating_mul(HOP_MS))
            && Self::steady(cadence, len, self.off_frames, self.offs)
        {
            self.off_frames = self.off_frames.saturating_add(len);
            self.offs = self.offs.saturating_add(1);
        } else {
            self.end_chain();
        }
    }

    /// Whether the pulse being heard completes the chain.
    fn check(&mut self, cadence: &Cadence, index: u64) -> Option<Match> {
        if self.fired || self.pulses == 0 || self.pulses.saturating_add(1) < cadence.pulses {
            return None;
        }
        let min_ms = match cadence.tone {
            Some((want, range_hz)) => {
                if !within(self.pulse_hz(), want, range_hz) {
                    return None;
                }
                cadence.on_ms.0
            }
            None => {
                let mean = self.on_frames as f32 / self.pulses as f32;
                let min_frames = (mean - (0.25 * mean).max(1.5)).max(2.0);
                (min_frames * HOP_MS as f32) as u32
            }
        };
        if self
            .len
            .saturating_mul(HOP_MS)
            .saturating_add(DURATION_SLACK_MS)
            <= min_ms
        {
            return None;
        }
        self.fired = true;
        let hz = (self.chain_sum_hz + self.pulse_sum_hz)
            / self.chain_frames.saturating_add(self.pulse_frames).max(1) as f64;
        let start = |frame: u64| centre(frame) - HOP_LEN as i64 / 2;
        Some(Match {
            start_pos: start(self.chain_first),
            end_pos: centre(index) + HOP_LEN as i64 / 2,
            met_pos: start(self.first) + ms_to_pos(min_ms),
            measured: Measured::Pulsed {
                hz: hz as f32,
                pulses: self.pulses.saturating_add(1),
                on_ms: mean_ms(self.on_frames, self.pulses),
                off_ms: mean_ms(self.off_frames, self.offs),
            },
        })
    }
}

/// The mean of `count` stretches of `frames` frames in all, in ms.
fn mean_ms(frames: u32, count: u32) -> u32 {
    let ms = u64::from(frames) * u64::from(HOP_MS) / u64::from(count.max(1));
    u32::try_from(ms).unwrap_or(u32::MAX)
}
