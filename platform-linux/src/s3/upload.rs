//! One upload attempt: bucket check, one `PUT` or a multipart upload read
//! part by part from the file, then a `HEAD` that must show the file's
//! size.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::error::{Step, Target, UploadError, classify};
use super::key::{content_type, meta_value};
use super::{PARTS_MAX, S3Store, UploadMeta, Uploaded};
use crate::logger::rfc3339_ms;

impl S3Store {
    /// Uploads the file at `path` to `key` with `meta`, and checks with a
    /// `HEAD` that the object has the file's size. One attempt, no
    /// retries of its own beyond rust-s3's (see the module doc); on error
    /// nothing local is touched, and the same call may simply be repeated.
    ///
    /// First a `HEAD` of the bucket: a store that would make a missing
    /// bucket on the first `PUT` (s3s-fs does) gets [`UploadError::NoBucket`]
    /// instead, so a misspelt `s3.bucket` never becomes a new bucket.
    ///
    /// Files above [`Limits::multipart_threshold_bytes`](super::Limits)
    /// go as a multipart upload. A failed part or completion aborts the
    /// multipart upload (best effort: with the store unreachable, its
    /// parts stay until the bucket's lifecycle rule for incomplete
    /// uploads removes them), and the next attempt starts a new one.
    ///
    /// # Errors
    ///
    /// See [`UploadError`]: each names the store, bucket and key.
    pub fn upload(
        &self,
        path: &Path,
        key: &str,
        meta: &UploadMeta,
    ) -> Result<Uploaded, UploadError> {
        let target = self.target(key);
        let local = |source| UploadError::Local {
            target: target.clone(),
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(local)?;
        let file_bytes = file.metadata().map_err(local)?.len();
        self.probe_bucket(&target)?;
        let upload = FileUpload {
            file: &mut file,
            path,
            file_bytes,
            target: &target,
            content_type: content_type(meta.format),
            headers: meta_headers(meta),
        };
        let parts = if file_bytes > self.limits.multipart_threshold_bytes {
            self.put_parts(upload)?
        } else {
            self.put_whole(upload)?
        };
        let (stored_bytes, etag) = self.stored(&target)?;
        if stored_bytes != file_bytes {
            return Err(UploadError::SizeMismatch {
                target,
                file_bytes,
                stored_bytes,
            });
        }
        Ok(Uploaded {
            key: key.to_owned(),
            size_bytes: file_bytes,
            parts,
            etag,
        })
    }

    /// `HEAD` of the bucket. Only a missing bucket or a store that cannot
    /// be reached stops the upload here; any other answer (403 for a key
    /// that may write but not list, a store that does not do `HEAD` on a
    /// bucket) lets the `PUT` give the verdict.
    fn probe_bucket(&self, target: &Target) -> Result<(), UploadError> {
        let bucket = self.bucket_with_timeout(self.limits.request_timeout(0));
        // An empty key addresses the bucket itself: `HEAD /{bucket}/` in
        // path style, `HEAD /` on the bucket's host otherwise.
        let Err(error) = bucket.head_object("") else {
            return Ok(());
        };
        match classify(error, Box::new(target.clone()), Step::Probe) {
            error @ (UploadError::NoBucket { .. }
            | UploadError::Unreachable { .. }
            | UploadError::Tls { .. }) => Err(error),
            _ => Ok(()),
        }
    }

    /// One `PUT` of the whole file; returns 0 (parts).
    fn put_whole(&self, upload: FileUpload<'_>) -> Result<u32, UploadError> {
        let len = usize::try_from(upload.file_bytes).expect("below the multipart threshold");
        let mut body = Vec::with_capacity(len);
        read_exactly(upload.file, &mut body, len).map_err(|e| upload.local(e))?;
        let bucket = self.bucket_with_timeout(self.limits.request_timeout(upload.file_bytes));
        bucket
            .put_object_with_content_type_and_headers(
                &upload.target.key,
                &body,
                upload.content_type,
                Some(upload.headers),
            )
            .map_err(|e| classify(e, Box::new(upload.target.clone()), Step::Put))?;
        Ok(0)
    }

    /// A multipart upload, one part in memory at a time; returns the
    /// number of parts. Aborts the upload if a part or the completion fails.
    fn put_parts(&self, mut upload: FileUpload<'_>) -> Result<u32, UploadError> {
        let target = upload.target;
        let initiate = self
            .bucket_with_timeout(self.limits.request_timeout(0))
            .with_extra_headers(upload.headers.clone())
            .map_err(|e| classify(e, Box::new(target.clone()), Step::Initiate))?;
        // Metadata goes with the start only: rust-s3 leaves extra
        // `x-amz-meta-*` headers off parts, completion and abort.
        let started = initiate
            .initiate_multipart_upload(&target.key, upload.content_type)
            .map_err(|e| classify(e, Box::new(target.clone()), Step::Initiate))?;
        let upload_id = started.upload_id;
        match self.send_parts(&mut upload, &upload_id) {
            Ok(parts) => Ok(parts),
            Err(error) => {
                // rust-s3's own abort runs only on non-2xx answers without
                // `fail-on-err`; with it, the error comes straight back.
                let abort = self.bucket_with_timeout(self.limits.request_timeout(0));
                if let Err(abort_error) = abort.abort_upload(&target.key, &upload_id) {
                    log::warn!(
                        "could not abort multipart upload {upload_id} of {target} \
                         ({abort_error}): its parts stay on the store until a lifecycle rule \
                         for incomplete multipart uploads removes them"
                    );
                }
                Err(error)
            }
        }
    }

    fn send_parts(&self, upload: &mut FileUpload<'_>, upload_id: &str) -> Result<u32, UploadError> {
        let target = upload.target;
        let part_bytes = self.limits.part_bytes_for(upload.file_bytes);
        let count = upload.file_bytes.div_ceil(part_bytes);
        assert!(
            count <= PARTS_MAX,
            "part_bytes_for keeps the count in S3's limit"
        );
        let part_len = usize::try_from(part_bytes).expect("parts are at most 5 GiB");
        let mut buf = Vec::with_capacity(part_len);
        let mut parts = Vec::with_capacity(count as usize);
        for number in 1..=count as u32 {
            let sent = u64::from(number - 1) * part_bytes;
            let len = part_bytes.min(upload.file_bytes - sent) as usize;
            read_exactly(upload.file, &mut buf, len).map_err(|e| upload.local(e))?;
            let part = self
                .bucket_with_timeout(self.limits.request_timeout(len as u64))
                .put_multipart_chunk(&buf, &target.key, number, upload_id, upload.content_type)
                .map_err(|e| classify(e, Box::new(target.clone()), Step::Part(number)))?;
            parts.push(part);
        }
        // The store joins the parts before it answers: give it the time of
        // sending one.
        self.bucket_with_timeout(self.limits.request_timeout(part_bytes))
            .complete_multipart_upload(&target.key, upload_id, parts)
            .map_err(|e| classify(e, Box::new(target.clone()), Step::Complete))?;
        Ok(count as u32)
    }

    /// The size of the object at `key`, or `None` if the store has no
    /// such object (a recording whose spool file is gone: uploaded before
    /// a crash, or lost).
    ///
    /// # Errors
    /// Any answer but the object or a 404 (see [`UploadError`]).
    pub fn stored_size(&self, key: &str) -> Result<Option<u64>, UploadError> {
        let target = self.target(key);
        match self.stored(&target) {
            Ok((size, _)) => Ok(Some(size)),
            Err(UploadError::Rejected { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The object's size and ETag (quotes removed) from a `HEAD`.
    fn stored(&self, target: &Target) -> Result<(u64, Option<String>), UploadError> {
        let (head, _status) = self
            .bucket_with_timeout(self.limits.request_timeout(0))
            .head_object(&target.key)
            .map_err(|e| classify(e, Box::new(target.clone()), Step::Head))?;
        let size_bytes = head
            .content_length
            .and_then(|len| u64::try_from(len).ok())
            .ok_or_else(|| UploadError::Unexpected {
                target: Box::new(target.clone()),
                step: Step::Head,
                reason: "no Content-Length".to_owned(),
            })?;
        let etag = head.e_tag.map(|etag| etag.trim_matches('"').to_owned());
        Ok((size_bytes, etag))
    }
}

/// The file being uploaded and what goes with it.
struct FileUpload<'a> {
    file: &'a mut File,
    path: &'a Path,
    /// Its size when opened; exactly this many bytes are sent.
    file_bytes: u64,
    target: &'a Target,
    content_type: &'static str,
    headers: HeaderMap,
}

impl FileUpload<'_> {
    fn local(&self, source: io::Error) -> UploadError {
        UploadError::Local {
            target: Box::new(self.target.clone()),
            path: self.path.to_owned(),
            source,
        }
    }
}

/// Replaces `buf` with the next `len` bytes of `file`.
fn read_exactly(file: &mut File, buf: &mut Vec<u8>, len: usize) -> io::Result<()> {
    buf.clear();
    file.take(len as u64).read_to_end(buf)?;
    if buf.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "the file shrank while being read ({} of {len} bytes)",
                buf.len()
            ),
        ));
    }
    Ok(())
}

