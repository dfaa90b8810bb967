//! What waits to be sent, and handing it out.
//!
//! Queues hold small descriptors; the bytes sit once in one of two
//! [`Store`]s however many queues refer to them: a text frame emitted
//! once for every member of a channel, an audio payload copied once for
//! every listener. [`Outputs::pop`] copies a frame into the buffer the
//! driver lends, or seals a datagram there under the recipient's stream,
//! so nothing is allocated per output. Everything here is allocated when
//! the relay starts, sized from [`Limits`].

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;

use echostream_core::crypto::SealError;
use echostream_core::wire::signal::{MAX_MESSAGE_LEN, ToNode};
use echostream_core::wire::{Flags, HEADER_LEN, Kind, MAX_PAYLOAD_LEN, MediaTimestamp};

use super::config::Limits;
use super::counters::Drops;
use super::output::{CloseReason, ConnId, MAX_OUTPUT_LEN, Output};
use super::session::Session;
use super::store::{Entry, Store, StoreFull};

/// Text chunk size: a `transmit`, `registered` or `pong` frame fits one.
const TEXT_CHUNK_LEN: usize = 256;
/// Payload chunk size: a 20 ms Opus frame up to 48 kb/s (120 bytes) fits
/// one.
const PAYLOAD_CHUNK_LEN: usize = 128;

const _: () = assert!(HEADER_LEN + MAX_PAYLOAD_LEN <= MAX_OUTPUT_LEN);

/// A text frame emitted into the text store, or why it could not be; the
/// caller holds one reference and lets it go with [`Outputs::release_text`].
pub(super) type Text = Result<Entry, StoreFull>;

/// A frame that carries state found no room: the session's view is no
/// longer the relay's, so it must be closed (and the node reconnects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StateLost;

/// A datagram to seal when it is polled: everything but the payload and
/// the sequence number, which the recipient's sender assigns then.
#[derive(Debug, Clone, Copy)]
pub(super) struct Datagram {
    pub(super) to: SocketAddr,
    /// The recipient's membership (stream) whose sender seals it.
    pub(super) membership: usize,
    pub(super) kind: Kind,
    pub(super) flags: Flags,
    pub(super) timestamp: MediaTimestamp,
}

/// What losing a frame would cost, which decides what a full queue does
/// with it (module docs of [`engine`](super), "Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// `registered`, `transmit`, `rekey`, `welcome`, `error`: the node's
    /// view of the relay is wrong without it, so a queue that cannot take
    /// it means the session must be closed.
    State,
    /// `users_connected` of the channel in this slot: only the newest
    /// counts, so it replaces one still queued for the same channel; if
    /// none is queued and there is no room, it is state like any other.
    Members { channel: usize },
    /// `pong`, `tone_detected`: an event the node can do without; dropped
    /// and counted when the session's queue is half full or the store is
    /// three quarters full, which keeps the rest for state.
    Droppable,
}

/// A queued frame; `rekey` when handing it out switches the session to
/// the keys it announces.
#[derive(Debug, Clone, Copy)]
struct QueuedText {
    text: Entry,
    rekey: bool,
    class: Class,
}

#[derive(Debug, Clone, Copy)]
struct QueuedDatagram {
    datagram: Datagram,
    payload: Entry,
}

/// One session slot's queues, allocated at start to their limits.
struct Outbox {
    texts: VecDeque<QueuedText>,
    datagrams: VecDeque<QueuedDatagram>,
}

impl Outbox {
    fn is_empty(&self) -> bool {
        self.texts.is_empty() && self.datagrams.is_empty()
    }
}

/// An error frame for a closed connection, or its close.
#[derive(Debug, Clone, Copy)]
enum Control {
    Text { conn: ConnId, text: Entry },
    Close { conn: ConnId, reason: CloseReason },
}

