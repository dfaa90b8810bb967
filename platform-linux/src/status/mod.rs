//! The node's status endpoint (`http.listen`, default `127.0.0.1:9310`):
//! `/status` as JSON, `/metrics` in the Prometheus text format, `/` a page
//! that refreshes itself, and `/recordings/FILE` the recordings the page
//! plays. Served by [`echostream_relay::http`] on its own thread.
//!
//! Everything shown is read from counters the working threads already
//! publish (the network loop's engine counters and channel states, the
//! audio threads' counters, the outbox's figures) and from the event
//! stream ([`Board`], an [`EventSink`] keeping the last alerts and their
//! recordings). A request never waits for a working thread.

pub mod client;
pub mod metrics;
pub mod page;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::audio::Counters;
use crate::events::EventSink;
use crate::net::NetCounters;
use crate::outbox::SharedOutbox;
use crate::runtime::capture::CaptureStats;
use crate::runtime::playback::PlaybackStats;
use echostream_relay::http::{Request, Response};

/// Alerts the page lists.
pub const ALERTS_KEPT: usize = 50;

/// Event types that are alerts (pages heard here or at another site).
pub const ALERT_TYPES: [&str; 6] = [
    "two_tone",
    "long_tone",
    "hi_low",
    "pulsed",
    "dtmf_sequence",
    "remote_alert",
];

/// One alert, as the page and `/status` show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    /// Its event id.
    pub event_id: String,
    /// `two_tone`, `long_tone`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// When (UTC, RFC 3339).
    pub time: String,
    /// The channel it was heard on.
    pub channel: Option<String>,
    /// The definition's name (or the DTMF digits).
    pub name: String,
    /// The definition's alert type.
    pub alert_type: Option<String>,
    /// What followed it, once recorded.
    pub recording: Option<Recording>,
}

/// A recording of what followed an alert.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recording {
    /// Its file name.
    pub file: String,
    /// Where to play it: the presigned S3 URL once uploaded, else this
    /// node's `/recordings/FILE`.
    pub url: String,
    /// Its length.
    pub duration_ms: u64,
}

/// The alerts heard, kept from the event stream. Cheap to share.
#[derive(Debug, Default)]
pub struct Board {
    alerts: Mutex<VecDeque<Alert>>,
    last_by_channel: Mutex<Vec<(String, String)>>,
}

impl Board {
    /// An empty board, shared.
    pub fn new() -> Arc<Board> {
        Arc::new(Board::default())
    }

    /// The alerts kept, newest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts
            .lock()
            .map(|a| a.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// The last alert on `channel`: `(time, name)`.
    pub fn last_alert(&self, channel: &str) -> Option<(String, String)> {
        let last = self.last_by_channel.lock().ok()?;
        last.iter().find(|(c, _)| c == channel).and_then(|(_, id)| {
            let alerts = self.alerts.lock().ok()?;
            alerts
                .iter()
                .rev()
                .find(|a| &a.event_id == id)
                .map(|a| (a.time.clone(), a.name.clone()))
        })
    }

    /// Takes one event line (JSON).
    pub fn take(&self, kind: &str, line: &str) {
        let is_alert = ALERT_TYPES.contains(&kind);
        if !is_alert && kind != "recording" {
            return;
        }
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let text = |key: &str| event.get(key).and_then(Value::as_str).map(str::to_owned);
        if is_alert {
            let name = text("tone_id")
                .or_else(|| text("digits"))
                .or_else(|| text("sequence"))
                .unwrap_or_else(|| kind.to_owned());
            let alert = Alert {
                event_id: text("event_id").unwrap_or_default(),
                kind: kind.to_owned(),
                time: text("time").unwrap_or_default(),
                channel: text("channel"),
                name,
                alert_type: text("alert_type"),
                recording: None,
            };
            if let (Some(channel), Ok(mut last)) = (&alert.channel, self.last_by_channel.lock()) {
                last.retain(|(c, _)| c != channel);
                last.push((channel.clone(), alert.event_id.clone()));
            }
            if let Ok(mut alerts) = self.alerts.lock() {
                if alerts.len() == ALERTS_KEPT {
                    alerts.pop_front();
                }
                alerts.push_back(alert);
            }
            return;
        }
        let Some(file) = text("file") else {
            return;
        };
        let url = text("url").unwrap_or_else(|| format!("/recordings/{file}"));
        let recording = Recording {
            file,
            url,
            duration_ms: event
                .get("duration_ms")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        };
        let ids: Vec<&str> = event
            .get("alert_ids")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Ok(mut alerts) = self.alerts.lock() {
            for alert in alerts.iter_mut() {
                if ids.contains(&alert.event_id.as_str()) {
                    alert.recording = Some(recording.clone());
                }
            }
        }
    }
}

/// The [`EventSink`] feeding a [`Board`].
#[derive(Debug)]
pub struct BoardSink(pub Arc<Board>);

impl EventSink for BoardSink {
    fn accept(&mut self, kind: &str, line: &str) -> bool {
        self.0.take(kind, line);
        true
    }
}

/// One channel's sources.
#[derive(Debug, Clone)]
pub struct ChannelSources {
    /// Its id.
    pub id: String,
    /// The capture side's counters.
    pub capture: Arc<CaptureStats>,
    /// The capture thread's device counters.
    pub capture_device: Option<Arc<Counters>>,
    /// The playback side's counters, with an output.
    pub playback: Option<Arc<PlaybackStats>>,
    /// The playback thread's device counters.
    pub playback_device: Option<Arc<Counters>>,
}

/// Where the endpoint reads everything.
#[derive(Debug, Clone)]
pub struct Sources {
    /// This node's id.
    pub node_id: String,
    /// Where the relay is (`embedded` or its URL).
    pub relay: String,
    /// When the node started.
    pub started: Instant,
    /// The network loop's counters and channel states.
    pub net: Arc<NetCounters>,
    /// Per channel, in config order.
    pub channels: Vec<ChannelSources>,
    /// The outbox, when something is delivered.
    pub outbox: Option<SharedOutbox>,
    /// Where recordings are kept (and served from).
    pub recordings_dir: PathBuf,
    /// Where recordings wait for upload, with a store.
    pub spool_dir: Option<PathBuf>,
    /// The alerts.
    pub board: Arc<Board>,
}

/// `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// This node's id.
    pub node_id: String,
    /// The version running.
    pub version: &'static str,
    /// Seconds since the node started.
    pub uptime_s: u64,
    /// The relay link.
    pub relay: RelayStatus,
    /// Per channel.
    pub channels: Vec<ChannelStatus>,
    /// Entries each destination has not acknowledged yet.
    pub outbox: Vec<Destination>,
    /// Recordings waiting in the spool for upload.
    pub recordings_pending_upload: u64,
    /// Free space where recordings are written, in MB.
    pub disk_free_mb: Option<u64>,
    /// The last alerts, newest first.
    pub alerts: Vec<Alert>,
}

