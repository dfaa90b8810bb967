//! Text frames from nodes: `hello`, `register`, `transmit`,
//! `tone_detected`, `ping`…

use echostream_core::crypto::{Direction, Receiver, Secret, Sender, SessionKeys};
use echostream_core::time::Instant;
use echostream_core::wire::signal::{
    AlertType, ChannelId, Host, NodeId, PROTOCOL_VERSION, SecretBytes, SignalError, ToNode,
    ToRelay, Token, ToneId,
};

use super::channel::{Channel, Member};
use super::config::STREAMS_PER_SESSION_MAX;
use super::grants::{Rights, TokenDigest};
use super::members::{error_message, node_id};
use super::outbox::Class;
use super::session::{Keys, Membership, Phase};
use super::{CloseReason, ConnId, Relay, error_code, live};

impl Relay {
    /// One WebSocket text frame from `conn`.
    ///
    /// Frames over `limits.message_len_max` close the connection; unknown
    /// message types are counted and ignored; malformed ones are counted,
    /// answered with `error`, and close the connection after
    /// `limits.malformed_messages_max`. Before `hello` only `hello` is
    /// accepted. A frame from a connection the relay does not hold is
    /// answered with `Close`.
    pub fn handle_text(&mut self, now: Instant, conn: ConnId, text: &[u8]) {
        self.text_input(now, conn, text);
        self.run_due_rekeys(now);
        self.close_lost();
    }

    fn text_input(&mut self, now: Instant, conn: ConnId, text: &[u8]) {
        self.counters.texts_in += 1;
        let Some(slot) = self.slot_of(conn) else {
            self.counters.texts_unknown_conn += 1;
            let drops = &mut self.counters.drops;
            self.out.push_close(conn, CloseReason::NotConnected, drops);
            return;
        };
        if self.session(slot).phase == Phase::AwaitingHello
            && !matches!(ToRelay::parse(text), Ok(ToRelay::Hello { .. }))
        {
            // Before `hello` nothing is tolerated: a connection that has
            // not shown a token gets no second chance at the relay's time.
            self.counters.sessions_refused_not_hello += 1;
            self.close(
                slot,
                CloseReason::ProtocolViolation,
                Some((error_code::UNAUTHORIZED, "hello first")),
            );
            return;
        }
        if text.len() > self.config.limits.message_len_max {
            self.counters.signal_too_long += 1;
            self.close(
                slot,
                CloseReason::MessageTooLong,
                Some((error_code::TOO_LONG, "message too long")),
            );
            return;
        }
        let message = match ToRelay::parse(text) {
            Ok(message) => message,
            Err(SignalError::UnknownType) => {
                self.counters.signal_unknown_type += 1;
                return;
            }
            Err(SignalError::TooLong) => {
                self.counters.signal_too_long += 1;
                self.close(
                    slot,
                    CloseReason::MessageTooLong,
                    Some((error_code::TOO_LONG, "message too long")),
                );
                return;
            }
            Err(error) => {
                self.malformed(slot, error);
                return;
            }
        };
        match (self.session(slot).phase, message) {
            (
                Phase::AwaitingHello,
                ToRelay::Hello {
                    node_id,
                    token,
                    version,
                },
            ) => self.hello(now, slot, node_id, token, version),
            (Phase::AwaitingHello, _) => self.close(
                slot,
                CloseReason::ProtocolViolation,
                Some((error_code::UNAUTHORIZED, "hello first")),
            ),
            (Phase::Welcomed, ToRelay::Hello { .. }) => {
                self.refuse(slot, error_code::CONFLICT, "already welcomed");
            }
            (Phase::Welcomed, ToRelay::Register { channel_id }) => {
                self.register(slot, channel_id);
            }
            (Phase::Welcomed, ToRelay::Transmit { channel_id, active }) => {
                self.node_transmit(slot, channel_id, active);
            }
            (
                Phase::Welcomed,
                ToRelay::ToneDetected {
                    channel_id,
                    tone_id,
                    alert_type,
                },
            ) => self.tone_detected(slot, channel_id, tone_id, alert_type),
            (Phase::Welcomed, ToRelay::Ping { t }) => {
                self.session_mut(slot).last_alive = now;
                self.alive(slot);
                let text = self.out.droppable_text(&ToNode::Pong { t });
                self.send_text(slot, text, Class::Droppable);
            }
            (Phase::Welcomed, ToRelay::Pong { .. }) => {
                self.session_mut(slot).last_alive = now;
                self.alive(slot);
            }
        }
    }

    fn malformed(&mut self, slot: usize, error: SignalError) {
        self.counters.signal_malformed += 1;
        let max = self.config.limits.malformed_messages_max;
        let session = self.session_mut(slot);
        session.malformed += 1;
        if session.malformed >= max {
            self.close(
                slot,
                CloseReason::TooManyMalformed,
                Some((error_code::MALFORMED, "too many malformed messages")),
            );
        } else {
            let message = error_message(error_code::MALFORMED, error.reason());
            self.send(slot, &message);
        }
    }

