//! The Debian package as an admin gets it: `scripts/package` run on this
//! build's binaries, the files and control fields it holds, the unit as
//! systemd reads it, the config the packaged node accepts, and, as root, a
//! real `dpkg -i`, reinstall, remove and purge in a throwaway root.

mod e2e_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("platform-linux sits in the workspace")
        .to_owned()
}

fn run(cmd: &mut Command) -> Output {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} runs: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The amd64 package of this build's (debug) binaries, made once per run
/// by `scripts/package --bin-dir`, as CI and a developer both can.
fn package() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package");
        let _ = std::fs::remove_dir_all(&out);
        let relay = e2e_support::relay_binary();
        let bins = relay.parent().expect("the relay is in a folder");
        assert_eq!(
            bins,
            e2e_support::node_binary().parent().expect("in a folder"),
            "the node and the relay are built side by side"
        );
        let started = std::time::Instant::now();
        let output = run(Command::new(workspace_root().join("scripts/package"))
            .args(["--arch", "amd64", "--bin-dir"])
            .arg(bins)
            .arg("--out")
            .arg(&out)
            // xz takes ~15 s over the debug binaries; gzip -1 under 1 s,
            // and the compressor is not what is tested here.
            .env("DPKG_DEB_COMPRESSOR_TYPE", "gzip")
            .env("DPKG_DEB_COMPRESSOR_LEVEL", "1"));
        eprintln!("scripts/package took {:?}", started.elapsed());
        let deb = out.join(format!(
            "echostream_{}_amd64.deb",
            env!("CARGO_PKG_VERSION")
        ));
        assert_eq!(
            stdout(&output).trim(),
            deb.display().to_string(),
            "it prints the package's path"
        );
        deb
    })
}

#[test]
fn binaries_of_another_architecture_are_refused_naming_what_they_are() {
    let out = tempfile::tempdir().expect("temp dir");
    let bins = e2e_support::node_binary();
    let output = Command::new(workspace_root().join("scripts/package"))
        .args(["--arch", "arm64", "--bin-dir"])
        .arg(bins.parent().expect("in a folder"))
        .arg("--out")
        .arg(out.path())
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/package");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("echostream is not an arm64 binary: Advanced Micro Devices X86-64"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(out.path()).expect("out").count(),
        0,
        "no package written"
    );
}

/// The package unpacked with `dpkg -x` (files only, no scripts run).
fn unpacked() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package-root");
        let _ = std::fs::remove_dir_all(&root);
        run(Command::new("dpkg-deb").arg("-x").arg(package()).arg(&root));
        root
    })
}

/// The package's control files (`control`, `conffiles`, the maintainer
/// scripts) in a fresh folder.
fn control_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(package())
        .arg(dir.path().join("DEBIAN")));
    dir
}

#[test]
fn the_package_holds_the_fixed_layout_owned_by_root() {
    let listing = stdout(&run(Command::new("dpkg-deb")
        .arg("--contents")
        .arg(package())));
    // `-rwxr-xr-x root/root 19370472 2026-12-07 14:35 ./usr/bin/echostream`
    let mut files = BTreeMap::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 6, "{line}");
        assert_eq!(fields[1], "root/root", "every file is root's: {line}");
        if !fields[0].starts_with('d') {
            files.insert(fields[5].trim_start_matches('.'), fields[0]);
        }
    }
    let expected = BTreeMap::from([
        ("/etc/echostream/config.json", "-rw-r-----"),
        ("/lib/systemd/system/echostream.service", "-rw-r--r--"),
        ("/lib/udev/rules.d/60-echostream-gpio.rules", "-rw-r--r--"),
        ("/usr/bin/echostream", "-rwxr-xr-x"),
        ("/usr/bin/echostream-relay", "-rwxr-xr-x"),
        ("/usr/share/doc/echostream/changelog.gz", "-rw-r--r--"),
        ("/usr/share/doc/echostream/copyright", "-rw-r--r--"),
        (
            "/usr/share/doc/echostream/examples/85-echostream-sound.rules",
            "-rw-r--r--",
        ),
    ]);
    assert_eq!(files, expected, "{listing}");
}

