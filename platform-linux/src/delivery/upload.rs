//! Recordings to S3: the recorder queues a finished file as an upload job
//! in the outbox; the `uploader` thread uploads it, makes the `recording`
//! event (with the object key and a presigned URL) and only then lets the
//! file and the job go.
//!
//! A job names its file in the spool, its object key (fixed by the
//! recording, so an upload repeated after a crash writes the same object
//! with the same bytes) and the `recording` event's id and fields, so the
//! event is the same however often it is made. Order per job:
//!
//! 1. upload (one PUT, or parts) and a HEAD of the right size;
//! 2. the `recording` event, kept by the outbox and the events file
//!    ([`Events::emit_durable`]) before going on;
//! 3. the spool file removed;
//! 4. the job acknowledged.
//!
//! A crash between any two steps redoes the job from step 1 at the next
//! start; a job whose file is gone (a crash between 3 and 4) is finished
//! from the store: the object is there, so the event is made again under
//! its id. A failed attempt keeps everything and retries with exponential
//! backoff up to `s3.backoff_max_s`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{Backoff, Consumer, Stop};
use crate::config::S3;
use crate::events::{Events, Fields};
use crate::outbox::{Entry, Kind, SharedOutbox};
use crate::recording::Format;
use crate::s3::{Limits, S3Store, UploadMeta, object_key};

/// One recording to upload, as kept in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadJob {
    /// The `recording` event's id, drawn when the job was queued.
    pub event_id: String,
    /// The channel's id.
    pub channel: String,
    /// The finished file in the spool.
    pub path: PathBuf,
    /// The object key.
    pub key: String,
    /// `wav` or `opus`.
    pub format: String,
    /// The alerts recorded.
    pub tone_ids: Vec<String>,
    /// When the first alert was detected (ms since the Unix epoch).
    pub alert_time_ms: u64,
    /// The `recording` event's fields but the store's.
    pub fields: Fields,
}

/// Where the recorder queues finished recordings.
#[derive(Debug, Clone)]
pub struct UploadQueue {
    outbox: SharedOutbox,
}

impl UploadQueue {
    pub(super) fn new(outbox: SharedOutbox) -> UploadQueue {
        UploadQueue { outbox }
    }

