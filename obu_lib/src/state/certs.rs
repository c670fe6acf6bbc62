//! Certificates: our own, from the RSU that certifies our key, and
//! leaving RSUs whose keys are no longer trusted.

use super::*;

impl Obu {
    /// A certificate for us: valid, from a trusted RSU, for our id and
    /// key, newer than the one we hold. It goes into our replies (relays
    /// then learn our route), broadcasts and probes. Flagged "no session"
    /// by an RSU we have a session with: that RSU lost it (our key was
    /// revoked and allowed again, say), so we handshake again at once.
    pub(super) fn accept_own_cert(&mut self, now: Time, c: &CertMsgRepr) -> Handled {
        let id = self.core.id;
        let sec = self.core.sec.as_mut().ok_or(DropReason::Unprotected)?;
        let me = sec.identity.public().0;
        sec.check_cert(now, &c.cert, id, &me)?;
        // From the same RSU, only a newer one (a played-back certificate
        // must not reset our session); another RSU's clock may be behind.
        if sec
            .own_cert
            .is_some_and(|o| o.issuer == c.cert.issuer && o.issued_us >= c.cert.issued_us)
        {
            return Err(DropReason::Replayed);
        }
        sec.own_cert = Some(c.cert);
        Counters::inc(&self.core.counters.certs_accepted, 1);
        if c.cert.flags & CERT_FLAG_NO_SESSION != 0 && sec.encrypted() {
            let issuer = secure::PublicKey(c.cert.issuer);
            let rsu = self
                .rsus
                .iter()
                .find(|(_, i)| i.key == Some(issuer))
                .map(|(r, _)| *r);
            if let Some(rsu) = rsu.filter(|r| sec.sessions.has_session(r)) {
                tracing::info!(%rsu, "RSU holds no session with us; handshaking again");
                sec.sessions.forget(&rsu);
            }
        }
        // Tell our relays at once (the reply carries the certificate).
        self.reply_now = true;
        self.next_housekeeping = now;
        Ok(())
    }

    /// Trust lists reloaded: RSUs whose keys are no longer trusted are
    /// left (their candidates, sessions and certificates dropped).
    pub(super) fn leave_untrusted(&mut self, now: Time, out: &mut Vec<Action>) {
        let Some(sec) = self.core.sec.as_mut() else {
            return;
        };
        sec.forget_untrusted_rsus();
        let gone: Vec<NodeId> = self
            .rsus
            .iter()
            .filter(|(_, i)| i.key.is_some_and(|k| !sec.rsu_trusted(&k)))
            .map(|(r, _)| *r)
            .collect();
        if sec
            .own_cert
            .is_some_and(|c| !sec.rsu_trusted(&secure::PublicKey(c.issuer)))
        {
            sec.own_cert = None;
        }
        for rsu in &gone {
            self.rsus.remove(rsu);
            tracing::warn!(%rsu, "RSU key no longer trusted: leaving it");
        }
        if !gone.is_empty() {
            Counters::inc(&self.core.counters.obus_revoked, gone.len() as u64);
            self.reselect(now, out);
            self.core.changed = true;
        }
    }
}
