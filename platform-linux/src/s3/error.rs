//! Why an upload or a presigned URL failed, sorted by what to do next.
//!
//! rust-s3 (with `fail-on-err`) reports a non-2xx answer as
//! `HttpFailWithBody(status, body)` and a transport failure as
//! `Atto(attohttpc::Error)`; [`classify`] turns both into an
//! [`UploadError`] that names the store, bucket and key and says what to
//! check.

use std::fmt;
use std::io;
use std::path::PathBuf;

use ::s3::error::S3Error;

/// Longest piece of a server's error text kept in a message.
const SERVER_TEXT_LEN_MAX: usize = 200;

/// Where a request went: store, bucket and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The endpoint URL (or the AWS region's host).
    pub endpoint: String,
    /// The bucket name.
    pub bucket: String,
    /// The object key.
    pub key: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` in bucket `{}` at {}",
            self.key, self.bucket, self.endpoint
        )
    }
}

/// The request of an upload that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `HEAD` of the bucket, before sending anything.
    Probe,
    /// The single `PUT` of a small file.
    Put,
    /// Starting a multipart upload.
    Initiate,
    /// Sending part `n` (from 1) of a multipart upload.
    Part(u32),
    /// Completing a multipart upload.
    Complete,
    /// `HEAD` of the object, to check its size.
    Head,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Probe => f.write_str("bucket check"),
            Step::Put => f.write_str("PUT"),
            Step::Initiate => f.write_str("multipart start"),
            Step::Part(n) => write!(f, "part {n}"),
            Step::Complete => f.write_str("multipart completion"),
            Step::Head => f.write_str("size check"),
        }
    }
}

/// Why [`S3Store::upload`](super::S3Store::upload) failed. Nothing is
/// deleted on failure: the file stays where it is, and uploading it again
/// later writes the same key. See [`UploadError::kind`] for counting.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// No answer, a timeout, or the store is busy or failing (408, 429,
    /// 5xx). Retry later.
    #[error(
        "cannot upload {target} ({step}): {reason}; try again later, and check the network \
         and s3.endpoint if it lasts"
    )]
    Unreachable {
        /// Where it went.
        target: Box<Target>,
        /// The request that failed.
        step: Step,
        /// What failed (socket error, timeout, HTTP status).
        reason: String,
    },
    /// The TLS handshake failed: usually a certificate that is not valid
    /// for the host name or not signed by a public CA.
    #[error("TLS with the store failed uploading {target} ({step}): {reason}")]
    Tls {
        /// Where it went.
        target: Box<Target>,
        /// The request that failed.
        step: Step,
        /// The TLS library's reason, and what to check.
        reason: String,
    },
    /// 401 or 403: the store did not accept the signature or the key.
    #[error(
        "the store refused {target} ({step}: HTTP {status} {code}): check s3.access_key and \
         s3.secret_key, that the key may write to the bucket, and that this machine's clock is \
         right (requests more than 15 minutes off are refused)"
    )]
    Refused {
        /// Where it went.
        target: Box<Target>,
        /// The request that failed.
        step: Step,
        /// 401 or 403.
        status: u16,
        /// The S3 error code, e.g. `SignatureDoesNotMatch`, or empty.
        code: String,
    },
    /// 404 for the bucket. The node never creates buckets.
    #[error(
        "bucket `{}` does not exist at {} (uploading `{}`): create it on the store, or correct \
         s3.bucket",
        target.bucket, target.endpoint, target.key
    )]
    NoBucket {
        /// Where it went.
        target: Box<Target>,
    },
    /// Any other 4xx: the store understood the request and will not take it.
    #[error(
        "the store rejected {target} ({step}: HTTP {status} {code} {message}); check \
         s3.endpoint, s3.region and s3.path_style"
    )]
    Rejected {
        /// Where it went.
        target: Box<Target>,
        /// The request that failed.
        step: Step,
        /// The HTTP status.
        status: u16,
        /// The S3 error code, or empty.
        code: String,
        /// The S3 error message, shortened, or empty.
        message: String,
    },
    /// An answer that is not S3's (a web page, a proxy, garbage).
    #[error(
        "the answer to uploading {target} ({step}) is not an S3 answer: {reason}; check that \
         s3.endpoint is the store's S3 API address"
    )]
    Unexpected {
        /// Where it went.
        target: Box<Target>,
        /// The request that failed.
        step: Step,
        /// What was wrong with it.
        reason: String,
    },
    /// The local file could not be read, or changed while being read.
    #[error(
        "cannot read `{}` to upload it as {target}: {source}; check the spool folder's \
         permissions and disk",
        path.display()
    )]
    Local {
        /// Where it was going.
        target: Box<Target>,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// After the upload, the object's size is not the file's.
    #[error(
        "after uploading, {target} holds {stored_bytes} bytes but the file has {file_bytes}; \
         upload it again"
    )]
    SizeMismatch {
        /// Where it went.
        target: Box<Target>,
        /// The local file's size.
        file_bytes: u64,
        /// The size the store reported (`Content-Length` of a `HEAD`).
        stored_bytes: u64,
    },
}

/// [`UploadError`] without its data: a dense index for counter arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadErrorKind {
    /// [`UploadError::Unreachable`].
    Unreachable,
    /// [`UploadError::Tls`].
    Tls,
    /// [`UploadError::Refused`].
    Refused,
    /// [`UploadError::NoBucket`].
    NoBucket,
    /// [`UploadError::Rejected`].
    Rejected,
    /// [`UploadError::Unexpected`].
    Unexpected,
    /// [`UploadError::Local`].
    Local,
    /// [`UploadError::SizeMismatch`].
    SizeMismatch,
}

impl UploadErrorKind {
    /// How many kinds there are: the length of a counter array.
    pub const COUNT: usize = 8;
    /// Every kind, in [`index`](Self::index) order.
    pub const ALL: [UploadErrorKind; UploadErrorKind::COUNT] = [
        UploadErrorKind::Unreachable,
        UploadErrorKind::Tls,
        UploadErrorKind::Refused,
        UploadErrorKind::NoBucket,
        UploadErrorKind::Rejected,
        UploadErrorKind::Unexpected,
        UploadErrorKind::Local,
        UploadErrorKind::SizeMismatch,
    ];

    /// A dense index in `0..COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A short fixed name for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            UploadErrorKind::Unreachable => "unreachable",
            UploadErrorKind::Tls => "tls",
            UploadErrorKind::Refused => "refused",
            UploadErrorKind::NoBucket => "no_bucket",
            UploadErrorKind::Rejected => "rejected",
            UploadErrorKind::Unexpected => "unexpected",
            UploadErrorKind::Local => "local",
            UploadErrorKind::SizeMismatch => "size_mismatch",
        }
    }
}

