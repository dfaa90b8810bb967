//! The cursors file: each consumer's first unacknowledged sequence number
//! and the first [`HELD_STORED_MAX`] acknowledgements held above it,
//! replaced whole (write `cursors.tmp`, fsync, rename, fsync the folder),
//! so that after a crash it holds either the old cursors or the new.
//!
//! ```text
//!  0..4   magic     "ESC" then the format version, 1
//!  4..6   count     u16 little-endian, at most MAX_CONSUMERS
//!  6..8   zero
//!  then count times:
//!         name_len  u8, 1..=CONSUMER_NAME_LEN_MAX
//!         name      name_len bytes of ASCII
//!         next      u64 little-endian
//!         held_len  u16 little-endian, at most HELD_STORED_MAX
//!         held      held_len times u64 little-endian, increasing, above next
//!  crc              CRC-32C of everything before it, u32 little-endian
//! ```

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::crc::crc32c;
use super::error::{FileOp, OutboxError, io_err};
use super::report::{Damage, DamageKind};
use super::{CONSUMER_NAME_LEN_MAX, HELD_STORED_MAX, MAX_CONSUMERS, Seq};

const MAGIC: [u8; 4] = *b"ESC\x01";
const HEAD_LEN: usize = 8;
const CRC_LEN: usize = 4;
/// One consumer's largest record.
const CONSUMER_LEN_MAX: usize = 1 + CONSUMER_NAME_LEN_MAX + 8 + 2 + 8 * HELD_STORED_MAX;
/// The largest file this version writes.
const FILE_LEN_MAX: usize = HEAD_LEN + MAX_CONSUMERS * CONSUMER_LEN_MAX + CRC_LEN;

const _: () = assert!(HELD_STORED_MAX <= u16::MAX as usize);

/// One consumer's line in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Saved {
    pub(super) name: String,
    /// Its first unacknowledged seq.
    pub(super) next: Seq,
    /// Acknowledged seqs above `next`, increasing.
    pub(super) held: Vec<Seq>,
}

/// The file's name in the outbox folder.
pub(super) const FILE_NAME: &str = "cursors";
/// The name it is written under before the rename.
pub(super) const TEMP_NAME: &str = "cursors.tmp";

/// What the folder's cursors file says.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    /// Each consumer named in it.
    pub(super) cursors: Vec<Saved>,
    /// Set when the file exists but does not check out.
    pub(super) damage: Option<Damage>,
}

/// Reads `dir/cursors`; a missing file is no cursors, a damaged one is no
/// cursors and a [`Damage`].
///
/// # Errors
/// The file exists but cannot be read.
pub(super) fn load(dir: &Path) -> Result<Loaded, OutboxError> {
    let path = dir.join(FILE_NAME);
    let mut bytes = Vec::with_capacity(FILE_LEN_MAX);
    match File::open(&path) {
        Ok(file) => {
            // One byte more than the largest valid file tells "too long".
            let limit = u64::try_from(FILE_LEN_MAX + 1).expect("a small constant");
            file.take(limit)
                .read_to_end(&mut bytes)
                .map_err(io_err(FileOp::Read, &path))?;
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Loaded::default()),
        Err(error) => return Err(io_err(FileOp::Open, &path)(error)),
    }
    Ok(match parse(&bytes) {
        Some(cursors) => Loaded {
            cursors,
            damage: None,
        },
        None => Loaded {
            cursors: Vec::new(),
            damage: Some(Damage {
                kind: DamageKind::Cursors,
                path,
                offset: 0,
                len: bytes.len() as u64,
            }),
        },
    })
}

/// The cursors in `bytes`, or `None` if they do not check out.
fn parse(bytes: &[u8]) -> Option<Vec<Saved>> {
    if bytes.len() < HEAD_LEN + CRC_LEN || bytes.len() > FILE_LEN_MAX || bytes[..4] != MAGIC {
        return None;
    }
    let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
    if crc32c(body).to_le_bytes() != crc {
        return None;
    }
    let count = usize::from(u16::from_le_bytes([body[4], body[5]]));
    if count > MAX_CONSUMERS {
        return None;
    }
    let mut reader = Reader { body, at: HEAD_LEN };
    let mut cursors = Vec::with_capacity(count);
    for _ in 0..count {
        let name_len = usize::from(reader.take(1)?[0]);
        let name = std::str::from_utf8(reader.take(name_len)?).ok()?;
        super::check_consumer_name(name).ok()?;
        let next = Seq(reader.u64()?);
        let held_len = usize::from(u16::from_le_bytes(reader.take(2)?.try_into().ok()?));
        if held_len > HELD_STORED_MAX {
            return None;
        }
        let mut held = Vec::with_capacity(held_len);
        let mut above = next;
        for _ in 0..held_len {
            let seq = Seq(reader.u64()?);
            if seq <= above {
                return None;
            }
            held.push(seq);
            above = seq;
        }
        cursors.push(Saved {
            name: name.to_owned(),
            next,
            held,
        });
    }
    (reader.at == body.len()).then_some(cursors)
}