#[test]
fn the_control_file_names_the_version_and_the_libraries_the_binaries_link() {
    let dir = control_files();
    let control = std::fs::read_to_string(dir.path().join("DEBIAN/control")).expect("control");
    let field = |name: &str| {
        control
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{control}"))
            .to_owned()
    };
    assert_eq!(field("Package"), "echostream");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field("Architecture"), "amd64");
    let depends = field("Depends");
    // adduser for postinst; the rest from dpkg-shlibdeps, with versions.
    for library in ["adduser", "libasound2 (>= ", "libc6 (>= ", "libssl3 (>= "] {
        assert!(depends.contains(library), "{library} in {depends}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("DEBIAN/conffiles")).expect("conffiles"),
        "/etc/echostream/config.json\n",
        "an upgrade never overwrites the admin's config"
    );
    // Every file as packaged, by its md5sums line (what `dpkg --verify` uses).
    run(Command::new("md5sum")
        .args(["--check", "--quiet"])
        .arg(dir.path().join("DEBIAN/md5sums"))
        .current_dir(unpacked()));
}

#[test]
fn the_packaged_config_passes_check_config_and_keeps_all_state_under_var_lib() {
    let root = unpacked();
    let config = root.join("etc/echostream/config.json");
    let output = run(Command::new(root.join("usr/bin/echostream"))
        .arg("check-config")
        .arg(&config));
    let out = stdout(&output);
    assert_eq!(out.lines().next(), Some("ok"), "{out}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "",
        "the packaged config draws no warning"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("config")).expect("JSON");
    // ProtectSystem=strict leaves only /var/lib/echostream writable.
    for pointer in [
        "/recordings/dir",
        "/recordings/spool_dir",
        "/outbox/dir",
        "/events_file",
    ] {
        let path = json.pointer(pointer).and_then(|v| v.as_str());
        assert!(
            path.is_some_and(|p| p.starts_with("/var/lib/echostream/")),
            "{pointer} is {path:?}, not under /var/lib/echostream"
        );
    }
}

#[test]
fn the_packaged_binaries_are_stripped_and_run() {
    let root = unpacked();
    for bin in ["echostream", "echostream-relay"] {
        let path = root.join("usr/bin").join(bin);
        let sections = stdout(&run(Command::new("readelf").arg("-S").arg(&path)));
        for section in [".symtab", ".debug_info", ".debug_line"] {
            assert!(!sections.contains(section), "{bin} still has {section}");
        }
        let version = stdout(&run(Command::new(&path).arg("--version")));
        assert_eq!(
            version.trim(),
            format!("{bin} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

/// The unit as `(section, key) → values`, in file order.
fn unit_keys(text: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut keys: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').expect("key=value");
        keys.entry((section.clone(), key.to_owned()))
            .or_default()
            .push(value.to_owned());
    }
    keys
}

#[test]
fn the_unit_runs_the_node_as_echostream_under_a_watchdog_and_unkeys_ptt_after_every_stop() {
    let root = unpacked();
    let unit_path = root.join("lib/systemd/system/echostream.service");
    let keys = unit_keys(&std::fs::read_to_string(&unit_path).expect("the unit"));
    let config = "--config /etc/echostream/config.json";
    for (section, key, value) in [
        ("Unit", "Wants", "network-online.target".to_owned()),
        (
            "Unit",
            "After",
            "network-online.target sound.target".to_owned(),
        ),
        ("Unit", "StartLimitIntervalSec", "0".to_owned()),
        ("Service", "Type", "notify".to_owned()),
        ("Service", "NotifyAccess", "main".to_owned()),
        ("Service", "WatchdogSec", "10".to_owned()),
        (
            "Service",
            "ExecStart",
            format!("/usr/bin/echostream run {config}"),
        ),
        (
            "Service",
            "ExecStopPost",
            format!("/usr/bin/echostream ptt-off {config}"),
        ),
        ("Service", "Restart", "always".to_owned()),
        ("Service", "RestartSec", "2".to_owned()),
        // `run` exits 2 on a bad config: stop, do not loop.
        ("Service", "RestartPreventExitStatus", "2".to_owned()),
        ("Service", "User", "echostream".to_owned()),
        ("Service", "Group", "echostream".to_owned()),
        ("Service", "SupplementaryGroups", "audio gpio".to_owned()),
        ("Service", "LimitRTPRIO", "95".to_owned()),
        ("Service", "LimitMEMLOCK", "infinity".to_owned()),
        ("Service", "StateDirectory", "echostream".to_owned()),
        (
            "Service",
            "WorkingDirectory",
            "/var/lib/echostream".to_owned(),
        ),
        ("Service", "ProtectSystem", "strict".to_owned()),
        (
            "Service",
            "ReadWritePaths",
            "/var/lib/echostream".to_owned(),
        ),
        ("Service", "ProtectHome", "yes".to_owned()),
        ("Service", "PrivateTmp", "yes".to_owned()),
        ("Service", "NoNewPrivileges", "yes".to_owned()),
        ("Install", "WantedBy", "multi-user.target".to_owned()),
    ] {
        let found = keys.get(&(section.to_owned(), key.to_owned()));
        assert_eq!(
            found,
            Some(&vec![value.clone()]),
            "[{section}] {key}={value}"
        );
    }
    // Each of these hides /dev/snd or /dev/gpiochip* or forbids SCHED_FIFO.
    for key in [
        "PrivateDevices",
        "ProtectClock",
        "DevicePolicy",
        "DeviceAllow",
        "RestrictRealtime",
    ] {
        assert!(
            !keys.contains_key(&("Service".to_owned(), key.to_owned())),
            "{key} would cut the node off its sound cards, GPIO or realtime priority"
        );
    }

    // systemd's own reading, in a root holding the package and this
    // machine's units (the targets the unit names). It needs no running
    // systemd; it checks every key and that both commands exist there.
    let verify_root = tempfile::tempdir().expect("temp dir");
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(package())
        .arg(verify_root.path()));
    run(Command::new("cp")
        .args(["-a", "--no-clobber", "/lib/systemd/system/."])
        .arg(verify_root.path().join("lib/systemd/system")));
    let output = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", verify_root.path().display()))
        .arg("echostream.service"));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "",
        "systemd-analyze verify has no complaint"
    );
}

