//! What the network loop counts: traffic, every drop by reason, heartbeat
//! round trips and link changes. Written by the loop, read by anyone.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use echostream_core::crypto::OpenErrorKind;

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// Live counters, shared with the loop through an `Arc`; read them
        /// with [`NetCounters::snapshot`]. Monotonic except `rtt_last_us`.
        #[derive(Debug, Default)]
        pub struct NetCounters {
            $( $(#[$doc])* pub $name: AtomicU64, )*
            /// Datagrams the receiver refused, indexed by
            /// [`OpenErrorKind::index`] (forged, duplicate, too old,
            /// unknown key…).
            pub drop_open: [AtomicU64; OpenErrorKind::COUNT],
        }

        /// A copy of [`NetCounters`] at one moment.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct NetCountersSnapshot {
            $( $(#[$doc])* pub $name: u64, )*
            /// Datagrams the receiver refused, indexed by
            /// [`OpenErrorKind::index`].
            pub drop_open: [u64; OpenErrorKind::COUNT],
        }

        impl NetCounters {
            /// Every counter now (each read on its own; relaxed).
            pub fn snapshot(&self) -> NetCountersSnapshot {
                NetCountersSnapshot {
                    $( $name: self.$name.load(Ordering::Relaxed), )*
                    drop_open: std::array::from_fn(|i| self.drop_open[i].load(Ordering::Relaxed)),
                }
            }
        }

        /// `name=value` pairs on one line, for status logs.
        impl fmt::Display for NetCountersSnapshot {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut first = true;
                $(
                    if !first {
                        f.write_str(" ")?;
                    }
                    first = false;
                    write!(f, "{}={}", stringify!($name), self.$name)?;
                )*
                let _ = first;
                for kind in OpenErrorKind::ALL {
                    write!(f, " drop_open_{}={}", kind.name(), self.open(kind))?;
                }
                Ok(())
            }
        }
    };
}

counters! {
    /// UDP datagrams received (any content).
    datagrams_in,
    /// UDP datagrams sent (audio, end of transmission, heartbeats).
    datagrams_out,
    /// Audio frames received, opened and handed to a channel.
    audio_in,
    /// Audio frames sealed and sent.
    audio_out,
    /// End-of-transmission markers received and handed to a channel.
    eot_in,
    /// End-of-transmission markers sealed and sent.
    eot_out,
    /// Heartbeats sent (one per registered channel per period).
    heartbeats_sent,
    /// Heartbeat echoes received.
    heartbeats_echoed,
    /// The last heartbeat round trip, in µs (a gauge).
    rtt_last_us,
    /// The longest heartbeat round trip seen, in µs.
    rtt_max_us,
    /// Times the UDP path went silent while signaling was up.
    path_lost,
    /// Connections lost or refused (each schedules a reconnect).
    reconnects,
    /// Welcomes received (sessions started).
    sessions,
    /// Key changes applied (`rekey`).
    rekeys,
    /// Datagrams that are not a v1 datagram we speak (length, version,
    /// kind, flags).
    drop_malformed,
    /// Datagrams on a stream id none of this node's channels holds.
    drop_unknown_stream,
    /// Datagrams that arrived before a welcome (no key to open them).
    drop_not_welcomed,
    /// Datagrams that arrived under a key before its `rekey` message and
    /// were held until it came (not a drop: they are opened then, or
    /// counted under `drop_open` unknown key if it never comes).
    datagrams_parked,
    /// Opened datagrams of a kind the relay does not send (heartbeat).
    drop_unexpected_kind,
    /// Received frames dropped because the channel's incoming ring was full.
    drop_incoming_full,
    /// Captured frames dropped because the channel was not registered
    /// (no relay, or still connecting).
    drop_not_registered,
    /// Captured frames or heartbeats that could not be sealed (counter
    /// exhausted: a reconnect follows).
    drop_seal,
    /// Datagrams the socket refused to send (buffer full, no route…).
    drop_udp_send,
    /// Signaling messages dropped because the WebSocket write buffer was
    /// full (a slow or stuck relay).
    drop_signal_full,
    /// Events dropped because nobody read them fast enough.
    drop_events,
    /// Signaling messages received.
    signal_in,
    /// Signaling messages sent.
    signal_out,
    /// Signaling messages of a type this node does not know (ignored).
    signal_unknown_type,
    /// Signaling messages that did not parse, and binary frames (ignored).
    signal_malformed,
    /// Valid messages out of place (a second welcome, a registration for a
    /// channel not asked for, a rekey before the welcome).
    signal_unexpected,
}

impl NetCounters {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a datagram the receiver refused.
    pub(crate) fn open_refused(&self, kind: OpenErrorKind) {
        NetCounters::bump(&self.drop_open[kind.index()]);
    }

    /// Records one heartbeat round trip.
    pub(crate) fn rtt(&self, rtt_us: u64) {
        self.rtt_last_us.store(rtt_us, Ordering::Relaxed);
        self.rtt_max_us.fetch_max(rtt_us, Ordering::Relaxed);
    }
}

impl NetCountersSnapshot {
    /// Datagrams the receiver refused for `kind`.
    pub fn open(&self, kind: OpenErrorKind) -> u64 {
        self.drop_open[kind.index()]
    }
}
