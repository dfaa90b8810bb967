//! At start-up: the temporary files a killed writer left behind, finished
//! under their final names when they hold audio, removed otherwise.
//!
//! A writer killed mid-recording leaves `dir/.{name}.{ext}.part` with
//! everything it had handed to the kernel: for WAV, a header whose sizes
//! still say "empty" and the samples after it (perhaps half a sample at
//! the end); for Ogg Opus, the header pages, whole audio pages and perhaps
//! the start of one more. Both are repaired in place from what is on disk,
//! then fsynced and renamed like a finished recording.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{FileOp, RecordingError, io_err};
use super::file::{rename, sync_dir};
use super::ogg::{self, FLAG_BOS, FLAG_CONTINUED, FLAG_EOS, Page};
use super::ogg_opus::{GRANULE_RATE_HZ, OpusHead};
use super::wav::{self, Salvage};
use super::{Finished, Format, final_name, parse_temp_name};
use crate::opus::SAMPLE_RATES_HZ;

/// Least audio worth keeping: one 20 ms frame (for WAV, 20 ms of samples;
/// for Ogg Opus, one packet on a whole page).
const KEEP_MS_MIN: u64 = 20;

/// One temporary file found by [`recover_leftovers`], and what became of
/// it. `Display` is a log line: `finished .x.wav.part as x.wav (12.3 s)`.
#[derive(Debug)]
pub struct Leftover {
    /// The temporary file, `dir/.{name}.{ext}.part`.
    pub temp_path: PathBuf,
    /// What was done with it.
    pub outcome: LeftoverOutcome,
}

/// What [`recover_leftovers`] did with one temporary file.
#[derive(Debug)]
pub enum LeftoverOutcome {
    /// Repaired and renamed to its final name.
    Finished(Finished),
    /// Removed: nothing in it worth keeping.
    Removed(RemovedReason),
    /// Reading, repairing, renaming or removing it failed; it may be left
    /// as it was, repaired under its temporary name, or (when only the
    /// folder fsync failed) finished under its final name.
    Failed(RecordingError),
}

/// Why a temporary file was removed rather than finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovedReason {
    /// Less than one 20 ms frame of audio: the writer was killed just
    /// after it started.
    NoAudio,
    /// Its header is not one EchoStream writes (a damaged file).
    Damaged,
}

impl fmt::Display for RemovedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RemovedReason::NoAudio => "no audio",
            RemovedReason::Damaged => "damaged header",
        })
    }
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let temp = file_name(&self.temp_path);
        match &self.outcome {
            LeftoverOutcome::Finished(done) => write!(
                f,
                "finished {temp} as {} ({}.{} s)",
                file_name(&done.path),
                done.duration_ms / 1_000,
                done.duration_ms % 1_000 / 100
            ),
            LeftoverOutcome::Removed(reason) => write!(f, "removed {temp} ({reason})"),
            LeftoverOutcome::Failed(e) => write!(f, "could not recover {temp}: {e}"),
        }
    }
}

fn file_name(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
}

/// Finds the temporary files (`.{name}.wav.part`, `.{name}.opus.part`)
/// that a killed process left in `dir`, and for each either finishes it
/// under its final name (over any file of that name) or removes it:
///
/// - WAV: the header sizes are set from the whole samples on disk (half a
///   sample at the end is cut off);
/// - Ogg Opus: the stream is cut back to its last whole page (CRC right),
///   which is marked end-of-stream;
///
/// when that leaves at least one 20 ms frame of audio; otherwise, or when
/// the header is not one EchoStream writes, the file is removed. Other
/// files (other names, other extensions, folders) are not touched. Call it
/// before any [`RecordingFile`](super::RecordingFile) is created in `dir`.
///
/// Returns one [`Leftover`] per temporary file, by name, for the caller to
/// log; a file that could not be dealt with is a
/// [`LeftoverOutcome::Failed`], and the others are still dealt with.
///
/// # Errors
///
/// [`RecordingError::Io`] `List`: `dir` cannot be listed.
pub fn recover_leftovers(dir: &Path) -> Result<Vec<Leftover>, RecordingError> {
    let mut temps = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(FileOp::List, dir))? {
        let entry = entry.map_err(io_err(FileOp::List, dir))?;
        let file_name = entry.file_name();
        let Some((name, format)) = file_name.to_str().and_then(parse_temp_name) else {
            continue;
        };
        let path = entry.path();
        // Regular files only: a folder with such a name is not ours.
        let file_type = entry.file_type().map_err(io_err(FileOp::List, &path))?;
        if file_type.is_file() {
            temps.push((path, final_name(name, format), format));
        }
    }
    temps.sort_by(|a, b| a.0.cmp(&b.0));
    let leftovers = temps
        .into_iter()
        .map(|(temp_path, final_name, format)| {
            let final_path = dir.join(final_name);
            let outcome = recover_one(dir, &temp_path, final_path, format)
                .unwrap_or_else(LeftoverOutcome::Failed);
            Leftover { temp_path, outcome }
        })
        .collect();
    Ok(leftovers)
}

