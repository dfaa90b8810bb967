//! The sans-IO relay core: sessions, channels, talker arbitration and
//! audio fan-out, with no sockets, threads or clock reads.
//!
//! # Driving it
//!
//! The driver (the mio server, the simulator, a test) owns the sockets and
//! the clock. It feeds every input through a `handle_*` call with the
//! current time, then drains [`Relay::poll_output`] until it returns
//! `None`, and calls [`Relay::handle_timeout`] no later than
//! [`Relay::poll_timeout`] says. The driver lends `poll_output` one
//! buffer of at least [`MAX_OUTPUT_LEN`] bytes; each [`Output`]'s bytes
//! are the first `len` of it, to be sent (or copied) before the next call
//! writes over them. Inputs:
//!
//! - [`handle_connect`](Relay::handle_connect) when a WebSocket opens,
//!   [`handle_text`](Relay::handle_text) per text frame,
//!   [`handle_disconnect`](Relay::handle_disconnect) when it closes;
//! - [`handle_datagram`](Relay::handle_datagram) per UDP datagram (the
//!   buffer is decrypted in place);
//! - [`rekey`](Relay::rekey) to give a session a new key on demand.
//!
//! # Talkers
//!
//! The first stream to send audio on a channel holds it (DESIGN.md,
//! "Signaling v1") until its end-of-transmission, its `transmit: false`,
//! its session's end, or until the relay cuts it: after
//! [`TALKER_SILENCE_TIMEOUT`] (3 s) without audio; `max_talk_s` (default
//! 180 s) after it took the channel; or, once it has held the channel for
//! 3 s, at an audio datagram that is not one of at least
//! `talk_audio_min` (default 6) in the 3 s up to it: a trickle that
//! only keeps the silence timer from firing (one datagram every 2.5 s is
//! cut at its third, 5 s after the take; any real stream, Opus DTX
//! included, sends more). A cut stream is locked out (its audio dropped
//! and counted) until it ends its transmission (end-of-transmission or
//! `transmit: false`) or is silent for [`TALKER_SILENCE_TIMEOUT`], like a
//! radio's time-out timer waiting for PTT release; others may take the
//! channel meanwhile. Every
//! other member is told with `transmit active:false`, and each listener
//! gets exactly one end-of-transmission datagram per transmission: the
//! talker's own, passed on; or, when the channel was released any other
//! way, one the relay makes in its place (sealed like any datagram, under
//! the listener's stream with its next sequence number, timed one packet
//! after the talker's last audio), so that a listener's jitter buffer and
//! its radio's PTT end at once rather than at a stall. A talker's own end
//! arriving after that is dropped as not the talker's.
//!
//! # Limits
//!
//! Every table and queue has a fixed capacity ([`Limits`]), allocated
//! when the relay is made. Outputs queue per connection (text) and per
//! node (datagrams), so one node's flood fills only its recipients'
//! queues. A datagram that does not fit is dropped and counted in
//! [`Counters::drops`]. Frames are never lost silently: a frame that
//! carries state (`welcome`, `registered`, `transmit`, `rekey`, `error`)
//! that finds no room in its session's queue or the text store closes
//! the session ([`CloseReason::QueueFull`], counted), before the input
//! returns, so the node reconnects to a fresh state instead of living on
//! a wrong one. `users_connected` replaces the one still queued for the
//! same channel (only the newest list counts). `pong` and
//! `tone_detected` may be dropped (counted): they get only half of a
//! session's queue and three quarters of the text store, so state keeps
//! room. [`Output::SendText`] says which frames a driver may drop. A queue holds a small descriptor per output; the
//! bytes are stored once however many members they go to (a frame for a
//! channel, a payload fanned out), in two stores of
//! `queued_text_bytes_max` and `queued_payload_bytes_max` bytes. Nothing
//! is allocated per frame or datagram.
//!
//! `poll_output` serves connections round robin. It seals each datagram
//! as it hands it out, under the recipient's stream, so sequence numbers
//! follow each stream's queue order and a datagram dropped from a full
//! queue uses none. A session's new key seals its datagrams from the
//! moment its `rekey` frame is handed out, not before: in `poll_output`'s
//! order a node always gets `rekey` before any datagram under that key
//! (the network may still reorder them; a node holds such a datagram
//! briefly). A `rekey` that finds no room in the queues is not issued,
//! and its session is closed.
//! When a sender nears the end of its sequence numbers at poll time,
//! `poll_timeout` turns due at once and `handle_timeout` (or the next
//! input) sends the new key.

