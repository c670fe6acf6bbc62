//! Transport sessions: AEAD keys from a finished handshake, nonce counters,
//! replay windows; sealing and opening data messages in place.
//!
//! A sealed data message is `header | origin | dest | index | counter |
//! ciphertext | tag` (see `common::wire::data`). The associated data is the
//! header without its TTL (relays decrement it) and the body up to the
//! ciphertext, so a relay can neither re-address nor re-type a message.

use crate::aead::Aead;
use crate::replay::{ReplayWindow, Seen};
use crate::suite::Cipher;
use common::wire::{Sealed, DATA_OVERHEAD, HEADER_LEN, SEALED_PREFIX_LEN, TAG_LEN};
use common::Time;
use std::ops::Range;

/// Bytes of associated data: header without TTL (5) + origin, destination,
/// index, counter (24).
const AAD_LEN: usize = HEADER_LEN - 1 + DATA_OVERHEAD - HEADER_LEN + SEALED_PREFIX_LEN;

/// Why a sealed message was not opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Too short or not a sealed data message.
    Malformed,
    /// Counter already accepted, inside the window: a copy (a sender
    /// repeating on a weak link, or a replay too recent to tell).
    Copy,
    /// Counter behind the window.
    Replayed,
    /// Tag did not verify.
    Forged,
    /// Session past its limits.
    Expired,
}

/// What a finished handshake yields: one key per direction and what they
/// are for.
pub struct SessionKeys {
    pub cipher: Cipher,
    pub post_quantum: bool,
    pub send: [u8; 32],
    pub recv: [u8; 32],
}

impl Drop for SessionKeys {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.send.zeroize();
        self.recv.zeroize();
    }
}

pub struct Session {
    /// Index the peer puts in messages to us.
    pub local_index: u32,
    /// Index we put in messages to the peer.
    pub remote_index: u32,
    send: Aead,
    recv: Aead,
    send_counter: u64,
    replay: ReplayWindow,
    pub created: Time,
    /// The AEAD agreed in the handshake.
    pub cipher: Cipher,
    /// Whether the keys came from the hybrid post-quantum exchange.
    pub post_quantum: bool,
}

impl Session {
    pub fn new(local_index: u32, remote_index: u32, keys: &SessionKeys, now: Time) -> Session {
        Session {
            local_index,
            remote_index,
            send: Aead::new(keys.cipher, &keys.send),
            recv: Aead::new(keys.cipher, &keys.recv),
            send_counter: 0,
            replay: ReplayWindow::default(),
            created: now,
            cipher: keys.cipher,
            post_quantum: keys.post_quantum,
        }
    }

    pub fn sent(&self) -> u64 {
        self.send_counter
    }

    /// Seals a whole data message in place (see [`common::action::Sealer`]).
    /// False when the counter is exhausted (`limit`) or `msg` is too short.
    pub fn seal(&mut self, msg: &mut [u8], limit: u64) -> bool {
        if msg.len() < DATA_OVERHEAD + SEALED_PREFIX_LEN + TAG_LEN || self.send_counter >= limit {
            return false;
        }
        let counter = self.send_counter;
        self.send_counter += 1;
        let (head, body) = msg.split_at_mut(DATA_OVERHEAD);
        let Ok(mut sealed) = Sealed::new_checked(&mut *body) else {
            return false;
        };
        sealed.set_index(self.remote_index);
        sealed.set_counter(counter);
        let (text, tag) = (sealed.text_range(), sealed.tag_range());
        let aad = aad(head, body);
        let (text_buf, tag_buf) = body.split_at_mut(tag.start);
        match self.send.seal(nonce(counter), &aad, &mut text_buf[text]) {
            Some(t) => {
                tag_buf[..TAG_LEN].copy_from_slice(&t);
                true
            }
            None => false,
        }
    }

    /// Opens a whole sealed data message in place. Returns where the
    /// plaintext lies inside `msg`.
    pub fn open(&mut self, msg: &mut [u8], limit: u64) -> Result<Range<usize>, OpenError> {
        if msg.len() < DATA_OVERHEAD {
            return Err(OpenError::Malformed);
        }
        let (head, body) = msg.split_at_mut(DATA_OVERHEAD);
        let sealed = Sealed::new_checked(&*body).map_err(|_| OpenError::Malformed)?;
        let counter = sealed.counter();
        if counter >= limit {
            return Err(OpenError::Expired);
        }
        match self.replay.seen(counter) {
            Seen::New => {}
            Seen::Copy => return Err(OpenError::Copy),
            Seen::TooOld => return Err(OpenError::Replayed),
        }
        let (text, tag) = (sealed.text_range(), sealed.tag_range());
        let aad = aad(head, body);
        let (text_buf, tag_buf) = body.split_at_mut(tag.start);
        let tag_bytes = tag_buf.get(..TAG_LEN).ok_or(OpenError::Malformed)?;
        if !self
            .recv
            .open(nonce(counter), &aad, &mut text_buf[text.clone()], tag_bytes)
        {
            return Err(OpenError::Forged);
        }
        self.replay.update(counter);
        Ok(DATA_OVERHEAD + text.start..DATA_OVERHEAD + text.end)
    }
}

fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

fn aad(head: &[u8], body: &[u8]) -> [u8; AAD_LEN] {
    let mut a = [0u8; AAD_LEN];
    a[..3].copy_from_slice(&head[..3]);
    a[3..5].copy_from_slice(&head[4..6]);
    let fixed = DATA_OVERHEAD - HEADER_LEN;
    a[5..5 + fixed].copy_from_slice(&head[HEADER_LEN..DATA_OVERHEAD]);
    a[5 + fixed..].copy_from_slice(&body[..SEALED_PREFIX_LEN]);
    a
}