impl UploadError {
    /// The error's kind, for counting.
    pub const fn kind(&self) -> UploadErrorKind {
        match self {
            UploadError::Unreachable { .. } => UploadErrorKind::Unreachable,
            UploadError::Tls { .. } => UploadErrorKind::Tls,
            UploadError::Refused { .. } => UploadErrorKind::Refused,
            UploadError::NoBucket { .. } => UploadErrorKind::NoBucket,
            UploadError::Rejected { .. } => UploadErrorKind::Rejected,
            UploadError::Unexpected { .. } => UploadErrorKind::Unexpected,
            UploadError::Local { .. } => UploadErrorKind::Local,
            UploadError::SizeMismatch { .. } => UploadErrorKind::SizeMismatch,
        }
    }
}

/// Why [`S3Store::presign_get`](super::S3Store::presign_get) made no URL.
/// Presigning is local (no request), so this is a key or endpoint the
/// URL library refuses.
#[derive(Debug, thiserror::Error)]
#[error("cannot presign {target}: {reason}")]
pub struct PresignError {
    /// The object.
    pub target: Box<Target>,
    /// What rust-s3 said.
    pub reason: String,
}

/// Why [`S3Store::new`](super::S3Store::new) refused the `s3` section.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct StoreConfigError {
    /// The config field at fault, e.g. `s3.endpoint`.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// `error` from the request `step` to `target`, sorted by what to do.
pub(super) fn classify(error: S3Error, target: Box<Target>, step: Step) -> UploadError {
    match error {
        S3Error::HttpFailWithBody(status, body) => classify_status(status, &body, target, step),
        S3Error::Atto(error) => classify_transport(error, target, step),
        S3Error::Io(error) => UploadError::Unreachable {
            target,
            step,
            reason: error.to_string(),
        },
        other => UploadError::Unexpected {
            target,
            step,
            reason: other.to_string(),
        },
    }
}

/// A non-2xx answer. A `HEAD` has no body, so its 404 is read by `step`.
fn classify_status(status: u16, body: &str, target: Box<Target>, step: Step) -> UploadError {
    let code = xml_field(body, "Code");
    match status {
        401 | 403 => UploadError::Refused {
            target,
            step,
            status,
            code,
        },
        404 if code == "NoSuchBucket" || (step == Step::Probe && code.is_empty()) => {
            UploadError::NoBucket { target }
        }
        408 | 429 | 500..=599 => UploadError::Unreachable {
            target,
            step,
            reason: format!("HTTP {status} {code}").trim_end().to_owned(),
        },
        _ => UploadError::Rejected {
            target,
            step,
            status,
            code,
            message: xml_field(body, "Message"),
        },
    }
}

