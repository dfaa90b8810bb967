//! EchoStream's core: everything that decides, nothing that does I/O.
//!
//! `#![no_std]`, no `alloc`, no `unsafe`. Every state machine here is
//! sans-IO: inputs arrive through `handle_*(now, …)` calls, effects leave
//! through `poll_*()` calls drained until they return `None`, and time is a
//! value the caller passes in ([`time::Instant`] for protocol timers,
//! [`time::SampleIndex`] for audio). The same code runs on the Linux
//! threads, in the simulator and in the benches.
#![no_std]
#![forbid(unsafe_code)]

pub mod audio;
pub mod crypto;
pub mod jitter;
pub mod level;
pub mod node;
pub mod passthrough;
pub mod ptt;
pub mod record;
pub mod time;
pub mod tone;
pub mod watchdog;
pub mod wire;

/// The most radio channels one node serves.
pub const MAX_CHANNELS: usize = 8;
