//! One channel's capture side: the VOX level meter, Opus encoding while
//! somebody wants the channel's packets, and the hand-off of every frame
//! to the network thread.
//!
//! ```text
//! Block ─► core::audio::Capture: detector ─► VOX (or "always", or a COR line)
//!        ─► Framer: Opus while active or wanted, else the PCM into the pre-roll backlog
//!        every frame ─► network ring, marked active or not, coded or not
//!        detections ─► tone ring; the source ends ─► an end-of-transmission marker
//! net thread, after every turn ─► PacketsWanted (the engine's `wants_packets`) ─► read each period
//! ```
//!
//! Whether a frame is sent is not decided here: the node engine
//! (`echostream_core::node`) keeps the pre-roll and opens the channel's
//! gate from this side's verdict and its other sources (the COR line,
//! tone-triggered passthrough). Opus is most of a quiet channel's cost, so
//! it runs only while the channel's own gate is open or the engine wants
//! the packets ([`PacketsWanted`]); meanwhile the framer keeps the last
//! pre-roll's worth of PCM and codes it first when coding starts, so the
//! first syllable still goes out. The network thread is woken while the
//! channel is active or coding and when that changes; quiet frames wait
//! for its next turn.
//!
//! A channel with tone definitions or DTMF also runs its
//! [`ChannelDetector`] here, on every block whatever the VOX says: a page
//! on a quiet channel is still a page. It runs on this thread rather than
//! on a thread of its own fed by a ring: it is sans-IO, allocation-free
//! core code like the encoder beside it, and a second ring and thread per
//! channel would add a copy of every block and a wake-up per period. Its
//! events leave through a fixed-capacity ring to the network thread's
//! node engine; a full ring drops and counts.
//!
//! The decisions (detector first, the gate, the frame marking, when to
//! wake the network, the end) are core's [`Capture`]; the simulator runs
//! the same. This side owns the rings, the waker, the recorder tap and
//! the counters other threads read.
//! Everything is made in [`ChannelCapture::new`] and
//! [`ChannelCapture::with_detector`]; [`ChannelCapture::push_block`]
//! allocates, locks and logs nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use echostream_core::audio::{
    Capture, CaptureSink, CodedFrame, Detection, FrameKind, Framer, LEVEL_FLOOR_DBFS,
};
use echostream_core::tone::ChannelDetector;
use echostream_core::tone::dtmf::DtmfSequencer;
use echostream_core::wire::{MediaTimestamp, Seq};

use crate::audio::Block;
use crate::audio::pipeline::EncodedFrame;
use crate::opus::Encoder;

pub use echostream_core::audio::{Gate, Heard, TONE_RING_EVENTS};

/// Wakes the network thread after frames were queued for it. A
/// `mio::Waker` in the node; anything in tests.
pub trait Wake: Send + Sync {
    /// Called on the capture thread: must not block or allocate.
    fn wake(&self);
}

impl Wake for mio::Waker {
    fn wake(&self) {
        // An eventfd write; it fails only if the counter would overflow,
        // and then the loop is awake anyway.
        let _ = mio::Waker::wake(self);
    }
}

/// Whether the node engine wants a channel's packets
/// (`Node::wants_packets`): written by the network thread after every
/// turn, read by the capture thread every period.
#[derive(Debug, Default)]
pub struct PacketsWanted(AtomicBool);

impl PacketsWanted {
    /// The engine's verdict, from the network thread.
    pub fn set(&self, wanted: bool) {
        self.0.store(wanted, Ordering::Relaxed);
    }

