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
//! Rotation without loss: the initiator switches to the new session as soon
//! as the response arrives and keeps the old one for receiving; the
//! responder keeps sending on the old session until the first message
//! arrives on the new one (the initiator sends an empty one at once).

use crate::key::{Identity, PublicKey};
use crate::session::{OpenError, Session};
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

const NOISE_PARAMS: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
/// Initiator payload: Ed25519 key (32) + wall-clock microseconds (8) +
/// the initiator's session index (4). The indices travel inside the Noise
/// payloads (authenticated); the copies in the clear only route lookups.
const INIT_PAYLOAD_LEN: usize = 44;
/// Responder payload: its session index (4).
const RESP_PAYLOAD_LEN: usize = 4;
/// An unconfirmed responder session of a peer with nothing else is
/// forgotten after this many handshake retries' time.
const UNCONFIRMED_RETRIES: u32 = 10;

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
            completed: 0,
        }
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

    fn prologue(initiator: NodeId, responder: NodeId) -> Vec<u8> {
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
        if let Some(h) = &p.pending {
            if now.since(h.started) < self.limits.retry {
                return false;
            }
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
            }
        }
    }

    /// Initiator: the first handshake message to `peer`, whose identity
    /// key is `peer_key` (from its verified beacons).
    pub fn initiate(
        &mut self,
        now: Time,
        wall_us: u64,
        peer: NodeId,
        peer_key: PublicKey,
    ) -> Result<RawMessage, String> {
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            return Err("session table full".into());
        }
        let remote = peer_key.x25519().ok_or("peer key is not a valid point")?;
        let secret = self.identity.x25519_secret();
        let prologue = Self::prologue(self.me, peer);
        let mut hs = Builder::new(NOISE_PARAMS.parse().map_err(|e| format!("{e:?}"))?)
            .local_private_key(secret.as_ref())
            .and_then(|b| b.remote_public_key(&remote))
            .and_then(|b| b.prologue(&prologue))
            .and_then(|b| b.build_initiator())
            .map_err(|e| format!("noise: {e}"))?;
        let local_index = self.new_index();
        let mut payload = [0u8; INIT_PAYLOAD_LEN];
        payload[..32].copy_from_slice(&self.identity.public().0);
        payload[32..40].copy_from_slice(&wall_us.to_be_bytes());
        payload[40..].copy_from_slice(&local_index.to_be_bytes());
        let mut noise = [0u8; 256];
        let n = hs
            .write_message(&payload, &mut noise)
            .map_err(|e| format!("noise: {e}"))?;
        let p = self.peers.entry(peer).or_default();
        if let Some(old) = p.pending.take() {
            self.index.remove(&old.local_index);
        }
        p.pending = Some(Pending {
            hs,
            local_index,
            started: now,
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
    /// back to `init.from`) and the initiator's key.
    pub fn respond(
        &mut self,
        now: Time,
        freshness: Freshness,
        init: &HandshakeRepr,
        allowed: impl Fn(&PublicKey) -> bool,
    ) -> Result<(RawMessage, PublicKey), Error> {
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
        let mut payload = [0u8; 256];
        let n = hs
            .read_message(init.noise, &mut payload)
            .map_err(|_| Error::AuthFailed)?;
        if n != INIT_PAYLOAD_LEN {
            return Err(Error::AuthFailed);
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
        let local_index = self.new_index();
        let mut noise = [0u8; 256];
        let m = hs
            .write_message(&local_index.to_be_bytes(), &mut noise)
            .map_err(|_| Error::AuthFailed)?;
        let (i2r, r2i) = hs.dangerously_get_raw_split();
        let p = self.peers.entry(peer).or_default();
        p.key = Some(key);
        p.last_init_time = wall_us;
        if let Some(old) = p.next.take() {
            self.index.remove(&old.local_index);
        }
        p.next = Some(Session::new(local_index, init_index, &r2i, &i2r, now));
        self.index.insert(local_index, peer);
        self.completed += 1;
        let msg = handshake_message(HandshakeRepr {
            kind: MessageType::HandshakeResponse,
            from: self.me,
            to: peer,
            sender_index: local_index,
            receiver_index: init_index,
            noise: &noise[..m],
        });
        Ok((msg, key))
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
        let mut payload = [0u8; 64];
        let remote_index = match pending.hs.read_message(resp.noise, &mut payload) {
            Ok(RESP_PAYLOAD_LEN) => u32::from_be_bytes(payload[..4].try_into().unwrap_or_default()),
            _ => 0,
        };
        if remote_index == 0 {
            // Keep waiting: a forged response must not cancel a real handshake.
            p.pending = Some(pending);
            return Err(Error::AuthFailed);
        }
        let (i2r, r2i) = pending.hs.dangerously_get_raw_split();
        let session = Session::new(pending.local_index, remote_index, &i2r, &r2i, now);
        if let Some(old) = p.previous.take() {
            self.index.remove(&old.local_index);
        }
        p.previous = p.current.take();
        p.current = Some(session);
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
        self.peers.retain(|_, p| {
            p.current.is_some() || p.previous.is_some() || p.next.is_some() || p.pending.is_some()
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
