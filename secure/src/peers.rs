//! The session table: handshakes in flight, current/previous/next sessions
//! per peer, and lookup of sealed messages by session index.
//!
//! Handshakes are Noise `IK` (snow): the OBU (initiator) knows its RSU's
//! static key from the RSU's signed beacons; the RSU (responder) learns
//! and checks the OBU's key from the first message. Static keys are the
//! X25519 forms of the Ed25519 identities. The first message carries the
//! initiator's Ed25519 key and a wall-clock timestamp that must grow from
//! one handshake to the next, so a recorded first message cannot be
//! replayed to reset a session (the WireGuard rule).
//!
//! The first message also offers the ciphers the initiator accepts and
//! its post-quantum setting (see [`crate::suite`]); the response carries
//! the responder's choice, or its refusal with what it accepts, so that a
//! mismatch is logged at both ends. With `post_quantum` the payloads also
//! carry an ML-KEM-768 key and ciphertext (see [`crate::hybrid`]).
//!
//! Rotation without loss: the initiator switches to the new session as soon
//! as the response arrives and keeps the old one for receiving; the
//! responder keeps sending on the old session until the first message
//! arrives on the new one (the initiator sends an empty one at once).

use crate::hybrid::{self, KemSecret, CT_LEN, EK_LEN};
use crate::key::{Identity, PublicKey};
use crate::session::{OpenError, Session};
use crate::suite::{Cipher, Mismatch, Offer, Suite};
use crate::Error;
use crate::Freshness;
use common::action::{RawMessage, Sealer};
use common::wire::{HandshakeRepr, MessageType, Sealed, DATA_OVERHEAD};
use common::{NodeId, Time};
use snow::{Builder, HandshakeState};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const NOISE_PARAMS: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
/// Initiator payload: Ed25519 key (32) + wall-clock microseconds (8) +
/// the initiator's session index (4) + accepted ciphers (1, bit set) +
/// preferred cipher (1) + flags (1, bit 0: post-quantum), then with
/// post-quantum the ML-KEM-768 encapsulation key (1184). The indices
/// travel inside the Noise payloads (authenticated); the copies in the
/// clear only route lookups.
const INIT_PAYLOAD_LEN: usize = 47;
/// Responder payload: its session index (4) + chosen cipher (1) + the
/// ciphers it accepts (1) + flags (1, bit 0: post-quantum), then with
/// post-quantum the ML-KEM-768 ciphertext (1088). A refusal has index 0
/// and cipher 0: the last two fields say what the responder wanted.
const RESP_PAYLOAD_LEN: usize = 7;
const FLAG_POST_QUANTUM: u8 = 1;
/// Bytes of the largest first Noise message (post-quantum): Noise IK's
/// 96 (ephemeral, encrypted static, two tags) + payload.
pub const POST_QUANTUM_INIT_NOISE_LEN: usize = 96 + INIT_PAYLOAD_LEN + EK_LEN;
/// Room for the largest Noise message we write or read (an init with
/// post-quantum: 96 + 47 + 1184 bytes).
pub(crate) const NOISE_BUF: usize = 1536;
/// After a refusal, the initiator tries the same peer again only after
/// this many handshake retries' time (its settings may be reloaded).
const REFUSED_RETRIES: u32 = 10;
/// An unconfirmed responder session of a peer with nothing else is
/// forgotten after this many handshake retries' time.
const UNCONFIRMED_RETRIES: u32 = 10;

/// Longest backoff between two unanswered handshakes, in retries.
const MAX_BACKOFF_RETRIES: u32 = 8;

/// How long after starting its `attempts`-th handshake in a row an
/// initiator waits before the next: `retry` doubled per attempt up to
/// `MAX_BACKOFF_RETRIES` times it, between 3/4 and 5/4 of that by a jitter
/// drawn from the handshake's random index (so the vehicles that lost
/// their RSU together do not retry together).
fn retry_after(retry: Duration, attempts: u32, random: u32) -> Duration {
    let doubled = retry * (1u32 << attempts.saturating_sub(1).min(31));
    let base = doubled.min(retry * MAX_BACKOFF_RETRIES);
    let jitter_permille = 750 + u64::from(random % 501);
    Duration::from_micros(base.as_micros() as u64 * jitter_permille / 1000)
}

