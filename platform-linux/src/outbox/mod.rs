//! The durable outbox: one on-disk queue for everything that leaves the
//! node (DESIGN.md "Events and uploads"): events for MQTT and webhooks,
//! recording-upload jobs for S3. An appended entry survives a crash and a
//! power cut, and waits until every consumer that takes it has
//! acknowledged it.
//!
//! # Using it
//!
//! Open the folder once with every consumer the node has
//! ([`Outbox::open`]); the set is fixed for the life of the [`Outbox`], so
//! that no consumer's entries are deleted before it is back. Then:
//!
//! - producers call [`append`](Outbox::append): the entry is written and
//!   `fdatasync`ed before it returns its [`Seq`];
//! - each consumer calls [`read`](Outbox::read) for the entries after the
//!   last it was handed, sends them, and calls [`ack`](Outbox::ack) for
//!   each one its destination confirmed, in any order. After a reconnect
//!   it calls [`rewind`](Outbox::rewind) and reads again from its first
//!   unacknowledged entry (MQTT re-publishes everything not PUBACKed).
//!   [`pending`](Outbox::pending) peeks from that same place without
//!   moving the read position;
//! - after every call, drain [`poll_notice`](Outbox::poll_notice) until
//!   it returns `None`: evictions, failures to free space and damage
//!   found on disk, each to become an `error` event or a log line. The queue holds [`NOTICES_MAX`];
//!   beyond that notices are counted in [`Figures::notices_dropped`];
//! - call [`flush`](Outbox::flush) before exit so that no acknowledgement
//!   waits in memory (see `cursor_sync_every`).
//!
//! Threads share one outbox through [`SharedOutbox`], whose
//! [`wait_read`](SharedOutbox::wait_read) blocks a consumer until an
//! entry arrives, a timeout passes or [`shutdown`](SharedOutbox::shutdown).
//!
//! # Guarantees
//!
//! At least once, in order of [`Seq`] per consumer. After a restart each
//! consumer is handed again every entry it had not acknowledged. An
//! acknowledgement is on disk once `cursor_sync_every` of them have been
//! recorded, or at [`flush`](Outbox::flush): after a clean close nothing
//! acknowledged comes back (up to [`HELD_STORED_MAX`] acknowledgements
//! held above a cursor are kept per consumer; any past those come back);
//! after a crash, at most the acknowledgements not yet written do.
//! Entries are lost only by eviction (below), or when their bytes on disk
//! are damaged; both are counted and reported.
//!
//! Acknowledgements may come in any order (several MQTT publishes in
//! flight): a consumer's cursor moves over the acknowledged entries at
//! its front only, and the others are held until it gets to them.
//!
//! A consumer takes the [`Kinds`] it was registered with, and of those
//! only the entries its filter accepts; the others count as acknowledged
//! for it. Each consumer has its own cursor: one destination down holds
//! back no other.
//!
//! # Bounds
//!
//! Entries live in segment files of about `segment_bytes`. A segment is
//! deleted once every consumer has acknowledged all of it. When an append
//! has taken the folder past `max_bytes` (the new entry is on disk
//! first), the oldest segments but the last that hold events are
//! rewritten without them until it is back within the bound (events not
//! yet delivered are dropped, counted in [`Figures::evicted_events`] and
//! reported as [`Notice::Evicted`]; with 1 MiB segments, a few thousand
//! at a time):
//! upload jobs still awaited are kept, under their own [`Seq`], because a
//! recording must never be forgotten. An append is never refused for
//! size. If undelivered upload jobs alone fill `max_bytes`, the folder
//! grows past it and says so ([`Notice::OverBound`]).
//!
//! The segment being appended to is never deleted: its name and records
//! carry the sequence on across restarts. Memory: the index keeps about
//! 40 bytes per entry on disk (payloads stay on disk), plus each
//! consumer's held acknowledgements.
//!
//! # On disk
//!
//! ```text
//! {dir}/lock                        flock: one process per folder
//! {dir}/{seq:020}.seg               records (record.rs), named by the seq the segment
//!                                   was begun for; the last is appended to
//! {dir}/cursors                     each consumer's first unacknowledged seq and the
//!                                   acknowledgements held above it (cursors.rs)
//! {dir}/*.tmp                       a rewrite in progress; removed at open
//! ```
//!
//! At open every segment is read and checked. Bytes that do not end in a
//! whole record at the end of a file (a torn write) are cut off; damaged
//! bytes between good records are skipped and the file rewritten without
//! them. Both are listed in the [`OpenReport`].
//!
//! Files are read and written with plain blocking calls under the
//! caller's thread: never use the outbox on an audio thread.

