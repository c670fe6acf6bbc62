//! The security state a role carries when `[security] mode` is not "off":
//! its identity, who it trusts, its sessions, and the wall clock it stamps
//! and checks control messages with. Sans-IO like the roles: time comes in
//! as [`Time`] and is mapped to the wall clock by a fixed offset taken at
//! start.

use crate::inbound::PAYLOAD_OFFSET;
use crate::params::{SecurityConfig, SecurityMode};
use common::action::Control;
use common::counters::{Counters, DropReason};
use common::wire::{Body, HandshakeRepr, Messages, ParsedMessage, FLAG_SEALED};
use common::wire::{CertRepr, MessageType};
use common::{NodeId, Time};
use secure::cert::{CertCache, Certified};
use secure::control::{self, VerifiedBeacon};
use secure::{Freshness, Identity, Limits, PublicKey, Sessions, Suite};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// Most peers with sessions (an RSU's OBUs).
pub const MAX_PEERS: usize = 8192;

/// What the pre-pass of a received frame decided for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not sealed data addressed to us: the role decides.
    Untouched,
    /// Sealed data for us, opened in place: the plaintext's range in the frame.
    Opened { start: u16, len: u16 },
    /// Sealed data for us that did not open (already counted), and why.
    Failed(DropReason),
}

pub struct Security {
    pub mode: SecurityMode,
    pub identity: Arc<Identity>,
    trusted_rsus: Vec<PublicKey>,
    allowed_obus: Vec<PublicKey>,
    allow_any_obu: bool,
    max_skew_us: u64,
    cert_lifetime_us: u64,
    /// RSU: it issues certificates, and trusts those it issued.
    pub issuer: bool,
    /// Our certificate: an OBU's from its RSU, an RSU's own. Broadcasts,
    /// probes and (OBU) replies carry it.
    pub own_cert: Option<CertRepr>,
    /// Certificates whose signatures were checked.
    pub certs: CertCache,
    /// Signatures checked already (a relayed beacon arrives many times).
    pub verified: secure::VerifyCache,
    /// Wall clock (µs since the Unix epoch) at `Time::ZERO`.
    wall_at_zero_us: u64,
    pub sessions: Sessions,
    /// Reused buffer for signed bytes.
    pub scratch: Vec<u8>,
    verdicts: Vec<Verdict>,
    found: Vec<(usize, Range<usize>, NodeId)>,
}

/// Whether a data message's protection matches the node's mode: `Ok(sealed)`
/// or the drop reason (sealed data at a node without encryption, plain data
/// at one with it).
pub fn check_sealing(flags: u8, encrypted: bool) -> Result<bool, DropReason> {
    let sealed = flags & FLAG_SEALED != 0;
    match (sealed, encrypted) {
        (true, false) => Err(DropReason::NoSession),
        (false, true) => Err(DropReason::Unprotected),
        _ => Ok(sealed),
    }
}

/// Session limits from the config.
pub fn limits(c: &SecurityConfig) -> Limits {
    let rekey = Duration::from_secs(c.rekey_after_secs);
    Limits {
        rekey_after: rekey,
        rekey_after_messages: c.rekey_after_messages,
        reject_after: rekey + rekey / 2,
        ..Limits::default()
    }
}

/// Cipher and post-quantum settings from the config (`auto` resolved by
/// this CPU's features).
pub fn suite(c: &SecurityConfig) -> Suite {
    Suite {
        cipher: c.cipher,
        post_quantum: c.post_quantum,
        ..Suite::default()
    }
}

