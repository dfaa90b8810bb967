//! Paging-tone detection: two-tone sequential (Quick Call II), long tone,
//! hi-low, pulsed and a tone finder, streaming and causal, in fixed memory.
//!
//! ```text
//! device-rate i16/f32 ─► Decimator ─► 8 kHz ─► Tracker ─► one peak / 64 ms ─► Segmenter ─► runs
//!   (any block size)    (exact ratio)          (FFT 1024, interpolated,        (held tones, dropouts
//!                                               running noise floor)            bridged)
//!   runs ─► two-tone / long tone / hi-low per definition, tone finder ─► suppression ─► poll_event()
//!   frames ─► pulsed per definition, the finder's pulsed tones (pulses followed frame by frame) ─┘
//! ```
//!
//! DTMF ([`dtmf`]) runs beside the tracker on the same 8 kHz samples when
//! [`ChannelDetector::set_dtmf`] turns it on; its digits come out of the
//! same queue as [`ToneEvent`]s of kind [`ToneKind::Dtmf`].
//!
//! [`ChannelDetector`] is the whole chain for one radio channel: feed it
//! blocks with `process_i16`/`process_f32` and the device frame index of
//! their first sample, then drain `poll_event` until `None`. Every
//! [`ToneEvent`] carries the [`DefinitionIndex`] (the caller maps it to its
//! `tone_id` and `alert_type`; `None` is the tone finder), the kind of
//! pattern, the measured frequencies, start/end and detection instants as
//! device-rate [`SampleIndex`](crate::time::SampleIndex)es, and the
//! latency after the pattern met its minimums. Definitions are validated
//! when they enter a [`Definitions`] set ([`DefinitionError`]); rates when
//! the detector is built ([`RateError`]); samples never fail (NaN/inf are
//! silence, counted).
//!
//! # Why an FFT tracker
//!
//! Quick Call II neighbours are 2.45–3 % apart (288.5/296.5 Hz at the
//! bottom), a dispatcher's window is about ±1 %, and the acceptance bar is
//! −10 dB in-band SNR. Measured (300–3000 Hz noise, four tones from 288.5
//! to 2468.2 Hz, one frame, Hann window, Jacobsen-style interpolation):
//!
//! | frame            | freq. error rms, −10 dB | strongest bin not the tone, −10 / −12 dB | rfft per frame (microfft) | FFT CPU per audio s (50 % overlap) |
//! |------------------|-------------------------|------------------------------------------|----------------|-------------------------------|
//! | 512 (64 ms)      | 3.2 Hz                  | 7.5 % / 29 %                              | 1.4 µs         | 44 µs                          |
//! | **1024 (128 ms)**| **0.94 Hz**             | **0.1 % / 2.6 %**                         | **3.1 µs**     | **48 µs**                      |
//! | 2048 (256 ms)    | 0.35 Hz                 | 0 % / 0 %                                 | 5.5 µs         | 43 µs                          |
//!
//! 512 cannot tell 288.5 from 296.5 Hz frame by frame in noise; 2048
//! halves the time resolution (±128 ms durations; by construction alerts
//! 128–256 ms after B's minimum). 1024 with a 512 hop gives sub-hertz
//! frames, 64 ms timing and alerts at most 60 ms after B's minimum down to
//! −8 dB SNR. (The transform now in use, `fft.rs`, a radix-4/8 Stockham
//! FFT written for the compiler's vector units, takes 0.75 µs per 1024-point
//! frame, 12 µs per audio second.) Two cheaper framings were measured
//! and not taken (2026-11-24, `scripts/detect-ab` over the tone
//! comparison's files): a 72 ms hop (576 samples) takes 4.8 % off
//! `echostream detect`'s CPU, but widens the duration ambiguity from 128
//! to 144 ms (Q4 rejects tones 150 ms short) and makes alerts up to 8 ms
//! later; a 768-point frame (96 ms, 10.4 Hz bins) would save about a
//! quarter of the transform, but leaves the tone 1.25 dB less over each
//! bin's noise, about 1.6 times the frequency noise (by the table's
//! trend), and a main lobe (±20.8 Hz) that puts a 254.1 Hz CTCSS tone's
//! leakage on top of the 288.5 Hz table tone. A Goertzel bank for 32
//! two-tone definitions (64 probes) measured 373 µs per audio second,
//! eight times the FFT, and still could not run the tone finder, which
//! must look at every frequency. On clean tones the interpolated frame frequency is off
//! by at most 0.0002 Hz (tracker tests); a page's reported frequencies
//! (the mean over each tone) are within 0.04 % at +20 dB and 0.16 % at
//! −10 dB.
//!
//! The noise floor is the mean of the searched bins away from the peak in
//! the current frame, smoothed (falls at once, rises by half per frame):
//! a clip that is all tone and a page 30 dB below a burst a moment before
//! are judged against their own surroundings.
//!
//! # Runs and timing
//!
//! The segmenter (`runs.rs`) strings frames whose peaks stay within
//! ±max(4 Hz, 1.2 %) into runs, bridges up to 128 ms of dropout, trims
//! frames under a quarter of the run's level (the frame straddling an edge)
//! and never makes a run of one frame, so noise and speech (which rarely
//! holds a pitch for 200 ms) do not make tones. Matchers look only at runs:
//! durations are whole 64 ms frames and a tone is accepted when its measured
//! length is within one frame of the minimum. Measured at +20 dB (20 pages
//! per step, random alignment to the frame grid): a tone 100 ms or more
//! short of its minimum never alerts, one at or above it always does, and
//! one 10–85 ms short sometimes does. Gaps get
//! three frames of slack (the straddling frame and, in noise, one lost
//! either side). So: set minimums at least 100 ms under the nominal
//! lengths (Quick Call II's 1 s + 3 s: 800 ms and 2 s, see
//! [`TwoToneDef::quick_call`]) and tolerances of ±1 %
//! ([`RECOMMENDED_RANGE_FRACTION`]).
//!
//! Pulsed alerts (`pulsed.rs`) are matched on frames, not runs: runs bridge
//! 128 ms dropouts and would join pulses whose pauses are under about
//! 200 ms. Pulses and pauses are measured to whole frames (so at least
//! 128 ms each), with the same weak-edge rule. The finder also reports
//! hi-low warbles (on runs) and pulsed tones (a pulse train that follows
//! whatever tone is held), with their measured cadence.
//!
//! # Measured (`sim/tests/tone_*.rs`, `benches/benches/tone.rs`)
//!
//! - All 80 table tones as A, all 158 neighbour pairs, tone-only clips,
//!   ±3 Hz wobble, 60 ms dropouts, CTCSS, hard clipping, −50 to −3 dBFS, a
//!   page 30 dB under a burst: all detected, right definition, within
//!   ±0.5 %.
//! - Two hundred pages per SNR with all 40 stations loaded: 200/200 from
//!   +20 to −11 dB, 198/200 at −12 dB (88 % at −13, 54 % at −14, none at
//!   −16), zero wrong stations down to −18 dB, zero alerts on the noise.
//!   Latest alert after B's true minimum: 58 ms down to −8 dB, 174 ms at
//!   −10 dB. The same through the 44.1 kHz decimator at −6 and −10 dB.
//! - Pulsed alerts at five cadences (150 to 700 ms pulses and pauses),
//!   4 to 8 pulses, across the band and at four device rates: every one
//!   from +20 to −6 dB SNR, the pulse count right, the cadence within
//!   70 ms; one pulse short, twice the pulse, 2.5 times the pause or 2 %
//!   off frequency never (`tone_pulsed.rs`).
//! - Zero alerts and zero finder reports on 39 minutes of espeak-ng speech
//!   and 30 minutes of band noise. The longest steady stretch in that
//!   speech is 0.64–0.96 s and there are no two in a row of 0.4 s and
//!   0.6 s; a page needs A ≥ 600 ms then B ≥ 1.5 s, the finder A ≥ 500 ms
//!   then B ≥ 1 s, or one tone of 2 s.
//! - CPU, release build (criterion, `benches/benches/tone.rs`), one core
//!   of the 2-core dev VM, 32 two-tone definitions and the finder: 21 µs
//!   per second of 8 kHz audio (47,000× realtime; the tracker is about 17
//!   of them, 1.1 µs per frame with its FFT in `fft.rs`), 37 µs with DTMF
//!   on. At other device rates the decimator adds its share: 16 kHz
//!   121 µs (8,300×), 44.1 kHz 249 µs (4,000×), 48 kHz 259 µs (3,900×).
//!   Repeated runs on that shared machine differ by up to 30 %.
//! - State per channel: 53.4 KiB (`size_of::<ChannelDetector>()`,
//!   printed by the tests; 26 KiB of it the decimator's coefficient bank,
//!   12 KiB the tracker's sample ring and FFT working memory, 3.5 KiB the
//!   pulse trains and the finder's warble memory), nothing allocated.