/// Every output queue of the relay and the stores behind them.
pub(super) struct Outputs {
    /// Error frames of closed connections and their `Close`s.
    control: VecDeque<Control>,
    /// Indexed by session slot; empty for a free slot.
    outboxes: Vec<Outbox>,
    /// One bit per session slot whose outbox may hold something, so that
    /// [`pop`](Self::pop) skips idle slots 64 at a time.
    pending: Vec<u64>,
    texts: Store,
    payloads: Store,
    /// Where a message is emitted before it is stored.
    scratch: Box<[u8]>,
    /// Where the round robin of [`pop`](Self::pop) resumes.
    cursor: usize,
    /// A sender neared the end of its sequence numbers in `pop` since
    /// the relay last ran its due rekeys: some session has `rekey_due`.
    pub(super) rekey_due: bool,
    text_queue_len_max: usize,
    datagram_queue_len_max: usize,
    control_queue_len_max: usize,
}

impl Outputs {
    /// Empty queues and stores sized from validated `limits`.
    pub(super) fn new(limits: &Limits) -> Outputs {
        let outbox = || Outbox {
            texts: VecDeque::with_capacity(limits.text_queue_len_max),
            datagrams: VecDeque::with_capacity(limits.datagram_queue_len_max),
        };
        Outputs {
            control: VecDeque::with_capacity(limits.control_queue_len_max),
            outboxes: (0..limits.slots()).map(|_| outbox()).collect(),
            pending: vec![0; limits.slots().div_ceil(64)],
            texts: Store::new(limits.queued_text_bytes_max, TEXT_CHUNK_LEN),
            payloads: Store::new(limits.queued_payload_bytes_max, PAYLOAD_CHUNK_LEN),
            scratch: vec![0; MAX_MESSAGE_LEN].into_boxed_slice(),
            cursor: 0,
            rekey_due: false,
            text_queue_len_max: limits.text_queue_len_max,
            datagram_queue_len_max: limits.datagram_queue_len_max,
            control_queue_len_max: limits.control_queue_len_max,
        }
    }

    /// Emits `message` once into the text store, for any number of
    /// [`queue_text`](Self::queue_text) calls.
    pub(super) fn text(&mut self, message: &ToNode<'_>) -> Text {
        let len = message
            .emit(&mut self.scratch)
            .expect("a MAX_MESSAGE_LEN buffer holds any message");
        self.texts.insert(&self.scratch[..len])
    }

    /// Emits `message` like [`text`](Self::text), but only while the
    /// store keeps a quarter of its bytes free: the rest is for state.
    pub(super) fn droppable_text(&mut self, message: &ToNode<'_>) -> Text {
        let len = message
            .emit(&mut self.scratch)
            .expect("a MAX_MESSAGE_LEN buffer holds any message");
        if self.texts.free_len() < self.texts.capacity_len() / 4 + len {
            return Err(StoreFull);
        }
        self.texts.insert(&self.scratch[..len])
    }

    /// Queues `text` of `class` for the session in `slot`. A
    /// [`Class::Droppable`] frame that does not fit is counted and
    /// dropped; a `users_connected` replaces the one queued for its
    /// channel (counted in `coalesced`).
    ///
    /// # Errors
    /// [`StateLost`]: a frame that carries state found no room in the
    /// queue or the store (counted): the caller must close the session.
    pub(super) fn queue_text(
        &mut self,
        slot: usize,
        text: Text,
        class: Class,
        drops: &mut Drops,
        coalesced: &mut u64,
    ) -> Result<(), StateLost> {
        let queue = &mut self.outboxes[slot].texts;
        if let (Class::Members { .. }, Ok(entry)) = (class, text)
            && let Some(at) = queue.iter().position(|q| q.class == class)
        {
            let old = queue.remove(at).expect("found above");
            self.texts.release(old.text);
            *coalesced += 1;
            self.push_text(slot, entry, false, class);
            return Ok(());
        }
        let room = match class {
            Class::Droppable => queue.len() < self.text_queue_len_max.div_ceil(2),
            Class::State | Class::Members { .. } => queue.len() < self.text_queue_len_max,
        };
        let lost = if !room {
            drops.text_queue_full += 1;
            true
        } else if let Ok(entry) = text {
            self.push_text(slot, entry, false, class);
            false
        } else {
            drops.text_store_full += 1;
            true
        };
        match class {
            Class::State | Class::Members { .. } if lost => Err(StateLost),
            _ => Ok(()),
        }
    }

