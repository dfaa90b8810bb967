//! A channel's radio in the engine: its receiver's COR and its
//! transmitter's PTT ([`crate::ptt`]), and what they do to the channel.
//!
//! - COR from a line ([`Node::handle_cor`]) opens the channel's gate, as
//!   the capture side's VOX verdict does for a channel without a line.
//! - Remote audio (a talker elsewhere on the channel, or a passthrough
//!   from another of this node's channels) keys the transmitter: the
//!   driver is told to set the line ([`Output::Ptt`](super::Output::Ptt)),
//!   and the audio is *held* here for the TX delay, then handed to the
//!   playback side in order. It unkeys `ptt_hang_ms` after the audio ends
//!   (its end of transmission, or [`REMOTE_SILENCE`] without a frame); the
//!   transmit time-out unkeys it and locks it out until the far side has
//!   stopped for `lockout_s`.
//! - A half-duplex radio hears its own transmitter: while keyed, what it
//!   receives is not sent (`full_duplex` lifts that).
//! - With `busy_lockout`, remote audio waits while the receiver is busy
//!   (COR open), up to `busy_wait_ms`, then is dropped
//!   ([`Event::RemoteAudioDropped`]).
//!
//! Every COR and PTT change is an event ([`Event::Cor`], [`Event::Ptt`]).

use heapless::Deque;

use crate::ptt::{Cor, CorEdge, CorSource, Ptt, TxSource};
use crate::time::{Duration, Instant};

use super::config::RadioConfig;
use super::{ChannelIndex, Delivery, Event, Node, Received};

/// Remote audio that stops without an end of transmission counts as ended
/// after this long without a frame.
pub const REMOTE_SILENCE: Duration = Duration::from_millis(500);

/// Frames held per channel while its transmitter comes up: a second of
/// 20 ms frames, more than any TX delay.
pub const HELD_FRAMES: usize = 50;

/// The longest frame that can be held (an Opus frame of 20 ms at 128
/// kbit/s); longer ones are dropped while held, and counted.
pub const HELD_PAYLOAD_MAX: usize = 320;

/// A frame waiting for the transmitter.
#[derive(Debug)]
pub(crate) struct HeldFrame {
    frame: Received,
    bytes: [u8; HELD_PAYLOAD_MAX],
}

/// One channel's radio state.
#[derive(Debug)]
pub(crate) struct Radio {
    pub(crate) config: RadioConfig,
    /// The COR machine, for a channel whose COR is a line.
    pub(crate) cor: Option<Cor>,
    /// The PTT machine, for a channel with a transmitter.
    pub(crate) ptt: Option<Ptt>,
    /// Audio waiting for the transmitter (TX delay, a busy receiver).
    held: Deque<HeldFrame, HELD_FRAMES>,
    /// When the last remote frame came, while remote audio flows.
    remote_heard_at: Option<Instant>,
    /// Since when remote audio waits for a busy receiver.
    busy_since: Option<Instant>,
    /// The line's state last handed out.
    line_keyed: bool,
}

impl Radio {
    pub(crate) fn new(config: RadioConfig) -> Radio {
        Radio {
            cor: config
                .cor_line
                .then(|| Cor::new(&config.timers, CorSource::Line)),
            ptt: config.ptt.then(|| {
                Ptt::new(&config.timers).expect("NodeConfig::set_radio checked the timers")
            }),
            config,
            held: Deque::new(),
            remote_heard_at: None,
            busy_since: None,
            line_keyed: false,
        }
    }

    /// Whether the transmitter is keyed.
    pub(crate) fn keyed(&self) -> bool {
        self.ptt.as_ref().is_some_and(Ptt::is_keyed)
    }

    /// Whether the receiver (a COR line) is open.
    pub(crate) fn cor_open(&self) -> bool {
        self.cor.as_ref().is_some_and(Cor::is_open)
    }

    fn busy(&self) -> bool {
        self.config.busy_lockout && self.cor_open()
    }
}

/// What a channel is doing, in the words of a status page: the one state
/// a radio tech would name, the most pressing first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    /// Nothing heard, nothing sent.
    Idle,
    /// Its receiver is heard (COR, VOX or always open) and sent on.
    Receiving,
    /// Its transmitter is keyed.
    Transmitting,
    /// It carries another channel's audio after a page.
    Passthrough,
    /// Its transmitter was cut by the time-out and waits out the lock-out.
    LockedOut,
}

impl ChannelState {
    /// Every state, in [`index`](ChannelState::index) order.
    pub const ALL: [ChannelState; 5] = [
        ChannelState::Idle,
        ChannelState::Receiving,
        ChannelState::Transmitting,
        ChannelState::Passthrough,
        ChannelState::LockedOut,
    ];

