//! Datagrams from nodes: open, answer heartbeats, arbitrate, fan out.

use std::net::SocketAddr;

use echostream_core::time::Instant;
use echostream_core::wire::{Flags, KeyId, Kind, MediaTimestamp, Packet, Seq, StreamId};

use super::Relay;
use super::channel::{Floor, Member, Talker};
use super::outbox::{Class, Datagram};

impl Relay {
    /// One UDP datagram from `from`, decrypted in place in `datagram`.
    ///
    /// The stream id names the session; that session's receiver opens it
    /// (node-to-relay keys, replay window). A valid datagram keeps the session
    /// alive, and moves the stream's return address to `from` only if it
    /// is the stream's newest and `from` has the session's WebSocket peer
    /// IP (or `allow_roaming` is set); heartbeats are echoed to the return
    /// address, not to `from`. Heartbeats are
    /// echoed; audio from the channel's talker is queued for every other
    /// member (the payload stored once) and sealed under each one's own
    /// stream and keys as it is polled; end-of-transmission releases the
    /// channel and is passed on, unless the talker was released already
    /// and its listeners sent an end in its place (see the [module
    /// docs](super), "Talkers"). Everything else is dropped and counted in
    /// [`Counters::drops`](super::Counters::drops).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        self.datagram_input(now, from, datagram);
        self.run_due_rekeys(now);
        self.close_lost();
    }

    fn datagram_input(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        self.counters.datagrams_in += 1;
        let stream_id = match Packet::new_checked(&*datagram) {
            Ok(packet) => packet.stream_id(),
            Err(_) => {
                self.counters.drops.malformed += 1;
                return;
            }
        };
        let Some(&slot) = self.streams.get(&stream_id) else {
            self.counters.drops.unknown_stream += 1;
            return;
        };
        let session = self.session_mut(slot);
        let receiver = &mut session
            .keys
            .as_mut()
            .expect("streams belong to welcomed sessions")
            .receiver;
        let opened = match receiver.open(now, datagram) {
            Ok(opened) => opened,
            Err(error) => {
                self.counters.drops.open[error.kind().index()] += 1;
                return;
            }
        };
        let current_key_id = receiver.key_id();
        let m = session
            .membership(stream_id)
            .expect("the stream table and memberships agree");
        session.last_alive = now;
        self.alive(slot);
        let repr = opened.repr;
        self.update_return_addr(slot, m, from, repr.key_id, repr.seq, current_key_id);
        let payload = &datagram[opened.payload];
        match repr.kind {
            Kind::Heartbeat => {
                self.counters.heartbeats += 1;
                // To the return address, not `from`: a replayed heartbeat
                // must not make the relay send to whoever replayed it.
                let Some(to) = self.session(slot).memberships[m].addr else {
                    self.counters.drops.no_address += 1;
                    return;
                };
                let echo = Datagram {
                    to,
                    membership: m,
                    kind: Kind::HeartbeatEcho,
                    flags: Flags::NONE,
                    timestamp: repr.timestamp,
                };
                let mut stored = None;
                let drops = &mut self.counters.drops;
                self.out
                    .queue_datagram(slot, echo, payload, &mut stored, drops);
                self.out.release_payload(stored);
            }
            Kind::Audio => self.audio(now, slot, m, repr.flags, repr.timestamp, payload),
            Kind::EndOfTransmission => self.end_of_transmission(slot, m, repr.timestamp),
            Kind::HeartbeatEcho | Kind::Unknown(_) => self.counters.drops.unexpected_kind += 1,
        }
    }

    /// Moves stream `m`'s return address to `from` when this valid
    /// datagram is the newest the stream has sent and `from` has the IP
    /// of the session's WebSocket peer (any IP with `allow_roaming`).
    /// An older datagram still inside the replay window may have been
    /// captured and replayed by anyone on the path: it is used, but does
    /// not say where the node is.
    fn update_return_addr(
        &mut self,
        slot: usize,
        m: usize,
        from: SocketAddr,
        key_id: KeyId,
        seq: Seq,
        current_key_id: KeyId,
    ) {
        let allow_roaming = self.config.allow_roaming;
        let session = self.sessions[slot]
            .as_mut()
            .expect("slots in the stream table are live sessions");
        let same_ip = from.ip().to_canonical() == session.peer_ip;
        let membership = &mut session.memberships[m];
        if !membership.note_newest(key_id, seq, current_key_id) {
            if membership.addr != Some(from) {
                self.counters.return_addr_kept_not_newest += 1;
            }
            return;
        }
        if !same_ip && !allow_roaming {
            self.counters.return_addr_kept_foreign_ip += 1;
            return;
        }
        if membership.addr.is_some_and(|addr| addr != from) {
            self.counters.return_addr_moves += 1;
        }
        membership.addr = Some(from);
    }

    fn audio(
        &mut self,
        now: Instant,
        slot: usize,
        m: usize,
        flags: Flags,
        timestamp: MediaTimestamp,
        payload: &[u8],
    ) {
        let membership = &self.session(slot).memberships[m];
        let (c, stream_id) = (membership.channel, membership.stream_id);
        if !membership.talk {
            // The token may only listen: its audio never takes the
            // channel.
            self.counters.drops.no_talk_right += 1;
            return;
        }
        let member = Member {
            session: slot,
            stream_id,
        };
        let channel = self.channels[c]
            .as_mut()
            .expect("a membership's channel is live");
        // A silent talker loses the channel even between timeout calls,
        // ending its transmission before whatever comes next (its own
        // audio included: that is a new transmission).
        let expired = channel.expire(now);
        let floor = channel.claim(now, member, timestamp);
        if let Some((old, cut)) = expired {
            self.cut(c, &old, cut);
        }
        match floor {
            Floor::Held { taken } => {
                self.counters.audio_in += 1;
                if taken {
                    let text = self.transmit_text(c, slot, true);
                    self.send_to_members(c, Some(slot), text, Class::State);
                }
                self.fan_out(c, slot, Kind::Audio, flags, timestamp, payload);
            }
            Floor::LockedOut => self.counters.drops.locked_out += 1,
            Floor::Trickled(talker) => {
                self.counters.drops.locked_out += 1;
                self.cut(c, &talker, super::channel::Cut::Trickle);
            }
            Floor::Busy {
                holder,
                first_refusal,
            } => {
                self.counters.drops.not_talker += 1;
                if first_refusal {
                    let text = self.transmit_text(c, holder.session, true);
                    self.send_text(slot, text, Class::State);
                }
            }
        }
        self.touch_channel(c);
    }

    fn end_of_transmission(&mut self, slot: usize, m: usize, timestamp: MediaTimestamp) {
        let membership = &self.session(slot).memberships[m];
        let (c, stream_id) = (membership.channel, membership.stream_id);
        let released = self.channels[c]
            .as_mut()
            .expect("a membership's channel is live")
            .release(stream_id);
        if released.is_none() {
            // Also the talker's own end after `transmit: false` or the
            // silence time-out released it: the listeners already got
            // one in its place.
            self.counters.drops.not_talker += 1;
            return;
        }
        self.touch_channel(c);
        self.counters.eot_in += 1;
        self.fan_out(
            c,
            slot,
            Kind::EndOfTransmission,
            Flags::NONE,
            timestamp,
            &[],
        );
        self.announce_release(c, slot);
    }

    /// Channel `c`'s talker was released without its own
    /// end-of-transmission: every other member is sent one in its place,
    /// queued like the talker's own would be (before audio of whoever
    /// takes the channel next) and sealed under the member's stream when
    /// polled.
    pub(super) fn end_for_listeners(&mut self, c: usize, talker: &Talker) {
        self.counters.eot_made += 1;
        self.fan_out(
            c,
            talker.member.session,
            Kind::EndOfTransmission,
            Flags::NONE,
            talker.end_timestamp(),
            &[],
        );
    }

    /// Queues `payload` for every member of channel `c` but `source`,
    /// stored once; each copy is sealed when polled.
    fn fan_out(
        &mut self,
        c: usize,
        source: usize,
        kind: Kind,
        flags: Flags,
        timestamp: MediaTimestamp,
        payload: &[u8],
    ) {
        let channel = self.channels[c].as_ref().expect("live");
        let mut stored = None;
        for member in &channel.members {
            if member.session == source {
                continue;
            }
            let recipient = super::live(&self.sessions, member.session);
            let m = recipient
                .membership(member.stream_id)
                .expect("channel members and memberships agree");
            if !recipient.memberships[m].listen {
                // The token may only talk: the channel's audio is not
                // its to hear.
                continue;
            }
            let Some(to) = recipient.addr_for(m) else {
                self.counters.drops.no_address += 1;
                continue;
            };
            let datagram = Datagram {
                to,
                membership: m,
                kind,
                flags,
                timestamp,
            };
            let drops = &mut self.counters.drops;
            self.out
                .queue_datagram(member.session, datagram, payload, &mut stored, drops);
        }
        self.out.release_payload(stored);
    }

    /// The stream ids of a node's memberships, for tests and status.
    pub fn streams_of(&self, node_id: &str) -> Vec<StreamId> {
        self.sessions
            .iter()
            .flatten()
            .filter(|s| s.node_id == node_id)
            .flat_map(|s| s.memberships.iter().map(|m| m.stream_id))
            .collect()
    }
}
