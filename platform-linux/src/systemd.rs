//! The service manager's notify protocol (`sd_notify(3)`), spoken directly:
//! one datagram per message to the Unix socket named by `NOTIFY_SOCKET`.
//!
//! Under the packaged unit (`Type=notify`, `WatchdogSec=10`) systemd sets
//! `NOTIFY_SOCKET`, and `WATCHDOG_USEC` with `WATCHDOG_PID`. The node sends
//! `READY=1` once every thread runs, `WATCHDOG=1` while every thread moves
//! (the decision is [`echostream_core::watchdog`]'s), `STATUS=…` lines that
//! `systemctl status` shows, and `STOPPING=1`. Without `NOTIFY_SOCKET`
//! (run by hand, in tests) every call does nothing.
//!
//! No libsystemd: the protocol is a datagram of `KEY=VALUE` lines, and a
//! link dependency would tie the Pi build to one more library.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where the service manager listens, and the socket to reach it.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    /// Named in the log once when a send fails, not on every ping.
    failed: bool,
}

/// Why `NOTIFY_SOCKET` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Neither a path nor an abstract (`@`) name.
    #[error("NOTIFY_SOCKET `{0}` is neither an absolute path nor an abstract `@` name")]
    Address(String),
    /// The socket could not be made.
    #[error("NOTIFY_SOCKET `{addr}`: {source}")]
    Socket {
        /// The address.
        addr: String,
        /// What failed.
        source: io::Error,
    },
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` names, or `None` when it is unset.
    ///
    /// # Errors
    ///
    /// A value that names no Unix socket address.
    pub fn from_env() -> Result<Option<Notifier>, NotifyError> {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(value) if !value.is_empty() => Notifier::new(&value).map(Some),
            _ => Ok(None),
        }
    }

    /// A notifier for `addr`: an absolute path, or `@name` for Linux's
    /// abstract namespace.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Notifier::from_env).
    pub fn new(addr: &str) -> Result<Notifier, NotifyError> {
        let socket_err = |source| NotifyError::Socket {
            addr: addr.to_owned(),
            source,
        };
        let parsed = if let Some(name) = addr.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes()).map_err(socket_err)?
        } else if addr.starts_with('/') {
            SocketAddr::from_pathname(addr).map_err(socket_err)?
        } else {
            return Err(NotifyError::Address(addr.to_owned()));
        };
        let socket = UnixDatagram::unbound().map_err(socket_err)?;
        // A manager that stops reading must not stall the node's main loop.
        socket.set_nonblocking(true).map_err(socket_err)?;
        Ok(Notifier {
            socket,
            addr: parsed,
            failed: false,
        })
    }

    /// Sends `message` (newline-separated `KEY=VALUE` lines). A failure is
    /// logged once; the node goes on (a manager that cannot be told will
    /// act on the missing pings).
    pub fn send(&mut self, message: &str) {
        match self.socket.send_to_addr(message.as_bytes(), &self.addr) {
            Ok(_) => self.failed = false,
            Err(error) if !self.failed => {
                self.failed = true;
                log::warn!("cannot tell the service manager `{message}`: {error}");
            }
            Err(_) => {}
        }
    }
}

/// The service manager's watchdog interval (`WATCHDOG_USEC`), when it is
/// meant for this process (`WATCHDOG_PID` unset or this process's id).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if usec == 0 {
        return None;
    }
    match std::env::var("WATCHDOG_PID") {
        Ok(pid) if pid.parse::<u32>().ok() != Some(std::process::id()) => None,
        _ => Some(Duration::from_micros(usec)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_each_message_as_one_datagram_to_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let manager = UnixDatagram::bind(&path).unwrap();
        let mut notifier = Notifier::new(path.to_str().unwrap()).unwrap();
        notifier.send("READY=1\nSTATUS=running");
        notifier.send("WATCHDOG=1");
        let mut buf = [0u8; 64];
        let n = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=running");
        let n = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
    }

    #[test]
    fn reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("echostream-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let manager = UnixDatagram::bind_addr(&addr).unwrap();
        let mut notifier = Notifier::new(&format!("@{name}")).unwrap();
        notifier.send("STOPPING=1");
        let mut buf = [0u8; 16];
        let n = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn refuses_a_relative_address_and_survives_a_gone_manager() {
        assert!(matches!(
            Notifier::new("notify.sock"),
            Err(NotifyError::Address(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone");
        let mut notifier = Notifier::new(path.to_str().unwrap()).unwrap();
        notifier.send("WATCHDOG=1");
        notifier.send("WATCHDOG=1");
        assert!(notifier.failed);
    }
}