/// What a repaired file holds.
#[derive(Debug, Clone, Copy)]
struct Repaired {
    bytes: u64,
    samples: u64,
    rate_hz: u32,
}

fn recover_one(
    dir: &Path,
    temp_path: &Path,
    final_path: PathBuf,
    format: Format,
) -> Result<LeftoverOutcome, RecordingError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(temp_path)
        .map_err(io_err(FileOp::Read, temp_path))?;
    let file_len = file
        .metadata()
        .map_err(io_err(FileOp::Read, temp_path))?
        .len();
    let repaired = match format {
        Format::Wav => repair_wav(&file, file_len, temp_path)?,
        Format::Opus => repair_ogg_opus(&file, file_len, temp_path)?,
    };
    match repaired {
        Ok(r) => {
            file.sync_all().map_err(io_err(FileOp::Fsync, temp_path))?;
            drop(file);
            rename(temp_path, &final_path)?;
            sync_dir(dir)?;
            Ok(LeftoverOutcome::Finished(Finished::new(
                final_path, format, r.bytes, r.samples, r.rate_hz,
            )))
        }
        Err(reason) => {
            drop(file);
            fs::remove_file(temp_path).map_err(io_err(FileOp::Remove, temp_path))?;
            Ok(LeftoverOutcome::Removed(reason))
        }
    }
}

fn keep_samples_min(rate_hz: u32) -> u64 {
    (u64::from(rate_hz) * KEEP_MS_MIN / 1_000).max(1)
}

/// Sets the sizes of a killed writer's WAV file from its length.
fn repair_wav(
    file: &File,
    file_len: u64,
    path: &Path,
) -> Result<Result<Repaired, RemovedReason>, RecordingError> {
    let (rate_hz, data_len) =
        match wav::salvage(file, file_len).map_err(io_err(FileOp::Read, path))? {
            Salvage::TornHeader => return Ok(Err(RemovedReason::NoAudio)),
            Salvage::ForeignHeader => return Ok(Err(RemovedReason::Damaged)),
            Salvage::Audio { rate_hz, data_len } => (rate_hz, data_len),
        };
    let samples = data_len / wav::SAMPLE_LEN;
    if samples < keep_samples_min(rate_hz) {
        return Ok(Err(RemovedReason::NoAudio));
    }
    let bytes = wav::HEADER_LEN as u64 + data_len;
    if file_len != bytes {
        file.set_len(bytes).map_err(io_err(FileOp::Write, path))?;
    }
    let data_len = u32::try_from(data_len).expect("salvage caps at DATA_LEN_MAX");
    wav::write_sizes(file, data_len).map_err(io_err(FileOp::Write, path))?;
    Ok(Ok(Repaired {
        bytes,
        samples,
        rate_hz,
    }))
}

/// Why no page could be read at an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageFault {
    /// The file ends inside the page.
    Cut,
    /// Not an Ogg page, or its CRC is wrong.
    Bad,
}

/// Where the next page of a stream should be, and what it should say.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    offset: u64,
    serial: u32,
    sequence: u32,
}

