//! New keys for welcomed sessions, on demand or when a sender nears the
//! end of its sequence numbers.

use echostream_core::time::{Duration, Instant};
use echostream_core::wire::signal::ToNode;

use super::session::Phase;
use super::{RekeyRefused, Relay};

impl Relay {
    pub(super) fn run_due_rekeys(&mut self, now: Instant) {
        if !std::mem::take(&mut self.out.rekey_due) {
            return;
        }
        for slot in 0..self.sessions.len() {
            if self.sessions[slot].as_ref().is_some_and(|s| s.rekey_due) {
                // Failures are counted; the flag stays set to retry later
                // only for a failed random source, see rekey_slot.
                let _ = self.rekey_slot(now, slot);
            }
        }
    }

    /// Issues the session in `slot` a new key: the `rekey` frame is
    /// queued first, and nothing changes unless it fits (a key the node is
    /// never told of must not open or seal anything); the receiver takes
    /// the key at once, the senders when the frame is handed out.
    pub(super) fn rekey_slot(&mut self, now: Instant, slot: usize) -> Result<(), RekeyRefused> {
        use echostream_core::crypto::{Secret, SessionKeys};
        use echostream_core::wire::signal::SecretBytes;

        let grace = Duration::from_millis(u64::from(self.config.key_grace_ms));
        let session = self.session_mut(slot);
        session.rekey_due = false;
        if session.phase != Phase::Welcomed {
            return Err(RekeyRefused::NotWelcomed);
        }
        if session.keys.as_ref().is_some_and(|k| k.next.is_some()) {
            // Announced and about to seal: that key is the newest.
            return Ok(());
        }
        // Checked before a key id is used up on a frame that cannot go:
        // a key the node cannot be told of leaves it with dead audio
        // soon, so the session is closed and the node starts afresh.
        if !self.out.has_text_room(slot) {
            self.counters.drops.text_queue_full += 1;
            self.counters.rekey_failures += 1;
            self.session_mut(slot).state_lost = true;
            self.state_lost_any = true;
            return Err(RekeyRefused::QueueFull);
        }
        let Ok(issued) = self.session_mut(slot).issuer.issue() else {
            self.counters.rekey_failures += 1;
            return Err(RekeyRefused::Failed);
        };
        let text = self.out.text(&ToNode::Rekey {
            key: SecretBytes::new(issued.secret),
            key_id: issued.key_id,
        });
        let Ok(text) = text else {
            self.counters.drops.text_store_full += 1;
            self.counters.rekey_failures += 1;
            self.session_mut(slot).state_lost = true;
            self.state_lost_any = true;
            return Err(RekeyRefused::QueueFull);
        };
        let keys = SessionKeys::derive(&Secret::from_bytes(issued.secret), issued.key_id);
        let state = self
            .session_mut(slot)
            .keys
            .as_mut()
            .expect("welcomed sessions have keys");
        if state.receiver.rekey(now, &keys, grace).is_err() {
            self.out.release_text(Ok(text));
            self.counters.rekey_failures += 1;
            return Err(RekeyRefused::Failed);
        }
        let new_key_id = keys.key_id();
        state.next = Some(keys);
        // Key ids wrap: a stream's newest datagram under an old key of the
        // same id must not outrank the first ones under this key.
        for membership in &mut self.session_mut(slot).memberships {
            if membership
                .newest
                .is_some_and(|(key_id, _)| key_id == new_key_id)
            {
                membership.newest = None;
            }
        }
        self.out.queue_rekey(slot, text);
        self.out.release_text(Ok(text));
        self.counters.rekeys += 1;
        Ok(())
    }
}