/// The `x-amz-meta-*` headers of a recording.
fn meta_headers(meta: &UploadMeta) -> HeaderMap {
    let values = [
        ("x-amz-meta-node", meta_value(&meta.node_id)),
        ("x-amz-meta-channel", meta_value(&meta.channel)),
        ("x-amz-meta-tone-ids", meta_value(&meta.tone_ids.join(","))),
        ("x-amz-meta-alert-time", rfc3339_ms(meta.alert_time)),
    ];
    let mut headers = HeaderMap::with_capacity(values.len());
    for (name, value) in values {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("meta_value and rfc3339_ms write printable ASCII"),
        );
    }
    headers
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::recording::Format;

    #[test]
    fn metadata_headers() {
        let meta = UploadMeta {
            node_id: "engine-7".to_owned(),
            channel: "dispatch".to_owned(),
            format: Format::Opus,
            tone_ids: vec!["station 12".to_owned(), "all-call".to_owned()],
            alert_time: UNIX_EPOCH + Duration::from_millis(1_795_000_000_123),
        };
        let headers = meta_headers(&meta);
        assert_eq!(headers["x-amz-meta-node"], "engine-7");
        assert_eq!(headers["x-amz-meta-channel"], "dispatch");
        assert_eq!(headers["x-amz-meta-tone-ids"], "station 12,all-call");
        assert_eq!(headers["x-amz-meta-alert-time"], "2026-11-18T11:06:40.123Z");
    }

    #[test]
    fn a_shrunk_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.wav");
        std::fs::write(&path, [1, 2, 3]).unwrap();
        let mut file = File::open(&path).unwrap();
        let mut buf = Vec::new();
        read_exactly(&mut file, &mut buf, 2).unwrap();
        assert_eq!(buf, [1, 2]);
        let error = read_exactly(&mut file, &mut buf, 2).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
