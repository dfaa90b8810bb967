//! What the network loop counts: the engine's counters (traffic, every
//! drop by reason, round trips, link changes), published after each turn,
//! and the few drops only the driver sees (a full ring, a refused send).
//! Written by the loop, read by anyone.

use std::fmt;
use std::ops::Deref;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use echostream_core::crypto::OpenErrorKind;
use echostream_core::node::Counters;

/// Live counters, shared with the loop through an `Arc`; read them with
/// [`NetCounters::snapshot`].
#[derive(Debug, Default)]
pub struct NetCounters {
    engine: Mutex<Counters>,
    /// Received frames dropped because the channel's playback ring was full.
    pub drop_incoming_full: AtomicU64,
    /// Datagrams the socket refused to send (buffer full, no route…).
    pub drop_udp_send: AtomicU64,
    /// Signaling messages dropped because the WebSocket write buffer was
    /// full (a slow or stuck relay).
    pub drop_signal_full: AtomicU64,
    /// Events dropped because nobody read them fast enough.
    pub drop_event_queue_full: AtomicU64,
    /// PTT line writes that failed.
    pub ptt_errors: AtomicU64,
    /// Turns the loop has taken (one at least every
    /// [`IDLE_MAX`](echostream_core::node::IDLE_MAX)): the service
    /// watchdog's sign that the thread moves.
    pub turns: AtomicU64,
    /// Passthroughs running now.
    passthroughs: Mutex<Vec<Passthrough>>,
    /// Whether the relay has welcomed this node (signaling up).
    pub welcomed: std::sync::atomic::AtomicBool,
    /// What each channel is doing, in config order.
    live: Mutex<Vec<ChannelLive>>,
}

/// What one channel is doing now, as the engine decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelLive {
    /// Idle, receiving, transmitting, passthrough or locked out.
    pub state: echostream_core::node::ChannelState,
    /// Its COR line, if it has one: open or not.
    pub cor_open: Option<bool>,
    /// Whether its transmitter is keyed.
    pub keyed: bool,
    /// How many sites the relay lists on it (this one included).
    pub users: usize,
}

/// A passthrough running now, for status lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passthrough {
    /// The channel whose audio is routed.
    pub source: String,
    /// The channel carrying it.
    pub target: String,
    /// When it ends, unless a new alert extends it.
    pub ends: std::time::Instant,
}

/// A copy of [`NetCounters`] at one moment. The engine's counters are
/// reached through it (`snapshot.audio_in`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetCountersSnapshot {
    /// The engine's counters.
    pub engine: Counters,
    /// See [`NetCounters::drop_incoming_full`].
    pub drop_incoming_full: u64,
    /// See [`NetCounters::drop_udp_send`].
    pub drop_udp_send: u64,
    /// See [`NetCounters::drop_signal_full`].
    pub drop_signal_full: u64,
    /// See [`NetCounters::drop_event_queue_full`].
    pub drop_event_queue_full: u64,
}

impl NetCounters {
    /// Every counter now.
    pub fn snapshot(&self) -> NetCountersSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetCountersSnapshot {
            engine: self.engine.lock().map(|c| c.clone()).unwrap_or_default(),
            drop_incoming_full: load(&self.drop_incoming_full),
            drop_udp_send: load(&self.drop_udp_send),
            drop_signal_full: load(&self.drop_signal_full),
            drop_event_queue_full: load(&self.drop_event_queue_full),
        }
    }

    /// The passthroughs running now.
    pub fn passthroughs(&self) -> Vec<Passthrough> {
        self.passthroughs
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// What each channel is doing now, in config order.
    pub fn live(&self) -> Vec<ChannelLive> {
        self.live.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Publishes the channels' states (once per loop turn; the lock is
    /// taken only when something changed).
    pub(crate) fn publish_live(&self, now: &[ChannelLive]) {
        if let Ok(mut live) = self.live.lock()
            && live.as_slice() != now
        {
            live.clear();
            live.extend_from_slice(now);
        }
    }

    /// A passthrough started or was extended (`Some(ends)`) or ended.
    pub(crate) fn set_passthrough(
        &self,
        source: &str,
        target: &str,
        ends: Option<std::time::Instant>,
    ) {
        let Ok(mut running) = self.passthroughs.lock() else {
            return;
        };
        running.retain(|p| p.source != source || p.target != target);
        if let Some(ends) = ends {
            running.push(Passthrough {
                source: source.to_owned(),
                target: target.to_owned(),
                ends,
            });
        }
    }

    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Publishes the engine's counters (once per loop turn).
    pub(crate) fn publish(&self, engine: &Counters) {
        if let Ok(mut published) = self.engine.lock()
            && *published != *engine
        {
            published.clone_from(engine);
        }
    }
}

impl Deref for NetCountersSnapshot {
    type Target = Counters;

    fn deref(&self) -> &Counters {
        &self.engine
    }
}

impl NetCountersSnapshot {
    /// Datagrams the receiver refused for `kind`.
    pub fn open(&self, kind: OpenErrorKind) -> u64 {
        self.engine.drop_open[kind.index()]
    }
}

/// `name=value` pairs on one line, for status logs.
impl fmt::Display for NetCountersSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut result = Ok(());
        let mut first = true;
        self.engine.for_each(|name, value| {
            let sep = if first { "" } else { " " };
            first = false;
            if result.is_ok() {
                result = if OpenErrorKind::ALL.iter().any(|k| k.name() == name) {
                    write!(f, "{sep}drop_open_{name}={value}")
                } else {
                    write!(f, "{sep}{name}={value}")
                };
            }
        });
        result?;
        write!(
            f,
            " drop_incoming_full={} drop_udp_send={} drop_signal_full={} drop_event_queue_full={}",
            self.drop_incoming_full,
            self.drop_udp_send,
            self.drop_signal_full,
            self.drop_event_queue_full
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_passthroughs_are_listed_until_they_end() {
        let counters = NetCounters::default();
        let ends = std::time::Instant::now() + std::time::Duration::from_secs(8);
        counters.set_passthrough("pages", "talk", Some(ends));
        let later = ends + std::time::Duration::from_secs(5);
        counters.set_passthrough("pages", "talk", Some(later));
        assert_eq!(
            counters.passthroughs(),
            [Passthrough {
                source: "pages".into(),
                target: "talk".into(),
                ends: later
            }],
            "an extension replaces the end"
        );
        counters.set_passthrough("pages", "talk", None);
        assert!(counters.passthroughs().is_empty());
    }
}
