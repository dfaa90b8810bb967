//! Bytes waiting in the output queues, each stored once however many
//! queues hold them: a text frame for every member of a channel, an audio
//! payload for every listener.
//!
//! The store is a pool of fixed-size chunks allocated when the relay
//! starts; an entry is a chain of chunks with a reference count, so a
//! fan-out costs one copy in and one reference per recipient, and nothing
//! is allocated afterwards. When the chunks or entries run out, `insert`
//! says so and the caller counts the drop.

use std::fmt;

/// One stored byte string. Each queue slot that holds it owns one
/// reference, given back with [`Store::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry(u32);

/// [`Store::insert`] found too few free chunks or entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StoreFull;

/// End of a chain: no next chunk, no next free entry.
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Record {
    /// The first chunk; for a free record, the next free record.
    first: u32,
    len: u32,
    /// References held; 0 for a free record.
    refs: u32,
}

/// A fixed pool of reference-counted byte strings.
pub(super) struct Store {
    chunk_len: usize,
    /// `chunks × chunk_len` bytes.
    bytes: Box<[u8]>,
    /// Per chunk: the next chunk of its entry, or of the free list.
    next: Box<[u32]>,
    free_chunk: u32,
    chunks_free: usize,
    /// As many as there are chunks: every non-empty entry holds one.
    records: Box<[Record]>,
    free_record: u32,
}

impl Store {
    /// A store of at least `bytes_max` bytes in chunks of `chunk_len`.
    ///
    /// # Panics
    /// `bytes_max` or `chunk_len` is 0, or the chunks would not be
    /// countable in a `u32` (the configuration is validated before).
    pub(super) fn new(bytes_max: usize, chunk_len: usize) -> Store {
        assert!(bytes_max > 0 && chunk_len > 0, "validated by RelayConfig");
        let chunks = bytes_max.div_ceil(chunk_len);
        let last = u32::try_from(chunks).expect("validated by RelayConfig") - 1;
        assert!(last < NONE - 1);
        let chain = |i: u32| if i == last { NONE } else { i + 1 };
        Store {
            chunk_len,
            bytes: vec![0; chunks * chunk_len].into_boxed_slice(),
            next: (0..=last).map(chain).collect(),
            free_chunk: 0,
            chunks_free: chunks,
            records: (0..=last)
                .map(|i| Record {
                    first: chain(i),
                    len: 0,
                    refs: 0,
                })
                .collect(),
            free_record: 0,
        }
    }

    /// Copies `bytes` in as a new entry holding one reference (the
    /// caller's: [`share`](Self::share) it per queue, then
    /// [`release`](Self::release) it).
    ///
    /// # Errors
    /// [`StoreFull`] when the free chunks cannot hold `bytes` or every
    /// entry is taken; nothing changed then.
    pub(super) fn insert(&mut self, bytes: &[u8]) -> Result<Entry, StoreFull> {
        let chunks = bytes.len().div_ceil(self.chunk_len);
        if self.free_record == NONE || chunks > self.chunks_free {
            return Err(StoreFull);
        }
        let index = self.free_record;
        self.free_record = self.records[index as usize].first;
        let mut first = NONE;
        for piece in bytes.chunks(self.chunk_len).rev() {
            let chunk = self.free_chunk;
            assert_ne!(chunk, NONE, "chunks_free counts the free list");
            self.free_chunk = self.next[chunk as usize];
            self.chunk_mut(chunk)[..piece.len()].copy_from_slice(piece);
            self.next[chunk as usize] = first;
            first = chunk;
        }
        self.chunks_free -= chunks;
        self.records[index as usize] = Record {
            first,
            len: u32::try_from(bytes.len()).expect("under the store's size"),
            refs: 1,
        };
        Ok(Entry(index))
    }

    /// One more reference to `entry`, for one more queue slot.
    pub(super) fn share(&mut self, entry: Entry) {
        let record = self.live_mut(entry);
        record.refs += 1;
    }

    /// Gives back one reference; the last one frees the entry's chunks.
    pub(super) fn release(&mut self, entry: Entry) {
        let record = self.live_mut(entry);
        record.refs -= 1;
        if record.refs > 0 {
            return;
        }
        let mut chunk = record.first;
        let index = entry.0 as usize;
        self.records[index].first = self.free_record;
        self.free_record = entry.0;
        while chunk != NONE {
            let next = self.next[chunk as usize];
            self.next[chunk as usize] = self.free_chunk;
            self.free_chunk = chunk;
            self.chunks_free += 1;
            chunk = next;
        }
    }

