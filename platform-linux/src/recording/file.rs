//! One recording being written: the temporary file, its writer, and the
//! fsync → rename → fsync-the-folder that makes it final.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::error::{FileOp, RecordingError, io_err};
use super::ogg_opus::{self, OggOpusWriter};
use super::wav::{self, WavWriter};
use super::{Finished, Format, OpusSettings, check_name, final_name, temp_name};
use crate::opus::SAMPLE_RATES_HZ;

/// A recording being written under its temporary name.
///
/// [`create`](RecordingFile::create), any number of
/// [`write`](RecordingFile::write)s, then exactly one of
/// [`finish`](RecordingFile::finish) (the file appears under its final
/// name) or [`abandon`](RecordingFile::abandon) (it is removed). Dropped without
/// either, the temporary file stays, as if the process had been killed,
/// for [`recover_leftovers`](super::recover_leftovers) at the next start.
///
/// Writes are blocking file I/O: for the recorder thread, never an audio
/// thread.
#[derive(Debug)]
pub struct RecordingFile {
    dir: PathBuf,
    temp_path: PathBuf,
    final_path: PathBuf,
    format: Format,
    rate_hz: u32,
    samples: u64,
    writer: Writer,
}

#[derive(Debug)]
enum Writer {
    Wav(WavWriter),
    Opus(Box<OggOpusWriter>),
}

impl RecordingFile {
    /// Creates `dir/.{name}.{ext}.part` and writes the format's header.
    /// `name` has no extension; `samples` will be mono at `rate_hz`;
    /// `opus` is used for [`Format::Opus`] only.
    ///
    /// # Errors
    ///
    /// - [`RecordingError::Name`]: `name` empty, hidden, with a `/`, or too
    ///   long for a file name;
    /// - [`RecordingError::SampleRate`]: Opus at a rate other than 8, 12,
    ///   16, 24 or 48 kHz; WAV at 0 Hz or over 384 kHz;
    /// - [`RecordingError::Opus`]: the encoder refused `opus`;
    /// - [`RecordingError::Io`] `Create`: the folder is missing or not
    ///   writable, or the temporary file already exists (another writer of
    ///   the same name, or a leftover not yet recovered); `Write`: the
    ///   header could not be written (the file is removed).
    pub fn create(
        dir: &Path,
        name: &str,
        format: Format,
        rate_hz: u32,
        opus: &OpusSettings,
    ) -> Result<RecordingFile, RecordingError> {
        check_name(name, format)?;
        let rate_ok = match format {
            Format::Wav => (1..=wav::RATE_HZ_MAX).contains(&rate_hz),
            Format::Opus => SAMPLE_RATES_HZ.contains(&rate_hz),
        };
        if !rate_ok {
            return Err(RecordingError::SampleRate { format, rate_hz });
        }
        let temp_path = dir.join(temp_name(name, format));
        // create_new: never truncate a file another writer (or a killed
        // one) is responsible for.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
            .map_err(io_err(FileOp::Create, &temp_path))?;
        let writer = match format {
            Format::Wav => WavWriter::new(file, rate_hz)
                .map(Writer::Wav)
                .map_err(io_err(FileOp::Write, &temp_path)),
            Format::Opus => OggOpusWriter::new(file, rate_hz, opus, serial_of(name))
                .map(|w| Writer::Opus(Box::new(w)))
                .map_err(|e| opus_write_err(e, &temp_path)),
        };
        let writer = match writer {
            Ok(w) => w,
            Err(e) => {
                remove_quietly(&temp_path);
                return Err(e);
            }
        };
        Ok(RecordingFile {
            dir: dir.to_owned(),
            final_path: dir.join(final_name(name, format)),
            temp_path,
            format,
            rate_hz,
            samples: 0,
            writer,
        })
    }