/// The relay link.
#[derive(Debug, Clone, Serialize)]
pub struct RelayStatus {
    /// `embedded` or the relay's URL.
    pub relay: String,
    /// Whether the relay has welcomed the node.
    pub connected: bool,
    /// The last heartbeat round trip, in ms.
    pub rtt_ms: f64,
    /// Times the link was lost.
    pub reconnects: u64,
    /// Times the UDP path went silent.
    pub path_lost: u64,
}

/// One channel.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelStatus {
    /// Its id.
    pub id: String,
    /// `idle`, `receiving`, `transmitting`, `passthrough` or `locked_out`.
    pub state: &'static str,
    /// Its COR line, if it has one.
    pub cor_open: Option<bool>,
    /// Whether its transmitter is keyed.
    pub ptt_keyed: bool,
    /// Sites on the channel.
    pub sites: usize,
    /// Frames captured.
    pub frames: u64,
    /// The input meter: the loudest 20 ms of the last whole second, in
    /// dBFS (−120 is digital silence); `None` before the first second.
    pub input_level_dbfs: Option<i32>,
    /// The jitter buffer's delay now, in ms.
    pub jitter_delay_ms: Option<u64>,
    /// Received frames decoded, rebuilt from FEC, concealed, refused late.
    pub decoded: Option<u64>,
    /// See `decoded`.
    pub fec: Option<u64>,
    /// See `decoded`.
    pub concealed: Option<u64>,
    /// See `decoded`.
    pub late: Option<u64>,
    /// Sound-card overruns on capture.
    pub capture_xruns: u64,
    /// Sound-card underruns on playback.
    pub playback_xruns: Option<u64>,
    /// The last alert here: `[time, name]`.
    pub last_alert: Option<(String, String)>,
}

/// One destination's backlog.
#[derive(Debug, Clone, Serialize)]
pub struct Destination {
    /// `mqtt`, `webhook:N`, `s3`.
    pub name: String,
    /// Entries not yet acknowledged.
    pub depth: u64,
}

