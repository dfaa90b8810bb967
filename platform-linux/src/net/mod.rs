//! The edge node's network loop (DESIGN.md "Threads on Linux", "Wire
//! format v1", "Signaling v1"): one thread, one mio poll, the signaling
//! WebSocket to the relay and the encrypted UDP audio path.
//!
//! ```text
//! capture[ch] ─► rtrb<EncodedFrame> ─► seal ─► UDP ─► relay ─► UDP ─► open ─► rtrb<EncodedFrame> ─► playback[ch]
//!            (Waker::wake)                   WebSocket: hello, register, transmit, ping / welcome, rekey, …
//! ```
//!
//! Every decision is the node engine's ([`echostream_core::node`]): when
//! to connect and give up, what to say on signaling, when a channel talks,
//! what to seal and what to accept. This module is its driver (`driver.rs`):
//! the poll, the sockets, TLS, WebSocket framing and name lookups.
//!
//! - [`NetLoop::new`] checks the settings and makes everything: the poll,
//!   the waker, the TLS settings (for `wss://`), the counters and the event
//!   queue. [`NetLoop::spawn`] starts the `net` thread.
//!
//! - The capture threads push every [`EncodedFrame`] into each channel's
//!   `outgoing` ring, marked with what the channel's own sources say
//!   (VOX, "always"), and call [`mio::Waker::wake`] on [`NetLoop::waker`]
//!   while the channel is active; the engine keeps the pre-roll and sends
//!   while the channel's gate is open. Frames are taken from the ring
//!   whatever the link's state, so the capture side never waits.
//! - Frames the relay sends for a channel are pushed into its `incoming`
//!   ring with media sequence numbers; a full ring drops and counts.
//! - The engine reconnects on any failure with exponential backoff and
//!   full jitter, and re-registers every channel under the new key.
//! - What happens is counted in [`NetCounters`] and reported as
//!   [`NetEvent`]s through [`NetHandle::events`].
//!
//! Everything is bounded: frames per turn, datagrams per turn, signaling
//! frames per turn, the WebSocket and TLS write buffers, the event queue.
//! The loop never blocks on the relay; name lookups run on a helper thread.

mod counters;
mod driver;
mod event;
mod link;
mod resolve;
mod transport;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use echostream_core::node::{Node, NodeConfig, NodeConfigError, OUTPUT_BUF_LEN, RadioConfig};
use echostream_core::record::RecordConfig;
use echostream_core::time::Duration as CoreDuration;
use echostream_core::wire::MAX_DATAGRAM_LEN;
use mio::{Poll, Waker};
use rustls::pki_types::ServerName;
use tungstenite::http::Uri;

use crate::audio::pipeline::EncodedFrame;
use crate::config::RemoteRelay;
use crate::runtime::capture::{Heard, PacketsWanted};
use crate::tone_plan::Named;

pub use counters::{ChannelLive, NetCounters, NetCountersSnapshot, Passthrough};
pub use event::{EVENT_QUEUE_LEN, NetEvent};
pub use link::WS_WRITE_BUFFER_MAX;
pub use transport::TLS_BUFFER_MAX;

use driver::{ChannelRings, Driver};
use link::{Link, Target};

/// How the node reaches its relay.
#[derive(Clone, PartialEq, Eq)]
pub struct NetSettings {
    /// This node's id, sent in `hello`.
    pub node_id: String,
    /// The signaling URL, `ws://host[:port]/path` or `wss://…`.
    pub url: String,
    /// The credential sent in `hello`.
    pub token: String,
    /// A PEM file of the CA that signed the relay's certificate; `None`
    /// trusts the system's roots. Only read for `wss://`.
    pub ca_file: Option<PathBuf>,
    /// How long one attempt may take from the TCP connect to the welcome.
    pub connect_timeout: Duration,
    /// The longest delay between reconnect attempts.
    pub reconnect_max: Duration,
}

impl NetSettings {
    /// The settings for a remote relay from the configuration file.
    pub fn remote(node_id: &str, relay: &RemoteRelay) -> NetSettings {
        NetSettings {
            node_id: node_id.to_owned(),
            url: relay.url.clone(),
            token: relay.token.clone(),
            ca_file: relay.ca_file.clone(),
            connect_timeout: Duration::from_millis(u64::from(relay.connect_timeout_ms)),
            reconnect_max: Duration::from_millis(u64::from(relay.reconnect_max_ms)),
        }
    }
}

impl fmt::Debug for NetSettings {
    // The token is a credential: never logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetSettings")
            .field("node_id", &self.node_id)
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_max", &self.reconnect_max)
            .finish()
    }
}