/// A request that got no HTTP answer.
fn classify_transport(error: attohttpc::Error, target: Box<Target>, step: Step) -> UploadError {
    let reason = error.to_string();
    match error.kind() {
        attohttpc::ErrorKind::Tls(_) => UploadError::Tls {
            target,
            step,
            reason: format!(
                "{reason}; the certificate must match the host in s3.endpoint and chain to \
                     a CA this machine trusts (the system's store: add a private CA with \
                     update-ca-certificates)"
            ),
        },
        attohttpc::ErrorKind::TlsDisabled => UploadError::Tls {
            target,
            step,
            reason: "this build of the node has no TLS client for S3; use an http:// endpoint \
                     on a network you trust, or a build with TLS"
                .to_owned(),
        },
        attohttpc::ErrorKind::Io(_) | attohttpc::ErrorKind::ConnectError { .. } => {
            UploadError::Unreachable {
                target,
                step,
                reason,
            }
        }
        _ => UploadError::Unexpected {
            target,
            step,
            reason,
        },
    }
}

/// The text of `<name>…</name>` in an S3 error document, shortened; empty
/// if absent.
fn xml_field(body: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let Some(start) = body.find(&open).map(|at| at + open.len()) else {
        return String::new();
    };
    let end = body[start..]
        .find(&close)
        .map_or(body.len(), |at| start + at);
    body[start..end]
        .chars()
        .filter(|c| !c.is_control())
        .take(SERVER_TEXT_LEN_MAX)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Box<Target> {
        Box::new(Target {
            endpoint: "http://127.0.0.1:9000".to_owned(),
            bucket: "recordings".to_owned(),
            key: "n/c/2026-11-24/r.wav".to_owned(),
        })
    }

    fn s3_error(code: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>Some words.</Message>\
             <RequestId>1</RequestId></Error>"
        )
    }

    fn status(status: u16, body: &str, step: Step) -> UploadError {
        classify(
            S3Error::HttpFailWithBody(status, body.to_owned()),
            target(),
            step,
        )
    }

    #[test]
    fn forbidden_is_refused_and_says_what_to_check() {
        let error = status(403, &s3_error("SignatureDoesNotMatch"), Step::Put);
        assert_eq!(error.kind(), UploadErrorKind::Refused);
        let text = error.to_string();
        for needle in [
            "s3.access_key",
            "s3.secret_key",
            "clock",
            "SignatureDoesNotMatch",
            "recordings",
            "127.0.0.1:9000",
            "n/c/2026-11-24/r.wav",
        ] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
    }

    #[test]
    fn missing_bucket_is_no_bucket() {
        let error = status(404, &s3_error("NoSuchBucket"), Step::Put);
        assert_eq!(error.kind(), UploadErrorKind::NoBucket);
        assert!(error.to_string().contains("create it"));
        // A HEAD of the bucket answers 404 without a body.
        assert_eq!(
            status(404, "", Step::Probe).kind(),
            UploadErrorKind::NoBucket
        );
    }

    #[test]
    fn other_404_is_rejected() {
        let error = status(404, &s3_error("NoSuchUpload"), Step::Part(2));
        assert_eq!(error.kind(), UploadErrorKind::Rejected);
        assert!(error.to_string().contains("part 2"));
        assert!(error.to_string().contains("NoSuchUpload Some words."));
    }

    #[test]
    fn busy_or_failing_store_is_unreachable() {
        for code in [408, 429, 500, 502, 503, 504] {
            let error = status(code, &s3_error("SlowDown"), Step::Initiate);
            assert_eq!(error.kind(), UploadErrorKind::Unreachable, "{code}");
        }
    }

    #[test]
    fn refused_connection_is_unreachable() {
        let io = io::Error::from(io::ErrorKind::ConnectionRefused);
        let error = classify(S3Error::Io(io), target(), Step::Put);
        assert_eq!(error.kind(), UploadErrorKind::Unreachable);
    }

    #[test]
    fn garbage_is_unexpected() {
        let error = classify(S3Error::HttpFail, target(), Step::Initiate);
        assert_eq!(error.kind(), UploadErrorKind::Unexpected);
        assert!(error.to_string().contains("s3.endpoint"));
    }

    #[test]
    fn xml_fields_are_short_and_clean() {
        assert_eq!(xml_field(&s3_error("AccessDenied"), "Code"), "AccessDenied");
        assert_eq!(xml_field("<html>nope</html>", "Code"), "");
        let long = format!("<Message>{}\n</Message>", "a".repeat(1_000));
        assert_eq!(xml_field(&long, "Message").len(), SERVER_TEXT_LEN_MAX);
        assert_eq!(xml_field("<Code>Unclosed", "Code"), "Unclosed");
    }

    #[test]
    fn kinds_are_dense() {
        for (i, kind) in UploadErrorKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }
}
