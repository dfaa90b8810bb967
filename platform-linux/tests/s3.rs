//! The S3 store client against a real S3 server that checks signatures
//! (`s3s-fs` on loopback, see `services/s3.rs`): what a recording looks
//! like on the store, what the presigned URL serves, and how each failure
//! reads to the person fixing it.

mod services;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use echostream::recording::Format;
use echostream::s3::{Limits, S3Store, UploadErrorKind, UploadMeta, Uploaded, object_key};
use rustls_pki_types::PrivateKeyDer;
use s3::creds::Credentials;
use s3::{Bucket, Region};
use services::s3::{ACCESS_KEY, FaultProxy, S3sFs, SECRET_KEY};

const BUCKET: &str = "recordings";
const MIB: u64 = 1024 * 1024;

/// A dead store must answer within this.
const UNREACHABLE_WITHIN: Duration = Duration::from_secs(5);

/// Limits for multipart tests: anything above 1 MiB goes in 5 MiB parts
/// (the smallest s3s-fs takes, as S3 does).
const SMALL_PARTS: Limits = Limits {
    multipart_threshold_bytes: MIB,
    part_bytes: 5 * MIB,
    ..Limits::DEFAULT
};

fn meta(format: Format) -> UploadMeta {
    UploadMeta {
        node_id: "engine-7".to_owned(),
        channel: "dispatch".to_owned(),
        format,
        tone_ids: vec!["station-12".to_owned(), "all call".to_owned()],
        alert_time: UNIX_EPOCH + Duration::from_millis(1_795_000_000_123),
    }
}

fn key(recording_id: &str) -> String {
    object_key(
        "station-12/",
        "engine-7",
        "dispatch",
        UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        recording_id,
        Format::Wav,
    )
}

/// A WAV file of `len_bytes` (rounded to whole samples) at 16 kHz holding
/// seeded noise, so that parts sent out of order or twice would show.
fn wav_file(dir: &Path, name: &str, len_bytes: u64, seed: u32) -> PathBuf {
    let path = dir.join(name);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&path, spec).unwrap();
    let mut state = seed | 1;
    for _ in 0..len_bytes.saturating_sub(44) / 2 {
        // xorshift32
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        writer.write_sample(state as i16).unwrap();
    }
    writer.finalize().unwrap();
    path
}

/// A rust-s3 client of its own, for reading back what the store holds.
fn reader(server: &S3sFs) -> Box<Bucket> {
    let region = Region::Custom {
        region: "us-east-1".to_owned(),
        endpoint: server.endpoint(),
    };
    let credentials = Credentials::new(Some(ACCESS_KEY), Some(SECRET_KEY), None, None, None);
    Bucket::new(BUCKET, region, credentials.unwrap())
        .unwrap()
        .with_path_style()
}

fn store_for(server: &S3sFs, limits: Limits) -> S3Store {
    S3Store::new(&server.config(BUCKET), limits).unwrap()
}

/// Asserts the store holds `file`'s bytes at `key` with the recording's
/// type and metadata.
fn assert_stored(server: &S3sFs, key: &str, file: &Path, content_type: &str) {
    let bytes = std::fs::read(file).unwrap();
    let got = reader(server).get_object(key).unwrap();
    assert_eq!(got.status_code(), 200);
    assert!(
        got.as_slice() == bytes,
        "GET differs from the file ({} bytes)",
        bytes.len()
    );
    // rust-s3 0.38's sync HEAD reads the type from a `get-Type` header (a
    // typo), so it is taken from the GET.
    assert_eq!(
        got.headers().get("content-type").map(String::as_str),
        Some(content_type)
    );
    let (head, _) = reader(server).head_object(key).unwrap();
    assert_eq!(head.content_length, Some(bytes.len() as i64));
    let metadata = head.metadata.expect("x-amz-meta-* headers");
    assert_eq!(metadata["node"], "engine-7");
    assert_eq!(metadata["channel"], "dispatch");
    assert_eq!(metadata["tone-ids"], "station-12,all call");
    assert_eq!(metadata["alert-time"], "2026-11-18T11:06:40.123Z");
}