pub mod admission;
mod channel;
mod close;
mod config;
mod counters;
pub mod grants;
mod media;
mod members;
mod outbox;
mod output;
mod rekey;
mod reload;
mod session;
mod signaling;
mod store;
mod timeout;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use echostream_core::time::{Duration, Instant};
use echostream_core::wire::StreamId;

pub use self::admission::{AcceptRate, Admit, Refusal};
pub use self::config::{
    ConfigError, HEARTBEAT_MS_DEFAULT, HEARTBEATS_MISSED_MAX, Limits, MAX_TALK_S_DEFAULT,
    RelayConfig, STREAMS_PER_SESSION_MAX, TALK_AUDIO_MIN_DEFAULT, TALK_AUDIO_MIN_MAX,
    TALKER_SILENCE_TIMEOUT, TokenPolicy,
};
pub use self::counters::{Counters, Drops};
pub use self::output::{CloseReason, ConnId, MAX_OUTPUT_LEN, Output};

use self::channel::Channel;
use self::members::error_message;
use self::outbox::Outputs;
use self::session::{Phase, Session};
use self::timeout::AliveOrder;

/// Error codes the relay sends in `error` messages (HTTP-like).
pub mod error_code {
    /// A message did not parse.
    pub const MALFORMED: u16 = 400;
    /// The token was refused, or a message came before `hello`.
    pub const UNAUTHORIZED: u16 = 401;
    /// The token does not allow it: `hello` as another node, or
    /// `register` on a channel the token may neither listen to nor talk on.
    pub const FORBIDDEN: u16 = 403;
    /// A valid message out of place (second `hello`, channel not joined),
    /// or a node already connected with another token.
    pub const CONFLICT: u16 = 409;
    /// A frame over the length limit.
    pub const TOO_LONG: u16 = 413;
    /// The node's protocol version is not spoken.
    pub const VERSION: u16 = 426;
    /// A capacity was reached (channels per node, members per channel,
    /// the token's own sessions or channels),
    /// or the node read too slowly to be kept in step (then closed).
    pub const LIMIT: u16 = 429;
    /// The relay failed (its random source).
    pub const INTERNAL: u16 = 500;
    /// Every session or channel slot is taken.
    pub const FULL: u16 = 503;
}

/// Why [`Relay::rekey`] did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RekeyRefused {
    /// No session on that connection.
    UnknownConn,
    /// The session has not been welcomed, so it has no key to replace.
    NotWelcomed,
    /// The key source failed or the new key id clashed (the old key
    /// stays; the driver may ask again); counted.
    Failed,
    /// The `rekey` frame found no room in the session's queue or the text
    /// store: the session is closed ([`CloseReason::QueueFull`]), since
    /// a node that cannot be told its key soon has dead audio; counted.
    QueueFull,
}

impl fmt::Display for RekeyRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RekeyRefused::UnknownConn => "no session on that connection",
            RekeyRefused::NotWelcomed => "the session has no key yet",
            RekeyRefused::Failed => "no new key could be issued",
            RekeyRefused::QueueFull => "no room for the rekey: session closed",
        })
    }
}

impl std::error::Error for RekeyRefused {}

/// A channel as [`Relay::channel_views`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelView<'a> {
    /// The channel's id.
    pub id: &'a str,
    /// The node ids of its members, in join order.
    pub members: Vec<&'a str>,
    /// Who holds it now, if anyone.
    pub talker: Option<TalkerView<'a>>,
    /// Members locked out after a talk-time limit, not yet released.
    pub locked_out: usize,
}

