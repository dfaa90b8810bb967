//! EchoStream's deterministic simulator.
//!
//! Everything here is driven by a seeded PRNG on virtual time, so a failure
//! replays exactly from its seed. This first part is the virtual network's
//! fault injector; virtual sound cards, GPIO and the relay core join it as
//! they are built.

pub mod alloc;
pub mod audio;
pub mod net;
pub mod page_set;
pub mod rng;

pub use net::{Delivery, FaultConfig, FaultInjector, Mutation};
pub use rng::Rng;
