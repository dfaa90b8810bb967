//! A Mosquitto broker on a free loopback port, a plain MQTT client to
//! watch and poke it, and a TCP path to it that can be cut.
//!
//! The broker runs `/usr/sbin/mosquitto` (Debian package `mosquitto`,
//! which CI installs) with a config of its own in a temporary folder:
//! one listener on 127.0.0.1, anonymous clients or one user from a
//! password file (made with the package's `mosquitto_passwd`), optionally
//! TLS, persistence off. It can be stopped, frozen and restarted on the
//! same port, and is killed on drop. If it cannot start, the test panics
//! with the reason and the broker's log.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rumqttc::{Event, Packet, QoS, SubscribeFilter};
use tempfile::TempDir;

/// Where Debian puts the broker and its password tool.
const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const MOSQUITTO_PASSWD: &str = "/usr/bin/mosquitto_passwd";
/// How long the broker has to accept connections after a start.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// New ports to try if another process takes the one picked first.
const PORT_TRIES: u32 = 5;

/// What the broker accepts.
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// The only user (name, password); anonymous clients are refused.
    pub user: Option<(String, String)>,
    /// PEM certificate and private key: the listener speaks TLS only.
    pub tls: Option<(String, String)>,
}

/// A running Mosquitto.
#[derive(Debug)]
pub struct Broker {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    /// A broker for anonymous clients.
    pub fn start() -> Broker {
        Broker::start_with(&BrokerOptions::default())
    }

    /// A broker set up as `options` says.
    pub fn start_with(options: &BrokerOptions) -> Broker {
        let mut dir = tempfile::tempdir().expect("a temporary folder for mosquitto");
        for _ in 0..PORT_TRIES {
            let port = free_port();
            write_config(dir.path(), port, options);
            let mut broker = Broker {
                dir,
                port,
                child: None,
            };
            match broker.spawn() {
                Ok(()) => return broker,
                // Most likely the port was taken between picking and binding.
                Err(reason) => {
                    eprintln!("mosquitto on port {port}: {reason}; trying another port");
                    dir = broker.into_dir();
                }
            }
        }
        panic!("mosquitto did not start on any of {PORT_TRIES} ports; see the messages above");
    }

    /// The broker's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Kills the broker at once (SIGKILL): no goodbye to any client, and
    /// with persistence off, retained messages are gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops answering (SIGSTOP): connections stay open, nothing is read
    /// or acknowledged, until [`Broker::thaw`] or [`Broker::kill`].
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Answers again after [`Broker::freeze`].
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Starts the broker again on the same port, with the same config.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(reason) = self.spawn() {
            panic!(
                "mosquitto did not start again on port {}: {reason}",
                self.port
            );
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("the broker is running");
        let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) takes any pid and signal number; the pid is our
        // own child, not yet waited for, so it cannot have been reused.
        let result = unsafe { libc::kill(pid, signal) };
        assert_eq!(result, 0, "signal {signal} to mosquitto");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = File::create(self.dir.path().join("mosquitto.log")).expect("mosquitto log");
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {MOSQUITTO}: {e}. Install the broker: apt-get install mosquitto")
            });
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            let child = self.child.as_mut().expect("just spawned");
            if let Some(status) = child.try_wait().expect("mosquitto's status") {
                self.child = None;
                return Err(format!("exited with {status}; its log:\n{}", self.log()));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "not accepting connections after {READY_TIMEOUT:?}; its log:\n{}",
                    self.log()
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn into_dir(mut self) -> TempDir {
        self.kill();
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A frozen broker ignores everything but SIGKILL, which is what
            // kill() sends; SIGCONT first lets it be reaped at once.
            self.signal(libc::SIGCONT);
        }
        self.kill();
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

fn write_config(dir: &Path, port: u16, options: &BrokerOptions) {
    let mut config = String::new();
    // As root, mosquitto 2 switches to the `mosquitto` user, which cannot
    // read this folder; `user root` keeps it (no effect for other users).
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    if unsafe { libc::geteuid() } == 0 {
        config.push_str("user root\n");
    }
    config.push_str(&format!("listener {port} 127.0.0.1\n"));
    config.push_str("persistence false\nlog_dest stderr\nlog_type all\n");
    match &options.user {
        None => config.push_str("allow_anonymous true\n"),
        Some((user, password)) => {
            let file = dir.join("passwd");
            let status = Command::new(MOSQUITTO_PASSWD)
                .args(["-b", "-c"])
                .arg(&file)
                .args([user, password])
                .status()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {MOSQUITTO_PASSWD}: {e}. It comes with the broker: \
                         apt-get install mosquitto"
                    )
                });
            assert!(status.success(), "mosquitto_passwd failed: {status}");
            config.push_str(&format!(
                "allow_anonymous false\npassword_file {}\n",
                file.display()
            ));
        }
    }
    if let Some((cert, key)) = &options.tls {
        let cert_file = dir.join("cert.pem");
        let key_file = dir.join("key.pem");
        std::fs::write(&cert_file, cert).expect("write the certificate");
        std::fs::write(&key_file, key).expect("write the key");
        // The certificate is self-signed: it is its own CA.
        config.push_str(&format!(
            "cafile {0}\ncertfile {0}\nkeyfile {1}\n",
            cert_file.display(),
            key_file.display()
        ));
    }
    std::fs::write(dir.join("mosquitto.conf"), config).expect("write mosquitto.conf");
}

