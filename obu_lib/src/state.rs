//! The OBU's sans-IO state machine: its state, its handlers and timers.
//! By concern: [`attach`] (upstream choice, replies, leaves), [`flooding`]
//! (beacon rebroadcast and suppression), [`session`] (encrypted mode),
//! [`relay`] (descendants' data and routes), [`certs`] (our certificate,
//! trust reloads). What it shares with the RSU (the ingress path, tables,
//! broadcast, security, expiry) is `protocol::core`.

use crate::upstream::{
    self, Candidate, Lateness, Liveness, RsuInfo, Upstream, HOLD_DOWN, MAX_RSUS,
};
use common::action::{Action, Control, Payload, RawMessage, Sealing};
use common::counters::{Counters, DropReason};
use common::ip;
use common::wire::{
    AddrList, BeaconReplyRepr, BeaconRepr, CertMsgRepr, DataRepr, HandshakeRepr, MessageType,
    ParsedMessage, ProbeTarget, SolicitRepr, CERT_FLAG_NO_SESSION,
};
use common::{NodeId, Time};
use protocol::core::RoleCore;
use protocol::downstream::{DownRoute, DownstreamTable, Learned};
use protocol::handlers::{Handled, Handlers};
use protocol::inbound::{link_payload, Jitter};
use protocol::params::RoutingConfig;
use protocol::params::SecurityConfig;
use protocol::probe::ProbeRoute;
use protocol::role::{CandidateView, Role, RoleSnapshot, RoleView, UpstreamView};
use protocol::role_params::RoleParams;
use protocol::security::Verdict;
use protocol::seqwin::SeqCheck;
use secure::control;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

mod attach;
pub use attach::LATE_COPY;
mod certs;
mod flooding;
mod relay;
mod session;

pub const MAX_NEIGHBORS: usize = 1024;
pub const MAX_DOWNSTREAM: usize = 4096;
/// How often timers run: bounds how late a dead next hop is noticed.
/// At most this long between two housekeeping runs; sooner when a
/// candidate's beacons are due to time out or a leave is due (see
/// `schedule_housekeeping`), so an idle OBU wakes about ten times a second
/// (that matters with hundreds of daemons on one machine) and a dead next
/// hop is still noticed on time.
const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(100);
/// How often the tables (neighbours, routes, sessions) are expired: their
/// lifetimes are seconds.
const EXPIRE_EVERY: Duration = Duration::from_millis(100);
/// Encrypted: at most one keepalive this often for data our RSU sealed
/// with a session we no longer hold (`confirm_session`).
const CONFIRM_EVERY: Duration = Duration::from_secs(1);
/// Encrypted: replies carry a keepalive while the session is this young.
const KEEPALIVE_WHILE_YOUNGER: Duration = Duration::from_secs(1);
/// RSU state with no candidates is forgotten after this long.
const RSU_FORGET_AFTER: Duration = Duration::from_secs(30);
/// A leave goes out twice, this far apart (the old RSU is fading: one copy
/// may be lost; without any, its routes go at its neighbour timeout).
const LEAVE_REPEAT: Duration = Duration::from_millis(50);
const LEAVE_COPIES: u8 = 2;
/// Most leaves pending at once (handovers faster than the leave delay).
const MAX_PENDING_LEAVES: usize = 4;
/// Beacon suppression: the longest wait before a contended rebroadcast,
/// the copies at our hop count that make it unnecessary, and how many of
/// our neighbours should contend for each beacon on average (each does
/// with probability GOSSIP_TARGET / neighbours).
const FLOOD_WAIT_MAX: Duration = Duration::from_millis(20);
const SUPPRESS_AFTER_COPIES: u8 = 1;
const GOSSIP_TARGET: usize = 2;
/// Most rebroadcasts waiting at once (one per RSU and beacon, bounded).
const MAX_PENDING_FLOODS: usize = 64;
/// A neighbour's solicit makes us rebroadcast every beacon for this long.
const SOLICITED_FOR: Duration = Duration::from_secs(3);
/// Without an upstream, we solicit at most this often.
const SOLICIT_EVERY: Duration = Duration::from_secs(1);

