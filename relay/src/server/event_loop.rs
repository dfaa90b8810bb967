//! The loop: readiness in, engine calls, engine outputs out, timers.
//!
//! One turn: poll (until the next deadline: the engine's, a connection's
//! handshake, close or write stall, the stats line; zero when a budget ran
//! out with work left), handle every ready socket, run due timers, flush
//! what was written, publish the counters. Every input is followed by
//! draining [`Relay::poll_output`], as the engine's contract asks. A turn
//! visits only the connections with something to do (see
//! [`SlotSet`](super::slots::SlotSet)); an idle relay sleeps until a
//! deadline, a packet or a [`waker`](Server::waker) call.

use std::io;
use std::net::SocketAddr;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use echostream_core::time::Instant;
use echostream_core::wire::MAX_DATAGRAM_LEN;
use mio::{Interest, Token};
use tungstenite::protocol::frame::coding::CloseCode;

use super::conn::{Conn, Ending, ReadEvent, Sent};
use super::transport::Transport;
use super::{FIRST_CONN, LISTENER, Reload, Server, ServerError, UDP, WAKE};
use crate::engine::{CloseReason, ConnId, Output};

/// The longest poll. Every deadline is waited for exactly and stop and
/// reload requests wake the loop (see [`Server::waker`]); this only bounds
/// how late a flag set without a wake is seen.
const WAIT_MAX: Duration = Duration::from_secs(10);
/// Connections accepted per turn.
const ACCEPT_BUDGET: usize = 64;
/// Datagrams received per turn.
const UDP_BUDGET: usize = 1024;
/// Messages read from one connection per turn.
const READ_BUDGET: usize = 64;
/// How long a closing connection may take to answer the close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// Flush passes per turn (a failed flush can make the engine write more).
const FLUSH_PASSES: usize = 4;