/// When sessions are renewed and when they stop being usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The initiator starts a new handshake after this long...
    pub rekey_after: Duration,
    /// ...or after this many messages sent on a session.
    pub rekey_after_messages: u64,
    /// A session is not used past this age...
    pub reject_after: Duration,
    /// ...or this many messages (nonces are never reused).
    pub reject_after_messages: u64,
    /// An unanswered handshake is retried after this long.
    pub retry: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rekey_after: Duration::from_secs(120),
            rekey_after_messages: 1 << 60,
            reject_after: Duration::from_secs(180),
            reject_after_messages: u64::MAX - (1 << 13),
            retry: Duration::from_secs(1),
        }
    }
}

struct Pending {
    hs: HandshakeState,
    local_index: u32,
    started: Time,
    offer: Offer,
    kem: Option<KemSecret>,
}

/// Responder: the payload of a response, the session index it names (0 in
/// a refusal) and the ML-KEM shared secret (post-quantum).
type ResponsePayload = (Vec<u8>, u32, Option<[u8; 32]>);

/// Responder: what [`Sessions::respond`] produced.
pub struct Answer {
    /// The response to send back (a session's, or a refusal).
    pub msg: RawMessage,
    /// The initiator's proven key.
    pub key: PublicKey,
    /// `Some` when the settings did not match: no session was made, and
    /// the response tells the initiator why.
    pub refused: Option<Mismatch>,
}

#[derive(Default)]
struct Peer {
    key: Option<PublicKey>,
    current: Option<Session>,
    previous: Option<Session>,
    /// Responder: a session not yet confirmed by the initiator.
    next: Option<Session>,
    pending: Option<Pending>,
    /// Responder: timestamp of the newest accepted first message.
    last_init_time: u64,
    /// Initiator: when the peer last refused our settings.
    refused_at: Option<Time>,
    /// Initiator: handshakes started since the last one that completed,
    /// and the earliest time for the next one (exponential backoff with
    /// jitter: a peer that does not answer, or a path that keeps changing,
    /// is not sent a handshake on every change).
    attempts: u32,
    next_attempt: Time,
}

impl Peer {
    fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.current
            .iter()
            .chain(self.previous.iter())
            .chain(self.next.iter())
    }
}

/// Sessions of one node with all its peers.
pub struct Sessions {
    me: NodeId,
    identity: Arc<Identity>,
    limits: Limits,
    peers: HashMap<NodeId, Peer>,
    index: HashMap<u32, NodeId>,
    max_peers: usize,
    suite: Suite,
    /// Handshakes completed (initiator or responder side).
    pub completed: u64,
}

impl Sessions {
    pub fn new(me: NodeId, identity: Arc<Identity>, limits: Limits, max_peers: usize) -> Sessions {
        Sessions {
            me,
            identity,
            limits,
            peers: HashMap::new(),
            index: HashMap::new(),
            max_peers,
            suite: Suite::default(),
            completed: 0,
        }
    }

    /// The cipher and post-quantum settings for handshakes from now on.
    pub fn set_suite(&mut self, suite: Suite) {
        self.suite = suite;
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The cipher and post-quantum use of the current session with `peer`.
    pub fn session_suite(&self, peer: &NodeId) -> Option<(Cipher, bool)> {
        let p = self.peers.get(peer)?;
        p.current
            .as_ref()
            .or(p.next.as_ref())
            .map(|s| (s.cipher, s.post_quantum))
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Our own node id.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// Forgets every peer whose proven key `keep` refuses (revocation);
    /// returns them.
    pub fn forget_refused(&mut self, keep: impl Fn(&PublicKey) -> bool) -> Vec<NodeId> {
        let gone: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.key.is_some_and(|k| !keep(&k)))
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            self.forget(id);
        }
        gone
    }

