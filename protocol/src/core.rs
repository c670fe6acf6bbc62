//! What both roles are made of: [`RoleCore`] holds what an OBU and an RSU
//! both keep (identity, addresses, routing settings, counters, neighbours,
//! downstream routes, broadcast, security) and does what both do: expire
//! their tables, sign their control messages, seal, take broadcast data.
//! The ingress path that feeds it is [`crate::ingress`].

use crate::broadcast::Broadcaster;
use crate::downstream::DownstreamTable;
use crate::neighbor::NeighborTable;
use crate::outcome::Handled;
use crate::params::{RoutingConfig, SecurityConfig};
use crate::probe::Probes;
use crate::role_params::RoleParams;
use crate::security::Security;
use common::action::{Action, Control, Payload, Sealer, Sending};
use common::counters::{Counters, DropReason};
use common::ip::IpPrefix;
use common::wire::{
    BeaconReplyRepr, BeaconRepr, BroadcastRepr, MessageType, ParsedMessage, BROADCAST_OVERHEAD,
};
use common::{NodeId, Time};
use std::net::IpAddr;
use std::sync::Arc;

/// Most copies a node sends to weak links per second (and at once): the
/// edge of a cell needs a few a second (one RSU of the lab's highway sent
/// about one); the bound keeps a node whose beacons are lost to load, not
/// distance, from doubling its small frames into the congestion.
pub const REPEAT_PER_S: u32 = 100;

/// The state and the work both roles share.
pub struct RoleCore {
    pub id: NodeId,
    /// The link MAC: Ethernet source of our frames.
    pub mac: NodeId,
    pub addrs: Vec<IpPrefix>,
    pub routing: RoutingConfig,
    pub counters: Arc<Counters>,
    pub neighbors: NeighborTable,
    /// Routes toward OBUs: an RSU's attached OBUs, a relay's descendants.
    pub downstream: DownstreamTable,
    pub broadcast: Broadcaster,
    /// Identity, trust and sessions; `None` in mode off.
    pub sec: Option<Security>,
    /// Routes or the upstream changed since the API last looked.
    pub changed: bool,
    /// Whether a frame from a new neighbour that the full neighbour table
    /// cannot hold is dropped (`no_route`) rather than handled.
    pub refuse_when_neighbors_full: bool,
    /// Overlay diagnostics: answers for the API, the answer budget.
    pub probes: Probes,
    /// Encrypted mode: neighbours heard so weakly that small sealed
    /// frames to them go twice (`[routing] repeat_below_pct`); the role
    /// keeps the list (see [`RoleCore::find_weak_links`]).
    pub weak_links: Vec<NodeId>,
    /// Copies to weak links that may go now ([`REPEAT_PER_S`], refilled by
    /// [`RoleCore::refill_repeats`]), and when it was last refilled.
    repeat_budget: u32,
    repeat_refilled: Time,
    /// Secure modes: the budget of broadcast signature checks.
    broadcast_checks: crate::ratelimit::BroadcastChecks,
    /// Neighbours that just timed out (reused).
    gone: Vec<NodeId>,
}

impl RoleCore {
    /// Takes what it keeps from `p`; returns the rest of `p` to the role
    /// (its seed). The tables hold at most `capacity` (neighbours,
    /// downstream routes) entries.
    pub fn new(p: RoleParams, capacity: (usize, usize)) -> (RoleCore, u64) {
        let (max_neighbors, max_downstream) = capacity;
        let core = RoleCore {
            id: p.id,
            mac: p.mac,
            addrs: p.addresses,
            routing: p.routing,
            counters: p.counters,
            neighbors: NeighborTable::new(max_neighbors),
            downstream: DownstreamTable::new(max_downstream),
            broadcast: Broadcaster::new(p.id, (p.seed >> 16) as u32),
            sec: p.security,
            changed: false,
            refuse_when_neighbors_full: false,
            probes: Probes::default(),
            weak_links: Vec::new(),
            repeat_budget: REPEAT_PER_S,
            repeat_refilled: Time::ZERO,
            broadcast_checks: Default::default(),
            gone: Vec::new(),
        };
        (core, p.seed)
    }

