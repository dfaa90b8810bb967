//! The loop itself: one mio poll over the waker, the WebSocket and the
//! UDP socket, and the link's lifecycle (connect, welcome, fail, back off,
//! reconnect). Signaling messages are handled in `signaling.rs`, datagrams
//! in `media.rs`.
//!
//! Every turn does all the work there is, bounded: it moves the link on,
//! reads signaling, reads datagrams, sends what the capture rings hold,
//! runs the heartbeat and ping timers and flushes the WebSocket. Sockets
//! are read until they would block (mio is edge-triggered), or until a
//! budget is spent, in which case the next poll does not wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use echostream_core::crypto::SessionKeys;
use echostream_core::wire::signal::{ChannelId, MAX_MESSAGE_LEN, ToRelay};
use mio::{Events, Poll, Token, Waker};

use super::backoff::Backoff;
use super::counters::NetCounters;
use super::event::{EventSink, NetEvent};
use super::link::{Incoming, Link};
use super::media::{Effect, Media};
use super::resolve::{Resolved, Resolver};

/// The waker's token.
pub(crate) const WAKER: Token = Token(0);
/// The WebSocket's token.
pub(crate) const SIGNAL: Token = Token(1);
/// The UDP socket's token.
pub(crate) const UDP: Token = Token(2);

/// The longest the loop sleeps, whatever its timers say: the capture
/// rings are drained at least this often even if nobody wakes the loop.
const IDLE_MAX: Duration = Duration::from_millis(100);

/// Signaling frames handled per turn.
const READ_BUDGET: usize = 64;

/// Heartbeat periods without any signaling frame (the relay answers every
/// `ping`) before the WebSocket counts as dead.
const SIGNAL_SILENT_HEARTBEATS: u32 = 4;

/// The shortest signaling silence that counts as a dead WebSocket, for
/// relays with very short heartbeats.
const SIGNAL_SILENCE_MIN: Duration = Duration::from_secs(1);

/// How long the relay may say nothing before the WebSocket counts as dead.
fn signal_silence_max(heartbeat: Duration) -> Duration {
    (heartbeat * SIGNAL_SILENT_HEARTBEATS).max(SIGNAL_SILENCE_MIN)
}

/// Readiness events taken per poll.
const EVENTS_CAPACITY: usize = 64;

/// The signaling side of a welcomed session.
#[derive(Debug)]
pub(crate) struct Welcomed {
    pub(crate) heartbeat: Duration,
    pub(crate) next_ping_at: Instant,
    pub(crate) last_heard_at: Instant,
    /// Keys and the UDP endpoint waiting for its name to resolve.
    pub(crate) pending_udp: Option<PendingUdp>,
}

/// A welcome whose UDP host is still being looked up.
#[derive(Debug)]
pub(crate) struct PendingUdp {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) keys: SessionKeys,
    pub(crate) key_id: u8,
}

/// Everything the network thread owns.
#[derive(Debug)]
pub(crate) struct Driver {
    pub(crate) poll: Poll,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) node_id: String,
    pub(crate) token: String,
    pub(crate) channel_ids: Vec<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) link: Link,
    pub(crate) resolver: Resolver,
    pub(crate) backoff: Backoff,
    /// When the next attempt starts, while the link is down.
    pub(crate) retry_at: Option<Instant>,
    /// When the attempt under way must have been welcomed.
    pub(crate) attempt_deadline: Option<Instant>,
    pub(crate) welcomed: Option<Welcomed>,
    pub(crate) media: Media,
    pub(crate) events: EventSink,
    pub(crate) counters: Arc<NetCounters>,
    pub(crate) epoch: Instant,
    /// Why the link must go down, noticed mid-turn; acted on at the end
    /// of the step, so no handler runs on a half-torn-down session.
    pub(crate) broken: Option<String>,
    /// A budget ran out: poll again without waiting.
    pub(crate) busy: bool,
    pub(crate) incoming: Vec<Incoming>,
    pub(crate) effects: Vec<Effect>,
}

