//! The node's event stream (DESIGN.md "Events"): everything a person or a
//! system may act on, one JSON object per line in `events_file`, each
//! appended, flushed and fsynced before the next (an event written is an
//! event kept through a power cut).
//!
//! Every event has `event_id` (unique across restarts: a random prefix
//! drawn at start, then a counter), `type`, `time` (RFC 3339 UTC, ms),
//! `node_id` and `channel` (`null` for node-wide events), then the
//! fields of its type; README.md "Events" documents each type with an
//! example. Producers (the network thread, the recorder, `main`) make an
//! event with [`Events::emit`], which stamps its id and time and queues it
//! for the `events` thread; that thread writes it, then hands it to each
//! [`EventSink`] in turn (the outbox for MQTT and webhooks, the alert
//! command). A full queue drops the event and counts it
//! ([`Events::dropped`]), so a stalled disk never blocks the network loop.
//! Producers log the event's human line themselves, at once.
//! [`Events::emit_durable`] waits until the sinks have it (for a producer
//! that must not go on before the event is kept, like the uploader, which
//! may forget a recording only once its event is in the outbox).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::logger::rfc3339_ms;

/// Events that may wait for the writer.
pub const EVENT_QUEUE_LEN: usize = 1_024;

/// An event's fields beyond the common ones.
pub type Fields = Map<String, Value>;

/// Where events go, shared by every producer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Events {
    inner: Arc<Inner>,
    queue: SyncSender<Item>,
}

/// One event for the `events` thread.
#[derive(Debug)]
struct Item {
    kind: String,
    line: String,
    /// Told once the sinks have the event (for [`Events::emit_durable`]).
    done: Option<SyncSender<bool>>,
}

/// Where the `events` thread hands each event after writing it to
/// `events_file`, in the order they were emitted.
pub trait EventSink: Send {
    /// Takes the event of type `kind`, `line` its JSON with the trailing
    /// newline. Returns whether it is kept (for [`Events::emit_durable`]);
    /// a sink that fails reports it itself (log, counters).
    fn accept(&mut self, kind: &str, line: &str) -> bool;
}

/// How long [`Events::emit_durable`] waits for the sinks.
const DURABLE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug)]
struct Inner {
    node_id: String,
    prefix: String,
    next: AtomicU64,
    dropped: AtomicU64,
    written: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

/// The thread writing `events_file`.
#[derive(Debug)]
pub struct EventWriter {
    thread: Option<JoinHandle<()>>,
}

/// Why the event file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("events_file {}: {source}; check that its folder exists and is writable", path.display())]
pub struct EventsError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    #[source]
    pub source: io::Error,
}

impl Events {
    /// Opens (creating it and its folder) `path` for appending and starts
    /// the `events` thread writing to it. Events stop being written when
    /// every [`Events`] clone is dropped and the queue is drained; then
    /// [`EventWriter::join`] returns.
    ///
    /// # Errors
    /// The file or its folder cannot be created or opened, or no thread.
    pub fn open(node_id: &str, path: &Path) -> Result<(Events, EventWriter), EventsError> {
        Events::open_with(node_id, path, Vec::new())
    }

