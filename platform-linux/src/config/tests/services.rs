//! MQTT, S3 and storage rules.

use serde_json::json;

use super::{check_edited, error_at, listing, warning_at};

#[test]
fn mqtt_port_above_65535_is_an_error() {
    error_at(
        |c| c["mqtt"]["port"] = json!(70000),
        "mqtt.port",
        "70000 is not a port number (1 to 65535)",
    );
}

#[test]
fn mqtt_port_of_zero_is_an_error() {
    error_at(
        |c| c["mqtt"]["port"] = json!(0),
        "mqtt.port",
        "0 is not a port number (1 to 65535)",
    );
}

#[test]
fn mqtt_port_defaults_by_tls() {
    let config = check_edited(|_| {}).config.expect("base config");
    assert_eq!(config.mqtt.as_ref().expect("mqtt").port(), 1883);
    let config = check_edited(|c| c["mqtt"]["tls"] = json!(true))
        .config
        .expect("tls config");
    assert_eq!(config.mqtt.as_ref().expect("mqtt").port(), 8883);
}

#[test]
fn mqtt_empty_host_is_an_error() {
    error_at(|c| c["mqtt"]["host"] = json!(""), "mqtt.host", "is empty");
}

#[test]
fn mqtt_host_given_as_url_is_an_error() {
    error_at(
        |c| c["mqtt"]["host"] = json!("mqtt://broker.example.org"),
        "mqtt.host",
        "is a URL; give only the host name",
    );
}

#[test]
fn mqtt_host_with_spaces_is_an_error() {
    error_at(
        |c| c["mqtt"]["host"] = json!("broker example"),
        "mqtt.host",
        "contains spaces",
    );
}

#[test]
fn mqtt_prefix_with_wildcard_is_an_error() {
    error_at(
        |c| c["mqtt"]["prefix"] = json!("fire/+"),
        "mqtt.prefix",
        "contains an MQTT wildcard",
    );
}

#[test]
fn mqtt_prefix_under_home_assistant_discovery_is_an_error_with_discovery_on() {
    error_at(
        |c| {
            c["mqtt"]["prefix"] = json!("homeassistant/fire");
            c["mqtt"]["home_assistant"] = json!(true);
        },
        "mqtt.prefix",
        "is under Home Assistant's discovery prefix",
    );
    let report = check_edited(|c| c["mqtt"]["prefix"] = json!("homeassistant"));
    assert!(report.config.is_some(), "{}", listing(&report));
}

#[test]
fn mqtt_home_assistant_defaults_to_off() {
    let config = check_edited(|_| {}).config.expect("base config");
    assert!(!config.mqtt.as_ref().expect("mqtt").home_assistant);
    let config = check_edited(|c| c["mqtt"]["home_assistant"] = json!(true))
        .config
        .expect("discovery on");
    assert!(config.mqtt.as_ref().expect("mqtt").home_assistant);
}

#[test]
fn mqtt_prefix_with_empty_level_is_an_error() {
    for bad in ["/fire", "fire/", "fire//county"] {
        error_at(
            |c| c["mqtt"]["prefix"] = json!(bad),
            "mqtt.prefix",
            "has an empty topic level",
        );
    }
}

#[test]
fn mqtt_empty_prefix_is_an_error() {
    error_at(
        |c| c["mqtt"]["prefix"] = json!(""),
        "mqtt.prefix",
        "is empty",
    );
}

#[test]
fn mqtt_empty_client_id_is_an_error() {
    error_at(
        |c| c["mqtt"]["client_id"] = json!(""),
        "mqtt.client_id",
        "is empty; leave it out",
    );
}

#[test]
fn mqtt_password_without_username_is_an_error() {
    error_at(
        |c| {
            c["mqtt"].as_object_mut().expect("mqtt").remove("username");
        },
        "mqtt.password",
        "is set without mqtt.username",
    );
}

#[test]
fn mqtt_keepalive_of_zero_is_an_error() {
    error_at(
        |c| c["mqtt"]["keepalive_s"] = json!(0),
        "mqtt.keepalive_s",
        "0 s is outside 1 to 65535 s",
    );
}

#[test]
fn mqtt_ca_file_without_tls_warns() {
    warning_at(
        |c| c["mqtt"]["ca_file"] = json!("/etc/echostream/ca.pem"),
        "mqtt.ca_file",
        "is only used with \"tls\": true",
    );
}

#[test]
fn outbox_checks_name_the_field() {
    error_at(
        |c| c["outbox"] = json!({"dir": ""}),
        "outbox.dir",
        "is empty",
    );
    error_at(
        |c| c["outbox"] = json!({"max_mb": 0}),
        "outbox.max_mb",
        "is outside 1 to 4096 MB",
    );
}

#[test]
fn the_status_endpoint_beyond_loopback_needs_a_password_hash() {
    let config = check_edited(|_| {}).config.expect("base config");
    assert_eq!(config.http.listen.as_deref(), Some("127.0.0.1:9310"));
    error_at(
        |c| c["http"] = json!({"listen": "0.0.0.0:9310"}),
        "http.listen",
        "reachable beyond this machine",
    );
    error_at(
        |c| c["http"] = json!({"listen": "localhost"}),
        "http.listen",
        "is not an address and port",
    );
    error_at(
        |c| c["http"] = json!({"listen": "0.0.0.0:9310", "password": "hunter2"}),
        "http.password",
        "echostream hash-password",
    );
    let hash = echostream_relay::http::PasswordHash::new("hunter2")
        .unwrap()
        .to_string();
    let checked = check_edited(|c| c["http"] = json!({"listen": "[::]:9310", "password": hash}));
    assert!(checked.config.is_some(), "{}", listing(&checked));
    let checked = check_edited(|c| c["http"] = json!({"listen": null}));
    assert_eq!(checked.config.expect("no endpoint").http.listen, None);
}