/// The node holding a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TalkerView<'a> {
    /// Its node id.
    pub node_id: &'a str,
    /// Since it took the channel.
    pub talking_for: Duration,
}

/// A welcomed session as [`Relay::session_views`] shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView<'a> {
    /// The node id it said `hello` with.
    pub node_id: &'a str,
    /// The IP its WebSocket comes from.
    pub peer_ip: IpAddr,
    /// Channels it registered.
    pub channels: usize,
    /// Since its last heartbeat, ping or valid datagram.
    pub quiet_for: Duration,
}

/// The relay's state machine. See the [module docs](self) for the drain
/// contract.
#[derive(Debug)]
pub struct Relay {
    config: RelayConfig,
    sessions: Vec<Option<Session>>,
    channels: Vec<Option<Channel>>,
    /// Which session slot holds each stream.
    streams: HashMap<StreamId, usize>,
    /// Which session slot holds each connection.
    by_conn: HashMap<ConnId, usize>,
    /// Sessions by phase, in the order they last showed life (see
    /// `timeout`).
    alive_order: AliveOrder,
    /// A bit per channel slot that may have a talker (every one that has).
    talking: Vec<u64>,
    /// Some session has `state_lost` set: `close_lost` has work.
    state_lost_any: bool,
    next_stream_id: u32,
    /// What waits to be sent.
    out: Outputs,
    counters: Counters,
}

impl Relay {
    /// A relay with empty tables sized from `config.limits`.
    ///
    /// # Errors
    /// A field of `config` out of range.
    pub fn new(config: RelayConfig) -> Result<Relay, ConfigError> {
        config.validate()?;
        let limits = config.limits;
        Ok(Relay {
            sessions: (0..limits.slots()).map(|_| None).collect(),
            channels: (0..limits.channels_max).map(|_| None).collect(),
            streams: HashMap::with_capacity(limits.sessions_max * STREAMS_PER_SESSION_MAX),
            by_conn: HashMap::with_capacity(limits.slots()),
            alive_order: AliveOrder::new(limits.slots()),
            talking: vec![0; limits.channels_max.div_ceil(64)],
            state_lost_any: false,
            next_stream_id: 1,
            out: Outputs::new(&limits),
            counters: Counters::default(),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// A WebSocket connection opened from `peer` (its IP bounds where the
    /// session's streams may send from, see
    /// [`RelayConfig::allow_roaming`]). It must say `hello` within
    /// `limits.hello_timeout_ms`, as its first frame. It is closed at once
    /// when `limits.pending_per_ip_max` connections from its IP wait for
    /// `hello` already, or when `limits.pending_max` do and none can be
    /// evicted (see [`admission::check_pool`]): those never take the room
    /// of welcomed sessions (`limits.sessions_max`).
    pub fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: IpAddr) {
        if self.slot_of(conn).is_some() {
            // The driver reused a live id: treat it as a new connection.
            self.handle_disconnect(now, conn);
        }
        let peer = peer.to_canonical();
        let pending = self
            .sessions
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| Some((slot, s.as_ref()?)))
            .filter(|(_, s)| s.phase == Phase::AwaitingHello)
            .map(|(slot, s)| (slot, s.peer_ip, s.last_alive));
        match admission::check_pool(&self.config.limits, peer, pending) {
            Ok(Admit::Room) => {}
            Ok(Admit::Evict(slot)) => {
                self.counters.sessions_evicted_pending += 1;
                self.close(
                    slot,
                    CloseReason::RelayFull,
                    Some((error_code::FULL, "relay busy: say hello sooner")),
                );
            }
            Err(refusal) => {
                match refusal {
                    Refusal::PerIp => self.counters.sessions_refused_per_ip += 1,
                    _ => self.counters.sessions_refused_pending_full += 1,
                }
                let error = error_message(error_code::FULL, "relay full");
                let drops = &mut self.counters.drops;
                self.out.push_error(conn, &error, drops);
                self.out.push_close(conn, CloseReason::RelayFull, drops);
                self.close_lost();
                return;
            }
        }
        let slot =
            self.sessions.iter().position(Option::is_none).expect(
                "slots = sessions_max + pending_max, and hello keeps welcomed <= sessions_max",
            );
        self.sessions[slot] = Some(Session::new(conn, peer, now));
        self.by_conn.insert(conn, slot);
        self.counters.sessions_active += 1;
        self.alive(slot);
        self.close_lost();
    }

    /// The connection closed (by the peer or after a `Close`). Its
    /// channels are told the new member lists. Unknown ids are ignored.
    pub fn handle_disconnect(&mut self, _now: Instant, conn: ConnId) {
        if let Some(slot) = self.slot_of(conn) {
            self.remove_session(slot);
        }
        self.close_lost();
    }

    /// Releases silent talkers (their listeners get an end-of-transmission
    /// in their place), closes silent sessions and makes due rekeys. Call
    /// at or after [`poll_timeout`](Self::poll_timeout); early or extra
    /// calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        for c in 0..self.channels.len() {
            let released = self.channels[c].as_mut().and_then(|ch| ch.expire(now));
            if let Some((talker, cut)) = released {
                self.cut(c, &talker, cut);
            }
        }
        for slot in 0..self.sessions.len() {
            let expired = self.sessions[slot]
                .as_ref()
                .is_some_and(|s| now >= s.last_alive + self.timeout_of(s));
            if expired {
                self.close(slot, CloseReason::Timeout, None);
            }
        }
        self.run_due_rekeys(now);
        self.close_lost();
        for c in 0..self.channels.len() {
            self.touch_channel(c);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work: the
    /// earliest talker release or session time-out, or at once when a
    /// sender ran low on sequence numbers while `poll_output` sealed.
    /// Looks at no more than the oldest session of each phase and the
    /// channels with a talker (see `timeout`).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.earliest_deadline()
    }