mod consumer;
mod crc;
mod cursors;
mod error;
mod evict;
mod record;
mod report;
mod segment;
mod shared;
mod store;

#[cfg(test)]
mod damage_tests;
#[cfg(test)]
mod sweep_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

pub use consumer::Ack;
pub use error::{FileOp, OutboxError};
pub use report::{ConsumerFigures, Damage, DamageKind, Figures, Notice, OpenReport};
pub use shared::{SharedOutbox, Waited};
pub use store::Outbox;

/// The largest payload of one entry (an event's JSON line or an upload
/// job is well under 4 KiB).
pub const MAX_PAYLOAD_LEN: usize = 64 * 1024;
/// The most consumers one outbox serves.
pub const MAX_CONSUMERS: usize = 16;
/// The longest consumer name.
pub const CONSUMER_NAME_LEN_MAX: usize = 64;
/// The most entries one [`Outbox::read`] or [`Outbox::pending`] returns.
pub const READ_BATCH_MAX: usize = 1_024;
/// Notices kept for [`Outbox::poll_notice`]; more are counted.
pub const NOTICES_MAX: usize = 64;
/// Damaged regions listed in an [`OpenReport`]; more are counted.
pub const DAMAGE_LISTED_MAX: usize = 64;
/// Acknowledgements held above a consumer's cursor (out of order) that
/// the cursors file keeps; any past them are delivered again after a
/// restart (at least once).
pub const HELD_STORED_MAX: usize = 256;
/// The most segment files an outbox folder may hold at open.
pub const SEGMENT_FILES_MAX: usize = 100_000;

/// The smallest `segment_bytes`.
pub const SEGMENT_BYTES_MIN: u64 = 1024;
/// The largest `segment_bytes` (record offsets in a segment are `u32`).
pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;
/// The default `segment_bytes`: 1 MiB, a few thousand events.
pub const SEGMENT_BYTES_DEFAULT: u64 = 1 << 20;
/// The default `max_bytes`: 32 MiB, about 100 000 events.
pub const MAX_BYTES_DEFAULT: u64 = 32 << 20;

const _: () = assert!(MAX_CONSUMERS <= u16::BITS as usize, "one bit per consumer");
const _: () = assert!(SEGMENT_BYTES_MIN <= SEGMENT_BYTES_DEFAULT);
const _: () = assert!(SEGMENT_BYTES_DEFAULT <= SEGMENT_BYTES_MAX);
const _: () = assert!(SEGMENT_BYTES_MAX + (MAX_PAYLOAD_LEN as u64) < u32::MAX as u64);
const _: () = assert!(2 * SEGMENT_BYTES_DEFAULT <= MAX_BYTES_DEFAULT);

/// An entry's sequence number: increasing through the outbox's life,
/// across restarts. The first entry is 1; gaps are normal. A seq is never
/// given to two entries that were ever read (only the seq of an append
/// that never returned, torn by a crash, may be given again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

impl Seq {
    /// The one after this.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an entry is. Kinds a later version writes read as `Unknown` and
/// go to no consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An event's JSON line (DESIGN.md "Events").
    Event,
    /// A recording-upload job's JSON.
    Upload,
    /// A byte this version does not know.
    Unknown(u8),
}

impl Kind {
    /// The kinds this version writes.
    pub const KNOWN: [Kind; 2] = [Kind::Event, Kind::Upload];

    /// Whether eviction may drop it: events yes; upload jobs never (a
    /// recording must reach its store).
    pub fn evictable(self) -> bool {
        !matches!(self, Kind::Upload)
    }

    /// A word for logs.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Upload => "upload",
            Kind::Unknown(_) => "unknown",
        }
    }
}

impl From<u8> for Kind {
    fn from(byte: u8) -> Kind {
        match byte {
            1 => Kind::Event,
            2 => Kind::Upload,
            other => Kind::Unknown(other),
        }
    }
}

impl From<Kind> for u8 {
    fn from(kind: Kind) -> u8 {
        match kind {
            Kind::Event => 1,
            Kind::Upload => 2,
            Kind::Unknown(other) => other,
        }
    }
}

/// A set of [`Kind`]s a consumer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kinds(u8);

impl Kinds {
    /// No kind.
    pub const NONE: Kinds = Kinds(0);
    /// Events only.
    pub const EVENTS: Kinds = Kinds(1);
    /// Upload jobs only.
    pub const UPLOADS: Kinds = Kinds(2);
    /// Every known kind.
    pub const ALL: Kinds = Kinds(3);

    /// Whether `kind` is in the set (never for an unknown kind).
    pub fn contains(self, kind: Kind) -> bool {
        let bit = match kind {
            Kind::Event => Kinds::EVENTS.0,
            Kind::Upload => Kinds::UPLOADS.0,
            Kind::Unknown(_) => return false,
        };
        self.0 & bit != 0
    }

