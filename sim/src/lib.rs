//! A deterministic simulator for the sans-IO role state machines.
//!
//! Nodes are real [`obu_lib::Obu`] / [`rsu_lib::Rsu`] instances, each run
//! by the daemons' own data path ([`datapath::Engine`]: receive, the role,
//! the TUN backlog, the send plan and its flush) on simulated devices
//! ([`devices`]: the air as the link, memory as the TUN). The frames a node
//! sends are delivered to every node that hears it (broadcast) or to the
//! addressed neighbour (unicast), one millisecond later. Time is simulated,
//! so thousands of nodes run in milliseconds of wall time.

use common::action::Action;
use common::batch::SendBatch;
use common::counters::Counters;
use common::ip::IpPrefix;
use common::offload::{VnetHdr, GSO_TCPV4, GSO_TCPV6};
use common::wire::{MessageType, DEFAULT_ETHERTYPE, ETH_HEADER_LEN};
use common::{NodeId, Time};
use datapath::{Engine, EngineConfig};
use devices::{AirLink, MemTun};
use protocol::params::{RoutingConfig, SecurityConfig, SecurityMode};
use protocol::role::Role;
use protocol::role_params::RoleParams;
use protocol::security::Security;
use secure::Identity;
use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

pub mod cpu;
pub mod density;
pub mod devices;
pub mod fuzz;

pub use obu_lib::Obu;
pub use rsu_lib::Rsu;

/// Link MTU of the simulated radio.
pub const MTU: usize = 1500;
/// Air latency of every frame.
pub const LATENCY: Duration = Duration::from_millis(1);
/// The airtime model the simulator counts with: 802.11p at 6 Mbit/s.
const AIRTIME: common::airtime::Airtime = common::airtime::Airtime::new(6000);

#[allow(clippy::large_enum_variant)] // one per simulated node, never moved on a hot path
pub enum Machine {
    Rsu(Rsu),
    Obu(Obu),
}

impl Machine {
    fn role(&mut self) -> &mut dyn Role {
        match self {
            Machine::Rsu(r) => r,
            Machine::Obu(o) => o,
        }
    }
    fn role_ref(&self) -> &dyn Role {
        match self {
            Machine::Rsu(r) => r,
            Machine::Obu(o) => o,
        }
    }
}

pub struct SimNode {
    pub mac: NodeId,
    pub addr: IpAddr,
    pub machine: Machine,
    pub counters: Arc<Counters>,
    /// IP packets the node delivered to its TUN.
    pub tun_out: Vec<Vec<u8>>,
    /// Frames this node sent.
    pub frames_sent: u64,
    /// Of those, frames carrying only control messages, and their bytes.
    pub control_frames_sent: u64,
    pub control_bytes_sent: u64,
    /// Estimated airtime of its frames at 6 Mbit/s (`common::airtime`),
    /// µs, by kind (control, data).
    pub airtime_us: [u64; 2],
    /// Frames led by a beacon (an RSU's own, an OBU's rebroadcasts).
    pub beacon_frames_sent: u64,
    /// Estimated airtime of the control frames this node heard, µs.
    pub heard_control_us: u64,
    /// Beacon frames this node heard (each a signature check in the
    /// secure modes, unless refused by cheaper checks first).
    pub beacons_heard: u64,
    /// The daemons' data path on this node's simulated devices.
    pub engine: Engine<AirLink, MemTun>,
    identity: Arc<Identity>,
    restarts: u64,
}

impl SimNode {
    pub fn obu(&self) -> Option<&Obu> {
        match &self.machine {
            Machine::Obu(o) => Some(o),
            _ => None,
        }
    }
    pub fn rsu(&self) -> Option<&Rsu> {
        match &self.machine {
            Machine::Rsu(r) => Some(r),
            _ => None,
        }
    }
}

struct InFlight {
    at: Time,
    from: usize,
    dst: NodeId,
    bytes: Vec<u8>,
    /// Airtime of a control frame (0 for data), counted at every node in
    /// range, addressed or not.
    control_us: u64,
}

