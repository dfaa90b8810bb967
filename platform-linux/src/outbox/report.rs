//! What the outbox tells its owner: the report of an open, notices while
//! it runs, and figures for monitoring.

use std::path::PathBuf;

use super::{Kind, Seq};

/// What was wrong with a stretch of bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DamageKind {
    /// Bytes at the end of a segment that are not a whole record (a write
    /// cut short by a crash or a power cut): cut off.
    TornTail,
    /// Bytes between good records that are not a record (a flipped bit, a
    /// bad sector): skipped, and the segment rewritten without them.
    Corrupt,
    /// A whole record whose sequence number is not above the one before:
    /// skipped (a copy left by an interrupted rewrite).
    OutOfOrder,
    /// The cursors file does not check out: every consumer starts again
    /// from its oldest entry on disk (re-delivery, not loss).
    Cursors,
    /// An entry whose record no longer checks out when read back: lost.
    Unreadable,
}

impl DamageKind {
    /// A word for logs and events.
    pub fn name(self) -> &'static str {
        match self {
            DamageKind::TornTail => "torn_tail",
            DamageKind::Corrupt => "corrupt",
            DamageKind::OutOfOrder => "out_of_order",
            DamageKind::Cursors => "cursors",
            DamageKind::Unreadable => "unreadable",
        }
    }
}

/// A damaged stretch of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// What was wrong.
    pub kind: DamageKind,
    /// The file.
    pub path: PathBuf,
    /// Where the stretch began, in bytes from the start of the file.
    pub offset: u64,
    /// Its length: bytes discarded.
    pub len: u64,
}

/// What [`Outbox::open`](super::Outbox::open) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Segment files kept.
    pub segments: usize,
    /// Records read back whole.
    pub records_recovered: u64,
    /// Bytes cut off or skipped as damaged.
    pub bytes_discarded: u64,
    /// The damaged stretches, first [`DAMAGE_LISTED_MAX`](super::DAMAGE_LISTED_MAX).
    pub damage: Vec<Damage>,
    /// Damaged stretches beyond those listed.
    pub damage_unlisted: u64,
    /// Consumers with a cursor on disk that were not registered: their
    /// cursors are forgotten at the next write.
    pub forgotten_consumers: Vec<String>,
    /// The sequence number the next append gets.
    pub next_seq: Seq,
}

impl OpenReport {
    /// Whether anything on disk was found damaged.
    pub fn is_damaged(&self) -> bool {
        !self.damage.is_empty() || self.damage_unlisted > 0
    }

    pub(super) fn add_damage(&mut self, damage: Damage) {
        self.bytes_discarded += damage.len;
        if self.damage.len() < super::DAMAGE_LISTED_MAX {
            self.damage.push(damage);
        } else {
            self.damage_unlisted += 1;
        }
    }
}

/// Something the outbox did on its own that its owner must hear of:
/// drained with [`Outbox::poll_notice`](super::Outbox::poll_notice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// To keep within `max_bytes`, a segment was rewritten without its
    /// events (or deleted, when nothing in it was still awaited).
    Evicted {
        /// The segment.
        path: PathBuf,
        /// Events some consumer had not acknowledged: lost.
        events_dropped: u64,
        /// Entries kept because they are still awaited upload jobs.
        entries_kept: u64,
        /// The first sequence number the segment held.
        first: Seq,
        /// The last.
        last: Seq,
    },
    /// Only entries that may not be evicted are left, and they hold more
    /// than `max_bytes`: said once each time the folder goes over.
    OverBound {
        /// Bytes in the folder's segments.
        bytes: u64,
        /// The bound.
        max_bytes: u64,
    },
    /// Giving space back failed after an append (the disk refused to
    /// rewrite or remove a segment): the entry is safe; the folder may
    /// stay over `max_bytes` until a later append succeeds in it.
    CleanupFailed {
        /// The error, as [`OutboxError`](super::OutboxError) displays it.
        message: String,
    },
    /// An entry's record did not check out when read back; it is lost.
    Unreadable {
        /// The damage.
        damage: Damage,
        /// The entry.
        seq: Seq,
        /// What it was.
        kind: Kind,
    },
}

/// One consumer's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerFigures {
    /// Its name.
    pub name: String,
    /// Entries for it not yet acknowledged (in flight or not yet read).
    pub depth: u64,
    /// Its first unacknowledged sequence number (in memory).
    pub cursor: Seq,
    /// The same as last written to disk.
    pub cursor_on_disk: Seq,
    /// Acknowledgements held above the cursor (out of order).
    pub acked_ahead: usize,
}

/// Figures for `/metrics` and `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// Bytes in the segment files.
    pub bytes_on_disk: u64,
    /// Segment files.
    pub segments: usize,
    /// Entries on disk.
    pub entries: usize,
    /// The sequence number the next append gets.
    pub next_seq: Seq,
    /// Entries appended since open.
    pub appended: u64,
    /// Events dropped by eviction since open.
    pub evicted_events: u64,
    /// Segments rewritten or deleted by eviction since open.
    pub evictions: u64,
    /// Damaged stretches found at open and since.
    pub damaged: u64,
    /// Bytes discarded as damaged at open and since.
    pub bytes_discarded: u64,
    /// Entries lost because their records did not read back.
    pub unreadable: u64,
    /// Notices dropped because nobody drained them.
    pub notices_dropped: u64,
    /// Per consumer, in registration order.
    pub consumers: Vec<ConsumerFigures>,
}
