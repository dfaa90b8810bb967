//! The COR machine: when does a channel's receiver count as open?

use heapless::Deque;

use crate::level::Vox;
use crate::time::{Duration, Instant};

use super::Timers;
use super::timer::{TimerName, TimerTable};

/// Where a channel's COR verdict comes from, and so which timers [`Cor`]
/// applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorSource {
    /// A GPIO line wired to the radio's COR/COS output: `cor_debounce_ms`,
    /// `cor_open_delay_ms` and `cor_hang_ms` apply.
    Line,
    /// The level meter's [`Vox`] gate. It already applies `cor_debounce_ms`
    /// and `cor_hang_ms` on the media clock, so [`Cor`] applies only the
    /// open delay: applying them again would make a talker wait twice the
    /// debounce and keep the channel open twice the hang.
    Vox,
    /// Always open (a scanner feed, a receiver with its squelch open): the
    /// machine opens when made and never closes. Levels are ignored.
    Always,
}

/// Whether the receiver is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorState {
    /// The source says closed.
    Closed,
    /// The source says open, not yet for the debounce and open delay.
    Opening,
    /// Open: someone is talking.
    Open,
    /// Open, but the source says closed; closes after the hang time.
    Hang,
}

impl CorState {
    /// A short fixed name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            CorState::Closed => "closed",
            CorState::Opening => "opening",
            CorState::Open => "open",
            CorState::Hang => "hang",
        }
    }
}

/// A change of the receiver's verdict, from [`Cor::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorEdge {
    /// The receiver opened: the channel starts sending.
    Opened,
    /// The receiver closed: the channel stops sending.
    Closed,
}

impl CorEdge {
    /// A short fixed name for logs (`cor` events).
    pub const fn name(self) -> &'static str {
        match self {
            CorEdge::Opened => "opened",
            CorEdge::Closed => "closed",
        }
    }
}

/// [`Cor`]'s deadlines: each belongs to the state of that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CorTimer {
    /// [`CorState::Opening`] becomes [`CorState::Open`].
    Opening,
    /// [`CorState::Hang`] becomes [`CorState::Closed`].
    Hang,
}

impl TimerName for CorTimer {
    const ALL: &'static [CorTimer] = &[CorTimer::Opening, CorTimer::Hang];
    fn index(self) -> usize {
        self as usize
    }
}

const COR_TIMERS: usize = 2;
const _: () = assert!(CorTimer::ALL.len() == COR_TIMERS);

/// The most edges one input makes: a due timer's, then the input's own.
const EDGES_PER_INPUT_MAX: usize = 2;

/// Edges waiting to be drained: a caller that drains after every input
/// never loses one.
pub const COR_EVENT_QUEUE_LEN: usize = 4;

const _: () = assert!(COR_EVENT_QUEUE_LEN >= EDGES_PER_INPUT_MAX);

/// What moves a [`Cor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// The source's verdict changed to this.
    Level(bool),
    /// A timer ran out.
    Elapsed(CorTimer),
}

/// One step, pure: the next state and the edge it makes. Timers belong to
/// states, so entering one arms its timer and leaving it clears it.
const fn step(state: CorState, input: Input) -> (CorState, Option<CorEdge>) {
    match (state, input) {
        (CorState::Closed, Input::Level(true)) => (CorState::Opening, None),
        (CorState::Opening, Input::Level(false)) => (CorState::Closed, None),
        (CorState::Opening, Input::Elapsed(CorTimer::Opening)) => {
            (CorState::Open, Some(CorEdge::Opened))
        }
        (CorState::Open, Input::Level(false)) => (CorState::Hang, None),
        // A new opening within the hang time: still the same transmission.
        (CorState::Hang, Input::Level(true)) => (CorState::Open, None),
        (CorState::Hang, Input::Elapsed(CorTimer::Hang)) => {
            (CorState::Closed, Some(CorEdge::Closed))
        }
        (state, _) => (state, None),
    }
}

