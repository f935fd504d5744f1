//! AES-128-GCM record protection for TLS 1.3 and TLS 1.2.
//!
//! Both directions work in place on the record buffer (`AeadInPlace`
//! detached mode), so a record costs no allocation beyond the one rustls
//! makes for the outgoing payload.

use alloc::boxed::Box;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes128Gcm;
use rustls::crypto::cipher::{
    make_tls12_aad, make_tls13_aad, AeadKey, InboundOpaqueMessage, InboundPlainMessage, Iv,
    KeyBlockShape, MessageDecrypter, MessageEncrypter, Nonce, OutboundOpaqueMessage,
    OutboundPlainMessage, PrefixedPayload, Tls12AeadAlgorithm, Tls13AeadAlgorithm,
    UnsupportedOperationError, NONCE_LEN,
};
use rustls::{ConnectionTrafficSecrets, ContentType, Error, ProtocolVersion};

const KEY_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// TLS 1.2 GCM nonce = 4-byte implicit salt from the key block || 8 bytes
/// sent in front of each record (RFC 5288 section 3).
const TLS12_SALT_LEN: usize = 4;
const TLS12_EXPLICIT_LEN: usize = 8;
/// 2^14, the largest plaintext a record may carry (rustls keeps its own constant private).
const MAX_FRAGMENT_LEN: usize = 16384;

type GcmNonce = aes_gcm::Nonce<aes_gcm::aead::consts::U12>;

/// `None` only if rustls hands us a key of the wrong length, which it doesn't;
/// we still refuse rather than panic.
fn cipher(key: &AeadKey) -> Option<Aes128Gcm> {
    Aes128Gcm::new_from_slice(key.as_ref()).ok()
}

fn gcm_tag(tag: &[u8]) -> Result<aes_gcm::Tag, Error> {
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| Error::DecryptError)?;
    Ok(tag.into())
}

/// Stands in for a cipher that could not be keyed: every record fails.
struct Unusable;

impl MessageEncrypter for Unusable {
    fn encrypt(
        &mut self,
        _: OutboundPlainMessage<'_>,
        _: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        Err(Error::EncryptError)
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len
    }
}

impl MessageDecrypter for Unusable {
    fn decrypt<'a>(
        &mut self,
        _: InboundOpaqueMessage<'a>,
        _: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        Err(Error::DecryptError)
    }
}

// ---- TLS 1.3 ----

pub(super) struct Tls13Aes128Gcm;

impl Tls13AeadAlgorithm for Tls13Aes128Gcm {
    fn encrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageEncrypter> {
        match cipher(&key) {
            Some(cipher) => Box::new(Tls13Cipher { cipher, iv }),
            None => Box::new(Unusable),
        }
    }

    fn decrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageDecrypter> {
        match cipher(&key) {
            Some(cipher) => Box::new(Tls13Cipher { cipher, iv }),
            None => Box::new(Unusable),
        }
    }

    fn key_len(&self) -> usize {
        KEY_LEN
    }

    fn extract_keys(
        &self,
        key: AeadKey,
        iv: Iv,
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Ok(ConnectionTrafficSecrets::Aes128Gcm { key, iv })
    }
}

/// One direction of TLS 1.3 protection: the per-record nonce is the IV xor the
/// sequence number (RFC 8446 section 5.3).
struct Tls13Cipher {
    cipher: Aes128Gcm,
    iv: Iv,
}

impl MessageEncrypter for Tls13Cipher {
    fn encrypt(
        &mut self,
        msg: OutboundPlainMessage<'_>,
        seq: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        let total_len = self.encrypted_payload_len(msg.payload.len());
        let mut payload = PrefixedPayload::with_capacity(total_len);
        // TLSInnerPlaintext: content || real content type (no padding).
        payload.extend_from_chunks(&msg.payload);
        payload.extend_from_slice(&[u8::from(msg.typ)]);

        let nonce = GcmNonce::from(Nonce::new(&self.iv, seq).0);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce, &make_tls13_aad(total_len), payload.as_mut())
            .map_err(|_| Error::EncryptError)?;
        payload.extend_from_slice(&tag);

        Ok(OutboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            payload,
        ))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len + 1 + TAG_LEN
    }
}

impl MessageDecrypter for Tls13Cipher {
    fn decrypt<'a>(
        &mut self,
        mut msg: InboundOpaqueMessage<'a>,
        seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        let payload = &mut msg.payload;
        let Some(text_len) = payload.len().checked_sub(TAG_LEN) else {
            return Err(Error::DecryptError);
        };
        let aad = make_tls13_aad(payload.len());
        let nonce = GcmNonce::from(Nonce::new(&self.iv, seq).0);

        let (text, tag) = payload.split_at_mut(text_len);
        self.cipher
            .decrypt_in_place_detached(&nonce, &aad, text, &gcm_tag(tag)?)
            .map_err(|_| Error::DecryptError)?;

