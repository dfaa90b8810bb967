//! The relay's status on request: the HTTP thread asks, the loop answers
//! at its next turn with a snapshot of its channels, sessions and
//! counters. Nothing is copied while nobody asks, so an idle relay with
//! no scraper pays nothing, and the loop never waits on the HTTP thread.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use super::ServerCounters;
use crate::engine::Relay;

/// What the relay is doing, as `/status` shows it.
#[derive(Debug, Clone)]
pub struct RelayStatus {
    /// The relay's version.
    pub version: &'static str,
    /// Seconds since the server started.
    pub uptime_s: u64,
    /// Welcomed sessions (connected nodes), in slot order.
    pub sessions: Vec<SessionStatus>,
    /// Open channels, in slot order.
    pub channels: Vec<ChannelStatus>,
    /// Every counter, as the stats log lines carry them.
    pub counters: ServerCounters,
}

/// A connected node.
#[derive(Debug, Clone, Serialize)]
pub struct SessionStatus {
    /// Its node id.
    pub node_id: String,
    /// The IP its WebSocket comes from.
    pub peer_ip: IpAddr,
    /// Channels it registered.
    pub channels: usize,
    /// Milliseconds since its last heartbeat, ping or valid datagram.
    pub quiet_ms: u64,
}

/// An open channel.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelStatus {
    /// Its id.
    pub id: String,
    /// The node ids of its members, in join order.
    pub members: Vec<String>,
    /// The node holding it now.
    pub talker: Option<String>,
    /// Milliseconds since the talker took it.
    pub talking_ms: Option<u64>,
    /// Members locked out after a talk-time limit.
    pub locked_out: usize,
}

impl RelayStatus {
    /// The engine's tables and `counters` now.
    pub(super) fn take(
        relay: &Relay,
        now: echostream_core::time::Instant,
        counters: ServerCounters,
    ) -> RelayStatus {
        RelayStatus {
            version: env!("CARGO_PKG_VERSION"),
            uptime_s: now.as_millis() / 1000,
            sessions: relay
                .session_views(now)
                .into_iter()
                .map(|s| SessionStatus {
                    node_id: s.node_id.to_owned(),
                    peer_ip: s.peer_ip,
                    channels: s.channels,
                    quiet_ms: s.quiet_for.as_millis(),
                })
                .collect(),
            channels: relay
                .channel_views(now)
                .into_iter()
                .map(|c| ChannelStatus {
                    id: c.id.to_owned(),
                    members: c.members.iter().map(|m| (*m).to_owned()).collect(),
                    talker: c.talker.map(|t| t.node_id.to_owned()),
                    talking_ms: c.talker.map(|t| t.talking_for.as_millis()),
                    locked_out: c.locked_out,
                })
                .collect(),
            counters,
        }
    }

    /// Channels someone is talking on.
    pub fn talkers(&self) -> usize {
        self.channels.iter().filter(|c| c.talker.is_some()).count()
    }

    /// The drop counters, `(reason, count)`: every counter of the engine
    /// and the server that stands for something refused or lost.
    pub fn drops(&self) -> Vec<(&'static str, u64)> {
        self.counters
            .fields()
            .into_iter()
            .filter_map(|(name, value)| Some((drop_reason(name)?, value)))
            .collect()
    }
}

/// The reason a counter named `name` counts, when it counts drops.
fn drop_reason(name: &'static str) -> Option<&'static str> {
    if let Some(reason) = name.strip_prefix("drop_") {
        return Some(reason);
    }
    const SERVER_DROPS: [&str; 6] = [
        "ws_binary",
        "ws_queue_full",
        "ws_unroutable",
        "udp_oversize",
        "udp_send_full",
        "udp_send_errors",
    ];
    SERVER_DROPS.contains(&name).then_some(name)
}

/// Where the HTTP thread and the loop meet.
#[derive(Debug, Default)]
pub(super) struct Desk {
    /// Set by a reader; the loop clears it and answers.
    wanted: AtomicBool,
    /// The answers so far and the latest one.
    latest: Mutex<(u64, Option<Arc<RelayStatus>>)>,
    answered: Condvar,
}

impl Desk {
    /// Whether a reader waits for an answer (clears the request). Read
    /// first, swapped only when set: the loop asks every turn, and a
    /// plain load writes nothing to the shared line.
    pub(super) fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed) && self.wanted.swap(false, Ordering::Relaxed)
    }

    /// Hands `status` to whoever waits.
    pub(super) fn answer(&self, status: RelayStatus) {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        latest.0 += 1;
        latest.1 = Some(Arc::new(status));
        self.answered.notify_all();
    }
}

/// Asks a running server for its status; cheap to clone, for an HTTP
/// thread. From [`Server::status_source`](super::Server::status_source).
#[derive(Debug, Clone)]
pub struct StatusSource {
    pub(super) desk: Arc<Desk>,
    pub(super) waker: Arc<mio::Waker>,
}

impl StatusSource {
    /// The status as of the loop's next turn, or `None` if the loop did
    /// not answer within `wait` (stopped, or wedged).
    pub fn fetch(&self, wait: Duration) -> Option<Arc<RelayStatus>> {
        let latest = self
            .desk
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let asked_at = latest.0;
        self.desk.wanted.store(true, Ordering::Relaxed);
        // Failing, the loop still answers within its longest sleep.
        let _ = self.waker.wake();
        let (latest, _) = self
            .desk
            .answered
            .wait_timeout_while(latest, wait, |l| l.0 == asked_at)
            .unwrap_or_else(PoisonError::into_inner);
        if latest.0 == asked_at {
            None
        } else {
            latest.1.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_the_drop_counters_and_the_servers_losses() {
        let mut counters = ServerCounters::default();
        counters.relay.drops.malformed = 4;
        counters.udp_send_full = 2;
        counters.conn_accepted = 9;
        let status = RelayStatus {
            version: "0",
            uptime_s: 0,
            sessions: Vec::new(),
            channels: Vec::new(),
            counters,
        };
        let drops = status.drops();
        assert!(drops.contains(&("malformed", 4)), "{drops:?}");
        assert!(drops.contains(&("udp_send_full", 2)), "{drops:?}");
        assert!(drops.iter().all(|(name, _)| *name != "conn_accepted"));
    }
}
