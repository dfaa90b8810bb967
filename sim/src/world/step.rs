//! The run: what is due next, one step at a time, each caught if it
//! panics; the scheduled actions.

use std::panic::{AssertUnwindSafe, catch_unwind};

use echostream_core::node::{ChannelIndex, LinkDown};
use echostream_core::time::{Duration, Instant};
use echostream_relay::engine::{ConnId, Relay};

use super::link::Path;
use super::spec::{Action, Direction};
use super::timeline::What;
use super::{IDLE_TURN, World};

/// Something on the agenda.
#[derive(Debug)]
pub(super) enum Item {
    ToRelayText {
        conn: ConnId,
        text: String,
    },
    ToRelayClose {
        conn: ConnId,
    },
    ToNodeText {
        node: usize,
        conn: ConnId,
        text: String,
    },
    ToRelayDatagram {
        from: std::net::SocketAddr,
        bytes: Vec<u8>,
    },
    ToNodeDatagram {
        node: usize,
        bytes: Vec<u8>,
    },
    /// The relay closed a connection (or died).
    Closed {
        node: usize,
        conn: ConnId,
        cause: LinkDown,
    },
    /// A connect attempt's answer.
    ConnectAnswer {
        node: usize,
        attempt: u64,
    },
    Action(Action),
    OutageEnd {
        node: usize,
        direction: Direction,
        path: Path,
    },
    RelayBack,
}

/// What is due next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Agenda,
    Capture(usize, usize),
    Playback(usize, usize),
    Turn(usize),
    RelayTimer,
    NodeTimer(usize),
}

impl World {
    /// Runs until `until`, step by step (see the module docs). Stops early
    /// if a step panics.
    pub fn run_until(&mut self, until: Instant) {
        // What a test handed an engine directly goes out now, not at the
        // next step's time.
        self.guarded(|w| w.settle());
        while !self.halted {
            let Some((at, due)) = self.next_due().filter(|(at, _)| *at <= until) else {
                break;
            };
            self.now = self.now.max(at);
            self.step += 1;
            self.guarded(|w| w.do_step(due));
        }
        if !self.halted {
            self.now = self.now.max(until);
        }
    }

    /// Runs `f`, turning a panic into a `no_panic` violation that halts
    /// the world.
    pub(super) fn guarded(&mut self, f: impl FnOnce(&mut World)) {
        let result = catch_unwind(AssertUnwindSafe(|| f(self)));
        if let Err(payload) = result {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            let (step, now) = (self.step, self.now);
            self.checks.report("no_panic", step, now, message);
            self.halted = true;
        }
    }

    fn next_due(&self) -> Option<(Instant, Due)> {
        let mut best: Option<(Instant, Due)> = None;
        let mut consider = |at: Option<Instant>, due: Due| {
            if let Some(at) = at
                && best.is_none_or(|(b, d)| (at, due) < (b, d))
            {
                best = Some((at, due));
            }
        };
        consider(self.agenda.keys().next().map(|(at, _)| *at), Due::Agenda);
        for (n, node) in self.nodes.iter().enumerate() {
            if node.stopped {
                continue;
            }
            for (c, ch) in node.channels.iter().enumerate() {
                consider(ch.capture_at, Due::Capture(n, c));
                consider(ch.playback_at, Due::Playback(n, c));
            }
            consider(
                node.captured_waiting.then_some(node.next_turn),
                Due::Turn(n),
            );
            consider(node.engine.poll_timeout(), Due::NodeTimer(n));
        }
        if !self.relay_down {
            consider(self.relay.poll_timeout(), Due::RelayTimer);
        }
        best
    }

    fn do_step(&mut self, due: Due) {
        let now = self.now;
        match due {
            Due::Agenda => {
                let (_, item) = self.agenda.pop_first().expect("next_due saw it");
                self.arrive(item);
            }
            Due::Capture(n, c) => self.capture_period(n, c),
            Due::Playback(n, c) => self.playback_period(n, c),
            Due::Turn(n) => self.take_captured(n),
            Due::NodeTimer(n) => {
                self.nodes[n].engine.handle_timeout(now);
                self.take_captured(n);
            }
            Due::RelayTimer => self.relay.handle_timeout(now),
        }
        self.settle();
    }

