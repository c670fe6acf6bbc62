//! The role's snapshot, kept in the protocol's terms, as the HTTP API's
//! types: made when the API is asked, so the data plane never builds
//! them. Ages count up to the moment the snapshot was taken.

use common::{NodeId, Time};
use protocol::downstream::DownRoute;
use protocol::role::{RoleSnapshot, RoleView};

/// `/api/v1/neighbors`.
pub fn neighbors(s: &RoleSnapshot) -> Vec<api::Neighbor> {
    s.neighbors
        .iter()
        .map(|(id, n)| api::Neighbor {
            id: *id,
            last_heard_ms: ms_since(s.at, n.last_heard),
            frames: n.frames,
        })
        .collect()
}

/// `/api/v1/routes` (an RSU's `backbone` is the caller's to fill in).
pub fn routes(s: &RoleSnapshot) -> api::Routes {
    let downstream = s
        .downstream
        .iter()
        .map(|(id, r)| route(s.at, *id, r))
        .collect();
    match &s.role {
        RoleView::Rsu { uplink, preference } => api::Routes::Rsu(api::RsuRoutes {
            obus: downstream,
            uplink: *uplink,
            preference: *preference,
            backbone: None,
        }),
        RoleView::Obu {
            upstream,
            candidates,
        } => api::Routes::Obu(api::ObuRoutes {
            upstream: upstream.map(|u| api::Upstream {
                rsu: u.rsu,
                next_hop: u.next_hop,
                hops: u.hops,
                attach_seq: u.attach_seq,
            }),
            candidates: candidates
                .iter()
                .map(|c| api::Candidate {
                    rsu: c.rsu,
                    uplink: c.uplink,
                    preference: c.preference,
                    next_hop: c.next_hop,
                    hops: c.hops,
                    reception_ratio: f64::from(c.reception_permille) / 1000.0,
                    last_heard_ms: ms_since(s.at, c.last_heard),
                })
                .collect(),
            downstream,
        }),
    }
}

fn route(at: Time, id: NodeId, r: &DownRoute) -> api::DownstreamRoute {
    api::DownstreamRoute {
        id,
        next_hop: r.next_hop,
        hops: r.hops,
        addresses: r.addrs.as_slice().to_vec(),
        rsu: r.rsu,
        age_ms: ms_since(at, r.last_seen),
        rtt_us: r.rtt_us,
        attach_seq: r.attach_seq,
        parent: r.parent,
        link_quality_pct: r.quality_pct,
    }
}

fn ms_since(at: Time, then: Time) -> u64 {
    at.since(then).as_millis() as u64
}
