//! Virtual sound cards: what a radio's receiver puts out, as a timeline of
//! clips (pages, DTMF, speech, noise, WAV files) on the card's own sample
//! clock, which may run fast or slow against virtual time and deliver its
//! periods late.
//!
//! Everything long is rendered once, when the world is built: a source
//! only copies and mixes slices while it runs, so an hour of audio costs
//! little. Speech and noise are short rendered loops.

use std::path::Path;
use std::sync::{Arc, Mutex};

use echostream_core::time::Duration;
use echostream_core::tone::Definition;

use crate::audio::{Signal, dbfs_to_amplitude, dtmf_pair_hz, voiced_speech_i16};
use crate::rng::Rng;

/// Something a receiver puts out.
#[derive(Debug, Clone, PartialEq)]
pub enum Sound {
    /// A page of one of the channel's tone definitions, by its `tone_id`:
    /// rendered from the definition (tones a quarter longer than their
    /// minimum, A and B of a two-tone page back to back; hi-low pages
    /// alternate one more time than needed; pulsed pages send one pulse
    /// more than needed at the nominal cadence). The world remembers it as a
    /// page that must alert exactly once.
    Page {
        /// The definition's `tone_id`.
        tone_id: String,
    },
    /// A sine, not a page of any definition.
    Tone {
        /// Its frequency.
        hz: f64,
        /// Its length.
        ms: u32,
    },
    /// DTMF digits, each `on_ms` long with `off_ms` between them.
    Dtmf {
        /// The digits (`0-9`, `A-D`, `*`, `#`).
        digits: String,
        /// Tone length per digit.
        on_ms: u32,
        /// Gap between digits.
        off_ms: u32,
    },
    /// Voiced speech (a formant synthesiser's stand-in for dispatch audio).
    Speech {
        /// Its length.
        ms: u32,
    },
    /// Band noise (300–3000 Hz).
    Noise {
        /// Its length.
        ms: u32,
    },
    /// Samples at the channel's rate (a WAV file, see [`Sound::wav`]).
    Samples(Arc<[i16]>),
}

impl Sound {
    /// A mono 16-bit WAV file at `rate_hz`.
    ///
    /// # Errors
    /// The file cannot be read, is not mono 16-bit, or has another rate.
    pub fn wav(path: &Path, rate_hz: u32) -> Result<Sound, String> {
        let reader =
            hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let spec = reader.spec();
        if spec.channels != 1 || spec.bits_per_sample != 16 || spec.sample_rate != rate_hz {
            return Err(format!(
                "{}: {} channels, {} bits, {} Hz; the channel wants mono 16-bit at {rate_hz} Hz",
                path.display(),
                spec.channels,
                spec.bits_per_sample,
                spec.sample_rate
            ));
        }
        let samples: Result<Vec<i16>, _> = reader.into_samples::<i16>().collect();
        let samples = samples.map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Sound::Samples(samples.into()))
    }
}

/// One sound at a moment of virtual time.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// When it starts (converted to the card's sample clock).
    pub at: Duration,
    /// What it is.
    pub sound: Sound,
    /// Peak level of tones, speech and samples' scale; noise RMS.
    pub level_dbfs: f64,
}

/// A virtual sound card's input.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    /// What it hears, in any order.
    pub clips: Vec<Clip>,
    /// Band noise under everything, RMS dBFS (`None`: digital silence).
    pub noise_dbfs: Option<f64>,
    /// How fast its sample clock runs against virtual time, ppm.
    pub drift_ppm: f64,
    /// Each period is handed over up to this late (uniform), µs; at most
    /// half a period.
    pub period_jitter_us: u32,
    /// The card stops (its input ends) at this moment.
    pub ends_at: Option<Duration>,
}

impl Default for SourceSpec {
    fn default() -> SourceSpec {
        SourceSpec {
            clips: Vec::new(),
            noise_dbfs: None,
            drift_ppm: 0.0,
            period_jitter_us: 0,
            ends_at: None,
        }
    }
}

