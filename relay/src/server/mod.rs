//! The relay server: one mio loop driving the sans-IO [`Relay`] over a
//! WebSocket listener (plain or TLS) and one UDP socket.
//!
//! The `echostream-relay` binary runs it, and so does the edge node as an
//! embedded relay on loopback:
//!
//! ```no_run
//! use echostream_relay::TokenPolicy;
//! use echostream_relay::server::{Server, ServerConfig};
//!
//! let any = "127.0.0.1:0".parse().unwrap();
//! let server = Server::bind(ServerConfig::new(any, any, TokenPolicy::AnyToken))?;
//! let handle = server.spawn()?;
//! println!("ws://{} udp {}", handle.ws_addr(), handle.udp_addr());
//! handle.stop()?;
//! # Ok::<(), echostream_relay::server::ServerError>(())
//! ```
//!
//! # Bounds
//!
//! Connections not yet welcomed (in handshake, or open before `hello`)
//! are at most `limits.pending_max`, `limits.pending_per_ip_max` from one
//! IP, and are admitted at most `accept_rate_per_s` a second (bursts of one
//! second's worth); more are accepted and closed at once, before
//! any TLS work. They must say `hello` within `limits.hello_timeout_ms`
//! of the accept, as their first frame. Welcomed sessions have their own
//! `limits.sessions_max`, so no flood without a token locks them out. Each
//! connection has a bounded write queue: frames that do not fit are
//! dropped and counted, and a connection whose queue makes no progress
//! for `write_stall_ms` is closed. Frames over `limits.message_len_max`
//! are refused from their header, never buffered. Nothing a peer sends
//! blocks the loop or another peer. Every drop is counted in
//! [`ServerCounters`].
//!
//! # Logs
//!
//! Through the `log` crate, `key=value` style: `session opened conn=3
//! peer=127.0.0.1:5555`, `session welcomed conn=3 node=station-a`,
//! `session closed conn=3 peer=… node=station-a reason=timeout`. Every
//! `stats_interval_s`, and once at shutdown, one machine-readable line:
//!
//! ```text
//! stats at=interval sessions_active=2 … drop_open_forged=1 … udp_send_errors=0
//! stats at=final sessions_active=1 …
//! ```
//!
//! `stats`, then `at=interval` or `at=final`, then every counter as
//! `name=value` in the order of [`ServerCounters::fields`], separated by
//! single spaces.

mod batch;
mod config;
mod conn;
mod counters;
mod event_loop;
mod slots;
mod status;
mod transport;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use echostream_core::wire::MAX_DATAGRAM_LEN;
use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Interest, Poll, Token};

pub use self::config::{ServerConfig, ServerError};
pub use self::counters::ServerCounters;
pub use self::status::{ChannelStatus, RelayStatus, SessionStatus, StatusSource};
pub use self::transport::{TlsFiles, tls_config};

use self::batch::Batch;
use self::conn::Conn;
use self::slots::SlotSet;
use crate::engine::{ConnId, Relay};

const LISTENER: Token = Token(0);
const UDP: Token = Token(1);
/// The [`Waker`](mio::Waker) a stop or reload request pokes.
const WAKE: Token = Token(usize::MAX);
/// Connection slot `i` is token `FIRST_CONN + i`.
const FIRST_CONN: usize = 2;

/// Readiness events handled per poll.
const EVENTS_LEN: usize = 256;

/// A relay server with its sockets bound, not yet running.
#[derive(Debug)]
pub struct Server {
    poll: Poll,
    events: Events,
    listener: TcpListener,
    udp: UdpSocket,
    ws_addr: SocketAddr,
    udp_addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    relay: Relay,
    settings: Settings,
    conns: Vec<Option<Conn>>,
    by_id: HashMap<ConnId, usize>,
    next_conn_id: u64,
    /// The server's own counters; `relay` is filled in on publishing.
    counters: ServerCounters,
    shared: Arc<Mutex<ServerCounters>>,
    start: std::time::Instant,
    udp_buf: Box<[u8; MAX_DATAGRAM_LEN + 1]>,
    /// Lent to the engine's `poll_output`; gathers a fan-out's datagrams
    /// for one `sendmmsg` (taking it out for a drain leaves an empty one,
    /// which allocates nothing).
    batch: Batch,
    /// Slots of ready connections, reused every turn.
    ready: Vec<usize>,
    accept_pending: bool,
    udp_pending: bool,
    /// Connections whose read budget ran out: served again next turn.
    read_pending: SlotSet,
    /// Connections written to since their last flush.
    dirty: SlotSet,
    /// Connections that may have a deadline or a stalled write queue (a
    /// superset: `timers` drops those without).
    timed: SlotSet,
    /// Makes the poll return at once (stop, reload and status requests).
    waker: Arc<mio::Waker>,
    /// Status requests from an HTTP thread, answered at the next turn.
    desk: Arc<status::Desk>,
    /// The accept rate's bucket, on the protocol clock.
    accept_rate: crate::engine::AcceptRate,
}

