//! Beacon flooding: rebroadcasting an RSU's beacons for the OBUs further
//! out, with suppression (a copy at our hop count makes ours unnecessary),
//! and soliciting beacons while we have no upstream.

use super::*;

impl Obu {
    /// The copy of a beacon we would rebroadcast, one hop further.
    pub(super) fn beacon_copy(
        &self,
        m: &ParsedMessage,
        b: &BeaconRepr,
        my_hops: u8,
    ) -> Option<Control> {
        if my_hops >= self.core.routing.max_hops {
            return None;
        }
        if self.core.sec.is_some() {
            control::relay_beacon(m.raw, my_hops).map(|r| Control::Raw(Box::new(r)))
        } else {
            Some(Control::Beacon(BeaconRepr {
                hops: my_hops,
                ..*b
            }))
        }
    }

    /// Whether some OBU reaches RSU `rsu` through us (a child or further).
    pub(super) fn has_children_for(&self, rsu: NodeId) -> bool {
        self.core.downstream.iter().any(|(_, r)| r.rsu == rsu)
    }

    /// The first copy of a beacon: rebroadcast at once where it is needed
    /// (suppression off, a child of ours uses this RSU, a neighbour
    /// solicited). Else, with probability GOSSIP_TARGET / neighbours, after
    /// a contention wait that favours neighbours hearing the sender worse
    /// (farther ones), unless a copy at our hop count makes it unnecessary
    /// meanwhile (`on_copy`).
    pub(super) fn flood_beacon(
        &mut self,
        now: Time,
        from: NodeId,
        m: &ParsedMessage,
        b: &BeaconRepr,
        my_hops: u8,
        out: &mut Vec<Action>,
    ) {
        let Some(msg) = self.beacon_copy(m, b, my_hops) else {
            return;
        };
        let must = !self.core.routing.suppress_rebroadcasts
            || now < self.solicited_until
            || self.has_children_for(b.rsu);
        if must || self.floods.len() >= MAX_PENDING_FLOODS {
            out.push(Action::SendControl {
                dst: NodeId::BROADCAST,
                ttl: 1,
                msg,
            });
            return;
        }
        // Among many neighbours, only a few contend (about GOSSIP_TARGET
        // whatever the density); a node nobody covers solicits.
        let n = self.core.neighbors.len();
        if n > GOSSIP_TARGET && (self.jitter.next_u64() % n as u64) >= GOSSIP_TARGET as u64 {
            return;
        }
        let ratio = self
            .rsus
            .get(&b.rsu)
            .and_then(|i| i.candidates.get(&from))
            .map_or(500, |c| c.window.ratio_permille()) as u64;
        let half = FLOOD_WAIT_MAX.as_micros() as u64 / 2;
        let wait = half * ratio.min(1000) / 1000 + self.jitter.next_u64() % (half + 1);
        self.floods.push(PendingFlood {
            rsu: b.rsu,
            seq: b.seq,
            hops: my_hops,
            at: now + Duration::from_micros(wait),
            copies: 0,
            msg,
        });
    }

    /// Another copy of a beacon: one at the hop count our pending
    /// rebroadcast would carry counts toward suppressing it.
    pub(super) fn on_copy(&mut self, b: &BeaconRepr) {
        for f in &mut self.floods {
            if f.rsu == b.rsu && f.seq == b.seq && f.hops == b.hops {
                f.copies = f.copies.saturating_add(1);
            }
        }
    }

    /// Contended rebroadcasts whose wait is over: sent unless enough
    /// copies were heard.
    pub(super) fn send_floods(&mut self, now: Time, out: &mut Vec<Action>) {
        let mut i = 0;
        while i < self.floods.len() {
            if self.floods[i].at > now {
                i += 1;
                continue;
            }
            let f = self.floods.swap_remove(i);
            if f.copies < SUPPRESS_AFTER_COPIES {
                out.push(Action::SendControl {
                    dst: NodeId::BROADCAST,
                    ttl: 1,
                    msg: f.msg,
                });
            }
        }
    }

    /// Without an upstream: ask the neighbours for beacons (suppression
    /// may keep them quiet), at once and then every `SOLICIT_EVERY`.
    pub(super) fn maybe_solicit(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.upstream.is_some() || now < self.next_solicit {
            return;
        }
        self.next_solicit = now + SOLICIT_EVERY;
        out.push(Action::SendControl {
            dst: NodeId::BROADCAST,
            ttl: 1,
            msg: Control::Solicit(SolicitRepr { obu: self.core.id }),
        });
    }
}
