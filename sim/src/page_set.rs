//! A page set: Quick Call II pages in band noise at one SNR, with speech
//! between them, and where every page is (the ground truth a measurement
//! scores against).
//!
//! ```text
//! lead | A─B | pause | speech | pause | A─B | pause | speech | ... | A─B | tail
//! ```
//!
//! Band noise (300–3000 Hz) runs under everything, pauses and speech
//! included. SNR = the tone's power (A²/2) over the noise power, as in
//! [`noise_power_for_snr`]. Levels are set so that the tone's peak plus
//! four noise deviations is [`PEAK_BUDGET`]: nothing clips at any SNR.
//! Everything follows from the [`PageSetConfig`] (its seed included), so
//! the same config gives the same samples.

use crate::audio::{Signal, samples_in_ms, voiced_speech_i16};
use crate::rng::Rng;

/// Tone peak plus four noise deviations (as a fraction of full scale).
pub const PEAK_BUDGET: f64 = 0.5;
/// Noise before the first page, ms.
pub const LEAD_MS: f64 = 2_000.0;
/// Noise after the last page, ms.
pub const TAIL_MS: f64 = 3_000.0;
/// Noise between a page and the speech after it, and between the speech
/// and the next page, drawn uniformly from this range, ms.
pub const PAUSE_MS: (f64, f64) = (500.0, 1_500.0);

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct PageSetConfig {
    /// Frames per second of the file.
    pub rate_hz: u32,
    /// The stations' tone pairs (A, B) in Hz; paged at random, never the
    /// same one twice in a row (when there are two or more).
    pub pairs: Vec<(f64, f64)>,
    /// Pages in the file.
    pub count: usize,
    /// Tone power over band-noise power, dB.
    pub snr_db: f64,
    /// Tone A's length, ms (B follows with no gap).
    pub a_ms: f64,
    /// Tone B's length, ms.
    pub b_ms: f64,
    /// Speech between two pages, ms (each stretch ±25 % of it); 0 for
    /// none.
    pub speech_ms: f64,
    /// Seeds the schedule, the pauses and the noise.
    pub seed: u64,
}

/// Where one page is, in frames of the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageTruth {
    /// Tone A, Hz.
    pub a_hz: f64,
    /// Tone B, Hz.
    pub b_hz: f64,
    /// A's first frame.
    pub start_frame: usize,
    /// B's first frame (A's last + 1).
    pub b_start_frame: usize,
    /// One past B's last frame.
    pub end_frame: usize,
}

/// A generated set: the audio and its ground truth.
#[derive(Debug, Clone)]
pub struct PageSet {
    /// The audio, noise included.
    pub signal: Signal,
    /// Every page, in order.
    pub pages: Vec<PageTruth>,
    /// Every stretch of speech, `(first frame, one past the last)`.
    pub speech: Vec<(usize, usize)>,
    /// The tones' peak amplitude (full scale = 1).
    pub tone_amplitude: f64,
    /// The noise's RMS (full scale = 1).
    pub noise_rms: f64,
}

/// Generates the set `config` describes.
///
/// # Panics
///
/// If `config.pairs` is empty while `config.count` is not 0 (a caller
/// bug: there is nothing to page).
pub fn generate(config: &PageSetConfig) -> PageSet {
    assert!(
        config.count == 0 || !config.pairs.is_empty(),
        "a page set needs a tone pair to page"
    );
    let rate = config.rate_hz;
    // amplitude / rms = sqrt(2 · 10^(snr/10)); amplitude + 4 rms = budget.
    let ratio = (2.0 * 10f64.powf(config.snr_db / 10.0)).sqrt();
    let noise_rms = PEAK_BUDGET / (ratio + 4.0);
    let tone_amplitude = noise_rms * ratio;

    let mut rng = Rng::new(config.seed);
    // voiced_speech_i16 scales its peak to 16 000; speech peaks at the tone's.
    let speech_peak = 16_000.0;
    let speech_frames_max = samples_in_ms(config.speech_ms * 1.25, rate);
    let speech_pool = voiced_speech_i16(rate, speech_frames_max * config.count.max(1));
    let mut speech_used = 0;

    let mut signal = Signal::new(rate);
    let mut pages = Vec::with_capacity(config.count);
    let mut speech = Vec::new();
    let mut last_pair = None;
    signal.silence(LEAD_MS);
    for i in 0..config.count {
        let pair = pick_pair(&mut rng, config.pairs.len(), last_pair);
        last_pair = Some(pair);
        let (a_hz, b_hz) = config.pairs[pair];
        let start_frame = signal.samples.len();
        signal.tone(a_hz, config.a_ms, tone_amplitude);
        let b_start_frame = signal.samples.len();
        signal.tone(b_hz, config.b_ms, tone_amplitude);
        pages.push(PageTruth {
            a_hz,
            b_hz,
            start_frame,
            b_start_frame,
            end_frame: signal.samples.len(),
        });
        if i + 1 == config.count {
            break;
        }
        signal.silence(uniform(&mut rng, PAUSE_MS));
        if config.speech_ms > 0.0 {
            let ms = config.speech_ms * uniform(&mut rng, (0.75, 1.25));
            let frames = samples_in_ms(ms, rate).min(speech_frames_max);
            let from = signal.samples.len();
            let piece = &speech_pool[speech_used..speech_used + frames];
            speech_used += frames;
            let gain = tone_amplitude / speech_peak;
            signal
                .samples
                .extend(piece.iter().map(|&s| (f64::from(s) * gain) as f32));
            speech.push((from, signal.samples.len()));
            signal.silence(uniform(&mut rng, PAUSE_MS));
        }
    }
    signal.silence(TAIL_MS);
    signal.add_band_noise(noise_rms * noise_rms, rng.next_u64());
    PageSet {
        signal,
        pages,
        speech,
        tone_amplitude,
        noise_rms,
    }
}