    fn arrive(&mut self, item: Item) {
        let now = self.now;
        match item {
            Item::ToRelayText { conn, text } => {
                if !self.relay_down {
                    self.relay.handle_text(now, conn, text.as_bytes());
                }
            }
            Item::ToRelayClose { conn } => {
                if !self.relay_down {
                    self.relay.handle_disconnect(now, conn);
                }
            }
            Item::ToRelayDatagram { from, mut bytes } => {
                if !self.relay_down {
                    self.relay.handle_datagram(now, from, &mut bytes);
                }
            }
            Item::ToNodeText { node, conn, text } => {
                let n = &mut self.nodes[node];
                if !n.stopped && n.conn == Some(conn) {
                    n.engine.handle_text(now, &text);
                    self.take_captured(node);
                }
            }
            Item::ToNodeDatagram { node, mut bytes } => {
                let n = &mut self.nodes[node];
                if !n.stopped {
                    n.engine.handle_datagram(now, super::RELAY_UDP, &mut bytes);
                    self.take_captured(node);
                }
            }
            Item::Closed { node, conn, cause } => {
                let n = &mut self.nodes[node];
                if !n.stopped && n.conn == Some(conn) {
                    n.conn = None;
                    n.engine.handle_disconnected(now, cause);
                }
            }
            Item::ConnectAnswer { node, attempt } => self.connect_answer(node, attempt),
            Item::Action(action) => self.act(action),
            Item::OutageEnd {
                node,
                direction,
                path,
            } => self.outage(node, direction, path, false),
            Item::RelayBack => {
                self.relay = Relay::new(self.relay_config.clone())
                    .expect("the config was accepted when the world was built");
                self.relay_down = false;
                self.timeline.push(
                    now,
                    None,
                    What::Fault {
                        what: "relay up again (fresh state)".into(),
                    },
                );
            }
        }
    }

    fn connect_answer(&mut self, node: usize, attempt: u64) {
        let now = self.now;
        let n = &mut self.nodes[node];
        if n.stopped || n.connecting != Some(attempt) {
            return;
        }
        n.connecting = None;
        if self.relay_down || !self.relay_up {
            n.engine.handle_disconnected(now, LinkDown::Connect);
            return;
        }
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        n.conn = Some(conn);
        let peer = n.udp.ip();
        self.relay.handle_connect(now, conn, peer);
        self.nodes[node].engine.handle_connected(now);
    }

    /// Starts a connect attempt for `node` (its engine asked).
    pub(super) fn start_connect(&mut self, node: usize) {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        let n = &mut self.nodes[node];
        n.connecting = Some(attempt);
        if n.up.signaling_down() || n.down.signaling_down() {
            // No answer at all: the engine's connect time-out decides.
            return;
        }
        let rtt = n.up.model.latency + n.down.model.latency;
        let mut wait = Duration::ZERO;
        for _ in 0..self.connect_rtts {
            wait = wait + rtt;
        }
        if wait == Duration::ZERO {
            self.connect_answer(node, attempt);
        } else {
            let at = self.now + wait;
            self.enqueue(at, Item::ConnectAnswer { node, attempt });
        }
    }