pub struct Sim {
    pub now: Time,
    pub nodes: Vec<SimNode>,
    links: HashSet<(usize, usize)>,
    /// One radio domain: `links` is not consulted.
    everyone: bool,
    /// `links` as neighbour lists (delivery walks these).
    adj: Vec<Vec<usize>>,
    queue: VecDeque<InFlight>,
    routing: RoutingConfig,
    /// Frames delivered over the air so far.
    pub frames_delivered: u64,
    /// Security for every node (None: off). All RSUs share the trusted
    /// fleet key; every OBU has its own key; RSUs accept any OBU key.
    security: Option<SecurityConfig>,
    /// A shared CPU (None: every node works at once, in no time).
    cpu: Option<cpu::Cpu>,
    /// Per node: until when it is stalled (descheduled: it reads nothing
    /// and runs no timer; what reaches it waits in its link queue).
    stalled_until: Vec<Time>,
}

/// A simulated node's data path: the daemons' settings (batched, frames
/// aggregated, batches of 64) on the air and an in-memory TUN.
fn engine(mac: NodeId, counters: Arc<Counters>) -> Engine<AirLink, MemTun> {
    let config = EngineConfig {
        mac,
        ethertype: DEFAULT_ETHERTYPE,
        link_mtu: MTU,
        frame_capacity: MTU + ETH_HEADER_LEN + 4,
        // TCP super-packets (`Sim::send_ip_tso`) are up to 64 KiB.
        tun_read_capacity: 65536,
        batched: true,
        aggregate: true,
        max_batch: 64,
        phy_rate_kbps: 6000,
    };
    Engine::new(config, AirLink::default(), MemTun::default(), counters)
}

/// Wall clock of the simulation at `Time::ZERO` (any fixed value).
pub const WALL_AT_ZERO_US: u64 = 1_800_000_000_000_000;

/// The key every honest simulated RSU signs with.
pub fn rsu_fleet_key() -> Identity {
    Identity::from_seed(&[0xa5; 32])
}

fn node_key(i: usize) -> Identity {
    let mut seed = [0x5a; 32];
    seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
    Identity::from_seed(&seed)
}

/// The MAC of simulated node `i`.
pub fn mac(i: usize) -> NodeId {
    NodeId([0x02, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8])
}

/// The IPv4 TUN address of simulated node `i`.
pub fn addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        10,
        (i >> 16) as u8 + 64,
        (i >> 8) as u8,
        i as u8,
    ))
}

impl Sim {
    pub fn new(routing: RoutingConfig) -> Sim {
        Sim {
            now: Time::from_millis(1),
            nodes: Vec::new(),
            links: HashSet::new(),
            everyone: false,
            adj: Vec::new(),
            queue: VecDeque::new(),
            routing,
            frames_delivered: 0,
            security: None,
            cpu: None,
            stalled_until: Vec::new(),
        }
    }

    /// Runs every node on one shared CPU ([`cpu::Cpu`]): work waits its
    /// turn when the machine is busy.
    pub fn with_cpu(mut self, cpu: cpu::Cpu) -> Sim {
        self.cpu = Some(cpu);
        self
    }

    /// Node `i` is stalled for `d` from now, as a daemon the machine does
    /// not schedule: frames reach it and wait; when it runs again it reads
    /// them first, then runs its late timers.
    pub fn stall(&mut self, i: usize, d: Duration) {
        if self.stalled_until.len() <= i {
            self.stalled_until.resize(i + 1, Time::ZERO);
        }
        self.stalled_until[i] = self.now + d;
    }

    fn is_stalled(&self, i: usize) -> bool {
        self.stalled_until.get(i).is_some_and(|t| *t > self.now)
    }

    /// The shared CPU, if the nodes run on one.
    pub fn cpu(&self) -> Option<&cpu::Cpu> {
        self.cpu.as_ref()
    }