impl SourceSpec {
    /// Adds a clip.
    pub fn clip(mut self, at: Duration, sound: Sound, level_dbfs: f64) -> SourceSpec {
        self.clips.push(Clip {
            at,
            sound,
            level_dbfs,
        });
        self
    }
}

/// Where a page is in a card's samples: the ground truth the page checker
/// holds the node's alerts to.
#[derive(Debug, Clone, PartialEq)]
pub struct PageTruth {
    /// The definition's `tone_id`.
    pub tone_id: String,
    /// Its first sample.
    pub start: u64,
    /// One past its last sample.
    pub end: u64,
}

/// A card's sample clock against virtual time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CardClock {
    /// Nominal rate.
    pub rate_hz: u32,
    /// Offset, ppm (positive: more samples per virtual second).
    pub drift_ppm: f64,
}

impl CardClock {
    /// The sample the card reaches at virtual time `at` (from its start).
    pub fn sample_at(&self, at: Duration) -> u64 {
        let rate = f64::from(self.rate_hz) * (1.0 + self.drift_ppm * 1e-6);
        (at.as_micros() as f64 * rate / 1e6).round() as u64
    }

    /// The virtual time (from the card's start) at which it reaches
    /// `sample`.
    pub fn time_of(&self, sample: u64) -> Duration {
        let rate = f64::from(self.rate_hz) * (1.0 + self.drift_ppm * 1e-6);
        Duration::from_micros((sample as f64 * 1e6 / rate).round() as u64)
    }
}

/// One rendered clip on the card's clock.
#[derive(Debug, Clone)]
struct Placed {
    start: u64,
    samples: Arc<[i16]>,
}

impl Placed {
    fn end(&self) -> u64 {
        self.start + self.samples.len() as u64
    }
}

/// A running source: mixes its clips into each period.
#[derive(Debug, Clone)]
pub struct Source {
    placed: Vec<Placed>,
    /// Clips before this index have ended.
    first_live: usize,
    noise: Option<Arc<[i16]>>,
    /// The card's clock.
    pub clock: CardClock,
    /// Where periods are handed over late, µs.
    pub period_jitter_us: u32,
    /// The last sample it delivers, if its input ends.
    pub end_sample: Option<u64>,
}

/// Seconds of band noise rendered and looped.
const NOISE_LOOP_S: usize = 3;
/// Seconds of speech rendered and looped.
const SPEECH_LOOP_S: usize = 7;

/// Speech renders shared by every world of the process, by rate: the seed
/// sweep builds hundreds of worlds, and rendering the loop (a harmonic
/// series, a sine per harmonic per sample) was a third of its time.
static SPEECH: Mutex<Vec<(u32, Arc<[i16]>)>> = Mutex::new(Vec::new());

/// The speech loop at `rate_hz`, rendered on first use in the process.
fn shared_speech(rate_hz: u32) -> Arc<[i16]> {
    // A poisoned lock only means another world panicked mid-render: the
    // list is still whole (a render is pushed complete or not at all).
    let mut cache = SPEECH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, samples)) = cache.iter().find(|(rate, _)| *rate == rate_hz) {
        return samples.clone();
    }
    let samples: Arc<[i16]> = voiced_speech_i16(rate_hz, rate_hz as usize * SPEECH_LOOP_S).into();
    cache.push((rate_hz, samples.clone()));
    samples
}

