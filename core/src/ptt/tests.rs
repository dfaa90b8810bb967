//! The PTT machine's timer edges one by one, then properties over random
//! sessions of both machines: what a radio tech would notice on the air.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::time::{Duration, Instant};

fn ms(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

/// A punctual driver on virtual time: runs every timer at its deadline,
/// drains after every call, and logs each move with the time it came out.
struct Driver {
    ptt: Ptt,
    now: Instant,
    log: Vec<(Instant, PttEvent)>,
}

impl Driver {
    fn new(timers: Timers) -> Driver {
        Driver {
            ptt: Ptt::new(&timers).expect("valid timers"),
            now: Instant::ZERO,
            log: Vec::new(),
        }
    }

    /// Virtual time runs on to `until`.
    fn run_to(&mut self, until: Instant) {
        while let Some(deadline) = self.ptt.poll_timeout().filter(|&d| d <= until) {
            self.ptt.handle_timeout(deadline);
            self.drain(deadline);
        }
        self.now = until;
    }

    fn audio(&mut self, at: Instant, source: TxSource, pending: bool) {
        self.run_to(at);
        self.ptt.handle_audio(at, source, pending);
        self.drain(at);
    }

    fn shutdown(&mut self, at: Instant) {
        self.run_to(at);
        self.ptt.shutdown(at);
        self.drain(at);
    }

    fn drain(&mut self, at: Instant) {
        while let Some(event) = self.ptt.poll_event() {
            self.log.push((at, event));
        }
    }

    /// The moves so far as `(ms, to, reason)`, and forgets them.
    fn moves(&mut self) -> Vec<(u64, PttState, PttReason)> {
        self.log
            .drain(..)
            .map(|(at, e)| (at.as_millis(), e.to, e.reason))
            .collect()
    }
}

use PttReason as R;
use PttState as S;

#[test]
fn keys_then_plays_after_the_tx_delay() {
    let mut d = Driver::new(Timers::DEFAULT);
    d.audio(ms(1_000), TxSource::Remote, true);
    assert!(d.ptt.is_keyed());
    assert!(!d.ptt.may_play(), "the audio is held during the TX delay");
    d.run_to(Instant::from_micros(1_149_999));
    assert!(!d.ptt.may_play());
    d.run_to(ms(1_150));
    assert!(d.ptt.may_play());
    assert_eq!(
        d.moves(),
        [
            (1_000, S::TxDelay, R::Remote),
            (1_150, S::Keyed, R::TxDelay)
        ]
    );
}

#[test]
fn unkeys_the_hang_time_after_the_last_audio() {
    let mut d = Driver::new(Timers::DEFAULT);
    d.audio(ms(0), TxSource::Remote, true);
    d.audio(ms(2_000), TxSource::Remote, false);
    d.run_to(Instant::from_micros(2_499_999));
    assert!(d.ptt.is_keyed());
    d.run_to(ms(3_000));
    assert!(!d.ptt.is_keyed());
    assert_eq!(
        d.moves(),
        [
            (0, S::TxDelay, R::Remote),
            (150, S::Keyed, R::TxDelay),
            (2_000, S::Hang, R::AudioEnded),
            (2_500, S::Unkeyed, R::Hang),
        ]
    );
    assert_eq!(d.ptt.poll_timeout(), None);
}

#[test]
fn audio_in_the_hang_plays_at_once_and_after_it_waits_again() {
    let mut d = Driver::new(Timers::DEFAULT);
    d.audio(ms(0), TxSource::Remote, true);
    d.audio(ms(1_000), TxSource::Remote, false);
    d.audio(ms(1_499), TxSource::Remote, true);
    assert!(d.ptt.may_play(), "no second TX delay within the hang");
    d.audio(ms(2_000), TxSource::Remote, false);
    d.run_to(ms(2_600));
    // After the hang: a new transmission, a new TX delay.
    d.audio(ms(3_000), TxSource::Remote, true);
    assert!(!d.ptt.may_play());
    d.run_to(ms(3_150));
    assert!(d.ptt.may_play());
    assert_eq!(
        d.moves(),
        [
            (0, S::TxDelay, R::Remote),
            (150, S::Keyed, R::TxDelay),
            (1_000, S::Hang, R::AudioEnded),
            (1_499, S::Keyed, R::Remote),
            (2_000, S::Hang, R::AudioEnded),
            (2_500, S::Unkeyed, R::Hang),
            (3_000, S::TxDelay, R::Remote),
            (3_150, S::Keyed, R::TxDelay),
        ]
    );
}

#[test]
fn audio_that_ends_within_the_tx_delay_still_gets_its_delay_and_hang() {
    let mut d = Driver::new(Timers::DEFAULT);
    d.audio(ms(0), TxSource::Remote, true);
    d.audio(ms(50), TxSource::Remote, false);
    d.audio(ms(60), TxSource::Remote, true);
    d.audio(ms(70), TxSource::Remote, false);
    assert!(!d.ptt.may_play());
    d.run_to(ms(1_000));
    assert_eq!(
        d.moves(),
        [
            (0, S::TxDelay, R::Remote),
            (150, S::Hang, R::TxDelay),
            (650, S::Unkeyed, R::Hang),
        ]
    );
}

#[test]
fn times_out_at_exactly_timeout_s() {
    let mut d = Driver::new(Timers::DEFAULT);
    d.audio(ms(500), TxSource::Remote, true);
    assert_eq!(d.ptt.timeout_at(), Some(ms(180_500)));
    d.run_to(Instant::from_micros(180_499_999));
    assert!(d.ptt.is_keyed());
    d.run_to(ms(180_500));
    assert!(!d.ptt.is_keyed());
    assert_eq!(d.ptt.state(), S::LockedOut);
    assert_eq!(d.ptt.timeout_at(), None);
    let moves = d.moves();
    assert_eq!(moves[2], (180_500, S::LockedOut, R::Timeout));
    assert_eq!(moves.len(), 3);
}

#[test]
fn the_lockout_holds_while_the_far_side_talks_and_ends_lockout_s_after_it_stops() {
    let timers = Timers {
        timeout_s: 10,
        lockout_s: 5,
        ..Timers::DEFAULT
    };
    let mut d = Driver::new(timers);
    d.audio(ms(0), TxSource::Remote, true);
    d.run_to(ms(10_000));
    // The talker never stopped: no lock-out timer yet.
    assert_eq!(d.ptt.poll_timeout(), None);
    d.run_to(ms(60_000));
    assert_eq!(d.ptt.state(), S::LockedOut);
    d.audio(ms(60_000), TxSource::Remote, false);
    // Starts again 4.9 s later: refused, and the wait starts over.
    d.audio(ms(64_900), TxSource::Remote, true);
    assert!(!d.ptt.is_keyed());
    d.audio(ms(65_000), TxSource::Remote, false);
    d.run_to(Instant::from_micros(69_999_999));
    assert_eq!(d.ptt.state(), S::LockedOut);
    d.run_to(ms(70_000));
    assert_eq!(d.ptt.state(), S::Unkeyed);
    d.audio(ms(71_000), TxSource::Remote, true);
    assert_eq!(
        d.moves(),
        [
            (0, S::TxDelay, R::Remote),
            (150, S::Keyed, R::TxDelay),
            (10_000, S::LockedOut, R::Timeout),
            (64_900, S::LockedOut, R::Lockout),
            (70_000, S::Unkeyed, R::LockoutEnded),
            (71_000, S::TxDelay, R::Remote),
        ]
    );
}

#[test]
fn a_time_out_in_the_hang_locks_out_from_the_time_out() {
    let timers = Timers {
        ptt_hang_ms: 30_000,
        timeout_s: 5,
        lockout_s: 2,
        ..Timers::DEFAULT
    };
    let mut d = Driver::new(timers);
    d.audio(ms(0), TxSource::Remote, true);
    d.audio(ms(1_000), TxSource::Remote, false);
    d.run_to(ms(10_000));
    assert_eq!(
        d.moves(),
        [
            (0, S::TxDelay, R::Remote),
            (150, S::Keyed, R::TxDelay),
            (1_000, S::Hang, R::AudioEnded),
            (5_000, S::LockedOut, R::Timeout),
            (7_000, S::Unkeyed, R::LockoutEnded),
        ]
    );
}

#[test]
fn a_late_caller_sees_every_move_in_order() {
    let mut ptt = Ptt::new(&Timers::DEFAULT).expect("valid");
    ptt.handle_audio(ms(0), TxSource::Remote, true);
    ptt.handle_audio(ms(300_000), TxSource::Remote, false);
    let moves: Vec<_> = core::iter::from_fn(|| ptt.poll_event())
        .map(|e| (e.from, e.to, e.reason))
        .collect();
    assert_eq!(
        moves,
        [
            (S::Unkeyed, S::TxDelay, R::Remote),
            (S::TxDelay, S::Keyed, R::TxDelay),
            (S::Keyed, S::LockedOut, R::Timeout),
        ]
    );
    assert_eq!(ptt.poll_timeout(), Some(ms(305_000)));
}

#[test]
fn two_sources_key_once_and_unkey_after_both_stop() {
    let mut d = Driver::new(Timers::DEFAULT);
    d.audio(ms(0), TxSource::Passthrough, true);
    d.audio(ms(100), TxSource::Remote, true);
    d.audio(ms(1_000), TxSource::Passthrough, false);
    assert!(d.ptt.is_pending(TxSource::Remote));
    assert!(!d.ptt.is_pending(TxSource::Passthrough));
    d.audio(ms(2_000), TxSource::Remote, false);
    d.run_to(ms(3_000));
    assert_eq!(
        d.moves(),
        [
            (0, S::TxDelay, R::Passthrough),
            (150, S::Keyed, R::TxDelay),
            (2_000, S::Hang, R::AudioEnded),
            (2_500, S::Unkeyed, R::Hang),
        ]
    );
}

#[test]
fn zero_tx_delay_and_hang_take_effect_at_once() {
    let timers = Timers {
        tx_delay_ms: 0,
        ptt_hang_ms: 0,
        ..Timers::DEFAULT
    };
    let mut d = Driver::new(timers);
    d.audio(ms(10), TxSource::Remote, true);
    assert!(d.ptt.may_play());
    d.audio(ms(20), TxSource::Remote, false);
    assert!(!d.ptt.is_keyed());
    assert_eq!(
        d.moves(),
        [
            (10, S::TxDelay, R::Remote),
            (10, S::Keyed, R::TxDelay),
            (20, S::Hang, R::AudioEnded),
            (20, S::Unkeyed, R::Hang),
        ]
    );
}

/// A driver brought to `state`.
fn in_state(state: PttState) -> Driver {
    let mut d = Driver::new(Timers {
        timeout_s: 10,
        ..Timers::DEFAULT
    });
    let start = |d: &mut Driver| d.audio(ms(0), TxSource::Remote, true);
    match state {
        S::Unkeyed => {}
        S::TxDelay => start(&mut d),
        S::Keyed => {
            start(&mut d);
            d.run_to(ms(200));
        }
        S::Hang => {
            start(&mut d);
            d.audio(ms(200), TxSource::Remote, false);
        }
        S::LockedOut => {
            start(&mut d);
            d.run_to(ms(10_000));
        }
        S::Shutdown => d.shutdown(ms(1)),
    }
    assert_eq!(d.ptt.state(), state);
    d.log.clear();
    d
}

#[test]
fn shutdown_unkeys_from_every_state_and_for_good() {
    for state in [
        S::Unkeyed,
        S::TxDelay,
        S::Keyed,
        S::Hang,
        S::LockedOut,
        S::Shutdown,
    ] {
        let mut d = in_state(state);
        let now = d.now;
        d.shutdown(now);
        assert_eq!(d.ptt.state(), S::Shutdown, "from {state}");
        assert!(!d.ptt.is_keyed() && !d.ptt.may_play());
        assert_eq!(d.ptt.poll_timeout(), None);
        let moves = d.moves();
        if state == S::Shutdown {
            assert_eq!(moves, []);
        } else {
            let at = now.as_millis();
            assert_eq!(moves, [(at, S::Shutdown, R::Shutdown)], "from {state}");
        }
        // Nothing keys it again.
        d.audio(ms(11_000), TxSource::Remote, true);
        d.audio(ms(11_000), TxSource::Passthrough, true);
        d.run_to(ms(1_000_000));
        d.shutdown(ms(1_000_001));
        assert!(!d.ptt.is_keyed());
        assert_eq!(d.moves(), []);
    }
}

#[test]
fn moves_log_well() {
    let event = PttEvent {
        from: S::Unkeyed,
        to: S::TxDelay,
        reason: R::Remote,
    };
    assert_eq!(std::format!("{event}"), "unkeyed -> tx_delay (remote)");
    assert!(event.keyed() && event.line_changed());
    let refused = PttEvent {
        from: S::LockedOut,
        to: S::LockedOut,
        reason: R::Lockout,
    };
    assert!(!refused.keyed() && !refused.line_changed());
    for (i, reason) in PttReason::ALL.iter().enumerate() {
        assert_eq!(reason.index(), i);
    }
    assert_eq!(R::LockoutEnded.name(), "lockout_ended");
}

#[test]
fn refuses_timers_it_cannot_run() {
    let zero = Timers {
        timeout_s: 0,
        ..Timers::DEFAULT
    };
    assert_eq!(Ptt::new(&zero).err(), Some(TimersError::TimeoutZero));
}

#[test]
fn the_machines_are_small() {
    let cor = core::mem::size_of::<Cor>();
    let ptt = core::mem::size_of::<Ptt>();
    let event = core::mem::size_of::<PttEvent>();
    std::println!("size_of Cor = {cor} bytes, Ptt = {ptt} bytes, PttEvent = {event} bytes");
    assert!(cor <= 96, "{cor}");
    assert!(ptt <= 144, "{ptt}");
    assert!(event <= 4, "{event}");
}

// ---- properties --------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Op {
    Audio(TxSource, bool),
    /// Virtual time runs on this many µs.
    Wait(u64),
    Shutdown,
}

