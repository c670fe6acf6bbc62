//! A network-namespace testbed for v2xd.
//!
//! One "air" namespace holds a bridge; each node gets its own namespace
//! whose radio (`radio0`) is a veth into that bridge. Who hears whom is an
//! nftables bridge-family set of blocked (in-port, out-port) pairs, so links
//! can be cut and restored at run time; random loss is a `numgen` rule.
//! Daemons run in their namespaces; real `ping`/`iperf3` drive traffic.
//! Everything is removed on drop, including when a test panics.

pub mod chaos;
mod cmd;
mod mtu_frames;
pub mod road;
mod scratch_netns;
pub mod stream;
mod topology;

pub use cmd::{enter_netns, ns_exec, ns_output, output, run, CmdOutput};
pub use mtu_frames::MtuFrames;
pub use scratch_netns::ScratchNetns;
pub use topology::{NodeSpec, Role, Topology};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Whether the testbed can run here: root, `ip`, `nft` and /dev/net/tun.
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (network namespaces, raw sockets, TUN)".into());
    }
    for tool in ["ip", "nft"] {
        if which(tool).is_none() {
            return Err(format!(
                "`{tool}` not installed (apt-get install iproute2 nftables)"
            ));
        }
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err("/dev/net/tun missing".into());
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
    /// `[security] mode` ("authenticated" or "encrypted"); `None`: off.
    pub security: Option<String>,
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

impl Testbed {
    /// Builds the namespaces, bridge, veths and link rules of `topo`.
    /// Panics with the failing command if the system refuses.
    pub fn new(topo: &Topology) -> Testbed {
        let n = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{:x}{:x}", std::process::id() & 0xfff, n);
        Testbed::with_tag(topo, &tag)
    }

    /// [`Testbed::new`] with the caller's `tag` in every name (short: it is
    /// part of interface names of at most 15 bytes).
    pub fn with_tag(topo: &Topology, tag: &str) -> Testbed {
        let tag = tag.to_string();
        let n = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("v2xd-tb-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let air = format!("v2x{tag}air");
        let mut tb = Testbed {
            tag: tag.clone(),
            air: air.clone(),
            nodes: Vec::new(),
            dir,
            extra: Vec::new(),
            keys: Vec::new(),
            distrusted: Vec::new(),
            own_process_groups: false,
        };
        let _ = Command::new("ip")
            .args(["netns", "del", &air])
            .stderr(Stdio::null())
            .status();
        run(&["ip", "netns", "add", &air]);
        ns_exec(&air, &["ip", "link", "set", "lo", "up"]);
        // The air is a plain bridge: no iptables hooks on bridged frames
        // (br_netfilter may be loaded by the host; its sysctls are per netns).
        for k in ["iptables", "ip6tables", "arptables"] {
            let _ = ns_output(
                &air,
                &["sysctl", "-qw", &format!("net.bridge.bridge-nf-call-{k}=0")],
            );
        }
        ns_exec(&air, &["ip", "link", "add", "br0", "type", "bridge"]);
        ns_exec(&air, &["ip", "link", "set", "br0", "up"]);
        for (i, spec) in topo.nodes.iter().enumerate() {
            let ns = format!("v2x{tag}n{i}");
            let port = format!("a{tag}n{i}");
            let peer = format!("r{tag}n{i}");
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stderr(Stdio::null())
                .status();
            run(&["ip", "netns", "add", &ns]);
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            run(&[
                "ip", "-n", &air, "link", "add", &port, "master", "br0", "up", "type", "veth",
                "peer", "name", &peer, "netns", &ns,
            ]);
            let mac = format!(
                "02:00:00:{:02x}:{:02x}:{:02x}",
                (n & 0xff) as u8,
                (i >> 8) as u8,
                (i & 0xff) as u8
            );
            run(&[
                "ip", "-n", &ns, "link", "set", &peer, "name", "radio0", "address", &mac, "up",
            ]);
            let host = 1 + i;
            tb.nodes.push(Node {
                name: spec.name.clone(),
                role: spec.role,
                ns,
                port,
                mac,
                addr4: format!("10.42.{}.{}", host / 250, host % 250 + 1),
                addr6: format!("fd42::{:x}", host),
                config: PathBuf::new(),
                bin_dir: None,
                daemon: None,
                log: PathBuf::new(),
            });
        }
        // Link rules: a set of blocked (in, out) port pairs, and a loss rule.
        let nft = "table bridge v2x {\n  set blocked { type ifname . ifname; }\n  chain links {\n    type filter hook forward priority 0; policy accept;\n    iifname . oifname @blocked drop\n  }\n}\n";
        let path = tb.dir.join("air.nft");
        std::fs::write(&path, nft).expect("write nft");
        ns_exec(&air, &["nft", "-f", path.to_str().expect("utf8 path")]);
        for a in 0..topo.nodes.len() {
            for b in 0..topo.nodes.len() {
                if a != b && !topo.hears(a, b) {
                    tb.block_one_way(a, b);
                }
            }
        }
        tb
    }

    fn block_one_way(&self, from: usize, to: usize) {
        let elem = format!(
            "{{ \"{}\" . \"{}\" }}",
            self.nodes[from].port, self.nodes[to].port
        );
        ns_exec(
            &self.air,
            &["nft", "add", "element", "bridge", "v2x", "blocked", &elem],
        );
    }

    /// Deletes node `i`'s radio and creates it again (same names and MAC,
    /// new interface index), as a driver reload would.
    pub fn recreate_radio(&self, i: usize) {
        let n = &self.nodes[i];
        ns_exec(&n.ns, &["ip", "link", "del", "radio0"]);
        let peer = format!("r{}n{i}", self.tag);
        ns_exec(
            &self.air,
            &[
                "ip", "link", "add", &n.port, "type", "veth", "peer", "name", &peer,
            ],
        );
        ns_exec(&self.air, &["ip", "link", "set", &n.port, "master", "br0"]);
        ns_exec(&self.air, &["ip", "link", "set", &n.port, "up"]);
        ns_exec(&self.air, &["ip", "link", "set", &peer, "netns", &n.ns]);
        ns_exec(&n.ns, &["ip", "link", "set", &peer, "name", "radio0"]);
        ns_exec(&n.ns, &["ip", "link", "set", "radio0", "address", &n.mac]);
        ns_exec(&n.ns, &["ip", "link", "set", "radio0", "up"]);
    }

    /// Cuts the link between nodes `a` and `b` (both directions).
    pub fn cut(&self, a: usize, b: usize) {
        self.block_one_way(a, b);
        self.block_one_way(b, a);
    }

    /// Restores a link cut with [`Testbed::cut`].
    pub fn restore(&self, a: usize, b: usize) {
        for (x, y) in [(a, b), (b, a)] {
            let elem = format!(
                "{{ \"{}\" . \"{}\" }}",
                self.nodes[x].port, self.nodes[y].port
            );
            ns_exec(
                &self.air,
                &[
                    "nft", "delete", "element", "bridge", "v2x", "blocked", &elem,
                ],
            );
        }
    }

    /// Drops `percent`% of all frames crossing the air at random.
    pub fn set_loss(&self, percent: u32) {
        let _ = ns_output(
            &self.air,
            &["nft", "delete", "chain", "bridge", "v2x", "loss"],
        );
        if percent == 0 {
            return;
        }
        let rules = format!(
            "table bridge v2x {{\n  chain loss {{\n    type filter hook forward priority -10; policy accept;\n    numgen random mod 100 < {percent} drop\n  }}\n}}\n"
        );
        let path = self.dir.join("loss.nft");
        std::fs::write(&path, rules).expect("write nft");
        ns_exec(&self.air, &["nft", "-f", path.to_str().expect("utf8 path")]);
    }

    /// Makes every node's key pair once, with the daemons' own `keygen`.
    pub fn ensure_keys(&mut self) {
        if !self.keys.is_empty() {
            return;
        }
        for n in &self.nodes {
            let path = self.dir.join(format!("{}.key", n.name));
            let bin = daemon_binary(n.role, None);
            let out = Command::new(&bin)
                .arg("keygen")
                .arg(&path)
                .output()
                .expect("run keygen");
            assert!(
                out.status.success(),
                "keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            self.keys
                .push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
    }

    /// The `[security]` section for node `i`: OBUs trust every RSU key,
    /// RSUs allow every OBU key, except the distrusted nodes' keys.
    fn security_toml(&mut self, i: usize, mode: &str, extra: &str) -> String {
        self.ensure_keys();
        let list = |role: Role| -> String {
            self.nodes
                .iter()
                .enumerate()
                .filter(|(j, n)| n.role == role && !self.distrusted.contains(j))
                .map(|(j, _)| format!("\"{}\"", self.keys[j]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let key = self.dir.join(format!("{}.key", self.nodes[i].name));
        let trust = match self.nodes[i].role {
            Role::Obu => format!("trusted_rsus = [{}]", list(Role::Rsu)),
            Role::Rsu => format!("allowed_obus = [{}]", list(Role::Obu)),
        };
        format!(
            "\n[security]\nmode = \"{mode}\"\nkey_file = \"{}\"\n{trust}\n{extra}\n",
            key.display()
        )
    }

    /// Makes the air a hub: the bridge forgets MACs at once and floods every
    /// frame, as a radio channel would (so frames injected with another
    /// node's source MAC do not redirect the bridge's unicast forwarding).
    pub fn hub_mode(&self) {
        ns_exec(
            &self.air,
            &[
                "ip",
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "ageing_time",
                "0",
            ],
        );
    }

    /// Captures our frames (EtherType 0x88B5) seen on node `i`'s radio for
    /// `dur`, in a thread.
    pub fn capture(
        &self,
        i: usize,
        dur: Duration,
    ) -> std::thread::JoinHandle<Result<Vec<Vec<u8>>, String>> {
        let ns = self.nodes[i].ns.clone();
        std::thread::spawn(move || {
            cmd::enter_netns(&ns)?;
            let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
            // SAFETY: plain socket(2); closed below.
            let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto) };
            if fd < 0 {
                return Err(format!("socket: {}", std::io::Error::last_os_error()));
            }
            let name = std::ffi::CString::new("radio0").unwrap();
            // SAFETY: valid NUL-terminated name.
            let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
            // SAFETY: sockaddr_ll is plain old data.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = proto as u16;
            sll.sll_ifindex = idx as i32;
            // SAFETY: binds the fd to a valid address of the right size.
            let r = unsafe {
                libc::bind(
                    fd,
                    &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if r < 0 {
                // SAFETY: closes the fd opened above.
                unsafe { libc::close(fd) };
                return Err(format!("bind: {}", std::io::Error::last_os_error()));
            }
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 100_000,
            };
            // SAFETY: sets a receive timeout from a valid timeval.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    &tv as *const libc::timeval as *const libc::c_void,
                    std::mem::size_of::<libc::timeval>() as u32,
                )
            };
            let end = std::time::Instant::now() + dur;
            let mut frames = Vec::new();
            let mut buf = vec![0u8; 65536];
            while std::time::Instant::now() < end {
                // SAFETY: receives into a live buffer of the given length.
                let n =
                    unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
                if n >= 14 && buf[12..14] == [0x88, 0xb5] {
                    frames.push(buf[..n as usize].to_vec());
                }
            }
            // SAFETY: closes the fd opened above.
            unsafe { libc::close(fd) };
            Ok(frames)
        })
    }

    /// Writes node `i`'s config (TUN addresses from the addressing plan).
    pub fn write_config(&mut self, i: usize, opts: &NodeOptions) -> PathBuf {
        let security = match &opts.security {
            Some(mode) => self.security_toml(i, mode, &opts.security_extra),
            None => String::new(),
        };
        let n = &self.nodes[i];
        let timeout = opts
            .neighbor_timeout_ms
            .map(|t| format!("neighbor_timeout_ms = {t}\n"))
            .unwrap_or_default();
        let cpu = if opts.pin_cpus {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            format!("cpu = {}\n", i % cpus)
        } else {
            String::new()
        };
        let dataplane = if cpu.is_empty() && opts.dataplane.is_empty() {
            String::new()
        } else {
            format!("\n[dataplane]\n{cpu}{}\n", opts.dataplane)
        };
        let (len4, len6) = if opts.tun_host_addresses {
            (32, 128)
        } else {
            (16, 64)
        };
        let routes = if opts.tun_routes.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = opts.tun_routes.iter().map(|r| format!("\"{r}\"")).collect();
            format!("routes = [{}]\n", quoted.join(", "))
        };
        let text = format!(
            "# generated by the testbed\n[link]\ninterface = \"radio0\"\n\n[tun]\nname = \"v2x0\"\naddresses = [\"{}/{len4}\", \"{}/{len6}\"]\n{routes}offload = {}\n\n[routing]\nbeacon_interval_ms = {}\n{timeout}max_hops = {}\nbroadcast_ttl = {}\n{}\n\n[batching]\nenabled = {}\nmax_batch = {}\naggregate = {}\n\n[api]\nlisten = \"127.0.0.1:9100\"\n\n[log]\nlevel = \"{}\"\n{dataplane}{}\n{security}",
            n.addr4, n.addr6, opts.offload, opts.beacon_interval_ms, opts.max_hops, opts.broadcast_ttl, opts.routing_extra, opts.batching, opts.max_batch, opts.aggregate, opts.log_level, opts.extra
        );
        let path = self.dir.join(format!("{}.toml", n.name));
        std::fs::write(&path, text).expect("write config");
        self.nodes[i].config = path.clone();
        self.nodes[i].bin_dir = opts.bin_dir.clone();
        path
    }

    /// Starts node `i`'s daemon with `opts` (config written first).
    pub fn start(&mut self, i: usize, opts: &NodeOptions) {
        self.write_config(i, opts);
        self.start_with_env(i, &[]);
    }

    /// Starts node `i`'s daemon with its current config and extra environment.
    pub fn start_with_env(&mut self, i: usize, env: &[(&str, &str)]) {
        self.start_wrapped(i, env, &[]);
    }

    /// Starts node `i`'s daemon with its current config, extra environment,
    /// and `wrapper` (a command that execs its arguments, e.g. `setpriv
    /// ... --`) in front of the daemon binary, so the PID stays the daemon's.
    pub fn start_wrapped(&mut self, i: usize, env: &[(&str, &str)], wrapper: &[&str]) {
        self.spawn_daemon(i, env, wrapper);
        self.wait_started(i);
    }

    /// Starts node `i`'s daemon and returns at once, without waiting for
    /// it to answer (tests of start-up itself: a kill during start-up, a
    /// fault driver that watches for daemons that do not come up).
    fn spawn_daemon(&mut self, i: usize, env: &[(&str, &str)], wrapper: &[&str]) {
        let bin = daemon_binary(self.nodes[i].role, self.nodes[i].bin_dir.as_deref());
        let n = &mut self.nodes[i];
        let log = self.dir.join(format!("{}.log", n.name));
        let f = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &n.ns])
            .args(wrapper)
            .arg(&bin)
            .arg("--config")
            .arg(&n.config)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("dup"))
            .stderr(f);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if self.own_process_groups {
            own_process_group(&mut cmd);
        }
        n.daemon = Some(cmd.spawn().expect("spawn daemon"));
        n.log = log;
    }

    /// Waits until node `i`'s freshly started daemon answers its API, so
    /// that a caller's first read finds it listening. Panics, with the
    /// daemon's log, when it exits first or does not answer within
    /// [`START_WAIT`].
    fn wait_started(&mut self, i: usize) {
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Some(Ok(Some(status))) = self.nodes[i].daemon.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "{}: the daemon exited during start-up ({status}); log:\n{}",
                    self.nodes[i].name,
                    self.log(i)
                );
            }
            if matches!(self.api(i, "/healthz"), Ok((200, _))) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: the daemon's API did not answer within {START_WAIT:?} of its start; log:\n{}",
                    self.nodes[i].name,
                    self.log(i)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the daemons of `nodes`, each with its options, all at once,
    /// and returns when every one answers its API (a large lab starts in
    /// the time of its slowest daemon, not the sum of them all).
    pub fn start_many(&mut self, nodes: &[(usize, NodeOptions)]) {
        for (i, opts) in nodes {
            self.write_config(*i, opts);
            self.spawn_daemon(*i, &[], &[]);
        }
        for (i, _) in nodes {
            self.wait_started(*i);
        }
    }

    /// Starts every node with the same options.
    pub fn start_all(&mut self, opts: &NodeOptions) {
        for i in 0..self.nodes.len() {
            self.start(i, opts);
        }
    }

    /// Stops node `i`'s daemon with SIGTERM; returns its exit status code.
    pub fn stop(&mut self, i: usize) -> Option<i32> {
        let mut child = self.nodes[i].daemon.take()?;
        // SAFETY: sends a signal to our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills node `i`'s daemon with SIGKILL, as a crash would: it gets no
    /// chance to clean up. Returns once the process is gone.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i`'s daemon again with its current config (after
    /// [`Testbed::kill9`] or [`Testbed::stop`]); its earlier log is kept
    /// beside the new one.
    pub fn restart(&mut self, i: usize) {
        self.restart_nowait(i);
        self.wait_started(i);
    }

    /// [`Testbed::restart`] without waiting for the daemon to answer.
    pub fn restart_nowait(&mut self, i: usize) {
        let n = &self.nodes[i];
        if n.log.exists() {
            let mut old = std::fs::read(&n.log).unwrap_or_default();
            let keep = self.dir.join(format!("{}.old.log", n.name));
            let mut all = std::fs::read(&keep).unwrap_or_default();
            all.append(&mut old);
            let _ = std::fs::write(&keep, all);
        }
        self.spawn_daemon(i, &[], &[]);
    }

    /// PID of node `i`'s daemon (`ip netns exec` execs it in place).
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].daemon.as_ref().map(|c| c.id())
    }

    /// The daemon log of node `i`.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// The last `lines` lines of node `i`'s daemon log (for failure
    /// messages: a log under attack can be long).
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        let log = self.log(i);
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Runs `f` with a client of node `i`'s API, from a thread inside the
    /// node's namespace (the API listens on the namespace's loopback).
    pub fn with_api<T: Send + 'static>(
        &self,
        i: usize,
        f: impl FnOnce(&api::Client) -> T + Send + 'static,
    ) -> Result<T, String> {
        let ns = self.nodes[i].ns.clone();
        std::thread::spawn(move || {
            cmd::enter_netns(&ns)?;
            Ok(f(&api::Client::new(API_ADDR)))
        })
        .join()
        .map_err(|_| "API thread panicked".to_string())?
    }

    /// GET `path` from node `i`'s API: the status code and the body.
    pub fn api(&self, i: usize, path: &str) -> Result<(u16, String), String> {
        let path = path.to_string();
        self.with_api(i, move |c| c.get_raw(&path).map_err(|e| e.to_string()))?
    }

    /// POST a JSON `body` to `path` on node `i`'s API.
    pub fn api_post(&self, i: usize, path: &str, body: &str) -> Result<(u16, String), String> {
        let path = path.to_string();
        let body: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
        self.with_api(i, move |c| {
            c.post_raw(&path, &body).map_err(|e| e.to_string())
        })?
    }

    /// GET `path` from node `i`'s API as `T` (an answer's type, or
    /// `serde_json::Value`). A daemon that does not accept the connection
    /// yet (just restarted) is asked again for up to [`API_RETRY`]; any
    /// other failure is an error at once.
    pub fn try_api<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        i: usize,
        path: &str,
    ) -> Result<T, String> {
        let name = &self.nodes[i].name;
        let deadline = Instant::now() + API_RETRY;
        loop {
            let p = path.to_string();
            match self.with_api(i, move |c| c.get::<T>(&p))? {
                Ok(v) => return Ok(v),
                Err(e) if e.is_connect() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(format!("{name}: {path}: {e}")),
            }
        }
    }

    /// [`Testbed::try_api`] as JSON.
    pub fn try_api_json(&self, i: usize, path: &str) -> Result<serde_json::Value, String> {
        self.try_api(i, path)
    }

    /// GET JSON from node `i`'s API ([`Testbed::try_api_json`]), panicking
    /// on failure with the end of the daemon's log.
    pub fn api_json(&self, i: usize, path: &str) -> serde_json::Value {
        self.try_api_json(i, path)
            .unwrap_or_else(|e| panic!("{e}; log ends:\n{}", self.log_tail(i, 30)))
    }

    /// Waits until every daemon answers /readyz with 200, or panics with logs.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for i in 0..self.nodes.len() {
            loop {
                if matches!(self.api(i, "/readyz"), Ok((200, _))) {
                    break;
                }
                if Instant::now() > deadline {
                    panic!(
                        "{} not ready after {timeout:?}; log:\n{}",
                        self.nodes[i].name,
                        self.log(i)
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Waits until RSU `rsu` lists `count` OBUs in its routes (the API view
    /// follows the data plane by up to one loop turn).
    pub fn wait_rsu_routes(&self, rsu: usize, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            // A refused connection is retried inside; anything else (the
            // daemon died) is a failure to report, not a wait to sit out.
            let r = self.api_json(rsu, "/api/v1/routes");
            if r["obus"].as_array().is_some_and(|a| a.len() == count) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits for node `i`'s readiness.
    pub fn wait_node_ready(&self, i: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.api(i, "/readyz"), Ok((200, _))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Runs ping from node `from` to `addr`; returns the parsed result.
    pub fn ping(&self, from: usize, addr: &str, count: u32, interval: &str) -> PingResult {
        let c = count.to_string();
        let out = ns_output(
            &self.nodes[from].ns,
            &[
                "ping", "-n", "-q", "-c", &c, "-i", interval, "-W", "1", addr,
            ],
        );
        PingResult::parse(&out.stdout)
    }

    /// Starts a background process in node `i`'s namespace, killed on drop.
    /// Its output goes to a file (a pipe could fill up and stall it).
    pub fn spawn_in(&mut self, i: usize, args: &[&str]) -> usize {
        let ns = self.nodes[i].ns.clone();
        self.spawn_in_ns(&ns, args)
    }

    /// [`Testbed::spawn_in`] in any namespace (a core or server beside the
    /// nodes), killed on drop all the same.
    pub fn spawn_in_ns(&mut self, ns: &str, args: &[&str]) -> usize {
        let h = self.extra.len();
        let path = self.dir.join(format!("spawn{h}.out"));
        let f = std::fs::File::create(&path).expect("output file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("dup"))
            .stderr(f);
        if self.own_process_groups {
            own_process_group(&mut cmd);
        }
        self.extra.push(cmd.spawn().expect("spawn"));
        h
    }

    /// Whether background process `h` has ended; its output if so.
    pub fn spawned_output(&mut self, h: usize) -> Option<String> {
        match self.extra[h].try_wait() {
            Ok(Some(_)) => std::fs::read_to_string(self.dir.join(format!("spawn{h}.out"))).ok(),
            _ => None,
        }
    }

    /// Waits for a background process and returns its output, `None` (and
    /// kills it) on timeout.
    pub fn wait_spawned(&mut self, h: usize, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let child = &mut self.extra[h];
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return std::fs::read_to_string(self.dir.join(format!("spawn{h}.out"))).ok();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `bytes` over one TCP connection from node `from` to node `to`
    /// (plain sockets inside the namespaces); returns the bytes the
    /// receiver counted up to EOF.
    pub fn tcp_transfer(
        &self,
        from: usize,
        to: usize,
        port: u16,
        bytes: usize,
    ) -> Result<usize, String> {
        tcp_transfer_between(
            &self.nodes[from].ns,
            &self.nodes[to].ns,
            &self.nodes[to].addr4,
            port,
            bytes,
            Duration::from_secs(10),
        )
    }

    /// Listens on UDP `port` (all addresses) in node `i`'s namespace for
    /// `dur`; returns the datagrams received.
    pub fn udp_listen(
        &self,
        i: usize,
        port: u16,
        dur: Duration,
    ) -> std::thread::JoinHandle<Result<Vec<Vec<u8>>, String>> {
        let ns = self.nodes[i].ns.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            cmd::enter_netns(&ns)?;
            let s =
                std::net::UdpSocket::bind(("0.0.0.0", port)).map_err(|e| format!("bind: {e}"))?;
            let _ = tx.send(());
            let end = Instant::now() + dur;
            let mut got = Vec::new();
            let mut buf = [0u8; 2048];
            while let Some(left) = end.checked_duration_since(Instant::now()) {
                s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .ok();
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    got.push(buf[..n].to_vec());
                }
            }
            Ok(got)
        });
        let _ = rx.recv_timeout(Duration::from_secs(5));
        h
    }

    /// Sends each payload as a UDP datagram from node `i` to `dst:port`
    /// (broadcast allowed).
    pub fn udp_send(
        &self,
        i: usize,
        dst: &str,
        port: u16,
        payloads: &[Vec<u8>],
    ) -> Result<(), String> {
        self.udp_send_paced(i, dst, port, payloads, Duration::from_millis(5))
    }

    /// As [`Testbed::udp_send`], with `gap` between datagrams (zero: a burst).
    pub fn udp_send_paced(
        &self,
        i: usize,
        dst: &str,
        port: u16,
        payloads: &[Vec<u8>],
        gap: Duration,
    ) -> Result<(), String> {
        let ns = self.nodes[i].ns.clone();
        let dst = format!("{dst}:{port}");
        let payloads = payloads.to_vec();
        std::thread::spawn(move || {
            cmd::enter_netns(&ns)?;
            let s = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
            s.set_broadcast(true).map_err(|e| e.to_string())?;
            for p in payloads {
                s.send_to(&p, &dst)
                    .map_err(|e| format!("send to {dst}: {e}"))?;
                if !gap.is_zero() {
                    std::thread::sleep(gap);
                }
            }
            Ok(())
        })
        .join()
        .map_err(|_| "sender panicked".to_string())?
    }

    /// Sends raw Ethernet frames out of node `i`'s radio (an AF_PACKET
    /// socket in its namespace); returns how many the kernel accepted.
    pub fn raw_send(&self, i: usize, frames: &[Vec<u8>]) -> Result<usize, String> {
        let ns = self.nodes[i].ns.clone();
        let frames = frames.to_vec();
        std::thread::spawn(move || -> Result<usize, String> {
            cmd::enter_netns(&ns)?;
            let radio = RadioSocket::open()?;
            Ok(frames.iter().filter(|f| radio.send(f)).count())
        })
        .join()
        .map_err(|_| "raw sender panicked".to_string())?
    }

    /// Sends `frames` round and round from node `i`'s radio at
    /// `per_second` for `dur`, in a thread (the node's daemon need not
    /// run: an attacker's radio). Returns the frames sent.
    pub fn spray(
        &self,
        i: usize,
        frames: Vec<Vec<u8>>,
        per_second: u32,
        dur: Duration,
    ) -> std::thread::JoinHandle<Result<u64, String>> {
        let ns = self.nodes[i].ns.clone();
        std::thread::spawn(move || -> Result<u64, String> {
            cmd::enter_netns(&ns)?;
            let radio = RadioSocket::open()?;
            let start = Instant::now();
            let mut sent = 0u64;
            let mut k = 0usize;
            while !frames.is_empty() && start.elapsed() < dur {
                // Frames due by now at the asked rate, sent back to back.
                let due = (start.elapsed().as_secs_f64() * f64::from(per_second)) as u64;
                while sent < due {
                    let f = &frames[k % frames.len()];
                    k += 1;
                    radio.send(f);
                    sent += 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(sent)
        })
    }

    /// CPU time (user + system) node `i`'s daemon has used so far.
    pub fn cpu_time(&self, i: usize) -> Option<Duration> {
        let pid = self.pid(i)?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces).
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let sampled = Duration::from_micros(ticks * 1_000_000 / hz);
        // /proc/PID/stat counts in clock ticks (10 ms), so a quiet daemon
        // of a short run can be charged none at all; the scheduler's own
        // count of its live threads is exact (but forgets threads that
        // ended, which the ticks keep): the larger of the two.
        Some(sampled.max(Self::live_threads_cpu(pid)))
    }

    /// CPU time of process `pid`'s live threads by the scheduler (ns).
    fn live_threads_cpu(pid: u32) -> Duration {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Duration::ZERO;
        };
        let ns: u64 = tasks
            .filter_map(|t| {
                let text = std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
                text.split_whitespace().next()?.parse::<u64>().ok()
            })
            .sum();
        Duration::from_nanos(ns)
    }

    /// The most memory node `i`'s daemon has held (VmHWM), KiB.
    pub fn peak_rss_kib(&self, i: usize) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid(i)?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// A counter from node `i`'s `/api/v1/stats`, e.g. ("routing", "relayed").
    pub fn stat(&self, i: usize, section: &str, key: &str) -> u64 {
        let v = self.api_json(i, "/api/v1/stats");
        v[section][key]
            .as_u64()
            .unwrap_or_else(|| panic!("no {section}.{key} in {v}"))
    }

    /// Index of the node whose radio has MAC `mac`.
    pub fn by_mac(&self, mac: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.mac == mac)
    }

    /// Node `i`'s current upstream as (rsu index, next-hop index).
    pub fn upstream(&self, i: usize) -> Option<(usize, usize)> {
        let routes: api::Routes = self
            .try_api(i, api::paths::ROUTES)
            .unwrap_or_else(|e| panic!("{e}; log ends:\n{}", self.log_tail(i, 30)));
        let api::Routes::Obu(o) = routes else {
            return None;
        };
        let u = o.upstream?;
        Some((
            self.by_mac(&u.rsu.to_string())?,
            self.by_mac(&u.next_hop.to_string())?,
        ))
    }

    pub fn node_index(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }
}

/// An AF_PACKET socket on this namespace's `radio0`, to send raw frames.
struct RadioSocket {
    fd: i32,
    to: libc::sockaddr_ll,
}

impl RadioSocket {
    /// Opens it in the calling thread's namespace.
    fn open() -> Result<RadioSocket, String> {
        // SAFETY: plain socket(2); the fd is closed on drop.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        let name = std::ffi::CString::new("radio0").unwrap();
        // SAFETY: valid NUL-terminated name.
        let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
        // SAFETY: sockaddr_ll is plain old data.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_ifindex = idx as i32;
        to.sll_halen = 6;
        Ok(RadioSocket { fd, to })
    }

    /// Sends one frame; whether the kernel took it.
    fn send(&self, frame: &[u8]) -> bool {
        // SAFETY: sends from a live buffer to a valid address of the right size.
        let r = unsafe {
            libc::sendto(
                self.fd,
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
                &self.to as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        r >= 0
    }
}

impl Drop for RadioSocket {
    fn drop(&mut self) {
        // SAFETY: closes the fd this socket owns, once.
        unsafe { libc::close(self.fd) };
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

/// Puts the command in a process group of its own (a Ctrl-C at the
/// terminal does not reach it), at the normal scheduling policy and
/// priority (a driver may run above it), and has the kernel send it SIGTERM if the thread
/// that started it dies (a driver killed with SIGKILL leaves no daemon
/// behind).
pub fn own_process_group(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: the closure runs in the child between fork and exec and
    // calls only setpriority, sched_setscheduler and prctl, plain system
    // calls that are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setpriority(libc::PRIO_PROCESS, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let normal = libc::sched_param { sched_priority: 0 };
            if libc::sched_setscheduler(0, libc::SCHED_OTHER, &normal) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Sends `bytes` over one TCP connection from namespace `from_ns` to
/// `addr:port` in `to_ns` (plain sockets); returns the bytes the receiver
/// counted up to EOF. Gives up after `stall` without progress (or without
/// a connection) on either side, so it never hangs.
pub fn tcp_transfer_between(
    from_ns: &str,
    to_ns: &str,
    addr: &str,
    port: u16,
    bytes: usize,
    stall: Duration,
) -> Result<usize, String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = format!("{addr}:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let to_ns = to_ns.to_string();
    let server = std::thread::spawn(move || -> Result<usize, String> {
        cmd::enter_netns(&to_ns)?;
        let l = std::net::TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
        let _ = ready_tx.send(());
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + stall;
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err("no connection".into());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        s.set_nonblocking(false).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(stall)).ok();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n,
                Err(e) => return Err(format!("after {total} bytes: {e}")),
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| "server did not start".to_string())?;
    let from_ns = from_ns.to_string();
    let client = std::thread::spawn(move || -> Result<(), String> {
        cmd::enter_netns(&from_ns)?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, stall)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_write_timeout(Some(stall)).ok();
        let chunk = vec![0x5au8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
            left -= n;
        }
        s.shutdown(std::net::Shutdown::Write)
            .map_err(|e| e.to_string())
    });
    let c = client.join().map_err(|_| "client panicked".to_string())?;
    let s = server.join().map_err(|_| "server panicked".to_string())?;
    c?;
    s
}

/// The bytes of a MAC written `aa:bb:cc:dd:ee:ff` (as the testbed writes
/// them; panics on anything else).
pub fn mac_bytes(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect();
    v.try_into().expect("six bytes")
}

/// Times (seconds, from `ping -D`) of the replies of a ping run.
pub fn reply_times(ping_output: &str) -> Vec<f64> {
    ping_output
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect()
}

/// Longest silence between consecutive replies inside `[from, to]`
/// (seconds since the epoch, as printed by `ping -D`).
pub fn longest_gap(times: &[f64], from: f64, to: f64) -> f64 {
    let inside: Vec<f64> = times
        .iter()
        .copied()
        .filter(|t| *t >= from && *t <= to)
        .collect();
    inside.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

/// Seconds since the Unix epoch of an ISO 8601 UTC time as the daemons'
/// logs and `ip -ts monitor` print it (`2026-12-02T08:07:44.523993`, an
/// optional `Z`); `None` if it is not one.
pub fn iso_secs(s: &str) -> Option<f64> {
    let s = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('Z');
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, dd) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (h, mi) = (
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    let sec = t.next()?.parse::<f64>().ok()?;
    // Days from the civil date (proleptic Gregorian), 1970-01-01 = 0.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + mi * 60.0 + sec)
}

/// Seconds since the epoch, comparable with `ping -D` timestamps.
pub fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Summary of a `ping -q` run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PingResult {
    pub transmitted: u32,
    pub received: u32,
    pub rtt_avg_ms: Option<f64>,
}

impl PingResult {
    pub fn parse(out: &str) -> PingResult {
        let mut r = PingResult::default();
        for line in out.lines() {
            if line.contains("packets transmitted") {
                let nums: Vec<u32> = line
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|s| s.parse().ok())
                    .collect();
                if nums.len() >= 2 {
                    r.transmitted = nums[0];
                    r.received = nums[1];
                }
            }
            if let Some(rest) = line.strip_prefix("rtt min/avg/max/mdev = ") {
                r.rtt_avg_ms = rest.split('/').nth(1).and_then(|s| s.parse().ok());
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_iso_times() {
        assert_eq!(iso_secs("1970-01-01T00:00:01Z"), Some(1.0));
        let t = iso_secs("[2026-12-02T08:07:44.5]").expect("parses");
        assert!((t - 1_796_198_864.5).abs() < 1e-6, "{t}");
        assert_eq!(iso_secs("INFO"), None);
    }

    #[test]
    fn finds_the_longest_gap() {
        let out = "[100.000] 64 bytes from x\n[100.010] 64 bytes from x\n[100.400] 64 bytes from x\nno answer yet\n[100.410] 64 bytes from x\n";
        let t = reply_times(out);
        assert_eq!(t.len(), 4);
        assert!((longest_gap(&t, 100.0, 101.0) - 0.39).abs() < 1e-9);
        assert_eq!(longest_gap(&t, 100.405, 101.0), 0.0);
    }

    #[test]
    fn parses_ping_summary() {
        let out = "--- 10.0.0.1 ping statistics ---\n5 packets transmitted, 4 received, 20% packet loss, time 4005ms\nrtt min/avg/max/mdev = 0.041/0.052/0.071/0.010 ms\n";
        let r = PingResult::parse(out);
        assert_eq!(r.transmitted, 5);
        assert_eq!(r.received, 4);
        assert_eq!(r.rtt_avg_ms, Some(0.052));
    }
}
