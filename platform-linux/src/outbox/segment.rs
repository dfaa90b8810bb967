//! Segment files: `{dir}/{id:020}.seg`, records back to back (record.rs),
//! where `id` is the sequence number the segment was begun for. Names
//! sort as their records do; a rewritten segment keeps its name.
//!
//! Only this file and cursors.rs touch the disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::cursors::{sync_folder, write_replace};
use super::error::{FileOp, OutboxError, io_err};
use super::record::{Record, next_record_at};
use super::report::{Damage, DamageKind};
use super::{Kind, SEGMENT_FILES_MAX, Seq};

/// The extension of segment files.
const EXTENSION: &str = ".seg";
/// Digits in a segment's name: every `u64`.
const ID_DIGITS: usize = 20;
/// The extension of a file being rewritten.
pub(super) const TEMP_EXTENSION: &str = ".tmp";

/// One segment file, open for reading and (the last one) appending.
#[derive(Debug)]
pub(super) struct Segment {
    /// The sequence number it was begun for: at most its first record's.
    pub(super) id: u64,
    pub(super) path: PathBuf,
    file: File,
    /// Bytes in the file: all whole records.
    pub(super) len: u64,
    /// Its first and last entries' sequence numbers (when `entries > 0`).
    pub(super) first: Seq,
    pub(super) last: Seq,
    /// Entries in it.
    pub(super) entries: u32,
    /// Of those, entries eviction may drop.
    pub(super) evictable: u32,
}

/// A whole record found in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) seq: Seq,
    pub(super) kind: Kind,
    /// Where it starts in the file.
    pub(super) offset: u32,
    /// Header and payload.
    pub(super) len: u32,
}

/// What reading a segment found: its bytes, its good records, the damage.
#[derive(Debug)]
pub(super) struct Scan {
    pub(super) bytes: Vec<u8>,
    pub(super) found: Vec<Found>,
    pub(super) damage: Vec<Damage>,
    /// Some bytes between good records were skipped: the file must be
    /// rewritten with `found` only.
    pub(super) needs_rewrite: bool,
    /// Where the last good record (and so the kept file) ends.
    pub(super) good_len: u64,
}

/// The file name of segment `id`.
pub(super) fn file_name(id: u64) -> String {
    format!("{id:0ID_DIGITS$}{EXTENSION}")
}

/// The id of a segment file name, `None` for other files.
fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(EXTENSION)?;
    if digits.len() != ID_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment ids in `dir`, ascending; removes leftover `*.tmp` files
