//! The RSU's sans-IO state machine: beacons, route learning from replies,
//! downstream routing, V2V turnaround. What it shares with the OBU (the
//! ingress path, tables, broadcast, security, expiry) is `protocol::core`;
//! here are the RSU's handlers.

use common::action::{Action, Payload, Sealing, Source};
use common::counters::{Counters, DropReason};
use common::ip;
use common::wire::{
    BeaconReplyRepr, BeaconRepr, DataRepr, HandshakeRepr, MessageType, ParsedMessage, ProbeTarget,
};
use common::{NodeId, Time};
use protocol::core::RoleCore;
use protocol::downstream::{DownRoute, DownstreamTable, Learned};
use protocol::export::ExportedRoute;
use protocol::handlers::{Handled, Handlers};
use protocol::inbound::{link_payload, Jitter};
use protocol::params::{RoutingConfig, SecurityConfig};
use protocol::probe::ProbeRoute;
use protocol::ratelimit::CostLimiter;
use protocol::role::{Role, RoleSnapshot, RoleView};
use protocol::role_params::RoleParams;
use protocol::security::Verdict;
use std::collections::HashMap;
use std::time::Duration;

/// Most OBUs one RSU keeps routes for.
pub const MAX_ROUTES: usize = 8192;
/// Most link neighbours tracked.
pub const MAX_NEIGHBORS: usize = 1024;
/// How often expiry runs.
const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(50);

pub struct Rsu {
    core: RoleCore,
    seq: u32,
    /// Random per process, carried in every beacon: OBUs see a restart.
    epoch: u32,
    next_beacon: Time,
    next_housekeeping: Time,
    jitter: Jitter,
    /// Bounds the CPU spent on handshakes and on unknown OBUs' replies.
    limiter: CostLimiter,
    /// Whether our uplink to the backbone is up, and the operator's
    /// preference: both carried in our beacons.
    uplink: bool,
    preference: u8,
    /// OBUs that told us they left, with the attachment they left for and
    /// when: a late reply of the old attachment must not bring them back.
    left: HashMap<NodeId, (u32, Time)>,
    /// Secure modes: when we last sent each OBU a certificate.
    certified: HashMap<NodeId, Time>,
}

/// Least time between two certificates sent to one OBU (a lost one is
/// sent again at the OBU's next reply after this).
const CERT_RESEND_AFTER: Duration = Duration::from_secs(1);

