//! Datagrams out in batches: the engine seals a fan-out's datagrams one
//! after another into one buffer, and `sendmmsg(2)` hands them to the
//! kernel in one system call instead of one `sendto(2)` each.
//!
//! The only `unsafe` here is that call.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use echostream_core::wire::MAX_DATAGRAM_LEN;

use crate::engine::MAX_OUTPUT_LEN;

/// Datagrams per `sendmmsg` call (the kernel takes up to 1024).
pub(super) const BATCH_LEN: usize = 64;

/// Room for `BATCH_LEN` datagrams of the longest kind and, past the last,
/// one more output of any kind.
const BUF_LEN: usize = BATCH_LEN * MAX_DATAGRAM_LEN + MAX_OUTPUT_LEN;

const _: () = assert!(BATCH_LEN <= 1024 && MAX_DATAGRAM_LEN <= MAX_OUTPUT_LEN);

/// A socket address as the kernel reads it.
#[derive(Clone, Copy)]
#[repr(C)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

/// As the standard library's `send_to` writes it.
fn raw_addr(addr: SocketAddr) -> (RawAddr, libc::socklen_t) {
    match addr {
        SocketAddr::V4(a) => (
            RawAddr {
                v4: libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                },
            },
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ),
        SocketAddr::V6(a) => (
            RawAddr {
                v6: libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                },
            },
            size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        ),
    }
}

#[derive(Debug, Clone, Copy)]
struct Queued {
    to: SocketAddr,
    at: usize,
    len: usize,
}

/// What one [`Batch::send`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sent {
    pub(super) sent: u64,
    /// Dropped: the socket's send buffer was full.
    pub(super) full: u64,
    /// Dropped for any other error.
    pub(super) errors: u64,
}

impl Sent {
    fn count_error(&mut self, to: SocketAddr, error: &io::Error) {
        if error.kind() == io::ErrorKind::WouldBlock {
            self.full += 1;
        } else {
            self.errors += 1;
            log::debug!("datagram not sent to={to} error=\"{error}\"");
        }
    }
}

/// Sealed datagrams waiting for one `sendmmsg`, and the buffer the engine
/// writes its next output into.
#[derive(Default)]
pub(super) struct Batch {
    buf: Box<[u8]>,
    /// Bytes of `buf` the queued datagrams take.
    used: usize,
    queued: Vec<Queued>,
}

