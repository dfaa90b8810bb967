//! What the relay core is configured with: where nodes send UDP, how often
//! they beat, which tokens are accepted, and the limit on everything.

use std::fmt;
use std::sync::Arc;

use echostream_core::time::Duration;
use echostream_core::wire::MAX_PAYLOAD_LEN;
use echostream_core::wire::signal::{Host, MAX_MESSAGE_LEN, MAX_TO_RELAY_LEN, MAX_USERS};

use super::grants::{self, Grant, Rights};

/// Streams (channel memberships) one session may hold: the edge's
/// `MAX_CHANNELS`, and the stream slots of each session's `Receiver`.
pub const STREAMS_PER_SESSION_MAX: usize = 8;

/// How long a talker keeps a channel without sending audio (DESIGN:
/// "holds it until end-of-transmission or 3 s of silence").
pub const TALKER_SILENCE_TIMEOUT: Duration = Duration::from_secs(3);

/// The most `talk_audio_min` may be: the arrival times a talker keeps.
pub const TALK_AUDIO_MIN_MAX: usize = 16;

/// The default `max_talk_s`: the radios' own transmit time-out.
pub const MAX_TALK_S_DEFAULT: u32 = 180;

/// The default `talk_audio_min`: 2 a second. A real stream sends 17 to
/// 200 (60 ms to 5 ms Opus packets), 8 or more at 50 % loss, and an
/// Opus DTX pause one every 400 ms (at least 7 in any 3 s); a trickle
/// that only keeps a channel sends fewer.
pub const TALK_AUDIO_MIN_DEFAULT: u32 = 6;

const _: () = assert!(TALK_AUDIO_MIN_DEFAULT as usize <= TALK_AUDIO_MIN_MAX);

/// The heartbeat period nodes are told by default, in ms. An idle node
/// sends one heartbeat per stream each period (the relay echoes it) and a
/// `ping` every fourth (the node's `PING_EVERY_ROUNDS`): 0.5 keep-alives
/// a second for a node on one channel. A node whose echo is late probes
/// every fifth of a period and finds its path lost 1.2 periods (3 s)
/// after the first heartbeat not echoed; with [`HEARTBEATS_MISSED_MAX`],
/// the relay closes a dead node 5 s after its last sign of life.
pub const HEARTBEAT_MS_DEFAULT: u32 = 2500;

/// Heartbeat periods without a heartbeat, ping or valid datagram before a
/// session is closed. A live node is heard at least once a period: its
/// round's heartbeat, or, when that is lost, its probes and the `ping` it
/// sends with the first of them, a fifth of a period later.
pub const HEARTBEATS_MISSED_MAX: u64 = 2;

/// The most bytes a queued-output store may hold: its chunks are counted
/// in `u32`.
const STORE_BYTES_MAX: usize = u32::MAX as usize;

/// Which `hello.token`s open a session, and what each may do.
///
/// The binary decides: [`AnyToken`](Self::AnyToken) is for a relay
/// listening on loopback only. Only digests are held, so `Debug` shows
/// nothing secret.
#[derive(Debug, Clone)]
pub enum TokenPolicy {
    /// Exactly the tokens of these grants, each with its rights (digests
    /// distinct).
    Grants(Vec<Arc<Grant>>),
    /// Any well-formed token, any node, every channel (loopback and tests
    /// only).
    AnyToken,
}

