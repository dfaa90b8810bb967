//! [`MqttLink`]: one connection to the broker, kept up by a thread of its
//! own, that publishes with QoS 1 and says which of the caller's ids the
//! broker has acknowledged.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rumqttc::{Client, LastWill, MqttOptions, NetworkOptions, QoS, TlsConfiguration, Transport};

use super::error::{Failure, LinkError, StartError};
use super::ha::Discovery;
use super::session::Session;
use super::tls;
use super::topic::{STATUS_OFFLINE, Topics, is_publish_topic};
use super::track::{Own, Slot, Tracker};
use crate::config::{Config, Mqtt};

/// Caller publishes that may await their PUBACK at once; one more is
/// refused with [`LinkError::WindowFull`].
pub const PUBLISH_WINDOW: usize = 64;
/// Room kept in rumqttc's request queue for the link's own requests
/// (status, discovery, the birth subscription, DISCONNECT).
const OWN_REQUESTS_MAX: usize = 8;
/// rumqttc's request queue: every publish the link accepts fits, so a
/// `try_publish` never finds it full.
pub(super) const REQUEST_QUEUE_LEN: usize = PUBLISH_WINDOW + OWN_REQUESTS_MAX;
/// rumqttc's `inflight` (QoS 1 publishes written and not acknowledged, and
/// the packet ids it counts through). At least the request queue, so its
/// flow control never holds back what the link accepted.
pub(super) const INFLIGHT_MAX: u16 = 96;
/// Link events not yet taken by the caller. When full the link thread
/// waits (and stops reading from the broker) until the caller drains.
pub const EVENT_QUEUE_LEN: usize = 256;
/// Longest payload [`MqttLink::publish`] takes. Events are well under 2 KiB;
/// the Home Assistant discovery message of the largest config the
/// validation lets through (8 channels of 32 definitions, 48-character
/// names made of characters that need escaping) is about 500 KiB.
pub const PAYLOAD_LEN_MAX: usize = 1024 * 1024;
/// Longest packet read from the broker: acknowledgements and Home
/// Assistant's `online`.
pub(super) const INCOMING_PACKET_MAX: usize = 64 * 1024;
/// Give up one connection attempt (TCP, TLS, CONNACK) after this.
pub const CONNECT_TIMEOUT_S: u64 = 10;
/// [`MqttLink::stop`] waits this long for the thread.
pub const STOP_WAIT_MS: u64 = 1_000;

const _: () = assert!(INFLIGHT_MAX as usize >= REQUEST_QUEUE_LEN);
const _: () = assert!(EVENT_QUEUE_LEN >= PUBLISH_WINDOW);

/// What the link tells its caller, in order, through the receiver
/// [`MqttLink::start`] returns. Drain it promptly: while it is full the
/// link thread waits and reads nothing from the broker.
///
/// The contract: until the link is stopped, every id that
/// [`MqttLink::publish`] accepted comes back exactly once, either in
/// [`LinkEvent::Acked`] (the broker has it) or in the `unacked` list of a
/// [`LinkEvent::Disconnected`] (it may or may not have reached the broker,
/// and must be published again; subscribers may then see it twice, which
/// the `event_id` in every payload lets them tell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A session with the broker is up, and `online` is on its way to the
    /// status topic (after the discovery message, with Home Assistant).
    /// The caller publishes every entry it has not seen acknowledged,
    /// oldest first, within [`PUBLISH_WINDOW`].
    Connected,
    /// The broker acknowledged (PUBACK) the publish with this id. The
    /// caller marks it done (acks the outbox entry) and may publish the
    /// next one.
    Acked(u64),
    /// The session ended. Every id published and not acknowledged is in
    /// `unacked`: rumqttc 0.25 drops them when it reconnects into a clean
    /// session, so the caller publishes them again after the next
    /// [`LinkEvent::Connected`]. Until then [`MqttLink::publish`] answers
    /// [`LinkError::NotConnected`]. The link reconnects by itself after
    /// `retry_in_ms`.
    Disconnected {
        /// Why.
        failure: Failure,
        /// The ids lost in flight, in no promised order.
        unacked: Vec<u64>,
        /// The pause before the next connection attempt.
        retry_in_ms: u64,
    },
    /// A connection attempt failed (wrong password, broker down, TLS…).
    /// Nothing to do: the link tries again after `retry_in_ms`, longer
    /// each time up to 30 s. The link has logged it.
    ConnectFailed {
        /// Why.
        failure: Failure,
        /// The pause before the next attempt.
        retry_in_ms: u64,
    },
}

/// What a link is built from.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// The config's `mqtt` section.
    pub mqtt: Mqtt,
    /// The config's `node_id`.
    pub node_id: String,
    /// The Home Assistant discovery message, published retained on every
    /// connect and whenever Home Assistant announces itself.
    pub discovery: Option<Discovery>,
}

