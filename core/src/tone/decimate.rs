//! Device rate → detection rate (8 kHz): an exact rational decimator
//! with anti-alias filtering, in at most two polyphase FIR stages.
//!
//! Every ratio is exact: a stage from `rate_in` to `rate_out` reduces
//! `rate_out / rate_in` to `up / down` (48 → 16 kHz is 1/3, 44.1 → 16 kHz
//! is 160/441, 11.025 → 8 kHz is 320/441), so its output `m` sits exactly
//! at input time `m · down / up`: integer phase arithmetic, no drift
//! however long the stream runs. At 8 kHz the decimator is a pass-through
//! (no filter, no delay).
//!
//! The band 0–3.5 kHz (every tone the detectors look for) is kept flat
//! and everything that would alias into it is attenuated by at least
//! 60 dB; 3.5–4.5 kHz is the transition band and may fold onto 3.5–4 kHz,
//! which nothing uses. A 1 kHz-wide transition needs a long filter (3.6 ms
//! of taps), so it runs where samples are fewest:
//!
//! - above 16 kHz, a *wide* stage first takes the device rate to 16 kHz
//!   (passing 3.5 kHz, stopping from 12.5 kHz, which is all that can
//!   alias into 0–3.5 kHz at 16 kHz: 21 taps at 48 kHz), then the *sharp*
//!   stage halves 16 kHz to 8 kHz (62 taps);
//! - from 8 to 16 kHz, the sharp stage alone (42–62 taps).
//!
//! At 48 kHz that is 22 taps per 16 kHz sample plus 62 per 8 kHz sample,
//! 0.85 M multiply-adds per second instead of the 1.4 M of a single stage.
//! Coefficients are Kaiser-windowed sincs computed once in
//! [`Decimator::new`] and kept as polyphase branches; the prototypes are
//! symmetric, so branch `p` is branch `up − 1 − p` reversed and only half
//! are stored, in one bank of [`BANK_CAPACITY`] coefficients that every
//! standard rate fits (11.025 kHz, the worst, needs exactly 6,720). A rate
//! whose reduced ratio would need more is refused with
//! [`RateError::RatioTooFine`].

use core::f64::consts::TAU;
use core::fmt;

use super::DETECTION_RATE_HZ;
use super::math;

/// The lowest device rate the decimator takes.
pub const MIN_DEVICE_RATE_HZ: u32 = 8_000;
/// The highest device rate the decimator takes.
pub const MAX_DEVICE_RATE_HZ: u32 = 48_000;
/// The top of the band kept intact (within 0.1 dB).
pub const PASSBAND_HZ: u32 = 3_500;
/// Everything from here up that would alias into the passband is
/// attenuated by at least [`STOPBAND_DB`].
pub const STOPBAND_HZ: u32 = 4_500;
/// The anti-alias filters' stopband attenuation.
pub const STOPBAND_DB: u32 = 60;
/// Stored coefficients, all stages together (11.025 kHz needs 6,720).
pub const BANK_CAPACITY: usize = 6_720;
/// The longest polyphase branch of any stage (16 kHz's sharp stage: 62).
pub const STAGE_TAPS_MAX: usize = 64;
/// The wide stage's output rate.
const INTERMEDIATE_RATE_HZ: u32 = 2 * DETECTION_RATE_HZ;

const _: () = assert!(MIN_DEVICE_RATE_HZ == DETECTION_RATE_HZ);
const _: () = assert!(PASSBAND_HZ < DETECTION_RATE_HZ / 2 && STOPBAND_HZ > DETECTION_RATE_HZ / 2);

/// Why a device rate cannot be decimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateError {
    /// Below [`MIN_DEVICE_RATE_HZ`] or above [`MAX_DEVICE_RATE_HZ`].
    OutOfRange {
        /// The refused rate.
        rate_hz: u32,
    },
    /// The exact ratio to 8 kHz has so large a numerator (the rate shares
    /// too small a factor with 8000) that its filter bank would not fit
    /// [`BANK_CAPACITY`]. Every standard rate fits.
    RatioTooFine {
        /// The refused rate.
        rate_hz: u32,
    },
}

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateError::OutOfRange { rate_hz } => write!(
                f,
                "device rate {rate_hz} Hz is outside {MIN_DEVICE_RATE_HZ}..={MAX_DEVICE_RATE_HZ} Hz"
            ),
            RateError::RatioTooFine { rate_hz } => write!(
                f,
                "device rate {rate_hz} Hz has no small exact ratio to {DETECTION_RATE_HZ} Hz; use a standard rate"
            ),
        }
    }
}

