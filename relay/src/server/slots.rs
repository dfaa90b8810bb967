//! Sets of connection slots, a bit each: a loop turn visits the slots with
//! something to do (unread input, unflushed output, a timer) instead of
//! every slot, so an idle turn costs the same with 2 nodes or 500.

/// A set of slots below the capacity it was made with.
#[derive(Debug, Clone)]
pub(super) struct SlotSet {
    words: Box<[u64]>,
}

impl SlotSet {
    /// An empty set for slots `0..slots`.
    pub(super) fn new(slots: usize) -> SlotSet {
        SlotSet {
            words: vec![0; slots.div_ceil(64)].into_boxed_slice(),
        }
    }

    /// Adds `slot` (`on`) or removes it.
    ///
    /// # Panics
    /// `slot` is past the capacity.
    pub(super) fn set(&mut self, slot: usize, on: bool) {
        let bit = 1u64 << (slot % 64);
        if on {
            self.words[slot / 64] |= bit;
        } else {
            self.words[slot / 64] &= !bit;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The slots in the set, smallest first, for walks that do not
    /// change it.
    pub(super) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let slot = self.next(at)?;
            at = slot + 1;
            Some(slot)
        })
    }

    /// The smallest slot in the set at or after `from`. Loops that change
    /// the set while they walk it go `next(0)`, `next(slot + 1)`, …: a
    /// slot added behind the walk waits for the next walk.
    pub(super) fn next(&self, from: usize) -> Option<usize> {
        let mut index = from / 64;
        let mut word = *self.words.get(index)? & (u64::MAX << (from % 64));
        loop {
            if word != 0 {
                return Some(index * 64 + word.trailing_zeros() as usize);
            }
            index += 1;
            word = *self.words.get(index)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SlotSet;

    fn walk(set: &SlotSet) -> Vec<usize> {
        let mut found = Vec::new();
        let mut at = 0;
        while let Some(slot) = set.next(at) {
            found.push(slot);
            at = slot + 1;
        }
        found
    }

    #[test]
    fn walks_members_in_order_across_words() {
        let mut set = SlotSet::new(130);
        assert!(set.is_empty());
        assert_eq!(set.next(0), None);
        for slot in [129, 0, 63, 64, 5] {
            set.set(slot, true);
        }
        assert!(!set.is_empty());
        assert_eq!(walk(&set), [0, 5, 63, 64, 129]);
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 5, 63, 64, 129]);
        assert_eq!(set.next(6), Some(63));
        assert_eq!(set.next(65), Some(129));
        assert_eq!(set.next(130), None);
        set.set(63, false);
        set.set(63, false);
        assert_eq!(walk(&set), [0, 5, 64, 129]);
    }
}
