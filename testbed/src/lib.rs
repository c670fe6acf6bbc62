//! A network-namespace testbed for v2xd.
//!
//! One "air" namespace holds a bridge; each node gets its own namespace
//! whose radio (`radio0`) is a veth into that bridge. Who hears whom is an
//! nftables bridge-family set of blocked (in-port, out-port) pairs, so links
//! can be cut and restored at run time; random loss is a `numgen` rule.
//! Daemons run in their namespaces; real `ping`/`iperf3` drive traffic.
//! Everything is removed on drop, including when a test panics.

mod air;
pub mod chaos;
mod cmd;
mod daemons;
mod error;
mod node_api;
pub mod road;
mod scratch_netns;
pub mod stream;
mod topology;
mod traffic;

pub use air::mac_bytes;
pub use cmd::{enter_netns, ns_exec, ns_output, output, run, CmdOutput};
pub use config_file::SecurityMode;
pub use daemons::own_process_group;
pub use error::{Error, Result};
pub use scratch_netns::ScratchNetns;
pub use topology::{NodeSpec, Role, Topology};
pub use traffic::{
    epoch_now, iso_secs, longest_gap, reply_times, tcp_transfer_between, PingResult,
};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Whether the testbed can run here: root, `ip`, `nft` and /dev/net/tun.
pub fn available() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::Unavailable(
            "needs root (network namespaces, raw sockets, TUN)".into(),
        ));
    }
    for tool in ["ip", "nft"] {
        if which(tool).is_none() {
            return Err(Error::Unavailable(format!(
                "`{tool}` not installed (apt-get install iproute2 nftables)"
            )));
        }
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err(Error::Unavailable("/dev/net/tun missing".into()));
    }
    Ok(())
}

/// Skips the calling test (returning from it) with a clear message when the
/// testbed cannot run here.
#[macro_export]
macro_rules! require_testbed {
    () => {
        if let Err(why) = $crate::available() {
            eprintln!("SKIPPED {}: {why}", module_path!());
            return;
        }
    };
}

pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.exists())
}

/// Directory holding the `obu` and `rsu` binaries: `$V2XD_BIN_DIR`, or the
/// cargo target directory this test binary was built into.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("V2XD_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

fn daemon_binary(role: Role, dir: Option<&Path>) -> PathBuf {
    let p = dir
        .map_or_else(bin_dir, Path::to_path_buf)
        .join(role.binary());
    assert!(
        p.exists(),
        "{} not found; build it first (cargo build --bins) or set V2XD_BIN_DIR",
        p.display()
    );
    p
}

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// Longest a daemon may take from its start to answering its API (a debug
/// build on a loaded 2-core machine takes well under a second).
pub const START_WAIT: Duration = Duration::from_secs(20);
/// Where the generated configs put each daemon's API (in its namespace).
pub const API_ADDR: &str = "127.0.0.1:9100";
/// How long an API read waits for a daemon that refuses connections (it
/// is restarting) before it fails.
pub const API_RETRY: Duration = Duration::from_secs(5);

/// A running node: its namespace and, once started, its daemon.
pub struct Node {
    pub name: String,
    pub role: Role,
    pub ns: String,
    /// Air-side veth name (used by link-cut rules).
    pub port: String,
    pub mac: String,
    pub addr4: String,
    pub addr6: String,
    pub config: PathBuf,
    /// Where this node's daemon binary comes from ([`NodeOptions::bin_dir`]).
    bin_dir: Option<PathBuf>,
    daemon: Option<Child>,
    log: PathBuf,
}

impl Node {
    pub fn is_running(&mut self) -> bool {
        matches!(self.daemon.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

pub struct Testbed {
    /// Short unique tag in every name this testbed creates.
    pub tag: String,
    pub air: String,
    pub nodes: Vec<Node>,
    pub dir: PathBuf,
    extra: Vec<Child>,
    /// Security on: each node's public key (made by the daemon's `keygen`).
    pub keys: Vec<String>,
    /// Nodes whose keys nobody trusts (rogue RSUs / OBUs).
    pub distrusted: Vec<usize>,
    /// Daemons and helpers run in process groups of their own, so that a
    /// Ctrl-C at the terminal reaches only the program driving the testbed,
    /// which then stops them in order (the lab). Off for tests.
    pub own_process_groups: bool,
}

/// Options for the node configs.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub beacon_interval_ms: u64,
    pub neighbor_timeout_ms: Option<u64>,
    pub batching: bool,
    pub max_batch: usize,
    pub aggregate: bool,
    pub offload: bool,
    pub broadcast_ttl: u8,
    pub max_hops: u8,
    pub log_level: String,
    /// `[security] mode`; `None`: off.
    pub security: Option<config_file::SecurityMode>,
    /// Extra TOML lines inside `[security]` (e.g. rekey limits).
    pub security_extra: String,
    /// Extra TOML lines inside `[dataplane]`.
    pub dataplane: String,
    /// Binds node `i`'s data plane to CPU `i` modulo the CPU count
    /// (`[dataplane] cpu`), as if each node had a core of its own.
    pub pin_cpus: bool,
    /// Extra TOML appended to every config.
    pub extra: String,
    /// TUN addresses as host routes (/32, /128) instead of /16, /64: no
    /// subnet route on the TUN (an RSU behind a backbone).
    pub tun_host_addresses: bool,
    /// `[tun] routes`.
    pub tun_routes: Vec<String>,
    /// Extra TOML lines inside `[routing]`.
    pub routing_extra: String,
    /// The directory of the `obu` and `rsu` binaries to run, when not
    /// [`bin_dir`] (another build beside this one, to compare the two).
    pub bin_dir: Option<PathBuf>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            beacon_interval_ms: 100,
            neighbor_timeout_ms: None,
            batching: true,
            max_batch: 64,
            aggregate: true,
            offload: true,
            broadcast_ttl: 1,
            max_hops: 8,
            log_level: "info".into(),
            security: None,
            security_extra: String::new(),
            dataplane: String::new(),
            pin_cpus: false,
            extra: String::new(),
            tun_host_addresses: false,
            tun_routes: Vec::new(),
            routing_extra: String::new(),
            bin_dir: None,
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        for c in &mut self.extra {
            let _ = c.kill();
            let _ = c.wait();
        }
        // SIGTERM to every daemon first, then wait for each: they shut
        // down side by side.
        for n in &self.nodes {
            if let Some(c) = &n.daemon {
                // SAFETY: sends a signal to our own child's pid.
                unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            }
        }
        for i in 0..self.nodes.len() {
            self.stop(i);
        }
        for n in &self.nodes {
            let _ = Command::new("ip").args(["netns", "del", &n.ns]).status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.air])
            .status();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("testbed {}: logs kept in {}", self.tag, self.dir.display());
        }
    }
}