/// Takes fields off the front of a body, never past its end.
struct Reader<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let field = self.body.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(field)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// The file's bytes for `cursors`, each with at most [`HELD_STORED_MAX`]
/// held acknowledgements (the lowest).
///
/// # Panics
/// Over [`MAX_CONSUMERS`] cursors, a name that [`check_consumer_name`]
/// refuses, or held seqs not increasing above their cursor: the caller
/// keeps all three.
///
/// [`check_consumer_name`]: super::check_consumer_name
fn emit(cursors: &[Saved]) -> Vec<u8> {
    assert!(cursors.len() <= MAX_CONSUMERS, "checked at registration");
    let mut bytes = Vec::with_capacity(HEAD_LEN + cursors.len() * CONSUMER_LEN_MAX + CRC_LEN);
    bytes.extend_from_slice(&MAGIC);
    let count = u16::try_from(cursors.len()).expect("MAX_CONSUMERS fits u16");
    bytes.extend_from_slice(&count.to_le_bytes());
    bytes.extend_from_slice(&[0, 0]);
    for saved in cursors {
        assert!(
            super::check_consumer_name(&saved.name).is_ok(),
            "checked at registration"
        );
        bytes.push(u8::try_from(saved.name.len()).expect("names are at most 64 bytes"));
        bytes.extend_from_slice(saved.name.as_bytes());
        bytes.extend_from_slice(&saved.next.0.to_le_bytes());
        let held = &saved.held[..saved.held.len().min(HELD_STORED_MAX)];
        let held_len = u16::try_from(held.len()).expect("HELD_STORED_MAX fits u16");
        bytes.extend_from_slice(&held_len.to_le_bytes());
        let mut above = saved.next;
        for seq in held {
            assert!(
                *seq > above,
                "held acknowledgements increase above the cursor"
            );
            bytes.extend_from_slice(&seq.0.to_le_bytes());
            above = *seq;
        }
    }
    let crc = crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(parse(&bytes).map(|c| c.len()), Some(cursors.len()));
    bytes
}

/// Replaces `dir/cursors` with `cursors`, durably.
///
/// # Errors
/// Any step of write, fsync, rename, fsync of the folder.
pub(super) fn store(dir: &Path, dir_file: &File, cursors: &[Saved]) -> Result<(), OutboxError> {
    let temp = dir.join(TEMP_NAME);
    write_replace(&temp, &dir.join(FILE_NAME), dir_file, &emit(cursors))
}

/// Writes `bytes` to `temp`, fsyncs it, renames it to `path` and fsyncs
/// the folder: `path` holds the old bytes or the new, whatever happens.
///
/// # Errors
/// The step that failed, naming its file.
pub(super) fn write_replace(
    temp: &Path,
    path: &Path,
    dir_file: &File,
    bytes: &[u8],
) -> Result<(), OutboxError> {
    let mut file = File::create(temp).map_err(io_err(FileOp::Create, temp))?;
    file.write_all(bytes).map_err(io_err(FileOp::Write, temp))?;
    file.sync_all().map_err(io_err(FileOp::Sync, temp))?;
    drop(file);
    fs::rename(temp, path).map_err(io_err(FileOp::Rename, temp))?;
    sync_folder(dir_file, path)
}

/// fsyncs the folder holding `path`, so a create, rename or remove in it
/// survives a power cut.
pub(super) fn sync_folder(dir_file: &File, path: &Path) -> Result<(), OutboxError> {
    let dir: PathBuf = path.parent().map(Path::to_owned).unwrap_or_default();
    dir_file
        .sync_all()
        .map_err(io_err(FileOp::SyncFolder, &dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(name: &str, next: u64, held: &[u64]) -> Saved {
        Saved {
            name: name.to_owned(),
            next: Seq(next),
            held: held.iter().copied().map(Seq).collect(),
        }
    }

    #[test]
    fn cursors_round_trip_through_the_file() {
        let dir = tempfile::tempdir().expect("a temp folder");
        let dir_file = File::open(dir.path()).expect("the folder opens");
        assert!(
            load(dir.path())
                .expect("no file is no cursors")
                .cursors
                .is_empty()
        );
        let cursors = [
            saved("mqtt", 7, &[9, 12]),
            saved("webhook:0", 1, &[]),
            saved("s3", u64::MAX, &[]),
        ];
        store(dir.path(), &dir_file, &cursors).expect("stored");
        let loaded = load(dir.path()).expect("loaded");
        assert!(loaded.damage.is_none());
        assert_eq!(loaded.cursors, cursors);
        assert!(!dir.path().join(TEMP_NAME).exists());
    }

    #[test]
    fn only_the_lowest_held_acknowledgements_are_written() {
        let held: Vec<u64> = (2..2 + HELD_STORED_MAX as u64 + 10).collect();
        let parsed = parse(&emit(&[saved("mqtt", 1, &held)])).expect("parses");
        assert_eq!(parsed[0].held.len(), HELD_STORED_MAX);
        assert_eq!(
            parsed[0].held.last(),
            Some(&Seq(HELD_STORED_MAX as u64 + 1))
        );
        let full = emit(&[saved("a", 1, &held)]);
        assert!(full.len() <= FILE_LEN_MAX);
    }

    #[test]
    fn every_flipped_bit_and_every_cut_is_damage_not_a_panic() {
        let bytes = emit(&[saved("mqtt", 7, &[8]), saved("s3", 3, &[])]);
        for at in 0..bytes.len() {
            assert!(parse(&bytes[..at]).is_none(), "cut at {at}");
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[at] ^= 1 << bit;
                assert!(parse(&flipped).is_none(), "bit {bit} of byte {at}");
            }
        }
    }

    #[test]
    fn a_damaged_file_loads_as_no_cursors_with_a_report() {
        let dir = tempfile::tempdir().expect("a temp folder");
        let bytes = b"ESC\x01 not a cursors file";
        fs::write(dir.path().join(FILE_NAME), bytes).expect("written");
        let loaded = load(dir.path()).expect("a damaged file is not an I/O error");
        assert!(loaded.cursors.is_empty());
        let damage = loaded.damage.expect("damage reported");
        assert_eq!(damage.kind, DamageKind::Cursors);
        assert_eq!(damage.len, bytes.len() as u64);
    }
}