    /// The state's name, as the status page and metrics print it.
    pub const fn name(self) -> &'static str {
        match self {
            ChannelState::Idle => "idle",
            ChannelState::Receiving => "receiving",
            ChannelState::Transmitting => "transmitting",
            ChannelState::Passthrough => "passthrough",
            ChannelState::LockedOut => "locked_out",
        }
    }

    /// Its position in [`ALL`](ChannelState::ALL).
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl Node {
    /// What `channel` is doing now: locked out before transmitting before
    /// passthrough before receiving (a keyed passthrough target is
    /// transmitting).
    pub fn channel_state(&self, channel: ChannelIndex) -> ChannelState {
        let Some(c) = self.channels.get(channel.get()) else {
            return ChannelState::Idle;
        };
        let ptt = c
            .radio
            .as_ref()
            .and_then(|r| r.ptt.as_ref())
            .map(Ptt::state);
        if ptt == Some(crate::ptt::PttState::LockedOut) {
            ChannelState::LockedOut
        } else if ptt.is_some_and(crate::ptt::PttState::is_keyed) {
            ChannelState::Transmitting
        } else if c.carrying.is_some() {
            ChannelState::Passthrough
        } else if c.open {
            ChannelState::Receiving
        } else {
            ChannelState::Idle
        }
    }

    /// `channel`'s COR: `Some(open)` for a channel with a COR line.
    pub fn cor_open(&self, channel: ChannelIndex) -> Option<bool> {
        self.channels
            .get(channel.get())
            .and_then(|c| c.radio.as_ref())
            .and_then(|r| r.cor.as_ref().map(Cor::is_open))
    }

    /// `channel`'s COR line went `active` (or not), as read by the driver.
    /// Ignored for a channel without a COR line.
    pub fn handle_cor(&mut self, now: Instant, channel: ChannelIndex, active: bool) {
        self.now = now;
        let Some(radio) = self
            .channels
            .get_mut(channel.get())
            .and_then(|c| c.radio.as_mut())
        else {
            return;
        };
        if let Some(cor) = &mut radio.cor {
            cor.handle_level(now, active);
        }
        self.radio_turn(channel);
    }

    /// Whether `channel`'s transmitter is keyed.
    pub fn is_keyed(&self, channel: ChannelIndex) -> bool {
        self.channels
            .get(channel.get())
            .and_then(|c| c.radio.as_ref())
            .is_some_and(Radio::keyed)
    }

    /// Hands a frame for `channel`'s playback to the driver, through its
    /// transmitter: keyed first and held for the TX delay when it has one.
    /// Returns false if the frame was dropped (counted).
    pub(super) fn deliver(&mut self, delivery: Delivery, source: TxSource) -> bool {
        let now = self.now;
        let channel = delivery.channel;
        let Some(radio) = self.channels[channel.get()]
            .radio
            .as_mut()
            .filter(|r| r.ptt.is_some())
        else {
            return self.queue_delivery(delivery);
        };
        let end = delivery.frame.end;
        if source == TxSource::Remote {
            radio.remote_heard_at = (!end).then_some(now);
        }
        let waiting = source == TxSource::Remote && radio.busy();
        if waiting {
            radio.busy_since.get_or_insert(now);
        } else if let Some(ptt) = &mut radio.ptt {
            ptt.handle_audio(now, source, !end);
        }
        let held = self.hold(delivery);
        self.radio_turn(channel);
        held
    }

    fn queue_delivery(&mut self, delivery: Delivery) -> bool {
        if self.deliveries.push_back(delivery).is_err() {
            self.counters.drop_deliveries_full += 1;
            return false;
        }
        true
    }

    /// Keeps a frame until the transmitter lets it play.
    fn hold(&mut self, delivery: Delivery) -> bool {
        let len = delivery.frame.len;
        let radio = self.channels[delivery.channel.get()]
            .radio
            .as_mut()
            .expect("held only on channels with a radio");
        if len > HELD_PAYLOAD_MAX {
            self.counters.drop_held += 1;
            return false;
        }
        let mut frame = HeldFrame {
            frame: delivery.frame,
            bytes: [0; HELD_PAYLOAD_MAX],
        };
        frame.bytes[..len].copy_from_slice(&delivery.bytes[..len]);
        if radio.held.push_back(frame).is_err() {
            self.counters.drop_held += 1;
            return false;
        }
        true
    }

    /// After any input touching `channel`'s radio: its machines' events
    /// out, its line, its gate, and held audio released if it may play.
    pub(super) fn radio_turn(&mut self, channel: ChannelIndex) {
        let now = self.now;
        let index = channel.get();
        let Some(radio) = self.channels[index].radio.as_mut() else {
            return;
        };
        // Remote audio that waited for a busy receiver goes once it is free.
        if radio.busy_since.is_some() && !radio.busy() {
            radio.busy_since = None;
            if let Some(ptt) = &mut radio.ptt
                && !radio.held.is_empty()
            {
                ptt.handle_audio(now, TxSource::Remote, radio.remote_heard_at.is_some());
            }
        }
        let mut cor_edges: Deque<CorEdge, { crate::ptt::COR_EVENT_QUEUE_LEN }> = Deque::new();
        if let Some(cor) = &mut radio.cor {
            while let Some(edge) = cor.poll_event() {
                let _ = cor_edges.push_back(edge);
            }
        }
        let mut ptt_events: Deque<_, { crate::ptt::PTT_EVENT_QUEUE_LEN }> = Deque::new();
        if let Some(ptt) = &mut radio.ptt {
            while let Some(event) = ptt.poll_event() {
                let _ = ptt_events.push_back(event);
            }
        }
        let keyed = radio.keyed();
        let line_changed = keyed != radio.line_keyed;
        radio.line_keyed = keyed;
        let may_play = radio.ptt.as_ref().is_some_and(Ptt::may_play);
        if !keyed && !may_play && radio.busy_since.is_none() {
            // Unkeyed (hang over, time-out, lock-out, shutdown): what is
            // still held will not be played.
            let dropped = radio.held.len() as u64;
            radio.held.clear();
            self.counters.drop_held += dropped;
        }
        for edge in cor_edges {
            self.event(Event::Cor {
                channel,
                open: edge == CorEdge::Opened,
            });
        }
        for event in ptt_events {
            self.event(Event::Ptt { channel, event });
        }
        if line_changed && self.ptt_lines.push_back((channel, keyed)).is_err() {
            // Never: one per channel per turn, drained each poll.
            self.counters.drop_events += 1;
        }
        let timestamp = self.channels[index].last_timestamp;
        self.update_gate(channel, timestamp);
    }

    /// The next held frame that may play now, into `buf`.
    pub(super) fn pop_released(&mut self, buf: &mut [u8]) -> Option<(ChannelIndex, Received)> {
        for (index, c) in self.channels.iter_mut().enumerate() {
            let Some(radio) = &mut c.radio else { continue };
            if !radio.ptt.as_ref().is_some_and(Ptt::may_play) {
                continue;
            }
            if let Some(held) = radio.held.pop_front() {
                let len = held.frame.len;
                buf[..len].copy_from_slice(&held.bytes[..len]);
                let mut frame = held.frame;
                // Released now: the playback side measures jitter from this.
                frame.arrived = self.now;
                return Some((ChannelIndex::new_unchecked(index), frame));
            }
        }
        None
    }

    /// Runs the radios' timers due at `now`.
    pub(super) fn radio_timeout(&mut self, now: Instant) {
        for index in 0..self.channels.len() {
            let Some(radio) = self.channels[index].radio.as_mut() else {
                continue;
            };
            if let Some(cor) = &mut radio.cor {
                cor.handle_timeout(now);
            }
            if let Some(ptt) = &mut radio.ptt {
                ptt.handle_timeout(now);
                if radio
                    .remote_heard_at
                    .is_some_and(|at| now >= at + REMOTE_SILENCE)
                {
                    radio.remote_heard_at = None;
                    ptt.handle_audio(now, TxSource::Remote, false);
                }
            }
            let channel = ChannelIndex::new_unchecked(index);
            if let Some(since) = radio.busy_since
                && now >= since + Duration::from_millis(u64::from(radio.config.busy_wait_ms))
            {
                radio.busy_since = None;
                let frames = radio.held.len() as u32;
                radio.held.clear();
                radio.remote_heard_at = None;
                self.counters.drop_held += u64::from(frames);
                self.event(Event::RemoteAudioDropped { channel, frames });
            }
            self.radio_turn(channel);
        }
    }

    /// When the radios next need [`radio_timeout`](Self::radio_timeout).
    pub(super) fn radio_next_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        for radio in self.channels.iter().filter_map(|c| c.radio.as_ref()) {
            consider(radio.cor.as_ref().and_then(Cor::poll_timeout));
            consider(radio.ptt.as_ref().and_then(Ptt::poll_timeout));
            consider(radio.remote_heard_at.map(|at| at + REMOTE_SILENCE));
            consider(
                radio
                    .busy_since
                    .map(|at| at + Duration::from_millis(u64::from(radio.config.busy_wait_ms))),
            );
        }
        next
    }

    /// Unkeys every transmitter for good (the node stops).
    pub(super) fn radio_shutdown(&mut self, now: Instant) {
        for index in 0..self.channels.len() {
            if let Some(ptt) = self.channels[index]
                .radio
                .as_mut()
                .and_then(|r| r.ptt.as_mut())
            {
                ptt.shutdown(now);
            }
            self.radio_turn(ChannelIndex::new_unchecked(index));
        }
    }
}
