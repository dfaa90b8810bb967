//! What the server counts on top of the engine, and the one-line
//! `key=value` form the stats log lines carry.

use std::fmt;

use echostream_core::crypto::OpenErrorKind;

use crate::engine::Counters;

/// A snapshot of the engine's counters and the server's own.
///
/// `Display` writes every field as `name=value`, separated by single
/// spaces, in the order of [`fields`](Self::fields); the names are stable
/// so logs can be parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerCounters {
    /// The engine's counters (sessions, signaling, datagrams, drops).
    pub relay: Counters,
    /// TCP connections accepted.
    pub conn_accepted: u64,
    /// TCP connections open now (gauge), in handshake, open or closing.
    pub conn_open: u64,
    /// Connections refused because every connection slot was taken.
    pub conn_refused_full: u64,
    /// Connections refused because `limits.pending_max` connections were
    /// not welcomed yet.
    pub conn_refused_pending: u64,
    /// Pending connections dropped to make room for a newer one from an
    /// IP holding fewer of the pool.
    pub conn_evicted_pending: u64,
    /// Connections refused because `limits.pending_per_ip_max` from their
    /// IP were not welcomed yet.
    pub conn_refused_per_ip: u64,
    /// Connections refused because they came faster than
    /// `accept_rate_per_s`.
    pub conn_refused_rate: u64,
    /// `accept` failures (out of file descriptors, …).
    pub accept_errors: u64,
    /// WebSocket (or TLS) handshakes that failed.
    pub handshake_failed: u64,
    /// Handshakes not finished within the handshake time-out.
    pub handshake_timeout: u64,
    /// Binary frames (signaling is text only): dropped.
    pub ws_binary: u64,
    /// Frames or messages over `limits.message_len_max`: connection closed.
    pub ws_too_long: u64,
    /// Other WebSocket protocol violations (bad UTF-8, bad framing):
    /// connection closed.
    pub ws_protocol_errors: u64,
    /// Connections that ended without a close handshake.
    pub ws_reset: u64,
    /// Droppable text frames (`pong`, `tone_detected`) dropped because
    /// the connection's write queue was full.
    pub ws_queue_full: u64,
    /// Connections closed because a frame that carries state did not fit
    /// their write queue (the node reconnects to a fresh state).
    pub ws_closed_queue_full: u64,
    /// Connections closed because their write queue made no progress for
    /// the write-stall time-out.
    pub ws_stalled: u64,
    /// Text frames for a connection already closing or gone.
    pub ws_unroutable: u64,
    /// UDP datagrams longer than the wire format allows: dropped.
    pub udp_oversize: u64,
    /// UDP receive errors.
    pub udp_recv_errors: u64,
    /// UDP datagrams dropped because the socket's send buffer was full.
    pub udp_send_full: u64,
    /// UDP datagrams the operating system refused to send.
    pub udp_send_errors: u64,
}

