//! [`Outbox`]: the segments, the index and the consumers together; open,
//! append, read, acknowledge. Eviction and deletion are in evict.rs.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::consumer::{Ack, Consumer, Index, IndexEntry};
use super::cursors::{self, Saved};
use super::error::{FileOp, OutboxError, io_err};
use super::record::{HEADER_LEN, Record, RecordRepr};
use super::report::{ConsumerFigures, Damage, DamageKind, Figures, Notice, OpenReport};
use super::segment::{Found, Scan, Segment};
use super::{
    ConsumerId, ConsumerSpec, Entry, HELD_STORED_MAX, Kind, MAX_CONSUMERS, MAX_PAYLOAD_LEN,
    NOTICES_MAX, OutboxConfig, READ_BATCH_MAX, Seq, check_consumer_name,
};

/// The name of the lock file in the folder.
const LOCK_NAME: &str = "lock";

/// The durable outbox (see the [module docs](super) for the contract).
#[derive(Debug)]
pub struct Outbox {
    pub(super) config: OutboxConfig,
    pub(super) dir_file: File,
    _lock: File,
    /// By id, ascending; the last is appended to.
    pub(super) segments: VecDeque<Segment>,
    pub(super) index: Index,
    pub(super) consumers: Vec<Consumer>,
    pub(super) next_seq: Seq,
    /// Bytes in all segments.
    pub(super) bytes: u64,
    /// The last segment may hold bytes after its last record (a failed
    /// append could not be cut off): the next append begins a new one.
    head_sealed: bool,
    /// Over `max_bytes` with nothing left to evict (said once).
    pub(super) over_bound: bool,
    /// Cursor moves since the cursors file was last written.
    acks_unsaved: u32,
    notices: VecDeque<Notice>,
    pub(super) counters: Counters,
}

/// Running totals behind [`Figures`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) appended: u64,
    pub(super) evicted_events: u64,
    pub(super) evictions: u64,
    pub(super) damaged: u64,
    pub(super) bytes_discarded: u64,
    pub(super) unreadable: u64,
    pub(super) notices_dropped: u64,
}

impl Outbox {
    /// Opens (creating it if need be) the outbox folder with its
    /// consumers, reads every segment back and repairs what a crash left:
    /// see the [module docs](super) "On disk". A consumer new to the
    /// folder starts at the oldest entry on disk.
    ///
    /// # Errors
    /// The config is out of range, a consumer name is invalid or given
    /// twice, there are more than [`MAX_CONSUMERS`], another process has
    /// the folder, or the folder or a file in it cannot be created, read,
    /// repaired or fsynced. Damaged bytes are no error: they are in the
    /// report.
    pub fn open(
        config: OutboxConfig,
        specs: Vec<ConsumerSpec>,
    ) -> Result<(Outbox, OpenReport), OutboxError> {
        config.check()?;
        check_specs(&specs)?;
        let dir = config.dir.clone();
        fs::create_dir_all(&dir).map_err(io_err(FileOp::CreateFolder, &dir))?;
        let dir_file = File::open(&dir).map_err(io_err(FileOp::ListFolder, &dir))?;
        let lock = take_lock(&dir)?;
        let loaded = cursors::load(&dir)?;
        let mut report = OpenReport::default();
        if let Some(damage) = loaded.damage {
            report.add_damage(damage);
        }
        let consumers = specs
            .into_iter()
            .enumerate()
            .map(|(number, spec)| Consumer::new(spec, number, Seq(0)))
            .collect();
        let mut outbox = Outbox {
            config,
            dir_file,
            _lock: lock,
            segments: VecDeque::new(),
            index: VecDeque::new(),
            consumers,
            next_seq: Seq(1),
            bytes: 0,
            head_sealed: false,
            over_bound: false,
            acks_unsaved: 0,
            notices: VecDeque::with_capacity(NOTICES_MAX),
            counters: Counters::default(),
        };
        outbox.load_segments(&mut report)?;
        outbox.place_cursors(&loaded.cursors, &mut report);
        outbox.counters.damaged = (report.damage.len() as u64) + report.damage_unlisted;
        outbox.counters.bytes_discarded = report.bytes_discarded;
        outbox.collect()?;
        outbox.make_room()?;
        report.segments = outbox.segments.len();
        report.next_seq = outbox.next_seq;
        Ok((outbox, report))
    }

