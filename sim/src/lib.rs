//! EchoStream's deterministic simulator.
//!
//! Everything here is driven by a seeded PRNG on virtual time, so a failure
//! replays exactly from its seed: the datagram fault injector ([`net`]),
//! test signals ([`audio`], [`page_set`]), and the simulated platform
//! ([`world`]): whole nodes and the relay engine on virtual time, with
//! virtual sound cards, GPIO and links, and invariant checkers on every
//! step. [`scenario`] reads scenario files and makes random ones for sweeps
//! (`echostream-sim run`, `sweep`); [`try_config`] runs a user's config against their own recording
//! in it (`echostream-sim try`).

pub mod alloc;
pub mod audio;
pub mod dispatch;
pub mod net;
pub mod page_set;
pub mod rng;
pub mod scenario;
pub mod try_config;
pub mod world;

pub use net::{Delivery, FaultConfig, FaultInjector, Mutation};
pub use rng::Rng;