/// One message a [`Client`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Set when the broker delivered a retained message on subscribing.
    pub retain: bool,
}

impl Message {
    /// The payload as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.payload).expect("a UTF-8 payload")
    }
}

/// A plain MQTT client (rumqttc) that subscribes, collects what arrives
/// and can publish; reconnects (and subscribes again) on its own.
pub struct Client {
    client: rumqttc::Client,
    messages: Receiver<Message>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// Connects anonymously to the broker on `port` and subscribes to
    /// `filters` (QoS 1); returns once the broker has confirmed.
    pub fn subscribe(port: u16, filters: &[&str]) -> Client {
        Client::connect(port, filters, None)
    }

    /// As [`Client::subscribe`], as `user`.
    pub fn connect(port: u16, filters: &[&str], user: Option<(&str, &str)>) -> Client {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(1024 * 1024, 1024 * 1024);
        if let Some((name, password)) = user {
            options.set_credentials(name, password);
        }
        let (client, mut connection) = rumqttc::Client::new(options, 64);
        let filters: Vec<SubscribeFilter> = filters
            .iter()
            .map(|f| SubscribeFilter::new((*f).to_owned(), QoS::AtLeastOnce))
            .collect();
        let (message_tx, messages) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let client = client.clone();
            let stop = Arc::clone(&stop);
            let ready_tx = Mutex::new(Some(ready_tx));
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match connection.recv_timeout(Duration::from_millis(100)) {
                        Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                            if !filters.is_empty() {
                                let _ = client.try_subscribe_many(filters.clone());
                            } else if let Some(tx) = ready_tx.lock().unwrap().take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                            if let Some(tx) = ready_tx.lock().unwrap().take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                            let _ = message_tx.send(Message {
                                topic: p.topic,
                                payload: p.payload.to_vec(),
                                retain: p.retain,
                            });
                        }
                        Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout) => {}
                        Ok(Err(_)) => thread::sleep(Duration::from_millis(100)),
                        Err(rumqttc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            })
        };
        if ready.recv_timeout(READY_TIMEOUT).is_err() {
            panic!("the test client could not connect and subscribe to 127.0.0.1:{port}");
        }
        Client {
            client,
            messages,
            stop,
            thread: Some(thread),
        }
    }

    /// Publishes with QoS 1.
    pub fn publish(&self, topic: &str, payload: &[u8], retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.to_vec())
            .expect("the test client takes a publish");
    }

    /// The next message, if one arrives within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Message> {
        match self.messages.recv_timeout(timeout) {
            Ok(message) => Some(message),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("the test client's thread ended"),
        }
    }

    /// The first message within `timeout` for which `wanted` holds,
    /// skipping others; panics naming `what` if none comes.
    pub fn expect(
        &self,
        timeout: Duration,
        what: &str,
        mut wanted: impl FnMut(&Message) -> bool,
    ) -> Message {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Some(message) if wanted(&message) => return message,
                Some(_) => {}
                None => panic!("no {what} within {timeout:?}"),
            }
        }
    }

    /// Everything that arrives within `window`.
    pub fn collect(&self, window: Duration) -> Vec<Message> {
        let deadline = Instant::now() + window;
        let mut messages = Vec::new();
        while let Some(message) = self.recv(deadline.saturating_duration_since(Instant::now())) {
            messages.push(message);
        }
        messages
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.client.try_disconnect();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Connections a [`Proxy`] carries at once; more are refused.
const PROXY_CONNECTIONS_MAX: usize = 8;

/// A TCP path to the broker that can be cut. To the broker a cut looks
/// like a node that crashed or lost its cable: the connection ends
/// without DISCONNECT, so the last will is published.
pub struct Proxy {
    port: u16,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("port", &self.port).finish()
    }
}

impl Proxy {
    /// Listens on a free loopback port and carries each connection to the
    /// broker on `broker_port`.
    pub fn start(broker_port: u16) -> Proxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("its address").port();
        let streams = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let streams = Arc::clone(&streams);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((client, _)) => carry(client, broker_port, &streams),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(5));
                        }
                        Err(e) => panic!("proxy accept: {e}"),
                    }
                }
                // The listener closes here: new connections are refused.
            })
        };
        Proxy {
            port,
            streams,
            stop,
            thread: Some(thread),
        }
    }

    /// The port to connect to instead of the broker's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every connection both ways and refuses new ones.
    pub fn cut(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the proxy thread");
        }
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Connects `client` to the broker and copies bytes both ways, each
/// direction on a thread that ends with its connection.
fn carry(client: TcpStream, broker_port: u16, streams: &Mutex<Vec<TcpStream>>) {
    let mut streams = streams.lock().unwrap();
    if streams.len() >= 2 * PROXY_CONNECTIONS_MAX {
        return;
    }
    client.set_nonblocking(false).expect("a blocking socket");
    let Ok(broker) = TcpStream::connect((Ipv4Addr::LOCALHOST, broker_port)) else {
        return;
    };
    let pairs = [
        (client.try_clone(), broker.try_clone()),
        (broker.try_clone(), client.try_clone()),
    ];
    for (from, to) in pairs {
        let (mut from, mut to) = (from.expect("clone"), to.expect("clone"));
        thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        });
    }
    streams.push(client);
    streams.push(broker);
}
