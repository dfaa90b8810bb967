//! A small synchronous HTTP/1.1 server for the status endpoints of the
//! relay and the edge node: `/metrics`, `/status`, the status page.
//!
//! One thread, one connection at a time, `Connection: close`: the callers
//! are a Prometheus scraper, a browser refreshing a page every few seconds
//! and `echostream status`. A request is at most [`REQUEST_MAX`] bytes and
//! must arrive within [`READ_TIMEOUT`], so a slow or hostile client holds
//! the thread for seconds, not forever. The thread blocks in `accept` (no
//! wake-ups while nobody asks); [`HttpServer::stop`] wakes it with a
//! connection of its own.
//!
//! With a [`PasswordHash`], every request needs HTTP basic auth (RFC 7617)
//! with that password (any user name). The hash is PBKDF2-HMAC-SHA256;
//! a header that matched once is remembered by its SHA-256, so a page
//! refreshing every 5 s costs one key derivation, not one per request.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The largest request head taken (request line and headers).
pub const REQUEST_MAX: usize = 8 * 1024;
/// How long a client may take to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client may take to read the answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest password `hash-password` takes.
pub const PASSWORD_LEN_MIN: usize = 8;
/// PBKDF2 rounds of a new hash: about 0.1 s on a Raspberry Pi 4, once per
/// browser session thanks to the cache.
pub const PBKDF2_ROUNDS: u32 = 100_000;

/// A request, as the handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string after `?`, if any.
    pub query: Option<String>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// Extra headers (`Name: value` without the line end).
    pub headers: Vec<String>,
}

impl Response {
    /// 200 with `body` of type `content_type`.
    pub fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status: 200,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// A plain-text answer with `status`.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
            headers: Vec::new(),
        }
    }

    /// 404 naming the path.
    pub fn not_found(path: &str) -> Response {
        Response::text(404, format!("no such page: {path}\n"))
    }
}

/// What answers requests.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Escapes `text` for HTML text and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a Prometheus label value (backslash, quote, newline).
pub fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes a Prometheus family's `# HELP` and `# TYPE` lines.
pub fn prometheus_family(out: &mut String, name: &str, kind: &str, help: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// What the server counts.
#[derive(Debug, Default)]
pub struct HttpCounters {
    /// Requests answered (any status).
    pub requests: AtomicU64,
    /// Requests refused for a missing or wrong password.
    pub unauthorized: AtomicU64,
    /// Connections dropped: unreadable, too large, too slow.
    pub bad_requests: AtomicU64,
}

/// A running server. See the [module docs](self).
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<HttpCounters>,
}

impl HttpServer {
    /// Listens on `addr` and answers with `handler` on the thread `name`.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound (in use, not local) or the thread
    /// cannot start.
    pub fn start(
        name: &str,
        addr: SocketAddr,
        password: Option<PasswordHash>,
        handler: Handler,
    ) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(HttpCounters::default());
        let thread = {
            let stop = stop.clone();
            let counters = counters.clone();
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || serve(&listener, &stop, password, &handler, &counters))?
        };
        Ok(HttpServer {
            addr,
            stop,
            thread: Some(thread),
            counters,
        })
    }

    /// The bound address (the port, when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it counted.
    pub fn counters(&self) -> &Arc<HttpCounters> {
        &self.counters
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept; refused is fine (already stopping).
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shut();
    }
}

fn serve(
    listener: &TcpListener,
    stop: &AtomicBool,
    password: Option<PasswordHash>,
    handler: &Handler,
    counters: &HttpCounters,
) {
    let mut auth = password.map(Auth::new);
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(error) => {
                log::warn!("http: accept: {error}");
                // EMFILE and the like: do not spin.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if let Err(error) = answer(stream, auth.as_mut(), handler, counters) {
            counters.bad_requests.fetch_add(1, Ordering::Relaxed);
            log::debug!("http: {error}");
        }
    }
}

