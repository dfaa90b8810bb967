//! MQTT, S3 and storage checks.

use std::path::Path;

use super::{check_secret, is_loopback, url_host};
use crate::config::problem::Problems;
use crate::config::schema::{AlertCommand, Config, Mqtt, S3, Webhook};

/// Longest presigned URL lifetime SigV4 allows (7 days).
const MAX_PRESIGN_EXPIRY_S: u32 = 604_800;

pub(super) fn check(problems: &mut Problems, config: &Config) {
    if let Some(mqtt) = &config.mqtt {
        check_mqtt(problems, mqtt);
    }
    if let Some(s3) = &config.s3 {
        check_s3(problems, s3);
    }
    let recordings = &config.recordings;
    check_dir(problems, "recordings.dir", &recordings.dir);
    check_dir(problems, "recordings.spool_dir", &recordings.spool_dir);
    if !(-120..=0).contains(&recordings.silence_threshold_dbfs) {
        problems.error(
            "recordings.silence_threshold_dbfs",
            format!(
                "{} dBFS is not between -120 and 0",
                recordings.silence_threshold_dbfs
            ),
        );
    }
    if recordings.record_silence_stop_ms > 0 && recordings.record_silence_stop_ms < 500 {
        problems.error(
            "recordings.record_silence_stop_ms",
            "must be 0 (off) or at least 500 ms: a pause between words is not the end",
        );
    }
    if config.audio.sample_rate_hz != 0
        && recordings.format == crate::config::RecordingFormat::Opus
        && ![8_000, 12_000, 16_000, 24_000, 48_000].contains(&config.audio.sample_rate_hz)
    {
        problems.error(
            "recordings.format",
            format!(
                "opus recordings need audio.sample_rate_hz of 8000, 12000, 16000, 24000 or 48000 (it is {}); use wav",
                config.audio.sample_rate_hz
            ),
        );
    }
    if recordings.spool_dir == recordings.dir && !recordings.dir.as_os_str().is_empty() {
        problems.error(
            "recordings.spool_dir",
            "is the same folder as recordings.dir; unfinished and finished recordings must be kept apart",
        );
    }
    check_dir(problems, "events_file", &config.events_file);
    check_dir(problems, "outbox.dir", &config.outbox.dir);
    if !(1..=4096).contains(&config.outbox.max_mb) {
        problems.error(
            "outbox.max_mb",
            format!("{} MB is outside 1 to 4096 MB", config.outbox.max_mb),
        );
    }
    for (i, webhook) in config.webhooks.iter().enumerate() {
        check_webhook(problems, &format!("webhooks[{i}]"), webhook);
    }
    if let Some(command) = &config.alert_command {
        check_alert_command(problems, command);
    }
    check_http(problems, &config.http);
}

fn check_http(problems: &mut Problems, http: &crate::config::schema::Http) {
    if let Some(password) = &http.password
        && let Err(error) = echostream_relay::http::PasswordHash::parse(password)
    {
        problems.error("http.password", error.to_string());
    }
    let Some(listen) = &http.listen else {
        return;
    };
    match listen.parse::<std::net::SocketAddr>() {
        Err(_) => problems.error(
            "http.listen",
            format!("`{listen}` is not an address and port such as 127.0.0.1:9310"),
        ),
        Ok(addr) if !addr.ip().is_loopback() && http.password.is_none() => problems.error(
            "http.listen",
            format!(
                "{addr} is reachable beyond this machine, and the status page links to \
                 recordings of dispatch traffic: set http.password to the hash \
                 `echostream hash-password` prints, or listen on 127.0.0.1"
            ),
        ),
        Ok(_) => {}
    }
}

/// Every event type a node emits, for `events` lists.
pub const EVENT_TYPES: [&str; 12] = [
    "two_tone",
    "long_tone",
    "hi_low",
    "pulsed",
    "dtmf",
    "dtmf_sequence",
    "remote_alert",
    "passthrough",
    "transmit",
    "recording",
    "node",
    "error",
];

