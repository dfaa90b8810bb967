//! One consumer's place in the outbox: its cursor, the acknowledgements
//! that arrived ahead of it, its read position, and the in-memory index
//! they all refer to. No I/O here.
//!
//! An entry is *done* for a consumer when its seq is below the cursor,
//! when it was acknowledged out of order, or when it is not for this
//! consumer (not one of its kinds, or refused by its filter). The cursor
//! is always the seq of the first entry that is not done, or the next
//! seq to be appended when all are: so it moves only over a contiguous
//! prefix of done entries, whatever order the acknowledgements come in.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;

use super::{ConsumerSpec, Entry, Filter, Kind, Kinds, Seq};

/// One entry on disk, as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IndexEntry {
    pub(super) seq: Seq,
    pub(super) kind: Kind,
    /// The id of its segment.
    pub(super) segment: u64,
    /// Where its record starts in the segment.
    pub(super) offset: u32,
    /// Its record's length (header and payload).
    pub(super) len: u32,
    /// One bit per consumer that takes it (bit `i` for consumer `i`).
    pub(super) wanted: u16,
}

/// The index: every entry on disk, in seq order.
pub(super) type Index = VecDeque<IndexEntry>;

/// What an acknowledgement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ack {
    /// The cursor moved past it (and past any held acknowledgements
    /// right after it).
    Advanced,
    /// Recorded, ahead of an entry not yet acknowledged: the cursor
    /// moves when that one is.
    Held,
    /// The entry is on disk and was acknowledged before, or is not for
    /// this consumer: nothing changed.
    Already,
    /// No such entry on disk (never appended, evicted, lost, or deleted
    /// once every consumer was done with it): nothing changed.
    Unknown,
}

/// A registered consumer.
pub(super) struct Consumer {
    pub(super) name: String,
    kinds: Kinds,
    filter: Option<Filter>,
    bit: u16,
    /// Every entry below it is done; it is not done itself (or is the next
    /// seq to be appended).
    pub(super) next: Seq,
    /// Acknowledged entries above `next`: each one in the index, for this
    /// consumer. At most as many as the index holds.
    pub(super) acked: BTreeSet<Seq>,
    /// Where [`Consumer::pick`] with `from_read` goes on from.
    pub(super) read: Seq,
    /// Entries for this consumer at or above `next` not in `acked`.
    pub(super) unacked: u64,
    /// `next` as last written to disk.
    pub(super) on_disk: Seq,
    /// Acknowledged since the cursors file was last written.
    pub(super) dirty: bool,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.name)
            .field("kinds", &self.kinds)
            .field("next", &self.next)
            .field("acked", &self.acked.len())
            .field("read", &self.read)
            .field("unacked", &self.unacked)
            .field("on_disk", &self.on_disk)
            .finish()
    }
}

impl Consumer {
    /// Consumer number `number` from its spec, with its cursor at `next`
    /// (until [`Consumer::recount`]).
    pub(super) fn new(spec: ConsumerSpec, number: usize, next: Seq) -> Consumer {
        Consumer {
            name: spec.name,
            kinds: spec.kinds,
            filter: spec.filter,
            bit: 1 << number,
            next,
            acked: BTreeSet::new(),
            read: next,
            unacked: 0,
            on_disk: next,
            dirty: false,
        }
    }

    /// Its bit in [`IndexEntry::wanted`].
    pub(super) fn bit(&self) -> u16 {
        self.bit
    }

    /// Whether it takes an entry of `kind` with `payload` (its kinds and
    /// its filter). `entry` is built only if the filter needs it.
    pub(super) fn wants(&self, kind: Kind, entry: &mut dyn FnMut() -> Entry) -> bool {
        self.kinds.contains(kind) && self.filter.as_ref().is_none_or(|filter| filter(&entry()))
    }

    /// Whether `entry` needs nothing more from this consumer.
    pub(super) fn is_done(&self, entry: &IndexEntry) -> bool {
        entry.seq < self.next || entry.wanted & self.bit == 0 || self.acked.contains(&entry.seq)
    }

