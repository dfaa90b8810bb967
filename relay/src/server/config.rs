//! What the server is started with, and why it may refuse to start.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use echostream_core::wire::signal::MAX_MESSAGE_LEN;

use super::TlsFiles;
use crate::engine::{Limits, RelayConfig, TokenPolicy};

/// The server's configuration: listeners, credentials, and the limits of
/// the engine and of each connection.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the WebSocket listener binds (port 0: any free port).
    pub listen: SocketAddr,
    /// Where the UDP socket binds (port 0: any free port).
    pub udp: SocketAddr,
    /// The UDP host nodes are told in `welcome`; `None`: the UDP socket's
    /// IP, which must then not be unspecified (`0.0.0.0`, `::`).
    pub udp_host: Option<String>,
    /// The UDP port nodes are told in `welcome`; `None`: the UDP socket's
    /// port. Set it when a NAT or firewall forwards another public port to
    /// the socket.
    pub udp_port: Option<u16>,
    /// Serve `wss://` with this certificate and key; `None`: plain `ws://`,
    /// which [`validate`](Self::validate) refuses on a non-loopback
    /// listener unless `insecure_plaintext`.
    pub tls: Option<TlsFiles>,
    /// Serve plain `ws://` on a non-loopback listener (behind a TLS proxy
    /// on the same host, or on a trusted network). Anyone on the path
    /// then reads `hello`'s token and `welcome`'s media key.
    pub insecure_plaintext: bool,
    /// Which tokens open a session. [`TokenPolicy::AnyToken`] only when
    /// both listeners are on loopback.
    pub tokens: TokenPolicy,
    /// Let a stream's return address move to an IP other than its
    /// session's WebSocket peer (see [`RelayConfig::allow_roaming`]).
    pub allow_roaming: bool,
    /// The UDP heartbeat period nodes are told, in ms.
    pub heartbeat_ms: u32,
    /// How long a replaced key still opens datagrams, in ms.
    pub key_grace_ms: u32,
    /// The longest a talker holds a channel, in s (the engine's
    /// `max_talk_s`).
    pub max_talk_s: u32,
    /// The engine's limits. `sessions_max` also bounds TCP connections.
    pub limits: Limits,
    /// Log the counters every this many seconds; 0: only at shutdown.
    pub stats_interval_s: u32,
    /// How long a connection may take over its TLS and WebSocket
    /// handshakes, in ms (and at most `limits.hello_timeout_ms`).
    pub handshake_timeout_ms: u32,
    /// New connections admitted per second (bursts of one second's
    /// worth); more are closed at once, before any TLS work. Connections
    /// refused by the per-IP or pending caps use none of it.
    pub accept_rate_per_s: u32,
    /// How long a connection's write queue may make no progress before
    /// the connection is closed, in ms.
    pub write_stall_ms: u32,
    /// Bytes of frames queued per connection: beyond it a `pong` or
    /// `tone_detected` is dropped (counted in `ws_queue_full`) and any
    /// other frame closes the connection (`ws_closed_queue_full`).
    pub write_queue_len_max: usize,
}

impl ServerConfig {
    /// A configuration with the engine's defaults, a 2.5 s heartbeat, a
    /// 5 s key grace, a 180 s talk limit, stats every 60 s, a 5 s handshake time-out, a 5 s
    /// write-stall time-out and a 64 KiB write queue per connection.
    pub fn new(listen: SocketAddr, udp: SocketAddr, tokens: TokenPolicy) -> ServerConfig {
        ServerConfig {
            listen,
            udp,
            udp_host: None,
            udp_port: None,
            tls: None,
            insecure_plaintext: false,
            tokens,
            allow_roaming: false,
            heartbeat_ms: crate::engine::HEARTBEAT_MS_DEFAULT,
            key_grace_ms: 5000,
            max_talk_s: crate::engine::MAX_TALK_S_DEFAULT,
            limits: Limits::default(),
            stats_interval_s: 60,
            handshake_timeout_ms: 5000,
            accept_rate_per_s: 100,
            write_stall_ms: 5000,
            write_queue_len_max: 64 * 1024,
        }
    }

    /// Both listeners on 127.0.0.1 with free ports, any token, defaults
    /// otherwise: the edge node's embedded relay.
    pub fn loopback() -> ServerConfig {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        ServerConfig::new(any, any, TokenPolicy::AnyToken)
    }