#[test]
fn wav_round_trips_with_type_and_metadata() {
    let server = S3sFs::start();
    server.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(dir.path(), "r1.wav", 200_000, 1);
    let key = key("r1");
    assert_eq!(key, "station-12/engine-7/dispatch/2026-11-18/r1.wav");

    let uploaded = store_for(&server, Limits::DEFAULT)
        .upload(&file, &key, &meta(Format::Wav))
        .unwrap();

    assert_eq!(
        uploaded,
        Uploaded {
            key: key.clone(),
            size_bytes: 200_000,
            parts: 0,
            etag: uploaded.etag.clone(),
        }
    );
    assert!(
        uploaded.etag.is_some_and(|etag| etag.len() == 32),
        "an MD5 ETag"
    );
    assert_stored(&server, &key, &file, "audio/wav");
    assert_eq!(
        server.object_bytes(BUCKET, &key),
        std::fs::read(&file).unwrap()
    );
}

#[test]
fn opus_recordings_are_audio_ogg() {
    let server = S3sFs::start();
    server.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.opus");
    std::fs::write(&file, b"OggS fake page").unwrap();
    let store = store_for(&server, Limits::DEFAULT);
    store
        .upload(&file, "n/c/r.opus", &meta(Format::Opus))
        .unwrap();
    assert_stored(&server, "n/c/r.opus", &file, "audio/ogg");
}

#[test]
fn presigned_url_serves_the_bytes_and_a_tampered_one_is_refused() {
    let server = S3sFs::start();
    server.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(dir.path(), "r2.wav", 50_000, 2);
    let store = store_for(&server, Limits::DEFAULT);
    store.upload(&file, &key("r2"), &meta(Format::Wav)).unwrap();

    let url = store.presign_get(&key("r2")).unwrap();
    let response = attohttpc::get(&url).send().unwrap();
    assert_eq!(response.status().as_u16(), 200, "{url}");
    assert!(response.bytes().unwrap() == std::fs::read(&file).unwrap());

    let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.clone().into_bytes();
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let response = attohttpc::get(&tampered).send().unwrap();
    assert_eq!(response.status().as_u16(), 403, "{tampered}");

    // A URL for another key with this key's signature is refused too.
    let moved = url.replace("/r2.wav?", "/r1.wav?");
    assert_eq!(
        attohttpc::get(&moved).send().unwrap().status().as_u16(),
        403
    );
}

#[test]
fn wrong_secret_is_refused_and_says_what_to_check() {
    let server = S3sFs::start();
    server.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(dir.path(), "r3.wav", 10_000, 3);
    let mut config = server.config(BUCKET);
    config.secret_key = "not-the-secret".to_owned();
    let store = S3Store::new(&config, Limits::DEFAULT).unwrap();

    let error = store
        .upload(&file, &key("r3"), &meta(Format::Wav))
        .unwrap_err();

    assert_eq!(error.kind(), UploadErrorKind::Refused, "{error}");
    let text = error.to_string();
    for needle in [
        "s3.access_key",
        "s3.secret_key",
        "clock",
        "403",
        BUCKET,
        &key("r3"),
    ] {
        assert!(text.contains(needle), "`{needle}` missing from: {text}");
    }
    assert!(text.contains(&server.endpoint()), "{text}");
    assert!(!text.contains("not-the-secret"), "{text}");
    assert!(
        reader(&server).head_object(key("r3")).is_err(),
        "nothing stored"
    );
}

#[test]
fn missing_bucket_is_an_error_and_never_created() {
    let server = S3sFs::start();
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(dir.path(), "r4.wav", 10_000, 4);

    let error = store_for(&server, Limits::DEFAULT)
        .upload(&file, &key("r4"), &meta(Format::Wav))
        .unwrap_err();

    assert_eq!(error.kind(), UploadErrorKind::NoBucket, "{error}");
    let text = error.to_string();
    assert!(text.contains("`recordings` does not exist"), "{text}");
    assert!(text.contains("create it"), "{text}");
    assert!(text.contains(&server.endpoint()), "{text}");
    assert!(!server.has_bucket(BUCKET), "the upload made the bucket");
}