/// How long a leave is remembered (late replies of the old attachment are
/// refused meanwhile).
const LEFT_REMEMBERED: Duration = Duration::from_secs(5);
/// Most leaves remembered at once (a bound under floods of signed leaves).
const MAX_LEFT: usize = 4096;

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
    /// The OBUs heard directly that report a weak reception of our
    /// beacons: small sealed frames to them go twice (the edge of the
    /// cell, where a handover is near and unicast starts to fail).
    fn find_weak_links(&mut self, now: Time) {
        let mut weak = std::mem::take(&mut self.core.weak_links);
        let direct = self
            .core
            .downstream
            .iter()
            .filter(|(_, r)| r.hops == 1)
            .map(|(_, r)| (r.next_hop, r.quality_pct));
        self.core.find_weak_links(direct, &mut weak);
        self.core.weak_links = weak;
        self.core.refill_repeats(now);
    }

    pub fn new(p: RoleParams) -> Rsu {
        let p_preference = p.preference;
        let (mut core, seed) = RoleCore::new(p, (MAX_NEIGHBORS, MAX_ROUTES));
        if let Some(sec) = core.sec.as_mut() {
            sec.issuer = true;
            sec.renew_own_cert(Time::ZERO);
        }
        Rsu {
            core,
            seq: 0,
            epoch: epoch_from(seed),
            next_beacon: Time::ZERO,
            next_housekeeping: Time::ZERO,
            jitter: Jitter::new(seed),
            limiter: CostLimiter::new(),
            uplink: true,
            preference: p_preference,
            left: HashMap::new(),
            certified: HashMap::new(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.core.id
    }

    /// This process's beacon epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn routes(&self) -> &DownstreamTable {
        &self.core.downstream
    }

    /// Security on: the reply is signed, fresh, answers a recent beacon of
    /// ours, comes from an allowed key, and that key is the one this OBU id
    /// proved in its handshake (if any). Returns the key (None: mode off).
    fn reply_key(
        &mut self,
        now: Time,
        m: &ParsedMessage,
        r: &BeaconReplyRepr,
    ) -> Result<Option<[u8; 32]>, DropReason> {
        let seq = self.seq;
        let core = &mut self.core;
        let Some(sec) = core.sec.as_mut() else {
            return Ok(None);
        };
        // Not an answer to a recent beacon: a replay (checked before the
        // costly signature).
        if seq.wrapping_sub(r.seq) >= REPLY_SEQ_WINDOW {
            return Err(DropReason::Replayed);
        }
        let key = sec.verify_reply(now, m)?;
        let bound = sec.sessions.peer_key(&r.obu);
        if !sec.obu_allowed(&key)
            || bound.is_some_and(|b| b != key)
            || !core.downstream.key_matches(&r.obu, &key.0)
        {
            return Err(DropReason::AuthFailed);
        }
        Ok(Some(key.0))
    }

    /// The payload of upstream data for us and the IP packet it carries:
    /// in the clear, or opened in place by the pre-pass. `None`: nothing to
    /// deliver (a keepalive).
    fn data_packet<'a>(
        slot: u16,
        m: &'a ParsedMessage,
        d: &DataRepr<'a>,
        sealed: bool,
        verdict: Verdict,
    ) -> Result<Option<(Payload, &'a [u8])>, DropReason> {
        if !sealed {
            return Ok(Some((link_payload(slot, m, d.payload.len()), d.payload)));
        }
        match verdict {
            // A keepalive (confirms a new session): nothing to deliver.
            Verdict::Opened { len: 0, .. } => Ok(None),
            Verdict::Opened { start, len } => {
                let pl = Payload {
                    source: Source::Link,
                    slot,
                    offset: start,
                    len,
                };
                let text = (start as usize)
                    .checked_sub(protocol::inbound::PAYLOAD_OFFSET + m.offset)
                    .and_then(|off| m.raw.get(off..off + len as usize))
                    .ok_or(DropReason::Malformed)?;
                Ok(Some((pl, text)))
            }
            // Counted by the pre-pass already.
            Verdict::Failed(_) => Ok(None),
            Verdict::Untouched => Err(DropReason::Malformed),
        }
    }

    /// The OBU attached to another RSU (attachment `r.attach_seq`) and left
    /// us: withdraw its routes at once. Authentic and fresh already
    /// (`reply_key`); only a leave for an attachment newer than the one we
    /// hold counts, so a played-back leave never detaches the OBU again.
    fn on_leave(&mut self, now: Time, r: &BeaconReplyRepr) -> Handled {
        let Some(route) = self.core.downstream.get(&r.obu) else {
            return Ok(());
        };
        if !protocol::seqwin::seq_newer(r.attach_seq, route.attach_seq) {
            return Err(DropReason::Replayed);
        }
        self.core.downstream.remove(&r.obu);
        self.core.changed = true;
        Counters::inc(&self.core.counters.obus_left, 1);
        if self.left.len() >= MAX_LEFT {
            self.left
                .retain(|_, (_, t)| now.since(*t) < LEFT_REMEMBERED);
        }
        if self.left.len() < MAX_LEFT {
            self.left.insert(r.obu, (r.attach_seq, now));
        }
        tracing::info!(obu = %r.obu, attach_seq = r.attach_seq, "OBU left for another RSU; routes withdrawn");
        Ok(())
    }

    /// Secure modes: sends the OBU a fresh certificate for `key` when the
    /// one its reply carries is missing, not ours, for another key or past
    /// half its life; encrypted, also when we hold no session with it (the
    /// certificate then says so, and the OBU handshakes again at once: how
    /// an OBU whose key was allowed again gets its session back).
    fn maybe_certify(
        &mut self,
        now: Time,
        from: NodeId,
        r: &BeaconReplyRepr,
        key: [u8; 32],
        out: &mut Vec<Action>,
    ) {
        let Some(sec) = self.core.sec.as_ref() else {
            return;
        };
        if self
            .certified
            .get(&r.obu)
            .is_some_and(|t| now.since(*t) < CERT_RESEND_AFTER)
        {
            return;
        }
        let wall = sec.wall_us(now);
        let me = sec.identity.public().0;
        let half = sec.cert_lifetime_us() / 2;
        let current = r.cert.is_some_and(|c| {
            c.issuer == me && c.key == key && c.expires_us.saturating_sub(wall) >= half
        });
        let no_session = sec.encrypted() && sec.sessions.peer_key(&r.obu).is_none();
        if current && !no_session {
            return;
        }
        let flags = if no_session {
            common::wire::CERT_FLAG_NO_SESSION
        } else {
            0
        };
        let cert = sec.issue_cert(now, r.obu, &secure::PublicKey(key), flags);
        let msg = common::wire::CertMsgRepr { dest: r.obu, cert };
        let mut body = vec![0u8; msg.body_len()];
        msg.emit(&mut body);
        out.push(Action::SendControl {
            dst: from,
            ttl: self.core.routing.max_hops,
            msg: common::action::Control::Raw(Box::new(common::action::RawMessage {
                msg_type: MessageType::Certificate,
                flags: 0,
                body,
            })),
        });
        Counters::inc(&self.core.counters.certs_issued, 1);
        self.certified.insert(r.obu, now);
    }

    /// Trust lists reloaded: OBUs whose keys are no longer allowed lose
    /// their sessions and routes at once (relays still honour their
    /// certificates until those expire).
    fn revoke_refused(&mut self) {
        let Some(sec) = self.core.sec.as_mut() else {
            return;
        };
        let mut gone = sec.forget_refused_obus();
        let refused: Vec<NodeId> = self
            .core
            .downstream
            .iter()
            .filter(|(_, r)| {
                r.key
                    .is_some_and(|k| !sec.obu_allowed(&secure::PublicKey(k)))
            })
            .map(|(id, _)| *id)
            .collect();
        for obu in &refused {
            self.core.downstream.remove(obu);
            self.certified.remove(obu);
        }
        gone.extend(refused);
        gone.sort();
        gone.dedup();
        if !gone.is_empty() {
            self.core.changed = true;
            Counters::inc(&self.core.counters.obus_revoked, gone.len() as u64);
            for obu in &gone {
                tracing::warn!(%obu, "OBU key no longer allowed: session and routes removed");
            }
        }
    }

    fn send_beacon(&mut self, now: Time, out: &mut Vec<Action>) {
        self.seq = self.seq.wrapping_add(1);
        let beacon = BeaconRepr {
            rsu: self.core.id,
            seq: self.seq,
            hops: 0,
            timestamp_us: now.0,
            interval_ms: self.core.routing.beacon_interval_ms.min(u16::MAX as u64) as u16,
            epoch: self.epoch,
            uplink: self.uplink,
            preference: self.preference,
        };
        let msg = self.core.beacon_control(now, beacon);
        out.push(Action::SendControl {
            dst: NodeId::BROADCAST,
            ttl: 1,
            msg,
        });
        let interval = self.core.routing.beacon_interval();
        self.next_beacon = now + self.jitter.around(interval, 10);
    }
}