    /// [`open`](Self::open), each event then handed to `sinks` in order.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(
        node_id: &str,
        path: &Path,
        sinks: Vec<Box<dyn EventSink>>,
    ) -> Result<(Events, EventWriter), EventsError> {
        let error = |source| EventsError {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(error)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(error)?;
        let (queue, receiver) = mpsc::sync_channel(EVENT_QUEUE_LEN);
        let written = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let writer = {
            let (written, failed, path) = (written.clone(), failed.clone(), path.to_owned());
            std::thread::Builder::new()
                .name("events".into())
                .spawn(move || write_events(file, &path, &receiver, &written, &failed, sinks))
                .map_err(error)?
        };
        let events = Events {
            inner: Arc::new(Inner {
                node_id: node_id.to_owned(),
                prefix: format!("{:016x}", random_u64()),
                next: AtomicU64::new(1),
                dropped: AtomicU64::new(0),
                written,
                failed,
            }),
            queue,
        };
        Ok((
            events,
            EventWriter {
                thread: Some(writer),
            },
        ))
    }

    /// A fresh event id (for an event about to be emitted, when something
    /// else must name it first, e.g. a recording naming its alerts).
    pub fn next_id(&self) -> String {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n:06}", self.inner.prefix)
    }

    /// Emits an event of `kind` on `channel` with `fields`, stamped now;
    /// returns its id.
    pub fn emit(&self, kind: &str, channel: Option<&str>, fields: Fields) -> String {
        let id = self.next_id();
        self.emit_with_id(&id, kind, channel, fields);
        id
    }

    /// Emits an event under an id from [`next_id`](Self::next_id).
    pub fn emit_with_id(&self, id: &str, kind: &str, channel: Option<&str>, fields: Fields) {
        let item = self.item(id, kind, channel, fields, None);
        match self.queue.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Emits an event under `id` and waits (up to 30 s) until it is
    /// written and every sink took it; whether they all kept it. Blocks:
    /// not for the network or audio threads.
    pub fn emit_durable(
        &self,
        id: &str,
        kind: &str,
        channel: Option<&str>,
        fields: Fields,
    ) -> bool {
        let (done, kept) = mpsc::sync_channel(1);
        let item = self.item(id, kind, channel, fields, Some(done));
        if self.queue.send(item).is_err() {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        kept.recv_timeout(DURABLE_WAIT).unwrap_or(false)
    }

    fn item(
        &self,
        id: &str,
        kind: &str,
        channel: Option<&str>,
        fields: Fields,
        done: Option<SyncSender<bool>>,
    ) -> Item {
        let line = line(
            id,
            kind,
            SystemTime::now(),
            &self.inner.node_id,
            channel,
            fields,
        );
        Item {
            kind: kind.to_owned(),
            line,
            done,
        }
    }

    /// Events dropped because the writer fell a whole queue behind.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Events written and fsynced so far.
    pub fn written(&self) -> u64 {
        self.inner.written.load(Ordering::Relaxed)
    }

    /// Events that could not be written (the disk failed).
    pub fn failed(&self) -> u64 {
        self.inner.failed.load(Ordering::Relaxed)
    }
}

impl EventWriter {
    /// Waits until every event queued before the last [`Events`] clone
    /// was dropped is written.
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log::error!("the events thread panicked");
        }
    }
}

/// One event as its JSON line: the common keys first, in a fixed order.
fn line(
    id: &str,
    kind: &str,
    time: SystemTime,
    node_id: &str,
    channel: Option<&str>,
    fields: Fields,
) -> String {
    let quote = |text: &str| Value::from(text).to_string();
    let mut text = format!(
        "{{\"event_id\":{},\"type\":{},\"time\":{},\"node_id\":{},\"channel\":{}",
        quote(id),
        quote(kind),
        quote(&rfc3339_ms(time)),
        quote(node_id),
        channel.map_or_else(|| "null".to_owned(), quote),
    );
    for (key, value) in fields {
        if matches!(
            key.as_str(),
            "event_id" | "type" | "time" | "node_id" | "channel"
        ) {
            continue;
        }
        text.push(',');
        text.push_str(&quote(&key));
        text.push(':');
        text.push_str(&value.to_string());
    }
    text.push('}');
    text.push('\n');
    text
}

fn write_events(
    mut file: File,
    path: &Path,
    receiver: &Receiver<Item>,
    written: &AtomicU64,
    failed: &AtomicU64,
    mut sinks: Vec<Box<dyn EventSink>>,
) {
    let mut warned = false;
    for Item { kind, line, done } in receiver {
        // The sinks first: they carry the event off the node; the file is
        // the local record.
        let mut kept = true;
        for sink in &mut sinks {
            kept &= sink.accept(&kind, &line);
        }
        if let Some(done) = done {
            let _ = done.try_send(kept);
        }
        match file
            .write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_data())
        {
            Ok(()) => {
                written.fetch_add(1, Ordering::Relaxed);
                warned = false;
            }
            Err(error) => {
                failed.fetch_add(1, Ordering::Relaxed);
                if !warned {
                    log::error!(
                        "events_file {}: {error}; events are in the log only until it works again",
                        path.display()
                    );
                    warned = true;
                }
            }
        }
    }
}

fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5bd1_e995_1234_5678, |d| d.as_nanos() as u64)
    })
}