    pub fn has_session(&self, peer: &NodeId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.current.is_some())
    }

    /// Age of the current session with `peer`.
    pub fn session_age(&self, now: Time, peer: &NodeId) -> Option<Duration> {
        self.peers
            .get(peer)
            .and_then(|p| p.current.as_ref())
            .map(|s| now.since(s.created))
    }

    /// The key a peer proved in its last handshake.
    pub fn peer_key(&self, peer: &NodeId) -> Option<PublicKey> {
        self.peers.get(peer).and_then(|p| p.key)
    }

    fn new_index(&self) -> u32 {
        loop {
            let i = getrandom::u32().unwrap_or(1);
            if i != 0 && !self.index.contains_key(&i) {
                return i;
            }
        }
    }

    pub(crate) fn prologue(initiator: NodeId, responder: NodeId) -> Vec<u8> {
        let mut p = b"v2xd noise v1".to_vec();
        p.extend_from_slice(initiator.as_bytes());
        p.extend_from_slice(responder.as_bytes());
        p
    }

    /// Initiator: whether to start a handshake with `peer` now (no session,
    /// or the current one is due for renewal, and none in flight).
    pub fn needs_handshake(&self, now: Time, peer: &NodeId) -> bool {
        let Some(p) = self.peers.get(peer) else {
            return true;
        };
        if now < p.next_attempt {
            return false;
        }
        if p.refused_at
            .is_some_and(|t| now.since(t) < self.limits.retry * REFUSED_RETRIES)
        {
            return false;
        }
        match &p.current {
            None => true,
            Some(s) => {
                now.since(s.created) >= self.limits.rekey_after
                    || s.sent() >= self.limits.rekey_after_messages
            }
        }
    }

    /// Initiator: forgets a handshake with `peer` still in flight (its path
    /// changed; it may have been lost on the old one), so that
    /// `needs_handshake` allows a new one at once. A late response to the
    /// old one is refused as unknown.
    pub fn abandon_pending(&mut self, peer: &NodeId) {
        if let Some(p) = self.peers.get_mut(peer) {
            if let Some(h) = p.pending.take() {
                self.index.remove(&h.local_index);
                // The next one may go sooner than the retry (along the new
                // path), but not sooner than a quarter of it: a path that
                // flaps cannot make us send a handshake on every change.
                let quarter = retry_after(self.limits.retry, p.attempts, h.local_index) / 4;
                p.next_attempt = p.next_attempt.min(h.started + quarter);
            }
        }
    }

    /// Initiator: handshakes started toward `peer` since one last completed.
    pub fn attempts(&self, peer: &NodeId) -> u32 {
        self.peers.get(peer).map_or(0, |p| p.attempts)
    }

    /// Initiator: the first handshake message to `peer`, whose identity
    /// key is `peer_key` (from its verified beacons).
    pub fn initiate(
        &mut self,
        now: Time,
        wall_us: u64,
        peer: NodeId,
        peer_key: PublicKey,
    ) -> Result<RawMessage, Error> {
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            return Err(Error::TableFull);
        }
        // A key that is no curve point cannot be the peer's: its beacons
        // would not have verified either.
        let remote = peer_key.x25519().ok_or(Error::AuthFailed)?;
        let secret = self.identity.x25519_secret();
        let prologue = Self::prologue(self.me, peer);
        let params = NOISE_PARAMS
            .parse()
            .map_err(|_| Error::Internal("the Noise parameters do not parse"))?;
        let mut hs = Builder::new(params)
            .local_private_key(secret.as_ref())
            .and_then(|b| b.remote_public_key(&remote))
            .and_then(|b| b.prologue(&prologue))
            .and_then(|b| b.build_initiator())
            .map_err(|_| Error::AuthFailed)?;
        let local_index = self.new_index();
        let offer = self.suite.offer();
        let mut payload = Vec::with_capacity(INIT_PAYLOAD_LEN + EK_LEN);
        payload.extend_from_slice(&self.identity.public().0);
        payload.extend_from_slice(&wall_us.to_be_bytes());
        payload.extend_from_slice(&local_index.to_be_bytes());
        payload.extend_from_slice(&[
            offer.accepts,
            offer.prefers as u8,
            if offer.post_quantum {
                FLAG_POST_QUANTUM
            } else {
                0
            },
        ]);
        let kem = if offer.post_quantum {
            let (secret, ek) =
                hybrid::keypair().ok_or(Error::Internal("ML-KEM-768 key generation failed"))?;
            payload.extend_from_slice(&ek);
            Some(secret)
        } else {
            None
        };
        let mut noise = [0u8; NOISE_BUF];
        let n = hs
            .write_message(&payload, &mut noise)
            .map_err(|_| Error::Internal("the Noise handshake message could not be written"))?;
        let p = self.peers.entry(peer).or_default();
        if let Some(old) = p.pending.take() {
            self.index.remove(&old.local_index);
        }
        p.attempts = p.attempts.saturating_add(1);
        p.next_attempt = now + retry_after(self.limits.retry, p.attempts, local_index);
        p.pending = Some(Pending {
            hs,
            local_index,
            started: now,
            offer,
            kem,
        });
        self.index.insert(local_index, peer);
        Ok(handshake_message(HandshakeRepr {
            kind: MessageType::HandshakeInit,
            from: self.me,
            to: peer,
            sender_index: local_index,
            receiver_index: 0,
            noise: &noise[..n],
        }))
    }

    /// Responder: answers a first message addressed to us. `allowed` says
    /// whether an initiator key may connect. Returns the response (to send
    /// back to `init.from`), the initiator's key, and whether its settings
    /// were refused.
    pub fn respond(
        &mut self,
        now: Time,
        freshness: Freshness,
        init: &HandshakeRepr,
        allowed: impl Fn(&PublicKey) -> bool,
    ) -> Result<Answer, Error> {
        if init.kind != MessageType::HandshakeInit || init.to != self.me {
            return Err(Error::NotForUs);
        }
        let peer = init.from;
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            return Err(Error::TableFull);
        }
        let secret = self.identity.x25519_secret();
        let prologue = Self::prologue(peer, self.me);
        let params = NOISE_PARAMS.parse().map_err(|_| Error::AuthFailed)?;
        let mut hs = Builder::new(params)
            .local_private_key(secret.as_ref())
            .and_then(|b| b.prologue(&prologue))
            .and_then(|b| b.build_responder())
            .map_err(|_| Error::AuthFailed)?;
        let mut payload = [0u8; NOISE_BUF];
        let n = hs
            .read_message(init.noise, &mut payload)
            .map_err(|_| Error::AuthFailed)?;
        if n < INIT_PAYLOAD_LEN {
            return Err(Error::AuthFailed);
        }
        let offer = Offer {
            accepts: payload[44],
            prefers: Cipher::from_wire(payload[45]).ok_or(Error::Malformed)?,
            post_quantum: payload[46] & FLAG_POST_QUANTUM != 0,
        };
        let ek = &payload[INIT_PAYLOAD_LEN..n];
        if ek.len() != if offer.post_quantum { EK_LEN } else { 0 } {
            return Err(Error::Malformed);
        }
        let key = PublicKey::from_slice(&payload[..32]).ok_or(Error::AuthFailed)?;
        let wall_us = u64::from_be_bytes(payload[32..40].try_into().unwrap_or_default());
        let init_index = u32::from_be_bytes(payload[40..44].try_into().unwrap_or_default());
        if init_index == 0 {
            return Err(Error::AuthFailed);
        }
        // The Noise static key must be the X25519 form of the claimed identity.
        if key.x25519().as_ref().map(|k| &k[..]) != hs.get_remote_static() {
            return Err(Error::AuthFailed);
        }
        if !allowed(&key) {
            return Err(Error::AuthFailed);
        }
        let p = self.peers.entry(peer).or_default();
        if p.key.is_some_and(|k| k != key) && p.current.is_some() {
            // This id has a live session under another key.
            return Err(Error::AuthFailed);
        }
        if (p.key == Some(key) && wall_us <= p.last_init_time) || !freshness.accepts(wall_us) {
            return Err(Error::Replayed);
        }
        let chosen = self.suite.choose(offer);
        let (reply, local_index, kem) = self.response_payload(chosen, ek)?;
        let mut noise = [0u8; NOISE_BUF];
        let m = hs
            .write_message(&reply, &mut noise)
            .map_err(|_| Error::AuthFailed)?;
        let p = self.peers.entry(peer).or_default();
        p.key = Some(key);
        p.last_init_time = wall_us;
        let msg = |sender_index| {
            handshake_message(HandshakeRepr {
                kind: MessageType::HandshakeResponse,
                from: self.me,
                to: peer,
                sender_index,
                receiver_index: init_index,
                noise: &noise[..m],
            })
        };
        let cipher = match chosen {
            Ok(c) => c,
            Err(why) => {
                return Ok(Answer {
                    // The clear index must not be 0; nothing is registered under it.
                    msg: msg(self.new_index()),
                    key,
                    refused: Some(why),
                });
            }
        };
        let (i2r, r2i) = hs.dangerously_get_raw_split();
        let split = hybrid::mix(i2r, r2i, hs.get_handshake_hash(), kem.as_ref());
        let keys = hybrid::keys(false, split, cipher, offer.post_quantum);
        if let Some(old) = p.next.take() {
            self.index.remove(&old.local_index);
        }
        p.next = Some(Session::new(local_index, init_index, &keys, now));
        self.index.insert(local_index, peer);
        self.completed += 1;
        Ok(Answer {
            msg: msg(local_index),
            key,
            refused: None,
        })
    }

    /// Responder: the payload of our response to an offer (see
    /// `RESP_PAYLOAD_LEN`): a session's index and cipher, with the ML-KEM
    /// ciphertext to `ek` when post-quantum, or a refusal. Also the index
    /// (0 in a refusal) and the ML-KEM secret.
    fn response_payload(
        &self,
        chosen: Result<Cipher, Mismatch>,
        ek: &[u8],
    ) -> Result<ResponsePayload, Error> {
        let mut reply = Vec::with_capacity(RESP_PAYLOAD_LEN + CT_LEN);
        let flags = if self.suite.post_quantum {
            FLAG_POST_QUANTUM
        } else {
            0
        };
        let Ok(cipher) = chosen else {
            reply.extend_from_slice(&[0, 0, 0, 0, 0, self.suite.accepts(), flags]);
            return Ok((reply, 0, None));
        };
        let local_index = self.new_index();
        reply.extend_from_slice(&local_index.to_be_bytes());
        reply.extend_from_slice(&[cipher as u8, self.suite.accepts(), flags]);
        // Only a post-quantum offer carries a key (checked by the caller),
        // and it is only accepted by a post-quantum responder.
        let kem = if ek.is_empty() {
            None
        } else {
            let (ct, ss) = hybrid::encapsulate(ek).ok_or(Error::Malformed)?;
            reply.extend_from_slice(&ct);
            Some(ss)
        };
        Ok((reply, local_index, kem))
    }

    /// Initiator: finishes a handshake with the response. The new session
    /// is used for sending at once.
    pub fn complete(&mut self, now: Time, resp: &HandshakeRepr) -> Result<NodeId, Error> {
        if resp.kind != MessageType::HandshakeResponse || resp.to != self.me {
            return Err(Error::NotForUs);
        }
        let peer = *self
            .index
            .get(&resp.receiver_index)
            .ok_or(Error::NoSession)?;
        if peer != resp.from {
            return Err(Error::AuthFailed);
        }
        let p = self.peers.get_mut(&peer).ok_or(Error::NoSession)?;
        let matches = p
            .pending
            .as_ref()
            .is_some_and(|h| h.local_index == resp.receiver_index);
        if !matches {
            // An answer to a handshake already finished or abandoned.
            return Err(Error::Replayed);
        }
        let mut pending = p.pending.take().ok_or(Error::NoSession)?;
        let mut payload = [0u8; NOISE_BUF];
        let n = match pending.hs.read_message(resp.noise, &mut payload) {
            Ok(n) if n >= RESP_PAYLOAD_LEN => n,
            _ => {
                // Keep waiting: a forged response must not cancel a real handshake.
                p.pending = Some(pending);
                return Err(Error::AuthFailed);
            }
        };
        // Authenticated by Noise from here on: the responder sent this.
        let remote_index = u32::from_be_bytes(payload[..4].try_into().unwrap_or_default());
        let cipher = Cipher::from_wire(payload[4]);
        let (accepts, flags) = (payload[5], payload[6]);
        let offer = pending.offer;
        let Some(cipher) = cipher.filter(|_| remote_index != 0) else {
            self.index.remove(&pending.local_index);
            p.refused_at = Some(now);
            return Err(Error::Incompatible(Mismatch {
                responder_accepts: accepts,
                responder_post_quantum: flags & FLAG_POST_QUANTUM != 0,
                initiator: offer,
            }));
        };
        let ct = &payload[RESP_PAYLOAD_LEN..n];
        // The responder must have chosen within our offer, with a
        // ciphertext exactly when post-quantum is on.
        let agreed = offer.accepts & (1 << (cipher as u8 - 1)) != 0
            && (flags & FLAG_POST_QUANTUM != 0) == offer.post_quantum
            && ct.len() == if offer.post_quantum { CT_LEN } else { 0 };
        let kem = match &pending.kem {
            Some(secret) => hybrid::decapsulate(secret, ct).map(Some),
            None => Some(None),
        };
        let Some(kem) = kem.filter(|_| agreed) else {
            self.index.remove(&pending.local_index);
            return Err(Error::Malformed);
        };
        let (i2r, r2i) = pending.hs.dangerously_get_raw_split();
        let split = hybrid::mix(i2r, r2i, pending.hs.get_handshake_hash(), kem.as_ref());
        let keys = hybrid::keys(true, split, cipher, offer.post_quantum);
        let session = Session::new(pending.local_index, remote_index, &keys, now);
        if let Some(old) = p.previous.take() {
            self.index.remove(&old.local_index);
        }
        p.previous = p.current.take();
        p.current = Some(session);
        p.attempts = 0;
        p.next_attempt = now;
        self.completed += 1;
        Ok(peer)
    }

    /// Opens a sealed data message (whole message, in place) from `origin`
    /// addressed to us. Returns the plaintext range inside `msg`.
    pub fn open(&mut self, origin: NodeId, msg: &mut [u8]) -> Result<Range<usize>, Error> {
        let index = msg
            .get(DATA_OVERHEAD..)
            .and_then(|b| Sealed::new_checked(b).ok())
            .map(|s| s.index())
            .ok_or(Error::Malformed)?;
        let peer = *self.index.get(&index).ok_or(Error::NoSession)?;
        if peer != origin {
            return Err(Error::NoSession);
        }
        let limit = self.limits.reject_after_messages;
        let p = self.peers.get_mut(&peer).ok_or(Error::NoSession)?;
        let (slot, s) = if p.current.as_ref().is_some_and(|s| s.local_index == index) {
            (0, p.current.as_mut())
        } else if p.previous.as_ref().is_some_and(|s| s.local_index == index) {
            (1, p.previous.as_mut())
        } else {
            (2, p.next.as_mut().filter(|s| s.local_index == index))
        };
        let s = s.ok_or(Error::NoSession)?;
        let range = s.open(msg, limit).map_err(|e| match e {
            OpenError::Malformed => Error::Malformed,
            OpenError::Copy => Error::Copy,
            OpenError::Replayed => Error::Replayed,
            OpenError::Forged => Error::DecryptFailed,
            OpenError::Expired => Error::NoSession,
        })?;
        if slot == 2 {
            // The initiator uses the new session: confirmed, rotate.
            if let Some(old) = p.previous.take() {
                self.index.remove(&old.local_index);
            }
            p.previous = p.current.take();
            p.current = p.next.take();
        }
        Ok(range)
    }

    /// Forgets every session with `peer` (e.g. it restarted).
    pub fn forget(&mut self, peer: &NodeId) {
        if let Some(p) = self.peers.remove(peer) {
            for s in p.sessions() {
                self.index.remove(&s.local_index);
            }
            if let Some(h) = p.pending {
                self.index.remove(&h.local_index);
            }
        }
    }

    /// Drops sessions past their age limit, and peers with nothing left.
    pub fn expire(&mut self, now: Time) {
        let limit = self.limits.reject_after;
        let retry = self.limits.retry * 10;
        let index = &mut self.index;
        fn drop_old(
            s: &mut Option<Session>,
            index: &mut HashMap<u32, NodeId>,
            now: Time,
            limit: Duration,
        ) {
            if s.as_ref().is_some_and(|x| now.since(x.created) >= limit) {
                if let Some(x) = s.take() {
                    index.remove(&x.local_index);
                }
            }
        }
        let unconfirmed = self.limits.retry * UNCONFIRMED_RETRIES;
        for p in self.peers.values_mut() {
            if p.next.is_some()
                && p.current
                    .as_ref()
                    .is_some_and(|c| now.since(c.created) >= limit)
            {
                // The current session ends and the newer one was never
                // confirmed (a lost keepalive): move to the newer one.
                if let Some(old) = p.current.take() {
                    index.remove(&old.local_index);
                }
                p.current = p.next.take();
            }
            if p.current.is_none()
                && p.previous.is_none()
                && p.next
                    .as_ref()
                    .is_some_and(|n| now.since(n.created) >= unconfirmed)
            {
                // Never confirmed and nothing else: likely a flood of
                // handshakes with throwaway keys; free the slot.
                if let Some(n) = p.next.take() {
                    index.remove(&n.local_index);
                }
            }
            drop_old(&mut p.current, index, now, limit);
            drop_old(&mut p.previous, index, now, limit);
            drop_old(&mut p.next, index, now, limit);
            if p.pending
                .as_ref()
                .is_some_and(|h| now.since(h.started) >= retry)
            {
                if let Some(h) = p.pending.take() {
                    index.remove(&h.local_index);
                }
            }
        }
        let refused_for = self.limits.retry * REFUSED_RETRIES;
        self.peers.retain(|_, p| {
            p.current.is_some()
                || p.previous.is_some()
                || p.next.is_some()
                || p.pending.is_some()
                || p.refused_at.is_some_and(|t| now.since(t) < refused_for)
        });
    }

    /// Entries held (for bounded-state checks).
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