impl Handlers for Rsu {
    fn core(&mut self) -> &mut RoleCore {
        &mut self.core
    }

    /// Our own beacon relayed back, or another RSU's: nothing to do.
    fn on_beacon(
        &mut self,
        _: Time,
        _: NodeId,
        _: &ParsedMessage,
        _: &BeaconRepr,
        _: &mut Vec<Action>,
    ) -> Handled {
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
        if r.rsu != self.core.id {
            return Err(DropReason::NotForUs);
        }
        // An OBU we have no route for: a bounded number a second (each a
        // signature check in the secure modes, a new route in every mode),
        // so a flood of made-up ids takes neither the CPU nor the tables.
        if self.core.downstream.get(&r.obu).is_none() {
            let allowed = if self.core.sec.is_some() {
                self.limiter.unknown_reply(now)
            } else {
                self.limiter.unknown_plain_reply(now)
            };
            if !allowed {
                return Err(DropReason::RateLimited);
            }
        }
        let key = self.reply_key(now, m, r)?;
        if r.leaving {
            return self.on_leave(now, r);
        }
        // A reply of the attachment the OBU already left (late, or played
        // back): it must not bring the route back.
        if let Some((left_for, _)) = self.left.get(&r.obu) {
            if !protocol::seqwin::seq_newer(r.attach_seq, *left_for) {
                return Err(DropReason::Replayed);
            }
            self.left.remove(&r.obu);
        }
        let route = DownRoute {
            next_hop: from,
            hops: r.hops,
            addrs: r.addrs,
            last_seen: now,
            rsu: self.core.id,
            rtt_us: now.0.checked_sub(r.timestamp_us),
            key,
            attach_seq: r.attach_seq,
            parent: r.parent,
            quality_pct: r.quality_pct,
        };
        match self.core.downstream.learn(r.obu, route) {
            Learned::New => {
                self.core.changed = true;
                tracing::info!(obu = %r.obu, via = %from, hops = r.hops, attach_seq = r.attach_seq, "OBU attached");
            }
            Learned::Changed => self.core.changed = true,
            Learned::Updated => {}
            Learned::Full => return Err(DropReason::NoRoute),
        }
        if let Some(key) = key {
            self.maybe_certify(now, from, r, key, out);
        }
        Ok(())
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
        let core = &self.core;
        if m.header.msg_type != MessageType::DataUp || d.dest != core.id {
            return Err(DropReason::NotForUs);
        }
        let sealed = protocol::security::check_sealing(m.header.flags, core.encrypted())?;
        let opened = matches!(verdict, Verdict::Opened { .. });
        // Genuine (opened) or nothing is (mode off): the OBU's own traffic
        // keeps its route fresh and on the path it came by.
        let genuine = (sealed && opened) || core.sec.is_none();
        if genuine && self.core.downstream.refresh(&d.origin, from, now) {
            self.core.changed = true;
        }
        let core = &self.core;
        let Some((pl, packet)) = Self::data_packet(slot, m, d, sealed, verdict)? else {
            return Ok(());
        };
        let dst = ip::destination(packet).ok_or(DropReason::NotIp)?;
        let Some((obu, route)) = core.downstream.lookup_addr(&dst) else {
            out.push(Action::DeliverTun { payload: pl });
            return Ok(());
        };
        // V2V: turn around toward the other OBU without touching the TUN
        // (encrypted: re-sealed for the other OBU's session). Sealed
        // traffic may go back to the relay it came from: relays cannot
        // turn it around themselves, and it leaves as a new downstream
        // message on another session.
        if route.next_hop == from && !sealed {
            return Err(DropReason::Loop);
        }
        if m.header.ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        Counters::inc(&core.counters.v2v_turnaround, 1);
        out.push(Action::SendData {
            next_hop: route.next_hop,
            kind: MessageType::DataDown,
            ttl: m.header.ttl - 1,
            // Re-sealed here: the session (and so the origin) is ours.
            origin: if sealed { core.id } else { d.origin },
            dest: obu,
            payload: pl,
            sealing: if sealed {
                Sealing::Seal
            } else {
                Sealing::Plain
            },
        });
        Ok(())
    }