    /// The union of both sets.
    pub fn with(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }
}

/// One entry as handed to consumers and filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its sequence number, the handle for [`Outbox::ack`].
    pub seq: Seq,
    /// What it is.
    pub kind: Kind,
    /// The bytes appended.
    pub payload: Vec<u8>,
}

/// A consumer's extra test on the entries of its kinds: `false` means
/// "not for me", which counts as acknowledged. It must give the same
/// answer for the same entry every time (it runs again at every open).
pub type Filter = Box<dyn Fn(&Entry) -> bool + Send>;

/// A consumer to register at [`Outbox::open`].
pub struct ConsumerSpec {
    /// Its name, stable across restarts: 1 to [`CONSUMER_NAME_LEN_MAX`]
    /// of `A-Z a-z 0-9 _ . : -`, e.g. `mqtt`, `webhook:0`, `s3`.
    pub name: String,
    /// The kinds it takes.
    pub kinds: Kinds,
    /// Which of those it takes; `None` takes all.
    pub filter: Option<Filter>,
}

impl ConsumerSpec {
    /// A consumer of every entry of `kinds`.
    pub fn new(name: &str, kinds: Kinds) -> ConsumerSpec {
        ConsumerSpec {
            name: name.to_owned(),
            kinds,
            filter: None,
        }
    }

    /// The same, taking only the entries `filter` accepts.
    pub fn with_filter(mut self, filter: impl Fn(&Entry) -> bool + Send + 'static) -> ConsumerSpec {
        self.filter = Some(Box::new(filter));
        self
    }
}

impl fmt::Debug for ConsumerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerSpec")
            .field("name", &self.name)
            .field("kinds", &self.kinds)
            .field("filter", &self.filter.as_ref().map(|_| "Fn"))
            .finish()
    }
}

/// A consumer of one outbox: its place in the list given to
/// [`Outbox::open`]. Look it up by name with [`Outbox::consumer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsumerId(pub usize);

/// Where and how big.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// The folder, created if missing.
    pub dir: PathBuf,
    /// A segment file is closed and a new one begun past this size.
    pub segment_bytes: u64,
    /// The bound on the folder (config `outbox_max_mb`); at least two
    /// segments.
    pub max_bytes: u64,
    /// Cursors are written to disk (one atomic rewrite, two fsyncs) once
    /// this many acknowledgements have been recorded (any consumer), and
    /// at [`Outbox::flush`]. 1 writes at every one; N lets a crash
    /// deliver again up to N-1 acknowledged entries.
    pub cursor_sync_every: u32,
}

impl OutboxConfig {
    /// The defaults in `dir`: 1 MiB segments, 32 MiB, cursors written at
    /// every acknowledgement.
    pub fn new(dir: impl Into<PathBuf>) -> OutboxConfig {
        OutboxConfig {
            dir: dir.into(),
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            max_bytes: MAX_BYTES_DEFAULT,
            cursor_sync_every: 1,
        }
    }

    /// The same with the bound in MiB, as config `outbox_max_mb`.
    pub fn with_max_mb(mut self, max_mb: u64) -> OutboxConfig {
        self.max_bytes = max_mb.saturating_mul(1 << 20);
        self
    }

    /// Checks the numbers.
    ///
    /// # Errors
    /// [`OutboxError::Config`] naming the field out of range.
    pub fn check(&self) -> Result<(), OutboxError> {
        let error = |field, value, reason| {
            Err(OutboxError::Config {
                field,
                value,
                reason,
            })
        };
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&self.segment_bytes) {
            return error(
                "segment_bytes",
                self.segment_bytes,
                "must be from 1 KiB to 1 GiB",
            );
        }
        if self.max_bytes < 2 * self.segment_bytes {
            return error(
                "max_bytes",
                self.max_bytes,
                "must hold at least two segments",
            );
        }
        if self.cursor_sync_every == 0 {
            return error("cursor_sync_every", 0, "must be at least 1");
        }
        Ok(())
    }
}

/// Checks a consumer name (see [`ConsumerSpec::name`]).
fn check_consumer_name(name: &str) -> Result<(), OutboxError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    let reason = if name.is_empty() {
        "is empty"
    } else if name.len() > CONSUMER_NAME_LEN_MAX {
        "is longer than 64 bytes"
    } else if !name.chars().all(allowed) {
        "may hold only A-Z a-z 0-9 _ . : -"
    } else {
        return Ok(());
    };
    Err(OutboxError::Consumer {
        name: name.to_owned(),
        reason,
    })
}
