//! The receive path: datagrams read, opened with the session's receiver,
//! routed to their channel by stream id, heartbeat echoes timed; and the
//! few datagrams that arrive under a key whose `rekey` message has not
//! arrived yet, held until it does.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use echostream_core::crypto::{OpenError, OpenErrorKind};
use echostream_core::wire::{HEARTBEAT_PAYLOAD_LEN, Kind, Packet};

use super::counters::NetCounters;
use super::event::NetEvent;
use super::media::{Effect, Media, Session};
use crate::audio::pipeline::EncodedFrame;

/// Datagrams read per loop turn before other work gets a turn.
const RECEIVE_BUDGET: usize = 256;

/// Datagrams held for a key not announced yet; more are dropped (counted
/// as unknown key). A 20 ms stream needs one or two.
pub const PARKED_MAX: usize = 16;

/// How long a held datagram waits for its key before it is dropped
/// (counted as unknown key).
pub const PARKED_AGE_MAX: Duration = Duration::from_millis(500);

/// Datagrams under a key id the receiver does not know yet, oldest first.
#[derive(Debug)]
pub(crate) struct Parked {
    datagrams: VecDeque<(Instant, Vec<u8>)>,
}

impl Parked {
    pub(crate) fn new() -> Parked {
        Parked {
            datagrams: VecDeque::with_capacity(PARKED_MAX),
        }
    }

    /// Holds a copy of `datagram`; false (nothing held) when full.
    fn park(&mut self, arrived: Instant, datagram: &[u8]) -> bool {
        if self.datagrams.len() >= PARKED_MAX {
            return false;
        }
        self.datagrams.push_back((arrived, datagram.to_vec()));
        true
    }

    /// Drops (and counts) what waited longer than [`PARKED_AGE_MAX`].
    pub(crate) fn expire(&mut self, now: Instant, counters: &NetCounters) {
        while self
            .datagrams
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= PARKED_AGE_MAX)
        {
            self.datagrams.pop_front();
            counters.open_refused(OpenErrorKind::UnknownKey);
        }
    }

    /// Drops (and counts) everything held.
    pub(crate) fn clear(&mut self, counters: &NetCounters) {
        for _ in self.datagrams.drain(..) {
            counters.open_refused(OpenErrorKind::UnknownKey);
        }
    }

    /// When the oldest held datagram expires.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.datagrams.front().map(|(at, _)| *at + PARKED_AGE_MAX)
    }
}

