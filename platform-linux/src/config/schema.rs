//! The top of the configuration file: node identity, relay, audio, services.
//!
//! The doc comment on every field is the user's manual for it. Channels are
//! in [`super::channel`], tone definitions in [`super::tones`], defaults in
//! [`super::defaults`]. Every struct denies unknown fields: a misspelt key
//! is an error, never silently ignored.

use std::fmt;
use std::path::PathBuf;

use echostream_core::jitter::JitterConfig;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::channel::Channel;
use super::defaults;
use super::tones::{HiLow, LongTone, Pulsed, TwoTone};

/// The whole configuration file.
///
/// ```json
/// { "node_id": "station-12", "relay": "embedded",
///   "audio": { … }, "channels": [ … ], "tones": [ … ], "long_tones": [ … ],
///   "hi_low": [ … ], "pulsed": [ … ], "mqtt": { … }, "s3": { … }, "recordings": { … },
///   "events_file": "./events.jsonl", "logging": { … } }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node's name, unique among the nodes on one relay. Used in
    /// signaling (`hello`) and as a level of every MQTT topic, so it may
    /// only hold letters, digits, `-`, `_` and `.` (1 to 64 of them).
    pub node_id: String,
    /// Where the signaling and audio server is: the string `"embedded"`
    /// for a relay started inside this process on loopback (nothing else
    /// to set up), or `{"url": "wss://…", "token": "…"}` for a remote one.
    pub relay: Relay,
    /// Sample rate, Opus, ALSA buffering, jitter buffer and pre-roll; every
    /// channel uses the same settings. All fields have defaults.
    #[serde(default)]
    pub audio: Audio,
    /// The radio channels, one per radio (at most 8). At least one is needed.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Two-tone sequential ("Quick Call II") paging definitions.
    #[serde(default)]
    pub tones: Vec<TwoTone>,
    /// Single long-tone definitions.
    #[serde(default)]
    pub long_tones: Vec<LongTone>,
    /// Hi-low (warble) definitions.
    #[serde(default)]
    pub hi_low: Vec<HiLow>,
    /// Pulsed single-tone definitions.
    #[serde(default)]
    pub pulsed: Vec<Pulsed>,
    /// MQTT broker for events. Without it, events go to standard output
    /// and to `events_file`.
    #[serde(default)]
    pub mqtt: Option<Mqtt>,
    /// S3-compatible store for recordings. Without it, recordings stay in
    /// `recordings.dir`.
    #[serde(default)]
    pub s3: Option<S3>,
    /// Where recordings are written and kept.
    #[serde(default)]
    pub recordings: Recordings,
    /// The durable queue of everything that leaves the node (events for
    /// MQTT and webhooks, recordings for S3): kept on disk until each
    /// destination acknowledged it.
    #[serde(default)]
    pub outbox: Outbox,
    /// HTTP endpoints each matching event is POSTed to, as JSON.
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    /// A program run for each alert (and each event type listed), with the
    /// event as JSON on standard input.
    #[serde(default)]
    pub alert_command: Option<AlertCommand>,
    /// JSON-lines event log used when there is no `mqtt` section
    /// (default `./events.jsonl`).
    #[serde(default = "events_file")]
    pub events_file: PathBuf,
    /// Log level and format (logs go to standard error).
    #[serde(default)]
    pub logging: Logging,
    /// Where the COR and PTT lines are: `gpiocdev` (default: the GPIO
    /// character devices, `/dev/gpiochipN`), `none` (PTT changes only
    /// logged, COR lines never change) or `sim:FOLDER` (a simulated chip:
    /// one file per line, for tests and demos without hardware).
    #[serde(default = "gpio_backend")]
    pub gpio_backend: String,
    /// The status endpoint: `/metrics` (Prometheus), `/status` (JSON) and
    /// a status page at `/`. On by default on `127.0.0.1:9310`.
    #[serde(default)]
    pub http: Http,
}

