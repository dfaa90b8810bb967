//! The edge node's engine: every decision the node makes about its link to
//! the relay and its channels' audio, sans-IO, in fixed storage.
//!
//! It owns the link's lifecycle (connect, welcome, time-outs, backoff),
//! signaling policy, channel registration and stream ids, packet
//! protection ([`Sender`](crate::crypto::Sender) per stream, one
//! [`Receiver`]), heartbeats and path health,
//! talk-spurts (`transmit`, start flags, end of transmission), datagrams
//! held across a rekey, and each channel's activity gate with its
//! pre-roll. The Linux network thread and the simulator are two drivers of
//! this one machine.
//!
//! # Driving it
//!
//! The driver owns the sockets, the link and the clock. It takes `now` once
//! per turn, feeds every input through a `handle_*` call, then drains
//! [`Node::poll_output`] until it returns `None`, and calls
//! [`Node::handle_timeout`] no later than [`Node::poll_timeout`] says:
//!
//! - [`Output::Connect`]: open the signaling link; report
//!   [`handle_connected`](Node::handle_connected) once the WebSocket is
//!   open, or [`handle_disconnected`](Node::handle_disconnected) if it
//!   fails (at any time, also later);
//! - each text frame read: [`handle_text`](Node::handle_text) (a binary
//!   frame: [`handle_binary`](Node::handle_binary));
//! - [`Output::OpenMedia`]: resolve the UDP host, open a socket, report
//!   [`handle_media_ready`](Node::handle_media_ready);
//! - each datagram read: [`handle_datagram`](Node::handle_datagram) (opened
//!   in place in the driver's buffer);
//! - each frame the capture side made: [`handle_captured`](Node::handle_captured),
//!   after its detections ([`handle_heard`](Node::handle_heard)), at most
//!   [`CAPTURE_BUDGET`] a turn, a turn at least every [`IDLE_MAX`];
//! - each page a channel's detector heard, for the other sites:
//!   [`report_alert`](Node::report_alert).
//!
//! Outputs carry their bytes in the buffer lent to `poll_output` (at least
//! [`OUTPUT_BUF_LEN`]), so nothing is allocated per datagram or message.
//! Every queue is bounded and counts what it drops ([`Counters`]). The
//! engine never reads a clock; its notion of "now" is the latest `now` it
//! was handed.

mod alert;
mod backoff;
mod channel;
mod config;
mod event;
mod frames;
mod media;
mod output;
mod pages;
mod parked;
mod radio;
mod seq_map;
mod signaling;
mod timer;

use core::net::SocketAddr;

use heapless::{Deque, String, Vec};

use crate::MAX_CHANNELS;
use crate::audio::Heard;
use crate::crypto::{OpenErrorKind, Receiver, SessionKeys};
use crate::time::{Duration, Instant, SampleIndex};
use crate::tone::ToneEvent;
use crate::tone::dtmf::DtmfSequence;
use crate::wire::signal::{MAX_HOST_LEN, MAX_USERS};
use crate::wire::{MAX_PAYLOAD_LEN, MediaTimestamp, StreamId};

pub use self::alert::REPORT_QUEUE_LEN;
pub use self::backoff::{BACKOFF_START, Backoff};
pub use self::config::{
    AlertAction, ChannelConfig, ChannelIndex, NodeConfig, NodeConfigError, RadioConfig,
};
pub use self::event::{DisconnectReason, Event, LinkDown, NodeName, PassthroughEdge, Unexpected};
pub use self::frames::{FRAME_BYTES, FRAME_ENTRIES};
pub use self::output::{Captured, Counters, OUTPUT_BUF_LEN, Output, Received};
pub use self::parked::{PARKED_AGE_MAX, PARKED_MAX};
pub use self::radio::{ChannelState, HELD_FRAMES, HELD_PAYLOAD_MAX, REMOTE_SILENCE};
pub use self::seq_map::SeqMap;

use self::alert::PendingReport;
use self::channel::Channel;
use self::parked::Parked;
use self::timer::{Timer, TimerTable};

/// The shortest heartbeat period accepted from a welcome: a relay asking
/// for less gets this (bounds the work a relay can ask for).
pub const HEARTBEAT_MIN: Duration = Duration::from_millis(20);

