//! What one node engine is made from: its name and credential, its
//! channels, and the link's time-outs. Checked once, at construction.

use core::fmt;

use heapless::{String, Vec};

use crate::MAX_CHANNELS;
use crate::record::RecordConfig;
use crate::time::Duration;
use crate::tone::MAX_DEFINITIONS;
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
    /// Its device rate (the media clock of its tone events and audio).
    pub rate_hz: u32,
    /// How it records after a page; `None`: it never records.
    pub record: Option<RecordConfig>,
    /// What each of its detector's definitions does on an alert, by
    /// [`DefinitionIndex`](crate::tone::DefinitionIndex).
    pub alerts: Vec<AlertAction, MAX_DEFINITIONS>,
    /// Its radio: a COR line and a transmitter, if it has either.
    pub radio: Option<RadioConfig>,
}

/// A channel's radio (DESIGN.md "PTT and COR").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RadioConfig {
    /// COR and PTT timing.
    pub timers: crate::ptt::Timers,
    /// The receiver's COR is a line the driver reports
    /// ([`Node::handle_cor`](super::Node::handle_cor)); otherwise the
    /// capture side's verdict (VOX, "always") opens the channel.
    pub cor_line: bool,
    /// It has a transmitter: remote audio keys it and waits out the TX
    /// delay.
    pub ptt: bool,
    /// It may send what it hears while its own transmitter is keyed.
    pub full_duplex: bool,
    /// Remote audio waits for a busy receiver (COR open), up to
    /// `busy_wait_ms`, then is dropped.
    pub busy_lockout: bool,
    /// How long remote audio waits for a busy receiver.
    pub busy_wait_ms: u32,
}

/// What an alert of one tone definition sets off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertAction {
    /// The definition's name, for `tone_detected`.
    pub tone_id: String<MAX_ID_LEN>,
    /// Its label, for `tone_detected`.
    pub alert_type: String<MAX_ID_LEN>,
    /// Audio recorded from this long after the page's tones end.
    pub record_delay_ms: u32,
    /// Audio recorded (and passed through) after the alert; 0: none.
    pub record_length_ms: u32,
    /// The channel its audio is routed to, if any.
    pub passthrough: Option<ChannelIndex>,
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
    /// No channel at this index.
    NoSuchChannel {
        /// The index.
        index: usize,
    },
    /// More alert actions than a detector has definitions.
    TooManyAlerts {
        /// Which channel.
        index: usize,
    },
    /// A tone id or alert type signaling cannot carry.
    AlertLabel {
        /// Which channel.
        index: usize,
        /// Why signaling refuses it.
        error: SignalError,
    },
    /// A passthrough to the channel itself.
    PassthroughToItself {
        /// Which channel.
        index: usize,
    },
    /// A device rate of zero.
    ZeroRate {
        /// Which channel.
        index: usize,
    },
    /// The radio's timers are refused.
    Timers {
        /// Which channel.
        index: usize,
        /// Why.
        error: crate::ptt::TimersError,
    },
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
            NodeConfigError::NoSuchChannel { index } => write!(f, "no channels[{index}]"),
            NodeConfigError::TooManyAlerts { index } => write!(
                f,
                "channels[{index}]: a channel listens for at most {MAX_DEFINITIONS} definitions"
            ),
            NodeConfigError::AlertLabel { index, error } => {
                write!(f, "channels[{index}]: an alert's label: {error}")
            }
            NodeConfigError::PassthroughToItself { index } => {
                write!(f, "channels[{index}]: a passthrough to the channel itself")
            }
            NodeConfigError::ZeroRate { index } => {
                write!(f, "channels[{index}]: a device rate of zero")
            }
            NodeConfigError::Timers { index, error } => {
                write!(f, "channels[{index}].timers.{error}")
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
            rate_hz: 48_000,
            record: None,
            alerts: Vec::new(),
            radio: None,
        };
        self.channels
            .push(channel)
            .map_err(|_| NodeConfigError::TooManyChannels)?;
        Ok(ChannelIndex::new_unchecked(index))
    }

    /// Sets `channel`'s device rate (48 kHz unless set) and how it records
    /// after a page (`None`: never).
    ///
    /// # Errors
    /// No such channel, or a zero rate.
    pub fn set_audio(
        &mut self,
        channel: ChannelIndex,
        rate_hz: u32,
        record: Option<RecordConfig>,
    ) -> Result<(), NodeConfigError> {
        let index = channel.get();
        let c = self
            .channels
            .get_mut(index)
            .ok_or(NodeConfigError::NoSuchChannel { index })?;
        if rate_hz == 0 || record.is_some_and(|r| r.rate_hz != rate_hz) {
            return Err(NodeConfigError::ZeroRate { index });
        }
        c.rate_hz = rate_hz;
        c.record = record;
        Ok(())
    }

    /// Gives `channel` a radio (a COR line, a transmitter, or both).
    ///
    /// # Errors
    /// No such channel, or timers [`Timers::check`](crate::ptt::Timers::check)
    /// refuses.
    pub fn set_radio(
        &mut self,
        channel: ChannelIndex,
        radio: RadioConfig,
    ) -> Result<(), NodeConfigError> {
        let index = channel.get();
        radio
            .timers
            .check()
            .map_err(|error| NodeConfigError::Timers { index, error })?;
        let c = self
            .channels
            .get_mut(index)
            .ok_or(NodeConfigError::NoSuchChannel { index })?;
        c.radio = Some(radio);
        Ok(())
    }

    /// Adds what the next of `channel`'s definitions does on an alert
    /// (call in the detector's definition order). `passthrough` must name
    /// a channel already added.
    ///
    /// # Errors
    /// No such channel or target, a passthrough to itself, a label
    /// signaling cannot carry, or more than [`MAX_DEFINITIONS`].
    pub fn add_alert(
        &mut self,
        channel: ChannelIndex,
        tone_id: &str,
        alert_type: &str,
        record_delay_ms: u32,
        record_length_ms: u32,
        passthrough: Option<ChannelIndex>,
    ) -> Result<(), NodeConfigError> {
        use crate::wire::signal::ToneId;
        let index = channel.get();
        let count = self.channels.len();
        if let Some(target) = passthrough {
            if target == channel {
                return Err(NodeConfigError::PassthroughToItself { index });
            }
            if target.get() >= count {
                return Err(NodeConfigError::NoSuchChannel {
                    index: target.get(),
                });
            }
        }
        let c = self
            .channels
            .get_mut(index)
            .ok_or(NodeConfigError::NoSuchChannel { index })?;
        let label = |text: &str| {
            ToneId::new(text).map_err(|error| NodeConfigError::AlertLabel { index, error })?;
            Ok(String::try_from(text).expect("ToneId checked the length"))
        };
        let action = AlertAction {
            tone_id: label(tone_id)?,
            alert_type: label(alert_type)?,
            record_delay_ms,
            record_length_ms,
            passthrough,
        };
        c.alerts
            .push(action)
            .map_err(|_| NodeConfigError::TooManyAlerts { index })
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
