//! Where each event goes: topics under `{prefix}/{node_id}/` (DESIGN.md
//! "Events and uploads").
//!
//! | event `type` | `channel` | topic under `{prefix}/{node_id}/` |
//! |---|---|---|
//! | `transmit`, `passthrough` | set | `channels/{ch}/transmit` |
//! | `two_tone`, `long_tone`, `hi_low`, `pulsed`, `remote_alert` | set | `channels/{ch}/tone` |
//! | `dtmf`, `dtmf_sequence` | set | `channels/{ch}/dtmf` |
//! | `recording` | set | `channels/{ch}/recording` |
//! | `error` | set | `channels/{ch}/error` |
//! | any other type (`cor`, `ptt`, …) | set | `channels/{ch}/{type}` |
//! | any type (`node`, `error`, …) | `null` | `events/{type}` |
//!
//! and `status` (retained `online`, last will `offline`) for the node
//! itself. Pure functions: no clock, no I/O.

use std::fmt;

/// Longest topic this module builds, in bytes. MQTT allows 65535; ids in
/// the config are at most 64 characters, so real topics stay far below.
pub const TOPIC_LEN_MAX: usize = 1_024;

/// The status topic's payload while the node is connected.
pub const STATUS_ONLINE: &str = "online";
/// The status topic's payload after a clean stop, and the last will.
pub const STATUS_OFFLINE: &str = "offline";

/// The topic leaf of each channel event family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelLeaf {
    /// `transmit` and `passthrough` events.
    Transmit,
    /// Alerts: `two_tone`, `long_tone`, `hi_low`, `pulsed`, `remote_alert`.
    Tone,
    /// `dtmf` and `dtmf_sequence`.
    Dtmf,
    /// Finished recordings.
    Recording,
    /// `error` events about one channel.
    Error,
}

impl ChannelLeaf {
    /// The leaf's topic level.
    pub fn name(self) -> &'static str {
        match self {
            ChannelLeaf::Transmit => "transmit",
            ChannelLeaf::Tone => "tone",
            ChannelLeaf::Dtmf => "dtmf",
            ChannelLeaf::Recording => "recording",
            ChannelLeaf::Error => "error",
        }
    }

    /// The family an event type belongs to, if it has one of its own.
    pub fn of(kind: &str) -> Option<ChannelLeaf> {
        Some(match kind {
            "transmit" | "passthrough" => ChannelLeaf::Transmit,
            "two_tone" | "long_tone" | "hi_low" | "pulsed" | "remote_alert" => ChannelLeaf::Tone,
            "dtmf" | "dtmf_sequence" => ChannelLeaf::Dtmf,
            "recording" => ChannelLeaf::Recording,
            "error" => ChannelLeaf::Error,
            _ => return None,
        })
    }
}

/// Why no topic could be made: a name that cannot be one topic level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The event type is empty or holds `/`, `+`, `#` or NUL.
    #[error("event type `{0}` cannot be a topic level (empty, or holds `/`, `+`, `#` or NUL)")]
    Kind(String),
    /// The channel id is empty or holds `/`, `+`, `#` or NUL.
    #[error("channel `{0}` cannot be a topic level (empty, or holds `/`, `+`, `#` or NUL)")]
    Channel(String),
    /// The topic would be longer than [`TOPIC_LEN_MAX`].
    #[error("topic of {0} bytes is longer than {TOPIC_LEN_MAX}")]
    TooLong(usize),
}

/// The topics of one node: `{prefix}/{node_id}/…`.
///
/// The prefix and node id are checked by the config validation (no
/// wildcards, no empty levels); [`Topics::event`] checks what events bring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
}

impl Topics {
    /// The topics under `{prefix}/{node_id}/`.
    pub fn new(prefix: &str, node_id: &str) -> Topics {
        Topics {
            base: format!("{prefix}/{node_id}"),
        }
    }

