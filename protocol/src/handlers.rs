//! What a role adds to the core: a handler per message type, which says
//! what happened ([`Handled`]) for [`crate::ingress`] to count.

use crate::core::RoleCore;
pub use crate::outcome::Handled;
use crate::probe::ProbeRoute;
use crate::security::Verdict;
use common::action::Action;
use common::counters::DropReason;
use common::wire::{
    BeaconReplyRepr, BeaconRepr, CertMsgRepr, DataRepr, HandshakeRepr, ParsedMessage, ProbeTarget,
    SolicitRepr,
};
use common::{NodeId, Time};

/// A role's handlers for the messages [`crate::ingress::receive_frame`] walks (broadcast
/// data is the core's own).
pub trait Handlers {
    fn core(&mut self) -> &mut RoleCore;

    fn on_beacon(
        &mut self,
        now: Time,
        from: NodeId,
        m: &ParsedMessage,
        b: &BeaconRepr,
        out: &mut Vec<Action>,
    ) -> Handled;

    fn on_reply(
        &mut self,
        now: Time,
        from: NodeId,
        m: &ParsedMessage,
        r: &BeaconReplyRepr,
        out: &mut Vec<Action>,
    ) -> Handled;

    /// Data (up or down); `verdict` says whether the pre-pass opened it.
    #[allow(clippy::too_many_arguments)]
    fn on_data(
        &mut self,
        now: Time,
        from: NodeId,
        slot: u16,
        m: &ParsedMessage,
        d: &DataRepr,
        verdict: Verdict,
        out: &mut Vec<Action>,
    ) -> Handled;

    fn on_handshake(
        &mut self,
        now: Time,
        from: NodeId,
        m: &ParsedMessage,
        h: &HandshakeRepr,
        out: &mut Vec<Action>,
    ) -> Handled;

    /// A neighbour without an upstream asks for beacons (OBUs then
    /// rebroadcast theirs for a while; an RSU beacons anyway).
    fn on_solicit(&mut self, _now: Time, _from: NodeId, _s: &SolicitRepr) -> Handled {
        Ok(())
    }

    /// A certificate on its way from an RSU to an OBU (`ttl`: the
    /// message's, as received).
    fn on_certificate(
        &mut self,
        _now: Time,
        _from: NodeId,
        _ttl: u8,
        _c: &CertMsgRepr,
        _out: &mut Vec<Action>,
    ) -> Handled {
        Err(DropReason::NotForUs)
    }

    /// Which neighbour a probe for `target` goes to next (or that it is
    /// ours).
    fn probe_route(&self, target: ProbeTarget) -> ProbeRoute;

    /// An IP packet from the TUN (in TUN slot `slot`).
    fn on_packet(&mut self, now: Time, slot: u16, packet: &[u8], out: &mut Vec<Action>) -> Handled;
}