impl LinkSettings {
    /// Settings for `mqtt` and `node_id`, without Home Assistant discovery.
    pub fn new(mqtt: &Mqtt, node_id: &str) -> LinkSettings {
        LinkSettings {
            mqtt: mqtt.clone(),
            node_id: node_id.to_owned(),
            discovery: None,
        }
    }

    /// Settings for a node's config: `None` without an `mqtt` section;
    /// with `mqtt.home_assistant`, the discovery message of its channels and
    /// tone definitions.
    pub fn from_config(config: &Config) -> Option<LinkSettings> {
        let mqtt = config.mqtt.as_ref()?;
        let mut settings = LinkSettings::new(mqtt, &config.node_id);
        if mqtt.home_assistant {
            let discovery = Discovery::new(config, &settings.topics());
            if discovery.payload.len() <= PAYLOAD_LEN_MAX {
                settings.discovery = Some(discovery);
            } else {
                log::error!(
                    "mqtt: the Home Assistant discovery message would be {} bytes, over \
                     {PAYLOAD_LEN_MAX}; not sent",
                    discovery.payload.len()
                );
            }
        }
        Some(settings)
    }

    /// The node's topics.
    pub fn topics(&self) -> Topics {
        Topics::new(&self.mqtt.prefix, &self.node_id)
    }

    /// The client id: `mqtt.client_id`, or `echostream-{node_id}`.
    pub fn client_id(&self) -> String {
        self.mqtt
            .client_id
            .clone()
            .unwrap_or_else(|| format!("echostream-{}", self.node_id))
    }

    fn options(&self) -> Result<MqttOptions, StartError> {
        let mqtt = &self.mqtt;
        let mut options = MqttOptions::new(self.client_id(), mqtt.host.clone(), mqtt.port());
        // Config validation keeps keepalive_s in 1..=65535; rumqttc wants
        // whole seconds and panics under one.
        let keepalive_s = u64::from(mqtt.keepalive_s.clamp(1, 65_535));
        options
            .set_keep_alive(Duration::from_secs(keepalive_s))
            .set_clean_session(true)
            .set_inflight(INFLIGHT_MAX)
            .set_request_channel_capacity(REQUEST_QUEUE_LEN)
            .set_max_packet_size(INCOMING_PACKET_MAX, PAYLOAD_LEN_MAX + 2 * 1024)
            .set_last_will(LastWill::new(
                self.topics().status(),
                STATUS_OFFLINE,
                QoS::AtLeastOnce,
                true,
            ));
        if let Some(username) = &mqtt.username {
            options.set_credentials(username.clone(), mqtt.password.clone().unwrap_or_default());
        }
        if mqtt.tls {
            let config = tls::client_config(mqtt.ca_file.as_deref())?;
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
        }
        Ok(options)
    }
}

/// Counts since the link started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Connection attempts, successful or not.
    pub attempts: u64,
    /// Sessions established (CONNACK accepted).
    pub sessions: u64,
    /// Caller ids acknowledged.
    pub acked: u64,
    /// Times the event queue was full and the link thread had to wait.
    pub event_waits: u64,
    /// Times the publish table fell out of step with rumqttc and the
    /// connection was dropped to start both over (a bug if ever non-zero).
    pub resyncs: u64,
}

/// One MQTT connection with its thread.
///
/// Build it with [`MqttLink::start`]; publish with [`MqttLink::publish`]
/// after [`LinkEvent::Connected`]; follow [`LinkEvent`]s; stop it with
/// [`MqttLink::stop`] or by dropping it. Topics are the caller's (see
/// [`super::Topics`]); the link itself publishes only the status topic and
/// the Home Assistant discovery message.
#[derive(Debug)]
pub struct MqttLink {
    shared: Arc<Shared>,
    status_topic: String,
    thread: Option<JoinHandle<()>>,
}

/// What the caller's thread and the link thread share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) book: Mutex<Book>,
    pub(super) stop: AtomicBool,
    pub(super) counters: Counters,
}

/// The publish path. One lock covers handing a request to rumqttc and
/// recording it, so the table's FIFO is in rumqttc's order.
pub(super) struct Book {
    pub(super) client: Client,
    pub(super) tracker: Tracker,
    /// A session is up and publishes are taken.
    pub(super) connected: bool,
    pub(super) stopped: bool,
}

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book")
            .field("tracker", &self.tracker)
            .field("connected", &self.connected)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) attempts: AtomicU64,
    pub(super) sessions: AtomicU64,
    pub(super) acked: AtomicU64,
    pub(super) event_waits: AtomicU64,
    pub(super) resyncs: AtomicU64,
}

