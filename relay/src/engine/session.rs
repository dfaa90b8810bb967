//! One node's connection: its phase, keys and channel memberships (its
//! output queues are in [`outbox`](super::outbox), by session slot).

use std::net::{IpAddr, SocketAddr};

use echostream_core::crypto::{Direction, Receiver, Sender, SessionKeys};
use echostream_core::time::Instant;
use echostream_core::wire::{KeyId, Seq, StreamId};

use super::config::STREAMS_PER_SESSION_MAX;
use super::grants::{Rights, TokenDigest};
use super::output::ConnId;
use crate::keys::KeyIssuer;

/// Where a session is in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Connected; only `hello` is accepted.
    AwaitingHello,
    /// Welcomed: has a node id and keys.
    Welcomed,
}

/// One (node, channel) stream.
#[derive(Debug)]
pub(super) struct Membership {
    /// The channel's slot in the relay's channel table.
    pub(super) channel: usize,
    pub(super) stream_id: StreamId,
    /// Seals relay-to-node datagrams on this stream.
    pub(super) sender: Sender,
    /// The stream's return address: where its newest valid datagram came
    /// from (see [`Session::return_addr_moves`]).
    pub(super) addr: Option<SocketAddr>,
    /// The key and sequence number of the newest valid datagram seen.
    pub(super) newest: Option<(KeyId, Seq)>,
    /// The token may listen: the channel's audio, ends and pages reach
    /// this stream.
    pub(super) listen: bool,
    /// The token may talk: this stream's audio and pages go to the
    /// channel.
    pub(super) talk: bool,
}

impl Membership {
    /// Records a valid datagram under `key_id` with `seq`; whether it is
    /// the newest the stream has sent. `current_key_id` is the receiver's
    /// current key: senders start `seq` again under each new key, so the
    /// first datagram under a newer key is the newest whatever its `seq`,
    /// and one under the previous key after the current key was seen is
    /// not (it is still open only for the rekey grace period).
    pub(super) fn note_newest(&mut self, key_id: KeyId, seq: Seq, current_key_id: KeyId) -> bool {
        let newest = match self.newest {
            None => true,
            Some((newest_key_id, newest_seq)) if newest_key_id == key_id => seq > newest_seq,
            Some((newest_key_id, _)) => newest_key_id != current_key_id,
        };
        if newest {
            self.newest = Some((key_id, seq));
        }
        newest
    }
}

/// The node's keys once welcomed.
#[derive(Debug)]
pub(super) struct Keys {
    /// Seals relay-to-node datagrams (each membership's sender is made
    /// from it).
    pub(super) current: SessionKeys,
    /// Issued, its `rekey` frame queued and not handed out yet: sealing
    /// switches to it when that frame is (see [`Session::seal_under_next_keys`]).
    pub(super) next: Option<SessionKeys>,
    /// Opens node-to-relay datagrams of every stream of the session.
    pub(super) receiver: Receiver<STREAMS_PER_SESSION_MAX>,
}

#[derive(Debug)]
pub(super) struct Session {
    pub(super) conn: ConnId,
    /// The WebSocket peer's IP, canonical (an IPv4-mapped IPv6 address as
    /// IPv4): return addresses stay on it unless roaming is allowed.
    pub(super) peer_ip: IpAddr,
    pub(super) phase: Phase,
    /// Set by `hello`; empty before.
    pub(super) node_id: String,
    /// What the session's token allows; set by `hello`, `None` before.
    pub(super) rights: Option<Rights>,
    pub(super) issuer: KeyIssuer,
    pub(super) keys: Option<Keys>,
    pub(super) memberships: Vec<Membership>,
    /// The last heartbeat, ping/pong or valid datagram (or the connect).
    pub(super) last_alive: Instant,
    pub(super) malformed: u32,
    /// A sender neared its counter's end; rekey after this input.
    pub(super) rekey_due: bool,
    /// A frame that carries state found no room: close before this
    /// input returns.
    pub(super) state_lost: bool,
}

impl Session {
    pub(super) fn new(conn: ConnId, peer_ip: IpAddr, now: Instant) -> Session {
        Session {
            conn,
            peer_ip: peer_ip.to_canonical(),
            phase: Phase::AwaitingHello,
            node_id: String::new(),
            rights: None,
            issuer: KeyIssuer::new(),
            keys: None,
            memberships: Vec::with_capacity(STREAMS_PER_SESSION_MAX),
            last_alive: now,
            malformed: 0,
            rekey_due: false,
            state_lost: false,
        }
    }

    /// The `rekey` frame announcing the next keys was handed out: every
    /// stream seals under them from now on, starting its sequence numbers
    /// again (a fresh key, so no nonce repeats).
    ///
    /// # Panics
    /// No keys wait (a bug: a `rekey` frame is queued only with them).
    pub(super) fn seal_under_next_keys(&mut self) {
        let keys = self
            .keys
            .as_mut()
            .expect("a rekey frame is queued only for a welcomed session");
        let next = keys
            .next
            .take()
            .expect("a queued rekey frame has its keys waiting");
        for membership in &mut self.memberships {
            membership.sender = Sender::new(&next, Direction::RelayToNode, membership.stream_id);
        }
        keys.current = next;
    }

    /// The digest of the session's token, when it holds a grant.
    pub(super) fn token_digest(&self) -> Option<&TokenDigest> {
        self.rights.as_ref().and_then(Rights::digest)
    }

    pub(super) fn membership(&self, stream_id: StreamId) -> Option<usize> {
        self.memberships
            .iter()
            .position(|m| m.stream_id == stream_id)
    }

    pub(super) fn membership_of_channel(&self, channel: usize) -> Option<usize> {
        self.memberships.iter().position(|m| m.channel == channel)
    }

    /// The address for datagrams on `membership`: its own, else any the
    /// node used (a node usually sends every stream from one socket).
    pub(super) fn addr_for(&self, membership: usize) -> Option<SocketAddr> {
        self.memberships[membership]
            .addr
            .or_else(|| self.memberships.iter().find_map(|m| m.addr))
    }
}