/// Secure modes: a reply from a descendant without a certificate is passed
/// up (its RSU certifies it) but not learned from; the path it came by is
/// kept this long, for the certificate on its way back.
const UNCERTIFIED_KEPT: Duration = Duration::from_secs(5);
/// Most such paths kept at once.
const MAX_UNCERTIFIED: usize = 1024;

/// A descendant's route waiting for its certificate (secure modes).
#[derive(Clone, Copy, Debug)]
struct Uncertified {
    key: [u8; 32],
    route: DownRoute,
}

/// A beacon copy waiting to be rebroadcast (suppression).
#[derive(Clone, Debug)]
struct PendingFlood {
    rsu: NodeId,
    seq: u32,
    /// The hop count the copy carries (ours).
    hops: u8,
    at: Time,
    /// Copies at our hop count heard meanwhile.
    copies: u8,
    msg: Control,
}

/// A leave to send to an RSU we moved away from while it still worked.
#[derive(Clone, Copy, Debug)]
struct PendingLeave {
    rsu: NodeId,
    at: Time,
    copies_left: u8,
}

pub struct Obu {
    core: RoleCore,
    addr_list: AddrList,
    rsus: HashMap<NodeId, RsuInfo>,
    /// Per neighbour that relays beacons to us: how late it can be, and
    /// its hold-down (kept while it is not a candidate, bounded).
    liveness: HashMap<NodeId, Liveness>,
    upstream: Option<Upstream>,
    next_housekeeping: Time,
    next_expiry: Time,
    /// Grows with every change of RSU; carried in replies so the backbone
    /// prefers the newest attachment.
    attach_seq: u32,
    leaves: Vec<PendingLeave>,
    /// Encrypted: the RSU we are about to move to, once a session with it
    /// is up (make-before-break).
    preparing: Option<Upstream>,
    /// When we last replied to our upstream RSU (`reply_interval_ms`).
    last_reply: Option<Time>,
    /// The reception our last reply reported (`u8::MAX`: none yet).
    reported_quality: u8,
    /// Encrypted: when we last confirmed our session to our RSU because it
    /// sealed data for us that we could not open (`on_sealed`).
    last_confirm: Option<Time>,
    /// Reply at the next chance: our RSU restarted or our next hop lost
    /// its tables (it solicited), so our route there is gone.
    reply_now: bool,
    /// Rebroadcasts waiting out their contention time.
    floods: Vec<PendingFlood>,
    /// A neighbour without an upstream solicited: every beacon is
    /// rebroadcast until then.
    solicited_until: Time,
    /// Without an upstream: when we solicit next.
    next_solicit: Time,
    /// Secure modes: descendants' routes waiting for their certificates.
    uncertified: HashMap<(NodeId, [u8; 32]), Uncertified>,
    /// Trust lists were reloaded: RSUs no longer trusted are left at the
    /// next housekeeping.
    trust_reloaded: bool,
    jitter: Jitter,
}

impl Obu {
    pub fn new(p: RoleParams) -> Obu {
        let p_attach_seq = p.attach_seq_start;
        let addr_list = AddrList::from_slice(&p.addresses).unwrap_or_default();
        let (mut core, seed) = RoleCore::new(p, (MAX_NEIGHBORS, MAX_DOWNSTREAM));
        // A full neighbour table: frames of new neighbours are dropped, so
        // a flood of made-up MACs cannot make us relay for them.
        core.refuse_when_neighbors_full = true;
        Obu {
            core,
            addr_list,
            rsus: HashMap::new(),
            liveness: HashMap::new(),
            upstream: None,
            next_housekeeping: Time::ZERO,
            next_expiry: Time::ZERO,
            attach_seq: p_attach_seq,
            leaves: Vec::new(),
            preparing: None,
            last_reply: None,
            reported_quality: u8::MAX,
            last_confirm: None,
            reply_now: false,
            floods: Vec::new(),
            solicited_until: Time::ZERO,
            next_solicit: Time::ZERO,
            uncertified: HashMap::new(),
            trust_reloaded: false,
            jitter: Jitter::new(seed ^ 0x5bd1_e995),
        }
    }

