//! Overlay diagnostics shared by both roles: probes (`obu ping`, `obu
//! traceroute`) like batman-adv's. A request goes hop by hop toward its
//! target by node id or address (the role says which neighbour leads
//! there, [`Handlers::probe_route`]); the target answers with a reply, a
//! relay whose TTL runs out with "TTL exceeded" (traceroute sends requests
//! with TTL 1, 2, ...). Relays forward probes unchanged but for the TTL.
//! In the secure modes probes are signed under the sender's certificate
//! and checked where they are answered or end; answers are rate-limited.

use crate::core::{Handled, Handlers};
use crate::ratelimit::Bucket;
use common::action::{Action, Control, RawMessage};
use common::counters::DropReason;
use common::wire::{MessageType, ParsedMessage, ProbeKind, ProbeRepr, ProbeTarget};
use common::{NodeId, Time};

/// Answers (replies, TTL exceeded) a node sends at most per second, burst
/// included: forged or replayed requests cannot make it sign without end.
const ANSWERS_PER_SECOND: u32 = 100;
/// Results kept for the API to collect.
const MAX_RESULTS: usize = 1024;
/// Signature checks of probes a second (secure modes), before any answer.
const CHECKS_PER_SECOND: u32 = 200;
/// Probes of ours awaiting an answer at most, and for how long: answers
/// to anything else are dropped before their signature is checked.
const MAX_PENDING: usize = 256;
const PENDING_FOR: std::time::Duration = std::time::Duration::from_secs(15);

/// Where a probe goes next, by the role's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeRoute {
    /// We are the node it is for.
    Mine,
    /// On to this neighbour.
    Via(NodeId),
    /// Nobody we know.
    Unknown,
}

/// A probe the operator asked for (through the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeRequest {
    pub id: u16,
    pub seq: u16,
    pub target: ProbeTarget,
    pub ttl: u8,
}

/// An answer that came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProbeResult {
    pub id: u16,
    pub seq: u16,
    /// "reply" (from the target) or "ttl_exceeded" (from a relay).
    pub kind: &'static str,
    /// The node that answered.
    pub from: NodeId,
    /// Hops the request took to it.
    pub hops: u8,
    pub rtt_us: u64,
}

/// A role's probe state: answers waiting for the API, the answer budget.
pub struct Probes {
    results: Vec<ProbeResult>,
    answers: Bucket,
    checks: Bucket,
    /// Ids of our probes still awaiting answers, with when they left.
    pending: std::collections::VecDeque<(u16, Time)>,
}

impl Default for Probes {
    fn default() -> Self {
        Probes {
            results: Vec::new(),
            answers: Bucket::new(ANSWERS_PER_SECOND, ANSWERS_PER_SECOND),
            checks: Bucket::new(CHECKS_PER_SECOND, CHECKS_PER_SECOND),
            pending: std::collections::VecDeque::new(),
        }
    }
}

impl Probes {
    /// Moves the answers received since the last call into `out`.
    pub fn take_results(&mut self, out: &mut Vec<ProbeResult>) {
        out.append(&mut self.results);
    }

    fn sent(&mut self, id: u16, now: Time) {
        while self
            .pending
            .front()
            .is_some_and(|(_, t)| now.since(*t) >= PENDING_FOR)
            || self.pending.len() >= MAX_PENDING
        {
            self.pending.pop_front();
        }
        self.pending.push_back((id, now));
    }

    fn is_pending(&self, id: u16, now: Time) -> bool {
        self.pending
            .iter()
            .any(|(p, t)| *p == id && now.since(*t) < PENDING_FOR)
    }
}

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