    /// Takes `held` (acknowledgements above the cursor, from disk) for
    /// those still in the index, counts `unacked` afresh and moves the
    /// cursor over done entries (after open).
    pub(super) fn recount(&mut self, index: &Index, next_seq: Seq, held: &[Seq]) {
        self.acked = held
            .iter()
            .copied()
            .filter(|&seq| {
                seq >= self.next
                    && index
                        .binary_search_by_key(&seq, |e| e.seq)
                        .is_ok_and(|at| index[at].wanted & self.bit != 0)
            })
            .collect();
        self.unacked = index.iter().filter(|e| !self.is_done(e)).count() as u64;
        self.advance(index, next_seq);
        self.read = self.next;
    }

    /// Moves the cursor over the done entries at it; whether it moved.
    pub(super) fn advance(&mut self, index: &Index, next_seq: Seq) -> bool {
        let start = index.partition_point(|e| e.seq < self.next);
        let next = index
            .range(start..)
            .find(|e| !self.is_done(e))
            .map_or(next_seq, |e| e.seq);
        debug_assert!(next >= self.next, "cursors never go back");
        let moved = next > self.next;
        self.next = next;
        // Keep only what is still ahead of the cursor.
        self.acked = self.acked.split_off(&next);
        moved
    }

    /// Records an acknowledgement of `seq`.
    pub(super) fn ack(&mut self, index: &Index, seq: Seq, next_seq: Seq) -> Ack {
        let Ok(at) = index.binary_search_by_key(&seq, |e| e.seq) else {
            return Ack::Unknown;
        };
        if self.is_done(&index[at]) {
            return Ack::Already;
        }
        self.acked.insert(seq);
        self.unacked -= 1;
        self.dirty = true;
        if seq == self.next {
            let moved = self.advance(index, next_seq);
            assert!(moved, "the first entry not done was just acknowledged");
            Ack::Advanced
        } else {
            Ack::Held
        }
    }

    /// Takes note of an entry appended at the end of the index.
    pub(super) fn appended(&mut self, entry: &IndexEntry) {
        if entry.wanted & self.bit != 0 {
            self.unacked += 1;
        } else if self.next == entry.seq {
            // Caught up, and this one is not for us: stay caught up.
            self.next = entry.seq.next();
        }
    }

    /// Takes note that `entry` is leaving the index (evicted or lost);
    /// [`Consumer::advance`] must follow once the index is updated.
    pub(super) fn forget(&mut self, entry: &IndexEntry) {
        if entry.seq < self.next || entry.wanted & self.bit == 0 {
            return;
        }
        if !self.acked.remove(&entry.seq) {
            self.unacked -= 1;
        }
    }

