//! One slot of the buffer: a packet held by sequence number, or the mark
//! of one already played (to tell a duplicate from a late packet).

use crate::wire::Flags;

/// Where a slot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlotState {
    /// Never used since the last reset.
    Empty,
    /// Holds a packet not yet played.
    Held,
    /// Held a packet that has been played, dropped or ended its talk-spurt;
    /// kept to tell a duplicate from a late packet.
    Consumed,
}

/// What a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Content {
    Audio,
    EndOfTransmission,
}

/// A packet's header fields, arrival time and payload, inline.
#[derive(Clone)]
pub(super) struct Slot<const N: usize> {
    pub(super) state: SlotState,
    pub(super) content: Content,
    pub(super) seq: u32,
    pub(super) timestamp: u32,
    pub(super) flags: Flags,
    pub(super) arrival_us: i64,
    pub(super) len: u16,
    pub(super) payload: [u8; N],
}

impl<const N: usize> Slot<N> {
    pub(super) const EMPTY: Slot<N> = Slot {
        state: SlotState::Empty,
        content: Content::Audio,
        seq: 0,
        timestamp: 0,
        flags: Flags::NONE,
        arrival_us: 0,
        len: 0,
        payload: [0; N],
    };

    pub(super) fn payload(&self) -> &[u8] {
        &self.payload[..usize::from(self.len).min(N)]
    }
}