    /// The next effect, its bytes written to the start of `buf`; `None`
    /// when there is nothing to do. Closes (and their error frames)
    /// first, then one frame or datagram per connection in turn, a
    /// connection's frames before its node's datagrams. Datagrams are
    /// sealed here.
    ///
    /// # Panics
    /// `buf` is shorter than [`MAX_OUTPUT_LEN`].
    pub fn poll_output(&mut self, buf: &mut [u8]) -> Option<Output> {
        assert!(
            buf.len() >= MAX_OUTPUT_LEN,
            "poll_output needs a buffer of MAX_OUTPUT_LEN bytes, was lent {}",
            buf.len()
        );
        let output = self
            .out
            .pop(&mut self.sessions, buf, &mut self.counters.drops)?;
        match output {
            Output::SendText { .. } => self.counters.texts_out += 1,
            Output::SendDatagram { .. } => self.counters.datagrams_out += 1,
            Output::Close { .. } => {}
        }
        Some(output)
    }

    /// Issues the session on `conn` a new key now: queues `rekey`, opens
    /// the node's datagrams under either key from now on (the old one for
    /// `key_grace_ms`), and seals under the new key once `poll_output` has
    /// handed out the `rekey` frame. While a `rekey` waits to be handed
    /// out, another call issues nothing and succeeds: that key is the
    /// newest.
    ///
    /// # Errors
    /// See [`RekeyRefused`].
    pub fn rekey(&mut self, now: Instant, conn: ConnId) -> Result<(), RekeyRefused> {
        let slot = self.slot_of(conn).ok_or(RekeyRefused::UnknownConn)?;
        let result = self.rekey_slot(now, slot);
        self.close_lost();
        result
    }

    /// The node id a connection said `hello` with, once welcomed (for
    /// logs and status pages).
    pub fn node_id(&self, conn: ConnId) -> Option<&str> {
        self.slot_of(conn)
            .map(|slot| self.session(slot))
            .filter(|s| s.phase == Phase::Welcomed)
            .map(|s| s.node_id.as_str())
    }

