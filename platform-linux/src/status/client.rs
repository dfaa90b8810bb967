//! `echostream status`: reads a running node's `/status` and prints it as a
//! table, with an exit status for scripts and monitoring.

use std::fmt::Write;
use std::time::Duration;

use serde_json::Value;

/// The node answered and all is well.
pub const EXIT_HEALTHY: u8 = 0;
/// The node could not be reached (not running, wrong address, refused).
pub const EXIT_UNREACHABLE: u8 = 1;
/// The node answered, and something needs a person: the relay link is
/// down, or a channel's transmitter is locked out after a time-out.
pub const EXIT_PROBLEM: u8 = 3;

/// How long the node has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Why `/status` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No answer.
    #[error("cannot reach {url}: {source}; is the node running, and is http.listen this address?")]
    Unreachable {
        /// What was asked.
        url: String,
        /// What failed.
        source: attohttpc::Error,
    },
    /// A password is needed or was wrong.
    #[error(
        "{url} asks for a password: set ECHOSTREAM_HTTP_PASSWORD to the one its http.password was made from"
    )]
    Unauthorized {
        /// What was asked.
        url: String,
    },
    /// Any other answer.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// What was asked.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Not the JSON a node serves.
    #[error("{url} did not answer with a node's status: {detail}")]
    NotStatus {
        /// What was asked.
        url: String,
        /// Why.
        detail: String,
    },
}

/// Reads `{base}/status`, with basic auth when `password` is given.
///
/// # Errors
///
/// See [`FetchError`].
pub fn fetch(base: &str, password: Option<&str>) -> Result<Value, FetchError> {
    let url = format!("{}/status", base.trim_end_matches('/'));
    let mut request = attohttpc::get(&url).timeout(TIMEOUT);
    if let Some(password) = password {
        request = request.basic_auth("echostream", Some(password));
    }
    let response = request.send().map_err(|source| FetchError::Unreachable {
        url: url.clone(),
        source,
    })?;
    let status = response.status().as_u16();
    if status == 401 {
        return Err(FetchError::Unauthorized { url });
    }
    let body = response.text().map_err(|source| FetchError::Unreachable {
        url: url.clone(),
        source,
    })?;
    if status != 200 {
        return Err(FetchError::Status {
            url,
            status,
            body: body.chars().take(200).collect(),
        });
    }
    let value: Value = serde_json::from_str(&body).map_err(|e| FetchError::NotStatus {
        url: url.clone(),
        detail: e.to_string(),
    })?;
    if value.get("channels").and_then(Value::as_array).is_none() {
        return Err(FetchError::NotStatus {
            url,
            detail: "no `channels` list".to_owned(),
        });
    }
    Ok(value)
}