/// The node's status endpoint.
///
/// ```json
/// { "listen": "0.0.0.0:9310", "password": "pbkdf2-sha256$100000$…" }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// Where it listens (default `127.0.0.1:9310`, this machine only), or
    /// `null` for no endpoint. Beyond loopback it needs `password`: the
    /// page links to recordings of dispatch traffic.
    pub listen: Option<String>,
    /// The password the page asks for (HTTP basic auth, any user name),
    /// stored as the hash `echostream hash-password` prints, never in the
    /// clear.
    pub password: Option<String>,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            listen: Some(defaults::HTTP_LISTEN.to_owned()),
            password: None,
        }
    }
}

fn gpio_backend() -> String {
    "gpiocdev".to_owned()
}

fn events_file() -> PathBuf {
    PathBuf::from(defaults::EVENTS_FILE)
}

/// The relay this node connects to.
///
/// In the file: `"relay": "embedded"` or `"relay": {"url": …, "token": …}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Relay {
    /// A relay run inside this process, listening on loopback only, on
    /// ports the operating system picks. For a single box and for trying
    /// the system out; other nodes cannot reach it.
    Embedded,
    /// A relay elsewhere on the network.
    Remote(RemoteRelay),
}

/// A relay reached over the network.
///
/// The UDP endpoint, the media key and the heartbeat interval are not set
/// here: the relay hands them out in its `welcome` message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteRelay {
    /// Signaling WebSocket, `wss://host[:port]/path` (TLS). Plain `ws://`
    /// sends the token and the media key in clear, so it is refused unless
    /// the host is a loopback address written as one (`127.0.0.1`,
    /// `[::1]`; a name such as `localhost` is not) or `insecure_plaintext`
    /// is set.
    pub url: String,
    /// Shared secret the relay checks in `hello`. Keep it out of version
    /// control; at least 16 characters, no spaces.
    pub token: String,
    /// PEM file with the certificate authority that signed the relay's TLS
    /// certificate, for a self-hosted relay. Absent: the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Give up one connection attempt after this long (default 5000 ms).
    #[serde(default = "relay_connect_timeout_ms")]
    pub connect_timeout_ms: u32,
    /// Reconnect attempts back off exponentially up to this (default 30000 ms).
    #[serde(default = "relay_reconnect_max_ms")]
    pub reconnect_max_ms: u32,
    /// Allow a `ws://` URL to a host that is not loopback, for a network
    /// where anyone who can read the traffic may also hear the audio
    /// (default false).
    #[serde(default)]
    pub insecure_plaintext: bool,
}

fn relay_connect_timeout_ms() -> u32 {
    defaults::RELAY_CONNECT_TIMEOUT_MS
}
fn relay_reconnect_max_ms() -> u32 {
    defaults::RELAY_RECONNECT_MAX_MS
}

impl<'de> Deserialize<'de> for Relay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RelayVisitor;

        impl<'de> Visitor<'de> for RelayVisitor {
            type Value = Relay;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""embedded" or an object with "url" and "token""#)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Relay, E> {
                if value == "embedded" {
                    Ok(Relay::Embedded)
                } else {
                    // Phrased as serde's unknown variant so the loader can
                    // suggest the spelling it knows.
                    Err(E::unknown_variant(value, &["embedded"]))
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Relay, A::Error> {
                // Through the same MapAccess, so field paths stay tracked.
                RemoteRelay::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Relay::Remote)
            }
        }

        deserializer.deserialize_any(RelayVisitor)
    }
}

/// Audio settings shared by every channel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Audio {
    /// Sound-card sample rate, mono s16. One of the rates Opus encodes
    /// natively: 8000, 12000, 16000, 24000 or 48000 (default 48000).
    pub sample_rate_hz: u32,
    /// Opus frame length: 2.5, 5, 10, 20, 40 or 60 (a number, so `2.5` is
    /// written as is). 20 by default; 10 or 5 for low latency; 2.5 and 5
    /// only with the CELT layer (no in-band FEC).
    pub frame_ms: f64,
    /// ALSA period: how much audio one read or write moves (default 5 ms).
    /// At most one frame, and a whole number of samples at the rate.
    pub period_ms: f64,
    /// ALSA buffer length in periods (default 3, at least 2). Each extra
    /// period adds `period_ms` of latency and of xrun margin.
    pub buffer_periods: u32,
    /// Audio kept from before COR opens, so the first syllable is sent
    /// (default 300 ms, at most 2000).
    pub preroll_ms: u32,
    /// The jitter buffer never delays playout less than this (default 20 ms).
    pub jitter_min_ms: u32,
    /// The jitter buffer never delays playout more than this (default
    /// 200 ms); at least one frame.
    pub jitter_max_ms: u32,
    /// SCHED_FIFO priority of the capture and playback threads, 1 to 99
    /// (default 70); 0 keeps them at normal priority. A refused promotion
    /// is logged as a warning, not fatal.
    pub rt_priority: u32,
    /// Opus encoder settings.
    pub opus: Opus,
}