fn answer(
    mut stream: TcpStream,
    auth: Option<&mut Auth>,
    handler: &Handler,
    counters: &HttpCounters,
) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut buf = vec![0u8; REQUEST_MAX];
    let mut len = 0;
    let (request, authorization) = loop {
        let n = stream.read(&mut buf[len..])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the request ended",
            ));
        }
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => {
                let authorization = parsed
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                    .map(|h| h.value.to_vec());
                let target = parsed.path.unwrap_or("/");
                let (path, query) = match target.split_once('?') {
                    Some((path, query)) => (path, Some(query.to_owned())),
                    None => (target, None),
                };
                let request = Request {
                    method: parsed.method.unwrap_or("GET").to_owned(),
                    path: path.to_owned(),
                    query,
                };
                break (request, authorization);
            }
            Ok(httparse::Status::Partial) if len < buf.len() => {}
            Ok(httparse::Status::Partial) => {
                write_response(
                    &mut stream,
                    &Response::text(431, "request too large\n"),
                    false,
                )?;
                return Err(io::Error::other("request head over 8 KiB"));
            }
            Err(error) => {
                write_response(&mut stream, &Response::text(400, "bad request\n"), false)?;
                return Err(io::Error::other(format!("unparsable request: {error}")));
            }
        }
    };
    counters.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(auth) = auth
        && !auth.allows(authorization.as_deref())
    {
        counters.unauthorized.fetch_add(1, Ordering::Relaxed);
        let mut refused = Response::text(401, "a password is needed\n");
        refused
            .headers
            .push("WWW-Authenticate: Basic realm=\"EchoStream\", charset=\"UTF-8\"".to_owned());
        return write_response(&mut stream, &refused, false);
    }
    let head_only = request.method == "HEAD";
    let response = if request.method == "GET" || head_only {
        handler(&request)
    } else {
        let mut refused = Response::text(405, "only GET and HEAD\n");
        refused.headers.push("Allow: GET, HEAD".to_owned());
        refused
    };
    write_response(&mut stream, &response, head_only)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn write_response(stream: &mut TcpStream, response: &Response, head_only: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         Connection: close\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    for header in &response.headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(&response.body)?;
    }
    stream.flush()
}

/// A stored password: PBKDF2-HMAC-SHA256 with its salt and rounds, written
/// `pbkdf2-sha256$ROUNDS$SALT$HASH` (salt and hash in base64).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    rounds: NonZeroU32,
    salt: Vec<u8>,
    hash: [u8; 32],
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not even the hash goes to a log.
        f.write_str("PasswordHash(…)")
    }
}

/// Why a stored password hash cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHashError(&'static str);

impl std::fmt::Display for PasswordHashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected `pbkdf2-sha256$ROUNDS$SALT$HASH` as `echostream hash-password` prints it",
            self.0
        )
    }
}

impl std::error::Error for PasswordHashError {}

const SCHEME: &str = "pbkdf2-sha256";

impl PasswordHash {
    /// Hashes `password` with a random salt.
    ///
    /// # Errors
    ///
    /// When the system's random source fails.
    pub fn new(password: &str) -> Result<PasswordHash, getrandom::Error> {
        let mut salt = vec![0u8; 16];
        getrandom::fill(&mut salt)?;
        let rounds = NonZeroU32::new(PBKDF2_ROUNDS).expect("a constant above zero");
        let mut hash = [0u8; 32];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            rounds,
            &salt,
            password.as_bytes(),
            &mut hash,
        );
        Ok(PasswordHash { rounds, salt, hash })
    }

    /// Reads a hash as [`Display`](std::fmt::Display) writes it.
    ///
    /// # Errors
    ///
    /// Anything else, named.
    pub fn parse(text: &str) -> Result<PasswordHash, PasswordHashError> {
        let mut parts = text.split('$');
        if parts.next() != Some(SCHEME) {
            return Err(PasswordHashError("not a pbkdf2-sha256 hash"));
        }
        let rounds = parts
            .next()
            .and_then(|r| r.parse::<u32>().ok())
            .and_then(NonZeroU32::new)
            .ok_or(PasswordHashError("bad round count"))?;
        if rounds.get() < 10_000 {
            return Err(PasswordHashError("fewer than 10000 rounds"));
        }
        let salt = parts
            .next()
            .and_then(|s| BASE64.decode(s).ok())
            .filter(|s| s.len() >= 8)
            .ok_or(PasswordHashError("bad salt"))?;
        let hash = parts
            .next()
            .and_then(|h| BASE64.decode(h).ok())
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or(PasswordHashError("bad hash"))?;
        if parts.next().is_some() {
            return Err(PasswordHashError("extra fields"));
        }
        Ok(PasswordHash { rounds, salt, hash })
    }

    /// Whether `password` is the one hashed (constant time).
    pub fn verify(&self, password: &str) -> bool {
        ring::pbkdf2::verify(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            self.rounds,
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

impl std::fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{SCHEME}${}${}${}",
            self.rounds,
            BASE64.encode(&self.salt),
            BASE64.encode(self.hash)
        )
    }
}

/// Basic auth against a [`PasswordHash`], remembering the last accepted
/// header by its digest.
struct Auth {
    hash: PasswordHash,
    accepted: Option<[u8; 32]>,
}

impl Auth {
    fn new(hash: PasswordHash) -> Auth {
        Auth {
            hash,
            accepted: None,
        }
    }

