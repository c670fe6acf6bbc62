//! A road: RSUs along it, each with a veth to a core namespace and BIRD
//! speaking BGP to a route reflector there (the shipped configs in
//! config/bird), a server on the core, and OBUs that drive past the RSUs
//! (the radio topology changing over time).
//!
//! Addressing: RSU k (1-based) has 10.99.k.2/24 and fd99:k::2/64 on its
//! backbone link `bb0`, the core 10.99.k.1 and fd99:k::1 on its side; the
//! server is 10.98.0.1 and fd98::1 on the core's loopback.

use crate::cmd::{ns_exec, ns_output};
use crate::topology::{Role, Topology};
use crate::{NodeOptions, Testbed};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SERVER4: &str = "10.98.0.1";
pub const SERVER6: &str = "fd98::1";
/// The backbone's private AS.
const AS: u32 = 65077;

pub struct Road {
    pub tb: Testbed,
    pub core: String,
    /// Node indices in `tb`.
    pub rsus: Vec<usize>,
    pub obus: Vec<usize>,
    birds: BTreeMap<String, Child>,
    /// Broadcast loss (percent) per (node, node) link, both directions.
    loss: std::sync::Mutex<BTreeMap<(usize, usize), u32>>,
}

fn bird_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/bird")
}

/// Whether BIRD 2 is installed (`scripts/deps.sh` installs it).
pub fn bird_available() -> crate::Result<()> {
    crate::which("bird").map(|_| ()).ok_or_else(|| {
        crate::Error::Unavailable("bird (BIRD 2) not installed; run scripts/deps.sh".into())
    })
}

impl Road {
    /// `rsus` RSUs and `obus` OBUs; nobody hears anybody until [`Road::place`].
    pub fn new(rsus: usize, obus: usize) -> Road {
        let mut t = Topology::new();
        for k in 0..rsus {
            t.node(&format!("rsu{}", k + 1), Role::Rsu);
        }
        for k in 0..obus {
            t.node(&format!("obu{}", k + 1), Role::Obu);
        }
        t.links = Some(Default::default());
        Road::on(Testbed::new(&t))
    }

