// The body of the `open` fuzz target, shared with the stable corpus replay
// test: an untrusted datagram opened under a fixed key. Inputs that verify
// (the seeds) must also be refused the second time, as replays.
|data: &[u8]| {
    use echostream_core::crypto::{Direction, OpenErrorKind, Receiver, Secret, SessionKeys};
    use echostream_core::time::Instant;
    use echostream_core::wire::KeyId;
    let keys = SessionKeys::derive(&Secret::from_bytes([0x42; 32]), KeyId(1));
    let mut receiver: Receiver<4> = Receiver::new(&keys, Direction::RelayToNode);
    let mut first = data.to_vec();
    if receiver.open(Instant::ZERO, &mut first).is_ok() {
        let mut again = data.to_vec();
        let replay = receiver.open(Instant::ZERO, &mut again);
        assert_eq!(replay.map_err(|e| e.kind()).err(), Some(OpenErrorKind::Duplicate));
    }
}