    /// Appends mono samples at the file's rate, in blocks of any length.
    /// The Opus writer encodes every whole 20 ms frame and keeps the rest
    /// for the next call (or [`finish`](RecordingFile::finish)).
    ///
    /// # Errors
    ///
    /// [`RecordingError::Io`] `Write` (see
    /// [`is_disk_full`](RecordingError::is_disk_full)); the file then
    /// holds an unknown part of the block: [`abandon`](RecordingFile::abandon)
    /// it or finish what it has. [`RecordingError::TooLong`]: a WAV file
    /// cannot count more samples (nothing of the block was written).
    /// [`RecordingError::Opus`]: libopus failed to encode a frame.
    pub fn write(&mut self, samples: &[i16]) -> Result<(), RecordingError> {
        match &mut self.writer {
            Writer::Wav(w) => {
                if samples.len() as u64 > w.room_samples() {
                    return Err(RecordingError::TooLong {
                        path: self.temp_path.clone(),
                        max_samples: wav::DATA_LEN_MAX / wav::SAMPLE_LEN,
                    });
                }
                w.write(samples)
                    .map_err(io_err(FileOp::Write, &self.temp_path))?;
            }
            Writer::Opus(w) => w
                .write(samples)
                .map_err(|e| opus_write_err(e, &self.temp_path))?,
        }
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Samples written so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The format being written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The sample rate.
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// `dir/.{name}.{ext}.part`, where the file is until finished.
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// `dir/{name}.{ext}`, where [`finish`](RecordingFile::finish) puts it.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Completes the file and gives it its final name: the Opus writer
    /// encodes its last (zero-padded) frame and writes the end-of-stream
    /// page, whose granule position trims the padding; the WAV writer
    /// writes its sizes. Then fsync, rename over any file of that name,
    /// fsync of the folder.
    ///
    /// # Errors
    ///
    /// [`RecordingError::Io`] `Write`, `Fsync` or `Rename` of the
    /// temporary file, which is then removed: the final name never holds
    /// a partial file. [`RecordingError::Opus`] likewise. `Fsync` of the
    /// folder (the error's path is the folder): the file is complete
    /// under its final name, but the rename may not survive a power cut.
    pub fn finish(self) -> Result<Finished, RecordingError> {
        let RecordingFile {
            dir,
            temp_path,
            final_path,
            format,
            rate_hz,
            samples,
            writer,
        } = self;
        let sealed = match writer {
            Writer::Wav(w) => {
                let bytes = w.file_len();
                w.finish()
                    .map(|file| (file, bytes))
                    .map_err(io_err(FileOp::Write, &temp_path))
            }
            Writer::Opus(w) => w.finish().map_err(|e| opus_write_err(e, &temp_path)),
        }
        .and_then(|(file, bytes)| {
            file.sync_all()
                .map(|()| bytes)
                .map_err(io_err(FileOp::Fsync, &temp_path))
        });
        let bytes = sealed.inspect_err(|_| remove_quietly(&temp_path))?;
        rename(&temp_path, &final_path).inspect_err(|_| remove_quietly(&temp_path))?;
        sync_dir(&dir)?;
        Ok(Finished::new(final_path, format, bytes, samples, rate_hz))
    }

    /// Gives up on the recording: closes and removes the temporary file.
    /// A removal that fails is logged; the file then stays for
    /// [`recover_leftovers`](super::recover_leftovers).
    pub fn abandon(self) {
        let path = self.temp_path;
        drop(self.writer);
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            log::warn!("recording: cannot remove `{}`: {e}", path.display());
        }
    }
}

/// Renames a complete, fsynced temporary file to its final name (over
/// any file of that name).
pub(super) fn rename(temp_path: &Path, final_path: &Path) -> Result<(), RecordingError> {
    fs::rename(temp_path, final_path).map_err(io_err(FileOp::Rename, temp_path))
}

/// Fsyncs the folder, so that a rename or a removal in it survives a
/// power cut.
pub(super) fn sync_dir(dir: &Path) -> Result<(), RecordingError> {
    // `Path::new("")` is the current folder to `join`, but not to `open`.
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(FileOp::Fsync, dir))
}

/// Removes a temporary file after a failure already being reported.
fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        log::warn!("recording: cannot remove `{}`: {e}", path.display());
    }
}

fn opus_write_err(e: ogg_opus::WriteError, path: &Path) -> RecordingError {
    match e {
        ogg_opus::WriteError::Io(source) => io_err(FileOp::Write, path)(source),
        ogg_opus::WriteError::Opus(source) => RecordingError::Opus {
            path: path.to_owned(),
            source,
        },
    }
}