    /// Reads every segment into the index, cutting torn tails, rewriting
    /// segments with damage inside and removing empty ones (but the last).
    fn load_segments(&mut self, report: &mut OpenReport) -> Result<(), OutboxError> {
        let dir = self.config.dir.clone();
        let ids = super::segment::list(&dir)?;
        let len_max = self.config.segment_bytes + (HEADER_LEN + MAX_PAYLOAD_LEN) as u64;
        let mut last = None;
        for (number, &id) in ids.iter().enumerate() {
            let (mut segment, scan) = Segment::open_and_scan(&dir, id, len_max, last)?;
            let Scan {
                bytes,
                found,
                damage,
                needs_rewrite,
                good_len,
            } = scan;
            damage.into_iter().for_each(|d| report.add_damage(d));
            let offsets: Vec<u32> = if needs_rewrite {
                let records: Vec<&[u8]> = found.iter().map(|f| record_bytes(&bytes, f)).collect();
                segment.rewrite(&self.dir_file, &records)?
            } else {
                if segment.len > good_len {
                    segment.truncate(good_len)?;
                }
                found.iter().map(|f| f.offset).collect()
            };
            for (f, offset) in found.iter().zip(offsets) {
                let payload = &record_bytes(&bytes, f)[HEADER_LEN..];
                let entry = IndexEntry {
                    seq: f.seq,
                    kind: f.kind,
                    segment: id,
                    offset,
                    len: f.len,
                    wanted: self.wanted_by(f.seq, f.kind, payload),
                };
                note_entry(&mut segment, &entry);
                self.index.push_back(entry);
                last = Some(f.seq);
            }
            report.records_recovered += found.len() as u64;
            self.next_seq = self.next_seq.max(Seq(id));
            if segment.entries == 0 && number + 1 < ids.len() {
                segment.remove(&self.dir_file)?;
            } else {
                self.bytes += segment.len;
                self.segments.push_back(segment);
            }
        }
        if let Some(last) = last {
            self.next_seq = self.next_seq.max(last.next());
        }
        Ok(())
    }

    /// Sets each consumer's cursor from the cursors file (new consumers at
    /// the start), counts what each has to do, lists the forgotten ones.
    fn place_cursors(&mut self, loaded: &[Saved], report: &mut OpenReport) {
        // A cursor past every record still says how far the sequence went
        // (an entry may have been acknowledged, then its segment removed).
        let cursor_max = loaded.iter().map(|saved| saved.next).max();
        self.next_seq = self.next_seq.max(cursor_max.unwrap_or_default());
        for consumer in &mut self.consumers {
            let saved = loaded.iter().find(|saved| saved.name == consumer.name);
            consumer.next = saved.map_or(Seq(0), |saved| saved.next);
            consumer.on_disk = consumer.next;
            let held = saved.map_or(&[][..], |saved| &saved.held);
            consumer.recount(&self.index, self.next_seq, held);
        }
        report.forgotten_consumers = loaded
            .iter()
            .filter(|saved| self.consumers.iter().all(|c| c.name != saved.name))
            .map(|saved| saved.name.clone())
            .collect();
    }

    /// The consumer bits of an entry.
    fn wanted_by(&self, seq: Seq, kind: Kind, payload: &[u8]) -> u16 {
        let mut entry = None;
        let mut make = || {
            entry
                .get_or_insert_with(|| Entry {
                    seq,
                    kind,
                    payload: payload.to_vec(),
                })
                .clone()
        };
        self.consumers
            .iter()
            .filter(|c| c.wants(kind, &mut make))
            .fold(0, |bits, c| bits | c.bit())
    }

    /// The consumer registered as `name`.
    pub fn consumer(&self, name: &str) -> Option<ConsumerId> {
        self.consumers
            .iter()
            .position(|c| c.name == name)
            .map(ConsumerId)
    }