    /// Whether the text queue of the session in `slot` takes one more.
    pub(super) fn has_text_room(&self, slot: usize) -> bool {
        self.outboxes[slot].texts.len() < self.text_queue_len_max
    }

    /// Queues a `rekey` frame for the session in `slot`: handing it out
    /// switches the session's senders to the keys waiting in
    /// [`Keys::next`](super::session::Keys::next).
    ///
    /// # Panics
    /// The queue is full: the caller checks [`has_text_room`](Self::has_text_room)
    /// first, since a `rekey` must not be lost once its key opens anything.
    pub(super) fn queue_rekey(&mut self, slot: usize, text: Entry) {
        assert!(
            self.has_text_room(slot),
            "queue_rekey is called after has_text_room"
        );
        self.push_text(slot, text, true, Class::State);
    }

    fn push_text(&mut self, slot: usize, text: Entry, rekey: bool, class: Class) {
        self.texts.share(text);
        self.outboxes[slot]
            .texts
            .push_back(QueuedText { text, rekey, class });
        self.pending[slot / 64] |= 1 << (slot % 64);
    }

    /// Lets go of the reference [`text`](Self::text) gave the caller.
    pub(super) fn release_text(&mut self, text: Text) {
        if let Ok(entry) = text {
            self.texts.release(entry);
        }
    }

    /// Queues `datagram` with `payload` for the session in `slot`. The
    /// payload is copied into the store on first use and kept in
    /// `stored` for the other recipients of the same fan-out; the caller
    /// lets it go with [`release_payload`](Self::release_payload). A full
    /// queue or store is counted.
    pub(super) fn queue_datagram(
        &mut self,
        slot: usize,
        datagram: Datagram,
        payload: &[u8],
        stored: &mut Option<Result<Entry, StoreFull>>,
        drops: &mut Drops,
    ) {
        if payload.len() > MAX_PAYLOAD_LEN {
            // An opened payload is at most MAX_PAYLOAD_LEN; never here.
            drops.seal_failed += 1;
            return;
        }
        let queue = &mut self.outboxes[slot].datagrams;
        if queue.len() >= self.datagram_queue_len_max {
            drops.datagram_queue_full += 1;
            return;
        }
        match *stored.get_or_insert_with(|| self.payloads.insert(payload)) {
            Ok(entry) => {
                self.payloads.share(entry);
                queue.push_back(QueuedDatagram {
                    datagram,
                    payload: entry,
                });
                self.pending[slot / 64] |= 1 << (slot % 64);
            }
            Err(StoreFull) => drops.payload_store_full += 1,
        }
    }

    /// Lets go of the fan-out's own reference to its payload.
    pub(super) fn release_payload(&mut self, stored: Option<Result<Entry, StoreFull>>) {
        if let Some(Ok(entry)) = stored {
            self.payloads.release(entry);
        }
    }

    /// Queues a `Close` (and no frame) for `conn`; a full queue is
    /// counted.
    pub(super) fn push_close(&mut self, conn: ConnId, reason: CloseReason, drops: &mut Drops) {
        if self.control.len() < self.control_queue_len_max {
            self.control.push_back(Control::Close { conn, reason });
        } else {
            drops.control_queue_full += 1;
        }
    }

    /// Queues an `error` frame for a connection about to be closed,
    /// leaving room for the `Close` that follows: it matters more.
    pub(super) fn push_error(&mut self, conn: ConnId, message: &ToNode<'_>, drops: &mut Drops) {
        if self.control.len() + 1 >= self.control_queue_len_max {
            drops.control_queue_full += 1;
            return;
        }
        match self.text(message) {
            // The queue takes over the reference `text` gave.
            Ok(text) => self.control.push_back(Control::Text { conn, text }),
            Err(StoreFull) => drops.text_store_full += 1,
        }
    }

    /// Drops whatever is queued for the session in `slot`.
    pub(super) fn clear(&mut self, slot: usize) {
        let outbox = &mut self.outboxes[slot];
        for queued in outbox.texts.drain(..) {
            self.texts.release(queued.text);
        }
        for queued in outbox.datagrams.drain(..) {
            self.payloads.release(queued.payload);
        }
        self.pending[slot / 64] &= !(1 << (slot % 64));
    }

