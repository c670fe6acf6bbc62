//! Running commands on the host and inside namespaces.

use std::process::Command;

#[derive(Debug, Clone)]
pub struct CmdOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command, panicking with its stderr if it fails.
pub fn run(args: &[&str]) -> CmdOutput {
    let out = output(args);
    assert_eq!(out.status, 0, "`{}` failed: {}", args.join(" "), out.stderr);
    out
}

/// Runs a command and returns its output whatever the exit code.
pub fn output(args: &[&str]) -> CmdOutput {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", args[0]));
    CmdOutput {
        status: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs a command in namespace `ns`, panicking if it fails.
pub fn ns_exec(ns: &str, args: &[&str]) -> CmdOutput {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    run(&v)
}

/// Runs a command in namespace `ns`, whatever its exit code.
pub fn ns_output(ns: &str, args: &[&str]) -> CmdOutput {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    output(&v)
}

/// Moves the calling thread into network namespace `ns`.
pub fn enter_netns(ns: &str) -> crate::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(format!("/run/netns/{ns}"))
        .map_err(crate::Error::io(format!("netns {ns}")))?;
    // SAFETY: setns on a valid namespace fd affects only the calling thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(crate::Error::last_os(format!("setns {ns}")));
    }
    Ok(())
}