/// The longest heartbeat period accepted from a welcome.
pub const HEARTBEAT_MAX: Duration = Duration::from_secs(60);

/// Probe intervals in one heartbeat period. A heartbeat (round or probe)
/// whose echo has not come back one probe interval later is followed by a
/// probe, and so on every probe interval until an echo comes back (TCP
/// keep-alive probes, RFC 1122 4.2.3.6, in miniature): an idle path costs
/// one heartbeat per period, and a dead one is still found in seconds.
pub const PROBES_PER_HEARTBEAT: u64 = 5;

/// Heartbeats (the round's, then probes) without any echo before the path
/// counts as lost ([`Event::PathLost`]): found
/// `PATH_LOST_PROBES / PROBES_PER_HEARTBEAT` periods (1.2, so 3 s at the
/// relay's default 2.5 s) after the first heartbeat that was not echoed.
pub const PATH_LOST_PROBES: u32 = 6;

/// Heartbeats without any echo before the engine gives the session up
/// and reconnects ([`DisconnectReason::PathDead`]): 4 periods (10 s at
/// 2.5 s) after the first heartbeat that was not echoed. A relay that lost
/// this node's state, or a NAT that moved it, heals on a new session.
pub const PATH_DEAD_PROBES: u32 = 20;

const _: () = assert!(PATH_LOST_PROBES < PATH_DEAD_PROBES);
// Probing reaches the next round before the path is lost: that round's
// `ping` tells the relay this node is alive while UDP is not.
const _: () = assert!(PATH_LOST_PROBES as u64 > PROBES_PER_HEARTBEAT);

/// Heartbeat rounds per signaling `ping` while the heartbeats are echoed
/// (every 10 s at 2.5 s): an echo already proves the relay holds the
/// session, so the WebSocket is only checked now and then. A round pings
/// every time when its path is unanswered (the first probe pings too) or
/// no stream is registered: then signaling is this node's only sign of
/// life to the relay, which closes a node silent for two periods.
pub const PING_EVERY_ROUNDS: u32 = 4;

/// How long datagrams sealed under the previous key still open after a
/// `rekey` (the relay switches as it sends it; this covers what is in
/// flight).
pub const KEY_GRACE: Duration = Duration::from_secs(5);

/// How long after an end of transmission `transmit active:false` follows.
/// The relay releases the channel on either, and on `active:false` sends
/// the listeners an end marker in place of one it has not had. As
/// WebSocket and UDP race, an immediate `active:false` would often
/// overtake the talk-spurt's last frames: the listeners would get the
/// relay's end before them, and those frames would take the channel again
/// as a new transmission. Delayed, it only matters when the marker was
/// lost.
pub const TRANSMIT_END_DELAY: Duration = Duration::from_millis(250);

/// Heartbeat periods without any signaling frame before the WebSocket
/// counts as dead: the `ping` of every [`PING_EVERY_ROUNDS`]th round, and
/// one more period for its answer.
pub const SIGNAL_SILENT_HEARTBEATS: u64 = PING_EVERY_ROUNDS as u64 + 1;

/// Heartbeat periods a `ping` waits for any signaling frame (the relay
/// answers every `ping`) before the WebSocket counts as dead.
pub const PONG_WAIT_HEARTBEATS: u64 = 1;

const _: () = assert!(PONG_WAIT_HEARTBEATS < SIGNAL_SILENT_HEARTBEATS);

/// The shortest signaling silence (and wait for a `pong`) that counts as
/// a dead WebSocket, for relays with very short heartbeats.
pub const SIGNAL_SILENCE_MIN: Duration = Duration::from_secs(1);

/// Stream ids remembered under one key: a relay that hands out more
/// (registering channels over and over) is given up on.
pub const USED_STREAMS_MAX: usize = 4 * MAX_CHANNELS;

/// Frames a driver's network turn takes from one channel's capture queue:
/// more than the queue holds ([`FRAME_RING_FRAMES`](crate::audio::FRAME_RING_FRAMES)),
/// so one turn empties it. A turn takes the channel's detections first,
/// then its frames, each handed in and drained at once.
pub const CAPTURE_BUDGET: usize = 2 * crate::audio::FRAME_RING_FRAMES;

