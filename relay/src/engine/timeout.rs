//! When the relay next has timer work, found without looking at every
//! session and channel.
//!
//! A session's deadline is its last sign of life plus its phase's
//! time-out (the same for every session of a phase), or its last sign of
//! life when a rekey is due; a channel's is its talker's release. Sessions
//! sit in one list per phase in the order they last showed life (every
//! sign of life moves one to the back in O(1)), so the oldest of each
//! phase has that phase's earliest deadline; channels that may have a
//! talker are marked. [`Relay::poll_timeout`] looks at two list heads and
//! the marked channels, and at every session only while a rekey is due
//! (rare). An idle relay with N nodes beating every second does O(1) timer
//! work per heartbeat rather than O(N).

use echostream_core::time::Instant;

use super::Relay;
use super::channel::Channel;
use super::session::{Phase, Session};

/// No slot.
const NIL: u32 = u32::MAX;

/// Session slots in one list per [`Phase`], each in the order its slots
/// last showed life, oldest first: a doubly linked list threaded through
/// arrays allocated at start.
#[derive(Debug)]
pub(super) struct AliveOrder {
    prev: Box<[u32]>,
    next: Box<[u32]>,
    /// Which list a slot is on, if any.
    list: Box<[Option<Phase>]>,
    head: [u32; 2],
    tail: [u32; 2],
}

fn index(phase: Phase) -> usize {
    match phase {
        Phase::AwaitingHello => 0,
        Phase::Welcomed => 1,
    }
}

fn slot(link: u32) -> Option<usize> {
    (link != NIL).then_some(link as usize)
}

impl AliveOrder {
    /// Empty lists for `slots` session slots.
    ///
    /// # Panics
    /// `slots` does not fit the links (`u32`).
    pub(super) fn new(slots: usize) -> AliveOrder {
        assert!(slots < NIL as usize, "session slots fit u32 links");
        AliveOrder {
            prev: vec![NIL; slots].into_boxed_slice(),
            next: vec![NIL; slots].into_boxed_slice(),
            list: vec![None; slots].into_boxed_slice(),
            head: [NIL; 2],
            tail: [NIL; 2],
        }
    }

    /// Takes `slot` off its list, if it is on one.
    pub(super) fn remove(&mut self, slot: usize) {
        let Some(phase) = self.list[slot].take() else {
            return;
        };
        let i = index(phase);
        let (prev, next) = (self.prev[slot], self.next[slot]);
        match prev {
            NIL => self.head[i] = next,
            p => self.next[p as usize] = next,
        }
        match next {
            NIL => self.tail[i] = prev,
            n => self.prev[n as usize] = prev,
        }
        self.prev[slot] = NIL;
        self.next[slot] = NIL;
    }

    /// `slot` showed life just now, in `phase`: the back of that list.
    pub(super) fn touch(&mut self, slot: usize, phase: Phase) {
        self.remove(slot);
        let i = index(phase);
        let link = u32::try_from(slot).expect("checked in new");
        self.prev[slot] = self.tail[i];
        match self.tail[i] {
            NIL => self.head[i] = link,
            t => self.next[t as usize] = link,
        }
        self.tail[i] = link;
        self.list[slot] = Some(phase);
    }

    /// The slot of `phase` that showed life longest ago.
    pub(super) fn oldest(&self, phase: Phase) -> Option<usize> {
        slot(self.head[index(phase)])
    }
}

impl Relay {
    /// The deadline of `session`: its time-out, or at once when its
    /// rekey is due.
    fn session_deadline(&self, session: &Session) -> Instant {
        if session.rekey_due {
            session.last_alive
        } else {
            session.last_alive + self.timeout_of(session)
        }
    }

    /// The session in `slot` showed life (`last_alive` is now) or changed
    /// phase.
    pub(super) fn alive(&mut self, slot: usize) {
        let phase = self.session(slot).phase;
        self.alive_order.touch(slot, phase);
    }

