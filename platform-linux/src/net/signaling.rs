//! What the node does with each message the relay sends (DESIGN.md
//! "Signaling v1"): welcome, registered, transmit, users_connected, rekey,
//! error, ping and pong. Unknown types are counted and ignored; malformed
//! messages are counted and ignored; nothing the relay sends can panic the
//! loop.

use std::time::{Duration, Instant};

use echostream_core::crypto::{Secret, SessionKeys};
use echostream_core::wire::signal::{SignalError, ToNode, ToRelay};

use super::counters::NetCounters;
use super::driver::{Driver, PendingUdp, Welcomed};
use super::event::NetEvent;
use super::link::Incoming;

/// The shortest heartbeat period accepted from a welcome: a relay asking
/// for less gets this (bounds the loop's work).
pub const HEARTBEAT_MIN: Duration = Duration::from_millis(20);

/// The longest heartbeat period accepted from a welcome.
pub const HEARTBEAT_MAX: Duration = Duration::from_secs(60);

impl Driver {
    /// One frame from the relay.
    pub(crate) fn on_frame(&mut self, now: Instant, frame: Incoming) {
        NetCounters::bump(&self.counters.signal_in);
        if let Some(welcomed) = &mut self.welcomed {
            welcomed.last_heard_at = now;
        }
        let Incoming::Text(text) = frame else {
            NetCounters::bump(&self.counters.signal_malformed);
            log::debug!("relay sent a binary frame; ignored");
            return;
        };
        match ToNode::parse(text.as_bytes()) {
            Ok(message) => self.on_message(now, message),
            Err(SignalError::UnknownType) => {
                NetCounters::bump(&self.counters.signal_unknown_type);
                log::debug!("relay sent a message of a type this node does not know; ignored");
            }
            Err(error) => {
                NetCounters::bump(&self.counters.signal_malformed);
                log::warn!("relay sent a malformed message ({error}); ignored");
            }
        }
    }

    fn on_message(&mut self, now: Instant, message: ToNode<'_>) {
        match message {
            ToNode::Welcome {
                udp_host,
                udp_port,
                key,
                key_id,
                heartbeat_ms,
            } => {
                if self.welcomed.is_some() {
                    self.unexpected("a second welcome");
                    return;
                }
                let heartbeat = Duration::from_millis(u64::from(heartbeat_ms))
                    .clamp(HEARTBEAT_MIN, HEARTBEAT_MAX);
                let keys = SessionKeys::derive(&Secret::from_bytes(key.into_bytes()), key_id);
                self.attempt_deadline = None;
                self.backoff.reset();
                NetCounters::bump(&self.counters.sessions);
                self.welcomed = Some(Welcomed {
                    heartbeat,
                    next_ping_at: now + heartbeat,
                    last_heard_at: now,
                    pending_udp: Some(PendingUdp {
                        host: udp_host.as_str().to_owned(),
                        port: udp_port,
                        keys,
                        key_id: key_id.0,
                    }),
                });
                self.resolve_udp(now);
            }
            ToNode::Registered {
                channel_id,
                stream_id,
            } => {
                if self.media.register(now, channel_id.as_str(), stream_id) {
                    log::info!("channel {channel_id} registered as {stream_id}");
                    self.events.emit(NetEvent::Registered {
                        channel: channel_id.as_str().to_owned(),
                        stream_id: stream_id.0,
                    });
                } else {
                    self.unexpected("a registration for a channel not asked for");
                }
            }
            ToNode::Transmit {
                channel_id,
                node_id,
                active,
            } => {
                log::debug!(
                    "{node_id} {} transmitting on {channel_id}",
                    if active { "is" } else { "stopped" }
                );
                self.events.emit(NetEvent::Transmit {
                    channel: channel_id.as_str().to_owned(),
                    node: node_id.as_str().to_owned(),
                    active,
                });
            }
            ToNode::UsersConnected { channel_id, users } => {
                self.events.emit(NetEvent::UsersConnected {
                    channel: channel_id.as_str().to_owned(),
                    users: users.iter().map(|u| u.as_str().to_owned()).collect(),
                });
            }
            ToNode::Rekey { key, key_id } => {
                if !self.media.has_session() {
                    self.unexpected("a rekey before the welcome");
                    return;
                }
                let keys = SessionKeys::derive(&Secret::from_bytes(key.into_bytes()), key_id);
                match self.media.rekey(now, keys) {
                    Ok(()) => {
                        NetCounters::bump(&self.counters.rekeys);
                        log::info!("the relay issued a new key: {key_id}");
                        self.events.emit(NetEvent::Rekeyed { key_id: key_id.0 });
                    }
                    Err(reason) => {
                        self.broken.get_or_insert(reason);
                    }
                }
            }
            ToNode::Error { code, message } => {
                log::warn!("the relay reports error {code}: {message}");
                self.events.emit(NetEvent::RelayError {
                    code,
                    message: message.as_str().to_owned(),
                });
            }
            ToNode::Ping { t } => self.send(&ToRelay::Pong { t }),
            ToNode::Pong { t } => {
                let rtt_us = self.micros(now).saturating_sub(t);
                log::trace!("signaling round trip {rtt_us} µs");
            }
        }
    }

    fn unexpected(&mut self, what: &str) {
        NetCounters::bump(&self.counters.signal_unexpected);
        log::warn!("the relay sent {what}; ignored");
    }
}
