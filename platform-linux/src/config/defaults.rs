//! The values a field takes when the config file leaves it out.
//!
//! These are the numbers DESIGN.md promises ("Audio path", "PTT and COR",
//! "Tone detection", "Events and uploads"), as plain constants: the types
//! that use them (their `Default` impls and serde defaults) sit beside
//! their definitions and import this module, never the other way round.
//!
//! Defaults the core also has are not repeated here: the frame length and
//! the jitter-buffer bounds come from `JitterConfig::DEFAULT`, the DTMF
//! limits from `DtmfConfig::DEFAULT`, the radio timers from
//! `ptt::Timers::DEFAULT`.

/// Device sample rate when `audio.sample_rate_hz` is absent.
pub const SAMPLE_RATE_HZ: u32 = 48_000;
/// ALSA period when `audio.period_ms` is absent.
pub const PERIOD_MS: f64 = 5.0;
/// ALSA buffer length in periods when `audio.buffer_periods` is absent.
pub const BUFFER_PERIODS: u32 = 3;
/// Pre-roll kept before COR opens.
pub const PREROLL_MS: u32 = 300;
/// SCHED_FIFO priority of the audio threads.
pub const RT_PRIORITY: u32 = 70;

/// Opus bitrate: comfortable for one voice channel with in-band FEC.
pub const OPUS_BITRATE_BPS: u32 = 24_000;
/// Opus encoder complexity: leaves CPU for eight channels on a Pi 4.
pub const OPUS_COMPLEXITY: u32 = 5;
/// Loss percentage the encoder plans its FEC for.
pub const OPUS_EXPECTED_LOSS_PCT: u32 = 10;

/// How long remote audio waits for a busy channel with `busy_lockout`.
pub const BUSY_WAIT_MS: u32 = 2_000;

/// VOX opening threshold.
pub const VOX_THRESHOLD_DBFS: f64 = -40.0;

/// Longest silence allowed between tone A and tone B.
pub const MAX_GAP_MS: u32 = 500;
/// Audio recorded after an alert.
pub const RECORD_LENGTH_MS: u32 = 30_000;
/// Delay between the alert and the start of the recording.
pub const RECORD_DELAY_MS: u32 = 0;
/// Duplicate suppression after an alert of the same definition.
pub const IGNORE_AFTER_MS: u32 = 10_000;
/// Label carried in events when a definition sets no `alert_type`.
pub const ALERT_TYPE: &str = "default";

/// Hi-low: alternations needed before the alert.
pub const HI_LOW_MIN_ALTERNATIONS: u32 = 4;
/// Hi-low: shortest segment counted as one half-cycle.
pub const HI_LOW_MIN_SEGMENT_MS: u32 = 150;
/// Hi-low: longest segment counted as one half-cycle.
pub const HI_LOW_MAX_GAP_MS: u32 = 250;
/// Pulsed: how much a pulse or pause may differ from its length.
pub const PULSED_RANGE_MS: u32 = 50;
/// Pulsed: pulses in a row needed before the alert.
pub const PULSED_MIN_PULSES: u32 = 4;

/// MQTT broker port without TLS.
pub const MQTT_PORT: u16 = 1883;
/// MQTT broker port with TLS.
pub const MQTT_TLS_PORT: u16 = 8883;
/// MQTT topic prefix.
pub const MQTT_PREFIX: &str = "echostream";
/// MQTT keep-alive.
pub const MQTT_KEEPALIVE_S: u32 = 30;
/// The durable outbox's folder.
pub const OUTBOX_DIR: &str = "./outbox";
/// Where the status endpoint listens: this machine only.
pub const HTTP_LISTEN: &str = "127.0.0.1:9310";
/// The most disk the outbox may use, in MB.
pub const OUTBOX_MAX_MB: u32 = 64;
/// One webhook attempt's time limit.
pub const WEBHOOK_TIMEOUT_MS: u32 = 5_000;
/// The longest pause between webhook retries.
pub const WEBHOOK_BACKOFF_MAX_S: u32 = 60;
/// An alert command's time limit.
pub const ALERT_COMMAND_TIMEOUT_MS: u32 = 30_000;

/// S3 region when none is given.
pub const S3_REGION: &str = "us-east-1";
/// Presigned URL lifetime: SigV4's maximum, 7 days.
pub const S3_PRESIGN_EXPIRY_S: u32 = 604_800;
/// Longest wait between two upload attempts.
pub const S3_BACKOFF_MAX_S: u32 = 300;

/// Relay WebSocket connect time-out.
pub const RELAY_CONNECT_TIMEOUT_MS: u32 = 5_000;
/// Longest wait between two relay reconnect attempts.
pub const RELAY_RECONNECT_MAX_MS: u32 = 30_000;

/// Finished recordings.
pub const RECORDINGS_DIR: &str = "./recordings";
/// Recordings being written or waiting for upload.
pub const SPOOL_DIR: &str = "./recordings/spool";
/// New recordings are refused below this much free space.
pub const MIN_FREE_MB: u64 = 200;
/// Recordings do not stop on silence unless asked.
pub const RECORD_SILENCE_STOP_MS: u32 = 0;
/// With a silence stop, at least this much is recorded.
pub const RECORD_MIN_MS: u32 = 10_000;
/// Audio under this level counts as silence for the silence stop.
pub const SILENCE_THRESHOLD_DBFS: i16 = -50;
/// Event log used when there is no `mqtt` section.
pub const EVENTS_FILE: &str = "./events.jsonl";
