//! The S3 store client for recordings (DESIGN.md "Events and uploads"):
//! one blocking call uploads one finished file to a fixed key and checks
//! it arrived whole; another makes a presigned GET URL for the
//! `recording` event.
//!
//! The uploader thread owns the retry policy: [`S3Store::upload`] makes
//! one attempt and says what went wrong ([`UploadError`]); the caller
//! keeps the file and tries again later. Because the key is fixed by the
//! recording ([`object_key`]), a repeated upload overwrites the same
//! object with the same bytes, so "uploaded but the answer was lost" is
//! harmless.
//!
//! # Transport (rust-s3 0.38, `sync`)
//!
//! rust-s3 in `sync` mode sends each request through attohttpc with the
//! whole body in memory (it hashes the body for SigV4 and Content-MD5,
//! then copies it into the request). So a file is never sent as one
//! stream: files up to [`Limits::multipart_threshold_bytes`] go in one
//! `PUT`, larger ones as a multipart upload of
//! [`Limits::part_bytes`] parts read from the file one at a time; memory
//! stays near two parts whatever the file size.
//!
//! Time limits on every request:
//! - connect: attohttpc's fixed 30 s (rust-s3 0.38 exposes no setting);
//! - the whole request, from its start: [`Limits::request_timeout_ms`]
//!   plus the body's size at [`Limits::upload_rate_bytes_per_s_min`]
//!   (attohttpc shuts the socket down at that deadline, so a stalled send
//!   ends too);
//! - each read: attohttpc's 30 s.
//!
//! So a dead store costs at most about 30 s, or the deadline if longer,
//! per request (plus the resolver's own time for a host name).
//!
//! rust-s3 itself retries idempotent requests (`HEAD`, a multipart part)
//! once after 1 s on a transport error or 408/429/5xx; a `PUT`, a
//! multipart start or completion is never replayed by it. attohttpc
//! honours `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment.
//!
//! # TLS
//!
//! attohttpc 0.30.1 (the line rust-s3 0.38 takes) with
//! `tls-rustls-webpki-roots-ring` builds rustls with ring but compiles no
//! TLS client: its `tls/mod.rs` selects the rustls code only for
//! `__rustls`, which that feature does not set (attohttpc PR #195; 0.31
//! compiles it but still loads the webpki roots only for the aws-lc
//! feature), and its other rustls features pull aws-lc-rs. So HTTPS goes
//! through `tls-native`: the system's OpenSSL and certificate store, which
//! is also where a department's private CA (an on-site MinIO) goes.

mod error;
mod key;
mod upload;

use std::fmt;
use std::time::{Duration, SystemTime};

// `::s3` is rust-s3 (its library is named `s3`), not this module.
use ::s3::creds::Credentials;
use ::s3::{Bucket, Region};

use crate::config::S3;
use crate::recording::Format;

pub use error::{PresignError, Step, StoreConfigError, Target, UploadError, UploadErrorKind};
pub use key::{KEY_LEN_MAX, content_type, object_key};

/// Smallest part of a multipart upload but the last (AWS "Amazon S3
/// multipart upload limits"; MinIO and s3s-fs enforce it too).
pub const PART_BYTES_MIN: u64 = 5 * 1024 * 1024;
/// Largest part of a multipart upload.
pub const PART_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts in one multipart upload.
pub const PARTS_MAX: u64 = 10_000;
/// Longest life of a SigV4 presigned URL: 7 days.
pub const PRESIGN_EXPIRY_S_MAX: u32 = 604_800;

/// Sizes and time limits of uploads. Code constants, not config: tests
/// lower them to exercise multipart uploads and timeouts on small files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Files larger than this go up as multipart uploads.
    pub multipart_threshold_bytes: u64,
    /// Size of each multipart part but the last, [`PART_BYTES_MIN`] to
    /// [`PART_BYTES_MAX`]; raised for a file that would need more than
    /// [`PARTS_MAX`] parts.
    pub part_bytes: u64,
    /// Time limit of a request without a body (bucket check, `HEAD`,
    /// multipart start), and the base of one with a body.
    pub request_timeout_ms: u64,
    /// The slowest link tolerated: a request with `n` body bytes may take
    /// `request_timeout_ms` plus `n` at this rate before it is cut.
    pub upload_rate_bytes_per_s_min: u64,
}

impl Limits {
    /// 8 MiB in one request, as rust-s3's own streaming upload does; a
    /// 30 s base; 32 KiB/s (a poor cellular uplink), so an 8 MiB part may
    /// take 4 min 46 s.
    pub const DEFAULT: Limits = Limits {
        multipart_threshold_bytes: 8 * 1024 * 1024,
        part_bytes: 8 * 1024 * 1024,
        request_timeout_ms: 30_000,
        upload_rate_bytes_per_s_min: 32 * 1024,
    };