        payload.truncate(text_len);
        // Strips the padding and recovers the real content type.
        msg.into_tls13_unpadded_message()
    }
}

// ---- TLS 1.2 ----

pub(super) struct Tls12Aes128Gcm;

/// The full 12-byte nonce base: salt || initial explicit part; the explicit
/// part is then xor-ed with the sequence number like in TLS 1.3, which keeps
/// nonces unique without needing randomness.
fn tls12_iv(salt: &[u8], explicit: &[u8]) -> Option<Iv> {
    if salt.len() != TLS12_SALT_LEN || explicit.len() != TLS12_EXPLICIT_LEN {
        return None;
    }
    let mut iv = [0u8; NONCE_LEN];
    iv[..TLS12_SALT_LEN].copy_from_slice(salt);
    iv[TLS12_SALT_LEN..].copy_from_slice(explicit);
    Some(Iv::from(iv))
}

impl Tls12AeadAlgorithm for Tls12Aes128Gcm {
    fn encrypter(&self, key: AeadKey, iv: &[u8], extra: &[u8]) -> Box<dyn MessageEncrypter> {
        match (cipher(&key), tls12_iv(iv, extra)) {
            (Some(cipher), Some(iv)) => Box::new(Tls12Encrypter { cipher, iv }),
            _ => Box::new(Unusable),
        }
    }

    fn decrypter(&self, key: AeadKey, iv: &[u8]) -> Box<dyn MessageDecrypter> {
        match (cipher(&key), <[u8; TLS12_SALT_LEN]>::try_from(iv)) {
            (Some(cipher), Ok(salt)) => Box::new(Tls12Decrypter { cipher, salt }),
            _ => Box::new(Unusable),
        }
    }

    fn key_block_shape(&self) -> KeyBlockShape {
        KeyBlockShape {
            enc_key_len: KEY_LEN,
            fixed_iv_len: TLS12_SALT_LEN,
            explicit_nonce_len: TLS12_EXPLICIT_LEN,
        }
    }

    fn extract_keys(
        &self,
        key: AeadKey,
        iv: &[u8],
        explicit: &[u8],
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        let iv = tls12_iv(iv, explicit).ok_or(UnsupportedOperationError)?;
        Ok(ConnectionTrafficSecrets::Aes128Gcm { key, iv })
    }
}

struct Tls12Encrypter {
    cipher: Aes128Gcm,
    iv: Iv,
}

impl MessageEncrypter for Tls12Encrypter {
    fn encrypt(
        &mut self,
        msg: OutboundPlainMessage<'_>,
        seq: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        let total_len = self.encrypted_payload_len(msg.payload.len());
        let mut payload = PrefixedPayload::with_capacity(total_len);
        let nonce = Nonce::new(&self.iv, seq).0;
        payload.extend_from_slice(&nonce[TLS12_SALT_LEN..]);
        payload.extend_from_chunks(&msg.payload);

        let aad = make_tls12_aad(seq, msg.typ, msg.version, msg.payload.len());
        let (_, text) = payload.as_mut().split_at_mut(TLS12_EXPLICIT_LEN);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&GcmNonce::from(nonce), &aad, text)
            .map_err(|_| Error::EncryptError)?;
        payload.extend_from_slice(&tag);

        Ok(OutboundOpaqueMessage::new(msg.typ, msg.version, payload))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len + TLS12_EXPLICIT_LEN + TAG_LEN
    }
}

struct Tls12Decrypter {
    cipher: Aes128Gcm,
    salt: [u8; TLS12_SALT_LEN],
}

impl MessageDecrypter for Tls12Decrypter {
    fn decrypt<'a>(
        &mut self,
        mut msg: InboundOpaqueMessage<'a>,
        seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        let payload = &mut msg.payload;
        let Some(text_len) = payload.len().checked_sub(TLS12_EXPLICIT_LEN + TAG_LEN) else {
            return Err(Error::DecryptError);
        };
        let aad = make_tls12_aad(seq, msg.typ, msg.version, text_len);

