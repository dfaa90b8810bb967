// The body of the `datagram_parse` fuzz target, shared with the stable
// corpus replay test: an untrusted datagram through the checked view.
|data: &[u8]| {
    use echostream_core::wire::{Packet, Repr};
    if let Ok(repr) = Packet::new_checked(data).and_then(|packet| Repr::parse(&packet)) {
        assert_eq!(repr.buffer_len(), data.len(), "a parsed header accounts for every byte");
    }
}
