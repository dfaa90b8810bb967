//! What the relay counts: sessions, traffic, and every drop by reason.

use echostream_core::crypto::OpenErrorKind;

/// Monotonic counters (and one gauge, `sessions_active`), read with
/// [`Relay::counters`](super::Relay::counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Sessions held now (welcomed or waiting for `hello`).
    pub sessions_active: u64,
    /// Sessions welcomed since start.
    pub sessions_welcomed: u64,
    /// Sessions closed by the relay for any reason.
    pub sessions_closed: u64,
    /// Sessions closed because a frame that carries state (`registered`,
    /// `transmit`, `rekey`, `users_connected`, `error`) found their queue
    /// or the text store full ([`CloseReason::QueueFull`](super::CloseReason::QueueFull));
    /// also counted in `sessions_closed`.
    pub sessions_closed_queue_full: u64,
    /// `users_connected` frames that replaced an older one for the same
    /// channel still queued for a session (only the newest list counts).
    pub users_connected_coalesced: u64,
    /// `hello`s refused because `limits.sessions_max` sessions were
    /// welcomed.
    pub sessions_refused_full: u64,
    /// Connections refused because `limits.pending_max` waited for
    /// `hello` already.
    pub sessions_refused_pending_full: u64,
    /// Connections refused because `limits.pending_per_ip_max` from their
    /// IP waited for `hello` already.
    pub sessions_refused_per_ip: u64,
    /// Connections waiting for `hello` closed to make room for a newer one
    /// from an IP holding fewer of the pending pool.
    pub sessions_evicted_pending: u64,
    /// Connections closed for a first frame that was not a valid `hello`.
    pub sessions_refused_not_hello: u64,
    /// `hello`s with a refused token.
    pub auth_failures: u64,
    /// `hello`s whose token is not for their `node_id`, or whose node is
    /// connected with another token (refused; the real session is
    /// untouched).
    pub auth_wrong_node: u64,
    /// `hello`s and `register`s refused by their token's own `sessions`
    /// or `channels` limit.
    pub token_limits: u64,
    /// `register`s on a channel the token may neither listen to nor talk
    /// on (refused).
    pub register_forbidden: u64,
    /// Sessions closed because their token was removed or changed when
    /// the tokens were reloaded.
    pub sessions_closed_revoked: u64,
    /// Text frames received.
    pub texts_in: u64,
    /// Text frames handed to the driver.
    pub texts_out: u64,
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams handed to the driver.
    pub datagrams_out: u64,
    /// Audio datagrams accepted from the channel's talker.
    pub audio_in: u64,
    /// End-of-transmission datagrams accepted from the channel's talker
    /// (passed on, channel released).
    pub eot_in: u64,
    /// Talkers released without their own end-of-transmission (by
    /// `transmit: false`, the silence time-out or their session's end),
    /// whose listeners were each sent one in its place: one per release,
    /// however many listeners (each copy a full queue refused is counted
    /// in [`Drops`]).
    pub eot_made: u64,
    /// Heartbeats answered.
    pub heartbeats: u64,
    /// Messages of a type the relay does not receive (ignored).
    pub signal_unknown_type: u64,
    /// Messages that did not parse (ignored, then closed after the limit).
    pub signal_malformed: u64,
    /// Frames over the length limit (closed).
    pub signal_too_long: u64,
    /// Valid messages out of place (a second `hello`, `transmit` for a
    /// channel not joined) or refused by a limit (`register` beyond a
    /// capacity); answered with `error`.
    pub signal_refused: u64,
    /// `tone_detected` reports from a node on a channel it registered,
    /// passed on to the channel's other members (each copy a recipient's
    /// full queue refused is counted in [`Drops`]).
    pub tone_reports: u64,
    /// `tone_detected` reports for a channel the node has not registered
    /// (ignored).
    pub tone_reports_unregistered: u64,
    /// `tone_detected` reports on a channel the node's token may only
    /// listen to (ignored).
    pub tone_reports_forbidden: u64,
    /// Text frames from a connection the relay does not hold.
    pub texts_unknown_conn: u64,
    /// Key changes sent.
    pub rekeys: u64,
    /// Key changes that could not be made (random source, key id clash).
    pub rekey_failures: u64,
    /// Channels released after [`TALKER_SILENCE_TIMEOUT`](super::TALKER_SILENCE_TIMEOUT)
    /// without audio.
    pub talker_timeouts: u64,
    /// Talkers cut for fewer than `talk_audio_min` audio datagrams in the
    /// [`TALKER_SILENCE_TIMEOUT`](super::TALKER_SILENCE_TIMEOUT) up to
    /// their latest: a trickle that only holds the channel.
    pub talker_trickles: u64,
    /// Talkers cut after holding the channel for `max_talk_s`.
    pub talk_time_limits: u64,
    /// Channels released by their talker's `transmit: false` before its
    /// end-of-transmission came.
    pub transmit_releases: u64,
    /// Return addresses moved to another address (a node's NAT mapping
    /// or port changed, or it roamed when allowed).
    pub return_addr_moves: u64,
    /// Valid datagrams from another address that did not move the return
    /// address because a newer one of the stream was seen already (a late
    /// datagram, or one replayed from elsewhere).
    pub return_addr_kept_not_newest: u64,
    /// Valid, newest datagrams that did not move the return address
    /// because they came from an IP other than the session's WebSocket
    /// peer and roaming is not allowed.
    pub return_addr_kept_foreign_ip: u64,
    /// Datagram drops by reason.
    pub drops: Drops,
}

/// Why datagrams and frames were dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drops {
    /// Too short or a header the wire format refuses (before any lookup).
    pub malformed: u64,
    /// A stream id no session holds.
    pub unknown_stream: u64,
    /// Refused by the session's `Receiver`, indexed by
    /// [`OpenErrorKind::index`] (forged, duplicate, too old, unknown key…).
    pub open: [u64; OpenErrorKind::COUNT],
    /// A kind nodes do not send (heartbeat echo).
    pub unexpected_kind: u64,
    /// Audio or end-of-transmission from a stream that does not hold the
    /// channel.
    pub not_talker: u64,
    /// Audio from a stream the relay cut that has not ended its
    /// transmission yet.
    pub locked_out: u64,
    /// Audio on a channel the stream's token may only listen to.
    pub no_talk_right: u64,
    /// A recipient whose UDP address is not known yet.
    pub no_address: u64,
    /// A recipient's sender could not seal (counter exhausted).
    pub seal_failed: u64,
    /// A recipient's datagram queue was full.
    pub datagram_queue_full: u64,
    /// A datagram for one recipient found every byte of
    /// `limits.queued_payload_bytes_max` taken by payloads still queued.
    pub payload_store_full: u64,
    /// A connection's text queue was full: a droppable frame (`pong`,
    /// `tone_detected`) dropped, or a state frame whose session was then
    /// closed.
    pub text_queue_full: u64,
    /// A text frame for one connection found every byte of
    /// `limits.queued_text_bytes_max` taken by frames still queued.
    pub text_store_full: u64,
    /// The close queue was full.
    pub control_queue_full: u64,
}

impl Drops {
    /// Datagrams the receiver refused for `kind`.
    pub fn open(&self, kind: OpenErrorKind) -> u64 {
        self.open[kind.index()]
    }
}
