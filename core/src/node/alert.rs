//! Pages between sites (DESIGN.md "Signaling v1", `tone_detected` both
//! ways): a page this node heard goes to the relay, which passes it on to
//! the channel's other members; a page another node heard comes back as
//! [`Event::RemoteAlert`].
//!
//! A report's two labels do not fit the engine's small, `Copy` [`Text`],
//! so they wait in a queue of their own, [`REPORT_QUEUE_LEN`] deep: every
//! [`Text::ToneDetected`] in the text queue has exactly one
//! [`PendingReport`] here, in the same order, and both queues are cleared
//! together when the link goes down.

use heapless::String;

use crate::time::Instant;
use crate::wire::signal::{AlertType, ChannelId, MAX_ID_LEN, NodeId, ToRelay, ToneId};

use super::event::{Event, Unexpected};
use super::{ChannelIndex, Node, Text};

/// Page reports that may wait to be sent at once. A detector alerts at
/// most a few times a second on one channel (stacked pages back to back),
/// and the queue empties on every drain.
pub const REPORT_QUEUE_LEN: usize = 8;

/// A page heard on one of this node's channels, waiting for its
/// [`Text::ToneDetected`] to be handed out. Its labels were checked
/// against signaling's rules when it was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingReport {
    channel: ChannelIndex,
    tone_id: String<MAX_ID_LEN>,
    alert_type: String<MAX_ID_LEN>,
}

impl Node {
    /// A page heard on `channel` (its definition's `tone_id` and
    /// `alert_type`), to report to the other sites: a `tone_detected` is
    /// queued and handed out by the next drain of
    /// [`poll_output`](Self::poll_output), after the signaling queued
    /// before it.
    ///
    /// Nothing is sent, and the report is counted, when the channel is not
    /// registered (no session, or still registering) or the link goes down
    /// before the drain
    /// ([`tone_reports_unsent`](super::Counters::tone_reports_unsent)), when
    /// a label breaks signaling's rules
    /// ([`tone_reports_invalid`](super::Counters::tone_reports_invalid)), or
    /// when [`REPORT_QUEUE_LEN`] reports already wait
    /// ([`drop_tone_reports_full`](super::Counters::drop_tone_reports_full)).
    /// An index past the channel list is ignored.
    pub fn report_alert(
        &mut self,
        now: Instant,
        channel: ChannelIndex,
        tone_id: &str,
        alert_type: &str,
    ) {
        self.now = now;
        let Some(c) = self.channels.get(channel.get()) else {
            debug_assert!(false, "{channel} is not a channel of this node");
            return;
        };
        if ToneId::new(tone_id).is_err() || AlertType::new(alert_type).is_err() {
            self.counters.tone_reports_invalid += 1;
            return;
        }
        if c.stream.is_none() {
            self.counters.tone_reports_unsent += 1;
            return;
        }
        let report = PendingReport {
            channel,
            tone_id: String::try_from(tone_id).expect("a ToneId holds at most MAX_ID_LEN bytes"),
            alert_type: String::try_from(alert_type)
                .expect("an AlertType holds at most MAX_ID_LEN bytes"),
        };
        if self.reports.push_back(report).is_err() {
            self.counters.drop_tone_reports_full += 1;
            return;
        }
        if self.texts.push_back(Text::ToneDetected).is_err() {
            // Its text never queued: the report must not wait without one.
            self.reports.pop_back();
            self.counters.drop_text_queue_full += 1;
        }
    }

    /// `tone_detected` from the relay: another node heard a page on a
    /// channel this node holds. On any other channel it is out of place.
    pub(super) fn on_remote_alert(
        &mut self,
        channel_id: ChannelId<'_>,
        node_id: NodeId<'_>,
        tone_id: ToneId<'_>,
        alert_type: AlertType<'_>,
    ) {
        let Some(channel) = self.channel_of(channel_id) else {
            return self.unexpected(Unexpected::UnknownChannel);
        };
        if self.channels[channel.get()].stream.is_none() {
            return self.unexpected(Unexpected::NotRegistered);
        }
        let label = "signaling ids and labels hold at most MAX_ID_LEN bytes";
        self.event(Event::RemoteAlert {
            channel,
            node: String::try_from(node_id.as_str()).expect(label),
            tone_id: String::try_from(tone_id.as_str()).expect(label),
            alert_type: String::try_from(alert_type.as_str()).expect(label),
        });
    }
}

impl PendingReport {
    /// The message, with `channel_id` the channel's id.
    pub(super) fn message<'a>(&'a self, channel_id: ChannelId<'a>) -> ToRelay<'a> {
        ToRelay::ToneDetected {
            channel_id,
            tone_id: ToneId::new(&self.tone_id).expect("checked in report_alert"),
            alert_type: AlertType::new(&self.alert_type).expect("checked in report_alert"),
        }
    }

    /// The channel it was heard on.
    pub(super) fn channel(&self) -> ChannelIndex {
        self.channel
    }
}
