//! Which id each QoS 1 publish carries, from the request to its PUBACK.
//!
//! rumqttc's `publish` returns no handle. What it does give, in order:
//! `Outgoing::Publish(pkid)` when a request is written, in the order the
//! requests were made; `Outgoing::AwaitAck(pkid)` instead when that packet
//! id is still in flight (a broker acking out of order), the publish then
//! being written with `Outgoing::Publish(pkid)` right after the PUBACK that
//! frees it; and `Incoming::PubAck(pkid)`. Packet ids are reused (rumqttc
//! counts 1 to its `inflight` setting and wraps). So: requests wait in a
//! FIFO, move to a table indexed by packet id when written, and leave it
//! with their PUBACK. Sans-IO: fed with those events, no clock.

use std::collections::VecDeque;

/// Publishes the link makes for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Own {
    /// `online` / `offline` on the status topic.
    Status,
    /// The Home Assistant discovery message.
    Discovery,
}

/// Who a publish belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The caller's publish with this id.
    Caller(u64),
    /// One of the link's own.
    Own(Own),
}

/// Events that matched nothing, by kind: each is a bug here or in
/// rumqttc, counted rather than trusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mismatches {
    /// A publish was written with nothing requested.
    pub written_unrequested: u64,
    /// A publish was written on a packet id still in use.
    pub pkid_in_use: u64,
    /// A PUBACK for a packet id with nothing in flight.
    pub ack_unknown: u64,
}

/// The publishes between request and PUBACK.
#[derive(Debug)]
pub struct Tracker {
    /// Handed to rumqttc, not yet written, in request order.
    queued: VecDeque<Slot>,
    queued_max: usize,
    /// Written and awaiting PUBACK, indexed by packet id (0 unused).
    sent: Vec<Option<Slot>>,
    /// Taken from `queued` but held back by rumqttc on a packet id
    /// collision; written once that id is acknowledged.
    held: Option<(u16, Slot)>,
    /// Slots that an event that matched nothing pushed out of place; kept
    /// so that [`Tracker::clear`] still reports their ids.
    orphans: Vec<Slot>,
    /// Caller ids anywhere in the table.
    callers: usize,
    mismatches: Mismatches,
}

impl Tracker {
    /// A table for at most `queued_max` requests waiting to be written and
    /// packet ids 1 to `pkid_max`. Allocates here only.
    pub fn new(queued_max: usize, pkid_max: u16) -> Tracker {
        Tracker {
            queued: VecDeque::with_capacity(queued_max),
            queued_max,
            sent: vec![None; usize::from(pkid_max) + 1],
            held: None,
            orphans: Vec::with_capacity(4),
            callers: 0,
            mismatches: Mismatches::default(),
        }
    }

    /// Caller ids requested and not yet acknowledged.
    pub fn callers(&self) -> usize {
        self.callers
    }

    /// What matched nothing so far.
    pub fn mismatches(&self) -> Mismatches {
        self.mismatches
    }

    /// How many events matched nothing so far. Once it grows the table no
    /// longer follows rumqttc: the link drops the connection, which
    /// [`Tracker::clear`]s both.
    pub fn mismatch_count(&self) -> u64 {
        let m = self.mismatches;
        m.written_unrequested + m.pkid_in_use + m.ack_unknown
    }

    /// Whether `slot` is anywhere between request and PUBACK.
    pub fn contains(&self, slot: Slot) -> bool {
        self.queued.contains(&slot)
            || self.sent.contains(&Some(slot))
            || self.held.is_some_and(|(_, held)| held == slot)
            || self.orphans.contains(&slot)
    }

    /// Whether `slot` is requested and not yet written.
    pub fn is_queued(&self, slot: Slot) -> bool {
        self.queued.contains(&slot)
    }

    /// A publish was just handed to rumqttc.
    ///
    /// # Errors
    /// The FIFO is full; the slot comes back.
    pub fn queue(&mut self, slot: Slot) -> Result<(), Slot> {
        if self.queued.len() >= self.queued_max {
            return Err(slot);
        }
        self.queued.push_back(slot);
        if let Slot::Caller(_) = slot {
            self.callers += 1;
        }
        Ok(())
    }

    /// Takes back the request just queued, which rumqttc refused.
    pub fn unqueue_last(&mut self) -> Option<Slot> {
        let slot = self.queued.pop_back()?;
        if let Slot::Caller(_) = slot {
            self.callers -= 1;
        }
        Some(slot)
    }

    /// `Outgoing::Publish(pkid)`: the oldest request (or the held one for
    /// this id) was written.
    pub fn written(&mut self, pkid: u16) {
        let slot = match self.held {
            Some((held_pkid, slot)) if held_pkid == pkid => {
                self.held = None;
                slot
            }
            _ => match self.queued.pop_front() {
                Some(slot) => slot,
                None => {
                    self.mismatches.written_unrequested += 1;
                    return;
                }
            },
        };
        match self.sent.get_mut(usize::from(pkid)) {
            Some(entry @ None) if pkid != 0 => *entry = Some(slot),
            _ => {
                // Either rumqttc reused an id in flight or wrote one past its
                // own limit: this slot's PUBACK cannot be told apart.
                self.mismatches.pkid_in_use += 1;
                self.orphans.push(slot);
            }
        }
    }

