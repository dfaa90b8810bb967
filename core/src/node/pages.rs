//! What the engine does when a channel is paged: the alert's id, its
//! recording (the channel's [`RecordPlanner`](crate::record::RecordPlanner))
//! and its passthrough ([`Routes`](crate::passthrough::Routes)): the
//! source's frames go out as the target's transmission and are played out
//! of the target's output, until the passthrough's time is up.

use crate::passthrough::RouteEdge;
use crate::record::{Alert, AlertId};
use crate::time::Instant;
use crate::tone::ToneEvent;
use crate::wire::{Flags, MAX_PAYLOAD_LEN, MediaTimestamp, Seq};

use super::{ChannelIndex, Delivery, Event, Node, PassthroughEdge, Received};

impl Node {
    /// An id for `event` if it is a page of one of `channel`'s definitions.
    pub(super) fn alert(&mut self, channel: ChannelIndex, event: &ToneEvent) -> Option<AlertId> {
        let definition = event.definition?;
        self.config.channels()[channel.get()]
            .alerts
            .get(definition.get())?;
        let id = AlertId(self.next_alert);
        self.next_alert = self.next_alert.wrapping_add(1).max(1);
        self.counters.alerts += 1;
        Some(id)
    }

    /// Reports the alert to the other sites, and starts or joins its
    /// recording and passthrough.
    pub(super) fn act_on_alert(&mut self, channel: ChannelIndex, event: &ToneEvent, id: AlertId) {
        let Some(action) = event
            .definition
            .and_then(|d| self.config.channels()[channel.get()].alerts.get(d.get()))
        else {
            return;
        };
        let (delay_ms, length_ms, target) = (
            action.record_delay_ms,
            action.record_length_ms,
            action.passthrough,
        );
        // The other sites on the channel hear of it (`tone_detected`).
        let (tone_id, alert_type) = (action.tone_id.clone(), action.alert_type.clone());
        let now = self.now;
        self.report_alert(now, channel, &tone_id, &alert_type);
        let c = &mut self.channels[channel.get()];
        if let Some(planner) = &mut c.planner {
            planner.handle_alert(Alert {
                id,
                detected_at: event.detected_at,
                delay_ms,
                length_ms,
            });
        }
        self.drain_planner(channel);
        let Some(target) = target else { return };
        if target.get() >= self.channels.len() {
            return;
        }
        let edge =
            self.channels[channel.get()]
                .routes
                .handle_alert(target, event.detected_at, length_ms);
        let edge = match edge {
            RouteEdge::Started => {
                let source = &mut self.channels[channel.get()];
                source.routed_after = source.last_timestamp;
                self.start_carrying(target, channel);
                PassthroughEdge::Started
            }
            RouteEdge::Extended => PassthroughEdge::Extended,
            RouteEdge::Unchanged => return,
        };
        let c = &self.channels[channel.get()];
        let remaining_ms = c.routes.remaining_ms(target, c.reached);
        self.event(Event::Passthrough {
            source: channel,
            target,
            edge,
            remaining_ms,
        });
    }

    /// `target` carries `source`'s audio from now on: its own pre-roll
    /// is dropped (it is not what the passthrough sends) and its gate
    /// opens with a new talk-spurt.
    fn start_carrying(&mut self, target: ChannelIndex, source: ChannelIndex) {
        let t = &mut self.channels[target.get()];
        t.carrying = Some(source);
        t.frames.trim_preroll(0);
        t.start_pending = true;
        t.local_start = true;
        let timestamp = self.channels[source.get()].last_timestamp;
        let was_open = self.channels[target.get()].open;
        // Opening: the timestamp only matters when a gate closes.
        self.update_gate(target, timestamp);
        if was_open {
            // Its own talk-spurt gives way to the passthrough's: a new one.
            self.event(Event::Talkspurt {
                channel: target,
                active: true,
            });
        }
    }

