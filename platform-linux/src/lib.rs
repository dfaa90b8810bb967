//! EchoStream's edge node for Linux: configuration, and (as it grows) the
//! ALSA, GPIO, network, MQTT and S3 plumbing around `echostream-core`.
//!
//! The `echostream` binary is a thin command line over this library; the
//! library exists so that tests, benches and fuzz targets reach the same
//! code (the config parser is a fuzz target).

pub mod alert_command;
pub mod audio;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod detect;
pub mod events;
pub mod gpio;
pub mod import_tones;
pub mod logger;
pub mod mqtt;
pub mod net;
pub mod opus;
pub mod outbox;
pub mod recording;
pub mod runtime;
pub mod s3;
pub mod status;
pub mod systemd;
pub mod tone_plan;