/// The table `echostream status` prints, and the problems found in it.
pub fn render(status: &Value) -> (String, Vec<String>) {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("?").to_owned();
    let num = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_u64)
            .map_or_else(|| "–".to_owned(), |n| n.to_string())
    };
    let mut out = String::new();
    let mut problems = Vec::new();
    let relay = status.get("relay").cloned().unwrap_or(Value::Null);
    let connected = relay
        .get("connected")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let _ = writeln!(
        out,
        "node {}  version {}  up {} s",
        text(status, "node_id"),
        text(status, "version"),
        num(status, "uptime_s")
    );
    let _ = writeln!(
        out,
        "relay {}: {}, round trip {:.1} ms, reconnects {}",
        text(&relay, "relay"),
        if connected {
            "connected"
        } else {
            "NOT CONNECTED"
        },
        relay.get("rtt_ms").and_then(Value::as_f64).unwrap_or(0.0),
        num(&relay, "reconnects")
    );
    if !connected {
        problems.push("the relay link is down".to_owned());
    }
    let _ = writeln!(
        out,
        "\n{:<16} {:<13} {:<7} {:<6} {:>9} {:>6} {:>9} {:>6}  LAST ALERT",
        "CHANNEL", "STATE", "COR", "PTT", "INPUT", "JITTER", "CONCEALED", "XRUNS"
    );
    for ch in status["channels"].as_array().into_iter().flatten() {
        let state = text(ch, "state");
        if state == "locked_out" {
            problems.push(format!(
                "channel {} is locked out after a transmit time-out",
                text(ch, "id")
            ));
        }
        let cor = match ch.get("cor_open").and_then(Value::as_bool) {
            Some(true) => "open",
            Some(false) => "closed",
            None => "–",
        };
        let ptt = if ch.get("ptt_keyed").and_then(Value::as_bool) == Some(true) {
            "keyed"
        } else {
            "–"
        };
        let input = ch
            .get("input_level_dbfs")
            .and_then(Value::as_i64)
            .map_or_else(|| "–".to_owned(), |db| format!("{db} dBFS"));
        let jitter = ch
            .get("jitter_delay_ms")
            .and_then(Value::as_u64)
            .map_or_else(|| "–".to_owned(), |ms| format!("{ms} ms"));
        let xruns = ch.get("capture_xruns").and_then(Value::as_u64).unwrap_or(0)
            + ch.get("playback_xruns")
                .and_then(Value::as_u64)
                .unwrap_or(0);
        let last = ch.get("last_alert").and_then(Value::as_array).map_or_else(
            || "–".to_owned(),
            |a| {
                let s = |i: usize| a.get(i).and_then(Value::as_str).unwrap_or("");
                format!("{} at {}", s(1), s(0))
            },
        );
        let _ = writeln!(
            out,
            "{:<16} {:<13} {:<7} {:<6} {:>9} {:>6} {:>9} {:>6}  {}",
            text(ch, "id"),
            state,
            cor,
            ptt,
            input,
            jitter,
            num(ch, "concealed"),
            xruns,
            last
        );
    }
    let mut waiting = Vec::new();
    for d in status["outbox"].as_array().into_iter().flatten() {
        waiting.push(format!("{} {}", text(d, "name"), num(d, "depth")));
    }
    let _ = writeln!(
        out,
        "\noutbox: {}; recordings waiting for upload: {}; free disk: {} MB",
        if waiting.is_empty() {
            "nothing to deliver".to_owned()
        } else {
            waiting.join(", ")
        },
        num(status, "recordings_pending_upload"),
        num(status, "disk_free_mb")
    );
    for problem in &problems {
        let _ = writeln!(out, "problem: {problem}");
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_locked_out_channel_and_a_lost_relay_are_problems() {
        let status = json!({
            "node_id": "station-12", "version": "0.1.0", "uptime_s": 93,
            "relay": {"relay": "wss://relay.example/echostream", "connected": false, "rtt_ms": 0.0, "reconnects": 4},
            "channels": [
                {"id": "fire", "state": "locked_out", "cor_open": false, "ptt_keyed": false,
                 "jitter_delay_ms": 60, "concealed": 3, "capture_xruns": 1, "playback_xruns": 0,
                 "last_alert": ["2026-12-07T03:19:24Z", "Station 12"]},
                {"id": "talk", "state": "idle", "cor_open": null, "ptt_keyed": false}
            ],
            "outbox": [{"name": "mqtt", "depth": 2}],
            "recordings_pending_upload": 1, "disk_free_mb": 900
        });
        let (table, problems) = render(&status);
        assert_eq!(problems.len(), 2, "{table}");
        assert!(table.contains("NOT CONNECTED"), "{table}");
        assert!(
            table.contains("Station 12 at 2026-12-07T03:19:24Z"),
            "{table}"
        );
        assert!(table.contains("outbox: mqtt 2"), "{table}");
        let line = table.lines().find(|l| l.starts_with("fire")).unwrap();
        assert!(
            line.contains("locked_out") && line.contains("60 ms"),
            "{line}"
        );
    }

    #[test]
    fn an_address_with_nothing_listening_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let error = fetch(&format!("http://{addr}"), None).unwrap_err();
        assert!(matches!(error, FetchError::Unreachable { .. }), "{error}");
        assert!(error.to_string().contains("is the node running"), "{error}");
    }
}