    /// Up to `max` entries not done, from the read position (`from_read`)
    /// or from the cursor; moves the read position past them in the first
    /// case.
    pub(super) fn pick(&mut self, index: &Index, max: usize, from_read: bool) -> Vec<IndexEntry> {
        let from = if from_read {
            self.read.max(self.next)
        } else {
            self.next
        };
        let start = index.partition_point(|e| e.seq < from);
        let picked: Vec<IndexEntry> = index
            .range(start..)
            .filter(|e| !self.is_done(e))
            .take(max)
            .copied()
            .collect();
        if from_read {
            self.read = match picked.last() {
                Some(last) => last.seq.next(),
                None => index.back().map_or(from, |e| e.seq.next().max(from)),
            };
        }
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(seqs: &[u64], wanted: u16) -> Index {
        seqs.iter()
            .map(|&seq| IndexEntry {
                seq: Seq(seq),
                kind: Kind::Event,
                segment: 1,
                offset: 0,
                len: 0,
                wanted,
            })
            .collect()
    }

    fn consumer(index: &Index, next_seq: Seq) -> Consumer {
        let mut c = Consumer::new(ConsumerSpec::new("mqtt", Kinds::EVENTS), 0, Seq(0));
        c.recount(index, next_seq, &[]);
        c
    }

    #[test]
    fn the_cursor_moves_only_over_the_acknowledged_prefix() {
        // Seqs with gaps, as after eviction.
        let index = index(&[3, 4, 6, 7, 9], 1);
        let mut c = consumer(&index, Seq(10));
        assert_eq!((c.next, c.unacked), (Seq(3), 5));
        assert_eq!(c.ack(&index, Seq(6), Seq(10)), Ack::Held);
        assert_eq!(c.ack(&index, Seq(7), Seq(10)), Ack::Held);
        assert_eq!(c.next, Seq(3));
        assert_eq!(c.ack(&index, Seq(3), Seq(10)), Ack::Advanced);
        assert_eq!(c.next, Seq(4));
        assert_eq!(c.ack(&index, Seq(4), Seq(10)), Ack::Advanced);
        assert_eq!(c.next, Seq(9), "over the held 6 and 7");
        assert!(c.acked.is_empty());
        assert_eq!(c.ack(&index, Seq(6), Seq(10)), Ack::Already);
        assert_eq!(
            c.ack(&index, Seq(5), Seq(10)),
            Ack::Unknown,
            "never appended"
        );
        assert_eq!(
            c.ack(&index, Seq(3), Seq(10)),
            Ack::Already,
            "below the cursor"
        );
        assert_eq!(c.ack(&index, Seq(11), Seq(10)), Ack::Unknown);
        assert_eq!(c.ack(&index, Seq(9), Seq(10)), Ack::Advanced);
        assert_eq!((c.next, c.unacked), (Seq(10), 0));
    }

    #[test]
    fn entries_for_others_count_as_done() {
        let mut index = index(&[1, 2, 3], 0b10);
        index[1].wanted = 0b01;
        let mut c = consumer(&index, Seq(4));
        assert_eq!((c.next, c.unacked), (Seq(2), 1));
        assert_eq!(c.ack(&index, Seq(1), Seq(4)), Ack::Already);
        assert_eq!(c.ack(&index, Seq(2), Seq(4)), Ack::Advanced);
        assert_eq!(c.next, Seq(4));
        let entry = IndexEntry {
            seq: Seq(4),
            ..index[0]
        };
        index.push_back(entry);
        c.appended(&entry);
        assert_eq!(c.next, Seq(5), "a caught-up cursor stays caught up");
    }

    #[test]
    fn reading_moves_on_and_rewinding_starts_again_at_the_cursor() {
        let index = index(&[1, 2, 3, 4], 1);
        let mut c = consumer(&index, Seq(5));
        let seqs = |p: Vec<IndexEntry>| p.iter().map(|e| e.seq.0).collect::<Vec<_>>();
        assert_eq!(seqs(c.pick(&index, 2, true)), [1, 2]);
        assert_eq!(seqs(c.pick(&index, 2, true)), [3, 4]);
        assert!(c.pick(&index, 2, true).is_empty());
        assert_eq!(c.ack(&index, Seq(2), Seq(5)), Ack::Held);
        c.read = c.next;
        assert_eq!(
            seqs(c.pick(&index, 10, true)),
            [1, 3, 4],
            "2 was acknowledged"
        );
        assert_eq!(seqs(c.pick(&index, 1, false)), [1], "peeking does not move");
        assert_eq!(seqs(c.pick(&index, 1, false)), [1]);
    }

    #[test]
    fn held_acknowledgements_from_disk_count_when_still_there() {
        let index = index(&[1, 2, 3, 5], 1);
        let mut c = Consumer::new(ConsumerSpec::new("mqtt", Kinds::EVENTS), 0, Seq(2));
        c.recount(&index, Seq(6), &[Seq(3), Seq(4), Seq(5)]);
        assert_eq!(c.next, Seq(2));
        assert_eq!(
            c.acked.iter().map(|s| s.0).collect::<Vec<_>>(),
            [3, 5],
            "4 is gone"
        );
        assert_eq!(c.unacked, 1);
        assert_eq!(c.ack(&index, Seq(2), Seq(6)), Ack::Advanced);
        assert_eq!(c.next, Seq(6));
    }

    #[test]
    fn forgetting_keeps_the_count() {
        let mut index = index(&[1, 2, 3], 1);
        let mut c = consumer(&index, Seq(4));
        assert_eq!(c.ack(&index, Seq(2), Seq(4)), Ack::Held);
        for entry in index.drain(..2) {
            c.forget(&entry);
        }
        c.advance(&index, Seq(4));
        assert_eq!((c.next, c.unacked), (Seq(3), 1));
        assert!(c.acked.is_empty());
    }
}
