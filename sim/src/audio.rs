//! Deterministic test signals: paging tones, band-limited noise at a given
//! SNR, the impairments of a real radio channel, and WAV files.
//!
//! Samples are `f32` in [-1, 1] at any rate; noise comes from [`Rng`], so
//! every signal is reproducible from its seed. Nothing third-party is
//! checked in: the acceptance suites make their audio here.

use std::f64::consts::TAU;
use std::path::Path;

use crate::rng::Rng;

/// The 80 tones of the Motorola Quick Call II table, by code group
/// (1, 2, 3, 4, 5, 6, 10, 11; ten tones each), in Hz.
pub const QC2_TONES_HZ: [f32; 80] = [
    330.5, 349.0, 368.5, 389.0, 410.8, 433.7, 457.9, 483.5, 510.5, 539.0, // group 1
    569.1, 600.9, 634.5, 669.9, 707.3, 746.8, 788.5, 832.5, 879.0, 928.1, // group 2
    288.5, 296.5, 304.7, 313.0, 953.7, 979.9, 1006.9, 1034.7, 1063.2, 1092.4, // group 3
    321.7, 339.6, 358.6, 378.6, 399.8, 422.1, 445.7, 470.5, 496.8, 524.6, // group 4
    553.9, 584.8, 617.4, 651.9, 688.3, 726.8, 767.4, 810.2, 855.5, 903.2, // group 5
    1122.5, 1153.4, 1185.2, 1217.8, 1251.4, 1285.8, 1321.2, 1357.6, 1395.0, 1433.4, // group 6
    1472.9, 1513.5, 1555.2, 1598.0, 1642.0, 1687.2, 1733.7, 1781.5, 1830.5,
    1881.0, // group 10
    1930.2, 1989.0, 2043.8, 2094.5, 2155.6, 2212.2, 2271.7, 2334.6, 2401.0,
    2468.2, // group 11
];

/// The table sorted by frequency: neighbours here are the hardest pairs.
pub fn qc2_sorted_hz() -> Vec<f32> {
    let mut tones = QC2_TONES_HZ.to_vec();
    tones.sort_by(f32::total_cmp);
    tones
}

/// The DTMF row (low group) frequencies in Hz, ITU-T Q.23.
pub const DTMF_ROWS_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// The DTMF column (high group) frequencies in Hz, ITU-T Q.23.
pub const DTMF_COLUMNS_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The 16 DTMF digits, row-major: `DTMF_DIGITS[row * 4 + column]`.
pub const DTMF_DIGITS: [char; 16] = [
    '1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D',
];

/// The (low, high) frequencies of a DTMF digit, or `None` for another char.
pub fn dtmf_pair_hz(digit: char) -> Option<(f32, f32)> {
    let at = DTMF_DIGITS.iter().position(|&d| d == digit)?;
    Some((DTMF_ROWS_HZ[at / 4], DTMF_COLUMNS_HZ[at % 4]))
}

/// Samples in `ms` milliseconds at `rate_hz` (rounded to the nearest).
pub fn samples_in_ms(ms: f64, rate_hz: u32) -> usize {
    (ms * rate_hz as f64 / 1_000.0).round() as usize
}

/// Converts decibels relative to full scale to a linear sine amplitude
/// (0 dBFS = a full-scale sine, amplitude 1).
pub fn dbfs_to_amplitude(dbfs: f64) -> f64 {
    10f64.powf(dbfs / 20.0)
}

/// A mono signal being built, at a fixed sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Frames per second.
    pub rate_hz: u32,
    /// The samples, in [-1, 1] unless clipped on purpose.
    pub samples: Vec<f32>,
    /// The running phase of the tone generator, so consecutive tones of
    /// the same frequency join without a click.
    phase: f64,
}

impl Signal {
    /// An empty signal at `rate_hz`.
    pub fn new(rate_hz: u32) -> Signal {
        Signal {
            rate_hz,
            samples: Vec::new(),
            phase: 0.0,
        }
    }