    /// The fingerprint of the token a welcomed connection said `hello`
    /// with (`None` for a relay accepting any token), for logs.
    pub fn token_fingerprint(&self, conn: ConnId) -> Option<grants::Fingerprint> {
        self.slot_of(conn)
            .map(|slot| self.session(slot))
            .filter(|s| s.phase == Phase::Welcomed)
            .and_then(|s| s.rights.as_ref()?.fingerprint())
    }

    /// The node ids of a channel's members, in join order (for status
    /// pages and tests).
    pub fn members(&self, channel_id: &str) -> Vec<&str> {
        self.channel_slot(channel_id)
            .and_then(|c| self.channels[c].as_ref())
            .map(|ch| {
                ch.members
                    .iter()
                    .filter_map(|m| self.sessions[m.session].as_ref())
                    .map(|s| s.node_id.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every open channel as a status page shows it, in slot order.
    pub fn channel_views(&self, now: Instant) -> Vec<ChannelView<'_>> {
        let node_of = |member: &channel::Member| {
            self.sessions[member.session]
                .as_ref()
                .map_or("", |s| s.node_id.as_str())
        };
        self.channels
            .iter()
            .flatten()
            .map(|ch| ChannelView {
                id: &ch.id,
                members: ch.members.iter().map(node_of).collect(),
                talker: ch.talker.as_ref().map(|t| TalkerView {
                    node_id: node_of(&t.member),
                    talking_for: now.saturating_duration_since(t.taken_at),
                }),
                locked_out: ch.locked_out_count(),
            })
            .collect()
    }

    /// Every welcomed session as a status page shows it, in slot order.
    pub fn session_views(&self, now: Instant) -> Vec<SessionView<'_>> {
        self.sessions
            .iter()
            .flatten()
            .filter(|s| s.phase == Phase::Welcomed)
            .map(|s| SessionView {
                node_id: &s.node_id,
                peer_ip: s.peer_ip,
                channels: s.memberships.len(),
                quiet_for: now.saturating_duration_since(s.last_alive),
            })
            .collect()
    }

    /// How long `session` may go without a sign of life: until `hello`
    /// (counted from the connect), the hello time-out.
    fn timeout_of(&self, session: &Session) -> Duration {
        match session.phase {
            Phase::AwaitingHello => {
                Duration::from_millis(u64::from(self.config.limits.hello_timeout_ms))
            }
            Phase::Welcomed => self.config.session_timeout(),
        }
    }

    /// Welcomed sessions held now.
    fn welcomed(&self) -> usize {
        let welcomed = |s: &&Session| s.phase == Phase::Welcomed;
        self.sessions.iter().flatten().filter(welcomed).count()
    }

    fn slot_of(&self, conn: ConnId) -> Option<usize> {
        self.by_conn.get(&conn).copied()
    }

    fn channel_slot(&self, channel_id: &str) -> Option<usize> {
        self.channels
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.id == channel_id))
    }

    fn session(&self, slot: usize) -> &Session {
        live(&self.sessions, slot)
    }

    fn session_mut(&mut self, slot: usize) -> &mut Session {
        self.sessions[slot]
            .as_mut()
            .expect("slots in channel and stream tables are live sessions")
    }

    /// A fresh stream id no live stream uses (never 0).
    fn allocate_stream_id(&mut self) -> StreamId {
        loop {
            let id = StreamId(self.next_stream_id);
            self.next_stream_id = self.next_stream_id.wrapping_add(1).max(1);
            // At most sessions × streams ids are live, far fewer than 2^32,
            // so this ends.
            if !self.streams.contains_key(&id) {
                return id;
            }
        }
    }
}

/// The session in `slot`, for callers that borrow other fields of the
/// relay at the same time.
fn live(sessions: &[Option<Session>], slot: usize) -> &Session {
    sessions[slot]
        .as_ref()
        .expect("slots in channel and stream tables are live sessions")
}
