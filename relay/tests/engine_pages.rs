//! The relay core driven by simulated nodes on virtual time: pages
//! (`tone_detected`) passed on to a channel's other members.

mod engine_support;

use echostream_relay::engine::CloseReason;

use engine_support::{CH, Msg, World, config};

/// Alpha, bravo and charlie on [`CH`]; delta on another channel; inboxes
/// cleared.
fn three_on_channel_and_one_elsewhere() -> World {
    let mut w = World::new(config(), &["alpha", "bravo", "charlie", "delta"]);
    for i in 0..3 {
        w.join(i);
    }
    w.join_channel(3, "water");
    for node in &mut w.nodes {
        node.inbox.clear();
    }
    w
}

#[test]
fn a_page_reaches_the_other_members_naming_who_heard_it() {
    let mut w = three_on_channel_and_one_elsewhere();
    w.tone_detected(1, CH, "Station 1", "fire");
    let page = Msg::ToneDetected {
        channel: CH.into(),
        node: "bravo".into(),
        tone_id: "Station 1".into(),
        alert_type: "fire".into(),
    };
    assert_eq!(w.nodes[0].inbox, vec![page.clone()]);
    assert_eq!(w.nodes[2].inbox, vec![page]);
    assert!(w.nodes[1].inbox.is_empty(), "not back to the sender");
    assert!(w.nodes[3].inbox.is_empty(), "not to another channel");
    assert_eq!(w.relay.counters().tone_reports, 1);
    assert_eq!(w.relay.counters().tone_reports_unregistered, 0);
    assert!(w.nodes.iter().all(|n| n.closed.is_none()));
}

#[test]
fn a_page_for_a_channel_not_registered_is_ignored_and_counted() {
    let mut w = three_on_channel_and_one_elsewhere();
    // Delta is on "water" only: it may not page "fire", and a channel no
    // one holds is no different.
    w.tone_detected(3, CH, "Station 1", "fire");
    w.tone_detected(3, "nowhere", "Station 1", "fire");
    assert!(
        w.nodes.iter().all(|n| n.inbox.is_empty()),
        "no answer, no copy"
    );
    assert_eq!(w.relay.counters().tone_reports_unregistered, 2);
    assert_eq!(w.relay.counters().tone_reports, 0);
    assert_eq!(w.relay.counters().signal_refused, 0);
    assert_eq!(w.nodes[3].closed, None);
    // Its own channel still takes its pages (no one else is on it).
    w.tone_detected(3, "water", "Station 1", "fire");
    assert_eq!(w.relay.counters().tone_reports, 1);
    assert!(w.nodes.iter().all(|n| n.inbox.is_empty()));
}

#[test]
fn a_page_before_hello_closes_like_any_message() {
    let mut w = World::new(config(), &["alpha"]);
    w.connect(0);
    w.raw_text(
        0,
        br#"{"type":"tone_detected","channel_id":"fire","tone_id":"t","alert_type":"a"}"#,
    );
    assert_eq!(w.nodes[0].inbox, vec![Msg::Error { code: 401 }]);
    assert_eq!(w.nodes[0].closed, Some(CloseReason::ProtocolViolation));
    assert_eq!(w.relay.counters().tone_reports, 0);
}

#[test]
fn a_page_with_an_empty_label_is_malformed_and_not_passed_on() {
    let mut w = three_on_channel_and_one_elsewhere();
    w.raw_text(
        1,
        br#"{"type":"tone_detected","channel_id":"fire","tone_id":"","alert_type":"fire"}"#,
    );
    assert_eq!(w.nodes[1].inbox, vec![Msg::Error { code: 400 }]);
    assert!(w.nodes[0].inbox.is_empty() && w.nodes[2].inbox.is_empty());
    assert_eq!(w.relay.counters().signal_malformed, 1);
    assert_eq!(w.relay.counters().tone_reports, 0);
}
