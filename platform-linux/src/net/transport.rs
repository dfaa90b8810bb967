//! The byte stream under the WebSocket: plain TCP for `ws://`, rustls for
//! `wss://`, both over a non-blocking mio socket.
//!
//! rustls' own `StreamOwned` is written for blocking sockets; here reads
//! and writes drive the TLS state machine by hand so that every call
//! returns `WouldBlock` instead of waiting, and so that a full TLS send
//! buffer (a stuck relay) reads as `WouldBlock` rather than as the 0-byte
//! write tungstenite would take for a reset.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::NetError;

/// Bytes of TLS records (or pre-handshake plaintext) rustls holds before
/// refusing more: with tungstenite's own bound, what one stuck connection
/// can hold.
pub const TLS_BUFFER_MAX: usize = 32 * 1024;

/// The TLS client settings for `wss://`: trust roots from `ca_file` (PEM)
/// if given, else the system's; ring as the crypto provider; TLS 1.2/1.3.
///
/// # Errors
/// The CA file cannot be read or holds no certificate, the system has no
/// usable roots, or rustls refuses the protocol versions.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, NetError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let ca_error = |reason: String| NetError::CaFile {
                path: path.to_owned(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| ca_error(e.to_string()))?;
            for cert in certs {
                let cert = cert.map_err(|e| ca_error(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| ca_error(format!("certificate refused: {e}")))?;
            }
            if roots.is_empty() {
                return Err(ca_error("no CERTIFICATE section in the file".into()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                log::warn!("reading the system's trust roots: {error}");
            }
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            if ignored > 0 {
                log::debug!("{ignored} system trust roots could not be parsed");
            }
            if added == 0 {
                return Err(NetError::NoTrustRoots);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(NetError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A connected socket, with TLS or without.
#[derive(Debug)]
pub(crate) enum Transport {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    Tls(Box<TlsStream>),
}

impl Transport {
    /// The socket, to (de)register with the poll.
    pub(crate) fn socket_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(socket) => socket,
            Transport::Tls(tls) => &mut tls.socket,
        }
    }

    /// Sends what is pending without being asked to (TLS records that the
    /// handshake or a close produced). Plain sockets have nothing pending.
    ///
    /// # Errors
    /// The socket's, `WouldBlock` included.
    pub(crate) fn push_pending(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(tls) => tls.write_records(),
        }
    }

    /// Starts a TLS close (close_notify), best effort.
    pub(crate) fn close_notify(&mut self) {
        if let Transport::Tls(tls) = self {
            tls.connection.send_close_notify();
            let _ = tls.write_records();
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => socket.read(buf),
            Transport::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => socket.write(buf),
            Transport::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(socket) => socket.flush(),
            Transport::Tls(tls) => tls.flush(),
        }
    }
}

/// A rustls client connection over a non-blocking socket.
#[derive(Debug)]
pub(crate) struct TlsStream {
    connection: ClientConnection,
    socket: TcpStream,
}

impl TlsStream {
    /// Starts the handshake on a connected socket; the ClientHello goes
    /// out on the first write or [`Transport::push_pending`].
    pub(crate) fn new(mut connection: ClientConnection, socket: TcpStream) -> TlsStream {
        connection.set_buffer_limit(Some(TLS_BUFFER_MAX));
        TlsStream { connection, socket }
    }

    /// Writes TLS records until none is left or the socket is full.
    fn write_records(&mut self) -> io::Result<()> {
        while self.connection.wants_write() {
            match self.connection.write_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Like [`TlsStream::write_records`], but a full socket is fine.
    fn write_records_if_possible(&mut self) -> io::Result<()> {
        match self.write_records() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }
}

impl Read for TlsStream {
    /// Plaintext if any is buffered, else reads records from the socket.
    /// `Ok(0)` is the peer's close_notify; a TCP close without one is
    /// `UnexpectedEof`; nothing to read yet is `WouldBlock`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.connection.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            // Nothing buffered: rustls answers Ok(0) or UnexpectedEof above
            // once it has seen the end, so this loop ends.
            match self.connection.read_tls(&mut self.socket) {
                Ok(0) => {}
                Ok(_) => {
                    if let Err(error) = self.connection.process_new_packets() {
                        // Send the alert that says why, then give up.
                        let _ = self.write_records();
                        return Err(io::Error::new(io::ErrorKind::InvalidData, error));
                    }
                    // Handshake replies, key updates.
                    self.write_records_if_possible()?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for TlsStream {
    /// Takes what rustls' buffer has room for; a full buffer is
    /// `WouldBlock` (never `Ok(0)`).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_records_if_possible()?;
        let taken = self.connection.writer().write(buf)?;
        if taken == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // The bytes are taken whatever the socket says now: an error here
        // must not make the caller write them again. It shows up on the
        // next call.
        let _ = self.write_records_if_possible();
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.connection.writer().flush()?;
        self.write_records()
    }
}
