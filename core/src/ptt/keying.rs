//! The PTT machine: when is a channel's transmitter keyed, and when may
//! the audio waiting for it play?

use core::fmt;

use heapless::Deque;

use crate::time::{Duration, Instant};

use super::timer::{TimerName, TimerTable};
use super::{Timers, TimersError};

/// Who wants a channel's transmitter: each source says on its own when it
/// has audio to play and when it has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxSource {
    /// A talker at another site (the jitter buffer has audio).
    Remote,
    /// A page's passthrough from another channel of this node.
    Passthrough,
}

impl TxSource {
    const COUNT: usize = 2;

    const fn bit(self) -> u8 {
        1 << self as u8
    }

    const fn reason(self) -> PttReason {
        match self {
            TxSource::Remote => PttReason::Remote,
            TxSource::Passthrough => PttReason::Passthrough,
        }
    }
}

/// Where the transmitter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PttState {
    /// Not keyed; keys as soon as a source has audio.
    Unkeyed,
    /// Keyed for less than `tx_delay_ms`: the transmitter is coming up and
    /// the audio waits.
    TxDelay,
    /// Keyed, the audio plays.
    Keyed,
    /// Keyed after the last audio, for `ptt_hang_ms`.
    Hang,
    /// Unkeyed by the time-out; keys again only once no source has had
    /// audio for `lockout_s`.
    LockedOut,
    /// Unkeyed for good.
    Shutdown,
}

impl PttState {
    /// Whether the transmitter is keyed in this state.
    pub const fn is_keyed(self) -> bool {
        matches!(self, PttState::TxDelay | PttState::Keyed | PttState::Hang)
    }

    /// A short fixed name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            PttState::Unkeyed => "unkeyed",
            PttState::TxDelay => "tx_delay",
            PttState::Keyed => "keyed",
            PttState::Hang => "hang",
            PttState::LockedOut => "locked_out",
            PttState::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for PttState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the machine moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PttReason {
    /// A remote talker's audio arrived (keys, or keeps it keyed from the
    /// hang).
    Remote,
    /// A passthrough's audio arrived.
    Passthrough,
    /// The TX delay ran out: the audio plays.
    TxDelay,
    /// No source has audio any more: the hang time starts.
    AudioEnded,
    /// The hang time ran out after the last audio.
    Hang,
    /// Keyed for `timeout_s`: unkeyed and locked out.
    Timeout,
    /// A source has audio, but the transmitter is locked out (the machine
    /// stays [`PttState::LockedOut`]).
    Lockout,
    /// No source has had audio for `lockout_s` after a time-out: it may key
    /// again.
    LockoutEnded,
    /// [`Ptt::shutdown`].
    Shutdown,
}

impl PttReason {
    /// How many reasons there are: the length of a counter array.
    pub const COUNT: usize = 9;
    /// Every reason, in [`index`](Self::index) order.
    pub const ALL: [PttReason; PttReason::COUNT] = [
        PttReason::Remote,
        PttReason::Passthrough,
        PttReason::TxDelay,
        PttReason::AudioEnded,
        PttReason::Hang,
        PttReason::Timeout,
        PttReason::Lockout,
        PttReason::LockoutEnded,
        PttReason::Shutdown,
    ];

    /// A dense index in `0..COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A short fixed name for logs and the `ptt` event's `reason`.
    pub const fn name(self) -> &'static str {
        match self {
            PttReason::Remote => "remote",
            PttReason::Passthrough => "passthrough",
            PttReason::TxDelay => "tx_delay",
            PttReason::AudioEnded => "audio_ended",
            PttReason::Hang => "hang",
            PttReason::Timeout => "timeout",
            PttReason::Lockout => "lockout",
            PttReason::LockoutEnded => "lockout_ended",
            PttReason::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for PttReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One move of a [`Ptt`], from [`Ptt::poll_event`]. Every move is one; the
/// ones that switch the transmitter ([`line_changed`](Self::line_changed))
/// are the node's `ptt` on/off events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PttEvent {
    /// The state left.
    pub from: PttState,
    /// The state entered (the same only for [`PttReason::Lockout`]).
    pub to: PttState,
    /// Why.
    pub reason: PttReason,
}

impl PttEvent {
    /// Whether the transmitter is keyed after this move.
    pub const fn keyed(&self) -> bool {
        self.to.is_keyed()
    }