#[test]
fn webhook_checks_name_the_entry_and_field() {
    error_at(
        |c| c["webhooks"] = json!([{"url": "ftp://x"}]),
        "webhooks[0].url",
        "is not an http:// or https:// URL",
    );
    error_at(
        |c| c["webhooks"] = json!([{"url": "https://a.example"}, {"url": "https://b.example", "events": ["two_tone", "page"]}]),
        "webhooks[1].events[1]",
        "`page` is not an event type",
    );
    error_at(
        |c| c["webhooks"] = json!([{"url": "https://a.example", "headers": {"Bad Name": "x"}}]),
        "webhooks[0].headers",
        "is not a valid header name",
    );
    warning_at(
        |c| c["webhooks"] = json!([{"url": "http://hooks.example.org/x"}]),
        "webhooks[0].url",
        "unencrypted",
    );
}

#[test]
fn alert_command_must_be_an_absolute_program() {
    error_at(
        |c| c["alert_command"] = json!({"program": "siren"}),
        "alert_command.program",
        "is not an absolute path",
    );
    error_at(
        |c| c["alert_command"] = json!({"program": "/bin/true", "timeout_ms": 5}),
        "alert_command.timeout_ms",
        "is outside 100 to 600000 ms",
    );
}

#[test]
fn s3_endpoint_that_is_not_http_is_an_error() {
    error_at(
        |c| c["s3"]["endpoint"] = json!("s3://bucket"),
        "s3.endpoint",
        "is not an http:// or https:// URL",
    );
}

#[test]
fn s3_endpoint_without_host_is_an_error() {
    error_at(
        |c| c["s3"]["endpoint"] = json!("https://"),
        "s3.endpoint",
        "has no host",
    );
}

#[test]
fn s3_plain_http_beyond_loopback_warns() {
    for endpoint in [
        "http://minio.example.org:9000",
        // A name that merely starts like a loopback address.
        "http://127.evil.example:9000",
    ] {
        warning_at(
            |c| c["s3"]["endpoint"] = json!(endpoint),
            "s3.endpoint",
            "unencrypted",
        );
    }
    for endpoint in [
        "http://127.0.0.1:9000",
        "http://[::1]:9000",
        "http://localhost:9000",
    ] {
        let report = check_edited(|c| c["s3"]["endpoint"] = json!(endpoint));
        assert!(
            report.problems.is_empty(),
            "{endpoint}: {}",
            listing(&report)
        );
    }
}

#[test]
fn s3_empty_region_is_an_error() {
    error_at(|c| c["s3"]["region"] = json!(""), "s3.region", "is empty");
}

#[test]
fn s3_invalid_bucket_name_is_an_error() {
    for (bad, why) in [
        ("Recordings", "only lowercase letters"),
        ("ab", "3 to 63 characters"),
        ("-recordings", "begin and end with a letter or digit"),
        ("rec..ordings", "two dots in a row"),
    ] {
        error_at(|c| c["s3"]["bucket"] = json!(bad), "s3.bucket", why);
    }
}

#[test]
fn s3_empty_access_key_is_an_error() {
    error_at(
        |c| c["s3"]["access_key"] = json!(""),
        "s3.access_key",
        "is empty",
    );
}

#[test]
fn s3_secret_key_with_whitespace_is_an_error() {
    error_at(
        |c| c["s3"]["secret_key"] = json!("wJalrXUtnFEMI K7MDENG"),
        "s3.secret_key",
        "copy-and-paste slip",
    );
}

#[test]
fn s3_prefix_with_leading_slash_warns() {
    warning_at(
        |c| c["s3"]["prefix"] = json!("/station-12/"),
        "s3.prefix",
        "starts with `/`",
    );
}

#[test]
fn s3_presign_expiry_outside_sigv4_limit_is_an_error() {
    for bad in [0, 700_000] {
        error_at(
            |c| c["s3"]["presign_expiry_s"] = json!(bad),
            "s3.presign_expiry_s",
            "is outside 1 to 604800 s",
        );
    }
}

#[test]
fn s3_backoff_of_zero_is_an_error() {
    error_at(
        |c| c["s3"]["backoff_max_s"] = json!(0),
        "s3.backoff_max_s",
        "is 0",
    );
}

#[test]
fn empty_recordings_dir_is_an_error() {
    error_at(
        |c| c["recordings"] = json!({ "dir": "" }),
        "recordings.dir",
        "is empty",
    );
}

#[test]
fn spool_dir_same_as_recordings_dir_is_an_error() {
    error_at(
        |c| c["recordings"] = json!({ "dir": "./rec", "spool_dir": "./rec" }),
        "recordings.spool_dir",
        "is the same folder as recordings.dir",
    );
}

#[test]
fn empty_events_file_is_an_error() {
    error_at(|c| c["events_file"] = json!(""), "events_file", "is empty");
}
