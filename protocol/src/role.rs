//! The interface between a role's sans-IO state machine and the I/O loop.

use crate::export::ExportedRoute;
use crate::handlers::Handlers;
use crate::ingress::receive_frame;
use crate::params::{RoutingConfig, SecurityConfig};
use crate::probe::{ProbeRequest, ProbeResult};
use common::action::{Action, Sending};
use common::counters::DropReason;
use common::Time;

/// What the API shows of a role's state, refreshed by the data-plane loop.
#[derive(Clone, Debug)]
pub struct RoleSnapshot {
    /// OBU: an upstream is chosen. RSU: always true once running.
    pub ready: bool,
    /// `/api/v1/neighbors`.
    pub neighbors: Vec<api::Neighbor>,
    /// `/api/v1/routes` (an RSU's `backbone` is filled in by the API).
    pub routes: api::Routes,
    pub neighbor_count: usize,
    pub route_count: usize,
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
