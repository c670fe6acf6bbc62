//! The OBU's sans-IO state machine: beacon flooding, upstream choice and
//! failover, replies, relaying, downstream routes, broadcast.

use crate::upstream::{self, Candidate, RsuInfo, Upstream, MAX_RSUS};
use common::action::{Action, Control, Payload};
use common::counters::{Counters, DropReason};
use common::ip::{self, IpPrefix};
use common::wire::{
    AddrList, BeaconReplyRepr, BeaconRepr, Body, DataRepr, MessageType, Messages, ParsedMessage,
};
use common::{NodeId, Time};
use node_lib::broadcast::Broadcaster;
use node_lib::config::RoutingConfig;
use node_lib::daemon::RoleParams;
use node_lib::downstream::{DownRoute, DownstreamTable, Learned};
use node_lib::inbound::{self, link_payload};
use node_lib::neighbor::NeighborTable;
use node_lib::role::{Role, RoleSnapshot};
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub const MAX_NEIGHBORS: usize = 1024;
pub const MAX_DOWNSTREAM: usize = 4096;
/// How often timers run: bounds how late a dead next hop is noticed.
const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(5);
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
            broadcast: Broadcaster::new(p.id),
            next_housekeeping: Time::ZERO,
            gone: Vec::new(),
            changed: false,
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn upstream(&self) -> Option<Upstream> {
        self.upstream
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

    fn reply_to(&self, u: Upstream, info: &RsuInfo) -> Action {
        Action::SendControl {
            dst: u.next_hop,
            ttl: self.routing.max_hops,
            msg: Control::BeaconReply(Box::new(BeaconReplyRepr {
                obu: self.id,
                rsu: u.rsu,
                seq: info.latest_seq,
                timestamp_us: info.latest_ts_us,
                hops: u.hops,
                addrs: self.addr_list,
            })),
        }
    }

    /// Re-runs the upstream choice; on a change, counts it and tells the
    /// RSU at once (a reply along the new path) so downstream follows.
    fn reselect(&mut self, out: &mut Vec<Action>) {
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
                if let Some(info) = self.rsus.get(&u.rsu) {
                    out.push(self.reply_to(u, info));
                }
            }
            None => tracing::warn!("no upstream: no RSU reachable"),
        }
    }

    fn on_beacon(&mut self, now: Time, from: NodeId, b: &BeaconRepr, out: &mut Vec<Action>) {
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
        let n = self.routing.candidates;
        let info = self.rsus.entry(b.rsu).or_default();
        let fresh = info.dedup.accept(b.seq);
        if fresh
            && (info.candidates.is_empty() || node_lib::seqwin::seq_newer(b.seq, info.latest_seq))
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
            self.reselect(out);
            return;
        }
        // First copy of (rsu, seq): flood it on, one hop further.
        if my_hops < self.routing.max_hops {
            out.push(Action::SendControl {
                dst: NodeId::BROADCAST,
                ttl: 1,
                msg: Control::Beacon(BeaconRepr {
                    hops: my_hops,
                    ..*b
                }),
            });
        }
        let before = self.upstream;
        self.reselect(out);
        // Answer each beacon of our RSU once (a change already answered).
        if let Some(u) = self.upstream {
            if u.rsu == b.rsu && before == self.upstream {
                if let Some(info) = self.rsus.get(&u.rsu) {
                    out.push(self.reply_to(u, info));
                }
            }
        }
    }

    fn on_reply(
        &mut self,
        now: Time,
        from: NodeId,
        ttl: u8,
        r: &BeaconReplyRepr,
        out: &mut Vec<Action>,
    ) {
        if r.obu == self.id {
            self.counters.count_drop(DropReason::Loop);
            return;
        }
        let route = DownRoute {
            next_hop: from,
            hops: r.hops,
            addrs: r.addrs,
            last_seen: now,
            rsu: r.rsu,
            rtt_us: None,
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
            Some(nh) => out.push(Action::SendControl {
                dst: nh,
                ttl: ttl - 1,
                msg: Control::BeaconReply(Box::new(*r)),
            }),
            None => self.counters.count_drop(DropReason::NoRoute),
        }
    }

    fn on_data(
        &mut self,
        from: NodeId,
        slot: u16,
        m: &ParsedMessage,
        d: &DataRepr,
        out: &mut Vec<Action>,
    ) {
        let (origin, dest, payload) = (d.origin, d.dest, d.payload);
        let pl = link_payload(slot, m, payload.len());
        let ttl = m.header.ttl;
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
            self.forward(from, nh, MessageType::DataDown, ttl, origin, dest, pl, out);
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
            self.forward(from, nh, MessageType::DataDown, ttl, origin, obu, pl, out);
            return;
        }
        match self.next_hop_to(dest) {
            Some(nh) => self.forward(from, nh, MessageType::DataUp, ttl, origin, dest, pl, out),
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
        self.reselect(out);
        self.broadcast.expire(now);
    }
}

impl Role for Obu {
    fn on_frame(&mut self, now: Time, slot: u16, frame: &[u8], out: &mut Vec<Action>) {
        let Some(f) = inbound::accept(frame, self.mac, &self.counters) else {
            return;
        };
        if !self.neighbors.heard(f.src, now) {
            self.counters.count_drop(DropReason::NoRoute);
            return;
        }
        for m in Messages::new(f.payload) {
            let Some(m) = inbound::counted(m, &self.counters) else {
                continue;
            };
            match m.body {
                Body::Beacon(b) => self.on_beacon(now, f.src, &b, out),
                Body::BeaconReply(r) => self.on_reply(now, f.src, m.header.ttl, &r, out),
                Body::Data(d) => self.on_data(f.src, slot, &m, &d, out),
                Body::Broadcast(b) => {
                    self.broadcast
                        .on_received(now, slot, &m, &b, &self.counters, out)
                }
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
        if let Some((obu, r)) = self.downstream.lookup_addr(&dst) {
            out.push(Action::SendData {
                next_hop: r.next_hop,
                kind: MessageType::DataDown,
                ttl: self.data_ttl(),
                origin: self.id,
                dest: obu,
                payload,
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
            }),
            None => self.counters.count_drop(DropReason::NoRoute),
        }
    }

    fn on_tick(&mut self, now: Time, out: &mut Vec<Action>) {
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING_EVERY;
            self.housekeeping(now, out);
        }
    }

    fn next_tick(&self) -> Time {
        self.next_housekeeping
    }

    fn set_routing(&mut self, routing: &RoutingConfig) {
        self.routing = routing.clone();
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