impl Driver {
    /// Runs until the stop flag is set, then sends what the rings still
    /// hold (the end-of-transmission of a talk-spurt cut short by the
    /// stop) and closes the WebSocket.
    pub(crate) fn run(mut self, waker: Arc<Waker>) {
        // Held so that the waker's registration lives as long as the loop.
        let _waker = waker;
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        self.retry_at = Some(Instant::now());
        while !self.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            let timeout = if self.busy {
                Duration::ZERO
            } else {
                self.next_deadline()
                    .map_or(IDLE_MAX, |at| at.saturating_duration_since(now))
                    .min(IDLE_MAX)
            };
            if let Err(error) = self.poll.poll(&mut events, Some(timeout)) {
                if error.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("network loop: polling failed: {error}");
                    // Not expected to persist; do not spin if it does.
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            // Readiness says little here: every turn tries every socket
            // until it would block.
            self.turn(Instant::now());
        }
        self.turn(Instant::now());
        self.link.shut(self.poll.registry());
        log::info!("network loop stopped");
    }

    /// One turn of the loop; see the module docs.
    pub(crate) fn turn(&mut self, now: Instant) {
        self.busy = false;
        self.signaling(now);
        self.check_broken(now);
        if self.media.receive(now) {
            self.busy = true;
        }
        self.media.send_captured(now);
        self.media.tick(now);
        self.timers(now);
        self.apply_effects();
        if let Err(error) = self.link.flush() {
            self.broken.get_or_insert(error.to_string());
        }
        self.check_broken(now);
    }

    fn signaling(&mut self, now: Instant) {
        if self.link.is_down() {
            match self.retry_at {
                Some(at) if now >= at => {
                    self.retry_at = None;
                    self.attempt_deadline = Some(now + self.connect_timeout);
                    self.link.start();
                }
                _ => return,
            }
        }
        if !self.link.is_open() {
            match self.link.advance(self.poll.registry(), &mut self.resolver) {
                Ok(true) => self.connected(),
                Ok(false) => {}
                Err(error) => {
                    self.broken = Some(error.to_string());
                    return;
                }
            }
        }
        if self.link.is_open() {
            let mut incoming = std::mem::take(&mut self.incoming);
            let read = self.link.read(READ_BUDGET, &mut incoming);
            // What arrived before a failure (an `error` before the close)
            // is handled first.
            for frame in incoming.drain(..) {
                if self.broken.is_some() {
                    break;
                }
                self.on_frame(now, frame);
            }
            self.incoming = incoming;
            match read {
                Ok(more) => self.busy |= more,
                Err(error) => {
                    self.broken.get_or_insert(error.to_string());
                }
            }
        }
        self.resolve_udp(now);
    }

    fn connected(&mut self) {
        log::info!("signaling connected to {}", self.link.url());
        self.events.emit(NetEvent::Connected {
            url: self.link.url().to_owned(),
        });
        let node_id = self.node_id.clone();
        let token = self.token.clone();
        let hello = ToRelay::Hello {
            node_id: echostream_core::wire::signal::NodeId::new(&node_id)
                .expect("node_id checked in NetLoop::new"),
            token: echostream_core::wire::signal::Token::new(&token)
                .expect("token checked in NetLoop::new"),
            version: echostream_core::wire::signal::PROTOCOL_VERSION,
        };
        self.send(&hello);
    }

    /// Starts the media session once the welcome's UDP host has an address.
    pub(crate) fn resolve_udp(&mut self, now: Instant) {
        let Some(welcomed) = &mut self.welcomed else {
            return;
        };
        let Some(pending) = &welcomed.pending_udp else {
            return;
        };
        let relay = match self.resolver.resolve(&pending.host, pending.port) {
            Resolved::Pending => return,
            Resolved::Ready(Err(error)) => {
                self.broken.get_or_insert(format!(
                    "the relay's UDP host {} did not resolve: {error}",
                    pending.host
                ));
                return;
            }
            Resolved::Ready(Ok(addrs)) => addrs[0],
        };
        let pending = welcomed.pending_udp.take().expect("checked above");
        let heartbeat = welcomed.heartbeat;
        let registry = self.poll.registry();
        match self
            .media
            .begin_session(registry, now, relay, pending.keys, heartbeat)
        {
            Ok(local) => {
                log::info!(
                    "welcomed by the relay: audio to {relay} from {local}, heartbeat every {} ms, key {}",
                    heartbeat.as_millis(),
                    pending.key_id
                );
                self.events.emit(NetEvent::Welcomed {
                    relay_udp: relay,
                    local_udp: local,
                    heartbeat,
                    key_id: pending.key_id,
                });
                for i in 0..self.channel_ids.len() {
                    let id = self.channel_ids[i].clone();
                    let channel_id =
                        ChannelId::new(&id).expect("channel ids checked in NetLoop::new");
                    self.send(&ToRelay::Register { channel_id });
                }
            }
            Err(error) => {
                self.broken
                    .get_or_insert(format!("cannot open a UDP socket for {relay}: {error}"));
            }
        }
    }