    /// Sends and plays a frame of `source` on every channel it is passed
    /// through to.
    pub(super) fn route_frame(
        &mut self,
        source: ChannelIndex,
        timestamp: MediaTimestamp,
        fec: bool,
        payload: &[u8],
    ) {
        let mut targets = [false; crate::MAX_CHANNELS];
        for target in self.channels[source.get()].routes.targets() {
            targets[target.get()] = true;
        }
        for (index, wanted) in targets.into_iter().enumerate() {
            if !wanted {
                continue;
            }
            let now = self.now;
            let t = &mut self.channels[index];
            if t.carrying != Some(source) {
                continue;
            }
            if t.frames
                .push(timestamp, fec, false, payload, t.open)
                .is_err()
            {
                self.counters.drop_captured += 1;
            }
            self.counters.passthrough_frames += 1;
            let channel = ChannelIndex::new_unchecked(index);
            let mut flags = if fec { Flags::FEC } else { Flags::NONE };
            if core::mem::take(&mut t.local_start) {
                flags = flags.union(Flags::START_OF_TALKSPURT);
            }
            let seq = t.local_seq;
            t.local_seq = Seq(seq.0.wrapping_add(1));
            self.deliver_local(channel, seq, timestamp, flags, false, now, payload);
        }
    }

    /// Ends the passthroughs from `source` whose time is up at its audio's
    /// position (all of them if `all`): each target's gate closes (an end
    /// of transmission at `timestamp`) unless its own audio holds it.
    pub(super) fn end_routes(
        &mut self,
        source: ChannelIndex,
        timestamp: MediaTimestamp,
        all: bool,
    ) {
        loop {
            let s = &mut self.channels[source.get()];
            let reached = s.reached;
            let ended = if all {
                s.routes.take_all()
            } else {
                s.routes.take_ended(reached)
            };
            let Some(target) = ended else { return };
            let now = self.now;
            let t = &mut self.channels[target.get()];
            if t.carrying != Some(source) {
                continue;
            }
            t.carrying = None;
            // Its own audio, if it holds the gate, starts a talk-spurt.
            t.start_pending = true;
            t.local_start = true;
            let seq = t.local_seq;
            t.local_seq = Seq(seq.0.wrapping_add(1));
            self.deliver_local(target, seq, timestamp, Flags::NONE, true, now, &[]);
            self.update_gate(target, timestamp);
            if self.channels[target.get()].open {
                // Its own audio holds the gate: a talk-spurt of its own starts.
                self.event(Event::Talkspurt {
                    channel: target,
                    active: true,
                });
            }
            self.event(Event::Passthrough {
                source,
                target,
                edge: PassthroughEdge::Ended,
                remaining_ms: 0,
            });
        }
    }

    /// Moves `channel`'s planner's effects to the output queue.
    pub(super) fn drain_planner(&mut self, channel: ChannelIndex) {
        let Some(planner) = &mut self.channels[channel.get()].planner else {
            return;
        };
        while let Some(effect) = planner.poll_effect() {
            if self.records.push_back((channel, effect)).is_err() {
                self.counters.drop_record_effects += 1;
            }
        }
    }

    /// The node stops: every recording in progress stops where its
    /// channel's audio has come ([`StopReason::Shutdown`], truncated),
    /// every passthrough ends. Drain the outputs after it; the capture
    /// sides' [`Captured::End`](super::Captured::End) does the same per
    /// channel.
    ///
    /// [`StopReason::Shutdown`]: crate::record::StopReason::Shutdown
    pub fn handle_shutdown(&mut self, now: Instant) {
        self.now = now;
        self.radio_shutdown(now);
        for index in 0..self.channels.len() {
            let channel = ChannelIndex::new_unchecked(index);
            let timestamp = self.channels[index].last_timestamp;
            self.end_routes(channel, timestamp, true);
            let c = &mut self.channels[index];
            let reached = c.reached;
            if let Some(planner) = &mut c.planner {
                planner.handle_shutdown(reached);
            }
            self.drain_planner(channel);
        }
    }

    /// Queues a frame for `channel`'s own playback (passed-through audio).
    #[allow(
        clippy::too_many_arguments,
        reason = "a received frame's fields, each from a different place"
    )]
    fn deliver_local(
        &mut self,
        channel: ChannelIndex,
        seq: Seq,
        timestamp: MediaTimestamp,
        flags: Flags,
        end: bool,
        arrived: Instant,
        payload: &[u8],
    ) {
        let len = payload.len().min(MAX_PAYLOAD_LEN);
        let mut delivery = Delivery {
            channel,
            frame: Received {
                seq,
                timestamp,
                flags,
                end,
                arrived,
                len,
            },
            bytes: [0; MAX_PAYLOAD_LEN],
        };
        delivery.bytes[..len].copy_from_slice(&payload[..len]);
        self.deliver(delivery, crate::ptt::TxSource::Passthrough);
    }
}