fn op() -> impl Strategy<Value = Op> {
    let source = prop_oneof![Just(TxSource::Remote), Just(TxSource::Passthrough)];
    prop_oneof![
        8 => (source, any::<bool>()).prop_map(|(s, on)| Op::Audio(s, on)),
        4 => (0u64..50_000).prop_map(Op::Wait),
        4 => (0u64..2_000_000).prop_map(Op::Wait),
        2 => (0u64..12_000_000).prop_map(Op::Wait),
        1 => Just(Op::Shutdown),
    ]
}

fn timers() -> impl Strategy<Value = Timers> {
    (0u32..600, 0u32..3_000, 1u32..8, 0u32..4).prop_map(
        |(tx_delay_ms, ptt_hang_ms, timeout_s, lockout_s)| Timers {
            tx_delay_ms,
            ptt_hang_ms,
            timeout_s,
            lockout_s,
            ..Timers::DEFAULT
        },
    )
}

/// What the properties remember about a session, kept apart from the
/// machine: an independent account of the lock-out.
#[derive(Debug, Default)]
struct Watch {
    keyed_since: Option<Instant>,
    /// Since when no source has had audio (`None` while one has).
    quiet_since: Option<Instant>,
    /// Locked out by a time-out and not yet released.
    locked: bool,
    locked_at: Instant,
    shut: bool,
    last_to: Option<PttState>,
}