    /// The current attachment sequence.
    pub fn attach_seq(&self) -> u32 {
        self.attach_seq
    }

    pub fn id(&self) -> NodeId {
        self.core.id
    }
    pub fn upstream(&self) -> Option<Upstream> {
        self.upstream
    }
    /// Encrypted mode: whether a session with the upstream RSU is up.
    pub fn has_session(&self) -> bool {
        match (&self.core.sec, self.upstream) {
            (Some(sec), Some(u)) => sec.sessions.has_session(&u.rsu),
            _ => false,
        }
    }
    /// Encrypted mode: the cipher of the session with the upstream RSU and
    /// whether its keys came from the post-quantum hybrid exchange.
    pub fn session_suite(&self) -> Option<(secure::Cipher, bool)> {
        let (sec, u) = (self.core.sec.as_ref()?, self.upstream?);
        sec.sessions.session_suite(&u.rsu)
    }
    /// Secure modes: our certificate from an RSU, if we hold one.
    pub fn own_cert(&self) -> Option<common::wire::CertRepr> {
        self.core.sec.as_ref().and_then(|s| s.own_cert)
    }

    /// Secure modes: whether we hold a certificate valid at `now`.
    pub fn certified(&self, now: Time) -> bool {
        self.core
            .sec
            .as_ref()
            .is_some_and(|s| s.valid_own_cert(now).is_some())
    }

    pub fn downstream(&self) -> &DownstreamTable {
        &self.core.downstream
    }
    /// Entries held in all tables (for bounded-state checks).
    pub fn state_size(&self) -> usize {
        self.core.neighbors.len()
            + self
                .rsus
                .values()
                .map(|r| 1 + r.candidates.len())
                .sum::<usize>()
            + self.core.downstream.len()
            + self.core.broadcast.tracked()
    }

    fn is_own_addr(&self, a: &IpAddr) -> bool {
        self.core.addrs.iter().any(|p| p.addr == *a)
    }

    /// Next hop toward `rsu`: the upstream if it leads there, else the best
    /// candidate we know for it (a relay may carry traffic for an RSU other
    /// than its own).
    pub fn next_hop_to(&self, rsu: NodeId) -> Option<NodeId> {
        match self.upstream {
            Some(u) if u.rsu == rsu => Some(u.next_hop),
            _ => self.rsus.get(&rsu).and_then(|i| i.best()).map(|(nh, _)| nh),
        }
    }

    /// When housekeeping must run next: the first candidate timeout, the
    /// first leave or solicit due, at most `HOUSEKEEPING_EVERY` away.
    fn schedule_housekeeping(&mut self, now: Time) {
        let mut next = now + HOUSEKEEPING_EVERY;
        for info in self.rsus.values() {
            for (nh, c) in &info.candidates {
                next = next.min(c.last_heard + self.timeout_of(now, info, nh, c));
            }
        }
        for l in &self.leaves {
            next = next.min(l.at);
        }
        if self.upstream.is_none() {
            next = next.min(self.next_solicit);
        }
        self.next_housekeeping = next.max(now + Duration::from_millis(1));
    }

    /// How long neighbour `nh` may be silent before it counts as gone:
    /// the configured timeout, longer for one known to be late at times.
    fn timeout_of(&self, now: Time, rsu: &RsuInfo, nh: &NodeId, c: &Candidate) -> Duration {
        path_timeout(&self.liveness, &self.core.routing, now, &rsu.late, nh, c)
    }

