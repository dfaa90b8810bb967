//! Checks of a parsed [`Config`] that serde cannot express: ranges,
//! cross-references, hardware conflicts and likely mistakes.
//!
//! Every check runs; nothing stops at the first problem. Each finding names
//! the field path as the file spells it (`channels[1].cor.gpio.line`) and
//! says why in words a radio tech can act on. Errors stop the node from
//! starting; warnings do not.

mod channels;
mod services;
mod tones;

use std::net::IpAddr;

use super::problem::{Problem, Problems};
use super::schema::{Audio, Config, OpusApplication, Relay, RemoteRelay};

/// Sample rates Opus encodes natively (RFC 6716 §2).
pub const OPUS_SAMPLE_RATES_HZ: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];
/// Frame lengths an Opus encoder accepts (RFC 6716 §2.1.4).
pub const OPUS_FRAMES_MS: [f64; 6] = [2.5, 5.0, 10.0, 20.0, 40.0, 60.0];
/// Opus' bitrate range (RFC 6716 §2.1.1: 6 to 510 kbit/s).
pub const OPUS_BITRATE_RANGE_BPS: (u32, u32) = (6_000, 510_000);
/// The pre-roll buffer is fixed at start-up; this is its ceiling.
pub const MAX_PREROLL_MS: u32 = 2_000;
/// Tones outside this band are not detected: the band the core's tone
/// tracker searches (the detectors run on 8 kHz).
pub const TONE_BAND_HZ: (f64, f64) = (
    echostream_core::tone::TRACK_MIN_HZ as f64,
    echostream_core::tone::TRACK_MAX_HZ as f64,
);
/// Longest node, channel, tone and alert identifiers: what signaling carries.
pub const MAX_NAME_LEN: usize = echostream_core::wire::signal::MAX_ID_LEN;
/// Shortest relay token that does not draw a warning.
pub const MIN_TOKEN_LEN: usize = 16;

/// Runs every check on `config` and returns what it found, errors and
/// warnings, in file order.
pub fn validate(config: &Config) -> Vec<Problem> {
    let mut problems = Problems::default();
    check_name(&mut problems, "node_id", &config.node_id);
    if let Relay::Remote(remote) = &config.relay {
        check_relay(&mut problems, remote);
    }
    let plays = config.channels.iter().any(|c| c.output_device.is_some());
    check_audio(&mut problems, &config.audio, plays);
    channels::check(&mut problems, config);
    tones::check(&mut problems, config);
    crate::tone_plan::check(&mut problems, config);
    services::check(&mut problems, config);
    if let Err(error) = config.gpio_backend.parse::<crate::gpio::BackendSpec>() {
        problems.error("gpio_backend", error.to_string());
    }
    problems.into_vec()
}

