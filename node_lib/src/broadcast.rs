//! Broadcast-data de-duplication by (origin, sequence). Bounded.

use crate::seqwin::DedupWindow;
use common::{NodeId, Time};
use std::collections::HashMap;
use std::time::Duration;

pub struct BroadcastDedup {
    seen: HashMap<NodeId, (DedupWindow, Time)>,
    capacity: usize,
}

impl BroadcastDedup {
    pub fn new(capacity: usize) -> BroadcastDedup {
        BroadcastDedup {
            seen: HashMap::new(),
            capacity,
        }
    }

    /// True the first time (origin, seq) is seen. A new origin beyond the
    /// capacity is refused (false) rather than growing the table.
    pub fn accept(&mut self, origin: NodeId, seq: u32, now: Time) -> bool {
        if let Some((w, t)) = self.seen.get_mut(&origin) {
            *t = now;
            return w.accept(seq);
        }
        if self.seen.len() >= self.capacity {
            return false;
        }
        let mut w = DedupWindow::default();
        w.accept(seq);
        self.seen.insert(origin, (w, now));
        true
    }

    pub fn expire(&mut self, now: Time, timeout: Duration) {
        self.seen.retain(|_, (_, t)| now.since(*t) < timeout);
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}
