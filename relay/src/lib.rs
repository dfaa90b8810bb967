//! The EchoStream relay: the server edge nodes register with, which issues
//! their keys and fans audio out between the members of each channel.
//!
//! [`keys`] issues session secrets; [`engine`] is the sans-IO relay state
//! machine (sessions, channels, talker arbitration, fan-out) that the mio
//! [`server`] and the simulator drive; [`tokens`] reads the tokens file.

pub mod engine;
pub mod http;
pub mod keys;
pub mod server;
pub mod status;
pub mod tokens;

pub use keys::{IssuedKey, KeyIssuer};

pub use engine::{
    ChannelView, CloseReason, ConfigError, ConnId, Counters, Drops, Limits, MAX_OUTPUT_LEN, Output,
    RekeyRefused, Relay, RelayConfig, SessionView, TalkerView, TokenPolicy,
};
