//! Events over MQTT (DESIGN.md "Events and uploads"): the broker link, the
//! topic of each event, and Home Assistant discovery.
//!
//! - [`MqttLink`] ([`link`], its thread in `session`): one connection
//!   (rumqttc 0.25, blocking client, on a thread of its own), QoS 1
//!   publishes under ids the caller picks, each coming back once as
//!   acknowledged or as lost with the connection; reconnection with
//!   backoff; `online` / `offline` on the status topic.
//! - [`Topics`] ([`topic`]): where each event type goes.
//! - [`ha`]: the Home Assistant discovery message.
//!
//! The link knows nothing of the outbox: the caller publishes its entries
//! under their sequence numbers and acks them on [`LinkEvent::Acked`].

mod backoff;
mod error;
pub mod ha;
pub mod link;
mod session;
pub mod tls;
pub mod topic;
mod track;

pub use backoff::{BACKOFF_MAX_MS, BACKOFF_MIN_MS, STABLE_SESSION_MS};
pub use error::{Failure, LinkError, Refusal, StartError};
pub use ha::Discovery;
pub use link::{
    CONNECT_TIMEOUT_S, EVENT_QUEUE_LEN, LinkCounters, LinkEvent, LinkSettings, MqttLink,
    PAYLOAD_LEN_MAX, PUBLISH_WINDOW, STOP_WAIT_MS,
};
pub use tls::TlsError;
pub use topic::{ChannelLeaf, STATUS_OFFLINE, STATUS_ONLINE, TopicError, Topics};
