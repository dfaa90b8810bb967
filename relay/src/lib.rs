//! The EchoStream relay: the server edge nodes register with, which issues
//! their keys and fans audio out between the members of each channel.
//!
//! This first part is key issuance; the sans-IO session core and the mio
//! server are built on it.

pub mod keys;

pub use keys::{IssuedKey, KeyIssuer};