impl Sealer for Sessions {
    fn seal(&mut self, peer: NodeId, msg: &mut [u8]) -> bool {
        let limit = self.limits.reject_after_messages;
        let Some(p) = self.peers.get_mut(&peer) else {
            return false;
        };
        if p.current.is_none() {
            // Responder with only an unconfirmed session (the initiator's
            // confirmation was lost): use it rather than drop.
            p.current = p.next.take();
        }
        p.current.as_mut().is_some_and(|s| s.seal(msg, limit))
    }

    fn can_seal(&self, peer: NodeId) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|p| p.current.is_some() || p.next.is_some())
    }
}

fn handshake_message(h: HandshakeRepr) -> RawMessage {
    let mut body = vec![0u8; h.body_len()];
    h.emit(&mut body);
    RawMessage {
        msg_type: h.kind,
        flags: 0,
        body,
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::*;

    #[test]
    fn unanswered_handshakes_back_off_exponentially_with_jitter() {
        let retry = Duration::from_secs(1);
        let ms = |a, r| retry_after(retry, a, r).as_millis();
        // The first retry after about a second, then 2, 4, 8, and no more.
        assert_eq!(ms(1, 250), 1000);
        assert_eq!(ms(2, 250), 2000);
        assert_eq!(ms(3, 250), 4000);
        assert_eq!(ms(4, 250), 8000);
        assert_eq!(ms(40, 250), 8000);
        // Jitter: from 3/4 to 5/4 of it, by the random index.
        assert_eq!(ms(1, 0), 750);
        assert_eq!(ms(1, 500), 1250);
        assert_eq!(ms(1, 501), 750);
    }
}