/// The longest a driver waits between network turns, whatever the
/// engine's timers say: the capture queues are taken at least this often
/// even when nothing wakes the turn (quiet channels queue their frames
/// without waking it).
pub const IDLE_MAX: Duration = Duration::from_millis(100);

// Quiet frames wait at most IDLE_MAX: the capture queue must hold them.
const _: () = assert!((crate::audio::FRAME_RING_FRAMES as u64) * 20_000 > 2 * IDLE_MAX.as_micros());

/// Signaling messages waiting to be handed out.
const TEXT_QUEUE_LEN: usize = 32;
/// Events waiting to be handed out.
const EVENT_QUEUE_LEN: usize = 32;
/// Received frames waiting to be handed out: one datagram's, or every
/// held datagram's after a rekey.
const DELIVERY_QUEUE_LEN: usize = PARKED_MAX + 4;
/// Recording effects waiting to be handed out: a burst's start, its
/// alerts and its stop, for a few channels at once.
const RECORD_QUEUE_LEN: usize = 2 * crate::record::MAX_BURST_ALERTS + 8;

const _: () = assert!(TEXT_QUEUE_LEN >= MAX_CHANNELS + 4);
// Every waiting report has its text queued: a full report queue leaves
// room for other signaling.
const _: () = assert!(REPORT_QUEUE_LEN < TEXT_QUEUE_LEN);

/// How long the relay may say nothing before signaling counts as dead.
fn signal_silence_max(heartbeat: Duration) -> Duration {
    periods_at_least(heartbeat, SIGNAL_SILENT_HEARTBEATS, SIGNAL_SILENCE_MIN)
}

/// How long a `ping` waits for the relay to say anything.
fn pong_wait(heartbeat: Duration) -> Duration {
    periods_at_least(heartbeat, PONG_WAIT_HEARTBEATS, SIGNAL_SILENCE_MIN)
}

/// `periods` heartbeat periods, or `min` if that is longer.
fn periods_at_least(heartbeat: Duration, periods: u64, min: Duration) -> Duration {
    let span = Duration::from_micros(heartbeat.as_micros() * periods);
    if span < min { min } else { span }
}

/// The interval between probes of a path whose echo is late.
fn probe_interval(heartbeat: Duration) -> Duration {
    Duration::from_micros(heartbeat.as_micros() / PROBES_PER_HEARTBEAT)
}

/// Where the link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No link; [`Timer::Retry`] says when the next attempt starts.
    Down,
    /// [`Output::Connect`] was handed out; waiting for the WebSocket.
    Connecting,
    /// The WebSocket is open and `hello` was sent; waiting for `welcome`.
    Open,
    /// Welcomed: a session exists.
    Welcomed,
}

/// A signaling message to send, emitted when handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Hello,
    Register(ChannelIndex),
    Transmit(ChannelIndex, bool),
    /// A page report: its channel and labels are the front of
    /// [`Node::reports`] (see [`alert`]).
    ToneDetected,
    Ping(u64),
    Pong(u64),
}

/// A link-level effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Connect,
    Disconnect,
    OpenMedia,
}

/// A welcomed session.
#[derive(Debug)]
struct Session {
    heartbeat: Duration,
    keys: SessionKeys,
    receiver: Receiver<MAX_CHANNELS>,
    udp_host: String<MAX_HOST_LEN>,
    udp_port: u16,
    /// The relay's UDP address, once the driver opened the media side.
    relay: Option<SocketAddr>,
    last_heard_at: Instant,
    /// The send time (µs) of the last heartbeats (a round's or a
    /// probe's), and whether their first echo was reported.
    round_sent_us: u64,
    round_reported: bool,
    /// Heartbeat sends (rounds and probes) since the last echo.
    sends_unanswered: u32,
    /// When the next regular round is due (probes come in between).
    round_next: Instant,
    /// Regular rounds since the last `ping`.
    rounds_since_ping: u32,
    last_echo_at: Instant,
    path_lost: bool,
    /// Every stream id sealed on under the current key.
    used_streams: Vec<StreamId, USED_STREAMS_MAX>,
}

/// A received frame waiting to be handed out.
#[derive(Debug)]
struct Delivery {
    channel: ChannelIndex,
    frame: Received,
    bytes: [u8; MAX_PAYLOAD_LEN],
}

