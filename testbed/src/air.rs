//! The air and the namespaces: building the testbed (one namespace per
//! node, its radio a veth into the air bridge), who hears whom (cut,
//! restore, loss, a hub), and frames put on or taken off the air
//! directly (capture, raw sends, sprays).

use super::*;

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
    ) -> std::thread::JoinHandle<Result<Vec<Vec<u8>>>> {
        let ns = self.nodes[i].ns.clone();
        std::thread::spawn(move || {
            cmd::enter_netns(&ns)?;
            let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
            // SAFETY: plain socket(2); closed below.
            let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto) };
            if fd < 0 {
                return Err(Error::last_os("socket"));
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
                return Err(Error::last_os("bind"));
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

    /// Sends raw Ethernet frames out of node `i`'s radio (an AF_PACKET
    /// socket in its namespace); returns how many the kernel accepted.
    pub fn raw_send(&self, i: usize, frames: &[Vec<u8>]) -> Result<usize> {
        let ns = self.nodes[i].ns.clone();
        let frames = frames.to_vec();
        std::thread::spawn(move || -> Result<usize> {
            cmd::enter_netns(&ns)?;
            let radio = RadioSocket::open()?;
            Ok(frames.iter().filter(|f| radio.send(f)).count())
        })
        .join()
        .map_err(|_| Error::Panicked("raw sender"))?
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
    ) -> std::thread::JoinHandle<Result<u64>> {
        let ns = self.nodes[i].ns.clone();
        std::thread::spawn(move || -> Result<u64> {
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
}

/// An AF_PACKET socket on this namespace's `radio0`, to send raw frames.
struct RadioSocket {
    fd: i32,
    to: libc::sockaddr_ll,
}

impl RadioSocket {
    /// Opens it in the calling thread's namespace.
    fn open() -> Result<RadioSocket> {
        // SAFETY: plain socket(2); the fd is closed on drop.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(Error::last_os("socket"));
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

/// The bytes of a MAC written `aa:bb:cc:dd:ee:ff` (as the testbed writes
/// them; panics on anything else).
pub fn mac_bytes(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect();
    v.try_into().expect("six bytes")
}
