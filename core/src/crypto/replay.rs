//! Per-stream anti-replay window: 128 packets, RFC 6479 bitmap.
//!
//! RFC 6479 ("IPsec Anti-Replay Algorithm without Bit Shifting") keeps the
//! window as a ring of machine words instead of one long shifted bitmap:
//! advancing the window clears whole words ahead of the old top instead of
//! shifting every bit. The ring holds one word more than the window needs
//! (RFC 6479 §2: the redundant block), so the oldest in-window sequence
//! number always has a valid bit while the newest word is being filled.
//!
//! The window is split in two steps so that a forged datagram never moves
//! it: [`ReplayWindow::check`] (read-only, before decrypting) and
//! [`ReplayWindow::commit`] (after the tag verifies).

use core::fmt;

use crate::wire::Seq;

/// How many sequence numbers back from the highest accepted one are still
/// accepted (the highest included): `highest - seq < REPLAY_WINDOW_LEN`.
pub const REPLAY_WINDOW_LEN: u32 = 128;

const BLOCK_BITS: u32 = u64::BITS;
/// Words in the ring. RFC 6479 uses a power of two so the word index is a
/// mask, and at least one more word than the window spans.
const BLOCKS: usize = 4;
const BLOCK_INDEX_MASK: u32 = BLOCKS as u32 - 1;

const _: () = assert!(BLOCKS.is_power_of_two());
// The redundant block of RFC 6479 §2: the window fits in the ring minus one
// word, so the word being filled never overlaps the oldest in-window one.
const _: () = assert!((BLOCKS as u32 - 1) * BLOCK_BITS >= REPLAY_WINDOW_LEN);

/// Why a sequence number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplayError {
    /// Already accepted once.
    Duplicate,
    /// Older than the window: [`REPLAY_WINDOW_LEN`] or more behind the
    /// highest accepted sequence number. It may or may not be a replay; the
    /// window can no longer tell.
    TooOld,
}

impl ReplayError {
    /// A short fixed name for counters and logs.
    pub const fn reason(&self) -> &'static str {
        match self {
            ReplayError::Duplicate => "duplicate",
            ReplayError::TooOld => "too_old",
        }
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Duplicate => f.write_str("sequence number already received"),
            ReplayError::TooOld => write!(
                f,
                "sequence number more than {REPLAY_WINDOW_LEN} behind the newest received"
            ),
        }
    }
}

impl core::error::Error for ReplayError {}

/// The replay state of one stream under one key. 40 bytes, no allocation.
///
/// Call [`check`](Self::check) before spending effort on a datagram and
/// [`commit`](Self::commit) only once its tag has verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// The highest committed sequence number; meaningless while `empty`.
    highest: u32,
    /// Nothing committed yet: every sequence number is acceptable.
    empty: bool,
    /// Bit `seq % 64` of word `(seq / 64) % BLOCKS` is set once `seq` is
    /// committed, for `seq` within the window.
    bitmap: [u64; BLOCKS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow::new()
    }
}

impl ReplayWindow {
    /// A window that has seen nothing.
    pub const fn new() -> ReplayWindow {
        ReplayWindow {
            highest: 0,
            empty: true,
            bitmap: [0; BLOCKS],
        }
    }

    /// The highest committed sequence number, if any.
    pub const fn highest(&self) -> Option<Seq> {
        if self.empty {
            None
        } else {
            Some(Seq(self.highest))
        }
    }

