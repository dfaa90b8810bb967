//! What the engine does with each message the relay sends (DESIGN.md
//! "Signaling v1") and how its own messages are written. Unknown types
//! and malformed messages are counted and ignored; valid messages out of
//! place are counted, reported and ignored; nothing the relay sends can
//! panic the engine.

use heapless::{String, Vec};

use crate::crypto::{Direction, Receiver, Secret, Sender, SessionKeys};
use crate::time::{Duration, Instant};
use crate::wire::signal::{
    ChannelId, NodeId, PROTOCOL_VERSION, SecretBytes, SignalError, ToNode, ToRelay, Token,
};
use crate::wire::{KeyId, StreamId};

use super::channel::Stream;
use super::event::{DisconnectReason, Event, Unexpected};
use super::timer::Timer;
use super::{
    ChannelIndex, Control, HEARTBEAT_MAX, HEARTBEAT_MIN, KEY_GRACE, Node, Phase, Session, Text,
    signal_silence_max,
};

impl Node {
    /// One text frame from the relay.
    pub fn handle_text(&mut self, now: Instant, text: &str) {
        self.now = now;
        if !self.heard(now) {
            return;
        }
        match ToNode::parse(text.as_bytes()) {
            Ok(message) => self.on_message(now, message),
            Err(SignalError::UnknownType) => self.counters.signal_unknown_type += 1,
            Err(_) => self.counters.signal_malformed += 1,
        }
    }

    /// One binary frame from the relay (not part of the protocol).
    pub fn handle_binary(&mut self, now: Instant) {
        self.now = now;
        if self.heard(now) {
            self.counters.signal_malformed += 1;
        }
    }