/// One channel's rings between the audio threads and the network.
#[derive(Debug)]
pub struct NetChannel {
    /// The channel id registered with the relay.
    pub id: String,
    /// Frames the capture side encoded: sealed and sent.
    pub outgoing: rtrb::Consumer<EncodedFrame>,
    /// Frames received for this channel: to the playback side.
    pub incoming: rtrb::Producer<EncodedFrame>,
    /// Frames kept from before the channel opens, sent first.
    pub preroll_frames: usize,
    /// Where the engine's `wants_packets` goes after every turn, for the
    /// capture side (it codes only while it is set or its own gate is
    /// open).
    pub wanted: Arc<PacketsWanted>,
    /// The channel's detections (pages, DTMF digits and sequences), when
    /// it detects.
    pub tones: Option<rtrb::Consumer<Heard>>,
    /// The names of its tone definitions, by definition index.
    pub tone_names: Vec<Named>,
    /// Its device rate.
    pub rate_hz: u32,
    /// How it records after a page (`None`: never).
    pub record: Option<RecordConfig>,
    /// Its radio: COR line, transmitter and their timers (`None`: no radio
    /// control; VOX or "always" opens it, nothing is keyed).
    pub radio: Option<RadioConfig>,
    /// Its transmitter's line, already driven inactive.
    pub ptt: Option<crate::gpio::PttLine>,
    /// Its receiver's COR line.
    pub cor: Option<crate::gpio::CorLine>,
}

impl NetChannel {
    /// What the node engine is told about it.
    pub fn engine(&self) -> EngineChannel<'_> {
        EngineChannel {
            id: &self.id,
            preroll_frames: self.preroll_frames,
            rate_hz: self.rate_hz,
            record: self.record,
            radio: self.radio,
            tone_names: &self.tone_names,
        }
    }
}

/// What the node engine is told about one channel: a [`NetChannel`]
/// without its rings and lines. The simulator's `try` builds the same
/// engine from it.
#[derive(Debug, Clone, Copy)]
pub struct EngineChannel<'a> {
    /// The channel id registered with the relay.
    pub id: &'a str,
    /// Frames kept from before the channel opens.
    pub preroll_frames: usize,
    /// Its device rate.
    pub rate_hz: u32,
    /// How it records after a page (`None`: never).
    pub record: Option<RecordConfig>,
    /// Its radio (`None`: no radio control).
    pub radio: Option<RadioConfig>,
    /// The names of its tone definitions, by definition index.
    pub tone_names: &'a [Named],
}