impl Security {
    pub fn new(
        c: &SecurityConfig,
        id: NodeId,
        identity: Arc<Identity>,
        wall_at_zero_us: u64,
    ) -> Security {
        Security {
            mode: c.mode,
            sessions: {
                let mut s = Sessions::new(id, identity.clone(), limits(c), MAX_PEERS);
                s.set_suite(suite(c));
                s
            },
            identity,
            trusted_rsus: c.trusted_rsus.clone(),
            allowed_obus: c.allowed_obus.clone(),
            allow_any_obu: c.allow_any_obu,
            max_skew_us: c.max_clock_skew_ms * 1000,
            cert_lifetime_us: c.cert_lifetime_secs * 1_000_000,
            issuer: false,
            own_cert: None,
            certs: CertCache::default(),
            verified: secure::VerifyCache::new(),
            wall_at_zero_us,
            scratch: Vec::with_capacity(512),
            verdicts: Vec::with_capacity(64),
            found: Vec::with_capacity(64),
        }
    }

    /// New trust lists and limits (SIGHUP reload); sessions are kept.
    pub fn reload(&mut self, c: &SecurityConfig) {
        self.trusted_rsus = c.trusted_rsus.clone();
        self.allowed_obus = c.allowed_obus.clone();
        self.allow_any_obu = c.allow_any_obu;
        self.max_skew_us = c.max_clock_skew_ms * 1000;
        self.cert_lifetime_us = c.cert_lifetime_secs * 1_000_000;
        self.sessions.set_limits(limits(c));
        self.sessions.set_suite(suite(c));
        self.certs.clear();
    }

    /// Whether `k` may issue certificates we accept: a trusted RSU, or
    /// (RSU) ourselves.
    pub fn issuer_trusted(&self, k: &PublicKey) -> bool {
        self.trusted_rsus.contains(k) || (self.issuer && *k == self.identity.public())
    }

    /// Runs a certificate check against our trust rules ([`issuer_trusted`]
    /// and [`still_allowed`](Self::still_allowed)) with the cache and the
    /// scratch buffer lent out (they live in `self` too).
    ///
    /// [`issuer_trusted`]: Self::issuer_trusted
    fn check_with_cache(
        &mut self,
        cert: &CertRepr,
        f: impl FnOnce(&Self, &mut CertCache, &mut Vec<u8>) -> Result<(), secure::Error>,
    ) -> Result<(), DropReason> {
        let mut certs = std::mem::take(&mut self.certs);
        let mut scratch = std::mem::take(&mut self.scratch);
        let r = f(self, &mut certs, &mut scratch);
        self.certs = certs;
        self.scratch = scratch;
        r?;
        if !self.still_allowed(cert) {
            return Err(DropReason::AuthFailed);
        }
        Ok(())
    }

    /// RSU: forgets the sessions of OBUs whose keys are no longer allowed
    /// (trust lists reloaded); returns them.
    pub fn forget_refused_obus(&mut self) -> Vec<NodeId> {
        let (any, allowed) = (self.allow_any_obu, &self.allowed_obus);
        self.sessions.forget_refused(|k| any || allowed.contains(k))
    }

    /// OBU: forgets the sessions with RSUs whose keys are no longer
    /// trusted; returns them.
    pub fn forget_untrusted_rsus(&mut self) -> Vec<NodeId> {
        let trusted = &self.trusted_rsus;
        self.sessions.forget_refused(|k| trusted.contains(k))
    }

    /// Whether `k` is one of the RSU keys we trust.
    pub fn rsu_trusted(&self, k: &PublicKey) -> bool {
        self.trusted_rsus.contains(k)
    }

    /// Lifetime of the certificates we issue.
    pub fn cert_lifetime_us(&self) -> u64 {
        self.cert_lifetime_us
    }

    /// RSU: a certificate for `subject`'s `key`, valid from now.
    pub fn issue_cert(&self, now: Time, subject: NodeId, key: &PublicKey, flags: u8) -> CertRepr {
        secure::cert::issue(
            &self.identity,
            subject,
            key,
            self.wall_us(now),
            self.cert_lifetime_us,
            flags,
        )
    }