    /// The next output into `buf` (at least [`MAX_OUTPUT_LEN`] bytes):
    /// the close queue first, then one frame or datagram per session
    /// slot in turn, a session's frames before its datagrams. A datagram
    /// is sealed here, under its recipient's sender; one that cannot be
    /// is counted and the next is tried. Handing out a `rekey` frame
    /// switches its session's senders to the new keys, so no datagram is
    /// sealed under a key before the frame announcing it.
    pub(super) fn pop(
        &mut self,
        sessions: &mut [Option<Session>],
        buf: &mut [u8],
        drops: &mut Drops,
    ) -> Option<Output> {
        if let Some(control) = self.control.pop_front() {
            return Some(match control {
                Control::Text { conn, text } => Output::SendText {
                    conn,
                    len: self.take_text(text, buf),
                    droppable: false,
                },
                Control::Close { conn, reason } => Output::Close { conn, reason },
            });
        }
        // Each turn returns or clears a bit: `pop_slot` gives `None` only
        // once the outbox is empty.
        while let Some(slot) = self.next_pending() {
            let session = sessions[slot]
                .as_mut()
                .expect("a pending slot holds a live session: clear runs on removal");
            let output = self.pop_slot(slot, session, buf, drops);
            if self.outboxes[slot].is_empty() {
                self.pending[slot / 64] &= !(1 << (slot % 64));
            }
            if output.is_some() {
                self.cursor = (slot + 1) % self.outboxes.len();
                return output;
            }
        }
        None
    }

    /// The first pending slot at or after the cursor, wrapping around.
    fn next_pending(&self) -> Option<usize> {
        let first_from = |start: usize, end: usize| {
            let mut i = start;
            while i < end {
                let word = self.pending[i / 64] >> (i % 64);
                if word != 0 {
                    let found = i + word.trailing_zeros() as usize;
                    return (found < end).then_some(found);
                }
                i = (i / 64 + 1) * 64;
            }
            None
        };
        first_from(self.cursor, self.outboxes.len()).or_else(|| first_from(0, self.cursor))
    }

    fn pop_slot(
        &mut self,
        slot: usize,
        session: &mut Session,
        buf: &mut [u8],
        drops: &mut Drops,
    ) -> Option<Output> {
        if let Some(queued) = self.outboxes[slot].texts.pop_front() {
            let len = self.take_text(queued.text, buf);
            if queued.rekey {
                session.seal_under_next_keys();
            }
            return Some(Output::SendText {
                conn: session.conn,
                len,
                droppable: queued.class == Class::Droppable,
            });
        }
        while let Some(queued) = self.outboxes[slot].datagrams.pop_front() {
            let d = queued.datagram;
            let payload_len = self
                .payloads
                .copy_to(queued.payload, &mut buf[HEADER_LEN..]);
            self.payloads.release(queued.payload);
            let sender = &mut session.memberships[d.membership].sender;
            let sealed = sender.seal(d.kind, d.flags, d.timestamp, payload_len, buf);
            if sender.needs_rekey() {
                session.rekey_due = true;
                self.rekey_due = true;
            }
            match sealed {
                Ok(len) => return Some(Output::SendDatagram { to: d.to, len }),
                Err(SealError::SequenceExhausted) => {
                    session.rekey_due = true;
                    self.rekey_due = true;
                    drops.seal_failed += 1;
                }
                Err(_) => drops.seal_failed += 1,
            }
        }
        None
    }

    /// Copies a queued text into `buf` and lets go of the queue's
    /// reference.
    fn take_text(&mut self, text: Entry, buf: &mut [u8]) -> usize {
        let len = self.texts.copy_to(text, buf);
        self.texts.release(text);
        len
    }
}

impl fmt::Debug for Outputs {
    // The scratch buffer holds the last frame emitted, keys included:
    // print how much waits, never bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queued = |count: fn(&Outbox) -> usize| self.outboxes.iter().map(count).sum::<usize>();
        f.debug_struct("Outputs")
            .field("control", &self.control.len())
            .field("texts", &queued(|o| o.texts.len()))
            .field("datagrams", &queued(|o| o.datagrams.len()))
            .field("text_store", &self.texts)
            .field("payload_store", &self.payloads)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
