//! One channel: its members and who holds it (talker arbitration).

use echostream_core::time::Instant;
use echostream_core::wire::StreamId;

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
    /// Streams already told who holds the channel since it was taken.
    pub(super) refused: Vec<StreamId>,
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

    /// Audio from `member` at `now`: the first stream to send holds the
    /// channel until end-of-transmission or [`TALKER_SILENCE_TIMEOUT`]
    /// without audio (the caller expires silence with [`expire`](Self::expire)
    /// first).
    pub(super) fn claim(&mut self, now: Instant, member: Member) -> Floor {
        match &mut self.talker {
            Some(talker) if talker.member.stream_id == member.stream_id => {
                talker.last_audio = now;
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
                    refused: Vec::new(),
                });
                Floor::Held { taken: true }
            }
        }
    }

    /// Releases the channel if `stream_id` holds it; returns the holder.
    pub(super) fn release(&mut self, stream_id: StreamId) -> Option<Member> {
        if self.holder() == Some(stream_id) {
            self.talker.take().map(|t| t.member)
        } else {
            None
        }
    }

    /// Releases the channel if its talker has been silent too long.
    pub(super) fn expire(&mut self, now: Instant) -> Option<Member> {
        match self.release_deadline() {
            Some(deadline) if now >= deadline => self.talker.take().map(|t| t.member),
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
        assert_eq!(channel.claim(t0, member(1)), Floor::Held { taken: true });
        assert_eq!(
            channel.claim(t0, member(2)),
            Floor::Busy {
                holder: member(1),
                first_refusal: true
            }
        );
        assert_eq!(
            channel.claim(t0, member(2)),
            Floor::Busy {
                holder: member(1),
                first_refusal: false
            }
        );
        assert_eq!(channel.release(StreamId(2)), None);
        assert_eq!(channel.release(StreamId(1)), Some(member(1)));
        assert_eq!(channel.claim(t0, member(2)), Floor::Held { taken: true });
        let almost = t0 + TALKER_SILENCE_TIMEOUT;
        assert_eq!(
            channel.expire(Instant::from_micros(almost.as_micros() - 1)),
            None
        );
        assert_eq!(channel.expire(almost), Some(member(2)));
        assert_eq!(channel.holder(), None);
    }
}
