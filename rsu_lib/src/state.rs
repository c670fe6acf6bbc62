//! The RSU's sans-IO state machine: beacons, route learning from replies,
//! downstream routing, V2V turnaround, broadcast.

use common::action::{Action, Control};
use common::counters::{Counters, DropReason};
use common::ip::{self, IpPrefix};
use common::wire::{
    BeaconReplyRepr, BeaconRepr, Body, DataRepr, MessageType, Messages, ParsedMessage,
};
use common::{NodeId, Time};
use node_lib::broadcast::Broadcaster;
use node_lib::config::RoutingConfig;
use node_lib::daemon::RoleParams;
use node_lib::downstream::{DownRoute, DownstreamTable, Learned};
use node_lib::inbound::{self, link_payload, Jitter};
use node_lib::neighbor::NeighborTable;
use node_lib::role::{Role, RoleSnapshot};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Most OBUs one RSU keeps routes for.
pub const MAX_ROUTES: usize = 8192;
/// Most link neighbours tracked.
pub const MAX_NEIGHBORS: usize = 1024;
/// How often expiry runs.
const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(10);

pub struct Rsu {
    id: NodeId,
    mac: NodeId,
    addrs: Vec<IpPrefix>,
    routing: RoutingConfig,
    counters: Arc<Counters>,
    seq: u32,
    next_beacon: Time,
    next_housekeeping: Time,
    jitter: Jitter,
    neighbors: NeighborTable,
    routes: DownstreamTable,
    broadcast: Broadcaster,
    gone: Vec<NodeId>,
    changed: bool,
}

impl Rsu {
    pub fn new(p: RoleParams) -> Rsu {
        Rsu {
            id: p.id,
            mac: p.mac,
            addrs: p.addresses,
            routing: p.routing,
            counters: p.counters,
            seq: 0,
            next_beacon: Time::ZERO,
            next_housekeeping: Time::ZERO,
            jitter: Jitter::new(p.seed),
            neighbors: NeighborTable::new(MAX_NEIGHBORS),
            routes: DownstreamTable::new(MAX_ROUTES),
            broadcast: Broadcaster::new(p.id),
            gone: Vec::new(),
            changed: false,
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn routes(&self) -> &DownstreamTable {
        &self.routes
    }

    /// Routes expire when no reply refreshed them for this long.
    fn route_timeout(&self) -> Duration {
        self.routing.neighbor_timeout() * 2
    }

    fn data_ttl(&self) -> u8 {
        self.routing.max_hops.saturating_mul(2).max(2)
    }

    fn on_reply(&mut self, now: Time, from: NodeId, r: &BeaconReplyRepr) {
        if r.rsu != self.id {
            self.counters.count_drop(DropReason::NotForUs);
            return;
        }
        let rtt = now.0.checked_sub(r.timestamp_us);
        let route = DownRoute {
            next_hop: from,
            hops: r.hops,
            addrs: r.addrs,
            last_seen: now,
            rsu: self.id,
            rtt_us: rtt,
        };
        match self.routes.learn(r.obu, route) {
            Learned::New => {
                self.changed = true;
                tracing::info!(obu = %r.obu, via = %from, hops = r.hops, "OBU attached")
            }
            Learned::Updated => {}
            Learned::Full => self.counters.count_drop(DropReason::NoRoute),
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
        if m.header.msg_type != MessageType::DataUp || dest != self.id {
            self.counters.count_drop(DropReason::NotForUs);
            return;
        }
        let Some(dst) = ip::destination(payload) else {
            self.counters.count_drop(DropReason::NotIp);
            return;
        };
        let pl = link_payload(slot, m, payload.len());
        if let Some((obu, route)) = self.routes.lookup_addr(&dst) {
            // V2V: turn around toward the other OBU without touching the TUN.
            if route.next_hop == from {
                self.counters.count_drop(DropReason::Loop);
                return;
            }
            if m.header.ttl <= 1 {
                self.counters.count_drop(DropReason::TtlExpired);
                return;
            }
            Counters::inc(&self.counters.v2v_turnaround, 1);
            out.push(Action::SendData {
                next_hop: route.next_hop,
                kind: MessageType::DataDown,
                ttl: m.header.ttl - 1,
                origin,
                dest: obu,
                payload: pl,
            });
            return;
        }
        out.push(Action::DeliverTun { payload: pl });
    }
}

impl Role for Rsu {
    fn on_frame(&mut self, now: Time, slot: u16, frame: &[u8], out: &mut Vec<Action>) {
        let Some(f) = inbound::accept(frame, self.mac, &self.counters) else {
            return;
        };
        self.neighbors.heard(f.src, now);
        for m in Messages::new(f.payload) {
            let Some(m) = inbound::counted(m, &self.counters) else {
                continue;
            };
            match m.body {
                // Our own beacon relayed back, or another RSU's: nothing to do.
                Body::Beacon(_) => {}
                Body::BeaconReply(r) => self.on_reply(now, f.src, &r),
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
        match self.routes.lookup_addr(&dst) {
            Some((obu, r)) => out.push(Action::SendData {
                next_hop: r.next_hop,
                kind: MessageType::DataDown,
                ttl: self.data_ttl(),
                origin: self.id,
                dest: obu,
                payload,
            }),
            None => self.counters.count_drop(DropReason::NoRoute),
        }
    }

    fn on_tick(&mut self, now: Time, out: &mut Vec<Action>) {
        if now >= self.next_beacon {
            self.seq = self.seq.wrapping_add(1);
            out.push(Action::SendControl {
                dst: NodeId::BROADCAST,
                ttl: 1,
                msg: Control::Beacon(BeaconRepr {
                    rsu: self.id,
                    seq: self.seq,
                    hops: 0,
                    timestamp_us: now.0,
                    interval_ms: self.routing.beacon_interval_ms.min(u16::MAX as u64) as u16,
                }),
            });
            self.next_beacon = now + self.jitter.around(self.routing.beacon_interval(), 10);
        }
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING_EVERY;
            self.gone.clear();
            self.neighbors
                .expire(now, self.routing.neighbor_timeout(), &mut self.gone);
            for mac in &self.gone {
                self.routes.remove_via(*mac);
                tracing::debug!(neighbor = %mac, "neighbour timed out");
            }
            let before = self.routes.len();
            self.routes.expire(now, self.route_timeout());
            self.changed |= self.routes.len() != before || !self.gone.is_empty();
            self.broadcast.expire(now);
        }
    }

    fn next_tick(&self) -> Time {
        self.next_beacon.min(self.next_housekeeping)
    }

    fn set_routing(&mut self, routing: &RoutingConfig) {
        self.routing = routing.clone();
        self.next_beacon = Time::ZERO;
    }

    fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    fn snapshot(&self, now: Time) -> RoleSnapshot {
        RoleSnapshot {
            ready: true,
            neighbor_count: self.neighbors.len(),
            route_count: self.routes.len(),
            neighbors: self.neighbors.to_json(now),
            routes: json!({ "obus": self.routes.to_json(now) }),
        }
    }
}