    /// Appends an entry and `fdatasync`s it: once this returns `Ok`, the
    /// entry survives a crash or a power cut. Then evicts down to
    /// `max_bytes` if need be (see [`Outbox::poll_notice`]). Costs one
    /// fsync, two more when a new segment is begun.
    ///
    /// # Errors
    /// [`OutboxError::UnknownKind`] for `Kind::Unknown`,
    /// [`OutboxError::TooLong`] over [`MAX_PAYLOAD_LEN`], or the write or
    /// fsync failed (the entry is then not in the outbox; its seq is not
    /// used again).
    pub fn append(&mut self, kind: Kind, payload: &[u8]) -> Result<Seq, OutboxError> {
        if let Kind::Unknown(byte) = kind {
            return Err(OutboxError::UnknownKind(byte));
        }
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(OutboxError::TooLong { len: payload.len() });
        }
        let seq = self.next_seq;
        // Every attempt uses its seq up: a record that failed half-way may
        // still be read back after a restart.
        self.next_seq = seq.next();
        let record = RecordRepr { seq, kind, payload }.to_bytes();
        let wanted = self.wanted_by(seq, kind, payload);
        self.roll_if_full(seq, record.len())?;
        let head = self
            .segments
            .back_mut()
            .expect("roll_if_full leaves a segment");
        let offset = match head.append(&record) {
            Ok(offset) => offset,
            Err((error, restored)) => {
                self.head_sealed |= !restored;
                return Err(error);
            }
        };
        let entry = IndexEntry {
            seq,
            kind,
            segment: head.id,
            offset: u32::try_from(offset).expect("segments stay under u32 bytes"),
            len: u32::try_from(record.len()).expect("records fit u32"),
            wanted,
        };
        note_entry(head, &entry);
        self.bytes += record.len() as u64;
        self.index.push_back(entry);
        for consumer in &mut self.consumers {
            consumer.appended(&entry);
        }
        self.counters.appended += 1;
        if let Err(error) = self.make_room() {
            // The entry is safe; the owner hears of the failed eviction.
            self.notice(Notice::CleanupFailed {
                message: error.to_string(),
            });
        }
        Ok(seq)
    }

    /// Begins a new segment for `seq` when there is none, the last one is
    /// full or sealed.
    fn roll_if_full(&mut self, seq: Seq, record_len: usize) -> Result<(), OutboxError> {
        let full = |head: &Segment| {
            head.len > 0 && head.len + record_len as u64 > self.config.segment_bytes
        };
        if !self.head_sealed && self.segments.back().is_some_and(|head| !full(head)) {
            return Ok(());
        }
        let segment = Segment::create(&self.config.dir, &self.dir_file, seq.0)?;
        self.segments.push_back(segment);
        self.head_sealed = false;
        // The segment just closed may be all acknowledged already; failing
        // to delete it is no reason to refuse the entry.
        if let Err(error) = self.collect() {
            self.notice(Notice::CleanupFailed {
                message: error.to_string(),
            });
        }
        Ok(())
    }

    /// Up to `max` (at most [`READ_BATCH_MAX`]) entries for `consumer`
    /// after the last it was handed, in seq order, skipping those it has
    /// acknowledged; moves its read position past them.
    ///
    /// # Errors
    /// [`OutboxError::NoConsumer`]; a segment cannot be read (entries
    /// whose bytes read back damaged are not errors: they are dropped and
    /// reported as [`Notice::Unreadable`]).
    pub fn read(&mut self, consumer: ConsumerId, max: usize) -> Result<Vec<Entry>, OutboxError> {
        self.pick(consumer, max, true)
    }

    /// Up to `max` (at most [`READ_BATCH_MAX`]) unacknowledged entries
    /// for `consumer` from its cursor, in seq order; the read position
    /// stays.
    ///
    /// # Errors
    /// As [`Outbox::read`].
    pub fn pending(&mut self, consumer: ConsumerId, max: usize) -> Result<Vec<Entry>, OutboxError> {
        self.pick(consumer, max, false)
    }

    fn pick(
        &mut self,
        consumer: ConsumerId,
        max: usize,
        from_read: bool,
    ) -> Result<Vec<Entry>, OutboxError> {
        let index = &self.index;
        let picked = self
            .consumers
            .get_mut(consumer.0)
            .ok_or(OutboxError::NoConsumer(consumer))?
            .pick(index, max.min(READ_BATCH_MAX), from_read);
        let mut entries = Vec::with_capacity(picked.len());
        for entry in &picked {
            match self.load(entry) {
                Ok(Some(loaded)) => entries.push(loaded),
                Ok(None) => {}
                Err(error) => {
                    // None of them was handed out: read them again next time.
                    if from_read {
                        let consumer = &mut self.consumers[consumer.0];
                        consumer.read = consumer.read.min(picked[0].seq);
                    }
                    return Err(error);
                }
            }
        }
        Ok(entries)
    }

    /// Reads an entry's record back; `None` (and the entry dropped) if its
    /// bytes no longer check out.
    fn load(&mut self, entry: &IndexEntry) -> Result<Option<Entry>, OutboxError> {
        let segment = self
            .segment(entry.segment)
            .expect("every indexed entry's segment is open");
        let bytes = match segment.read_at(entry.offset, entry.len) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Vec::new(),
            Err(error) => return Err(io_err(FileOp::Read, &segment.path)(error)),
        };
        let checked = Record::new_checked(&bytes[..])
            .ok()
            .filter(|r| r.seq() == entry.seq && r.total_len() == bytes.len());
        if let Some(record) = checked {
            return Ok(Some(Entry {
                seq: entry.seq,
                kind: record.kind(),
                payload: record.payload().to_vec(),
            }));
        }
        let damage = Damage {
            kind: DamageKind::Unreadable,
            path: segment.path.clone(),
            offset: u64::from(entry.offset),
            len: u64::from(entry.len),
        };
        self.drop_entries(&[entry.seq]);
        self.counters.unreadable += 1;
        self.counters.damaged += 1;
        self.notice(Notice::Unreadable {
            damage,
            seq: entry.seq,
            kind: entry.kind,
        });
        Ok(None)
    }

    /// Sets `consumer`'s read position back to its cursor: the next
    /// [`Outbox::read`] hands out again every entry not acknowledged.
    ///
    /// # Errors
    /// [`OutboxError::NoConsumer`].
    pub fn rewind(&mut self, consumer: ConsumerId) -> Result<(), OutboxError> {
        let consumer = self.consumer_mut(consumer)?;
        consumer.read = consumer.next;
        Ok(())
    }

    /// Records that `consumer`'s destination has `seq`, in any order.
    /// Every `cursor_sync_every` acknowledgements recorded, the cursors
    /// file is written (with the first [`HELD_STORED_MAX`] held above each
    /// cursor); when a cursor moves, segments every consumer is done with
    /// are deleted.
    ///
    /// # Errors
    /// [`OutboxError::NoConsumer`]; writing the cursors file or deleting a
    /// segment failed (the acknowledgement stands in memory; the write is
    /// tried again at the next one or at [`Outbox::flush`]).
    pub fn ack(&mut self, consumer: ConsumerId, seq: Seq) -> Result<Ack, OutboxError> {
        let (index, next_seq) = (&self.index, self.next_seq);
        let outcome = self
            .consumers
            .get_mut(consumer.0)
            .ok_or(OutboxError::NoConsumer(consumer))?
            .ack(index, seq, next_seq);
        if matches!(outcome, Ack::Advanced | Ack::Held) {
            self.acks_unsaved += 1;
            if self.acks_unsaved >= self.config.cursor_sync_every {
                self.store_cursors()?;
            }
        }
        if outcome == Ack::Advanced {
            self.collect()?;
        }
        Ok(outcome)
    }

    /// Writes the cursors if any acknowledgement since the last write
    /// waits in memory.
    ///
    /// # Errors
    /// The cursors file could not be written.
    pub fn flush(&mut self) -> Result<(), OutboxError> {
        if self.consumers.iter().any(|c| c.dirty) {
            self.store_cursors()?;
        }
        Ok(())
    }

    fn store_cursors(&mut self) -> Result<(), OutboxError> {
        let cursors: Vec<Saved> = self
            .consumers
            .iter()
            .map(|c| Saved {
                name: c.name.clone(),
                next: c.next,
                held: c.acked.iter().copied().take(HELD_STORED_MAX).collect(),
            })
            .collect();
        cursors::store(&self.config.dir, &self.dir_file, &cursors)?;
        for consumer in &mut self.consumers {
            consumer.on_disk = consumer.next;
            consumer.dirty = false;
        }
        self.acks_unsaved = 0;
        Ok(())
    }

    /// The next notice, oldest first; drain after every call.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    pub(super) fn notice(&mut self, notice: Notice) {
        if self.notices.len() < NOTICES_MAX {
            self.notices.push_back(notice);
        } else {
            self.counters.notices_dropped += 1;
        }
    }

    /// Entries for `consumer` not yet acknowledged.
    ///
    /// # Errors
    /// [`OutboxError::NoConsumer`].
    pub fn depth(&self, consumer: ConsumerId) -> Result<u64, OutboxError> {
        self.consumers
            .get(consumer.0)
            .map(|c| c.unacked)
            .ok_or(OutboxError::NoConsumer(consumer))
    }

    /// The figures for monitoring.
    pub fn figures(&self) -> Figures {
        let c = &self.counters;
        Figures {
            bytes_on_disk: self.bytes,
            segments: self.segments.len(),
            entries: self.index.len(),
            next_seq: self.next_seq,
            appended: c.appended,
            evicted_events: c.evicted_events,
            evictions: c.evictions,
            damaged: c.damaged,
            bytes_discarded: c.bytes_discarded,
            unreadable: c.unreadable,
            notices_dropped: c.notices_dropped,
            consumers: self
                .consumers
                .iter()
                .map(|c| ConsumerFigures {
                    name: c.name.clone(),
                    depth: c.unacked,
                    cursor: c.next,
                    cursor_on_disk: c.on_disk,
                    acked_ahead: c.acked.len(),
                })
                .collect(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    pub(super) fn segment(&self, id: u64) -> Option<&Segment> {
        let at = self.segments.binary_search_by_key(&id, |s| s.id).ok()?;
        self.segments.get(at)
    }

    fn consumer_mut(&mut self, consumer: ConsumerId) -> Result<&mut Consumer, OutboxError> {
        self.consumers
            .get_mut(consumer.0)
            .ok_or(OutboxError::NoConsumer(consumer))
    }
}

/// A found record's bytes.
fn record_bytes<'a>(bytes: &'a [u8], found: &Found) -> &'a [u8] {
    let start = found.offset as usize;
    &bytes[start..start + found.len as usize]
}