    /// RSU: our own certificate (for our broadcasts and probes), renewed
    /// at half-life.
    pub fn renew_own_cert(&mut self, now: Time) {
        let wall = self.wall_us(now);
        let due = self
            .own_cert
            .is_none_or(|c| c.expires_us.saturating_sub(wall) < self.cert_lifetime_us / 2);
        if self.issuer && due {
            let me = self.identity.public();
            let id = self.sessions_id();
            self.own_cert = Some(self.issue_cert(now, id, &me, 0));
        }
    }

    fn sessions_id(&self) -> NodeId {
        self.sessions.me()
    }

    /// Our certificate if it is still valid.
    pub fn valid_own_cert(&self, now: Time) -> Option<CertRepr> {
        let wall = self.wall_us(now);
        self.own_cert.filter(|c| c.valid_at(wall))
    }

    /// Checks a certificate for `subject` and `key` (issuer trusted, in
    /// its lifetime, signature; cached).
    pub fn check_cert(
        &mut self,
        now: Time,
        cert: &CertRepr,
        subject: NodeId,
        key: &[u8; 32],
    ) -> Result<(), DropReason> {
        if cert.subject != subject || cert.key != *key {
            return Err(DropReason::AuthFailed);
        }
        let wall = self.wall_us(now);
        self.check_with_cache(cert, |s, certs, _| {
            certs.check(cert, |k| s.issuer_trusted(k), wall)
        })
    }

    /// A message signed under our certificate; `None` without a valid one.
    pub fn sign_certified(
        &mut self,
        now: Time,
        msg_type: MessageType,
        body: &[u8],
    ) -> Option<Control> {
        let cert = self.valid_own_cert(now)?;
        let wall = self.wall_us(now);
        Some(Control::Raw(Box::new(secure::cert::sign_certified(
            &self.identity,
            &cert,
            msg_type,
            body,
            wall,
            &mut self.scratch,
        ))))
    }

    /// The cheap half of checking a message signed under a certificate:
    /// its trailer taken apart (`unprotected` without one) and its time
    /// within the clock skew (`replayed`).
    pub fn claim_certified(&self, now: Time, m: &ParsedMessage) -> Result<Certified, DropReason> {
        let c = secure::cert::claimed(m.trailer)?;
        if !self.freshness(now).accepts(c.time_us) {
            return Err(DropReason::Replayed);
        }
        Ok(c)
    }

    /// The costly half, after the caller's own cheap checks: the
    /// certificate (cached) and the signature. The caller checks that the
    /// certificate's subject may send the message.
    pub fn verify_claimed(
        &mut self,
        now: Time,
        m: &ParsedMessage,
        c: &Certified,
    ) -> Result<(), DropReason> {
        let wall = self.wall_us(now);
        self.check_with_cache(&c.cert, |s, certs, scratch| {
            secure::cert::verify_claimed(
                m.raw,
                m.trailer,
                c,
                |k| s.issuer_trusted(k),
                wall,
                certs,
                scratch,
            )
        })
    }

    /// Both halves at once (probes).
    pub fn verify_certified(
        &mut self,
        now: Time,
        m: &ParsedMessage,
    ) -> Result<Certified, DropReason> {
        let c = self.claim_certified(now, m)?;
        self.verify_claimed(now, m, &c)?;
        Ok(c)
    }

    /// RSU: a certificate we issued to a key our lists no longer allow is
    /// void here at once (revocation); elsewhere it runs out.
    fn still_allowed(&self, c: &CertRepr) -> bool {
        let me = self.identity.public();
        !self.issuer || c.issuer != me.0 || c.key == me.0 || self.obu_allowed(&PublicKey(c.key))
    }

    pub fn encrypted(&self) -> bool {
        self.mode == SecurityMode::Encrypted
    }

    pub fn wall_us(&self, now: Time) -> u64 {
        self.wall_at_zero_us + now.0
    }

    pub fn freshness(&self, now: Time) -> Freshness {
        Freshness {
            now_us: self.wall_us(now),
            max_age_us: self.max_skew_us,
        }
    }

    pub fn obu_allowed(&self, k: &PublicKey) -> bool {
        self.allow_any_obu || self.allowed_obus.contains(k)
    }