    fn timers(&mut self, now: Instant) {
        if let Some(deadline) = self.attempt_deadline
            && now >= deadline
            && self.welcomed.is_none()
        {
            let stage = if self.link.is_open() {
                "waiting for the welcome"
            } else {
                self.link.stage()
            };
            self.broken.get_or_insert(format!(
                "no welcome within {} ms (still {stage})",
                self.connect_timeout.as_millis()
            ));
            return;
        }
        let Some(welcomed) = &mut self.welcomed else {
            return;
        };
        let silence = signal_silence_max(welcomed.heartbeat);
        let silent_for = now.saturating_duration_since(welcomed.last_heard_at);
        if silent_for > silence {
            self.broken.get_or_insert(format!(
                "the relay sent nothing on signaling for {} ms",
                silent_for.as_millis()
            ));
            return;
        }
        if now >= welcomed.next_ping_at {
            welcomed.next_ping_at = (welcomed.next_ping_at + welcomed.heartbeat).max(now);
            let t = self.micros(now);
            self.send(&ToRelay::Ping { t });
        }
    }

    fn apply_effects(&mut self) {
        let mut effects = std::mem::take(&mut self.effects);
        self.media.swap_effects(&mut effects);
        for effect in effects.drain(..) {
            match effect {
                Effect::Transmit { channel, active } => {
                    let id = self.channel_ids[channel].clone();
                    let channel_id =
                        ChannelId::new(&id).expect("channel ids checked in NetLoop::new");
                    self.send(&ToRelay::Transmit { channel_id, active });
                }
                Effect::Event(event) => self.events.emit(event),
                Effect::Reconnect(reason) => {
                    self.broken.get_or_insert(reason);
                }
            }
        }
        self.effects = effects;
    }

    /// Sends a signaling message if the WebSocket is open; a full write
    /// buffer drops and counts it.
    pub(crate) fn send(&mut self, message: &ToRelay<'_>) {
        if !self.link.is_open() || self.broken.is_some() {
            return;
        }
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let len = message
            .emit(&mut buf)
            .expect("a MAX_MESSAGE_LEN buffer holds any message");
        let text = std::str::from_utf8(&buf[..len])
            .expect("emit writes JSON, which is UTF-8")
            .to_owned();
        match self.link.send(text) {
            Ok(true) => NetCounters::bump(&self.counters.signal_out),
            Ok(false) => {
                NetCounters::bump(&self.counters.drop_signal_full);
                log::debug!(
                    "signaling write buffer full; {} dropped",
                    message.type_name()
                );
            }
            Err(error) => {
                self.broken.get_or_insert(error.to_string());
            }
        }
    }

    fn check_broken(&mut self, now: Instant) {
        if let Some(reason) = self.broken.take() {
            self.fail(now, reason);
        }
    }

    /// Takes the link down and schedules the next attempt.
    fn fail(&mut self, now: Instant, reason: String) {
        self.link.shut(self.poll.registry());
        self.media.end_session();
        self.welcomed = None;
        self.attempt_deadline = None;
        let delay = self.backoff.next_delay();
        self.retry_at = Some(now + delay);
        NetCounters::bump(&self.counters.reconnects);
        log::warn!(
            "relay link to {} is down: {reason}; reconnecting in {} ms",
            self.link.url(),
            delay.as_millis()
        );
        self.events.emit(NetEvent::Disconnected {
            reason,
            retry_in: delay,
        });
    }

    fn next_deadline(&self) -> Option<Instant> {
        let retry = self.retry_at.filter(|_| self.link.is_down());
        let welcomed = self.welcomed.as_ref().map(|w| {
            w.next_ping_at
                .min(w.last_heard_at + signal_silence_max(w.heartbeat))
        });
        [
            retry,
            self.attempt_deadline,
            welcomed,
            self.media.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn micros(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_micros() as u64
    }
}
