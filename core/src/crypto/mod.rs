//! Packet protection: the key schedule, AES-256-GCM sealing and opening in
//! place, and the anti-replay window.
//!
//! - [`SessionKeys`]: HKDF-SHA256 turns the relay's 32-byte secret into one
//!   AES-256-GCM key and one 4-byte nonce salt per [`Direction`]
//!   (the schedule is specified on the type).
//! - [`Sender`]: seals one stream's datagrams. It owns the sequence counter
//!   and refuses to wrap it, so a nonce cannot repeat under a key.
//! - [`Receiver`]: opens datagrams for a fixed number of streams, holding the
//!   previous key for a grace period after a rekey. It checks the replay
//!   window before decrypting and records a sequence number only after the
//!   tag verifies, so forged datagrams change nothing.
//! - [`ReplayWindow`]: the RFC 6479 bitmap behind the receiver, 128 packets.
//!
//! Per datagram (see DESIGN.md "Wire format v1"): nonce = direction salt ‖
//! `stream_id` (u32 BE) ‖ `seq` (u32 BE); associated data = the 16-byte
//! header; tag = the last 16 bytes.
//!
//! Nothing here allocates, reads a clock or panics on received bytes.

mod keys;
mod open_error;
mod protect;
mod receiver;
mod replay;
mod sender;

pub use keys::{Direction, KEY_LEN, SALT_LEN, SECRET_LEN, Secret, SessionKeys};
pub use open_error::{OpenError, OpenErrorKind, RekeyError};
pub use receiver::{Opened, Receiver};
pub use replay::{REPLAY_WINDOW_LEN, ReplayError, ReplayWindow};
pub use sender::{REKEY_MARGIN_SEQS, SealError, Sender};
