//! The frequency tracker: 8 kHz samples in, one spectral peak per frame
//! out, with a running noise floor.
//!
//! Every [`HOP_LEN`] samples (64 ms) the last [`FFT_LEN`] samples (128 ms)
//! are Hann-windowed and transformed (`fft.rs`, bins 7.8125 Hz apart). The strongest bin between [`TRACK_MIN_HZ`] and
//! [`TRACK_MAX_HZ`] is the frame's peak; its frequency is refined between
//! bins from the three complex bins around it with the Hann-window form of
//! Jacobsen's estimator, `δ = 2·Re[(X[k−1] − X[k+1]) / (2X[k] − X[k−1] −
//! X[k+1])]`, which is exact for a lone stationary sinusoid (up to O(1/N²))
//! and needs no logarithm or square root.
//!
//! The noise floor is the mean power of the searched bins outside ±3 bins
//! of the peak, in this frame: it follows a level change within one frame,
//! so a clip that is all tone (floor = window leakage) and a quiet page
//! after a loud burst are both judged against what surrounds them *now*,
//! not against a whole-file statistic. It falls at once and rises by half
//! the difference per frame, so a single loud frame cannot mask the next.
//!
//! A frame is *tonal* when its peak is a local maximum, at least
//! [`TONAL_RATIO`] times the floor, and above [`MIN_TONE_POWER`]. The
//! ratio is low on purpose (a tone at −10 dB SNR stands about 13 dB over
//! the floor of a 7.8 Hz bin, and the test must hold in most frames of
//! it), so most noise-only frames pass too (measured: 58 % of white-noise
//! frames, 86 % of 300–3000 Hz noise frames), each at a random frequency;
//! the run segmenter (see `runs.rs`) needs consecutive frames at one
//! frequency and never strings those together.

use super::DETECTION_RATE_HZ;
use super::fft::{self, RealFft};
use super::math;

/// Samples per analysis frame at 8 kHz (128 ms).
pub const FFT_LEN: usize = 1024;
/// Samples between frames (64 ms): half a frame, so every sample is seen
/// by two frames and the Hann windows sum to a constant.
pub const HOP_LEN: usize = 512;
/// Milliseconds between frames.
pub const HOP_MS: u32 = (HOP_LEN as u32 * 1_000) / DETECTION_RATE_HZ;
/// Hz between FFT bins.
pub const BIN_HZ: f32 = DETECTION_RATE_HZ as f32 / FFT_LEN as f32;
/// The lowest bin searched for a peak: 281.25 Hz, just under the lowest
/// Quick Call II tone (288.5 Hz) less 2 %, and 27 Hz above the highest
/// CTCSS tone (254.1 Hz), whose main lobe ends 15.6 Hz above it.
pub const FIRST_BIN: usize = 36;
/// The highest bin searched: 3500 Hz.
pub const LAST_BIN: usize = 448;
/// The lowest frequency a tone can be tracked at.
pub const TRACK_MIN_HZ: f32 = FIRST_BIN as f32 * BIN_HZ;
/// The highest frequency a tone can be tracked at.
pub const TRACK_MAX_HZ: f32 = LAST_BIN as f32 * BIN_HZ;
/// Peak-to-floor power ratio for a tonal frame (8 dB).
pub const TONAL_RATIO: f32 = 6.3;
/// The weakest peak that counts as a tone: −70 dBFS (a full-scale sine is
/// 0 dBFS = power 1).
pub const MIN_TONE_POWER: f32 = 1e-7;
/// Bins from [`FIRST_BIN`] to [`LAST_BIN`].
const SEARCHED_BINS: usize = LAST_BIN + 1 - FIRST_BIN;
/// Bins either side of the peak left out of the floor.
const FLOOR_EXCLUDE_BINS: usize = 3;
/// The floor never drops below this (−130 dBFS per bin): digital silence
/// must not make every speck tonal.
const FLOOR_MIN_POWER: f32 = 1e-13;
/// Scales |X|² so that a full-scale sine centred on a bin reads 1.0: the
/// Hann window's coherent gain is N/4.
const POWER_SCALE: f32 = 16.0 / (FFT_LEN as f32 * FFT_LEN as f32);