    /// Whether this move keyed or unkeyed the transmitter.
    pub const fn line_changed(&self) -> bool {
        self.from.is_keyed() != self.to.is_keyed()
    }
}

impl fmt::Display for PttEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} ({})", self.from, self.to, self.reason)
    }
}

/// [`Ptt`]'s deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PttTimer {
    /// [`PttState::TxDelay`] ends.
    TxDelay,
    /// [`PttState::Hang`] ends.
    Hang,
    /// The transmit time-out: runs from keying until unkeyed.
    Timeout,
    /// [`PttState::LockedOut`] ends; runs only while no source has audio.
    Lockout,
}

impl TimerName for PttTimer {
    const ALL: &'static [PttTimer] = &[
        PttTimer::TxDelay,
        PttTimer::Hang,
        PttTimer::Timeout,
        PttTimer::Lockout,
    ];
    fn index(self) -> usize {
        self as usize
    }
}

const PTT_TIMERS: usize = 4;
const _: () = assert!(PttTimer::ALL.len() == PTT_TIMERS);
const _: () = assert!(TxSource::COUNT <= u8::BITS as usize);

/// The most moves one input makes: timers already due (the TX delay, the
/// time-out, the lock-out's end), then the input's own and a zero hang
/// after it.
const MOVES_PER_INPUT_MAX: usize = 5;

/// Moves waiting to be drained: a caller that drains after every input
/// never loses one.
pub const PTT_EVENT_QUEUE_LEN: usize = 8;

const _: () = assert!(PTT_EVENT_QUEUE_LEN >= MOVES_PER_INPUT_MAX);

/// What moves a [`Ptt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// No source had audio; now this one has.
    Wanted(TxSource),
    /// The last source with audio stopped.
    Unwanted,
    /// A timer ran out.
    Elapsed(PttTimer),
    /// [`Ptt::shutdown`].
    Shutdown,
}

/// One step, pure: the state entered and why, or `None` if the input does
/// not move the machine. `wanted`: whether any source has audio now.
const fn step(state: PttState, input: Input, wanted: bool) -> Option<(PttState, PttReason)> {
    use PttState as S;
    Some(match (state, input) {
        (S::Shutdown, _) => return None,
        (_, Input::Shutdown) => (S::Shutdown, PttReason::Shutdown),
        (S::Unkeyed, Input::Wanted(source)) => (S::TxDelay, source.reason()),
        // Audio that ended during the delay still had its delay: hang.
        (S::TxDelay, Input::Elapsed(PttTimer::TxDelay)) if !wanted => (S::Hang, PttReason::TxDelay),
        (S::TxDelay, Input::Elapsed(PttTimer::TxDelay)) => (S::Keyed, PttReason::TxDelay),
        (S::Keyed, Input::Unwanted) => (S::Hang, PttReason::AudioEnded),
        // Still keyed and past the TX delay: no new delay.
        (S::Hang, Input::Wanted(source)) => (S::Keyed, source.reason()),
        (S::Hang, Input::Elapsed(PttTimer::Hang)) => (S::Unkeyed, PttReason::Hang),
        (S::TxDelay | S::Keyed | S::Hang, Input::Elapsed(PttTimer::Timeout)) => {
            (S::LockedOut, PttReason::Timeout)
        }
        (S::LockedOut, Input::Wanted(_)) => (S::LockedOut, PttReason::Lockout),
        (S::LockedOut, Input::Elapsed(PttTimer::Lockout)) => (S::Unkeyed, PttReason::LockoutEnded),
        _ => return None,
    })
}

