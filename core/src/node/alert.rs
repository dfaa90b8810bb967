//! Pages between sites (DESIGN.md "Signaling v1", `tone_detected`): a
//! page another node heard comes from the relay as
//! [`Event::RemoteAlert`].

use heapless::String;

use crate::wire::signal::{AlertType, ChannelId, NodeId, ToneId};

use super::Node;
use super::event::{Event, Unexpected};

impl Node {
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
