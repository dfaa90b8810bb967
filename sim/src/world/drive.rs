//! The drivers: what the node engines and the relay engine hand out,
//! carried out (the platform's network loop, without sockets), and the
//! sound cards' periods.

use echostream_core::audio::{CodedFrame, FrameKind};
use echostream_core::node::{
    CAPTURE_BUDGET, Captured, ChannelIndex, Event, LinkDown, OUTPUT_BUF_LEN, Output,
};
use echostream_core::time::{Duration, Instant};
use echostream_core::wire::{Flags, Seq};
use echostream_relay::engine::Output as RelayOutput;

use super::check::Observation;
use super::step::Item;
use super::timeline::What;
use super::{RELAY_UDP, World};

impl World {
    /// Drains every engine until none has anything to do.
    pub(super) fn settle(&mut self) {
        loop {
            let mut busy = self.drain_relay();
            for i in 0..self.nodes.len() {
                busy |= self.drain_node(i);
            }
            if !busy {
                return;
            }
        }
    }

    pub(super) fn observe(&mut self, observation: &Observation<'_>) {
        self.checks.observe(self.step, self.now, observation);
    }

    pub(super) fn observe_shutdown(&mut self, node: usize) {
        self.observe(&Observation::Shutdown { node });
        let id = self.nodes[node].id().to_owned();
        self.timeline.push(
            self.now,
            Some(&id),
            What::Fault {
                what: "node stops".into(),
            },
        );
    }

    /// The one place that speaks the relay engine's output API.
    fn drain_relay(&mut self) -> bool {
        if self.relay_down {
            return false;
        }
        let now = self.now;
        let mut busy = false;
        let mut buf = std::mem::take(&mut self.relay_buf);
        while let Some(output) = self.relay.poll_output(&mut buf) {
            busy = true;
            match output {
                RelayOutput::SendText { conn, .. } => {
                    let Some(node) = self.nodes.iter().position(|n| n.conn == Some(conn)) else {
                        continue;
                    };
                    if self.relay_mute[node] {
                        continue;
                    }
                    let text = String::from_utf8(output.payload(&buf).to_vec())
                        .expect("the relay sends JSON, which is UTF-8");
                    let mut extra = Duration::ZERO;
                    if let Some((channel, delay)) = self.registered_delay
                        && text.contains("\"type\":\"registered\"")
                        && text.contains(&format!("\"channel_id\":\"{channel}\""))
                    {
                        extra = delay;
                    }
                    if text.contains("\"type\":\"rekey\"") {
                        extra = extra + self.rekey_delay;
                    }
                    self.text_down(node, extra, Item::ToNodeText { node, conn, text });
                }
                RelayOutput::SendDatagram { to, .. } => {
                    let Some(node) = self.nodes.iter().position(|n| n.udp == to) else {
                        continue;
                    };
                    if self.udp_cut[node] || self.relay_mute[node] {
                        continue;
                    }
                    let mut copies = std::mem::take(&mut self.scratch);
                    self.nodes[node]
                        .down
                        .datagram(now, output.payload(&buf), &mut copies);
                    for (at, bytes, _) in copies.drain(..) {
                        self.enqueue(at, Item::ToNodeDatagram { node, bytes });
                    }
                    self.scratch = copies;
                }
                RelayOutput::Close { conn, .. } => {
                    if let Some(node) = self.nodes.iter().position(|n| n.conn == Some(conn)) {
                        let item = Item::Closed {
                            node,
                            conn,
                            cause: LinkDown::ClosedByRelay,
                        };
                        self.text_down(node, Duration::ZERO, item);
                    }
                }
            }
        }
        self.relay_buf = buf;
        busy
    }

    /// Sends signaling down to `node`, in order, held through an outage.
    fn text_down(&mut self, node: usize, extra: Duration, item: Item) {
        let n = &mut self.nodes[node];
        if n.down.signaling_down() {
            n.down.note_text_held();
            n.held_down.push(item);
            return;
        }
        let at = n.down.text_at(self.now) + extra;
        self.enqueue(at, item);
    }