/// The last whole audio page of a leftover Ogg Opus file.
#[derive(Debug, Clone, Copy)]
struct LastPage {
    at: u64,
    len: usize,
    granule: i64,
    eos: bool,
}

/// Cuts a killed writer's Ogg Opus file back to its last whole audio page
/// and marks that page end-of-stream.
fn repair_ogg_opus(
    file: &File,
    file_len: u64,
    path: &Path,
) -> Result<Result<Repaired, RemovedReason>, RecordingError> {
    let mut buf = Vec::with_capacity(ogg::PAGE_LEN_MAX);
    let headers = read_headers(file, &mut buf).map_err(io_err(FileOp::Read, path))?;
    let (head, cursor) = match headers {
        Ok(found) => found,
        Err(reason) => return Ok(Err(reason)),
    };
    let last = last_audio_page(file, cursor, &mut buf).map_err(io_err(FileOp::Read, path))?;
    let Some(last) = last else {
        return Ok(Err(RemovedReason::NoAudio));
    };
    let rate_hz = head.input_rate_hz;
    let factor = u64::from(GRANULE_RATE_HZ / rate_hz);
    let playable_48k = u64::try_from(last.granule - i64::from(head.pre_skip)).unwrap_or(0);
    let samples = playable_48k / factor;
    if samples == 0 {
        return Ok(Err(RemovedReason::NoAudio));
    }
    let bytes = last.at + last.len as u64;
    if file_len != bytes {
        file.set_len(bytes).map_err(io_err(FileOp::Write, path))?;
    }
    if !last.eos {
        // The last whole page becomes the end of the stream. Its granule
        // position counts every sample its packets decode to, so nothing
        // is trimmed.
        buf.resize(last.len, 0);
        file.read_exact_at(&mut buf, last.at)
            .map_err(io_err(FileOp::Read, path))?;
        ogg::set_eos(&mut buf);
        file.write_all_at(&buf, last.at)
            .map_err(io_err(FileOp::Write, path))?;
    }
    Ok(Ok(Repaired {
        bytes,
        samples,
        rate_hz,
    }))
}

/// Reads the identification header, alone on the first page, and the
/// comment header, up to the page that ends it (RFC 7845 §3); returns the
/// identification header and where the audio pages start.
fn read_headers(
    file: &File,
    buf: &mut Vec<u8>,
) -> io::Result<Result<(OpusHead, Cursor), RemovedReason>> {
    let header_fault = |fault| match fault {
        PageFault::Cut => RemovedReason::NoAudio,
        PageFault::Bad => RemovedReason::Damaged,
    };
    let page = match read_page(file, 0, buf)? {
        Ok(page) => page,
        Err(fault) => return Ok(Err(header_fault(fault))),
    };
    let head = page.packets().next().and_then(OpusHead::parse);
    let Some(head) = head.filter(|h| {
        page.header_type() & FLAG_BOS != 0
            && h.channels == 1
            && SAMPLE_RATES_HZ.contains(&h.input_rate_hz)
    }) else {
        return Ok(Err(RemovedReason::Damaged));
    };
    let mut cursor = Cursor {
        offset: page.total_len() as u64,
        serial: page.serial(),
        sequence: 1,
    };
    loop {
        let page = match read_page(file, cursor.offset, buf)? {
            Ok(page) => page,
            Err(fault) => return Ok(Err(header_fault(fault))),
        };
        if (page.serial(), page.sequence()) != (cursor.serial, cursor.sequence) {
            return Ok(Err(RemovedReason::Damaged));
        }
        cursor.offset += page.total_len() as u64;
        cursor.sequence += 1;
        if page.ends_packet() {
            return Ok(Ok((head, cursor)));
        }
    }
}

