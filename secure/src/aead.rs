//! The data path's AEAD: AES-256-GCM or ChaCha20-Poly1305 (negotiated,
//! see [`crate::suite`]) from `aws-lc-rs` (AWS-LC's assembly), chosen by
//! measurement (`cargo bench -p benches --bench aead` and the 250-daemon
//! lab run; docs/BENCHMARKS.md): sealing a 1400-byte packet in place with
//! AES-256-GCM takes 166 to 608 ns depending on the machine, 2.3 to 5.5x
//! less than RustCrypto's `aes-gcm`, the previous choice. One key per
//! direction, a 96-bit nonce from the session's counter, the tag kept
//! apart so that the message is sealed and opened where it lies.

use crate::suite::Cipher;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, CHACHA20_POLY1305};

/// Bytes of the tag.
pub const TAG_LEN: usize = 16;

/// One direction's key.
pub struct Aead {
    key: LessSafeKey,
}

impl Aead {
    pub fn new(cipher: Cipher, key: &[u8; 32]) -> Aead {
        let alg = match cipher {
            Cipher::Aes256Gcm => &AES_256_GCM,
            Cipher::ChaCha20Poly1305 => &CHACHA20_POLY1305,
        };
        // Both take any 32-byte key.
        let unbound = UnboundKey::new(alg, key).expect("a 32-byte key is valid for both ciphers");
        Aead {
            key: LessSafeKey::new(unbound),
        }
    }

    /// Encrypts `text` in place; returns the tag. `None` only if the
    /// library refuses (a text longer than GCM allows).
    pub fn seal(&self, nonce: [u8; 12], aad: &[u8], text: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), text)
            .ok()?;
        tag.as_ref().try_into().ok()
    }

    /// Decrypts `text` in place if `tag` authenticates it with `aad`;
    /// false (and `text` unspecified) otherwise.
    pub fn open(&self, nonce: [u8; 12], aad: &[u8], text: &mut [u8], tag: &[u8]) -> bool {
        self.key
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                tag,
                text,
            )
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_sealed_opens_and_any_change_is_refused() {
        for c in Cipher::ALL {
            let k = Aead::new(c, &[9; 32]);
            let mut text = b"a data message".to_vec();
            let tag = k.seal([1; 12], b"header", &mut text).unwrap();
            assert_ne!(&text[..], b"a data message");
            let sealed = text.clone();
            assert!(k.open([1; 12], b"header", &mut text, &tag));
            assert_eq!(&text[..], b"a data message");
            for (nonce, aad, flip_text, flip_tag) in [
                ([2; 12], &b"header"[..], false, false),
                ([1; 12], &b"headeR"[..], false, false),
                ([1; 12], &b"header"[..], true, false),
                ([1; 12], &b"header"[..], false, true),
            ] {
                let (mut t, mut g) = (sealed.clone(), tag);
                if flip_text {
                    t[0] ^= 1;
                }
                if flip_tag {
                    g[15] ^= 1;
                }
                assert!(!k.open(nonce, aad, &mut t, &g));
            }
            // Another key does not open it.
            let mut t = sealed.clone();
            assert!(!Aead::new(c, &[8; 32]).open([1; 12], b"header", &mut t, &tag));
            // Nor does the other cipher with the same key.
            let mut t = sealed.clone();
            let other = Cipher::ALL.into_iter().find(|o| *o != c).unwrap();
            assert!(!Aead::new(other, &[9; 32]).open([1; 12], b"header", &mut t, &tag));
        }
    }

    /// The same construction as before (AES-256-GCM, same nonce and AAD),
    /// so the wire does not change: RustCrypto's implementation opens what
    /// this one seals.
    #[test]
    fn the_wire_is_standard_aes_256_gcm() {
        use aes_gcm::aead::{AeadInPlace, KeyInit};
        let k = Aead::new(Cipher::Aes256Gcm, &[5; 32]);
        let mut text = vec![0x42u8; 1400];
        let tag = k.seal([7; 12], b"aad", &mut text).unwrap();
        let other = aes_gcm::Aes256Gcm::new((&[5u8; 32]).into());
        other
            .decrypt_in_place_detached((&[7u8; 12]).into(), b"aad", &mut text, (&tag).into())
            .expect("standard AES-256-GCM");
        assert_eq!(text, vec![0x42u8; 1400]);
        // And ChaCha20-Poly1305 is RFC 8439's, as RustCrypto implements it.
        let k = Aead::new(Cipher::ChaCha20Poly1305, &[5; 32]);
        let tag = k.seal([7; 12], b"aad", &mut text).unwrap();
        chacha20poly1305::ChaCha20Poly1305::new((&[5u8; 32]).into())
            .decrypt_in_place_detached((&[7u8; 12]).into(), b"aad", &mut text, (&tag).into())
            .expect("standard ChaCha20-Poly1305");
        assert_eq!(text, vec![0x42u8; 1400]);
    }
}
