//! Home Assistant MQTT discovery (DESIGN.md "Events and uploads").
//!
//! One node is one Home Assistant device, announced with **device-based
//! discovery**: a single retained message on
//! `homeassistant/device/echostream_{node}/config` holding `device`,
//! `origin` and `components` (Home Assistant 2024.11 and later; the
//! `default_entity_id` key used below needs 2025.10). Chosen over one
//! message per entity (`homeassistant/{component}/…/config`) because:
//! - the node's whole set of entities changes at once, in one message,
//!   so Home Assistant never sees half a device;
//! - a component left out of a later message is removed by Home
//!   Assistant, so a tone definition deleted from the config disappears
//!   without the node remembering what it announced before;
//! - the link publishes one message per connect, not one per entity,
//!   which keeps its own requests bounded whatever the config holds.
//!
//! The components, all available while the status topic says `online`:
//! - per channel, a `binary_sensor` "transmitting", on between a
//!   `transmit` event's `start` and `end` (other events on the transmit
//!   topic, `passthrough`, render nothing and are ignored);
//! - per tone definition (`tones`, `long_tones`, `hi_low`, `pulsed`), an `event`
//!   entity fired by this node's alerts of that `tone_id` (not by another
//!   node's `remote_alert`), its `event_types` the definition's
//!   `alert_type`;
//! - per tone definition, a timestamp `sensor`: the `time` of its last
//!   alert.
//!
//! Unique ids and entity ids are built from the node id, channel ids and
//! tone ids only, so they stay the same across restarts; the config's
//! names are turned into `[a-z0-9_]` ([`slug`]), and two names that turn
//! into the same slug each get a hash of the original name appended.

use serde_json::{Map, Value, json};

use super::topic::{ChannelLeaf, STATUS_OFFLINE, STATUS_ONLINE, Topics};
use crate::config::{Config, ToneDefinition};

/// Home Assistant's default discovery prefix.
pub const DISCOVERY_PREFIX: &str = "homeassistant";
/// Where Home Assistant announces itself (its birth message).
pub const BIRTH_TOPIC: &str = "homeassistant/status";
/// Home Assistant's birth payload: on it, the discovery message is sent
/// again (Home Assistant restarted, or its broker lost retained messages).
pub const BIRTH_PAYLOAD: &str = "online";

/// The alert event types whose `tone_id` fires a tone's entities.
const LOCAL_ALERTS: &str = "['two_tone', 'long_tone', 'hi_low', 'pulsed']";

/// The retained discovery message of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// `homeassistant/device/echostream_{node}/config`.
    pub topic: String,
    /// The JSON document, serialized.
    pub payload: Vec<u8>,
}

impl Discovery {
    /// The discovery message for `config`'s node, channels and tone
    /// definitions, with state topics under `topics`.
    pub fn new(config: &Config, topics: &Topics) -> Discovery {
        let document = device_config(config, topics);
        Discovery {
            topic: discovery_topic(&config.node_id),
            payload: serde_json::to_vec(&document).expect("a JSON value serializes"),
        }
    }
}

/// `homeassistant/device/echostream_{node}/config`. Node ids hold letters,
/// digits, `-`, `_` and `.`; the topic's id allows all but `.`.
pub fn discovery_topic(node_id: &str) -> String {
    format!(
        "{DISCOVERY_PREFIX}/device/echostream_{}/config",
        node_id.replace('.', "_")
    )
}

