//! The status endpoint of a running node (`echostream run` on the default
//! config with a page in its sample): `/status`, `/metrics`, the page in a
//! real headless Chromium, the recording it links to, `echostream status`,
//! and the password beyond loopback.

mod node_process;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use node_process::{Running, default_config_dir, echostream, edit_config, station_1_then_talk};

/// The endpoint's address, from the node's log line.
fn endpoint(node: &mut Running) -> String {
    node.wait_for("the status page line", |seen| {
        seen.iter().any(|l| l.contains("status page on http://"))
    });
    let line = node
        .seen_lines()
        .iter()
        .find(|l| l.contains("status page on http://"))
        .expect("seen")
        .clone();
    let start = line.find("http://").expect("url");
    let url = &line[start..];
    url[..url.find("/ ").expect("url ends")].to_owned()
}

fn get(url: &str, password: Option<&str>) -> (u16, String) {
    let mut request = attohttpc::get(url).timeout(Duration::from_secs(10));
    if let Some(password) = password {
        request = request.basic_auth("dispatch", Some(password));
    }
    let response = request.send().expect("the endpoint answers");
    let status = response.status().as_u16();
    (status, response.text().expect("body"))
}

/// A node on the default config, its endpoint on a free loopback port, with
/// Station 1's page and then talk in its sample.
fn node_with_a_page(dir: &Path) -> (Running, String) {
    station_1_then_talk(dir, 9_000.0);
    edit_config(dir, |c| c["http"] = json!({"listen": "127.0.0.1:0"}));
    let mut node = Running::start(dir);
    let url = endpoint(&mut node);
    (node, url)
}