fn check_event_types(problems: &mut Problems, path: &str, events: &[String]) {
    for (i, event) in events.iter().enumerate() {
        if !EVENT_TYPES.contains(&event.as_str()) {
            problems.error(
                format!("{path}[{i}]"),
                format!(
                    "`{event}` is not an event type (one of {})",
                    EVENT_TYPES.join(", ")
                ),
            );
        }
    }
}

fn check_webhook(problems: &mut Problems, path: &str, webhook: &Webhook) {
    let url = &webhook.url;
    let rest = url
        .strip_prefix("https://")
        .map(|rest| ("https", rest))
        .or_else(|| url.strip_prefix("http://").map(|rest| ("http", rest)));
    match rest {
        None => problems.error(
            format!("{path}.url"),
            format!("`{url}` is not an http:// or https:// URL"),
        ),
        Some((scheme, rest)) => {
            let host = url_host(rest);
            if host.is_empty() {
                problems.error(format!("{path}.url"), format!("`{url}` has no host"));
            } else if scheme == "http" && !(host == "localhost" || is_loopback(host)) {
                problems.warning(
                    format!("{path}.url"),
                    format!("http:// sends events to `{host}` unencrypted; use https://"),
                );
            }
        }
    }
    check_event_types(problems, &format!("{path}.events"), &webhook.events);
    for (name, value) in &webhook.headers {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            problems.error(
                format!("{path}.headers"),
                format!("`{name}` is not a valid header name"),
            );
        }
        if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
            problems.error(
                format!("{path}.headers.{name}"),
                "contains a line break or NUL",
            );
        }
    }
    if !(100..=60_000).contains(&webhook.timeout_ms) {
        problems.error(
            format!("{path}.timeout_ms"),
            format!("{} ms is outside 100 to 60000 ms", webhook.timeout_ms),
        );
    }
    if !(1..=3600).contains(&webhook.backoff_max_s) {
        problems.error(
            format!("{path}.backoff_max_s"),
            format!("{} s is outside 1 to 3600 s", webhook.backoff_max_s),
        );
    }
}

fn check_alert_command(problems: &mut Problems, command: &AlertCommand) {
    if !command.program.is_absolute() {
        problems.error(
            "alert_command.program",
            format!(
                "`{}` is not an absolute path; give the full path (it is run directly, \
                 without a shell or a PATH search)",
                command.program.display()
            ),
        );
    }
    check_event_types(problems, "alert_command.events", &command.events);
    if !(100..=600_000).contains(&command.timeout_ms) {
        problems.error(
            "alert_command.timeout_ms",
            format!("{} ms is outside 100 to 600000 ms", command.timeout_ms),
        );
    }
}

fn check_dir(problems: &mut Problems, path: &str, dir: &Path) {
    if dir.as_os_str().is_empty() {
        problems.error(path, "is empty; give a path such as ./recordings");
    }
}

fn check_mqtt(problems: &mut Problems, mqtt: &Mqtt) {
    if mqtt.host.trim().is_empty() {
        problems.error(
            "mqtt.host",
            "is empty; give the broker's host name or address",
        );
    } else if mqtt.host.contains("://") {
        problems.error(
            "mqtt.host",
            format!(
                "`{}` is a URL; give only the host name or address (port and TLS are separate fields)",
                mqtt.host
            ),
        );
    } else if mqtt.host.chars().any(char::is_whitespace) {
        problems.error("mqtt.host", format!("`{}` contains spaces", mqtt.host));
    }

    let prefix = &mqtt.prefix;
    if prefix.is_empty() {
        problems.error(
            "mqtt.prefix",
            "is empty; topics need a first level, e.g. `echostream`",
        );
    } else if prefix.contains(['+', '#']) {
        problems.error(
            "mqtt.prefix",
            format!(
                "`{prefix}` contains an MQTT wildcard (`+` or `#`), which cannot appear in a topic"
            ),
        );
    } else if prefix.split('/').any(str::is_empty) {
        problems.error(
            "mqtt.prefix",
            format!("`{prefix}` has an empty topic level (a leading, trailing or doubled `/`)"),
        );
    } else if prefix.contains('\0') {
        problems.error("mqtt.prefix", "contains a NUL character");
    } else if mqtt.home_assistant && prefix.split('/').next() == Some("homeassistant") {
        problems.error(
            "mqtt.prefix",
            format!(
                "`{prefix}` is under Home Assistant's discovery prefix `homeassistant`, \
                 which would read the node's events as discovery messages; choose another \
                 prefix (e.g. `echostream`)"
            ),
        );
    }

    if let Some(client_id) = &mqtt.client_id
        && client_id.trim().is_empty()
    {
        problems.error(
            "mqtt.client_id",
            "is empty; leave it out to use echostream-{node_id}",
        );
    }
    if mqtt.password.is_some() && mqtt.username.is_none() {
        problems.error(
            "mqtt.password",
            "is set without mqtt.username; MQTT 3.1.1 does not allow a password alone",
        );
    }
    if !(1..=65_535).contains(&mqtt.keepalive_s) {
        problems.error(
            "mqtt.keepalive_s",
            format!(
                "{} s is outside 1 to 65535 s (0 would switch off the broker's dead-client check, \
                 and with it the offline last will)",
                mqtt.keepalive_s
            ),
        );
    }
    if mqtt.ca_file.is_some() && !mqtt.tls {
        problems.warning("mqtt.ca_file", "is only used with \"tls\": true");
    }
}

