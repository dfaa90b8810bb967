//! Events to the MQTT broker: the outbox's `mqtt` consumer feeding the
//! link ([`crate::mqtt::MqttLink`]).
//!
//! Each event is published (QoS 1) under its outbox sequence number, at
//! most [`PUBLISH_WINDOW`] at once, to its topic
//! ([`Topics::event`](crate::mqtt::Topics::event)), and leaves the outbox
//! only on its PUBACK. After every (re)connect the consumer rewinds to its
//! first unacknowledged event and publishes from there: what was in
//! flight when the connection broke is published again (at least once;
//! `event_id` tells copies apart). Order is kept: events go out in outbox
//! order, which is the order they happened.

use std::collections::BTreeSet;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use super::{Consumer, Stop};
use crate::mqtt::{LinkError, LinkEvent, MqttLink, PUBLISH_WINDOW, Topics};
use crate::outbox::{Entry, Seq};

/// How long the loop waits for link events or new entries at a time.
const TICK: Duration = Duration::from_millis(200);

/// The `mqtt` delivery loop: until `stop`.
pub(super) fn run(
    link: &MqttLink,
    events: &Receiver<LinkEvent>,
    topics: &Topics,
    consumer: &Consumer,
    stop: &Stop,
) {
    let mut connected = false;
    let mut in_flight: BTreeSet<u64> = BTreeSet::new();
    while !stop.is_set() {
        let room = PUBLISH_WINDOW.saturating_sub(in_flight.len());
        if connected && room > 0 {
            // New entries wake this at once; link events wait at most a
            // tick (acks only move the cursor on).
            match consumer.read(room, TICK) {
                Ok(entries) => {
                    for entry in entries {
                        match publish(link, topics, &entry) {
                            Ok(()) => {
                                in_flight.insert(entry.seq.0);
                            }
                            Err(Unsent::Never) => consumer.ack(entry.seq),
                            Err(Unsent::NotNow) => {
                                // Lost with the connection: read again
                                // after the next `Connected`.
                                connected = false;
                                break;
                            }
                        }
                    }
                }
                Err(Stopped) => return,
            }
            while let Ok(event) = events.try_recv() {
                handle(event, &mut connected, &mut in_flight, consumer);
            }
        } else {
            match events.recv_timeout(TICK) {
                Ok(event) => handle(event, &mut connected, &mut in_flight, consumer),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

fn handle(
    event: LinkEvent,
    connected: &mut bool,
    in_flight: &mut BTreeSet<u64>,
    consumer: &Consumer,
) {
    match event {
        LinkEvent::Connected => {
            *connected = true;
            in_flight.clear();
            consumer.rewind();
        }
        LinkEvent::Acked(id) => {
            in_flight.remove(&id);
            consumer.ack(Seq(id));
        }
        LinkEvent::Disconnected { unacked, .. } => {
            *connected = false;
            in_flight.clear();
            if !unacked.is_empty() {
                log::info!(
                    "mqtt: {} event(s) in flight when the connection broke are published \
                     again after it is back",
                    unacked.len()
                );
            }
        }
        LinkEvent::ConnectFailed { .. } => *connected = false,
    }
}

/// The consumer was stopped.
pub(crate) struct Stopped;

/// Why an entry was not handed to the link.
enum Unsent {
    /// It can never be published (not an event, a topic the broker would
    /// refuse, too large): dropped, logged.
    Never,
    /// The link is not connected: try again later.
    NotNow,
}

fn publish(link: &MqttLink, topics: &Topics, entry: &Entry) -> Result<(), Unsent> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: String,
        channel: Option<String>,
    }
    let Ok(head) = serde_json::from_slice::<Head>(&entry.payload) else {
        log::error!("mqtt: outbox entry {} is not an event; dropped", entry.seq);
        return Err(Unsent::Never);
    };
    let topic = match topics.event(&head.kind, head.channel.as_deref()) {
        Ok(topic) => topic,
        Err(error) => {
            log::error!(
                "mqtt: {} event {} has no topic ({error}); dropped",
                head.kind,
                entry.seq
            );
            return Err(Unsent::Never);
        }
    };
    match link.publish(entry.seq.0, &topic, entry.payload.clone(), false) {
        // Already in flight under this id: it comes back acknowledged.
        Ok(()) | Err(LinkError::Duplicate(_)) => Ok(()),
        Err(LinkError::NotConnected | LinkError::WindowFull(_) | LinkError::Stopped) => {
            Err(Unsent::NotNow)
        }
        Err(error) => {
            log::error!("mqtt: {} event {}: {error}; dropped", head.kind, entry.seq);
            Err(Unsent::Never)
        }
    }
}