    /// Length in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        self.samples.len() as f64 * 1_000.0 / self.rate_hz as f64
    }

    /// Appends `ms` of silence.
    pub fn silence(&mut self, ms: f64) -> &mut Signal {
        let n = samples_in_ms(ms, self.rate_hz);
        self.samples.extend(std::iter::repeat_n(0.0, n));
        self
    }

    /// Appends `ms` of a sine at `freq_hz` with peak `amplitude`,
    /// phase-continuous with what came before.
    pub fn tone(&mut self, freq_hz: f64, ms: f64, amplitude: f64) -> &mut Signal {
        self.wobbled_tone(freq_hz, 0.0, 1.0, ms, amplitude)
    }

    /// Appends `ms` of a sine whose frequency swings ±`deviation_hz` around
    /// `freq_hz` at `wobble_hz` (FM drift of a real transmitter).
    pub fn wobbled_tone(
        &mut self,
        freq_hz: f64,
        deviation_hz: f64,
        wobble_hz: f64,
        ms: f64,
        amplitude: f64,
    ) -> &mut Signal {
        let n = samples_in_ms(ms, self.rate_hz);
        let rate = self.rate_hz as f64;
        let start = self.samples.len();
        for i in 0..n {
            let t = (start + i) as f64 / rate;
            let f = freq_hz + deviation_hz * (TAU * wobble_hz * t).sin();
            self.phase = (self.phase + TAU * f / rate) % TAU;
            self.samples.push((amplitude * self.phase.sin()) as f32);
        }
        self
    }

    /// Appends `ms` of two sines at once (a DTMF digit), each with its own
    /// peak amplitude.
    pub fn dual_tone(
        &mut self,
        low_hz: f64,
        high_hz: f64,
        ms: f64,
        low_amp: f64,
        high_amp: f64,
    ) -> &mut Signal {
        let n = samples_in_ms(ms, self.rate_hz);
        let rate = self.rate_hz as f64;
        for i in 0..n {
            let t = i as f64 / rate;
            let s = low_amp * (TAU * low_hz * t).sin() + high_amp * (TAU * high_hz * t).sin();
            self.samples.push(s as f32);
        }
        self
    }

    /// Appends another signal of the same rate.
    ///
    /// # Panics
    /// If the rates differ (a test bug).
    pub fn append(&mut self, other: &Signal) -> &mut Signal {
        assert_eq!(
            self.rate_hz, other.rate_hz,
            "appending signals of different rates"
        );
        self.samples.extend_from_slice(&other.samples);
        self
    }

    /// Appends a two-tone sequential page: A for `a_ms`, `gap_ms` of
    /// silence, B for `b_ms`.
    pub fn page(
        &mut self,
        a_hz: f64,
        b_hz: f64,
        a_ms: f64,
        gap_ms: f64,
        b_ms: f64,
        amplitude: f64,
    ) -> &mut Signal {
        self.tone(a_hz, a_ms, amplitude);
        if gap_ms > 0.0 {
            self.silence(gap_ms);
        }
        self.tone(b_hz, b_ms, amplitude)
    }

    /// Zeroes `ms` of audio starting `at_ms` in (a fade or a lost packet).
    pub fn dropout(&mut self, at_ms: f64, ms: f64) -> &mut Signal {
        let start = samples_in_ms(at_ms, self.rate_hz).min(self.samples.len());
        let end = (start + samples_in_ms(ms, self.rate_hz)).min(self.samples.len());
        self.samples[start..end].fill(0.0);
        self
    }

    /// Adds a continuous sine under everything (a CTCSS sub-audible tone).
    pub fn add_tone(&mut self, freq_hz: f64, amplitude: f64) -> &mut Signal {
        let rate = self.rate_hz as f64;
        for (i, s) in self.samples.iter_mut().enumerate() {
            *s += (amplitude * (TAU * freq_hz * i as f64 / rate).sin()) as f32;
        }
        self
    }

    /// Scales everything by `gain`.
    pub fn gain(&mut self, gain: f64) -> &mut Signal {
        for s in &mut self.samples {
            *s = (*s as f64 * gain) as f32;
        }
        self
    }

    /// Clips hard at ±`limit` (an overdriven audio stage).
    pub fn clip(&mut self, limit: f32) -> &mut Signal {
        for s in &mut self.samples {
            *s = s.clamp(-limit, limit);
        }
        self
    }

    /// Adds white noise band-limited to 300–3000 Hz (a voice radio's
    /// passband) whose power is `noise_power`, i.e. mean square.
    pub fn add_band_noise(&mut self, noise_power: f64, seed: u64) -> &mut Signal {
        let noise = band_noise(self.samples.len(), self.rate_hz, noise_power, seed);
        for (s, n) in self.samples.iter_mut().zip(noise) {
            *s += n;
        }
        self
    }

    /// Writes the signal as a mono 16-bit PCM WAV file.
    ///
    /// # Errors
    /// Any I/O error creating or writing the file.
    pub fn write_wav(&self, path: &Path) -> std::io::Result<()> {
        write_wav_i16(path, self.rate_hz, 1, &self.samples)
    }
}

/// The power (mean square) of a sine of peak `amplitude`.
pub fn sine_power(amplitude: f64) -> f64 {
    amplitude * amplitude / 2.0
}