impl Server {
    /// Runs the loop until `stop` is set (seen at once when followed by a
    /// [`waker`](Server::waker) call, else within 10 s), then closes
    /// every connection and logs the counters as the stop found them
    /// (`stats at=final …`).
    ///
    /// # Errors
    /// [`ServerError::Io`] when polling fails; the server is unusable then.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), ServerError> {
        self.run_reloading(stop, None)
    }

    /// [`run`](Self::run), also replacing the tokens with
    /// `reload.load()` whenever `reload.requested` is set (seen as `stop`
    /// is). Sessions whose token is gone or changed are closed
    /// (see [`Relay::set_tokens`](crate::engine::Relay::set_tokens)); a
    /// load that fails is logged and the previous tokens stay.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn run_reloading(
        &mut self,
        stop: &AtomicBool,
        reload: Option<&Reload<'_>>,
    ) -> Result<(), ServerError> {
        let mut next_stats = self.settings.stats_interval.map(|i| self.start + i);
        let result = loop {
            if stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            if let Some(reload) = reload
                && reload.requested.swap(false, Ordering::Relaxed)
            {
                self.reload_tokens(reload);
            }
            if self.desk.wanted() {
                let counters = self.publish();
                let status = super::RelayStatus::take(&self.relay, self.now(), counters);
                self.desk.answer(status);
            }
            let timeout = self.poll_timeout(next_stats);
            match self.poll.poll(&mut self.events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    break Err(ServerError::Io {
                        what: "polling the sockets",
                        source,
                    });
                }
            }
            self.ready.clear();
            for event in self.events.iter() {
                match event.token() {
                    LISTENER => self.accept_pending = true,
                    UDP => self.udp_pending = true,
                    // Only wakes the loop: the flags are read above.
                    WAKE => {}
                    Token(t) => self.ready.push(t - FIRST_CONN),
                }
            }
            self.turn();
            if let Some(at) = next_stats
                && std::time::Instant::now() >= at
            {
                log::info!("stats at=interval {}", self.publish());
                next_stats = self.settings.stats_interval.map(|i| at + i);
            }
        };
        // The counters as the stop found them: sessions still open count.
        let last = self.publish();
        self.shut_down();
        self.publish();
        log::info!("stats at=final {last}");
        result
    }

    fn reload_tokens(&mut self, reload: &Reload<'_>) {
        let policy = match (reload.load)() {
            Ok(policy) => policy,
            Err(error) => {
                log::error!("tokens not reloaded, the previous ones stay: {error}");
                return;
            }
        };
        let tokens = policy
            .token_count()
            .map_or_else(|| "any".to_owned(), |n| n.to_string());
        match self.relay.set_tokens(self.now(), policy) {
            Ok(closed) => {
                log::info!("tokens reloaded tokens={tokens} sessions_closed={closed}");
            }
            Err(error) => log::error!("tokens not reloaded, the previous ones stay: {error}"),
        }
        self.drain();
    }

    /// Handles what is ready, then timers and flushes.
    fn turn(&mut self) {
        if self.accept_pending {
            self.accept();
        }
        if self.udp_pending {
            self.receive_datagrams();
        }
        for i in 0..self.ready.len() {
            let slot = self.ready[i];
            self.serve(slot);
        }
        // Connections whose read budget ran out last turn.
        let mut at = 0;
        while let Some(slot) = self.read_pending.next(at) {
            at = slot + 1;
            self.serve(slot);
        }
        self.timers();
        self.flush_all();
        self.publish();
    }

    fn poll_timeout(&self, next_stats: Option<std::time::Instant>) -> Duration {
        let pending = self.accept_pending || self.udp_pending || !self.read_pending.is_empty();
        if pending {
            return Duration::ZERO;
        }
        let now = self.now();
        let engine = self
            .relay
            .poll_timeout()
            .map(|at| Duration::from_micros(at.saturating_duration_since(now).as_micros()));
        // The same reading of the clock as the engine's `now`: the
        // connections' and the stats' deadlines are on the same clock.
        let wall = self.start + Duration::from_micros(now.as_micros());
        let conns = self
            .timed
            .iter()
            .filter_map(|slot| {
                self.conns[slot]
                    .as_ref()?
                    .timer_at(self.settings.write_stall)
            })
            .min()
            .map(|at| at.saturating_duration_since(wall));
        let stats = next_stats.map(|at| at.saturating_duration_since(wall));
        [Some(WAIT_MAX), engine, conns, stats]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(WAIT_MAX)
    }

    /// The protocol clock: microseconds since the server started.
    pub(super) fn now(&self) -> Instant {
        let micros = self.start.elapsed().as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// Copies the counters to the shared snapshot; returns it.
    fn publish(&mut self) -> super::ServerCounters {
        self.counters.relay = self.relay.counters().clone();
        self.counters.conn_open = self.by_id.len() as u64;
        let snapshot = self.counters.clone();
        *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = snapshot.clone();
        snapshot
    }

    fn accept(&mut self) {
        for _ in 0..ACCEPT_BUDGET {
            match self.listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_pending = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    // Out of file descriptors and the like: the next
                    // connection's readiness retries.
                    self.counters.accept_errors += 1;
                    if self.counters.accept_errors == 1 {
                        log::warn!("accept failed error=\"{error}\" (further failures counted)");
                    }
                    self.accept_pending = false;
                    return;
                }
            }
        }
    }

    /// Whether a new connection from `peer` may take a pending slot: its
    /// IP's cap, the pending pool, then the accept rate (so connections
    /// refused for the first two use none of it). A full pool makes room
    /// by dropping the oldest pending connection of the IP holding the
    /// most of it, when that is more than `peer`'s would hold (see
    /// [`admission::check_pool`](crate::engine::admission::check_pool)).
    /// Counts the refusal or eviction.
    fn admissible(&mut self, peer: SocketAddr) -> bool {
        use crate::engine::{Admit, Refusal, admission};
        let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
        let pending = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(slot, c)| Some((slot, c.as_ref()?)))
            .filter(|(_, c)| c.node.is_none())
            // Every pending connection has the same time to say hello:
            // the earliest deadline is the oldest.
            .map(|(slot, c)| (slot, c.peer.ip(), c.deadline.unwrap_or(far)));
        let now = self.now();
        let verdict = admission::check_pool(&self.settings.limits, peer.ip(), pending)
            .and_then(|admit| self.accept_rate.take(now).map(|()| admit));
        match verdict {
            Ok(Admit::Room) => true,
            Ok(Admit::Evict(slot)) => {
                self.counters.conn_evicted_pending += 1;
                let conn = self.conns[slot].as_ref().expect("a pending connection");
                log::debug!(
                    "connection dropped conn={} peer={} reason=evicted_pending",
                    conn.id.0,
                    conn.peer
                );
                let id = conn.id;
                self.relay.handle_disconnect(now, id);
                self.drop_conn(slot);
                self.drain();
                true
            }
            Err(refusal) => {
                let counter = match refusal {
                    Refusal::PerIp => &mut self.counters.conn_refused_per_ip,
                    Refusal::PoolFull => &mut self.counters.conn_refused_pending,
                    Refusal::Rate => &mut self.counters.conn_refused_rate,
                };
                *counter += 1;
                false
            }
        }
    }

    fn admit(&mut self, mut stream: mio::net::TcpStream, peer: SocketAddr) {
        self.counters.conn_accepted += 1;
        if !self.admissible(peer) {
            log::debug!("connection refused peer={peer} reason=pending_limits");
            return;
        }
        let Some(slot) = self.conns.iter().position(Option::is_none) else {
            self.counters.conn_refused_full += 1;
            log::debug!("connection refused peer={peer} reason=full");
            return;
        };
        // Signaling frames are small and latency matters (transmit events).
        let _ = stream.set_nodelay(true);
        if let Err(error) = super::transport::limit_send_buffer(&stream) {
            log::debug!("send buffer not limited peer={peer} error=\"{error}\"");
        }
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(error) =
            self.poll
                .registry()
                .register(&mut stream, Token(FIRST_CONN + slot), interest)
        {
            self.counters.accept_errors += 1;
            log::warn!("connection dropped peer={peer} error=\"{error}\"");
            return;
        }
        let transport = match Transport::new(stream, self.tls.as_ref()) {
            Ok(transport) => transport,
            Err(error) => {
                self.counters.handshake_failed += 1;
                log::warn!("connection dropped peer={peer} error=\"{error}\"");
                return;
            }
        };
        let id = ConnId(self.next_conn_id);
        self.next_conn_id += 1;
        let handshake = self
            .settings
            .handshake_timeout
            .min(self.settings.hello_timeout);
        let deadline = std::time::Instant::now() + handshake;
        match Conn::new(id, peer, transport, self.settings.ws, deadline) {
            Ok(conn) => {
                let open = conn.is_open();
                self.conns[slot] = Some(conn);
                self.by_id.insert(id, slot);
                self.note(slot);
                if open {
                    self.opened(slot);
                }
            }
            Err(ending) => {
                self.counters.handshake_failed += 1;
                log::debug!("handshake failed peer={peer} error=\"{ending:?}\"");
            }
        }
    }

    /// Reads from connection `slot` until it would block or its budget
    /// runs out, then flushes it.
    fn serve(&mut self, slot: usize) {
        let mut budget_left = true;
        for _ in 0..READ_BUDGET {
            let Some(conn) = self.conns[slot].as_mut() else {
                return;
            };
            let id = conn.id;
            match conn.read() {
                ReadEvent::Opened => self.opened(slot),
                ReadEvent::Text(text) => {
                    let welcomed = self.relay.node_id(id).is_some();
                    self.relay.handle_text(self.now(), id, text.as_bytes());
                    if !welcomed && let Some(node) = self.relay.node_id(id) {
                        match self.relay.token_fingerprint(id) {
                            Some(token) => log::info!(
                                "session welcomed conn={} node={node} token={token}",
                                id.0
                            ),
                            None => log::info!("session welcomed conn={} node={node}", id.0),
                        }
                        if let Some(conn) = self.conns[slot].as_mut() {
                            conn.node = Some(node.to_owned());
                        }
                    }
                    self.drain();
                }
                ReadEvent::Binary => self.counters.ws_binary += 1,
                ReadEvent::Nothing => {}
                ReadEvent::Idle => {
                    budget_left = false;
                    break;
                }
                ReadEvent::Ended(ending) => {
                    self.ended(slot, ending);
                    self.drain();
                    return;
                }
            }
        }
        if let Some(conn) = self.conns[slot].as_mut() {
            conn.read_pending = budget_left;
            // Writable readiness lands here too.
            conn.dirty = true;
        }
        self.note(slot);
    }

    /// Brings the slot sets up to date with connection `slot` after a call
    /// that may have changed what it waits for.
    fn note(&mut self, slot: usize) {
        let conn = self.conns[slot].as_ref();
        self.read_pending
            .set(slot, conn.is_some_and(|c| c.read_pending));
        self.dirty.set(slot, conn.is_some_and(|c| c.dirty));
        self.timed.set(slot, conn.is_some_and(Conn::has_timer));
    }

    fn opened(&mut self, slot: usize) {
        let conn = self.conns[slot].as_ref().expect("callers pass a live slot");
        let (id, peer) = (conn.id, conn.peer);
        log::info!("session opened conn={} peer={peer}", id.0);
        self.relay.handle_connect(self.now(), id, peer.ip());
        self.drain();
    }

    /// Connection `slot` cannot carry signaling any more: count why, tell
    /// the engine, then close it politely or drop it. Does not drain.
    fn ended(&mut self, slot: usize, ending: Ending) {
        let now = self.now();
        let conn = self.conns[slot].as_ref().expect("callers pass a live slot");
        let was_open = conn.is_open();
        let was_handshaking = conn.is_handshaking();
        let (id, peer) = (conn.id, conn.peer);
        let node = conn.node_name().to_owned();
        let reason = match &ending {
            Ending::Closed => "peer_closed",
            Ending::Reset => {
                self.counters.ws_reset += 1;
                "reset"
            }
            Ending::TooLong => {
                self.counters.ws_too_long += 1;
                "frame_too_long"
            }
            Ending::Protocol(_) => {
                self.counters.ws_protocol_errors += 1;
                "protocol_error"
            }
            Ending::HandshakeFailed(_) => {
                self.counters.handshake_failed += 1;
                "handshake_failed"
            }
        };
        if was_open {
            match &ending {
                Ending::Protocol(detail) => log::info!(
                    "session closed conn={} peer={peer} node={node} reason={reason} \
                     detail=\"{detail}\"",
                    id.0
                ),
                _ => log::info!(
                    "session closed conn={} peer={peer} node={node} reason={reason}",
                    id.0
                ),
            }
            self.relay.handle_disconnect(now, id);
        } else if was_handshaking {
            log::debug!(
                "handshake failed conn={} peer={peer} ending={ending:?}",
                id.0
            );
        }
        let deadline = std::time::Instant::now() + CLOSE_LINGER;
        let close = match ending {
            Ending::TooLong if was_open => Some((CloseCode::Size, "message too long")),
            Ending::Protocol(_) if was_open => Some((CloseCode::Protocol, "protocol error")),
            _ => None,
        };
        match (close, self.conns[slot].as_mut()) {
            (Some((code, text)), Some(conn)) => {
                conn.abort(code, text, deadline);
                self.note(slot);
            }
            _ => self.drop_conn(slot),
        }
    }

    fn drop_conn(&mut self, slot: usize) {
        if let Some(conn) = self.conns[slot].take() {
            self.by_id.remove(&conn.id);
            // Closing the socket removes it from the poller.
        }
        self.note(slot);
    }

    /// Hands every pending engine output to its socket, the datagrams in
    /// batches of up to [`BATCH_LEN`](super::batch::BATCH_LEN) per
    /// system call, everything in the order the engine gave it.
    fn drain(&mut self) {
        // Out of `self` while the sends borrow it; nothing drains from
        // within a send.
        let mut batch = std::mem::take(&mut self.batch);
        while let Some(output) = self.relay.poll_output(batch.spare()) {
            match output {
                Output::SendDatagram { to, len } => {
                    if batch.push(to, len) {
                        self.send_batch(&mut batch);
                    }
                }
                Output::SendText {
                    conn,
                    len,
                    droppable,
                } => {
                    let at = batch.spare_at();
                    self.send_batch(&mut batch);
                    self.send_text(conn, batch.bytes(at, len), droppable);
                }
                Output::Close { conn, reason } => {
                    self.send_batch(&mut batch);
                    self.engine_close(conn, reason);
                }
            }
        }
        self.send_batch(&mut batch);
        self.batch = batch;
    }

    /// Queues a frame on its connection. A full write queue drops a
    /// `droppable` frame (counted); any other frame carries state, and
    /// a node that cannot be sent it is closed (the engine forgets it
    /// and tells its channels), so it reconnects to a fresh state.
    fn send_text(&mut self, id: ConnId, bytes: &[u8], droppable: bool) {
        let slot = self.by_id.get(&id).copied();
        let Some(conn) = slot.and_then(|slot| self.conns[slot].as_mut()) else {
            self.counters.ws_unroutable += 1;
            return;
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            // The engine emits JSON through serde: always UTF-8.
            log::error!("engine emitted a frame that is not UTF-8 conn={}", id.0);
            self.counters.ws_unroutable += 1;
            return;
        };
        match conn.send_text(text) {
            Sent::Queued => self.note(slot.expect("found above")),
            Sent::QueueFull if droppable => self.counters.ws_queue_full += 1,
            Sent::QueueFull => {
                self.counters.ws_closed_queue_full += 1;
                log::warn!(
                    "session closed conn={} peer={} node={} reason=write_queue_full",
                    id.0,
                    conn.peer,
                    conn.node_name()
                );
                let now = self.now();
                self.relay.handle_disconnect(now, id);
                // Its queue is full: a close frame would not fit either.
                self.drop_conn(slot.expect("found above"));
            }
            Sent::NotOpen => self.counters.ws_unroutable += 1,
            Sent::Failed(ending) => {
                let slot = slot.expect("found above");
                self.ended(slot, ending);
            }
        }
    }

    /// Sends the datagrams gathered in `batch` (it leaves empty).
    fn send_batch(&mut self, batch: &mut super::batch::Batch) {
        let sent = batch.send(&self.udp);
        self.counters.udp_send_full += sent.full;
        self.counters.udp_send_errors += sent.errors;
    }

    /// The engine closed a session: send the close frame after what is
    /// queued, and give the peer [`CLOSE_LINGER`] to answer.
    fn engine_close(&mut self, id: ConnId, reason: CloseReason) {
        let Some(&slot) = self.by_id.get(&id) else {
            return;
        };
        let conn = self.conns[slot].as_mut().expect("by_id holds live slots");
        if !conn.is_open() {
            return;
        }
        log::info!(
            "session closed conn={} peer={} node={} reason={}",
            id.0,
            conn.peer,
            conn.node_name(),
            reason.name()
        );
        let deadline = std::time::Instant::now() + CLOSE_LINGER;
        conn.close(close_code(reason), reason.name(), deadline);
        self.note(slot);
    }

    fn receive_datagrams(&mut self) {
        for _ in 0..UDP_BUDGET {
            match self.udp.recv_from(&mut self.udp_buf[..]) {
                Ok((len, _)) if len > MAX_DATAGRAM_LEN => self.counters.udp_oversize += 1,
                Ok((len, from)) => {
                    let now = self.now();
                    self.relay
                        .handle_datagram(now, from, &mut self.udp_buf[..len]);
                    self.drain();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.udp_pending = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    self.counters.udp_recv_errors += 1;
                    log::debug!("datagram receive failed error=\"{error}\"");
                }
            }
        }
    }

    /// The engine's timers, handshake and close deadlines, stalled writers.
    fn timers(&mut self) {
        let now = self.now();
        if self.relay.poll_timeout().is_some_and(|at| at <= now) {
            self.relay.handle_timeout(now);
            self.drain();
        }
        let wall = std::time::Instant::now();
        let mut at = 0;
        while let Some(slot) = self.timed.next(at) {
            at = slot + 1;
            let Some(conn) = self.conns[slot].as_mut() else {
                self.note(slot);
                continue;
            };
            if conn.deadline.is_some_and(|at| wall >= at) {
                if conn.is_handshaking() {
                    self.counters.handshake_timeout += 1;
                    log::debug!("handshake timed out conn={} peer={}", conn.id.0, conn.peer);
                }
                self.drop_conn(slot);
                continue;
            }
            if conn.is_open() && conn.stalled(wall, self.settings.write_stall) {
                self.counters.ws_stalled += 1;
                let (id, peer) = (conn.id, conn.peer);
                log::warn!(
                    "session closed conn={} peer={peer} node={} reason=write_stalled",
                    id.0,
                    conn.node_name()
                );
                self.relay.handle_disconnect(now, id);
                // Its queue does not move: a close frame would never leave.
                self.drop_conn(slot);
                self.drain();
                continue;
            }
            self.note(slot);
        }
    }

    /// Flushes every connection written to this turn.
    fn flush_all(&mut self) {
        let wall = std::time::Instant::now();
        for _ in 0..FLUSH_PASSES {
            let mut failed = false;
            let mut at = 0;
            while let Some(slot) = self.dirty.next(at) {
                at = slot + 1;
                let Some(conn) = self.conns[slot].as_mut() else {
                    self.note(slot);
                    continue;
                };
                if !conn.dirty {
                    self.note(slot);
                    continue;
                }
                let closing = !conn.is_open() && !conn.is_handshaking();
                match conn.flush(wall) {
                    Ok(_) => self.note(slot),
                    // The close frame is out and acknowledged, or the peer
                    // is gone: nothing more to say.
                    Err(_) if closing => self.drop_conn(slot),
                    Err(ending) => {
                        self.ended(slot, ending);
                        failed = true;
                    }
                }
            }
            if !failed {
                return;
            }
            self.drain();
        }
    }

    /// Says goodbye to every connection, best effort, without waiting.
    fn shut_down(&mut self) {
        let now = self.now();
        let deadline = std::time::Instant::now();
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns[slot].as_mut() else {
                continue;
            };
            if conn.is_open() {
                self.relay.handle_disconnect(now, conn.id);
                conn.close(CloseCode::Away, "relay shutting down", deadline);
                let _ = conn.flush(deadline);
            }
            self.drop_conn(slot);
        }
        // Member-list updates for connections already gone go nowhere.
        while self.relay.poll_output(self.batch.spare()).is_some() {}
    }
}

/// The WebSocket close code for an engine close (RFC 6455 §7.4.1).
fn close_code(reason: CloseReason) -> CloseCode {
    match reason {
        CloseReason::MessageTooLong => CloseCode::Size,
        CloseReason::RelayFull => CloseCode::Again,
        CloseReason::Timeout => CloseCode::Away,
        CloseReason::KeySourceFailed => CloseCode::Error,
        CloseReason::QueueFull => CloseCode::Again,
        CloseReason::TokenLimit => CloseCode::Again,
        CloseReason::Unauthorized
        | CloseReason::Forbidden
        | CloseReason::TokenRevoked
        | CloseReason::ProtocolViolation
        | CloseReason::TooManyMalformed
        | CloseReason::Replaced
        | CloseReason::NotConnected => CloseCode::Policy,
    }
}