/// The node engine. See the [module docs](self) for the drain contract.
#[derive(Debug)]
pub struct Node {
    config: NodeConfig,
    phase: Phase,
    session: Option<Session>,
    channels: Vec<Channel, MAX_CHANNELS>,
    timers: TimerTable,
    backoff: Backoff,
    now: Instant,
    control: Deque<Control, 4>,
    texts: Deque<Text, TEXT_QUEUE_LEN>,
    /// One per [`Text::ToneDetected`] in `texts`, in the same order.
    reports: Deque<PendingReport, REPORT_QUEUE_LEN>,
    /// Channels (bits) owed a heartbeat, and each one's payload (µs).
    heartbeats_due: u16,
    heartbeat_us: [u64; MAX_CHANNELS],
    /// Where the round robin over channels' frames resumes.
    cursor: usize,
    deliveries: Deque<Delivery, DELIVERY_QUEUE_LEN>,
    events: Deque<Event, EVENT_QUEUE_LEN>,
    parked: Parked,
    /// The node ids of the last `users_connected`, and its channel.
    users: Vec<NodeName, MAX_USERS>,
    users_channel: Option<ChannelIndex>,
    /// The next alert's id.
    next_alert: u32,
    records: Deque<(ChannelIndex, crate::record::Effect), RECORD_QUEUE_LEN>,
    /// PTT lines to set, in order.
    ptt_lines: Deque<(ChannelIndex, bool), { 2 * MAX_CHANNELS }>,
    counters: Counters,
}

const _: () = assert!(MAX_CHANNELS <= u16::BITS as usize);

