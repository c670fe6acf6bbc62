//! Upstream choice and attachment: which RSU and next hop to use, the
//! replies that keep the attachment, leaving an RSU we moved away from,
//! and the beacons that feed the choice.

use super::*;

impl Obu {
    pub(super) fn reply_to(
        &mut self,
        u: Upstream,
        (seq, timestamp_us): (u32, u64),
        now: Time,
    ) -> Action {
        let reply = BeaconReplyRepr {
            obu: self.core.id,
            rsu: u.rsu,
            seq,
            timestamp_us,
            hops: u.hops,
            addrs: self.addr_list,
            attach_seq: self.attach_seq,
            leaving: false,
            cert: self.core.sec.as_ref().and_then(|s| s.valid_own_cert(now)),
            parent: u.next_hop,
            quality_pct: self.path_quality_pct(u),
        };
        self.reported_quality = reply.quality_pct;
        Action::SendControl {
            dst: u.next_hop,
            ttl: self.core.routing.max_hops,
            msg: self.core.reply_control(now, reply),
        }
    }

    /// How well we hear beacons through `u`'s next hop, in percent (0:
    /// not at all, or no such path): what our replies report.
    pub(super) fn path_quality_pct(&self, u: Upstream) -> u8 {
        self.rsus
            .get(&u.rsu)
            .and_then(|i| i.candidates.get(&u.next_hop))
            .map_or(0, |c| (c.window.ratio_permille() / 10).min(100) as u8)
    }

    /// Our RSU heard directly and weakly: small sealed frames to it go
    /// twice. When the reception falls below the mark since our last
    /// reply said otherwise, the RSU is told at once (it repeats its own
    /// frames to us by what we report).
    pub(super) fn find_weak_links(&mut self, now: Time) {
        let mut weak = std::mem::take(&mut self.core.weak_links);
        let direct = self
            .upstream
            .filter(|u| u.hops == 1)
            .map(|u| (u.next_hop, self.path_quality_pct(u)));
        self.core.find_weak_links(direct.into_iter(), &mut weak);
        let below = self.core.routing.repeat_below_pct;
        if !weak.is_empty() && self.reported_quality >= below {
            self.reply_now = true;
        }
        self.core.weak_links = weak;
        self.core.refill_repeats(now);
    }

    /// Reply to our upstream RSU (if we know it).
    pub(super) fn reply_upstream(&mut self, u: Upstream, now: Time, out: &mut Vec<Action>) {
        if let Some(info) = self.rsus.get(&u.rsu) {
            let a = self.reply_to(u, (info.latest_seq, info.latest_ts_us), now);
            out.push(a);
            self.last_reply = Some(now);
            self.reply_now = false;
        }
        // A young session is confirmed again with each reply, so one lost
        // keepalive does not leave the RSU on the old session.
        let young = self
            .core
            .sec
            .as_ref()
            .filter(|s| s.encrypted())
            .and_then(|s| s.sessions.session_age(now, &u.rsu))
            .is_some_and(|age| age < KEEPALIVE_WHILE_YOUNGER);
        if young {
            out.push(self.sealed_up(u.next_hop, u.rsu, Payload::EMPTY));
        }
    }

    /// Whether `u`'s next hop is still an eligible path to its RSU.
    pub(super) fn still_works(&self, u: Upstream) -> Option<Upstream> {
        let info = self.rsus.get(&u.rsu)?;
        let c = info
            .candidates
            .get(&u.next_hop)
            .filter(|c| info.eligible(c))?;
        Some(Upstream { hops: c.hops, ..u })
    }

    /// Encrypted: data for a new RSU needs a session with it. While the
    /// current RSU still works, a move waits for that session (the
    /// handshake runs meanwhile), so no packet waits on a handshake.
    pub(super) fn needs_session_first(&self, rsu: NodeId) -> bool {
        self.core
            .sec
            .as_ref()
            .filter(|s| s.encrypted())
            .is_some_and(|s| !s.sessions.has_session(&rsu))
    }