/// Node, channel, tone and alert ids become MQTT topic levels, file names
/// and signaling fields: nothing that changes a topic's meaning (`/`, `+`,
/// `#`), no spaces, and a letter or digit first (never `.` or `..`). The
/// same rules as the signaling messages, so a valid config never produces
/// a message the relay refuses.
pub(crate) fn check_name(problems: &mut Problems, path: &str, name: &str) {
    if name.is_empty() {
        problems.error(path, "is empty; give a name such as `station-12`");
        return;
    }
    if name.chars().count() > MAX_NAME_LEN {
        problems.error(path, format!("is longer than {MAX_NAME_LEN} characters"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        problems.error(
            path,
            format!(
                "`{name}` contains {bad:?}; only letters, digits, `-`, `_` and `.` are allowed \
                 (it becomes an MQTT topic level)"
            ),
        );
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        problems.error(path, format!("`{name}` must start with a letter or digit"));
    }
}

fn check_relay(problems: &mut Problems, relay: &RemoteRelay) {
    let scheme_rest = relay
        .url
        .strip_prefix("wss://")
        .map(|rest| ("wss", rest))
        .or_else(|| relay.url.strip_prefix("ws://").map(|rest| ("ws", rest)));
    match scheme_rest {
        None => problems.error(
            "relay.url",
            format!(
                "`{}` is not a WebSocket URL; use wss://host[:port]/path",
                relay.url
            ),
        ),
        Some((scheme, rest)) => {
            let host = url_host(rest);
            // The relay's welcome carries the media key: over ws:// anyone
            // on the path can decrypt every stream.
            let plain_beyond_loopback = scheme == "ws" && !is_loopback(host);
            if host.is_empty() {
                problems.error("relay.url", format!("`{}` has no host", relay.url));
            } else if plain_beyond_loopback && !relay.insecure_plaintext {
                problems.error(
                    "relay.url",
                    "ws:// sends the media key in clear; use wss://, or set \
                     relay.insecure_plaintext: true for a trusted network",
                );
            } else if !plain_beyond_loopback && relay.insecure_plaintext {
                problems.warning(
                    "relay.insecure_plaintext",
                    format!(
                        "has no effect with `{}`; it only allows ws:// to a host that is not \
                         a loopback address",
                        relay.url
                    ),
                );
            }
        }
    }
    if check_secret(problems, "relay.token", &relay.token)
        && relay.token.chars().count() < MIN_TOKEN_LEN
    {
        problems.warning(
            "relay.token",
            format!(
                "is only {} characters; a token shorter than {MIN_TOKEN_LEN} is easy to guess",
                relay.token.chars().count()
            ),
        );
    }
    if relay.connect_timeout_ms == 0 {
        problems.error(
            "relay.connect_timeout_ms",
            "is 0; no connection could ever succeed",
        );
    }
    if relay.reconnect_max_ms == 0 {
        problems.error(
            "relay.reconnect_max_ms",
            "is 0; reconnecting without a pause would hammer the relay",
        );
    }
}

/// Checks a token or key: present, and free of the whitespace a copy and
/// paste drags along. Returns whether it passed.
fn check_secret(problems: &mut Problems, path: &str, secret: &str) -> bool {
    if secret.is_empty() {
        problems.error(path, "is empty");
        false
    } else if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        problems.error(
            path,
            "contains spaces, line breaks or control characters (a copy-and-paste slip?)",
        );
        false
    } else {
        true
    }
}

/// The host part of what follows `scheme://`: up to the first `/`, `?` or
/// `#`, without user info and port; IPv6 brackets kept off.
fn url_host(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default();
    }
    host_port.split(':').next().unwrap_or_default()
}