/// The node engine's config for `channels` (in order) under `settings`,
/// its reconnect jitter following `seed`: their alerts with what each
/// records and passes through, their audio and radios.
///
/// # Errors
/// What the engine refuses: an id or token signaling cannot carry,
/// channels listed twice or too many, a zero time-out, a passthrough the
/// engine cannot route.
pub fn engine_config(
    settings: &NetSettings,
    seed: u64,
    channels: &[EngineChannel<'_>],
) -> Result<NodeConfig, NodeConfigError> {
    let mut config = NodeConfig::new(
        &settings.node_id,
        &settings.token,
        core_duration(settings.connect_timeout),
        core_duration(settings.reconnect_max),
        seed,
    )?;
    let mut indices = Vec::new();
    for channel in channels {
        indices.push(config.add_channel(channel.id, channel.preroll_frames)?);
    }
    for (channel, &index) in channels.iter().zip(&indices) {
        config.set_audio(index, channel.rate_hz, channel.record)?;
        if let Some(radio) = channel.radio {
            config.set_radio(index, radio)?;
        }
        for named in channel.tone_names {
            let target = named
                .passthrough
                .as_deref()
                .and_then(|t| channels.iter().position(|c| c.id == t))
                .map(|t| indices[t]);
            config.add_alert(
                index,
                &named.tone_id,
                &named.alert_type,
                named.record_delay_ms,
                named.record_length_ms,
                target,
            )?;
        }
    }
    Ok(config)
}

/// Where the network thread's page happenings go besides the log.
#[derive(Debug, Default)]
pub struct NetOutputs {
    /// The node's event stream.
    pub journal: Option<crate::events::Events>,
    /// The recorder thread's commands.
    pub recorder: Option<std::sync::mpsc::Sender<crate::runtime::recorder::RecordCommand>>,
}

/// Why the network loop cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The URL is not `ws://` or `wss://` with a host.
    #[error("relay url `{url}`: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The node engine refused the settings (an id or token signaling
    /// cannot carry, channels listed twice or too many, a zero time-out).
    #[error("{0}")]
    Node(#[from] NodeConfigError),
    /// The CA file cannot be used.
    #[error("CA file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `wss://` without a CA file, and the system has no trust roots.
    #[error("no trust roots: the system has none usable; set relay.ca_file")]
    NoTrustRoots,
    /// rustls refused the TLS settings.
    #[error("TLS settings: {0}")]
    Tls(rustls::Error),
    /// The poll, the waker or a thread could not be made.
    #[error("network loop setup: {0}")]
    Io(#[from] io::Error),
}

/// The network loop, made but not running; see the module docs.
#[derive(Debug)]
pub struct NetLoop {
    driver: Driver,
    waker: Arc<Waker>,
    events: mpsc::Receiver<NetEvent>,
}

impl NetLoop {
    /// Checks `settings` and `channels` and makes everything the loop
    /// needs. Nothing is connected yet.
    ///
    /// # Errors
    /// See [`NetError`]: an id, token or URL signaling cannot carry, too
    /// many or repeated channels, an unusable CA file, or no poll.
    pub fn new(settings: NetSettings, channels: Vec<NetChannel>) -> Result<NetLoop, NetError> {
        NetLoop::with_outputs(settings, channels, NetOutputs::default())
    }

    /// Like [`new`](Self::new), with the event stream and the recorder
    /// the engine's pages go to.
    ///
    /// # Errors
    /// As [`new`](Self::new); also a passthrough to a channel not listed.
    pub fn with_outputs(
        settings: NetSettings,
        channels: Vec<NetChannel>,
        outputs: NetOutputs,
    ) -> Result<NetLoop, NetError> {
        let engine: Vec<EngineChannel<'_>> = channels.iter().map(NetChannel::engine).collect();
        let config = engine_config(&settings, jitter_seed(), &engine)?;
        let target = target(&settings)?;

        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), driver::WAKER)?);
        let counters = Arc::new(NetCounters::default());
        let (events, receiver) = event::EventSink::new(Arc::clone(&counters));
        let mut driver = Driver {
            stop: Arc::new(AtomicBool::new(false)),
            engine: Box::new(Node::new(config)),
            link: Link::new(target, driver::SIGNAL),
            resolver: resolve::Resolver::new(Arc::clone(&waker)),
            udp: None,
            media_host: None,
            channels: channels
                .into_iter()
                .map(|c| ChannelRings {
                    id: c.id,
                    outgoing: c.outgoing,
                    incoming: c.incoming,
                    wanted: c.wanted,
                    tones: c.tones,
                    tone_names: c.tone_names,
                    rate_hz: c.rate_hz,
                    ptt: c.ptt,
                    cor: c.cor,
                })
                .collect(),
            events,
            counters,
            epoch: Instant::now(),
            out: Box::new([0; OUTPUT_BUF_LEN]),
            rx: Box::new([0; MAX_DATAGRAM_LEN + 1]),
            incoming: Vec::with_capacity(64),
            link_detail: None,
            busy: false,
            journal: outputs.journal,
            recorder: outputs.recorder,
            alert_names: std::collections::VecDeque::new(),
            poll,
        };
        for (index, channel) in driver.channels.iter_mut().enumerate() {
            if let Some(cor) = &mut channel.cor {
                driver.poll.registry().register(
                    cor,
                    mio::Token(driver::COR_TOKENS + index),
                    mio::Interest::READABLE,
                )?;
            }
        }
        Ok(NetLoop {
            driver,
            waker,
            events: receiver,
        })
    }

    /// The waker the capture threads call after pushing a frame, so the
    /// loop sends it at once rather than at its next timer.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// The counters (live once spawned).
    pub fn counters(&self) -> Arc<NetCounters> {
        Arc::clone(&self.driver.counters)
    }

    /// Starts the `net` thread; it connects at once.
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub fn spawn(self) -> io::Result<NetHandle> {
        let stop = Arc::clone(&self.driver.stop);
        let counters = Arc::clone(&self.driver.counters);
        let waker = Arc::clone(&self.waker);
        let driver = self.driver;
        let thread = std::thread::Builder::new()
            .name("net".into())
            .spawn(move || driver.run(waker))?;
        Ok(NetHandle {
            events: self.events,
            counters,
            waker: self.waker,
            stop,
            thread: Some(thread),
        })
    }
}

/// The running loop. Dropping it stops the loop too.
#[derive(Debug)]
pub struct NetHandle {
    events: mpsc::Receiver<NetEvent>,
    counters: Arc<NetCounters>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NetHandle {
    /// What happened, in order. At most [`EVENT_QUEUE_LEN`] wait; more
    /// are dropped and counted (`drop_events`).
    pub fn events(&self) -> &mpsc::Receiver<NetEvent> {
        &self.events
    }

    /// The live counters.
    pub fn counters(&self) -> Arc<NetCounters> {
        Arc::clone(&self.counters)
    }

    /// The waker (the same as [`NetLoop::waker`]).
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Stops the loop (closing the WebSocket) and waits for the thread.
    ///
    /// # Errors
    /// The thread panicked; the payload is returned.
    pub fn stop(mut self) -> std::thread::Result<()> {
        self.request_stop();
        self.join_thread()
    }

    /// Asks the loop to stop without waiting: it finishes its turn (what
    /// the capture rings hold is sent), closes the WebSocket and ends.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        // If the wake fails the loop still sees the flag within 100 ms.
        let _ = self.waker.wake();
    }

