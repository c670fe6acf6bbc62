//! The RSU's sans-IO state machine: beacons, route learning from replies,
//! downstream routing, V2V turnaround, broadcast.

use common::action::{Action, Control, Payload, Sealer, Sealing, Source};
use common::counters::{Counters, DropReason};
use common::ip::{self, IpPrefix};
use common::wire::{
    BeaconReplyRepr, BeaconRepr, Body, DataRepr, HandshakeRepr, MessageType, Messages,
    ParsedMessage,
};
use common::{NodeId, Time};
use protocol::broadcast::Broadcaster;
use protocol::downstream::{DownRoute, DownstreamTable, Learned};
use protocol::inbound::{self, link_payload, Jitter};
use protocol::neighbor::NeighborTable;
use protocol::params::RoleParams;
use protocol::params::{RoutingConfig, SecurityConfig};
use protocol::ratelimit::CostLimiter;
use protocol::role::{Role, RoleSnapshot};
use protocol::security::{Security, Verdict};
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
    /// Random per process, carried in every beacon: OBUs see a restart.
    epoch: u32,
    next_beacon: Time,
    next_housekeeping: Time,
    jitter: Jitter,
    neighbors: NeighborTable,
    routes: DownstreamTable,
    broadcast: Broadcaster,
    gone: Vec<NodeId>,
    changed: bool,
    sec: Option<Security>,
    /// The key of the reply being handled (set by `reply_authentic`).
    reply_key: Option<[u8; 32]>,
    /// Bounds the CPU spent on handshakes and on unknown OBUs' replies.
    limiter: CostLimiter,
}

/// Security on: a reply must answer one of our last this-many beacons.
const REPLY_SEQ_WINDOW: u32 = 16;