#[test]
fn the_udev_rules_are_the_ones_echostream_devices_advises_and_gpio_for_the_gpio_group() {
    let root = unpacked();
    let example = std::fs::read_to_string(
        root.join("usr/share/doc/echostream/examples/85-echostream-sound.rules"),
    )
    .expect("the sound example");
    let rules: Vec<&str> = example
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(rules.len(), 2, "{example}");
    for rule in rules {
        assert!(
            echostream::audio::devices::ADVICE.contains(rule),
            "`echostream devices` advises the example's rule {rule}"
        );
    }
    let gpio = std::fs::read_to_string(root.join("lib/udev/rules.d/60-echostream-gpio.rules"))
        .expect("the gpio rule");
    let rules: Vec<&str> = gpio.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        rules,
        [r#"SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660""#]
    );
}

#[test]
fn the_maintainer_scripts_parse_and_never_start_the_service_or_delete_recordings() {
    let dir = control_files();
    for script in ["postinst", "prerm", "postrm"] {
        let path = dir.path().join("DEBIAN").join(script);
        run(Command::new("sh").arg("-n").arg(&path));
        let text = std::fs::read_to_string(&path).expect("script");
        assert!(text.starts_with("#!/bin/sh\n"), "{script}");
        let commands: Vec<&str> = text
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with("systemctl") || l.starts_with("udevadm"))
            .collect();
        for command in commands {
            // Starting a node before its config names the radios could
            // key the wrong transmitter (try-restart only restarts a
            // node the admin started).
            for forbidden in [" enable", " start", " restart"] {
                assert!(!command.contains(forbidden), "{script}: {command}");
            }
            // A missing systemd or udev never fails the install.
            assert!(
                command.ends_with("|| true"),
                "{script}: `{command}` may fail"
            );
        }
        for (tool, guard) in [
            ("systemctl", "[ -d /run/systemd/system ]"),
            ("udevadm", "[ -d /run/udev ]"),
        ] {
            if text.contains(tool) {
                assert!(text.contains(guard), "{script} guards {tool} with {guard}");
            }
        }
    }
    let postrm = std::fs::read_to_string(dir.path().join("DEBIAN/postrm")).expect("postrm");
    for line in postrm.lines().map(str::trim_start) {
        assert!(
            !(line.starts_with("rm ") && line.contains("/var/lib/echostream")),
            "purge keeps /var/lib/echostream: {line}"
        );
    }
}