impl core::error::Error for RateError {}

/// One rational polyphase FIR stage (`up <= down`). Its coefficients live
/// in the decimator's shared bank at `bank_at`.
///
/// Inputs are appended to `buf` a block at a time; every output whose
/// newest input has arrived is computed over a contiguous window of
/// `buf`, and then what no future window needs is dropped from the front.
#[derive(Clone)]
struct Stage {
    up: u32,
    down: u32,
    /// Taps per polyphase branch.
    taps: usize,
    /// Branches stored, `taps` coefficients each, in the order they
    /// multiply a window (oldest sample first) for branch `up − 1 − q`.
    stored: usize,
    bank_at: usize,
    /// Recent inputs, oldest first; starts as `taps − 1` zeros (the
    /// silence before the stream).
    buf: [f32; STAGE_BUF],
    fill: usize,
    /// The index in `buf` of the next output's newest input (may be at or
    /// beyond `fill`: not arrived yet).
    need: usize,
    /// The phase (0..up) of the next output.
    phase: u32,
}

/// A stage's input buffer: the longest window plus a block.
const STAGE_BUF: usize = STAGE_TAPS_MAX + 256;

impl Stage {
    /// Designs a stage from `rate_in` to `rate_out` (≤ `rate_in`) keeping
    /// 0..`pass_hz` and stopping `stop_hz` up, its coefficients written to
    /// `bank`. `None` if they do not fit.
    fn design(
        rate_in: u32,
        rate_out: u32,
        pass_hz: u32,
        stop_hz: u32,
        bank: &mut [f32],
        bank_at: usize,
    ) -> Option<Stage> {
        let g = gcd(rate_in, rate_out);
        let up = rate_out / g;
        let down = rate_in / g;
        // Kaiser's formulas for the length and shape of a lowpass with the
        // given transition and attenuation, at the upsampled rate.
        // Kaiser's length formula lands within a fraction of a dB of the
        // target: design for 2 dB more than promised.
        let atten_db = STOPBAND_DB as f64 + 2.0;
        let fs_up = up as f64 * rate_in as f64;
        let transition = TAU * (stop_hz - pass_hz) as f64 / fs_up;
        let length = ceil((atten_db - 7.95) / (2.285 * transition)) + 1;
        let taps = length.div_ceil(up as usize);
        let stored = (up as usize).div_ceil(2);
        if taps > STAGE_TAPS_MAX || bank_at + taps * stored > bank.len() {
            return None;
        }
        let total = taps * up as usize;
        let beta = 0.1102 * (atten_db - 8.7);
        let cutoff = (pass_hz + stop_hz) as f64 / 2.0 / fs_up;
        let centre = (total - 1) as f64 / 2.0;
        let i0_beta = math::bessel_i0(beta);
        let prototype = |n: usize| -> f64 {
            let t = n as f64 - centre;
            let r = t / centre;
            let window = math::bessel_i0(beta * math::sqrt(1.0 - r * r)) / i0_beta;
            2.0 * cutoff * math::sinc(2.0 * cutoff * t) * window
        };
        // Branch up−1−q, laid out in history order: coefficient k
        // multiplies history[pos + k], input i0 − (taps−1−k), so it is
        // h[(up−1−q) + (taps−1−k)·up] = h[total−1 − (q + k·up)] = h[q + k·up]
        // by symmetry.
        let mut sum = 0.0;
        for n in 0..total {
            sum += prototype(n);
        }
        let scale = up as f64 / sum;
        for q in 0..stored {
            for k in 0..taps {
                bank[bank_at + q * taps + k] = (prototype(q + k * up as usize) * scale) as f32;
            }
        }
        Some(Stage {
            up,
            down,
            taps,
            stored,
            bank_at,
            buf: [0.0; STAGE_BUF],
            fill: taps - 1,
            need: taps - 1,
            phase: 0,
        })
    }

    fn bank_len(&self) -> usize {
        self.taps * self.stored
    }

    /// Numerator of the group delay in units of 1/(2·up) input samples.
    fn delay_num(&self) -> i128 {
        self.taps as i128 * self.up as i128 - 1
    }