    /// The shared CPU's capacity, µs of work per millisecond (a burst of
    /// other work on the machine takes it down for a while).
    pub fn set_cpu_capacity(&mut self, us_per_ms: u64) {
        if let Some(c) = self.cpu.as_mut() {
            c.capacity_us = us_per_ms;
        }
    }

    /// RSU 0 and OBU 1 in range of each other, run until the OBU is
    /// attached (`mode`: security on, else off).
    pub fn attached_pair(mode: Option<SecurityMode>) -> Sim {
        let s = Sim::new(RoutingConfig::default());
        let mut s = match mode {
            Some(m) => s.with_security(m),
            None => s,
        };
        let r = s.add_rsu();
        let o = s.add_obu();
        s.link(r, o);
        s.run_for(Duration::from_secs(2));
        assert_eq!(s.upstream(o), Some((r, r, 1)), "OBU 1 attached to RSU 0");
        s
    }

    /// Runs every node with `[security] mode` (authenticated or encrypted).
    pub fn with_security(self, mode: SecurityMode) -> Sim {
        self.with_security_config(SecurityConfig {
            mode,
            ..SecurityConfig::default()
        })
    }

    /// Like [`Sim::with_security`] with other settings (keys and trust are
    /// always the simulation's own).
    pub fn with_security_config(mut self, c: SecurityConfig) -> Sim {
        self.security = Some(SecurityConfig {
            key_file: None,
            trusted_rsus: vec![rsu_fleet_key().public()],
            allowed_obus: Vec::new(),
            allow_any_obu: true,
            ..c
        });
        self
    }

    fn security(&self, i: usize, identity: Arc<Identity>) -> Option<Security> {
        self.security
            .as_ref()
            .map(|c| Security::new(c, mac(i), identity, WALL_AT_ZERO_US))
    }

    fn params(&self, i: usize) -> RoleParams {
        RoleParams {
            security: None,
            id: mac(i),
            mac: mac(i),
            addresses: vec![IpPrefix::new(addr(i), 8).expect("valid prefix")],
            routing: self.routing.clone(),
            seed: 0x9e37_79b9_7f4a_7c15 ^ i as u64,
            counters: Arc::new(Counters::default()),
            preference: 0,
            attach_seq_start: 1000,
        }
    }

    fn add(&mut self, rsu: bool, identity: Identity) -> usize {
        let identity = Arc::new(identity);
        let i = self.nodes.len();
        let mut p = self.params(i);
        p.security = self.security(i, identity.clone());
        let (mac, addr, counters) = (p.mac, p.addresses[0].addr, p.counters.clone());
        let machine = if rsu {
            Machine::Rsu(Rsu::new(p))
        } else {
            Machine::Obu(Obu::new(p))
        };
        let engine = engine(mac, counters.clone());
        self.nodes.push(SimNode {
            mac,
            addr,
            machine,
            counters,
            tun_out: Vec::new(),
            frames_sent: 0,
            control_frames_sent: 0,
            control_bytes_sent: 0,
            airtime_us: [0; 2],
            beacon_frames_sent: 0,
            heard_control_us: 0,
            beacons_heard: 0,
            engine,
            identity,
            restarts: 0,
        });
        i
    }

    /// Restarts node `i` as a new process would: same identity, address
    /// and counters, a new random seed (so a new RSU epoch), and none of
    /// its tables or sessions.
    pub fn restart(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.restarts += 1;
        let restarts = n.restarts;
        let identity = n.identity.clone();
        let rsu = n.rsu().is_some();
        let mut p = self.params(i);
        p.security = self.security(i, identity);
        p.seed ^= restarts.wrapping_mul(0xd1b5_4a32_d192_ed03);
        p.counters = self.nodes[i].counters.clone();
        // A new process: new buffers, nothing queued.
        self.nodes[i].engine = engine(p.mac, p.counters.clone());
        self.nodes[i].machine = if rsu {
            Machine::Rsu(Rsu::new(p))
        } else {
            Machine::Obu(Obu::new(p))
        };
    }