/// A pair index, not `last` when there is another to choose.
fn pick_pair(rng: &mut Rng, pairs: usize, last: Option<usize>) -> usize {
    match last {
        Some(last) if pairs > 1 => {
            // One of the others, uniformly.
            let pick = rng.below(pairs as u64 - 1) as usize;
            if pick >= last { pick + 1 } else { pick }
        }
        _ => rng.below(pairs as u64) as usize,
    }
}

fn uniform(rng: &mut Rng, (low, high): (f64, f64)) -> f64 {
    low + (high - low) * rng.unit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(snr_db: f64) -> PageSetConfig {
        PageSetConfig {
            rate_hz: 8_000,
            pairs: vec![(349.0, 707.3), (389.0, 832.5), (457.9, 1034.7)],
            count: 5,
            snr_db,
            a_ms: 1_000.0,
            b_ms: 3_000.0,
            speech_ms: 2_000.0,
            seed: 7,
        }
    }

    /// Power of `x` at `hz` (single-bin DFT, normalised to A²/2 for a sine).
    fn power_at(x: &[f32], rate_hz: u32, hz: f64) -> f64 {
        let w = std::f64::consts::TAU * hz / f64::from(rate_hz);
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &s) in x.iter().enumerate() {
            re += f64::from(s) * (w * n as f64).cos();
            im += f64::from(s) * (w * n as f64).sin();
        }
        2.0 * (re * re + im * im) / (x.len() as f64 * x.len() as f64)
    }

    #[test]
    fn b_is_where_the_truth_says() {
        let set = generate(&config(20.0));
        assert_eq!(set.pages.len(), 5);
        let a_power = set.tone_amplitude * set.tone_amplitude / 2.0;
        for page in &set.pages {
            let b = &set.signal.samples[page.b_start_frame..page.end_frame];
            let a = &set.signal.samples[page.start_frame..page.b_start_frame];
            assert_eq!(a.len(), 8_000, "A is 1 s");
            assert_eq!(b.len(), 24_000, "B is 3 s");
            let b_at_b = power_at(b, 8_000, page.b_hz);
            assert!(
                (b_at_b / a_power - 1.0).abs() < 0.1,
                "{b_at_b} vs {a_power}"
            );
            assert!(power_at(a, 8_000, page.b_hz) < a_power / 100.0);
        }
    }

    #[test]
    fn same_seed_same_audio_and_no_repeats() {
        let (x, y) = (generate(&config(0.0)), generate(&config(0.0)));
        assert_eq!(x.signal, y.signal);
        assert_eq!(x.pages, y.pages);
        for w in x.pages.windows(2) {
            assert_ne!((w[0].a_hz, w[0].b_hz), (w[1].a_hz, w[1].b_hz));
        }
        assert_eq!(x.speech.len(), 4, "speech between every two pages");
        let peak = x.signal.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(peak < 0.99, "nothing clips: peak {peak}");
    }

    #[test]
    fn snr_sets_the_levels() {
        let set = generate(&config(-6.0));
        let snr = 10.0 * (set.tone_amplitude.powi(2) / 2.0 / set.noise_rms.powi(2)).log10();
        assert!((snr + 6.0).abs() < 1e-9, "{snr}");
        assert!((set.tone_amplitude + 4.0 * set.noise_rms - PEAK_BUDGET).abs() < 1e-12);
    }
}