    /// Candidates whose beacons stopped go; a next hop of ours that did is
    /// held down (it ranks below every other path for `HOLD_DOWN`).
    fn expire_candidates(&mut self, now: Time) {
        let current = self.upstream;
        // What the log says if our next hop times out: how long it was
        // silent, the timeout it had, and how well it was heard.
        let evidence = current.and_then(|u| {
            let info = self.rsus.get(&u.rsu)?;
            let c = info.candidates.get(&u.next_hop)?;
            Some((
                now.since(c.last_heard),
                self.timeout_of(now, info, &u.next_hop, c),
                c.window.ratio_permille(),
            ))
        });
        let mut lost = false;
        let (liveness, routing) = (&self.liveness, &self.core.routing);
        let timeout = |late: &Lateness, nh: &NodeId, c: &Candidate| {
            path_timeout(liveness, routing, now, late, nh, c)
        };
        for (rsu, info) in self.rsus.iter_mut() {
            let cur_nh = current.filter(|u| u.rsu == *rsu).map(|u| u.next_hop);
            if info.expire(now, timeout, cur_nh) {
                lost = true;
            }
        }
        self.rsus
            .retain(|_, i| !i.candidates.is_empty() || now.since(i.last_heard) < RSU_FORGET_AFTER);
        let Some(u) = current.filter(|_| lost) else {
            return;
        };
        let (silent, timeout, ratio) = evidence.unwrap_or_default();
        tracing::info!(
            rsu = %u.rsu,
            next_hop = %u.next_hop,
            silent_ms = silent.as_millis() as u64,
            timeout_ms = timeout.as_millis() as u64,
            reception = ratio as f64 / 1000.0,
            "upstream next hop timed out; failing over"
        );
        if let Some(l) = self.liveness.get_mut(&u.next_hop) {
            l.held_until = now + HOLD_DOWN;
            Counters::inc(&self.core.counters.hold_downs, 1);
        }
    }

    /// Marks the candidates whose neighbour is held down.
    fn mark_held(&mut self, now: Time) {
        for info in self.rsus.values_mut() {
            for (nh, c) in info.candidates.iter_mut() {
                c.held = self.liveness.get(nh).is_some_and(|l| l.held(now));
            }
        }
    }

    fn housekeeping(&mut self, now: Time, out: &mut Vec<Action>) {
        if now >= self.next_expiry {
            self.next_expiry = now + EXPIRE_EVERY;
            self.core.expire(now);
            self.uncertified
                .retain(|_, u| now.since(u.route.last_seen) < UNCERTIFIED_KEPT);
            if let Some(sec) = self.core.sec.as_mut() {
                sec.certs.expire(sec.wall_us(now));
            }
            let forget = self.core.routing.neighbor_timeout() * upstream::MAX_TIMEOUT_FACTOR * 8;
            self.liveness
                .retain(|_, l| now.since(l.last_heard) < forget || l.held(now));
        }
        if std::mem::take(&mut self.trust_reloaded) {
            self.leave_untrusted(now, out);
        }
        self.expire_candidates(now);
        // Re-evaluate every tick: failover at once, and a lost RSU is left.
        self.reselect(now, out);
        self.find_weak_links(now);
        // At most one such reply per beacon interval (solicits are not
        // authenticated: forged ones must not make us sign replies fast).
        let gap = self.core.routing.beacon_interval();
        let spaced = self.last_reply.is_none_or(|t| now.since(t) >= gap);
        if let Some(u) = self.upstream.filter(|_| self.reply_now && spaced) {
            self.reply_upstream(u, now, out);
        }
        self.send_leaves(now, out);
        self.maybe_solicit(now, out);
    }
}

impl Handlers for Obu {
    fn core(&mut self) -> &mut RoleCore {
        &mut self.core
    }