    pub fn add_rsu(&mut self) -> usize {
        self.add(true, rsu_fleet_key())
    }

    /// An RSU signing with a key nobody trusts (security on).
    pub fn add_rogue_rsu(&mut self) -> usize {
        let i = self.nodes.len();
        self.add(true, node_key(i))
    }

    pub fn add_obu(&mut self) -> usize {
        let i = self.nodes.len();
        self.add(false, node_key(i))
    }

    pub fn link(&mut self, a: usize, b: usize) {
        if self.links.insert((a.min(b), a.max(b))) {
            self.adjacent(a).push(b);
            self.adjacent(b).push(a);
        }
    }

    pub fn cut(&mut self, a: usize, b: usize) {
        if self.links.remove(&(a.min(b), a.max(b))) {
            self.adjacent(a).retain(|x| *x != b);
            self.adjacent(b).retain(|x| *x != a);
        }
    }

    fn adjacent(&mut self, a: usize) -> &mut Vec<usize> {
        if self.adj.len() <= a {
            self.adj.resize_with(a + 1, Vec::new);
        }
        &mut self.adj[a]
    }

    pub fn hears(&self, a: usize, b: usize) -> bool {
        self.everyone || self.links.contains(&(a.min(b), a.max(b)))
    }

    /// The nodes `a` hears.
    pub fn neighbours(&self, a: usize) -> Vec<usize> {
        if self.everyone {
            (0..self.nodes.len()).filter(|b| *b != a).collect()
        } else {
            self.adj.get(a).cloned().unwrap_or_default()
        }
    }

    /// Every node hears every other (one radio domain), without a link
    /// set of n² pairs.
    pub fn link_everyone(&mut self) {
        self.everyone = true;
    }

    /// Puts what node `i`'s data path sent on the air (one millisecond
    /// from now, with its airtime counted) and what it delivered to its
    /// TUN into `tun_out`.
    fn collect(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.tun_out.append(&mut n.engine.tun.out);
        let sent = std::mem::take(&mut n.engine.link.tx);
        for (dst, bytes) in sent {
            let n = &mut self.nodes[i];
            n.frames_sent += 1;
            let kind = common::airtime::kind_of(&bytes);
            if kind == common::airtime::FrameKind::Control {
                n.control_frames_sent += 1;
                n.control_bytes_sent += bytes.len() as u64;
            }
            let airtime = AIRTIME.frame_us(bytes.len(), dst.is_group(), kind);
            n.airtime_us[kind as usize] += airtime;
            if bytes.get(ETH_HEADER_LEN + 1) == Some(&(MessageType::Beacon as u8)) {
                n.beacon_frames_sent += 1;
            }
            let control_us = if kind == common::airtime::FrameKind::Control {
                airtime
            } else {
                0
            };
            self.queue.push_back(InFlight {
                at: self.now + LATENCY,
                from: i,
                dst,
                bytes,
                control_us,
            });
        }
    }

    /// Node `i` reads the frames waiting on its link.
    fn receive_frames(&mut self, i: usize) {
        let now = self.now;
        let n = &mut self.nodes[i];
        let r = n.engine.receive_link(n.machine.role(), &|| now, true);
        debug_assert!(r.is_ok(), "the air cannot fail");
        self.collect(i);
    }

    /// Node `i` reads what waits on its TUN (`readable`), or sends a turn's
    /// share of its backlog.
    fn receive_packets(&mut self, i: usize, readable: bool) {
        let now = self.now;
        let n = &mut self.nodes[i];
        let r = n.engine.receive_tun(n.machine.role(), &|| now, readable);
        debug_assert!(r.is_ok(), "memory cannot fail");
        self.collect(i);
    }

    /// Writes an IP packet into node `i`'s TUN (as if an application sent it).
    pub fn send_ip(&mut self, i: usize, packet: &[u8]) {
        self.send_tun(i, packet, None);
    }

