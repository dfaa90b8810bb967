//! `echostream_relay::server` as a library, the way the edge node embeds
//! it: bind on port 0, run on a thread, read counters, stop.

mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use echostream_relay::TokenPolicy;
use echostream_relay::server::{Server, ServerConfig, ServerError};
use support::{Event, Msg, Signaling};

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Polls `done` on the handle's counters until it holds or time is up.
fn eventually(
    handle: &echostream_relay::server::ServerHandle,
    done: impl Fn(&echostream_relay::server::ServerCounters) -> bool,
) {
    let deadline = Instant::now() + support::PATIENCE;
    while !done(&handle.counters()) {
        assert!(Instant::now() < deadline, "{:?}", handle.counters());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_embedded_relay_serves_counts_and_stops() {
    let mut config = ServerConfig::new(loopback(), loopback(), TokenPolicy::AnyToken);
    config.limits.sessions_max = 2;
    config.limits.pending_max = 1;
    config.limits.pending_per_ip_max = 1;
    let server = Server::bind(config).unwrap();
    assert_ne!(server.ws_addr().port(), 0);
    assert_ne!(server.udp_addr().port(), 0);
    let handle = server.spawn().unwrap();
    assert!(handle.is_running());

    let mut a = Signaling::connect(handle.ws_addr());
    a.hello("station-a", "t");
    match a.next(support::PATIENCE) {
        Some(Event::Msg(Msg::Welcome { host, port, .. })) => {
            assert_eq!(host, "127.0.0.1", "the UDP socket's IP by default");
            assert_eq!(port, handle.udp_addr().port());
        }
        other => panic!("expected a welcome, got {other:?}"),
    }
    let _b = Signaling::connect(handle.ws_addr());
    eventually(&handle, |c| c.conn_open == 2);

    // B has not said hello: a third connection is one too many waiting
    // from this IP, closed at once, counted.
    let mut third = TcpStream::connect(handle.ws_addr()).unwrap();
    third.set_read_timeout(Some(support::PATIENCE)).unwrap();
    let mut byte = [0u8; 1];
    let read = std::io::Read::read(&mut third, &mut byte);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    eventually(&handle, |c| c.conn_refused_per_ip == 1);
    assert_eq!(handle.counters().relay.sessions_welcomed, 1);

    let started = Instant::now();
    handle.stop().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(a.closed(support::PATIENCE), Some(Some(1001)), "going away");
}

#[test]
fn any_token_off_loopback_is_refused_before_binding() {
    let public = "0.0.0.0:0".parse().unwrap();
    let error =
        Server::bind(ServerConfig::new(public, loopback(), TokenPolicy::AnyToken)).unwrap_err();
    assert!(
        matches!(
            error,
            ServerError::Config {
                field: "tokens",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_config());
}

/// The loop sleeps until its next deadline rather than waking on a tick:
/// a silent node's session still closes at its time-out (two heartbeat
/// periods after the welcome), not before and not a tick late.
#[test]
fn a_sleeping_relay_closes_a_silent_node_on_time() {
    let mut config = ServerConfig::new(loopback(), loopback(), TokenPolicy::AnyToken);
    config.heartbeat_ms = 300;
    let handle = Server::bind(config).unwrap().spawn().unwrap();
    let mut a = Signaling::connect(handle.ws_addr());
    a.hello("station-a", "t");
    assert!(matches!(
        a.next(support::PATIENCE),
        Some(Event::Msg(Msg::Welcome { .. }))
    ));
    let welcomed = Instant::now();
    assert_eq!(a.closed(support::PATIENCE), Some(Some(1001)), "timed out");
    let silent_for = welcomed.elapsed();
    assert!(
        silent_for >= Duration::from_millis(600) && silent_for < Duration::from_millis(1100),
        "closed after {silent_for:?}"
    );
    handle.stop().unwrap();
}
