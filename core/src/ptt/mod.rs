//! The radio side of a channel (DESIGN.md "PTT and COR"): when its
//! receiver counts as open (COR), when its transmitter is keyed (PTT), and
//! the thin driver that puts both on embedded-hal pins.
//!
//! - [`Cor`]: a source's raw verdict (a GPIO line, the [`Vox`] gate, or
//!   "always") through debounce, open delay and hang time, out as
//!   [`CorEdge`]s.
//! - [`Ptt`]: the audio its sources want to play, through TX delay, hang,
//!   transmit time-out and lock-out, out as keying and [`PttEvent`]s with
//!   a [`PttReason`] each.
//! - [`PttPin`], [`CorPin`]: the machines' verdicts onto `OutputPin` and
//!   from `InputPin`, errors returned and counted.
//! - [`Timers`]: the config's `timers` section, checked once.
//!
//! Sans-IO like the rest of core: every input carries its `now`
//! ([`Instant`](crate::time::Instant)), every effect is polled out, each
//! machine's deadlines sit in one fixed table of named timers. Nothing
//! here reads a clock or allocates.
//!
//! [`Vox`]: crate::level::Vox

mod config;
mod cor;
mod keying;
mod pin;
mod timer;

pub use self::config::{Timers, TimersError};
pub use self::cor::{COR_EVENT_QUEUE_LEN, Cor, CorEdge, CorSource, CorState};
pub use self::keying::{PTT_EVENT_QUEUE_LEN, Ptt, PttEvent, PttReason, PttState, TxSource};
pub use self::pin::{CorPin, Polarity, PttPin};

#[cfg(test)]
mod tests;
