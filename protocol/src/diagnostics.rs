//! Overlay diagnostics shared by both roles: probes (`obu ping`, `obu
//! traceroute`) like batman-adv's. A request goes hop by hop toward its
//! target by node id or address (the role says which neighbour leads
//! there, [`Handlers::probe_route`]); the target answers with a reply, a
//! relay whose TTL runs out with "TTL exceeded" (traceroute sends requests
//! with TTL 1, 2, ...). Relays forward probes unchanged but for the TTL.
//! In the secure modes probes are signed under the sender's certificate
//! and checked where they are answered or end; answers are rate-limited.

use crate::handlers::{Handled, Handlers};
use crate::probe::{ProbeRequest, ProbeResult, ProbeRoute, MAX_RESULTS};
use common::action::{Action, Control, RawMessage};
use common::counters::DropReason;
use common::wire::{MessageType, ParsedMessage, ProbeKind, ProbeRepr, ProbeTarget};
use common::{NodeId, Time};

/// The message for `p`: signed under our certificate in the secure modes
/// (`None` there without a valid certificate).
fn probe_control<H: Handlers + ?Sized>(h: &mut H, now: Time, p: &ProbeRepr) -> Option<Control> {
    let mut body = [0u8; common::wire::PROBE_LEN];
    p.emit(&mut body);
    match h.core().sec.as_mut() {
        Some(sec) => sec.sign_certified(now, MessageType::Probe, &body),
        None => Some(Control::Raw(Box::new(RawMessage {
            msg_type: MessageType::Probe,
            flags: 0,
            body: body.to_vec(),
        }))),
    }
}

/// Sends a probe the operator asked for. `NoRoute` when no neighbour
/// leads toward the target; `Unprotected` in the secure modes while we
/// hold no valid certificate.
pub fn start<H: Handlers + ?Sized>(
    h: &mut H,
    now: Time,
    req: ProbeRequest,
    out: &mut Vec<Action>,
) -> Handled {
    let nh = match h.probe_route(req.target) {
        ProbeRoute::Via(nh) => nh,
        _ => return Err(DropReason::NoRoute),
    };
    let p = ProbeRepr {
        kind: ProbeKind::Request,
        id: req.id,
        seq: req.seq,
        origin: h.core().id,
        target: req.target,
        reporter: NodeId::default(),
        sent_us: now.0,
        ttl0: req.ttl,
    };
    let msg = probe_control(h, now, &p).ok_or(DropReason::Unprotected)?;
    out.push(Action::SendControl {
        dst: nh,
        ttl: req.ttl,
        msg,
    });
    h.core().probes.sent(req.id, now);
    Ok(())
}

/// Secure modes: the probe is signed under a certificate of the node that
/// sent it (the origin of a request, the reporter of an answer).
fn authentic<H: Handlers + ?Sized>(
    h: &mut H,
    now: Time,
    m: &ParsedMessage,
    p: &ProbeRepr,
) -> Handled {
    let core = h.core();
    let Some(sec) = core.sec.as_mut() else {
        return Ok(());
    };
    if !core.probes.checks.allow(now) {
        return Err(DropReason::RateLimited);
    }
    let c = sec.verify_certified(now, m)?;
    let sender = match p.kind {
        ProbeKind::Request => p.origin,
        _ => p.reporter,
    };
    if c.cert.subject != sender {
        return Err(DropReason::AuthFailed);
    }
    Ok(())
}

/// Answers `p` (a request that reached us, or whose TTL ran out here).
fn answer<H: Handlers + ?Sized>(
    h: &mut H,
    now: Time,
    m: &ParsedMessage,
    p: &ProbeRepr,
    kind: ProbeKind,
    out: &mut Vec<Action>,
) -> Handled {
    authentic(h, now, m, p)?;
    if !h.core().probes.answers.allow(now) {
        return Err(DropReason::RateLimited);
    }
    let nh = match h.probe_route(ProbeTarget::Node(p.origin)) {
        ProbeRoute::Via(nh) => nh,
        _ => return Err(DropReason::NoRoute),
    };
    let hops = p.ttl0.saturating_sub(m.header.ttl).saturating_add(1);
    let a = ProbeRepr {
        kind,
        reporter: h.core().id,
        ttl0: hops,
        ..*p
    };
    let msg = probe_control(h, now, &a).ok_or(DropReason::Unprotected)?;
    let ttl = h.core().data_ttl();
    out.push(Action::SendControl { dst: nh, ttl, msg });
    Ok(())
}

/// A probe from the link: ours to answer or collect, or on its way.
pub fn on_probe<H: Handlers + ?Sized>(
    h: &mut H,
    now: Time,
    from: NodeId,
    m: &ParsedMessage,
    p: &ProbeRepr,
    out: &mut Vec<Action>,
) -> Handled {
    match (h.probe_route(p.toward()), p.kind) {
        (ProbeRoute::Mine, ProbeKind::Request) => answer(h, now, m, p, ProbeKind::Reply, out),
        (ProbeRoute::Mine, kind) => {
            // Only answers to our own probes, and a reply only from the
            // node asked for by id.
            if !h.core().probes.is_pending(p.id, now) {
                return Err(DropReason::NotForUs);
            }
            if kind == ProbeKind::Reply
                && matches!(p.target, ProbeTarget::Node(n) if n != p.reporter)
            {
                return Err(DropReason::AuthFailed);
            }
            authentic(h, now, m, p)?;
            let core = h.core();
            if core.probes.results.len() < MAX_RESULTS {
                core.probes.results.push(ProbeResult {
                    id: p.id,
                    seq: p.seq,
                    kind: if kind == ProbeKind::Reply {
                        "reply"
                    } else {
                        "ttl_exceeded"
                    },
                    from: p.reporter,
                    hops: p.ttl0,
                    rtt_us: now.0.saturating_sub(p.sent_us),
                });
            }
            Ok(())
        }
        (ProbeRoute::Via(_), ProbeKind::Request) if m.header.ttl <= 1 => {
            answer(h, now, m, p, ProbeKind::TtlExceeded, out)
        }
        (ProbeRoute::Via(_), _) if m.header.ttl <= 1 => Err(DropReason::TtlExpired),
        (ProbeRoute::Via(nh), _) if nh == from => Err(DropReason::Loop),
        (ProbeRoute::Via(nh), _) => {
            out.push(Action::SendControl {
                dst: nh,
                ttl: m.header.ttl - 1,
                msg: Control::Raw(Box::new(RawMessage::copy_of(m))),
            });
            Ok(())
        }
        (ProbeRoute::Unknown, _) => Err(DropReason::NoRoute),
    }
}