    /// The time limit of a request carrying `body_bytes`.
    pub fn request_timeout(&self, body_bytes: u64) -> Duration {
        let body_ms = body_bytes.saturating_mul(1_000) / self.upload_rate_bytes_per_s_min;
        Duration::from_millis(self.request_timeout_ms.saturating_add(body_ms))
    }

    /// The part size for a file of `file_bytes`: [`part_bytes`](Self::part_bytes),
    /// or larger if that would take more than [`PARTS_MAX`] parts.
    pub fn part_bytes_for(&self, file_bytes: u64) -> u64 {
        self.part_bytes.max(file_bytes.div_ceil(PARTS_MAX))
    }

    fn assert_sane(&self) {
        assert!(
            (PART_BYTES_MIN..=PART_BYTES_MAX).contains(&self.part_bytes),
            "part_bytes {} is outside S3's 5 MiB to 5 GiB",
            self.part_bytes
        );
        assert!(self.request_timeout_ms > 0, "a request needs a time limit");
        assert!(
            self.upload_rate_bytes_per_s_min > 0,
            "a rate of 0 never times out"
        );
    }
}

/// What is stored with a recording as `x-amz-meta-*` metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadMeta {
    /// `x-amz-meta-node`.
    pub node_id: String,
    /// `x-amz-meta-channel`.
    pub channel: String,
    /// The file's format: sets `Content-Type` ([`content_type`]).
    pub format: Format,
    /// `x-amz-meta-tone-ids`, comma-separated: the alerts recorded.
    pub tone_ids: Vec<String>,
    /// `x-amz-meta-alert-time`, RFC 3339 UTC with milliseconds: when the
    /// first alert was detected.
    pub alert_time: SystemTime,
}

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The object key.
    pub key: String,
    /// Its size, checked with a `HEAD` after the upload.
    pub size_bytes: u64,
    /// 0 for a single `PUT`, else the number of multipart parts.
    pub parts: u32,
    /// The object's ETag from the `HEAD`, quotes removed, if the store
    /// gave one (an MD5 for a single `PUT`, `{md5}-{parts}` on AWS for a
    /// multipart upload).
    pub etag: Option<String>,
}

/// One bucket on one S3-compatible store. Cheap to share by reference;
/// every call is independent, so one store may serve several threads.
pub struct S3Store {
    /// Path style and credentials set; a copy with the request's time
    /// limit is made per request.
    bucket: Box<Bucket>,
    /// For messages: the configured endpoint or AWS's host for the region.
    endpoint: String,
    presign_expiry_s: u32,
    limits: Limits,
}

impl fmt::Debug for S3Store {
    // Not derived: the bucket holds the secret key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket.name())
            .field("path_style", &self.bucket.is_path_style())
            .field("presign_expiry_s", &self.presign_expiry_s)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// A store client for the `s3` config section. Sends nothing: a wrong
    /// endpoint, key or bucket shows at the first upload.
    ///
    /// # Errors
    ///
    /// An endpoint that is not `http://` or `https://`, an empty region or
    /// bucket, or `presign_expiry_s` outside 1 to 604800.
    ///
    /// # Panics
    ///
    /// If `limits` break S3's part sizes or are zero (a bug, not config).
    pub fn new(config: &S3, limits: Limits) -> Result<S3Store, StoreConfigError> {
        limits.assert_sane();
        if !(1..=PRESIGN_EXPIRY_S_MAX).contains(&config.presign_expiry_s) {
            return Err(StoreConfigError {
                field: "s3.presign_expiry_s",
                reason: format!(
                    "{} s is outside 1 to {PRESIGN_EXPIRY_S_MAX} s",
                    config.presign_expiry_s
                ),
            });
        }
        if config.bucket.is_empty() {
            return Err(StoreConfigError {
                field: "s3.bucket",
                reason: "is empty".to_owned(),
            });
        }
        let region = region(config)?;
        let endpoint = match &config.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => format!("https://{}", region.host()),
        };
        let credentials = Credentials::new(
            Some(&config.access_key),
            Some(&config.secret_key),
            None,
            None,
            None,
        )
        .expect("static keys are taken as they are");
        let mut bucket =
            Bucket::new(&config.bucket, region, credentials).map_err(|e| StoreConfigError {
                field: "s3.bucket",
                reason: e.to_string(),
            })?;
        if config.path_style {
            bucket.set_path_style();
        }
        Ok(S3Store {
            bucket,
            endpoint,
            presign_expiry_s: config.presign_expiry_s,
            limits,
        })
    }

    /// The store's address, as in messages.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bucket's name.
    pub fn bucket_name(&self) -> String {
        self.bucket.name()
    }

    /// The limits given to [`new`](Self::new).
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A URL that GETs `key` without credentials for `presign_expiry_s`
    /// from now (SigV4 query signing). Local: sends nothing, and does not
    /// check that the object exists.
    ///
    /// # Errors
    ///
    /// A key or endpoint the URL library refuses.
    pub fn presign_get(&self, key: &str) -> Result<String, PresignError> {
        self.bucket
            .presign_get(key, self.presign_expiry_s, None)
            .map_err(|e| PresignError {
                target: self.target(key),
                reason: e.to_string(),
            })
    }

    fn target(&self, key: &str) -> Box<Target> {
        Box::new(Target {
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.name(),
            key: key.to_owned(),
        })
    }

    /// A copy of the bucket whose requests end after `timeout`.
    fn bucket_with_timeout(&self, timeout: Duration) -> Bucket {
        let mut bucket = (*self.bucket).clone();
        bucket.set_request_timeout(Some(timeout));
        bucket
    }
}

