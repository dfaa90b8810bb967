//! What the network loop reports to the rest of the node: the engine's
//! events with channel and node names filled in, and the link's own
//! detail where the engine only knows the kind of failure.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use echostream_core::node::{DisconnectReason, PassthroughEdge, Unexpected};
use echostream_core::tone::{Measured, ToneEvent};

use crate::tone_plan::Named;

use super::counters::NetCounters;

/// Events a [`NetHandle`](super::NetHandle) queues; at most
/// [`EVENT_QUEUE_LEN`] wait, the rest are dropped and counted.
pub const EVENT_QUEUE_LEN: usize = 256;

/// Something that happened on the link to the relay or on a channel.
#[derive(Debug, Clone, PartialEq)]
pub enum NetEvent {
    /// The WebSocket is open (TLS and upgrade done); `hello` was sent.
    Connected {
        /// The relay's signaling URL.
        url: String,
    },
    /// The relay accepted `hello` and the UDP side is ready.
    Welcomed {
        /// Where this node sends its datagrams.
        relay_udp: SocketAddr,
        /// This node's UDP socket.
        local_udp: SocketAddr,
        /// The heartbeat period in force.
        heartbeat: Duration,
        /// The key's id.
        key_id: u8,
    },
    /// A channel is registered; its audio flows from now on.
    Registered {
        /// The channel.
        channel: String,
        /// This node's stream on it.
        stream_id: u32,
    },
    /// Who is on a channel now (this node included).
    UsersConnected {
        /// The channel.
        channel: String,
        /// The node ids.
        users: Vec<String>,
    },
    /// Another node started or stopped transmitting on a channel.
    Transmit {
        /// The channel.
        channel: String,
        /// The node holding (or releasing) it.
        node: String,
        /// Whether it transmits.
        active: bool,
    },
    /// Another node heard a page on one of this node's channels.
    /// A channel's receiver (COR line) opened or closed.
    Cor {
        /// The channel.
        channel: String,
        /// Open now.
        open: bool,
    },
    /// A channel's transmitter changed state.
    Ptt {
        /// The channel.
        channel: String,
        /// What changed and why.
        event: echostream_core::ptt::PttEvent,
    },
    /// Remote audio waited for a busy receiver too long and was dropped.
    RemoteAudioDropped {
        /// The channel.
        channel: String,
        /// Frames dropped.
        frames: u32,
    },
    RemoteAlert {
        /// The channel.
        channel: String,
        /// The node that heard the page.
        node: String,
        /// Its tone definition that matched.
        tone_id: String,
        /// That definition's alert class.
        alert_type: String,
    },
    /// This node's channel opened (a talk-spurt starts) or closed.
    Talkspurt {
        /// The channel.
        channel: String,
        /// Whether it is open now.
        active: bool,
    },
    /// A channel's detector heard a page or a DTMF digit.
    Tone {
        /// The channel.
        channel: String,
        /// The definition's names (`None` for a DTMF digit).
        definition: Option<Named>,
        /// What was heard.
        event: ToneEvent,
    },
    /// A passthrough started, was extended or ended.
    Passthrough {
        /// The channel whose audio is routed.
        source: String,
        /// The channel carrying it.
        target: String,
        /// What happened.
        edge: PassthroughEdge,
        /// What is left of it.
        remaining: Duration,
    },
    /// A channel's DTMF digits ended a sequence.
    DtmfSequence {
        /// The channel.
        channel: String,
        /// The digits.
        digits: String,
        /// Digits past the longest sequence that were cut off.
        cut_off: u32,
    },
    /// A heartbeat round trip over UDP.
    Rtt {
        /// The round trip.
        rtt: Duration,
    },
    /// Heartbeats stopped coming back while the WebSocket is up: audio is
    /// not getting through (a firewall or NAT dropping UDP).
    PathLost {
        /// The relay's UDP address.
        relay_udp: SocketAddr,
        /// How long since the last echo.
        silent_for: Duration,
    },
    /// Heartbeat echoes are back after [`NetEvent::PathLost`].
    PathRestored {
        /// The relay's UDP address.
        relay_udp: SocketAddr,
        /// The round trip of the echo that came back.
        rtt: Duration,
    },
    /// The relay switched this node to a new key.
    Rekeyed {
        /// The new key's id.
        key_id: u8,
    },
    /// The relay sent an `error` message.
    RelayError {
        /// The relay's code (HTTP-like: 401 token refused, 429 limit…).
        code: u16,
        /// Its text.
        message: String,
    },
    /// The relay sent something valid but out of place; ignored.
    Unexpected {
        /// What.
        what: Unexpected,
    },
    /// The link is down; the next attempt starts after `retry_in`.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// What the operating system or TLS said, when the link failed.
        detail: Option<String>,
        /// The delay before reconnecting.
        retry_in: Duration,
    },
}