    /// Puts into `out` (cleared first) the neighbours of `links`
    /// (neighbour, reception in percent) heard below `[routing]
    /// repeat_below_pct`: the role's next [`RoleCore::weak_links`]. None
    /// unless encrypted (only sealed data is repeated: its counters let the
    /// receiver drop the copy). Reception 0 is "not known".
    pub fn find_weak_links(
        &self,
        links: impl Iterator<Item = (NodeId, u8)>,
        out: &mut Vec<NodeId>,
    ) {
        out.clear();
        let below = self.routing.repeat_below_pct;
        if below == 0 || !self.encrypted() {
            return;
        }
        out.extend(links.filter(|&(_, q)| q > 0 && q < below).map(|(n, _)| n));
    }

    /// Refills the budget of copies to weak links for the time since the
    /// last refill (the roles call it with their housekeeping).
    pub fn refill_repeats(&mut self, now: Time) {
        let ms = now.since(self.repeat_refilled).as_millis();
        let earned = u32::try_from(ms * u128::from(REPEAT_PER_S) / 1000).unwrap_or(u32::MAX);
        if earned > 0 {
            self.repeat_budget = self.repeat_budget.saturating_add(earned).min(REPEAT_PER_S);
            self.repeat_refilled = now;
        }
    }

    /// Encrypted mode: data is sealed between each OBU and its RSU.
    pub fn encrypted(&self) -> bool {
        self.sec.as_ref().is_some_and(|s| s.encrypted())
    }

    /// TTL of the data messages we originate.
    pub fn data_ttl(&self) -> u8 {
        self.routing.max_hops.saturating_mul(2).max(2)
    }

    /// First step for a TUN packet in either role: broadcast and multicast
    /// go out as broadcast data here (`Ok(None)`; signed under our
    /// certificate in the secure modes); a unicast packet comes back with
    /// its destination and reference for the role to route.
    pub fn tun_unicast(
        &mut self,
        now: Time,
        slot: u16,
        packet: &[u8],
        out: &mut Vec<Action>,
    ) -> Result<Option<(IpAddr, Payload)>, DropReason> {
        let dst = common::ip::destination(packet).ok_or(DropReason::NotIp)?;
        let payload = crate::inbound::tun_payload(slot, packet.len());
        if !Broadcaster::is_broadcast(&self.addrs, &dst) {
            return Ok(Some((dst, payload)));
        }
        let ttl = self.routing.broadcast_ttl;
        let Some(sec) = self.sec.as_mut() else {
            self.broadcast.originate(ttl, payload, out);
            return Ok(None);
        };
        // Signed: the packet is copied into the message (broadcast is
        // rare next to unicast; the signature costs far more).
        let seq = self.broadcast.next_seq();
        let fixed = BROADCAST_OVERHEAD - common::wire::HEADER_LEN;
        let mut body = vec![0u8; fixed + packet.len()];
        BroadcastRepr::emit_fixed(self.id, seq, &mut body);
        body[fixed..].copy_from_slice(packet);
        // Without a certificate (not attached yet) there is nothing to
        // sign with: refused, never sent in the clear.
        let msg = sec
            .sign_certified(now, MessageType::Broadcast, &body)
            .ok_or(DropReason::Unprotected)?;
        out.push(Action::SendControl {
            dst: common::NodeId::BROADCAST,
            ttl,
            msg,
        });
        Ok(None)
    }

    /// The one place drops are counted.
    pub fn count(&self, handled: Handled) {
        if let Err(reason) = handled {
            self.counters.count_drop(reason);
        }
    }

