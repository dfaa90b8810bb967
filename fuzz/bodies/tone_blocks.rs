// The body of the `tone_blocks` fuzz target, shared with the stable corpus
// replay test: arbitrary samples in arbitrary block sizes at every device
// rate, into a detector with definitions of every kind, the finder and
// DTMF. Nothing may panic and every event must be well-formed.
|data: &[u8]| {
    use echostream_core::time::SampleIndex;
    use echostream_core::tone::dtmf::DtmfConfig;
    use echostream_core::tone::{
        ChannelDetector, Definitions, FinderConfig, HiLowDef, LongToneDef, Measured, PulsedDef,
        TwoToneDef,
    };
    const RATES: [u32; 9] = [8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000];
    let Some((&head, body)) = data.split_first() else { return };
    let rate = RATES[usize::from(head) % RATES.len()];
    let mut definitions = Definitions::new();
    definitions.push(TwoToneDef::quick_call(349.0, 600.9)).expect("valid");
    definitions
        .push(LongToneDef { hz: 1_000.0, length_ms: 500, range_hz: 10.0, ignore_after_ms: 0 })
        .expect("valid");
    definitions
        .push(HiLowDef {
            a_hz: 1_270.0,
            b_hz: 950.0,
            a_range_hz: 12.7,
            b_range_hz: 9.5,
            min_tone_ms: 150,
            alternations: 4,
            max_gap_ms: 250,
            ignore_after_ms: 0,
        })
        .expect("valid");
    definitions
        .push(PulsedDef {
            hz: 1_010.6,
            range_hz: 10.0,
            on_ms: 300,
            on_range_ms: 50,
            off_ms: 200,
            off_range_ms: 50,
            min_pulses: 4,
            ignore_after_ms: 0,
        })
        .expect("valid");
    definitions.set_finder(FinderConfig::default()).expect("valid");
    let mut detector = ChannelDetector::new(rate, &definitions).expect("a supported rate");
    detector.set_dtmf(Some(&DtmfConfig::default())).expect("defaults are valid");
    let samples: Vec<i16> = body.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let mut at = 0u64;
    let mut rest = &samples[..];
    let mut sizes = body.iter().cycle();
    while !rest.is_empty() {
        let n = (usize::from(*sizes.next().unwrap_or(&1)) * 7 + 1).min(rest.len());
        detector.process_i16(SampleIndex(at), &rest[..n]);
        at += n as u64;
        rest = &rest[n..];
        while let Some(event) = detector.poll_event() {
            assert!(event.start <= event.end, "an event ends after it starts");
            assert!(event.end.0 <= at, "an event ends in audio already heard");
            if let Measured::Pulsed { hz, pulses, .. } = event.measured {
                assert!(hz.is_finite() && pulses >= 2, "a pulsed event counts pulses");
            }
        }
    }
    detector.flush();
    while detector.poll_event().is_some() {}
}