/// One line, for logs.
impl fmt::Display for NetEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetEvent::Connected { url } => write!(f, "signaling connected to {url}"),
            NetEvent::Welcomed {
                relay_udp,
                local_udp,
                heartbeat,
                key_id,
            } => write!(
                f,
                "welcomed by the relay: audio to {relay_udp} from {local_udp}, heartbeat every {} ms, key {key_id}",
                heartbeat.as_millis()
            ),
            NetEvent::Registered { channel, stream_id } => {
                write!(f, "channel {channel} registered as stream {stream_id}")
            }
            NetEvent::UsersConnected { channel, users } => {
                write!(f, "channel {channel}: connected {}", users.join(", "))
            }
            NetEvent::Transmit {
                channel,
                node,
                active,
            } => write!(
                f,
                "channel {channel}: {node} {} transmitting",
                if *active { "started" } else { "stopped" }
            ),
            NetEvent::RemoteAlert {
                channel,
                node,
                tone_id,
                alert_type,
            } => write!(
                f,
                "REMOTE ALERT {tone_id} ({alert_type}) on {channel}, heard by {node}"
            ),
            NetEvent::Talkspurt { channel, active } => write!(
                f,
                "channel {channel}: {}",
                if *active {
                    "sending (channel active)"
                } else {
                    "stopped sending"
                }
            ),
            NetEvent::Tone {
                channel,
                definition,
                event,
            } => tone_line(f, channel, definition.as_ref(), event),
            NetEvent::Cor { channel, open } => {
                write!(f, "COR {channel} {}", if *open { "open" } else { "closed" })
            }
            NetEvent::Ptt { channel, event } => {
                if event.line_changed() {
                    write!(
                        f,
                        "PTT {channel} {} ({})",
                        if event.keyed() { "keyed" } else { "released" },
                        event.reason.name()
                    )
                } else {
                    write!(f, "PTT {channel}: {event}")
                }
            }
            NetEvent::RemoteAudioDropped { channel, frames } => write!(
                f,
                "{channel}: the receiver stayed busy; {frames} frames of remote audio dropped \
                 (busy_lockout)"
            ),
            NetEvent::Passthrough {
                source,
                target,
                edge,
                remaining,
            } => match edge {
                PassthroughEdge::Ended => write!(f, "PASSTHROUGH {source} -> {target} ended"),
                PassthroughEdge::Started | PassthroughEdge::Extended => write!(
                    f,
                    "PASSTHROUGH {source} -> {target} {}: {:.1} s",
                    if *edge == PassthroughEdge::Started {
                        "started"
                    } else {
                        "extended"
                    },
                    remaining.as_secs_f64()
                ),
            },
            NetEvent::DtmfSequence {
                channel,
                digits,
                cut_off,
            } => {
                write!(f, "DTMF sequence {digits} on {channel}")?;
                if *cut_off > 0 {
                    write!(f, " ({cut_off} more digits cut off)")?;
                }
                Ok(())
            }
            NetEvent::Rtt { rtt } => write!(f, "UDP round trip {} µs", rtt.as_micros()),
            NetEvent::PathLost {
                relay_udp,
                silent_for,
            } => write!(
                f,
                "UDP path to the relay at {relay_udp} lost: no heartbeat echo for {} ms while \
                 signaling is up; audio is not getting through (is UDP blocked by a firewall or NAT?)",
                silent_for.as_millis()
            ),
            NetEvent::PathRestored { relay_udp, rtt } => write!(
                f,
                "UDP path to the relay at {relay_udp} restored (round trip {} µs)",
                rtt.as_micros()
            ),
            NetEvent::Rekeyed { key_id } => write!(f, "the relay issued a new key: key {key_id}"),
            NetEvent::RelayError { code, message } => {
                write!(f, "the relay reports error {code}: {message}")
            }
            NetEvent::Unexpected { what } => write!(f, "the relay sent {what}; ignored"),
            NetEvent::Disconnected {
                reason,
                detail,
                retry_in,
            } => {
                write!(f, "relay link down: {reason}")?;
                if let Some(detail) = detail {
                    write!(f, " ({detail})")?;
                }
                write!(f, "; reconnecting in {} ms", retry_in.as_millis())
            }
        }
    }
}