impl Media {
    /// Reads datagrams until the socket is empty or the budget is spent.
    /// Returns true when the budget ran out first (call again soon).
    pub(crate) fn receive(&mut self, now: Instant) -> bool {
        for _ in 0..RECEIVE_BUDGET {
            let Some(socket) = &self.socket else {
                return false;
            };
            let len = match socket.recv_from(&mut self.buf[..]) {
                Ok((len, _from)) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors surface here on some kernels; nothing to read.
                    log::debug!("UDP receive failed: {e}");
                    return false;
                }
            };
            NetCounters::bump(&self.counters.datagrams_in);
            self.datagram(now, now, len);
        }
        true
    }

    /// Opens `self.buf[..len]`, which arrived at `arrived`, and hands it
    /// to its channel (or parks it until its key is known).
    fn datagram(&mut self, now: Instant, arrived: Instant, len: usize) {
        let core_now = self.core_now(now);
        let now_us = self.micros(now);
        let Some(session) = &mut self.session else {
            NetCounters::bump(&self.counters.drop_not_welcomed);
            return;
        };
        let data = &mut self.buf[..len];
        let stream_id = match Packet::new_checked(&*data) {
            Ok(packet) => packet.stream_id(),
            Err(_) => {
                NetCounters::bump(&self.counters.drop_malformed);
                return;
            }
        };
        // Unknown streams are refused before any decryption work.
        let Some(index) = self
            .channels
            .iter()
            .position(|c| c.stream.as_ref().is_some_and(|s| s.stream_id == stream_id))
        else {
            NetCounters::bump(&self.counters.drop_unknown_stream);
            return;
        };
        let opened = match session.receiver.open(core_now, data) {
            Ok(opened) => opened,
            // The relay seals under a new key as soon as it sends `rekey`;
            // a datagram may outrun that message. It waits for it.
            Err(OpenError::UnknownKey(_)) if self.parked.park(arrived, data) => {
                NetCounters::bump(&self.counters.datagrams_parked);
                return;
            }
            Err(error) => {
                self.counters.open_refused(error.kind());
                return;
            }
        };
        let repr = opened.repr;
        let payload = &self.buf[opened.payload];
        let channel = &mut self.channels[index];
        match repr.kind {
            Kind::Audio | Kind::EndOfTransmission => {
                let seq = channel.seq_map.media_seq(repr.key_id, repr.seq);
                let mut frame = EncodedFrame::end_of_transmission(seq, repr.timestamp);
                frame.arrived = Some(arrived);
                if repr.kind == Kind::Audio {
                    frame.flags = repr.flags;
                    frame.len = payload.len() as u16;
                    frame.bytes[..payload.len()].copy_from_slice(payload);
                }
                let counter = if repr.kind == Kind::Audio {
                    &self.counters.audio_in
                } else {
                    &self.counters.eot_in
                };
                match channel.incoming.push(frame) {
                    Ok(()) => NetCounters::bump(counter),
                    Err(_) => NetCounters::bump(&self.counters.drop_incoming_full),
                }
            }
            Kind::HeartbeatEcho => {
                channel.seq_map.skip_echo(repr.key_id, repr.seq);
                let mut sent = [0u8; HEARTBEAT_PAYLOAD_LEN];
                sent.copy_from_slice(payload);
                let sent_us = u64::from_be_bytes(sent);
                NetCounters::bump(&self.counters.heartbeats_echoed);
                Self::echo(
                    session,
                    &self.counters,
                    &mut self.effects,
                    now,
                    now_us,
                    sent_us,
                );
            }
            Kind::Heartbeat | Kind::Unknown(_) => {
                NetCounters::bump(&self.counters.drop_unexpected_kind);
            }
        }
    }

    fn echo(
        session: &mut Session,
        counters: &NetCounters,
        effects: &mut Vec<Effect>,
        now: Instant,
        now_us: u64,
        sent_us: u64,
    ) {
        session.rounds_unanswered = 0;
        session.last_echo_at = now;
        // The payload is this node's own clock; anything from the future
        // is not a round trip.
        let Some(rtt_us) = now_us.checked_sub(sent_us) else {
            return;
        };
        let rtt = Duration::from_micros(rtt_us);
        counters.rtt(rtt_us);
        if session.path_lost {
            session.path_lost = false;
            log::info!(
                "heartbeat echoes from the relay's UDP address {} are back (round trip {} ms): audio flows again",
                session.relay,
                rtt.as_millis()
            );
            effects.push(Effect::Event(NetEvent::PathRestored {
                relay_udp: session.relay,
                rtt,
            }));
        }
        if sent_us == session.round_sent_us && !session.round_reported {
            session.round_reported = true;
            effects.push(Effect::Event(NetEvent::Rtt { rtt }));
        }
    }

    /// Opens the held datagrams again, in arrival order (after a rekey).
    pub(super) fn unpark(&mut self, now: Instant) {
        let held = std::mem::take(&mut self.parked.datagrams);
        for (arrived, bytes) in held {
            let len = bytes.len();
            self.buf[..len].copy_from_slice(&bytes);
            self.datagram(now, arrived, len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parking_is_bounded_in_number_and_age_and_every_loss_is_counted() {
        let counters = NetCounters::default();
        let mut parked = Parked::new();
        let t0 = Instant::now();
        for i in 0..PARKED_MAX {
            assert!(parked.park(t0 + Duration::from_millis(i as u64), &[i as u8; 40]));
        }
        assert!(!parked.park(t0, &[0; 40]), "full");
        assert_eq!(parked.deadline(), Some(t0 + PARKED_AGE_MAX));

        parked.expire(t0 + PARKED_AGE_MAX, &counters);
        let unknown_key = |c: &NetCounters| c.snapshot().open(OpenErrorKind::UnknownKey);
        assert_eq!(unknown_key(&counters), 1, "the oldest expired");
        assert_eq!(parked.datagrams.len(), PARKED_MAX - 1);

        parked.clear(&counters);
        assert_eq!(unknown_key(&counters), PARKED_MAX as u64);
        assert_eq!(parked.deadline(), None);
    }
}
