//! The recording a dispatcher hands to `echostream-sim try`: any WAV
//! file hound reads (8/16/24/32-bit integer or 32-bit float, any number
//! of channels, any rate), brought to the mono 16-bit stream at the
//! channel's rate that a sound card would deliver.

use std::fmt;
use std::path::{Path, PathBuf};

/// The longest recording taken: four hours at 48 kHz (1.4 GB of `i16`
/// would be the next step up; an offline check needs far less).
pub const MAX_SECONDS: u64 = 4 * 3_600;

/// A recording, ready for a virtual sound card.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Mono samples at `rate_hz`.
    pub samples: Vec<i16>,
    /// The rate they are at (the channel's).
    pub rate_hz: u32,
    /// What the file was, e.g. `stereo 24-bit 44100 Hz`.
    pub original: String,
    /// Whether it had to be downmixed or resampled.
    pub converted: bool,
}

impl Recording {
    /// How long it plays, in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate_hz)
    }
}

/// Why a recording cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioError {
    /// The file.
    pub path: PathBuf,
    /// Why, in words that say what would be taken.
    pub reason: String,
}

impl fmt::Display for AudioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audio file `{}`: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for AudioError {}

/// What the command takes, for error messages.
pub const WANTED: &str = "a WAV file (PCM 8/16/24/32-bit or 32-bit float, mono or more channels, \
     any rate; mono 16-bit at the channel's rate is used as it is)";

/// Reads `path` and brings it to mono 16-bit at `rate_hz`: channels are
/// averaged, other rates resampled by linear interpolation (enough for
/// tones up to 3.5 kHz; a live sound card at the channel's rate is what
/// the node hears).
///
/// # Errors
/// The file cannot be opened, is not a WAV file hound reads, is damaged,
/// or is longer than [`MAX_SECONDS`].
pub fn read(path: &Path, rate_hz: u32) -> Result<Recording, AudioError> {
    let err = |reason: String| AudioError {
        path: path.to_owned(),
        reason,
    };
    let reader = hound::WavReader::open(path).map_err(|e| match e {
        hound::Error::IoError(io) => err(format!("cannot read it: {io}")),
        other => err(format!("not a usable WAV file ({other}); {WANTED}")),
    })?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 || spec.sample_rate == 0 {
        return Err(err(format!(
            "{} channels at {} Hz; {WANTED}",
            spec.channels, spec.sample_rate
        )));
    }
    let frames = u64::from(reader.duration());
    if frames / u64::from(spec.sample_rate) > MAX_SECONDS {
        return Err(err(format!(
            "{} s long; at most {MAX_SECONDS} s is taken",
            frames / u64::from(spec.sample_rate)
        )));
    }
    let original = format!(
        "{} {}-bit{} {} Hz",
        match channels {
            1 => "mono".to_owned(),
            2 => "stereo".to_owned(),
            n => format!("{n}-channel"),
        },
        spec.bits_per_sample,
        if spec.sample_format == hound::SampleFormat::Float {
            " float"
        } else {
            ""
        },
        spec.sample_rate
    );
    let interleaved = samples_f32(reader).map_err(|e| err(format!("damaged: {e}; {WANTED}")))?;
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    let resampled = resample(&mono, spec.sample_rate, rate_hz);
    let converted = channels != 1
        || spec.sample_rate != rate_hz
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int;
    Ok(Recording {
        samples: resampled.iter().map(|&s| to_i16(s)).collect(),
        rate_hz,
        original,
        converted,
    })
}

/// Every sample as −1.0..1.0, interleaved.
fn samples_f32<R: std::io::Read>(reader: hound::WavReader<R>) -> Result<Vec<f32>, hound::Error> {
    let spec = reader.spec();
    match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect(),
        hound::SampleFormat::Int => {
            let full_scale = (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 / full_scale))
                .collect()
        }
    }
}

/// `samples` at `from_hz` as samples at `to_hz`, by linear interpolation.
fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == to_hz || samples.is_empty() {
        return samples.to_vec();
    }
    let out_len = (samples.len() as u64 * u64::from(to_hz) / u64::from(from_hz)) as usize;
    let step = f64::from(from_hz) / f64::from(to_hz);
    (0..out_len)
        .map(|i| {
            let at = i as f64 * step;
            let k = at as usize;
            let frac = (at - k as f64) as f32;
            let a = samples[k.min(samples.len() - 1)];
            let b = samples[(k + 1).min(samples.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

fn to_i16(sample: f32) -> i16 {
    (sample * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stereo_44k1_file_becomes_mono_at_the_channel_rate() {
        let dir = std::env::temp_dir().join(format!("try-audio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("stereo.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("create");
        for _ in 0..44_100 {
            w.write_sample(1_000i16).expect("write");
            w.write_sample(3_000i16).expect("write");
        }
        w.finalize().expect("finalize");
        let rec = read(&path, 48_000).expect("readable");
        assert_eq!(rec.samples.len(), 48_000);
        assert!(rec.converted);
        assert_eq!(rec.original, "stereo 16-bit 44100 Hz");
        assert!(rec.samples.iter().all(|&s| s == 2_000), "averaged");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_text_file_is_refused_saying_what_is_taken() {
        let dir = std::env::temp_dir().join(format!("try-audio-txt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("notes.wav");
        std::fs::write(&path, "not audio").expect("write");
        let e = read(&path, 48_000).expect_err("not a WAV");
        assert!(e.to_string().contains("mono 16-bit"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