/// Settings the loop reads, derived from the [`ServerConfig`].
#[derive(Debug, Clone, Copy)]
struct Settings {
    ws: tungstenite::protocol::WebSocketConfig,
    handshake_timeout: Duration,
    /// From accept to `hello`.
    hello_timeout: Duration,
    /// The pending pool and per-IP caps.
    limits: crate::engine::Limits,
    write_stall: Duration,
    stats_interval: Option<Duration>,
}

impl Server {
    /// Validates `config`, loads the TLS files, binds the WebSocket
    /// listener and the UDP socket (port 0 picks a free port) and builds
    /// the engine. Nothing runs until [`run`](Self::run) or
    /// [`spawn`](Self::spawn).
    ///
    /// # Errors
    /// [`ServerError::Config`] or [`ServerError::Tls`] for the operator's
    /// input; [`ServerError::Bind`] or [`ServerError::Io`] when the
    /// operating system refuses.
    pub fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        config.validate()?;
        let tls = config.tls.as_ref().map(tls_config).transpose()?;
        let bind_error = |what, addr, source| ServerError::Bind { what, addr, source };
        let mut listener = TcpListener::bind(config.listen)
            .map_err(|e| bind_error("WebSocket", config.listen, e))?;
        let mut udp = UdpSocket::bind(config.udp).map_err(|e| bind_error("UDP", config.udp, e))?;
        let io = |what| move |source| ServerError::Io { what, source };
        let ws_addr = listener
            .local_addr()
            .map_err(io("reading the listener's address"))?;
        let udp_addr = udp
            .local_addr()
            .map_err(io("reading the UDP socket's address"))?;
        let poll = Poll::new().map_err(io("creating the poller"))?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(io("registering the listener"))?;
        poll.registry()
            .register(&mut udp, UDP, Interest::READABLE)
            .map_err(io("registering the UDP socket"))?;
        let waker = mio::Waker::new(poll.registry(), WAKE).map_err(io("creating the waker"))?;
        let relay =
            Relay::new(config.relay_config(udp_addr.port())).map_err(|e| ServerError::Config {
                field: e.field,
                reason: e.reason.into(),
            })?;
        let limits = config.limits;
        let ws = tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            // Write through at once: the queue is the out buffer, capped.
            .write_buffer_size(0)
            .max_write_buffer_size(config.write_queue_len_max)
            .max_message_size(Some(limits.message_len_max))
            .max_frame_size(Some(limits.message_len_max));
        let settings = Settings {
            ws,
            handshake_timeout: Duration::from_millis(u64::from(config.handshake_timeout_ms)),
            hello_timeout: Duration::from_millis(u64::from(limits.hello_timeout_ms)),
            limits,
            write_stall: Duration::from_millis(u64::from(config.write_stall_ms)),
            stats_interval: (config.stats_interval_s > 0)
                .then(|| Duration::from_secs(u64::from(config.stats_interval_s))),
        };
        log::info!(
            "relay bound ws={ws_addr} tls={} udp={udp_addr} udp_host={} tokens={} sessions_max={}",
            if tls.is_some() { "on" } else { "off" },
            relay.config().udp_host,
            config
                .tokens
                .token_count()
                .map_or_else(|| "any".to_owned(), |n| n.to_string()),
            limits.sessions_max,
        );
        Ok(Server {
            poll,
            events: Events::with_capacity(EVENTS_LEN),
            listener,
            udp,
            ws_addr,
            udp_addr,
            tls,
            relay,
            settings,
            // Twice the engine's slots: closed connections linger up to
            // a second for the peer's close frame.
            conns: (0..2 * limits.slots()).map(|_| None).collect(),
            read_pending: SlotSet::new(2 * limits.slots()),
            dirty: SlotSet::new(2 * limits.slots()),
            timed: SlotSet::new(2 * limits.slots()),
            waker: Arc::new(waker),
            desk: Arc::default(),
            by_id: HashMap::with_capacity(2 * limits.slots()),
            next_conn_id: 1,
            counters: ServerCounters::default(),
            shared: Arc::new(Mutex::new(ServerCounters::default())),
            start: std::time::Instant::now(),
            udp_buf: Box::new([0; MAX_DATAGRAM_LEN + 1]),
            batch: Batch::new(),
            ready: Vec::with_capacity(EVENTS_LEN),
            accept_pending: false,
            udp_pending: false,
            accept_rate: crate::engine::AcceptRate::new(
                config.accept_rate_per_s,
                echostream_core::time::Instant::ZERO,
            ),
        })
    }

    /// The WebSocket listener's address (with the port actually bound).
    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    /// The UDP socket's address (with the port actually bound).
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The counters as of the last loop turn.
    pub fn counters(&self) -> ServerCounters {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Wakes the loop when called: set the `stop` or `reload.requested`
    /// flag, then call [`wake`](mio::Waker::wake) on this, and the loop
    /// sees the flag at once (it sleeps until its next deadline
    /// otherwise). `wake` is one `write(2)` to an eventfd, so a signal
    /// handler may call it.
    pub fn waker(&self) -> Arc<mio::Waker> {
        Arc::clone(&self.waker)
    }

    /// Asks the running loop for its status (for an HTTP thread): see
    /// [`StatusSource::fetch`].
    pub fn status_source(&self) -> StatusSource {
        StatusSource {
            desk: Arc::clone(&self.desk),
            waker: self.waker(),
        }
    }

    /// Runs the server on a thread named `relay` until the handle is
    /// stopped or dropped.
    ///
    /// # Errors
    /// [`ServerError::Io`] when the thread cannot be started.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::clone(&self.shared);
        let waker = self.waker();
        let status = self.status_source();
        let (ws_addr, udp_addr) = (self.ws_addr, self.udp_addr);
        let thread = std::thread::Builder::new()
            .name("relay".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || {
                    let mut server = self;
                    server.run(&stop)
                }
            })
            .map_err(|source| ServerError::Io {
                what: "starting the relay thread",
                source,
            })?;
        Ok(ServerHandle {
            stop,
            waker,
            thread: Some(thread),
            counters,
            status,
            ws_addr,
            udp_addr,
        })
    }
}