/// The device discovery document (see the module docs).
pub fn device_config(config: &Config, topics: &Topics) -> Value {
    let node = slug(&config.node_id);
    let version = env!("CARGO_PKG_VERSION");
    let mut components = Map::new();

    let channel_ids: Vec<&str> = config.channels.iter().map(|c| c.id.as_str()).collect();
    for (channel, key) in channel_ids.iter().zip(unique_slugs(&channel_ids)) {
        // Channel ids were checked as topic levels by the config validation.
        let Ok(state_topic) = topics.channel(channel, ChannelLeaf::Transmit) else {
            continue;
        };
        let key = format!("{key}_transmitting");
        let component = json!({
            "platform": "binary_sensor",
            "name": format!("{channel} transmitting"),
            "icon": "mdi:radio-tower",
            "state_topic": state_topic,
            "value_template": "{% if value_json.type == 'transmit' %}\
                {{ 'ON' if value_json.state == 'start' else 'OFF' }}{% endif %}",
        });
        insert(&mut components, &node, key, component);
    }

    let tones = tone_definitions(config);
    let tone_ids: Vec<&str> = tones.iter().map(|t| t.tone_id()).collect();
    for (tone, key) in tones.iter().zip(unique_slugs(&tone_ids)) {
        let Ok(state_topic) = topics.channel(tone.channel(), ChannelLeaf::Tone) else {
            continue;
        };
        let matches = format!(
            "value_json.type in {LOCAL_ALERTS} and value_json.tone_id == {}",
            jinja_string(tone.tone_id())
        );
        let event = json!({
            "platform": "event",
            "name": tone.tone_id(),
            "icon": "mdi:bullhorn",
            "state_topic": state_topic,
            "event_types": [tone.alert_type()],
            "value_template": format!(
                "{{% if {matches} %}}{{{{ {{'event_type': value_json.alert_type, \
                 'event_id': value_json.event_id, 'time': value_json.time}} | to_json }}}}\
                 {{% endif %}}"
            ),
        });
        insert(&mut components, &node, format!("tone_{key}_alert"), event);
        // A timestamp sensor takes any other text for a bad time: keep the
        // state on other alerts ("None" while it has none yet).
        let last = json!({
            "platform": "sensor",
            "name": format!("{} last alert", tone.tone_id()),
            "icon": "mdi:clock-alert-outline",
            "device_class": "timestamp",
            "state_topic": state_topic,
            "value_template": format!(
                "{{% if {matches} %}}{{{{ value_json.time }}}}\
                 {{% elif this.state in ['unknown', 'unavailable'] %}}None\
                 {{% else %}}{{{{ this.state }}}}{{% endif %}}"
            ),
        });
        insert(
            &mut components,
            &node,
            format!("tone_{key}_last_alert"),
            last,
        );
    }

    json!({
        "device": {
            "identifiers": [format!("echostream-{}", config.node_id)],
            "name": format!("EchoStream {}", config.node_id),
            "manufacturer": "EchoStream",
            "model": "EchoStream edge node",
            "sw_version": version,
        },
        "origin": { "name": "EchoStream", "sw_version": version },
        "availability_topic": topics.status(),
        "payload_available": STATUS_ONLINE,
        "payload_not_available": STATUS_OFFLINE,
        "qos": 1,
        "components": components,
    })
}

/// Adds the ids every component carries and files it under its key.
fn insert(components: &mut Map<String, Value>, node: &str, key: String, mut component: Value) {
    let platform = component["platform"]
        .as_str()
        .expect("every component names its platform")
        .to_owned();
    let object_id = format!("echostream_{node}_{key}");
    component["unique_id"] = json!(object_id);
    component["default_entity_id"] = json!(format!("{platform}.{object_id}"));
    components.insert(key, component);
}

/// Every tone definition, in config order.
fn tone_definitions(config: &Config) -> Vec<&dyn ToneDefinition> {
    let two_tone = config.tones.iter().map(|t| t as &dyn ToneDefinition);
    let long_tone = config.long_tones.iter().map(|t| t as &dyn ToneDefinition);
    let hi_low = config.hi_low.iter().map(|t| t as &dyn ToneDefinition);
    let pulsed = config.pulsed.iter().map(|t| t as &dyn ToneDefinition);
    two_tone
        .chain(long_tone)
        .chain(hi_low)
        .chain(pulsed)
        .collect()
}

/// `name` as an entity id part: lowercase ASCII letters and digits, every
/// run of anything else one `_`, none at either end (`"Station 12"` →
/// `station_12`); `x` if nothing is left.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        out.push('x');
    }
    out
}

/// The [`slug`] of each name; names whose slugs coincide each get
/// `_{FNV-1a of the name, 8 hex digits}` appended, so the result depends
/// on the name alone, never on its neighbours' order.
pub fn unique_slugs(names: &[&str]) -> Vec<String> {
    let slugs: Vec<String> = names.iter().map(|name| slug(name)).collect();
    slugs
        .iter()
        .zip(names)
        .map(|(s, name)| {
            if slugs.iter().filter(|other| *other == s).count() > 1 {
                format!("{s}_{:08x}", fnv1a(name))
            } else {
                s.clone()
            }
        })
        .collect()
}