    fn refuse(&mut self, slot: usize, code: u16, text: &str) {
        self.counters.signal_refused += 1;
        self.send(slot, &error_message(code, text));
    }

    fn hello(
        &mut self,
        now: Instant,
        slot: usize,
        node: NodeId<'_>,
        token: Token<'_>,
        version: u32,
    ) {
        let Some(rights) = self.config.tokens.rights(token.as_str()) else {
            self.counters.auth_failures += 1;
            self.close(
                slot,
                CloseReason::Unauthorized,
                Some((error_code::UNAUTHORIZED, "token refused")),
            );
            return;
        };
        if version != PROTOCOL_VERSION {
            self.close(
                slot,
                CloseReason::ProtocolViolation,
                Some((error_code::VERSION, "protocol version not supported")),
            );
            return;
        }
        if let Rights::Granted(grant) = &rights
            && !grant.node.matches(node.as_str())
        {
            // Another node's identity: refused before anything of the
            // real node's session is looked at.
            self.counters.auth_wrong_node += 1;
            self.close(
                slot,
                CloseReason::Forbidden,
                Some((error_code::FORBIDDEN, "token not valid for this node_id")),
            );
            return;
        }
        let old = self.sessions.iter().position(|s| {
            s.as_ref()
                .is_some_and(|s| s.phase == Phase::Welcomed && s.node_id == node.as_str())
        });
        if let Some(old) = old
            && self.session(old).token_digest() != rights.digest()
        {
            // Only the token that opened a node's session may replace
            // it (a node that reconnects): a second token for the same
            // node waits until that session ends.
            self.counters.auth_wrong_node += 1;
            self.close(
                slot,
                CloseReason::Forbidden,
                Some((
                    error_code::CONFLICT,
                    "node_id is connected with another token",
                )),
            );
            return;
        }
        if let Rights::Granted(grant) = &rights
            && let Some(max) = grant.sessions_max
            && self.sessions_of_token(&grant.digest, old) >= max as usize
        {
            self.counters.token_limits += 1;
            self.close(
                slot,
                CloseReason::TokenLimit,
                Some((error_code::LIMIT, "sessions limit of this token reached")),
            );
            return;
        }
        if old.is_none() && self.welcomed() >= self.config.limits.sessions_max {
            self.counters.sessions_refused_full += 1;
            self.close(
                slot,
                CloseReason::RelayFull,
                Some((error_code::FULL, "relay full")),
            );
            return;
        }
        // A node that reconnects replaces its old session at once rather
        // than waiting for it to time out.
        if let Some(old) = old {
            self.close(old, CloseReason::Replaced, None);
        }
        let session = self.session_mut(slot);
        let Ok(issued) = session.issuer.issue() else {
            self.close(
                slot,
                CloseReason::KeySourceFailed,
                Some((error_code::INTERNAL, "no key could be issued")),
            );
            return;
        };
        let keys = SessionKeys::derive(&Secret::from_bytes(issued.secret), issued.key_id);
        session.receiver_keys(keys);
        session.node_id = node.as_str().to_owned();
        session.rights = Some(rights);
        session.phase = Phase::Welcomed;
        session.last_alive = now;
        self.alive(slot);
        self.counters.sessions_welcomed += 1;
        let udp_host = Host::new(&self.config.udp_host).expect("checked in RelayConfig::validate");
        let text = self.out.text(&ToNode::Welcome {
            udp_host,
            udp_port: self.config.udp_port,
            key: SecretBytes::new(issued.secret),
            key_id: issued.key_id,
            heartbeat_ms: self.config.heartbeat_ms,
        });
        self.send_text(slot, text, Class::State);
    }