/// A channel's transmitter: sources' audio in, keying and "the audio may
/// play" out.
///
/// - A source with audio keys it: [`PttState::TxDelay`] for `tx_delay_ms`,
///   while the audio is held ([`may_play`](Ptt::may_play) is false), then
///   [`PttState::Keyed`].
/// - When no source has audio, [`PttState::Hang`] for `ptt_hang_ms`, then
///   [`PttState::Unkeyed`]. Audio during the hang keys on without a new TX
///   delay.
/// - Keyed for `timeout_s` in one stretch (TX delay and hang included),
///   whatever the sources say: unkeyed and [`PttState::LockedOut`] until no
///   source has had audio for `lockout_s` (at least `lockout_s` after the
///   time-out).
/// - [`shutdown`](Ptt::shutdown): unkeyed at once, for good.
///
/// Every move is a [`PttEvent`] with its reason.
///
/// # Driving it
///
/// Sans-IO: take `now` once per turn; report every change of a source's
/// audio with [`handle_audio`](Ptt::handle_audio), call
/// [`handle_timeout`](Ptt::handle_timeout) no later than
/// [`poll_timeout`](Ptt::poll_timeout) says; after each call drain
/// [`poll_event`](Ptt::poll_event) until it returns `None`, set the line
/// from [`is_keyed`](Ptt::is_keyed) (see [`PttPin::apply`](super::PttPin::apply))
/// and play audio only while [`may_play`](Ptt::may_play). Every input
/// first runs the timers already due at its `now`, earliest first, each at
/// its own deadline, so a late caller's time-out still counts from the
/// keying. A queue overflow (only if the caller does not drain) is counted
/// in [`events_dropped`](Ptt::events_dropped).
#[derive(Debug, Clone)]
pub struct Ptt {
    timers_config: PttTimers,
    state: PttState,
    /// One bit per [`TxSource`] that has audio.
    wanted: u8,
    timers: TimerTable<PttTimer, PTT_TIMERS>,
    events: Deque<PttEvent, PTT_EVENT_QUEUE_LEN>,
    events_dropped: u32,
}

/// The PTT part of [`Timers`], as stored.
#[derive(Debug, Clone, Copy)]
struct PttTimers {
    tx_delay_ms: u32,
    ptt_hang_ms: u32,
    timeout_s: u32,
    lockout_s: u32,
}

impl Ptt {
    /// An unkeyed transmitter with the PTT timers of `timers`.
    ///
    /// # Errors
    ///
    /// The timers fail [`Timers::check`].
    pub fn new(timers: &Timers) -> Result<Ptt, TimersError> {
        timers.check()?;
        Ok(Ptt {
            timers_config: PttTimers {
                tx_delay_ms: timers.tx_delay_ms,
                ptt_hang_ms: timers.ptt_hang_ms,
                timeout_s: timers.timeout_s,
                lockout_s: timers.lockout_s,
            },
            state: PttState::Unkeyed,
            wanted: 0,
            timers: TimerTable::new(),
            events: Deque::new(),
            events_dropped: 0,
        })
    }

