//! The link thread: polls rumqttc's blocking connection, follows each
//! publish through [`Tracker`](super::track::Tracker), tells the caller,
//! and paces reconnection.
//!
//! rumqttc's own recovery does not fit an outbox: after an error it moves
//! what was unacknowledged (and what still sat in its request queue) to a
//! `pending` list, which the next CONNACK clears when the session is new;
//! and events it had buffered before the error come out after the next
//! CONNACK. So on every error the thread empties rumqttc completely (its
//! queue, `pending`, its state and buffered events, after taking the
//! PUBACKs among them), reports every id still in the table as lost, and
//! waits out the backoff. The lock in [`Book`] keeps the caller from
//! handing over a publish in between.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread;
use std::time::{Duration, Instant};

use rumqttc::{Connection, Event, MqttState, Outgoing, Packet, QoS, SubscribeReasonCode};

use super::backoff::Backoff;
use super::error::Failure;
use super::ha::{BIRTH_PAYLOAD, BIRTH_TOPIC, Discovery};
use super::link::{Book, INFLIGHT_MAX, LinkEvent, LinkSettings, STOP_WAIT_MS, Shared};
use super::topic::STATUS_ONLINE;
use super::track::{Own, Slot};

/// How often a link thread waiting on a full event queue looks again.
const EVENT_RETRY_MS: u64 = 5;

/// The link thread's state.
pub(super) struct Session {
    shared: Arc<Shared>,
    connection: Connection,
    events: SyncSender<LinkEvent>,
    backoff: Backoff,
    /// When the current session started; `None` while disconnected.
    since: Option<Instant>,
    /// When a stop was first seen.
    stopping_since: Option<Instant>,
    /// `host:port`, for the log.
    broker: String,
    status_topic: String,
    discovery: Option<Discovery>,
    /// The tracker's mismatch count already acted on.
    mismatches_seen: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("broker", &self.broker)
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(super) fn new(
        settings: &LinkSettings,
        shared: Arc<Shared>,
        connection: Connection,
        events: SyncSender<LinkEvent>,
    ) -> Session {
        Session {
            shared,
            connection,
            events,
            backoff: Backoff::new(),
            since: None,
            stopping_since: None,
            broker: format!("{}:{}", settings.mqtt.host, settings.mqtt.port()),
            status_topic: settings.topics().status(),
            discovery: settings.discovery.clone(),
            mismatches_seen: 0,
        }
    }

