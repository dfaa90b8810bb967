//! The `recorder` thread: writes the recordings the node engine's record
//! planner (`echostream_core::record`) asks for, from the channels' audio.
//!
//! ```text
//! capture-<ch> ─► rtrb<Block> (every period) ─┐
//! net (engine) ─► RecordCommand (start / alert joined / stop) ─► recorder ─► files, `recording` / `error` events
//! ```
//!
//! It decides nothing: a recording starts at the sample the planner says
//! (a little in the past when the page's tones just ended: it keeps
//! [`HISTORY_MS`] of each channel's audio for that), names the alerts it
//! is told, and stops at the sample it is told. Files are written through
//! [`crate::recording`] (temporary name, fsync, rename, fsync the folder).
//! A recording that cannot be written is an `error` event and a log line;
//! nothing else stops. Below `min_free_mb` of free space new recordings
//! are refused with an `error` event.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use echostream_core::record::StopReason;
use echostream_core::time::SampleIndex;

use crate::audio::Block;
use crate::events::Events;
use crate::fields;
use crate::recording::{Format, OpusSettings, RecordingError, RecordingFile};

/// Audio kept per channel for recordings that start in the past.
pub const HISTORY_MS: u64 = 3_000;

/// How often the thread drains the audio rings when no command comes.
const TICK: Duration = Duration::from_millis(20);

/// What the network thread asks of the recorder.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordCommand {
    /// Start recording channel `channel` from sample `from`.
    Start {
        /// The channel's index.
        channel: usize,
        /// The planner's recording id.
        recording: u32,
        /// The first sample.
        from: SampleIndex,
    },
    /// An alert belongs to the recording.
    Joined {
        /// The channel's index.
        channel: usize,
        /// The planner's recording id.
        recording: u32,
        /// The alert event's id.
        alert_id: String,
        /// The alert's tone id.
        tone_id: String,
    },
    /// Stop at sample `at` (exclusive).
    Stop {
        /// The channel's index.
        channel: usize,
        /// The planner's recording id.
        recording: u32,
        /// The first sample not recorded.
        at: SampleIndex,
        /// Why.
        reason: StopReason,
    },
}

/// How the recorder writes.
#[derive(Debug, Clone)]
pub struct RecorderSettings {
    /// Where recordings go.
    pub dir: PathBuf,
    /// WAV or Ogg Opus.
    pub format: Format,
    /// The encoder's settings for Ogg Opus.
    pub opus: OpusSettings,
    /// The channels' device rate.
    pub rate_hz: u32,
    /// Refuse new recordings below this much free space.
    pub min_free_mb: u64,
    /// With an S3 store: finished recordings are queued for upload (the
    /// `recording` event comes from the uploader, once it is stored)
    /// instead of announced at once.
    pub upload: Option<Upload>,
}

/// Where finished recordings are queued for upload.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The outbox's upload jobs.
    pub queue: crate::delivery::upload::UploadQueue,
    /// The store (for the object key).
    pub s3: crate::config::S3,
    /// The node's id (for the object key).
    pub node_id: String,
}

/// One channel's audio and recording.
struct Channel {
    id: String,
    pcm: Option<rtrb::Consumer<Block>>,
    history: VecDeque<Block>,
    recording: Option<Recording>,
}

struct Recording {
    id: u32,
    from: SampleIndex,
    stop: Option<(SampleIndex, StopReason)>,
    /// Where writing has come.
    written_to: SampleIndex,
    file: Option<RecordingFile>,
    /// The file could not be made or written: the rest is skipped.
    failed: bool,
    alerts: Vec<(String, String)>,
    started: SystemTime,
}