    fn register(&mut self, slot: usize, channel_id: ChannelId<'_>) {
        let existing = self.channel_slot(channel_id.as_str());
        if let Some(c) = existing
            && let Some(m) = self.session(slot).membership_of_channel(c)
        {
            // Registering again is answered with the same stream.
            let stream_id = self.session(slot).memberships[m].stream_id;
            self.send(
                slot,
                &ToNode::Registered {
                    channel_id,
                    stream_id,
                },
            );
            return;
        }
        let rights = self
            .session(slot)
            .rights
            .as_ref()
            .expect("welcomed sessions have rights");
        let (listen, talk) = (
            rights.may_listen(channel_id.as_str()),
            rights.may_talk(channel_id.as_str()),
        );
        if !listen && !talk {
            self.counters.register_forbidden += 1;
            self.refuse(
                slot,
                error_code::FORBIDDEN,
                "token may not listen to or talk on this channel",
            );
            return;
        }
        if self.session(slot).memberships.len() >= STREAMS_PER_SESSION_MAX {
            self.refuse(slot, error_code::LIMIT, "too many channels for this node");
            return;
        }
        if let Some(Rights::Granted(grant)) = &self.session(slot).rights
            && let Some(max) = grant.channels_max
            && self.memberships_of_token(&grant.digest) >= max as usize
        {
            self.counters.token_limits += 1;
            self.refuse(
                slot,
                error_code::LIMIT,
                "channels limit of this token reached",
            );
            return;
        }
        let members_max = self.config.limits.members_per_channel_max;
        let c = match existing {
            Some(c) => c,
            None => match self.channels.iter().position(Option::is_none) {
                Some(c) => {
                    self.channels[c] = Some(Channel::new(
                        channel_id.as_str(),
                        members_max,
                        self.config.talk_rules(),
                    ));
                    c
                }
                None => {
                    self.refuse(slot, error_code::FULL, "too many channels");
                    return;
                }
            },
        };
        let channel = self.channels[c].as_mut().expect("found or made above");
        if channel.members.len() >= members_max {
            self.refuse(slot, error_code::LIMIT, "channel full");
            return;
        }
        let stream_id = self.allocate_stream_id();
        self.channels[c]
            .as_mut()
            .expect("found or made above")
            .members
            .push(Member {
                session: slot,
                stream_id,
            });
        self.streams.insert(stream_id, slot);
        let session = self.session_mut(slot);
        let keys = &session
            .keys
            .as_ref()
            .expect("welcomed sessions have keys")
            .current;
        let sender = Sender::new(keys, Direction::RelayToNode, stream_id);
        session.memberships.push(Membership {
            channel: c,
            stream_id,
            sender,
            addr: None,
            newest: None,
            listen,
            talk,
        });
        self.send(
            slot,
            &ToNode::Registered {
                channel_id,
                stream_id,
            },
        );
        self.users_connected(c);
    }

    /// `transmit` from a node: `active: false` from the holder releases
    /// the channel, and its listeners get an end-of-transmission in place
    /// of the talker's own (which, if it comes later, is not passed on);
    /// audio, not this message, takes a channel.
    fn node_transmit(&mut self, slot: usize, channel_id: ChannelId<'_>, active: bool) {
        let membership = self
            .channel_slot(channel_id.as_str())
            .and_then(|c| self.session(slot).membership_of_channel(c));
        let Some(m) = membership else {
            self.refuse(slot, error_code::CONFLICT, "channel not registered");
            return;
        };
        if active {
            return;
        }
        let membership = &self.session(slot).memberships[m];
        let (c, stream_id) = (membership.channel, membership.stream_id);
        let released = self.channels[c]
            .as_mut()
            .expect("a membership's channel is live")
            .release(stream_id);
        if let Some(talker) = released {
            self.counters.transmit_releases += 1;
            self.end_for_listeners(c, &talker);
            self.announce_release(c, slot);
        }
    }

    /// `tone_detected` from a node: passed on, naming the node, to every
    /// other member of the channel, so the other sites can act on the
    /// page. From a node not registered on the channel it is ignored and
    /// counted: a report must not reach a channel its sender cannot hear
    /// or talk on.
    fn tone_detected(
        &mut self,
        slot: usize,
        channel_id: ChannelId<'_>,
        tone_id: ToneId<'_>,
        alert_type: AlertType<'_>,
    ) {
        let membership = self.channel_slot(channel_id.as_str()).and_then(|c| {
            let m = self.session(slot).membership_of_channel(c)?;
            Some((c, self.session(slot).memberships[m].talk))
        });
        let Some((c, talk)) = membership else {
            self.counters.tone_reports_unregistered += 1;
            return;
        };
        if !talk {
            // A page is said on a channel: a listener may not.
            self.counters.tone_reports_forbidden += 1;
            return;
        }
        self.counters.tone_reports += 1;
        let node = &live(&self.sessions, slot).node_id;
        let text = self.out.droppable_text(&ToNode::ToneDetected {
            channel_id,
            node_id: node_id(node),
            tone_id,
            alert_type,
        });
        self.send_to_listeners(c, Some(slot), text, Class::Droppable);
    }
}

impl Relay {
    /// Welcomed sessions holding the token with `digest`, but `except`.
    fn sessions_of_token(&self, digest: &TokenDigest, except: Option<usize>) -> usize {
        self.sessions
            .iter()
            .enumerate()
            .filter(|&(i, s)| {
                Some(i) != except
                    && s.as_ref().is_some_and(|s| {
                        s.phase == Phase::Welcomed && s.token_digest() == Some(digest)
                    })
            })
            .count()
    }

    /// Channel memberships of all sessions holding the token with
    /// `digest`.
    fn memberships_of_token(&self, digest: &TokenDigest) -> usize {
        self.sessions
            .iter()
            .flatten()
            .filter(|s| s.token_digest() == Some(digest))
            .map(|s| s.memberships.len())
            .sum()
    }
}

impl super::session::Session {
    fn receiver_keys(&mut self, keys: SessionKeys) {
        let receiver = Receiver::new(&keys, Direction::NodeToRelay);
        self.keys = Some(Keys {
            current: keys,
            next: None,
            receiver,
        });
    }
}
