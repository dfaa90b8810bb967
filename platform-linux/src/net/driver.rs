//! The network thread: one mio poll over the waker, the WebSocket and the
//! UDP socket, driving the node engine ([`echostream_core::node::Node`]).
//!
//! The driver decides nothing. Each turn it takes `now` once, feeds the
//! engine what happened (the link opened or failed, text frames,
//! datagrams, captured frames, a looked-up UDP host), drains the engine's
//! outputs after every input (connect, send, open the UDP side, deliver a
//! frame to a channel's playback ring, report an event) and calls the
//! engine's timers when they are due. Sockets are read until they would
//! block (mio is edge-triggered) or a budget is spent, in which case the
//! next poll does not wait.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::collections::VecDeque;
use std::sync::mpsc;

use echostream_core::node::{
    CAPTURE_BUDGET, ChannelIndex, Event, LinkDown, Node, OUTPUT_BUF_LEN, Output, PassthroughEdge,
    Received,
};
use echostream_core::record::{AlertId, Effect as RecordEffect};
use echostream_core::time::Instant as CoreInstant;
use echostream_core::wire::MAX_DATAGRAM_LEN;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use super::counters::{ChannelLive, NetCounters};
use super::event::{EventSink, NetEvent};
use super::link::{Incoming, Link};
use super::resolve::{Resolved, Resolver};
use crate::audio::pipeline::EncodedFrame;
use crate::events::Events as Journal;
use crate::runtime::capture::{Heard, PacketsWanted};
use crate::runtime::recorder::RecordCommand;
use crate::tone_plan::Named;

/// Alerts remembered for naming the recordings they join.
const ALERT_NAMES_MAX: usize = 256;

/// The waker's token.
pub(crate) const WAKER: Token = Token(0);
/// The WebSocket's token.
pub(crate) const SIGNAL: Token = Token(1);
/// The UDP socket's token.
pub(crate) const UDP: Token = Token(2);
/// Channel `i`'s COR line has token `COR_TOKENS + i`.
pub(crate) const COR_TOKENS: usize = 16;

/// The longest the loop sleeps, whatever the engine's timers say
/// ([`echostream_core::node::IDLE_MAX`]): the capture rings are drained at
/// least this often even if nobody wakes the loop.
const IDLE_MAX: Duration = Duration::from_micros(echostream_core::node::IDLE_MAX.as_micros());

/// Signaling frames handled per turn.
const READ_BUDGET: usize = 64;

/// Datagrams read per turn before other work gets a turn.
const RECEIVE_BUDGET: usize = 256;

/// Readiness events taken per poll.
const EVENTS_CAPACITY: usize = 64;

/// One channel's rings and name.
#[derive(Debug)]
pub(crate) struct ChannelRings {
    pub(crate) id: String,
    pub(crate) outgoing: rtrb::Consumer<EncodedFrame>,
    pub(crate) incoming: rtrb::Producer<EncodedFrame>,
    /// The engine's `wants_packets`, for the capture side.
    pub(crate) wanted: Arc<PacketsWanted>,
    pub(crate) tones: Option<rtrb::Consumer<Heard>>,
    pub(crate) tone_names: Vec<Named>,
    pub(crate) rate_hz: u32,
    /// Its transmitter's line.
    pub(crate) ptt: Option<crate::gpio::PttLine>,
    /// Its receiver's COR line (registered in the poll).
    pub(crate) cor: Option<crate::gpio::CorLine>,
}

/// Everything the network thread owns.
#[derive(Debug)]
pub(crate) struct Driver {
    pub(crate) poll: Poll,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) engine: Box<Node>,
    pub(crate) link: Link,
    pub(crate) resolver: Resolver,
    pub(crate) udp: Option<UdpSocket>,
    /// The welcome's UDP host and port, while being looked up.
    pub(crate) media_host: Option<(String, u16)>,
    pub(crate) channels: Vec<ChannelRings>,
    pub(crate) events: EventSink,
    pub(crate) counters: Arc<NetCounters>,
    /// The engine's clock starts here.
    pub(crate) epoch: Instant,
    /// Lent to the engine's outputs.
    pub(crate) out: Box<[u8; OUTPUT_BUF_LEN]>,
    /// Datagrams are read into this (one byte more than any valid one,
    /// so an oversized datagram is seen as such).
    pub(crate) rx: Box<[u8; MAX_DATAGRAM_LEN + 1]>,
    pub(crate) incoming: Vec<Incoming>,
    /// What the link said when it last failed, for the next
    /// `Disconnected` event.
    pub(crate) link_detail: Option<String>,
    /// A budget ran out: poll again without waiting.
    pub(crate) busy: bool,
    /// The node's event stream (`events_file`).
    pub(crate) journal: Option<Journal>,
    /// Where recording commands go.
    pub(crate) recorder: Option<mpsc::Sender<RecordCommand>>,
    /// Recent alerts: channel, id, event id, tone id.
    pub(crate) alert_names: VecDeque<(ChannelIndex, AlertId, String, String)>,
}