    fn reset(&mut self) {
        self.buf = [0.0; STAGE_BUF];
        self.fill = self.taps - 1;
        self.need = self.taps - 1;
        self.phase = 0;
    }

    /// How many more inputs this stage can take without producing more
    /// than `room` outputs: output `j` from now arrives with input
    /// `need + ⌊(phase + j·down)/up⌋`.
    fn inputs_for_room(&self, room: usize) -> usize {
        let next_beyond =
            self.need + (self.phase as usize + room * self.down as usize) / self.up as usize;
        next_beyond - self.fill
    }

    /// Like [`Decimator::process`], for this stage.
    fn process(&mut self, bank: &[f32], input: &[f32], output: &mut [f32]) -> (usize, usize) {
        let (mut consumed, mut produced) = (0, 0);
        loop {
            let take = (input.len() - consumed)
                .min(STAGE_BUF - self.fill)
                .min(self.inputs_for_room(output.len() - produced));
            if take == 0 {
                return (consumed, produced);
            }
            self.buf[self.fill..self.fill + take]
                .copy_from_slice(&input[consumed..consumed + take]);
            self.fill += take;
            consumed += take;
            while self.need < self.fill {
                output[produced] = self.output(bank);
                produced += 1;
                let t = self.phase + self.down;
                self.need += (t / self.up) as usize;
                self.phase = t % self.up;
            }
            // Keep only from the next output's window on.
            let drop = self.need + 1 - self.taps;
            self.buf.copy_within(drop..self.fill, 0);
            self.fill -= drop;
            self.need -= drop;
        }
    }

    fn output(&self, bank: &[f32]) -> f32 {
        let taps = self.taps;
        let window = &self.buf[self.need + 1 - taps..=self.need];
        let p = self.phase as usize;
        let q = self.up as usize - 1 - p;
        let at = self.bank_at;
        if q < self.stored {
            dot(&bank[at + q * taps..at + (q + 1) * taps], window)
        } else {
            // Branch p is stored as branch up−1−p's reversal.
            dot_reversed(&bank[at + p * taps..at + (p + 1) * taps], window)
        }
    }

    /// Inputs consumed when output number `outputs` (from 1) came out.
    fn inputs_for_outputs(&self, outputs: u64) -> u64 {
        if outputs == 0 {
            return 0;
        }
        ((outputs as u128 - 1) * self.down as u128 / self.up as u128) as u64 + 1
    }
}

/// A streaming decimator from one device rate to [`DETECTION_RATE_HZ`].
///
/// Feed it any number of samples per call with [`process`](Self::process);
/// the output does not depend on how the input is split into calls.
#[derive(Clone)]
pub struct Decimator {
    rate_hz: u32,
    /// Device rate → 16 kHz, above 16 kHz.
    wide: Option<Stage>,
    /// → 8 kHz; `None` at 8 kHz (pass-through).
    sharp: Option<Stage>,
    bank: [f32; BANK_CAPACITY],
}

impl fmt::Debug for Decimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut stages = [(0, 0, 0); 2];
        for (slot, stage) in stages.iter_mut().zip(self.stages()) {
            *slot = stage;
        }
        f.debug_struct("Decimator")
            .field("rate_hz", &self.rate_hz)
            .field("stages", &&stages[..self.stages().count()])
            .finish_non_exhaustive()
    }
}

/// Stage outputs held between the two stages per step.
const BETWEEN: usize = 128;

impl Decimator {
    /// A decimator from `device_rate_hz` to 8 kHz, its filters designed.
    ///
    /// # Errors
    /// [`RateError::OutOfRange`] outside 8–48 kHz;
    /// [`RateError::RatioTooFine`] for a rate whose exact ratio needs more
    /// than [`BANK_CAPACITY`] coefficients.
    pub fn new(device_rate_hz: u32) -> Result<Decimator, RateError> {
        let rate_hz = device_rate_hz;
        if !(MIN_DEVICE_RATE_HZ..=MAX_DEVICE_RATE_HZ).contains(&rate_hz) {
            return Err(RateError::OutOfRange { rate_hz });
        }
        let mut d = Decimator {
            rate_hz,
            wide: None,
            sharp: None,
            bank: [0.0; BANK_CAPACITY],
        };
        if rate_hz == DETECTION_RATE_HZ {
            return Ok(d);
        }
        let too_fine = RateError::RatioTooFine { rate_hz };
        let mut sharp_in = rate_hz;
        let mut at = 0;
        if rate_hz > INTERMEDIATE_RATE_HZ {
            let stop_hz = INTERMEDIATE_RATE_HZ - PASSBAND_HZ;
            let wide = Stage::design(
                rate_hz,
                INTERMEDIATE_RATE_HZ,
                PASSBAND_HZ,
                stop_hz,
                &mut d.bank,
                0,
            )
            .ok_or(too_fine)?;
            at = wide.bank_len();
            d.wide = Some(wide);
            sharp_in = INTERMEDIATE_RATE_HZ;
        }
        let sharp = Stage::design(
            sharp_in,
            DETECTION_RATE_HZ,
            PASSBAND_HZ,
            STOPBAND_HZ,
            &mut d.bank,
            at,
        )
        .ok_or(too_fine)?;
        d.sharp = Some(sharp);
        Ok(d)
    }

