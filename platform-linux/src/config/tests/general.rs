//! Node, relay and audio rules.

use serde_json::json;

use super::{check_edited, error_at, listing, warning_at};
use crate::config::Relay;

#[test]
fn node_id_empty_is_an_error() {
    error_at(|c| c["node_id"] = json!(""), "node_id", "is empty");
}

#[test]
fn node_id_with_characters_unsafe_in_a_topic_is_an_error() {
    for bad in ["station/12", "station+12", "station#12", "station 12"] {
        error_at(
            |c| c["node_id"] = json!(bad),
            "node_id",
            "only letters, digits, `-`, `_` and `.` are allowed",
        );
    }
}

#[test]
fn node_id_longer_than_signaling_carries_is_an_error() {
    error_at(
        |c| c["node_id"] = json!("n".repeat(49)),
        "node_id",
        "longer than 48 characters",
    );
}

#[test]
fn node_id_starting_with_a_dot_is_an_error() {
    error_at(
        |c| c["node_id"] = json!(".hidden"),
        "node_id",
        "must start with a letter or digit",
    );
}

#[test]
fn relay_url_with_unknown_scheme_is_an_error() {
    error_at(
        |c| c["relay"]["url"] = json!("https://relay.example.org/ws"),
        "relay.url",
        "is not a WebSocket URL",
    );
}

#[test]
fn relay_url_without_host_is_an_error() {
    error_at(
        |c| c["relay"]["url"] = json!("wss:///ws"),
        "relay.url",
        "has no host",
    );
}

/// What a node refuses to send its token and media key to in clear.
const PLAINTEXT_REFUSED: &str = "ws:// sends the media key in clear; use wss://, or set \
                                 relay.insecure_plaintext: true for a trusted network";

#[test]
fn relay_plain_ws_to_a_host_that_is_not_a_loopback_address_is_an_error() {
    for url in [
        "ws://10.0.0.5:8080/ws",
        "ws://relay.example.org/ws",
        // A name is not an address, whatever it starts with or resolves to.
        "ws://127.evil.example/ws",
        "ws://localhost:8000/ws",
        "ws://[2001:db8::1]:8080/ws",
    ] {
        let report = error_at(
            |c| c["relay"]["url"] = json!(url),
            "relay.url",
            PLAINTEXT_REFUSED,
        );
        assert_eq!(report.problems.len(), 1, "{url}: {}", listing(&report));
    }
}

#[test]
fn relay_plain_ws_to_a_loopback_address_is_accepted() {
    for url in [
        "ws://127.0.0.1:8080/ws",
        "ws://127.0.0.1",
        "ws://127.1.2.3:8080/",
        "ws://[::1]:8080/ws",
        "ws://[::1]",
        "ws://[::ffff:127.0.0.1]:8080/",
        "ws://user@127.0.0.1:8080/ws",
    ] {
        let report = check_edited(|c| c["relay"]["url"] = json!(url));
        assert!(report.problems.is_empty(), "{url}: {}", listing(&report));
    }
}

#[test]
fn insecure_plaintext_allows_plain_ws_to_any_host() {
    for url in [
        "ws://10.0.0.5:8080/ws",
        "ws://127.evil.example/ws",
        "ws://localhost:8000/ws",
    ] {
        let report = check_edited(|c| {
            c["relay"]["url"] = json!(url);
            c["relay"]["insecure_plaintext"] = json!(true);
        });
        assert!(report.problems.is_empty(), "{url}: {}", listing(&report));
        let config = report.config.expect("accepted");
        let Relay::Remote(relay) = config.relay else {
            panic!("a remote relay");
        };
        assert!(relay.insecure_plaintext);
    }
}

#[test]
fn insecure_plaintext_is_off_unless_set() {
    let config = check_edited(|_| {}).config.expect("base config");
    let Relay::Remote(relay) = config.relay else {
        panic!("a remote relay");
    };
    assert!(!relay.insecure_plaintext);
    error_at(
        |c| {
            c["relay"]["url"] = json!("ws://10.0.0.5:8080/ws");
            c["relay"]["insecure_plaintext"] = json!(false);
        },
        "relay.url",
        PLAINTEXT_REFUSED,
    );
}

