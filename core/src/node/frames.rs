//! One channel's captured frames between the capture side and the wire:
//! the pre-roll while the channel is quiet, and the frames committed to be
//! sent while it talks.
//!
//! Frames are variable-length Opus packets, so they are kept in one byte
//! ring per channel ([`FRAME_BYTES`]) with a small table of entries
//! ([`FRAME_ENTRIES`]): a 300 ms pre-roll of 20 ms frames at 24 kbit/s
//! takes about 1 KiB, and even 1275-byte packets (Opus' largest) fit a
//! dozen. The first `committed` entries are on their way out
//! ([`FrameRing::pop_committed`]); the rest are the pre-roll, oldest
//! first, evicted as new ones arrive.

use heapless::Deque;

use crate::wire::{MAX_PAYLOAD_LEN, MediaTimestamp};

/// Bytes of payload one channel holds.
pub const FRAME_BYTES: usize = 16 * 1024;

/// Frames one channel holds; also the longest pre-roll in frames.
pub const FRAME_ENTRIES: usize = 64;

const _: () = assert!(FRAME_BYTES >= 4 * MAX_PAYLOAD_LEN);
const _: () = assert!(FRAME_BYTES <= u16::MAX as usize);

/// What a kept frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Where its payload starts in the byte ring.
    at: u16,
    /// Its payload length (0 for an end of transmission).
    pub(crate) len: u16,
    pub(crate) timestamp: MediaTimestamp,
    /// The packet carries in-band FEC.
    pub(crate) fec: bool,
    /// An end-of-transmission marker (no payload).
    pub(crate) end: bool,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct FrameRing {
    bytes: [u8; FRAME_BYTES],
    entries: Deque<Entry, FRAME_ENTRIES>,
    /// The first `committed` entries are to be sent.
    committed: usize,
}

impl FrameRing {
    pub(crate) const fn new() -> FrameRing {
        FrameRing {
            bytes: [0; FRAME_BYTES],
            entries: Deque::new(),
            committed: 0,
        }
    }

    /// Frames waiting to be sent.
    #[cfg(test)]
    pub(crate) fn committed(&self) -> usize {
        self.committed
    }

    /// Frames kept as pre-roll.
    #[cfg(test)]
    pub(crate) fn preroll(&self) -> usize {
        self.entries.len() - self.committed
    }

    /// Every kept frame is to be sent (the channel opened).
    pub(crate) fn commit_all(&mut self) {
        self.committed = self.entries.len();
    }

    /// Drops pre-roll frames, oldest first, until at most `keep` remain.
    /// Only possible while nothing is committed (the committed frames are
    /// in front of them); returns how many were dropped.
    pub(crate) fn trim_preroll(&mut self, keep: usize) -> usize {
        let mut dropped = 0;
        while self.committed == 0 && self.entries.len() > keep {
            self.entries.pop_front();
            dropped += 1;
        }
        dropped
    }