    fn allows(&mut self, header: Option<&[u8]>) -> bool {
        use sha2::Digest;
        let Some(header) = header else {
            return false;
        };
        let digest: [u8; 32] = sha2::Sha256::digest(header).into();
        // Constant time: no early exit on the first differing byte.
        if let Some(accepted) = &self.accepted
            && accepted
                .iter()
                .zip(&digest)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
        {
            return true;
        }
        let Some(password) = basic_password(header) else {
            return false;
        };
        let ok = self.hash.verify(&password);
        if ok {
            self.accepted = Some(digest);
        }
        ok
    }
}

/// The password of a `Basic` authorization header (the user is ignored).
fn basic_password(header: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, credentials) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = BASE64.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_user, password) = decoded.split_once(':')?;
    Some(password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_label_values() {
        assert_eq!(
            escape_html(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    fn get(addr: SocketAddr, raw: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    fn server(password: Option<PasswordHash>) -> HttpServer {
        let handler: Handler = Arc::new(|request: &Request| match request.path.as_str() {
            "/hello" => Response::ok(
                "text/plain",
                format!("hello {}", request.query.as_deref().unwrap_or("")),
            ),
            path => Response::not_found(path),
        });
        HttpServer::start(
            "http-test",
            "127.0.0.1:0".parse().unwrap(),
            password,
            handler,
        )
        .unwrap()
    }

    #[test]
    fn answers_get_and_head_and_names_a_missing_page() {
        let server = server(None);
        let out = get(server.addr(), "GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("Content-Length: 9\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nhello x=1"), "{out}");
        let out = get(server.addr(), "HEAD /hello HTTP/1.1\r\n\r\n");
        assert!(
            out.starts_with("HTTP/1.1 200 OK") && out.ends_with("\r\n\r\n"),
            "{out}"
        );
        let out = get(server.addr(), "GET /nope HTTP/1.1\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 404") && out.contains("no such page: /nope"));
        let out = get(server.addr(), "POST /hello HTTP/1.1\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 405"), "{out}");
        assert_eq!(server.counters().requests.load(Ordering::Relaxed), 4);
        server.stop();
    }

    #[test]
    fn garbage_and_oversized_requests_are_refused_and_counted() {
        let server = server(None);
        let out = get(server.addr(), "\u{1}\u{2} nonsense\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(REQUEST_MAX));
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        let _ = stream.write_all(huge.as_bytes());
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 431"), "{out}");
        // Still serving.
        let out = get(server.addr(), "GET /hello HTTP/1.1\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200"));
        assert_eq!(server.counters().bad_requests.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_password_is_asked_for_and_checked() {
        let hash = PasswordHash::new("correct horse").unwrap();
        let server = server(Some(hash));
        let out = get(server.addr(), "GET /hello HTTP/1.1\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 401"), "{out}");
        assert!(out.contains("WWW-Authenticate: Basic realm=\"EchoStream\""));
        let wrong = BASE64.encode("admin:battery staple");
        let out = get(
            server.addr(),
            &format!("GET /hello HTTP/1.1\r\nAuthorization: Basic {wrong}\r\n\r\n"),
        );
        assert!(out.starts_with("HTTP/1.1 401"), "{out}");
        let right = BASE64.encode("anyone:correct horse");
        for _ in 0..2 {
            let out = get(
                server.addr(),
                &format!("GET /hello HTTP/1.1\r\nauthorization: Basic {right}\r\n\r\n"),
            );
            assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        }
        assert_eq!(server.counters().unauthorized.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_hash_reads_back_and_bad_ones_are_named() {
        let hash = PasswordHash::new("s3cret").unwrap();
        let text = hash.to_string();
        assert!(text.starts_with("pbkdf2-sha256$100000$"), "{text}");
        let back = PasswordHash::parse(&text).unwrap();
        assert!(back.verify("s3cret"));
        assert!(!back.verify("s3cret "));
        assert_eq!(format!("{back:?}"), "PasswordHash(…)");
        for bad in [
            "s3cret",
            "pbkdf2-sha256$0$AAAAAAAAAAA=$AAAA",
            "pbkdf2-sha256$100$AAAAAAAAAAA=$AAAA",
            "pbkdf2-sha256$100000$!!$AAAA",
            "pbkdf2-sha256$100000$AAAAAAAAAAA=$AAAA",
        ] {
            let error = PasswordHash::parse(bad).unwrap_err();
            assert!(
                error.to_string().contains("echostream hash-password"),
                "{error}"
            );
        }
    }

    #[test]
    fn stop_returns_promptly_with_no_client() {
        let server = server(None);
        let started = std::time::Instant::now();
        server.stop();
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