    /// Copies `entry`'s bytes to the start of `buf`; returns how many.
    ///
    /// # Panics
    /// `buf` is shorter than the entry, or `entry` was freed (bugs).
    pub(super) fn copy_to(&self, entry: Entry, buf: &mut [u8]) -> usize {
        let record = self.records[entry.0 as usize];
        assert!(record.refs > 0, "a queued entry holds a reference");
        let len = record.len as usize;
        let mut chunk = record.first;
        for piece in buf[..len].chunks_mut(self.chunk_len) {
            piece.copy_from_slice(&self.chunk(chunk)[..piece.len()]);
            chunk = self.next[chunk as usize];
        }
        len
    }

    /// Bytes in free chunks.
    pub(super) fn free_len(&self) -> usize {
        self.chunks_free * self.chunk_len
    }

    /// Bytes in all chunks.
    pub(super) fn capacity_len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether every chunk and entry is free (nothing queued).
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.chunks_free == self.next.len() && self.records.iter().all(|r| r.refs == 0)
    }

    fn live_mut(&mut self, entry: Entry) -> &mut Record {
        let record = &mut self.records[entry.0 as usize];
        assert!(record.refs > 0, "a queued entry holds a reference");
        record
    }

    fn chunk(&self, chunk: u32) -> &[u8] {
        let start = chunk as usize * self.chunk_len;
        &self.bytes[start..start + self.chunk_len]
    }

    fn chunk_mut(&mut self, chunk: u32) -> &mut [u8] {
        let start = chunk as usize * self.chunk_len;
        &mut self.bytes[start..start + self.chunk_len]
    }
}

impl fmt::Debug for Store {
    // The bytes are frames with keys in them and plaintext audio: print
    // the occupancy only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("chunk_len", &self.chunk_len)
            .field("chunks", &self.next.len())
            .field("chunks_free", &self.chunks_free)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(store: &Store, entry: Entry) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let len = store.copy_to(entry, &mut buf);
        buf[..len].to_vec()
    }

    #[test]
    fn entries_span_chunks_and_come_back_intact() {
        let mut store = Store::new(64, 8);
        let long: Vec<u8> = (0..21).collect();
        let a = store.insert(&long).unwrap();
        let b = store.insert(b"").unwrap();
        let c = store.insert(b"eight by").unwrap();
        assert_eq!(read(&store, a), long);
        assert_eq!(read(&store, b), b"");
        assert_eq!(read(&store, c), b"eight by");
        assert_eq!(store.chunks_free, 8 - 3 - 1);
    }

    #[test]
    fn the_last_reference_frees_and_a_full_store_refuses() {
        let mut store = Store::new(32, 8);
        let a = store.insert(&[1; 24]).unwrap();
        store.share(a);
        store.share(a);
        assert_eq!(store.insert(&[2; 9]), Err(StoreFull));
        let b = store.insert(&[2; 8]).unwrap();
        assert_eq!(store.insert(&[3; 1]), Err(StoreFull));
        store.release(a);
        store.release(a);
        assert_eq!(store.insert(&[3; 1]), Err(StoreFull));
        store.release(a);
        // Freed chunks are reused, in any order, without mixing bytes.
        let c = store.insert(&[3; 24]).unwrap();
        assert_eq!(read(&store, b), [2; 8]);
        assert_eq!(read(&store, c), [3; 24]);
        store.release(b);
        store.release(c);
        assert!(store.is_empty());
    }

    #[test]
    fn entries_run_out_with_the_chunks_even_when_empty() {
        let mut store = Store::new(16, 8);
        let a = store.insert(b"").unwrap();
        let b = store.insert(b"").unwrap();
        assert_eq!(store.insert(b""), Err(StoreFull));
        store.release(a);
        store.release(b);
        assert!(store.is_empty());
    }

    #[test]
    #[should_panic(expected = "a queued entry holds a reference")]
    fn releasing_a_freed_entry_is_a_bug() {
        let mut store = Store::new(16, 8);
        let a = store.insert(b"x").unwrap();
        store.release(a);
        store.release(a);
    }
}