impl Shared {
    pub(super) fn book(&self) -> MutexGuard<'_, Book> {
        // A panic while holding the lock leaves the table as it was between
        // two whole updates; the link carries on with it.
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Book {
    /// Hands a QoS 1 publish to rumqttc and records whose it is.
    ///
    /// # Errors
    /// The table or rumqttc's queue is full (the sizes make that a bug).
    pub(super) fn request(
        &mut self,
        slot: Slot,
        topic: &str,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<(), Slot> {
        self.tracker.queue(slot)?;
        if self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .is_err()
        {
            self.tracker.unqueue_last();
            return Err(slot);
        }
        Ok(())
    }
}

impl MqttLink {
    /// Starts the link thread, which connects at once and keeps
    /// reconnecting (see [`LinkEvent`]). Returns the link and the receiver
    /// of its events.
    ///
    /// # Errors
    /// [`StartError`]: TLS cannot be set up, or no thread.
    pub fn start(settings: LinkSettings) -> Result<(MqttLink, Receiver<LinkEvent>), StartError> {
        let options = settings.options()?;
        let (client, mut connection) = rumqttc::Client::new(options, REQUEST_QUEUE_LEN);
        let mut network = NetworkOptions::new();
        network.set_connection_timeout(CONNECT_TIMEOUT_S);
        connection.eventloop.set_network_options(network);

        let shared = Arc::new(Shared {
            book: Mutex::new(Book {
                client,
                tracker: Tracker::new(REQUEST_QUEUE_LEN, INFLIGHT_MAX),
                connected: false,
                stopped: false,
            }),
            stop: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let (events, receiver) = mpsc::sync_channel(EVENT_QUEUE_LEN);
        let status_topic = settings.topics().status();
        let session = Session::new(&settings, Arc::clone(&shared), connection, events);
        let thread = thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || session.run())
            .map_err(StartError::Thread)?;
        let link = MqttLink {
            shared,
            status_topic,
            thread: Some(thread),
        };
        Ok((link, receiver))
    }

    /// Publishes `payload` to `topic` with QoS 1, `retain` as given. The
    /// id comes back in [`LinkEvent::Acked`] once the broker has it, or in
    /// [`LinkEvent::Disconnected`] if the connection goes first. Never
    /// blocks on the network.
    ///
    /// # Errors
    /// [`LinkError`]: not connected, window full, id already in flight,
    /// payload too large, bad topic, or stopped. Nothing was sent.
    pub fn publish(
        &self,
        id: u64,
        topic: &str,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<(), LinkError> {
        if payload.len() > PAYLOAD_LEN_MAX {
            return Err(LinkError::TooLarge(payload.len()));
        }
        if !is_publish_topic(topic) {
            return Err(LinkError::BadTopic(topic.to_owned()));
        }
        let mut book = self.shared.book();
        if book.stopped {
            return Err(LinkError::Stopped);
        }
        if !book.connected {
            return Err(LinkError::NotConnected);
        }
        let callers = book.tracker.callers();
        if callers >= PUBLISH_WINDOW {
            return Err(LinkError::WindowFull(callers));
        }
        let slot = Slot::Caller(id);
        if book.tracker.contains(slot) {
            return Err(LinkError::Duplicate(id));
        }
        // With the window checked, the table and rumqttc's queue have room.
        book.request(slot, topic, payload, retain)
            .map_err(|_| LinkError::NotConnected)
    }

    /// Whether a session is up (publishes are taken).
    pub fn is_connected(&self) -> bool {
        self.shared.book().connected
    }

    /// Counts since the start.
    pub fn counters(&self) -> LinkCounters {
        let c = &self.shared.counters;
        LinkCounters {
            attempts: c.attempts.load(Ordering::Relaxed),
            sessions: c.sessions.load(Ordering::Relaxed),
            acked: c.acked.load(Ordering::Relaxed),
            event_waits: c.event_waits.load(Ordering::Relaxed),
            resyncs: c.resyncs.load(Ordering::Relaxed),
        }
    }

    /// Stops the link: publishes `offline` (retained) to the status topic,
    /// sends DISCONNECT and waits up to [`STOP_WAIT_MS`] for the thread. A
    /// thread still inside a connection attempt then is left to end by
    /// itself (within [`CONNECT_TIMEOUT_S`]); the broker publishes the
    /// `offline` last will for it. Ids not yet acknowledged stay so: no
    /// event follows a stop. Idempotent; also run on drop.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Release);
        {
            let mut book = self.shared.book();
            if book.connected {
                // The broker sends the last will only for a lost connection:
                // a clean stop says `offline` itself, before DISCONNECT.
                // Without it, leave without DISCONNECT: the last will says it.
                let offline = STATUS_OFFLINE.as_bytes().to_vec();
                let said = book
                    .request(Slot::Own(Own::Status), &self.status_topic, offline, true)
                    .is_ok();
                if !said || book.client.try_disconnect().is_err() {
                    log::warn!("mqtt: stopping without DISCONNECT; the last will says offline");
                }
            }
            book.connected = false;
            book.stopped = true;
        }
        thread.thread().unpark();
        let deadline = Instant::now() + Duration::from_millis(STOP_WAIT_MS);
        while !thread.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            if thread.join().is_err() {
                log::error!("mqtt: the link thread panicked");
            }
        } else {
            log::warn!(
                "mqtt: the link thread is still inside a connection attempt; left to end by itself"
            );
        }
    }
}

impl Drop for MqttLink {
    fn drop(&mut self) {
        self.stop();
    }
}