    /// Queues `job` (written and fsynced before it returns).
    ///
    /// # Errors
    /// The outbox could not take it; the file stays in the spool.
    pub fn push(&self, job: &UploadJob) -> Result<(), String> {
        let payload = serde_json::to_vec(job).map_err(|e| e.to_string())?;
        self.outbox
            .append(Kind::Upload, &payload)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The object key of a recording started at `started` (`recording_id`:
/// its file name without the extension).
pub fn key_for(
    s3: &S3,
    node_id: &str,
    channel: &str,
    started: SystemTime,
    recording_id: &str,
    format: Format,
) -> String {
    object_key(&s3.prefix, node_id, channel, started, recording_id, format)
}

/// The job for a finished recording found in the spool without one. Its
/// channel and alerts come from its name (`{time}_{channel}_{tones}`, see
/// the recorder), its time from the file.
pub fn orphan_job(
    path: &Path,
    format: Format,
    s3: &S3,
    node_id: &str,
    event_id: String,
) -> UploadJob {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut pieces = stem.splitn(3, '_');
    let _stamp = pieces.next();
    let channel = pieces.next().unwrap_or("unknown").to_owned();
    let tone_ids: Vec<String> = pieces
        .next()
        .map(|t| t.split('+').map(str::to_owned).collect())
        .unwrap_or_default();
    let metadata = std::fs::metadata(path).ok();
    let time = metadata
        .as_ref()
        .and_then(|m| m.modified().ok())
        .unwrap_or_else(SystemTime::now);
    let bytes = metadata.map_or(0, |m| m.len());
    let fields = crate::fields! {
        "path" => path.display().to_string(),
        "file" => path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "format" => format.extension(),
        "bytes" => bytes,
        "tone_ids" => tone_ids.clone(),
        "recovered" => true,
    };
    UploadJob {
        event_id,
        key: key_for(s3, node_id, &channel, time, &stem, format),
        channel,
        path: path.to_owned(),
        format: format.extension().to_owned(),
        tone_ids,
        alert_time_ms: unix_ms(time),
        fields,
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What became of one attempt at a job.
enum Outcome {
    /// Finished (or never possible): acknowledge it.
    Done,
    /// Try again after a pause.
    Retry,
}

/// The `uploader` thread's work.
pub struct Uploader {
    store: S3Store,
    node_id: String,
    events: Events,
    backoff: Backoff,
    failing: bool,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Uploader {
    /// An uploader to the store of `s3`.
    ///
    /// # Errors
    /// The store's settings are refused (named).
    pub fn new(s3: &S3, node_id: &str, events: Events) -> Result<Uploader, String> {
        Uploader::with_limits(s3, node_id, events, Limits::DEFAULT)
    }

    /// The same with other sizes and time limits (tests).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_limits(
        s3: &S3,
        node_id: &str,
        events: Events,
        limits: Limits,
    ) -> Result<Uploader, String> {
        let store = S3Store::new(s3, limits).map_err(|e| e.to_string())?;
        Ok(Uploader {
            store,
            node_id: node_id.to_owned(),
            events,
            backoff: Backoff::new(Duration::from_secs(u64::from(s3.backoff_max_s))),
            failing: false,
        })
    }

    /// Uploads every job as it comes, in order, until `stop`.
    pub(super) fn run(mut self, consumer: &Consumer, stop: &Stop) {
        while let Some(entries) = consumer.next_batch(stop) {
            for entry in entries {
                loop {
                    match self.attempt(&entry) {
                        Outcome::Done => {
                            consumer.ack(entry.seq);
                            break;
                        }
                        Outcome::Retry => {
                            if stop.sleep(self.backoff.next_wait()) {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    fn attempt(&mut self, entry: &Entry) -> Outcome {
        let job: UploadJob = match serde_json::from_slice(&entry.payload) {
            Ok(job) => job,
            Err(error) => {
                self.lost(
                    None,
                    &format!("upload job {} unreadable ({error})", entry.seq),
                );
                return Outcome::Done;
            }
        };
        let Some(format) = Format::from_extension(&job.format) else {
            self.lost(Some(&job), &format!("unknown format `{}`", job.format));
            return Outcome::Done;
        };
        if !job.path.exists() {
            return self.finish_from_store(&job);
        }
        let meta = UploadMeta {
            node_id: self.node_id.clone(),
            channel: job.channel.clone(),
            format,
            tone_ids: job.tone_ids.clone(),
            alert_time: UNIX_EPOCH + Duration::from_millis(job.alert_time_ms),
        };
        let started = std::time::Instant::now();
        match self.store.upload(&job.path, &job.key, &meta) {
            Ok(uploaded) => {
                self.recovered();
                log::info!(
                    "UPLOADED {} to {}/{}: {} bytes in {:.1} s{}",
                    job.path.display(),
                    self.store.bucket_name(),
                    uploaded.key,
                    uploaded.size_bytes,
                    started.elapsed().as_secs_f32(),
                    if uploaded.parts > 0 {
                        format!(" ({} parts)", uploaded.parts)
                    } else {
                        String::new()
                    }
                );
                self.announce(&job, Some(&job.path))
            }
            Err(error) => {
                self.failed(&error.to_string(), error.kind().name());
                Outcome::Retry
            }
        }
    }

    /// The file is gone: uploaded before a crash that came before the
    /// job was acknowledged, or lost. The store says which.
    fn finish_from_store(&mut self, job: &UploadJob) -> Outcome {
        let expected = job.fields.get("bytes").and_then(serde_json::Value::as_u64);
        match self.store.stored_size(&job.key) {
            Ok(Some(size)) if expected.is_none_or(|e| e == size) => {
                log::info!(
                    "{}: already uploaded as {} before a restart; announcing it",
                    job.path.display(),
                    job.key
                );
                self.announce(job, None)
            }
            Ok(_) => {
                self.lost(
                    Some(job),
                    &format!(
                        "{} is gone from the spool and not in the store",
                        job.path.display()
                    ),
                );
                Outcome::Done
            }
            Err(error) => {
                self.failed(&error.to_string(), error.kind().name());
                Outcome::Retry
            }
        }
    }

    /// Steps 2 and 3: the `recording` event, then the spool file.
    fn announce(&mut self, job: &UploadJob, file: Option<&Path>) -> Outcome {
        let mut fields = job.fields.clone();
        fields.insert("s3_bucket".into(), self.store.bucket_name().into());
        fields.insert("s3_key".into(), job.key.clone().into());
        let url = match self.store.presign_get(&job.key) {
            Ok(url) => url.into(),
            Err(error) => {
                log::error!("{}: no presigned URL: {error}", job.key);
                serde_json::Value::Null
            }
        };
        fields.insert("url".into(), url);
        // The file leaves the node: its local path no longer holds it.
        fields.insert("path".into(), serde_json::Value::Null);
        if !self
            .events
            .emit_durable(&job.event_id, "recording", Some(&job.channel), fields)
        {
            log::error!(
                "{}: uploaded, but its recording event was not kept; trying again",
                job.key
            );
            return Outcome::Retry;
        }
        if let Some(path) = file {
            remove_synced(path);
        }
        Outcome::Done
    }

    fn failed(&mut self, message: &str, kind: &str) {
        if self.failing {
            log::debug!("upload failed ({kind}): {message}");
        } else {
            log::error!(
                "{message}; recordings wait in the spool and are retried (backing off to {} s)",
                self.backoff.max().as_secs()
            );
            self.events.emit(
                "error",
                None,
                crate::fields! { "component" => "s3", "message" => message, "kind" => kind },
            );
            self.failing = true;
        }
    }

    fn recovered(&mut self) {
        if self.failing {
            log::info!("uploading to {} again", self.store.endpoint());
            self.failing = false;
        }
        self.backoff.reset();
    }

    fn lost(&self, job: Option<&UploadJob>, why: &str) {
        let message = format!("recording not uploaded: {why}");
        log::error!("{message}");
        self.events.emit(
            "error",
            job.map(|j| j.channel.as_str()),
            crate::fields! { "component" => "s3", "message" => message },
        );
    }
}

/// Removes `path` and fsyncs its folder.
fn remove_synced(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent()
                && let Ok(dir) = std::fs::File::open(dir)
            {
                let _ = dir.sync_all();
            }
        }
        Err(error) => log::warn!("{}: not removed after upload: {error}", path.display()),
    }
}