impl std::fmt::Debug for Batch {
    // The buffer holds sealed datagrams and text frames (keys in
    // `welcome`): print counts only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("queued", &self.queued.len())
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl Batch {
    /// An empty batch, its memory allocated now.
    pub(super) fn new() -> Batch {
        Batch {
            buf: vec![0; BUF_LEN].into_boxed_slice(),
            used: 0,
            queued: Vec::with_capacity(BATCH_LEN),
        }
    }

    /// Where the next output goes: the buffer to lend `poll_output`
    /// (at least [`MAX_OUTPUT_LEN`] bytes), starting at [`spare_at`](Self::spare_at).
    pub(super) fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.used..]
    }

    /// The offset of [`spare`](Self::spare) in the buffer.
    pub(super) fn spare_at(&self) -> usize {
        self.used
    }

    /// `len` bytes of the buffer at `at` (an output written there that
    /// did not join the batch).
    pub(super) fn bytes(&self, at: usize, len: usize) -> &[u8] {
        &self.buf[at..at + len]
    }

    /// The datagram of `len` bytes just written at the start of
    /// [`spare`](Self::spare) joins the batch. Returns whether the batch
    /// is full: [`send`](Self::send) it before the next output.
    pub(super) fn push(&mut self, to: SocketAddr, len: usize) -> bool {
        assert!(
            self.queued.len() < BATCH_LEN && len <= MAX_DATAGRAM_LEN,
            "a full batch is sent before the next output"
        );
        self.queued.push(Queued {
            to,
            at: self.used,
            len,
        });
        self.used += len;
        self.queued.len() == BATCH_LEN || self.buf.len() - self.used < MAX_OUTPUT_LEN
    }

    /// Sends every queued datagram on `socket`, in order, each tried
    /// once: one that the kernel refuses is counted and skipped. Empties
    /// the batch.
    pub(super) fn send(&mut self, socket: &mio::net::UdpSocket) -> Sent {
        let mut result = Sent::default();
        let n = self.queued.len();
        match self.queued.first() {
            None => return result,
            // A heartbeat's echo, a fan-out to one: no arrays to fill.
            Some(&q) if n == 1 => {
                match socket.send_to(&self.buf[q.at..q.at + q.len], q.to) {
                    Ok(_) => result.sent += 1,
                    Err(error) => result.count_error(q.to, &error),
                }
                self.queued.clear();
                self.used = 0;
                return result;
            }
            Some(_) => {}
        }
        let mut addrs = [raw_addr(SocketAddr::from(([0, 0, 0, 0], 0))).0; BATCH_LEN];
        let mut iovecs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; BATCH_LEN];
        let mut headers = [libc::mmsghdr {
            msg_hdr: libc::msghdr {
                msg_name: std::ptr::null_mut(),
                msg_namelen: 0,
                msg_iov: std::ptr::null_mut(),
                msg_iovlen: 0,
                msg_control: std::ptr::null_mut(),
                msg_controllen: 0,
                msg_flags: 0,
            },
            msg_len: 0,
        }; BATCH_LEN];
        let base = self.buf.as_mut_ptr();
        for (i, q) in self.queued.iter().enumerate() {
            let (addr, addr_len) = raw_addr(q.to);
            addrs[i] = addr;
            iovecs[i] = libc::iovec {
                iov_base: base.wrapping_add(q.at).cast(),
                iov_len: q.len,
            };
            let header = &mut headers[i].msg_hdr;
            header.msg_name = (&raw mut addrs[i]).cast();
            header.msg_namelen = addr_len;
            header.msg_iov = &raw mut iovecs[i];
            header.msg_iovlen = 1;
        }
        let mut start = 0;
        // Each pass sends or skips at least one datagram.
        while start < n {
            // SAFETY: `headers[start..n]` each point at one element of
            // `iovecs` (which points into `self.buf` at a queued datagram,
            // `at + len <= buf.len()` by `push`) and of `addrs`, with
            // their lengths; all are live and unmoved, and nothing else
            // touches them or `self.buf` until the call returns. The
            // kernel reads them and writes only each `msg_len`.
            let count = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    headers.as_mut_ptr().add(start),
                    (n - start) as libc::c_uint,
                    0,
                )
            };
            if count > 0 {
                result.sent += count as u64;
                start += count as usize;
                continue;
            }
            result.count_error(self.queued[start].to, &io::Error::last_os_error());
            start += 1;
        }
        self.queued.clear();
        self.used = 0;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::{BATCH_LEN, Batch};
    use std::net::UdpSocket;

    fn bind(addr: &str) -> mio::net::UdpSocket {
        mio::net::UdpSocket::from_std(UdpSocket::bind(addr).expect("bind"))
    }

    #[test]
    fn sends_every_datagram_in_order_to_its_address() {
        let server = bind("127.0.0.1:0");
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = UdpSocket::bind("[::1]:0").ok();
        let mut batch = Batch::new();
        let mut expected = Vec::new();
        for i in 0..BATCH_LEN + 3 {
            let len = 1 + i % 40;
            batch.spare()[..len].fill(i as u8);
            let full = batch.push(a.local_addr().expect("an address"), len);
            expected.push((i as u8, len));
            if full {
                let sent = batch.send(&server);
                assert_eq!(
                    (sent.sent, sent.full, sent.errors),
                    (BATCH_LEN as u64, 0, 0)
                );
            }
        }
        assert_eq!(batch.send(&server).sent, 3);
        let mut buf = [0u8; 64];
        for (byte, len) in expected {
            let (got, from) = a.recv_from(&mut buf).expect("each datagram arrives");
            assert_eq!((got, from), (len, server.local_addr().expect("an address")));
            assert!(buf[..got].iter().all(|&b| b == byte));
        }
        // A v6 destination from a v4 socket fails alone; the rest go.
        if let Some(b) = b {
            batch.spare()[..2].copy_from_slice(b"v6");
            batch.push(b.local_addr().expect("an address"), 2);
            batch.spare()[..2].copy_from_slice(b"v4");
            batch.push(a.local_addr().expect("an address"), 2);
            let sent = batch.send(&server);
            assert_eq!((sent.sent, sent.full, sent.errors), (1, 0, 1));
            let got = a.recv(&mut buf).expect("the v4 datagram arrives");
            assert_eq!(&buf[..got], b"v4");
        }
        // One datagram alone goes by sendto.
        batch.spare()[..3].copy_from_slice(b"one");
        batch.push(a.local_addr().expect("an address"), 3);
        assert_eq!(batch.send(&server).sent, 1);
        let got = a.recv(&mut buf).expect("it arrives");
        assert_eq!(&buf[..got], b"one");
        assert_eq!(batch.send(&server), super::Sent::default());
    }
}
