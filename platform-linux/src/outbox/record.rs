//! One outbox record on disk: a zero-copy view ([`Record`]) checked once
//! by [`Record::new_checked`], and its parsed form ([`RecordRepr`]) with
//! `parse`/`emit`/`buffer_len`.
//!
//! ```text
//!  0..4    magic        "ESO" then the format version, 1
//!  4..8    payload_len  u32 little-endian, at most MAX_PAYLOAD_LEN
//!  8..16   seq          u64 little-endian, increasing through the outbox
//! 16       kind         1 event, 2 upload job; others unknown
//! 17..20   flags        zero; room for later formats, ignored on read
//! 20..24   crc          CRC-32C of bytes 0..20 and the payload
//! 24..     payload      payload_len bytes
//! ```
//!
//! The magic lets a reader find the next record after damaged bytes; the
//! checksum covers the header too, so a torn or flipped length is caught
//! before it is believed.

use std::ops::Range;

use super::crc::Crc32c;
use super::{Kind, MAX_PAYLOAD_LEN, Seq};

/// The first four bytes of every record (format version 1).
pub(super) const MAGIC: [u8; 4] = *b"ESO\x01";

const MAGIC_RANGE: Range<usize> = 0..4;
const LEN_RANGE: Range<usize> = 4..8;
const SEQ_RANGE: Range<usize> = 8..16;
const KIND_AT: usize = 16;
const FLAGS_RANGE: Range<usize> = 17..20;
const CRC_RANGE: Range<usize> = 20..24;
/// Bytes before the payload.
pub(super) const HEADER_LEN: usize = 24;

const _: () = assert!(MAGIC_RANGE.end == LEN_RANGE.start);
const _: () = assert!(LEN_RANGE.end == SEQ_RANGE.start);
const _: () = assert!(SEQ_RANGE.end == KIND_AT);
const _: () = assert!(KIND_AT + 1 == FLAGS_RANGE.start);
const _: () = assert!(FLAGS_RANGE.end == CRC_RANGE.start);
const _: () = assert!(CRC_RANGE.end == HEADER_LEN);
// A record's length fits the u32 offsets of the index.
const _: () = assert!(HEADER_LEN + MAX_PAYLOAD_LEN < u32::MAX as usize);

/// Why bytes are not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecordError {
    /// The bytes end inside the header, or before the payload they
    /// announce: a torn write when at the end of a file.
    Truncated,
    /// The first four bytes are not [`MAGIC`].
    BadMagic,
    /// The length field is above [`MAX_PAYLOAD_LEN`].
    TooLong,
    /// The checksum does not match the bytes.
    BadChecksum,
}

/// A checked view of one record at the start of `buffer` (which may go on
/// past it). Once built, no accessor can panic.
#[derive(Debug, Clone, Copy)]
pub(super) struct Record<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Record<T> {
    /// Checks that `buffer` starts with a whole record: header, length,
    /// payload present, checksum.
    pub(super) fn new_checked(buffer: T) -> Result<Record<T>, RecordError> {
        let bytes = buffer.as_ref();
        if bytes.len() < HEADER_LEN {
            return Err(
                if bytes.len() >= MAGIC_RANGE.end && bytes[MAGIC_RANGE] != MAGIC {
                    RecordError::BadMagic
                } else {
                    RecordError::Truncated
                },
            );
        }
        if bytes[MAGIC_RANGE] != MAGIC {
            return Err(RecordError::BadMagic);
        }
        let record = Record { buffer };
        let payload_len = record.payload_len();
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(RecordError::TooLong);
        }
        let bytes = record.buffer.as_ref();
        if bytes.len() < HEADER_LEN + payload_len {
            return Err(RecordError::Truncated);
        }
        let computed = Crc32c::new()
            .update(&bytes[..CRC_RANGE.start])
            .update(&bytes[HEADER_LEN..HEADER_LEN + payload_len])
            .finish();
        if computed != u32_at(bytes, CRC_RANGE) {
            return Err(RecordError::BadChecksum);
        }
        Ok(record)
    }

    fn payload_len(&self) -> usize {
        u32_at(self.buffer.as_ref(), LEN_RANGE) as usize
    }

    /// Header and payload.
    pub(super) fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// The sequence number.
    pub(super) fn seq(&self) -> Seq {
        let bytes = self.buffer.as_ref();
        Seq(u64::from_le_bytes(
            bytes[SEQ_RANGE]
                .try_into()
                .expect("the range is 8 bytes long"),
        ))
    }

    /// The entry kind.
    pub(super) fn kind(&self) -> Kind {
        Kind::from(self.buffer.as_ref()[KIND_AT])
    }

    /// The payload.
    pub(super) fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }
}

fn u32_at(bytes: &[u8], range: Range<usize>) -> u32 {
    u32::from_le_bytes(bytes[range].try_into().expect("the range is 4 bytes long"))
}

/// A record's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordRepr<'a> {
    pub(super) seq: Seq,
    pub(super) kind: Kind,
    pub(super) payload: &'a [u8],
}

