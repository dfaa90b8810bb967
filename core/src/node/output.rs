//! What the engine hands the driver, and what the driver feeds it.

use core::net::SocketAddr;

use crate::crypto::OpenErrorKind;
use crate::record::Effect as RecordEffect;
use crate::time::{Instant, SampleIndex};
use crate::wire::signal::{MAX_HOST_LEN, MAX_TO_RELAY_LEN};
use crate::wire::{Flags, MAX_DATAGRAM_LEN, MediaTimestamp, Seq};

use super::{ChannelIndex, Event};

/// The least a buffer lent to [`Node::poll_output`](super::Node::poll_output)
/// holds: any datagram, text frame or host name the engine writes.
pub const OUTPUT_BUF_LEN: usize = max(max(MAX_DATAGRAM_LEN, MAX_TO_RELAY_LEN), MAX_HOST_LEN);

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// One frame the capture side made, or the end of its audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Captured<'a> {
    /// One encoded Opus frame.
    Frame {
        /// The media time of its first sample (48 kHz units).
        timestamp: MediaTimestamp,
        /// The packet carries in-band FEC.
        fec: bool,
        /// The Opus packet.
        payload: &'a [u8],
        /// Whether the channel's own audio sources call it active (VOX
        /// open, or a channel set to "always").
        active: bool,
        /// The device frame just past the audio heard so far (the
        /// channel's media clock, as its tone events use it).
        reached: SampleIndex,
        /// The frame's level, dBFS (recordings stop on silence by it).
        level_dbfs: i16,
    },
    /// A frame that was not coded (nobody wanted the channel's packets):
    /// its marks, as [`Captured::Frame`] has them, without a packet. Its
    /// packet may follow as [`Captured::Late`].
    Uncoded {
        /// The media time of its first sample (48 kHz units).
        timestamp: MediaTimestamp,
        /// As [`Captured::Frame`]'s.
        active: bool,
        /// As [`Captured::Frame`]'s.
        reached: SampleIndex,
        /// As [`Captured::Frame`]'s.
        level_dbfs: i16,
    },
    /// The packet of a frame handed over as [`Captured::Uncoded`] before
    /// (coded from the capture side's backlog once packets were wanted: the
    /// pre-roll). Late packets come in media order, before any newer frame.
    Late {
        /// The media time of its first sample (48 kHz units).
        timestamp: MediaTimestamp,
        /// The packet carries in-band FEC.
        fec: bool,
        /// The Opus packet.
        payload: &'a [u8],
    },
    /// The capture side stopped (its input ended, the node stops): an open
    /// talk-spurt ends here. `timestamp` is the media time the next frame
    /// would have had.
    End {
        /// Media time of the end.
        timestamp: MediaTimestamp,
    },
}

/// A frame received for a channel, for its playback side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Its media sequence number: continuous across keys and sessions,
    /// with heartbeat echoes taken out (what the jitter buffer wants).
    pub seq: Seq,
    /// Its media timestamp.
    pub timestamp: MediaTimestamp,
    /// Its flags.
    pub flags: Flags,
    /// An end of transmission (no payload).
    pub end: bool,
    /// When its datagram arrived.
    pub arrived: Instant,
    /// Bytes of the payload in the lent buffer.
    pub len: usize,
}

/// One effect for the driver, from [`Node::poll_output`](super::Node::poll_output).
/// Where bytes go with it, they are at the front of the buffer lent to
/// that call.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "core does not allocate: an event travels inline, and outputs are drained one at a time"
)]
pub enum Output {
    /// Start connecting to the relay's signaling URL now; report
    /// [`handle_connected`](super::Node::handle_connected) or
    /// [`handle_disconnected`](super::Node::handle_disconnected).
    Connect,
    /// Close the signaling link now (a close frame, best effort, never
    /// waiting). The engine already counts the link as down.
    Disconnect,
    /// Send `buf[..len]` as one WebSocket text frame.
    SendText {
        /// Its length.
        len: usize,
    },
    /// Resolve the host in `buf[..host_len]`, open a UDP socket of its
    /// family and report [`handle_media_ready`](super::Node::handle_media_ready)
    /// with the relay's address (or `handle_disconnected`).
    OpenMedia {
        /// Length of the host name or IP literal.
        host_len: usize,
        /// The relay's UDP port.
        port: u16,
    },
    /// Send `buf[..len]` as one UDP datagram to `to`.
    SendDatagram {
        /// The relay's UDP address.
        to: SocketAddr,
        /// Its length.
        len: usize,
    },
    /// Hand a received frame (payload in `buf[..frame.len]`) to a
    /// channel's playback side.
    Deliver {
        /// The channel.
        channel: ChannelIndex,
        /// The frame.
        frame: Received,
    },
    /// Start or stop writing a recording of `channel`'s audio, or name an
    /// alert it belongs to (see [`record`](crate::record)).
    Record {
        /// The channel.
        channel: ChannelIndex,
        /// What to do.
        effect: RecordEffect,
    },
    /// Set `channel`'s PTT line: keyed (active) or not. Set it at once;
    /// the engine's TX delay counts from here.
    Ptt {
        /// The channel.
        channel: ChannelIndex,
        /// Keyed.
        keyed: bool,
    },
    /// Report this.
    Event(Event),
}

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// What the engine counted. Monotonic except `rtt_last_us`.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Counters {
            $( $(#[$doc])* pub $name: u64, )*
            /// Datagrams the receiver refused, by [`OpenErrorKind::index`].
            pub drop_open: [u64; OpenErrorKind::COUNT],
        }

        impl Counters {
            /// Every counter as `(name, value)`, `drop_open` last, by kind.
            pub fn for_each(&self, mut f: impl FnMut(&'static str, u64)) {
                $( f(stringify!($name), self.$name); )*
                for kind in OpenErrorKind::ALL {
                    f(kind.name(), self.drop_open[kind.index()]);
                }
            }
        }
    };
}