    /// The device rate this decimator was built for.
    pub fn device_rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// The exact overall ratio `(up, down)`: `up` outputs for every
    /// `down` inputs.
    pub fn ratio(&self) -> (u32, u32) {
        let g = gcd(self.rate_hz, DETECTION_RATE_HZ);
        (DETECTION_RATE_HZ / g, self.rate_hz / g)
    }

    /// True at 8 kHz, where samples pass unchanged.
    pub fn is_passthrough(&self) -> bool {
        self.sharp.is_none()
    }

    /// Each stage's `(up, down, taps per branch)`, first stage first.
    pub fn stages(&self) -> impl Iterator<Item = (u32, u32, usize)> + '_ {
        self.wide
            .iter()
            .chain(&self.sharp)
            .map(|s| (s.up, s.down, s.taps))
    }

    /// Device frames after which a sample no longer affects the output:
    /// what must follow the last sample for it to be fully heard.
    pub fn settle_frames(&self) -> u64 {
        let wide = self.wide.as_ref().map_or(0, |s| s.taps as u64);
        // The sharp stage's taps are at its input rate, 8000·down/up.
        let sharp = self.sharp.as_ref().map_or(0, |s| {
            (s.taps as u64 * self.rate_hz as u64 * s.up as u64)
                .div_ceil(DETECTION_RATE_HZ as u64 * s.down as u64)
        });
        wide + sharp + 1
    }

    /// The device frame (relative to the first input, rounded to the
    /// nearest) that detection-rate position `pos` represents, with the
    /// filters' group delays taken out. `pos` may be negative or beyond
    /// what was produced: it is a time, not an index into anything.
    pub fn device_offset(&self, pos: i64) -> i64 {
        let Some(sharp) = &self.sharp else { return pos };
        // Output m of a stage is its input time m·down/up − (taps·up − 1)/(2·up).
        let (u2, m2) = (sharp.up as i128, sharp.down as i128);
        // In the sharp stage's input samples, as a fraction over 2·u2.
        let num2 = 2 * pos as i128 * m2 - sharp.delay_num();
        let Some(wide) = &self.wide else {
            return (num2 + u2).div_euclid(2 * u2) as i64;
        };
        let (u1, m1) = (wide.up as i128, wide.down as i128);
        // x2 = num2/(2·u2) wide-stage outputs → device: x2·m1/u1 − d1/(2·u1).
        let num = num2 * m1 - wide.delay_num() * u2;
        let den = 2 * u1 * u2;
        (num + den / 2).div_euclid(den) as i64
    }

    /// How many inputs had been consumed when output number `outputs`
    /// (counting from 1) came out: the device-rate moment it exists.
    pub fn inputs_for_outputs(&self, outputs: u64) -> u64 {
        let Some(sharp) = &self.sharp else {
            return outputs;
        };
        let mid = sharp.inputs_for_outputs(outputs);
        match &self.wide {
            Some(wide) => wide.inputs_for_outputs(mid),
            None => mid,
        }
    }

    /// Forgets all history, as if freshly built.
    pub fn reset(&mut self) {
        for stage in self.wide.iter_mut().chain(&mut self.sharp) {
            stage.reset();
        }
    }

    /// Consumes samples from `input` and writes decimated ones to `output`
    /// until the input is used up or the output is full. Returns
    /// `(consumed, produced)`. Samples must be finite (the detector
    /// sanitizes them first); anything else only spoils the output.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> (usize, usize) {
        let Some(sharp) = &mut self.sharp else {
            let n = input.len().min(output.len());
            output[..n].copy_from_slice(&input[..n]);
            return (n, n);
        };
        let Some(wide) = &mut self.wide else {
            return sharp.process(&self.bank, input, output);
        };
        let (mut consumed, mut produced) = (0, 0);
        let mut between = [0.0f32; BETWEEN];
        while consumed < input.len() {
            // Never more 16 kHz samples than the sharp stage can turn into
            // outputs that fit: none is ever left over between calls.
            let room = sharp.inputs_for_room(output.len() - produced).min(BETWEEN);
            let (c1, p1) = wide.process(&self.bank, &input[consumed..], &mut between[..room]);
            let (c2, p2) = sharp.process(&self.bank, &between[..p1], &mut output[produced..]);
            debug_assert_eq!(c2, p1, "the sharp stage takes all it was given");
            consumed += c1;
            produced += p2;
            if c1 == 0 {
                break;
            }
        }
        (consumed, produced)
    }
}