impl Default for Audio {
    /// Frame length and jitter bounds are the jitter buffer's own defaults.
    fn default() -> Self {
        let jitter = JitterConfig::DEFAULT;
        Self {
            sample_rate_hz: defaults::SAMPLE_RATE_HZ,
            frame_ms: jitter.frame_us() as f64 / 1_000.0,
            period_ms: defaults::PERIOD_MS,
            buffer_periods: defaults::BUFFER_PERIODS,
            preroll_ms: defaults::PREROLL_MS,
            jitter_min_ms: jitter.jitter_min_ms,
            jitter_max_ms: jitter.jitter_max_ms,
            rt_priority: defaults::RT_PRIORITY,
            opus: Opus::default(),
        }
    }
}

/// Opus encoder settings (RFC 6716).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Opus {
    /// Target bitrate, 6000 to 510000 (default 24000 bit/s).
    pub bitrate_bps: u32,
    /// Encoder effort, 0 (cheapest) to 10 (best) (default 5).
    pub complexity: u32,
    /// In-band forward error correction: each packet carries a low-rate
    /// copy of the previous frame (default true). SILK only: no effect with
    /// `restricted_lowdelay` or frames shorter than 10 ms.
    pub fec: bool,
    /// Packet loss the encoder plans FEC for, 0 to 100 (default 10 %).
    pub expected_loss_pct: u32,
    /// Discontinuous transmission: send almost nothing during silence
    /// (default false).
    pub dtx: bool,
    /// `voip` (speech, default), `audio` (music, tones) or
    /// `restricted_lowdelay` (CELT only, lowest delay, no FEC).
    pub application: OpusApplication,
}

impl Default for Opus {
    fn default() -> Self {
        Self {
            bitrate_bps: defaults::OPUS_BITRATE_BPS,
            complexity: defaults::OPUS_COMPLEXITY,
            fec: true,
            expected_loss_pct: defaults::OPUS_EXPECTED_LOSS_PCT,
            dtx: false,
            application: OpusApplication::Voip,
        }
    }
}

/// Opus application mode (`OPUS_APPLICATION_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpusApplication {
    /// Tuned for speech intelligibility.
    Voip,
    /// Tuned for fidelity to the input.
    Audio,
    /// CELT only, lowest algorithmic delay.
    RestrictedLowdelay,
}

/// MQTT broker for events (topics `{prefix}/{node_id}/…`, QoS 1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mqtt {
    /// Broker host name or IP address (not a URL).
    pub host: String,
    /// Broker port, 1 to 65535 (default 1883, or 8883 with `tls`).
    #[serde(default)]
    pub port: Option<Port>,
    /// MQTT client id (default `echostream-{node_id}`). Two clients with the
    /// same id knock each other off the broker.
    #[serde(default)]
    pub client_id: Option<String>,
    /// User name, if the broker wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password; needs `username` (MQTT 3.1.1 forbids a password alone).
    #[serde(default)]
    pub password: Option<String>,
    /// First topic level(s), e.g. `"fire/county"` (default `"echostream"`).
    /// No `+`, `#`, empty levels or leading/trailing `/`.
    #[serde(default = "mqtt_prefix")]
    pub prefix: String,
    /// Connect with TLS (default false).
    #[serde(default)]
    pub tls: bool,
    /// PEM file with the broker's certificate authority (with `tls`).
    /// Absent: the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Keep-alive interval, 1 to 65535 (default 30 s). The broker publishes
    /// the `offline` last will after 1.5 × this without traffic.
    #[serde(default = "mqtt_keepalive_s")]
    pub keepalive_s: u32,
    /// Announce this node to Home Assistant through MQTT discovery
    /// (default false): one device with, per channel, a "transmitting"
    /// binary sensor and, per tone definition, an alert event and the time
    /// of its last alert. Sent retained on every connect and again when
    /// Home Assistant says `online` on `homeassistant/status`. Needs Home
    /// Assistant 2025.10 or later.
    #[serde(default)]
    pub home_assistant: bool,
}

