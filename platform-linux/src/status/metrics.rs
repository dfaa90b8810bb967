//! `/metrics` in the Prometheus text exposition format (0.0.4), written
//! by hand: a few dozen gauges and counters from figures the node already
//! holds need no registry, and the format is a line per sample.

use std::fmt::Write;

use echostream_core::node::ChannelState;
use echostream_relay::http::{escape_label as label, prometheus_family as family};

use super::Status;
use crate::net::NetCountersSnapshot;

/// A per-channel family: name, help, and how to read it off a channel.
type PerChannel<T> = (
    &'static str,
    &'static str,
    fn(&super::ChannelStatus) -> Option<T>,
);

/// The whole exposition.
pub fn render(status: &Status, net: &NetCountersSnapshot) -> String {
    let mut out = String::with_capacity(16 * 1024);
    family(
        &mut out,
        "echostream_up_seconds",
        "gauge",
        "Seconds since the node started.",
    );
    let _ = writeln!(out, "echostream_up_seconds {}", status.uptime_s);
    family(
        &mut out,
        "echostream_relay_connected",
        "gauge",
        "1 while the relay has welcomed the node.",
    );
    let _ = writeln!(
        out,
        "echostream_relay_connected {}",
        u8::from(status.relay.connected)
    );
    family(
        &mut out,
        "echostream_relay_rtt_seconds",
        "gauge",
        "The last heartbeat round trip to the relay.",
    );
    let _ = writeln!(
        out,
        "echostream_relay_rtt_seconds {}",
        status.relay.rtt_ms / 1000.0
    );
    family(
        &mut out,
        "echostream_net_total",
        "counter",
        "The network engine's counters (traffic, drops by reason, links), by name.",
    );
    net.for_each(|name, value| {
        if name != "rtt_last_us" && name != "rtt_max_us" {
            let _ = writeln!(out, "echostream_net_total{{counter=\"{name}\"}} {value}");
        }
    });
    family(
        &mut out,
        "echostream_channel_state",
        "gauge",
        "1 for the state each channel is in.",
    );
    for ch in &status.channels {
        for state in ChannelState::ALL {
            let _ = writeln!(
                out,
                "echostream_channel_state{{channel=\"{}\",state=\"{}\"}} {}",
                label(&ch.id),
                state.name(),
                u8::from(ch.state == state.name())
            );
        }
    }
    let gauges: [PerChannel<f64>; 4] = [
        (
            "echostream_channel_input_level_dbfs",
            "The loudest 20 ms of input in the last whole second, dBFS (-120 is digital silence).",
            |c| c.input_level_dbfs.map(f64::from),
        ),
        (
            "echostream_channel_cor_open",
            "1 while the COR line is open.",
            |c| c.cor_open.map(|o| f64::from(u8::from(o))),
        ),
        (
            "echostream_channel_ptt_keyed",
            "1 while the transmitter is keyed.",
            |c| Some(f64::from(u8::from(c.ptt_keyed))),
        ),
        (
            "echostream_channel_jitter_delay_seconds",
            "The jitter buffer's delay now.",
            |c| c.jitter_delay_ms.map(|ms| ms as f64 / 1000.0),
        ),
    ];
    for (name, help, value) in gauges {
        family(&mut out, name, "gauge", help);
        for ch in &status.channels {
            if let Some(v) = value(ch) {
                let _ = writeln!(out, "{name}{{channel=\"{}\"}} {v}", label(&ch.id));
            }
        }
    }
    let counters: [PerChannel<u64>; 7] = [
        (
            "echostream_channel_frames_captured_total",
            "Frames captured.",
            |c| Some(c.frames),
        ),
        (
            "echostream_channel_frames_decoded_total",
            "Received frames decoded.",
            |c| c.decoded,
        ),
        (
            "echostream_channel_frames_fec_total",
            "Received frames rebuilt from FEC.",
            |c| c.fec,
        ),
        (
            "echostream_channel_frames_concealed_total",
            "Received frames concealed (lost).",
            |c| c.concealed,
        ),
        (
            "echostream_channel_frames_late_total",
            "Received frames refused as late.",
            |c| c.late,
        ),
        (
            "echostream_channel_capture_xruns_total",
            "Sound-card overruns on capture.",
            |c| Some(c.capture_xruns),
        ),
        (
            "echostream_channel_playback_xruns_total",
            "Sound-card underruns on playback.",
            |c| c.playback_xruns,
        ),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        for ch in &status.channels {
            if let Some(v) = value(ch) {
                let _ = writeln!(out, "{name}{{channel=\"{}\"}} {v}", label(&ch.id));
            }
        }
    }
    family(
        &mut out,
        "echostream_outbox_depth",
        "gauge",
        "Entries a destination has not acknowledged yet.",
    );
    for d in &status.outbox {
        let _ = writeln!(
            out,
            "echostream_outbox_depth{{destination=\"{}\"}} {}",
            label(&d.name),
            d.depth
        );
    }
    family(
        &mut out,
        "echostream_recordings_pending_upload",
        "gauge",
        "Recordings waiting in the spool for upload.",
    );
    let _ = writeln!(
        out,
        "echostream_recordings_pending_upload {}",
        status.recordings_pending_upload
    );
    if let Some(mb) = status.disk_free_mb {
        family(
            &mut out,
            "echostream_disk_free_bytes",
            "gauge",
            "Free space where recordings are written.",
        );
        let _ = writeln!(out, "echostream_disk_free_bytes {}", mb * 1_000_000);
    }
    out
}