#[test]
fn insecure_plaintext_where_it_changes_nothing_warns() {
    for url in [
        "wss://relay.example.org/ws",
        "ws://127.0.0.1:8080/ws",
        "ws://[::1]:8080/ws",
    ] {
        warning_at(
            |c| {
                c["relay"]["url"] = json!(url);
                c["relay"]["insecure_plaintext"] = json!(true);
            },
            "relay.insecure_plaintext",
            "has no effect",
        );
    }
}

#[test]
fn insecure_plaintext_misspelt_or_not_a_boolean_is_an_error() {
    error_at(
        |c| c["relay"]["insecure_plain_text"] = json!(true),
        "relay.insecure_plain_text",
        "did you mean `insecure_plaintext`?",
    );
    error_at(
        |c| c["relay"]["insecure_plaintext"] = json!("yes"),
        "relay.insecure_plaintext",
        "expected a boolean",
    );
}
#[test]
fn relay_token_empty_is_an_error() {
    error_at(
        |c| c["relay"]["token"] = json!(""),
        "relay.token",
        "is empty",
    );
}

#[test]
fn relay_token_with_whitespace_is_an_error() {
    error_at(
        |c| c["relay"]["token"] = json!("0123456789abcdef0123\n"),
        "relay.token",
        "copy-and-paste slip",
    );
}

#[test]
fn relay_short_token_warns() {
    warning_at(
        |c| c["relay"]["token"] = json!("abc123"),
        "relay.token",
        "is only 6 characters",
    );
}

#[test]
fn relay_zero_connect_timeout_is_an_error() {
    error_at(
        |c| c["relay"]["connect_timeout_ms"] = json!(0),
        "relay.connect_timeout_ms",
        "is 0",
    );
}

#[test]
fn relay_zero_reconnect_max_is_an_error() {
    error_at(
        |c| c["relay"]["reconnect_max_ms"] = json!(0),
        "relay.reconnect_max_ms",
        "is 0",
    );
}

#[test]
fn embedded_relay_is_a_plain_string() {
    let report = check_edited(|c| c["relay"] = json!("embedded"));
    let config = report.config.expect("embedded relay accepted");
    assert_eq!(config.relay, Relay::Embedded);
}

#[test]
fn sample_rate_opus_cannot_take_is_an_error() {
    error_at(
        |c| c["audio"]["sample_rate_hz"] = json!(44100),
        "audio.sample_rate_hz",
        "44100 Hz is not a rate Opus encodes",
    );
}

#[test]
fn frame_size_opus_cannot_do_is_an_error() {
    error_at(
        |c| c["audio"]["frame_ms"] = json!(25),
        "audio.frame_ms",
        "25 ms is not an Opus frame size; use 2.5, 5, 10, 20, 40 or 60",
    );
}

#[test]
fn frame_of_2_5_ms_is_written_as_a_number() {
    let report = check_edited(|c| {
        c["audio"]["frame_ms"] = json!(2.5);
        c["audio"]["period_ms"] = json!(2.5);
        c["audio"]["jitter_max_ms"] = json!(150);
        c["audio"]["opus"] = json!({ "application": "restricted_lowdelay", "fec": false });
    });
    assert!(report.problems.is_empty(), "{}", listing(&report));
}

#[test]
fn a_jitter_delay_the_playback_buffer_cannot_hold_is_an_error() {
    // 64 slots of 2.5 ms frames hold 160 ms: a channel that plays could
    // not start with the default 200 ms.
    error_at(
        |c| {
            c["audio"]["frame_ms"] = json!(2.5);
            c["audio"]["period_ms"] = json!(2.5);
            c["audio"]["opus"] = json!({ "application": "restricted_lowdelay", "fec": false });
        },
        "audio.jitter_max_ms",
        "200 ms plus two 2.5 ms frames is more than the jitter buffer holds at this frame \
         length (160 ms)",
    );
    // Without an output there is no jitter buffer.
    let report = check_edited(|c| {
        c["audio"]["frame_ms"] = json!(2.5);
        c["audio"]["period_ms"] = json!(2.5);
        c["audio"]["opus"] = json!({ "application": "restricted_lowdelay", "fec": false });
        for ch in c["channels"].as_array_mut().expect("channels") {
            ch.as_object_mut()
                .expect("a channel")
                .remove("output_device");
            ch.as_object_mut().expect("a channel").remove("ptt");
        }
        c["tones"][0]
            .as_object_mut()
            .expect("a tone")
            .remove("passthrough");
    });
    assert!(
        !report
            .problems
            .iter()
            .any(|p| p.path == "audio.jitter_max_ms"),
        "{}",
        listing(&report)
    );
}

