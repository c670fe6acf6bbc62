//! Relaying for descendants: plain data up and down, the routes learned
//! from their replies, and in the secure modes the paths kept until their
//! certificates come by.

use super::*;

impl Obu {
    /// Plain data: downstream to us or on toward its OBU; upstream from a
    /// child to us, turned around to another descendant, or on toward its
    /// RSU.
    pub(super) fn on_plain(
        &mut self,
        from: NodeId,
        slot: u16,
        m: &ParsedMessage,
        d: &DataRepr,
        out: &mut Vec<Action>,
    ) -> Handled {
        let pl = link_payload(slot, m, d.payload.len());
        let Some((nh, kind, dest)) = self.plain_route(m.header.msg_type, d)? else {
            out.push(Action::DeliverTun { payload: pl });
            return Ok(());
        };
        let ttl = m.header.ttl;
        self.forward(from, nh, kind, ttl, d.origin, dest, pl, Sealing::Plain, out)
    }

    /// Where plain data goes on: `None` when it is ours; else its next hop,
    /// kind and destination (downstream toward its OBU; upstream data for
    /// one of our descendants turned around here, the RSU need not see it;
    /// other upstream data on toward its RSU).
    pub(super) fn plain_route(
        &self,
        kind: MessageType,
        d: &DataRepr,
    ) -> Result<Option<(NodeId, MessageType, NodeId)>, DropReason> {
        if kind == MessageType::DataDown {
            if d.dest == self.core.id {
                return Ok(None);
            }
            let r = self
                .core
                .downstream
                .get(&d.dest)
                .ok_or(DropReason::NoRoute)?;
            return Ok(Some((r.next_hop, MessageType::DataDown, d.dest)));
        }
        let dst = ip::destination(d.payload).ok_or(DropReason::NotIp)?;
        if self.is_own_addr(&dst) {
            return Ok(None);
        }
        if let Some((obu, r)) = self.core.downstream.lookup_addr(&dst) {
            return Ok(Some((r.next_hop, MessageType::DataDown, obu)));
        }
        let nh = self.next_hop_to(d.dest).ok_or(DropReason::NoRoute)?;
        Ok(Some((nh, MessageType::DataUp, d.dest)))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        &self,
        from: NodeId,
        nh: NodeId,
        kind: MessageType,
        ttl: u8,
        origin: NodeId,
        dest: NodeId,
        payload: Payload,
        sealing: Sealing,
        out: &mut Vec<Action>,
    ) -> Handled {
        if nh == from {
            return Err(DropReason::Loop);
        }
        if ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        Counters::inc(&self.core.counters.relayed, 1);
        out.push(Action::SendData {
            next_hop: nh,
            kind,
            ttl: ttl - 1,
            origin,
            dest,
            payload,
            sealing,
        });
        Ok(())
    }

    pub(super) fn learn_route(&mut self, obu: NodeId, route: DownRoute) {
        match self.core.downstream.learn(obu, route) {
            Learned::Full => self.core.count(Err(DropReason::NoRoute)),
            Learned::New | Learned::Changed => self.core.changed = true,
            Learned::Updated => {}
        }
    }

    /// A descendant's reply without a certificate: remember its path for
    /// the certificate coming back, by id *and* key (a reply signed by
    /// another key for the same id cannot overwrite it). Bounded: when
    /// full, the oldest entry goes, so a flood of made-up ids would have
    /// to outpace the certificate's round trip (milliseconds), and the OBU
    /// tries again with its next reply.
    pub(super) fn await_cert(&mut self, now: Time, obu: NodeId, key: [u8; 32], route: DownRoute) {
        let slot = (obu, key);
        if self.uncertified.len() >= MAX_UNCERTIFIED && !self.uncertified.contains_key(&slot) {
            self.uncertified
                .retain(|_, u| now.since(u.route.last_seen) < UNCERTIFIED_KEPT);
            if self.uncertified.len() >= MAX_UNCERTIFIED {
                let oldest = self
                    .uncertified
                    .iter()
                    .min_by_key(|(_, u)| u.route.last_seen)
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.uncertified.remove(&k);
                }
            }
        }
        self.uncertified.insert(slot, Uncertified { key, route });
    }
}
