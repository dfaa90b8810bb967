//! The UDP side: captured frames sealed and sent, datagrams opened and
//! routed to their channel, heartbeats and the path check.
//!
//! Every registered channel is one stream (DESIGN.md "Wire format v1"):
//! the node seals with one [`Sender`] per stream under the session key and
//! opens everything the relay sends with one [`Receiver`]. The relay
//! re-seals a talker's audio under each listener's own stream id, so a
//! datagram's stream id names the channel it belongs to. The relay learns
//! this node's UDP address from its datagrams, so each stream sends a
//! heartbeat as soon as it is registered.
//!
//! Talk-spurts are announced with `transmit`: `active:true` with the first
//! audio frame, `active:false` [`TRANSMIT_END_DELAY`] after the
//! end-of-transmission datagram. The relay releases the channel on either,
//! and drops an end-of-transmission from a stream that no longer holds it;
//! as WebSocket and UDP race, an immediate `active:false` would often win
//! and the listeners would never get the end marker. Delayed, it only
//! matters when the end marker was lost.
//!
//! Nothing here blocks: a socket that refuses a datagram drops it and
//! counts; a full incoming ring drops and counts; effects that need the
//! WebSocket or the event queue are handed back as [`Effect`]s. The
//! receive path is in `receive.rs`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use echostream_core::MAX_CHANNELS;
use echostream_core::crypto::{Direction, Receiver, SealError, Sender, SessionKeys};
use echostream_core::time::Instant as CoreInstant;
use echostream_core::wire::{Flags, HEADER_LEN, Kind, MAX_DATAGRAM_LEN, MediaTimestamp, StreamId};
use mio::net::UdpSocket;

use super::counters::NetCounters;
use super::event::NetEvent;
use super::receive::Parked;
use super::seq_map::SeqMap;
use crate::audio::pipeline::EncodedFrame;

/// Heartbeat rounds without any echo before the path counts as lost.
pub const PATH_LOST_HEARTBEATS: u32 = 3;

/// How long datagrams sealed under the previous key still open after a
/// `rekey` (the relay switches at once; this covers what is in flight).
pub const KEY_GRACE: Duration = Duration::from_secs(5);

/// How long after an end-of-transmission datagram `transmit
/// active:false` follows (see the module docs).
pub const TRANSMIT_END_DELAY: Duration = Duration::from_millis(250);

/// Frames taken from one channel's ring per loop turn: more than a ring
/// holds, so one turn empties it.
const SEND_BUDGET: usize = 2 * crate::audio::pipeline::FRAME_RING_FRAMES;

/// What the loop must do for the media side.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Send `transmit` for channel `channel` (an index).
    Transmit { channel: usize, active: bool },
    /// Report this.
    Event(NetEvent),
    /// The session cannot go on (sequence numbers used up): reconnect.
    Reconnect(String),
}

/// One channel's rings and, while registered, its stream.
pub(crate) struct ChannelIo {
    pub(super) id: String,
    outgoing: rtrb::Consumer<EncodedFrame>,
    pub(super) incoming: rtrb::Producer<EncodedFrame>,
    pub(super) stream: Option<Stream>,
    pub(super) seq_map: SeqMap,
}

impl std::fmt::Debug for ChannelIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelIo")
            .field("id", &self.id)
            .field("stream", &self.stream.as_ref().map(|s| s.stream_id))
            .finish_non_exhaustive()
    }
}

/// A registered channel's stream.
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) stream_id: StreamId,
    sender: Sender,
    /// In a talk-spurt: `transmit active:true` was sent for it.
    transmitting: bool,
    /// When the `transmit active:false` of the last talk-spurt is due.
    release_at: Option<Instant>,
}

/// The UDP half of a welcomed session.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) relay: SocketAddr,
    keys: SessionKeys,
    pub(super) receiver: Receiver<MAX_CHANNELS>,
    heartbeat: Duration,
    next_round_at: Instant,
    /// The send time (µs) of the last round, and whether its echo was reported.
    pub(super) round_sent_us: u64,
    pub(super) round_reported: bool,
    pub(super) rounds_unanswered: u32,
    pub(super) last_echo_at: Instant,
    pub(super) path_lost: bool,
}