#[test]
fn period_of_zero_is_an_error() {
    error_at(
        |c| c["audio"]["period_ms"] = json!(0),
        "audio.period_ms",
        "must be more than 0 ms",
    );
}

#[test]
fn period_longer_than_frame_is_an_error() {
    error_at(
        |c| c["audio"]["period_ms"] = json!(25),
        "audio.period_ms",
        "25 ms is longer than the 20 ms frame",
    );
}

#[test]
fn period_of_fractional_samples_is_an_error() {
    error_at(
        |c| {
            c["audio"]["sample_rate_hz"] = json!(8000);
            c["audio"]["period_ms"] = json!(2.1);
        },
        "audio.period_ms",
        "is 16.8 samples; a period must be a whole number of samples",
    );
}

#[test]
fn buffer_of_one_period_is_an_error() {
    error_at(
        |c| c["audio"]["buffer_periods"] = json!(1),
        "audio.buffer_periods",
        "ALSA needs at least 2 periods",
    );
}

#[test]
fn preroll_above_limit_is_an_error() {
    error_at(
        |c| c["audio"]["preroll_ms"] = json!(5000),
        "audio.preroll_ms",
        "more than the 2000 ms of pre-roll",
    );
}

#[test]
fn jitter_min_above_max_is_an_error() {
    error_at(
        |c| {
            c["audio"]["jitter_min_ms"] = json!(300);
            c["audio"]["jitter_max_ms"] = json!(100);
        },
        "audio.jitter_min_ms",
        "300 ms is more than audio.jitter_max_ms (100 ms)",
    );
}

#[test]
fn jitter_max_below_one_frame_is_an_error() {
    error_at(
        |c| {
            c["audio"]["jitter_min_ms"] = json!(0);
            c["audio"]["jitter_max_ms"] = json!(10);
        },
        "audio.jitter_max_ms",
        "10 ms is less than one 20 ms frame",
    );
}

#[test]
fn rt_priority_above_99_is_an_error() {
    error_at(
        |c| c["audio"]["rt_priority"] = json!(120),
        "audio.rt_priority",
        "120 is not a SCHED_FIFO priority",
    );
}

#[test]
fn opus_bitrate_out_of_range_is_an_error() {
    error_at(
        |c| c["audio"]["opus"] = json!({ "bitrate_bps": 600_000 }),
        "audio.opus.bitrate_bps",
        "600000 bit/s is outside Opus' 6000 to 510000",
    );
}

#[test]
fn opus_complexity_above_10_is_an_error() {
    error_at(
        |c| c["audio"]["opus"] = json!({ "complexity": 11 }),
        "audio.opus.complexity",
        "11 is outside 0 to 10",
    );
}

#[test]
fn opus_expected_loss_above_100_is_an_error() {
    error_at(
        |c| c["audio"]["opus"] = json!({ "expected_loss_pct": 150 }),
        "audio.opus.expected_loss_pct",
        "150 % is more than 100 %",
    );
}

#[test]
fn opus_fec_with_restricted_lowdelay_warns() {
    warning_at(
        |c| c["audio"]["opus"] = json!({ "application": "restricted_lowdelay", "fec": true }),
        "audio.opus.fec",
        "has no effect with restricted_lowdelay",
    );
}

#[test]
fn opus_fec_with_frames_under_10_ms_warns() {
    warning_at(
        |c| c["audio"]["frame_ms"] = json!(5),
        "audio.opus.fec",
        "has no effect with 5 ms frames",
    );
}