    fn on_beacon(
        &mut self,
        now: Time,
        from: NodeId,
        m: &ParsedMessage,
        b: &BeaconRepr,
        out: &mut Vec<Action>,
    ) -> Handled {
        if b.rsu == self.core.id {
            return Err(DropReason::Loop);
        }
        let my_hops = b.hops.saturating_add(1);
        if my_hops > self.core.routing.max_hops {
            return Err(DropReason::TtlExpired);
        }
        if !self.rsus.contains_key(&b.rsu) && self.rsus.len() >= MAX_RSUS {
            return Err(DropReason::NoRoute);
        }
        self.beacon_authentic(now, m, b, from, my_hops)?;
        if !self.record_beacon(now, from, b, my_hops)? {
            self.on_copy(b);
            self.reselect(now, out);
            return Ok(());
        }
        self.flood_beacon(now, from, m, b, my_hops, out);
        let before = self.upstream;
        self.reselect(now, out);
        // Refresh our route once per `reply_interval_ms` (a change was
        // answered at once already).
        if let Some(u) = self.upstream {
            if u.rsu == b.rsu && before == self.upstream && self.reply_due(now) {
                self.reply_upstream(u, now, out);
            }
        }
        Ok(())
    }

    fn on_reply(
        &mut self,
        now: Time,
        from: NodeId,
        m: &ParsedMessage,
        r: &BeaconReplyRepr,
        out: &mut Vec<Action>,
    ) -> Handled {
        let ttl = m.header.ttl;
        if r.obu == self.core.id {
            return Err(DropReason::Loop);
        }
        let mut key = None;
        let mut certified = true;
        if let Some(sec) = self.core.sec.as_mut() {
            let k = sec.verify_reply(now, m)?;
            if !self.core.downstream.key_matches(&r.obu, &k.0) {
                // Another key already speaks for this OBU id here.
                return Err(DropReason::AuthFailed);
            }
            // Routes only under a key an RSU certified for this id; a
            // reply without a valid certificate (none yet, one from an RSU
            // we do not trust, one run out) goes up so that its RSU can
            // certify it, but teaches us nothing yet.
            certified = r
                .cert
                .is_some_and(|c| sec.check_cert(now, &c, r.obu, &k.0).is_ok());
            key = Some(k.0);
        }
        let route = DownRoute {
            next_hop: from,
            hops: r.hops,
            addrs: r.addrs,
            last_seen: now,
            rsu: r.rsu,
            rtt_us: None,
            key,
            attach_seq: r.attach_seq,
            parent: r.parent,
            quality_pct: r.quality_pct,
        };
        if r.leaving {
            // The OBU left this RSU's tree: our route to it that way is
            // stale (a leave is relayed, never learned from).
            if self
                .core
                .downstream
                .get(&r.obu)
                .is_some_and(|d| d.next_hop == from)
            {
                self.core.downstream.remove(&r.obu);
                self.core.changed = true;
            }
        } else if !certified {
            if let Some(k) = key {
                self.await_cert(now, r.obu, k, route);
            }
        } else {
            self.learn_route(r.obu, route);
        }
        if ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        match self.next_hop_to(r.rsu) {
            Some(nh) if nh == from => Err(DropReason::Loop),
            Some(nh) => {
                let msg = if self.core.sec.is_some() {
                    Control::Raw(Box::new(RawMessage::copy_of(m)))
                } else {
                    Control::BeaconReply(Box::new(*r))
                };
                out.push(Action::SendControl {
                    dst: nh,
                    ttl: ttl - 1,
                    msg,
                });
                Ok(())
            }
            None => Err(DropReason::NoRoute),
        }
    }

    fn on_data(
        &mut self,
        now: Time,
        from: NodeId,
        slot: u16,
        m: &ParsedMessage,
        d: &DataRepr,
        verdict: Verdict,
        out: &mut Vec<Action>,
    ) -> Handled {
        let sealed = protocol::security::check_sealing(m.header.flags, self.core.encrypted())?;
        if !sealed {
            return self.on_plain(from, slot, m, d, out);
        }
        let pl = link_payload(slot, m, d.payload.len());
        let (kind, ttl) = (m.header.msg_type, m.header.ttl);
        // Only a session we do not hold: a replayed or forged copy says
        // nothing about which session the RSU uses.
        if verdict == Verdict::Failed(DropReason::NoSession)
            && kind == MessageType::DataDown
            && d.dest == self.core.id
        {
            self.confirm_session(now, d.origin, out);
        }
        self.on_sealed(from, slot, kind, ttl, d.origin, d.dest, pl, verdict, out)
    }