/// (rewrites that did not finish: the original is still in place).
///
/// # Errors
/// The folder cannot be listed, a leftover removed, or it holds more than
/// [`SEGMENT_FILES_MAX`] segments.
pub(super) fn list(dir: &Path) -> Result<Vec<u64>, OutboxError> {
    let mut ids = Vec::new();
    let entries = fs::read_dir(dir).map_err(io_err(FileOp::ListFolder, dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err(FileOp::ListFolder, dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TEMP_EXTENSION) {
            let path = entry.path();
            fs::remove_file(&path).map_err(io_err(FileOp::Remove, &path))?;
        } else if let Some(id) = parse_file_name(name) {
            if ids.len() == SEGMENT_FILES_MAX {
                return Err(OutboxError::Io {
                    op: FileOp::ListFolder,
                    path: dir.to_owned(),
                    source: io::Error::other("more than 100000 segment files"),
                });
            }
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

impl Segment {
    /// Opens segment `id` and reads it through, at most `len_max` bytes
    /// (more is damage: this version never writes so much). Records whose
    /// seq is not above `after` are skipped as out of order.
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub(super) fn open_and_scan(
        dir: &Path,
        id: u64,
        len_max: u64,
        after: Option<Seq>,
    ) -> Result<(Segment, Scan), OutboxError> {
        let path = dir.join(file_name(id));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err(FileOp::Open, &path))?;
        let mut bytes = Vec::new();
        (&file)
            .take(len_max)
            .read_to_end(&mut bytes)
            .map_err(io_err(FileOp::Read, &path))?;
        let file_len = file.metadata().map_err(io_err(FileOp::Read, &path))?.len();
        let mut scan = scan(&path, bytes, after);
        if file_len > scan.good_len && scan.bytes.len() as u64 == len_max {
            // The part past `len_max` was never read: count it in the tail.
            let tail = scan
                .damage
                .last_mut()
                .filter(|d| d.kind == DamageKind::TornTail);
            match tail {
                Some(tail) => tail.len = file_len - tail.offset,
                None => scan.damage.push(Damage {
                    kind: DamageKind::TornTail,
                    path: path.clone(),
                    offset: scan.good_len,
                    len: file_len - scan.good_len,
                }),
            }
        }
        let segment = Segment {
            id,
            path,
            file,
            len: file_len,
            first: Seq(0),
            last: Seq(0),
            entries: 0,
            evictable: 0,
        };
        Ok((segment, scan))
    }

    /// Creates an empty segment `id` (the folder fsynced, so the file
    /// survives a power cut).
    ///
    /// # Errors
    /// The file cannot be created, or the folder fsynced.
    pub(super) fn create(dir: &Path, dir_file: &File, id: u64) -> Result<Segment, OutboxError> {
        let path = dir.join(file_name(id));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(FileOp::Create, &path))?;
        sync_folder(dir_file, &path)?;
        Ok(Segment {
            id,
            path,
            file,
            len: 0,
            first: Seq(0),
            last: Seq(0),
            entries: 0,
            evictable: 0,
        })
    }

    /// Cuts the file back to `len` bytes, durably.
    ///
    /// # Errors
    /// The truncate or the fsync failed.
    pub(super) fn truncate(&mut self, len: u64) -> Result<(), OutboxError> {
        self.file
            .set_len(len)
            .map_err(io_err(FileOp::Truncate, &self.path))?;
        self.file
            .sync_data()
            .map_err(io_err(FileOp::Sync, &self.path))?;
        self.len = len;
        Ok(())
    }

    /// Appends one record's bytes and `fdatasync`s them; returns the
    /// record's offset.
    ///
    /// # Errors
    /// The write or the fsync failed. The file is then cut back to its
    /// previous length if it can be; the returned flag says whether it
    /// was (if not, the file must not be appended to again).
    pub(super) fn append(&mut self, record: &[u8]) -> Result<u64, (OutboxError, bool)> {
        let offset = self.len;
        let written = self
            .file
            .write_all_at(record, offset)
            .map_err(io_err(FileOp::Write, &self.path))
            .and_then(|()| {
                self.file
                    .sync_data()
                    .map_err(io_err(FileOp::Sync, &self.path))
            });
        match written {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(offset)
            }
            Err(error) => {
                // After a failed fsync the page cache may hold bytes that
                // never reach the disk: cut them off so that a later
                // record never follows a hole.
                let restored = self
                    .file
                    .set_len(offset)
                    .and_then(|()| self.file.sync_data())
                    .is_ok();
                Err((error, restored))
            }
        }
    }

    /// Reads `len` bytes at `offset`.
    ///
    /// # Errors
    /// What the read said (short files read as `UnexpectedEof`).
    pub(super) fn read_at(&self, offset: u32, len: u32) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; len as usize];
        self.file.read_exact_at(&mut bytes, u64::from(offset))?;
        Ok(bytes)
    }

    /// Replaces the file with `records` (whole records, in order), durably,
    /// under the same name; returns each record's new offset.
    ///
    /// # Errors
    /// Any step of write, fsync, rename, reopen; the old file is then
    /// still in place (or the new one, complete, if only the reopen
    /// failed).
    pub(super) fn rewrite(
        &mut self,
        dir_file: &File,
        records: &[&[u8]],
    ) -> Result<Vec<u32>, OutboxError> {
        let mut bytes = Vec::with_capacity(records.iter().map(|r| r.len()).sum());
        let mut offsets = Vec::with_capacity(records.len());
        for record in records {
            offsets.push(u32::try_from(bytes.len()).expect("a segment's offsets fit u32"));
            bytes.extend_from_slice(record);
        }
        let mut temp = self.path.clone().into_os_string();
        temp.push(TEMP_EXTENSION);
        write_replace(Path::new(&temp), &self.path, dir_file, &bytes)?;
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(io_err(FileOp::Open, &self.path))?;
        self.len = bytes.len() as u64;
        Ok(offsets)
    }

    /// Removes the file, durably.
    ///
    /// # Errors
    /// The remove or the folder's fsync failed.
    pub(super) fn remove(self, dir_file: &File) -> Result<(), OutboxError> {
        drop(self.file);
        fs::remove_file(&self.path).map_err(io_err(FileOp::Remove, &self.path))?;
        sync_folder(dir_file, &self.path)
    }
}