    /// Writes several IP packets into node `i`'s TUN before its data path
    /// reads any (an application quicker than the daemon): they are read
    /// as one backlog batch.
    pub fn send_ips(&mut self, i: usize, packets: &[Vec<u8>]) {
        for p in packets {
            self.nodes[i]
                .engine
                .tun
                .rx
                .push_back((p.clone(), VnetHdr::default()));
        }
        self.receive_packets(i, true);
    }

    /// Writes a TCP super-packet into node `i`'s TUN, as the kernel hands
    /// one over with TUN offload: segments of `mss` payload bytes to cut.
    pub fn send_ip_tso(&mut self, i: usize, packet: &[u8], mss: u16) {
        let v6 = packet.first().is_some_and(|b| b >> 4 == 6);
        let gso = VnetHdr {
            gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
            gso_size: mss,
            ..VnetHdr::default()
        };
        self.send_tun(i, packet, Some(gso));
    }

    fn send_tun(&mut self, i: usize, packet: &[u8], gso: Option<VnetHdr>) {
        self.nodes[i]
            .engine
            .tun
            .rx
            .push_back((packet.to_vec(), gso.unwrap_or_default()));
        self.receive_packets(i, true);
    }

    /// Node `i`'s public key (what trust lists name).
    pub fn public_key(&self, i: usize) -> secure::PublicKey {
        self.nodes[i].identity.public()
    }

    /// Reloads node `i`'s trust lists (as SIGHUP does): `edit` changes the
    /// simulation's security settings for that node alone.
    pub fn reload_security(&mut self, i: usize, edit: impl FnOnce(&mut SecurityConfig)) {
        let mut c = self.security.clone().expect("security on");
        edit(&mut c);
        self.nodes[i].machine.role().set_security(&c);
    }

    /// Node `i` sends a probe (`obu ping` / `traceroute`) now; the reason
    /// if it cannot.
    pub fn probe(
        &mut self,
        i: usize,
        req: protocol::probe::ProbeRequest,
    ) -> Result<(), common::counters::DropReason> {
        let now = self.now;
        let n = &mut self.nodes[i];
        let role = n.machine.role();
        let r = role.probe(now, req, n.engine.actions());
        n.engine.flush_actions(role);
        self.collect(i);
        r
    }

    /// The probe answers node `i` received since the last call.
    pub fn probe_results(&mut self, i: usize) -> Vec<protocol::probe::ProbeResult> {
        let mut v = Vec::new();
        self.nodes[i].machine.role().take_probe_results(&mut v);
        v
    }

    /// Tells RSU `i` whether its uplink is up (as `[backbone] uplink_check`
    /// would); it says so in its next beacon.
    pub fn set_uplink(&mut self, i: usize, up: bool) {
        self.nodes[i].machine.role().set_uplink(up);
    }

    /// Hands node `to` a raw frame as if heard on the air now.
    pub fn inject_frame(&mut self, to: usize, frame: &[u8]) {
        self.nodes[to].engine.link.rx.push_back(frame.to_vec());
        self.receive_frames(to);
    }

    /// Delivers `frame` to node `to` as if node `from` had sent it (its
    /// source MAC rewritten): a recording played back by another node.
    pub fn inject_frame_from(&mut self, to: usize, from: usize, frame: &[u8]) {
        let mut f = frame.to_vec();
        if let Some(src) = f.get_mut(6..12) {
            src.copy_from_slice(&self.nodes[from].mac.0);
        }
        self.inject_frame(to, &f);
    }

    /// Frames in flight (not yet delivered), as (sender, bytes).
    pub fn in_flight(&self) -> impl Iterator<Item = (usize, &[u8])> {
        self.queue.iter().map(|f| (f.from, &f.bytes[..]))
    }