    fn on_handshake(
        &mut self,
        now: Time,
        from: NodeId,
        _: &ParsedMessage,
        h: &HandshakeRepr,
        out: &mut Vec<Action>,
    ) -> Handled {
        let core = &mut self.core;
        let max_hops = core.routing.max_hops;
        let sec = core
            .sec
            .as_mut()
            .filter(|s| s.encrypted())
            .ok_or(DropReason::Unprotected)?;
        if h.kind != MessageType::HandshakeInit || h.to != core.id {
            return Err(DropReason::NotForUs);
        }
        // Answering costs several curve operations: bounded per id and
        // per class (ids we know keep their share under a flood).
        let known =
            core.downstream.get(&h.from).is_some() || sec.sessions.peer_key(&h.from).is_some();
        if let Err(why) = self.limiter.handshake(h.from, known, now) {
            tracing::debug!(obu = %h.from, ?why, "handshake rate-limited");
            Counters::inc(&core.counters.handshakes_refused, 1);
            return Err(DropReason::RateLimited);
        }
        let answer = sec.respond_handshake(now, h)?;
        let (resp, key) = (answer.msg, answer.key);
        match answer.refused {
            None => {
                Counters::inc(&core.counters.handshakes, 1);
                tracing::debug!(obu = %h.from, %key, "handshake answered");
            }
            Some(why) => {
                // Answered all the same, so that the OBU logs it too.
                core.counters.count_drop(DropReason::Incompatible);
                tracing::warn!(obu = %h.from, %key, "refused a session: {why}");
            }
        }
        // Back the way it came; relays route it by the OBU's id.
        out.push(Action::SendControl {
            dst: from,
            ttl: max_hops,
            msg: common::action::Control::Raw(Box::new(resp)),
        });
        Ok(())
    }

