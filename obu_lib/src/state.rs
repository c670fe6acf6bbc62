//! The OBU's sans-IO state machine: beacon flooding, upstream choice and
//! failover, replies, relaying, downstream routes. What it shares with the
//! RSU (the ingress path, tables, broadcast, security, expiry) is
//! `protocol::core`; here are the OBU's handlers.

use crate::upstream::{self, Candidate, RsuInfo, Upstream, MAX_RSUS};
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
use protocol::params::SecurityConfig;
use protocol::probe::ProbeRoute;
use protocol::role::{Role, RoleSnapshot};
use protocol::role_params::RoleParams;
use protocol::security::Verdict;
use protocol::seqwin::SeqCheck;
use secure::control;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

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
            upstream: None,
            next_housekeeping: Time::ZERO,
            next_expiry: Time::ZERO,
            attach_seq: p_attach_seq,
            leaves: Vec::new(),
            preparing: None,
            last_reply: None,
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

    fn reply_to(&mut self, u: Upstream, (seq, timestamp_us): (u32, u64), now: Time) -> Action {
        let reply = BeaconReplyRepr {
            obu: self.core.id,
            rsu: u.rsu,
            seq,
            timestamp_us,
            hops: u.hops,
            addrs: self.addr_list,
            attach_seq: self.attach_seq,
            leaving: false,
            cert: self.core.sec.as_ref().and_then(|s| s.valid_own_cert(now)),
            parent: u.next_hop,
            quality_pct: self
                .rsus
                .get(&u.rsu)
                .and_then(|i| i.candidates.get(&u.next_hop))
                .map_or(0, |c| (c.window.ratio_permille() / 10).min(100) as u8),
        };
        Action::SendControl {
            dst: u.next_hop,
            ttl: self.core.routing.max_hops,
            msg: self.core.reply_control(now, reply),
        }
    }

    /// Reply to our upstream RSU (if we know it).
    fn reply_upstream(&mut self, u: Upstream, now: Time, out: &mut Vec<Action>) {
        if let Some(info) = self.rsus.get(&u.rsu) {
            let a = self.reply_to(u, (info.latest_seq, info.latest_ts_us), now);
            out.push(a);
            self.last_reply = Some(now);
            self.reply_now = false;
        }
        // A young session is confirmed again with each reply, so one lost
        // keepalive does not leave the RSU on the old session.
        let young = self
            .core
            .sec
            .as_ref()
            .filter(|s| s.encrypted())
            .and_then(|s| s.sessions.session_age(now, &u.rsu))
            .is_some_and(|age| age < KEEPALIVE_WHILE_YOUNGER);
        if young {
            out.push(self.sealed_up(u.next_hop, u.rsu, Payload::EMPTY));
        }
    }

    /// Whether `u`'s next hop is still an eligible path to its RSU.
    fn still_works(&self, u: Upstream) -> Option<Upstream> {
        let info = self.rsus.get(&u.rsu)?;
        let c = info
            .candidates
            .get(&u.next_hop)
            .filter(|c| info.eligible(c))?;
        Some(Upstream { hops: c.hops, ..u })
    }

    /// Encrypted: data for a new RSU needs a session with it. While the
    /// current RSU still works, a move waits for that session (the
    /// handshake runs meanwhile), so no packet waits on a handshake.
    fn needs_session_first(&self, rsu: NodeId) -> bool {
        self.core
            .sec
            .as_ref()
            .filter(|s| s.encrypted())
            .is_some_and(|s| !s.sessions.has_session(&rsu))
    }

    /// Re-runs the upstream choice; on a change, counts it and tells the
    /// RSU at once (a reply along the new path) so downstream follows. A
    /// change of RSU is a new attachment (its sequence grows); when the old
    /// RSU still works it is make-before-break: the old RSU is told that we
    /// left once the new attachment had time to reach the backbone.
    fn reselect(&mut self, now: Time, out: &mut Vec<Action>) {
        let mut new = upstream::choose(&self.rsus, self.upstream);
        let old = self.upstream;
        let old_works = old.and_then(|u| self.still_works(u));
        self.preparing = None;
        if let (Some(o), Some(n)) = (old_works, new) {
            if n.rsu != o.rsu && self.needs_session_first(n.rsu) {
                self.preparing = Some(n);
                new = Some(o);
            }
        }
        let changed = match (old, new) {
            (Some(a), Some(b)) => a.rsu != b.rsu || a.next_hop != b.next_hop,
            (None, None) => false,
            _ => true,
        };
        self.upstream = new;
        if !changed {
            return;
        }
        self.core.changed = true;
        Counters::inc(&self.core.counters.upstream_changes, 1);
        // A handshake in flight went along the old path (perhaps lost on
        // it): the next one goes along the new path at once.
        if let (Some(u), Some(sec)) = (new, self.core.sec.as_mut()) {
            if !sec.sessions.has_session(&u.rsu) {
                sec.sessions.abandon_pending(&u.rsu);
            }
        }
        let new_rsu = match (old, new) {
            (Some(a), Some(b)) => a.rsu != b.rsu,
            (None, Some(_)) => true,
            _ => false,
        };
        if new_rsu {
            self.attach_seq = self.attach_seq.wrapping_add(1).max(1);
            if let (Some(o), Some(n)) = (old_works, new) {
                Counters::inc(&self.core.counters.handovers, 1);
                tracing::info!(from = %o.rsu, to = %n.rsu, attach_seq = self.attach_seq, "handover: attaching to the new RSU, then leaving the old one");
                self.leaves.retain(|l| l.rsu != o.rsu && l.rsu != n.rsu);
                if self.leaves.len() < MAX_PENDING_LEAVES {
                    let at = now + self.core.routing.handover_leave();
                    self.leaves.push(PendingLeave {
                        rsu: o.rsu,
                        at,
                        copies_left: LEAVE_COPIES,
                    });
                    self.next_housekeeping = self.next_housekeeping.min(at);
                }
            }
        }
        match new {
            Some(u) => {
                // Back to an RSU we were about to leave: stay attached.
                self.leaves.retain(|l| l.rsu != u.rsu);
                tracing::info!(rsu = %u.rsu, next_hop = %u.next_hop, hops = u.hops, "upstream chosen");
                self.reply_upstream(u, now, out);
            }
            None => {
                tracing::warn!("no upstream: no RSU reachable");
                self.next_solicit = now;
            }
        }
    }

    /// When housekeeping must run next: the first candidate timeout, the
    /// first leave or solicit due, at most `HOUSEKEEPING_EVERY` away.
    fn schedule_housekeeping(&mut self, now: Time) {
        let timeout = self.core.routing.neighbor_timeout();
        let mut next = now + HOUSEKEEPING_EVERY;
        for info in self.rsus.values() {
            for c in info.candidates.values() {
                next = next.min(c.last_heard + timeout);
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

    /// Whether the route at our RSU needs refreshing.
    fn reply_due(&self, now: Time) -> bool {
        let every = self.core.routing.reply_interval();
        self.reply_now || every.is_zero() || self.last_reply.is_none_or(|t| now.since(t) >= every)
    }

    /// Tells RSUs we moved away from that we left (see `reselect`): a
    /// reply flagged `leaving` with the new attachment's sequence, signed
    /// in the secure modes, along our best path to that RSU.
    fn send_leaves(&mut self, now: Time, out: &mut Vec<Action>) {
        let mut i = 0;
        while i < self.leaves.len() {
            let l = self.leaves[i];
            if now < l.at {
                i += 1;
                continue;
            }
            let path = self.rsus.get(&l.rsu).and_then(|info| {
                info.best()
                    .map(|(nh, c)| (nh, c.hops, info.latest_seq, info.latest_ts_us))
            });
            if let Some((nh, hops, seq, timestamp_us)) = path {
                let leave = BeaconReplyRepr {
                    obu: self.core.id,
                    rsu: l.rsu,
                    seq,
                    timestamp_us,
                    hops,
                    addrs: self.addr_list,
                    attach_seq: self.attach_seq,
                    leaving: true,
                    cert: None,
                    parent: NodeId::default(),
                    quality_pct: 0,
                };
                out.push(Action::SendControl {
                    dst: nh,
                    ttl: self.core.routing.max_hops,
                    msg: self.core.reply_control(now, leave),
                });
            }
            if path.is_none() || l.copies_left <= 1 {
                self.leaves.swap_remove(i);
            } else {
                self.leaves[i].copies_left -= 1;
                self.leaves[i].at = now + LEAVE_REPEAT;
                i += 1;
            }
        }
    }

    /// Security on: checks a beacon's signature, trust, hop chain and
    /// freshness, and that it is not older than the last one accepted from
    /// its RSU.
    fn beacon_authentic(&mut self, now: Time, m: &ParsedMessage, b: &BeaconRepr) -> Handled {
        let Some(sec) = self.core.sec.as_mut() else {
            return Ok(());
        };
        // Older than what this RSU already proved: a replay, refused before
        // the (costly) signature check.
        let last = self.rsus.get(&b.rsu).filter(|i| i.key.is_some());
        if let (Some(info), Some(t)) = (last, control::claimed_time(m.trailer)) {
            if t < info.auth_time_us {
                return Err(DropReason::Replayed);
            }
        }
        let v = sec.verify_beacon(now, m, b.hops)?;
        if let Some(info) = self.rsus.get_mut(&b.rsu) {
            if info.key == Some(v.key) && v.time_us < info.auth_time_us {
                return Err(DropReason::Replayed);
            }
            if info.key.is_some_and(|k| k != v.key) {
                // The RSU now signs with another (trusted) key: a rotated
                // key means a restarted RSU; our session with it is gone.
                tracing::info!(rsu = %b.rsu, key = %v.key, "RSU key changed; renewing the session");
                sec.sessions.forget(&b.rsu);
            }
            if info.key != Some(v.key) {
                info.auth_time_us = 0;
            }
            info.key = Some(v.key);
            info.auth_time_us = info.auth_time_us.max(v.time_us);
        } else if self.rsus.len() < MAX_RSUS {
            let info = self.rsus.entry(b.rsu).or_default();
            info.key = Some(v.key);
            info.auth_time_us = v.time_us;
        }
        Ok(())
    }

    /// Records beacon `b` of its RSU heard via `from`: a new epoch (a
    /// restarted RSU) or a resynchronised sequence starts the RSU's windows
    /// afresh. Returns whether it is the first copy of (rsu, seq).
    ///
    /// In mode off a new epoch is taken only once the current one has been
    /// silent for the resync time (`neighbor_timeout_ms`): a restarted
    /// RSU's old process is silent by then, while a forged epoch or an old
    /// beacon still in flight is refused as stale while the real RSU is
    /// heard, so two epochs can never flap the windows or the floods.
    /// Signed beacons need no such wait.
    fn record_beacon(
        &mut self,
        now: Time,
        from: NodeId,
        b: &BeaconRepr,
        my_hops: u8,
    ) -> Result<bool, DropReason> {
        let n = self.core.routing.candidates;
        let resync = self.core.routing.neighbor_timeout();
        // A restarted RSU (or one we lost track of) has no route for us.
        let mut restarted = false;
        let counters = &self.core.counters;
        let info = self.rsus.entry(b.rsu).or_default();
        let other_epoch = info.epoch.is_some_and(|e| e != b.epoch);
        // Signed beacons carry the RSU's own epoch (older ones were refused
        // by their signed time): a new one is a restart at once. Unsigned
        // (mode off), only once the followed epoch has gone silent.
        let hold = self.core.sec.is_none() && now.since(info.epoch_heard) < resync;
        if other_epoch && hold {
            return Err(DropReason::Duplicate);
        }
        if other_epoch {
            // A new process behind the same RSU id (authentic, in the
            // secure modes): its sequence starts afresh and, encrypted, it
            // has none of our sessions; renew ours at once.
            if info.may_log(now) {
                tracing::info!(rsu = %b.rsu, epoch = b.epoch, "RSU restarted (further ones for 10 s only counted: restarts_seen)");
            }
            Counters::inc(&counters.restarts_seen, 1);
            restarted = true;
            info.start_afresh(b);
            info.dedup = Default::default();
            if let Some(sec) = self.core.sec.as_mut() {
                sec.sessions.forget(&b.rsu);
            }
        }
        info.epoch = Some(b.epoch);
        info.epoch_heard = now;
        let check = info.dedup.check(b.seq, now, resync);
        if check == SeqCheck::Resynced {
            if info.may_log(now) {
                tracing::info!(rsu = %b.rsu, seq = b.seq, "beacon sequence resynchronised (further ones for 10 s only counted: seq_resyncs)");
            }
            Counters::inc(&counters.seq_resyncs, 1);
            restarted = true;
            info.start_afresh(b);
        }
        let fresh = check.is_new();
        if fresh
            && (info.candidates.is_empty() || protocol::seqwin::seq_newer(b.seq, info.latest_seq))
        {
            info.latest_seq = b.seq;
            info.latest_ts_us = b.timestamp_us;
            info.uplink = b.uplink;
            info.preference = b.preference;
        }
        info.last_heard = now;
        let cand = info.candidates.entry(from).or_insert(Candidate {
            hops: my_hops,
            window: Default::default(),
            last_heard: now,
        });
        cand.hops = my_hops;
        cand.window.record(b.seq);
        cand.last_heard = now;
        info.age_windows();
        info.prune(n);
        if restarted && self.upstream.is_some_and(|u| u.rsu == b.rsu) {
            self.reply_now = true;
        }
        Ok(fresh)
    }

    /// The copy of a beacon we would rebroadcast, one hop further.
    fn beacon_copy(&self, m: &ParsedMessage, b: &BeaconRepr, my_hops: u8) -> Option<Control> {
        if my_hops >= self.core.routing.max_hops {
            return None;
        }
        if self.core.sec.is_some() {
            control::relay_beacon(m.raw, my_hops).map(|r| Control::Raw(Box::new(r)))
        } else {
            Some(Control::Beacon(BeaconRepr {
                hops: my_hops,
                ..*b
            }))
        }
    }

    /// Whether some OBU reaches RSU `rsu` through us (a child or further).
    fn has_children_for(&self, rsu: NodeId) -> bool {
        self.core.downstream.iter().any(|(_, r)| r.rsu == rsu)
    }

    /// The first copy of a beacon: rebroadcast at once where it is needed
    /// (suppression off, a child of ours uses this RSU, a neighbour
    /// solicited). Else, with probability GOSSIP_TARGET / neighbours, after
    /// a contention wait that favours neighbours hearing the sender worse
    /// (farther ones), unless a copy at our hop count makes it unnecessary
    /// meanwhile (`on_copy`).
    fn flood_beacon(
        &mut self,
        now: Time,
        from: NodeId,
        m: &ParsedMessage,
        b: &BeaconRepr,
        my_hops: u8,
        out: &mut Vec<Action>,
    ) {
        let Some(msg) = self.beacon_copy(m, b, my_hops) else {
            return;
        };
        let must = !self.core.routing.suppress_rebroadcasts
            || now < self.solicited_until
            || self.has_children_for(b.rsu);
        if must || self.floods.len() >= MAX_PENDING_FLOODS {
            out.push(Action::SendControl {
                dst: NodeId::BROADCAST,
                ttl: 1,
                msg,
            });
            return;
        }
        // Among many neighbours, only a few contend (about GOSSIP_TARGET
        // whatever the density); a node nobody covers solicits.
        let n = self.core.neighbors.len();
        if n > GOSSIP_TARGET && (self.jitter.next_u64() % n as u64) >= GOSSIP_TARGET as u64 {
            return;
        }
        let ratio = self
            .rsus
            .get(&b.rsu)
            .and_then(|i| i.candidates.get(&from))
            .map_or(500, |c| c.window.ratio_permille()) as u64;
        let half = FLOOD_WAIT_MAX.as_micros() as u64 / 2;
        let wait = half * ratio.min(1000) / 1000 + self.jitter.next_u64() % (half + 1);
        self.floods.push(PendingFlood {
            rsu: b.rsu,
            seq: b.seq,
            hops: my_hops,
            at: now + Duration::from_micros(wait),
            copies: 0,
            msg,
        });
    }

    /// Another copy of a beacon: one at the hop count our pending
    /// rebroadcast would carry counts toward suppressing it.
    fn on_copy(&mut self, b: &BeaconRepr) {
        for f in &mut self.floods {
            if f.rsu == b.rsu && f.seq == b.seq && f.hops == b.hops {
                f.copies = f.copies.saturating_add(1);
            }
        }
    }

    /// Contended rebroadcasts whose wait is over: sent unless enough
    /// copies were heard.
    fn send_floods(&mut self, now: Time, out: &mut Vec<Action>) {
        let mut i = 0;
        while i < self.floods.len() {
            if self.floods[i].at > now {
                i += 1;
                continue;
            }
            let f = self.floods.swap_remove(i);
            if f.copies < SUPPRESS_AFTER_COPIES {
                out.push(Action::SendControl {
                    dst: NodeId::BROADCAST,
                    ttl: 1,
                    msg: f.msg,
                });
            }
        }
    }

    /// Without an upstream: ask the neighbours for beacons (suppression
    /// may keep them quiet), at once and then every `SOLICIT_EVERY`.
    fn maybe_solicit(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.upstream.is_some() || now < self.next_solicit {
            return;
        }
        self.next_solicit = now + SOLICIT_EVERY;
        out.push(Action::SendControl {
            dst: NodeId::BROADCAST,
            ttl: 1,
            msg: Control::Solicit(SolicitRepr { obu: self.core.id }),
        });
    }

    /// Our own handshake finished: the session is up.
    fn complete_handshake(
        &mut self,
        now: Time,
        h: &HandshakeRepr,
        out: &mut Vec<Action>,
    ) -> Handled {
        let sec = self.core.sec.as_mut().ok_or(DropReason::Unprotected)?;
        let rsu = sec.sessions.complete(now, h)?;
        Counters::inc(&self.core.counters.handshakes, 1);
        tracing::info!(%rsu, "session established");
        // An empty sealed message confirms the session to the RSU.
        if let Some(nh) = self.next_hop_to(rsu) {
            out.push(self.sealed_up(nh, rsu, Payload::EMPTY));
        }
        // A new session with our RSU: it may hold no route for us (it
        // restarted, or refused us until its trust lists were reloaded),
        // so refresh it at once rather than at the next interval.
        if self.upstream.is_some_and(|u| u.rsu == rsu) {
            self.reply_now = true;
            self.next_housekeeping = now;
        }
        Ok(())
    }

    fn sealed_up(&self, next_hop: NodeId, rsu: NodeId, payload: Payload) -> Action {
        Action::SendData {
            next_hop,
            kind: MessageType::DataUp,
            ttl: self.core.data_ttl(),
            origin: self.core.id,
            dest: rsu,
            payload,
            sealing: Sealing::Seal,
        }
    }

    /// Encrypted mode: start (or renew) the session with our RSU, and with
    /// the one we are about to move to.
    fn maybe_handshake(&mut self, now: Time, out: &mut Vec<Action>) {
        for u in [self.upstream, self.preparing].into_iter().flatten() {
            self.handshake_with(now, u, out);
        }
    }

    fn handshake_with(&mut self, now: Time, u: Upstream, out: &mut Vec<Action>) {
        let key = self.rsus.get(&u.rsu).and_then(|i| i.key);
        let max_hops = self.core.routing.max_hops;
        let Some(sec) = self.core.sec.as_mut().filter(|s| s.encrypted()) else {
            return;
        };
        let Some(key) = key else { return };
        if !sec.sessions.needs_handshake(now, &u.rsu) {
            return;
        }
        let wall = sec.wall_us(now);
        match sec.sessions.initiate(now, wall, u.rsu, key) {
            Ok(init) => out.push(Action::SendControl {
                dst: u.next_hop,
                ttl: max_hops,
                msg: Control::Raw(Box::new(init)),
            }),
            Err(e) => tracing::warn!(rsu = %u.rsu, error = %e, "cannot start a handshake"),
        }
    }

    /// Sealed data: ours (opened by the pre-pass) to deliver, or somebody
    /// else's to relay by node ids alone (relays cannot read it).
    #[allow(clippy::too_many_arguments)]
    fn on_sealed(
        &mut self,
        from: NodeId,
        slot: u16,
        kind: MessageType,
        ttl: u8,
        origin: NodeId,
        dest: NodeId,
        pl: Payload,
        verdict: Verdict,
        out: &mut Vec<Action>,
    ) -> Handled {
        if dest == self.core.id {
            return match verdict {
                // Empty: a keepalive, nothing to deliver.
                Verdict::Opened { len: 0, .. } => Ok(()),
                Verdict::Opened { start, len } if kind == MessageType::DataDown => {
                    out.push(Action::DeliverTun {
                        payload: Payload {
                            source: common::action::Source::Link,
                            slot,
                            offset: start,
                            len,
                        },
                    });
                    Ok(())
                }
                Verdict::Opened { .. } => Err(DropReason::NotForUs),
                // Counted by the pre-pass already.
                Verdict::Failed => Ok(()),
                Verdict::Untouched => Err(DropReason::Malformed),
            };
        }
        let nh = match kind {
            MessageType::DataDown => self.core.downstream.get(&dest).map(|r| r.next_hop),
            _ => self.next_hop_to(dest),
        };
        let nh = nh.ok_or(DropReason::NoRoute)?;
        self.forward(from, nh, kind, ttl, origin, dest, pl, Sealing::Relay, out)
    }

    /// Plain data: downstream to us or on toward its OBU; upstream from a
    /// child to us, turned around to another descendant, or on toward its
    /// RSU.
    fn on_plain(
        &mut self,
        from: NodeId,
        slot: u16,
        m: &ParsedMessage,
        d: &DataRepr,
        out: &mut Vec<Action>,
    ) -> Handled {
        let pl = link_payload(slot, m, d.payload.len());
        let Some((nh, kind, dest)) = self.plain_route(m.header.msg_type, d)? else {
            out.push(Action::DeliverTun { payload: pl });
            return Ok(());
        };
        let ttl = m.header.ttl;
        self.forward(from, nh, kind, ttl, d.origin, dest, pl, Sealing::Plain, out)
    }

    /// Where plain data goes on: `None` when it is ours; else its next hop,
    /// kind and destination (downstream toward its OBU; upstream data for
    /// one of our descendants turned around here, the RSU need not see it;
    /// other upstream data on toward its RSU).
    fn plain_route(
        &self,
        kind: MessageType,
        d: &DataRepr,
    ) -> Result<Option<(NodeId, MessageType, NodeId)>, DropReason> {
        if kind == MessageType::DataDown {
            if d.dest == self.core.id {
                return Ok(None);
            }
            let r = self
                .core
                .downstream
                .get(&d.dest)
                .ok_or(DropReason::NoRoute)?;
            return Ok(Some((r.next_hop, MessageType::DataDown, d.dest)));
        }
        let dst = ip::destination(d.payload).ok_or(DropReason::NotIp)?;
        if self.is_own_addr(&dst) {
            return Ok(None);
        }
        if let Some((obu, r)) = self.core.downstream.lookup_addr(&dst) {
            return Ok(Some((r.next_hop, MessageType::DataDown, obu)));
        }
        let nh = self.next_hop_to(d.dest).ok_or(DropReason::NoRoute)?;
        Ok(Some((nh, MessageType::DataUp, d.dest)))
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        from: NodeId,
        nh: NodeId,
        kind: MessageType,
        ttl: u8,
        origin: NodeId,
        dest: NodeId,
        payload: Payload,
        sealing: Sealing,
        out: &mut Vec<Action>,
    ) -> Handled {
        if nh == from {
            return Err(DropReason::Loop);
        }
        if ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        Counters::inc(&self.core.counters.relayed, 1);
        out.push(Action::SendData {
            next_hop: nh,
            kind,
            ttl: ttl - 1,
            origin,
            dest,
            payload,
            sealing,
        });
        Ok(())
    }

    fn learn_route(&mut self, obu: NodeId, route: DownRoute) {
        match self.core.downstream.learn(obu, route) {
            Learned::Full => self.core.count(Err(DropReason::NoRoute)),
            Learned::New | Learned::Changed => self.core.changed = true,
            Learned::Updated => {}
        }
    }

    /// A descendant's reply without a certificate: remember its path for
    /// the certificate coming back, by id *and* key (a reply signed by
    /// another key for the same id cannot overwrite it). Bounded: when
    /// full, the oldest entry goes, so a flood of made-up ids would have
    /// to outpace the certificate's round trip (milliseconds), and the OBU
    /// tries again with its next reply.
    fn await_cert(&mut self, now: Time, obu: NodeId, key: [u8; 32], route: DownRoute) {
        let slot = (obu, key);
        if self.uncertified.len() >= MAX_UNCERTIFIED && !self.uncertified.contains_key(&slot) {
            self.uncertified
                .retain(|_, u| now.since(u.route.last_seen) < UNCERTIFIED_KEPT);
            if self.uncertified.len() >= MAX_UNCERTIFIED {
                let oldest = self
                    .uncertified
                    .iter()
                    .min_by_key(|(_, u)| u.route.last_seen)
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.uncertified.remove(&k);
                }
            }
        }
        self.uncertified.insert(slot, Uncertified { key, route });
    }

    /// A certificate for us: valid, from a trusted RSU, for our id and
    /// key, newer than the one we hold. It goes into our replies (relays
    /// then learn our route), broadcasts and probes. Flagged "no session"
    /// by an RSU we have a session with: that RSU lost it (our key was
    /// revoked and allowed again, say), so we handshake again at once.
    fn accept_own_cert(&mut self, now: Time, c: &CertMsgRepr) -> Handled {
        let id = self.core.id;
        let sec = self.core.sec.as_mut().ok_or(DropReason::Unprotected)?;
        let me = sec.identity.public().0;
        sec.check_cert(now, &c.cert, id, &me)?;
        // From the same RSU, only a newer one (a played-back certificate
        // must not reset our session); another RSU's clock may be behind.
        if sec
            .own_cert
            .is_some_and(|o| o.issuer == c.cert.issuer && o.issued_us >= c.cert.issued_us)
        {
            return Err(DropReason::Replayed);
        }
        sec.own_cert = Some(c.cert);
        Counters::inc(&self.core.counters.certs_accepted, 1);
        if c.cert.flags & CERT_FLAG_NO_SESSION != 0 && sec.encrypted() {
            let issuer = secure::PublicKey(c.cert.issuer);
            let rsu = self
                .rsus
                .iter()
                .find(|(_, i)| i.key == Some(issuer))
                .map(|(r, _)| *r);
            if let Some(rsu) = rsu.filter(|r| sec.sessions.has_session(r)) {
                tracing::info!(%rsu, "RSU holds no session with us; handshaking again");
                sec.sessions.forget(&rsu);
            }
        }
        // Tell our relays at once (the reply carries the certificate).
        self.reply_now = true;
        self.next_housekeeping = now;
        Ok(())
    }

    /// Trust lists reloaded: RSUs whose keys are no longer trusted are
    /// left (their candidates, sessions and certificates dropped).
    fn leave_untrusted(&mut self, now: Time, out: &mut Vec<Action>) {
        let Some(sec) = self.core.sec.as_mut() else {
            return;
        };
        sec.forget_untrusted_rsus();
        let gone: Vec<NodeId> = self
            .rsus
            .iter()
            .filter(|(_, i)| i.key.is_some_and(|k| !sec.rsu_trusted(&k)))
            .map(|(r, _)| *r)
            .collect();
        if sec
            .own_cert
            .is_some_and(|c| !sec.rsu_trusted(&secure::PublicKey(c.issuer)))
        {
            sec.own_cert = None;
        }
        for rsu in &gone {
            self.rsus.remove(rsu);
            tracing::warn!(%rsu, "RSU key no longer trusted: leaving it");
        }
        if !gone.is_empty() {
            Counters::inc(&self.core.counters.obus_revoked, gone.len() as u64);
            self.reselect(now, out);
            self.core.changed = true;
        }
    }

    fn housekeeping(&mut self, now: Time, out: &mut Vec<Action>) {
        let timeout = self.core.routing.neighbor_timeout();
        if now >= self.next_expiry {
            self.next_expiry = now + EXPIRE_EVERY;
            self.core.expire(now);
            self.uncertified
                .retain(|_, u| now.since(u.route.last_seen) < UNCERTIFIED_KEPT);
            if let Some(sec) = self.core.sec.as_mut() {
                sec.certs.expire(sec.wall_us(now));
            }
        }
        if std::mem::take(&mut self.trust_reloaded) {
            self.leave_untrusted(now, out);
        }
        let current = self.upstream;
        let mut lost = false;
        for (rsu, info) in self.rsus.iter_mut() {
            let cur_nh = current.filter(|u| u.rsu == *rsu).map(|u| u.next_hop);
            if info.expire(now, timeout, cur_nh) {
                lost = true;
            }
        }
        self.rsus
            .retain(|_, i| !i.candidates.is_empty() || now.since(i.last_heard) < RSU_FORGET_AFTER);
        if lost {
            if let Some(u) = current {
                tracing::info!(rsu = %u.rsu, next_hop = %u.next_hop, "upstream next hop timed out; failing over");
            }
        }
        // Re-evaluate every tick: failover at once, and a lost RSU is left.
        self.reselect(now, out);
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
        self.beacon_authentic(now, m, b)?;
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
        _: Time,
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
                candidates.push(api::Candidate {
                    rsu: *rsu,
                    uplink: info.uplink,
                    preference: info.preference,
                    next_hop: *nh,
                    hops: c.hops,
                    reception_ratio: c.window.ratio_permille() as f64 / 1000.0,
                    last_heard_ms: now.since(c.last_heard).as_millis() as u64,
                });
            }
        }
        candidates.sort_by_key(|c| (c.rsu, c.hops, c.next_hop));
        let upstream = self.upstream.map(|u| api::Upstream {
            rsu: u.rsu,
            next_hop: u.next_hop,
            hops: u.hops,
            attach_seq: self.attach_seq,
        });
        let core = &self.core;
        RoleSnapshot {
            ready: self.upstream.is_some(),
            neighbor_count: core.neighbors.len(),
            route_count: core.downstream.len() + usize::from(self.upstream.is_some()),
            neighbors: core.neighbors.to_api(now),
            routes: api::Routes::Obu(api::ObuRoutes {
                upstream,
                candidates,
                downstream: core.downstream.to_api(now),
            }),
        }
    }
}