    /// Re-runs the upstream choice; on a change, counts it and tells the
    /// RSU at once (a reply along the new path) so downstream follows. A
    /// change of RSU is a new attachment (its sequence grows); when the old
    /// RSU still works it is make-before-break: the old RSU is told that we
    /// left once the new attachment had time to reach the backbone.
    pub(super) fn reselect(&mut self, now: Time, out: &mut Vec<Action>) {
        self.mark_held(now);
        let interval = self.core.routing.beacon_interval();
        let mut new = upstream::choose(&self.rsus, self.upstream, now, interval);
        let old = self.upstream;
        let old_works = old.and_then(|u| self.still_works(u));
        self.preparing = None;
        if let (Some(o), Some(n)) = (old_works, new) {
            if n.rsu != o.rsu && self.needs_session_first(n.rsu) {
                self.preparing = Some(n);
                new = Some(o);
            }
        }
        // Encrypted: a session with the RSU we are likely to move to next
        // is set up ahead of time, so that a move there (make-before-break,
        // or a failover when ours fades faster than expected) waits for no
        // handshake.
        if let (None, Some(cur)) = (self.preparing, new) {
            self.preparing = upstream::runner_up(&self.rsus, cur.rsu)
                .filter(|r| self.needs_session_first(r.rsu));
        }
        let changed = match (old, new) {
            (Some(a), Some(b)) => a.rsu != b.rsu || a.next_hop != b.next_hop,
            (None, None) => false,
            _ => true,
        };
        self.upstream = new;
        if !changed {
            return;
        }
        self.core.changed = true;
        Counters::inc(&self.core.counters.upstream_changes, 1);
        if old.is_some() && old_works.is_none() {
            // Forced: the path we used stopped working.
            Counters::inc(&self.core.counters.failovers, 1);
        }
        // A handshake in flight went along the old path (perhaps lost on
        // it): the next one goes along the new path at once.
        if let (Some(u), Some(sec)) = (new, self.core.sec.as_mut()) {
            if !sec.sessions.has_session(&u.rsu) {
                sec.sessions.abandon_pending(&u.rsu);
            }
        }
        let new_rsu = match (old, new) {
            (Some(a), Some(b)) => a.rsu != b.rsu,
            (None, Some(_)) => true,
            _ => false,
        };
        if new_rsu {
            self.attach_seq = self.attach_seq.wrapping_add(1).max(1);
            if let (Some(o), Some(n)) = (old_works, new) {
                Counters::inc(&self.core.counters.handovers, 1);
                let heard = |u: Upstream| {
                    self.rsus
                        .get(&u.rsu)
                        .and_then(|i| i.candidates.get(&u.next_hop))
                        .map_or(0.0, |c| f64::from(c.window.ratio_permille()) / 1000.0)
                };
                tracing::info!(from = %o.rsu, to = %n.rsu, attach_seq = self.attach_seq, from_reception = heard(o), to_reception = heard(n), "handover: attaching to the new RSU, then leaving the old one");
                self.leaves.retain(|l| l.rsu != o.rsu && l.rsu != n.rsu);
                if self.leaves.len() < MAX_PENDING_LEAVES {
                    let at = now + self.core.routing.handover_leave();
                    self.leaves.push(PendingLeave {
                        rsu: o.rsu,
                        at,
                        copies_left: LEAVE_COPIES,
                    });
                    self.next_housekeeping = self.next_housekeeping.min(at);
                }
            }
        }
        match new {
            Some(u) => {
                // Back to an RSU we were about to leave: stay attached.
                self.leaves.retain(|l| l.rsu != u.rsu);
                tracing::info!(rsu = %u.rsu, next_hop = %u.next_hop, hops = u.hops, "upstream chosen");
                self.reply_upstream(u, now, out);
            }
            None => {
                tracing::warn!("no upstream: no RSU reachable");
                self.next_solicit = now;
            }
        }
    }

    /// Whether the route at our RSU needs refreshing.
    pub(super) fn reply_due(&self, now: Time) -> bool {
        let every = self.core.routing.reply_interval();
        self.reply_now || every.is_zero() || self.last_reply.is_none_or(|t| now.since(t) >= every)
    }

