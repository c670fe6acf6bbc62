//! The single ingress path of both roles (as smoltcp's `Interface`
//! dispatches to per-protocol handlers): the security pre-pass, the frame
//! checks, the neighbour, the walk over the frame's messages; broadcast
//! data goes to the core, probes to [`crate::diagnostics`], each other
//! message to the role's [`Handlers`], and this one place counts what
//! they say happened.

use crate::handlers::Handlers;
use crate::inbound;
use crate::security::Security;
use common::action::Action;
use common::counters::DropReason;
use common::wire::{Body, Messages};
use common::Time;

/// The single ingress path of both roles: a frame from the link (Ethernet
/// header included, writable so sealed data for us is opened in place).
pub fn receive_frame<H: Handlers + ?Sized>(
    h: &mut H,
    now: Time,
    slot: u16,
    frame: &mut [u8],
    out: &mut Vec<Action>,
) {
    let core = h.core();
    Security::before_frame(core.sec.as_mut(), core.id, core.mac, frame, &core.counters);
    let frame = &*frame;
    let Some(f) = inbound::accept(frame, core.mac, &core.counters) else {
        return;
    };
    if !core.neighbors.heard(f.src, now) && core.refuse_when_neighbors_full {
        core.counters.count_drop(DropReason::NoRoute);
        return;
    }
    for (k, m) in Messages::new(f.payload).enumerate() {
        let Some(m) = inbound::counted(m, &h.core().counters) else {
            continue;
        };
        let handled = match m.body {
            Body::Beacon(b) => h.on_beacon(now, f.src, &m, &b, out),
            Body::BeaconReply(r) => h.on_reply(now, f.src, &m, &r, out),
            Body::Data(d) => {
                let v = Security::verdict_of(h.core().sec.as_ref(), k);
                h.on_data(now, f.src, slot, &m, &d, v, out)
            }
            Body::Broadcast(b) => h.core().on_broadcast(now, slot, &m, &b, out),
            Body::Handshake(hs) => h.on_handshake(now, f.src, &m, &hs, out),
            Body::Solicit(s) => h.on_solicit(now, f.src, &s),
            Body::Certificate(c) => h.on_certificate(now, f.src, m.header.ttl, &c, out),
            Body::Probe(p) => crate::diagnostics::on_probe(h, now, f.src, &m, &p, out),
        };
        h.core().count(handled);
    }
}
