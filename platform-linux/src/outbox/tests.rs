//! Whole-outbox tests, each in its own temp folder: what a consumer or an
//! operator would notice after appends, acknowledgements and restarts.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use super::testing::*;
use super::*;

#[test]
fn entries_round_trip_through_append_read_ack_and_reopen() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let specs = || {
        vec![
            ConsumerSpec::new("mqtt", Kinds::EVENTS),
            ConsumerSpec::new("webhook:0", Kinds::EVENTS),
        ]
    };
    let (mut outbox, report) = open(dir.path(), specs());
    assert_eq!(report.next_seq, Seq(1));
    assert!(!report.is_damaged());
    let appended = append_events(&mut outbox, 1..=10);
    assert_eq!(appended, (1..=10).map(Seq).collect::<Vec<_>>());
    let (mqtt, webhook) = (id(&outbox, "mqtt"), id(&outbox, "webhook:0"));
    for consumer in [mqtt, webhook] {
        let entries = outbox.read(consumer, 100).expect("read");
        assert_eq!(seqs(&entries), (1..=10).collect::<Vec<_>>());
        assert_eq!(entries[6].payload, event(7));
        assert_eq!(entries[6].kind, Kind::Event);
        assert!(outbox.read(consumer, 100).expect("read").is_empty());
    }
    ack_all(&mut outbox, mqtt, &appended[..4]);
    drop(outbox);

    let (mut outbox, report) = open(dir.path(), specs());
    assert_eq!(report.records_recovered, 10);
    assert_eq!(report.next_seq, Seq(11));
    let entries = outbox.read(mqtt, 100).expect("read");
    assert_eq!(seqs(&entries), (5..=10).collect::<Vec<_>>());
    assert_eq!(entries[0].payload, event(5));
    assert_eq!(
        all_pending(&mut outbox, webhook),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        outbox.append(Kind::Event, b"{}").expect("appended"),
        Seq(11)
    );
}

#[test]
fn one_consumer_down_holds_back_no_other_and_keeps_the_segments() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let specs = || {
        vec![
            ConsumerSpec::new("mqtt", Kinds::EVENTS),
            ConsumerSpec::new("webhook:0", Kinds::EVENTS),
        ]
    };
    let (mut outbox, _) = open(dir.path(), specs());
    let (mqtt, webhook) = (id(&outbox, "mqtt"), id(&outbox, "webhook:0"));
    let appended = append_events(&mut outbox, 1..=100);
    let files = segment_files(dir.path()).len();
    assert!(files >= 6, "{files} segments");
    ack_all(&mut outbox, mqtt, &appended);
    assert_eq!(outbox.depth(mqtt).expect("depth"), 0);
    assert_eq!(outbox.depth(webhook).expect("depth"), 100);
    assert_eq!(
        segment_files(dir.path()).len(),
        files,
        "the webhook still needs them"
    );
    drop(outbox);

    let (mut outbox, _) = open(dir.path(), specs());
    assert!(all_pending(&mut outbox, mqtt).is_empty());
    let entries = outbox.read(webhook, 1000).expect("read");
    assert_eq!(seqs(&entries), (1..=100).collect::<Vec<_>>());
    ack_all(&mut outbox, webhook, &appended);
    assert_eq!(
        segment_files(dir.path()).len(),
        1,
        "only the segment appended to"
    );
    assert!(disk_bytes(dir.path()) <= SEGMENT_BYTES);
    assert_eq!(outbox.figures().bytes_on_disk, disk_bytes(dir.path()));
}

#[test]
fn acknowledgements_out_of_order_move_the_cursor_over_the_prefix_only() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    let mqtt = id(&outbox, "mqtt");
    append_events(&mut outbox, 1..=6);
    let cursor = |outbox: &Outbox| outbox.figures().consumers[0].cursor;
    for seq in [2, 3, 5] {
        assert_eq!(outbox.ack(mqtt, Seq(seq)).expect("ack"), Ack::Held);
    }
    assert_eq!(cursor(&outbox), Seq(1));
    assert_eq!(outbox.depth(mqtt).expect("depth"), 3);
    assert_eq!(outbox.ack(mqtt, Seq(1)).expect("ack"), Ack::Advanced);
    assert_eq!(cursor(&outbox), Seq(4), "over 1, 2 and 3");
    assert_eq!(outbox.ack(mqtt, Seq(2)).expect("ack"), Ack::Already);
    assert_eq!(outbox.ack(mqtt, Seq(99)).expect("ack"), Ack::Unknown);
    drop(outbox);

    // Acknowledged entries, held or not, do not come back.
    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    assert_eq!(all_pending(&mut outbox, mqtt), [4, 6]);
    assert_eq!(outbox.depth(mqtt).expect("depth"), 2);
}