    /// Keeps a frame, committed or as pre-roll. Pre-roll frames (oldest
    /// first) make room when the ring is full.
    ///
    /// # Errors
    /// The frame does not fit even with the pre-roll gone (only while
    /// committed frames wait, which the drain contract makes rare), or its
    /// payload is longer than [`MAX_PAYLOAD_LEN`]; nothing was kept.
    pub(crate) fn push(
        &mut self,
        timestamp: MediaTimestamp,
        fec: bool,
        end: bool,
        payload: &[u8],
        commit: bool,
    ) -> Result<(), ()> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(());
        }
        let at = loop {
            if let Some(at) = self.place(payload.len()) {
                break at;
            }
            if self.committed > 0 || self.entries.pop_front().is_none() {
                return Err(());
            }
        };
        self.bytes[at..at + payload.len()].copy_from_slice(payload);
        let entry = Entry {
            at: at as u16,
            len: payload.len() as u16,
            timestamp,
            fec,
            end,
        };
        if self.entries.push_back(entry).is_err() {
            // The entry table is full: the oldest pre-roll frame goes.
            if self.committed > 0 || self.entries.pop_front().is_none() {
                return Err(());
            }
            self.entries
                .push_back(entry)
                .expect("one entry was just removed");
        }
        if commit {
            // Committed frames are in front of the pre-roll: a committed
            // push only happens with no pre-roll kept behind the committed
            // ones (the channel is open), see `Channel`.
            self.committed = self.entries.len();
        }
        Ok(())
    }

    /// Takes the oldest committed frame, copying its payload into `out`
    /// (which must hold [`MAX_PAYLOAD_LEN`] bytes).
    pub(crate) fn pop_committed(&mut self, out: &mut [u8]) -> Option<Entry> {
        if self.committed == 0 {
            return None;
        }
        let entry = self.entries.pop_front().expect("committed entries exist");
        self.committed -= 1;
        let at = usize::from(entry.at);
        let len = usize::from(entry.len);
        out[..len].copy_from_slice(&self.bytes[at..at + len]);
        Some(entry)
    }

    /// Where `len` contiguous bytes fit after the newest entry, if they do.
    fn place(&self, len: usize) -> Option<usize> {
        let (Some(front), Some(back)) = (self.entries.front(), self.entries.back()) else {
            return (len <= FRAME_BYTES).then_some(0);
        };
        let head = usize::from(front.at);
        let tail = usize::from(back.at) + usize::from(back.len);
        if usize::from(back.at) >= head {
            // Not wrapped: room after the tail, else at the start.
            if FRAME_BYTES - tail >= len {
                Some(tail)
            } else if head >= len {
                Some(0)
            } else {
                None
            }
        } else {
            // Wrapped: room between the tail and the head.
            (head.saturating_sub(tail) >= len).then_some(tail)
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    fn ts(n: u32) -> MediaTimestamp {
        MediaTimestamp(n * 960)
    }

    fn drain(ring: &mut FrameRing) -> Vec<(u32, Vec<u8>)> {
        let mut out = [0u8; MAX_PAYLOAD_LEN];
        core::iter::from_fn(|| {
            ring.pop_committed(&mut out)
                .map(|e| (e.timestamp.0 / 960, out[..usize::from(e.len)].to_vec()))
        })
        .collect()
    }

    #[test]
    fn the_preroll_keeps_the_newest_frames_in_order() {
        let mut ring = FrameRing::new();
        for n in 0..10u32 {
            ring.push(ts(n), false, false, &[n as u8; 100], false)
                .unwrap();
            ring.trim_preroll(4);
        }
        assert_eq!(ring.preroll(), 4);
        ring.commit_all();
        let got = drain(&mut ring);
        assert_eq!(
            got.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [6, 7, 8, 9]
        );
        assert!(got.iter().all(|(n, p)| p == &[*n as u8; 100]));
    }

    #[test]
    fn variable_lengths_wrap_around_the_byte_ring_intact() {
        let mut ring = FrameRing::new();
        let mut sent = Vec::new();
        for round in 0..200u32 {
            let len = 1 + (round as usize * 397) % MAX_PAYLOAD_LEN;
            let payload = &[round as u8; MAX_PAYLOAD_LEN][..len];
            ring.push(ts(round), false, false, payload, false).unwrap();
            ring.trim_preroll(FRAME_ENTRIES);
            if round % 7 == 0 {
                ring.commit_all();
                sent.extend(drain(&mut ring));
            }
        }
        for (n, payload) in sent {
            assert!(payload.iter().all(|&b| b == n as u8), "frame {n}");
        }
    }

    #[test]
    fn committed_frames_are_never_evicted() {
        let mut ring = FrameRing::new();
        let big = [7u8; MAX_PAYLOAD_LEN];
        let mut kept = 0;
        while ring.push(ts(kept), false, false, &big, true).is_ok() {
            kept += 1;
        }
        assert_eq!(ring.committed(), kept as usize);
        assert!(kept as usize >= FRAME_BYTES / MAX_PAYLOAD_LEN - 1);
        assert_eq!(drain(&mut ring).len(), kept as usize);
        assert!(
            ring.push(ts(0), false, true, &[], true).is_ok(),
            "room again"
        );
    }

    #[test]
    fn too_long_a_payload_is_refused() {
        let mut ring = FrameRing::new();
        assert!(
            ring.push(ts(0), false, false, &[0; MAX_PAYLOAD_LEN + 1], true)
                .is_err()
        );
        assert_eq!(ring.committed(), 0);
    }
}