impl TokenPolicy {
    /// Exactly `tokens`, each for any node on every channel without
    /// limits (as a bare token of the old tokens file format).
    pub fn tokens<I, S>(tokens: I) -> TokenPolicy
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut grants: Vec<Arc<Grant>> = Vec::new();
        for (i, token) in tokens.into_iter().enumerate() {
            let grant = Grant::unbound(token.as_ref(), format!("token {}", i + 1));
            if !grants.iter().any(|g| g.digest == grant.digest) {
                grants.push(Arc::new(grant));
            }
        }
        TokenPolicy::Grants(grants)
    }

    /// What `token` lets its holder do, or `None` if it opens no session.
    /// Compares with every grant in full (see [`grants::find`]).
    pub fn rights(&self, token: &str) -> Option<Rights> {
        match self {
            TokenPolicy::AnyToken => Some(Rights::Any),
            TokenPolicy::Grants(grants) => {
                grants::find(grants, token).map(|g| Rights::Granted(Arc::clone(g)))
            }
        }
    }

    /// Whether `token` opens a session.
    pub fn accepts(&self, token: &str) -> bool {
        self.rights(token).is_some()
    }

    /// How many tokens: `None` for any token.
    pub fn token_count(&self) -> Option<usize> {
        match self {
            TokenPolicy::AnyToken => None,
            TokenPolicy::Grants(grants) => Some(grants.len()),
        }
    }
}

/// The limit on everything the relay holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Welcomed sessions held at once. Connections still waiting for
    /// `hello` have their own pool (`pending_max`), so they can never take
    /// a welcomed session's room.
    pub sessions_max: usize,
    /// Connections not yet welcomed held at once; more are refused.
    pub pending_max: usize,
    /// Connections not yet welcomed from one IP; more from it are refused.
    pub pending_per_ip_max: usize,
    /// How long a connection has to say `hello`, in ms.
    pub hello_timeout_ms: u32,
    /// Channels with at least one member.
    pub channels_max: usize,
    /// Members of one channel; at most `MAX_USERS` so `users_connected`
    /// can list them all.
    pub members_per_channel_max: usize,
    /// The longest text frame accepted, in bytes; longer ones close the
    /// connection.
    pub message_len_max: usize,
    /// Text frames queued for one connection; more are dropped and counted.
    pub text_queue_len_max: usize,
    /// Datagrams queued for one node; more are dropped and counted.
    pub datagram_queue_len_max: usize,
    /// Closes (and their `error` frames) queued; more are dropped and
    /// counted (a later frame from that connection is answered with
    /// another `Close`).
    pub control_queue_len_max: usize,
    /// Bytes of the text frames waiting in all queues, each frame stored
    /// once however many connections it goes to; allocated at start. A
    /// frame that does not fit is dropped and counted.
    pub queued_text_bytes_max: usize,
    /// Bytes of the datagram payloads waiting in all queues, each stored
    /// once however many members it goes to; allocated at start. A
    /// datagram that does not fit is dropped and counted.
    pub queued_payload_bytes_max: usize,
    /// Malformed messages tolerated on one connection before it is closed.
    pub malformed_messages_max: u32,
}

impl Limits {
    /// Connection slots in all: welcomed sessions and those waiting for
    /// `hello`.
    pub fn slots(&self) -> usize {
        self.sessions_max + self.pending_max
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            sessions_max: 256,
            pending_max: 64,
            pending_per_ip_max: 8,
            hello_timeout_ms: 2000,
            channels_max: 256,
            members_per_channel_max: MAX_USERS,
            message_len_max: MAX_TO_RELAY_LEN,
            text_queue_len_max: 64,
            datagram_queue_len_max: 256,
            control_queue_len_max: 512,
            // The server drains after every input, so little waits at
            // once. 1 MiB holds 128 of the longest frames or about 4000
            // `transmit` frames; 800 of the longest payloads or 8000
            // 20 ms Opus frames.
            queued_text_bytes_max: 1 << 20,
            queued_payload_bytes_max: 1 << 20,
            malformed_messages_max: 8,
        }
    }
}

