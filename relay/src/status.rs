//! The relay's HTTP endpoint (`echostream-relay --http`): `/metrics` in
//! the Prometheus text format, `/status` as JSON and `/` a status page,
//! each from a [`RelayStatus`] the loop takes on request.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::http::{
    Handler, Request, Response, escape_html, escape_label, prometheus_family as family,
};
use crate::server::{RelayStatus, StatusSource};

/// How long a request waits for the loop's answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(2);
/// How often the page reloads itself.
pub const REFRESH_S: u32 = 5;

/// Answers `/`, `/status` and `/metrics` from `source`.
pub fn handler(source: StatusSource) -> Handler {
    Arc::new(move |request: &Request| answer(&source, request))
}

fn answer(source: &StatusSource, request: &Request) -> Response {
    let render: fn(&RelayStatus) -> Response = match request.path.as_str() {
        "/" => |s| Response::ok("text/html; charset=utf-8", page(s)),
        "/status" => |s| Response::ok("application/json", json(s)),
        "/metrics" => |s| Response::ok("text/plain; version=0.0.4; charset=utf-8", metrics(s)),
        path => return Response::not_found(path),
    };
    match source.fetch(ANSWER_WAIT) {
        Some(status) => render(&status),
        None => Response::text(
            503,
            "the relay's loop did not answer within 2 s: it is stopping or stuck; see its log\n",
        ),
    }
}

/// `/status`: the status with every counter and the drops by reason.
pub fn json(status: &RelayStatus) -> Vec<u8> {
    let counters: serde_json::Map<String, serde_json::Value> = status
        .counters
        .fields()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.into()))
        .collect();
    let drops: serde_json::Map<String, serde_json::Value> = status
        .drops()
        .into_iter()
        .map(|(reason, value)| (reason.to_owned(), value.into()))
        .collect();
    let relay = &status.counters.relay;
    let body = serde_json::json!({
        "version": status.version,
        "uptime_s": status.uptime_s,
        "sessions": status.sessions,
        "channels": status.channels,
        "talkers": status.talkers(),
        "datagrams_in": relay.datagrams_in,
        "datagrams_out": relay.datagrams_out,
        "drops": drops,
        "counters": counters,
    });
    // A `json!` value always serializes.
    serde_json::to_vec_pretty(&body).unwrap_or_default()
}

/// Counters that go up and down.
const GAUGES: [&str; 2] = ["sessions_active", "conn_open"];

/// `/metrics`: the Prometheus text exposition (0.0.4), by hand: the
/// figures are the stats line's counters plus a few per channel.
pub fn metrics(status: &RelayStatus) -> String {
    let mut out = String::with_capacity(16 * 1024);
    family(
        &mut out,
        "echostream_relay_up_seconds",
        "gauge",
        "Seconds since the relay started.",
    );
    let _ = writeln!(out, "echostream_relay_up_seconds {}", status.uptime_s);
    family(
        &mut out,
        "echostream_relay_sessions",
        "gauge",
        "Nodes connected (welcomed sessions).",
    );
    let _ = writeln!(out, "echostream_relay_sessions {}", status.sessions.len());
    family(
        &mut out,
        "echostream_relay_channels",
        "gauge",
        "Channels with at least one member.",
    );
    let _ = writeln!(out, "echostream_relay_channels {}", status.channels.len());
    family(
        &mut out,
        "echostream_relay_talkers",
        "gauge",
        "Channels someone is talking on.",
    );
    let _ = writeln!(out, "echostream_relay_talkers {}", status.talkers());
    family(
        &mut out,
        "echostream_relay_channel_members",
        "gauge",
        "Members of each channel.",
    );
    for channel in &status.channels {
        let _ = writeln!(
            out,
            "echostream_relay_channel_members{{channel=\"{}\"}} {}",
            escape_label(&channel.id),
            channel.members.len()
        );
    }
    family(
        &mut out,
        "echostream_relay_channel_talking",
        "gauge",
        "1 while someone talks on the channel.",
    );
    for channel in &status.channels {
        let _ = writeln!(
            out,
            "echostream_relay_channel_talking{{channel=\"{}\"}} {}",
            escape_label(&channel.id),
            u8::from(channel.talker.is_some())
        );
    }
    family(
        &mut out,
        "echostream_relay_drops_total",
        "counter",
        "Datagrams, frames and messages refused or lost, by reason.",
    );
    for (reason, value) in status.drops() {
        let _ = writeln!(
            out,
            "echostream_relay_drops_total{{reason=\"{reason}\"}} {value}"
        );
    }
    for (name, value) in status.counters.fields() {
        if name.starts_with("drop_") {
            continue;
        }
        let (metric, kind) = if GAUGES.contains(&name) {
            (format!("echostream_relay_{name}"), "gauge")
        } else {
            (format!("echostream_relay_{name}_total"), "counter")
        };
        family(
            &mut out,
            &metric,
            kind,
            "As the stats log line's counter of that name.",
        );
        let _ = writeln!(out, "{metric} {value}");
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
th{background:#eee}.talking{background:#cfe8ff;font-weight:bold}.muted{color:#777}";

/// `/`: the status page, server-rendered, refreshed by the browser.
pub fn page(status: &RelayStatus) -> String {
    let mut html = String::with_capacity(8 * 1024);
    let relay = &status.counters.relay;
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>EchoStream relay</title><style>{STYLE}</style></head><body>\
         <h1>EchoStream relay</h1>\
         <p class=\"muted\">version {} · up {} s · refreshes every {REFRESH_S} s</p>\
         <p>{} nodes · {} channels · datagrams in {} · out {}</p>",
        escape_html(status.version),
        status.uptime_s,
        status.sessions.len(),
        status.channels.len(),
        relay.datagrams_in,
        relay.datagrams_out,
    );
    html.push_str("<h2>Channels</h2><table id=\"channels\"><tr><th>Channel</th><th>Members</th><th>Talking</th><th>Locked out</th></tr>");
    for channel in &status.channels {
        let talking = match (&channel.talker, channel.talking_ms) {
            (Some(node), Some(ms)) => format!(
                "<span class=\"talking\">{}</span> for {:.1} s",
                escape_html(node),
                ms as f64 / 1000.0
            ),
            _ => "<span class=\"muted\">nobody</span>".to_owned(),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{talking}</td><td>{}</td></tr>",
            escape_html(&channel.id),
            escape_html(&channel.members.join(", ")),
            channel.locked_out
        );
    }
    html.push_str("</table><h2>Nodes</h2><table id=\"nodes\"><tr><th>Node</th><th>From</th><th>Channels</th><th>Last heard</th></tr>");
    for session in &status.sessions {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1} s ago</td></tr>",
            escape_html(&session.node_id),
            session.peer_ip,
            session.channels,
            session.quiet_ms as f64 / 1000.0
        );
    }
    html.push_str(
        "</table><h2>Drops</h2><table id=\"drops\"><tr><th>Reason</th><th>Count</th></tr>",
    );
    for (reason, value) in status.drops().into_iter().filter(|(_, v)| *v > 0) {
        let _ = write!(html, "<tr><td>{reason}</td><td>{value}</td></tr>");
    }
    html.push_str("</table></body></html>\n");
    html
}