impl Source {
    /// Renders `spec` for a card at `rate_hz`; `definition` names a page's
    /// definition by `tone_id`. Returns the source and its pages.
    ///
    /// # Errors
    /// A page of a `tone_id` the channel does not listen for, or a DTMF
    /// digit that is not one.
    pub fn render(
        spec: &SourceSpec,
        rate_hz: u32,
        definition: impl Fn(&str) -> Option<Definition>,
        seed: u64,
    ) -> Result<(Source, Vec<PageTruth>), String> {
        let clock = CardClock {
            rate_hz,
            drift_ppm: spec.drift_ppm,
        };
        let mut placed = Vec::new();
        let mut pages = Vec::new();
        for (i, clip) in spec.clips.iter().enumerate() {
            let start = clock.sample_at(clip.at);
            let amplitude = dbfs_to_amplitude(clip.level_dbfs);
            let samples: Arc<[i16]> = match &clip.sound {
                Sound::Page { tone_id } => {
                    let def = definition(tone_id).ok_or_else(|| {
                        format!("a page of `{tone_id}`, which it does not define")
                    })?;
                    let samples = render_page(&def, rate_hz, amplitude);
                    pages.push(PageTruth {
                        tone_id: tone_id.clone(),
                        start,
                        end: start + samples.len() as u64,
                    });
                    samples.into()
                }
                Sound::Tone { hz, ms } => {
                    let mut s = Signal::new(rate_hz);
                    s.tone(*hz, f64::from(*ms), amplitude);
                    to_i16(&s.samples).into()
                }
                Sound::Dtmf {
                    digits,
                    on_ms,
                    off_ms,
                } => render_dtmf(digits, *on_ms, *off_ms, rate_hz, amplitude)?.into(),
                Sound::Speech { ms } => {
                    let speech = shared_speech(rate_hz);
                    let gain = amplitude * 32_767.0 / 16_000.0;
                    let len = ms_samples(*ms, rate_hz);
                    (0..len)
                        .map(|n| scale(speech[n % speech.len()], gain))
                        .collect()
                }
                Sound::Noise { ms } => {
                    let power = amplitude * amplitude;
                    let len = ms_samples(*ms, rate_hz);
                    let noise = crate::audio::band_noise(len, rate_hz, power, seed ^ i as u64);
                    to_i16(&noise).into()
                }
                Sound::Samples(samples) => {
                    let gain = amplitude;
                    samples.iter().map(|&s| scale(s, gain)).collect()
                }
            };
            placed.push(Placed { start, samples });
        }
        placed.sort_by_key(|p| p.start);
        pages.sort_by_key(|p| p.start);
        let noise = spec.noise_dbfs.map(|dbfs| {
            let amplitude = dbfs_to_amplitude(dbfs);
            let len = rate_hz as usize * NOISE_LOOP_S;
            let noise = crate::audio::band_noise(len, rate_hz, amplitude * amplitude, seed);
            to_i16(&noise).into()
        });
        let source = Source {
            placed,
            first_live: 0,
            noise,
            clock,
            period_jitter_us: spec.period_jitter_us,
            end_sample: spec.ends_at.map(|at| clock.sample_at(at)),
        };
        Ok((source, pages))
    }

    /// Fills `out` with the samples from `start` on.
    pub fn fill(&mut self, start: u64, out: &mut [i16]) {
        match &self.noise {
            Some(noise) => {
                let len = noise.len() as u64;
                for (i, s) in out.iter_mut().enumerate() {
                    *s = noise[((start + i as u64) % len) as usize];
                }
            }
            None => out.fill(0),
        }
        let end = start + out.len() as u64;
        while self
            .placed
            .get(self.first_live)
            .is_some_and(|p| p.end() <= start)
        {
            self.first_live += 1;
        }
        for clip in &self.placed[self.first_live..] {
            if clip.start >= end {
                break;
            }
            if clip.end() <= start {
                continue;
            }
            let from = clip.start.max(start);
            let to = clip.end().min(end);
            for at in from..to {
                let o = &mut out[(at - start) as usize];
                *o = o.saturating_add(clip.samples[(at - clip.start) as usize]);
            }
        }
    }

    /// A jitter for one period's hand-over, µs.
    pub fn jitter_us(&self, rng: &mut Rng) -> u64 {
        if self.period_jitter_us == 0 {
            0
        } else {
            rng.below(u64::from(self.period_jitter_us) + 1)
        }
    }
}