    /// A frame arrived: counts it and restarts the silence timer. False
    /// when no link is open (a stale frame; ignored).
    fn heard(&mut self, now: Instant) -> bool {
        if !matches!(self.phase, Phase::Open | Phase::Welcomed) {
            return false;
        }
        self.counters.signal_in += 1;
        if let Some(session) = &mut self.session {
            session.last_heard_at = now;
            let silence = signal_silence_max(session.heartbeat);
            self.timers.set(Timer::SignalSilence, now + silence);
        }
        true
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
                if self.session.is_some() {
                    return self.unexpected(Unexpected::SecondWelcome);
                }
                let heartbeat = clamp(Duration::from_millis(u64::from(heartbeat_ms)));
                let keys = session_keys(key, key_id);
                self.session = Some(Session {
                    heartbeat,
                    receiver: Receiver::new(&keys, Direction::RelayToNode),
                    keys,
                    udp_host: String::try_from(udp_host.as_str())
                        .expect("Host holds at most MAX_HOST_LEN bytes"),
                    udp_port,
                    relay: None,
                    last_heard_at: now,
                    round_sent_us: 0,
                    round_reported: true,
                    sends_unanswered: 0,
                    round_next: now + heartbeat,
                    rounds_since_ping: 0,
                    last_echo_at: now,
                    path_lost: false,
                    used_streams: Vec::new(),
                });
                self.phase = Phase::Welcomed;
                self.backoff.reset();
                self.counters.sessions += 1;
                for c in &mut self.channels {
                    c.end_session();
                    c.seq_map.new_session();
                }
                self.timers
                    .set(Timer::SignalSilence, now + signal_silence_max(heartbeat));
                // Rounds start now: until streams register they only ping.
                self.timers.set(Timer::HeartbeatRound, now + heartbeat);
                self.push_control(Control::OpenMedia);
            }
            ToNode::Registered {
                channel_id,
                stream_id,
            } => self.on_registered(now, channel_id, stream_id),
            ToNode::Transmit {
                channel_id,
                node_id,
                active,
            } => {
                let Some(channel) = self.channel_of(channel_id) else {
                    return self.unexpected(Unexpected::UnknownChannel);
                };
                self.event(Event::RemoteTransmit {
                    channel,
                    node: String::try_from(node_id.as_str())
                        .expect("NodeId holds at most MAX_ID_LEN bytes"),
                    active,
                });
            }
            ToNode::ToneDetected {
                channel_id,
                node_id,
                tone_id,
                alert_type,
            } => self.on_remote_alert(channel_id, node_id, tone_id, alert_type),
            ToNode::UsersConnected { channel_id, users } => {
                let Some(channel) = self.channel_of(channel_id) else {
                    return self.unexpected(Unexpected::UnknownChannel);
                };
                self.users.clear();
                for user in &users {
                    let name = String::try_from(user.as_str())
                        .expect("NodeId holds at most MAX_ID_LEN bytes");
                    self.users
                        .push(name)
                        .expect("Users holds at most MAX_USERS ids");
                }
                self.users_channel = Some(channel);
                self.channels[channel.get()].users = self.users.len();
                self.event(Event::UsersConnected { channel });
            }
            ToNode::Rekey { key, key_id } => {
                if self.session.is_none() {
                    return self.unexpected(Unexpected::RekeyBeforeWelcome);
                }
                let keys = session_keys(key, key_id);
                self.rekey(now, keys);
            }
            ToNode::Error { code, message } => self.event(Event::RelayError { code, message }),
            ToNode::Ping { t } => self.queue_text(Text::Pong(t)),
            // Liveness is every frame; the round trip is measured over UDP.
            ToNode::Pong { .. } => {}
        }
    }

    /// The channel `channel_id` names, if it is one of this node's.
    pub(super) fn channel_of(&self, channel_id: ChannelId<'_>) -> Option<ChannelIndex> {
        self.config
            .channels()
            .iter()
            .position(|c| c.id == channel_id.as_str())
            .map(ChannelIndex::new_unchecked)
    }

    /// A stream for a channel. A stream id is never sealed on twice under
    /// one key: a second `Sender` for it would start at seq 0 again and
    /// repeat nonces, so a relay that hands one out again is given up on.
    fn on_registered(&mut self, now: Instant, channel_id: ChannelId<'_>, stream_id: StreamId) {
        let Some(channel) = self.channel_of(channel_id) else {
            return self.unexpected(Unexpected::UnknownChannel);
        };
        let Some(session) = self.session.as_mut().filter(|s| s.relay.is_some()) else {
            return self.unexpected(Unexpected::RegisteredBeforeMedia);
        };
        let c = &mut self.channels[channel.get()];
        if c.stream.as_ref().is_some_and(|s| s.id == stream_id) {
            // The same answer again: nothing changes.
            return;
        }
        if session.used_streams.contains(&stream_id) {
            return self.fail(DisconnectReason::StreamIdReused { stream_id });
        }
        if session.used_streams.push(stream_id).is_err() {
            return self.fail(DisconnectReason::TooManyStreams);
        }
        c.end_session();
        c.registering = false;
        c.stream = Some(Stream {
            id: stream_id,
            sender: Sender::new(&session.keys, Direction::NodeToRelay, stream_id),
        });
        // A first heartbeat tells the relay where this node is; until its
        // echo comes back, probes follow it as they follow a round's: a
        // lost one would leave the relay without this node's address, and
        // the node deaf, until the next round.
        self.heartbeat_us[channel.get()] = self.now.as_micros();
        self.heartbeats_due |= 1 << channel.get();
        self.arm_probe(now);
        self.event(Event::Registered { channel, stream_id });
        // Audio that outran this message opens now.
        self.unpark(now);
    }

    /// Switches every stream to `keys`; the receiver accepts the previous
    /// key for [`KEY_GRACE`]. Datagrams that outran the `rekey` open now.
    fn rekey(&mut self, now: Instant, keys: SessionKeys) {
        let session = self.session.as_mut().expect("checked by the caller");
        if session.receiver.rekey(now, &keys, KEY_GRACE).is_err() {
            return self.fail(DisconnectReason::RekeyRefused);
        }
        session.used_streams.clear();
        for c in &mut self.channels {
            if let Some(stream) = &mut c.stream {
                stream.sender = Sender::new(&keys, Direction::NodeToRelay, stream.id);
                session
                    .used_streams
                    .push(stream.id)
                    .expect("MAX_CHANNELS streams fit");
            }
        }
        let key_id = keys.key_id();
        session.keys = keys;
        self.counters.rekeys += 1;
        self.event(Event::Rekeyed { key_id });
        self.unpark(now);
    }

    pub(super) fn unexpected(&mut self, what: Unexpected) {
        self.counters.signal_unexpected += 1;
        self.event(Event::Unexpected { what });
    }

    /// Writes `text` as JSON to the front of `buf`; returns its length.
    pub(super) fn emit_text(&mut self, text: Text, buf: &mut [u8]) -> usize {
        let channel_id = |channel: ChannelIndex| {
            ChannelId::new(&self.config.channels()[channel.get()].id)
                .expect("channel ids checked in NodeConfig::add_channel")
        };
        let report;
        let message = match text {
            Text::Hello => ToRelay::Hello {
                node_id: NodeId::new(self.config.node_id())
                    .expect("node_id checked in NodeConfig::new"),
                token: Token::new(self.config.token()).expect("token checked in NodeConfig::new"),
                version: PROTOCOL_VERSION,
            },
            Text::Register(channel) => ToRelay::Register {
                channel_id: channel_id(channel),
            },
            Text::Transmit(channel, active) => ToRelay::Transmit {
                channel_id: channel_id(channel),
                active,
            },
            Text::ToneDetected => {
                // Paired with its text in `report_alert`; cleared together.
                report = self
                    .reports
                    .pop_front()
                    .expect("one report waits per Text::ToneDetected queued");
                report.message(channel_id(report.channel()))
            }
            Text::Ping(t) => ToRelay::Ping { t },
            Text::Pong(t) => ToRelay::Pong { t },
        };
        message
            .emit(buf)
            .expect("an OUTPUT_BUF_LEN buffer holds any message a node sends")
    }
}

/// The two directions' keys from a `welcome` or `rekey` secret.
fn session_keys(key: SecretBytes, key_id: KeyId) -> SessionKeys {
    SessionKeys::derive(&Secret::from_bytes(key.into_bytes()), key_id)
}

/// The relay's heartbeat period, within what this node accepts.
fn clamp(heartbeat: Duration) -> Duration {
    if heartbeat < HEARTBEAT_MIN {
        HEARTBEAT_MIN
    } else if heartbeat > HEARTBEAT_MAX {
        HEARTBEAT_MAX
    } else {
        heartbeat
    }
}

/// The key id the relay issues after `key_id` (its issuer counts up).
pub(super) fn next_key_id(key_id: KeyId) -> KeyId {
    KeyId(key_id.0.wrapping_add(1))
}
