//! Tone-triggered passthrough: an alert whose definition names a target
//! channel routes the source channel's audio to that target for the
//! definition's `record_length_ms`, counted from the alert on the
//! source's media clock ([`SampleIndex`]). A new alert for the same target
//! during a passthrough extends it. Sans-IO, fixed storage: one deadline
//! per target. The node engine drives one [`Routes`] per source channel
//! and carries out what it says (the target's gate, its transmission and
//! its playback).

use crate::MAX_CHANNELS;
use crate::node::ChannelIndex;
use crate::time::{SampleIndex, frames_in_millis};

/// What an alert did to a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteEdge {
    /// The target was not carrying this source: it starts now.
    Started,
    /// It already was: its end moved later.
    Extended,
    /// It already was, until later than this alert asks: unchanged.
    Unchanged,
}

/// One source channel's passthrough routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    rate_hz: u32,
    /// Per target: the first sample no longer routed.
    until: [Option<SampleIndex>; MAX_CHANNELS],
}

impl Routes {
    /// No routes, for a source at `rate_hz`.
    pub fn new(rate_hz: u32) -> Routes {
        Routes {
            rate_hz,
            until: [None; MAX_CHANNELS],
        }
    }

    /// An alert at `detected_at` asks for `length_ms` of passthrough to
    /// `target`. A length of 0 asks for nothing ([`RouteEdge::Unchanged`]).
    pub fn handle_alert(
        &mut self,
        target: ChannelIndex,
        detected_at: SampleIndex,
        length_ms: u32,
    ) -> RouteEdge {
        let end = SampleIndex(
            detected_at
                .0
                .saturating_add(frames_in_millis(length_ms, self.rate_hz)),
        );
        let slot = &mut self.until[target.get()];
        match *slot {
            _ if length_ms == 0 => RouteEdge::Unchanged,
            None => {
                *slot = Some(end);
                RouteEdge::Started
            }
            Some(until) if end > until => {
                *slot = Some(end);
                RouteEdge::Extended
            }
            Some(_) => RouteEdge::Unchanged,
        }
    }

    /// Whether audio at `at` goes to `target`.
    pub fn carries(&self, target: ChannelIndex, at: SampleIndex) -> bool {
        self.until[target.get()].is_some_and(|until| at < until)
    }

    /// Whether no target is routed.
    pub fn is_empty(&self) -> bool {
        self.until.iter().all(Option::is_none)
    }

    /// The targets routed now, in index order.
    pub fn targets(&self) -> impl Iterator<Item = ChannelIndex> + '_ {
        self.until
            .iter()
            .enumerate()
            .filter(|(_, until)| until.is_some())
            .filter_map(|(i, _)| ChannelIndex::new(i))
    }

    /// How much of the passthrough to `target` is left once the source's
    /// audio has come to `reached`, in ms (0 when none).
    pub fn remaining_ms(&self, target: ChannelIndex, reached: SampleIndex) -> u32 {
        self.until[target.get()].map_or(0, |until| {
            let frames = until.0.saturating_sub(reached.0);
            u32::try_from(frames.saturating_mul(1_000) / u64::from(self.rate_hz.max(1)))
                .unwrap_or(u32::MAX)
        })
    }

    /// The first target whose passthrough is over once the source's audio
    /// has come to `reached`, removed; call until `None`.
    pub fn take_ended(&mut self, reached: SampleIndex) -> Option<ChannelIndex> {
        let index = self
            .until
            .iter()
            .position(|until| until.is_some_and(|until| reached >= until))?;
        self.until[index] = None;
        ChannelIndex::new(index)
    }

    /// Ends every route (the node stops); the targets, in index order.
    pub fn take_all(&mut self) -> Option<ChannelIndex> {
        let index = self.until.iter().position(Option::is_some)?;
        self.until[index] = None;
        ChannelIndex::new(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(i: usize) -> ChannelIndex {
        ChannelIndex::new(i).expect("index")
    }

    #[test]
    fn an_alert_routes_for_its_length_and_a_second_extends() {
        let mut r = Routes::new(1_000);
        assert_eq!(
            r.handle_alert(ch(1), SampleIndex(5_000), 30_000),
            RouteEdge::Started
        );
        assert!(r.carries(ch(1), SampleIndex(34_999)));
        assert!(!r.carries(ch(1), SampleIndex(35_000)));
        assert!(!r.carries(ch(2), SampleIndex(6_000)));
        assert_eq!(r.remaining_ms(ch(1), SampleIndex(25_000)), 10_000);
        assert_eq!(
            r.handle_alert(ch(1), SampleIndex(20_000), 30_000),
            RouteEdge::Extended
        );
        assert_eq!(
            r.handle_alert(ch(1), SampleIndex(21_000), 1_000),
            RouteEdge::Unchanged
        );
        assert_eq!(r.take_ended(SampleIndex(49_999)), None);
        assert_eq!(r.targets().collect::<heapless::Vec<_, 8>>(), [ch(1)]);
        assert_eq!(r.take_ended(SampleIndex(50_000)), Some(ch(1)));
        assert_eq!(r.take_ended(SampleIndex(50_000)), None);
        assert_eq!(r.targets().count(), 0);
    }

    #[test]
    fn zero_length_routes_nothing_and_shutdown_ends_all() {
        let mut r = Routes::new(48_000);
        assert_eq!(
            r.handle_alert(ch(0), SampleIndex(0), 0),
            RouteEdge::Unchanged
        );
        r.handle_alert(ch(3), SampleIndex(0), 1_000);
        r.handle_alert(ch(1), SampleIndex(0), 1_000);
        assert_eq!(r.take_all(), Some(ch(1)));
        assert_eq!(r.take_all(), Some(ch(3)));
        assert_eq!(r.take_all(), None);
    }
}
