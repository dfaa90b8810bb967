//! The byte streams WebSockets run over: plain TCP or TLS (rustls), both
//! non-blocking, both counting the bytes the kernel accepted so a stuck
//! reader can be told from a slow one.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::{ServerConnection, StreamOwned};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::ServerError;

/// The PEM files of the relay's TLS certificate chain and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Loads `files` into a rustls server configuration (ring provider, TLS 1.2
/// and 1.3, no client certificates).
///
/// # Errors
/// [`ServerError::Tls`] naming the file that could not be read or used.
pub fn tls_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let tls_error = |path: &Path, problem: String| ServerError::Tls {
        path: path.to_owned(),
        problem,
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(&files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_error(&files.cert, "no certificate in it".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_error(&files.key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&files.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_error(&files.key, format!("does not fit the certificate: {e}")))?;
    Ok(Arc::new(config))
}

/// The kernel send buffer of each connection, in bytes (the kernel
/// doubles it for its bookkeeping). Signaling is a few KiB at most; a fixed
/// size bounds memory per connection and makes a reader that stopped
/// reading show as a stalled write queue soon, instead of after megabytes
/// of autotuned buffer.
const SEND_BUFFER_LEN: libc::c_int = 32 * 1024;

/// Fixes the kernel send buffer of `stream` at [`SEND_BUFFER_LEN`].
///
/// # Errors
/// The operating system refused the option.
pub(super) fn limit_send_buffer(stream: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let len = SEND_BUFFER_LEN;
    // SAFETY: setsockopt(2) on a socket this stream owns, with a pointer to
    // a live c_int and its exact size; the kernel only reads it.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&raw const len).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A non-blocking TCP stream that counts the bytes written to it.
#[derive(Debug)]
pub(super) struct Tcp {
    pub(super) stream: TcpStream,
    /// Bytes the kernel accepted so far.
    pub(super) written: u64,
}

impl Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// What a WebSocket runs over.
#[derive(Debug)]
pub(super) enum Transport {
    Plain(Tcp),
    Tls(Box<StreamOwned<ServerConnection, Tcp>>),
}

impl Transport {
    /// Wraps an accepted stream, starting a TLS session when `tls` is set.
    ///
    /// # Errors
    /// rustls refused to start a session (never with a valid config).
    pub(super) fn new(
        stream: TcpStream,
        tls: Option<&Arc<rustls::ServerConfig>>,
    ) -> Result<Transport, rustls::Error> {
        let tcp = Tcp { stream, written: 0 };
        Ok(match tls {
            None => Transport::Plain(tcp),
            Some(config) => {
                let connection = ServerConnection::new(Arc::clone(config))?;
                Transport::Tls(Box::new(StreamOwned::new(connection, tcp)))
            }
        })
    }

    /// Ends the sending side: TLS `close_notify` (best effort), then a
    /// TCP FIN, so the peer sees the end after what was written.
    pub(super) fn finish(&mut self) {
        if let Transport::Tls(tls) = self {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        let _ = self.tcp().stream.shutdown(std::net::Shutdown::Write);
    }

    pub(super) fn tcp(&self) -> &Tcp {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.read(buf),
            Transport::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.write(buf),
            Transport::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(tcp) => tcp.flush(),
            Transport::Tls(tls) => tls.flush(),
        }
    }
}
