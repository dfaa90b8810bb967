//! The radio machines' deadlines: one fixed table of named timers per
//! machine (the shape of quinn-proto's `TimerTable`), so "what is this
//! machine waiting for" is one array, not a field per feature.

use core::marker::PhantomData;

use crate::time::Instant;

/// A machine's timer names: a dense index into its table.
pub(crate) trait TimerName: Copy + 'static {
    /// Every name, in table order: `ALL[t.index()] == t`.
    const ALL: &'static [Self];

    /// The name's slot.
    fn index(self) -> usize;
}

/// When each timer `T` fires, if it is set. `N` is `T::ALL.len()`
/// (checked where each table is declared).
#[derive(Debug, Clone)]
pub(crate) struct TimerTable<T, const N: usize> {
    at: [Option<Instant>; N],
    names: PhantomData<T>,
}

impl<T: TimerName, const N: usize> TimerTable<T, N> {
    /// No timer set.
    pub(crate) const fn new() -> TimerTable<T, N> {
        TimerTable {
            at: [None; N],
            names: PhantomData,
        }
    }

    pub(crate) fn set(&mut self, timer: T, at: Instant) {
        self.at[timer.index()] = Some(at);
    }

    pub(crate) fn clear(&mut self, timer: T) {
        self.at[timer.index()] = None;
    }

    pub(crate) fn clear_all(&mut self) {
        self.at = [None; N];
    }

    pub(crate) fn is_set(&self, timer: T) -> bool {
        self.at[timer.index()].is_some()
    }

    pub(crate) fn deadline(&self, timer: T) -> Option<Instant> {
        self.at[timer.index()]
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Takes (clears and returns, with its deadline) the earliest timer due
    /// at `now`; of timers due at the same instant, the first in table
    /// order. Handling them earliest first keeps a late caller's time-out
    /// after the TX delay it followed.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<(T, Instant)> {
        let mut first: Option<(usize, Instant)> = None;
        for (index, at) in self.at.iter().enumerate() {
            if let Some(at) = *at
                && at <= now
                && first.is_none_or(|(_, earliest)| at < earliest)
            {
                first = Some((index, at));
            }
        }
        let (index, at) = first?;
        self.at[index] = None;
        Some((T::ALL[index], at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Name {
        A,
        B,
        C,
    }

    impl TimerName for Name {
        const ALL: &'static [Name] = &[Name::A, Name::B, Name::C];
        fn index(self) -> usize {
            self as usize
        }
    }

    #[test]
    fn expired_timers_come_out_earliest_first_once() {
        let mut table = TimerTable::<Name, 3>::new();
        assert_eq!(table.next(), None);
        table.set(Name::A, Instant::from_millis(30));
        table.set(Name::B, Instant::from_millis(10));
        table.set(Name::C, Instant::from_millis(10));
        assert_eq!(table.next(), Some(Instant::from_millis(10)));
        assert_eq!(table.take_expired(Instant::from_millis(9)), None);
        let now = Instant::from_millis(40);
        // B and C tie: table order.
        assert_eq!(
            table.take_expired(now),
            Some((Name::B, Instant::from_millis(10)))
        );
        assert_eq!(
            table.take_expired(now),
            Some((Name::C, Instant::from_millis(10)))
        );
        assert!(table.is_set(Name::A));
        assert_eq!(table.deadline(Name::A), Some(Instant::from_millis(30)));
        assert_eq!(
            table.take_expired(now),
            Some((Name::A, Instant::from_millis(30)))
        );
        assert_eq!(table.take_expired(now), None);
        table.set(Name::A, Instant::ZERO);
        table.clear(Name::A);
        assert_eq!(table.next(), None);
        table.set(Name::C, Instant::ZERO);
        table.clear_all();
        assert!(!table.is_set(Name::C));
    }
}