const _: () = assert!(FFT_LEN == 2 * HOP_LEN && FFT_LEN == fft::LEN);
const _: () = assert!(FIRST_BIN > FLOOR_EXCLUDE_BINS && LAST_BIN + 1 < FFT_LEN / 2);
const _: () = assert!(HOP_MS == 64);

/// The periodic Hann window, computed at compile time.
const WINDOW: [f32; FFT_LEN] = hann();
/// The same, laid out for the transform.
static FFT_WINDOW: fft::Window = fft::Window::new(&WINDOW);

const fn hann() -> [f32; FFT_LEN] {
    let mut w = [0.0f32; FFT_LEN];
    let mut i = 0;
    while i < FFT_LEN {
        // 0.5 − 0.5·cos(2πi/N) = sin²(πi/N), which is never negative.
        let s = math::sin(core::f64::consts::PI * i as f64 / FFT_LEN as f64);
        w[i] = (s * s) as f32;
        i += 1;
    }
    w
}

/// What one frame heard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// The interpolated frequency of the strongest peak, in Hz.
    pub hz: f32,
    /// The peak bin's power (1.0 = a full-scale sine on a bin centre).
    pub power: f32,
    /// The running noise floor: mean power per bin around the peak.
    pub floor: f32,
    /// Whether the peak stands out as a tone (see the module doc).
    pub tonal: bool,
}

/// The streaming spectral peak tracker at 8 kHz. Fixed size, no
/// allocation; feed it with [`push`](Self::push).
#[derive(Clone)]
pub struct Tracker {
    /// The last `FFT_LEN` samples; `write` is the oldest.
    ring: [f32; FFT_LEN],
    write: usize,
    /// Samples since the last frame.
    fill: usize,
    fft: RealFft,
    floor: f32,
}

impl core::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tracker")
            .field("fill", &self.fill)
            .field("floor", &self.floor)
            .finish_non_exhaustive()
    }
}

impl Default for Tracker {
    fn default() -> Tracker {
        Tracker::new()
    }
}

impl Tracker {
    /// A tracker that has heard only silence.
    pub const fn new() -> Tracker {
        Tracker {
            ring: [0.0; FFT_LEN],
            write: 0,
            fill: 0,
            fft: RealFft::new(),
            floor: 0.0,
        }
    }

    /// Back to silence.
    pub fn reset(&mut self) {
        *self = Tracker::new();
    }

    /// Takes samples up to the next frame boundary. Returns how many it
    /// took and, if that completed a frame, the frame. Call again with the
    /// rest until everything is taken. Samples must be finite.
    pub fn push(&mut self, samples: &[f32]) -> (usize, Option<Frame>) {
        self.push_with(samples, |x| x)
    }

    /// [`push`](Self::push) for 16-bit samples, converted as they are
    /// stored (see [`i16_sample`](super::i16_sample)).
    pub(crate) fn push_i16(&mut self, samples: &[i16]) -> (usize, Option<Frame>) {
        self.push_with(samples, super::i16_sample)
    }

    #[inline(always)]
    fn push_with<T: Copy>(
        &mut self,
        samples: &[T],
        convert: impl Fn(T) -> f32,
    ) -> (usize, Option<Frame>) {
        let take = samples.len().min(HOP_LEN - self.fill);
        let mut rest = &samples[..take];
        while !rest.is_empty() {
            let n = rest.len().min(FFT_LEN - self.write);
            for (kept, &x) in self.ring[self.write..self.write + n]
                .iter_mut()
                .zip(&rest[..n])
            {
                *kept = convert(x);
            }
            self.write = (self.write + n) % FFT_LEN;
            rest = &rest[n..];
        }
        self.fill += take;
        if self.fill < HOP_LEN {
            return (take, None);
        }
        self.fill = 0;
        (take, Some(self.analyze()))
    }