#[test]
fn unwritten_acknowledgements_are_delivered_again_never_lost() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let batched = OutboxConfig {
        cursor_sync_every: 100,
        ..config(dir.path())
    };
    let (mut outbox, _) = open_with(batched.clone(), mqtt_and_s3());
    let mqtt = id(&outbox, "mqtt");
    let appended = append_events(&mut outbox, 1..=6);
    ack_all(&mut outbox, mqtt, &appended[..3]);
    // A crash: no flush.
    drop(outbox);
    let (mut outbox, _) = open_with(batched.clone(), mqtt_and_s3());
    assert_eq!(all_pending(&mut outbox, mqtt), [1, 2, 3, 4, 5, 6]);
    ack_all(&mut outbox, mqtt, &appended[..3]);
    outbox.flush().expect("flushed");
    drop(outbox);
    let (mut outbox, _) = open_with(batched, mqtt_and_s3());
    assert_eq!(all_pending(&mut outbox, mqtt), [4, 5, 6]);
}

#[test]
fn past_the_bound_the_oldest_events_go_and_upload_jobs_stay() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let bounded = OutboxConfig {
        max_bytes: 4 * SEGMENT_BYTES,
        ..config(dir.path())
    };
    let (mut outbox, _) = open_with(bounded.clone(), mqtt_and_s3());
    let (mqtt, s3) = (id(&outbox, "mqtt"), id(&outbox, "s3"));
    let mut uploads = Vec::new();
    let mut events = Vec::new();
    for n in 1..=500 {
        if n % 50 == 1 {
            let job = format!(r#"{{"upload":"rec-{n}.opus"}}"#);
            uploads.push(
                outbox
                    .append(Kind::Upload, job.as_bytes())
                    .expect("appended"),
            );
        }
        events.push(outbox.append(Kind::Event, &event(n)).expect("appended"));
        assert!(outbox.figures().bytes_on_disk <= bounded.max_bytes);
    }
    let figures = outbox.figures();
    assert!(figures.evicted_events > 0);
    let mut notices_dropped = 0;
    while let Some(notice) = outbox.poll_notice() {
        match notice {
            Notice::Evicted { events_dropped, .. } => notices_dropped += events_dropped,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(notices_dropped, figures.evicted_events);
    let pending = all_pending(&mut outbox, mqtt);
    let kept = pending.len() as u64;
    assert_eq!(
        kept + figures.evicted_events,
        500,
        "every event kept or counted"
    );
    let newest: Vec<u64> = events[events.len() - kept as usize..]
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(pending, newest, "the newest are all kept");
    let upload_seqs: Vec<u64> = uploads.iter().map(|s| s.0).collect();
    assert_eq!(all_pending(&mut outbox, s3), upload_seqs);
    drop(outbox);

    let (mut outbox, report) = open_with(bounded, mqtt_and_s3());
    assert!(!report.is_damaged());
    assert_eq!(all_pending(&mut outbox, s3), upload_seqs);
    let entries = outbox.pending(s3, 100).expect("pending");
    assert_eq!(entries[0].payload, br#"{"upload":"rec-1.opus"}"#);
    assert_eq!(all_pending(&mut outbox, mqtt), newest);
    ack_all(&mut outbox, s3, &uploads);
    ack_all(&mut outbox, mqtt, &events[events.len() - kept as usize..]);
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[test]
fn upload_jobs_alone_may_pass_the_bound_and_say_so() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let bounded = OutboxConfig {
        max_bytes: 2 * SEGMENT_BYTES,
        ..config(dir.path())
    };
    let (mut outbox, _) = open_with(bounded, mqtt_and_s3());
    let s3 = id(&outbox, "s3");
    let job = [b'u'; 200];
    let uploads: Vec<Seq> = (0..20)
        .map(|_| outbox.append(Kind::Upload, &job).expect("never refused"))
        .collect();
    assert!(outbox.figures().bytes_on_disk > 2 * SEGMENT_BYTES);
    let notices: Vec<Notice> = std::iter::from_fn(|| outbox.poll_notice()).collect();
    assert_eq!(notices.len(), 1, "said once: {notices:?}");
    assert!(matches!(notices[0], Notice::OverBound { .. }));
    assert_eq!(outbox.read(s3, 100).expect("read").len(), 20);
    ack_all(&mut outbox, s3, &uploads);
    assert!(outbox.figures().bytes_on_disk <= SEGMENT_BYTES);
}

#[test]
fn a_waiting_consumer_wakes_on_append_and_on_shutdown() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (outbox, _) = open(dir.path(), mqtt_and_s3());
    let mqtt = id(&outbox, "mqtt");
    let shared = SharedOutbox::new(outbox);
    let waiter = |shared: &SharedOutbox| {
        let shared = shared.clone();
        thread::spawn(move || {
            let start = Instant::now();
            let waited = shared.wait_read(mqtt, 10, Duration::from_secs(30));
            (waited.expect("waited"), start.elapsed())
        })
    };
    let consumer = waiter(&shared);
    thread::sleep(Duration::from_millis(50));
    let seq = shared.append(Kind::Event, &event(1)).expect("appended");
    let (waited, took) = consumer.join().expect("the consumer thread");
    let Waited::Entries(entries) = waited else {
        panic!("woken without entries: {waited:?}")
    };
    assert_eq!(seqs(&entries), [seq.0]);
    assert!(
        took < Duration::from_secs(10),
        "woken by the append, not the timeout"
    );

    let timed = shared.wait_read(mqtt, 10, Duration::from_millis(20));
    assert_eq!(timed.expect("waited"), Waited::TimedOut);

    let consumer = waiter(&shared);
    thread::sleep(Duration::from_millis(50));
    shared.shutdown().expect("shut down");
    let (waited, took) = consumer.join().expect("the consumer thread");
    assert_eq!(waited, Waited::Stopped);
    assert!(took < Duration::from_secs(10));
    assert!(shared.is_stopped());
}

#[test]
fn filters_count_refused_entries_as_delivered() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let tones_only = || {
        vec![
            ConsumerSpec::new("mqtt", Kinds::EVENTS),
            ConsumerSpec::new("webhook:0", Kinds::EVENTS)
                .with_filter(|entry: &Entry| entry.payload.windows(4).any(|w| w == b"tone")),
        ]
    };
    let (mut outbox, _) = open(dir.path(), tones_only());
    let (mqtt, webhook) = (id(&outbox, "mqtt"), id(&outbox, "webhook:0"));
    for payload in ["cor", "tone", "cor", "tone", "cor"] {
        outbox
            .append(Kind::Event, payload.as_bytes())
            .expect("appended");
    }
    assert_eq!(seqs(&outbox.read(webhook, 10).expect("read")), [2, 4]);
    assert_eq!(outbox.depth(webhook).expect("depth"), 2);
    assert_eq!(outbox.depth(mqtt).expect("depth"), 5);
    assert_eq!(outbox.ack(webhook, Seq(1)).expect("ack"), Ack::Already);
    assert_eq!(outbox.ack(webhook, Seq(4)).expect("ack"), Ack::Held);
    assert_eq!(outbox.ack(webhook, Seq(2)).expect("ack"), Ack::Advanced);
    assert_eq!(outbox.figures().consumers[1].cursor, Seq(6));
    drop(outbox);
    let (mut outbox, _) = open(dir.path(), tones_only());
    assert!(all_pending(&mut outbox, webhook).is_empty());
    assert_eq!(all_pending(&mut outbox, mqtt), [1, 2, 3, 4, 5]);
}

#[test]
fn the_sequence_goes_on_after_everything_was_acknowledged() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    let mqtt = id(&outbox, "mqtt");
    let appended = append_events(&mut outbox, 1..=40);
    ack_all(&mut outbox, mqtt, &appended);
    drop(outbox);
    let (mut outbox, report) = open(dir.path(), mqtt_and_s3());
    assert_eq!(report.next_seq, Seq(41));
    assert_eq!(
        outbox.append(Kind::Event, b"{}").expect("appended"),
        Seq(41)
    );
    assert_eq!(all_pending(&mut outbox, mqtt), [41]);
}

