//! What one node engine is made from: its name and credential, its
//! channels, and the link's time-outs. Checked once, at construction.

use core::fmt;

use heapless::{String, Vec};

use crate::MAX_CHANNELS;
use crate::time::Duration;
use crate::wire::signal::{ChannelId, MAX_ID_LEN, MAX_TOKEN_LEN, NodeId, SignalError, Token};

use super::frames::FRAME_ENTRIES;

/// A channel's place in the node's channel list (the config's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelIndex(u8);

const _: () = assert!(MAX_CHANNELS <= u8::MAX as usize);

impl ChannelIndex {
    /// The index `index`, if it can name a channel at all.
    pub const fn new(index: usize) -> Option<ChannelIndex> {
        if index < MAX_CHANNELS {
            Some(ChannelIndex(index as u8))
        } else {
            None
        }
    }

    pub(crate) const fn new_unchecked(index: usize) -> ChannelIndex {
        assert!(
            index < MAX_CHANNELS,
            "channel indices are below MAX_CHANNELS"
        );
        ChannelIndex(index as u8)
    }

    /// The index as a number.
    pub const fn get(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ChannelIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "channels[{}]", self.0)
    }
}

/// One channel of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// The id registered with the relay.
    pub id: String<MAX_ID_LEN>,
    /// Frames kept from before the channel opens and sent first, so the
    /// syllable that opened it is heard (at most [`FRAME_ENTRIES`]).
    pub preroll_frames: usize,
}

/// Everything a [`Node`](super::Node) is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    node_id: String<MAX_ID_LEN>,
    token: String<MAX_TOKEN_LEN>,
    channels: Vec<ChannelConfig, MAX_CHANNELS>,
    /// How long one attempt may take from asking for a connection to the
    /// welcome.
    pub connect_timeout: Duration,
    /// The longest delay between reconnect attempts.
    pub reconnect_max: Duration,
    /// Seeds the reconnect jitter (random per node on Linux; the
    /// simulation's seed in the simulator).
    pub seed: u64,
}

/// Why a [`NodeConfig`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeConfigError {
    /// The node id cannot travel in `hello`.
    NodeId(SignalError),
    /// The token cannot travel in `hello`.
    Token(SignalError),
    /// A channel id cannot travel in `register`.
    ChannelId {
        /// Which channel.
        index: usize,
        /// Why signaling refuses it.
        error: SignalError,
    },
    /// A channel id is listed twice.
    DuplicateChannel {
        /// The second listing.
        index: usize,
    },
    /// More than [`MAX_CHANNELS`] channels.
    TooManyChannels,
    /// A pre-roll longer than a channel can hold.
    PrerollTooLong {
        /// Which channel.
        index: usize,
    },
    /// A connect time-out of zero.
    ZeroConnectTimeout,
}

impl fmt::Display for NodeConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeConfigError::NodeId(e) => write!(f, "node_id: {e}"),
            NodeConfigError::Token(e) => write!(f, "relay token: {e}"),
            NodeConfigError::ChannelId { index, error } => {
                write!(f, "channels[{index}].id: {error}")
            }
            NodeConfigError::DuplicateChannel { index } => {
                write!(f, "channels[{index}].id: listed twice")
            }
            NodeConfigError::TooManyChannels => {
                write!(f, "one node serves at most {MAX_CHANNELS} channels")
            }
            NodeConfigError::PrerollTooLong { index } => write!(
                f,
                "channels[{index}]: a pre-roll holds at most {FRAME_ENTRIES} frames"
            ),
            NodeConfigError::ZeroConnectTimeout => {
                f.write_str("connect_timeout must be longer than zero")
            }
        }
    }
}

impl core::error::Error for NodeConfigError {}

impl NodeConfig {
    /// A node named `node_id` with `token` and no channels yet.
    ///
    /// # Errors
    /// An id or token signaling cannot carry, or a zero time-out.
    pub fn new(
        node_id: &str,
        token: &str,
        connect_timeout: Duration,
        reconnect_max: Duration,
        seed: u64,
    ) -> Result<NodeConfig, NodeConfigError> {
        NodeId::new(node_id).map_err(NodeConfigError::NodeId)?;
        Token::new(token).map_err(NodeConfigError::Token)?;
        if connect_timeout == Duration::ZERO {
            return Err(NodeConfigError::ZeroConnectTimeout);
        }
        Ok(NodeConfig {
            node_id: String::try_from(node_id).expect("NodeId checked the length"),
            token: String::try_from(token).expect("Token checked the length"),
            channels: Vec::new(),
            connect_timeout,
            reconnect_max,
            seed,
        })
    }

    /// Adds a channel; returns its index.
    ///
    /// # Errors
    /// An id signaling cannot carry or already listed, a ninth channel, or
    /// a pre-roll longer than [`FRAME_ENTRIES`].
    pub fn add_channel(
        &mut self,
        id: &str,
        preroll_frames: usize,
    ) -> Result<ChannelIndex, NodeConfigError> {
        let index = self.channels.len();
        ChannelId::new(id).map_err(|error| NodeConfigError::ChannelId { index, error })?;
        if self.channels.iter().any(|c| c.id == id) {
            return Err(NodeConfigError::DuplicateChannel { index });
        }
        if preroll_frames > FRAME_ENTRIES {
            return Err(NodeConfigError::PrerollTooLong { index });
        }
        let channel = ChannelConfig {
            id: String::try_from(id).expect("ChannelId checked the length"),
            preroll_frames,
        };
        self.channels
            .push(channel)
            .map_err(|_| NodeConfigError::TooManyChannels)?;
        Ok(ChannelIndex::new_unchecked(index))
    }

    /// The node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The channels, in index order.
    pub fn channels(&self) -> &[ChannelConfig] {
        &self.channels
    }
}