    /// Sends signaling up from `node`, in order, held through an outage.
    fn text_up(&mut self, node: usize, item: Item) {
        let n = &mut self.nodes[node];
        if n.up.signaling_down() {
            n.up.note_text_held();
            n.held_up.push(item);
            return;
        }
        let at = n.up.text_at(self.now);
        self.enqueue(at, item);
    }

    fn drain_node(&mut self, i: usize) -> bool {
        let mut buf = std::mem::take(&mut self.node_buf);
        debug_assert!(buf.len() >= OUTPUT_BUF_LEN);
        let mut busy = false;
        while let Some(output) = self.nodes[i].engine.poll_output(&mut buf) {
            busy = true;
            self.node_output(i, output, &buf);
        }
        self.node_buf = buf;
        busy
    }

    fn node_output(&mut self, i: usize, output: Output, buf: &[u8]) {
        let now = self.now;
        match output {
            Output::Connect => self.start_connect(i),
            Output::Disconnect => {
                let n = &mut self.nodes[i];
                n.connecting = None;
                if let Some(conn) = n.conn.take() {
                    self.text_up(i, Item::ToRelayClose { conn });
                }
            }
            Output::SendText { len } => {
                let text = String::from_utf8(buf[..len].to_vec())
                    .expect("the engine emits JSON, which is UTF-8");
                self.nodes[i].sent.push(text.clone());
                if let Some(conn) = self.nodes[i].conn {
                    self.text_up(i, Item::ToRelayText { conn, text });
                }
            }
            Output::OpenMedia { .. } => {
                if !self.udp_host_stuck {
                    self.nodes[i].engine.handle_media_ready(now, RELAY_UDP);
                }
            }
            Output::SendDatagram { len, .. } => {
                if self.udp_cut[i] {
                    return;
                }
                let from = self.nodes[i].udp;
                let mut copies = std::mem::take(&mut self.scratch);
                self.nodes[i].up.datagram(now, &buf[..len], &mut copies);
                for (at, bytes, _) in copies.drain(..) {
                    self.enqueue(at, Item::ToRelayDatagram { from, bytes });
                }
                self.scratch = copies;
            }
            Output::Deliver { channel, frame } => {
                let payload = &buf[..frame.len];
                let c = channel.get();
                self.observe(&Observation::Delivered {
                    node: i,
                    channel: c,
                    frame,
                    payload,
                });
                let n = &mut self.nodes[i];
                if let Some(playback) = n.channels.get_mut(c).and_then(|ch| ch.playback.as_mut()) {
                    playback.deliver(frame, payload);
                }
                if self.log_deliveries {
                    n.delivered.push((channel, frame, payload.to_vec()));
                    n.delivered_at.push(now);
                }
            }
            Output::Ptt { channel, keyed } => {
                self.nodes[i].ptt.push((now, channel, keyed));
                self.observe(&Observation::PttLine {
                    node: i,
                    channel: channel.get(),
                    keyed,
                });
            }
            Output::Record { channel, effect } => {
                self.nodes[i].records.push((now, channel, effect));
                self.observe(&Observation::Record {
                    node: i,
                    channel: channel.get(),
                    effect,
                });
                let what = What::Recording {
                    channel: self.channel_id(i, channel.get()),
                    effect: format!("{effect:?}"),
                };
                self.note(i, what);
            }
            Output::Event(event) => {
                self.event(i, &event);
                self.nodes[i].events.push((now, event));
            }
        }
    }

    fn note(&mut self, node: usize, what: What) {
        let id = self.nodes[node].id().to_owned();
        self.timeline.push(self.now, Some(&id), what);
    }