    /// Handshake messages: ours to finish, or relayed (init toward its RSU,
    /// response down toward its OBU), like replies and downstream data.
    fn on_handshake(
        &mut self,
        now: Time,
        from: NodeId,
        m: &ParsedMessage,
        h: &HandshakeRepr,
        out: &mut Vec<Action>,
    ) -> Handled {
        if !self.core.encrypted() {
            return Err(DropReason::Unprotected);
        }
        if h.kind == MessageType::HandshakeResponse && h.to == self.core.id {
            return self.complete_handshake(now, h, out);
        }
        let ttl = m.header.ttl;
        if ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        let nh = match h.kind {
            MessageType::HandshakeInit => self.next_hop_to(h.to),
            _ => self.core.downstream.get(&h.to).map(|r| r.next_hop),
        };
        let nh = nh.ok_or(DropReason::NoRoute)?;
        if nh == from {
            return Err(DropReason::Loop);
        }
        out.push(Action::SendControl {
            dst: nh,
            ttl: ttl - 1,
            msg: Control::Raw(Box::new(RawMessage::copy_of(m))),
        });
        Ok(())
    }

    /// A neighbour without an upstream: rebroadcast beacons for it a
    /// while. If it is our own next hop, it restarted and lost our route:
    /// reply at once so that it (and our RSU) learn it again.
    fn on_solicit(&mut self, now: Time, from: NodeId, _: &SolicitRepr) -> Handled {
        self.solicited_until = now + SOLICITED_FOR;
        if self.upstream.is_some_and(|u| u.next_hop == from) {
            self.reply_now = true;
            self.next_housekeeping = now;
        }
        Ok(())
    }

    /// A certificate: ours to keep, or on its way down to a descendant
    /// (checked here too; a descendant waiting for it is learned now).
    fn on_certificate(
        &mut self,
        now: Time,
        from: NodeId,
        ttl: u8,
        c: &CertMsgRepr,
        out: &mut Vec<Action>,
    ) -> Handled {
        if c.dest == self.core.id {
            return self.accept_own_cert(now, c);
        }
        if ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        // Where it would go first (cheap), then the signature.
        let slot = (c.dest, c.cert.key);
        let waiting = self.uncertified.get(&slot).copied();
        if waiting.is_none() && self.core.downstream.get(&c.dest).is_none() {
            return Err(DropReason::NoRoute);
        }
        let sec = self.core.sec.as_mut().ok_or(DropReason::Unprotected)?;
        sec.check_cert(now, &c.cert, c.dest, &c.cert.key)?;
        let nh = match waiting {
            Some(u) => {
                self.uncertified.remove(&slot);
                if self.core.downstream.key_matches(&c.dest, &u.key) {
                    self.learn_route(c.dest, u.route);
                }
                u.route.next_hop
            }
            None => self
                .core
                .downstream
                .get(&c.dest)
                .map(|r| r.next_hop)
                .ok_or(DropReason::NoRoute)?,
        };
        if nh == from {
            return Err(DropReason::Loop);
        }
        let mut body = vec![0u8; c.body_len()];
        c.emit(&mut body);
        out.push(Action::SendControl {
            dst: nh,
            ttl: ttl - 1,
            msg: Control::Raw(Box::new(RawMessage {
                msg_type: MessageType::Certificate,
                flags: 0,
                body,
            })),
        });
        Ok(())
    }

    /// Probes: for us by id or address, down toward a descendant, else up
    /// toward our RSU (which knows its whole cell).
    fn probe_route(&self, target: ProbeTarget) -> ProbeRoute {
        let core = &self.core;
        let down = match target {
            ProbeTarget::Node(n) if n == core.id => return ProbeRoute::Mine,
            ProbeTarget::Addr(a) if self.is_own_addr(&a) => return ProbeRoute::Mine,
            ProbeTarget::Node(n) => core.downstream.get(&n),
            ProbeTarget::Addr(a) => core.downstream.lookup_addr(&a).map(|(_, r)| r),
        };
        match (down, self.upstream) {
            (Some(r), _) => ProbeRoute::Via(r.next_hop),
            (None, Some(u)) => ProbeRoute::Via(u.next_hop),
            (None, None) => ProbeRoute::Unknown,
        }
    }