    fn analyze(&mut self) -> Frame {
        // Frames end on hop boundaries, so the ring's two halves are
        // always whole: the older one starts at `write`.
        let (first, second) = self.ring.split_at(HOP_LEN);
        let (first, second): (&[f32; HOP_LEN], &[f32; HOP_LEN]) = (
            first.try_into().expect("half the ring"),
            second.try_into().expect("half the ring"),
        );
        let (older, newer) = if self.write == 0 {
            (first, second)
        } else {
            (second, first)
        };
        self.fft.forward(older, newer, &FFT_WINDOW);
        // |2X|², so a quarter of the usual scale.
        let scale = POWER_SCALE * 0.25;
        let power = self.fft.powers(FIRST_BIN, SEARCHED_BINS);

        // Sum and maximum in eight lanes, so both vectorize; the peak is
        // the first bin holding the maximum.
        let mut sums = [0.0f32; 8];
        let mut maxes = [-1.0f32; 8];
        let chunks = power.chunks_exact(8);
        let tail = chunks.remainder();
        for chunk in chunks {
            for lane in 0..8 {
                sums[lane] += chunk[lane];
                maxes[lane] = if chunk[lane] > maxes[lane] {
                    chunk[lane]
                } else {
                    maxes[lane]
                };
            }
        }
        for (lane, &p) in tail.iter().enumerate() {
            sums[lane] += p;
            maxes[lane] = maxes[lane].max(p);
        }
        let sum: f32 = sums.iter().sum();
        let peak_power = maxes.iter().copied().fold(-1.0f32, f32::max);
        let peak = FIRST_BIN
            + power
                .iter()
                .position(|&p| p == peak_power)
                .expect("the maximum is one of the values");

        let lo = peak.saturating_sub(FLOOR_EXCLUDE_BINS).max(FIRST_BIN);
        let hi = (peak + FLOOR_EXCLUDE_BINS).min(LAST_BIN);
        let excluded: f32 = power[lo - FIRST_BIN..=hi - FIRST_BIN].iter().sum();
        let others = (LAST_BIN + 1 - FIRST_BIN) - (hi + 1 - lo);
        let frame_floor = ((sum - excluded).max(0.0) / others as f32) * scale;
        self.floor = if self.floor == 0.0 || frame_floor < self.floor {
            frame_floor
        } else {
            self.floor + 0.5 * (frame_floor - self.floor)
        }
        .max(FLOOR_MIN_POWER);

        let norm = |(re, im): (f32, f32)| re * re + im * im;
        let (left, centre, right) = (
            self.fft.bin(peak - 1),
            self.fft.bin(peak),
            self.fft.bin(peak + 1),
        );
        let local_max = norm(left) <= peak_power && norm(right) <= peak_power;
        let num = (left.0 - right.0, left.1 - right.1);
        let den = (
            centre.0 * 2.0 - left.0 - right.0,
            centre.1 * 2.0 - left.1 - right.1,
        );
        let den_power = norm(den);
        let delta = if den_power > 0.0 {
            (2.0 * (num.0 * den.0 + num.1 * den.1) / den_power).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let power = peak_power * scale;
        Frame {
            hz: (peak as f32 + delta) * BIN_HZ,
            power,
            floor: self.floor,
            tonal: local_max && power >= TONAL_RATIO * self.floor && power >= MIN_TONE_POWER,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::f64::consts::TAU;
    use std::vec::Vec;

    fn frames(samples: &[f32]) -> Vec<Frame> {
        let mut t = Tracker::new();
        let mut out = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let (n, f) = t.push(rest);
            rest = &rest[n..];
            out.extend(f);
        }
        out
    }

    fn sine(hz: f64, amplitude: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (amplitude * (TAU * hz * i as f64 / 8_000.0 + 0.3).sin()) as f32)
            .collect()
    }

    #[test]
    fn the_window_is_periodic_hann() {
        assert_eq!(WINDOW[0], 0.0);
        assert!((WINDOW[FFT_LEN / 2] - 1.0).abs() < 1e-7);
        assert!((WINDOW[FFT_LEN / 4] - 0.5).abs() < 1e-7);
        for i in 1..FFT_LEN {
            assert!((WINDOW[i] - WINDOW[FFT_LEN - i]).abs() < 1e-7);
        }
    }

    #[test]
    fn a_frame_every_hop_whatever_the_pieces() {
        let x = sine(1_000.0, 0.5, 10 * HOP_LEN + 100);
        let whole = frames(&x);
        assert_eq!(whole.len(), 10);
        let mut t = Tracker::new();
        let mut pieces = Vec::new();
        for chunk in x.chunks(37) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let (n, f) = t.push(rest);
                rest = &rest[n..];
                pieces.extend(f);
            }
        }
        assert_eq!(whole, pieces);
    }

    #[test]
    fn clean_tones_are_measured_to_a_twentieth_of_a_hertz() {
        let mut worst = 0.0f64;
        let mut hz = TRACK_MIN_HZ as f64 + 4.0;
        while hz < TRACK_MAX_HZ as f64 - 4.0 {
            let f = frames(&sine(hz, 0.3, 4 * FFT_LEN));
            for frame in &f[2..] {
                assert!(frame.tonal, "{hz}");
                worst = worst.max((frame.hz as f64 - hz).abs());
            }
            hz += 3.77;
        }
        std::println!("worst single-frame error on clean tones: {worst:.4} Hz");
        assert!(worst < 0.05, "{worst}");
    }

    #[test]
    fn power_reads_in_dbfs_terms() {
        // On a bin centre: 1.0 per full-scale sine; half a bin off, the
        // Hann scalloping loss of 1.42 dB.
        let on = frames(&sine(125.0 * BIN_HZ as f64, 1.0, 4 * FFT_LEN));
        assert!((on[3].power - 1.0).abs() < 1e-3, "{}", on[3].power);
        let off = frames(&sine(125.5 * BIN_HZ as f64, 0.1, 4 * FFT_LEN));
        let db = 10.0 * (off[3].power as f64 / 0.01).log10();
        assert!((db + 1.42).abs() < 0.02, "{db}");
    }

    #[test]
    fn silence_and_quiet_tones() {
        let f = frames(&std::vec![0.0; 4 * FFT_LEN]);
        assert!(f.iter().all(|f| !f.tonal));
        // −65 dBFS still counts, −75 dBFS does not.
        let a = |db: f64| 10f64.powf(db / 20.0);
        assert!(frames(&sine(1_000.0, a(-65.0), 4 * FFT_LEN))[3].tonal);
        assert!(!frames(&sine(1_000.0, a(-75.0), 4 * FFT_LEN))[3].tonal);
    }

    #[test]
    fn ctcss_under_nothing_is_not_a_tone_in_the_band() {
        // A strong 254.1 Hz sub-audible tone alone: its leakage slopes
        // down into the searched band and is never a local maximum there.
        let f = frames(&sine(254.1, 0.3, 8 * FFT_LEN));
        assert!(f[2..].iter().all(|f| !f.tonal), "{f:?}");
    }

    #[test]
    fn the_floor_follows_a_level_drop_within_a_frame_or_two() {
        // Loud white-ish noise, then a tone 40 dB quieter in silence.
        let mut x: Vec<f32> = (0..8 * FFT_LEN)
            .map(|i| (((i * 7_919 + 13) % 1_009) as f32 / 504.5 - 1.0) * 0.7)
            .collect();
        x.extend(sine(700.0, 0.007, 8 * FFT_LEN));
        let f = frames(&x);
        let quiet = &f[f.len() - 12..];
        assert!(
            quiet[2..]
                .iter()
                .all(|f| f.tonal && (f.hz - 700.0).abs() < 0.1),
            "{quiet:?}"
        );
    }
}
