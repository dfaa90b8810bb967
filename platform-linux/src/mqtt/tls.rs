//! The TLS client settings for `"tls": true`: rustls with ring as its
//! crypto provider, handed to rumqttc whole.
//!
//! rumqttc is built with `use-rustls-no-provider` (0.25.1), which leaves
//! the provider to us; the provider is given to this one config rather
//! than installed process-wide, so nothing depends on who calls
//! `install_default()` first. The same choice as the relay link's `wss://`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// Why TLS cannot be set up; the node cannot reach the broker until the
/// config or the system is fixed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `mqtt.ca_file` cannot be used.
    #[error("mqtt.ca_file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No `mqtt.ca_file`, and the system has no trust roots.
    #[error(
        "no trust roots on this system for the broker's certificate; install the \
         ca-certificates package or set mqtt.ca_file"
    )]
    NoTrustRoots,
    /// rustls refused the settings.
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Trust roots from `ca_file` (PEM) if given, else the system's; TLS 1.2
/// and 1.3; no client certificate.
///
/// # Errors
/// [`TlsError`]: the CA file cannot be read or holds no certificate, or
/// the system has no usable roots.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = match ca_file {
        Some(path) => roots_from_file(path)?,
        None => system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let ca_error = |reason: String| TlsError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let mut roots = RootCertStore::empty();
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
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        log::warn!("mqtt: reading the system's trust roots: {error}");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        log::debug!("mqtt: {ignored} system trust roots could not be parsed");
    }
    if added == 0 {
        return Err(TlsError::NoTrustRoots);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_names_the_field_and_the_file() {
        let error = client_config(Some(Path::new("/nonexistent/ca.pem"))).expect_err("no file");
        let text = error.to_string();
        assert!(
            text.starts_with("mqtt.ca_file /nonexistent/ca.pem: "),
            "{text}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let error = client_config(Some(&path)).expect_err("no certificate");
        assert!(error.to_string().contains("no CERTIFICATE"), "{error}");
    }
}