/// The noise power that puts a sine of peak `amplitude` at `snr_db` over it.
pub fn noise_power_for_snr(amplitude: f64, snr_db: f64) -> f64 {
    sine_power(amplitude) / 10f64.powf(snr_db / 10.0)
}

/// `len` samples of white noise band-limited to 300–3000 Hz with power
/// (mean square, measured after filtering) exactly `power`.
pub fn band_noise(len: usize, rate_hz: u32, power: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    // Gaussian white noise (Box–Muller), then 4th-order Butterworth high-pass
    // at 300 Hz and low-pass at 3000 Hz (each two RBJ biquads).
    let mut white = Vec::with_capacity(len);
    while white.len() < len {
        let u1 = rng.unit().max(f64::MIN_POSITIVE);
        let u2 = rng.unit();
        let r = (-2.0 * u1.ln()).sqrt();
        white.push(r * (TAU * u2).cos());
        white.push(r * (TAU * u2).sin());
    }
    white.truncate(len);
    let rate = rate_hz as f64;
    let mut filters = [
        Biquad::high_pass(300.0, 0.541_196_1, rate),
        Biquad::high_pass(300.0, 1.306_563, rate),
        Biquad::low_pass(3_000.0_f64.min(rate * 0.45), 0.541_196_1, rate),
        Biquad::low_pass(3_000.0_f64.min(rate * 0.45), 1.306_563, rate),
    ];
    // Let the filters settle on noise that is then thrown away, so the
    // kept noise is stationary from its first sample.
    let mut warm = Rng::new(seed ^ 0x5eed);
    for _ in 0..rate_hz / 10 {
        let x = warm.unit() - 0.5;
        filters.iter_mut().fold(x, |x, f| f.run(x));
    }
    let filtered: Vec<f64> = white
        .iter()
        .map(|&x| filters.iter_mut().fold(x, |x, f| f.run(x)))
        .collect();
    let measured = filtered.iter().map(|x| x * x).sum::<f64>() / len.max(1) as f64;
    let scale = if measured > 0.0 {
        (power / measured).sqrt()
    } else {
        0.0
    };
    filtered.iter().map(|x| (x * scale) as f32).collect()
}

/// One RBJ-cookbook biquad section, direct form I.
#[derive(Debug, Clone)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    x: [f64; 2],
    y: [f64; 2],
}

