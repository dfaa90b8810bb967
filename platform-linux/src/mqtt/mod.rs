//! Events over MQTT (DESIGN.md "Events and uploads").
//!
//! - [`Topics`] ([`topic`]): where each event type goes.

pub mod topic;

pub use topic::{ChannelLeaf, STATUS_OFFLINE, STATUS_ONLINE, TopicError, Topics};
