//! The engine's deadlines: one fixed table of named timers (the shape of
//! quinn-proto's `TimerTable`), so "what is the engine waiting for" is one
//! array, not a field per feature.

use crate::MAX_CHANNELS;
use crate::time::Instant;

use super::ChannelIndex;

/// Every deadline the engine keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The link is down: the next attempt starts.
    Retry,
    /// The attempt under way must have been welcomed by now.
    ConnectDeadline,
    /// The relay has said nothing on signaling for too long.
    SignalSilence,
    /// Time for the next heartbeats on every registered stream: a round,
    /// or a probe while the last heartbeats' echo is late.
    HeartbeatRound,
    /// The oldest datagram held for an unannounced key gives up.
    ParkedExpiry,
    /// `transmit active:false` is due for a channel's last talk-spurt.
    TransmitRelease(ChannelIndex),
}

/// Timers not tied to a channel.
const GLOBAL_TIMERS: usize = 5;

impl Timer {
    /// Every timer, in table order.
    pub(crate) const fn index(self) -> usize {
        match self {
            Timer::Retry => 0,
            Timer::ConnectDeadline => 1,
            Timer::SignalSilence => 2,
            Timer::HeartbeatRound => 3,
            Timer::ParkedExpiry => 4,
            Timer::TransmitRelease(channel) => GLOBAL_TIMERS + channel.get(),
        }
    }

    const fn from_index(index: usize) -> Timer {
        match index {
            0 => Timer::Retry,
            1 => Timer::ConnectDeadline,
            2 => Timer::SignalSilence,
            3 => Timer::HeartbeatRound,
            4 => Timer::ParkedExpiry,
            i => Timer::TransmitRelease(ChannelIndex::new_unchecked(i - GLOBAL_TIMERS)),
        }
    }
}

const TIMERS: usize = GLOBAL_TIMERS + MAX_CHANNELS;

/// When each [`Timer`] fires, if it is set.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; TIMERS],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.at[timer.index()] = Some(at);
    }

    /// When `timer` fires, if it is set.
    pub(crate) fn at(&self, timer: Timer) -> Option<Instant> {
        self.at[timer.index()]
    }

    pub(crate) fn clear(&mut self, timer: Timer) {
        self.at[timer.index()] = None;
    }

    /// Clears every timer but `keep`.
    pub(crate) fn clear_all_but(&mut self, keep: Timer) {
        for (i, at) in self.at.iter_mut().enumerate() {
            if i != keep.index() {
                *at = None;
            }
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Takes (clears and returns, with its deadline) the first timer due
    /// at `now`, in table order.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<(Timer, Instant)> {
        let index = self
            .at
            .iter()
            .position(|at| at.is_some_and(|at| at <= now))?;
        let at = self.at[index].take().expect("found set just above");
        Some((Timer::from_index(index), at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timer_has_its_own_slot() {
        for i in 0..TIMERS {
            assert_eq!(Timer::from_index(i).index(), i);
        }
    }

    #[test]
    fn the_earliest_is_next_and_expired_ones_are_taken_once() {
        let mut table = TimerTable::default();
        let ch = ChannelIndex::new_unchecked(3);
        table.set(Timer::SignalSilence, Instant::from_millis(20));
        table.set(Timer::TransmitRelease(ch), Instant::from_millis(10));
        assert_eq!(table.next(), Some(Instant::from_millis(10)));
        assert_eq!(table.take_expired(Instant::from_millis(9)), None);
        let now = Instant::from_millis(25);
        assert_eq!(
            table.take_expired(now),
            Some((Timer::SignalSilence, Instant::from_millis(20)))
        );
        assert_eq!(
            table.take_expired(now),
            Some((Timer::TransmitRelease(ch), Instant::from_millis(10)))
        );
        assert_eq!(table.take_expired(now), None);
        assert_eq!(table.next(), None);
    }
}
