//! One channel's capture side, as `platform-linux/src/runtime/capture.rs`
//! runs it on its thread: each period goes to core's
//! [`Capture`](echostream_core::audio::Capture) (the tone detector and its
//! DTMF sequencer, the VOX, "always" or a COR line, the framer with the
//! stand-in codec, one frame per 20 ms with its media time, marked active
//! or not, coded while active or while the engine wants the packets, the
//! pre-roll kept uncoded meanwhile and coded late); frames and detections wait in bounded queues of the platform's
//! ring sizes ([`FRAME_RING_FRAMES`], [`TONE_RING_EVENTS`]) for the node's
//! network turn. What is decided is core's; this side only reads the
//! virtual sound card and keeps the queues.

use std::collections::VecDeque;

use echostream_core::audio::{
    self, CaptureSink, CodedFrame, Detection, FRAME_RING_FRAMES, FrameKind, Framer, Gate,
    TONE_RING_EVENTS,
};
use echostream_core::time::SampleIndex;
use echostream_core::tone::ChannelDetector;
use echostream_core::tone::dtmf::DtmfSequencer;
use echostream_core::wire::{MediaTimestamp, Seq};

use super::codec::{Encoder, FRAME_SAMPLES};
use super::source::Source;

pub use echostream_core::audio::Heard;

/// One frame for the network turn.
#[derive(Debug, Clone)]
pub struct CapturedFrame {
    /// What it is (coded, uncoded, late, the end).
    pub kind: FrameKind,
    /// Its media time.
    pub timestamp: MediaTimestamp,
    /// The coded frame; empty unless coded or late.
    pub payload: Vec<u8>,
    /// The channel's own sources call it active.
    pub active: bool,
    /// The device frame just past the audio heard.
    pub reached: SampleIndex,
    /// The loudest period's level in it.
    pub level_dbfs: i16,
}

/// What the capture side counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Periods captured.
    pub periods: u64,
    /// Frames queued for the network.
    pub frames: u64,
    /// Frames dropped: the queue was full.
    pub frames_dropped: u64,
    /// Detections queued.
    pub detections: u64,
    /// Detections dropped: the queue was full.
    pub detections_dropped: u64,
}

/// One channel's capture side. See the [module docs](self).
#[derive(Debug)]
pub struct Capture {
    /// The virtual sound card.
    pub source: Source,
    capture: Box<audio::Capture<Encoder, Box<ChannelDetector>, Box<[i16]>>>,
    /// Device samples per period.
    pub period_frames: usize,
    /// The next period's first sample.
    pub next_sample: u64,
    /// Frames waiting for the network turn.
    pub frames: VecDeque<CapturedFrame>,
    /// Detections waiting for the network turn.
    pub heard: VecDeque<Heard>,
    block: Vec<i16>,
    /// Whether the source ended (the end was queued).
    pub finished: bool,
    /// What it counted.
    pub stats: CaptureStats,
}

/// The queues core's capture side hands its frames and detections to.
struct Queues<'a> {
    frames: &'a mut VecDeque<CapturedFrame>,
    heard: &'a mut VecDeque<Heard>,
    stats: &'a mut CaptureStats,
}

impl CaptureSink for Queues<'_> {
    fn frame(&mut self, frame: &CodedFrame<'_>) {
        if self.frames.len() < FRAME_RING_FRAMES {
            self.frames.push_back(CapturedFrame {
                kind: frame.kind,
                timestamp: frame.timestamp,
                payload: frame.payload.to_vec(),
                active: frame.active,
                reached: frame.reached,
                level_dbfs: frame.level_dbfs,
            });
            self.stats.frames += 1;
        } else {
            self.stats.frames_dropped += 1;
        }
    }

    fn heard(&mut self, heard: Heard) {
        if self.heard.len() < TONE_RING_EVENTS {
            self.heard.push_back(heard);
            self.stats.detections += 1;
        } else {
            self.stats.detections_dropped += 1;
        }
    }
}

impl Capture {
    /// A capture side reading `source` in periods of `period_frames`,
    /// behind `gate`, whose first frame has media time `first_timestamp`,
    /// keeping `preroll_frames` frames uncoded while nobody wants packets.
    pub fn new(
        source: Source,
        gate: Gate,
        detector: Option<(Box<ChannelDetector>, Option<DtmfSequencer>)>,
        period_frames: usize,
        first_timestamp: u32,
        preroll_frames: usize,
    ) -> Capture {
        let backlog = vec![0; preroll_frames * FRAME_SAMPLES].into_boxed_slice();
        let framer =
            Framer::with_backlog(Encoder, Seq(0), MediaTimestamp(first_timestamp), backlog);
        let mut capture = Box::new(audio::Capture::new(gate, framer));
        if let Some((detector, sequencer)) = detector {
            capture.set_detection(Detection {
                detector,
                sequencer,
            });
        }
        Capture {
            source,
            capture,
            period_frames,
            next_sample: 0,
            frames: VecDeque::with_capacity(FRAME_RING_FRAMES),
            heard: VecDeque::with_capacity(TONE_RING_EVENTS),
            block: vec![0; period_frames],
            finished: false,
            stats: CaptureStats::default(),
        }
    }

    /// Captures the next period, coding it if the engine `wanted` the
    /// packets (its verdict after its last turn, as the platform's capture
    /// thread reads it) or the channel's own gate is open; returns whether
    /// the network turn should be woken now (core's answer: the channel is
    /// or was active or coding, or a detection came), as the platform's
    /// capture thread wakes its network thread.
    pub fn period(&mut self, wanted: bool) -> bool {
        let start = self.next_sample;
        self.source.fill(start, &mut self.block);
        self.next_sample += self.block.len() as u64;
        self.stats.periods += 1;
        let mut queues = Queues {
            frames: &mut self.frames,
            heard: &mut self.heard,
            stats: &mut self.stats,
        };
        self.capture
            .push_block(SampleIndex(start), &self.block, wanted, &mut queues)
    }

    /// The source ended or the node stops (core's `Capture::finish`): a
    /// sequence still gathering is reported, the partial frame dropped,
    /// and the end queued with the media time the next frame would have.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let mut queues = Queues {
            frames: &mut self.frames,
            heard: &mut self.heard,
            stats: &mut self.stats,
        };
        self.capture.finish(&mut queues);
    }
}