    fn act(&mut self, action: Action) {
        let now = self.now;
        let what = format!("{action:?}");
        match action {
            Action::Cor {
                node,
                channel,
                active,
            } => {
                if let Some(ch) = ChannelIndex::new(channel)
                    && !self.nodes[node].stopped
                {
                    self.nodes[node].engine.handle_cor(now, ch, active);
                    self.take_captured(node);
                }
                let channel = self.channel_id(node, channel);
                let id = self.nodes[node].id().to_owned();
                self.timeline.push(
                    now,
                    Some(&id),
                    What::Fault {
                        what: format!(
                            "{channel}: COR line {}",
                            if active { "active" } else { "inactive" }
                        ),
                    },
                );
                return;
            }
            Action::Outage {
                node,
                direction,
                path,
                duration,
            } => {
                let targets: Vec<usize> = match node {
                    Some(n) => vec![n],
                    None => (0..self.nodes.len()).collect(),
                };
                for n in targets {
                    self.outage(n, direction, path, true);
                    self.enqueue(
                        now + duration,
                        Item::OutageEnd {
                            node: n,
                            direction,
                            path,
                        },
                    );
                }
            }
            Action::SetLink {
                node,
                direction,
                model,
            } => {
                if matches!(direction, Direction::Up | Direction::Both) {
                    self.nodes[node].up.model = model.clone();
                }
                if matches!(direction, Direction::Down | Direction::Both) {
                    self.nodes[node].down.model = model;
                }
            }
            Action::RelayRestart { down_for } => {
                self.relay_down = true;
                for n in 0..self.nodes.len() {
                    if let Some(conn) = self.nodes[n].conn {
                        // The process died: the kernel resets its sockets.
                        let at = now + self.nodes[n].down.model.latency;
                        self.enqueue(
                            at,
                            Item::Closed {
                                node: n,
                                conn,
                                cause: LinkDown::Eof,
                            },
                        );
                    }
                }
                self.enqueue(now + down_for, Item::RelayBack);
            }
            Action::Rekey { node } => {
                let targets: Vec<usize> = match node {
                    Some(n) => vec![n],
                    None => (0..self.nodes.len()).collect(),
                };
                for n in targets {
                    if let (Some(conn), false) = (self.nodes[n].conn, self.relay_down) {
                        let _ = self.relay.rekey(now, conn);
                    }
                }
            }
            Action::Shutdown { node } => self.shutdown(node),
        }
        self.timeline.push(now, None, What::Fault { what });
    }

    /// An outage of `node`'s `path` starts or ends; signaling held by it
    /// goes out at its end.
    fn outage(&mut self, node: usize, direction: Direction, path: Path, down: bool) {
        let now = self.now;
        let n = &mut self.nodes[node];
        if matches!(direction, Direction::Up | Direction::Both) {
            n.up.set_outage(path, down);
        }
        if matches!(direction, Direction::Down | Direction::Both) {
            n.down.set_outage(path, down);
        }
        if down {
            return;
        }
        if !n.up.signaling_down() {
            for item in std::mem::take(&mut n.held_up) {
                let at = n.up.text_at(now);
                self.order += 1;
                self.agenda.insert((at, self.order), item);
            }
        }
        let n = &mut self.nodes[node];
        if !n.down.signaling_down() {
            for item in std::mem::take(&mut n.held_down) {
                let at = n.down.text_at(now);
                self.order += 1;
                self.agenda.insert((at, self.order), item);
            }
        }
        let id = self.nodes[node].id().to_owned();
        self.timeline.push(
            now,
            Some(&id),
            What::Fault {
                what: format!("outage over: {direction:?} {path:?}"),
            },
        );
    }

    /// `node` stops as the platform stops: capture ends (open talk-spurts
    /// end), the network takes what is queued, the engine shuts down, the
    /// WebSocket closes.
    fn shutdown(&mut self, node: usize) {
        let now = self.now;
        if self.nodes[node].stopped {
            return;
        }
        for ch in &mut self.nodes[node].channels {
            if let Some(capture) = &mut ch.capture {
                capture.finish();
            }
        }
        self.take_captured(node);
        self.settle();
        self.observe_shutdown(node);
        self.nodes[node].engine.handle_shutdown(now);
        self.settle();
        let n = &mut self.nodes[node];
        n.stopped = true;
        if let Some(conn) = n.conn.take() {
            let at = n.up.text_at(now);
            self.enqueue(at, Item::ToRelayClose { conn });
        }
    }

    pub(super) fn channel_id(&self, node: usize, channel: usize) -> String {
        self.nodes[node]
            .engine
            .config()
            .channels()
            .get(channel)
            .map_or_else(|| format!("channels[{channel}]"), |c| c.id.to_string())
    }

    /// A node's capture queues wait; its next turn is at most
    /// [`IDLE_TURN`] away.
    pub(super) fn turn_later(&mut self, node: usize) {
        let now = self.now;
        let n = &mut self.nodes[node];
        if !n.captured_waiting {
            n.captured_waiting = true;
            n.next_turn = now + IDLE_TURN;
        }
    }
}