fn ms_samples(ms: u32, rate_hz: u32) -> usize {
    (u64::from(ms) * u64::from(rate_hz) / 1_000) as usize
}

fn scale(s: i16, gain: f64) -> i16 {
    (f64::from(s) * gain)
        .round()
        .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|&s| (s.clamp(-1.0, 1.0) * 32_767.0).round() as i16)
        .collect()
}

/// A page of `def`: each tone a quarter longer than its minimum.
fn render_page(def: &Definition, rate_hz: u32, amplitude: f64) -> Vec<i16> {
    let long = |ms: u32| f64::from(ms) * 1.25;
    let mut s = Signal::new(rate_hz);
    match def {
        Definition::TwoTone(d) => {
            s.tone(f64::from(d.a_hz), long(d.a_length_ms), amplitude);
            s.tone(f64::from(d.b_hz), long(d.b_length_ms), amplitude);
        }
        Definition::LongTone(d) => {
            s.tone(f64::from(d.hz), long(d.length_ms), amplitude);
        }
        Definition::HiLow(d) => {
            for i in 0..=d.alternations {
                let hz = if i % 2 == 0 { d.a_hz } else { d.b_hz };
                s.tone(f64::from(hz), long(d.min_tone_ms), amplitude);
            }
        }
        Definition::Pulsed(d) => {
            // At the nominal cadence: a quarter longer could leave it.
            for _ in 0..=d.min_pulses {
                s.tone(f64::from(d.hz), f64::from(d.on_ms), amplitude);
                s.silence(f64::from(d.off_ms));
            }
        }
    }
    to_i16(&s.samples)
}

fn render_dtmf(
    digits: &str,
    on_ms: u32,
    off_ms: u32,
    rate_hz: u32,
    amplitude: f64,
) -> Result<Vec<i16>, String> {
    let mut s = Signal::new(rate_hz);
    for digit in digits.chars() {
        let (low, high) =
            dtmf_pair_hz(digit).ok_or_else(|| format!("`{digit}` is no DTMF digit"))?;
        s.dual_tone(
            f64::from(low),
            f64::from(high),
            f64::from(on_ms),
            amplitude / 2.0,
            amplitude / 2.0,
        );
        s.silence(f64::from(off_ms));
    }
    Ok(to_i16(&s.samples))
}

#[cfg(test)]
mod tests {
    use super::*;
    use echostream_core::tone::TwoToneDef;

    #[test]
    fn clips_mix_where_they_are_and_pages_are_remembered() {
        let spec = SourceSpec::default()
            .clip(
                Duration::from_millis(100),
                Sound::Page {
                    tone_id: "s1".into(),
                },
                -10.0,
            )
            .clip(
                Duration::from_millis(0),
                Sound::Tone { hz: 1000.0, ms: 10 },
                -6.0,
            );
        let def = Definition::TwoTone(TwoToneDef::quick_call(349.0, 707.3));
        let (mut source, pages) =
            Source::render(&spec, 48_000, |id| (id == "s1").then_some(def), 1).unwrap();
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0].start, 4_800);
        assert_eq!(pages[0].end - pages[0].start, 48 * 1_000 + 48 * 2_500);
        let mut block = [0i16; 240];
        source.fill(0, &mut block);
        assert!(block.iter().any(|&s| s != 0), "the tone");
        source.fill(960, &mut block);
        assert!(block.iter().all(|&s| s == 0), "between the clips");
        source.fill(4_800, &mut block);
        assert!(block.iter().any(|&s| s != 0), "the page");
    }

    #[test]
    fn a_fast_card_reaches_a_moment_with_more_samples() {
        let clock = CardClock {
            rate_hz: 48_000,
            drift_ppm: 100.0,
        };
        assert_eq!(clock.sample_at(Duration::from_secs(100)), 4_800_480);
        assert_eq!(clock.time_of(4_800_480), Duration::from_secs(100));
    }
}