#[test]
fn unreadable_file_is_local() {
    let server = S3sFs::start();
    server.create_bucket(BUCKET);
    let missing = Path::new("/nonexistent/spool/r5.wav");
    let error = store_for(&server, Limits::DEFAULT)
        .upload(missing, &key("r5"), &meta(Format::Wav))
        .unwrap_err();
    assert_eq!(error.kind(), UploadErrorKind::Local, "{error}");
    let text = error.to_string();
    assert!(
        text.contains("/nonexistent/spool/r5.wav") && text.contains(&key("r5")),
        "{text}"
    );
}

#[test]
fn multipart_upload_round_trips() {
    let server = S3sFs::start();
    server.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let store = store_for(&server, SMALL_PARTS);
    // Two full parts and a short one; exactly two parts; one short part.
    for (name, len_bytes, parts) in [
        ("a", 12 * MIB + 1_234, 3),
        ("b", 10 * MIB, 2),
        ("c", 2 * MIB, 1),
    ] {
        let file = wav_file(dir.path(), &format!("{name}.wav"), len_bytes, 6);
        let uploaded = store.upload(&file, &key(name), &meta(Format::Wav)).unwrap();
        assert_eq!(uploaded.parts, parts, "{name}");
        assert!(uploaded.etag.is_some(), "{name}");
        assert_eq!(uploaded.size_bytes, std::fs::metadata(&file).unwrap().len());
        assert_stored(&server, &key(name), &file, "audio/wav");
    }
}

/// rust-s3 0.38 with `fail-on-err` does not abort a multipart upload whose
/// part failed (only its `put_object_stream` does); the store client
/// does, and the next attempt uploads the whole file again.
#[test]
fn failed_part_aborts_and_the_next_attempt_uploads_it_all() {
    let server = S3sFs::start();
    server.create_bucket(BUCKET);
    let proxy = FaultProxy::start(server.port());
    let mut config = server.config(BUCKET);
    config.endpoint = Some(proxy.endpoint());
    let store = S3Store::new(&config, SMALL_PARTS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(dir.path(), "r7.wav", 11 * MIB, 7);

    proxy.drop_requests_containing(Some("partNumber=2&"));
    let error = store
        .upload(&file, &key("r7"), &meta(Format::Wav))
        .unwrap_err();
    assert_eq!(error.kind(), UploadErrorKind::Unreachable, "{error}");
    assert!(error.to_string().contains("part 2"), "{error}");
    assert!(proxy.dropped() >= 1);
    assert!(
        reader(&server).head_object(key("r7")).is_err(),
        "no object yet"
    );
    assert_eq!(leftover_parts(&server), 0, "the failed upload was aborted");

    proxy.drop_requests_containing(None);
    let uploaded = store.upload(&file, &key("r7"), &meta(Format::Wav)).unwrap();
    assert_eq!(uploaded.parts, 3);
    assert_stored(&server, &key("r7"), &file, "audio/wav");
}

/// Parts s3s-fs holds for unfinished multipart uploads
/// (`.upload_id-{id}.part-{n}` in its root).
fn leftover_parts(server: &S3sFs) -> usize {
    std::fs::read_dir(server.root())
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with(".upload_id-")
        })
        .count()
}

#[test]
fn stopped_store_is_unreachable_and_the_retry_overwrites_the_same_object() {
    let mut server = S3sFs::start();
    server.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(dir.path(), "r8.wav", 100_000, 8);
    let store = store_for(&server, Limits::DEFAULT);
    store.upload(&file, &key("r8"), &meta(Format::Wav)).unwrap();
    let url = store.presign_get(&key("r8")).unwrap();

    server.stop();
    let started = Instant::now();
    let error = store
        .upload(&file, &key("r8"), &meta(Format::Wav))
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(error.kind(), UploadErrorKind::Unreachable, "{error}");
    assert!(took < UNREACHABLE_WITHIN, "took {took:?}");
    let text = error.to_string();
    assert!(
        text.contains(&server.endpoint()) && text.contains("try again later"),
        "{text}"
    );

    server.restart();
    let uploaded = store.upload(&file, &key("r8"), &meta(Format::Wav)).unwrap();
    assert_eq!(uploaded.key, key("r8"));
    assert_stored(&server, &key("r8"), &file, "audio/wav");
    // The URL handed out before the outage still serves the same bytes.
    let response = attohttpc::get(&url).send().unwrap();
    assert!(response.bytes().unwrap() == std::fs::read(&file).unwrap());
}

