//! No lock-out without a token: the real `echostream-relay` binary on
//! loopback, held open by hundreds of idle connections that never say
//! `hello`, still welcomes a real node at once.

mod support;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd as _;
use std::time::{Duration, Instant};

use support::{Node, RelayProcess, Signaling};

/// A TCP connection to `to` from `from_ip` (any address of 127/8 is
/// loopback on Linux), so one test can play several attacking hosts.
fn connect_from(from_ip: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let SocketAddr::V4(to) = to else {
        panic!("the relay listens on 127.0.0.1");
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns, with
    // pointers to initialised locals of the length given; the descriptor
    // is handed to exactly one TcpStream or closed on error.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let local = sockaddr(from_ip, 0);
        let remote = sockaddr(*to.ip(), to.port());
        let bound = libc::bind(fd, (&raw const local).cast(), len);
        if bound != 0 || libc::connect(fd, (&raw const remote).cast(), len) != 0 {
            let error = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(error);
        }
        Ok(TcpStream::from_raw_fd(fd))
    }
}

#[test]
fn three_hundred_idle_sockets_do_not_keep_a_real_node_out() {
    let relay = RelayProcess::start(&[]);
    // 300 connections from six other hosts, 50 each, that never speak.
    let mut idle = Vec::new();
    for n in 0..300u16 {
        let from = Ipv4Addr::new(127, 0, 0, 2 + (n % 6) as u8);
        idle.push(connect_from(from, relay.ws).expect("connect an idle socket"));
    }
    // Let the relay accept (and mostly refuse) them all.
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    let node = Node::welcome(Signaling::connect(relay.ws), "station-a", "any-token");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "welcomed after {took:?}");
    drop(node);

    let stats = relay.stop();
    drop(idle);
    // Each host kept at most its share of the pending pool.
    assert_eq!(stats.get("conn_refused_per_ip"), 300 - 6 * 8, "{stats:?}");
    assert_eq!(stats.get("sessions_welcomed"), 1);
}

#[test]
fn a_dozen_hosts_filling_the_pending_pool_do_not_keep_a_real_node_out() {
    let relay = RelayProcess::start(&[]);
    // Twelve hosts, 8 idle connections each: more than the pool's 64.
    let mut idle = Vec::new();
    for n in 0..96u16 {
        let from = Ipv4Addr::new(127, 0, 1, 1 + (n % 12) as u8);
        idle.push(connect_from(from, relay.ws).expect("connect an idle socket"));
    }
    std::thread::sleep(Duration::from_millis(300));

    // A node from an address holding none of the pool takes the place of
    // the oldest connection of a host holding the most.
    let started = Instant::now();
    let node = Node::welcome(Signaling::connect(relay.ws), "station-a", "any-token");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "welcomed after {took:?}");
    drop(node);

    let stats = relay.stop();
    drop(idle);
    assert!(stats.get("conn_evicted_pending") >= 1, "{stats:?}");
    assert_eq!(stats.get("sessions_welcomed"), 1);
}