impl Biquad {
    fn low_pass(cutoff_hz: f64, q: f64, rate_hz: f64) -> Biquad {
        let w = TAU * cutoff_hz / rate_hz;
        let alpha = w.sin() / (2.0 * q);
        let c = w.cos();
        Biquad::normalized(
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    fn high_pass(cutoff_hz: f64, q: f64, rate_hz: f64) -> Biquad {
        let w = TAU * cutoff_hz / rate_hz;
        let alpha = w.sin() / (2.0 * q);
        let c = w.cos();
        Biquad::normalized(
            [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    fn normalized(b: [f64; 3], a: [f64; 3]) -> Biquad {
        Biquad {
            b: [b[0] / a[0], b[1] / a[0], b[2] / a[0]],
            a: [a[1] / a[0], a[2] / a[0]],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    fn run(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}

/// A voiced-speech stand-in at `rate_hz`: a harmonic series on a pitch
/// gliding between 100 and 180 Hz, shaped by three formants that move
/// between four vowels every 150 ms, under a 4 Hz syllable envelope; peak
/// about −6 dBFS. Deterministic.
pub fn voiced_speech_i16(rate_hz: u32, len: usize) -> Vec<i16> {
    const VOWELS_HZ: [[f64; 3]; 4] = [
        [730.0, 1090.0, 2440.0], // "a"
        [270.0, 2290.0, 3010.0], // "i"
        [300.0, 870.0, 2240.0],  // "u"
        [530.0, 1840.0, 2480.0], // "e"
    ];
    let rate = f64::from(rate_hz);
    let top_hz = (rate / 2.0 - 200.0).min(4_000.0);
    let mut phase = 0.0f64;
    let mut raw = Vec::with_capacity(len);
    for n in 0..len {
        let t = n as f64 / rate;
        let f0 = 140.0 + 40.0 * (std::f64::consts::TAU * 0.7 * t).sin();
        phase += std::f64::consts::TAU * f0 / rate;
        let pos = t / 0.15;
        let (i, frac) = (pos as usize, pos.fract());
        let w = frac * frac * (3.0 - 2.0 * frac);
        let (a, b) = (VOWELS_HZ[i % 4], VOWELS_HZ[(i + 1) % 4]);
        let mut s = 0.0;
        let mut h = 1.0;
        while h * f0 < top_hz {
            let f = h * f0;
            let gain: f64 = (0..3)
                .map(|k| {
                    let fk = a[k] + (b[k] - a[k]) * w;
                    1.0 / (1.0 + ((f - fk) / 90.0).powi(2)) / (k + 1) as f64
                })
                .sum();
            s += gain / h.sqrt() * (h * phase).sin();
            h += 1.0;
        }
        let envelope = 0.55 + 0.45 * (std::f64::consts::TAU * 4.0 * t).sin();
        raw.push(s * envelope);
    }
    let peak = raw.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    raw.iter()
        .map(|x| (x / peak * 16_000.0).round() as i16)
        .collect()
}

/// Writes interleaved `f32` samples as 16-bit PCM WAV (clamped to ±1).
///
/// # Errors
/// Any I/O error creating or writing the file.
pub fn write_wav_i16(
    path: &Path,
    rate_hz: u32,
    channels: u16,
    samples: &[f32],
) -> std::io::Result<()> {
    let spec = wav_spec(rate_hz, channels, 16, hound::SampleFormat::Int);
    write_wav(
        path,
        spec,
        samples
            .iter()
            .map(|&s| (s.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16),
    )
}

/// Writes interleaved `f32` samples as 32-bit float WAV.
///
/// # Errors
/// Any I/O error creating or writing the file.
pub fn write_wav_f32(
    path: &Path,
    rate_hz: u32,
    channels: u16,
    samples: &[f32],
) -> std::io::Result<()> {
    let spec = wav_spec(rate_hz, channels, 32, hound::SampleFormat::Float);
    write_wav(path, spec, samples.iter().copied())
}

fn wav_spec(rate_hz: u32, channels: u16, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate_hz,
        bits_per_sample: bits,
        sample_format: format,
    }
}

fn write_wav<S: hound::Sample>(
    path: &Path,
    spec: hound::WavSpec,
    samples: impl Iterator<Item = S>,
) -> std::io::Result<()> {
    let mut w = hound::WavWriter::create(path, spec).map_err(std::io::Error::other)?;
    for s in samples {
        w.write_sample(s).map_err(std::io::Error::other)?;
    }
    w.finalize().map_err(std::io::Error::other)
}

/// Reads a 16-bit WAV file's samples (interleaved if it has several
/// channels).
///
/// # Errors
/// The file cannot be opened, is not a WAV file, or holds another sample
/// format.
pub fn read_wav_i16(path: &Path) -> Result<Vec<i16>, hound::Error> {
    hound::WavReader::open(path)?
        .into_samples::<i16>()
        .collect()
}

/// Normalised cross-correlation of `a` with `b` over their common length
/// (1.0: the same waveform at any gain); 0.0 when either is silent.
pub fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_80_distinct_tones_at_least_2_5_percent_apart() {
        let sorted = qc2_sorted_hz();
        assert_eq!(sorted.len(), 80);
        for w in sorted.windows(2) {
            let ratio = w[1] / w[0];
            assert!(
                ratio > 1.0245,
                "{} and {} are only {ratio} apart",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn band_noise_has_the_requested_power_and_no_dc() {
        let noise = band_noise(48_000, 8_000, 0.01, 3);
        let power = noise.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / noise.len() as f64;
        assert!((power - 0.01).abs() < 1e-6, "{power}");
        let mean = noise.iter().map(|&x| x as f64).sum::<f64>() / noise.len() as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert_eq!(noise, band_noise(48_000, 8_000, 0.01, 3), "reproducible");
    }

    #[test]
    fn tones_are_phase_continuous_and_the_right_length() {
        let mut s = Signal::new(8_000);
        s.tone(1_000.0, 100.0, 0.5).tone(1_000.0, 100.0, 0.5);
        assert_eq!(s.samples.len(), 1_600);
        let biggest_step = s
            .samples
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(
            biggest_step < 0.5 * (TAU * 1_000.0 / 8_000.0) as f32 * 1.01,
            "{biggest_step}"
        );
        assert!((s.duration_ms() - 200.0).abs() < 1e-9);
    }

    #[test]
    fn dtmf_pairs_follow_the_keypad() {
        assert_eq!(dtmf_pair_hz('1'), Some((697.0, 1209.0)));
        assert_eq!(dtmf_pair_hz('0'), Some((941.0, 1336.0)));
        assert_eq!(dtmf_pair_hz('D'), Some((941.0, 1633.0)));
        assert_eq!(dtmf_pair_hz('x'), None);
    }
}
