//! Everything that leaves the node, through the durable outbox
//! ([`crate::outbox`]): events to MQTT and webhooks, recordings to S3.
//!
//! ```text
//! producers ─► Events ─► events thread ─► events_file
//!                                      └► OutboxSink ─► outbox ─┬► mqtt thread ─► broker
//!                                                                ├► webhook-N threads ─► URLs
//! recorder ─► upload job ─────────────────────────────► outbox ─┴► s3 thread ─► store,
//!                                                                   then the `recording` event
//! ```
//!
//! Each destination is an outbox consumer with its own cursor and its own
//! thread, retrying with backoff while it is down; an entry leaves the
//! outbox for it only once it acknowledged it (PUBACK, a 2xx, a PUT and a
//! HEAD of the right size). Without `mqtt`, `webhooks` and `s3` there is
//! no outbox: events go to `events_file` and the log only.

mod mqtt;
pub mod upload;
pub mod webhook;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Config;
use crate::events::{EventSink, Events};
use crate::outbox::{
    ConsumerId, ConsumerSpec, Entry, Kind, Kinds, Notice, OpenReport, Outbox, OutboxConfig,
    OutboxError, Seq, SharedOutbox, Waited,
};

/// Entries one consumer reads at a time.
const BATCH: usize = 64;
/// How long a consumer waits for entries before looking at `stop` again.
const WAIT: Duration = Duration::from_secs(1);

/// Exponential backoff: 0.5 s doubling up to a maximum.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// The first wait.
    pub const FIRST: Duration = Duration::from_millis(500);

    /// Starting at [`FIRST`](Self::FIRST), at most `max`.
    pub fn new(max: Duration) -> Backoff {
        Backoff {
            next: Backoff::FIRST.min(max),
            max,
        }
    }

    /// The wait before the next attempt; doubles the one after.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// After a success: the next failure waits [`FIRST`](Self::FIRST).
    pub fn reset(&mut self) {
        self.next = Backoff::FIRST.min(self.max);
    }

    /// The longest wait.
    pub fn max(&self) -> Duration {
        self.max
    }
}

/// A stop request the delivery threads sleep on. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<(Mutex<bool>, Condvar)>);

impl Stop {
    /// Asks every thread sleeping on it to stop, and wakes them.
    pub fn set(&self) {
        *self.0.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.0.1.notify_all();
    }

