//! The end-to-end driver's command line: help and bad flags answer at
//! once, before anything is built (no root, no namespaces needed).

use std::process::Command;

fn e2e(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_v2xd-e2e"))
        .args(args)
        .output()
        .expect("run v2xd-e2e")
}

#[test]
fn help_prints_the_usage_and_exits() {
    let out = e2e(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Usage: v2xd-e2e"), "{text}");
    for flag in [
        "--duration",
        "--probe",
        "--paths",
        "--peers",
        "--security-only",
        "--report",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

#[test]
fn bad_flags_are_refused_with_a_reason() {
    for (args, says) in [
        (
            &["--duration", "five"][..],
            "invalid value 'five' for '--duration",
        ),
        (&["--hops", "2"][..], "--probe"),
        (&["--peers", "--security-only"][..], "cannot be used with"),
        (
            &["--no-such-flag"][..],
            "unexpected argument '--no-such-flag'",
        ),
    ] {
        let out = e2e(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