/// A non-zero beacon epoch from the process's random seed.
fn epoch_from(seed: u64) -> u32 {
    let e = (seed ^ (seed >> 32)) as u32;
    if e == 0 {
        1
    } else {
        e
    }
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
            epoch: epoch_from(p.seed),
            next_beacon: Time::ZERO,
            next_housekeeping: Time::ZERO,
            jitter: Jitter::new(p.seed),
            neighbors: NeighborTable::new(MAX_NEIGHBORS),
            routes: DownstreamTable::new(MAX_ROUTES),
            broadcast: Broadcaster::new(p.id, p.security.as_ref().is_some_and(|s| s.encrypted())),
            gone: Vec::new(),
            changed: false,
            sec: p.security,
            reply_key: None,
            limiter: CostLimiter::new(),
        }
    }

    fn encrypted(&self) -> bool {
        self.sec.as_ref().is_some_and(|s| s.encrypted())
    }

    /// Security on: the reply is signed, fresh, answers a recent beacon of
    /// ours, comes from an allowed key, and that key is the one this OBU id
    /// proved in its handshake (if any).
    fn reply_authentic(&mut self, now: Time, m: &ParsedMessage, r: &BeaconReplyRepr) -> bool {
        let seq = self.seq;
        let Some(sec) = self.sec.as_mut() else {
            return true;
        };
        // Not an answer to a recent beacon: a replay (checked before the
        // costly signature).
        if seq.wrapping_sub(r.seq) >= REPLY_SEQ_WINDOW {
            self.counters.count_drop(DropReason::Replayed);
            return false;
        }
        // An OBU we have no route for: a bounded number of verifications a
        // second, so a flood of made-up ids cannot take the CPU.
        if self.routes.get(&r.obu).is_none() && !self.limiter.unknown_reply(now) {
            self.counters.count_drop(DropReason::RateLimited);
            return false;
        }
        let key = match sec.verify_reply(now, m) {
            Ok(k) => k,
            Err(reason) => {
                self.counters.count_drop(reason);
                return false;
            }
        };
        let bound = sec.sessions.peer_key(&r.obu);
        if !sec.obu_allowed(&key)
            || bound.is_some_and(|b| b != key)
            || !self.routes.key_matches(&r.obu, &key.0)
        {
            self.counters.count_drop(DropReason::AuthFailed);
            return false;
        }
        self.reply_key = Some(key.0);
        true
    }

    fn on_handshake(&mut self, now: Time, from: NodeId, h: &HandshakeRepr, out: &mut Vec<Action>) {
        let max_hops = self.routing.max_hops;
        let Some(sec) = self.sec.as_mut().filter(|s| s.encrypted()) else {
            self.counters.count_drop(DropReason::Unprotected);
            return;
        };
        if h.kind != MessageType::HandshakeInit || h.to != self.id {
            self.counters.count_drop(DropReason::NotForUs);
            return;
        }
        // Answering costs several curve operations: bounded per id and
        // per class (ids we know keep their share under a flood).
        let known = self.routes.get(&h.from).is_some() || sec.sessions.peer_key(&h.from).is_some();
        if let Err(why) = self.limiter.handshake(h.from, known, now) {
            tracing::debug!(obu = %h.from, ?why, "handshake rate-limited");
            self.counters.count_drop(DropReason::RateLimited);
            return;
        }
        match sec.respond_handshake(now, h) {
            Ok((resp, key)) => {
                Counters::inc(&self.counters.handshakes, 1);
                tracing::debug!(obu = %h.from, %key, "handshake answered");
                // Back the way it came; relays route it by the OBU's id.
                out.push(Action::SendControl {
                    dst: from,
                    ttl: max_hops,
                    msg: Control::Raw(Box::new(resp)),
                });
            }
            Err(reason) => self.counters.count_drop(reason),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This process's beacon epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
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

    fn on_reply(&mut self, now: Time, from: NodeId, m: &ParsedMessage, r: &BeaconReplyRepr) {
        if r.rsu != self.id {
            self.counters.count_drop(DropReason::NotForUs);
            return;
        }
        if !self.reply_authentic(now, m, r) {
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
            key: self.reply_key.take(),
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
        verdict: Verdict,
        out: &mut Vec<Action>,
    ) {
        let (origin, dest, payload) = (d.origin, d.dest, d.payload);
        if m.header.msg_type != MessageType::DataUp || dest != self.id {
            self.counters.count_drop(DropReason::NotForUs);
            return;
        }
        let sealed = match protocol::security::check_sealing(m.header.flags, self.encrypted()) {
            Ok(s) => s,
            Err(reason) => {
                self.counters.count_drop(reason);
                return;
            }
        };
        let (pl, packet) = if sealed {
            match verdict {
                // A keepalive (confirms a new session): nothing to deliver.
                Verdict::Opened { len: 0, .. } => return,
                Verdict::Opened { start, len } => {
                    let pl = Payload {
                        source: Source::Link,
                        slot,
                        offset: start,
                        len,
                    };
                    let text = (start as usize)
                        .checked_sub(protocol::inbound::PAYLOAD_OFFSET + m.offset)
                        .and_then(|off| m.raw.get(off..off + len as usize));
                    let Some(text) = text else {
                        self.counters.count_drop(DropReason::Malformed);
                        return;
                    };
                    (pl, text)
                }
                Verdict::Failed => return,
                Verdict::Untouched => {
                    self.counters.count_drop(DropReason::Malformed);
                    return;
                }
            }
        } else {
            (link_payload(slot, m, payload.len()), payload)
        };
        let Some(dst) = ip::destination(packet) else {
            self.counters.count_drop(DropReason::NotIp);
            return;
        };
        if let Some((obu, route)) = self.routes.lookup_addr(&dst) {
            // V2V: turn around toward the other OBU without touching the TUN
            // (encrypted: re-sealed for the other OBU's session).
            // (Sealed traffic may go back to the relay it came from: relays
            // cannot turn it around themselves, and it leaves as a new
            // downstream message on another session.)
            if route.next_hop == from && !sealed {
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
                // Re-sealed here: the session (and so the origin) is ours.
                origin: if sealed { self.id } else { origin },
                dest: obu,
                payload: pl,
                sealing: if sealed {
                    Sealing::Seal
                } else {
                    Sealing::Plain
                },
            });
            return;
        }
        out.push(Action::DeliverTun { payload: pl });
    }
}

impl Role for Rsu {
    fn on_frame(&mut self, now: Time, slot: u16, frame: &mut [u8], out: &mut Vec<Action>) {
        Security::before_frame(self.sec.as_mut(), self.id, self.mac, frame, &self.counters);
        let frame = &*frame;
        let Some(f) = inbound::accept(frame, self.mac, &self.counters) else {
            return;
        };
        self.neighbors.heard(f.src, now);
        for (k, m) in Messages::new(f.payload).enumerate() {
            let Some(m) = inbound::counted(m, &self.counters) else {
                continue;
            };
            match m.body {
                // Our own beacon relayed back, or another RSU's: nothing to do.
                Body::Beacon(_) => {}
                Body::BeaconReply(r) => self.on_reply(now, f.src, &m, &r),
                Body::Data(d) => {
                    let v = Security::verdict_of(self.sec.as_ref(), k);
                    self.on_data(f.src, slot, &m, &d, v, out)
                }
                Body::Broadcast(b) => {
                    let resync = self.routing.neighbor_timeout();
                    self.broadcast
                        .on_received(now, slot, &m, &b, resync, &self.counters, out)
                }
                Body::Handshake(h) => self.on_handshake(now, f.src, &h, out),
            }
        }
    }

    fn on_tun(&mut self, _now: Time, slot: u16, packet: &[u8], out: &mut Vec<Action>) {
        let ttl = self.routing.broadcast_ttl;
        let encrypted = self.encrypted();
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
                sealing: if encrypted {
                    Sealing::Seal
                } else {
                    Sealing::Plain
                },
            }),
            None => self.counters.count_drop(DropReason::NoRoute),
        }
    }

    fn on_tick(&mut self, now: Time, out: &mut Vec<Action>) {
        if now >= self.next_beacon {
            self.seq = self.seq.wrapping_add(1);
            let beacon = BeaconRepr {
                rsu: self.id,
                seq: self.seq,
                hops: 0,
                timestamp_us: now.0,
                interval_ms: self.routing.beacon_interval_ms.min(u16::MAX as u64) as u16,
                epoch: self.epoch,
            };
            let msg = match self.sec.as_mut() {
                Some(sec) => {
                    let wall = sec.wall_us(now);
                    Control::Raw(Box::new(secure::control::sign_beacon(
                        &sec.identity,
                        &beacon,
                        wall,
                        &mut sec.scratch,
                    )))
                }
                None => Control::Beacon(beacon),
            };
            out.push(Action::SendControl {
                dst: NodeId::BROADCAST,
                ttl: 1,
                msg,
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
            self.limiter.forget_idle(now);
            if let Some(sec) = self.sec.as_mut() {
                sec.sessions.expire(now);
            }
        }
    }

    fn sealer(&mut self) -> Option<&mut dyn Sealer> {
        self.sec
            .as_mut()
            .filter(|s| s.encrypted())
            .map(|s| &mut s.sessions as &mut dyn Sealer)
    }

    fn next_tick(&self) -> Time {
        self.next_beacon.min(self.next_housekeeping)
    }

    fn set_routing(&mut self, routing: &RoutingConfig) {
        self.routing = routing.clone();
        self.next_beacon = Time::ZERO;
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
        RoleSnapshot {
            ready: true,
            neighbor_count: self.neighbors.len(),
            route_count: self.routes.len(),
            neighbors: self.neighbors.to_json(now),
            routes: json!({ "obus": self.routes.to_json(now) }),
        }
    }
}