    /// A beacon as it goes on the air: signed in the secure modes.
    pub fn beacon_control(&mut self, now: Time, beacon: BeaconRepr) -> Control {
        match self.sec.as_mut() {
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
        }
    }

    /// A reply as it goes on the air: signed in the secure modes.
    pub fn reply_control(&mut self, now: Time, reply: BeaconReplyRepr) -> Control {
        match self.sec.as_mut() {
            Some(sec) => {
                let wall = sec.wall_us(now);
                Control::Raw(Box::new(secure::control::sign_reply(
                    &sec.identity,
                    &reply,
                    wall,
                    &mut sec.scratch,
                )))
            }
            None => Control::BeaconReply(Box::new(reply)),
        }
    }

    /// Expires what both roles keep: neighbours not heard for
    /// `RoutingConfig::neighbor_expiry` (and the routes through them),
    /// routes not refreshed for `RoutingConfig::route_timeout`, silent broadcast origins, sessions past
    /// their age. Returns the neighbours that went (valid until the next
    /// call) and whether the routes changed.
    pub fn expire(&mut self, now: Time) -> (&[NodeId], bool) {
        self.gone.clear();
        self.neighbors
            .expire(now, self.routing.neighbor_expiry(), &mut self.gone);
        let before = self.downstream.len();
        for mac in &self.gone {
            self.downstream.remove_via(*mac);
        }
        self.downstream.expire(now, self.routing.route_timeout());
        let changed = self.downstream.len() != before || !self.gone.is_empty();
        self.broadcast.expire(now);
        self.broadcast_checks.forget_idle(now);
        if let Some(sec) = self.sec.as_mut() {
            sec.sessions.expire(now);
        }
        (&self.gone, changed)
    }

    /// The sessions that seal `Sealing::Seal` data (encrypted mode), and
    /// the neighbours the role found weak ([`RoleCore::weak_links`]).
    pub fn sending(&mut self) -> Sending<'_> {
        Sending {
            sealer: self
                .sec
                .as_mut()
                .filter(|s| s.encrypted())
                .map(|s| &mut s.sessions as &mut dyn Sealer),
            repeat_to: &self.weak_links,
            repeat_budget: &mut self.repeat_budget,
        }
    }

    /// New trust lists and session limits (SIGHUP); sessions are kept.
    pub fn set_security(&mut self, c: &SecurityConfig) {
        if let Some(sec) = self.sec.as_mut() {
            sec.reload(c);
        }
    }

    /// Broadcast data from the link: delivered once and relayed while the
    /// TTL lasts. Secure modes: only signed under a valid certificate of
    /// its origin, checked after the cheap de-duplication and before it
    /// counts as seen (a forgery cannot use up a sequence number).
    pub(crate) fn on_broadcast(
        &mut self,
        now: Time,
        slot: u16,
        m: &ParsedMessage,
        b: &BroadcastRepr,
        out: &mut Vec<Action>,
    ) -> Handled {
        let resync = self.routing.neighbor_timeout();
        let Some(sec) = self.sec.as_mut() else {
            return self
                .broadcast
                .on_received(now, slot, m, b, resync, &self.counters, out, None);
        };
        // Cheap checks first: signed, fresh (a recording played back later
        // is `replayed`), not seen yet, within the check budget.
        let c = sec.claim_certified(now, m)?;
        self.broadcast.precheck(now, b, resync, c.time_us)?;
        let known = self.broadcast.knows(&b.origin);
        if !self.broadcast_checks.allow(now, b.origin, known) {
            return Err(DropReason::RateLimited);
        }
        if c.cert.subject != b.origin {
            return Err(DropReason::AuthFailed);
        }
        sec.verify_claimed(now, m, &c)?;
        Counters::inc(&self.counters.broadcasts_verified, 1);
        self.broadcast.on_received(
            now,
            slot,
            m,
            b,
            resync,
            &self.counters,
            out,
            Some(c.time_us),
        )
    }

    /// Whether routes changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}
