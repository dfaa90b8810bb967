//! Shared pieces of the network tests: a relay on loopback, a UDP proxy,
//! and a node under test with its rings and events.

#![allow(dead_code, reason = "each test file uses a different subset")]

pub mod test_relay;
pub mod udp_proxy;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use echostream::audio::pipeline::{EncodedFrame, frame_ring};
use echostream::net::{NetChannel, NetCountersSnapshot, NetEvent, NetHandle, NetLoop, NetSettings};
use echostream_core::audio::FrameKind;
use echostream_core::wire::{Flags, MediaTimestamp, Seq};
use mio::Waker;

/// Samples of 48 kHz media time in one 20 ms frame.
pub const FRAME_UNITS: u32 = 960;

/// Settings for a node named `id` connecting to `url`, reconnecting
/// within 1 s.
pub fn settings(id: &str, url: &str) -> NetSettings {
    NetSettings {
        node_id: id.to_owned(),
        url: url.to_owned(),
        token: "test-token-0123456789".to_owned(),
        ca_file: None,
        connect_timeout: Duration::from_secs(2),
        reconnect_max: Duration::from_secs(1),
    }
}

/// Polls `condition` every 2 ms until it holds; panics naming `what`
/// after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// An audio frame whose payload names `n`.
pub fn audio_frame(n: u32, start: bool) -> EncodedFrame {
    let payload = payload(n);
    let mut frame = EncodedFrame::end_of_transmission(Seq(n), MediaTimestamp(n * FRAME_UNITS));
    frame.kind = FrameKind::Coded;
    frame.flags = if start {
        Flags::START_OF_TALKSPURT
    } else {
        Flags::NONE
    };
    frame.len = payload.len() as u16;
    frame.bytes[..payload.len()].copy_from_slice(&payload);
    // The channel's own sources call it active: the engine sends it.
    frame.active = true;
    frame
}

/// The payload of frame `n`: recognisable, of varying length.
pub fn payload(n: u32) -> Vec<u8> {
    let mut bytes = format!("opus frame {n:05} ").into_bytes();
    bytes.resize(40 + (n as usize * 7) % 120, (n % 251) as u8);
    bytes
}

/// A node under test: the loop, the audio side of its rings, its events.
pub struct Node {
    pub id: String,
    handle: Option<NetHandle>,
    waker: Arc<Waker>,
    capture: HashMap<String, rtrb::Producer<EncodedFrame>>,
    playback: HashMap<String, rtrb::Consumer<EncodedFrame>>,
    /// Every event so far, in order.
    pub seen: Vec<NetEvent>,
    /// Where [`Node::wait_for`] looks next.
    next: usize,
}

impl Node {
    /// A node `id` on `channels`, connecting to `url`.
    pub fn start(id: &str, url: &str, channels: &[&str]) -> Node {
        Node::start_with(settings(id, url), channels)
    }

    /// A node with explicit settings.
    pub fn start_with(settings: NetSettings, channels: &[&str]) -> Node {
        let id = settings.node_id.clone();
        let mut capture = HashMap::new();
        let mut playback = HashMap::new();
        let mut net_channels = Vec::new();
        for &channel in channels {
            let (to_net, outgoing) = frame_ring();
            let (incoming, from_net) = frame_ring();
            capture.insert(channel.to_owned(), to_net);
            playback.insert(channel.to_owned(), from_net);
            net_channels.push(NetChannel {
                id: channel.to_owned(),
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
            });
        }
        let net = NetLoop::new(settings, net_channels).expect("valid settings");
        let waker = net.waker();
        let handle = net.spawn().expect("the net thread starts");
        Node {
            id,
            handle: Some(handle),
            waker,
            capture,
            playback,
            seen: Vec::new(),
            next: 0,
        }
    }

    /// Pushes a frame into `channel`'s capture ring and wakes the loop,
    /// as the capture thread does.
    pub fn push(&mut self, channel: &str, frame: EncodedFrame) {
        self.capture
            .get_mut(channel)
            .expect("a channel of this node")
            .push(frame)
            .expect("the capture ring has room");
        self.waker.wake().expect("the loop is running");
    }

    /// Free slots in `channel`'s capture ring.
    pub fn capture_slots(&self, channel: &str) -> usize {
        self.capture[channel].slots()
    }

    /// Everything `channel`'s playback ring holds now.
    pub fn pop_all(&mut self, channel: &str) -> Vec<EncodedFrame> {
        let ring = self
            .playback
            .get_mut(channel)
            .expect("a channel of this node");
        let mut frames = Vec::new();
        while let Ok(frame) = ring.pop() {
            frames.push(frame);
        }
        frames
    }

    /// One frame from `channel`'s playback ring, if any.
    pub fn pop(&mut self, channel: &str) -> Option<EncodedFrame> {
        self.playback.get_mut(channel)?.pop().ok()
    }

    /// The loop's counters now.
    pub fn counters(&self) -> NetCountersSnapshot {
        self.handle().counters().snapshot()
    }

    fn handle(&self) -> &NetHandle {
        self.handle.as_ref().expect("running until stop")
    }

    /// Takes every queued event into [`Node::seen`].
    pub fn collect(&mut self) {
        while let Ok(event) = self.handle.as_ref().expect("running").events().try_recv() {
            self.seen.push(event);
        }
    }

    /// Whether any event so far matches.
    pub fn saw(&mut self, matches: impl Fn(&NetEvent) -> bool) -> bool {
        self.collect();
        self.seen.iter().any(matches)
    }

    /// The first event after the last one waited for that matches;
    /// panics naming `what` (and listing the events) after `timeout`.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&NetEvent) -> bool,
    ) -> NetEvent {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.seen[self.next..].iter().position(&matches) {
                let at = self.next + i;
                self.next = at + 1;
                return self.seen[at].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{}: timed out waiting for {what}; events: {:#?}",
                self.id,
                self.seen
            );
            let receiver = self.handle.as_ref().expect("running").events();
            if let Ok(event) = receiver.recv_timeout(left.min(Duration::from_millis(50))) {
                self.seen.push(event);
            }
        }
    }

    /// Waits for `channel` to be registered; returns its stream id.
    pub fn wait_registered(&mut self, channel: &str) -> u32 {
        let event = self.wait_for(
            "registered",
            Duration::from_secs(5),
            |e| matches!(e, NetEvent::Registered { channel: c, .. } if c == channel),
        );
        match event {
            NetEvent::Registered { stream_id, .. } => stream_id,
            _ => unreachable!("matched above"),
        }
    }

    /// Waits until the relay has echoed a heartbeat more than `before`
    /// times (so it knows this node's UDP address).
    pub fn wait_echoes_above(&self, before: u64) {
        wait_until(Duration::from_secs(5), "a heartbeat echo", || {
            self.counters().heartbeats_echoed > before
        });
    }

    /// Stops the loop; panics if its thread panicked.
    pub fn stop(mut self) {
        self.handle
            .take()
            .expect("running")
            .stop()
            .expect("the net thread ends without panicking");
    }
}
