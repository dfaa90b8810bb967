//! The status page: server-rendered HTML, no script, refreshed by the
//! browser every [`REFRESH_S`] seconds. Every value from the node or its
//! events is escaped.

use std::fmt::Write;

use echostream_relay::http::escape_html as escape;

use super::Status;

/// How often the page reloads itself.
pub const REFRESH_S: u32 = 5;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
th{background:#eee}.state{font-weight:bold;padding:.1em .5em;border-radius:.3em}\
.idle{background:#e8e8e8}.receiving{background:#cfe8ff}.transmitting{background:#ffd0d0}\
.passthrough{background:#ffe7b3}.locked_out{background:#d33;color:#fff}\
.up{color:#070}.down{color:#b00;font-weight:bold}.muted{color:#777}";

/// The whole page.
pub fn render(status: &Status) -> String {
    let mut html = String::with_capacity(8 * 1024);
    let node = escape(&status.node_id);
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>EchoStream {node}</title><style>{STYLE}</style></head><body>\
         <h1>EchoStream <span id=\"node\">{node}</span></h1>\
         <p class=\"muted\">version {} · up {} · refreshes every {REFRESH_S} s</p>",
        escape(status.version),
        uptime(status.uptime_s),
    );
    let relay = &status.relay;
    let _ = write!(
        html,
        "<p>Relay <b>{}</b>: {} · round trip {:.1} ms · reconnects {} · path lost {}</p>",
        escape(&relay.relay),
        if relay.connected {
            "<span class=\"up\">connected</span>"
        } else {
            "<span class=\"down\">not connected</span>"
        },
        relay.rtt_ms,
        relay.reconnects,
        relay.path_lost
    );
    channels(&mut html, status);
    alerts(&mut html, status);
    storage(&mut html, status);
    html.push_str("</body></html>\n");
    html
}

fn uptime(s: u64) -> String {
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..86_400 => format!("{} h {} min", s / 3_600, s % 3_600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

fn opt(value: Option<u64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

fn channels(html: &mut String, status: &Status) {
    html.push_str(
        "<h2>Channels</h2><table id=\"channels\"><tr><th>Channel</th><th>State</th><th>COR</th>\
         <th>PTT</th><th>Input</th><th>Sites</th><th>Jitter delay</th><th>Decoded / FEC / concealed / late</th>\
         <th>Xruns in / out</th><th>Last alert</th></tr>",
    );
    for ch in &status.channels {
        let cor = match ch.cor_open {
            Some(true) => "open",
            Some(false) => "closed",
            None => "–",
        };
        let last = ch.last_alert.as_ref().map_or_else(
            || "–".to_owned(),
            |(time, name)| {
                format!(
                    "{} <span class=\"muted\">{}</span>",
                    escape(name),
                    escape(time)
                )
            },
        );
        let _ = write!(
            html,
            "<tr><td>{}</td><td><span class=\"state {state}\">{state}</span></td><td>{cor}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {} / {} / {}</td><td>{} / {}</td><td>{last}</td></tr>",
            escape(&ch.id),
            if ch.ptt_keyed { "keyed" } else { "–" },
            ch.input_level_dbfs
                .map_or_else(|| "–".to_owned(), |db| format!("{db} dBFS")),
            ch.sites,
            ch.jitter_delay_ms
                .map_or_else(|| "–".to_owned(), |ms| format!("{ms} ms")),
            opt(ch.decoded),
            opt(ch.fec),
            opt(ch.concealed),
            opt(ch.late),
            ch.capture_xruns,
            opt(ch.playback_xruns),
            state = ch.state,
        );
    }
    html.push_str("</table>");
}

fn alerts(html: &mut String, status: &Status) {
    let _ = write!(
        html,
        "<h2>Last alerts</h2><table id=\"alerts\"><tr><th>Time (UTC)</th><th>Channel</th>\
         <th>Alert</th><th>Type</th><th>Recording</th></tr>"
    );
    if status.alerts.is_empty() {
        html.push_str(
            "<tr><td colspan=\"5\" class=\"muted\">none since the node started</td></tr>",
        );
    }
    for alert in &status.alerts {
        let recording = alert.recording.as_ref().map_or_else(
            || "<span class=\"muted\">–</span>".to_owned(),
            |r| {
                format!(
                    "<a class=\"play\" href=\"{}\">▶ play</a> <span class=\"muted\">{:.1} s</span>",
                    escape(&r.url),
                    r.duration_ms as f64 / 1000.0
                )
            },
        );
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{recording}</td></tr>",
            escape(&alert.time.replace('T', " ")),
            escape(alert.channel.as_deref().unwrap_or("–")),
            escape(&alert.name),
            escape(alert.alert_type.as_deref().unwrap_or(&alert.kind)),
        );
    }
    html.push_str("</table>");
}

fn storage(html: &mut String, status: &Status) {
    html.push_str("<h2>Delivery and disk</h2><table id=\"storage\">");
    for destination in &status.outbox {
        let _ = write!(
            html,
            "<tr><th>Outbox: {}</th><td>{} waiting</td></tr>",
            escape(&destination.name),
            destination.depth
        );
    }
    let _ = write!(
        html,
        "<tr><th>Recordings waiting for upload</th><td>{}</td></tr>\
         <tr><th>Free disk for recordings</th><td>{}</td></tr></table>",
        status.recordings_pending_upload,
        status
            .disk_free_mb
            .map_or_else(|| "unknown".to_owned(), |mb| format!("{mb} MB")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_like_a_person_says_it() {
        assert_eq!(uptime(42), "42 s");
        assert_eq!(uptime(3_700), "1 h 1 min");
        assert_eq!(uptime(90_000), "1 d 1 h");
    }
}