/// Follows the audio pages from `cursor` up to the first that is cut,
/// damaged or not the shape this writer gives them (whole packets, a
/// granule position), or to the end-of-stream page; returns the last
/// whole one.
fn last_audio_page(
    file: &File,
    mut cursor: Cursor,
    buf: &mut Vec<u8>,
) -> io::Result<Option<LastPage>> {
    let mut last = None;
    while let Ok(page) = read_page(file, cursor.offset, buf)? {
        let whole = (page.serial(), page.sequence()) == (cursor.serial, cursor.sequence)
            && page.header_type() & (FLAG_BOS | FLAG_CONTINUED) == 0
            && page.ends_packet()
            && page.granule() >= 0;
        if !whole {
            break;
        }
        let eos = page.header_type() & FLAG_EOS != 0;
        last = Some(LastPage {
            at: cursor.offset,
            len: page.total_len(),
            granule: page.granule(),
            eos,
        });
        cursor.offset += page.total_len() as u64;
        cursor.sequence += 1;
        if eos {
            break;
        }
    }
    Ok(last)
}

/// Reads the page at `offset` into `buf`.
fn read_page<'b>(
    file: &File,
    offset: u64,
    buf: &'b mut Vec<u8>,
) -> io::Result<Result<Page<&'b [u8]>, PageFault>> {
    buf.clear();
    buf.resize(ogg::HEADER_LEN, 0);
    if !read_full_at(file, buf, offset)? {
        return Ok(Err(PageFault::Cut));
    }
    if Page::new_checked(&buf[..]).err() == Some(ogg::PageError::NotOgg) {
        return Ok(Err(PageFault::Bad));
    }
    // The lacing values, then the body they measure.
    let segments = usize::from(buf[ogg::SEGMENTS_AT]);
    if !read_more_at(file, buf, segments, offset)? {
        return Ok(Err(PageFault::Cut));
    }
    let body_len = buf[ogg::HEADER_LEN..].iter().map(|&l| usize::from(l)).sum();
    if !read_more_at(file, buf, body_len, offset)? {
        return Ok(Err(PageFault::Cut));
    }
    match Page::new_checked(&buf[..]) {
        Ok(page) if page.crc_ok() => Ok(Ok(page)),
        Ok(_) | Err(ogg::PageError::NotOgg) => Ok(Err(PageFault::Bad)),
        Err(ogg::PageError::Truncated) => Ok(Err(PageFault::Cut)),
    }
}

/// Appends the next `len` bytes of the page at `page_at` to `buf`; `false`
/// when the file ends first.
fn read_more_at(file: &File, buf: &mut Vec<u8>, len: usize, page_at: u64) -> io::Result<bool> {
    let start = buf.len();
    buf.resize(start + len, 0);
    read_full_at(file, &mut buf[start..], page_at + start as u64)
}

