//! One channel's state in the engine: its stream while registered, the
//! activity gate (when it talks), its captured frames and its received
//! numbering.
//!
//! The gate: a channel is open while any of its activity sources says so.
//! Today that is the capture side's own verdict on each frame (VOX open,
//! or a channel set to "always") and a tone-triggered passthrough it
//! carries (then the source's audio, not its own, is sent); the COR line
//! joins them as a further source. Opening sends the pre-roll
//! first, flags the first frame sealed as the start of a talk-spurt and
//! announces `transmit active:true`; closing sends an end of transmission
//! and, [`TRANSMIT_END_DELAY`](super::TRANSMIT_END_DELAY) later,
//! `transmit active:false`.

use crate::crypto::Sender;
use crate::passthrough::Routes;
use crate::record::RecordPlanner;
use crate::time::SampleIndex;
use crate::wire::{MediaTimestamp, Seq, StreamId};

use super::ChannelIndex;

use super::frames::FrameRing;
use super::seq_map::SeqMap;

/// A registered channel's stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) id: StreamId,
    pub(crate) sender: Sender,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) preroll_frames: usize,
    pub(crate) stream: Option<Stream>,
    /// `register` was sent and `registered` has not come yet.
    pub(crate) registering: bool,
    pub(crate) seq_map: SeqMap,
    pub(crate) frames: FrameRing,
    /// The capture side's verdict on its last frame.
    pub(crate) source_active: bool,
    /// Frames the capture side handed over uncoded since its last coded
    /// one, less the late packets of them that came since: its backlog,
    /// which holds the newest part of the pre-roll.
    pub(crate) uncoded_run: usize,
    /// The media time of the source's last frame before its passthrough
    /// started: late packets after it are passed through, older ones
    /// (the pages' tones) are not.
    pub(crate) routed_after: MediaTimestamp,
    /// The gate is open: captured frames go out.
    pub(crate) open: bool,
    /// The next audio frame sealed starts a talk-spurt.
    pub(crate) start_pending: bool,
    /// Audio was sealed since the last end of transmission.
    pub(crate) transmitting: bool,
    /// `transmit active:true` was sent and `active:false` not yet.
    pub(crate) announced: bool,
    /// Node ids in the last `users_connected` for it.
    pub(crate) users: usize,
    /// How far its captured audio has come (its media clock).
    pub(crate) reached: SampleIndex,
    /// The media time of its latest captured frame.
    pub(crate) last_timestamp: MediaTimestamp,
    /// When it records after a page.
    pub(crate) planner: Option<RecordPlanner>,
    /// Where its audio is passed through to, as a source.
    pub(crate) routes: Routes,
    /// The channel whose audio it carries, as a passthrough target: its
    /// own captured audio is not sent meanwhile.
    pub(crate) carrying: Option<ChannelIndex>,
    /// The next sequence number of passed-through audio played out of it.
    pub(crate) local_seq: Seq,
    /// The next passed-through frame played out of it starts a talk-spurt.
    pub(crate) local_start: bool,
    /// Its radio (COR line, transmitter), if it has one.
    pub(crate) radio: Option<super::radio::Radio>,
}

impl Channel {
    pub(crate) fn new(config: &super::ChannelConfig) -> Channel {
        Channel {
            reached: SampleIndex::ZERO,
            last_timestamp: MediaTimestamp(0),
            planner: config.record.map(RecordPlanner::new),
            routes: Routes::new(config.rate_hz),
            carrying: None,
            local_seq: Seq(0),
            local_start: true,
            radio: config.radio.map(super::radio::Radio::new),
            preroll_frames: config.preroll_frames,
            stream: None,
            registering: false,
            seq_map: SeqMap::new(),
            frames: FrameRing::new(),
            source_active: false,
            uncoded_run: 0,
            routed_after: MediaTimestamp(0),
            open: false,
            start_pending: true,
            transmitting: false,
            announced: false,
            users: 0,
        }
    }

    /// Whether the gate should be open.
    pub(crate) fn wants_open(&self) -> bool {
        if self.carrying.is_some() {
            return true;
        }
        let Some(radio) = &self.radio else {
            return self.source_active;
        };
        // A COR line, when it has one, says whether the receiver hears.
        let heard = if radio.cor.is_some() {
            radio.cor_open()
        } else {
            self.source_active
        };
        // A half-duplex radio hears its own transmitter: not sent.
        heard && (radio.config.full_duplex || !radio.keyed())
    }

    /// The session ended: the stream is gone; a talk-spurt still open
    /// starts afresh on the next session.
    pub(crate) fn end_session(&mut self) {
        self.stream = None;
        self.registering = false;
        self.transmitting = false;
        self.announced = false;
        self.start_pending = true;
    }
}