/// The relay core's configuration.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The UDP host nodes are told in `welcome`.
    pub udp_host: String,
    /// The UDP port nodes are told in `welcome`.
    pub udp_port: u16,
    /// The heartbeat period nodes are told, in ms.
    pub heartbeat_ms: u32,
    /// How long the previous key still opens datagrams after a rekey, in ms.
    pub key_grace_ms: u32,
    /// Which tokens open a session.
    pub tokens: TokenPolicy,
    /// The longest a talker holds a channel, in s (default 180, the
    /// radios' time-out): then its listeners get an end-of-transmission
    /// and the members `transmit` active:false, and its audio is refused
    /// until it ends its transmission or is silent for
    /// [`TALKER_SILENCE_TIMEOUT`]. 1 to 3600.
    pub max_talk_s: u32,
    /// Audio datagrams a talker must have sent in the
    /// [`TALKER_SILENCE_TIMEOUT`] up to each of its audio datagrams, once
    /// it has held the channel that long; fewer is a trickle, cut like
    /// `max_talk_s`. 1 is the plain silence rule. 1 to
    /// [`TALK_AUDIO_MIN_MAX`].
    pub talk_audio_min: u32,
    /// Whether a stream's return address may move to an IP other than
    /// its session's WebSocket peer (`--allow-roaming`): for nodes whose
    /// UDP leaves by another address than their TCP (multi-homed, some
    /// carrier NATs). Off, an on-path attacker with a captured datagram
    /// cannot redirect a stream to itself from elsewhere.
    pub allow_roaming: bool,
    /// Capacities.
    pub limits: Limits,
}

impl RelayConfig {
    /// A configuration with default limits, a 2.5 s heartbeat, a 5 s key
    /// grace period, a 180 s talk limit and a minimum of 6 audio
    /// datagrams per 3 s to hold a channel.
    pub fn new(udp_host: impl Into<String>, udp_port: u16, tokens: TokenPolicy) -> RelayConfig {
        RelayConfig {
            udp_host: udp_host.into(),
            udp_port,
            heartbeat_ms: HEARTBEAT_MS_DEFAULT,
            key_grace_ms: 5000,
            tokens,
            max_talk_s: MAX_TALK_S_DEFAULT,
            talk_audio_min: TALK_AUDIO_MIN_DEFAULT,
            allow_roaming: false,
            limits: Limits::default(),
        }
    }

    /// The talk rules channels are made with.
    pub(super) fn talk_rules(&self) -> super::channel::TalkRules {
        super::channel::TalkRules {
            audio_min: self.talk_audio_min as usize,
            max_talk: Duration::from_secs(u64::from(self.max_talk_s)),
        }
    }