    /// Runs until stopped: connected, until DISCONNECT is written (or
    /// [`STOP_WAIT_MS`] passed); otherwise at once.
    pub(super) fn run(mut self) {
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                let since = *self.stopping_since.get_or_insert_with(Instant::now);
                if self.since.is_none() || since.elapsed() >= Duration::from_millis(STOP_WAIT_MS) {
                    break;
                }
            }
            if self.since.is_none() {
                self.shared
                    .counters
                    .attempts
                    .fetch_add(1, Ordering::Relaxed);
            }
            match self.connection.recv() {
                // Every request sender is gone: nothing more can be asked.
                Err(_) => break,
                Ok(Ok(event)) => {
                    if self.on_event(event) {
                        break;
                    }
                }
                Ok(Err(error)) => {
                    let pause_ms = self.on_failure(Failure::from(&error));
                    self.pause(pause_ms);
                }
            }
        }
        let mut book = self.shared.book();
        book.connected = false;
        book.stopped = true;
        book.tracker.clear();
    }

    /// One event from rumqttc. Returns whether the thread should end.
    fn on_event(&mut self, event: Event) -> bool {
        let mut acked = None;
        match event {
            Event::Incoming(Packet::ConnAck(_)) => return self.on_connected(),
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(Slot::Caller(id)) = self.shared.book().tracker.acked(ack.pkid) {
                    acked = Some(id);
                }
            }
            // A retained birth message is an old one replayed on subscribe;
            // discovery went out with this connect already.
            Event::Incoming(Packet::Publish(publish))
                if publish.topic == BIRTH_TOPIC
                    && publish.payload.as_ref() == BIRTH_PAYLOAD.as_bytes()
                    && !publish.retain =>
            {
                self.publish_discovery(&mut self.shared.book());
            }
            Event::Incoming(Packet::SubAck(suback))
                if suback.return_codes.contains(&SubscribeReasonCode::Failure) =>
            {
                log::warn!(
                    "mqtt: the broker refused the subscription to {BIRTH_TOPIC}; discovery \
                     is sent on connect only (check the broker's access rules)"
                );
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => self.shared.book().tracker.written(pkid),
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => self.shared.book().tracker.held(pkid),
            Event::Outgoing(Outgoing::Disconnect) => return true,
            _ => {}
        }
        if let Some(id) = acked {
            self.shared.counters.acked.fetch_add(1, Ordering::Relaxed);
            self.send(LinkEvent::Acked(id));
        }
        self.check_step();
        false
    }

    /// CONNACK accepted. Returns whether the thread should end (a stop
    /// came during the attempt: leave without DISCONNECT, so the broker
    /// publishes the `offline` last will).
    fn on_connected(&mut self) -> bool {
        if self.shared.stop.load(Ordering::Acquire) {
            return true;
        }
        self.since = Some(Instant::now());
        self.shared
            .counters
            .sessions
            .fetch_add(1, Ordering::Relaxed);
        {
            let mut book = self.shared.book();
            book.connected = true;
            // Home Assistant wants the config before availability and state.
            self.publish_discovery(&mut book);
            let online = STATUS_ONLINE.as_bytes().to_vec();
            if book
                .request(Slot::Own(Own::Status), &self.status_topic, online, true)
                .is_err()
            {
                log::error!("mqtt: no room in the request queue for `online`");
            }
            if self.discovery.is_some()
                && book
                    .client
                    .try_subscribe(BIRTH_TOPIC, QoS::AtLeastOnce)
                    .is_err()
            {
                log::error!("mqtt: no room in the request queue to subscribe to {BIRTH_TOPIC}");
            }
        }
        log::info!("mqtt: connected to {}", self.broker);
        self.send(LinkEvent::Connected);
        false
    }

    /// Queues the discovery message, unless one is already waiting.
    fn publish_discovery(&self, book: &mut Book) {
        let Some(discovery) = &self.discovery else {
            return;
        };
        let slot = Slot::Own(Own::Discovery);
        if !book.connected || book.tracker.is_queued(slot) {
            return;
        }
        if book
            .request(slot, &discovery.topic, discovery.payload.clone(), true)
            .is_err()
        {
            log::error!("mqtt: no room in the request queue for the discovery message");
        }
    }

    /// A failed attempt or a lost session: empties rumqttc and the table,
    /// tells the caller, and returns the pause before the next attempt.
    fn on_failure(&mut self, failure: Failure) -> u64 {
        let mut acked = Vec::new();
        let unacked = {
            let mut book = self.shared.book();
            book.connected = false;
            let eventloop = &mut self.connection.eventloop;
            // Drops the socket; moves rumqttc's queue into `pending`.
            eventloop.clean();
            for event in eventloop.state.events.drain(..) {
                match event {
                    Event::Incoming(Packet::PubAck(ack)) => {
                        if let Some(Slot::Caller(id)) = book.tracker.acked(ack.pkid) {
                            acked.push(id);
                        }
                    }
                    Event::Outgoing(Outgoing::Publish(pkid)) => book.tracker.written(pkid),
                    Event::Outgoing(Outgoing::AwaitAck(pkid)) => book.tracker.held(pkid),
                    _ => {}
                }
            }
            eventloop.pending.clear();
            eventloop.state = MqttState::new(INFLIGHT_MAX, false);
            self.mismatches_seen = book.tracker.mismatch_count();
            book.tracker.clear()
        };
        let counters = &self.shared.counters;
        counters
            .acked
            .fetch_add(acked.len() as u64, Ordering::Relaxed);
        for id in acked {
            self.send(LinkEvent::Acked(id));
        }
        let session = self.since.take();
        if let Some(since) = session {
            let session_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.backoff.session_ended(session_ms);
        }
        let retry_in_ms = self.backoff.fail();
        if self.shared.stop.load(Ordering::Acquire) {
            return 0;
        }
        let broker = &self.broker;
        if session.is_some() {
            log::warn!(
                "mqtt: connection to {broker} lost: {failure}; {} publishes unacknowledged; \
                 reconnecting in {retry_in_ms} ms",
                unacked.len()
            );
            self.send(LinkEvent::Disconnected {
                failure,
                unacked,
                retry_in_ms,
            });
        } else {
            log::warn!("mqtt: cannot connect to {broker}: {failure}; retrying in {retry_in_ms} ms");
            self.send(LinkEvent::ConnectFailed {
                failure,
                retry_in_ms,
            });
        }
        retry_in_ms
    }

    /// If an event matched nothing, the table no longer follows rumqttc:
    /// drop the connection so that both start over, empty.
    fn check_step(&mut self) {
        let (count, detail) = {
            let book = self.shared.book();
            (book.tracker.mismatch_count(), book.tracker.mismatches())
        };
        if count == self.mismatches_seen {
            return;
        }
        log::error!("mqtt: publish tracking out of step ({detail:?}); reconnecting to start over");
        self.shared.counters.resyncs.fetch_add(1, Ordering::Relaxed);
        let failure = Failure::Protocol("publish tracking out of step with the client".into());
        let pause_ms = self.on_failure(failure);
        self.pause(pause_ms);
    }

    /// Sleeps `pause_ms`, or less if stopped.
    fn pause(&self, pause_ms: u64) {
        let deadline = Instant::now() + Duration::from_millis(pause_ms);
        while !self.shared.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            thread::park_timeout(deadline - now);
        }
    }

    /// Hands an event to the caller, waiting while the queue is full (the
    /// caller is behind); gives up on a stop or a caller gone.
    fn send(&self, mut event: LinkEvent) {
        loop {
            match self.events.try_send(event) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    if self.shared.stop.load(Ordering::Acquire) {
                        return;
                    }
                    self.shared
                        .counters
                        .event_waits
                        .fetch_add(1, Ordering::Relaxed);
                    event = back;
                    thread::sleep(Duration::from_millis(EVENT_RETRY_MS));
                }
            }
        }
    }
}
