//! Small packets first: within one batch, a small packet whose flow has
//! nothing bulky ahead of it in the batch leaves before the batch's bulk.
//!
//! Why: what the TUN holds can be megabytes of one TCP flow, and cutting
//! and sending that takes milliseconds. A ping, or a DNS query to another
//! host, read behind it would wait for all of it. This is fq_codel's
//! "sparse flow" idea without its queues: the order within every flow is
//! kept (a flow's packets are expedited only while none of its bulk is
//! ahead, so none of them can overtake an earlier one). A flow is an
//! address pair and protocol (`common::ip::flow_hash`).

/// Largest packet that may be expedited: pings, pure ACKs, DNS, voice.
pub const SMALL_PACKET: usize = 256;

/// Classifies packets in arrival order against the bulk that is ahead of
/// them: within one batch ([`Expedite::start_batch`] each time), or in a
/// queue that reports what left it ([`Expedite::left`]).
pub struct Expedite {
    /// Flows with bulk ahead, and how many of their packets.
    bulk_flows: Vec<(u32, u32)>,
    /// Set when `bulk_flows` is full: order can no longer be proven, so
    /// nothing is expedited until the next start.
    full: bool,
}

impl Expedite {
    /// `flows`: the most bulky flows to keep track of at once.
    pub fn with_capacity(flows: usize) -> Expedite {
        Expedite {
            bulk_flows: Vec::with_capacity(flows),
            full: false,
        }
    }

    /// Forgets all bulk (a new batch, or an empty queue).
    pub fn start_batch(&mut self) {
        self.bulk_flows.clear();
        self.full = false;
    }

    /// Whether the next packet may go ahead of the bulk; if not, it is
    /// bulk itself from now on. `flow`: its flow hash (`None`: unknown,
    /// kept in order); `len`: its size; `super_packet`: it is several
    /// segments (TUN offload).
    pub fn is_expedited(&mut self, flow: Option<u32>, len: usize, super_packet: bool) -> bool {
        let Some(flow) = flow else {
            return false;
        };
        if self.full {
            return false;
        }
        let known = self.bulk_flows.iter().position(|&(f, _)| f == flow);
        match known {
            Some(k) => self.bulk_flows[k].1 += 1,
            None if !super_packet && len <= SMALL_PACKET => return true,
            None if self.bulk_flows.len() == self.bulk_flows.capacity() => self.full = true,
            None => self.bulk_flows.push((flow, 1)),
        }
        false
    }

    /// A bulk packet of `flow` has been sent: once none of the flow is
    /// left, its small packets may go ahead again.
    pub fn left(&mut self, flow: Option<u32>) {
        let Some(flow) = flow else {
            return;
        };
        if let Some(k) = self.bulk_flows.iter().position(|&(f, _)| f == flow) {
            self.bulk_flows[k].1 -= 1;
            if self.bulk_flows[k].1 == 0 {
                self.bulk_flows.swap_remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a batch of (flow, len) and returns the send order (indices):
    /// expedited first, then the rest, each in arrival order.
    fn order(e: &mut Expedite, batch: &[(Option<u32>, usize, bool)]) -> Vec<usize> {
        e.start_batch();
        let fast: Vec<bool> = batch
            .iter()
            .map(|&(f, l, s)| e.is_expedited(f, l, s))
            .collect();
        let mut out: Vec<usize> = (0..batch.len()).filter(|&i| fast[i]).collect();
        out.extend((0..batch.len()).filter(|&i| !fast[i]));
        out
    }

    /// Indices of `flow` in `order`, which must be increasing.
    fn assert_flow_order_kept(batch: &[(Option<u32>, usize, bool)], order: &[usize]) {
        for f in batch.iter().map(|b| b.0) {
            let seen: Vec<usize> = order.iter().copied().filter(|&i| batch[i].0 == f).collect();
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "flow {f:?} reordered: {seen:?}"
            );
        }
    }

    #[test]
    fn a_ping_behind_bulk_goes_first() {
        let mut e = Expedite::with_capacity(8);
        let batch = [
            (Some(1), 65_000, true),
            (Some(1), 65_000, true),
            (Some(2), 84, false),
            (Some(1), 1_400, false),
        ];
        let o = order(&mut e, &batch);
        assert_eq!(o, vec![2, 0, 1, 3]);
        assert_flow_order_kept(&batch, &o);
    }

    #[test]
    fn a_small_packet_behind_its_own_flow_s_bulk_keeps_its_place() {
        let mut e = Expedite::with_capacity(8);
        // Flow 1: a small packet, then bulk, then a small one (a TCP write's
        // tail): the first may go early, the last may not.
        let batch = [
            (Some(1), 60, false),
            (Some(1), 65_000, true),
            (Some(1), 60, false),
            (Some(3), 100, false),
        ];
        let o = order(&mut e, &batch);
        assert_eq!(o, vec![0, 3, 1, 2]);
        assert_flow_order_kept(&batch, &o);
    }

    #[test]
    fn unknown_flows_and_a_full_table_keep_order() {
        let mut e = Expedite::with_capacity(2);
        let batch = [
            (None, 60, false),
            (Some(1), 1_400, false),
            (Some(2), 1_400, false),
            // Table full now: flow 3's bulk cannot be remembered, so its
            // small packet must not overtake it.
            (Some(3), 1_400, false),
            (Some(3), 60, false),
            (Some(4), 60, false),
        ];
        let o = order(&mut e, &batch);
        assert_eq!(o, vec![0, 1, 2, 3, 4, 5]);
        // A new batch starts clean.
        e.start_batch();
        assert!(e.is_expedited(Some(3), 60, false));
    }

    #[test]
    fn all_small_traffic_keeps_its_order() {
        let mut e = Expedite::with_capacity(4);
        let batch: Vec<_> = (0..32).map(|i| (Some(i % 3), 92, false)).collect();
        assert_eq!(order(&mut e, &batch), (0..32).collect::<Vec<_>>());
    }

    #[test]
    fn a_flow_whose_bulk_has_left_may_be_expedited_again() {
        let mut e = Expedite::with_capacity(4);
        assert!(!e.is_expedited(Some(1), 1_400, false));
        assert!(!e.is_expedited(Some(1), 1_400, false));
        assert!(!e.is_expedited(Some(1), 60, false), "bulk of flow 1 ahead");
        assert!(e.is_expedited(Some(2), 60, false));
        e.left(Some(1));
        e.left(Some(1));
        assert!(
            !e.is_expedited(Some(1), 60, false),
            "one packet still ahead"
        );
        e.left(Some(1));
        e.left(Some(1));
        assert!(e.is_expedited(Some(1), 60, false));
        // Unknown flows leave nothing behind.
        e.left(None);
        e.left(Some(9));
        assert!(e.is_expedited(Some(9), 60, false));
    }

    /// Random batches: per-flow order always holds.
    #[test]
    fn per_flow_order_holds_for_random_batches() {
        let mut seed = 0x2545_f491_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..2_000 {
            let n = (next() % 40) as usize;
            let cap = (next() % 6) as usize;
            let mut e = Expedite::with_capacity(cap);
            let batch: Vec<_> = (0..n)
                .map(|_| {
                    let f = next() % 5;
                    let flow = (f != 0).then_some(f);
                    let len = [60, 200, 300, 1_400][(next() % 4) as usize];
                    (flow, len, next() % 7 == 0)
                })
                .collect();
            let o = order(&mut e, &batch);
            assert_flow_order_kept(&batch, &o);
        }
    }
}
