//! A throwaway network namespace for tests and benches that need only a
//! veth pair or loopback, not a whole testbed. Removed on drop, also when
//! the test fails.

use crate::cmd::{enter_netns, run};

pub struct ScratchNetns {
    name: String,
}

impl ScratchNetns {
    /// Creates namespace `<prefix><pid>` (a stale one of that name is
    /// removed first) with loopback up. `None`, after printing that the
    /// caller is skipped, when not running as root.
    pub fn new(prefix: &str) -> Option<ScratchNetns> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: needs root for a network namespace");
            return None;
        }
        let name = format!("{prefix}{}", std::process::id());
        let _ = crate::cmd::output(&["ip", "netns", "del", &name]);
        run(&["ip", "netns", "add", &name]);
        let ns = ScratchNetns { name };
        run(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        Some(ns)
    }

    /// Like `new`, plus a veth pair `a`/`b`, both up.
    pub fn with_veth(prefix: &str, a: &str, b: &str) -> Option<ScratchNetns> {
        let ns = ScratchNetns::new(prefix)?;
        run(&[
            "ip", "-n", &ns.name, "link", "add", a, "type", "veth", "peer", "name", b,
        ]);
        run(&["ip", "-n", &ns.name, "link", "set", a, "up"]);
        run(&["ip", "-n", &ns.name, "link", "set", b, "up"]);
        Some(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves the calling thread into the namespace.
    pub fn enter(&self) {
        enter_netns(&self.name).expect("enter the scratch namespace");
    }
}

impl Drop for ScratchNetns {
    fn drop(&mut self) {
        let _ = crate::cmd::output(&["ip", "netns", "del", &self.name]);
    }
}