/// What [`Server::run_reloading`] re-reads on request: the binary sets
/// `requested` on SIGHUP, `load` reads the tokens file again.
pub struct Reload<'a> {
    /// Set to ask for a reload; the loop clears it.
    pub requested: &'a AtomicBool,
    /// The new tokens, or why they cannot be had.
    pub load: &'a dyn Fn() -> Result<crate::TokenPolicy, String>,
}

impl fmt::Debug for Reload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reload")
            .field("requested", &self.requested)
            .finish_non_exhaustive()
    }
}

/// A server running on its own thread. Dropping it stops the server and
/// waits for the thread.
#[derive(Debug)]
pub struct ServerHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
    counters: Arc<Mutex<ServerCounters>>,
    status: StatusSource,
    ws_addr: SocketAddr,
    udp_addr: SocketAddr,
}

impl ServerHandle {
    /// The WebSocket listener's address.
    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    /// The UDP socket's address.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// Asks the loop for its status: see [`StatusSource::fetch`].
    pub fn status_source(&self) -> StatusSource {
        self.status.clone()
    }

    /// The counters as of the server's last loop turn.
    pub fn counters(&self) -> ServerCounters {
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the loop still runs (it ends only when stopped or on a
    /// fatal error, which [`stop`](Self::stop) returns).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the server (closing every connection, logging the final
    /// counters) and waits for its thread, which wakes at once.
    ///
    /// # Errors
    /// The error the loop stopped with, or [`ServerError::Panicked`].
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServerError> {
        self.stop.store(true, Ordering::Relaxed);
        if let Err(error) = self.waker.wake() {
            // The loop still stops at its next deadline.
            log::warn!("relay not woken to stop: {error}");
        }
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or(Err(ServerError::Panicked)),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Err(error) = self.stop_and_join() {
            log::error!("relay stopped with an error: {error}");
        }
    }
}