    /// `{prefix}/{node_id}`, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `{prefix}/{node_id}/status`: retained `online` / `offline`.
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }

    /// `{prefix}/{node_id}/channels/{channel}/{leaf}`.
    ///
    /// # Errors
    /// [`TopicError::Channel`] if `channel` cannot be a topic level.
    pub fn channel(&self, channel: &str, leaf: ChannelLeaf) -> Result<String, TopicError> {
        self.channel_level(channel, leaf.name())
    }

    /// The topic of an event of type `kind` about `channel` (`None` for a
    /// node-wide event); the table in the module docs.
    ///
    /// # Errors
    /// [`TopicError`] if the type or the channel cannot be a topic level.
    pub fn event(&self, kind: &str, channel: Option<&str>) -> Result<String, TopicError> {
        if !is_level(kind) {
            return Err(TopicError::Kind(kind.to_owned()));
        }
        match channel {
            Some(channel) => {
                let leaf = match ChannelLeaf::of(kind) {
                    Some(leaf) => leaf.name(),
                    None => kind,
                };
                self.channel_level(channel, leaf)
            }
            None => bounded(format!("{}/events/{kind}", self.base)),
        }
    }

    fn channel_level(&self, channel: &str, leaf: &str) -> Result<String, TopicError> {
        if !is_level(channel) {
            return Err(TopicError::Channel(channel.to_owned()));
        }
        bounded(format!("{}/channels/{channel}/{leaf}", self.base))
    }
}

impl fmt::Display for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// Whether `name` can stand as one topic level: not empty, no separator,
/// no wildcard (MQTT 3.1.1 §4.7.1), no NUL (§1.5.3).
pub fn is_level(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '+', '#', '\0'])
}

/// Whether `topic` may be published to: 1 to [`TOPIC_LEN_MAX`] bytes, no
/// wildcard, no NUL, no empty level.
pub fn is_publish_topic(topic: &str) -> bool {
    (1..=TOPIC_LEN_MAX).contains(&topic.len()) && topic.split('/').all(is_level)
}

fn bounded(topic: String) -> Result<String, TopicError> {
    if topic.len() > TOPIC_LEN_MAX {
        return Err(TopicError::TooLong(topic.len()));
    }
    Ok(topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Topics {
        Topics::new("fire/county", "station-12")
    }

    #[test]
    fn channel_events_go_to_their_family() {
        let t = topics();
        let cases = [
            ("transmit", "channels/fire-main/transmit"),
            ("passthrough", "channels/fire-main/transmit"),
            ("two_tone", "channels/fire-main/tone"),
            ("long_tone", "channels/fire-main/tone"),
            ("hi_low", "channels/fire-main/tone"),
            ("pulsed", "channels/fire-main/tone"),
            ("remote_alert", "channels/fire-main/tone"),
            ("dtmf", "channels/fire-main/dtmf"),
            ("dtmf_sequence", "channels/fire-main/dtmf"),
            ("recording", "channels/fire-main/recording"),
            ("error", "channels/fire-main/error"),
            ("cor", "channels/fire-main/cor"),
            ("ptt", "channels/fire-main/ptt"),
        ];
        for (kind, leaf) in cases {
            assert_eq!(
                t.event(kind, Some("fire-main")),
                Ok(format!("fire/county/station-12/{leaf}")),
                "{kind}"
            );
        }
    }

    #[test]
    fn node_wide_events_go_under_events() {
        let t = topics();
        assert_eq!(
            t.event("node", None),
            Ok("fire/county/station-12/events/node".to_owned())
        );
        assert_eq!(
            t.event("error", None),
            Ok("fire/county/station-12/events/error".to_owned())
        );
    }

    #[test]
    fn status_is_beside_the_channels() {
        assert_eq!(topics().status(), "fire/county/station-12/status");
        assert_eq!(
            topics().channel("talk", ChannelLeaf::Tone),
            Ok("fire/county/station-12/channels/talk/tone".to_owned())
        );
    }

    #[test]
    fn names_that_would_split_or_match_topics_are_refused() {
        let t = topics();
        for bad in ["", "a/b", "a+", "#", "nul\0"] {
            assert_eq!(
                t.event(bad, None),
                Err(TopicError::Kind(bad.to_owned())),
                "{bad:?}"
            );
            assert_eq!(
                t.event("transmit", Some(bad)),
                Err(TopicError::Channel(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn overlong_topics_are_refused() {
        let long = "x".repeat(TOPIC_LEN_MAX);
        assert!(matches!(
            topics().event("node", Some(&long)),
            Err(TopicError::TooLong(_))
        ));
    }

    #[test]
    fn publish_topics_are_checked_level_by_level() {
        assert!(is_publish_topic("a/b/c"));
        assert!(is_publish_topic("homeassistant/device/x/config"));
        for bad in ["", "/a", "a/", "a//b", "a/+/b", "a/#", "a\0"] {
            assert!(!is_publish_topic(bad), "{bad:?}");
        }
    }
}
