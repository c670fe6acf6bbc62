//! The OBU's sans-IO state machine: beacon flooding, upstream choice and
//! failover, replies, relaying, downstream routes, broadcast.

use crate::upstream::{self, Candidate, RsuInfo, Upstream, MAX_RSUS};
use common::action::{Action, Control, Payload, RawMessage, Sealer, Sealing};
use common::counters::{Counters, DropReason};
use common::ip::{self, IpPrefix};
use common::wire::{
    AddrList, BeaconReplyRepr, BeaconRepr, Body, DataRepr, HandshakeRepr, MessageType, Messages,
    ParsedMessage,
};
use common::{NodeId, Time};
use protocol::broadcast::Broadcaster;
use protocol::downstream::{DownRoute, DownstreamTable, Learned};
use protocol::inbound::{self, link_payload};
use protocol::neighbor::NeighborTable;
use protocol::params::RoleParams;
use protocol::params::{RoutingConfig, SecurityConfig};
use protocol::role::{Role, RoleSnapshot};
use protocol::security::{Security, Verdict};
use protocol::seqwin::SeqCheck;
use secure::control;
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub const MAX_NEIGHBORS: usize = 1024;
pub const MAX_DOWNSTREAM: usize = 4096;
/// How often timers run: bounds how late a dead next hop is noticed.
const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(5);
/// Encrypted: replies carry a keepalive while the session is this young.
const KEEPALIVE_WHILE_YOUNGER: Duration = Duration::from_secs(1);
/// RSU state with no candidates is forgotten after this long.
const RSU_FORGET_AFTER: Duration = Duration::from_secs(30);

pub struct Obu {
    id: NodeId,
    mac: NodeId,
    addrs: Vec<IpPrefix>,
    addr_list: AddrList,
    routing: RoutingConfig,
    counters: Arc<Counters>,
    neighbors: NeighborTable,
    rsus: HashMap<NodeId, RsuInfo>,
    upstream: Option<Upstream>,
    downstream: DownstreamTable,
    broadcast: Broadcaster,
    next_housekeeping: Time,
    gone: Vec<NodeId>,
    changed: bool,
    sec: Option<Security>,
}

impl Obu {
    pub fn new(p: RoleParams) -> Obu {
        let addr_list = AddrList::from_slice(&p.addresses).unwrap_or_default();
        Obu {
            id: p.id,
            mac: p.mac,
            addrs: p.addresses,
            addr_list,
            routing: p.routing,
            counters: p.counters,
            neighbors: NeighborTable::new(MAX_NEIGHBORS),
            rsus: HashMap::new(),
            upstream: None,
            downstream: DownstreamTable::new(MAX_DOWNSTREAM),
            broadcast: Broadcaster::new(p.id, p.security.as_ref().is_some_and(|s| s.encrypted())),
            next_housekeeping: Time::ZERO,
            gone: Vec::new(),
            changed: false,
            sec: p.security,
        }
    }

    fn encrypted(&self) -> bool {
        self.sec.as_ref().is_some_and(|s| s.encrypted())
    }

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn upstream(&self) -> Option<Upstream> {
        self.upstream
    }
    /// Encrypted mode: whether a session with the upstream RSU is up.
    pub fn has_session(&self) -> bool {
        match (&self.sec, self.upstream) {
            (Some(sec), Some(u)) => sec.sessions.has_session(&u.rsu),
            _ => false,
        }
    }
    pub fn downstream(&self) -> &DownstreamTable {
        &self.downstream
    }
    /// Entries held in all tables (for bounded-state checks).
    pub fn state_size(&self) -> usize {
        self.neighbors.len()
            + self
                .rsus
                .values()
                .map(|r| 1 + r.candidates.len())
                .sum::<usize>()
            + self.downstream.len()
            + self.broadcast.tracked()
    }

    fn data_ttl(&self) -> u8 {
        self.routing.max_hops.saturating_mul(2).max(2)
    }