/// The Ogg stream serial number: FNV-1a of the name, so that the same
/// name gives the same file (reproducible tests) and different recordings
/// almost always differ (RFC 3533 asks for a random one only to tell
/// streams apart when they are chained or multiplexed).
fn serial_of(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::testing::{
        check_with_opus_tools, decode_ogg_opus, dir_entries, ncc, read_ogg, sine_mix, wav_samples,
    };

    /// Writes `input` in blocks of the given sizes, cycling.
    fn write_in_blocks(file: &mut RecordingFile, input: &[i16], blocks: &[usize]) {
        let mut at = 0;
        for &n in blocks.iter().cycle() {
            if at == input.len() {
                break;
            }
            let end = (at + n).min(input.len());
            file.write(&input[at..end]).unwrap();
            at = end;
        }
    }

    #[test]
    fn wav_round_trips_exactly_at_48_and_16_khz() {
        for rate_hz in [48_000, 16_000] {
            let tmp = tempfile::tempdir().unwrap();
            let input = sine_mix(rate_hz, rate_hz as usize * 33 / 10);
            let mut file = RecordingFile::create(
                tmp.path(),
                "burst",
                Format::Wav,
                rate_hz,
                &OpusSettings::default(),
            )
            .unwrap();
            assert_eq!(dir_entries(tmp.path()), [".burst.wav.part"]);
            write_in_blocks(&mut file, &input, &[1, 333, 7, 4_099, 480, 0, 2]);
            assert_eq!(file.samples(), input.len() as u64);
            let done = file.finish().unwrap();

            assert_eq!(dir_entries(tmp.path()), ["burst.wav"], "temp file gone");
            assert_eq!(done.path, tmp.path().join("burst.wav"));
            assert_eq!(done.samples, input.len() as u64);
            assert_eq!(done.duration_ms, 3_300);
            assert_eq!(done.bytes, 44 + 2 * input.len() as u64);
            assert_eq!(fs::metadata(&done.path).unwrap().len(), done.bytes);
            assert_eq!(wav_samples(&done.path, rate_hz), input, "at {rate_hz} Hz");
        }
    }

    #[test]
    fn ogg_opus_decodes_to_the_input_length_and_shape() {
        for rate_hz in [48_000, 16_000] {
            let tmp = tempfile::tempdir().unwrap();
            let input = sine_mix(rate_hz, rate_hz as usize * 33 / 10);
            let mut file = RecordingFile::create(
                tmp.path(),
                "burst",
                Format::Opus,
                rate_hz,
                &OpusSettings::default(),
            )
            .unwrap();
            write_in_blocks(&mut file, &input, &[1, 333, 7, 4_099, 480, 0, 2]);
            let done = file.finish().unwrap();
            assert_eq!(dir_entries(tmp.path()), ["burst.opus"]);
            assert_eq!(done.samples, input.len() as u64);
            assert_eq!(done.duration_ms, 3_300);

            let bytes = fs::read(&done.path).unwrap();
            assert_eq!(bytes.len() as u64, done.bytes);
            let ogg = read_ogg(&bytes);
            assert_eq!(ogg.head.channels, 1);
            assert_eq!(ogg.head.input_rate_hz, rate_hz);
            assert_eq!(
                ogg.head.pre_skip, 312,
                "6.5 ms of VoIP look-ahead at 48 kHz"
            );
            let last = ogg.pages.last().unwrap();
            assert_eq!(
                last.granule,
                312 + input.len() as i64 * i64::from(48_000 / rate_hz),
                "exact end"
            );
            // About one page a second, 20 ms a packet.
            assert_eq!(ogg.pages.len(), 4);
            assert!(ogg.pages[..3].iter().all(|p| p.packets.len() == 50));

            let decoded = decode_ogg_opus(&ogg, rate_hz);
            assert_eq!(decoded.len(), input.len(), "to the sample at {rate_hz} Hz");
            let score = ncc(&input, &decoded);
            // At lag 0: pre-skip lines the output up with the input (SILK's
            // resampler leaves it 3 samples early at 48 kHz, which costs
            // the 1 kHz component a few hundredths here).
            assert!(score > 0.9, "correlation {score} at {rate_hz} Hz");
            assert_eq!(
                &ogg.tags[12..12 + crate::opus::version().len()],
                crate::opus::version().as_bytes(),
                "vendor"
            );
        }
    }

    #[test]
    fn ogg_opus_is_far_smaller_than_wav_for_speech() {
        let rate_hz = 48_000;
        let speech = echostream_sim::audio::voiced_speech_i16(rate_hz, 30 * rate_hz as usize);
        let tmp = tempfile::tempdir().unwrap();
        let mut sizes = Vec::new();
        for format in Format::ALL {
            let settings = OpusSettings {
                bitrate_bps: 24_000,
                complexity: 5,
            };
            let mut file =
                RecordingFile::create(tmp.path(), "speech", format, rate_hz, &settings).unwrap();
            write_in_blocks(&mut file, &speech, &[960]);
            sizes.push(file.finish().unwrap().bytes);
        }
        let ratio = sizes[0] as f64 / sizes[1] as f64;
        assert!(
            ratio > 10.0,
            "WAV {} B / Opus {} B = {ratio:.1}",
            sizes[0],
            sizes[1]
        );
    }

    #[test]
    fn opus_tools_play_the_file_to_the_sample() {
        // 3.3 s spans pages; 960 samples and 1 sample fit the one audio
        // page, which is both first and last (RFC 7845 §4.5).
        for (rate_hz, len) in [(48_000, 158_407), (16_000, 52_807), (8_000, 26_407)]
            .into_iter()
            .chain([(48_000, 960), (8_000, 1)])
        {
            let tmp = tempfile::tempdir().unwrap();
            let input = sine_mix(rate_hz, len);
            let mut file = RecordingFile::create(
                tmp.path(),
                "burst",
                Format::Opus,
                rate_hz,
                &OpusSettings::default(),
            )
            .unwrap();
            write_in_blocks(&mut file, &input, &[1_234]);
            let done = file.finish().unwrap();
            let samples_48k = len * (48_000 / rate_hz) as usize;
            check_with_opus_tools(&done.path, samples_48k);
        }
    }

    #[test]
    fn empty_and_tiny_recordings_finish() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, n) in [("none", 0), ("one", 1), ("frame", 960)] {
            for format in Format::ALL {
                let mut file = RecordingFile::create(
                    tmp.path(),
                    name,
                    format,
                    48_000,
                    &OpusSettings::default(),
                )
                .unwrap();
                file.write(&vec![1_000; n]).unwrap();
                let done = file.finish().unwrap();
                assert_eq!(done.samples, n as u64);
                if format == Format::Opus {
                    let ogg = read_ogg(&fs::read(&done.path).unwrap());
                    assert_eq!(decode_ogg_opus(&ogg, 48_000).len(), n, "{name}");
                } else {
                    assert_eq!(wav_samples(&done.path, 48_000).len(), n);
                }
            }
        }
    }

    #[test]
    fn abandon_removes_the_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        for format in Format::ALL {
            let mut file =
                RecordingFile::create(tmp.path(), "gone", format, 16_000, &OpusSettings::default())
                    .unwrap();
            file.write(&sine_mix(16_000, 20_000)).unwrap();
            assert!(file.temp_path().exists());
            file.abandon();
            assert!(dir_entries(tmp.path()).is_empty(), "{format}");
        }
    }

    #[test]
    fn create_refuses_what_cannot_be_written() {
        let tmp = tempfile::tempdir().unwrap();
        let opus = OpusSettings::default();
        let err = RecordingFile::create(tmp.path(), "a", Format::Opus, 44_100, &opus).unwrap_err();
        assert!(matches!(
            err,
            RecordingError::SampleRate {
                rate_hz: 44_100,
                ..
            }
        ));
        let err = RecordingFile::create(tmp.path(), "a", Format::Wav, 0, &opus).unwrap_err();
        assert!(matches!(err, RecordingError::SampleRate { .. }));
        let err = RecordingFile::create(tmp.path(), "../a", Format::Wav, 8_000, &opus).unwrap_err();
        assert!(matches!(err, RecordingError::Name { .. }));
        let low = OpusSettings {
            bitrate_bps: 10,
            complexity: 5,
        };
        let err = RecordingFile::create(tmp.path(), "a", Format::Opus, 8_000, &low).unwrap_err();
        assert!(matches!(err, RecordingError::Opus { .. }), "{err}");
        assert!(
            dir_entries(tmp.path()).is_empty(),
            "no file left by a refusal"
        );

        // WAV at 44.1 kHz is fine; a second writer of the same name is not.
        let first = RecordingFile::create(tmp.path(), "a", Format::Wav, 44_100, &opus).unwrap();
        let err = RecordingFile::create(tmp.path(), "a", Format::Wav, 44_100, &opus).unwrap_err();
        assert_eq!(err.op(), Some(FileOp::Create));
        first.finish().unwrap();

        let missing = tmp.path().join("missing");
        let err = RecordingFile::create(&missing, "a", Format::Wav, 8_000, &opus).unwrap_err();
        assert_eq!(err.op(), Some(FileOp::Create));
        assert!(err.to_string().contains("missing/.a.wav.part"), "{err}");
    }

    #[test]
    fn a_failed_finish_leaves_nothing_under_the_final_name() {
        let tmp = tempfile::tempdir().unwrap();
        let mut file = RecordingFile::create(
            tmp.path(),
            "a",
            Format::Wav,
            8_000,
            &OpusSettings::default(),
        )
        .unwrap();
        file.write(&[5; 800]).unwrap();
        // The final name is taken by a folder: rename(2) fails with EISDIR.
        fs::create_dir(tmp.path().join("a.wav")).unwrap();
        let err = file.finish().unwrap_err();
        assert_eq!(err.op(), Some(FileOp::Rename), "{err}");
        assert_eq!(dir_entries(tmp.path()), ["a.wav"]);
        assert!(tmp.path().join("a.wav").is_dir());
    }

    #[test]
    fn serials_follow_the_name() {
        assert_eq!(serial_of("a"), serial_of("a"));
        assert_ne!(serial_of("a"), serial_of("b"));
        // FNV-1a test vector.
        assert_eq!(serial_of("a"), 0xe40c_292c);
    }
}