    /// Whether `seq` would be accepted now. Changes nothing.
    ///
    /// # Errors
    /// [`ReplayError::Duplicate`] if `seq` was committed,
    /// [`ReplayError::TooOld`] if it is behind the window.
    pub const fn check(&self, seq: Seq) -> Result<(), ReplayError> {
        let seq = seq.0;
        if self.empty || seq > self.highest {
            return Ok(());
        }
        if self.highest - seq >= REPLAY_WINDOW_LEN {
            return Err(ReplayError::TooOld);
        }
        let (block, bit) = position(seq);
        if self.bitmap[block] & bit != 0 {
            Err(ReplayError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Records `seq` as received, advancing the window if it is the newest.
    /// Call only after the datagram carrying it authenticated.
    ///
    /// Re-checks first, so committing twice is refused rather than harmful.
    ///
    /// # Errors
    /// As [`check`](Self::check); the window is unchanged on error.
    pub fn commit(&mut self, seq: Seq) -> Result<(), ReplayError> {
        self.check(seq)?;
        let seq = seq.0;
        if self.empty {
            self.bitmap = [0; BLOCKS];
            self.highest = seq;
            self.empty = false;
        } else if seq > self.highest {
            // RFC 6479 §3: clear the words between the old top word and the
            // new one; at most the whole ring, so the loop is bounded.
            let old_block = self.highest / BLOCK_BITS;
            let new_block = seq / BLOCK_BITS;
            let to_clear = (new_block - old_block).min(BLOCKS as u32);
            for i in 1..=to_clear {
                let index = (old_block.wrapping_add(i) & BLOCK_INDEX_MASK) as usize;
                self.bitmap[index] = 0;
            }
            self.highest = seq;
        }
        let (block, bit) = position(seq);
        self.bitmap[block] |= bit;
        Ok(())
    }
}

/// Word index and bit mask of `seq` in the ring.
const fn position(seq: u32) -> (usize, u64) {
    let block = ((seq / BLOCK_BITS) & BLOCK_INDEX_MASK) as usize;
    let bit = 1u64 << (seq % BLOCK_BITS);
    (block, bit)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::vec::Vec;

    /// The obviously-correct model: every accepted number, and the top.
    #[derive(Default)]
    struct Model {
        highest: Option<u32>,
        seen: HashSet<u32>,
    }

    impl Model {
        fn check(&self, seq: u32) -> Result<(), ReplayError> {
            match self.highest {
                None => Ok(()),
                Some(h) if seq > h => Ok(()),
                Some(h) if h - seq >= REPLAY_WINDOW_LEN => Err(ReplayError::TooOld),
                Some(_) if self.seen.contains(&seq) => Err(ReplayError::Duplicate),
                Some(_) => Ok(()),
            }
        }

        fn commit(&mut self, seq: u32) {
            self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
            self.seen.insert(seq);
        }
    }

    #[test]
    fn first_packet_is_accepted_at_any_number() {
        for start in [0, 1, 63, 64, 1_000_000, u32::MAX] {
            let mut w = ReplayWindow::new();
            assert_eq!(w.check(Seq(start)), Ok(()));
            w.commit(Seq(start)).unwrap();
            assert_eq!(w.highest(), Some(Seq(start)));
            assert_eq!(w.check(Seq(start)), Err(ReplayError::Duplicate));
        }
    }

    #[test]
    fn duplicates_rejected_reorders_accepted_too_old_rejected() {
        let mut w = ReplayWindow::new();
        for seq in [10, 12, 11, 200, 73, 199] {
            w.commit(Seq(seq)).unwrap();
        }
        assert_eq!(w.check(Seq(12)), Err(ReplayError::TooOld));
        assert_eq!(w.check(Seq(73)), Err(ReplayError::Duplicate));
        assert_eq!(w.check(Seq(72)), Err(ReplayError::TooOld));
        // 200 - 127 = 73 is the oldest still inside the window.
        assert_eq!(w.check(Seq(74)), Ok(()));
        assert_eq!(w.check(Seq(198)), Ok(()));
        assert_eq!(w.check(Seq(199)), Err(ReplayError::Duplicate));
        assert_eq!(w.check(Seq(200)), Err(ReplayError::Duplicate));
        assert_eq!(w.check(Seq(201)), Ok(()));
    }

    #[test]
    fn a_check_without_commit_never_moves_the_window() {
        let mut w = ReplayWindow::new();
        w.commit(Seq(5)).unwrap();
        let before = w.clone();
        // A forged datagram far ahead passes the cheap check...
        assert_eq!(w.check(Seq(1_000_000)), Ok(()));
        // ...but its tag fails, so it is never committed.
        assert_eq!(w, before);
        assert_eq!(w.check(Seq(4)), Ok(()));
    }

    #[test]
    fn commit_twice_is_refused_and_changes_nothing() {
        let mut w = ReplayWindow::new();
        w.commit(Seq(300)).unwrap();
        w.commit(Seq(250)).unwrap();
        let before = w.clone();
        assert_eq!(w.commit(Seq(250)), Err(ReplayError::Duplicate));
        assert_eq!(w.commit(Seq(1)), Err(ReplayError::TooOld));
        assert_eq!(w, before);
    }

    #[test]
    fn the_top_of_the_sequence_space_works() {
        let mut w = ReplayWindow::new();
        w.commit(Seq(u32::MAX - 200)).unwrap();
        w.commit(Seq(u32::MAX)).unwrap();
        assert_eq!(w.check(Seq(u32::MAX)), Err(ReplayError::Duplicate));
        assert_eq!(w.check(Seq(u32::MAX - 127)), Ok(()));
        assert_eq!(w.check(Seq(u32::MAX - 128)), Err(ReplayError::TooOld));
        assert_eq!(w.check(Seq(u32::MAX - 200)), Err(ReplayError::TooOld));
    }

    #[test]
    fn a_jump_clears_stale_bits_from_the_ring() {
        // 0..64 fill word 0; a jump of exactly one ring (256) lands in word 0
        // again, which must have been cleared.
        let mut w = ReplayWindow::new();
        for seq in 0..64 {
            w.commit(Seq(seq)).unwrap();
        }
        w.commit(Seq(256 + 64)).unwrap();
        for seq in 256 + 64 - 127..256 + 64 {
            assert_eq!(w.check(Seq(seq)), Ok(()), "seq {seq}");
        }
    }

    /// A step in a property test: how far to move from the last number, and
    /// whether the datagram authenticates (forged ones are checked only).
    fn steps() -> impl Strategy<Value = Vec<(i64, bool)>> {
        let delta = prop_oneof![
            8 => -140i64..=140,
            1 => -400i64..=400,
            1 => 0i64..=100_000,
        ];
        proptest::collection::vec((delta, proptest::bool::weighted(0.85)), 1..400)
    }

    proptest! {
        #[test]
        fn window_matches_the_model(start in 0u32..1_000, steps in steps()) {
            let mut window = ReplayWindow::new();
            let mut model = Model::default();
            let mut seq = i64::from(start);
            for (delta, authentic) in steps {
                seq = (seq + delta).clamp(0, i64::from(u32::MAX));
                let s = u32::try_from(seq).unwrap();
                let expected = model.check(s);
                prop_assert_eq!(window.check(Seq(s)), expected, "check {}", s);
                if authentic {
                    prop_assert_eq!(window.commit(Seq(s)), expected, "commit {}", s);
                    if expected.is_ok() {
                        model.commit(s);
                    }
                }
                prop_assert_eq!(window.highest().map(|s| s.0), model.highest);
            }
        }
    }
}