/// The UDP socket, the channels and the session's keys.
pub(crate) struct Media {
    pub(super) socket: Option<UdpSocket>,
    token: mio::Token,
    pub(super) channels: Vec<ChannelIo>,
    pub(super) session: Option<Session>,
    pub(super) buf: Box<[u8; MAX_DATAGRAM_LEN + 1]>,
    pub(super) counters: Arc<NetCounters>,
    epoch: Instant,
    pub(super) effects: Vec<Effect>,
    /// Datagrams under a key not announced yet.
    pub(super) parked: Parked,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("channels", &self.channels)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Media {
    /// The media side for `channels` (id, capture ring, playback ring).
    /// Times are measured from `epoch`.
    pub(crate) fn new(
        channels: Vec<(
            String,
            rtrb::Consumer<EncodedFrame>,
            rtrb::Producer<EncodedFrame>,
        )>,
        token: mio::Token,
        counters: Arc<NetCounters>,
        epoch: Instant,
    ) -> Media {
        let channels = channels
            .into_iter()
            .map(|(id, outgoing, incoming)| ChannelIo {
                id,
                outgoing,
                incoming,
                stream: None,
                seq_map: SeqMap::new(),
            })
            .collect();
        Media {
            socket: None,
            token,
            channels,
            session: None,
            buf: Box::new([0; MAX_DATAGRAM_LEN + 1]),
            counters,
            epoch,
            effects: Vec::new(),
            parked: Parked::new(),
        }
    }

    /// Swaps the effects produced since the last call into `into` (which
    /// must be empty), so both vectors keep their capacity.
    pub(crate) fn swap_effects(&mut self, into: &mut Vec<Effect>) {
        debug_assert!(into.is_empty(), "effects are drained before the swap");
        std::mem::swap(&mut self.effects, into);
    }

    /// Starts the UDP half of a session: binds a socket of `relay`'s
    /// family if there is none yet, and keys a fresh receiver. Returns the
    /// local address.
    ///
    /// # Errors
    /// The socket cannot be bound or registered.
    pub(crate) fn begin_session(
        &mut self,
        registry: &mio::Registry,
        now: Instant,
        relay: SocketAddr,
        keys: SessionKeys,
        heartbeat: Duration,
    ) -> io::Result<SocketAddr> {
        let reuse = self
            .socket
            .as_ref()
            .and_then(|s| s.local_addr().ok())
            .is_some_and(|local| local.is_ipv4() == relay.is_ipv4());
        if !reuse {
            if let Some(mut old) = self.socket.take() {
                let _ = registry.deregister(&mut old);
            }
            let any: SocketAddr = if relay.is_ipv4() {
                (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let mut socket = UdpSocket::bind(any)?;
            registry.register(&mut socket, self.token, mio::Interest::READABLE)?;
            self.socket = Some(socket);
        }
        let local = self
            .socket
            .as_ref()
            .expect("bound just above")
            .local_addr()?;
        for channel in &mut self.channels {
            channel.stream = None;
            channel.seq_map.new_session();
        }
        self.session = Some(Session {
            relay,
            receiver: Receiver::new(&keys, Direction::RelayToNode),
            keys,
            heartbeat,
            next_round_at: now + heartbeat,
            round_sent_us: 0,
            round_reported: true,
            rounds_unanswered: 0,
            last_echo_at: now,
            path_lost: false,
        });
        Ok(local)
    }

    /// Forgets the session (the link went down). The socket stays.
    pub(crate) fn end_session(&mut self) {
        self.session = None;
        for channel in &mut self.channels {
            channel.stream = None;
        }
        self.parked.clear(&self.counters);
    }

    /// Whether a session is running.
    pub(crate) fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// The channel named `channel_id` got `stream_id`: its frames flow from
    /// now on, and a first heartbeat tells the relay where this node is.
    /// Returns false (nothing changed) for an unknown channel or a stream
    /// id another channel holds.
    pub(crate) fn register(&mut self, now: Instant, channel_id: &str, stream_id: StreamId) -> bool {
        let Some(session) = &self.session else {
            return false;
        };
        let Some(index) = self.channels.iter().position(|c| c.id == channel_id) else {
            return false;
        };
        let taken_elsewhere = self.channels.iter().enumerate().any(|(i, c)| {
            i != index && c.stream.as_ref().is_some_and(|s| s.stream_id == stream_id)
        });
        if taken_elsewhere {
            return false;
        }
        let channel = &mut self.channels[index];
        let same = channel
            .stream
            .as_ref()
            .is_some_and(|s| s.stream_id == stream_id);
        if !same {
            // One sender per (key, stream): a second would reuse nonces.
            channel.stream = Some(Stream {
                stream_id,
                sender: Sender::new(&session.keys, Direction::NodeToRelay, stream_id),
                transmitting: false,
                release_at: None,
            });
        }
        let now_us = self.micros(now);
        self.heartbeat(index, now_us);
        true
    }

    /// Switches every stream's sender to `keys` and lets the receiver
    /// accept the previous key for [`KEY_GRACE`].
    ///
    /// # Errors
    /// The receiver refused the key id (it is in use): the session must
    /// start over.
    pub(crate) fn rekey(&mut self, now: Instant, keys: SessionKeys) -> Result<(), String> {
        let core_now = self.core_now(now);
        let Some(session) = &mut self.session else {
            return Err("rekey before welcome".into());
        };
        let grace = echostream_core::time::Duration::from_micros(KEY_GRACE.as_micros() as u64);
        session
            .receiver
            .rekey(core_now, &keys, grace)
            .map_err(|e| format!("the relay's new key was refused: {e}"))?;
        for channel in &mut self.channels {
            if let Some(stream) = &mut channel.stream {
                stream.sender = Sender::new(&keys, Direction::NodeToRelay, stream.stream_id);
            }
        }
        session.keys = keys;
        // Datagrams that outran the rekey message open now.
        self.unpark(now);
        Ok(())
    }

    /// When [`Media::tick`] has work next.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let releases = self
            .channels
            .iter()
            .filter_map(|c| c.stream.as_ref().and_then(|s| s.release_at));
        self.session
            .as_ref()
            .map(|s| s.next_round_at)
            .into_iter()
            .chain(releases)
            .chain(self.parked.deadline())
            .min()
    }

    /// Due `transmit active:false`s, parked datagrams that waited too
    /// long, heartbeat rounds and the path check.
    pub(crate) fn tick(&mut self, now: Instant) {
        for (index, channel) in self.channels.iter_mut().enumerate() {
            if let Some(stream) = &mut channel.stream
                && stream.release_at.is_some_and(|at| now >= at)
            {
                stream.release_at = None;
                self.effects.push(Effect::Transmit {
                    channel: index,
                    active: false,
                });
            }
        }
        self.parked.expire(now, &self.counters);
        let Some(session) = &mut self.session else {
            return;
        };
        if now < session.next_round_at {
            return;
        }
        session.next_round_at = (session.next_round_at + session.heartbeat).max(now);
        if !self.channels.iter().any(|c| c.stream.is_some()) {
            return;
        }
        if session.rounds_unanswered >= PATH_LOST_HEARTBEATS && !session.path_lost {
            session.path_lost = true;
            NetCounters::bump(&self.counters.path_lost);
            let silent_for = now.saturating_duration_since(session.last_echo_at);
            log::warn!(
                "no heartbeat echo from the relay's UDP address {} for {} ms while signaling is up: \
                 audio is not getting through (is UDP blocked by a firewall or NAT?)",
                session.relay,
                silent_for.as_millis()
            );
            self.effects.push(Effect::Event(NetEvent::PathLost {
                relay_udp: session.relay,
                silent_for,
            }));
        }
        session.rounds_unanswered = session.rounds_unanswered.saturating_add(1);
        let now_us = self.micros(now);
        let session = self.session.as_mut().expect("checked at the top");
        session.round_sent_us = now_us;
        session.round_reported = false;
        for index in 0..self.channels.len() {
            self.heartbeat(index, now_us);
        }
    }

    /// Takes every frame the capture side queued: sealed and sent when the
    /// channel is registered, else dropped and counted.
    pub(crate) fn send_captured(&mut self, now: Instant) {
        for index in 0..self.channels.len() {
            for _ in 0..SEND_BUDGET {
                let Ok(frame) = self.channels[index].outgoing.pop() else {
                    break;
                };
                self.send_frame(now, index, &frame);
            }
        }
    }

    fn send_frame(&mut self, now: Instant, index: usize, frame: &EncodedFrame) {
        let registered = self.session.is_some() && self.channels[index].stream.is_some();
        let Some(payload) = frame.bytes.get(..usize::from(frame.len)) else {
            NetCounters::bump(&self.counters.drop_seal);
            return;
        };
        if !registered {
            NetCounters::bump(&self.counters.drop_not_registered);
            return;
        }
        let eot = frame.is_end_of_transmission();
        let stream = self.channels[index]
            .stream
            .as_mut()
            .expect("checked registered above");
        match (eot, stream.transmitting) {
            (false, false) => {
                stream.transmitting = true;
                // A new talk-spurt: the last one's release is moot.
                stream.release_at = None;
                self.effects.push(Effect::Transmit {
                    channel: index,
                    active: true,
                });
            }
            (true, true) => {
                stream.transmitting = false;
                stream.release_at = Some(now + TRANSMIT_END_DELAY);
            }
            _ => {}
        }
        let (kind, flags) = if eot {
            (Kind::EndOfTransmission, Flags::NONE)
        } else {
            (Kind::Audio, frame.flags)
        };
        if self.seal_and_send(index, kind, flags, frame.timestamp, payload) {
            let counter = if eot {
                &self.counters.eot_out
            } else {
                &self.counters.audio_out
            };
            NetCounters::bump(counter);
        }
    }

    fn heartbeat(&mut self, index: usize, now_us: u64) {
        if self.channels[index].stream.is_none() {
            return;
        }
        let payload = now_us.to_be_bytes();
        if self.seal_and_send(
            index,
            Kind::Heartbeat,
            Flags::NONE,
            MediaTimestamp(0),
            &payload,
        ) {
            NetCounters::bump(&self.counters.heartbeats_sent);
        }
    }

    /// Seals `payload` on channel `index`'s stream and sends it to the
    /// relay. Returns whether the socket took it.
    fn seal_and_send(
        &mut self,
        index: usize,
        kind: Kind,
        flags: Flags,
        timestamp: MediaTimestamp,
        payload: &[u8],
    ) -> bool {
        let (Some(session), Some(socket)) = (&self.session, &self.socket) else {
            return false;
        };
        let Some(stream) = self.channels[index].stream.as_mut() else {
            return false;
        };
        let buf = &mut self.buf[..];
        buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
        let len = match stream
            .sender
            .seal(kind, flags, timestamp, payload.len(), buf)
        {
            Ok(len) => len,
            Err(error) => {
                NetCounters::bump(&self.counters.drop_seal);
                if error == SealError::SequenceExhausted {
                    self.effects.push(Effect::Reconnect(format!(
                        "{} on channel {}: a new session brings a new key",
                        error, self.channels[index].id
                    )));
                }
                return false;
            }
        };
        match socket.send_to(&buf[..len], session.relay) {
            Ok(_) => {
                NetCounters::bump(&self.counters.datagrams_out);
                true
            }
            Err(error) => {
                NetCounters::bump(&self.counters.drop_udp_send);
                log::debug!("UDP send to {} failed: {error}", session.relay);
                false
            }
        }
    }

    pub(crate) fn micros(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_micros() as u64
    }

    pub(crate) fn core_now(&self, now: Instant) -> CoreInstant {
        CoreInstant::from_micros(self.micros(now))
    }
}