impl ServerCounters {
    /// Every counter as `(name, value)`, engine counters first (drops as
    /// `drop_<reason>`, receiver refusals as `drop_open_<kind>`), then the
    /// server's.
    pub fn fields(&self) -> Vec<(&'static str, u64)> {
        let r = &self.relay;
        let d = &r.drops;
        let mut fields = vec![
            ("sessions_active", r.sessions_active),
            ("sessions_welcomed", r.sessions_welcomed),
            ("sessions_closed", r.sessions_closed),
            ("sessions_closed_queue_full", r.sessions_closed_queue_full),
            ("users_connected_coalesced", r.users_connected_coalesced),
            ("sessions_refused_full", r.sessions_refused_full),
            (
                "sessions_refused_pending_full",
                r.sessions_refused_pending_full,
            ),
            ("sessions_refused_per_ip", r.sessions_refused_per_ip),
            ("sessions_evicted_pending", r.sessions_evicted_pending),
            ("sessions_refused_not_hello", r.sessions_refused_not_hello),
            ("auth_failures", r.auth_failures),
            ("auth_wrong_node", r.auth_wrong_node),
            ("token_limits", r.token_limits),
            ("register_forbidden", r.register_forbidden),
            ("sessions_closed_revoked", r.sessions_closed_revoked),
            ("texts_in", r.texts_in),
            ("texts_out", r.texts_out),
            ("datagrams_in", r.datagrams_in),
            ("datagrams_out", r.datagrams_out),
            ("audio_in", r.audio_in),
            ("eot_in", r.eot_in),
            ("eot_made", r.eot_made),
            ("heartbeats", r.heartbeats),
            ("signal_unknown_type", r.signal_unknown_type),
            ("signal_malformed", r.signal_malformed),
            ("signal_too_long", r.signal_too_long),
            ("signal_refused", r.signal_refused),
            ("tone_reports", r.tone_reports),
            ("tone_reports_unregistered", r.tone_reports_unregistered),
            ("tone_reports_forbidden", r.tone_reports_forbidden),
            ("texts_unknown_conn", r.texts_unknown_conn),
            ("rekeys", r.rekeys),
            ("rekey_failures", r.rekey_failures),
            ("talker_timeouts", r.talker_timeouts),
            ("talker_trickles", r.talker_trickles),
            ("talk_time_limits", r.talk_time_limits),
            ("transmit_releases", r.transmit_releases),
            ("return_addr_moves", r.return_addr_moves),
            ("return_addr_kept_not_newest", r.return_addr_kept_not_newest),
            ("return_addr_kept_foreign_ip", r.return_addr_kept_foreign_ip),
            ("drop_malformed", d.malformed),
            ("drop_unknown_stream", d.unknown_stream),
        ];
        for kind in OpenErrorKind::ALL {
            fields.push((open_drop_name(kind), d.open(kind)));
        }
        fields.extend([
            ("drop_unexpected_kind", d.unexpected_kind),
            ("drop_not_talker", d.not_talker),
            ("drop_locked_out", d.locked_out),
            ("drop_no_talk_right", d.no_talk_right),
            ("drop_no_address", d.no_address),
            ("drop_seal_failed", d.seal_failed),
            ("drop_datagram_queue_full", d.datagram_queue_full),
            ("drop_payload_store_full", d.payload_store_full),
            ("drop_text_queue_full", d.text_queue_full),
            ("drop_text_store_full", d.text_store_full),
            ("drop_control_queue_full", d.control_queue_full),
            ("conn_accepted", self.conn_accepted),
            ("conn_open", self.conn_open),
            ("conn_refused_full", self.conn_refused_full),
            ("conn_refused_pending", self.conn_refused_pending),
            ("conn_evicted_pending", self.conn_evicted_pending),
            ("conn_refused_per_ip", self.conn_refused_per_ip),
            ("conn_refused_rate", self.conn_refused_rate),
            ("accept_errors", self.accept_errors),
            ("handshake_failed", self.handshake_failed),
            ("handshake_timeout", self.handshake_timeout),
            ("ws_binary", self.ws_binary),
            ("ws_too_long", self.ws_too_long),
            ("ws_protocol_errors", self.ws_protocol_errors),
            ("ws_reset", self.ws_reset),
            ("ws_queue_full", self.ws_queue_full),
            ("ws_closed_queue_full", self.ws_closed_queue_full),
            ("ws_stalled", self.ws_stalled),
            ("ws_unroutable", self.ws_unroutable),
            ("udp_oversize", self.udp_oversize),
            ("udp_recv_errors", self.udp_recv_errors),
            ("udp_send_full", self.udp_send_full),
            ("udp_send_errors", self.udp_send_errors),
        ]);
        fields
    }
}

/// `drop_open_<kind>` as a `'static` name.
const fn open_drop_name(kind: OpenErrorKind) -> &'static str {
    match kind {
        OpenErrorKind::Malformed => "drop_open_malformed",
        OpenErrorKind::UnknownKey => "drop_open_unknown_key",
        OpenErrorKind::Duplicate => "drop_open_duplicate",
        OpenErrorKind::TooOld => "drop_open_too_old",
        OpenErrorKind::Forged => "drop_open_forged",
        OpenErrorKind::StreamTableFull => "drop_open_stream_table_full",
    }
}

impl fmt::Display for ServerCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.fields().into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_a_unique_key_value_pair() {
        let mut counters = ServerCounters::default();
        counters.relay.drops.open[OpenErrorKind::Forged.index()] = 3;
        counters.ws_too_long = 1;
        let line = counters.to_string();
        let pairs: Vec<(&str, &str)> = line
            .split(' ')
            .map(|kv| kv.split_once('=').expect("name=value"))
            .collect();
        assert!(pairs.contains(&("drop_open_forged", "3")));
        assert!(pairs.contains(&("ws_too_long", "1")));
        let mut names: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), pairs.len());
    }
}