    /// Checks a received signed beacon (see `secure::control::verify_beacon`)
    /// against the trusted RSU keys.
    pub fn verify_beacon(
        &mut self,
        now: Time,
        m: &ParsedMessage,
        hops: u8,
    ) -> Result<VerifiedBeacon, DropReason> {
        let fresh = self.freshness(now);
        let trusted = &self.trusted_rsus;
        control::verify_beacon(
            m.raw,
            m.trailer,
            hops,
            |k| trusted.contains(k),
            fresh,
            &mut self.verified,
            &mut self.scratch,
        )
        .map_err(DropReason::from)
    }

    /// RSU: answers a handshake init from an allowed OBU key (see
    /// `secure::Sessions::respond`).
    pub fn respond_handshake(
        &mut self,
        now: Time,
        init: &HandshakeRepr,
    ) -> Result<secure::Answer, DropReason> {
        let fresh = self.freshness(now);
        let (any, allowed) = (self.allow_any_obu, &self.allowed_obus);
        self.sessions
            .respond(now, fresh, init, |k| any || allowed.contains(k))
            .map_err(DropReason::from)
    }

    /// Checks a received signed reply; returns the signer's key.
    pub fn verify_reply(&mut self, now: Time, m: &ParsedMessage) -> Result<PublicKey, DropReason> {
        let fresh = self.freshness(now);
        control::verify_reply(
            m.raw,
            m.trailer,
            fresh,
            &mut self.verified,
            &mut self.scratch,
        )
        .map(|(k, _)| k)
        .map_err(DropReason::from)
    }

    /// Pre-pass over a received frame (Ethernet header included): opens in
    /// place every sealed data message addressed to `me`, counting failures.
    /// Afterwards [`Security::verdict`] tells the role, per message, what
    /// happened.
    pub fn open_frame(&mut self, me: NodeId, frame: &mut [u8], counters: &Counters) {
        self.verdicts.clear();
        self.found.clear();
        let Some(payload) = frame.get(PAYLOAD_OFFSET..) else {
            return;
        };
        for (k, m) in Messages::new(payload).enumerate() {
            self.verdicts.push(Verdict::Untouched);
            let Ok(m) = m else { continue };
            if let Body::Data(d) = m.body {
                if m.header.flags & FLAG_SEALED != 0 && d.dest == me {
                    let start = PAYLOAD_OFFSET + m.offset;
                    self.found.push((k, start..start + m.raw.len(), d.origin));
                }
            }
        }
        for (k, range, origin) in self.found.drain(..) {
            let base = range.start;
            self.verdicts[k] = match self.sessions.open(origin, &mut frame[range]) {
                Ok(text) => Verdict::Opened {
                    start: (base + text.start) as u16,
                    len: text.len() as u16,
                },
                Err(reason) => {
                    let reason = reason.into();
                    counters.count_drop(reason);
                    Verdict::Failed(reason)
                }
            };
        }
    }

    /// A role's pre-pass over a received frame: in encrypted mode, and only
    /// for frames addressed to us (opening spends the counter).
    pub fn before_frame(
        sec: Option<&mut Security>,
        id: NodeId,
        mac: NodeId,
        frame: &mut [u8],
        counters: &Counters,
    ) {
        if let Some(sec) = sec.filter(|s| s.encrypted()) {
            if crate::inbound::addressed_to(frame, mac) {
                sec.open_frame(id, frame, counters);
            }
        }
    }

    /// The verdict for message `k` of the last frame (`Untouched` when
    /// security is off).
    pub fn verdict_of(sec: Option<&Security>, k: usize) -> Verdict {
        sec.map_or(Verdict::Untouched, |s| s.verdict(k))
    }

    /// The pre-pass verdict for the `k`-th message of the last frame.
    pub fn verdict(&self, k: usize) -> Verdict {
        self.verdicts.get(k).copied().unwrap_or(Verdict::Untouched)
    }
}
