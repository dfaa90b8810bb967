//! Frames for sessions and channels: state queued for one session or for
//! every member of a channel, member lists, and telling a channel that
//! its talker was released or cut.

use echostream_core::wire::signal::ToNode;

use super::outbox::{Class, Text};
use super::{Relay, channel, error_code, live};

impl Relay {
    /// Queues `message`, which carries state, for the session in `slot`
    /// (see [`send_text`](Self::send_text)).
    pub(super) fn send(&mut self, slot: usize, message: &ToNode<'_>) {
        let text = self.out.text(message);
        self.send_text(slot, text, Class::State);
    }

    /// Queues `text` of `class` for the session in `slot`, then lets go
    /// of it. State that finds no room marks the session to be closed
    /// before the input returns ([`close_lost`](Self::close_lost)).
    pub(super) fn send_text(&mut self, slot: usize, text: Text, class: Class) {
        let queued = self.out.queue_text(
            slot,
            text,
            class,
            &mut self.counters.drops,
            &mut self.counters.users_connected_coalesced,
        );
        if queued.is_err() {
            self.session_mut(slot).state_lost = true;
            self.state_lost_any = true;
        }
        self.out.release_text(text);
    }

    /// Queues `text` (stored once) for every member of channel `c` but
    /// the session in `except`, then lets go of it.
    pub(super) fn send_to_members(
        &mut self,
        c: usize,
        except: Option<usize>,
        text: Text,
        class: Class,
    ) {
        self.send_to(c, except, false, text, class);
    }

    /// `text` to every member of channel `c` whose token may listen to
    /// it, but `except`.
    pub(super) fn send_to_listeners(
        &mut self,
        c: usize,
        except: Option<usize>,
        text: Text,
        class: Class,
    ) {
        self.send_to(c, except, true, text, class);
    }

    fn send_to(
        &mut self,
        c: usize,
        except: Option<usize>,
        listeners_only: bool,
        text: Text,
        class: Class,
    ) {
        let channel = self.channels[c]
            .as_ref()
            .expect("callers pass a live channel");
        for member in &channel.members {
            if Some(member.session) == except {
                continue;
            }
            if listeners_only {
                let session = live(&self.sessions, member.session);
                let m = session
                    .membership(member.stream_id)
                    .expect("channel members and memberships agree");
                if !session.memberships[m].listen {
                    continue;
                }
            }
            let queued = self.out.queue_text(
                member.session,
                text,
                class,
                &mut self.counters.drops,
                &mut self.counters.users_connected_coalesced,
            );
            if queued.is_err() {
                self.sessions[member.session]
                    .as_mut()
                    .expect("members are live sessions")
                    .state_lost = true;
                self.state_lost_any = true;
            }
        }
        self.out.release_text(text);
    }

    /// `users_connected` to every member of channel `c`.
    pub(super) fn users_connected(&mut self, c: usize) {
        let channel = self.channels[c]
            .as_ref()
            .expect("callers pass a live channel");
        let mut users = echostream_core::wire::signal::Users::new();
        for member in &channel.members {
            let node_id = node_id(&live(&self.sessions, member.session).node_id);
            users
                .push(node_id)
                .expect("members_per_channel_max <= MAX_USERS, checked in validate");
        }
        let text = self.out.text(&ToNode::UsersConnected {
            channel_id: channel_id(&channel.id),
            users,
        });
        self.send_to_members(c, None, text, Class::Members { channel: c });
    }

    /// The relay took channel `c` from `talker`: counted, its listeners
    /// get an end-of-transmission in its place and the other members
    /// `transmit` active:false.
    pub(super) fn cut(&mut self, c: usize, talker: &channel::Talker, cut: channel::Cut) {
        match cut {
            channel::Cut::Silent => self.counters.talker_timeouts += 1,
            channel::Cut::Trickle => self.counters.talker_trickles += 1,
            channel::Cut::TalkTimeLimit => self.counters.talk_time_limits += 1,
        }
        self.end_for_listeners(c, talker);
        self.announce_release(c, talker.member.session);
        // The talker is told why its audio goes nowhere until it ends the
        // transmission (a silent one has nothing left to send).
        let why = match cut {
            channel::Cut::Silent => None,
            channel::Cut::Trickle => Some("transmission cut: too little audio to hold the channel"),
            channel::Cut::TalkTimeLimit => Some("transmission cut: max_talk_s reached"),
        };
        if let Some(why) = why {
            self.send(
                talker.member.session,
                &error_message(error_code::LIMIT, why),
            );
        }
    }

    /// `transmit` active:false to channel `c`'s members but the old holder.
    pub(super) fn announce_release(&mut self, c: usize, holder_slot: usize) {
        let text = self.transmit_text(c, holder_slot, false);
        self.send_to_members(c, Some(holder_slot), text, Class::State);
    }

    /// `transmit` on channel `c` naming the node in `slot`, stored once.
    pub(super) fn transmit_text(&mut self, c: usize, slot: usize, active: bool) -> Text {
        let channel = self.channels[c]
            .as_ref()
            .expect("callers pass a live channel");
        let node = &live(&self.sessions, slot).node_id;
        self.out.text(&transmit_message(&channel.id, node, active))
    }
}

pub(super) fn error_message(code: u16, text: &str) -> ToNode<'static> {
    let mut message = echostream_core::wire::signal::ErrorMessage::new();
    // Error texts are short constants; a longer one is cut, not fatal.
    for c in text.chars() {
        if message.push(c).is_err() {
            break;
        }
    }
    ToNode::Error { code, message }
}

pub(super) fn transmit_message<'a>(channel: &'a str, node: &'a str, active: bool) -> ToNode<'a> {
    ToNode::Transmit {
        channel_id: channel_id(channel),
        node_id: node_id(node),
        active,
    }
}

pub(super) fn node_id(text: &str) -> echostream_core::wire::signal::NodeId<'_> {
    echostream_core::wire::signal::NodeId::new(text)
        .expect("node ids are stored only after parsing as NodeId")
}

fn channel_id(text: &str) -> echostream_core::wire::signal::ChannelId<'_> {
    echostream_core::wire::signal::ChannelId::new(text)
        .expect("channel ids are stored only after parsing as ChannelId")
}