/// `Σ a[k]·b[k]` over eight lanes, so it vectorizes; the tail goes into
/// the lanes too and the lanes are summed as a tree, keeping the
/// dependency chains short.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    for (lane, (x, y)) in acc
        .iter_mut()
        .zip(ca.remainder().iter().zip(cb.remainder()))
    {
        *lane = x * y;
    }
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    lanes_sum(acc)
}

/// `Σ a[n−1−k]·b[k]`, see [`dot`].
fn dot_reversed(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.rchunks_exact(8);
    let cb = b.chunks_exact(8);
    for (lane, (x, y)) in acc
        .iter_mut()
        .zip(ca.remainder().iter().rev().zip(cb.remainder()))
    {
        *lane = x * y;
    }
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[7 - i] * y[i];
        }
    }
    lanes_sum(acc)
}

fn lanes_sum(acc: [f32; 8]) -> f32 {
    let quad = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (quad[0] + quad[2]) + (quad[1] + quad[3])
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `⌈x⌉` for a positive, moderate `x`.
fn ceil(x: f64) -> usize {
    let t = x as usize;
    if (t as f64) < x { t + 1 } else { t }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    const STANDARD_RATES_HZ: [u32; 9] = [
        8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
    ];

    fn run(d: &mut Decimator, input: &[f32]) -> Vec<f32> {
        let mut out = std::vec![0.0; input.len() + 1];
        let (consumed, produced) = d.process(input, &mut out);
        assert_eq!(consumed, input.len());
        out.truncate(produced);
        out
    }

    fn sine(rate_hz: u32, hz: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (TAU * hz * i as f64 / rate_hz as f64).sin() as f32)
            .collect()
    }

    /// Amplitude of `hz` in `x` (8 kHz) by correlation over whole cycles.
    fn amplitude_at(x: &[f32], hz: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &v) in x.iter().enumerate() {
            let w = TAU * hz * i as f64 / 8_000.0;
            re += v as f64 * w.cos();
            im += v as f64 * w.sin();
        }
        2.0 * (re * re + im * im).sqrt() / x.len() as f64
    }

    #[test]
    fn every_standard_rate_fits_and_8k_passes_through() {
        for rate in STANDARD_RATES_HZ {
            let d = Decimator::new(rate).unwrap_or_else(|e| panic!("{rate}: {e}"));
            assert_eq!(d.is_passthrough(), rate == 8_000);
            let stages: Vec<_> = d.stages().collect();
            std::println!(
                "{rate} Hz: ratio {:?}, stages (up, down, taps) {stages:?}",
                d.ratio()
            );
        }
        let mut d = Decimator::new(8_000).unwrap();
        let x: Vec<f32> = (0..100).map(|i| i as f32 * 0.01).collect();
        assert_eq!(run(&mut d, &x), x);
        assert_eq!(d.device_offset(37), 37);
    }

    #[test]
    fn refuses_rates_out_of_range_or_without_a_small_ratio() {
        assert_eq!(
            Decimator::new(7_999).unwrap_err(),
            RateError::OutOfRange { rate_hz: 7_999 }
        );
        assert_eq!(
            Decimator::new(48_001).unwrap_err(),
            RateError::OutOfRange { rate_hz: 48_001 }
        );
        assert_eq!(
            Decimator::new(0).unwrap_err(),
            RateError::OutOfRange { rate_hz: 0 }
        );
        assert_eq!(
            Decimator::new(44_099).unwrap_err(),
            RateError::RatioTooFine { rate_hz: 44_099 }
        );
        assert!(Decimator::new(44_000).is_ok());
        assert!(Decimator::new(9_600).is_ok());
    }

    #[test]
    fn output_count_is_exact_at_every_rate() {
        for rate in STANDARD_RATES_HZ {
            let mut d = Decimator::new(rate).unwrap();
            // Ten seconds in odd-sized pieces: exactly 80,000 outputs.
            let input = std::vec![0.1f32; rate as usize * 10];
            let mut produced = 0;
            let mut out = [0.0f32; 64];
            let mut rest = &input[..];
            while !rest.is_empty() {
                let take = rest.len().min(997);
                let (c, p) = d.process(&rest[..take], &mut out);
                produced += p;
                rest = &rest[c..];
            }
            assert_eq!(produced, 80_000, "{rate}");
            let last = d.inputs_for_outputs(80_000) as usize;
            let per = (rate as usize).div_ceil(8_000);
            assert!(
                last <= input.len() && last + per >= input.len(),
                "{rate}: {last}"
            );
        }
    }

    #[test]
    fn passband_is_flat_and_stopband_is_60_db_down_at_every_rate() {
        for rate in STANDARD_RATES_HZ.into_iter().filter(|&r| r != 8_000) {
            let mut pass = Vec::new();
            for hz in [300.0, 1_000.0, 2_468.2, 3_400.0] {
                let mut d = Decimator::new(rate).unwrap();
                let out = run(&mut d, &sine(rate, hz, rate as usize));
                // Skip the filter's start-up, keep whole 8 kHz samples.
                let a = amplitude_at(&out[400..8_000], hz);
                pass.push(a);
                assert!((a - 1.0).abs() < 0.01, "{rate} Hz input, {hz} Hz: gain {a}");
            }
            // A tone at f ≥ 4.5 kHz would alias to |f − k·8000|; where
            // that is in 0–3.5 kHz it must be 60 dB down.
            let nyquist = rate as f64 / 2.0;
            let mut hz = 4_510.0;
            let mut checked = 0;
            while hz < nyquist - 20.0 {
                let alias = (hz % 8_000.0).min(8_000.0 - hz % 8_000.0);
                if alias < PASSBAND_HZ as f64 {
                    let mut d = Decimator::new(rate).unwrap();
                    let out = run(&mut d, &sine(rate, hz, rate as usize / 2));
                    let a = amplitude_at(&out[400..4_000], alias);
                    assert!(
                        a < 0.001,
                        "{rate} Hz input, {hz} Hz leaks {a} at {alias} Hz"
                    );
                    checked += 1;
                }
                hz += 337.0;
            }
            assert!(checked > 0 || rate < 9_000, "{rate}");
        }
    }

    #[test]
    fn timing_is_exact_and_the_group_delay_is_removed() {
        // An impulse at input n comes out centred on the output whose
        // device_offset is n (to within one output sample).
        for rate in STANDARD_RATES_HZ.into_iter().filter(|&r| r != 8_000) {
            let n = rate as usize / 2 + 17;
            let mut x = std::vec![0.0f32; rate as usize];
            x[n] = 1.0;
            let mut d = Decimator::new(rate).unwrap();
            let out = run(&mut d, &x);
            let (peak, _) = out
                .iter()
                .enumerate()
                .fold((0, 0.0f32), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
            let at = d.device_offset(peak as i64);
            let tolerance = (rate / 8_000) as i64 + 1;
            assert!(
                (at - n as i64).abs() <= tolerance,
                "{rate}: impulse at {n} reported at {at}"
            );
        }
    }

    #[test]
    fn splitting_the_input_does_not_change_the_output() {
        let rate = 44_100;
        let x = sine(rate, 1_234.5, 20_000);
        let whole = run(&mut Decimator::new(rate).unwrap(), &x);
        let mut d = Decimator::new(rate).unwrap();
        let mut pieces = Vec::new();
        let mut out = [0.0f32; 3];
        let mut rest = &x[..];
        let mut size = 1;
        while !rest.is_empty() {
            let take = rest.len().min(size);
            let (c, p) = d.process(&rest[..take], &mut out);
            pieces.extend_from_slice(&out[..p]);
            rest = &rest[c..];
            size = size % 23 + 1;
        }
        assert_eq!(whole, pieces);
    }
}