/// An alert's or a DTMF digit's event type and fields: the same fields
/// `echostream detect` prints (measured Hz, sample indices, latency).
pub fn tone_fields(
    event: &echostream_core::tone::ToneEvent,
    named: Option<&crate::tone_plan::Named>,
    rate_hz: u32,
) -> (&'static str, Fields) {
    use echostream_core::tone::Measured;
    let ms = |samples: u64| samples * 1_000 / u64::from(rate_hz.max(1));
    let mut fields = crate::fields! {
        "start_sample" => event.start.0,
        "end_sample" => event.end.0,
        "detected_sample" => event.detected_at.0,
        "start_ms" => ms(event.start.0),
        "detected_ms" => ms(event.detected_at.0),
        "latency_ms" => event.latency_ms,
    };
    if let Some(named) = named {
        fields.insert("tone_id".into(), named.tone_id.clone().into());
        fields.insert("alert_type".into(), named.alert_type.clone().into());
        fields.insert("record_length_ms".into(), named.record_length_ms.into());
        fields.insert("record_delay_ms".into(), named.record_delay_ms.into());
        fields.insert(
            "passthrough".into(),
            named.passthrough.clone().map_or(Value::Null, Value::from),
        );
    }
    let round = |hz: f32| (f64::from(hz) * 10.0).round() / 10.0;
    let kind = match event.measured {
        Measured::TwoTone { a_hz, b_hz } => {
            fields.insert("a_hz".into(), round(a_hz).into());
            fields.insert("b_hz".into(), round(b_hz).into());
            "two_tone"
        }
        Measured::LongTone { hz } => {
            fields.insert("hz".into(), round(hz).into());
            "long_tone"
        }
        Measured::HiLow {
            a_hz,
            b_hz,
            alternations,
            tone_ms,
        } => {
            fields.insert("a_hz".into(), round(a_hz).into());
            fields.insert("b_hz".into(), round(b_hz).into());
            fields.insert("alternations".into(), alternations.into());
            fields.insert("tone_ms".into(), tone_ms.into());
            "hi_low"
        }
        Measured::Pulsed {
            hz,
            pulses,
            on_ms,
            off_ms,
        } => {
            fields.insert("hz".into(), round(hz).into());
            fields.insert("pulses".into(), pulses.into());
            fields.insert("on_ms".into(), on_ms.into());
            fields.insert("off_ms".into(), off_ms.into());
            "pulsed"
        }
        Measured::Dtmf {
            digit,
            low_hz,
            high_hz,
            twist_db,
        } => {
            fields.insert("digit".into(), char::from(digit).to_string().into());
            fields.insert("low_hz".into(), round(low_hz).into());
            fields.insert("high_hz".into(), round(high_hz).into());
            fields.insert("twist_db".into(), round(twist_db).into());
            "dtmf"
        }
    };
    (kind, fields)
}

/// Builds [`Fields`] from `key => value` pairs.
#[macro_export]
macro_rules! fields {
    ($($key:literal => $value:expr),* $(,)?) => {{
        let mut map = $crate::events::Fields::new();
        $( map.insert($key.into(), serde_json::json!($value)); )*
        map
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_lines_with_the_common_fields_and_unique_ids() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/events.jsonl");
        let (events, writer) = Events::open("station-1", &path).expect("open");
        let a = events.emit(
            "node",
            None,
            crate::fields! { "state" => "start", "version" => "1" },
        );
        let b = events.emit("dtmf", Some("pages"), crate::fields! { "digit" => "4" });
        assert_ne!(a, b);
        drop(events);
        writer.join();
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event_id"], a.as_str());
        assert_eq!(lines[0]["type"], "node");
        assert_eq!(lines[0]["channel"], Value::Null);
        assert_eq!(lines[1]["channel"], "pages");
        assert_eq!(lines[1]["node_id"], "station-1");
        let time = lines[1]["time"].as_str().expect("time");
        assert!(time.ends_with('Z') && time.len() == 24, "{time}");
        assert!(text.starts_with("{\"event_id\":"), "{text}");
    }

    #[derive(Clone, Default)]
    struct Collect(Arc<std::sync::Mutex<Vec<(String, String)>>>);

    impl EventSink for Collect {
        fn accept(&mut self, kind: &str, line: &str) -> bool {
            self.0
                .lock()
                .unwrap()
                .push((kind.to_owned(), line.to_owned()));
            kind != "error"
        }
    }

    #[test]
    fn sinks_get_every_event_in_order_and_durable_emits_wait_for_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let collect = Collect::default();
        let (events, writer) = Events::open_with(
            "n",
            &dir.path().join("events.jsonl"),
            vec![Box::new(collect.clone())],
        )
        .expect("open");
        events.emit("node", None, crate::fields! { "state" => "start" });
        let id = events.next_id();
        assert!(events.emit_durable(&id, "recording", Some("pages"), Fields::new()));
        // Waited: the sink has both already.
        let got = collect.0.lock().unwrap().clone();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "node");
        assert!(got[1].1.contains(&id) && got[1].1.ends_with('\n'));
        // A sink that does not keep it is reported.
        let id = events.next_id();
        assert!(!events.emit_durable(&id, "error", None, Fields::new()));
        drop(events);
        writer.join();
    }

    #[test]
    fn a_second_run_gets_other_ids() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("events.jsonl");
        let (one, w1) = Events::open("n", &path).expect("open");
        let (two, w2) = Events::open("n", &path).expect("open");
        assert_ne!(one.next_id(), two.next_id());
        drop((one, two));
        w1.join();
        w2.join();
    }
}