    /// Tells RSUs we moved away from that we left (see `reselect`): a
    /// reply flagged `leaving` with the new attachment's sequence, signed
    /// in the secure modes, along our best path to that RSU.
    pub(super) fn send_leaves(&mut self, now: Time, out: &mut Vec<Action>) {
        let mut i = 0;
        while i < self.leaves.len() {
            let l = self.leaves[i];
            if now < l.at {
                i += 1;
                continue;
            }
            let path = self.rsus.get(&l.rsu).and_then(|info| {
                info.best()
                    .map(|(nh, c)| (nh, c.hops, info.latest_seq, info.latest_ts_us))
            });
            if let Some((nh, hops, seq, timestamp_us)) = path {
                let leave = BeaconReplyRepr {
                    obu: self.core.id,
                    rsu: l.rsu,
                    seq,
                    timestamp_us,
                    hops,
                    addrs: self.addr_list,
                    attach_seq: self.attach_seq,
                    leaving: true,
                    cert: None,
                    parent: NodeId::default(),
                    quality_pct: 0,
                };
                out.push(Action::SendControl {
                    dst: nh,
                    ttl: self.core.routing.max_hops,
                    msg: self.core.reply_control(now, leave),
                });
            }
            if path.is_none() || l.copies_left <= 1 {
                self.leaves.swap_remove(i);
            } else {
                self.leaves[i].copies_left -= 1;
                self.leaves[i].at = now + LEAVE_REPEAT;
                i += 1;
            }
        }
    }

    /// Security on: checks a beacon's signature, trust, hop chain and
    /// freshness, and that it is not older than the last one accepted from
    /// its RSU.
    pub(super) fn beacon_authentic(
        &mut self,
        now: Time,
        m: &ParsedMessage,
        b: &BeaconRepr,
        from: NodeId,
        my_hops: u8,
    ) -> Handled {
        let Some(sec) = self.core.sec.as_mut() else {
            return Ok(());
        };
        // Older than what this RSU already proved, by more than a late
        // copy can be: a replay, refused before the (costly) signature
        // check. A late copy (see `LATE_COPY`) only keeps a path we have
        // alive: it must be of the process we follow (an older beacon of
        // another epoch is a recording of a process that is gone, and
        // taken it would tear our session down) and come through a
        // neighbour that is already a candidate at the same hop count (a
        // recording played back elsewhere must not make a path that is
        // not there).
        let last = self.rsus.get(&b.rsu).filter(|i| i.key.is_some());
        if let (Some(info), Some(t)) = (last, control::claimed_time(m.trailer)) {
            let keeps_a_path = || {
                info.epoch == Some(b.epoch)
                    && info
                        .candidates
                        .get(&from)
                        .is_some_and(|c| c.hops == my_hops)
            };
            if t < info.auth_time_us && (stale(t, info.auth_time_us) || !keeps_a_path()) {
                return Err(DropReason::Replayed);
            }
        }
        let v = sec.verify_beacon(now, m, b.hops)?;
        if let Some(info) = self.rsus.get_mut(&b.rsu) {
            if v.time_us < info.auth_time_us
                && (info.key != Some(v.key) || stale(v.time_us, info.auth_time_us))
            {
                // Older than the newest accepted and signed with another
                // key (a recording from before a rotation), or too old.
                return Err(DropReason::Replayed);
            }
            if info.key.is_some_and(|k| k != v.key) {
                // The RSU now signs with another (trusted) key: a rotated
                // key means a restarted RSU; our session with it is gone.
                tracing::info!(rsu = %b.rsu, key = %v.key, "RSU key changed; renewing the session");
                sec.sessions.forget(&b.rsu);
            }
            if info.key != Some(v.key) {
                info.auth_time_us = 0;
            }
            info.key = Some(v.key);
            info.auth_time_us = info.auth_time_us.max(v.time_us);
        } else if self.rsus.len() < MAX_RSUS {
            let info = self.rsus.entry(b.rsu).or_default();
            info.key = Some(v.key);
            info.auth_time_us = v.time_us;
        }
        Ok(())
    }