    /// Checks what can be checked before binding.
    ///
    /// # Errors
    /// [`ServerError::Config`] naming the field: any-token on a
    /// non-loopback listener, plain `ws://` on a non-loopback listener
    /// without `insecure_plaintext`, an unspecified UDP address without
    /// `udp_host`, a zero time-out, a write queue that cannot hold one
    /// message, or an engine setting out of range.
    pub fn validate(&self) -> Result<(), ServerError> {
        let refuse =
            |field: &'static str, reason: String| Err(ServerError::Config { field, reason });
        let loopback = self.listen.ip().is_loopback() && self.udp.ip().is_loopback();
        if matches!(self.tokens, TokenPolicy::AnyToken) && !loopback {
            return refuse(
                "tokens",
                format!(
                    "any token is accepted only when both listeners are on loopback \
                     (listen {}, udp {}); give a tokens list",
                    self.listen, self.udp
                ),
            );
        }
        if self.tls.is_none() && !self.listen.ip().is_loopback() && !self.insecure_plaintext {
            return refuse(
                "insecure_plaintext",
                format!(
                    "plain ws:// on {} would send every node's token (in hello) and \
                     media key (in welcome) in the clear beyond loopback; give a TLS \
                     certificate and key, or allow it explicitly",
                    self.listen
                ),
            );
        }
        if self.udp_host.is_none() && self.udp.ip().is_unspecified() {
            return refuse(
                "udp_host",
                format!(
                    "the UDP socket binds {}, which nodes cannot send to; give the host \
                     nodes should use",
                    self.udp
                ),
            );
        }
        if self.handshake_timeout_ms == 0 || self.write_stall_ms == 0 || self.accept_rate_per_s == 0
        {
            let field = if self.handshake_timeout_ms == 0 {
                "handshake_timeout_ms"
            } else if self.write_stall_ms == 0 {
                "write_stall_ms"
            } else {
                "accept_rate_per_s"
            };
            return refuse(field, "must be positive".into());
        }
        if self.write_queue_len_max < 2 * MAX_MESSAGE_LEN {
            return refuse(
                "write_queue_len_max",
                format!("must hold two messages ({} bytes)", 2 * MAX_MESSAGE_LEN),
            );
        }
        self.relay_config(self.udp.port())
            .validate()
            .map_err(|e| ServerError::Config {
                field: e.field,
                reason: e.reason.into(),
            })
    }

    /// The engine's configuration once the UDP socket is bound to
    /// `udp_port`.
    pub(super) fn relay_config(&self, udp_port: u16) -> RelayConfig {
        let udp_host = self
            .udp_host
            .clone()
            .unwrap_or_else(|| self.udp.ip().to_string());
        let udp_port = self.udp_port.unwrap_or(udp_port);
        let mut config = RelayConfig::new(udp_host, udp_port, self.tokens.clone());
        config.heartbeat_ms = self.heartbeat_ms;
        config.key_grace_ms = self.key_grace_ms;
        config.max_talk_s = self.max_talk_s;
        config.allow_roaming = self.allow_roaming;
        config.limits = self.limits;
        config
    }
}

/// Why the server did not start or stopped.
#[derive(Debug)]
pub enum ServerError {
    /// A configuration field out of range.
    Config {
        /// The field, e.g. `tokens` or `limits.sessions_max`.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The TLS certificate or key could not be used.
    Tls {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A listener could not be bound.
    Bind {
        /// `WebSocket` or `UDP`.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// An operating-system call the loop cannot run without failed.
    Io {
        /// What was being done.
        what: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The server thread panicked (a bug).
    Panicked,
}

impl ServerError {
    /// Whether the error is in the configuration (the operator's input)
    /// rather than at run time.
    pub fn is_config(&self) -> bool {
        matches!(self, ServerError::Config { .. } | ServerError::Tls { .. })
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Config { field, reason } => write!(f, "{field}: {reason}"),
            ServerError::Tls { path, problem } => {
                write!(f, "TLS file {}: {problem}", path.display())
            }
            ServerError::Bind { what, addr, source } => {
                write!(f, "cannot bind the {what} listener to {addr}: {source}")
            }
            ServerError::Io { what, source } => write!(f, "{what}: {source}"),
            ServerError::Panicked => f.write_str("the relay thread panicked"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Bind { source, .. } | ServerError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn any_token_needs_both_listeners_on_loopback() {
        let ok = ServerConfig::new(addr("127.0.0.1:0"), addr("[::1]:0"), TokenPolicy::AnyToken);
        assert!(ok.validate().is_ok());
        let open = ServerConfig::new(
            addr("127.0.0.1:0"),
            addr("192.0.2.1:0"),
            TokenPolicy::AnyToken,
        );
        assert!(matches!(
            open.validate(),
            Err(ServerError::Config {
                field: "tokens",
                ..
            })
        ));
        let tokens = TokenPolicy::tokens(["t"]);
        let mut listed = ServerConfig::new(addr("0.0.0.0:0"), addr("0.0.0.0:0"), tokens);
        assert!(matches!(
            listed.validate(),
            Err(ServerError::Config {
                field: "insecure_plaintext",
                ..
            })
        ));
        listed.insecure_plaintext = true;
        assert!(matches!(
            listed.validate(),
            Err(ServerError::Config {
                field: "udp_host",
                ..
            })
        ));
        listed.udp_host = Some("relay.example.org".into());
        assert!(listed.validate().is_ok());
    }

    #[test]
    fn engine_limits_are_checked_too() {
        let mut config = ServerConfig::new(
            addr("127.0.0.1:0"),
            addr("127.0.0.1:0"),
            TokenPolicy::AnyToken,
        );
        config.limits.sessions_max = 0;
        let error = config.validate().unwrap_err();
        assert!(error.is_config());
        assert!(error.to_string().starts_with("limits.sessions_max"));
    }
}