/// The running recorder thread.
#[derive(Debug)]
pub struct Recorder {
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts the thread for channels `ids`, each with its audio ring
    /// (`None`: the channel never records). It ends once `commands` is
    /// closed (the network thread stopped) and what it was told is done:
    /// recordings still open are finished where the audio ended, marked
    /// truncated.
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub fn spawn(
        settings: RecorderSettings,
        channels: Vec<(String, Option<rtrb::Consumer<Block>>)>,
        commands: Receiver<RecordCommand>,
        events: Events,
    ) -> std::io::Result<Recorder> {
        let channels = channels
            .into_iter()
            .map(|(id, pcm)| Channel {
                id,
                pcm,
                history: VecDeque::new(),
                recording: None,
            })
            .collect();
        let mut state = State {
            settings,
            channels,
            events,
        };
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || state.run(&commands))?;
        Ok(Recorder {
            thread: Some(thread),
        })
    }

    /// Waits for the thread (after the network thread stopped).
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log::error!("the recorder thread panicked");
        }
    }
}

struct State {
    settings: RecorderSettings,
    channels: Vec<Channel>,
    events: Events,
}

impl State {
    fn run(&mut self, commands: &Receiver<RecordCommand>) {
        loop {
            match commands.recv_timeout(TICK) {
                Ok(command) => {
                    self.take_audio();
                    self.command(command);
                    while let Ok(command) = commands.try_recv() {
                        self.command(command);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.take_audio();
            self.write();
        }
        self.take_audio();
        self.write();
        for index in 0..self.channels.len() {
            if self.channels[index].recording.is_some() {
                self.finish(index, StopReason::Shutdown);
            }
        }
    }

    fn take_audio(&mut self) {
        let keep = HISTORY_MS * u64::from(self.settings.rate_hz) / 1_000;
        for channel in &mut self.channels {
            let Some(pcm) = &mut channel.pcm else {
                continue;
            };
            while let Ok(block) = pcm.pop() {
                channel.history.push_back(block);
            }
            let newest = channel
                .history
                .back()
                .map_or(0, |b| b.index.0 + b.len() as u64);
            // Blocks still to be written stay, whatever their age.
            let unwritten = channel
                .recording
                .as_ref()
                .filter(|r| !r.failed)
                .map(|r| r.written_to.0.max(r.from.0));
            while let Some(front) = channel.history.front() {
                let end = front.index.0 + front.len() as u64;
                let old = newest.saturating_sub(end) > keep;
                if old && unwritten.is_none_or(|u| end <= u) {
                    channel.history.pop_front();
                } else {
                    break;
                }
            }
        }
    }

    fn command(&mut self, command: RecordCommand) {
        match command {
            RecordCommand::Start {
                channel,
                recording,
                from,
            } => {
                let Some(c) = self.channels.get_mut(channel) else {
                    return;
                };
                if c.recording.is_some() {
                    // The planner runs one recording per channel at a time.
                    self.finish(channel, StopReason::Shutdown);
                }
                let refused = self.low_on_disk();
                let c = &mut self.channels[channel];
                c.recording = Some(Recording {
                    id: recording,
                    from,
                    stop: None,
                    written_to: from,
                    file: None,
                    failed: refused.is_some(),
                    alerts: Vec::new(),
                    started: SystemTime::now(),
                });
                if let Some(free_mb) = refused {
                    let message = format!(
                        "recording refused: {free_mb} MB free in {}, under recordings.min_free_mb \
                         ({} MB); free space or move recordings.dir",
                        self.settings.dir.display(),
                        self.settings.min_free_mb
                    );
                    self.error(channel, &message);
                }
            }
            RecordCommand::Joined {
                channel,
                recording,
                alert_id,
                tone_id,
            } => {
                if let Some(r) = self.recording_mut(channel, recording) {
                    r.alerts.push((alert_id, tone_id));
                }
            }
            RecordCommand::Stop {
                channel,
                recording,
                at,
                reason,
            } => {
                if let Some(r) = self.recording_mut(channel, recording) {
                    r.stop = Some((at, reason));
                }
            }
        }
    }

    fn recording_mut(&mut self, channel: usize, id: u32) -> Option<&mut Recording> {
        self.channels
            .get_mut(channel)?
            .recording
            .as_mut()
            .filter(|r| r.id == id)
    }

    /// Writes what each recording has of its audio; finishes those whose
    /// stop the audio has reached.
    fn write(&mut self) {
        for index in 0..self.channels.len() {
            if let Err(error) = self.write_channel(index) {
                let message = format!("recording failed: {error}");
                self.error(index, &message);
                if let Some(r) = &mut self.channels[index].recording {
                    r.failed = true;
                    if let Some(file) = r.file.take() {
                        file.abandon();
                    }
                }
            }
            let c = &self.channels[index];
            let Some(r) = &c.recording else { continue };
            let Some((at, reason)) = r.stop else { continue };
            let reached = c.history.back().map_or(0, |b| b.index.0 + b.len() as u64);
            if r.failed || reached >= at.0 || c.pcm.is_none() {
                self.finish(index, reason);
            }
        }
    }

    fn write_channel(&mut self, index: usize) -> Result<(), RecordingError> {
        let settings = &self.settings;
        let c = &mut self.channels[index];
        let Some(r) = &mut c.recording else {
            return Ok(());
        };
        if r.failed {
            return Ok(());
        }
        let stop = r.stop.map_or(u64::MAX, |(at, _)| at.0);
        for block in &c.history {
            let start = block.index.0;
            let end = start + block.len() as u64;
            let from = r.written_to.0.max(start);
            let to = end.min(stop);
            if from >= to {
                continue;
            }
            if r.file.is_none() {
                let name = file_name(r.started, &c.id, &r.alerts);
                r.file = Some(RecordingFile::create(
                    &settings.dir,
                    &name,
                    settings.format,
                    settings.rate_hz,
                    &settings.opus,
                )?);
            }
            let file = r.file.as_mut().expect("made just above");
            file.write(&block.frames()[(from - start) as usize..(to - start) as usize])?;
            r.written_to = SampleIndex(to);
        }
        Ok(())
    }

    /// Completes channel `index`'s recording and reports it.
    fn finish(&mut self, index: usize, reason: StopReason) {
        let Some(r) = self.channels[index].recording.take() else {
            return;
        };
        let channel_id = self.channels[index].id.clone();
        let Some(file) = r.file else {
            if !r.failed {
                log::warn!("{channel_id}: recording {} ended with no audio", r.id);
            }
            return;
        };
        let planned = r.stop.map(|(at, _)| at.0.saturating_sub(r.from.0));
        let truncated =
            reason.truncated() || planned.is_some_and(|p| r.written_to.0 < r.from.0 + p);
        let finished = match file.finish() {
            Ok(finished) => finished,
            Err(error) => {
                self.error(index, &format!("recording failed: {error}"));
                return;
            }
        };
        // Pages that joined after the file was begun name it too.
        let full_name = file_name(r.started, &channel_id, &r.alerts);
        let path = rename_to(&finished.path, &full_name, finished.format);
        let alert_ids: Vec<&str> = r.alerts.iter().map(|(id, _)| id.as_str()).collect();
        let tone_ids: Vec<&str> = r.alerts.iter().map(|(_, t)| t.as_str()).collect();
        log::info!(
            "RECORDING {} on {channel_id}: {:.1} s {}, {} bytes{} ({})",
            path.display(),
            finished.duration_ms as f64 / 1_000.0,
            finished.format,
            finished.bytes,
            if truncated { ", truncated" } else { "" },
            tone_ids.join(", "),
        );
        let fields = fields! {
            "path" => path.display().to_string(),
            "file" => path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "format" => finished.format.extension(),
            "duration_ms" => finished.duration_ms,
            "bytes" => finished.bytes,
            "rate_hz" => finished.rate_hz,
            "start_sample" => r.from.0,
            "alert_ids" => alert_ids,
            "tone_ids" => tone_ids.clone(),
            "truncated" => truncated,
            "end_reason" => reason.name(),
        };
        let Some(upload) = &self.settings.upload else {
            self.events.emit("recording", Some(&channel_id), fields);
            return;
        };
        let recording_id = path
            .file_stem()
            .map_or_else(|| full_name.clone(), |s| s.to_string_lossy().into_owned());
        let job = crate::delivery::upload::UploadJob {
            event_id: self.events.next_id(),
            channel: channel_id.clone(),
            key: crate::delivery::upload::key_for(
                &upload.s3,
                &upload.node_id,
                &channel_id,
                r.started,
                &recording_id,
                finished.format,
            ),
            path: path.clone(),
            format: finished.format.extension().to_owned(),
            tone_ids: tone_ids.iter().map(|&t| t.to_owned()).collect(),
            alert_time_ms: crate::delivery::upload::unix_ms(r.started),
            fields,
        };
        if let Err(error) = upload.queue.push(&job) {
            self.error(
                index,
                &format!(
                    "recording {} not queued for upload: {error}; it stays in the spool and \
                     is queued at the next start",
                    path.display()
                ),
            );
        }
    }

    fn error(&mut self, index: usize, message: &str) {
        let channel = self.channels.get(index).map(|c| c.id.as_str());
        log::error!("{}: {message}", channel.unwrap_or("recorder"));
        self.events.emit(
            "error",
            channel,
            fields! { "component" => "recorder", "message" => message },
        );
    }

    /// The free space in MB if it is under the floor.
    fn low_on_disk(&self) -> Option<u64> {
        let free_mb = free_bytes(&self.settings.dir)? / 1_000_000;
        (free_mb < self.settings.min_free_mb).then_some(free_mb)
    }
}

/// A recording's name without its extension: `{time}_{channel}_{tone
/// ids}`, e.g. `20261207T031045Z_pages_Station-1+Station-2`, for a
/// recording started at `started` that the alerts `(event id, tone id)`
/// joined.
pub fn file_name(started: SystemTime, channel: &str, alerts: &[(String, String)]) -> String {
    let stamp: String = crate::logger::rfc3339_ms(started)
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_alphanumeric() || *c == 'T')
        .collect();
    let tones: Vec<String> = alerts.iter().map(|(_, t)| clean(t)).collect();
    let mut name = format!("{stamp}Z_{}", clean(channel));
    if !tones.is_empty() {
        name.push('_');
        name.push_str(&tones.join("+"));
    }
    name.truncate(180);
    name
}

/// A label as part of a file name: letters, digits, `-` and `.` only.
fn clean(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Renames a finished file to `name` (if that differs), fsyncing the
/// folder; the path it ends up under.
fn rename_to(path: &Path, name: &str, format: Format) -> PathBuf {
    let target = path.with_file_name(format!("{name}.{}", format.extension()));
    if target == path || target.exists() {
        return path.to_owned();
    }
    match std::fs::rename(path, &target) {
        Ok(()) => {
            if let Some(dir) = target.parent()
                && let Ok(dir) = std::fs::File::open(dir)
            {
                let _ = dir.sync_all();
            }
            target
        }
        Err(error) => {
            log::warn!("{}: not renamed to {name}: {error}", path.display());
            path.to_owned()
        }
    }
}

/// Free space for unprivileged writers under `dir`, if it can be read.
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stat` is a valid place for the
    // kernel to write one `statvfs`; it is read only after success.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    #[allow(clippy::unnecessary_cast, reason = "the field types differ by target")]
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_the_time_channel_and_every_alert() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_613_045);
        let alerts = [
            ("a".to_owned(), "Station 1".to_owned()),
            ("b".to_owned(), "County EMS".to_owned()),
        ];
        let name = file_name(at, "pages", &alerts);
        assert!(name.ends_with("Z_pages_Station-1+County-EMS"), "{name}");
        assert!(name.starts_with("2026"), "{name}");
        assert!(!name.contains(':'), "{name}");
    }

    #[test]
    fn free_space_is_read() {
        assert!(free_bytes(Path::new("/")).is_some_and(|b| b > 0));
        assert_eq!(free_bytes(Path::new("/nonexistent/dir")), None);
    }
}