fn mqtt_prefix() -> String {
    defaults::MQTT_PREFIX.to_owned()
}
fn mqtt_keepalive_s() -> u32 {
    defaults::MQTT_KEEPALIVE_S
}

impl Mqtt {
    /// The port to connect to: the configured one, or the protocol default.
    pub fn port(&self) -> u16 {
        match (self.port, self.tls) {
            (Some(port), _) => port.get(),
            (None, false) => defaults::MQTT_PORT,
            (None, true) => defaults::MQTT_TLS_PORT,
        }
    }
}

/// A TCP/UDP port number, 1 to 65535. Out-of-range numbers are rejected
/// while parsing, with the field's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub struct Port(u16);

impl Port {
    /// The port number.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u64> for Port {
    type Error = String;

    fn try_from(value: u64) -> Result<Self, Self::Error> {
        match u16::try_from(value) {
            Ok(port) if port != 0 => Ok(Self(port)),
            _ => Err(format!("{value} is not a port number (1 to 65535)")),
        }
    }
}

/// S3-compatible object store for recordings (AWS, MinIO, Garage…).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3 {
    /// Endpoint URL, `https://…` (e.g. `https://minio.example.org:9000`).
    /// Absent: AWS S3 in `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region used for signing (default `us-east-1`; MinIO accepts that).
    #[serde(default = "s3_region")]
    pub region: String,
    /// Bucket name: 3 to 63 lowercase letters, digits, `-` and `.`.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key. Keep it out of version control.
    pub secret_key: String,
    /// Address the bucket as `endpoint/bucket` instead of
    /// `bucket.endpoint` (default false; MinIO and Garage usually want true).
    #[serde(default)]
    pub path_style: bool,
    /// Prepended to every object key, e.g. `"station-12/"` (default empty).
    #[serde(default)]
    pub prefix: String,
    /// Lifetime of the presigned URL in the `recording` event, 1 to 604800
    /// (SigV4's limit, 7 days; the default).
    #[serde(default = "s3_presign_expiry_s")]
    pub presign_expiry_s: u32,
    /// Failed uploads are retried with exponential backoff up to this
    /// (default 300 s). A file leaves the spool only once uploaded.
    #[serde(default = "s3_backoff_max_s")]
    pub backoff_max_s: u32,
}

fn s3_region() -> String {
    defaults::S3_REGION.to_owned()
}
fn s3_presign_expiry_s() -> u32 {
    defaults::S3_PRESIGN_EXPIRY_S
}
fn s3_backoff_max_s() -> u32 {
    defaults::S3_BACKOFF_MAX_S
}

/// The durable outbox.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outbox {
    /// Its folder (default `./outbox`).
    pub dir: PathBuf,
    /// The most disk it may use, 1 to 4096 MB (default 64). Past it the
    /// oldest events are dropped, counted and reported with an `error`
    /// event; the newest never are, and recordings waiting for upload stay
    /// (they are files in the spool).
    pub max_mb: u32,
}

impl Default for Outbox {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(defaults::OUTBOX_DIR),
            max_mb: defaults::OUTBOX_MAX_MB,
        }
    }
}

