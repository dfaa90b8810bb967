//! Datagrams that outran their signaling: the relay seals under a new key
//! from the moment it hands out `rekey`, and fans audio out on a stream as
//! soon as it sends `registered`; as WebSocket and UDP race (and a
//! WebSocket write may wait in the relay's queue), a datagram may arrive
//! before that message. Such
//! a datagram waits here for it, bounded in number ([`PARKED_MAX`]) and
//! age ([`PARKED_AGE_MAX`]).
//!
//! Only datagrams from the relay's own address are held, and only under
//! the key id the relay issues next, or on an unknown stream under the
//! current key while a registration is outstanding: anything else is
//! refused at once, so a stranger cannot fill this queue.

use core::net::SocketAddr;

use heapless::Deque;

use crate::time::{Duration, Instant};
use crate::wire::MAX_DATAGRAM_LEN;

/// Datagrams held for a key not announced yet; more are refused (counted
/// as unknown key). A 20 ms stream needs one or two.
pub const PARKED_MAX: usize = 16;

/// How long a held datagram waits for its key. A key announced by
/// datagrams but never by `rekey` means the session is broken: the engine
/// reconnects when this runs out.
pub const PARKED_AGE_MAX: Duration = Duration::from_millis(500);

/// What a held datagram waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Awaiting {
    /// The `rekey` announcing its key.
    Key,
    /// The `registered` naming its stream.
    Stream,
}

/// One held datagram.
#[derive(Debug)]
pub(crate) struct ParkedDatagram {
    pub(crate) awaiting: Awaiting,
    pub(crate) arrived: Instant,
    pub(crate) from: SocketAddr,
    pub(crate) len: usize,
    pub(crate) bytes: [u8; MAX_DATAGRAM_LEN],
}

/// Held datagrams, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Parked {
    datagrams: Deque<ParkedDatagram, PARKED_MAX>,
}

impl Parked {
    /// Holds a copy of `datagram`; false (nothing held) when full or too long.
    pub(crate) fn park(
        &mut self,
        awaiting: Awaiting,
        arrived: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        if self.datagrams.is_full() || datagram.len() > MAX_DATAGRAM_LEN {
            return false;
        }
        let mut held = ParkedDatagram {
            awaiting,
            arrived,
            from,
            len: datagram.len(),
            bytes: [0; MAX_DATAGRAM_LEN],
        };
        held.bytes[..datagram.len()].copy_from_slice(datagram);
        self.datagrams
            .push_back(held)
            .expect("checked not full above");
        true
    }

    /// The oldest held datagram.
    pub(crate) fn pop(&mut self) -> Option<ParkedDatagram> {
        self.datagrams.pop_front()
    }

    /// The oldest held datagram if it waited [`PARKED_AGE_MAX`] by `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<ParkedDatagram> {
        if self.deadline().is_some_and(|deadline| deadline <= now) {
            self.datagrams.pop_front()
        } else {
            None
        }
    }

    /// How many are held.
    pub(crate) fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// When the oldest held datagram gives up.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.datagrams.front().map(|d| d.arrived + PARKED_AGE_MAX)
    }
}