impl<'a> RecordRepr<'a> {
    /// The content of a checked record.
    pub(super) fn parse(record: &Record<&'a [u8]>) -> RecordRepr<'a> {
        let bytes: &'a [u8] = record.buffer;
        RecordRepr {
            seq: record.seq(),
            kind: record.kind(),
            payload: &bytes[HEADER_LEN..record.total_len()],
        }
    }

    /// Bytes [`emit`](RecordRepr::emit) writes.
    pub(super) fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes the record at the start of `buffer`.
    ///
    /// # Panics
    /// If `buffer` is shorter than [`buffer_len`](RecordRepr::buffer_len)
    /// or the payload is over [`MAX_PAYLOAD_LEN`]: the caller checks both.
    pub(super) fn emit(&self, buffer: &mut [u8]) {
        assert!(
            self.payload.len() <= MAX_PAYLOAD_LEN,
            "payload length checked by the caller"
        );
        let total = self.buffer_len();
        let buffer = &mut buffer[..total];
        buffer[MAGIC_RANGE].copy_from_slice(&MAGIC);
        let len = u32::try_from(self.payload.len()).expect("MAX_PAYLOAD_LEN fits u32");
        buffer[LEN_RANGE].copy_from_slice(&len.to_le_bytes());
        buffer[SEQ_RANGE].copy_from_slice(&self.seq.0.to_le_bytes());
        buffer[KIND_AT] = u8::from(self.kind);
        buffer[FLAGS_RANGE].fill(0);
        buffer[HEADER_LEN..].copy_from_slice(self.payload);
        let crc = Crc32c::new()
            .update(&buffer[..CRC_RANGE.start])
            .update(&buffer[HEADER_LEN..])
            .finish();
        buffer[CRC_RANGE].copy_from_slice(&crc.to_le_bytes());
    }

    /// The record as a fresh byte vector, re-parsed to check the pair.
    pub(super) fn to_bytes(self) -> Vec<u8> {
        let mut bytes = vec![0; self.buffer_len()];
        self.emit(&mut bytes);
        let record = Record::new_checked(&bytes[..]).expect("an emitted record parses");
        assert_eq!(RecordRepr::parse(&record), self, "emit and parse agree");
        bytes
    }
}

/// Where the next record starting with [`MAGIC`] that checks out begins in
/// `bytes`, searching from `from`; `None` if no whole record follows.
pub(super) fn next_record_at(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    // Each turn moves `at` forward by at least one byte: at most
    // `bytes.len()` turns.
    while at + HEADER_LEN <= bytes.len() {
        let found = bytes[at..].windows(MAGIC.len()).position(|w| w == MAGIC)?;
        at += found;
        if Record::new_checked(&bytes[at..]).is_ok() {
            return Some(at);
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// seq 5, an event, payload `{}`.
    const FIXTURE: [u8; 26] = [
        b'E', b'S', b'O', 0x01, // magic, version 1
        0x02, 0x00, 0x00, 0x00, // payload_len 2
        0x05, 0, 0, 0, 0, 0, 0, 0,    // seq 5
        0x01, // kind: event
        0x00, 0x00, 0x00, // flags
        0x6B, 0x64, 0x3B, 0x95, // CRC-32C of bytes 0..20 and the payload
        b'{', b'}', // payload
    ];

    fn fixture_repr() -> RecordRepr<'static> {
        RecordRepr {
            seq: Seq(5),
            kind: Kind::Event,
            payload: b"{}",
        }
    }

    #[test]
    fn emit_writes_the_fixture_and_parse_reads_it_back() {
        assert_eq!(fixture_repr().to_bytes(), FIXTURE);
        let record = Record::new_checked(&FIXTURE[..]).expect("the fixture is a record");
        assert_eq!(RecordRepr::parse(&record), fixture_repr());
        assert_eq!(record.total_len(), FIXTURE.len());
    }

    #[test]
    fn every_cut_of_a_record_is_truncated() {
        for cut in 0..FIXTURE.len() {
            assert_eq!(
                Record::new_checked(&FIXTURE[..cut]).err(),
                Some(RecordError::Truncated),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_bit_is_refused_without_panic() {
        for byte in 0..FIXTURE.len() {
            for bit in 0..8 {
                let mut bytes = FIXTURE;
                bytes[byte] ^= 1 << bit;
                let result = Record::new_checked(&bytes[..]);
                assert!(result.is_err(), "bit {bit} of byte {byte} went unnoticed");
            }
        }
    }

    #[test]
    fn a_huge_length_is_refused_before_reading_on() {
        let mut bytes = FIXTURE;
        bytes[LEN_RANGE].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            Record::new_checked(&bytes[..]).err(),
            Some(RecordError::TooLong)
        );
    }

    #[test]
    fn unknown_kinds_parse_and_keep_their_byte() {
        let repr = RecordRepr {
            kind: Kind::Unknown(9),
            ..fixture_repr()
        };
        let bytes = repr.to_bytes();
        let record = Record::new_checked(&bytes[..]).expect("a record");
        assert_eq!(record.kind(), Kind::Unknown(9));
    }

    #[test]
    fn the_next_record_is_found_past_garbage() {
        let mut bytes = b"ESO\x01garbage".to_vec();
        let at = bytes.len();
        bytes.extend_from_slice(&FIXTURE);
        bytes.extend_from_slice(b"ESO");
        assert_eq!(next_record_at(&bytes, 0), Some(at));
        assert_eq!(next_record_at(&bytes, at + 1), None);
        assert_eq!(next_record_at(&[], 0), None);
    }
}
