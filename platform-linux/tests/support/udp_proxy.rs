//! A UDP forwarder for one client, which the test can make drop
//! everything (a firewall that blocks UDP while TCP still works).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

const FRONT: Token = Token(0);
const BACK: Token = Token(1);
const WAKER: Token = Token(2);

/// The proxy's client-facing socket, bound before the upstream is known
/// (the relay must advertise this port in its welcome).
pub struct BoundProxy {
    front: UdpSocket,
}

impl BoundProxy {
    /// Binds the client-facing socket on loopback.
    pub fn bind() -> BoundProxy {
        BoundProxy {
            front: UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
        }
    }

    /// Where clients send.
    pub fn addr(&self) -> SocketAddr {
        self.front.local_addr().unwrap()
    }

    /// Starts forwarding between the client and `upstream`.
    pub fn start(self, upstream: SocketAddr) -> UdpProxy {
        let poll = Poll::new().unwrap();
        let mut front = self.front;
        let mut back = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        poll.registry()
            .register(&mut front, FRONT, Interest::READABLE)
            .unwrap();
        poll.registry()
            .register(&mut back, BACK, Interest::READABLE)
            .unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).unwrap());
        let dropping = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let addr = front.local_addr().unwrap();
        let thread = {
            let dropping = Arc::clone(&dropping);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || forward(poll, front, back, upstream, &dropping, &stop))
        };
        UdpProxy {
            addr,
            dropping,
            stop,
            waker,
            thread: Some(thread),
        }
    }
}

/// A running forwarder.
pub struct UdpProxy {
    addr: SocketAddr,
    dropping: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl UdpProxy {
    /// Where clients send.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every datagram in both directions while `dropping`.
    pub fn set_dropping(&self, dropping: bool) {
        self.dropping.store(dropping, Ordering::SeqCst);
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

fn forward(
    mut poll: Poll,
    front: UdpSocket,
    back: UdpSocket,
    upstream: SocketAddr,
    dropping: &AtomicBool,
    stop: &AtomicBool,
) {
    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; 2048];
    let mut client = None;
    while !stop.load(Ordering::SeqCst) {
        match poll.poll(&mut events, Some(Duration::from_millis(50))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("proxy poll: {e}"),
        }
        while let Ok((len, from)) = front.recv_from(&mut buf) {
            client = Some(from);
            if !dropping.load(Ordering::SeqCst) {
                let _ = back.send_to(&buf[..len], upstream);
            }
        }
        while let Ok((len, _)) = back.recv_from(&mut buf) {
            if let Some(client) = client
                && !dropping.load(Ordering::SeqCst)
            {
                let _ = front.send_to(&buf[..len], client);
            }
        }
    }
}
