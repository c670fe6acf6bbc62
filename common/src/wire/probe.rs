//! Probe body: overlay diagnostics (`obu ping`, `obu traceroute`), like
//! batman-adv's ICMP packets. A request travels by node id (or by the
//! target's address) hop by hop; the target answers with an echo reply, a
//! relay whose TTL runs out with "TTL exceeded". In the secure modes probes
//! are signed with a certified key (trailer as for broadcast data).

use super::{be_u16, be_u64, Result, WireError};
use crate::NodeId;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod field {
    use std::ops::Range;
    pub const KIND: usize = 0;
    pub const ID: Range<usize> = 1..3;
    pub const SEQ: Range<usize> = 3..5;
    pub const ORIGIN: Range<usize> = 5..11;
    pub const TARGET: Range<usize> = 11..17;
    pub const REPORTER: Range<usize> = 17..23;
    pub const FAMILY: usize = 23;
    pub const ADDR: Range<usize> = 24..40;
    pub const SENT: Range<usize> = 40..48;
    pub const TTL0: usize = 48;
    pub const LEN: usize = 49;
}

/// Bytes of a probe body (without a trailer).
pub const PROBE_LEN: usize = field::LEN;

/// What a probe is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ProbeKind {
    /// Origin → target.
    Request = 1,
    /// Target → origin.
    Reply = 2,
    /// A relay on the way whose TTL ran out → origin (traceroute).
    TtlExceeded = 3,
}

impl ProbeKind {
    fn from_u8(v: u8) -> Option<ProbeKind> {
        Some(match v {
            1 => ProbeKind::Request,
            2 => ProbeKind::Reply,
            3 => ProbeKind::TtlExceeded,
            _ => return None,
        })
    }
}

/// Whom a request is for: a node id, or an address one of the nodes holds
/// (the node answering fills in its id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeTarget {
    Node(NodeId),
    Addr(IpAddr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeRepr {
    pub kind: ProbeKind,
    pub id: u16,
    pub seq: u16,
    /// The node that sent the request.
    pub origin: NodeId,
    pub target: ProbeTarget,
    /// The node that answered (replies only; zero in requests).
    pub reporter: NodeId,
    /// The origin's clock when it sent the request, echoed back.
    pub sent_us: u64,
    /// The TTL the request started with (the answering node works out the
    /// hops it took from it and the TTL left).
    pub ttl0: u8,
}

impl ProbeRepr {
    pub fn parse(b: &[u8]) -> Result<ProbeRepr> {
        match b.len() {
            n if n < PROBE_LEN => return Err(WireError::Truncated),
            PROBE_LEN => {}
            _ => return Err(WireError::Malformed),
        }
        let kind = ProbeKind::from_u8(b[field::KIND]).ok_or(WireError::Malformed)?;
        let origin = NodeId::from_slice(&b[field::ORIGIN]);
        let target_id = NodeId::from_slice(&b[field::TARGET]);
        let reporter = NodeId::from_slice(&b[field::REPORTER]);
        if origin.is_group() || target_id.is_group() || reporter.is_group() {
            return Err(WireError::Malformed);
        }
        let a = &b[field::ADDR];
        let target = match b[field::FAMILY] {
            0 => ProbeTarget::Node(target_id),
            4 => ProbeTarget::Addr(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
            6 => {
                let mut x = [0u8; 16];
                x.copy_from_slice(a);
                ProbeTarget::Addr(IpAddr::V6(Ipv6Addr::from(x)))
            }
            _ => return Err(WireError::Malformed),
        };
        Ok(ProbeRepr {
            kind,
            id: be_u16(&b[field::ID]),
            seq: be_u16(&b[field::SEQ]),
            origin,
            target,
            reporter,
            sent_us: be_u64(&b[field::SENT]),
            ttl0: b[field::TTL0],
        })
    }

    pub fn body_len(&self) -> usize {
        PROBE_LEN
    }

    pub fn emit(&self, buf: &mut [u8]) {
        let buf = &mut buf[..PROBE_LEN];
        buf.fill(0);
        buf[field::KIND] = self.kind as u8;
        buf[field::ID].copy_from_slice(&self.id.to_be_bytes());
        buf[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        buf[field::ORIGIN].copy_from_slice(self.origin.as_bytes());
        buf[field::REPORTER].copy_from_slice(self.reporter.as_bytes());
        match self.target {
            ProbeTarget::Node(n) => buf[field::TARGET].copy_from_slice(n.as_bytes()),
            ProbeTarget::Addr(IpAddr::V4(a)) => {
                buf[field::FAMILY] = 4;
                buf[field::ADDR][..4].copy_from_slice(&a.octets());
            }
            ProbeTarget::Addr(IpAddr::V6(a)) => {
                buf[field::FAMILY] = 6;
                buf[field::ADDR].copy_from_slice(&a.octets());
            }
        }
        buf[field::SENT].copy_from_slice(&self.sent_us.to_be_bytes());
        buf[field::TTL0] = self.ttl0;
    }

    /// The node a message is routed toward: the target for a request, the
    /// origin for an answer.
    pub fn toward(&self) -> ProbeTarget {
        match self.kind {
            ProbeKind::Request => self.target,
            _ => ProbeTarget::Node(self.origin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_each_target_and_bad_input() {
        let targets = [
            ProbeTarget::Node(NodeId([2, 0, 0, 0, 0, 3])),
            ProbeTarget::Addr("10.0.0.7".parse().unwrap()),
            ProbeTarget::Addr("fd00::7".parse().unwrap()),
        ];
        for target in targets {
            let p = ProbeRepr {
                kind: ProbeKind::TtlExceeded,
                id: 7,
                seq: 9,
                origin: NodeId([2, 0, 0, 0, 0, 1]),
                target,
                reporter: NodeId([2, 0, 0, 0, 0, 2]),
                sent_us: 123,
                ttl0: 4,
            };
            let mut b = vec![0u8; p.body_len()];
            p.emit(&mut b);
            assert_eq!(ProbeRepr::parse(&b), Ok(p));
            assert_eq!(p.toward(), ProbeTarget::Node(p.origin));
        }
        let mut b = vec![0u8; PROBE_LEN];
        assert_eq!(ProbeRepr::parse(&b), Err(WireError::Malformed)); // kind 0
        b[0] = 1;
        assert!(ProbeRepr::parse(&b).is_ok());
        b[23] = 5;
        assert_eq!(ProbeRepr::parse(&b), Err(WireError::Malformed));
        assert_eq!(ProbeRepr::parse(&b[..10]), Err(WireError::Truncated));
    }
}