/// A store that accepts connections and never answers: the request is
/// cut at its time limit, not waited on forever.
#[test]
fn silent_store_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let holder = Arc::clone(&held);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            holder.lock().unwrap().push(stream);
        }
    });
    let config = services::s3::config_for(&format!("http://127.0.0.1:{port}"), BUCKET);
    let limits = Limits {
        request_timeout_ms: 500,
        ..Limits::DEFAULT
    };
    let store = S3Store::new(&config, limits).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(dir.path(), "r9.wav", 1_000, 9);

    let started = Instant::now();
    let error = store
        .upload(&file, &key("r9"), &meta(Format::Wav))
        .unwrap_err();
    let took = started.elapsed();

    assert_eq!(error.kind(), UploadErrorKind::Unreachable, "{error}");
    // rust-s3 retries the bucket check once after 1 s: two 0.5 s limits
    // and the pause.
    assert!(took >= Duration::from_millis(500), "took {took:?}");
    assert!(took < UNREACHABLE_WITHIN, "took {took:?}");
    assert!(!held.lock().unwrap().is_empty());
}

/// Speed of uploads to s3s-fs on loopback, printed for BENCHMARKS.md:
/// 20 MiB in one PUT and in 8 MiB parts, each followed by the bucket
/// check and the size check.
#[test]
fn loopback_upload_speed() {
    let server = S3sFs::start();
    server.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let len_bytes = 20 * MIB;
    let file = wav_file(dir.path(), "big.wav", len_bytes, 10);
    let single = Limits {
        multipart_threshold_bytes: 32 * MIB,
        ..Limits::DEFAULT
    };
    for (how, limits, parts) in [
        ("single PUT", single, 0),
        ("8 MiB parts", Limits::DEFAULT, 3),
    ] {
        let store = store_for(&server, limits);
        let started = Instant::now();
        let uploaded = store
            .upload(&file, &key("big"), &meta(Format::Wav))
            .unwrap();
        let took = started.elapsed().as_secs_f64();
        assert_eq!(uploaded.parts, parts);
        let mib = len_bytes as f64 / MIB as f64;
        let mb = len_bytes as f64 / 1e6;
        println!(
            "s3 upload to s3s-fs on loopback, {how}: {mib:.0} MiB in {took:.3} s = \
             {:.4} s/MiB, {:.4} s/MB, {:.1} MiB/s",
            took / mib,
            took / mb,
            mib / took
        );
    }
    assert_eq!(
        server.object_bytes(BUCKET, &key("big")),
        std::fs::read(&file).unwrap()
    );
}

/// An https store with a certificate no CA this machine trusts signed: a
/// TLS error that says so, at once, not a hang or a misleading
/// "unreachable".
#[test]
fn https_store_with_an_unknown_certificate_is_a_tls_error() {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let private_key = PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![generated.cert.der().clone()], private_key)
        .unwrap();
    let tls = Arc::new(tls);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let connection = rustls::ServerConnection::new(Arc::clone(&tls)).unwrap();
            let mut stream = rustls::StreamOwned::new(connection, stream);
            let _ = stream.read(&mut [0u8; 1024]);
        }
    });
    let config = services::s3::config_for(&format!("https://localhost:{port}"), BUCKET);
    let store = S3Store::new(&config, Limits::DEFAULT).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(dir.path(), "r11.wav", 1_000, 11);

    let started = Instant::now();
    let error = store
        .upload(&file, &key("r11"), &meta(Format::Wav))
        .unwrap_err();

    assert!(started.elapsed() < UNREACHABLE_WITHIN);
    assert_eq!(error.kind(), UploadErrorKind::Tls, "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("https://localhost:{port}")),
        "{error}"
    );
}