fn check_s3(problems: &mut Problems, s3: &S3) {
    if let Some(endpoint) = &s3.endpoint {
        let scheme_rest = endpoint
            .strip_prefix("https://")
            .map(|rest| ("https", rest))
            .or_else(|| endpoint.strip_prefix("http://").map(|rest| ("http", rest)));
        match scheme_rest {
            None => problems.error(
                "s3.endpoint",
                format!("`{endpoint}` is not an http:// or https:// URL"),
            ),
            Some((scheme, rest)) => {
                let host = url_host(rest);
                // Only a warning, so the name `localhost` is trusted here,
                // unlike for the relay, where plain text is refused.
                let local = host == "localhost" || is_loopback(host);
                if host.is_empty() {
                    problems.error("s3.endpoint", format!("`{endpoint}` has no host"));
                } else if scheme == "http" && !local {
                    problems.warning(
                        "s3.endpoint",
                        format!("http:// sends recordings to `{host}` unencrypted; use https://"),
                    );
                }
            }
        }
    }
    if s3.region.trim().is_empty() {
        problems.error(
            "s3.region",
            "is empty; use e.g. us-east-1 (MinIO accepts that)",
        );
    }
    if let Some(reason) = bucket_name_problem(&s3.bucket) {
        problems.error(
            "s3.bucket",
            format!("`{}` is not a valid bucket name: {reason}", s3.bucket),
        );
    }
    check_secret(problems, "s3.access_key", &s3.access_key);
    check_secret(problems, "s3.secret_key", &s3.secret_key);
    if s3.prefix.starts_with('/') {
        problems.warning(
            "s3.prefix",
            "starts with `/`, which makes an empty top-level folder on most stores",
        );
    }
    if !(1..=MAX_PRESIGN_EXPIRY_S).contains(&s3.presign_expiry_s) {
        problems.error(
            "s3.presign_expiry_s",
            format!(
                "{} s is outside 1 to {MAX_PRESIGN_EXPIRY_S} s (7 days, the longest a SigV4 \
                 presigned URL lives)",
                s3.presign_expiry_s
            ),
        );
    }
    if s3.backoff_max_s == 0 {
        problems.error(
            "s3.backoff_max_s",
            "is 0; retrying without a pause would hammer the store",
        );
    }
}

/// The S3 bucket naming rules (AWS "Bucket naming rules", general purpose
/// buckets), which MinIO and Garage enforce too.
fn bucket_name_problem(bucket: &str) -> Option<&'static str> {
    let bytes = bucket.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Some("it must be 3 to 63 characters long");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
    {
        return Some("only lowercase letters, digits, `.` and `-` are allowed");
    }
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return Some("it must begin and end with a letter or digit");
    }
    if bucket.contains("..") {
        return Some("two dots in a row are not allowed");
    }
    None
}