    /// `source` has audio to play (`pending`) or has stopped, as of `now`.
    /// Say it on every change; repeating it changes nothing. After
    /// [`shutdown`](Ptt::shutdown) it is ignored.
    pub fn handle_audio(&mut self, now: Instant, source: TxSource, pending: bool) {
        self.expire(now);
        if self.state == PttState::Shutdown {
            return;
        }
        let was = self.wanted != 0;
        if pending {
            self.wanted |= source.bit();
        } else {
            self.wanted &= !source.bit();
        }
        match (was, self.wanted != 0) {
            (false, true) => self.apply(now, Input::Wanted(source)),
            (true, false) => self.apply(now, Input::Unwanted),
            _ => {}
        }
        // A zero TX delay or hang takes effect at once.
        self.expire(now);
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// Unkeys at once and for good: every later input is ignored and no
    /// timer runs. Call on every way out (signal, fatal error) before the
    /// line is released; a second call does nothing.
    pub fn shutdown(&mut self, now: Instant) {
        self.expire(now);
        self.apply(now, Input::Shutdown);
    }

    /// When to call [`handle_timeout`](Ptt::handle_timeout) next, if a
    /// timer is running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next move, oldest first.
    pub fn poll_event(&mut self) -> Option<PttEvent> {
        self.events.pop_front()
    }

    /// The machine's state.
    pub fn state(&self) -> PttState {
        self.state
    }

    /// Whether the transmitter is keyed: the PTT line's level.
    pub fn is_keyed(&self) -> bool {
        self.state.is_keyed()
    }

    /// Whether audio may flow to the transmitter now: keyed and past the
    /// TX delay. Held audio waits while this is false; it is not dropped.
    pub fn may_play(&self) -> bool {
        matches!(self.state, PttState::Keyed | PttState::Hang)
    }

    /// Whether `source` has audio, as last reported.
    pub fn is_pending(&self, source: TxSource) -> bool {
        self.wanted & source.bit() != 0
    }

    /// When the time-out will unkey the transmitter, while keyed (for
    /// status lines).
    pub fn timeout_at(&self) -> Option<Instant> {
        self.timers.deadline(PttTimer::Timeout)
    }

    /// Moves lost because the queue was not drained.
    pub fn events_dropped(&self) -> u32 {
        self.events_dropped
    }

    fn expire(&mut self, now: Instant) {
        // Each round clears a timer; a chain (TX delay, hang or time-out,
        // lock-out) is at most three long. The bound leaves anything left
        // for the next call rather than spinning.
        for _ in 0..2 * PTT_TIMERS {
            let Some((timer, at)) = self.timers.take_expired(now) else {
                return;
            };
            self.apply(at, Input::Elapsed(timer));
        }
    }

    fn apply(&mut self, at: Instant, input: Input) {
        let from = self.state;
        if let Some((to, reason)) = step(from, input, self.wanted != 0) {
            self.enter(at, to);
            self.push(PttEvent { from, to, reason });
        }
        if self.state == PttState::LockedOut {
            // The lock-out counts only the far side's silence.
            if self.wanted != 0 {
                self.timers.clear(PttTimer::Lockout);
            } else if !self.timers.is_set(PttTimer::Lockout) {
                let lockout = Duration::from_secs(u64::from(self.timers_config.lockout_s));
                self.timers.set(PttTimer::Lockout, at + lockout);
            }
        }
    }

    /// Sets the timers of the state entered.
    fn enter(&mut self, at: Instant, to: PttState) {
        let config = self.timers_config;
        match to {
            PttState::TxDelay => {
                let delay = Duration::from_millis(u64::from(config.tx_delay_ms));
                let timeout = Duration::from_secs(u64::from(config.timeout_s));
                self.timers.set(PttTimer::TxDelay, at + delay);
                self.timers.set(PttTimer::Timeout, at + timeout);
            }
            PttState::Keyed => self.timers.clear(PttTimer::Hang),
            PttState::Hang => {
                let hang = Duration::from_millis(u64::from(config.ptt_hang_ms));
                self.timers.set(PttTimer::Hang, at + hang);
            }
            PttState::LockedOut => {
                self.timers.clear(PttTimer::TxDelay);
                self.timers.clear(PttTimer::Hang);
                self.timers.clear(PttTimer::Timeout);
            }
            PttState::Unkeyed | PttState::Shutdown => self.timers.clear_all(),
        }
        self.state = to;
    }

    fn push(&mut self, event: PttEvent) {
        if self.events.push_back(event).is_err() {
            self.events_dropped = self.events_dropped.saturating_add(1);
        }
    }
}