    /// Loses the frames in flight for which `lost(sender, bytes)` holds (a
    /// bad moment on the air); returns how many.
    pub fn drop_in_flight(&mut self, mut lost: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let before = self.queue.len();
        self.queue.retain(|f| !lost(f.from, &f.bytes));
        before - self.queue.len()
    }

    /// Builds the frame node `from` would send for `action` (payload from `payload`).
    pub fn frame_for(&self, from: usize, action: &Action, payload: &[u8]) -> Vec<u8> {
        let mut batch = SendBatch::new(self.nodes[from].mac, DEFAULT_ETHERTYPE, MTU, false, 1);
        assert!(batch.push_action(action), "action fits a frame");
        batch
            .frame_bytes(0, |_| Some(payload))
            .expect("payload resolves")
    }

    /// Advances simulated time by `d`, in 1 ms steps.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    /// Runs until `cond` holds or `limit` passes; returns the time it took.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut cond: impl FnMut(&Sim) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let end = self.now + limit;
        while self.now < end {
            if cond(self) {
                return Some(self.now.since(start));
            }
            self.step();
        }
        cond(self).then(|| self.now.since(start))
    }

    /// One millisecond: deliver due frames (each node reads what it heard
    /// in receive batches), send a turn of queued bulk, run due timers.
    /// On a shared CPU, reading and timers wait their turn instead.
    pub fn step(&mut self) {
        let now = self.now;
        for i in 0..self.nodes.len() {
            if self.nodes[i].engine.link.radio.is_some() {
                self.nodes[i].engine.link.transmit_step();
                self.collect(i);
            }
        }
        let heard = self.deliver(now);
        match self.cpu.take() {
            Some(cpu) => self.work_on_cpu(now, heard, cpu),
            None => {
                // What arrived in this millisecond is read together, as
                // the kernel queues it for one receive batch.
                for j in heard {
                    if !self.is_stalled(j) {
                        self.read_all(j);
                    }
                }
                for i in 0..self.nodes.len() {
                    if self.is_stalled(i) {
                        continue;
                    }
                    // Back from a stall: what waited is read first.
                    self.read_all(i);
                    self.send_bulk(i);
                    if self.nodes[i].machine.role_ref().next_tick() <= now {
                        self.run_timers(i, now);
                    }
                }
            }
        }
        self.now = self.now + Duration::from_millis(1);
    }

    /// Puts the frames due by `now` into their receivers' link queues;
    /// returns the nodes that had none waiting before.
    fn deliver(&mut self, now: Time) -> Vec<usize> {
        let mut heard = Vec::new();
        while self.queue.front().is_some_and(|f| f.at <= now) {
            let f = self.queue.pop_front().expect("front exists");
            let receivers: Vec<usize> = if self.everyone {
                (0..self.nodes.len()).collect()
            } else {
                self.adj.get(f.from).cloned().unwrap_or_default()
            };
            for j in receivers {
                if j == f.from {
                    continue;
                }
                self.nodes[j].heard_control_us += f.control_us;
                if f.bytes.get(ETH_HEADER_LEN + 1) == Some(&(MessageType::Beacon as u8)) {
                    self.nodes[j].beacons_heard += 1;
                }
                if !f.dst.is_broadcast() && f.dst != self.nodes[j].mac {
                    continue;
                }
                self.frames_delivered += 1;
                // Each receiver gets its own copy: sealed data opens in place.
                if self.nodes[j].engine.link.rx.is_empty() {
                    heard.push(j);
                }
                self.nodes[j].engine.link.rx.push_back(f.bytes.clone());
            }
        }
        heard
    }

    /// Node `j` reads every frame waiting on its link.
    fn read_all(&mut self, j: usize) {
        while !self.nodes[j].engine.link.rx.is_empty() {
            self.receive_frames(j);
        }
    }

    /// Node `i` reads what its TUN still holds (as the daemon's poll says
    /// the TUN is readable) and sends a turn's share of its queued bulk.
    fn send_bulk(&mut self, i: usize) {
        let readable = !self.nodes[i].engine.tun.rx.is_empty();
        if readable || self.nodes[i].engine.has_bulk() {
            self.receive_packets(i, readable);
        }
    }

    /// Node `i` runs its timers at `now`.
    fn run_timers(&mut self, i: usize, now: Time) {
        let n = &mut self.nodes[i];
        n.engine.tick(n.machine.role(), now);
        self.collect(i);
    }

    /// One millisecond of the shared CPU: nodes with frames waiting or
    /// timers due join its queue; it works from the front as long as its
    /// capacity lasts. A node's timers run after it read what reached it
    /// (as the daemon's loop drains its link before it judges anyone).
    fn work_on_cpu(&mut self, now: Time, heard: Vec<usize>, mut cpu: cpu::Cpu) {
        for j in heard {
            cpu.push(cpu::Work::Receive(j));
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].machine.role_ref().next_tick() <= now {
                cpu.push(cpu::Work::Tick(i));
            }
        }
        cpu.refill();
        while let Some(w) = cpu.take() {
            let i = w.node();
            let sent_before = self.queue.len();
            let mut cost = cpu.costs.wakeup_us;
            cost += self.nodes[i]
                .engine
                .link
                .rx
                .iter()
                .map(|f| cpu.costs.of_frame(f))
                .sum::<u64>();
            self.read_all(i);
            if self.nodes[i].machine.role_ref().next_tick() <= now {
                self.run_timers(i, now);
            }
            cost += self
                .queue
                .iter()
                .skip(sent_before)
                .map(|f| cpu.costs.of_frame(&f.bytes))
                .sum::<u64>();
            cpu.charge(cost);
        }
        cpu.end_ms();
        self.cpu = Some(cpu);
        for i in 0..self.nodes.len() {
            self.send_bulk(i);
        }
    }

    /// Index of the neighbour OBU `i` forwards to for RSU `rsu`.
    pub fn next_hop_toward(&self, i: usize, rsu: usize) -> Option<usize> {
        let nh = self.nodes[i].obu()?.next_hop_to(self.nodes[rsu].mac)?;
        self.nodes.iter().position(|n| n.mac == nh)
    }

    /// The upstream of OBU `i` as (rsu index, next-hop index, hops).
    pub fn upstream(&self, i: usize) -> Option<(usize, usize, u8)> {
        let u = self.nodes[i].obu()?.upstream()?;
        let idx = |id: NodeId| self.nodes.iter().position(|n| n.mac == id);
        Some((idx(u.rsu)?, idx(u.next_hop)?, u.hops))
    }
}