/// Counts `entry` into its segment's totals.
pub(super) fn note_entry(segment: &mut Segment, entry: &IndexEntry) {
    if segment.entries == 0 {
        segment.first = entry.seq;
    }
    assert!(
        segment.entries == 0 || entry.seq > segment.last,
        "a segment's entries are in seq order"
    );
    segment.last = entry.seq;
    segment.entries += 1;
    segment.evictable += u32::from(entry.kind.evictable());
}

fn check_specs(specs: &[ConsumerSpec]) -> Result<(), OutboxError> {
    for (number, spec) in specs.iter().enumerate() {
        check_consumer_name(&spec.name)?;
        let error = |reason| OutboxError::Consumer {
            name: spec.name.clone(),
            reason,
        };
        if number >= MAX_CONSUMERS {
            return Err(error("one outbox takes at most 16 consumers"));
        }
        if specs[..number].iter().any(|s| s.name == spec.name) {
            return Err(error("is registered twice"));
        }
    }
    Ok(())
}

/// Takes the folder's lock: an exclusive `flock` on `{dir}/lock`, which
/// the kernel drops when the file closes (the outbox is dropped or the
/// process dies).
fn take_lock(dir: &Path) -> Result<File, OutboxError> {
    let path = dir.join(LOCK_NAME);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(FileOp::Lock, &path))?;
    // SAFETY: flock only reads the fd, which `file` keeps open for the
    // duration of the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(OutboxError::Busy {
                path: dir.to_owned(),
            });
        }
        return Err(io_err(FileOp::Lock, &path)(error));
    }
    Ok(file)
}