    /// An engine event: to the checkers and the timeline.
    fn event(&mut self, i: usize, event: &Event) {
        let ch = |c: ChannelIndex| c.get();
        let what = match event {
            Event::Connected => What::Connected,
            Event::Welcomed { key_id, .. } => What::Welcomed { key_id: key_id.0 },
            Event::Disconnected { reason, .. } => What::Disconnected {
                reason: reason.to_string(),
            },
            Event::Rekeyed { key_id } => What::Rekeyed { key_id: key_id.0 },
            Event::Talkspurt { channel, active } => What::Talkspurt {
                channel: self.channel_id(i, ch(*channel)),
                active: *active,
            },
            Event::Tone {
                channel,
                event,
                alert: Some(alert),
            } => {
                self.observe(&Observation::Alert {
                    node: i,
                    channel: ch(*channel),
                    event: *event,
                    alert: *alert,
                });
                let tone_id = event
                    .definition
                    .and_then(|d| {
                        self.nodes[i].engine.config().channels()[ch(*channel)]
                            .alerts
                            .get(d.get())
                            .map(|a| a.tone_id.to_string())
                    })
                    .unwrap_or_default();
                What::Alert {
                    channel: self.channel_id(i, ch(*channel)),
                    tone_id,
                    alert: alert.0,
                }
            }
            Event::DtmfSequence { channel, sequence } => What::Dtmf {
                channel: self.channel_id(i, ch(*channel)),
                digits: sequence.digits.to_string(),
            },
            Event::Cor { channel, open } => What::Cor {
                channel: self.channel_id(i, ch(*channel)),
                open: *open,
            },
            Event::Ptt { channel, event } => {
                self.observe(&Observation::PttMachine {
                    node: i,
                    channel: ch(*channel),
                    event: *event,
                });
                if !event.line_changed() {
                    return;
                }
                What::Ptt {
                    channel: self.channel_id(i, ch(*channel)),
                    keyed: event.keyed(),
                    reason: event.reason.name().to_owned(),
                }
            }
            Event::RemoteAlert {
                channel,
                node,
                tone_id,
                ..
            } => What::RemoteAlert {
                channel: self.channel_id(i, ch(*channel)),
                from: node.to_string(),
                tone_id: tone_id.to_string(),
            },
            Event::Passthrough {
                source,
                target,
                edge,
                ..
            } => What::Passthrough {
                source: self.channel_id(i, ch(*source)),
                target: self.channel_id(i, ch(*target)),
                edge: edge.name().to_owned(),
            },
            Event::RemoteAudioDropped { channel, frames } => What::AudioDropped {
                channel: self.channel_id(i, ch(*channel)),
                frames: *frames,
            },
            _ => return,
        };
        self.note(i, what);
    }

    /// A network turn for `node`: its detections, then at most
    /// [`CAPTURE_BUDGET`] frames per channel (core's turn policy, as the
    /// platform's `take_captured` follows it).
    pub(super) fn take_captured(&mut self, node: usize) {
        let now = self.now;
        self.nodes[node].captured_waiting = false;
        for c in 0..self.nodes[node].channels.len() {
            let channel = ChannelIndex::new(c).expect("a node has at most MAX_CHANNELS channels");
            while let Some(heard) = self.nodes[node].channels[c]
                .capture
                .as_mut()
                .and_then(|cap| cap.heard.pop_front())
            {
                self.nodes[node].engine.handle_heard(now, channel, heard);
                self.drain_node(node);
            }
            for _ in 0..CAPTURE_BUDGET {
                let Some(frame) = self.nodes[node].channels[c]
                    .capture
                    .as_mut()
                    .and_then(|cap| cap.frames.pop_front())
                else {
                    break;
                };
                if !frame.payload.is_empty() {
                    self.observe(&Observation::Captured {
                        node,
                        channel: c,
                        timestamp: frame.timestamp,
                        payload: &frame.payload,
                    });
                }
                let captured = CodedFrame {
                    kind: frame.kind,
                    seq: Seq(0),
                    timestamp: frame.timestamp,
                    flags: Flags::NONE,
                    payload: &frame.payload,
                    active: frame.active,
                    reached: frame.reached,
                    level_dbfs: frame.level_dbfs,
                }
                .captured();
                self.nodes[node]
                    .engine
                    .handle_captured(now, channel, captured);
                if matches!(frame.kind, FrameKind::Coded | FrameKind::Uncoded) {
                    self.observe(&Observation::Reached {
                        node,
                        channel: c,
                        sample: frame.reached.0,
                    });
                }
                self.drain_node(node);
            }
        }
    }

