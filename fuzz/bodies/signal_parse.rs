// The body of the `signal_parse` fuzz target, shared with the stable corpus
// replay test: untrusted text in both directions. Whatever parses must emit
// and parse back to the same message.
|data: &[u8]| {
    use echostream_core::wire::signal::{MAX_MESSAGE_LEN, ToNode, ToRelay};
    let mut out = [0u8; MAX_MESSAGE_LEN];
    if let Ok(msg) = ToRelay::parse(data) {
        let len = msg.emit(&mut out).expect("a parsed message fits the limit");
        assert_eq!(ToRelay::parse(&out[..len]), Ok(msg));
    }
    if let Ok(msg) = ToNode::parse(data) {
        let len = msg.emit(&mut out).expect("a parsed message fits the limit");
        assert_eq!(ToNode::parse(&out[..len]).as_ref(), Ok(&msg));
    }
}
