//! One channel: its members and who holds it (talker arbitration).

use echostream_core::jitter::OPUS_FRAME_SAMPLES;
use echostream_core::time::{Duration, Instant};
use echostream_core::wire::{MediaTimestamp, StreamId};

use super::config::{TALK_AUDIO_MIN_MAX, TALKER_SILENCE_TIMEOUT};

/// What it takes to keep a channel (from [`RelayConfig`](super::RelayConfig)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TalkRules {
    /// Audio datagrams a talker must have sent within the last
    /// [`TALKER_SILENCE_TIMEOUT`] (counting from when it took the
    /// channel); 1 to [`TALK_AUDIO_MIN_MAX`].
    pub(super) audio_min: usize,
    /// The longest hold.
    pub(super) max_talk: Duration,
}

/// Why the relay took the channel from its talker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// No audio for [`TALKER_SILENCE_TIMEOUT`].
    Silent,
    /// Fewer than `audio_min` audio datagrams in the
    /// [`TALKER_SILENCE_TIMEOUT`] up to its latest: a trickle that only
    /// keeps the silence timer from firing.
    Trickle,
    /// Held for `max_talk`.
    TalkTimeLimit,
}

/// A stream the relay cut, whose audio is refused until it ends its
/// transmission or stays silent for [`TALKER_SILENCE_TIMEOUT`] (a
/// radio's time-out-timer waits for PTT release the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lockout {
    stream_id: StreamId,
    last_audio: Instant,
}

/// A member: a session's stream on this channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Member {
    /// The session's slot in the relay's session table.
    pub(super) session: usize,
    pub(super) stream_id: StreamId,
}