/// A minimal IPv4 packet (header only plus `extra` payload bytes) from
/// `src` to `dst`, with a marker byte to tell packets apart.
pub fn ipv4_packet(src: IpAddr, dst: IpAddr, marker: u8, extra: usize) -> Vec<u8> {
    let mut p = vec![0u8; 20 + extra];
    p[0] = 0x45;
    let len = (20 + extra) as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    if let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) {
        p[12..16].copy_from_slice(&s.octets());
        p[16..20].copy_from_slice(&d.octets());
    }
    if extra > 0 {
        p[20] = marker;
    }
    p
}

/// A TCP/IPv4 super-packet from `src` to `dst` with `payload` bytes from
/// sequence number `seq` (PSH set), as the kernel hands one to a TUN with
/// offload (checksums left for the segments).
pub fn tcp_super_packet(src: IpAddr, dst: IpAddr, seq: u32, payload: usize) -> Vec<u8> {
    let mut p = vec![0u8; 40 + payload];
    p[0] = 0x45;
    let len = p.len().min(65535) as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    if let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) {
        p[12..16].copy_from_slice(&s.octets());
        p[16..20].copy_from_slice(&d.octets());
    }
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&5201u16.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = 0x18;
    for (k, b) in p[40..].iter_mut().enumerate() {
        *b = k as u8;
    }
    p
}