    /// The engine's last verdict.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the capture side has done, readable from any thread.
#[derive(Debug, Default)]
pub struct CaptureStats {
    /// Frames handed to the network thread (every frame, coded or not:
    /// the engine decides which go out).
    pub frames: AtomicU64,
    /// Frames coded (Opus packets made, late ones included).
    pub coded_frames: AtomicU64,
    /// Times the VOX opened.
    pub vox_openings: AtomicU64,
    /// Frames dropped because the network ring was full.
    pub net_ring_full: AtomicU64,
    /// Frames the encoder could not make (the receiver conceals them).
    pub encode_errors: AtomicU64,
    /// Detections (pages, DTMF digits and sequences) handed to the
    /// network thread.
    pub tone_events: AtomicU64,
    /// Detections dropped because the ring to the network thread was full.
    pub tone_events_dropped: AtomicU64,
    /// Periods of audio dropped because the ring to the recorder was full
    /// (the recorder fell more than a ring behind).
    pub recorder_ring_full: AtomicU64,
    /// The input meter: the loudest frame of the last whole second, in
    /// dBFS (meaningful once a second was metered: see
    /// [`level_dbfs`](Self::level_dbfs)).
    pub level_peak_dbfs: AtomicI32,
    /// Seconds metered.
    pub level_seconds: AtomicU64,
}

impl CaptureStats {
    /// The input meter: the level of the loudest 20 ms frame in the last
    /// whole second, in dBFS (−120 is digital silence); `None` before the
    /// first second.
    pub fn level_dbfs(&self) -> Option<i32> {
        (self.level_seconds.load(Ordering::Relaxed) > 0)
            .then(|| self.level_peak_dbfs.load(Ordering::Relaxed))
    }
}

/// Frames in a meter's second (20 ms frames).
const METER_FRAMES: u32 = 50;

/// The input meter's running second, on the capture thread.
#[derive(Debug, Clone, Copy)]
struct Meter {
    peak_dbfs: i16,
    frames: u32,
}

impl Meter {
    const START: Meter = Meter {
        peak_dbfs: LEVEL_FLOOR_DBFS,
        frames: 0,
    };

    /// Takes a frame's level; publishes the peak each whole second.
    fn frame(&mut self, level_dbfs: i16, stats: &CaptureStats) {
        self.peak_dbfs = self.peak_dbfs.max(level_dbfs);
        self.frames += 1;
        if self.frames == METER_FRAMES {
            stats
                .level_peak_dbfs
                .store(i32::from(self.peak_dbfs), Ordering::Relaxed);
            stats.level_seconds.fetch_add(1, Ordering::Relaxed);
            *self = Meter::START;
        }
    }
}

/// Periods of audio the ring to the recorder holds: 2 s of 5 ms periods
/// (the recorder drains it every 20 ms).
pub const PCM_RING_BLOCKS: usize = 400;

/// A ring carrying a channel's audio to the recorder thread.
pub fn pcm_ring() -> (rtrb::Producer<Block>, rtrb::Consumer<Block>) {
    rtrb::RingBuffer::new(PCM_RING_BLOCKS)
}

/// A ring for one channel's detections ([`TONE_RING_EVENTS`]).
pub fn tone_ring() -> (rtrb::Producer<Heard>, rtrb::Consumer<Heard>) {
    rtrb::RingBuffer::new(TONE_RING_EVENTS)
}

/// The capture side of one channel. See the [module docs](self).
pub struct ChannelCapture {
    capture: Capture<Encoder, Box<ChannelDetector>, Box<[i16]>>,
    /// The engine's verdict.
    wanted: Arc<PacketsWanted>,
    to_net: rtrb::Producer<EncodedFrame>,
    /// Where detections go, when the channel detects.
    events: Option<rtrb::Producer<Heard>>,
    waker: Arc<dyn Wake>,
    /// Where the channel's audio goes for recordings, when it records.
    to_recorder: Option<rtrb::Producer<Block>>,
    stats: Arc<CaptureStats>,
    meter: Meter,
}

impl std::fmt::Debug for ChannelCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelCapture")
            .field("active", &self.capture.is_active())
            .field("detecting", &self.events.is_some())
            .finish_non_exhaustive()
    }
}