/// `ALERT Station 1 (fire) on pages: 349.1/707.3 Hz, 12 ms after the
/// pattern's minimum`, or `DTMF 5 on pages (697.2/1336.1 Hz)`.
fn tone_line(
    f: &mut fmt::Formatter<'_>,
    channel: &str,
    definition: Option<&Named>,
    event: &ToneEvent,
) -> fmt::Result {
    if let Measured::Dtmf {
        digit,
        low_hz,
        high_hz,
        ..
    } = event.measured
    {
        return write!(
            f,
            "DTMF {} on {channel} ({low_hz:.1}/{high_hz:.1} Hz)",
            char::from(digit)
        );
    }
    match definition {
        Some(named) => write!(
            f,
            "ALERT {} ({}) on {channel}: ",
            named.tone_id, named.alert_type
        )?,
        None => write!(f, "TONE on {channel}: ")?,
    }
    match event.measured {
        Measured::TwoTone { a_hz, b_hz } => write!(f, "{a_hz:.1}/{b_hz:.1} Hz")?,
        Measured::LongTone { hz } => write!(f, "{hz:.1} Hz long tone")?,
        Measured::HiLow {
            a_hz,
            b_hz,
            alternations,
            tone_ms,
        } => write!(
            f,
            "{a_hz:.1}/{b_hz:.1} Hz hi-low, {alternations} alternations of {tone_ms} ms"
        )?,
        Measured::Pulsed {
            hz,
            pulses,
            on_ms,
            off_ms,
        } => write!(
            f,
            "{hz:.1} Hz pulsed, {pulses} pulses of {on_ms} ms on, {off_ms} ms off"
        )?,
        Measured::Dtmf { .. } => unreachable!("handled above"),
    }
    match definition {
        Some(named) if named.record_length_ms > 0 => write!(
            f,
            ", recording starts {:.1} s after the tones",
            f64::from(named.record_delay_ms) / 1_000.0
        )?,
        Some(_) => f.write_str(", no recording")?,
        None => {}
    }
    if let Some(target) = definition.and_then(|n| n.passthrough.as_deref()) {
        write!(f, ", passthrough to {target}")?;
    }
    write!(f, " ({} ms after the pattern's minimum)", event.latency_ms)
}

/// The loop's end of the event queue: never blocks, counts what it drops.
#[derive(Debug)]
pub(crate) struct EventSink {
    sender: SyncSender<NetEvent>,
    counters: Arc<NetCounters>,
}

impl EventSink {
    /// A queue of [`EVENT_QUEUE_LEN`] events.
    pub(crate) fn new(counters: Arc<NetCounters>) -> (EventSink, Receiver<NetEvent>) {
        let (sender, receiver) = mpsc::sync_channel(EVENT_QUEUE_LEN);
        (EventSink { sender, counters }, receiver)
    }

    /// Queues `event`; a full queue (or nobody listening) drops and counts it.
    pub(crate) fn emit(&self, event: NetEvent) {
        match self.sender.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                NetCounters::bump(&self.counters.drop_event_queue_full);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_alert_reads_as_one_line_naming_who_heard_it() {
        let event = NetEvent::RemoteAlert {
            channel: "pages".into(),
            node: "station-b".into(),
            tone_id: "Station 1".into(),
            alert_type: "fire".into(),
        };
        assert_eq!(
            event.to_string(),
            "REMOTE ALERT Station 1 (fire) on pages, heard by station-b"
        );
    }
}
