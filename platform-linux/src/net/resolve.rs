//! Name lookups off the loop: `getaddrinfo` blocks for as long as DNS is
//! slow, and the loop must keep serving UDP meanwhile.
//!
//! One lookup runs at a time on a short-lived thread that wakes the loop
//! when it is done; a lookup that never returns holds that one thread, not
//! one per retry. Addresses written as IP literals need no lookup.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{self, TryRecvError};

use mio::Waker;

type Lookup = io::Result<Vec<SocketAddr>>;

/// The answer to [`Resolver::resolve`].
#[derive(Debug)]
pub(crate) enum Resolved {
    /// The addresses (at least one), or why there are none.
    Ready(Lookup),
    /// Ask again after the next wake-up.
    Pending,
}

#[derive(Debug)]
struct InFlight {
    host: String,
    port: u16,
    answer: mpsc::Receiver<Lookup>,
}

/// Resolves host names on a helper thread, one at a time.
#[derive(Debug)]
pub(crate) struct Resolver {
    waker: Arc<Waker>,
    in_flight: Option<InFlight>,
}

impl Resolver {
    /// A resolver that wakes the loop through `waker` when a lookup ends.
    pub(crate) fn new(waker: Arc<Waker>) -> Resolver {
        Resolver {
            waker,
            in_flight: None,
        }
    }

    /// The addresses of `host` (a name, an IP literal, or a bracketed IPv6
    /// literal) at `port`. Call again on `Pending` until it is `Ready`.
    pub(crate) fn resolve(&mut self, host: &str, port: u16) -> Resolved {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Resolved::Ready(Ok(vec![SocketAddr::new(ip, port)]));
        }
        if let Some(in_flight) = &self.in_flight {
            let ours = in_flight.host == host && in_flight.port == port;
            match in_flight.answer.try_recv() {
                Err(TryRecvError::Empty) => return Resolved::Pending,
                Ok(answer) => {
                    self.in_flight = None;
                    if ours {
                        return Resolved::Ready(answer);
                    }
                }
                Err(TryRecvError::Disconnected) => {
                    self.in_flight = None;
                    if ours {
                        return Resolved::Ready(Err(io::Error::other("name lookup thread ended")));
                    }
                }
            }
        }
        let (tell, answer) = mpsc::sync_channel(1);
        let waker = Arc::clone(&self.waker);
        let name = host.to_owned();
        let spawned = std::thread::Builder::new()
            .name("net-resolve".into())
            .spawn(move || {
                let lookup = (name.as_str(), port).to_socket_addrs().and_then(|addrs| {
                    let addrs: Vec<SocketAddr> = addrs.collect();
                    if addrs.is_empty() {
                        Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            "the name has no address",
                        ))
                    } else {
                        Ok(addrs)
                    }
                });
                // The loop may have stopped caring; that is fine.
                let _ = tell.send(lookup);
                let _ = waker.wake();
            });
        match spawned {
            Ok(_) => {
                self.in_flight = Some(InFlight {
                    host: host.to_owned(),
                    port,
                    answer,
                });
                Resolved::Pending
            }
            Err(e) => Resolved::Ready(Err(e)),
        }
    }
}
