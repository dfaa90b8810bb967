//! Giving disk space back: deleting segments every consumer is done with,
//! and evicting events to stay within `max_bytes`.

use super::Seq;
use super::consumer::{Index, IndexEntry};
use super::error::OutboxError;
use super::record::Record;
use super::report::Notice;
use super::segment::Segment;
use super::store::Outbox;

impl Outbox {
    /// Deletes the oldest segments (never the last) whose entries every
    /// consumer is done with.
    ///
    /// # Errors
    /// A segment could not be removed (its entries are forgotten all the
    /// same: every consumer is done with them).
    pub(super) fn collect(&mut self) -> Result<(), OutboxError> {
        let done_below = self
            .consumers
            .iter()
            .map(|c| c.next)
            .min()
            .unwrap_or(self.next_seq);
        // Each turn removes a segment: at most `segments.len()` turns.
        while self.segments.len() > 1 {
            let front = &self.segments[0];
            if front.entries > 0 && front.last >= done_below {
                break;
            }
            let segment = self.segments.pop_front().expect("more than one segment");
            for entry in self.index.drain(..segment.entries as usize) {
                assert_eq!(entry.segment, segment.id, "the index follows the segments");
            }
            self.bytes -= segment.len;
            segment.remove(&self.dir_file)?;
        }
        Ok(())
    }

    /// Evicts, oldest segment first, until the folder is within
    /// `max_bytes` or nothing more may go.
    ///
    /// # Errors
    /// A segment could not be rewritten or removed.
    pub(super) fn make_room(&mut self) -> Result<(), OutboxError> {
        let mut turns = self.segments.len();
        while self.bytes > self.config.max_bytes && turns > 0 {
            turns -= 1;
            let Some(at) = self.eviction_candidate() else {
                break;
            };
            self.evict(at)?;
        }
        let over = self.bytes > self.config.max_bytes;
        if over && !self.over_bound {
            self.notice(Notice::OverBound {
                bytes: self.bytes,
                max_bytes: self.config.max_bytes,
            });
        }
        self.over_bound = over;
        Ok(())
    }

    /// The oldest segment but the last with something eviction may drop:
    /// events, or entries every consumer is done with.
    fn eviction_candidate(&self) -> Option<usize> {
        let last = self.segments.len().checked_sub(1)?;
        (0..last).find(|&at| {
            let segment = &self.segments[at];
            segment.evictable > 0
                || segment.entries == 0
                || self.entries_of(segment).any(|e| self.done_by_all(e))
        })
    }

    /// The index entries of `segment`.
    fn entries_of<'a>(&'a self, segment: &Segment) -> impl Iterator<Item = &'a IndexEntry> + 'a {
        let start = self.index.partition_point(|e| e.seq < segment.first);
        let count = segment.entries as usize;
        self.index.range(start..start + count)
    }

    fn done_by_all(&self, entry: &IndexEntry) -> bool {
        self.consumers.iter().all(|c| c.is_done(entry))
    }

    /// Rewrites segment `at` with only the entries that may not be evicted
    /// and are still awaited (or deletes it if none are), then forgets the
    /// rest.
    fn evict(&mut self, at: usize) -> Result<(), OutboxError> {
        let segment = &self.segments[at];
        let (first, last, old_len) = (segment.first, segment.last, segment.len);
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        let mut events_dropped = 0;
        for entry in self.entries_of(segment) {
            assert_eq!(entry.segment, segment.id, "the index follows the segments");
            let done = self.done_by_all(entry);
            if entry.kind.evictable() || done {
                events_dropped += u64::from(!done);
                dropped.push(*entry);
            } else {
                kept.push(*entry);
            }
        }
        let path = segment.path.clone();
        let kept = if kept.is_empty() {
            let segment = self.segments.remove(at).expect("`at` is a segment");
            // Forget first: the segment's entries must not outlive it.
            self.forget(&dropped);
            self.bytes -= old_len;
            segment.remove(&self.dir_file)?;
            0
        } else {
            let (kept, unreadable) = self.rewrite_with(at, kept)?;
            dropped.extend(unreadable);
            self.forget(&dropped);
            let segment = &mut self.segments[at];
            resummarize(segment, &self.index);
            self.bytes = self.bytes - old_len + segment.len;
            kept
        };
        self.counters.evictions += 1;
        self.counters.evicted_events += events_dropped;
        self.notice(Notice::Evicted {
            path,
            events_dropped,
            entries_kept: kept,
            first,
            last,
        });
        Ok(())
    }

    /// Rewrites segment `at` with the records of `kept`, and points their
    /// index entries at the new offsets. Returns how many were kept, and
    /// the entries whose records did not read back whole (for the caller
    /// to forget).
    fn rewrite_with(
        &mut self,
        at: usize,
        kept: Vec<IndexEntry>,
    ) -> Result<(u64, Vec<IndexEntry>), OutboxError> {
        let segment = &mut self.segments[at];
        let mut records = Vec::with_capacity(kept.len());
        let mut good = Vec::with_capacity(kept.len());
        let mut unreadable = Vec::new();
        for entry in kept {
            let bytes = segment.read_at(entry.offset, entry.len).ok();
            let whole = bytes.as_deref().and_then(|b| Record::new_checked(b).ok());
            match (whole.map(|r| r.seq()), bytes) {
                (Some(seq), Some(bytes)) if seq == entry.seq => {
                    records.push(bytes);
                    good.push(entry);
                }
                _ => unreadable.push(entry),
            }
        }
        let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let offsets = segment.rewrite(&self.dir_file, &slices)?;
        for (entry, offset) in good.iter().zip(offsets) {
            let at = self
                .index
                .binary_search_by_key(&entry.seq, |e| e.seq)
                .expect("a kept entry is in the index");
            self.index[at].offset = offset;
        }
        self.counters.unreadable += unreadable.len() as u64;
        Ok((good.len() as u64, unreadable))
    }

    /// Removes `entries` from the index and from every consumer's count,
    /// then moves the cursors over what became done. Segment totals are
    /// the caller's.
    fn forget(&mut self, entries: &[IndexEntry]) {
        for entry in entries {
            if let Ok(at) = self.index.binary_search_by_key(&entry.seq, |e| e.seq) {
                self.index.remove(at);
                for consumer in &mut self.consumers {
                    consumer.forget(entry);
                }
            }
        }
        for consumer in &mut self.consumers {
            consumer.advance(&self.index, self.next_seq);
        }
    }

    /// Drops the entries `seqs` (their bytes did not read back), keeping
    /// the segment totals right.
    pub(super) fn drop_entries(&mut self, seqs: &[Seq]) {
        let entries: Vec<IndexEntry> = seqs
            .iter()
            .filter_map(|&seq| {
                let at = self.index.binary_search_by_key(&seq, |e| e.seq).ok()?;
                Some(self.index[at])
            })
            .collect();
        self.forget(&entries);
        for entry in &entries {
            if let Ok(at) = self.segments.binary_search_by_key(&entry.segment, |s| s.id) {
                resummarize(&mut self.segments[at], &self.index);
            }
        }
    }
}

/// Counts a segment's entries afresh from the index (after some left it).
fn resummarize(segment: &mut Segment, index: &Index) {
    let start = index.partition_point(|e| e.seq < segment.first);
    let (mut entries, mut evictable) = (0, 0);
    for entry in index.range(start..).take_while(|e| e.segment == segment.id) {
        if entries == 0 {
            segment.first = entry.seq;
        }
        segment.last = entry.seq;
        entries += 1;
        evictable += u32::from(entry.kind.evictable());
    }
    segment.entries = entries;
    segment.evictable = evictable;
}
