//! One channel: its members and who holds it (talker arbitration).

use echostream_core::jitter::OPUS_FRAME_SAMPLES;
use echostream_core::time::Instant;
use echostream_core::wire::{MediaTimestamp, StreamId};

use super::config::TALKER_SILENCE_TIMEOUT;

/// A member: a session's stream on this channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Member {
    /// The session's slot in the relay's session table.
    pub(super) session: usize,
    pub(super) stream_id: StreamId,
}

/// The stream holding the channel.
#[derive(Debug)]
pub(super) struct Talker {
    pub(super) member: Member,
    pub(super) last_audio: Instant,
    /// The media time of its latest audio (the furthest on, should
    /// datagrams come out of order).
    pub(super) last_timestamp: MediaTimestamp,
    /// The shortest step between two of its audio timestamps that is one
    /// Opus packet's duration (48 kHz units); 0 until one is seen.
    pub(super) frame_units: u32,
    /// Streams already told who holds the channel since it was taken.
    pub(super) refused: Vec<StreamId>,
}

impl Talker {
    fn heard(&mut self, now: Instant, timestamp: MediaTimestamp) {
        self.last_audio = now;
        let step = timestamp.0.wrapping_sub(self.last_timestamp.0);
        // Forward by less than half the clock: later media (a step back
        // is a reordered datagram and changes nothing).
        if step == 0 || step > u32::MAX / 2 {
            return;
        }
        self.last_timestamp = timestamp;
        // A pause (DTX) or a lost packet makes a longer step; the
        // shortest is the packet duration.
        if OPUS_FRAME_SAMPLES.contains(&step) && (self.frame_units == 0 || step < self.frame_units)
        {
            self.frame_units = step;
        }
    }

    /// The media time for an end-of-transmission the relay sends in its
    /// place: one packet after its last audio, where its own would be
    /// (DESIGN.md "Wire format v1": timestamps in 48 kHz units). The
    /// jitter buffer orders an end by sequence number, not by this.
    pub(super) fn end_timestamp(&self) -> MediaTimestamp {
        MediaTimestamp(self.last_timestamp.0.wrapping_add(self.frame_units))
    }
}

/// What [`Channel::claim`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Floor {
    /// The stream holds the channel; `taken` when it just took it.
    Held { taken: bool },
    /// Another stream holds it; `first_refusal` once per hold per stream.
    Busy { holder: Member, first_refusal: bool },
}

#[derive(Debug)]
pub(super) struct Channel {
    pub(super) id: String,
    pub(super) members: Vec<Member>,
    pub(super) talker: Option<Talker>,
}

impl Channel {
    pub(super) fn new(id: &str, members_max: usize) -> Channel {
        Channel {
            id: id.to_owned(),
            members: Vec::with_capacity(members_max),
            talker: None,
        }
    }

    /// Audio from `member` at `now` with media time `timestamp`: the first
    /// stream to send holds the channel until end-of-transmission or
    /// [`TALKER_SILENCE_TIMEOUT`] without audio (the caller expires
    /// silence with [`expire`](Self::expire) first).
    pub(super) fn claim(
        &mut self,
        now: Instant,
        member: Member,
        timestamp: MediaTimestamp,
    ) -> Floor {
        match &mut self.talker {
            Some(talker) if talker.member.stream_id == member.stream_id => {
                talker.heard(now, timestamp);
                Floor::Held { taken: false }
            }
            Some(talker) => {
                let first_refusal = !talker.refused.contains(&member.stream_id);
                if first_refusal {
                    talker.refused.push(member.stream_id);
                }
                Floor::Busy {
                    holder: talker.member,
                    first_refusal,
                }
            }
            None => {
                self.talker = Some(Talker {
                    member,
                    last_audio: now,
                    last_timestamp: timestamp,
                    frame_units: 0,
                    refused: Vec::new(),
                });
                Floor::Held { taken: true }
            }
        }
    }

    /// Releases the channel if `stream_id` holds it; returns the talker.
    pub(super) fn release(&mut self, stream_id: StreamId) -> Option<Talker> {
        if self.holder() == Some(stream_id) {
            self.talker.take()
        } else {
            None
        }
    }

    /// Releases the channel if its talker has been silent too long;
    /// returns the talker.
    pub(super) fn expire(&mut self, now: Instant) -> Option<Talker> {
        match self.release_deadline() {
            Some(deadline) if now >= deadline => self.talker.take(),
            _ => None,
        }
    }

    pub(super) fn holder(&self) -> Option<StreamId> {
        self.talker.as_ref().map(|t| t.member.stream_id)
    }

    /// When the talker loses the channel if it stays silent.
    pub(super) fn release_deadline(&self) -> Option<Instant> {
        self.talker
            .as_ref()
            .map(|t| t.last_audio + TALKER_SILENCE_TIMEOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: MediaTimestamp = MediaTimestamp(0);

    fn member(n: u32) -> Member {
        Member {
            session: n as usize,
            stream_id: StreamId(n),
        }
    }

    #[test]
    fn first_talker_holds_until_released_or_silent() {
        let mut channel = Channel::new("ch", 4);
        let t0 = Instant::from_millis(1000);
        assert_eq!(
            channel.claim(t0, member(1), TS),
            Floor::Held { taken: true }
        );
        assert_eq!(
            channel.claim(t0, member(2), TS),
            Floor::Busy {
                holder: member(1),
                first_refusal: true
            }
        );
        assert_eq!(
            channel.claim(t0, member(2), TS),
            Floor::Busy {
                holder: member(1),
                first_refusal: false
            }
        );
        assert_eq!(channel.release(StreamId(2)).map(|t| t.member), None);
        assert_eq!(
            channel.release(StreamId(1)).map(|t| t.member),
            Some(member(1))
        );
        assert_eq!(
            channel.claim(t0, member(2), TS),
            Floor::Held { taken: true }
        );
        let almost = t0 + TALKER_SILENCE_TIMEOUT;
        assert!(
            channel
                .expire(Instant::from_micros(almost.as_micros() - 1))
                .is_none()
        );
        assert_eq!(channel.expire(almost).map(|t| t.member), Some(member(2)));
        assert_eq!(channel.holder(), None);
    }

    #[test]
    fn a_stood_in_end_follows_the_last_audio_by_one_packet() {
        let mut channel = Channel::new("ch", 4);
        let t0 = Instant::from_millis(1000);
        let talk = |channel: &mut Channel, ts: u32| {
            channel.claim(t0, member(1), MediaTimestamp(ts));
        };
        // One packet alone: no duration known, the end at its time.
        talk(&mut channel, u32::MAX - 959);
        assert_eq!(
            channel.talker.as_ref().unwrap().end_timestamp(),
            MediaTimestamp(u32::MAX - 959)
        );
        // 20 ms packets across the wrap, a lost one (a 40 ms step), a
        // reordered one (a step back) and a pause (DTX): still 20 ms.
        for ts in [0, 1920, 960, 2880, 48_000] {
            talk(&mut channel, ts);
        }
        let talker = channel.release(StreamId(1)).unwrap();
        assert_eq!(talker.last_timestamp, MediaTimestamp(48_000));
        assert_eq!(talker.end_timestamp(), MediaTimestamp(48_960));
    }
}