/// Whether `host` (brackets already off) is a loopback address written as
/// one. A name is never loopback here, `localhost` included: what it
/// resolves to is up to the resolver, and a prefix test would let
/// `127.evil.example` through. An IPv4-mapped `::ffff:127.0.0.1` counts.
fn is_loopback(host: &str) -> bool {
    host.parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// `plays`: some channel has an output, so a jitter buffer is made.
fn check_audio(problems: &mut Problems, audio: &Audio, plays: bool) {
    let rate_ok = OPUS_SAMPLE_RATES_HZ.contains(&audio.sample_rate_hz);
    if !rate_ok {
        problems.error(
            "audio.sample_rate_hz",
            format!(
                "{} Hz is not a rate Opus encodes; use 8000, 12000, 16000, 24000 or 48000 \
                 (a plughw: device resamples for a card that lacks it)",
                audio.sample_rate_hz
            ),
        );
    }
    let frame_ok = OPUS_FRAMES_MS.contains(&audio.frame_ms);
    if !frame_ok {
        problems.error(
            "audio.frame_ms",
            format!(
                "{} ms is not an Opus frame size; use 2.5, 5, 10, 20, 40 or 60",
                audio.frame_ms
            ),
        );
    }

    if !(audio.period_ms.is_finite() && audio.period_ms > 0.0) {
        problems.error("audio.period_ms", "must be more than 0 ms");
    } else if frame_ok && audio.period_ms > audio.frame_ms {
        problems.error(
            "audio.period_ms",
            format!(
                "{} ms is longer than the {} ms frame (audio.frame_ms); a period must fit in a frame",
                audio.period_ms, audio.frame_ms
            ),
        );
    } else if rate_ok {
        let samples = audio.period_ms * f64::from(audio.sample_rate_hz) / 1000.0;
        if (samples - samples.round()).abs() > 1e-6 {
            problems.error(
                "audio.period_ms",
                format!(
                    "{} ms at {} Hz is {samples:.1} samples; a period must be a whole number of samples",
                    audio.period_ms, audio.sample_rate_hz
                ),
            );
        }
    }
    if audio.buffer_periods < 2 {
        problems.error(
            "audio.buffer_periods",
            format!(
                "{} is too few; ALSA needs at least 2 periods (one playing while the next is written)",
                audio.buffer_periods
            ),
        );
    }
    if audio.preroll_ms > MAX_PREROLL_MS {
        problems.error(
            "audio.preroll_ms",
            format!(
                "{} ms is more than the {MAX_PREROLL_MS} ms of pre-roll that is kept",
                audio.preroll_ms
            ),
        );
    }
    if audio.jitter_min_ms > audio.jitter_max_ms {
        problems.error(
            "audio.jitter_min_ms",
            format!(
                "{} ms is more than audio.jitter_max_ms ({} ms)",
                audio.jitter_min_ms, audio.jitter_max_ms
            ),
        );
    }
    if frame_ok && f64::from(audio.jitter_max_ms) < audio.frame_ms {
        problems.error(
            "audio.jitter_max_ms",
            format!(
                "{} ms is less than one {} ms frame; the jitter buffer must hold at least one",
                audio.jitter_max_ms, audio.frame_ms
            ),
        );
    }
    // What a channel's jitter buffer refuses beyond the above (its slots,
    // its stall timeout), in the file's words.
    if plays
        && frame_ok
        && let Err(error) =
            crate::runtime::jitter_config_of(audio).validate(crate::audio::pipeline::JITTER_SLOTS)
    {
        let refusal = super::refusal::jitter(audio, error);
        if !problems.has_error_at(&refusal.path) {
            problems.error(refusal.path, refusal.reason);
        }
    }
    if audio.rt_priority > 99 {
        problems.error(
            "audio.rt_priority",
            format!(
                "{} is not a SCHED_FIFO priority; use 1 to 99 (0 keeps normal priority)",
                audio.rt_priority
            ),
        );
    }

    let opus = &audio.opus;
    let (min_bps, max_bps) = OPUS_BITRATE_RANGE_BPS;
    if !(min_bps..=max_bps).contains(&opus.bitrate_bps) {
        problems.error(
            "audio.opus.bitrate_bps",
            format!(
                "{} bit/s is outside Opus' {min_bps} to {max_bps}",
                opus.bitrate_bps
            ),
        );
    }
    if opus.complexity > 10 {
        problems.error(
            "audio.opus.complexity",
            format!("{} is outside 0 to 10", opus.complexity),
        );
    }
    if opus.expected_loss_pct > 100 {
        problems.error(
            "audio.opus.expected_loss_pct",
            format!("{} % is more than 100 %", opus.expected_loss_pct),
        );
    }
    if opus.fec && opus.application == OpusApplication::RestrictedLowdelay {
        problems.warning(
            "audio.opus.fec",
            "has no effect with restricted_lowdelay: in-band FEC is part of SILK, which that mode never uses",
        );
    } else if opus.fec && frame_ok && audio.frame_ms < 10.0 {
        problems.warning(
            "audio.opus.fec",
            format!(
                "has no effect with {} ms frames: frames under 10 ms are CELT only, and in-band FEC is part of SILK",
                audio.frame_ms
            ),
        );
    }
}