/// A channel's receiver gate: a source's raw verdict in, debounced and
/// held edges out.
///
/// - It opens once the source has said "open" for `cor_debounce_ms +
///   cor_open_delay_ms` without a break (a shorter burst opens nothing).
/// - It closes once the source has said "closed" for `cor_hang_ms` (a
///   shorter drop, squelch flutter, is bridged). The hang time is the
///   closing edge's debounce, so the falling edge is not debounced twice:
///   the channel closes exactly `cor_hang_ms` after the line drops.
///
/// Which timers apply depends on the [`CorSource`].
///
/// # Driving it
///
/// Sans-IO: feed every change of the source with
/// [`handle_level`](Cor::handle_level) (or [`handle_vox`](Cor::handle_vox),
/// or through [`CorPin`](super::CorPin)), call
/// [`handle_timeout`](Cor::handle_timeout) no later than
/// [`poll_timeout`](Cor::poll_timeout) says, and after each call drain
/// [`poll_event`](Cor::poll_event) until it returns `None`. Every input
/// first runs the timers already due at its `now`, so a late caller still
/// sees the edges in order. A queue overflow (only if the caller does not
/// drain) is counted in [`events_dropped`](Cor::events_dropped).
#[derive(Debug, Clone)]
pub struct Cor {
    source: CorSource,
    /// Time from the first "open" to the edge.
    opening_ms: u64,
    /// Time from the first "closed" to the edge.
    hang_ms: u32,
    state: CorState,
    /// The source's last verdict.
    active: bool,
    timers: TimerTable<CorTimer, COR_TIMERS>,
    events: Deque<CorEdge, COR_EVENT_QUEUE_LEN>,
    events_dropped: u32,
}

impl Cor {
    /// A closed gate on `source`'s verdicts with the COR timers of
    /// `timers` (every COR timer value is valid). An [`CorSource::Always`]
    /// gate starts open, with [`CorEdge::Opened`] waiting to be drained.
    pub fn new(timers: &Timers, source: CorSource) -> Cor {
        let (opening_ms, hang_ms) = match source {
            CorSource::Line => (
                u64::from(timers.cor_debounce_ms) + u64::from(timers.cor_open_delay_ms),
                timers.cor_hang_ms,
            ),
            CorSource::Vox => (u64::from(timers.cor_open_delay_ms), 0),
            CorSource::Always => (0, 0),
        };
        let mut cor = Cor {
            source,
            opening_ms,
            hang_ms,
            state: CorState::Closed,
            active: false,
            timers: TimerTable::new(),
            events: Deque::new(),
            events_dropped: 0,
        };
        if source == CorSource::Always {
            cor.state = CorState::Open;
            cor.active = true;
            cor.push(CorEdge::Opened);
        }
        cor
    }

    /// The source says the receiver is `active` (open) as of `now`.
    /// Repeating the current verdict changes nothing; an
    /// [`Always`](CorSource::Always) gate ignores it.
    pub fn handle_level(&mut self, now: Instant, active: bool) {
        self.expire(now);
        if self.source == CorSource::Always || active == self.active {
            return;
        }
        self.active = active;
        self.apply(now, Input::Level(active));
        // A zero debounce or hang takes effect at once.
        self.expire(now);
    }

