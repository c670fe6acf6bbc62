//! The interface between a role's sans-IO state machine and the I/O loop.

use crate::core::RoleCore;
use crate::downstream::DownRoute;
use crate::export::ExportedRoute;
use crate::handlers::Handlers;
use crate::ingress::receive_frame;
use crate::neighbor::Neighbor;
use crate::params::{RoutingConfig, SecurityConfig};
use crate::probe::{ProbeRequest, ProbeResult};
use common::action::{Action, Sending};
use common::counters::DropReason;
use common::{NodeId, Time};

/// What the API shows of a role's state, in the protocol's own terms
/// (the daemon library turns it into the HTTP API's types when asked),
/// refreshed by the data-plane loop.
#[derive(Clone, Debug)]
pub struct RoleSnapshot {
    /// OBU: an upstream is chosen. RSU: always true once running.
    pub ready: bool,
    /// When it was taken: the ages the API shows count up to it.
    pub at: Time,
    /// The link neighbours heard, sorted by id.
    pub neighbors: Vec<(NodeId, Neighbor)>,
    /// Routes toward OBUs (an RSU's attached OBUs, a relay's
    /// descendants), sorted by id.
    pub downstream: Vec<(NodeId, DownRoute)>,
    /// What only one role has.
    pub role: RoleView,
    pub neighbor_count: usize,
    pub route_count: usize,
}

/// The part of a [`RoleSnapshot`] only one role has.
#[derive(Clone, Debug)]
pub enum RoleView {
    Rsu {
        /// The uplink to the backbone, as its beacons say.
        uplink: bool,
        preference: u8,
    },
    Obu {
        upstream: Option<UpstreamView>,
        /// Every candidate path, sorted by RSU, hops, next hop.
        candidates: Vec<CandidateView>,
    },
}

/// An OBU's upstream as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamView {
    pub rsu: NodeId,
    pub next_hop: NodeId,
    pub hops: u8,
    pub attach_seq: u32,
}

/// One candidate path to an RSU as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CandidateView {
    pub rsu: NodeId,
    /// The RSU's uplink and preference, as its beacons say.
    pub uplink: bool,
    pub preference: u8,
    pub next_hop: NodeId,
    pub hops: u8,
    /// Beacons heard through it over the window, per mille.
    pub reception_permille: u32,
    pub last_heard: Time,
}

impl RoleSnapshot {
    /// The neighbours and downstream routes of `core`, sorted by id,
    /// taken at `now`; the role adds its own part.
    pub fn of(core: &RoleCore, now: Time, ready: bool, role: RoleView) -> RoleSnapshot {
        let mut neighbors: Vec<_> = core.neighbors.iter().map(|(id, n)| (*id, *n)).collect();
        neighbors.sort_by_key(|n| n.0);
        let mut downstream: Vec<_> = core.downstream.iter().map(|(id, r)| (*id, *r)).collect();
        downstream.sort_by_key(|r| r.0);
        RoleSnapshot {
            ready,
            at: now,
            neighbor_count: neighbors.len(),
            route_count: downstream.len(),
            neighbors,
            downstream,
            role,
        }
    }
}

/// A role's protocol logic. It never touches a socket or a clock: every
/// input carries the current time, every output is an [`Action`] appended
/// to `out` (a reused vector, so the hot path does not allocate).
///
/// A role is built on the shared core ([`Handlers`]): frames go through
/// the one ingress path, TUN packets through the role's
/// [`Handlers::on_packet`], and what both roles do alike (sealing, reloads,
/// change tracking) is the core's. A role adds its timers, its routing
/// settings and its view for the API.
pub trait Role: Handlers + Send + 'static {
    /// A frame from the link (Ethernet header included) in receive slot
    /// `slot`. Writable: sealed data addressed to this node is opened in place.
    fn on_frame(&mut self, now: Time, slot: u16, frame: &mut [u8], out: &mut Vec<Action>) {
        receive_frame(self, now, slot, frame, out);
    }
    /// An IP packet read from the TUN device, in TUN slot `slot`.
    fn on_tun(&mut self, now: Time, slot: u16, packet: &[u8], out: &mut Vec<Action>) {
        let handled = self.on_packet(now, slot, packet, out);
        self.core().count(handled);
    }
    /// Timers: beacons, expiry. Called at or after [`Role::next_tick`].
    fn on_tick(&mut self, now: Time, out: &mut Vec<Action>);
    /// When `on_tick` wants to run next.
    fn next_tick(&self) -> Time;
    /// New routing timers and limits (SIGHUP reload).
    fn set_routing(&mut self, routing: &RoutingConfig) {
        self.core().routing = routing.clone();
    }
    /// New trust lists and session limits (SIGHUP reload; the mode and the
    /// key file need a restart). Sessions are kept.
    fn set_security(&mut self, security: &SecurityConfig) {
        self.core().set_security(security);
    }
    /// State for the API.
    fn snapshot(&self, now: Time) -> RoleSnapshot;
    /// Whether routes or the upstream changed since the last call (the loop
    /// then refreshes the API's snapshot at once, at most every 50 ms,
    /// instead of at its refresh once a second).
    fn take_changed(&mut self) -> bool {
        self.core().take_changed()
    }
    /// The sessions that seal `Sealing::Seal` data (encrypted mode) and
    /// the neighbours small sealed frames are sent twice to.
    fn sending(&mut self) -> Sending<'_> {
        self.core().sending()
    }
    /// RSU: the kernel routes it wants for its attached OBUs (`[backbone]
    /// export_routes`), sorted. Other roles export nothing.
    fn exported_routes(&self, out: &mut Vec<ExportedRoute>) {
        out.clear();
    }
    /// Sends a probe the operator asked for (`obu ping`, `obu
    /// traceroute`); the reason when it cannot go (no route toward the
    /// target, or no certificate to sign it with).
    fn probe(
        &mut self,
        now: Time,
        req: ProbeRequest,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        crate::diagnostics::start(self, now, req, out)
    }
    /// Moves the probe answers received since the last call into `out`.
    fn take_probe_results(&mut self, out: &mut Vec<ProbeResult>) {
        self.core().probes.take_results(out);
    }
    /// RSU: whether its uplink to the backbone is up (`[backbone]
    /// uplink_check`); carried in its beacons. Other roles ignore it.
    fn set_uplink(&mut self, _up: bool) {}
}