/// Run as root inside the throwaway root (see below): install, reinstall
/// over an edited config, remove, purge; prints what an admin would look
/// at after each.
const INSTALL_SCRIPT: &str = r#"set -eu
deb=/tmp/echostream.deb
# A machine that has the package already: start from none.
dpkg --purge echostream >/dev/null 2>&1 || true
echo "== install"
dpkg -i "$deb"
echo "== facts"
echo "home and shell: $(getent passwd echostream | cut -d: -f6,7)"
echo "groups: $(id -nG echostream)"
echo "state: $(stat -c '%U:%G %a' /var/lib/echostream)"
echo "config: $(stat -c '%U:%G %a' /etc/echostream/config.json)"
echo "enabled: $(test -e /etc/systemd/system/multi-user.target.wants/echostream.service && echo yes || echo no)"
echo "== check-config as echostream"
runuser -u echostream -- echostream check-config /etc/echostream/config.json
echo "== reinstall"
sed -i 's/"node_id": "station-12"/"node_id": "station-99"/' /etc/echostream/config.json
dpkg -i "$deb"
echo "after reinstall: $(grep -o '"node_id": "[^"]*"' /etc/echostream/config.json)"
echo "== remove"
mkdir -p /var/lib/echostream/recordings
echo page > /var/lib/echostream/recordings/page.opus
dpkg -r echostream
echo "after remove: node $(test -e /usr/bin/echostream && echo present || echo gone), config $(test -e /etc/echostream/config.json && echo kept || echo gone)"
echo "== purge"
dpkg -P echostream
echo "after purge: /etc/echostream $(test -e /etc/echostream && echo kept || echo gone), recording $(cat /var/lib/echostream/recordings/page.opus), user $(getent passwd echostream >/dev/null && echo kept || echo gone)"
"#;

/// Mounts an overlay of this machine's `/` (writes go to a tmpfs) in a
/// mount namespace of its own, and runs the script there under chroot:
/// a real `dpkg -i` with real adduser and maintainer scripts, whose every
/// change vanishes when the namespace does. The package's dependencies are
/// met by the host's own (dpkg's database is the host's, copied on write).
const THROWAWAY_ROOT: &str = r#"set -eu
base=$1
mount -t tmpfs tmpfs "$base"
mkdir "$base/upper" "$base/work" "$base/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
mount -t proc proc "$base/root/proc"
mount --rbind /dev "$base/root/dev"
cp "$2" "$base/root/tmp/echostream.deb"
cp "$3" "$base/root/tmp/install-test.sh"
exec chroot "$base/root" sh /tmp/install-test.sh
"#;

fn is_root() -> bool {
    let output = run(Command::new("id").arg("-u"));
    stdout(&output).trim() == "0"
}

#[test]
fn a_real_install_makes_the_user_and_state_folder_and_purge_keeps_the_recordings() {
    // A check that cannot run is a failure, not a pass: CI runs as root.
    assert!(
        is_root(),
        "the real install needs root (a mount namespace and chroot): run the tests as root"
    );
    let deb = package();
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("install-test.sh");
    std::fs::write(&script, INSTALL_SCRIPT).expect("write script");
    let base = dir.path().join("mnt");
    std::fs::create_dir(&base).expect("mount point");
    let started = std::time::Instant::now();
    let output = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(THROWAWAY_ROOT)
        .arg("sh")
        .arg(&base)
        .arg(deb)
        .arg(&script)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C"));
    eprintln!(
        "install, reinstall, remove, purge took {:?}",
        started.elapsed()
    );
    let out = stdout(&output);
    let section = |name: &str| {
        let start = out
            .find(&format!("== {name}\n"))
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"));
        let rest = &out[start + name.len() + 4..];
        rest[..rest.find("\n== ").unwrap_or(rest.len())].to_owned()
    };

    let install = section("install");
    assert!(
        install.contains("its service is not enabled or started")
            && install.contains("systemctl enable --now echostream"),
        "the admin is told to edit the config, then enable:\n{install}"
    );
    let facts = section("facts");
    for fact in [
        "home and shell: /var/lib/echostream:/usr/sbin/nologin",
        "state: echostream:echostream 750",
        "config: root:echostream 640",
        "enabled: no",
    ] {
        assert!(facts.lines().any(|l| l == fact), "{fact} in:\n{facts}");
    }
    let groups = facts
        .lines()
        .find_map(|l| l.strip_prefix("groups: "))
        .expect("groups");
    let mut groups: Vec<&str> = groups.split(' ').collect();
    groups.sort_unstable();
    assert_eq!(groups, ["audio", "echostream", "gpio"]);

    let check = section("check-config as echostream");
    assert_eq!(check.lines().next(), Some("ok"), "{check}");

    let reinstall = section("reinstall");
    assert!(
        reinstall.contains(r#"after reinstall: "node_id": "station-99""#),
        "the admin's edit survives:\n{reinstall}"
    );
    assert!(
        !reinstall.contains("not enabled or started"),
        "told once, on the first install:\n{reinstall}"
    );
    let remove = section("remove");
    assert!(
        remove.contains("after remove: node gone, config kept"),
        "{remove}"
    );
    let purge = section("purge");
    assert!(
        purge.contains("after purge: /etc/echostream gone, recording page, user kept"),
        "{purge}"
    );
    assert!(
        purge.contains("kept /var/lib/echostream"),
        "purge says where the recordings stay:\n{purge}"
    );
}