    /// The backbone around the RSUs of a testbed built already (the
    /// testbed's radio links are its own business: the lab's radio model,
    /// the tests' cut and restore).
    pub fn on(tb: Testbed) -> Road {
        let r: Vec<usize> = (0..tb.nodes.len())
            .filter(|&i| tb.nodes[i].role == Role::Rsu)
            .collect();
        let o: Vec<usize> = (0..tb.nodes.len())
            .filter(|&i| tb.nodes[i].role == Role::Obu)
            .collect();
        let core = format!("v2x{}core", tb.tag);
        let _ = Command::new("ip")
            .args(["netns", "del", &core])
            .stderr(Stdio::null())
            .status();
        crate::cmd::run(&["ip", "netns", "add", &core]);
        let road = Road {
            tb,
            core: core.clone(),
            rsus: r,
            obus: o,
            birds: BTreeMap::new(),
            loss: Default::default(),
        };
        ns_exec(&core, &["ip", "link", "set", "lo", "up"]);
        ns_exec(
            &core,
            &["ip", "addr", "add", &format!("{SERVER4}/32"), "dev", "lo"],
        );
        ns_exec(
            &core,
            &["ip", "addr", "add", &format!("{SERVER6}/128"), "dev", "lo"],
        );
        forwarding(&core);
        for (k, &i) in road.rsus.clone().iter().enumerate() {
            let k = k + 1;
            let ns = road.tb.nodes[i].ns.clone();
            let outer = format!("b{}r{k}", road.tb.tag);
            ns_exec(
                &core,
                &[
                    "ip", "link", "add", &outer, "type", "veth", "peer", "name", "bb0",
                ],
            );
            ns_exec(&core, &["ip", "link", "set", "bb0", "netns", &ns]);
            ns_exec(
                &core,
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("10.99.{k}.1/24"),
                    "dev",
                    &outer,
                ],
            );
            ns_exec(
                &core,
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("fd99:{k}::1/64"),
                    "dev",
                    &outer,
                    "nodad",
                ],
            );
            ns_exec(&core, &["ip", "link", "set", &outer, "up"]);
            ns_exec(
                &ns,
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("10.99.{k}.2/24"),
                    "dev",
                    "bb0",
                ],
            );
            ns_exec(
                &ns,
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("fd99:{k}::2/64"),
                    "dev",
                    "bb0",
                    "nodad",
                ],
            );
            ns_exec(&ns, &["ip", "link", "set", "bb0", "up"]);
            ns_exec(
                &ns,
                &[
                    "ip",
                    "route",
                    "add",
                    "default",
                    "via",
                    &format!("10.99.{k}.1"),
                ],
            );
            ns_exec(
                &ns,
                &[
                    "ip",
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    &format!("fd99:{k}::1"),
                ],
            );
            forwarding(&ns);
        }
        road
    }

    /// RSU number `k` (1-based)'s backbone address, as the core routes via it.
    pub fn rsu_addr(&self, k: usize) -> String {
        format!("10.99.{k}.2")
    }

    /// Which RSU (1-based) the core's kernel routes `addr` to, if any.
    pub fn core_route(&self, addr: &str) -> Option<usize> {
        let v6 = addr.contains(':');
        let prefix = if v6 {
            format!("{addr}/128")
        } else {
            format!("{addr}/32")
        };
        let fam = if v6 { "-6" } else { "-4" };
        let out = ns_output(&self.core, &["ip", fam, "route", "show", "exact", &prefix]);
        let via = out
            .stdout
            .split_whitespace()
            .skip_while(|w| *w != "via")
            .nth(1)?
            .to_string();
        (1..=self.rsus.len()).find(|k| via == self.rsu_addr(*k) || via == format!("fd99:{k}::2"))
    }

    /// Starts BIRD on the core and every RSU (shipped configs, per-node
    /// values in a small file that includes them).
    pub fn start_bird(&mut self) {
        let core_conf = format!(
            "log stderr all;\ndefine ROUTER_ID = {SERVER4};\ndefine RSU_RANGE4 = 10.99.0.0/16;\ndefine BACKBONE_AS = {AS};\ninclude \"{}\";\n",
            bird_dir().join("core.conf").display()
        );
        self.start_one_bird(&self.core.clone(), "core", &core_conf);
        for k in 1..=self.rsus.len() {
            self.start_rsu_bird(k);
        }
    }

    /// (Re)starts BIRD on RSU `k` (1-based).
    pub fn start_rsu_bird(&mut self, k: usize) {
        let conf = format!(
            "log stderr all;\ndefine ROUTER_ID = 10.99.{k}.2;\ndefine LOCAL_ADDR4 = 10.99.{k}.2;\ndefine LOCAL_ADDR6 = fd99:{k}::2;\ndefine CORE_ADDR4 = 10.99.{k}.1;\ndefine BACKBONE_AS = {AS};\ninclude \"{}\";\n",
            bird_dir().join("rsu.conf").display()
        );
        let ns = self.tb.nodes[self.rsus[k - 1]].ns.clone();
        self.start_one_bird(&ns, &format!("rsu{k}"), &conf);
    }

    fn start_one_bird(&mut self, ns: &str, name: &str, conf: &str) {
        if let Some(mut old) = self.birds.remove(name) {
            let _ = old.kill();
            let _ = old.wait();
        }
        let dir = &self.tb.dir;
        let path = dir.join(format!("bird-{name}.conf"));
        std::fs::write(&path, conf).expect("write bird config");
        let log = std::fs::File::create(dir.join(format!("bird-{name}.log"))).expect("bird log");
        let sock = dir.join(format!("bird-{name}.ctl"));
        let mut child = Command::new("ip");
        // Above the daemons (nice -5): on one machine shared by hundreds
        // of daemons a starved BIRD lets its BGP hold timer expire, which
        // a backbone router on its own machine never sees.
        child
            .args(["netns", "exec", ns, "nice", "-n", "-5", "bird", "-f", "-c"])
            .arg(&path)
            .arg("-s")
            .arg(&sock)
            .arg("-P")
            .arg(dir.join(format!("bird-{name}.pid")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log);
        if self.tb.own_process_groups {
            crate::own_process_group(&mut child);
        }
        let child = child.spawn().expect("start bird");
        self.birds.insert(name.to_string(), child);
    }

    /// Whether every RSU's BGP session with the core is up.
    pub fn wait_bgp(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let sock = self.tb.dir.join("bird-core.ctl");
            let out = crate::cmd::output(&[
                "birdc",
                "-s",
                sock.to_str().unwrap_or(""),
                "show",
                "protocols",
            ]);
            let up = out
                .stdout
                .lines()
                .filter(|l| l.starts_with("rsu") && l.contains("Established"))
                .count();
            if up >= self.rsus.len() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Takes the backbone link (`bb0`) of the RSU at node index `node`
    /// down, or brings it up again. Down removes the link's routes (and
    /// its IPv6 address: the kernel's default on a link set down), so up
    /// puts the addresses and default routes back as [`Road::on`] made
    /// them. Errors name the command that failed.
    pub fn set_backbone_link(&self, node: usize, up: bool) -> crate::Result<()> {
        let k = 1 + self.rsus.iter().position(|&i| i == node).ok_or_else(|| {
            crate::Error::Invalid(format!("{}: not an RSU", self.tb.nodes[node].name))
        })?;
        let ns = self.tb.nodes[node].ns.as_str();
        let (a4, a6) = (format!("10.99.{k}.2/24"), format!("fd99:{k}::2/64"));
        let (gw4, gw6) = (format!("10.99.{k}.1"), format!("fd99:{k}::1"));
        let steps: Vec<Vec<&str>> = if up {
            vec![
                vec!["link", "set", "bb0", "up"],
                vec!["addr", "replace", &a4, "dev", "bb0"],
                vec!["addr", "replace", &a6, "dev", "bb0", "nodad"],
                vec!["route", "replace", "default", "via", &gw4],
                vec!["-6", "route", "replace", "default", "via", &gw6],
            ]
        } else {
            vec![vec!["link", "set", "bb0", "down"]]
        };
        for step in steps {
            let mut args = vec!["ip", "-n", ns];
            args.extend(step);
            let out = crate::cmd::output(&args);
            if out.status != 0 {
                return Err(crate::Error::Command {
                    cmd: args.join(" "),
                    stderr: out.stderr.trim().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Kills BIRD on RSU `k` with SIGKILL.
    pub fn kill_rsu_bird(&mut self, k: usize) {
        if let Some(mut c) = self.birds.remove(&format!("rsu{k}")) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Options for the RSU daemons: host-route TUN addresses, exporting
    /// routes, the uplink checked by the default route.
    pub fn rsu_options(base: &NodeOptions) -> NodeOptions {
        NodeOptions {
            tun_host_addresses: true,
            extra: format!(
                "{}\n[backbone]\nexport_routes = true\nuplink_check = \"0.0.0.0/0\"\n",
                base.extra
            ),
            ..base.clone()
        }
    }

    /// Options for the OBU daemons: default routes through the V2X network.
    pub fn obu_options(base: &NodeOptions) -> NodeOptions {
        NodeOptions {
            tun_routes: vec!["0.0.0.0/0".into(), "::/0".into()],
            ..base.clone()
        }
    }

    /// Starts every daemon (RSUs first).
    pub fn start_daemons(&mut self, base: &NodeOptions) {
        let (ro, oo) = (Road::rsu_options(base), Road::obu_options(base));
        for &i in &self.rsus.clone() {
            self.tb.start(i, &ro);
        }
        for &i in &self.obus.clone() {
            self.tb.start(i, &oo);
        }
    }

    /// Makes `obu` hear exactly the RSUs numbered in `rsus` (1-based).
    pub fn place(&self, obu: usize, rsus: &[usize]) {
        for k in 1..=self.rsus.len() {
            let r = self.rsus[k - 1];
            let blocked = self.is_blocked(obu, r);
            match (rsus.contains(&k), blocked) {
                (true, true) => self.tb.restore(obu, r),
                (false, false) => self.tb.cut(obu, r),
                _ => {}
            }
        }
    }

    fn is_blocked(&self, a: usize, b: usize) -> bool {
        let out = ns_output(
            &self.tb.air,
            &["nft", "list", "set", "bridge", "v2x", "blocked"],
        );
        let (pa, pb) = (&self.tb.nodes[a].port, &self.tb.nodes[b].port);
        out.stdout.contains(&format!("\"{pa}\" . \"{pb}\""))
    }

    /// Fading between node `a` and node `b` (both ways): `percent` of
    /// broadcast frames (beacons) are lost, and of unicast frames only
    /// what eight tries would still lose, (percent/100)^8: 802.11 sends a
    /// unicast frame up to 1 + 7 times (dot11ShortRetryLimit) until it is
    /// acknowledged, a broadcast frame once.
    pub fn set_link_loss(&self, a: usize, b: usize, percent: u32) {
        let key = (a.min(b), a.max(b));
        let mut loss = self.loss.lock().unwrap_or_else(|e| e.into_inner());
        if percent == 0 {
            loss.remove(&key);
        } else {
            loss.insert(key, percent.min(100));
        }
        let mut rules = String::from("table bridge v2x {\n  chain fading {\n    type filter hook forward priority -5; policy accept;\n");
        for ((x, y), p) in loss.iter() {
            let unicast = ((*p as f64 / 100.0).powi(8) * 100.0).round() as u32;
            for (i, o) in [(x, y), (y, x)] {
                let (pi, po) = (&self.tb.nodes[*i].port, &self.tb.nodes[*o].port);
                rules += &format!("    iifname \"{pi}\" oifname \"{po}\" ether daddr ff:ff:ff:ff:ff:ff numgen random mod 100 < {p} drop\n");
                if unicast > 0 {
                    rules += &format!("    iifname \"{pi}\" oifname \"{po}\" numgen random mod 100 < {unicast} drop\n");
                }
            }
        }
        rules += "  }\n}\n";
        let _ = ns_output(
            &self.tb.air,
            &["nft", "delete", "chain", "bridge", "v2x", "fading"],
        );
        let path = self.tb.dir.join("fading.nft");
        std::fs::write(&path, rules).expect("write nft");
        ns_exec(
            &self.tb.air,
            &["nft", "-f", path.to_str().expect("utf8 path")],
        );
    }

    /// The OBU's current RSU (1-based), from its API.
    pub fn obu_rsu(&self, obu: usize) -> Option<usize> {
        let (code, body) = self.tb.api(obu, "/api/v1/routes").ok()?;
        if code != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let mac = v["upstream"]["rsu"].as_str()?.to_string();
        let i = self.tb.by_mac(&mac)?;
        self.rsus.iter().position(|r| *r == i).map(|k| k + 1)
    }
}

fn forwarding(ns: &str) {
    for k in [
        "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.forwarding=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
    ] {
        ns_exec(ns, &["sysctl", "-qw", k]);
    }
}

impl Drop for Road {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.birds) {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.core])
            .status();
    }
}