    /// Feeds the VOX gate's verdict (call after each
    /// [`Vox::push_block`], with the `now` the block was handled at). For
    /// a gate made with [`CorSource::Vox`].
    pub fn handle_vox(&mut self, now: Instant, vox: &Vox) {
        self.handle_level(now, vox.is_open());
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// When to call [`handle_timeout`](Cor::handle_timeout) next, if a
    /// timer is running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next edge, oldest first.
    pub fn poll_event(&mut self) -> Option<CorEdge> {
        self.events.pop_front()
    }

    /// The gate's state.
    pub fn state(&self) -> CorState {
        self.state
    }

    /// Whether the receiver counts as open (talking, or within the hang
    /// time).
    pub fn is_open(&self) -> bool {
        matches!(self.state, CorState::Open | CorState::Hang)
    }

    /// The source's last verdict, before any timer.
    pub fn source_active(&self) -> bool {
        self.active
    }

    /// Where the verdicts come from.
    pub fn source(&self) -> CorSource {
        self.source
    }

    /// Edges lost because the queue was not drained.
    pub fn events_dropped(&self) -> u32 {
        self.events_dropped
    }

    fn expire(&mut self, now: Instant) {
        // Each round clears a timer and arms at most one later or equal
        // one; two rounds cover Opening then Hang.
        for _ in 0..2 * COR_TIMERS {
            let Some((timer, at)) = self.timers.take_expired(now) else {
                return;
            };
            self.apply(at, Input::Elapsed(timer));
        }
    }

    fn apply(&mut self, at: Instant, input: Input) {
        let (next, edge) = step(self.state, input);
        if next != self.state {
            self.timers.clear_all();
            match next {
                CorState::Opening => self.timers.set(
                    CorTimer::Opening,
                    at + Duration::from_millis(self.opening_ms),
                ),
                CorState::Hang => self.timers.set(
                    CorTimer::Hang,
                    at + Duration::from_millis(u64::from(self.hang_ms)),
                ),
                CorState::Closed | CorState::Open => {}
            }
            self.state = next;
        }
        if let Some(edge) = edge {
            self.push(edge);
        }
    }

    fn push(&mut self, edge: CorEdge) {
        if self.events.push_back(edge).is_err() {
            self.events_dropped = self.events_dropped.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;
    use crate::level::VoxConfig;
    use crate::time::SampleIndex;

    fn ms(millis: u64) -> Instant {
        Instant::from_millis(millis)
    }

    /// 20 ms debounce, 250 ms hang.
    fn line() -> Cor {
        Cor::new(&Timers::DEFAULT, CorSource::Line)
    }

    /// Drives `cor` on a script of `(ms, level)` changes up to `end_ms`,
    /// calling `handle_timeout` when asked as a driver would, and returns
    /// the edges with the time they came out.
    fn run(cor: &mut Cor, script: &[(u64, bool)], end_ms: u64) -> Vec<(u64, CorEdge)> {
        let mut edges = Vec::new();
        for &(at, level) in script {
            timers_until(cor, ms(at), &mut edges);
            cor.handle_level(ms(at), level);
            drain(cor, ms(at), &mut edges);
        }
        timers_until(cor, ms(end_ms), &mut edges);
        edges
    }

    fn timers_until(cor: &mut Cor, now: Instant, edges: &mut Vec<(u64, CorEdge)>) {
        while let Some(deadline) = cor.poll_timeout().filter(|&d| d <= now) {
            cor.handle_timeout(deadline);
            drain(cor, deadline, edges);
        }
    }

    fn drain(cor: &mut Cor, at: Instant, edges: &mut Vec<(u64, CorEdge)>) {
        while let Some(edge) = cor.poll_event() {
            edges.push((at.as_millis(), edge));
        }
    }

    #[test]
    fn opens_after_the_debounce_and_closes_after_the_hang() {
        let mut cor = line();
        let edges = run(&mut cor, &[(100, true), (1_000, false)], 2_000);
        assert_eq!(edges, [(120, CorEdge::Opened), (1_250, CorEdge::Closed)]);
        assert_eq!(cor.state(), CorState::Closed);
        assert_eq!(cor.poll_timeout(), None);
    }

    #[test]
    fn a_bounce_shorter_than_the_debounce_opens_nothing() {
        let mut cor = line();
        // 19 ms of contact, twice, with a gap: never 20 ms unbroken.
        let edges = run(
            &mut cor,
            &[(100, true), (119, false), (125, true), (144, false)],
            1_000,
        );
        assert_eq!(edges, []);
        assert_eq!(cor.state(), CorState::Closed);
    }

    #[test]
    fn a_level_longer_than_the_debounce_opens_at_the_debounce() {
        let mut cor = line();
        // Bounces, then holds: opens 20 ms after the last rise.
        let edges = run(
            &mut cor,
            &[(100, true), (105, false), (110, true), (135, false)],
            1_000,
        );
        assert_eq!(edges, [(130, CorEdge::Opened), (385, CorEdge::Closed)]);
        // Exactly the debounce is enough.
        let mut cor = line();
        let edges = run(&mut cor, &[(0, true), (20, false)], 1_000);
        assert_eq!(edges, [(20, CorEdge::Opened), (270, CorEdge::Closed)]);
    }

    #[test]
    fn a_new_opening_within_the_hang_extends_it() {
        let mut cor = line();
        // Flutter: drops of 200 ms and 249 ms are bridged; the hang runs
        // from the last drop.
        let edges = run(
            &mut cor,
            &[
                (0, true),
                (500, false),
                (700, true),
                (800, false),
                (1_049, true),
                (1_100, false),
            ],
            2_000,
        );
        assert_eq!(edges, [(20, CorEdge::Opened), (1_350, CorEdge::Closed)]);
    }

    #[test]
    fn a_drop_of_exactly_the_hang_closes_and_reopening_debounces_again() {
        let mut cor = line();
        let edges = run(&mut cor, &[(0, true), (500, false), (750, true)], 2_000);
        assert_eq!(
            edges,
            [
                (20, CorEdge::Opened),
                (750, CorEdge::Closed),
                (770, CorEdge::Opened)
            ]
        );
        assert!(cor.is_open());
    }

    #[test]
    fn a_late_caller_still_sees_both_edges_in_order() {
        let mut cor = line();
        cor.handle_level(ms(0), true);
        assert_eq!(cor.poll_timeout(), Some(ms(20)));
        // The driver comes back long after the line dropped and the hang ran.
        cor.handle_level(ms(100), false);
        cor.handle_timeout(ms(10_000));
        assert_eq!(cor.poll_event(), Some(CorEdge::Opened));
        assert_eq!(cor.poll_event(), Some(CorEdge::Closed));
        assert_eq!(cor.poll_event(), None);
    }

    #[test]
    fn the_open_delay_adds_to_the_debounce() {
        let timers = Timers {
            cor_open_delay_ms: 300,
            ..Timers::DEFAULT
        };
        let mut cor = Cor::new(&timers, CorSource::Line);
        // A 250 ms kerchunk opens nothing; a longer one opens at 320 ms.
        assert_eq!(run(&mut cor, &[(0, true), (250, false)], 1_000), []);
        let edges = run(&mut cor, &[(1_000, true), (2_000, false)], 3_000);
        assert_eq!(edges, [(1_320, CorEdge::Opened), (2_250, CorEdge::Closed)]);
    }

    #[test]
    fn zero_timers_pass_the_level_straight_through() {
        let timers = Timers {
            cor_debounce_ms: 0,
            cor_hang_ms: 0,
            ..Timers::DEFAULT
        };
        let mut cor = Cor::new(&timers, CorSource::Line);
        cor.handle_level(ms(5), true);
        assert_eq!(cor.poll_event(), Some(CorEdge::Opened));
        cor.handle_level(ms(6), true);
        assert_eq!(cor.poll_event(), None);
        cor.handle_level(ms(7), false);
        assert_eq!(cor.poll_event(), Some(CorEdge::Closed));
        assert_eq!(cor.poll_timeout(), None);
    }

    #[test]
    fn vox_is_not_debounced_or_held_twice() {
        // The Vox gate applies the same 20 ms debounce and 250 ms hang on
        // the media clock; the COR machine passes its verdict straight on.
        let config = VoxConfig {
            rate_hz: 8_000,
            threshold_dbfs: -40.0,
            debounce_ms: Timers::DEFAULT.cor_debounce_ms,
            hang_ms: Timers::DEFAULT.cor_hang_ms,
        };
        let mut vox = Vox::new(config).expect("valid settings");
        let mut cor = Cor::new(&Timers::DEFAULT, CorSource::Vox);
        let loud = [8_000i16; 80]; // 10 ms blocks
        let quiet = [0i16; 80];
        let mut edges = Vec::new();
        for block in 0..100u64 {
            let samples = if (10..40).contains(&block) {
                &loud
            } else {
                &quiet
            };
            vox.push_block(SampleIndex(block * 80), samples);
            // The block is handled when it has been captured.
            cor.handle_vox(ms((block + 1) * 10), &vox);
            while let Some(edge) = cor.poll_event() {
                edges.push(((block + 1) * 10, edge));
            }
        }
        // Loud from 100 ms: VOX opens at 120 ms. Quiet from 400 ms: VOX
        // closes at 650 ms. No second debounce or hang on top.
        assert_eq!(edges, [(120, CorEdge::Opened), (650, CorEdge::Closed)]);
        assert_eq!(cor.poll_timeout(), None);
    }

    #[test]
    fn an_always_open_receiver_opens_once_and_stays_open() {
        let mut cor = Cor::new(&Timers::DEFAULT, CorSource::Always);
        assert_eq!(cor.poll_event(), Some(CorEdge::Opened));
        cor.handle_level(ms(10), false);
        cor.handle_timeout(ms(100_000));
        assert_eq!(cor.poll_event(), None);
        assert!(cor.is_open());
        assert_eq!(cor.poll_timeout(), None);
    }

    #[test]
    fn chatter_makes_bounded_work_and_no_edges() {
        // 1000 edges per second for 10 s, each half-period 0.5 ms: under
        // the debounce, so nothing opens and the queue stays empty.
        let mut cor = line();
        for i in 0..10_000u64 {
            let now = Instant::from_micros(i * 1_000);
            cor.handle_level(now, true);
            cor.handle_level(now + Duration::from_micros(500), false);
            assert_eq!(cor.poll_event(), None);
        }
        assert_eq!(cor.state(), CorState::Closed);
        assert_eq!(cor.events_dropped(), 0);
    }

    #[test]
    fn an_undrained_queue_counts_what_it_drops() {
        let timers = Timers {
            cor_debounce_ms: 0,
            cor_hang_ms: 0,
            ..Timers::DEFAULT
        };
        let mut cor = Cor::new(&timers, CorSource::Line);
        for i in 0..5u64 {
            cor.handle_level(ms(2 * i), true);
            cor.handle_level(ms(2 * i + 1), false);
        }
        assert_eq!(cor.events_dropped(), 10 - COR_EVENT_QUEUE_LEN as u32);
    }

    #[test]
    fn states_and_edges_have_log_names() {
        assert_eq!(CorState::Hang.name(), "hang");
        assert_eq!(CorEdge::Opened.name(), "opened");
    }
}