/// 32-bit FNV-1a: stable across builds and platforms, unlike std's hasher.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// `text` as a single-quoted Jinja string literal. Everything but ASCII
/// letters, digits, space, `_`, `-` and `.` is written as a `\x`, `\u` or
/// `\U` escape (Jinja decodes literals with Python's `unicode-escape`),
/// so no quote, backslash or `%}` from the config can end the literal or
/// the block.
pub fn jinja_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | ' ' | '_' | '-' | '.' => out.push(c),
            c if u32::from(c) <= 0xff => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if u32::from(c) <= 0xffff => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_entity_id_safe() {
        assert_eq!(slug("Station 12"), "station_12");
        assert_eq!(slug("fire-dispatch"), "fire_dispatch");
        assert_eq!(slug("  County  All--Call! "), "county_all_call");
        assert_eq!(slug("Übung"), "bung");
        assert_eq!(slug("!!"), "x");
    }

    #[test]
    fn colliding_slugs_are_told_apart_by_their_names_alone() {
        let first = unique_slugs(&["fire-main", "fire.main", "talk"]);
        assert_eq!(first[2], "talk");
        assert!(first[0].starts_with("fire_main_") && first[1].starts_with("fire_main_"));
        assert_ne!(first[0], first[1]);
        let reordered = unique_slugs(&["talk", "fire.main", "fire-main"]);
        assert_eq!(reordered[1], first[1]);
        assert_eq!(reordered[2], first[0]);
    }

    #[test]
    fn jinja_literals_escape_everything_that_could_end_them() {
        assert_eq!(jinja_string("Station 1"), "'Station 1'");
        assert_eq!(
            jinja_string("a'b\\c%}{{"),
            "'a\\x27b\\x5cc\\x25\\x7d\\x7b\\x7b'"
        );
        assert_eq!(jinja_string("é🚒"), "'\\xe9\\U0001f692'");
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // From the FNV reference test vectors (draft-eastlake-fnv).
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
        assert_eq!(fnv1a("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn the_discovery_topic_id_has_no_dots() {
        assert_eq!(
            discovery_topic("station.12"),
            "homeassistant/device/echostream_station_12/config"
        );
    }

    fn shipped(name: &str) -> Config {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(name);
        let text = std::fs::read_to_string(&path).expect("the shipped config is readable");
        let report = crate::config::check(&text);
        let problems = format!("{:?}", report.problems);
        report
            .config
            .unwrap_or_else(|| panic!("{name} is refused: {problems}"))
    }

    fn text<'a>(value: &'a Value, key: &str) -> &'a str {
        value[key]
            .as_str()
            .unwrap_or_else(|| panic!("`{key}` is a string in {value}"))
    }

    fn is_object_id(id: &str) -> bool {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    /// The keys Home Assistant's device discovery schema requires and
    /// allows, checked on the parsed message.
    fn check_document(discovery: &Discovery, config: &Config, topics: &Topics) {
        let id = discovery
            .topic
            .strip_prefix("homeassistant/device/")
            .and_then(|rest| rest.strip_suffix("/config"))
            .expect("homeassistant/device/<id>/config");
        assert!(
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{id}"
        );
        assert!(discovery.payload.len() < crate::mqtt::PAYLOAD_LEN_MAX);
        let doc: Value = serde_json::from_slice(&discovery.payload).expect("the payload is JSON");

        let allowed = [
            "device",
            "origin",
            "components",
            "availability_topic",
            "payload_available",
            "payload_not_available",
            "qos",
        ];
        for key in doc.as_object().expect("an object").keys() {
            assert!(
                allowed.contains(&key.as_str()),
                "unexpected top-level `{key}`"
            );
        }
        let identifiers = doc["device"]["identifiers"]
            .as_array()
            .expect("identifiers");
        assert!(!identifiers.is_empty() && identifiers.iter().all(Value::is_string));
        assert!(!text(&doc["device"], "name").is_empty());
        assert!(!text(&doc["origin"], "name").is_empty());
        assert_eq!(text(&doc, "availability_topic"), topics.status());
        assert_eq!(text(&doc, "payload_available"), "online");
        assert_eq!(text(&doc, "payload_not_available"), "offline");

        let components = doc["components"].as_object().expect("components");
        let tones = tone_definitions(config);
        assert_eq!(components.len(), config.channels.len() + 2 * tones.len());
        let mut unique_ids = std::collections::HashSet::new();
        for (key, component) in components {
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{key}"
            );
            let platform = text(component, "platform");
            let unique_id = text(component, "unique_id");
            assert!(unique_ids.insert(unique_id.to_owned()), "{unique_id} twice");
            let entity_id = text(component, "default_entity_id");
            let (domain, object_id) = entity_id.split_once('.').expect("domain.object_id");
            assert_eq!(domain, platform, "{entity_id}");
            assert!(is_object_id(object_id), "{entity_id}");
            assert!(
                component.get("object_id").is_none(),
                "{key}: object_id is gone"
            );
            assert!(!text(component, "name").is_empty());
            assert!(text(component, "value_template").contains("value_json"));
            let state_topic = text(component, "state_topic");
            assert!(crate::mqtt::topic::is_publish_topic(state_topic));
            match platform {
                "binary_sensor" => {
                    let channel = config
                        .channels
                        .iter()
                        .find(|c| text(component, "name") == format!("{} transmitting", c.id))
                        .expect("a channel's sensor");
                    let topic = topics.channel(&channel.id, ChannelLeaf::Transmit);
                    assert_eq!(Ok(state_topic.to_owned()), topic);
                }
                "event" | "sensor" => {
                    let name = text(component, "name");
                    let tone = tones
                        .iter()
                        .find(|t| {
                            name == t.tone_id() || name == format!("{} last alert", t.tone_id())
                        })
                        .expect("a tone definition's entity");
                    let topic = topics.channel(tone.channel(), ChannelLeaf::Tone);
                    assert_eq!(Ok(state_topic.to_owned()), topic);
                    let template = text(component, "value_template");
                    assert!(
                        template.contains(&jinja_string(tone.tone_id())),
                        "{template}"
                    );
                    if platform == "event" {
                        assert_eq!(component["event_types"], json!([tone.alert_type()]));
                    } else {
                        assert_eq!(text(component, "device_class"), "timestamp");
                    }
                }
                other => panic!("unexpected platform {other}"),
            }
        }
    }

    #[test]
    fn the_shipped_configs_give_complete_discovery_messages() {
        for name in ["config.json", "config.pi.json"] {
            let config = shipped(name);
            let prefix = config
                .mqtt
                .as_ref()
                .map_or("echostream", |m| m.prefix.as_str());
            let topics = Topics::new(prefix, &config.node_id);
            let discovery = Discovery::new(&config, &topics);
            check_document(&discovery, &config, &topics);
        }
    }

    #[test]
    fn unique_ids_do_not_change_with_the_config_order() {
        let mut config = shipped("config.pi.json");
        let topics = Topics::new("fire/county", &config.node_id);
        let ids = |config: &Config| -> Vec<String> {
            let doc = device_config(config, &topics);
            let mut ids: Vec<String> = doc["components"]
                .as_object()
                .expect("components")
                .values()
                .map(|c| text(c, "unique_id").to_owned())
                .collect();
            ids.sort();
            ids
        };
        let before = ids(&config);
        config.tones.reverse();
        config.channels.reverse();
        assert_eq!(ids(&config), before);
        assert!(before.contains(&"echostream_station_12_tone_station_12_alert".to_owned()));
    }

    #[test]
    fn the_largest_config_fits_in_one_message() {
        let mut config = shipped("config.pi.json");
        let template = config.tones[0].clone();
        let channel = config.channels[0].clone();
        config.channels = (0..echostream_core::MAX_CHANNELS)
            .map(|i| {
                let mut channel = channel.clone();
                channel.id = format!("{i}{}", "c".repeat(63));
                channel
            })
            .collect();
        let name_len = echostream_core::wire::signal::MAX_ID_LEN;
        config.tones = (0..echostream_core::MAX_CHANNELS * echostream_core::tone::MAX_DEFINITIONS)
            .map(|i| {
                let mut tone = template.clone();
                // Characters that each take four to escape.
                tone.tone_id = format!("{i:03}{}", "%".repeat(name_len - 3));
                tone.alert_type = "a".repeat(name_len);
                tone.channel = config.channels[i % echostream_core::MAX_CHANNELS]
                    .id
                    .clone();
                tone
            })
            .collect();
        config.long_tones.clear();
        config.hi_low.clear();
        config.pulsed.clear();
        let topics = Topics::new(&"p".repeat(64), &"n".repeat(64));
        let discovery = Discovery::new(&config, &topics);
        assert!(
            discovery.payload.len() < crate::mqtt::PAYLOAD_LEN_MAX,
            "{} bytes",
            discovery.payload.len()
        );
    }
}
