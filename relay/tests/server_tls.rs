//! `wss://`: the relay with a certificate and key from PEM files, and
//! clients that trust only that certificate.

mod support;

use std::net::TcpStream;

use echostream_core::wire::{Flags, Kind};
use support::{Node, PATIENCE, RelayProcess, Signaling, assert_audio_flows};

struct Certificate {
    _dir: tempfile::TempDir,
    cert_path: String,
    key_path: String,
    der: rustls_pki_types::CertificateDer<'static>,
}

fn self_signed() -> Certificate {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("generate a certificate");
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, generated.cert.pem()).unwrap();
    std::fs::write(&key_path, generated.signing_key.serialize_pem()).unwrap();
    Certificate {
        cert_path: cert_path.to_str().unwrap().to_owned(),
        key_path: key_path.to_str().unwrap().to_owned(),
        der: generated.cert.der().clone(),
        _dir: dir,
    }
}

#[test]
fn nodes_over_wss_are_welcomed_and_hear_each_other() {
    let cert = self_signed();
    let mut relay =
        RelayProcess::start(&["--tls-cert", &cert.cert_path, "--tls-key", &cert.key_path]);
    let mut a = Node::welcome(
        Signaling::connect_tls(relay.ws, cert.der.clone()),
        "station-a",
        "t",
    );
    let mut b = Node::welcome(
        Signaling::connect_tls(relay.ws, cert.der.clone()),
        "station-b",
        "t",
    );
    a.register("fire");
    b.register("fire");
    assert_audio_flows(&mut a, &mut b, "fire", 5);

    // A client speaking plain ws:// to the TLS port fails its handshake;
    // the relay carries on.
    let tcp = TcpStream::connect(relay.ws).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    assert!(tungstenite::client::client(format!("ws://{}/", relay.ws), tcp).is_err());
    // A hands the channel over; B answers.
    let end = a.seal("fire", Kind::EndOfTransmission, Flags::NONE, &[]);
    a.send_datagram(&end);
    assert_eq!(b.receive_media().unwrap().kind, Kind::EndOfTransmission);
    assert_audio_flows(&mut b, &mut a, "fire", 3);
    relay.assert_alive();

    drop((a, b));
    let stats = relay.stop();
    assert_eq!(stats.get("sessions_welcomed"), 2);
    assert_eq!(stats.get("handshake_failed"), 1);
}