/// An HTTP endpoint events are POSTed to.
///
/// ```json
/// { "url": "https://hooks.example.org/page", "events": ["two_tone", "recording"],
///   "headers": { "Authorization": "Bearer …" } }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `https://…` (or `http://` to a loopback or trusted host).
    pub url: String,
    /// Event types sent (e.g. `two_tone`, `recording`); empty or absent:
    /// every alert type (`two_tone`, `long_tone`, `hi_low`, `pulsed`, `dtmf_sequence`,
    /// `remote_alert`) and `recording`.
    #[serde(default)]
    pub events: Vec<String>,
    /// Extra request headers, e.g. `Authorization`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Give up one attempt after this long, 100 to 60000 ms (default 5000).
    #[serde(default = "webhook_timeout_ms")]
    pub timeout_ms: u32,
    /// Failed deliveries are retried with exponential backoff up to this,
    /// 1 to 3600 s (default 60). A 2xx answer is delivered; anything else
    /// is retried, in order: a later event waits for an earlier one.
    #[serde(default = "webhook_backoff_max_s")]
    pub backoff_max_s: u32,
}

fn webhook_timeout_ms() -> u32 {
    defaults::WEBHOOK_TIMEOUT_MS
}
fn webhook_backoff_max_s() -> u32 {
    defaults::WEBHOOK_BACKOFF_MAX_S
}

/// A program run per alert, never through a shell.
///
/// ```json
/// { "program": "/usr/local/bin/sound-siren", "args": ["--station", "1"],
///   "events": ["two_tone", "long_tone"], "timeout_ms": 30000 }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertCommand {
    /// The program: an absolute path (no shell, no `PATH` search).
    pub program: PathBuf,
    /// Its arguments, passed as they are.
    #[serde(default)]
    pub args: Vec<String>,
    /// Event types it runs for; empty or absent: the alert types
    /// (`two_tone`, `long_tone`, `hi_low`, `pulsed`, `dtmf_sequence`). Add
    /// `recording` to run it again once the recording is finished (its
    /// path and URL then in the environment).
    #[serde(default)]
    pub events: Vec<String>,
    /// Killed after this long, 100 to 600000 ms (default 30000).
    #[serde(default = "alert_command_timeout_ms")]
    pub timeout_ms: u32,
}

fn alert_command_timeout_ms() -> u32 {
    defaults::ALERT_COMMAND_TIMEOUT_MS
}

/// Where recordings go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Recordings {
    /// Finished recordings stay here when there is no `s3` section
    /// (default `./recordings`).
    pub dir: PathBuf,
    /// Recordings being written, and finished ones waiting for upload
    /// (default `./recordings/spool`). Must differ from `dir`.
    pub spool_dir: PathBuf,
    /// `wav` (default: 16-bit at the device rate) or `opus` (Ogg Opus,
    /// about 25 times smaller, for a slow uplink).
    pub format: RecordingFormat,
    /// New recordings are refused (with an `error` event) when the
    /// folder's disk has less free space than this (default 200 MB).
    pub min_free_mb: u64,
    /// End a recording after this much silence once `record_min_ms` is
    /// reached (default 0: record the whole `record_length_ms`).
    pub record_silence_stop_ms: u32,
    /// Record at least this long before a silence stop (default 10000 ms).
    pub record_min_ms: u32,
    /// Audio under this level is silence for `record_silence_stop_ms`
    /// (default −50 dBFS).
    pub silence_threshold_dbfs: i16,
}

/// The file format of recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingFormat {
    /// RIFF/WAVE, 16-bit mono.
    #[default]
    Wav,
    /// Ogg Opus (RFC 7845).
    Opus,
}

impl Default for Recordings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(defaults::RECORDINGS_DIR),
            spool_dir: PathBuf::from(defaults::SPOOL_DIR),
            format: RecordingFormat::Wav,
            min_free_mb: defaults::MIN_FREE_MB,
            record_silence_stop_ms: defaults::RECORD_SILENCE_STOP_MS,
            record_min_ms: defaults::RECORD_MIN_MS,
            silence_threshold_dbfs: defaults::SILENCE_THRESHOLD_DBFS,
        }
    }
}

/// Logging to standard error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Logging {
    /// `error`, `warn`, `info` (default), `debug` or `trace`.
    pub level: LogLevel,
    /// `text` (default, one line per record) or `json` (one object per line).
    pub format: LogFormat,
}

impl Default for Logging {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            format: LogFormat::Text,
        }
    }
}

/// Least severe log record written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Normal operation.
    Info,
    /// Detail for troubleshooting.
    Debug,
    /// Everything.
    Trace,
}

/// Shape of each log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}
