//! The 802.11p radio's set-up as shipped: `config/v2xd-ocb-up` (installed
//! as /usr/sbin/v2xd-ocb-up) and its unit `v2xd-ocb@.service`. No radio
//! here, so the script runs dry (`V2XD_OCB_DRY_RUN=1`: the commands it
//! would run) and its refusals are checked for real; `--check-config`'s
//! reading of `iw` is `node_lib::radio_check`'s unit tests.

use std::path::{Path, PathBuf};
use std::process::Command;

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// Runs the script on `iface` with `env`; (exit code, stdout, stderr).
fn ocb_up(iface: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new("sh");
    c.arg(config_dir().join("v2xd-ocb-up")).arg(iface);
    for k in [
        "V2XD_OCB_FREQ_MHZ",
        "V2XD_OCB_WIDTH",
        "V2XD_OCB_REGDOM",
        "V2XD_OCB_MTU",
    ] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    let out = c.output().expect("sh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_radio_is_put_in_ocb_mode_on_an_its_channel() {
    let dry = ("V2XD_OCB_DRY_RUN", "1");
    let (code, out, err) = ocb_up("wlan0", &[dry]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "ip link set dev wlan0 down",
            "iw dev wlan0 set type ocb",
            "ip link set dev wlan0 mtu 1500",
            "ip link set dev wlan0 up",
            "iw dev wlan0 ocb join 5900 10MHZ",
        ]
    );
    let (code, out, err) = ocb_up(
        "wlp1s0",
        &[
            dry,
            ("V2XD_OCB_FREQ_MHZ", "5890"),
            ("V2XD_OCB_REGDOM", "DE"),
            ("V2XD_OCB_MTU", "2000"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("iw reg set DE\n"), "{out}");
    assert!(
        out.contains("mtu 2000") && out.ends_with("ocb join 5890 10MHZ\n"),
        "{out}"
    );
}

#[test]
fn bad_settings_are_refused_before_anything_is_touched() {
    for (env, says) in [
        (
            ("V2XD_OCB_FREQ_MHZ", "2412"),
            "outside the 5.9 GHz ITS band",
        ),
        (("V2XD_OCB_FREQ_MHZ", "59oo"), "a frequency in MHz"),
        (("V2XD_OCB_WIDTH", "20MHZ"), "10MHZ (802.11p) or 5MHZ"),
        (("V2XD_OCB_REGDOM", "germany"), "two capital letters"),
        (("V2XD_OCB_MTU", "600"), "outside 1280..9000"),
    ] {
        // Not dry: a refusal must come before any command runs.
        let (code, out, err) = ocb_up("wlan0", &[env]);
        assert_eq!(code, 2, "{env:?}: {out}{err}");
        assert!(err.contains(says), "{env:?}: {err}");
        assert!(out.is_empty(), "{env:?}: ran {out}");
    }
    for iface in ["", "-x", "a/b", "an-interface-name-too-long"] {
        let (code, _, err) = ocb_up(iface, &[("V2XD_OCB_DRY_RUN", "1")]);
        assert_eq!(code, 2, "{iface:?}: {err}");
    }
    // Not a radio: said plainly (or that `iw` is missing), exit 69.
    let (code, _, err) = ocb_up("lo", &[]);
    assert_eq!(code, 69, "{err}");
    assert!(
        err.contains("not a wireless device") || err.contains("iw is not installed"),
        "{err}"
    );
}

/// The unit runs the script where the package puts it, before the daemons,
/// and the package ships all three files.
#[test]
fn the_unit_and_the_package_agree() {
    let unit = std::fs::read_to_string(config_dir().join("v2xd-ocb@.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/sbin/v2xd-ocb-up %i"),
        "{unit}"
    );
    assert!(unit.contains("Before=obu.service rsu.service"), "{unit}");
    assert!(
        unit.contains("EnvironmentFile=-/etc/v2xd/ocb-%i.conf"),
        "{unit}"
    );
    let deb = std::fs::read_to_string(config_dir().join("../packaging/Cargo.toml")).unwrap();
    for asset in [
        r#"["../config/v2xd-ocb-up", "usr/sbin/", "755"]"#,
        r#"["../config/v2xd-ocb@.service", "usr/lib/systemd/system/", "644"]"#,
        r#"["../config/ocb.conf", "usr/share/doc/v2xd/examples/", "644"]"#,
    ] {
        assert!(deb.contains(asset), "package lacks {asset}");
    }
    // The example settings are what the script reads, and valid.
    let conf = std::fs::read_to_string(config_dir().join("ocb.conf")).unwrap();
    let env: Vec<(String, String)> = conf
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.into(), v.into())))
        .collect();
    assert_eq!(env.len(), 4, "{conf}");
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("V2XD_OCB_DRY_RUN", "1"));
    let (code, _, err) = ocb_up("wlan0", &pairs);
    assert_eq!(code, 0, "{err}");
}