    /// Channel `c` may have taken or lost a talker: marks it for
    /// [`poll_timeout`](Relay::poll_timeout) while it has one.
    pub(super) fn touch_channel(&mut self, c: usize) {
        let talking = self.channels[c]
            .as_ref()
            .is_some_and(|ch| ch.release_deadline().is_some());
        let bit = 1u64 << (c % 64);
        if talking {
            self.talking[c / 64] |= bit;
        } else {
            self.talking[c / 64] &= !bit;
        }
    }

    /// The channels that may have a talker (every one that has).
    fn talking(&self) -> impl Iterator<Item = usize> + '_ {
        self.talking.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                let bit = (rest != 0).then(|| rest.trailing_zeros() as usize)?;
                rest &= rest - 1;
                Some(i * 64 + bit)
            })
        })
    }

    /// The earliest deadline: the oldest session of each phase, sessions
    /// whose rekey is due, channels with a talker.
    pub(super) fn earliest_deadline(&self) -> Option<Instant> {
        let oldest = [Phase::AwaitingHello, Phase::Welcomed]
            .into_iter()
            .filter_map(|phase| self.alive_order.oldest(phase))
            .map(|slot| self.session_deadline(self.session(slot)));
        // `out.rekey_due` is set whenever a session's is, until the rekeys
        // run: a scan only then.
        let rekeys = self
            .sessions
            .iter()
            .take(if self.out.rekey_due {
                self.sessions.len()
            } else {
                0
            })
            .flatten()
            .filter(|s| s.rekey_due)
            .map(|s| s.last_alive);
        let talkers = self
            .talking()
            .filter_map(|c| self.channels[c].as_ref()?.release_deadline());
        let at = oldest.chain(rekeys).chain(talkers).min();
        debug_assert_eq!(at, self.scan_timeout(), "the kept order finds the earliest");
        at
    }

    /// The earliest deadline by looking at every session and channel
    /// (what [`earliest_deadline`](Self::earliest_deadline) must agree
    /// with).
    fn scan_timeout(&self) -> Option<Instant> {
        let sessions = self
            .sessions
            .iter()
            .flatten()
            .map(|s| self.session_deadline(s));
        let talkers = self
            .channels
            .iter()
            .flatten()
            .filter_map(Channel::release_deadline);
        sessions.chain(talkers).min()
    }
}

#[cfg(test)]
mod tests {
    use super::{AliveOrder, Phase};

    fn walk(order: &AliveOrder, phase: Phase) -> Vec<usize> {
        let mut found = Vec::new();
        let mut at = order.oldest(phase);
        while let Some(slot) = at {
            found.push(slot);
            at = super::slot(order.next[slot]);
        }
        found
    }

    #[test]
    fn touching_moves_a_slot_to_the_back_of_its_phase() {
        let mut order = AliveOrder::new(8);
        assert_eq!(order.oldest(Phase::Welcomed), None);
        for slot in [3, 1, 5] {
            order.touch(slot, Phase::AwaitingHello);
        }
        assert_eq!(walk(&order, Phase::AwaitingHello), [3, 1, 5]);
        order.touch(3, Phase::AwaitingHello);
        assert_eq!(walk(&order, Phase::AwaitingHello), [1, 5, 3]);
        order.touch(5, Phase::Welcomed);
        order.touch(1, Phase::Welcomed);
        assert_eq!(walk(&order, Phase::AwaitingHello), [3]);
        assert_eq!(walk(&order, Phase::Welcomed), [5, 1]);
        order.remove(5);
        order.remove(5);
        assert_eq!(walk(&order, Phase::Welcomed), [1]);
        order.remove(1);
        order.remove(3);
        assert_eq!(order.oldest(Phase::Welcomed), None);
        assert_eq!(order.oldest(Phase::AwaitingHello), None);
        order.touch(7, Phase::Welcomed);
        assert_eq!(walk(&order, Phase::Welcomed), [7]);
    }
}