/// Polls `/status` until `done` holds of it, or fails after 40 s.
fn wait_status(url: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (code, body) = get(&format!("{url}/status"), None);
        assert_eq!(code, 200, "{body}");
        let status: Value = serde_json::from_str(&body).expect("JSON");
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what} within 40 s: {status:#}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn status_metrics_and_the_page_in_a_browser_show_the_channels_and_the_alert() {
    let dir = default_config_dir();
    let (node, url) = node_with_a_page(dir.path());

    // The page's alert, then its recording (8 s after the tones).
    let status = wait_status(&url, "Station 1's recording", |s| {
        s["alerts"].as_array().is_some_and(|a| {
            a.iter()
                .any(|a| a["name"] == "Station 1" && a["recording"].is_object())
        })
    });
    assert_eq!(status["relay"]["connected"], true, "{status:#}");
    let ids: Vec<&str> = status["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["pages", "talk"]);
    let pages = &status["channels"][0];
    assert_eq!(pages["last_alert"][1], "Station 1", "{pages:#}");
    // The channel's input meter: dBFS, digital silence at -120.
    let level = pages["input_level_dbfs"].as_i64().expect("an input level");
    assert!((-120..=0).contains(&level), "{pages:#}");
    let alert = status["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Station 1")
        .unwrap();
    assert_eq!(alert["alert_type"], "fire");

    // The recording the page links to is the file the node wrote.
    let link = alert["recording"]["url"].as_str().unwrap();
    assert!(link.starts_with("/recordings/"), "{link}");
    let served = attohttpc::get(format!("{url}{link}"))
        .send()
        .expect("the recording is served")
        .bytes()
        .expect("bytes");
    let file = alert["recording"]["file"].as_str().unwrap();
    let on_disk = std::fs::read(dir.path().join("recordings").join(file)).expect("on disk");
    assert_eq!(served, on_disk);
    let (code, _) = get(&format!("{url}/recordings/..%2Fconfig.json"), None);
    assert_eq!(code, 404, "only recordings are served");

    // Prometheus text: the channel states and the engine's counters.
    let (code, metrics) = get(&format!("{url}/metrics"), None);
    assert_eq!(code, 200);
    assert!(
        metrics.contains("# TYPE echostream_channel_state gauge"),
        "{metrics}"
    );
    assert!(
        metrics.contains("echostream_relay_connected 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("echostream_channel_input_level_dbfs{channel=\"pages\"} "),
        "{metrics}"
    );
    assert!(
        metrics.contains("echostream_net_total{counter=\"alerts\"} "),
        "{metrics}"
    );
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').expect("name value");
        assert!(value.parse::<f64>().is_ok(), "a sample per line: {line}");
    }

    // The page as a browser renders it.
    let dom = chromium_dom(&url);
    for text in [
        "pages",
        "talk",
        "Station 1",
        "▶ play",
        "Last alerts",
        " dBFS",
    ] {
        assert!(dom.contains(text), "`{text}` on the rendered page: {dom}");
    }
    assert!(dom.contains("id=\"channels\""), "{dom}");

    // `echostream status` prints the same, exit 0.
    let output = echostream(&["status", "--url", &url], dir.path());
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{table}");
    assert!(table.contains("connected"), "{table}");
    assert!(table.contains("Station 1 at "), "{table}");
    node.kill();

    // Nothing listening: exit 1, saying what to check.
    let output = echostream(&["status", "--url", &url], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is the node running"));
}

/// The page's DOM after headless Chromium loaded it.
fn chromium_dom(url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("{url}/"))
        .output()
        .expect("chromium runs (scripts/test installs the Debian package)");
    assert!(
        output.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 DOM")
}

#[test]
fn beyond_loopback_the_page_needs_the_password_and_a_taken_port_is_not_fatal() {
    let dir = default_config_dir();
    station_1_then_talk(dir.path(), 1_000.0);
    let mut hash = Command::new(env!("CARGO_BIN_EXE_echostream"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("hash-password");
    {
        use std::io::Write;
        let mut stdin = hash.stdin.take().expect("stdin");
        stdin.write_all(b"engine 7 quarters\n").expect("write");
    }
    let output = hash.wait_with_output().expect("hash");
    assert!(output.status.success());
    let hash = String::from_utf8(output.stdout).expect("UTF-8");
    let hash = hash.trim();

    // Without a password, listening on every address is refused.
    edit_config(dir.path(), |c| c["http"] = json!({"listen": "0.0.0.0:0"}));
    let output = echostream(&["check-config", "config.json"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("http.listen") && stderr.contains("hash-password"),
        "{stderr}"
    );

    // With it, the page asks for it.
    edit_config(dir.path(), |c| {
        c["http"] = json!({"listen": "0.0.0.0:0", "password": hash});
    });
    let mut node = Running::start(dir.path());
    let url = endpoint(&mut node).replace("0.0.0.0", "127.0.0.1");
    let (code, _) = get(&format!("{url}/status"), None);
    assert_eq!(code, 401);
    let (code, _) = get(&format!("{url}/status"), Some("wrong"));
    assert_eq!(code, 401);
    let (code, body) = get(&format!("{url}/status"), Some("engine 7 quarters"));
    assert_eq!(code, 200, "{body}");
    let output = Command::new(env!("CARGO_BIN_EXE_echostream"))
        .args(["status", "--url", &url])
        .env("ECHOSTREAM_HTTP_PASSWORD", "engine 7 quarters")
        .output()
        .expect("status");
    assert_eq!(output.status.code(), Some(0));

    // A second node on the same port: an error, and it runs on.
    let port = url.rsplit(':').next().expect("port").to_owned();
    let second = default_config_dir();
    station_1_then_talk(second.path(), 1_000.0);
    edit_config(second.path(), |c| {
        c["http"] = json!({"listen": format!("127.0.0.1:{port}")});
    });
    let mut other = Running::start(second.path());
    other.wait_for(
        "the port refusal and the channels registered anyway",
        |seen| {
            seen.iter()
                .any(|l| l.contains("status page: cannot listen on"))
                && seen
                    .iter()
                    .filter(|l| l.contains("registered as stream"))
                    .count()
                    == 2
        },
    );
    other.kill();
    node.kill();
}