    /// Waits for the thread after [`NetHandle::request_stop`] (stopping
    /// it first if that was not called); a panic is logged. Later calls
    /// return at once.
    pub fn join(&mut self) {
        self.request_stop();
        if self.join_thread().is_err() {
            log::error!("the network thread panicked");
        }
    }

    fn join_thread(&mut self) -> std::thread::Result<()> {
        match self.thread.take() {
            Some(thread) => thread.join(),
            None => Ok(()),
        }
    }
}

impl Drop for NetHandle {
    fn drop(&mut self) {
        self.join();
    }
}

fn core_duration(duration: Duration) -> CoreDuration {
    CoreDuration::from_micros(duration.as_micros().min(u128::from(u64::MAX)) as u64)
}

/// A seed for the reconnect jitter: it must differ between nodes (so
/// nodes that lost the relay together do not come back together), not be
/// secret; the time serves if the random source fails.
fn jitter_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
    })
}

/// Parses the URL into what the link needs, with TLS settings for `wss`.
fn target(settings: &NetSettings) -> Result<Target, NetError> {
    let url_error = |reason: &str| NetError::Url {
        url: settings.url.clone(),
        reason: reason.to_owned(),
    };
    let uri: Uri = settings
        .url
        .parse()
        .map_err(|e: tungstenite::http::uri::InvalidUri| url_error(&e.to_string()))?;
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(url_error("the scheme must be ws:// or wss://")),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| url_error("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tls = if secure {
        let config = transport::client_config(settings.ca_file.as_deref())?;
        let name = ServerName::try_from(host.clone())
            .map_err(|_| url_error("the host is not a valid TLS server name"))?;
        Some((config, name))
    } else {
        None
    };
    Ok(Target {
        url: settings.url.clone(),
        host,
        port,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use echostream_core::MAX_CHANNELS;

    use super::*;

    fn settings(url: &str) -> NetSettings {
        NetSettings {
            node_id: "station-1".into(),
            url: url.into(),
            token: "a-long-enough-token".into(),
            ca_file: None,
            connect_timeout: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(1),
        }
    }

    fn channel(id: &str) -> NetChannel {
        let (_, outgoing) = rtrb::RingBuffer::new(4);
        let (incoming, _) = rtrb::RingBuffer::new(4);
        NetChannel {
            id: id.into(),
            outgoing,
            incoming,
            preroll_frames: 0,
            wanted: Arc::default(),
            tones: None,
            tone_names: Vec::new(),
            rate_hz: 48_000,
            record: None,
            radio: None,
            ptt: None,
            cor: None,
        }
    }

    fn error(settings: NetSettings, channels: Vec<NetChannel>) -> String {
        NetLoop::new(settings, channels).unwrap_err().to_string()
    }

    #[test]
    fn urls_must_be_websocket_urls_with_a_host() {
        assert!(error(settings("http://relay:80/"), vec![]).contains("ws:// or wss://"));
        assert!(error(settings("relay:80"), vec![]).contains("relay url"));
        let target = target(&settings("ws://[::1]:9000/signal")).unwrap();
        assert_eq!((target.host.as_str(), target.port), ("::1", 9000));
        let target = target_of("ws://relay.example");
        assert_eq!(target.port, 80);
    }

    fn target_of(url: &str) -> Target {
        target(&settings(url)).unwrap()
    }

    #[test]
    fn ids_and_channels_are_checked() {
        let mut bad = settings("ws://127.0.0.1:1/");
        bad.node_id = "has space".into();
        let text = error(bad, vec![]);
        assert!(text.starts_with("node_id:"), "{text}");
        let text = error(
            settings("ws://127.0.0.1:1/"),
            vec![channel("fire"), channel("fire")],
        );
        assert!(text.contains("listed twice"), "{text}");
        let many = (0..=MAX_CHANNELS)
            .map(|i| channel(&format!("c{i}")))
            .collect();
        assert!(error(settings("ws://127.0.0.1:1/"), many).contains("at most 8"));
        let mut zero = settings("ws://127.0.0.1:1/");
        zero.connect_timeout = Duration::ZERO;
        assert!(error(zero, vec![]).contains("connect_timeout"));
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let mut missing = settings("wss://relay.example/");
        missing.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(error(missing, vec![]).contains("/nonexistent/ca.pem"));
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let mut settings = settings("wss://relay.example/");
        settings.ca_file = Some(empty);
        assert!(error(settings, vec![]).contains("no CERTIFICATE"));
    }

    #[test]
    fn the_token_is_never_printed() {
        let shown = format!("{:?}", settings("ws://127.0.0.1:1/"));
        assert!(!shown.contains("a-long-enough-token"));
    }
}