    /// Whether a stop was asked.
    pub fn is_set(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps `d` or until a stop; whether a stop came.
    pub fn sleep(&self, d: Duration) -> bool {
        let guard = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .0
            .1
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// One destination's view of the outbox.
#[derive(Debug, Clone)]
pub(crate) struct Consumer {
    outbox: SharedOutbox,
    id: ConsumerId,
    name: String,
}

impl Consumer {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The next entries to send, waiting for them; `None` once stopped.
    pub(crate) fn next_batch(&self, stop: &Stop) -> Option<Vec<Entry>> {
        loop {
            if stop.is_set() {
                return None;
            }
            match self.outbox.wait_read(self.id, BATCH, WAIT) {
                Ok(Waited::Entries(entries)) => return Some(entries),
                Ok(Waited::TimedOut) => {}
                Ok(Waited::Stopped) => return None,
                Err(error) => {
                    log::error!("outbox ({}): {error}", self.name);
                    if stop.sleep(WAIT) {
                        return None;
                    }
                }
            }
        }
    }

    /// Up to `max` entries, waiting up to `timeout` for one; empty if
    /// none came.
    pub(crate) fn read(&self, max: usize, timeout: Duration) -> Result<Vec<Entry>, mqtt::Stopped> {
        match self.outbox.wait_read(self.id, max, timeout) {
            Ok(Waited::Entries(entries)) => Ok(entries),
            Ok(Waited::TimedOut) => Ok(Vec::new()),
            Ok(Waited::Stopped) => Err(mqtt::Stopped),
            Err(error) => {
                log::error!("outbox ({}): {error}", self.name);
                Ok(Vec::new())
            }
        }
    }

    /// The destination has `seq`.
    pub(crate) fn ack(&self, seq: Seq) {
        if let Err(error) = self.outbox.ack(self.id, seq) {
            log::error!("outbox ({}): acknowledging {seq}: {error}", self.name);
        }
    }

    /// Reads again from the first entry not acknowledged (after a
    /// reconnect that lost what was in flight).
    pub(crate) fn rewind(&self) {
        if let Err(error) = self.outbox.rewind(self.id) {
            log::error!("outbox ({}): rewinding: {error}", self.name);
        }
    }
}

/// Hands every event to the outbox (the events thread's sink).
#[derive(Debug)]
pub struct OutboxSink {
    outbox: SharedOutbox,
    failing: bool,
}

impl EventSink for OutboxSink {
    fn accept(&mut self, _kind: &str, line: &str) -> bool {
        let line = line.strip_suffix('\n').unwrap_or(line);
        match self.outbox.append(Kind::Event, line.as_bytes()) {
            Ok(_) => {
                if self.failing {
                    log::info!("outbox: appending again");
                    self.failing = false;
                }
                true
            }
            Err(error) => {
                if !self.failing {
                    log::error!(
                        "outbox: {error}; events are in events_file and the log only until it \
                         works again"
                    );
                    self.failing = true;
                }
                false
            }
        }
    }
}

/// Why the destinations could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The outbox folder.
    #[error("outbox.dir: {0}")]
    Outbox(#[from] OutboxError),
    /// A thread.
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        /// Which.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The S3 store's settings.
    #[error("s3: {0}")]
    S3(String),
    /// The MQTT settings.
    #[error("mqtt: {0}")]
    Mqtt(String),
}

/// The outbox and the threads of every destination. Dropping it (or
/// [`stop`](Self::stop)) stops them and writes the outbox's cursors.
#[derive(Debug)]
pub struct Delivery {
    outbox: SharedOutbox,
    stop: Stop,
    threads: Vec<JoinHandle<()>>,
    events_wanted: bool,
    uploads: bool,
    stopped: AtomicBool,
}

impl Delivery {
    /// Opens the outbox with a consumer per configured destination, or
    /// `None` when there is none (no `mqtt`, `webhooks` or `s3`). Threads
    /// start with [`start`](Self::start), once `Events` exists.
    ///
    /// # Errors
    /// The outbox folder cannot be opened (another process has it, the
    /// disk refuses).
    pub fn open(config: &Config) -> Result<Option<(Delivery, OpenReport)>, DeliveryError> {
        let mut specs = Vec::new();
        if config.mqtt.is_some() {
            specs.push(ConsumerSpec::new("mqtt", Kinds::EVENTS));
        }
        for (i, hook) in config.webhooks.iter().enumerate() {
            let types = webhook::event_types(hook);
            specs.push(
                ConsumerSpec::new(&format!("webhook:{i}"), Kinds::EVENTS)
                    .with_filter(move |entry| event_type_in(entry, &types)),
            );
        }
        if config.s3.is_some() {
            specs.push(ConsumerSpec::new("s3", Kinds::UPLOADS));
        }
        if specs.is_empty() {
            return Ok(None);
        }
        let events_wanted = config.mqtt.is_some() || !config.webhooks.is_empty();
        let outbox_config =
            OutboxConfig::new(&config.outbox.dir).with_max_mb(u64::from(config.outbox.max_mb));
        let (outbox, report) = Outbox::open(outbox_config, specs)?;
        Ok(Some((
            Delivery {
                outbox: SharedOutbox::new(outbox),
                stop: Stop::default(),
                threads: Vec::new(),
                events_wanted,
                uploads: config.s3.is_some(),
                stopped: AtomicBool::new(false),
            },
            report,
        )))
    }

    /// The sink for the events thread, if any destination takes events.
    pub fn event_sink(&self) -> Option<Box<dyn EventSink>> {
        self.events_wanted.then(|| {
            Box::new(OutboxSink {
                outbox: self.outbox.clone(),
                failing: false,
            }) as Box<dyn EventSink>
        })
    }

    /// Where the recorder queues finished recordings, with `s3`.
    pub fn upload_queue(&self) -> Option<upload::UploadQueue> {
        self.uploads
            .then(|| upload::UploadQueue::new(self.outbox.clone()))
    }

    /// The shared outbox (figures, tests).
    pub fn outbox(&self) -> &SharedOutbox {
        &self.outbox
    }

    /// Starts a thread per destination.
    ///
    /// # Errors
    /// A destination's settings are refused, or no thread.
    pub fn start(&mut self, config: &Config, events: &Events) -> Result<(), DeliveryError> {
        if let Some(settings) = crate::mqtt::LinkSettings::from_config(config) {
            let consumer = self.consumer("mqtt");
            let topics = settings.topics();
            let (link, link_events) = crate::mqtt::MqttLink::start(settings)
                .map_err(|e| DeliveryError::Mqtt(e.to_string()))?;
            let stop = self.stop.clone();
            self.spawn("mqtt-outbox", move || {
                mqtt::run(&link, &link_events, &topics, &consumer, &stop);
                // Dropping the link says `offline` and disconnects.
                drop(link);
            })?;
        }
        for (i, hook) in config.webhooks.iter().enumerate() {
            let consumer = self.consumer(&format!("webhook:{i}"));
            let client = webhook::WebhookClient::new(hook);
            let max = Duration::from_secs(u64::from(hook.backoff_max_s));
            let stop = self.stop.clone();
            self.spawn(&format!("webhook-{i}"), move || {
                webhook::run(&client, &consumer, max, &stop);
            })?;
        }
        {
            let (outbox, events, stop) = (self.outbox.clone(), events.clone(), self.stop.clone());
            self.spawn("outbox-notices", move || {
                while !stop.sleep(NOTICE_EVERY) {
                    report_notices(&outbox, &events);
                }
                report_notices(&outbox, &events);
            })?;
        }
        if let Some(s3) = &config.s3 {
            let consumer = self.consumer("s3");
            let uploader = upload::Uploader::new(s3, &config.node_id, events.clone())
                .map_err(DeliveryError::S3)?;
            let stop = self.stop.clone();
            self.spawn("uploader", move || uploader.run(&consumer, &stop))?;
        }
        Ok(())
    }

    fn consumer(&self, name: &str) -> Consumer {
        let id = self
            .outbox
            .with(|o| o.consumer(name))
            .expect("every consumer started was opened");
        Consumer {
            outbox: self.outbox.clone(),
            id,
            name: name.to_owned(),
        }
    }

    fn spawn(
        &mut self,
        name: &str,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<(), DeliveryError> {
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(f)
            .map_err(|source| DeliveryError::Thread {
                what: name.to_owned(),
                source,
            })?;
        self.threads.push(thread);
        Ok(())
    }

    /// Queues every finished recording in `spool` that no upload job
    /// names: one the node finished but was stopped (a crash, a power
    /// cut) before it queued, or one finished from a leftover at this
    /// start. Its `recording` event says `recovered: true`.
    pub fn requeue_orphans(
        &self,
        spool: &std::path::Path,
        s3: &crate::config::S3,
        node_id: &str,
        events: &Events,
    ) {
        let Some(queue) = self.upload_queue() else {
            return;
        };
        let consumer = self.consumer("s3");
        let queued: Vec<std::path::PathBuf> = self
            .outbox
            .with(|o| o.pending(consumer.id, crate::outbox::READ_BATCH_MAX))
            .unwrap_or_default()
            .iter()
            .filter_map(|e| serde_json::from_slice::<upload::UploadJob>(&e.payload).ok())
            .map(|job| job.path)
            .collect();
        let Ok(entries) = std::fs::read_dir(spool) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let format = path
                .extension()
                .and_then(|e| crate::recording::Format::from_extension(&e.to_string_lossy()));
            let (Some(format), false) = (format, name.starts_with('.')) else {
                continue;
            };
            if queued.contains(&path) {
                continue;
            }
            let job = upload::orphan_job(&path, format, s3, node_id, events.next_id());
            match queue.push(&job) {
                Ok(()) => log::warn!(
                    "recordings: {} was finished but not queued for upload; queued now",
                    path.display()
                ),
                Err(error) => log::error!("recordings: {}: not queued: {error}", path.display()),
            }
        }
    }

    /// Stops every destination thread (an upload or a publish in progress
    /// is finished or abandoned to be redone at the next start) and writes
    /// the outbox's cursors.
    pub fn stop(&mut self) {
        if self.stopped.swap(true, Ordering::Relaxed) {
            return;
        }
        self.stop.set();
        if let Err(error) = self.outbox.shutdown() {
            log::error!("outbox: {error}");
        }
        for thread in self.threads.drain(..) {
            let name = thread.thread().name().unwrap_or("delivery").to_owned();
            if thread.join().is_err() {
                log::error!("the {name} thread panicked");
            }
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How often what the outbox did on its own is reported.
const NOTICE_EVERY: Duration = Duration::from_secs(5);

/// Logs what the outbox did on its own (evictions, damage) and makes each
/// an `error` event.
fn report_notices(outbox: &SharedOutbox, events: &Events) {
    let notices: Vec<Notice> = outbox.with(|o| std::iter::from_fn(|| o.poll_notice()).collect());
    for notice in notices {
        let message = notice_message(&notice);
        log::error!("outbox: {message}");
        events.emit(
            "error",
            None,
            crate::fields! { "component" => "outbox", "message" => message },
        );
    }
}

/// Whether the event in `entry` has one of `types`.
fn event_type_in(entry: &Entry, types: &[String]) -> bool {
    event_type(&entry.payload).is_some_and(|t| types.contains(&t))
}

/// The `type` of an event's JSON line.
pub fn event_type(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_slice::<Head>(payload).ok().map(|h| h.kind)
}

/// A notice as one line for a person.
pub fn notice_message(notice: &Notice) -> String {
    match notice {
        Notice::Evicted {
            events_dropped,
            entries_kept,
            first,
            last,
            ..
        } => format!(
            "full (outbox.max_mb): {events_dropped} undelivered event(s) between {first} and \
             {last} dropped, the oldest first ({entries_kept} upload job(s) kept); a \
             destination has been down long: check it, or raise outbox.max_mb"
        ),
        Notice::OverBound { bytes, max_bytes } => format!(
            "recordings waiting for upload alone hold {} MB, over outbox.max_mb ({} MB): \
             the store has been down long",
            bytes / 1_000_000,
            max_bytes / 1_000_000
        ),
        Notice::CleanupFailed { message } => {
            format!("could not make room: {message}; check the disk")
        }
        Notice::Unreadable { damage, seq, kind } => format!(
            "{} entry {seq} was damaged on disk and is lost: {damage:?}",
            kind.name()
        ),
    }
}

/// What an open found damaged, one line per stretch, for the log and
/// `error` events; empty when nothing was.
pub fn damage_lines(report: &OpenReport) -> Vec<String> {
    let mut lines: Vec<String> = report
        .damage
        .iter()
        .map(|d| {
            let what = match d.kind {
                crate::outbox::DamageKind::TornTail => {
                    "a record cut short by a crash or power cut, discarded"
                }
                crate::outbox::DamageKind::Corrupt => "damaged bytes between records, skipped",
                crate::outbox::DamageKind::OutOfOrder => {
                    "a stale copy of a record from an interrupted rewrite, skipped"
                }
                crate::outbox::DamageKind::Cursors => {
                    "the delivery positions were unreadable: entries are sent again from the \
                     oldest kept"
                }
                crate::outbox::DamageKind::Unreadable => "a record no longer readable, lost",
            };
            format!(
                "outbox {}: {what} ({} bytes at offset {}); the other {} record(s) are kept \
                 and delivered",
                d.path.display(),
                d.len,
                d.offset,
                report.records_recovered
            )
        })
        .collect();
    if report.damage_unlisted > 0 {
        lines.push(format!(
            "outbox: {} more damaged stretch(es) not listed",
            report.damage_unlisted
        ));
    }
    lines
}