/// The rings core's capture side hands its frames and detections to.
struct Rings<'a> {
    to_net: &'a mut rtrb::Producer<EncodedFrame>,
    events: Option<&'a mut rtrb::Producer<Heard>>,
    stats: &'a CaptureStats,
    meter: &'a mut Meter,
}

impl CaptureSink for Rings<'_> {
    fn frame(&mut self, frame: &CodedFrame<'_>) {
        if frame.kind != FrameKind::Late {
            // A late packet's frame was metered when it was handed over.
            self.meter.frame(frame.level_dbfs, self.stats);
        }
        let counter = match self.to_net.push(EncodedFrame::from_coded(frame)) {
            Ok(()) => &self.stats.frames,
            Err(_) => &self.stats.net_ring_full,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn heard(&mut self, heard: Heard) {
        let counter = match self.events.as_mut().map(|ring| ring.push(heard)) {
            Some(Ok(())) => &self.stats.tone_events,
            Some(Err(_)) | None => &self.stats.tone_events_dropped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl ChannelCapture {
    /// Everything the step needs, made now: `encoder` codes the frames
    /// of a stream starting at sequence number and media time 0 while the
    /// channel's own gate is open or `wanted` says the engine wants the
    /// packets, keeping the last `preroll_frames` frames' PCM meanwhile
    /// (coded first when coding starts: the engine's pre-roll); every
    /// frame, coded or not, goes to `to_net`.
    pub fn new(
        gate: Gate,
        encoder: Encoder,
        to_net: rtrb::Producer<EncodedFrame>,
        waker: Arc<dyn Wake>,
        wanted: Arc<PacketsWanted>,
        preroll_frames: usize,
    ) -> ChannelCapture {
        let frame_samples = echostream_core::audio::Encoder::frame_pcm_len(&encoder);
        let backlog = vec![0; preroll_frames * frame_samples].into_boxed_slice();
        let framer = Framer::with_backlog(encoder, Seq(0), MediaTimestamp(0), backlog);
        ChannelCapture {
            capture: Capture::new(gate, framer),
            wanted,
            to_net,
            events: None,
            waker,
            to_recorder: None,
            stats: Arc::new(CaptureStats::default()),
            meter: Meter::START,
        }
    }

    /// Runs `detector` on every block from now on, gathering its DTMF
    /// digits with `sequencer`; what they hear goes to `events` (the
    /// network thread's end is the other half of a [`tone_ring`]).
    pub fn with_detector(
        mut self,
        detector: Box<ChannelDetector>,
        sequencer: Option<DtmfSequencer>,
        events: rtrb::Producer<Heard>,
    ) -> ChannelCapture {
        self.capture.set_detection(Detection {
            detector,
            sequencer,
        });
        self.events = Some(events);
        self
    }

    /// Hands every block to the recorder thread through `pcm` (the
    /// producer half of a [`pcm_ring`]); a full ring drops and counts.
    pub fn with_recorder(mut self, pcm: rtrb::Producer<Block>) -> ChannelCapture {
        self.to_recorder = Some(pcm);
        self
    }

    /// The counters, shared.
    pub fn stats(&self) -> Arc<CaptureStats> {
        self.stats.clone()
    }

    /// Whether the channel's own audio calls it active.
    pub fn is_active(&self) -> bool {
        self.capture.is_active()
    }

    /// One captured period. No allocation, lock or logging.
    pub fn push_block(&mut self, block: &Block) {
        if let Some(pcm) = &mut self.to_recorder
            && pcm.push(block.clone()).is_err()
        {
            self.stats
                .recorder_ring_full
                .fetch_add(1, Ordering::Relaxed);
        }
        let mut rings = Rings {
            to_net: &mut self.to_net,
            events: self.events.as_mut(),
            stats: &self.stats,
            meter: &mut self.meter,
        };
        let wanted = self.wanted.get();
        let wake = self
            .capture
            .push_block(block.index, block.frames(), wanted, &mut rings);
        self.publish();
        if wake {
            self.waker.wake();
        }
    }

    /// The source ended or the node stops: the engine is told, so that an
    /// open talk-spurt is ended properly and nobody's speaker or
    /// transmitter hangs on it.
    pub fn finish(&mut self) {
        let mut rings = Rings {
            to_net: &mut self.to_net,
            events: self.events.as_mut(),
            stats: &self.stats,
            meter: &mut self.meter,
        };
        self.capture.finish(&mut rings);
        self.publish();
        self.waker.wake();
    }

    /// Core's counters, for other threads.
    fn publish(&self) {
        let stats = self.capture.stats();
        self.stats
            .vox_openings
            .store(stats.vox_openings, Ordering::Relaxed);
        let framer = self.capture.framer().stats();
        self.stats
            .encode_errors
            .store(framer.encode_errors, Ordering::Relaxed);
        self.stats
            .coded_frames
            .store(framer.frames, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use echostream_core::level::{Vox, VoxConfig};
    use echostream_core::time::SampleIndex;

    use super::*;
    use crate::audio::pipeline::frame_ring;
    use crate::opus::{Application, EncoderConfig, FrameDuration};

    const RATE_HZ: u32 = 48_000;
    const PERIOD: usize = 240;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn encoder() -> Encoder {
        Encoder::new(EncoderConfig {
            sample_rate_hz: RATE_HZ,
            channels: 1,
            application: Application::Voip,
            bitrate_bps: 24_000,
            complexity: 0,
            vbr: true,
            fec: false,
            expected_loss_pct: 0,
            dtx: false,
            frame: FrameDuration::Ms20,
        })
        .expect("encoder")
    }

    fn capture() -> (ChannelCapture, rtrb::Consumer<EncodedFrame>, Arc<Count>) {
        let encoder = encoder();
        let vox = Vox::new(VoxConfig {
            rate_hz: RATE_HZ,
            threshold_dbfs: -40.0,
            debounce_ms: 20,
            hang_ms: 100,
        })
        .expect("vox");
        let (to_net, from_capture) = frame_ring();
        let wakes = Arc::new(Count::default());
        let capture = ChannelCapture::new(
            Gate::Vox(vox),
            encoder,
            to_net,
            wakes.clone(),
            Arc::default(),
            0,
        );
        (capture, from_capture, wakes)
    }

    /// Feeds `periods` periods of a 1 kHz tone at `amplitude`.
    fn feed(capture: &mut ChannelCapture, at: &mut u64, periods: usize, amplitude: f32) {
        let mut block = Block::silent(SampleIndex::ZERO, PERIOD);
        for _ in 0..periods {
            for (i, s) in block.frames_mut().iter_mut().enumerate() {
                let t = (*at + i as u64) as f32 / RATE_HZ as f32;
                *s = (amplitude * 32_767.0 * (std::f32::consts::TAU * 1_000.0 * t).sin()) as i16;
            }
            block.index = SampleIndex(*at);
            *at += PERIOD as u64;
            capture.push_block(&block);
        }
    }

    #[test]
    fn the_input_meter_shows_the_loudest_frame_of_the_last_second() {
        let (mut capture, mut ring, _) = capture();
        let stats = capture.stats();
        let mut at = 0;
        feed(&mut capture, &mut at, 100, 0.1); // 0.5 s, peaks at -20 dBFS
        assert_eq!(stats.level_dbfs(), None, "no whole second yet");
        feed(&mut capture, &mut at, 100, 0.0);
        drain(&mut ring);
        // A sine's RMS is 3 dB under its peak.
        assert_eq!(stats.level_dbfs(), Some(-23));
        feed(&mut capture, &mut at, 200, 0.0);
        drain(&mut ring);
        assert_eq!(stats.level_dbfs(), Some(i32::from(LEVEL_FLOOR_DBFS)));
    }

    fn drain(ring: &mut rtrb::Consumer<EncodedFrame>) -> Vec<EncodedFrame> {
        std::iter::from_fn(|| ring.pop().ok()).collect()
    }

    #[test]
    fn every_frame_goes_to_the_network_marked_by_the_vox_and_quiet_does_not_wake() {
        let (mut capture, mut net, wakes) = capture();
        let mut at = 0;
        feed(&mut capture, &mut at, 80, 0.0); // 400 ms quiet: 20 frames
        let quiet = drain(&mut net);
        assert_eq!(quiet.len(), 20);
        assert!(quiet.iter().all(|f| !f.active));
        assert_eq!(wakes.0.load(Ordering::Relaxed), 0, "quiet frames wait");
        feed(&mut capture, &mut at, 40, 0.3); // 200 ms of talk
        let talk = drain(&mut net);
        assert!(capture.is_active());
        assert_eq!(talk.len(), 10);
        assert!(talk.last().unwrap().active, "the VOX opened");
        assert!(wakes.0.load(Ordering::Relaxed) > 0);
        // Consecutive media throughout.
        let all: Vec<_> = quiet.iter().chain(&talk).collect();
        for pair in all.windows(2) {
            assert_eq!(pair[1].timestamp.0, pair[0].timestamp.0 + 960);
        }
        assert_eq!(capture.stats().vox_openings.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn steered_it_codes_only_what_is_wanted_and_its_preroll_comes_first() {
        let encoder = encoder();
        let (to_net, mut net) = frame_ring();
        let wanted = Arc::new(PacketsWanted::default());
        let mut capture = ChannelCapture::new(
            Gate::Line,
            encoder,
            to_net,
            Arc::new(Count::default()),
            wanted.clone(),
            5,
        );
        let mut at = 0;
        feed(&mut capture, &mut at, 80, 0.3); // 400 ms heard, not wanted
        let quiet = drain(&mut net);
        assert_eq!(quiet.len(), 20);
        assert!(
            quiet
                .iter()
                .all(|f| f.kind == FrameKind::Uncoded && f.len == 0)
        );
        assert_eq!(capture.stats().coded_frames.load(Ordering::Relaxed), 0);
        assert!(capture.stats().level_dbfs().is_none(), "under a second");
        wanted.set(true);
        feed(&mut capture, &mut at, 40, 0.3); // 200 ms wanted
        let talk = drain(&mut net);
        let packets: Vec<_> = talk
            .iter()
            .filter(|f| matches!(f.kind, FrameKind::Late | FrameKind::Coded))
            .collect();
        assert_eq!(packets.len(), 15, "the five kept, then ten as they came");
        assert!(packets[..5].iter().all(|f| f.kind == FrameKind::Late));
        assert!(packets.iter().all(|f| f.len > 0));
        assert_eq!(
            packets[0].timestamp.0,
            15 * 960,
            "the last five quiet frames"
        );
        for pair in packets.windows(2) {
            assert_eq!(pair[1].timestamp.0, pair[0].timestamp.0 + 960);
        }
        assert_eq!(capture.stats().coded_frames.load(Ordering::Relaxed), 15);
        wanted.set(false);
        feed(&mut capture, &mut at, 60, 0.3);
        assert!(drain(&mut net).iter().all(|f| f.kind == FrameKind::Uncoded));
        // 45 frames heard: the five late packets were metered as the
        // frames they are (else 50 would make a second).
        assert_eq!(capture.stats().level_seconds.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn finishing_sends_an_end_marker_at_the_next_media_time() {
        let (mut capture, mut net, _) = capture();
        let mut at = 0;
        feed(&mut capture, &mut at, 40, 0.3);
        let sent = drain(&mut net);
        capture.finish();
        let end = drain(&mut net);
        assert_eq!(end.len(), 1);
        assert!(end[0].is_end_of_transmission());
        assert_eq!(
            end[0].timestamp.0,
            sent.last().unwrap().timestamp.0 + 960,
            "the end takes the next frame's media time"
        );
        assert!(!capture.is_active());
    }
}