/// The stream holding the channel.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Talker {
    pub(super) member: Member,
    pub(super) taken_at: Instant,
    pub(super) last_audio: Instant,
    /// Arrival times of its latest audio, a ring indexed by `heard_count`
    /// modulo the rule's `audio_min`.
    arrivals: [Instant; TALK_AUDIO_MIN_MAX],
    heard_count: usize,
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
    fn new(now: Instant, member: Member, timestamp: MediaTimestamp) -> Talker {
        Talker {
            member,
            taken_at: now,
            last_audio: now,
            arrivals: [now; TALK_AUDIO_MIN_MAX],
            heard_count: 1,
            last_timestamp: timestamp,
            frame_units: 0,
            refused: Vec::new(),
        }
    }

    fn heard(&mut self, now: Instant, timestamp: MediaTimestamp, audio_min: usize) {
        self.last_audio = now;
        self.arrivals[self.heard_count % audio_min] = now;
        // Counts past 2^64 datagrams are beyond any hold (max_talk).
        self.heard_count += 1;
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

    /// When it loses the channel under `rules` unless more audio comes:
    /// [`TALKER_SILENCE_TIMEOUT`] after its last audio, or `max_talk`
    /// after taking it, whichever is first.
    fn deadline(&self, rules: TalkRules) -> (Instant, Cut) {
        let silent = self.last_audio + TALKER_SILENCE_TIMEOUT;
        let limit = self.taken_at + rules.max_talk;
        if limit <= silent {
            (limit, Cut::TalkTimeLimit)
        } else {
            (silent, Cut::Silent)
        }
    }

    /// Whether, at an audio arrival `now`, it has held the channel for
    /// [`TALKER_SILENCE_TIMEOUT`] and sent fewer than `audio_min` audio
    /// datagrams in the [`TALKER_SILENCE_TIMEOUT`] up to now: a trickle
    /// that keeps the silence timer from firing, not a stream.
    fn trickles(&self, now: Instant, rules: TalkRules) -> bool {
        let nth_latest = self.arrivals[self.heard_count % rules.audio_min];
        now >= self.taken_at + TALKER_SILENCE_TIMEOUT
            && (self.heard_count < rules.audio_min || nth_latest + TALKER_SILENCE_TIMEOUT <= now)
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
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Floor {
    /// The stream holds the channel; `taken` when it just took it.
    Held { taken: bool },
    /// Another stream holds it; `first_refusal` once per hold per stream.
    Busy { holder: Member, first_refusal: bool },
    /// The stream was cut and has not ended its transmission yet.
    LockedOut,
    /// The stream held the channel, and this audio showed it a trickle
    /// ([`Cut::Trickle`]): it is cut and locked out, this audio dropped.
    Trickled(Talker),
}

#[derive(Debug)]
pub(super) struct Channel {
    pub(super) id: String,
    pub(super) members: Vec<Member>,
    pub(super) talker: Option<Talker>,
    rules: TalkRules,
    /// At most one per member.
    locked_out: Vec<Lockout>,
}

impl Channel {
    pub(super) fn new(id: &str, members_max: usize, rules: TalkRules) -> Channel {
        assert!(
            (1..=TALK_AUDIO_MIN_MAX).contains(&rules.audio_min),
            "validated by RelayConfig"
        );
        Channel {
            id: id.to_owned(),
            members: Vec::with_capacity(members_max),
            talker: None,
            rules,
            locked_out: Vec::with_capacity(members_max),
        }
    }

    /// Members locked out now (a lock-out ends when their audio stops).
    pub(super) fn locked_out_count(&self) -> usize {
        self.locked_out.len()
    }

    /// Audio from `member` at `now` with media time `timestamp`: the first
    /// stream to send holds the channel until end-of-transmission or the
    /// relay cuts it (see [`Talker::deadline`]; the caller cuts with
    /// [`expire`](Self::expire) first). A cut stream is locked out until
    /// it ends its transmission or stays silent for
    /// [`TALKER_SILENCE_TIMEOUT`]; its audio meanwhile restarts that wait.
    pub(super) fn claim(
        &mut self,
        now: Instant,
        member: Member,
        timestamp: MediaTimestamp,
    ) -> Floor {
        if let Some(at) = self
            .locked_out
            .iter()
            .position(|l| l.stream_id == member.stream_id)
        {
            let lockout = &mut self.locked_out[at];
            if now < lockout.last_audio + TALKER_SILENCE_TIMEOUT {
                lockout.last_audio = now;
                return Floor::LockedOut;
            }
            self.locked_out.swap_remove(at);
        }
        let audio_min = self.rules.audio_min;
        match &mut self.talker {
            Some(talker) if talker.member.stream_id == member.stream_id => {
                talker.heard(now, timestamp, audio_min);
                if talker.trickles(now, self.rules) {
                    let talker = self.talker.take().expect("matched above");
                    self.lock_out(&talker);
                    return Floor::Trickled(talker);
                }
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
                self.talker = Some(Talker::new(now, member, timestamp));
                Floor::Held { taken: true }
            }
        }
    }

    /// The transmission of `stream_id` ended (its end-of-transmission,
    /// `transmit: false`, or it left): releases the channel if it holds
    /// it, and returns the talker; ends its lockout if it was cut.
    pub(super) fn release(&mut self, stream_id: StreamId) -> Option<Talker> {
        self.locked_out.retain(|l| l.stream_id != stream_id);
        if self.holder() == Some(stream_id) {
            self.talker.take()
        } else {
            None
        }
    }

    /// Cuts the talker if its deadline passed ([`Talker::deadline`]);
    /// returns it and why. It is locked out from then on.
    pub(super) fn expire(&mut self, now: Instant) -> Option<(Talker, Cut)> {
        let (deadline, cut) = self.talker.as_ref()?.deadline(self.rules);
        if now < deadline {
            return None;
        }
        let talker = self.talker.take().expect("checked above");
        self.lock_out(&talker);
        Some((talker, cut))
    }

    fn lock_out(&mut self, talker: &Talker) {
        assert!(
            self.locked_out.len() < self.locked_out.capacity(),
            "at most one lockout per member, and the talker is not locked out"
        );
        self.locked_out.push(Lockout {
            stream_id: talker.member.stream_id,
            last_audio: talker.last_audio,
        });
    }

    pub(super) fn holder(&self) -> Option<StreamId> {
        self.talker.as_ref().map(|t| t.member.stream_id)
    }

    /// When the talker loses the channel unless more audio comes.
    pub(super) fn release_deadline(&self) -> Option<Instant> {
        self.talker.as_ref().map(|t| t.deadline(self.rules).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: MediaTimestamp = MediaTimestamp(0);

    const RULES: TalkRules = TalkRules {
        audio_min: 1,
        max_talk: Duration::from_secs(180),
    };

    fn member(n: u32) -> Member {
        Member {
            session: n as usize,
            stream_id: StreamId(n),
        }
    }

    #[test]
    fn first_talker_holds_until_released_or_silent() {
        let mut channel = Channel::new("ch", 4, RULES);
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
        assert_eq!(
            channel.expire(almost).map(|(t, cut)| (t.member, cut)),
            Some((member(2), Cut::Silent))
        );
        assert_eq!(channel.holder(), None);
    }

    #[test]
    fn a_stood_in_end_follows_the_last_audio_by_one_packet() {
        let mut channel = Channel::new("ch", 4, RULES);
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
