//! Encrypted mode: the session with the upstream RSU (handshakes) and
//! data sealed to it or opened from it.

use super::*;

impl Obu {
    /// Our own handshake finished: the session is up.
    pub(super) fn complete_handshake(
        &mut self,
        now: Time,
        h: &HandshakeRepr,
        out: &mut Vec<Action>,
    ) -> Handled {
        let sec = self.core.sec.as_mut().ok_or(DropReason::Unprotected)?;
        let rsu = match sec.sessions.complete(now, h) {
            Ok(rsu) => rsu,
            Err(e @ secure::Error::Incompatible(_)) => {
                // Tried again after a while (the settings may be reloaded).
                tracing::warn!(rsu = %h.from, "the RSU refused a session: {e}");
                Counters::inc(&self.core.counters.handshakes_refused, 1);
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        Counters::inc(&self.core.counters.handshakes, 1);
        let (cipher, pq) = sec.sessions.session_suite(&rsu).unzip();
        // The library sealing this session's data (the faster one on this CPU).
        let aead = cipher.map(|c| secure::AeadBackend::for_cipher(c).name());
        tracing::info!(%rsu, cipher = cipher.map(|c| c.as_str()), aead, post_quantum = pq, "session established");
        // An empty sealed message confirms the session to the RSU.
        if let Some(nh) = self.next_hop_to(rsu) {
            out.push(self.sealed_up(nh, rsu, Payload::EMPTY));
        }
        // A new session with our RSU: it may hold no route for us (it
        // restarted, or refused us until its trust lists were reloaded),
        // so refresh it at once rather than at the next interval.
        if self.upstream.is_some_and(|u| u.rsu == rsu) {
            self.reply_now = true;
            self.next_housekeeping = now;
        }
        Ok(())
    }

    /// Our RSU `rsu` sealed data for us with a session we do not hold:
    /// one we dropped (we handshook again, and the
    /// empty message that confirms the newer one was lost; a vehicle that
    /// only receives sends nothing else that would). A keepalive on our
    /// current session confirms it, and the RSU moves to it; without
    /// this the downlink stayed dark until the vehicle moved on (33 s
    /// once in the lab). At most one a second: forged data must not make
    /// us send much.
    pub(super) fn confirm_session(&mut self, now: Time, rsu: NodeId, out: &mut Vec<Action>) {
        if self.upstream.is_none_or(|u| u.rsu != rsu)
            || self
                .last_confirm
                .is_some_and(|t| now.since(t) < CONFIRM_EVERY)
            || !self
                .core
                .sec
                .as_ref()
                .is_some_and(|s| s.sessions.has_session(&rsu))
        {
            return;
        }
        if let Some(nh) = self.next_hop_to(rsu) {
            self.last_confirm = Some(now);
            Counters::inc(&self.core.counters.sessions_confirmed, 1);
            out.push(self.sealed_up(nh, rsu, Payload::EMPTY));
        }
    }

    pub(super) fn sealed_up(&self, next_hop: NodeId, rsu: NodeId, payload: Payload) -> Action {
        Action::SendData {
            next_hop,
            kind: MessageType::DataUp,
            ttl: self.core.data_ttl(),
            origin: self.core.id,
            dest: rsu,
            payload,
            sealing: Sealing::Seal,
        }
    }

    /// Encrypted mode: start (or renew) the session with our RSU, and with
    /// the one we are about to move to.
    pub(super) fn maybe_handshake(&mut self, now: Time, out: &mut Vec<Action>) {
        for u in [self.upstream, self.preparing].into_iter().flatten() {
            self.handshake_with(now, u, out);
        }
    }

    pub(super) fn handshake_with(&mut self, now: Time, u: Upstream, out: &mut Vec<Action>) {
        let key = self.rsus.get(&u.rsu).and_then(|i| i.key);
        let max_hops = self.core.routing.max_hops;
        let Some(sec) = self.core.sec.as_mut().filter(|s| s.encrypted()) else {
            return;
        };
        let Some(key) = key else { return };
        if !sec.sessions.needs_handshake(now, &u.rsu) {
            return;
        }
        let wall = sec.wall_us(now);
        match sec.sessions.initiate(now, wall, u.rsu, key) {
            Ok(init) => out.push(Action::SendControl {
                dst: u.next_hop,
                ttl: max_hops,
                msg: Control::Raw(Box::new(init)),
            }),
            Err(e) => tracing::warn!(rsu = %u.rsu, error = %e, "cannot start a handshake"),
        }
    }

    /// Sealed data: ours (opened by the pre-pass) to deliver, or somebody
    /// else's to relay by node ids alone (relays cannot read it).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_sealed(
        &mut self,
        from: NodeId,
        slot: u16,
        kind: MessageType,
        ttl: u8,
        origin: NodeId,
        dest: NodeId,
        pl: Payload,
        verdict: Verdict,
        out: &mut Vec<Action>,
    ) -> Handled {
        if dest == self.core.id {
            return match verdict {
                // Empty: a keepalive, nothing to deliver.
                Verdict::Opened { len: 0, .. } => Ok(()),
                Verdict::Opened { start, len } if kind == MessageType::DataDown => {
                    out.push(Action::DeliverTun {
                        payload: Payload {
                            source: common::action::Source::Link,
                            slot,
                            offset: start,
                            len,
                        },
                    });
                    Ok(())
                }
                Verdict::Opened { .. } => Err(DropReason::NotForUs),
                // Counted by the pre-pass already.
                Verdict::Failed(_) => Ok(()),
                Verdict::Untouched => Err(DropReason::Malformed),
            };
        }
        let nh = match kind {
            MessageType::DataDown => self.core.downstream.get(&dest).map(|r| r.next_hop),
            _ => self.next_hop_to(dest),
        };
        let nh = nh.ok_or(DropReason::NoRoute)?;
        self.forward(from, nh, kind, ttl, origin, dest, pl, Sealing::Relay, out)
    }
}