    /// The session time-out: [`HEARTBEATS_MISSED_MAX`] heartbeat periods.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.heartbeat_ms) * HEARTBEATS_MISSED_MAX)
    }

    /// Checks every field.
    ///
    /// # Errors
    /// The first field that is out of range, named.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let checks: [(&'static str, bool, &'static str); 19] = [
            (
                "max_talk_s",
                (1..=3600).contains(&self.max_talk_s),
                "must be 1 to 3600",
            ),
            (
                "talk_audio_min",
                (1..=TALK_AUDIO_MIN_MAX as u32).contains(&self.talk_audio_min),
                "must be 1 to 16",
            ),
            (
                "udp_host",
                Host::new(&self.udp_host).is_ok(),
                "not a host name or address",
            ),
            ("heartbeat_ms", self.heartbeat_ms > 0, "must be positive"),
            (
                "limits.sessions_max",
                l.sessions_max > 0,
                "must be positive",
            ),
            ("limits.pending_max", l.pending_max > 0, "must be positive"),
            (
                "limits.pending_per_ip_max",
                l.pending_per_ip_max > 0 && l.pending_per_ip_max <= l.pending_max,
                "must be 1 to limits.pending_max",
            ),
            (
                "limits.hello_timeout_ms",
                l.hello_timeout_ms > 0,
                "must be positive",
            ),
            (
                "limits.channels_max",
                l.channels_max > 0,
                "must be positive",
            ),
            (
                "limits.members_per_channel_max",
                l.members_per_channel_max > 0 && l.members_per_channel_max <= MAX_USERS,
                "must be 1 to 64 (users_connected lists every member)",
            ),
            (
                "limits.message_len_max",
                l.message_len_max > 0 && l.message_len_max <= MAX_MESSAGE_LEN,
                "must be 1 to 4096",
            ),
            (
                "limits.text_queue_len_max",
                l.text_queue_len_max > 0,
                "must be positive",
            ),
            (
                "limits.datagram_queue_len_max",
                l.datagram_queue_len_max > 0,
                "must be positive",
            ),
            (
                "limits.control_queue_len_max",
                l.control_queue_len_max >= 2,
                "must hold at least one error and its close",
            ),
            (
                "limits.queued_text_bytes_max",
                (MAX_MESSAGE_LEN..=STORE_BYTES_MAX).contains(&l.queued_text_bytes_max),
                "must be 8192 (one message) to 4 GiB",
            ),
            (
                "limits.queued_payload_bytes_max",
                (MAX_PAYLOAD_LEN..=STORE_BYTES_MAX).contains(&l.queued_payload_bytes_max),
                "must be 1275 (one Opus packet) to 4 GiB",
            ),
            (
                "limits.malformed_messages_max",
                l.malformed_messages_max > 0,
                "must be positive",
            ),
            (
                "tokens",
                self.tokens.token_count() != Some(0),
                "no token would be accepted",
            ),
            (
                "tokens",
                match &self.tokens {
                    TokenPolicy::AnyToken => true,
                    TokenPolicy::Grants(g) => g
                        .iter()
                        .enumerate()
                        .all(|(i, a)| g[..i].iter().all(|b| b.digest != a.digest)),
                },
                "the same token is listed twice",
            ),
        ];
        match checks.into_iter().find(|(_, ok, _)| !ok) {
            Some((field, _, reason)) => Err(ConfigError { field, reason }),
            None => Ok(()),
        }
    }
}

/// A configuration field out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError {
    /// The field's path, e.g. `limits.sessions_max`.
    pub field: &'static str,
    /// Why it was refused.
    pub reason: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_matched_exactly() {
        let policy = TokenPolicy::tokens(["abc", "secret-2", "abc"]);
        assert_eq!(policy.token_count(), Some(2));
        assert!(policy.accepts("abc"));
        assert!(policy.accepts("secret-2"));
        assert!(!policy.accepts("ab"));
        assert!(!policy.accepts("abcd"));
        assert!(!format!("{policy:?}").contains("abc"));
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let mut config = RelayConfig::new("127.0.0.1", 5000, TokenPolicy::AnyToken);
        assert_eq!(config.validate(), Ok(()));
        config.limits.members_per_channel_max = MAX_USERS + 1;
        assert_eq!(
            config.validate().unwrap_err().field,
            "limits.members_per_channel_max"
        );
        config.limits.members_per_channel_max = 4;
        config.tokens = TokenPolicy::Grants(Vec::new());
        assert_eq!(config.validate().unwrap_err().field, "tokens");
    }

    #[test]
    fn the_output_stores_hold_at_least_one_longest_frame_and_payload() {
        let mut config = RelayConfig::new("127.0.0.1", 5000, TokenPolicy::AnyToken);
        config.limits.queued_text_bytes_max = MAX_MESSAGE_LEN - 1;
        assert_eq!(
            config.validate().unwrap_err().field,
            "limits.queued_text_bytes_max"
        );
        config.limits.queued_text_bytes_max = MAX_MESSAGE_LEN;
        config.limits.queued_payload_bytes_max = MAX_PAYLOAD_LEN - 1;
        assert_eq!(
            config.validate().unwrap_err().field,
            "limits.queued_payload_bytes_max"
        );
        config.limits.queued_payload_bytes_max = MAX_PAYLOAD_LEN;
        assert_eq!(config.validate(), Ok(()));
    }
}