    /// Records beacon `b` of its RSU heard via `from`: a new epoch (a
    /// restarted RSU) or a resynchronised sequence starts the RSU's windows
    /// afresh. Returns whether it is the first copy of (rsu, seq).
    ///
    /// In mode off a new epoch is taken only once the current one has been
    /// silent for the resync time (`neighbor_timeout_ms`): a restarted
    /// RSU's old process is silent by then, while a forged epoch or an old
    /// beacon still in flight is refused as stale while the real RSU is
    /// heard, so two epochs can never flap the windows or the floods.
    /// Signed beacons need no such wait.
    pub(super) fn record_beacon(
        &mut self,
        now: Time,
        from: NodeId,
        b: &BeaconRepr,
        my_hops: u8,
    ) -> Result<bool, DropReason> {
        let n = self.core.routing.candidates;
        let resync = self.core.routing.neighbor_timeout();
        let interval = self.core.routing.beacon_interval();
        if self.liveness.len() < MAX_NEIGHBORS || self.liveness.contains_key(&from) {
            self.liveness
                .entry(from)
                .or_insert_with(|| Liveness::new(now))
                .heard(now, resync);
        }
        // A restarted RSU (or one we lost track of) has no route for us.
        let mut restarted = false;
        let counters = &self.core.counters;
        let info = self.rsus.entry(b.rsu).or_default();
        let other_epoch = info.epoch.is_some_and(|e| e != b.epoch);
        // Signed beacons carry the RSU's own epoch (older ones were refused
        // by their signed time): a new one is a restart at once. Unsigned
        // (mode off), only once the followed epoch has gone silent.
        let hold = self.core.sec.is_none() && now.since(info.epoch_heard) < resync;
        if other_epoch && hold {
            return Err(DropReason::Duplicate);
        }
        if other_epoch {
            // A new process behind the same RSU id (authentic, in the
            // secure modes): its sequence starts afresh and, encrypted, it
            // has none of our sessions; renew ours at once.
            if info.may_log(now) {
                tracing::info!(rsu = %b.rsu, epoch = b.epoch, "RSU restarted (further ones for 10 s only counted: restarts_seen)");
            }
            Counters::inc(&counters.restarts_seen, 1);
            restarted = true;
            info.start_afresh(b);
            info.dedup = Default::default();
            if let Some(sec) = self.core.sec.as_mut() {
                sec.sessions.forget(&b.rsu);
            }
        }
        info.epoch = Some(b.epoch);
        info.epoch_heard = now;
        let check = info.dedup.check(b.seq, now, resync);
        if check == SeqCheck::Resynced {
            if info.may_log(now) {
                tracing::info!(rsu = %b.rsu, seq = b.seq, "beacon sequence resynchronised (further ones for 10 s only counted: seq_resyncs)");
            }
            Counters::inc(&counters.seq_resyncs, 1);
            restarted = true;
            info.start_afresh(b);
        }
        let fresh = check.is_new();
        if fresh
            && (info.candidates.is_empty() || protocol::seqwin::seq_newer(b.seq, info.latest_seq))
        {
            info.latest_seq = b.seq;
            info.latest_ts_us = b.timestamp_us;
            info.late.heard(now, b.seq, interval);
            info.uplink = b.uplink;
            info.preference = b.preference;
        }
        info.last_heard = now;
        info.candidates
            .entry(from)
            .or_insert_with(|| Candidate::new(now, my_hops))
            .record(now, b.seq, my_hops, interval);
        info.age_windows();
        info.prune(n);
        if restarted && self.upstream.is_some_and(|u| u.rsu == b.rsu) {
            self.reply_now = true;
        }
        Ok(fresh)
    }
}

/// How much older than the newest beacon accepted from its RSU a copy may
/// be and still count for the path it came by. Relays of a busy road, or
/// of a machine that starves its daemons, pass copies on hundreds of
/// milliseconds late, after a faster path brought newer ones; refusing
/// those as replays made a slow but working path look silent, and its
/// vehicles fail over to whichever path was fastest at the moment, again
/// and again. A copy this late is still checked in full (a genuine one
/// costs a memory look-up), is never relayed again (not the first copy),
/// and is refused beyond `max_clock_skew_ms` as before; replaying the
/// newest beacon was always possible within that.
pub const LATE_COPY: Duration = Duration::from_secs(2);

/// A signed beacon time older than the newest accepted (`newest`) by more
/// than `LATE_COPY`.
fn stale(time_us: u64, newest: u64) -> bool {
    time_us.saturating_add(LATE_COPY.as_micros() as u64) < newest
}