impl Sources {
    /// Everything now.
    pub fn status(&self) -> Status {
        let net = self.net.snapshot();
        let live = self.net.live();
        let channels = self
            .channels
            .iter()
            .enumerate()
            .map(|(i, ch)| {
                let live = live.get(i);
                let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
                ChannelStatus {
                    id: ch.id.clone(),
                    state: live.map_or("idle", |l| l.state.name()),
                    cor_open: live.and_then(|l| l.cor_open),
                    ptt_keyed: live.is_some_and(|l| l.keyed),
                    sites: live.map_or(0, |l| l.users),
                    frames: load(&ch.capture.frames),
                    input_level_dbfs: ch.capture.level_dbfs(),
                    jitter_delay_ms: ch.playback.as_ref().map(|p| load(&p.jitter_delay_ms)),
                    decoded: ch.playback.as_ref().map(|p| load(&p.decoded)),
                    fec: ch.playback.as_ref().map(|p| load(&p.fec)),
                    concealed: ch.playback.as_ref().map(|p| load(&p.concealed)),
                    late: ch.playback.as_ref().map(|p| load(&p.refused)),
                    capture_xruns: ch.capture_device.as_ref().map_or(0, |d| load(&d.xruns)),
                    playback_xruns: ch.playback_device.as_ref().map(|d| load(&d.xruns)),
                    last_alert: self.board.last_alert(&ch.id),
                }
            })
            .collect();
        let outbox = self
            .outbox
            .as_ref()
            .map(|o| {
                o.with(|o| o.figures())
                    .consumers
                    .into_iter()
                    .map(|c| Destination {
                        name: c.name,
                        depth: c.depth,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Status {
            node_id: self.node_id.clone(),
            version: env!("CARGO_PKG_VERSION"),
            uptime_s: self.started.elapsed().as_secs(),
            relay: RelayStatus {
                relay: self.relay.clone(),
                connected: self.net.welcomed.load(Ordering::Relaxed),
                rtt_ms: net.rtt_last_us as f64 / 1000.0,
                reconnects: net.reconnects,
                path_lost: net.path_lost,
            },
            channels,
            outbox,
            recordings_pending_upload: self.spool_dir.as_deref().map_or(0, count_recordings),
            disk_free_mb: crate::runtime::recorder::free_bytes(&self.recordings_dir)
                .map(|b| b / 1_000_000),
            alerts: self.board.alerts(),
        }
    }

    /// Answers one request.
    pub fn answer(&self, request: &Request) -> Response {
        match request.path.as_str() {
            "/" => Response::ok("text/html; charset=utf-8", page::render(&self.status())),
            "/status" => match serde_json::to_vec_pretty(&self.status()) {
                Ok(body) => Response::ok("application/json", body),
                Err(error) => Response::text(503, format!("status: {error}\n")),
            },
            "/metrics" => Response::ok(
                "text/plain; version=0.0.4; charset=utf-8",
                metrics::render(&self.status(), &self.net.snapshot()),
            ),
            path => match path.strip_prefix("/recordings/") {
                Some(file) => self.recording(file),
                None => Response::not_found(path),
            },
        }
    }

    /// A recording from the recordings folder: only a plain file name (no
    /// folders, no dot files), only `.wav` and `.opus`.
    fn recording(&self, file: &str) -> Response {
        let plain = !file.is_empty()
            && !file.starts_with('.')
            && file
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
        let content_type = if file.ends_with(".wav") {
            "audio/wav"
        } else if file.ends_with(".opus") {
            "audio/ogg"
        } else {
            return Response::not_found(file);
        };
        if !plain {
            return Response::not_found(file);
        }
        match std::fs::read(self.recordings_dir.join(file)) {
            Ok(body) => Response::ok(content_type, body),
            Err(_) => Response::not_found(file),
        }
    }
}

/// Recordings (`.wav`, `.opus`) in `dir`.
fn count_recordings(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.ends_with(".wav") || name.ends_with(".opus")
                })
                .count() as u64
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_keeps_the_last_alerts_and_links_their_recordings() {
        let board = Board::new();
        for n in 0..(ALERTS_KEPT + 3) {
            board.take(
                "two_tone",
                &format!(
                    r#"{{"event_id":"e{n}","type":"two_tone","time":"t{n}","channel":"pages","tone_id":"Station {n}","alert_type":"fire"}}"#
                ),
            );
        }
        board.take("dtmf", r#"{"event_id":"d","digit":"4"}"#);
        board.take(
            "recording",
            r#"{"event_id":"r","file":"a_b.wav","alert_ids":["e52","e51"],"duration_ms":8000}"#,
        );
        let alerts = board.alerts();
        assert_eq!(alerts.len(), ALERTS_KEPT);
        assert_eq!(alerts[0].name, "Station 52", "newest first");
        assert_eq!(alerts.last().unwrap().name, "Station 3");
        let recording = alerts[0].recording.as_ref().expect("linked");
        assert_eq!(recording.url, "/recordings/a_b.wav");
        assert_eq!(alerts[1].recording.as_ref().unwrap().duration_ms, 8000);
        assert!(alerts[2].recording.is_none());
        assert_eq!(
            board.last_alert("pages"),
            Some(("t52".to_owned(), "Station 52".to_owned()))
        );
        board.take(
            "recording",
            r#"{"file":"x.opus","url":"https://s3.example/x.opus?sig","alert_ids":["e50"]}"#,
        );
        assert_eq!(
            board.alerts()[2].recording.as_ref().unwrap().url,
            "https://s3.example/x.opus?sig"
        );
    }
}
