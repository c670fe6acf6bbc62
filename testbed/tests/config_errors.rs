//! The binaries' configuration contract: --check-config, exit 78 with the
//! key named, clear errors for a missing interface and a too-large MTU.

use std::process::Command;
use testbed::{bin_dir, require_testbed, NodeOptions, Testbed, Topology};

fn check(bin: &str, toml: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("v2xd-cfg-{}-{}", std::process::id(), toml.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{bin}.toml"));
    std::fs::write(&p, toml).unwrap();
    let out = Command::new(bin_dir().join(bin))
        .arg("--config")
        .arg(&p)
        .arg("--check-config")
        .output()
        .expect("run binary");
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

const GOOD: &str =
    "[link]\ninterface = \"wlan0\"\n[tun]\nname = \"v2x0\"\naddresses = [\"10.42.0.2/24\"]\n";

#[test]
fn check_config_accepts_the_shipped_examples() {
    // The examples use encrypted mode: give them real key files and keys
    // in place of their placeholders; every other line is checked as is.
    let dir = std::env::temp_dir().join(format!("v2xd-examples-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (bin, file, placeholder) in [
        (
            "obu",
            "obu.toml",
            "REPLACE-WITH-RSU-PUBLIC-KEY-64-HEX-DIGITS-000000000000000000000000",
        ),
        (
            "rsu",
            "rsu.toml",
            "REPLACE-WITH-OBU-PUBLIC-KEY-64-HEX-DIGITS-000000000000000000000000",
        ),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("mode = \"encrypted\""),
            "{file} ships encrypted"
        );
        let key = dir.join(format!("{bin}.key"));
        let out = Command::new(bin_dir().join(bin))
            .arg("keygen")
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success());
        let public = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let text = text
            .replace(&format!("/etc/v2xd/{bin}.key"), key.to_str().unwrap())
            .replace(placeholder, &public);
        let local = dir.join(file);
        std::fs::write(&local, text).unwrap();
        let out = Command::new(bin_dir().join(bin))
            .arg("--config")
            .arg(&local)
            .arg("--check-config")
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Unchanged, the placeholder is refused with the key named.
        let out = Command::new(bin_dir().join(bin))
            .arg("--config")
            .arg(&path)
            .arg("--check-config")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(78));
        assert!(String::from_utf8_lossy(&out.stderr).contains("security."));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_values_and_unknown_keys_exit_78_naming_the_key() {
    assert_eq!(check("obu", GOOD).0, 0);
    for (extra, needle) in [
        (
            "[routing]\nbeacon_interval_ms = 1\n",
            "routing.beacon_interval_ms",
        ),
        ("[routing]\nmax_hops = 99\n", "routing.max_hops"),
        ("[batching]\nmax_batch = 5000\n", "batching.max_batch"),
        ("[routing]\nno_such_key = 1\n", "no_such_key"),
        ("[tun]\n", "duplicate"),
    ] {
        for bin in ["obu", "rsu"] {
            let (code, msg) = check(bin, &format!("{GOOD}{extra}"));
            assert_eq!(code, 78, "{bin} {extra:?}: {msg}");
            assert!(
                msg.contains(needle),
                "{bin} {extra:?}: message does not name `{needle}`: {msg}"
            );
        }
    }
    let (code, msg) = check("rsu", "[link]\ninterface = \"x\"\n");
    assert_eq!(code, 78);
    assert!(msg.contains("tun"), "{msg}");
}

#[test]
fn missing_interface_and_oversized_mtu_are_clear_errors() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::star(1));
    // Interface that does not exist.
    let opts = NodeOptions::default();
    let p = tb.write_config(1, &opts);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("interface = \"radio0\"", "interface = \"nosuch0\"");
    std::fs::write(&p, text).unwrap();
    let out = testbed::ns_output(
        &tb.nodes[1].ns,
        &[
            bin_dir().join("obu").to_str().unwrap(),
            "--config",
            p.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status, 69, "{out:?}");
    assert!(
        out.stderr.contains("nosuch0") && out.stderr.contains("does not exist"),
        "{}",
        out.stderr
    );
    // TUN MTU that does not fit the link MTU (1500).
    let p = tb.write_config(
        0,
        &NodeOptions {
            extra: String::new(),
            ..opts
        },
    );
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("name = \"v2x0\"", "name = \"v2x0\"\nmtu = 1500");
    std::fs::write(&p, text).unwrap();
    let out = testbed::ns_output(
        &tb.nodes[0].ns,
        &[
            bin_dir().join("rsu").to_str().unwrap(),
            "--config",
            p.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status, 78, "{out:?}");
    assert!(
        out.stderr.contains("tun.mtu")
            && out.stderr.contains("1500")
            && out.stderr.contains("1518"),
        "{}",
        out.stderr
    );
    tb.start(1, &NodeOptions::default());
    assert!(tb.nodes[1].is_running());
}

/// Under systemd the key comes from the credentials directory
/// (`LoadCredential=obu.key:/etc/v2xd/obu.key`): the daemon reads the copy
/// there, by the configured file's name, before the configured path.
#[test]
fn the_key_is_read_from_the_credentials_directory_when_there() {
    let dir = std::env::temp_dir().join(format!("v2xd-cred-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rsu_key = dir.join("rsu.key");
    let out = Command::new(bin_dir().join("rsu"))
        .arg("keygen")
        .arg(&rsu_key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let rsu_pub = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let creds = dir.join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    let out = Command::new(bin_dir().join("obu"))
        .arg("keygen")
        .arg(creds.join("obu.key"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let toml = format!(
        "{GOOD}[security]\nmode = \"encrypted\"\nkey_file = \"/nonexistent/v2xd/obu.key\"\ntrusted_rsus = [\"{rsu_pub}\"]\n"
    );
    let cfg = dir.join("obu.toml");
    std::fs::write(&cfg, toml).unwrap();
    let run = |creds: Option<&std::path::Path>| {
        let mut c = Command::new(bin_dir().join("obu"));
        c.arg("--config").arg(&cfg).arg("--check-config");
        c.env_remove("CREDENTIALS_DIRECTORY");
        if let Some(d) = creds {
            c.env("CREDENTIALS_DIRECTORY", d);
        }
        c.output().unwrap()
    };
    let without = run(None);
    assert_eq!(without.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&without.stderr).contains("make this node's key first"));
    let with = run(Some(&creds));
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--check-config` says what it found of the radio: a wired or virtual
/// interface needs no set-up, a missing one is a warning (it may appear
/// before the daemon starts), and neither fails the check.
#[test]
fn check_config_reports_the_radio() {
    let (code, out) = check("obu", &GOOD.replace("wlan0", "lo"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("radio `lo`: not a wireless device"), "{out}");
    let (code, out) = check("rsu", &GOOD.replace("wlan0", "v2xdnone0"));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: radio `v2xdnone0`: no such interface")
            && out.contains("v2xd-ocb-up v2xdnone0"),
        "{out}"
    );
}