    /// `Outgoing::AwaitAck(pkid)`: the oldest request waits for `pkid` to
    /// be acknowledged before it is written.
    pub fn held(&mut self, pkid: u16) {
        match self.queued.pop_front() {
            Some(slot) => {
                if let Some((_, before)) = self.held.replace((pkid, slot)) {
                    // rumqttc holds one publish at a time.
                    self.mismatches.pkid_in_use += 1;
                    self.orphans.push(before);
                }
            }
            None => self.mismatches.written_unrequested += 1,
        }
    }

    /// `Incoming::PubAck(pkid)`: whose publish the broker has.
    pub fn acked(&mut self, pkid: u16) -> Option<Slot> {
        let Some(slot) = self.sent.get_mut(usize::from(pkid)).and_then(Option::take) else {
            self.mismatches.ack_unknown += 1;
            return None;
        };
        if let Slot::Caller(_) = slot {
            self.callers -= 1;
        }
        Some(slot)
    }

    /// The connection is gone and every publish in the table with it:
    /// empties the table and returns the caller ids in it, in request order
    /// as far as the table knows it (written ones by packet id first).
    pub fn clear(&mut self) -> Vec<u64> {
        let mut lost = Vec::with_capacity(self.callers);
        let sent = self.sent.iter_mut().filter_map(Option::take);
        let held = self.held.take().map(|(_, slot)| slot);
        let orphans = self.orphans.drain(..);
        for slot in sent.chain(held).chain(self.queued.drain(..)).chain(orphans) {
            if let Slot::Caller(id) = slot {
                lost.push(id);
            }
        }
        self.callers = 0;
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKID_MAX: u16 = 4;

    fn tracker() -> Tracker {
        Tracker::new(8, PKID_MAX)
    }

    #[test]
    fn acks_come_back_to_the_ids_in_request_order() {
        let mut t = tracker();
        t.queue(Slot::Caller(10)).expect("room");
        t.queue(Slot::Own(Own::Status)).expect("room");
        t.queue(Slot::Caller(11)).expect("room");
        t.written(1);
        t.written(2);
        t.written(3);
        assert_eq!(t.acked(2), Some(Slot::Own(Own::Status)));
        assert_eq!(t.acked(3), Some(Slot::Caller(11)));
        assert_eq!(t.acked(1), Some(Slot::Caller(10)));
        assert_eq!(t.callers(), 0);
        assert_eq!(t.mismatches(), Mismatches::default());
    }

    #[test]
    fn packet_ids_wrap_without_mixing_ids() {
        let mut t = tracker();
        let mut pkid = 0;
        for id in 0..(3 * u64::from(PKID_MAX)) {
            pkid = pkid % PKID_MAX + 1;
            t.queue(Slot::Caller(id)).expect("room");
            t.written(pkid);
            assert_eq!(t.acked(pkid), Some(Slot::Caller(id)));
        }
        assert_eq!(t.mismatches(), Mismatches::default());
    }

    #[test]
    fn a_held_publish_takes_its_packet_id_after_the_ack_that_frees_it() {
        let mut t = tracker();
        t.queue(Slot::Caller(1)).expect("room");
        t.written(1);
        t.queue(Slot::Caller(2)).expect("room");
        t.held(1);
        assert!(t.contains(Slot::Caller(2)));
        assert_eq!(t.acked(1), Some(Slot::Caller(1)));
        t.written(1);
        assert_eq!(t.acked(1), Some(Slot::Caller(2)));
        assert_eq!(t.mismatches(), Mismatches::default());
    }

    #[test]
    fn clearing_returns_every_caller_id_once() {
        let mut t = tracker();
        for id in 1..=5 {
            t.queue(Slot::Caller(id)).expect("room");
        }
        t.queue(Slot::Own(Own::Discovery)).expect("room");
        t.written(1);
        t.written(2);
        t.held(1);
        assert_eq!(t.acked(2), Some(Slot::Caller(2)));
        let mut lost = t.clear();
        lost.sort_unstable();
        assert_eq!(lost, [1, 3, 4, 5]);
        assert_eq!(t.callers(), 0);
        assert!(!t.contains(Slot::Own(Own::Discovery)));
        assert_eq!(t.acked(1), None);
    }

    #[test]
    fn a_full_fifo_gives_the_slot_back() {
        let mut t = Tracker::new(1, PKID_MAX);
        t.queue(Slot::Caller(1)).expect("room");
        assert_eq!(t.queue(Slot::Caller(2)), Err(Slot::Caller(2)));
        assert_eq!(t.unqueue_last(), Some(Slot::Caller(1)));
        assert_eq!(t.callers(), 0);
    }

    #[test]
    fn events_that_match_nothing_are_counted() {
        let mut t = tracker();
        t.written(1);
        assert_eq!(t.acked(3), None);
        assert_eq!(t.acked(PKID_MAX + 1), None);
        t.queue(Slot::Caller(1)).expect("room");
        t.written(PKID_MAX + 1);
        assert_eq!(
            t.mismatches(),
            Mismatches {
                written_unrequested: 1,
                pkid_in_use: 1,
                ack_unknown: 2,
            }
        );
        assert_eq!(t.mismatch_count(), 4);
        assert_eq!(t.clear(), [1]);
    }
}