impl Driver {
    /// Runs until the stop flag is set, then takes in what the capture
    /// rings still hold (ends of talk-spurts cut short by the stop), sends
    /// it and closes the WebSocket.
    pub(crate) fn run(mut self, waker: Arc<Waker>) {
        // Held so that the waker's registration lives as long as the loop.
        let _waker = waker;
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        while !self.stop.load(Ordering::Acquire) {
            let timeout = if self.busy {
                Duration::ZERO
            } else {
                let now = self.now();
                self.engine
                    .poll_timeout()
                    .map_or(IDLE_MAX, |at| {
                        Duration::from_micros(at.saturating_duration_since(now).as_micros())
                    })
                    .min(IDLE_MAX)
            };
            if let Err(error) = self.poll.poll(&mut events, Some(timeout)) {
                if error.kind() != io::ErrorKind::Interrupted {
                    log::error!("network loop: polling failed: {error}");
                    // Not expected to persist; do not spin if it does.
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            // Readiness says little here: every turn tries every socket
            // until it would block.
            self.turn();
        }
        self.turn();
        // What records or passes through stops with the node.
        let now = self.now();
        self.engine.handle_shutdown(now);
        self.drain(now);
        let _ = self.link.flush();
        self.link.shut(self.poll.registry());
        log::info!("network loop stopped");
    }

    /// The engine's clock.
    fn now(&self) -> CoreInstant {
        CoreInstant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// One turn of the loop; see the module docs.
    pub(crate) fn turn(&mut self) {
        let now = self.now();
        self.busy = false;
        self.advance_link(now);
        self.read_signaling(now);
        self.look_up_media(now);
        self.read_datagrams(now);
        self.read_cor(now);
        self.take_captured(now);
        if self.engine.poll_timeout().is_some_and(|at| at <= now) {
            self.engine.handle_timeout(now);
            self.drain(now);
        }
        if let Err(error) = self.link.flush() {
            self.link_failed(now, error);
        }
        self.counters.publish(self.engine.counters());
        self.publish_live();
        NetCounters::bump(&self.counters.turns);
    }

    /// The channels' states and the link, for the status endpoint.
    fn publish_live(&self) {
        let mut live = [ChannelLive {
            state: echostream_core::node::ChannelState::Idle,
            cor_open: None,
            keyed: false,
            users: 0,
        }; echostream_core::MAX_CHANNELS];
        let count = self.channels.len().min(live.len());
        for (index, slot) in live.iter_mut().enumerate().take(count) {
            let channel = ChannelIndex::new(index).expect("at most MAX_CHANNELS channels");
            self.channels[index]
                .wanted
                .set(self.engine.wants_packets(channel));
            *slot = ChannelLive {
                state: self.engine.channel_state(channel),
                cor_open: self.engine.cor_open(channel),
                keyed: self.engine.is_keyed(channel),
                users: self.engine.users_count(channel),
            };
        }
        self.counters.publish_live(&live[..count]);
        self.counters
            .welcomed
            .store(self.engine.is_welcomed(), Ordering::Relaxed);
    }

    /// Takes every COR edge the lines have (their fds are in the poll,
    /// edge-triggered: read until a read comes back short).
    fn read_cor(&mut self, now: CoreInstant) {
        let mut edges = [crate::gpio::CorEdge::default(); 16];
        for index in 0..self.channels.len() {
            let channel = ChannelIndex::new(index).expect("at most MAX_CHANNELS channels");
            while let Some(line) = &mut self.channels[index].cor {
                let count = match line.read_edges(&mut edges) {
                    Ok(count) => count,
                    Err(error) => {
                        log::error!("{}: COR: {error}", self.channels[index].id);
                        break;
                    }
                };
                for edge in &edges[..count] {
                    self.engine.handle_cor(now, channel, edge.active);
                    self.drain(now);
                }
                if count < edges.len() {
                    break;
                }
            }
        }
    }

    fn advance_link(&mut self, now: CoreInstant) {
        if self.link.is_down() || self.link.is_open() {
            return;
        }
        match self.link.advance(self.poll.registry(), &mut self.resolver) {
            Ok(true) => {
                self.engine.handle_connected(now);
                self.drain(now);
            }
            Ok(false) => {}
            Err(error) => self.link_failed(now, error),
        }
    }

    fn link_failed(&mut self, now: CoreInstant, error: super::link::LinkError) {
        self.link.shut(self.poll.registry());
        self.link_detail = Some(error.to_string());
        self.engine.handle_disconnected(now, error.kind());
        self.drain(now);
    }

    fn read_signaling(&mut self, now: CoreInstant) {
        if !self.link.is_open() {
            return;
        }
        let mut incoming = std::mem::take(&mut self.incoming);
        let read = self.link.read(READ_BUDGET, &mut incoming);
        // What arrived before a failure (an `error` before the close) is
        // handled first.
        for frame in incoming.drain(..) {
            match frame {
                Incoming::Text(text) => self.engine.handle_text(now, text.as_str()),
                Incoming::Binary => self.engine.handle_binary(now),
            }
            self.drain(now);
        }
        self.incoming = incoming;
        match read {
            Ok(more) => self.busy |= more,
            Err(error) => self.link_failed(now, error),
        }
    }

    /// Moves the lookup of the welcome's UDP host on; once it has an
    /// address, opens the socket and tells the engine.
    fn look_up_media(&mut self, now: CoreInstant) {
        let Some((host, port)) = &self.media_host else {
            return;
        };
        let relay = match self.resolver.resolve(host, *port) {
            Resolved::Pending => return,
            Resolved::Ready(Err(error)) => {
                self.link_detail = Some(format!("{host}: {error}"));
                self.media_host = None;
                self.engine.handle_disconnected(now, LinkDown::UdpResolve);
                self.drain(now);
                return;
            }
            Resolved::Ready(Ok(addrs)) => addrs[0],
        };
        self.media_host = None;
        match self.open_udp(relay) {
            Ok(()) => self.engine.handle_media_ready(now, relay),
            Err(error) => {
                self.link_detail = Some(format!("{relay}: {error}"));
                self.engine.handle_disconnected(now, LinkDown::UdpSocket);
            }
        }
        self.drain(now);
    }

    /// Binds a UDP socket of `relay`'s family, unless one is open already.
    fn open_udp(&mut self, relay: SocketAddr) -> io::Result<()> {
        let reuse = self
            .udp
            .as_ref()
            .and_then(|s| s.local_addr().ok())
            .is_some_and(|local| local.is_ipv4() == relay.is_ipv4());
        if reuse {
            return Ok(());
        }
        if let Some(mut old) = self.udp.take() {
            let _ = self.poll.registry().deregister(&mut old);
        }
        let any: SocketAddr = if relay.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let mut socket = UdpSocket::bind(any)?;
        self.poll
            .registry()
            .register(&mut socket, UDP, Interest::READABLE)?;
        self.udp = Some(socket);
        Ok(())
    }

    fn read_datagrams(&mut self, now: CoreInstant) {
        for _ in 0..RECEIVE_BUDGET {
            let Some(socket) = &self.udp else {
                return;
            };
            let (len, from) = match socket.recv_from(&mut self.rx[..]) {
                Ok(received) => received,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors surface here on some kernels; nothing to read.
                    log::debug!("UDP receive failed: {e}");
                    return;
                }
            };
            self.engine.handle_datagram(now, from, &mut self.rx[..len]);
            self.drain(now);
        }
        self.busy = true;
    }

    fn take_captured(&mut self, now: CoreInstant) {
        for index in 0..self.channels.len() {
            let channel = ChannelIndex::new(index).expect("at most MAX_CHANNELS channels");
            while let Some(heard) = self.channels[index]
                .tones
                .as_mut()
                .and_then(|ring| ring.pop().ok())
            {
                self.engine.handle_heard(now, channel, heard);
                self.drain(now);
            }
            for _ in 0..CAPTURE_BUDGET {
                let Ok(frame) = self.channels[index].outgoing.pop() else {
                    break;
                };
                self.engine.handle_captured(now, channel, frame.captured());
                self.drain(now);
            }
        }
    }

    /// Carries out everything the engine has to do.
    fn drain(&mut self, now: CoreInstant) {
        while let Some(output) = self.engine.poll_output(&mut self.out[..]) {
            match output {
                Output::Connect => {
                    if !self.link.is_down() {
                        self.link.shut(self.poll.registry());
                    }
                    self.link_detail = None;
                    self.link.start();
                    // Name lookups and connects start now, not next turn.
                    self.busy = true;
                }
                Output::Disconnect => {
                    let _ = self.link.flush();
                    self.link.shut(self.poll.registry());
                    self.media_host = None;
                }
                Output::SendText { len } => self.send_text(now, len),
                Output::OpenMedia { host_len, port } => {
                    let host = String::from_utf8_lossy(&self.out[..host_len]).into_owned();
                    self.media_host = Some((host, port));
                    self.busy = true;
                }
                Output::SendDatagram { to, len } => self.send_datagram(to, len),
                Output::Deliver { channel, frame } => self.deliver(channel, frame),
                Output::Record { channel, effect } => self.record(channel, effect),
                Output::Ptt { channel, keyed } => self.set_ptt(channel, keyed),
                Output::Event(event) => self.report(event),
            }
        }
    }

    fn send_text(&mut self, now: CoreInstant, len: usize) {
        let Ok(text) = std::str::from_utf8(&self.out[..len]) else {
            unreachable!("the engine emits JSON, which is UTF-8");
        };
        match self.link.send(text.to_owned()) {
            Ok(true) => {}
            Ok(false) => {
                NetCounters::bump(&self.counters.drop_signal_full);
                log::debug!("signaling write buffer full; a message was dropped");
            }
            Err(error) => self.link_failed(now, error),
        }
    }

    fn send_datagram(&mut self, to: SocketAddr, len: usize) {
        let Some(socket) = &self.udp else {
            NetCounters::bump(&self.counters.drop_udp_send);
            return;
        };
        if let Err(error) = socket.send_to(&self.out[..len], to) {
            NetCounters::bump(&self.counters.drop_udp_send);
            log::debug!("UDP send to {to} failed: {error}");
        }
    }

    fn deliver(&mut self, channel: ChannelIndex, received: Received) {
        let frame = EncodedFrame::received(
            received.seq,
            received.timestamp,
            received.flags,
            &self.out[..received.len],
            self.epoch + Duration::from_micros(received.arrived.as_micros()),
        );
        if self.channels[channel.get()].incoming.push(frame).is_err() {
            NetCounters::bump(&self.counters.drop_incoming_full);
        }
    }

    /// Sets a channel's PTT line (the engine says when; the line is the
    /// radio's transmitter).
    fn set_ptt(&mut self, channel: ChannelIndex, keyed: bool) {
        let rings = &mut self.channels[channel.get()];
        match &mut rings.ptt {
            Some(line) => {
                if let Err(error) = line.set_active(keyed) {
                    NetCounters::bump(&self.counters.ptt_errors);
                    log::error!(
                        "{}: PTT {}: {error}",
                        rings.id,
                        if keyed { "key" } else { "release" }
                    );
                }
            }
            None => log::debug!(
                "{}: PTT {} (no line)",
                rings.id,
                if keyed { "keyed" } else { "released" }
            ),
        }
    }

    /// Hands a recording effect to the recorder thread.
    fn record(&mut self, channel: ChannelIndex, effect: RecordEffect) {
        let index = channel.get();
        let command = match effect {
            RecordEffect::Start { recording, from } => {
                log::debug!(
                    "{}: recording {} starts at sample {}",
                    self.channels[index].id,
                    recording.0,
                    from.0
                );
                RecordCommand::Start {
                    channel: index,
                    recording: recording.0,
                    from,
                }
            }
            RecordEffect::Joined { recording, alert } => {
                let Some((_, _, alert_id, tone_id)) = self
                    .alert_names
                    .iter()
                    .find(|(c, a, _, _)| *c == channel && *a == alert)
                else {
                    return;
                };
                RecordCommand::Joined {
                    channel: index,
                    recording: recording.0,
                    alert_id: alert_id.clone(),
                    tone_id: tone_id.clone(),
                }
            }
            RecordEffect::Stop {
                recording,
                at,
                reason,
            } => RecordCommand::Stop {
                channel: index,
                recording: recording.0,
                at,
                reason,
            },
        };
        if let Some(recorder) = &self.recorder {
            let _ = recorder.send(command);
        }
    }

    /// The event stream's record of `event`, if it is one a person or a
    /// system may act on.
    fn journal(&mut self, event: &Event) {
        let Some(journal) = &self.journal else { return };
        let name = |channel: ChannelIndex| self.channels[channel.get()].id.as_str();
        match event {
            Event::Tone {
                channel,
                event,
                alert,
            } => {
                let named = event
                    .definition
                    .and_then(|d| self.channels[channel.get()].tone_names.get(d.get()));
                let (kind, fields) =
                    crate::events::tone_fields(event, named, self.channels[channel.get()].rate_hz);
                let id = journal.emit(kind, Some(name(*channel)), fields);
                if let (Some(alert), Some(named)) = (alert, named) {
                    if self.alert_names.len() == ALERT_NAMES_MAX {
                        self.alert_names.pop_front();
                    }
                    self.alert_names
                        .push_back((*channel, *alert, id, named.tone_id.clone()));
                }
            }
            Event::DtmfSequence { channel, sequence } => {
                journal.emit(
                    "dtmf_sequence",
                    Some(name(*channel)),
                    crate::fields! {
                        "digits" => sequence.digits.as_str(),
                        "cut_off" => sequence.cut_off,
                    },
                );
            }
            Event::Talkspurt { channel, active } => {
                let source = if self.engine.is_carrying(*channel) {
                    "passthrough"
                } else {
                    "vox"
                };
                journal.emit(
                    "transmit",
                    Some(name(*channel)),
                    crate::fields! {
                        "state" => if *active { "start" } else { "end" },
                        "source" => source,
                    },
                );
            }
            Event::Passthrough {
                source,
                target,
                edge,
                remaining_ms,
            } => {
                journal.emit(
                    "passthrough",
                    Some(name(*source)),
                    crate::fields! {
                        "state" => edge.name(),
                        "target" => name(*target),
                        "remaining_ms" => remaining_ms,
                    },
                );
            }
            Event::Cor { channel, open } => {
                journal.emit(
                    "cor",
                    Some(name(*channel)),
                    crate::fields! { "state" => if *open { "open" } else { "closed" } },
                );
            }
            Event::Ptt { channel, event }
                if event.line_changed() || event.reason.name() == "lockout" =>
            {
                journal.emit(
                    "ptt",
                    Some(name(*channel)),
                    crate::fields! {
                        "state" => event.to.name(),
                        "keyed" => event.keyed(),
                        "reason" => event.reason.name(),
                    },
                );
            }
            Event::RemoteAudioDropped { channel, frames } => {
                journal.emit(
                    "ptt",
                    Some(name(*channel)),
                    crate::fields! {
                        "state" => "unkeyed",
                        "keyed" => false,
                        "reason" => "busy",
                        "dropped_frames" => frames,
                    },
                );
            }
            Event::RemoteAlert {
                channel,
                node,
                tone_id,
                alert_type,
            } => {
                journal.emit(
                    "remote_alert",
                    Some(name(*channel)),
                    crate::fields! {
                        "heard_by" => node.as_str(),
                        "tone_id" => tone_id.as_str(),
                        "alert_type" => alert_type.as_str(),
                    },
                );
            }
            _ => {}
        }
    }

    /// Logs `event` and queues it, with names filled in.
    fn report(&mut self, event: Event) {
        self.journal(&event);
        let name = |channel: ChannelIndex| self.channels[channel.get()].id.clone();
        let event = match event {
            Event::Connected => NetEvent::Connected {
                url: self.link.url().to_owned(),
            },
            Event::Welcomed {
                relay_udp,
                heartbeat,
                key_id,
            } => NetEvent::Welcomed {
                relay_udp,
                local_udp: self
                    .udp
                    .as_ref()
                    .and_then(|s| s.local_addr().ok())
                    .unwrap_or(relay_udp),
                heartbeat: Duration::from_micros(heartbeat.as_micros()),
                key_id: key_id.0,
            },
            Event::Registered { channel, stream_id } => NetEvent::Registered {
                channel: name(channel),
                stream_id: stream_id.0,
            },
            Event::UsersConnected { channel } => NetEvent::UsersConnected {
                channel: name(channel),
                users: self.engine.users(channel).map(str::to_owned).collect(),
            },
            Event::RemoteTransmit {
                channel,
                node,
                active,
            } => NetEvent::Transmit {
                channel: name(channel),
                node: node.as_str().to_owned(),
                active,
            },
            Event::RemoteAlert {
                channel,
                node,
                tone_id,
                alert_type,
            } => NetEvent::RemoteAlert {
                channel: name(channel),
                node: node.as_str().to_owned(),
                tone_id: tone_id.as_str().to_owned(),
                alert_type: alert_type.as_str().to_owned(),
            },
            Event::Talkspurt { channel, active } => NetEvent::Talkspurt {
                channel: name(channel),
                active,
            },
            Event::Cor { channel, open } => NetEvent::Cor {
                channel: name(channel),
                open,
            },
            Event::Ptt { channel, event } => NetEvent::Ptt {
                channel: name(channel),
                event,
            },
            Event::RemoteAudioDropped { channel, frames } => NetEvent::RemoteAudioDropped {
                channel: name(channel),
                frames,
            },
            Event::Passthrough {
                source,
                target,
                edge,
                remaining_ms,
            } => {
                let remaining = Duration::from_millis(u64::from(remaining_ms));
                let ends = (edge != PassthroughEdge::Ended).then(|| Instant::now() + remaining);
                self.counters
                    .set_passthrough(&name(source), &name(target), ends);
                NetEvent::Passthrough {
                    source: name(source),
                    target: name(target),
                    edge,
                    remaining,
                }
            }
            Event::Tone { channel, event, .. } => NetEvent::Tone {
                channel: name(channel),
                definition: event
                    .definition
                    .and_then(|d| self.channels[channel.get()].tone_names.get(d.get()))
                    .cloned(),
                event,
            },
            Event::DtmfSequence { channel, sequence } => NetEvent::DtmfSequence {
                channel: name(channel),
                digits: sequence.digits.as_str().to_owned(),
                cut_off: sequence.cut_off,
            },
            Event::Rtt { rtt } => NetEvent::Rtt {
                rtt: Duration::from_micros(rtt.as_micros()),
            },
            Event::PathLost {
                relay_udp,
                silent_for,
            } => NetEvent::PathLost {
                relay_udp,
                silent_for: Duration::from_micros(silent_for.as_micros()),
            },
            Event::PathRestored { relay_udp, rtt } => NetEvent::PathRestored {
                relay_udp,
                rtt: Duration::from_micros(rtt.as_micros()),
            },
            Event::Rekeyed { key_id } => NetEvent::Rekeyed { key_id: key_id.0 },
            Event::RelayError { code, message } => NetEvent::RelayError {
                code,
                message: message.as_str().to_owned(),
            },
            Event::Unexpected { what } => NetEvent::Unexpected { what },
            Event::Disconnected { reason, retry_in } => NetEvent::Disconnected {
                reason,
                detail: self.link_detail.take(),
                retry_in: Duration::from_micros(retry_in.as_micros()),
            },
        };
        log_event(&event);
        self.events.emit(event);
    }
}

/// Logs an event at the level it deserves.
fn log_event(event: &NetEvent) {
    match event {
        // Once per heartbeat: too often for the default level.
        NetEvent::Rtt { .. } => log::trace!("{event}"),
        NetEvent::Talkspurt { .. } => log::debug!("{event}"),
        NetEvent::Ptt { event: ptt, .. }
            if !ptt.line_changed() && ptt.reason.name() != "lockout" =>
        {
            log::debug!("{event}");
        }
        NetEvent::PathLost { .. }
        | NetEvent::Disconnected { .. }
        | NetEvent::RelayError { .. }
        | NetEvent::Unexpected { .. } => log::warn!("{event}"),
        _ => log::info!("{event}"),
    }
}
