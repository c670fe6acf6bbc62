//! Signed control messages: building and checking the authentication
//! trailers of beacons and replies (layout in `common::wire::auth`).

use crate::chain;
use crate::key::{Identity, PublicKey};
use crate::verify_cache::VerifyCache;
use crate::Error;
use crate::Freshness;
use common::action::RawMessage;
use common::wire::auth::{
    self, BeaconAuth, ReplyAuth, BEACON_AUTH_LEN, CHAIN_LEN, REPLY_AUTH_LEN, SIG_LEN,
};
use common::wire::{BeaconReplyRepr, BeaconRepr, HeaderRepr, MessageType, FLAG_SIGNED, HEADER_LEN};

/// What a verified beacon proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedBeacon {
    pub key: PublicKey,
    /// Generation time (wall clock, microseconds).
    pub time_us: u64,
}

/// Serialises `header + body + trailer`, signs it, and returns the body
/// part (with trailer) as a ready message.
pub(crate) fn finish(
    msg_type: MessageType,
    body: &[u8],
    trailer_len: usize,
    fill_trailer: impl FnOnce(&mut [u8]),
    signed_bytes: fn(&[u8], &mut Vec<u8>) -> Option<()>,
    id: &Identity,
    scratch: &mut Vec<u8>,
) -> RawMessage {
    let body_len = body.len() + trailer_len;
    let mut msg = vec![0u8; HEADER_LEN + body_len];
    HeaderRepr {
        msg_type,
        flags: FLAG_SIGNED,
        ttl: 0,
        body_len: body_len as u16,
    }
    .emit(&mut msg);
    msg[HEADER_LEN..HEADER_LEN + body.len()].copy_from_slice(body);
    fill_trailer(&mut msg[HEADER_LEN + body.len()..]);
    if signed_bytes(&msg, scratch).is_some() {
        let sig = id.sign(scratch);
        let n = msg.len();
        msg[n - SIG_LEN..].copy_from_slice(&sig);
    }
    RawMessage {
        msg_type,
        flags: FLAG_SIGNED,
        body: msg.split_off(HEADER_LEN),
    }
}

/// An RSU's signed beacon (hop count 0) with a fresh hop chain.
pub fn sign_beacon(
    id: &Identity,
    b: &BeaconRepr,
    wall_us: u64,
    scratch: &mut Vec<u8>,
) -> RawMessage {
    let mut seed = [0u8; CHAIN_LEN];
    if getrandom::fill(&mut seed).is_err() {
        // No OS randomness: derive the seed from our signature over the
        // beacon's time and sequence (unpredictable without the key).
        let mut input = wall_us.to_be_bytes().to_vec();
        input.extend_from_slice(&b.seq.to_be_bytes());
        seed.copy_from_slice(&id.sign(&input)[..CHAIN_LEN]);
    }
    let mut body = [0u8; common::wire::BEACON_BODY_LEN];
    BeaconRepr { hops: 0, ..*b }.emit(&mut body);
    finish(
        MessageType::Beacon,
        &body,
        BEACON_AUTH_LEN,
        |t| {
            let mut a = BeaconAuth::new_checked(t).expect("trailer sized above");
            a.set_time_us(wall_us);
            a.anchor_mut().copy_from_slice(&chain::anchor(&seed));
            a.element_mut().copy_from_slice(&seed);
            a.key_mut().copy_from_slice(&id.public().0);
        },
        auth::beacon_signed_bytes,
        id,
        scratch,
    )
}

/// A relay's copy of a verified signed beacon (`raw`: the whole message as
/// received) with the hop count set to `hops` and the chain stepped.
pub fn relay_beacon(raw: &[u8], hops: u8) -> Option<RawMessage> {
    let t = auth::trailer_range(raw.len(), BEACON_AUTH_LEN)?;
    let mut body = raw.get(HEADER_LEN..)?.to_vec();
    let hops_at = auth::beacon_hops_offset() - HEADER_LEN;
    let old_hops = *body.get(hops_at)?;
    let t = t.start - HEADER_LEN..t.end - HEADER_LEN;
    let mut a = BeaconAuth::new_checked(&mut body[t]).filter(|_| hops > old_hops)?;
    let e: chain::Element = a.element().try_into().ok()?;
    a.element_mut()
        .copy_from_slice(&chain::step_n(&e, hops - old_hops));
    body[hops_at] = hops;
    Some(RawMessage {
        msg_type: MessageType::Beacon,
        flags: FLAG_SIGNED,
        body,
    })
}

/// A signed beacon's claimed generation time, unverified: lets a receiver
/// drop an obvious replay before paying for the signature check.
pub fn claimed_time(trailer: &[u8]) -> Option<u64> {
    BeaconAuth::new_checked(trailer).map(|a| a.time_us())
}

/// Checks a signed beacon: trailer present, signer trusted, hop count
/// matching the chain, fresh, signature valid (cheapest checks first).
pub fn verify_beacon(
    raw: &[u8],
    trailer: &[u8],
    hops: u8,
    trusted: impl Fn(&PublicKey) -> bool,
    freshness: Freshness,
    cache: &mut VerifyCache,
    scratch: &mut Vec<u8>,
) -> Result<VerifiedBeacon, Error> {
    let a = BeaconAuth::new_checked(trailer).ok_or(Error::Unprotected)?;
    let key = PublicKey::from_slice(a.key()).ok_or(Error::AuthFailed)?;
    if !trusted(&key) {
        return Err(Error::AuthFailed);
    }
    if !chain::verify(a.anchor(), a.element(), hops) {
        return Err(Error::AuthFailed);
    }
    if !freshness.accepts(a.time_us()) {
        return Err(Error::Replayed);
    }
    auth::beacon_signed_bytes(raw, scratch).ok_or(Error::Malformed)?;
    if !cache.verify(&key, scratch, a.signature()) {
        return Err(Error::AuthFailed);
    }
    Ok(VerifiedBeacon {
        key,
        time_us: a.time_us(),
    })
}

/// An OBU's signed reply.
pub fn sign_reply(
    id: &Identity,
    r: &BeaconReplyRepr,
    wall_us: u64,
    scratch: &mut Vec<u8>,
) -> RawMessage {
    let mut body = vec![0u8; r.body_len()];
    r.emit(&mut body);
    finish(
        MessageType::BeaconReply,
        &body,
        REPLY_AUTH_LEN,
        |t| {
            let mut a = ReplyAuth::new_checked(t).expect("trailer sized above");
            a.set_time_us(wall_us);
            a.key_mut().copy_from_slice(&id.public().0);
        },
        auth::reply_signed_bytes,
        id,
        scratch,
    )
}

/// Checks a signed reply: fresh and signed by the key it names. Returns the
/// key and generation time; whether the key may speak for the OBU is the
/// caller's policy.
pub fn verify_reply(
    raw: &[u8],
    trailer: &[u8],
    freshness: Freshness,
    cache: &mut VerifyCache,
    scratch: &mut Vec<u8>,
) -> Result<(PublicKey, u64), Error> {
    let a = ReplyAuth::new_checked(trailer).ok_or(Error::Unprotected)?;
    let key = PublicKey::from_slice(a.key()).ok_or(Error::AuthFailed)?;
    if !freshness.accepts(a.time_us()) {
        return Err(Error::Replayed);
    }
    auth::reply_signed_bytes(raw, scratch).ok_or(Error::Malformed)?;
    if !cache.verify(&key, scratch, a.signature()) {
        return Err(Error::AuthFailed);
    }
    Ok((key, a.time_us()))
}