    /// A TUN packet: broadcast went out already (`tun_unicast`);
    /// encrypted, everything goes to the RSU sealed (it turns V2V traffic
    /// around); in the clear, to a descendant's address downstream, else
    /// upstream.
    fn on_packet(&mut self, now: Time, slot: u16, packet: &[u8], out: &mut Vec<Action>) -> Handled {
        let Some((dst, payload)) = self.core.tun_unicast(now, slot, packet, out)? else {
            return Ok(());
        };
        let u = self.upstream;
        if self.core.encrypted() {
            let u = u.ok_or(DropReason::NoRoute)?;
            out.push(self.sealed_up(u.next_hop, u.rsu, payload));
            return Ok(());
        }
        let (next_hop, kind, dest) = match self.core.downstream.lookup_addr(&dst) {
            Some((obu, r)) => (r.next_hop, MessageType::DataDown, obu),
            None => {
                let u = u.ok_or(DropReason::NoRoute)?;
                (u.next_hop, MessageType::DataUp, u.rsu)
            }
        };
        out.push(Action::SendData {
            next_hop,
            kind,
            ttl: self.core.data_ttl(),
            origin: self.core.id,
            dest,
            payload,
            sealing: Sealing::Plain,
        });
        Ok(())
    }
}

impl Role for Obu {
    fn on_tick(&mut self, now: Time, out: &mut Vec<Action>) {
        self.send_floods(now, out);
        if now >= self.next_housekeeping {
            self.housekeeping(now, out);
            self.maybe_handshake(now, out);
            self.schedule_housekeeping(now);
        }
    }

    /// New trust lists: RSUs no longer trusted are left at once (the
    /// leave takes effect at the next tick's reselection).
    fn set_security(&mut self, security: &SecurityConfig) {
        self.core.set_security(security);
        self.trust_reloaded = true;
        self.next_housekeeping = Time::ZERO;
    }

    fn next_tick(&self) -> Time {
        let flood = self.floods.iter().map(|f| f.at).min();
        flood.map_or(self.next_housekeeping, |f| f.min(self.next_housekeeping))
    }

    fn snapshot(&self, now: Time) -> RoleSnapshot {
        let mut candidates = Vec::new();
        for (rsu, info) in &self.rsus {
            for (nh, c) in &info.candidates {
                candidates.push(CandidateView {
                    rsu: *rsu,
                    uplink: info.uplink,
                    preference: info.preference,
                    next_hop: *nh,
                    hops: c.hops,
                    reception_permille: c.window.ratio_permille(),
                    last_heard: c.last_heard,
                });
            }
        }
        candidates.sort_by_key(|c| (c.rsu, c.hops, c.next_hop));
        let upstream = self.upstream.map(|u| UpstreamView {
            rsu: u.rsu,
            next_hop: u.next_hop,
            hops: u.hops,
            attach_seq: self.attach_seq,
        });
        let role = RoleView::Obu {
            upstream,
            candidates,
        };
        let mut snap = RoleSnapshot::of(&self.core, now, self.upstream.is_some(), role);
        snap.route_count += usize::from(self.upstream.is_some());
        snap
    }
}

/// How long the path to an RSU (`late`: the RSU's lateness) through
/// neighbour `nh` (candidate `c`) may be silent at `now`: the neighbour's
/// own timeout (`liveness`), the candidate's loss and lateness rules.
fn path_timeout(
    liveness: &HashMap<NodeId, Liveness>,
    routing: &RoutingConfig,
    now: Time,
    late: &Lateness,
    nh: &NodeId,
    c: &Candidate,
) -> Duration {
    let configured = routing.neighbor_timeout();
    let own = liveness
        .get(nh)
        .map_or(configured, |l| l.timeout(now, configured));
    upstream::candidate_timeout(c, late, now, own, configured, routing.beacon_interval())
}