    /// One capture period of a node's channel.
    pub(super) fn capture_period(&mut self, node: usize, channel: usize) {
        let n = &mut self.nodes[node];
        let index = ChannelIndex::new(channel).expect("a node has at most MAX_CHANNELS channels");
        let wanted = n.engine.wants_packets(index);
        let ch = &mut n.channels[channel];
        let Some(capture) = ch.capture.as_mut() else {
            ch.capture_at = None;
            return;
        };
        let ended = capture
            .source
            .end_sample
            .is_some_and(|end| capture.next_sample >= end);
        let wake = if ended {
            capture.finish();
            ch.capture_at = None;
            true
        } else {
            let wake = capture.period(wanted);
            let period = capture.period_frames as u64;
            let next = capture.source.clock.time_of(capture.next_sample + period);
            // A second seed per card would do; one world stream is enough.
            let jitter = capture.source.period_jitter_us;
            let late = if jitter == 0 {
                0
            } else {
                (capture.next_sample.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40)
                    % u64::from(jitter + 1)
            };
            ch.capture_at = Some(Instant::ZERO + next + Duration::from_micros(late));
            wake
        };
        if ended {
            let what = What::InputEnded {
                channel: self.channel_id(node, channel),
            };
            self.note(node, what);
        }
        if wake {
            self.take_captured(node);
        } else {
            self.turn_later(node);
        }
    }

    /// One playback period of a node's channel.
    pub(super) fn playback_period(&mut self, node: usize, channel: usize) {
        let now = self.now;
        let ch = &mut self.nodes[node].channels[channel];
        let Some(playback) = ch.playback.as_mut() else {
            ch.playback_at = None;
            return;
        };
        let tick = playback.period(now);
        let next = playback
            .clock
            .time_of(playback.played_frames() + playback.period_frames as u64);
        ch.playback_at = Some(Instant::ZERO + next);
        if let Some((played, stats)) = tick.popped {
            self.observe(&Observation::Played {
                node,
                channel,
                played,
            });
            if matches!(played, super::check::Played::Frame { .. }) {
                self.observe(&Observation::Jitter {
                    node,
                    channel,
                    stats,
                });
            }
        }
        if tick.started {
            let what = What::Playing {
                channel: self.channel_id(node, channel),
            };
            self.note(node, what);
        }
        if let Some((frames, concealed)) = tick.ended {
            let what = What::Heard {
                channel: self.channel_id(node, channel),
                frames,
                concealed,
            };
            self.note(node, what);
        }
    }

    /// Hands node `node`'s engine a frame as if its capture side made it
    /// (for channels without a sound card), then drains.
    pub fn capture_frame(&mut self, node: usize, channel: usize, captured: Captured<'_>) {
        let now = self.now;
        if let Captured::Frame {
            timestamp, payload, ..
        } = captured
        {
            self.observe(&Observation::Captured {
                node,
                channel,
                timestamp,
                payload,
            });
        }
        let channel = ChannelIndex::new(channel).expect("a channel index");
        self.guarded(|w| {
            w.nodes[node].engine.handle_captured(now, channel, captured);
            w.settle();
        });
    }

    /// Hands node `node` a signaling text as if the relay had sent it.
    pub fn inject_text(&mut self, node: usize, text: &str) {
        let now = self.now;
        self.guarded(|w| {
            w.nodes[node].engine.handle_text(now, text);
            w.settle();
        });
    }

    /// Hands node `node` a datagram from `from`.
    pub fn inject_datagram(&mut self, node: usize, from: std::net::SocketAddr, mut bytes: Vec<u8>) {
        let now = self.now;
        self.guarded(|w| {
            w.nodes[node].engine.handle_datagram(now, from, &mut bytes);
            w.settle();
        });
    }

    /// Runs `f` on node `node`'s engine at the current time, then drains
    /// (for inputs a test hands in directly: tones, COR, shutdown).
    pub fn with_engine(
        &mut self,
        node: usize,
        f: impl FnOnce(&mut echostream_core::node::Node, Instant),
    ) {
        let now = self.now;
        self.guarded(|w| {
            f(&mut w.nodes[node].engine, now);
            w.settle();
        });
    }
}