impl Watch {
    /// Checks the machine after a call at `now` whose moves are `moves`.
    fn check(&mut self, t: &Timers, ptt: &Ptt, now: Instant, moves: &[(Instant, PttEvent)]) {
        let timeout = Duration::from_secs(u64::from(t.timeout_s));
        let lockout = Duration::from_secs(u64::from(t.lockout_s));
        for &(at, e) in moves {
            assert_eq!(e.from, self.last_to.unwrap_or(S::Unkeyed), "moves chain");
            self.last_to = Some(e.to);
            assert!(!self.shut, "a move after shutdown: {e}");
            let keyed_since = self.keyed_since;
            if e.line_changed() && e.keyed() {
                assert!(!self.locked, "keyed while locked out at {at}");
                self.keyed_since = Some(at);
            }
            if e.line_changed() && !e.keyed() {
                let since = self.keyed_since.take().expect("was keyed");
                assert!(at - since <= timeout, "keyed {} > {timeout}", at - since);
            }
            match e.reason {
                R::Timeout => {
                    assert_eq!(Some(at), keyed_since.map(|s| s + timeout));
                    self.locked = true;
                    self.locked_at = at;
                }
                R::LockoutEnded => {
                    // Released exactly when both the time-out and the far
                    // side's last audio are `lockout_s` past.
                    let quiet = self.quiet_since.expect("quiet when released");
                    assert_eq!(at, quiet.max(self.locked_at) + lockout);
                    self.locked = false;
                }
                R::Shutdown => self.shut = true,
                _ => {}
            }
        }
        assert_eq!(ptt.events_dropped(), 0);
        if ptt.is_keyed() {
            let since = self.keyed_since.expect("a keying move came out");
            assert!(now - since <= timeout, "still keyed after {}", now - since);
            assert_eq!(ptt.timeout_at(), Some(since + timeout));
            assert!(!self.locked && !self.shut);
            if let Some(quiet) = self.quiet_since {
                let most = Duration::from_millis(u64::from(t.tx_delay_ms))
                    + Duration::from_millis(u64::from(t.ptt_hang_ms));
                assert!(
                    now - quiet <= most,
                    "left keyed {} after the audio",
                    now - quiet
                );
            }
        }
        if ptt.may_play() {
            let since = self.keyed_since.expect("keyed");
            assert!(now - since >= Duration::from_millis(u64::from(t.tx_delay_ms)));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ptt_is_never_keyed_too_long_locked_out_early_or_after_shutdown(
        t in timers(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut d = Driver::new(t);
        let mut w = Watch { quiet_since: Some(Instant::ZERO), ..Watch::default() };
        for op in ops {
            match op {
                Op::Audio(source, on) => {
                    let now = d.now;
                    d.audio(now, source, on);
                }
                Op::Wait(us) => {
                    // Deadline by deadline, checking at each.
                    let until = d.now + Duration::from_micros(us);
                    while let Some(deadline) = d.ptt.poll_timeout().filter(|&x| x <= until) {
                        d.run_to(deadline);
                        let log: Vec<_> = d.log.drain(..).collect();
                        w.check(&t, &d.ptt, deadline, &log);
                    }
                    d.run_to(until);
                }
                Op::Shutdown => {
                    let now = d.now;
                    d.shutdown(now);
                }
            }
            let log: Vec<_> = d.log.drain(..).collect();
            let wanted = d.ptt.is_pending(TxSource::Remote) || d.ptt.is_pending(TxSource::Passthrough);
            match (wanted, w.quiet_since) {
                (true, _) => w.quiet_since = None,
                (false, None) => w.quiet_since = Some(d.now),
                (false, Some(_)) => {}
            }
            w.check(&t, &d.ptt, d.now, &log);
            if w.shut {
                prop_assert!(!d.ptt.is_keyed());
            }
        }
    }

    #[test]
    fn cor_edges_alternate_and_respect_debounce_and_hang(
        debounce_ms in 0u32..100,
        hang_ms in 0u32..500,
        steps in proptest::collection::vec((any::<bool>(), 0u64..400_000), 1..200),
    ) {
        let timers = Timers { cor_debounce_ms: debounce_ms, cor_hang_ms: hang_ms, ..Timers::DEFAULT };
        let mut cor = Cor::new(&timers, CorSource::Line);
        let mut now = Instant::ZERO;
        let mut level = false;
        let mut level_since = Instant::ZERO;
        let mut open = false;
        let debounce = Duration::from_millis(u64::from(debounce_ms));
        let hang = Duration::from_millis(u64::from(hang_ms));
        for (next_level, wait_us) in steps {
            let until = now + Duration::from_micros(wait_us);
            while let Some(deadline) = cor.poll_timeout().filter(|&x| x <= until) {
                cor.handle_timeout(deadline);
                while let Some(edge) = cor.poll_event() {
                    // A timer's edge: the level has held long enough.
                    let held = deadline - level_since;
                    match edge {
                        CorEdge::Opened => prop_assert!(level && held >= debounce && !open),
                        CorEdge::Closed => prop_assert!(!level && held >= hang && open),
                    }
                    open = edge == CorEdge::Opened;
                }
            }
            now = until;
            cor.handle_level(now, next_level);
            if next_level != level {
                level = next_level;
                level_since = now;
            }
            while let Some(edge) = cor.poll_event() {
                // Only a zero timer makes an edge on the input itself.
                match edge {
                    CorEdge::Opened => prop_assert!(level && debounce == Duration::ZERO && !open),
                    CorEdge::Closed => prop_assert!(!level && hang == Duration::ZERO && open),
                }
                open = edge == CorEdge::Opened;
            }
            prop_assert_eq!(cor.is_open(), open);
            prop_assert_eq!(cor.events_dropped(), 0);
        }
    }
}