impl Node {
    /// An engine for `config`, with the link down and the first attempt
    /// due at once (at [`Instant::ZERO`]).
    pub fn new(config: NodeConfig) -> Node {
        let mut channels = Vec::new();
        for channel in config.channels() {
            channels
                .push(Channel::new(channel))
                .expect("NodeConfig holds at most MAX_CHANNELS channels");
        }
        let mut timers = TimerTable::default();
        timers.set(Timer::Retry, Instant::ZERO);
        Node {
            backoff: Backoff::new(config.reconnect_max, config.seed),
            config,
            phase: Phase::Down,
            session: None,
            channels,
            timers,
            now: Instant::ZERO,
            control: Deque::new(),
            texts: Deque::new(),
            reports: Deque::new(),
            heartbeats_due: 0,
            heartbeat_us: [0; MAX_CHANNELS],
            cursor: 0,
            deliveries: Deque::new(),
            events: Deque::new(),
            parked: Parked::default(),
            users: Vec::new(),
            users_channel: None,
            next_alert: 1,
            records: Deque::new(),
            ptt_lines: Deque::new(),
            counters: Counters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// What the engine counted so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether a session is up (welcomed, UDP side ready).
    pub fn is_welcomed(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.relay.is_some())
    }

    /// A channel's stream id, while registered.
    pub fn stream_id(&self, channel: ChannelIndex) -> Option<StreamId> {
        self.channels
            .get(channel.get())
            .and_then(|c| c.stream.as_ref())
            .map(|s| s.id)
    }

    /// Whether a channel's gate is open (it is talking).
    pub fn is_open(&self, channel: ChannelIndex) -> bool {
        self.channels.get(channel.get()).is_some_and(|c| c.open)
    }

    /// Whether `channel` carries another channel's audio (a passthrough).
    pub fn is_carrying(&self, channel: ChannelIndex) -> bool {
        self.channels
            .get(channel.get())
            .is_some_and(|c| c.carrying.is_some())
    }

    /// The node ids the relay last listed for `channel` (valid after
    /// [`Event::UsersConnected`] for it, until the next input).
    pub fn users(&self, channel: ChannelIndex) -> impl Iterator<Item = &str> {
        let users: &[NodeName] = if self.users_channel == Some(channel) {
            &self.users
        } else {
            &[]
        };
        users.iter().map(|u| u.as_str())
    }

    /// How many node ids the relay last listed for `channel`.
    pub fn users_count(&self, channel: ChannelIndex) -> usize {
        self.channels.get(channel.get()).map_or(0, |c| c.users)
    }

    /// The WebSocket is open (after [`Output::Connect`]): `hello` goes out.
    pub fn handle_connected(&mut self, now: Instant) {
        self.now = now;
        if self.phase != Phase::Connecting {
            return;
        }
        self.phase = Phase::Open;
        self.queue_text(Text::Hello);
        self.event(Event::Connected);
    }

    /// The link failed or closed (at any stage). A link the engine already
    /// took down is ignored.
    pub fn handle_disconnected(&mut self, now: Instant, cause: LinkDown) {
        self.now = now;
        self.fail(DisconnectReason::Link(cause));
    }

    /// The UDP side is ready (after [`Output::OpenMedia`]): `relay` is
    /// where datagrams go. Channels register now.
    pub fn handle_media_ready(&mut self, now: Instant, relay: SocketAddr) {
        self.now = now;
        let Some(session) = self.session.as_mut().filter(|s| s.relay.is_none()) else {
            return;
        };
        session.relay = Some(relay);
        session.last_echo_at = now;
        // The attempt is complete once the UDP side is ready too.
        self.timers.clear(Timer::ConnectDeadline);
        let (heartbeat, key_id) = (session.heartbeat, session.keys.key_id());
        self.event(Event::Welcomed {
            relay_udp: relay,
            heartbeat,
            key_id,
        });
        for index in 0..self.channels.len() {
            self.channels[index].registering = true;
            self.queue_text(Text::Register(ChannelIndex::new_unchecked(index)));
        }
    }

    /// One frame from the capture side of `channel`, in capture order:
    /// kept as pre-roll while the channel is quiet, sent while it talks.
    /// An uncoded frame moves the channel's clock and gate like a coded
    /// one; a late packet (the pre-roll, coded once
    /// [`wants_packets`](Self::wants_packets) said so) joins the frames it
    /// would have joined. An index past the channel list is ignored.
    pub fn handle_captured(&mut self, now: Instant, channel: ChannelIndex, captured: Captured<'_>) {
        self.now = now;
        let Some(c) = self.channels.get_mut(channel.get()) else {
            debug_assert!(false, "{channel} is not a channel of this node");
            return;
        };
        match captured {
            Captured::Frame {
                timestamp,
                fec,
                payload,
                active,
                reached,
                level_dbfs,
            } => {
                c.uncoded_run = 0;
                self.mark_captured(channel, timestamp, active, reached);
                self.keep_packet(channel, timestamp, fec, payload, false);
                self.after_captured(channel, timestamp, reached, level_dbfs);
            }
            Captured::Uncoded {
                timestamp,
                active,
                reached,
                level_dbfs,
            } => {
                // The capture side keeps this frame's audio now: the
                // pre-roll here shrinks by one so that both together are
                // the last pre-roll's worth of frames.
                c.uncoded_run = (c.uncoded_run + 1).min(c.preroll_frames);
                c.frames
                    .trim_preroll(c.preroll_frames.saturating_sub(c.uncoded_run));
                self.mark_captured(channel, timestamp, active, reached);
                self.after_captured(channel, timestamp, reached, level_dbfs);
            }
            Captured::Late {
                timestamp,
                fec,
                payload,
            } => {
                c.uncoded_run = c.uncoded_run.saturating_sub(1);
                self.counters.late_packets += 1;
                self.keep_packet(channel, timestamp, fec, payload, true);
            }
            Captured::End { timestamp } => {
                c.source_active = false;
                self.update_gate(channel, timestamp);
                // No more audio: what it records or passes through ends.
                self.end_routes(channel, timestamp, true);
                let c = &mut self.channels[channel.get()];
                let reached = c.reached;
                if let Some(planner) = &mut c.planner {
                    planner.handle_shutdown(reached);
                }
                self.drain_planner(channel);
            }
        }
    }

    /// Whether `channel`'s capture side should code its audio now: its
    /// gate is open (and it sends its own audio), its COR line is active
    /// (the gate opens after the debounce: the pre-roll is then ready), or
    /// it is passed through to another channel. Otherwise its frames come
    /// uncoded and nobody pays for coding them. The driver hands this to
    /// the capture side after every turn.
    pub fn wants_packets(&self, channel: ChannelIndex) -> bool {
        let Some(c) = self.channels.get(channel.get()) else {
            return false;
        };
        let line = c
            .radio
            .as_ref()
            .and_then(|r| r.cor.as_ref())
            .is_some_and(|cor| cor.source_active());
        (c.carrying.is_none() && (c.open || line)) || !c.routes.is_empty()
    }

    /// A captured frame's marks: the channel's own verdict, its clock, and
    /// the gate they move.
    fn mark_captured(
        &mut self,
        channel: ChannelIndex,
        timestamp: MediaTimestamp,
        active: bool,
        reached: SampleIndex,
    ) {
        let c = &mut self.channels[channel.get()];
        c.source_active = active;
        c.reached = reached.max(c.reached);
        c.last_timestamp = timestamp;
        self.update_gate(channel, timestamp);
    }

    /// A captured packet: kept (committed while the gate is open, else
    /// pre-roll) unless the channel carries another's audio, and passed
    /// through to where the channel goes (a `late` one only if it came
    /// after the passthrough started).
    fn keep_packet(
        &mut self,
        channel: ChannelIndex,
        timestamp: MediaTimestamp,
        fec: bool,
        payload: &[u8],
        late: bool,
    ) {
        let c = &mut self.channels[channel.get()];
        // A passthrough target sends its source's audio, not its own.
        if c.carrying.is_none() {
            let commit = c.open;
            if c.frames
                .push(timestamp, fec, false, payload, commit)
                .is_err()
            {
                self.counters.drop_captured += 1;
            }
            if !commit {
                c.frames
                    .trim_preroll(c.preroll_frames.saturating_sub(c.uncoded_run));
            }
        }
        let c = &self.channels[channel.get()];
        if !late || timestamp.0.wrapping_sub(c.routed_after.0).cast_signed() > 0 {
            self.route_frame(channel, timestamp, fec, payload);
        }
    }

    /// What follows a captured frame's marks: passthroughs that are over
    /// end, and its recording hears of it.
    fn after_captured(
        &mut self,
        channel: ChannelIndex,
        timestamp: MediaTimestamp,
        reached: SampleIndex,
        level_dbfs: i16,
    ) {
        self.end_routes(channel, timestamp, false);
        if let Some(planner) = &mut self.channels[channel.get()].planner {
            planner.handle_audio(reached, level_dbfs);
        }
        self.drain_planner(channel);
    }

    /// A detection on `channel` (a page or a DTMF digit), from its
    /// capture side's detector. Reported as [`Event::Tone`]; a page of one
    /// of the channel's definitions ([`ChannelConfig::alerts`]) gets an
    /// alert id, is reported to the channel's other sites
    /// (`tone_detected`), and starts or joins a recording and its
    /// passthrough.
    pub fn handle_tone(&mut self, now: Instant, channel: ChannelIndex, event: ToneEvent) {
        self.now = now;
        if channel.get() >= self.channels.len() {
            debug_assert!(false, "{channel} is not a channel of this node");
            return;
        }
        let alert = self.alert(channel, &event);
        self.event(Event::Tone {
            channel,
            event,
            alert,
        });
        if let Some(alert) = alert {
            self.act_on_alert(channel, &event, alert);
        }
    }

    /// `channel`'s detector says the tone of its latest alert ended at
    /// `at` (`ChannelDetector::poll_tones_end`): its recording's start
    /// (or end) is now known.
    pub fn handle_tones_end(&mut self, now: Instant, channel: ChannelIndex, at: SampleIndex) {
        self.now = now;
        let Some(c) = self.channels.get_mut(channel.get()) else {
            debug_assert!(false, "{channel} is not a channel of this node");
            return;
        };
        if let Some(planner) = &mut c.planner {
            planner.handle_tones_end(at);
        }
        self.drain_planner(channel);
    }

    /// A sequence of DTMF digits on `channel` ended (from its capture
    /// side's sequencer). Reported as [`Event::DtmfSequence`].
    pub fn handle_dtmf_sequence(
        &mut self,
        now: Instant,
        channel: ChannelIndex,
        sequence: DtmfSequence,
    ) {
        self.now = now;
        if channel.get() >= self.channels.len() {
            debug_assert!(false, "{channel} is not a channel of this node");
            return;
        }
        self.event(Event::DtmfSequence { channel, sequence });
    }

    /// What `channel`'s detector heard, as its capture side hands it over:
    /// [`handle_tone`](Self::handle_tone),
    /// [`handle_tones_end`](Self::handle_tones_end) or
    /// [`handle_dtmf_sequence`](Self::handle_dtmf_sequence).
    pub fn handle_heard(&mut self, now: Instant, channel: ChannelIndex, heard: Heard) {
        match heard {
            Heard::Tone(event) => self.handle_tone(now, channel, event),
            Heard::TonesEnd(at) => self.handle_tones_end(now, channel, at),
            Heard::Sequence(sequence) => self.handle_dtmf_sequence(now, channel, sequence),
        }
    }

    /// Runs every timer due at `now`. Call at or after
    /// [`poll_timeout`](Self::poll_timeout); early or extra calls are
    /// harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        // Each timer rearms for later than `now` or not at all, so this ends.
        while let Some((timer, _)) = self.timers.take_expired(now) {
            match timer {
                Timer::Retry => self.start_attempt(now),
                Timer::ConnectDeadline => {
                    if !self.is_welcomed() {
                        self.fail(DisconnectReason::NoWelcome {
                            within: self.config.connect_timeout,
                        });
                    }
                }
                Timer::SignalSilence => {
                    let silent_for = self.session.as_ref().map_or(Duration::ZERO, |s| {
                        now.saturating_duration_since(s.last_heard_at)
                    });
                    self.fail(DisconnectReason::SignalSilent { silent_for });
                }
                Timer::HeartbeatRound => self.heartbeat_round(now),
                Timer::ParkedExpiry => self.expire_parked(now),
                Timer::TransmitRelease(channel) => {
                    let c = &mut self.channels[channel.get()];
                    if c.announced && !c.transmitting && c.stream.is_some() {
                        c.announced = false;
                        self.queue_text(Text::Transmit(channel, false));
                    }
                }
            }
        }
        if self.radio_next_timeout().is_some_and(|at| at <= now) {
            self.radio_timeout(now);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.timers.next(), self.radio_next_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next effect, or `None` when there is nothing to do; bytes that go
    /// with it are written to the front of `buf`. Link control first, then
    /// signaling, heartbeats, captured frames (channels in turn), received
    /// frames, events, and recording effects.
    ///
    /// # Panics
    /// If `buf` is shorter than [`OUTPUT_BUF_LEN`] (a driver bug).
    #[must_use]
    pub fn poll_output(&mut self, buf: &mut [u8]) -> Option<Output> {
        assert!(
            buf.len() >= OUTPUT_BUF_LEN,
            "poll_output is lent at least OUTPUT_BUF_LEN bytes"
        );
        if let Some(control) = self.control.pop_front() {
            return Some(self.control_output(control, buf));
        }
        if let Some((channel, keyed)) = self.ptt_lines.pop_front() {
            return Some(Output::Ptt { channel, keyed });
        }
        if let Some(text) = self.texts.pop_front() {
            let len = self.emit_text(text, buf);
            self.counters.signal_out += 1;
            return Some(Output::SendText { len });
        }
        if let Some(output) = self.poll_datagram(buf) {
            self.counters.datagrams_out += 1;
            return Some(output);
        }
        if let Some(delivery) = self.deliveries.pop_front() {
            let len = delivery.frame.len;
            buf[..len].copy_from_slice(&delivery.bytes[..len]);
            return Some(Output::Deliver {
                channel: delivery.channel,
                frame: delivery.frame,
            });
        }
        if let Some((channel, frame)) = self.pop_released(buf) {
            return Some(Output::Deliver { channel, frame });
        }
        // Events before recording effects: an alert is reported before
        // the recording it joins names it.
        if let Some(event) = self.events.pop_front() {
            return Some(Output::Event(event));
        }
        self.records
            .pop_front()
            .map(|(channel, effect)| Output::Record { channel, effect })
    }

    fn control_output(&mut self, control: Control, buf: &mut [u8]) -> Output {
        match control {
            Control::Connect => Output::Connect,
            Control::Disconnect => Output::Disconnect,
            Control::OpenMedia => {
                let session = self
                    .session
                    .as_ref()
                    .expect("OpenMedia is queued with a session and dropped with it");
                let host = session.udp_host.as_bytes();
                buf[..host.len()].copy_from_slice(host);
                Output::OpenMedia {
                    host_len: host.len(),
                    port: session.udp_port,
                }
            }
        }
    }

    fn start_attempt(&mut self, now: Instant) {
        if self.phase != Phase::Down {
            return;
        }
        self.phase = Phase::Connecting;
        self.push_control(Control::Connect);
        self.timers
            .set(Timer::ConnectDeadline, now + self.config.connect_timeout);
    }

    /// Opens or closes `channel`'s gate to match its sources. `timestamp`
    /// is the media time of the frame at hand (an end of transmission
    /// takes it).
    fn update_gate(&mut self, channel: ChannelIndex, timestamp: MediaTimestamp) {
        let now = self.now;
        let c = &mut self.channels[channel.get()];
        let wants = c.wants_open();
        if wants == c.open {
            return;
        }
        c.open = wants;
        if wants {
            // Only the pre-roll's worth of what came before goes out (a
            // frame kept behind an unsent end marker may be older).
            c.frames.trim_preroll(c.preroll_frames);
        }
        c.frames.commit_all();
        if wants {
            c.start_pending = true;
        } else {
            if c.frames.push(timestamp, false, true, &[], true).is_err() {
                self.counters.drop_captured += 1;
            }
            if c.stream.is_some() {
                self.timers
                    .set(Timer::TransmitRelease(channel), now + TRANSMIT_END_DELAY);
            }
        }
        self.event(Event::Talkspurt {
            channel,
            active: wants,
        });
    }

    /// Takes the link down for `reason` (if it is not down already) and
    /// schedules the next attempt.
    fn fail(&mut self, reason: DisconnectReason) {
        if self.phase == Phase::Down {
            return;
        }
        self.control.clear();
        self.push_control(Control::Disconnect);
        self.texts.clear();
        // The pages were heard all the same: say they never went out.
        self.counters.tone_reports_unsent += self.reports.len() as u64;
        self.reports.clear();
        self.heartbeats_due = 0;
        while self.parked.pop().is_some() {
            self.counters.drop_open[OpenErrorKind::UnknownKey.index()] += 1;
        }
        self.session = None;
        let mut scratch = [0u8; MAX_PAYLOAD_LEN];
        for c in &mut self.channels {
            c.end_session();
            while c.frames.pop_committed(&mut scratch).is_some() {
                self.counters.drop_not_registered += 1;
            }
        }
        self.timers.clear_all_but(Timer::Retry);
        let delay = self.backoff.next_delay();
        self.timers.set(Timer::Retry, self.now + delay);
        self.counters.reconnects += 1;
        self.phase = Phase::Down;
        self.event(Event::Disconnected {
            reason,
            retry_in: delay,
        });
    }

    fn push_control(&mut self, control: Control) {
        // Four slots hold any sequence the engine makes (it clears the
        // queue before a Disconnect).
        self.control
            .push_back(control)
            .expect("the control queue never holds more than three");
    }

    fn queue_text(&mut self, text: Text) {
        if self.texts.push_back(text).is_err() {
            self.counters.drop_text_queue_full += 1;
        }
    }

    fn event(&mut self, event: Event) {
        if self.events.push_back(event).is_err() {
            self.counters.drop_events += 1;
        }
    }
}

/// The next deadline of a periodic timer that was due at `at`: one period
/// on, or one period from `now` if that is already past (a stalled loop
/// does not make up missed rounds in a burst).
fn next_period(at: Instant, period: Duration, now: Instant) -> Instant {
    let next = at + period;
    if next > now { next } else { now + period }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_periodic_timer_never_rearms_in_the_past() {
        let period = Duration::from_millis(100);
        let at = Instant::from_millis(1_000);
        assert_eq!(
            next_period(at, period, Instant::from_millis(1_010)),
            Instant::from_millis(1_100),
            "on time: one period on"
        );
        assert_eq!(
            next_period(at, period, Instant::from_millis(5_000)),
            Instant::from_millis(5_100),
            "after a stall: no burst of missed rounds"
        );
    }
}