    /// TUN packet to an attached OBU's address: downstream, sealed when
    /// encrypted. Broadcast went out already (`classify_tun`).
    /// Probes: for us by id or address, down toward an attached OBU, or
    /// nobody we know.
    fn probe_route(&self, target: ProbeTarget) -> ProbeRoute {
        let core = &self.core;
        let route = match target {
            ProbeTarget::Node(n) if n == core.id => return ProbeRoute::Mine,
            ProbeTarget::Addr(a) if core.addrs.iter().any(|p| p.addr == a) => {
                return ProbeRoute::Mine
            }
            ProbeTarget::Node(n) => core.downstream.get(&n),
            ProbeTarget::Addr(a) => core.downstream.lookup_addr(&a).map(|(_, r)| r),
        };
        route.map_or(ProbeRoute::Unknown, |r| ProbeRoute::Via(r.next_hop))
    }

    fn on_packet(&mut self, now: Time, slot: u16, packet: &[u8], out: &mut Vec<Action>) -> Handled {
        let Some((dst, payload)) = self.core.tun_unicast(now, slot, packet, out)? else {
            return Ok(());
        };
        let core = &self.core;
        let (obu, r) = core
            .downstream
            .lookup_addr(&dst)
            .ok_or(DropReason::NoRoute)?;
        out.push(Action::SendData {
            next_hop: r.next_hop,
            kind: MessageType::DataDown,
            ttl: core.data_ttl(),
            origin: core.id,
            dest: obu,
            payload,
            sealing: if core.encrypted() {
                Sealing::Seal
            } else {
                Sealing::Plain
            },
        });
        Ok(())
    }
}

impl Role for Rsu {
    fn on_tick(&mut self, now: Time, out: &mut Vec<Action>) {
        if now >= self.next_beacon {
            self.send_beacon(now, out);
        }
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING_EVERY;
            let (gone, changed) = self.core.expire(now);
            for mac in gone {
                tracing::debug!(neighbor = %mac, "neighbour timed out");
            }
            self.core.changed |= changed;
            self.limiter.forget_idle(now);
            self.left
                .retain(|_, (_, t)| now.since(*t) < LEFT_REMEMBERED);
            let routes = &self.core.downstream;
            self.certified.retain(|obu, _| routes.get(obu).is_some());
            self.find_weak_links(now);
            if let Some(sec) = self.core.sec.as_mut() {
                sec.renew_own_cert(now);
                sec.certs.expire(sec.wall_us(now));
            }
        }
    }

    fn next_tick(&self) -> Time {
        self.next_beacon.min(self.next_housekeeping)
    }

    fn set_routing(&mut self, routing: &RoutingConfig) {
        self.core.routing = routing.clone();
        self.next_beacon = Time::ZERO;
    }

    /// New trust lists: refused OBUs are cut at once.
    fn set_security(&mut self, security: &SecurityConfig) {
        self.core.set_security(security);
        self.revoke_refused();
    }

    fn snapshot(&self, now: Time) -> RoleSnapshot {
        let role = RoleView::Rsu {
            uplink: self.uplink,
            preference: self.preference,
        };
        RoleSnapshot::of(&self.core, now, true, role)
    }

    fn exported_routes(&self, out: &mut Vec<ExportedRoute>) {
        protocol::export::host_routes(&self.core.downstream, out);
    }

    /// A change goes out in the next beacon at once, so OBUs leave an RSU
    /// whose uplink went down within a beacon interval.
    fn set_uplink(&mut self, up: bool) {
        if up != self.uplink {
            self.uplink = up;
            self.next_beacon = Time::ZERO;
            self.core.changed = true;
            if up {
                tracing::info!("uplink up: announcing it in beacons");
            } else {
                tracing::warn!(
                    "uplink down: announcing it in beacons; OBUs will move to RSUs with an uplink"
                );
            }
        }
    }
}