mod decimate;
mod definition;
mod detector;
mod event;
mod fft;
mod finder;
mod hi_low;
mod long_tone;
mod math;
mod pulsed;
mod runs;
pub mod tracker;
mod two_tone;

#[cfg(test)]
mod tests;

pub mod dtmf;

pub use decimate::{
    BANK_CAPACITY, Decimator, MAX_DEVICE_RATE_HZ, MIN_DEVICE_RATE_HZ, PASSBAND_HZ, RateError,
    STOPBAND_DB, STOPBAND_HZ,
};
pub use definition::{
    Definition, DefinitionError, DefinitionIndex, Definitions, FinderConfig, HiLowDef, LongToneDef,
    MAX_ALTERNATIONS, MAX_GAP_MS, MAX_LENGTH_MS, MAX_PULSES, MAX_RANGE_FRACTION, MIN_LENGTH_MS,
    PulsedDef, RECOMMENDED_RANGE_FRACTION, TwoToneDef, recommended_range_hz,
};
pub use detector::{ChannelDetector, DetectorStats};
pub use event::{Measured, ToneEvent, ToneKind};
pub use tracker::{TRACK_MAX_HZ, TRACK_MIN_HZ};

/// The rate every detector runs at, after decimation.
pub const DETECTION_RATE_HZ: u32 = 8_000;

/// A 16-bit sample as the detectors see it (full scale ±1). The one
/// conversion every path uses, so that 16-bit audio gives the same events
/// whichever way it goes in.
#[inline(always)]
pub(crate) fn i16_sample(s: i16) -> f32 {
    f32::from(s) * (1.0 / 32_768.0)
}

/// The most definitions one channel listens for.
pub const MAX_DEFINITIONS: usize = 32;
/// Events a detector holds between drains.
pub const MAX_EVENTS: usize = 32;