    fn is_own_addr(&self, a: &IpAddr) -> bool {
        self.addrs.iter().any(|p| p.addr == *a)
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
            obu: self.id,
            rsu: u.rsu,
            seq,
            timestamp_us,
            hops: u.hops,
            addrs: self.addr_list,
        };
        let msg = match self.sec.as_mut() {
            Some(sec) => {
                let wall = sec.wall_us(now);
                Control::Raw(Box::new(control::sign_reply(
                    &sec.identity,
                    &reply,
                    wall,
                    &mut sec.scratch,
                )))
            }
            None => Control::BeaconReply(Box::new(reply)),
        };
        Action::SendControl {
            dst: u.next_hop,
            ttl: self.routing.max_hops,
            msg,
        }
    }

    /// Reply to our upstream RSU (if we know it).
    fn reply_upstream(&mut self, u: Upstream, now: Time, out: &mut Vec<Action>) {
        if let Some(info) = self.rsus.get(&u.rsu) {
            let a = self.reply_to(u, (info.latest_seq, info.latest_ts_us), now);
            out.push(a);
        }
        // A young session is confirmed again with each reply, so one lost
        // keepalive does not leave the RSU on the old session.
        let young = self
            .sec
            .as_ref()
            .filter(|s| s.encrypted())
            .and_then(|s| s.sessions.session_age(now, &u.rsu))
            .is_some_and(|age| age < KEEPALIVE_WHILE_YOUNGER);
        if young {
            out.push(self.sealed_up(u.next_hop, u.rsu, Payload::EMPTY));
        }
    }

    /// Re-runs the upstream choice; on a change, counts it and tells the
    /// RSU at once (a reply along the new path) so downstream follows.
    fn reselect(&mut self, now: Time, out: &mut Vec<Action>) {
        let new = upstream::choose(&self.rsus, self.upstream);
        let changed = match (self.upstream, new) {
            (Some(a), Some(b)) => a.rsu != b.rsu || a.next_hop != b.next_hop,
            (None, None) => false,
            _ => true,
        };
        self.upstream = new;
        if !changed {
            return;
        }
        self.changed = true;
        Counters::inc(&self.counters.upstream_changes, 1);
        match new {
            Some(u) => {
                tracing::info!(rsu = %u.rsu, next_hop = %u.next_hop, hops = u.hops, "upstream chosen");
                self.reply_upstream(u, now, out);
            }
            None => tracing::warn!("no upstream: no RSU reachable"),
        }
    }

    /// Security on: checks a beacon's signature, trust, hop chain and
    /// freshness, and that it is not older than the last one accepted from
    /// its RSU. Returns false (counted) to drop it.
    fn beacon_authentic(&mut self, now: Time, m: &ParsedMessage, b: &BeaconRepr) -> bool {
        let Some(sec) = self.sec.as_mut() else {
            return true;
        };
        // Older than what this RSU already proved: a replay, refused before
        // the (costly) signature check.
        let last = self.rsus.get(&b.rsu).filter(|i| i.key.is_some());
        if let (Some(info), Some(t)) = (last, control::claimed_time(m.trailer)) {
            if t < info.auth_time_us {
                self.counters.count_drop(DropReason::Replayed);
                return false;
            }
        }
        let v = match sec.verify_beacon(now, m, b.hops) {
            Ok(v) => v,
            Err(reason) => {
                self.counters.count_drop(reason);
                return false;
            }
        };
        if let Some(info) = self.rsus.get_mut(&b.rsu) {
            if info.key == Some(v.key) && v.time_us < info.auth_time_us {
                self.counters.count_drop(DropReason::Replayed);
                return false;
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
        true
    }

    fn on_beacon(
        &mut self,
        now: Time,
        from: NodeId,
        m: &ParsedMessage,
        b: &BeaconRepr,
        out: &mut Vec<Action>,
    ) {
        if b.rsu == self.id {
            self.counters.count_drop(DropReason::Loop);
            return;
        }
        let my_hops = b.hops.saturating_add(1);
        if my_hops > self.routing.max_hops {
            self.counters.count_drop(DropReason::TtlExpired);
            return;
        }
        if !self.rsus.contains_key(&b.rsu) && self.rsus.len() >= MAX_RSUS {
            self.counters.count_drop(DropReason::NoRoute);
            return;
        }
        if !self.beacon_authentic(now, m, b) {
            return;
        }
        let n = self.routing.candidates;
        let resync = self.routing.neighbor_timeout();
        let info = self.rsus.entry(b.rsu).or_default();
        if info.epoch.is_some_and(|e| e != b.epoch) {
            // A new process behind the same RSU id (authentic, in the
            // secure modes): its sequence starts afresh and, encrypted, it
            // has none of our sessions; renew ours at once.
            tracing::info!(rsu = %b.rsu, epoch = b.epoch, "RSU restarted");
            Counters::inc(&self.counters.restarts_seen, 1);
            info.start_afresh(b);
            info.dedup = Default::default();
            if let Some(sec) = self.sec.as_mut() {
                sec.sessions.forget(&b.rsu);
            }
        }
        info.epoch = Some(b.epoch);
        let check = info.dedup.check(b.seq, now, resync);
        if check == SeqCheck::Resynced {
            tracing::info!(rsu = %b.rsu, seq = b.seq, "beacon sequence resynchronised");
            Counters::inc(&self.counters.seq_resyncs, 1);
            info.start_afresh(b);
        }
        let fresh = check.is_new();
        if fresh
            && (info.candidates.is_empty() || protocol::seqwin::seq_newer(b.seq, info.latest_seq))
        {
            info.latest_seq = b.seq;
            info.latest_ts_us = b.timestamp_us;
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
        if !fresh {
            self.reselect(now, out);
            return;
        }
        // First copy of (rsu, seq): flood it on, one hop further.
        if my_hops < self.routing.max_hops {
            let msg = if self.sec.is_some() {
                control::relay_beacon(m.raw, my_hops).map(|r| Control::Raw(Box::new(r)))
            } else {
                Some(Control::Beacon(BeaconRepr {
                    hops: my_hops,
                    ..*b
                }))
            };
            if let Some(msg) = msg {
                out.push(Action::SendControl {
                    dst: NodeId::BROADCAST,
                    ttl: 1,
                    msg,
                });
            }
        }
        let before = self.upstream;
        self.reselect(now, out);
        // Answer each beacon of our RSU once (a change already answered).
        if let Some(u) = self.upstream {
            if u.rsu == b.rsu && before == self.upstream {
                self.reply_upstream(u, now, out);
            }
        }
    }

    fn on_reply(
        &mut self,
        now: Time,
        from: NodeId,
        m: &ParsedMessage,
        r: &BeaconReplyRepr,
        out: &mut Vec<Action>,
    ) {
        let ttl = m.header.ttl;
        if r.obu == self.id {
            self.counters.count_drop(DropReason::Loop);
            return;
        }
        let mut key = None;
        if let Some(sec) = self.sec.as_mut() {
            match sec.verify_reply(now, m) {
                Ok(k) if self.downstream.key_matches(&r.obu, &k.0) => key = Some(k.0),
                Ok(_) => {
                    // Another key already speaks for this OBU id here.
                    self.counters.count_drop(DropReason::AuthFailed);
                    return;
                }
                Err(reason) => {
                    self.counters.count_drop(reason);
                    return;
                }
            }
        }
        let route = DownRoute {
            next_hop: from,
            hops: r.hops,
            addrs: r.addrs,
            last_seen: now,
            rsu: r.rsu,
            rtt_us: None,
            key,
        };
        match self.downstream.learn(r.obu, route) {
            Learned::Full => self.counters.count_drop(DropReason::NoRoute),
            Learned::New => self.changed = true,
            Learned::Updated => {}
        }
        if ttl <= 1 {
            self.counters.count_drop(DropReason::TtlExpired);
            return;
        }
        match self.next_hop_to(r.rsu) {
            Some(nh) if nh == from => self.counters.count_drop(DropReason::Loop),
            Some(nh) => {
                let msg = if self.sec.is_some() {
                    Control::Raw(Box::new(RawMessage::copy_of(m)))
                } else {
                    Control::BeaconReply(Box::new(*r))
                };
                out.push(Action::SendControl {
                    dst: nh,
                    ttl: ttl - 1,
                    msg,
                });
            }
            None => self.counters.count_drop(DropReason::NoRoute),
        }
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
    ) {
        let Some(sec) = self.sec.as_mut().filter(|s| s.encrypted()) else {
            self.counters.count_drop(DropReason::Unprotected);
            return;
        };
        if h.kind == MessageType::HandshakeResponse && h.to == self.id {
            match sec.sessions.complete(now, h) {
                Ok(rsu) => {
                    Counters::inc(&self.counters.handshakes, 1);
                    tracing::info!(%rsu, "session established");
                    // An empty sealed message confirms the session to the RSU.
                    if let Some(nh) = self.next_hop_to(rsu) {
                        out.push(self.sealed_up(nh, rsu, Payload::EMPTY));
                    }
                }
                Err(reason) => self.counters.count_drop(reason.into()),
            }
            return;
        }
        let ttl = m.header.ttl;
        if ttl <= 1 {
            self.counters.count_drop(DropReason::TtlExpired);
            return;
        }
        let nh = match h.kind {
            MessageType::HandshakeInit => self.next_hop_to(h.to),
            _ => self.downstream.get(&h.to).map(|r| r.next_hop),
        };
        let Some(nh) = nh else {
            self.counters.count_drop(DropReason::NoRoute);
            return;
        };
        if nh == from {
            self.counters.count_drop(DropReason::Loop);
            return;
        }
        out.push(Action::SendControl {
            dst: nh,
            ttl: ttl - 1,
            msg: Control::Raw(Box::new(RawMessage::copy_of(m))),
        });
    }

    fn sealed_up(&self, next_hop: NodeId, rsu: NodeId, payload: Payload) -> Action {
        Action::SendData {
            next_hop,
            kind: MessageType::DataUp,
            ttl: self.data_ttl(),
            origin: self.id,
            dest: rsu,
            payload,
            sealing: Sealing::Seal,
        }
    }

    /// Encrypted mode: start (or renew) the session with our RSU.
    fn maybe_handshake(&mut self, now: Time, out: &mut Vec<Action>) {
        let Some(u) = self.upstream else { return };
        let key = self.rsus.get(&u.rsu).and_then(|i| i.key);
        let max_hops = self.routing.max_hops;
        let Some(sec) = self.sec.as_mut().filter(|s| s.encrypted()) else {
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

    fn on_data(
        &mut self,
        from: NodeId,
        slot: u16,
        m: &ParsedMessage,
        d: &DataRepr,
        verdict: Verdict,
        out: &mut Vec<Action>,
    ) {
        let (origin, dest, payload) = (d.origin, d.dest, d.payload);
        let pl = link_payload(slot, m, payload.len());
        let ttl = m.header.ttl;
        let sealed = match protocol::security::check_sealing(m.header.flags, self.encrypted()) {
            Ok(s) => s,
            Err(reason) => {
                self.counters.count_drop(reason);
                return;
            }
        };
        if sealed {
            self.on_sealed(
                from,
                slot,
                m.header.msg_type,
                ttl,
                origin,
                dest,
                pl,
                verdict,
                out,
            );
            return;
        }
        if m.header.msg_type == MessageType::DataDown {
            if dest == self.id {
                out.push(Action::DeliverTun { payload: pl });
                return;
            }
            let Some(r) = self.downstream.get(&dest) else {
                self.counters.count_drop(DropReason::NoRoute);
                return;
            };
            let nh = r.next_hop;
            self.forward(
                from,
                nh,
                MessageType::DataDown,
                ttl,
                origin,
                dest,
                pl,
                Sealing::Plain,
                out,
            );
            return;
        }
        // DataUp from a child.
        let Some(dst) = ip::destination(payload) else {
            self.counters.count_drop(DropReason::NotIp);
            return;
        };
        if self.is_own_addr(&dst) {
            out.push(Action::DeliverTun { payload: pl });
            return;
        }
        if let Some((obu, r)) = self.downstream.lookup_addr(&dst) {
            // Both ends below us: turn around here, the RSU need not see it.
            let nh = r.next_hop;
            self.forward(
                from,
                nh,
                MessageType::DataDown,
                ttl,
                origin,
                obu,
                pl,
                Sealing::Plain,
                out,
            );
            return;
        }
        match self.next_hop_to(dest) {
            Some(nh) => self.forward(
                from,
                nh,
                MessageType::DataUp,
                ttl,
                origin,
                dest,
                pl,
                Sealing::Plain,
                out,
            ),
            None => self.counters.count_drop(DropReason::NoRoute),
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
    ) {
        if dest == self.id {
            match verdict {
                // Empty: a keepalive, nothing to deliver.
                Verdict::Opened { len: 0, .. } => {}
                Verdict::Opened { start, len } if kind == MessageType::DataDown => {
                    out.push(Action::DeliverTun {
                        payload: Payload {
                            source: common::action::Source::Link,
                            slot,
                            offset: start,
                            len,
                        },
                    })
                }
                Verdict::Opened { .. } => self.counters.count_drop(DropReason::NotForUs),
                Verdict::Failed => {}
                Verdict::Untouched => self.counters.count_drop(DropReason::Malformed),
            }
            return;
        }
        let nh = match kind {
            MessageType::DataDown => self.downstream.get(&dest).map(|r| r.next_hop),
            _ => self.next_hop_to(dest),
        };
        match nh {
            Some(nh) => self.forward(from, nh, kind, ttl, origin, dest, pl, Sealing::Relay, out),
            None => self.counters.count_drop(DropReason::NoRoute),
        }
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
    ) {
        if nh == from {
            self.counters.count_drop(DropReason::Loop);
            return;
        }
        if ttl <= 1 {
            self.counters.count_drop(DropReason::TtlExpired);
            return;
        }
        Counters::inc(&self.counters.relayed, 1);
        out.push(Action::SendData {
            next_hop: nh,
            kind,
            ttl: ttl - 1,
            origin,
            dest,
            payload,
            sealing,
        });
    }

    fn housekeeping(&mut self, now: Time, out: &mut Vec<Action>) {
        let timeout = self.routing.neighbor_timeout();
        self.gone.clear();
        self.neighbors.expire(now, timeout, &mut self.gone);
        for mac in &self.gone {
            self.downstream.remove_via(*mac);
        }
        self.downstream.expire(now, timeout * 2);
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
        self.broadcast.expire(now);
    }
}

impl Role for Obu {
    fn on_frame(&mut self, now: Time, slot: u16, frame: &mut [u8], out: &mut Vec<Action>) {
        Security::before_frame(self.sec.as_mut(), self.id, self.mac, frame, &self.counters);
        let frame = &*frame;
        let Some(f) = inbound::accept(frame, self.mac, &self.counters) else {
            return;
        };
        if !self.neighbors.heard(f.src, now) {
            self.counters.count_drop(DropReason::NoRoute);
            return;
        }
        for (k, m) in Messages::new(f.payload).enumerate() {
            let Some(m) = inbound::counted(m, &self.counters) else {
                continue;
            };
            match m.body {
                Body::Beacon(b) => self.on_beacon(now, f.src, &m, &b, out),
                Body::BeaconReply(r) => self.on_reply(now, f.src, &m, &r, out),
                Body::Data(d) => {
                    let v = Security::verdict_of(self.sec.as_ref(), k);
                    self.on_data(f.src, slot, &m, &d, v, out)
                }
                Body::Broadcast(b) => {
                    let resync = self.routing.neighbor_timeout();
                    self.broadcast
                        .on_received(now, slot, &m, &b, resync, &self.counters, out)
                }
                Body::Handshake(h) => self.on_handshake(now, f.src, &m, &h, out),
            }
        }
    }

    fn on_tun(&mut self, _now: Time, slot: u16, packet: &[u8], out: &mut Vec<Action>) {
        let ttl = self.routing.broadcast_ttl;
        let Some((dst, payload)) =
            self.broadcast
                .classify_tun(&self.addrs, ttl, slot, packet, &self.counters, out)
        else {
            return;
        };
        if self.encrypted() {
            // Everything goes to the RSU sealed; it turns V2V traffic around.
            match self.upstream {
                Some(u) => out.push(self.sealed_up(u.next_hop, u.rsu, payload)),
                None => self.counters.count_drop(DropReason::NoRoute),
            }
            return;
        }
        if let Some((obu, r)) = self.downstream.lookup_addr(&dst) {
            out.push(Action::SendData {
                next_hop: r.next_hop,
                kind: MessageType::DataDown,
                ttl: self.data_ttl(),
                origin: self.id,
                dest: obu,
                payload,
                sealing: Sealing::Plain,
            });
            return;
        }
        match self.upstream {
            Some(u) => out.push(Action::SendData {
                next_hop: u.next_hop,
                kind: MessageType::DataUp,
                ttl: self.data_ttl(),
                origin: self.id,
                dest: u.rsu,
                payload,
                sealing: Sealing::Plain,
            }),
            None => self.counters.count_drop(DropReason::NoRoute),
        }
    }

    fn on_tick(&mut self, now: Time, out: &mut Vec<Action>) {
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING_EVERY;
            self.housekeeping(now, out);
            if let Some(sec) = self.sec.as_mut() {
                sec.sessions.expire(now);
            }
            self.maybe_handshake(now, out);
        }
    }

    fn sealer(&mut self) -> Option<&mut dyn Sealer> {
        self.sec
            .as_mut()
            .filter(|s| s.encrypted())
            .map(|s| &mut s.sessions as &mut dyn Sealer)
    }

    fn next_tick(&self) -> Time {
        self.next_housekeeping
    }

    fn set_routing(&mut self, routing: &RoutingConfig) {
        self.routing = routing.clone();
    }

    fn set_security(&mut self, security: &SecurityConfig) {
        if let Some(sec) = self.sec.as_mut() {
            sec.reload(security);
        }
    }

    fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    fn snapshot(&self, now: Time) -> RoleSnapshot {
        let mut candidates = Vec::new();
        for (rsu, info) in &self.rsus {
            for (nh, c) in &info.candidates {
                candidates.push(json!({
                    "rsu": rsu,
                    "next_hop": nh,
                    "hops": c.hops,
                    "reception_ratio": c.window.ratio_permille() as f64 / 1000.0,
                    "last_heard_ms": now.since(c.last_heard).as_millis() as u64,
                }));
            }
        }
        candidates.sort_by(|a, b| {
            (
                a["rsu"].as_str(),
                a["hops"].as_u64(),
                a["next_hop"].as_str(),
            )
                .cmp(&(
                    b["rsu"].as_str(),
                    b["hops"].as_u64(),
                    b["next_hop"].as_str(),
                ))
        });
        let upstream = self
            .upstream
            .map(|u| json!({ "rsu": u.rsu, "next_hop": u.next_hop, "hops": u.hops }));
        RoleSnapshot {
            ready: self.upstream.is_some(),
            neighbor_count: self.neighbors.len(),
            route_count: self.downstream.len() + usize::from(self.upstream.is_some()),
            neighbors: self.neighbors.to_json(now),
            routes: json!({
                "upstream": upstream,
                "candidates": candidates,
                "downstream": self.downstream.to_json(now),
            }),
        }
    }
}