/// Walks `bytes` record by record. A stretch that is not a record is
/// skipped up to the next good record ([`DamageKind::Corrupt`]) or, if
/// none follows, is the torn tail ([`DamageKind::TornTail`]).
fn scan(path: &Path, bytes: Vec<u8>, after: Option<Seq>) -> Scan {
    let mut found = Vec::new();
    let mut damage = Vec::new();
    let mut needs_rewrite = false;
    let mut last = after;
    let mut at = 0;
    let mut good_len = 0;
    let stretch = |kind, from: usize, to: usize| Damage {
        kind,
        path: path.to_owned(),
        offset: from as u64,
        len: (to - from) as u64,
    };
    // Each turn moves `at` forward by at least one byte.
    while at < bytes.len() {
        match Record::new_checked(&bytes[at..]) {
            Ok(record) => {
                let len = record.total_len();
                let seq = record.seq();
                if last.is_some_and(|last| seq <= last) {
                    damage.push(stretch(DamageKind::OutOfOrder, at, at + len));
                    needs_rewrite = true;
                } else {
                    found.push(Found {
                        seq,
                        kind: record.kind(),
                        offset: u32::try_from(at).expect("segments are read up to u32 bytes"),
                        len: u32::try_from(len).expect("records fit u32"),
                    });
                    last = Some(seq);
                }
                at += len;
                good_len = at;
            }
            Err(_) => match next_record_at(&bytes, at + 1) {
                Some(next) => {
                    damage.push(stretch(DamageKind::Corrupt, at, next));
                    needs_rewrite = true;
                    at = next;
                }
                None => {
                    damage.push(stretch(DamageKind::TornTail, at, bytes.len()));
                    break;
                }
            },
        }
    }
    Scan {
        bytes,
        found,
        damage,
        needs_rewrite,
        good_len: good_len as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::RecordRepr;
    use super::*;

    fn record(seq: u64, payload: &[u8]) -> Vec<u8> {
        RecordRepr {
            seq: Seq(seq),
            kind: Kind::Event,
            payload,
        }
        .to_bytes()
    }

    #[test]
    fn names_sort_as_ids_and_other_files_are_not_segments() {
        assert_eq!(file_name(42), "00000000000000000042.seg");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_file_name("42.seg"), None);
        assert_eq!(parse_file_name("0000000000000000004x.seg"), None);
        assert_eq!(parse_file_name("cursors"), None);
        assert!(file_name(9) < file_name(10));
    }

    #[test]
    fn scan_keeps_good_records_around_garbage_and_cuts_the_tail() {
        let mut bytes = record(1, b"one");
        let garbage_at = bytes.len();
        bytes.extend_from_slice(b"\xFFgarbage");
        let second_at = bytes.len();
        bytes.extend_from_slice(&record(2, b"two"));
        let good_len = bytes.len();
        bytes.extend_from_slice(&record(3, b"three")[..10]);
        let total = bytes.len();
        let scan = scan(Path::new("/o/x.seg"), bytes, None);
        let seqs: Vec<u64> = scan.found.iter().map(|f| f.seq.0).collect();
        assert_eq!(seqs, [1, 2]);
        assert_eq!(scan.found[1].offset as usize, second_at);
        assert!(scan.needs_rewrite);
        assert_eq!(scan.good_len as usize, good_len);
        let kinds: Vec<(DamageKind, u64, u64)> = scan
            .damage
            .iter()
            .map(|d| (d.kind, d.offset, d.len))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    DamageKind::Corrupt,
                    garbage_at as u64,
                    (second_at - garbage_at) as u64
                ),
                (
                    DamageKind::TornTail,
                    good_len as u64,
                    (total - good_len) as u64
                ),
            ]
        );
    }

    #[test]
    fn scan_skips_records_not_above_the_previous_segment() {
        let mut bytes = record(4, b"old copy");
        bytes.extend_from_slice(&record(6, b"new"));
        let scan = scan(Path::new("/o/x.seg"), bytes, Some(Seq(5)));
        assert_eq!(scan.found.len(), 1);
        assert_eq!(scan.found[0].seq, Seq(6));
        assert_eq!(scan.damage[0].kind, DamageKind::OutOfOrder);
        assert!(scan.needs_rewrite);
    }
}
