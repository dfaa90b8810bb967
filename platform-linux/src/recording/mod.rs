//! Recording files: one WAV or Ogg Opus file per burst of alerts, written
//! by the (non-realtime) recorder thread (DESIGN.md "Passthrough and
//! recording").
//!
//! Never a partial file under a final name: [`RecordingFile::create`]
//! writes `dir/.{name}.{ext}.part`; [`RecordingFile::finish`] completes
//! its headers, fsyncs it, renames it to `dir/{name}.{ext}` and fsyncs the
//! folder, so after a crash or a power cut the final name holds either
//! nothing or the whole file. What a killed process leaves under the
//! temporary name is finished or removed at the next start by
//! [`recover_leftovers`].
//!
//! - WAV: RIFF/WAVE, PCM s16 mono (`wav.rs`).
//! - Ogg Opus: RFC 7845 in Ogg pages (RFC 3533), 20 ms frames from the
//!   project's libopus wrapper, a page about every second (`ogg.rs`,
//!   `ogg_opus.rs`): about 25× smaller than WAV at 24 kbit/s.
//!
//! Files are written with plain blocking `std::fs` calls: this module is
//! never used on an audio thread.

mod error;
mod file;
mod ogg;
mod ogg_opus;
mod recover;
#[cfg(test)]
mod testing;
mod wav;

use std::fmt;

pub use error::{FileOp, RecordingError};
pub use file::RecordingFile;
pub use recover::{Leftover, LeftoverOutcome, RemovedReason, recover_leftovers};

use std::path::PathBuf;

/// Suffix of a file being written.
const TEMP_SUFFIX: &str = ".part";
/// Longest file name Linux file systems take (`NAME_MAX`).
const NAME_LEN_MAX: usize = 255;

/// The file format of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RIFF/WAVE, 16-bit PCM mono, at the capture rate.
    Wav,
    /// Ogg Opus (RFC 7845), mono, at 8, 12, 16, 24 or 48 kHz.
    Opus,
}

impl Format {
    /// Both formats.
    pub const ALL: [Format; 2] = [Format::Wav, Format::Opus];

    /// The file name extension, without the dot: `wav` or `opus`.
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Wav => "wav",
            Format::Opus => "opus",
        }
    }

    /// The format whose [`extension`](Format::extension) is `ext`.
    pub fn from_extension(ext: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.extension() == ext)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// The Opus encoder settings of an Ogg Opus recording (the rest is fixed:
/// 20 ms frames, VoIP, variable bitrate, no FEC, no DTX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusSettings {
    /// Target bitrate, 6000 to 510000 bit/s.
    pub bitrate_bps: u32,
    /// Encoder effort, 0 (cheapest) to 10 (best), as `audio.opus.complexity`.
    pub complexity: u32,
}

impl Default for OpusSettings {
    /// 24 kbit/s, complexity 5: the `audio.opus` defaults.
    fn default() -> OpusSettings {
        OpusSettings {
            bitrate_bps: crate::config::defaults::OPUS_BITRATE_BPS,
            complexity: crate::config::defaults::OPUS_COMPLEXITY,
        }
    }
}

/// A recording complete under its final name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// `dir/{name}.{ext}`.
    pub path: PathBuf,
    /// The format.
    pub format: Format,
    /// Size of the file.
    pub bytes: u64,
    /// Samples of audio in it (at `rate_hz`; for Ogg Opus, what a decoder
    /// outputs after pre-skip and end trimming).
    pub samples: u64,
    /// The rate of the samples.
    pub rate_hz: u32,
    /// `samples` in milliseconds, rounded down.
    pub duration_ms: u64,
}

impl Finished {
    fn new(path: PathBuf, format: Format, bytes: u64, samples: u64, rate_hz: u32) -> Finished {
        Finished {
            path,
            format,
            bytes,
            samples,
            rate_hz,
            duration_ms: samples * 1_000 / u64::from(rate_hz.max(1)),
        }
    }
}

/// Checks that `name` makes a file name of its own in the folder, as both
/// the final and the temporary name.
fn check_name(name: &str, format: Format) -> Result<(), RecordingError> {
    let reason = if name.is_empty() {
        "is empty"
    } else if name.contains(['/', '\0']) {
        "contains `/` or NUL"
    } else if name.starts_with('.') {
        "starts with `.` (hidden names are for files being written)"
    } else if temp_name(name, format).len() > NAME_LEN_MAX {
        "is too long for a file name"
    } else {
        return Ok(());
    };
    Err(RecordingError::Name {
        name: name.to_owned(),
        reason,
    })
}

/// `{name}.{ext}`.
fn final_name(name: &str, format: Format) -> String {
    format!("{name}.{}", format.extension())
}

/// `.{name}.{ext}.part`.
fn temp_name(name: &str, format: Format) -> String {
    format!(".{name}.{}{TEMP_SUFFIX}", format.extension())
}

/// The name and format of a temporary file name `.{name}.{ext}.part`;
/// `None` for any other file name.
fn parse_temp_name(file_name: &str) -> Option<(&str, Format)> {
    let inner = file_name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let (name, ext) = inner.rsplit_once('.')?;
    let format = Format::from_extension(ext)?;
    check_name(name, format).ok()?;
    Some((name, format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_name_their_files() {
        assert_eq!(Format::Wav.to_string(), "wav");
        assert_eq!(Format::Opus.extension(), "opus");
        assert_eq!(final_name("a", Format::Opus), "a.opus");
        assert_eq!(temp_name("a", Format::Wav), ".a.wav.part");
        for f in Format::ALL {
            assert_eq!(Format::from_extension(f.extension()), Some(f));
        }
        assert_eq!(Format::from_extension("mp3"), None);
    }

    #[test]
    fn temp_names_parse_back() {
        let name = "2026-12-01T10-00-00Z_ch1_fire-a_fire-b";
        for f in Format::ALL {
            assert_eq!(parse_temp_name(&temp_name(name, f)), Some((name, f)));
        }
        assert_eq!(parse_temp_name(".a.b.wav.part"), Some(("a.b", Format::Wav)));
        for other in [
            "a.wav",
            "a.wav.part",
            ".a.wav",
            ".a.mp3.part",
            ".wav.part",
            "..a.wav.part",
            ".a.opus.part.bak",
        ] {
            assert_eq!(parse_temp_name(other), None, "{other}");
        }
    }

    #[test]
    fn names_that_are_not_file_names_are_refused() {
        for bad in ["", "a/b", "../a", ".hidden", "nul\0"] {
            let err = check_name(bad, Format::Wav).unwrap_err();
            assert!(matches!(err, RecordingError::Name { .. }), "{bad:?}");
        }
        let long = "x".repeat(NAME_LEN_MAX);
        assert!(check_name(&long, Format::Opus).is_err());
        let fits = "x".repeat(NAME_LEN_MAX - ".x.opus.part".len() + 1);
        assert!(check_name(&fits, Format::Opus).is_ok());
        assert!(check_name("2026-12-01_ch1_fire", Format::Wav).is_ok());
    }
}