/// Fills `buf` from `offset`; `false` when the file ends first.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<bool> {
    match file.read_exact_at(buf, offset) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::testing::{
        check_with_opus_tools, decode_ogg_opus, dir_entries as entries, ncc, read_ogg, sine_mix,
        wav_samples,
    };
    use crate::recording::{OpusSettings, RecordingFile};

    /// A recording whose process was killed: what was written is on disk,
    /// nothing was finished. Dropping the file without `finish` does that
    /// (a real kill also loses what the WAV writer still buffered, which
    /// changes how much is recovered, not how).
    fn killed(dir: &Path, name: &str, format: Format, rate_hz: u32, input: &[i16]) -> PathBuf {
        let opus = OpusSettings::default();
        let mut file = RecordingFile::create(dir, name, format, rate_hz, &opus).unwrap();
        for block in input.chunks(777) {
            file.write(block).unwrap();
        }
        let temp = file.temp_path().to_owned();
        drop(file);
        temp
    }

    fn only(leftovers: Vec<Leftover>) -> Leftover {
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        leftovers.into_iter().next().unwrap()
    }

    fn finished(leftover: &Leftover) -> &Finished {
        match &leftover.outcome {
            LeftoverOutcome::Finished(done) => done,
            other => panic!("{}: {other:?}", leftover.temp_path.display()),
        }
    }

    #[test]
    fn a_killed_wav_is_finished_with_sizes_from_its_data() {
        let tmp = tempfile::tempdir().unwrap();
        let input = sine_mix(16_000, 24_000);
        let temp = killed(tmp.path(), "k", Format::Wav, 16_000, &input);
        // The header still says "empty"; half a sample was being written.
        let mut bytes = fs::read(&temp).unwrap();
        assert_eq!(bytes[40..44], [0; 4]);
        bytes.push(0x55);
        fs::write(&temp, &bytes).unwrap();

        let leftover = only(recover_leftovers(tmp.path()).unwrap());
        assert_eq!(
            leftover.to_string(),
            "finished .k.wav.part as k.wav (1.5 s)"
        );
        let done = finished(&leftover);
        assert_eq!(entries(tmp.path()), ["k.wav"]);
        assert_eq!(
            (done.samples, done.rate_hz, done.format),
            (24_000, 16_000, Format::Wav)
        );
        let bytes = fs::read(&done.path).unwrap();
        assert_eq!(bytes.len() as u64, done.bytes);
        assert_eq!(bytes.len(), 44 + 48_000, "the half sample is cut off");
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            36 + 48_000
        );
        assert_eq!(
            u32::from_le_bytes(bytes[40..44].try_into().unwrap()),
            48_000
        );
        assert_eq!(wav_samples(&done.path, 16_000), input);
    }

    #[test]
    fn a_wav_cut_by_hand_keeps_its_whole_samples() {
        let tmp = tempfile::tempdir().unwrap();
        let input = sine_mix(8_000, 4_000);
        let mut bytes = wav::header(8_000, 0).to_vec();
        for s in &input {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        bytes.truncate(44 + 2 * 1_000 + 1);
        fs::write(tmp.path().join(".cut.wav.part"), &bytes).unwrap();
        let leftover = only(recover_leftovers(tmp.path()).unwrap());
        let done = finished(&leftover);
        assert_eq!(done.duration_ms, 125);
        assert_eq!(wav_samples(&done.path, 8_000), input[..1_000]);
    }

    #[test]
    fn an_ogg_opus_cut_mid_page_ends_at_its_last_whole_page() {
        let tmp = tempfile::tempdir().unwrap();
        let rate_hz = 48_000;
        let input = sine_mix(rate_hz, rate_hz as usize * 5);
        let mut file = RecordingFile::create(
            tmp.path(),
            "whole",
            Format::Opus,
            rate_hz,
            &OpusSettings::default(),
        )
        .unwrap();
        file.write(&input).unwrap();
        let whole = fs::read(file.finish().unwrap().path).unwrap();
        // Cut inside the third audio page (pages: head, tags, audio…).
        let mut at = 0;
        let mut starts = Vec::new();
        while at < whole.len() {
            starts.push(at);
            at += Page::new_checked(&whole[at..]).unwrap().total_len();
        }
        let third_audio = starts[4];
        let cut = third_audio + (starts[5] - third_audio) / 2;
        fs::write(tmp.path().join(".cut.opus.part"), &whole[..cut]).unwrap();

        let leftover = only(recover_leftovers(tmp.path()).unwrap());
        assert_eq!(
            leftover.to_string(),
            "finished .cut.opus.part as cut.opus (1.9 s)"
        );
        let done = finished(&leftover);
        let bytes = fs::read(&done.path).unwrap();
        assert_eq!(bytes.len(), third_audio, "cut back to the last whole page");
        assert_eq!(bytes.len() as u64, done.bytes);
        let ogg = read_ogg(&bytes);
        assert_eq!(ogg.pages.len(), 2);
        assert_eq!(
            ogg.pages[1].granule,
            100 * 960,
            "every sample of 100 packets"
        );
        assert!(ogg.pages[1].header_type & FLAG_EOS != 0);
        let decoded = decode_ogg_opus(&ogg, rate_hz);
        assert_eq!(decoded.len() as u64, done.samples);
        assert_eq!(done.samples, 100 * 960 - 312);
        assert!(ncc(&input[..decoded.len()], &decoded) > 0.9);
        check_with_opus_tools(&done.path, decoded.len());
    }

    #[test]
    fn a_killed_ogg_opus_writer_leaves_a_playable_file() {
        let tmp = tempfile::tempdir().unwrap();
        let rate_hz = 16_000;
        let input = sine_mix(rate_hz, rate_hz as usize * 33 / 10);
        killed(tmp.path(), "k", Format::Opus, rate_hz, &input);
        let leftover = only(recover_leftovers(tmp.path()).unwrap());
        let done = finished(&leftover);
        assert_eq!(entries(tmp.path()), ["k.opus"]);
        // 165 frames were encoded; the page of the last 15 was never
        // written: 3 pages of 50 remain.
        let ogg = read_ogg(&fs::read(&done.path).unwrap());
        assert_eq!(ogg.pages.len(), 3);
        let decoded = decode_ogg_opus(&ogg, rate_hz);
        assert_eq!(decoded.len() as u64, done.samples);
        assert_eq!(done.samples, (150 * 960 - 312) / 3);
        assert!(ncc(&input[..decoded.len()], &decoded) > 0.9);
    }

    #[test]
    fn a_finished_but_not_renamed_ogg_opus_is_kept_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        let mut file = RecordingFile::create(
            tmp.path(),
            "done",
            Format::Opus,
            8_000,
            &OpusSettings::default(),
        )
        .unwrap();
        file.write(&sine_mix(8_000, 9_999)).unwrap();
        let done = file.finish().unwrap();
        let bytes = fs::read(&done.path).unwrap();
        fs::rename(&done.path, tmp.path().join(".done.opus.part")).unwrap();
        let leftover = only(recover_leftovers(tmp.path()).unwrap());
        let again = finished(&leftover);
        assert_eq!(again, &done, "the exact end is kept");
        assert_eq!(fs::read(&again.path).unwrap(), bytes);
    }

    #[test]
    fn leftovers_without_audio_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::write(dir.join(".empty.wav.part"), b"").unwrap();
        fs::write(dir.join(".torn.wav.part"), &wav::header(48_000, 0)[..30]).unwrap();
        let mut short = wav::header(48_000, 0).to_vec();
        short.extend_from_slice(&[1; 2 * 959]); // 959 samples, under 20 ms
        fs::write(dir.join(".short.wav.part"), short).unwrap();
        fs::write(dir.join(".junk.wav.part"), [0x5a; 100]).unwrap();
        fs::write(dir.join(".junk.opus.part"), [0x5a; 100]).unwrap();
        // Killed before its first audio page reached the disk.
        killed(
            dir,
            "heads",
            Format::Opus,
            48_000,
            &sine_mix(48_000, 960 * 50),
        );
        let heads = fs::read(dir.join(".heads.opus.part")).unwrap();
        fs::write(dir.join(".torn.opus.part"), &heads[..10]).unwrap();

        let lines: Vec<String> = recover_leftovers(dir)
            .unwrap()
            .iter()
            .map(Leftover::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "removed .empty.wav.part (no audio)",
                "removed .heads.opus.part (no audio)",
                "removed .junk.opus.part (damaged header)",
                "removed .junk.wav.part (damaged header)",
                "removed .short.wav.part (no audio)",
                "removed .torn.opus.part (no audio)",
                "removed .torn.wav.part (no audio)",
            ]
        );
        assert!(entries(dir).is_empty());
    }

    #[test]
    fn other_files_are_not_touched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let others = [
            "a.wav",
            "a.opus",
            ".a.wav",
            "a.wav.part",
            ".a.mp3.part",
            ".a.wav.part.bak",
            "events.jsonl",
        ];
        for name in others {
            fs::write(dir.join(name), b"not audio").unwrap();
        }
        fs::create_dir(dir.join(".folder.wav.part")).unwrap();
        fs::create_dir(dir.join("spool")).unwrap();
        fs::write(dir.join("spool/.x.wav.part"), b"").unwrap();

        assert!(recover_leftovers(dir).unwrap().is_empty());
        let mut expected: Vec<String> = others.iter().map(|s| s.to_string()).collect();
        expected.extend([".folder.wav.part".into(), "spool".into()]);
        expected.sort();
        assert_eq!(entries(dir), expected);
        for name in others {
            assert_eq!(fs::read(dir.join(name)).unwrap(), b"not audio");
        }
        assert!(dir.join("spool/.x.wav.part").exists(), "one folder only");
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = recover_leftovers(&tmp.path().join("nope")).unwrap_err();
        assert_eq!(err.op(), Some(FileOp::List));
    }
}