#[test]
fn rewind_hands_out_again_what_is_in_flight() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    let mqtt = id(&outbox, "mqtt");
    append_events(&mut outbox, 1..=4);
    assert_eq!(seqs(&outbox.read(mqtt, 3).expect("read")), [1, 2, 3]);
    assert_eq!(seqs(&outbox.read(mqtt, 3).expect("read")), [4]);
    assert!(outbox.read(mqtt, 3).expect("read").is_empty());
    outbox.ack(mqtt, Seq(1)).expect("ack");
    outbox.ack(mqtt, Seq(3)).expect("ack");
    outbox.rewind(mqtt).expect("rewound");
    assert_eq!(seqs(&outbox.read(mqtt, 10).expect("read")), [2, 4]);
}

#[test]
fn consumers_no_longer_registered_are_reported() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    let s3 = id(&outbox, "s3");
    let seq = outbox.append(Kind::Upload, b"{}").expect("appended");
    outbox.ack(s3, seq).expect("ack");
    drop(outbox);
    let (_, report) = open(dir.path(), vec![ConsumerSpec::new("mqtt", Kinds::EVENTS)]);
    assert_eq!(report.forgotten_consumers, ["s3"]);
}

#[test]
fn a_second_open_of_the_folder_is_refused() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (outbox, _) = open(dir.path(), mqtt_and_s3());
    let second = Outbox::open(config(dir.path()), mqtt_and_s3());
    assert!(
        matches!(second, Err(OutboxError::Busy { .. })),
        "{second:?}"
    );
    drop(outbox);
    open(dir.path(), mqtt_and_s3());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let refused = |config: OutboxConfig, specs| Outbox::open(config, specs).err();
    let small = OutboxConfig {
        max_bytes: SEGMENT_BYTES,
        ..config(dir.path())
    };
    let text = refused(small, mqtt_and_s3()).expect("refused").to_string();
    assert_eq!(
        text,
        "outbox max_bytes 1024: must hold at least two segments"
    );
    let names = [
        ("", "is empty"),
        ("a/b", "may hold only A-Z a-z 0-9 _ . : -"),
    ];
    for (name, reason) in names {
        let specs = vec![ConsumerSpec::new(name, Kinds::ALL)];
        let error = refused(config(dir.path()), specs).expect("refused");
        assert_eq!(
            error.to_string(),
            format!("outbox consumer `{name}`: {reason}")
        );
    }
    let twice = vec![
        ConsumerSpec::new("mqtt", Kinds::ALL),
        ConsumerSpec::new("mqtt", Kinds::ALL),
    ];
    assert!(refused(config(dir.path()), twice).is_some());
    let many = (0..=MAX_CONSUMERS)
        .map(|n| ConsumerSpec::new(&format!("c{n}"), Kinds::ALL))
        .collect();
    assert!(refused(config(dir.path()), many).is_some());

    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    let too_long = vec![0; MAX_PAYLOAD_LEN + 1];
    assert!(matches!(
        outbox.append(Kind::Event, &too_long),
        Err(OutboxError::TooLong { .. })
    ));
    assert!(matches!(
        outbox.append(Kind::Unknown(7), b"{}"),
        Err(OutboxError::UnknownKind(7))
    ));
    assert!(matches!(
        outbox.read(ConsumerId(9), 1),
        Err(OutboxError::NoConsumer(_))
    ));
    assert_eq!(
        outbox.append(Kind::Event, &too_long[1..]).expect("fits"),
        Seq(1)
    );
}

#[test]
fn an_unwritable_folder_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let file = dir.path().join("not-a-folder");
    fs::write(&file, b"").expect("written");
    let error = Outbox::open(config(&file.join("outbox")), mqtt_and_s3()).expect_err("refused");
    let text = error.to_string();
    assert!(text.starts_with("outbox folder "), "{text}");
    assert!(
        text.contains("not-a-folder/outbox: cannot create it: "),
        "{text}"
    );
    assert_eq!(error.op(), Some(FileOp::CreateFolder));
}