/// rust-s3's region: the configured endpoint signed for `s3.region`, or
/// AWS's own host for the region.
fn region(config: &S3) -> Result<Region, StoreConfigError> {
    let name = config.region.trim();
    if name.is_empty() {
        return Err(StoreConfigError {
            field: "s3.region",
            reason: "is empty; use e.g. us-east-1".to_owned(),
        });
    }
    if let Some(endpoint) = &config.endpoint {
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(StoreConfigError {
                field: "s3.endpoint",
                reason: format!("`{endpoint}` is not an http:// or https:// URL"),
            });
        }
        return Ok(Region::Custom {
            region: name.to_owned(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        });
    }
    // A name aws-region does not list parses as a custom region whose
    // endpoint is the name itself; give it AWS's host instead.
    match name.parse::<Region>() {
        Ok(Region::Custom { .. }) | Err(_) => Ok(Region::Custom {
            region: name.to_owned(),
            endpoint: format!("https://s3.{name}.amazonaws.com"),
        }),
        Ok(region) => Ok(region),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> S3 {
        S3 {
            endpoint: Some("http://127.0.0.1:9000/".to_owned()),
            region: "us-east-1".to_owned(),
            bucket: "recordings".to_owned(),
            access_key: "AK".to_owned(),
            secret_key: "very-secret".to_owned(),
            path_style: true,
            prefix: String::new(),
            presign_expiry_s: 3_600,
            backoff_max_s: 300,
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let store = S3Store::new(&config(), Limits::DEFAULT).unwrap();
        let text = format!("{store:?}");
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("recordings"));
        assert_eq!(store.endpoint(), "http://127.0.0.1:9000");
    }

    #[test]
    fn presigned_url_is_path_style_and_expires() {
        let store = S3Store::new(&config(), Limits::DEFAULT).unwrap();
        let url = store.presign_get("n/c/2026-11-24/r.wav").unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:9000/recordings/n/c/2026-11-24/r.wav?"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Expires=3600"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(!url.contains("very-secret"));
    }

    #[test]
    fn expiry_beyond_seven_days_is_refused() {
        let mut config = config();
        config.presign_expiry_s = PRESIGN_EXPIRY_S_MAX + 1;
        let error = S3Store::new(&config, Limits::DEFAULT).unwrap_err();
        assert_eq!(error.field, "s3.presign_expiry_s");
    }

    #[test]
    fn endpoint_must_be_http() {
        let mut config = config();
        config.endpoint = Some("ftp://x".to_owned());
        assert_eq!(
            S3Store::new(&config, Limits::DEFAULT).unwrap_err().field,
            "s3.endpoint"
        );
    }

    #[test]
    fn aws_without_endpoint() {
        let mut config = config();
        config.endpoint = None;
        config.path_style = false;
        config.region = "eu-central-1".to_owned();
        let store = S3Store::new(&config, Limits::DEFAULT).unwrap();
        assert_eq!(store.endpoint(), "https://s3.eu-central-1.amazonaws.com");
        let url = store.presign_get("k.wav").unwrap();
        assert!(
            url.starts_with("https://recordings.s3.eu-central-1.amazonaws.com/k.wav?"),
            "{url}"
        );
        config.region = "xx-nowhere-9".to_owned();
        let store = S3Store::new(&config, Limits::DEFAULT).unwrap();
        assert_eq!(store.endpoint(), "https://s3.xx-nowhere-9.amazonaws.com");
    }

    #[test]
    fn body_time_grows_with_size() {
        let limits = Limits::DEFAULT;
        assert_eq!(limits.request_timeout(0), Duration::from_secs(30));
        assert_eq!(
            limits.request_timeout(8 * 1024 * 1024),
            Duration::from_secs(30 + 256)
        );
    }

    #[test]
    fn parts_never_exceed_the_count_limit() {
        let limits = Limits::DEFAULT;
        assert_eq!(limits.part_bytes_for(100 << 20), 8 << 20);
        let huge = 200u64 << 30;
        let part = limits.part_bytes_for(huge);
        assert!(huge.div_ceil(part) <= PARTS_MAX);
    }

    #[test]
    #[should_panic(expected = "outside S3's 5 MiB")]
    fn small_parts_are_a_bug() {
        let limits = Limits {
            part_bytes: 1 << 20,
            ..Limits::DEFAULT
        };
        let _ = S3Store::new(&config(), limits);
    }
}
