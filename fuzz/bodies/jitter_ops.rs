// The body of the `jitter_ops` fuzz target, shared with the stable corpus
// replay test: any sequence of inserts (arbitrary headers and payloads)
// and pops at arbitrary times. Nothing may panic, and every played frame's
// payload must be one that was inserted.
|data: &[u8]| {
    use echostream_core::jitter::{JitterBuffer, JitterConfig, Playout};
    use echostream_core::time::Instant;
    use echostream_core::wire::{Flags, Kind, KeyId, MediaTimestamp, Repr, Seq, StreamId};
    let Ok(mut buffer) = JitterBuffer::<16, 64>::new(JitterConfig {
        jitter_max_ms: 200,
        ..JitterConfig::default()
    }) else {
        return;
    };
    let mut now_us = 0u64;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        now_us += u64::from(op & 0x0f) * 2_500;
        if op & 0x80 == 0 {
            let popped = match buffer.pop(Instant::from_micros(now_us)) {
                Playout::Frame(p) | Playout::Fec(p) => Some(p.len()),
                _ => None,
            };
            if let Some(len) = popped {
                assert!(len > 0 && len <= 64, "a played payload was inserted");
            }
            continue;
        }
        // Insert: seq (2 bytes, around a small range so slots collide),
        // timestamp step, flags, payload length.
        let Some((head, tail)) = rest.split_first_chunk::<4>() else { break };
        rest = tail;
        let seq = u32::from(u16::from_be_bytes([head[0], head[1]]) % 512);
        let len = usize::from(head[3] % 80);
        let kind = if op & 0x40 != 0 { Kind::EndOfTransmission } else { Kind::Audio };
        let take = len.min(rest.len());
        let (payload, tail) = rest.split_at(take);
        rest = tail;
        let repr = Repr {
            kind,
            flags: Flags::from_bits(head[2] & 0b11).unwrap_or(Flags::NONE),
            key_id: KeyId(0),
            stream_id: StreamId(u32::from(op & 0x30 == 0x30)),
            seq: Seq(seq),
            timestamp: MediaTimestamp(seq.wrapping_mul(960)),
            payload_len: payload.len(),
        };
        let _ = buffer.insert(Instant::from_micros(now_us), &repr, payload);
    }
}
