//! The UDP side: datagrams opened and routed to their channel, heartbeats
//! and the path check, and captured frames sealed on their stream.
//!
//! Every registered channel is one stream (DESIGN.md "Wire format v1"):
//! the engine seals with one [`Sender`](crate::crypto::Sender) per stream
//! under the session key and opens everything the relay sends with one
//! [`Receiver`](crate::crypto::Receiver). The relay re-seals a talker's
//! audio under each listener's own stream id, so a datagram's stream id
//! names the channel it belongs to.

use core::net::SocketAddr;

use crate::crypto::{OpenError, OpenErrorKind, SealError};
use crate::time::{Duration, Instant};
use crate::wire::{Flags, HEADER_LEN, HEARTBEAT_PAYLOAD_LEN, Kind, MediaTimestamp, Packet};

use super::event::{DisconnectReason, Event};
use super::parked::Awaiting;
use super::signaling::next_key_id;
use super::timer::Timer;
use super::{
    ChannelIndex, Delivery, Node, Output, PATH_DEAD_PROBES, PATH_LOST_PROBES, PING_EVERY_ROUNDS,
    Received, Text, next_period, pong_wait, probe_interval,
};

impl Node {
    /// One UDP datagram from `from`, received at `now`; opened in place in
    /// `datagram`. Its frame, if any, is handed out as [`Output::Deliver`].
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        self.now = now;
        self.counters.datagrams_in += 1;
        self.datagram(now, now, from, datagram);
    }

    /// Opens `data`, which arrived at `arrived`, and routes it (or holds it
    /// until its key is announced).
    pub(super) fn datagram(
        &mut self,
        now: Instant,
        arrived: Instant,
        from: SocketAddr,
        data: &mut [u8],
    ) {
        let Some(session) = self.session.as_mut() else {
            self.counters.drop_not_welcomed += 1;
            return;
        };
        let Some(relay) = session.relay else {
            self.counters.drop_not_welcomed += 1;
            return;
        };
        let (stream_id, key_id) = match Packet::new_checked(&*data) {
            Ok(packet) => (packet.stream_id(), packet.key_id()),
            Err(_) => {
                self.counters.drop_malformed += 1;
                return;
            }
        };
        // Unknown streams are refused before any decryption work, unless
        // the relay is known to be registering one.
        let Some(index) = self
            .channels
            .iter()
            .position(|c| c.stream.as_ref().is_some_and(|s| s.id == stream_id))
        else {
            let registering = self.channels.iter().any(|c| c.registering);
            if from == relay
                && registering
                && key_id == session.receiver.key_id()
                && self.park(Awaiting::Stream, arrived, from, data)
            {
                return;
            }
            self.counters.drop_unknown_stream += 1;
            return;
        };
        let opened = match session.receiver.open(now, data) {
            Ok(opened) => opened,
            // The relay seals under its next key from the moment it sends
            // `rekey`; over UDP a datagram may still outrun that message.
            // Held only from the relay's own address and only under that
            // next key.
            Err(OpenError::UnknownKey(key_id))
                if from == relay
                    && key_id == next_key_id(session.receiver.key_id())
                    && self.park(Awaiting::Key, arrived, from, data) =>
            {
                return;
            }
            Err(error) => {
                self.counters.drop_open[error.kind().index()] += 1;
                return;
            }
        };
        let repr = opened.repr;
        let payload = &data[opened.payload];
        let channel = ChannelIndex::new_unchecked(index);
        match repr.kind {
            Kind::Audio | Kind::EndOfTransmission => {
                let end = repr.kind == Kind::EndOfTransmission;
                let seq = self.channels[index].seq_map.media_seq(
                    repr.key_id,
                    repr.seq,
                    (!end).then_some(repr.timestamp),
                );
                let mut delivery = Delivery {
                    channel,
                    frame: Received {
                        seq,
                        timestamp: repr.timestamp,
                        flags: repr.flags,
                        end,
                        arrived,
                        len: if end { 0 } else { payload.len() },
                    },
                    bytes: [0; crate::wire::MAX_PAYLOAD_LEN],
                };
                if !end {
                    delivery.bytes[..payload.len()].copy_from_slice(payload);
                }
                // A frame dropped is counted where it was dropped.
                if self.deliver(delivery, crate::ptt::TxSource::Remote) {
                    if end {
                        self.counters.eot_in += 1;
                    } else {
                        self.counters.audio_in += 1;
                    }
                }
            }
            Kind::HeartbeatEcho => {
                self.channels[index]
                    .seq_map
                    .skip_echo(repr.key_id, repr.seq);
                let mut sent = [0u8; HEARTBEAT_PAYLOAD_LEN];
                if payload.len() != HEARTBEAT_PAYLOAD_LEN {
                    self.counters.drop_malformed += 1;
                    return;
                }
                sent.copy_from_slice(payload);
                self.counters.heartbeats_echoed += 1;
                self.echo(now, u64::from_be_bytes(sent));
            }
            Kind::Heartbeat | Kind::Unknown(_) => self.counters.drop_unexpected_kind += 1,
        }
    }

    /// Holds `data` until the message it waits for (see `parked.rs`).
    fn park(
        &mut self,
        awaiting: Awaiting,
        arrived: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> bool {
        if !self.parked.park(awaiting, arrived, from, data) {
            return false;
        }
        self.counters.datagrams_parked += 1;
        self.rearm_parked();
        true
    }

    /// The parked-datagram timer follows the oldest held datagram.
    pub(super) fn rearm_parked(&mut self) {
        match self.parked.deadline() {
            Some(deadline) => self.timers.set(Timer::ParkedExpiry, deadline),
            None => self.timers.clear(Timer::ParkedExpiry),
        }
    }

    /// Opens again what was held (a `rekey` or `registered` came); what
    /// still waits is held again with its first arrival time.
    pub(super) fn unpark(&mut self, now: Instant) {
        for _ in 0..self.parked.len() {
            let Some(mut held) = self.parked.pop() else {
                break;
            };
            let len = held.len;
            self.datagram(now, held.arrived, held.from, &mut held.bytes[..len]);
        }
        self.rearm_parked();
    }

    /// Held datagrams that waited too long are dropped and counted; one
    /// that waited for a key means the session is broken.
    pub(super) fn expire_parked(&mut self, now: Instant) {
        let mut key_never_came = false;
        while let Some(held) = self.parked.pop_expired(now) {
            match held.awaiting {
                Awaiting::Key => {
                    self.counters.drop_open[OpenErrorKind::UnknownKey.index()] += 1;
                    key_never_came = true;
                }
                Awaiting::Stream => self.counters.drop_unknown_stream += 1,
            }
        }
        self.rearm_parked();
        if key_never_came {
            self.fail(DisconnectReason::KeyNeverAnnounced);
        }
    }

    /// A heartbeat sent at `sent_us` came back.
    fn echo(&mut self, now: Instant, sent_us: u64) {
        let session = self.session.as_mut().expect("echoes open under a session");
        session.sends_unanswered = 0;
        session.last_echo_at = now;
        // No probe is owed: the next heartbeats are the next round's.
        self.timers.set(Timer::HeartbeatRound, session.round_next);
        // The payload is this node's own clock; anything from the future
        // is not a round trip.
        let Some(rtt_us) = now.as_micros().checked_sub(sent_us) else {
            return;
        };
        let rtt = Duration::from_micros(rtt_us);
        self.counters.rtt_last_us = rtt_us;
        self.counters.rtt_max_us = self.counters.rtt_max_us.max(rtt_us);
        let relay = session
            .relay
            .expect("echoes open once the media side is ready");
        let restored = core::mem::replace(&mut session.path_lost, false);
        let first_of_round = sent_us == session.round_sent_us && !session.round_reported;
        if first_of_round {
            session.round_reported = true;
        }
        if restored {
            self.event(Event::PathRestored {
                relay_udp: relay,
                rtt,
            });
        }
        if first_of_round {
            self.event(Event::Rtt { rtt });
        }
    }

    /// Heartbeats are due: a regular round (every heartbeat period, on
    /// the period's grid), or a probe (one probe interval after
    /// heartbeats whose echo has not come back). Checks the path first,
    /// then sends one heartbeat per registered stream, and a `ping` when
    /// signaling is owed one (see [`PING_EVERY_ROUNDS`]).
    pub(super) fn heartbeat_round(&mut self, now: Instant) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let heartbeat = session.heartbeat;
        let regular = now >= session.round_next;
        if regular {
            session.round_next = next_period(session.round_next, heartbeat, now);
            session.rounds_since_ping = session.rounds_since_ping.saturating_add(1);
        }
        // Streams register once the media side is ready: until then only
        // signaling beats.
        let registered = self.channels.iter().any(|c| c.stream.is_some());
        let unanswered = session.sends_unanswered;
        // Signaling is this node's sign of life whenever UDP is not
        // proving it: no stream, or heartbeats not echoed (a probe run
        // pings at its start and at every round in it).
        let ping = (regular
            && (!registered || unanswered > 0 || session.rounds_since_ping >= PING_EVERY_ROUNDS))
            || (!regular && unanswered == 1);
        if ping {
            session.rounds_since_ping = 0;
            self.ping(now);
        }
        let session = self.session.as_mut().expect("checked at the top");
        if !registered {
            self.timers.set(Timer::HeartbeatRound, session.round_next);
            return;
        }
        let silent_for = now.saturating_duration_since(session.last_echo_at);
        if unanswered >= PATH_DEAD_PROBES {
            return self.fail(DisconnectReason::PathDead { silent_for });
        }
        if unanswered >= PATH_LOST_PROBES && !session.path_lost {
            let relay = session
                .relay
                .expect("streams register once the media side is ready");
            session.path_lost = true;
            self.counters.path_lost += 1;
            self.event(Event::PathLost {
                relay_udp: relay,
                silent_for,
            });
        }
        let session = self.session.as_mut().expect("checked at the top");
        session.sends_unanswered = unanswered.saturating_add(1);
        session.round_sent_us = now.as_micros();
        session.round_reported = false;
        self.arm_probe(now);
        for (index, c) in self.channels.iter().enumerate() {
            if c.stream.is_some() {
                self.heartbeats_due |= 1 << index;
                self.heartbeat_us[index] = now.as_micros();
            }
        }
    }

    /// Heartbeats just went out: until an echo moves the timer to the next
    /// round, the next probe is one probe interval on.
    pub(super) fn arm_probe(&mut self, now: Instant) {
        let Some(session) = &self.session else {
            return;
        };
        let probe = now + probe_interval(session.heartbeat);
        self.timers
            .set(Timer::HeartbeatRound, probe.min(session.round_next));
    }

    /// Queues a `ping`; the relay must say something within
    /// [`pong_wait`] of it.
    fn ping(&mut self, now: Instant) {
        let Some(session) = &self.session else {
            return;
        };
        let deadline = now + pong_wait(session.heartbeat);
        if self
            .timers
            .at(Timer::SignalSilence)
            .is_none_or(|at| deadline < at)
        {
            self.timers.set(Timer::SignalSilence, deadline);
        }
        self.queue_text(Text::Ping(now.as_micros()));
    }

    /// The next datagram to send: a heartbeat owed, else a captured frame
    /// (channels in turn). Frames of a channel that is not registered are
    /// dropped and counted here.
    pub(super) fn poll_datagram(&mut self, buf: &mut [u8]) -> Option<Output> {
        let relay = self.session.as_ref().and_then(|s| s.relay);
        while self.heartbeats_due != 0 {
            let index = self.heartbeats_due.trailing_zeros() as usize;
            self.heartbeats_due &= !(1 << index);
            let Some(to) = relay else { break };
            let payload = self.heartbeat_us[index].to_be_bytes();
            buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(&payload);
            if let Some(len) = self.seal(
                index,
                Kind::Heartbeat,
                false,
                false,
                MediaTimestamp(0),
                payload.len(),
                buf,
            ) {
                self.counters.heartbeats_sent += 1;
                return Some(Output::SendDatagram { to, len });
            }
        }
        let n = self.channels.len();
        for k in 0..n {
            let index = (self.cursor + k) % n;
            while let Some(entry) = self.channels[index]
                .frames
                .pop_committed(&mut buf[HEADER_LEN..])
            {
                let c = &self.channels[index];
                let Some(to) = relay.filter(|_| c.stream.is_some()) else {
                    // An end marker with nothing before it is no loss.
                    if !entry.end {
                        self.counters.drop_not_registered += 1;
                    }
                    continue;
                };
                if entry.end && !c.transmitting {
                    // Nothing of this talk-spurt went out: nothing to end.
                    continue;
                }
                let kind = if entry.end {
                    Kind::EndOfTransmission
                } else {
                    Kind::Audio
                };
                let len = usize::from(entry.len);
                let Some(sealed) = self.seal(
                    index,
                    kind,
                    c.start_pending,
                    entry.fec,
                    entry.timestamp,
                    len,
                    buf,
                ) else {
                    continue;
                };
                self.cursor = (index + 1) % n;
                self.sealed_frame(index, entry.end);
                return Some(Output::SendDatagram { to, len: sealed });
            }
        }
        None
    }

    /// Talk-spurt bookkeeping after a frame of channel `index` was sealed.
    fn sealed_frame(&mut self, index: usize, end: bool) {
        let channel = ChannelIndex::new_unchecked(index);
        let c = &mut self.channels[index];
        if end {
            c.transmitting = false;
            self.counters.eot_out += 1;
            return;
        }
        c.start_pending = false;
        self.counters.audio_out += 1;
        if !c.transmitting {
            c.transmitting = true;
            c.announced = true;
            // A new talk-spurt: the last one's release is moot.
            self.timers.clear(Timer::TransmitRelease(channel));
            self.queue_text(Text::Transmit(channel, true));
        }
    }

    /// Seals the payload at `buf[HEADER_LEN..][..payload_len]` on channel
    /// `index`'s stream; the datagram's length, or `None` (counted).
    #[allow(
        clippy::too_many_arguments,
        reason = "the header's fields, each from a different place"
    )]
    fn seal(
        &mut self,
        index: usize,
        kind: Kind,
        start: bool,
        fec: bool,
        timestamp: MediaTimestamp,
        payload_len: usize,
        buf: &mut [u8],
    ) -> Option<usize> {
        let stream = self.channels[index].stream.as_mut()?;
        let mut flags = Flags::NONE;
        if kind == Kind::Audio && start {
            flags = flags.union(Flags::START_OF_TALKSPURT);
        }
        if kind == Kind::Audio && fec {
            flags = flags.union(Flags::FEC);
        }
        match stream.sender.seal(kind, flags, timestamp, payload_len, buf) {
            Ok(len) => Some(len),
            Err(error) => {
                self.counters.drop_seal += 1;
                if error == SealError::SequenceExhausted {
                    self.fail(DisconnectReason::SequenceExhausted);
                }
                None
            }
        }
    }
}
