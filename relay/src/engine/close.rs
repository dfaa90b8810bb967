//! Ending sessions: closing them with a reason, and forgetting a session
//! and its streams, which its channels are told of.

use super::members::{error_message, transmit_message};
use super::outbox::Class;
use super::{CloseReason, Relay, error_code};

impl Relay {
    /// Closes every session that could not be sent state, and any whose
    /// leaving that overflows in turn. Called at the end of every input,
    /// so `poll_output` never hands out a frame to a session whose view
    /// is wrong. Each close removes a session, so it ends.
    pub(super) fn close_lost(&mut self) {
        if !self.state_lost_any {
            return;
        }
        for _ in 0..=self.sessions.len() {
            let lost = self
                .sessions
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.state_lost));
            let Some(slot) = lost else {
                self.state_lost_any = false;
                return;
            };
            self.counters.sessions_closed_queue_full += 1;
            self.close(
                slot,
                CloseReason::QueueFull,
                Some((error_code::LIMIT, "too slow to keep in step: reconnect")),
            );
        }
        unreachable!("each close removes a live session");
    }

    /// Closes the session in `slot`: its queued frames are dropped, an
    /// optional `error` is sent, then `Close`; its channels are updated.
    pub(super) fn close(&mut self, slot: usize, reason: CloseReason, error: Option<(u16, &str)>) {
        let conn = self.session(slot).conn;
        let drops = &mut self.counters.drops;
        if let Some((code, text)) = error {
            self.out.push_error(conn, &error_message(code, text), drops);
        }
        self.out.push_close(conn, reason, drops);
        self.counters.sessions_closed += 1;
        self.remove_session(slot);
    }

    /// Forgets the session in `slot` and tells its channels.
    pub(super) fn remove_session(&mut self, slot: usize) {
        let session = self.sessions[slot]
            .take()
            .expect("remove_session is called with a live slot");
        self.by_conn.remove(&session.conn);
        self.alive_order.remove(slot);
        self.out.clear(slot);
        self.counters.sessions_active -= 1;
        for membership in &session.memberships {
            self.streams.remove(&membership.stream_id);
            let c = membership.channel;
            let channel = self.channels[c]
                .as_mut()
                .expect("a membership's channel is live");
            channel.members.retain(|m| m.session != slot);
            let held = channel.release(membership.stream_id);
            if channel.members.is_empty() {
                self.channels[c] = None;
                continue;
            }
            if let Some(talker) = held {
                let text = self
                    .out
                    .text(&transmit_message(&channel.id, &session.node_id, false));
                self.end_for_listeners(c, &talker);
                self.send_to_members(c, None, text, Class::State);
            }
            self.users_connected(c);
        }
    }
}