counters! {
    /// UDP datagrams received (any content).
    datagrams_in,
    /// UDP datagrams handed out to send (audio, end of transmission, heartbeats).
    datagrams_out,
    /// Audio frames received, opened and handed to a channel.
    audio_in,
    /// Audio frames sealed.
    audio_out,
    /// End-of-transmission markers received and handed to a channel.
    eot_in,
    /// End-of-transmission markers sealed.
    eot_out,
    /// Heartbeats sealed (one per registered channel per round).
    heartbeats_sent,
    /// Heartbeat echoes received.
    heartbeats_echoed,
    /// The last heartbeat round trip, in µs (a gauge).
    rtt_last_us,
    /// The longest heartbeat round trip seen, in µs.
    rtt_max_us,
    /// Times the UDP path went silent while signaling was up.
    path_lost,
    /// Links lost or given up (each schedules a reconnect).
    reconnects,
    /// Welcomes received (sessions started).
    sessions,
    /// Key changes applied (`rekey`).
    rekeys,
    /// Datagrams that are not a v1 datagram (length, version, kind, flags).
    drop_malformed,
    /// Datagrams on a stream id none of this node's channels holds.
    drop_unknown_stream,
    /// Datagrams that arrived with no session (no key to open them).
    drop_not_welcomed,
    /// Datagrams under the relay's next key, held until its `rekey`
    /// arrived (not a drop: they open then, or count as unknown key).
    datagrams_parked,
    /// Opened datagrams of a kind the relay does not send (heartbeat).
    drop_unexpected_kind,
    /// Received frames dropped because the delivery queue was full (the
    /// driver did not drain).
    drop_deliveries_full,
    /// Captured frames dropped because the channel was not registered
    /// (no relay, or still connecting).
    drop_not_registered,
    /// Captured frames the channel could not keep (too long, or no room
    /// while earlier frames waited to be sent).
    drop_captured,
    /// Frames or heartbeats that could not be sealed.
    drop_seal,
    /// Signaling messages dropped because the engine's text queue was full.
    drop_text_queue_full,
    /// Page reports ([`Node::report_alert`](super::Node::report_alert))
    /// not sent because their channel was not registered (no session, or
    /// still registering) or the link went down before they went out: the
    /// other sites never heard of those pages.
    tone_reports_unsent,
    /// Page reports not sent because a tone id or alert type breaks
    /// signaling's label rules (empty, too long, characters refused).
    tone_reports_invalid,
    /// Page reports dropped because the report queue was full (the driver
    /// did not drain).
    drop_tone_reports_full,
    /// Events dropped because the driver did not drain them.
    drop_events,
    /// Recording effects dropped because the driver did not drain them.
    drop_record_effects,
    /// Page alerts (detections of a channel's definitions).
    alerts,
    /// Frames for playback dropped while waiting for the transmitter (too
    /// long to hold, more than a second of them, or unkeyed before they
    /// could play: time-out, lock-out, a busy receiver).
    drop_held,
    /// Frames routed to a passthrough target.
    passthrough_frames,
    /// Captured packets coded late, from the capture side's backlog: the
    /// pre-roll of a channel that was not coding until it was wanted.
    late_packets,
    /// Signaling messages received.
    signal_in,
    /// Signaling messages handed out to send.
    signal_out,
    /// Signaling messages of a type this node does not know (ignored).
    signal_unknown_type,
    /// Signaling messages that did not parse, and binary frames (ignored).
    signal_malformed,
    /// Valid messages out of place (ignored).
    signal_unexpected,
}