        let (explicit, rest) = payload.split_at_mut(TLS12_EXPLICIT_LEN);
        let (text, tag) = rest.split_at_mut(text_len);
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..TLS12_SALT_LEN].copy_from_slice(&self.salt);
        nonce[TLS12_SALT_LEN..].copy_from_slice(explicit);
        self.cipher
            .decrypt_in_place_detached(&GcmNonce::from(nonce), &aad, text, &gcm_tag(tag)?)
            .map_err(|_| Error::DecryptError)?;

        if text_len > MAX_FRAGMENT_LEN {
            return Err(Error::PeerSentOversizedRecord);
        }
        // The plaintext stays where it was decrypted, between nonce and tag.
        Ok(msg.into_plain_message_range(TLS12_EXPLICIT_LEN..TLS12_EXPLICIT_LEN + text_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use rustls::crypto::cipher::OutboundChunks;

    /// An application-data record as received (the version field is fixed in TLS 1.3).
    fn inbound(buf: &mut [u8]) -> InboundOpaqueMessage<'_> {
        InboundOpaqueMessage::new(ContentType::ApplicationData, ProtocolVersion::TLSv1_2, buf)
    }

    /// Outside rustls an `AeadKey` can only be made at its 32-byte maximum,
    /// which is the wrong length for AES-128.
    fn wrong_length_key() -> AeadKey {
        AeadKey::from([0x42u8; 32])
    }

    fn seal(enc: &mut dyn MessageEncrypter, typ: ContentType, data: &[u8], seq: u64) -> Vec<u8> {
        let msg = OutboundPlainMessage {
            typ,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(data),
        };
        let out = enc.encrypt(msg, seq).unwrap();
        let encoded = out.encode();
        encoded[5..].to_vec()
    }

    #[test]
    fn wrong_key_length_gives_unusable_cipher() {
        // No panic: every record just fails.
        let mut enc = Tls13Aes128Gcm.encrypter(wrong_length_key(), Iv::from([1u8; 12]));
        let msg = OutboundPlainMessage {
            typ: ContentType::ApplicationData,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(b"x"),
        };
        assert!(matches!(enc.encrypt(msg, 0), Err(Error::EncryptError)));
        let mut buf = [0u8; 40];
        let mut dec = Tls12Aes128Gcm.decrypter(wrong_length_key(), &[0; 4]);
        let msg = inbound(&mut buf);
        assert!(dec.decrypt(msg, 0).is_err());
    }

    #[test]
    fn short_records_are_rejected() {
        // Lengths below the overhead must be DecryptError, never a slice panic.
        let ks = Tls12Aes128Gcm.key_block_shape();
        assert_eq!(
            (ks.enc_key_len, ks.fixed_iv_len, ks.explicit_nonce_len),
            (16, 4, 8)
        );
        for len in 0..TLS12_EXPLICIT_LEN + TAG_LEN {
            let mut buf = alloc::vec![0u8; len];
            let cipher = Aes128Gcm::new_from_slice(&[1u8; 16]).unwrap();
            let mut dec = Tls12Decrypter {
                cipher,
                salt: [0; 4],
            };
            let msg = inbound(&mut buf);
            assert!(matches!(dec.decrypt(msg, 0), Err(Error::DecryptError)));

            let mut buf = alloc::vec![0u8; len.min(TAG_LEN)];
            let cipher = Aes128Gcm::new_from_slice(&[1u8; 16]).unwrap();
            let mut dec = Tls13Cipher {
                cipher,
                iv: Iv::from([0u8; 12]),
            };
            let msg = inbound(&mut buf);
            assert!(dec.decrypt(msg, 0).is_err());
        }
    }

    #[test]
    fn tls12_round_trip_and_tamper() {
        let cipher = || Aes128Gcm::new_from_slice(&[7u8; 16]).unwrap();
        let iv = tls12_iv(&[1, 2, 3, 4], &[5; 8]).unwrap();
        let mut enc = Tls12Encrypter {
            cipher: cipher(),
            iv,
        };
        let mut dec = Tls12Decrypter {
            cipher: cipher(),
            salt: [1, 2, 3, 4],
        };
        let mut record = seal(&mut enc, ContentType::ApplicationData, b"hello", 9);
        assert_eq!(record.len(), 5 + 8 + 16);

        let mut copy = record.clone();
        let msg = inbound(&mut copy);
        assert_eq!(dec.decrypt(msg, 9).unwrap().payload, b"hello");

        // Wrong sequence number (AAD) and a flipped bit both fail.
        let mut copy = record.clone();
        let msg = inbound(&mut copy);
        assert!(matches!(dec.decrypt(msg, 10), Err(Error::DecryptError)));
        record[10] ^= 1;
        let msg = inbound(&mut record);
        assert!(matches!(dec.decrypt(msg, 9), Err(Error::DecryptError)));
    }

    #[test]
    fn tls13_round_trip_and_tamper() {
        let cipher = || Aes128Gcm::new_from_slice(&[9u8; 16]).unwrap();
        let iv = [3u8; 12];
        let mut enc = Tls13Cipher {
            cipher: cipher(),
            iv: Iv::from(iv),
        };
        let mut dec = Tls13Cipher {
            cipher: cipher(),
            iv: Iv::from(iv),
        };
        let mut record = seal(&mut enc, ContentType::Handshake, b"finished", 3);
        assert_eq!(record.len(), 8 + 1 + 16);

        let mut copy = record.clone();
        let msg = inbound(&mut copy);
        let plain = dec.decrypt(msg, 3).unwrap();
        assert_eq!(plain.typ, ContentType::Handshake);
        assert_eq!(plain.payload, b"finished");

        record[0] ^= 0x80;
        let msg = inbound(&mut record);
        assert!(matches!(dec.decrypt(msg, 3), Err(Error::DecryptError)));
    }
}
