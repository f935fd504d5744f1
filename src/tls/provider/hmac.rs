//! HMAC-SHA256: rustls builds HKDF (TLS 1.3) and the PRF (TLS 1.2) on top of it.

use alloc::boxed::Box;

use hmac::digest::KeyInit;
use hmac::Mac;
use rustls::crypto::hmac::{Hmac, Key, Tag};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// SHA-256's block size, which is also HMAC's key block size.
const BLOCK_LEN: usize = 64;

pub(super) struct HmacSha256Alg;

pub(super) static HMAC_SHA256: HmacSha256Alg = HmacSha256Alg;

impl Hmac for HmacSha256Alg {
    fn with_key(&self, key: &[u8]) -> Box<dyn Key> {
        Box::new(HmacSha256Key(keyed(key)))
    }

    fn hash_output_len(&self) -> usize {
        32
    }
}

/// Keys the MAC through the infallible block-sized constructor, so there is no
/// error path to handle: RFC 2104 hashes keys longer than a block and
/// zero-pads shorter ones, which is exactly what we feed it.
fn keyed(key: &[u8]) -> HmacSha256 {
    let mut block = hmac::digest::Key::<HmacSha256>::default();
    if key.len() > BLOCK_LEN {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as KeyInit>::new(&block)
}

/// A keyed MAC; each tag starts from a copy of the keyed state.
struct HmacSha256Key(HmacSha256);

impl Key for HmacSha256Key {
    fn sign_concat(&self, first: &[u8], middle: &[&[u8]], last: &[u8]) -> Tag {
        let mut mac = self.0.clone();
        mac.update(first);
        for part in middle {
            mac.update(part);
        }
        mac.update(last);
        Tag::new(&mac.finalize().into_bytes())
    }

    fn tag_len(&self) -> usize {
        32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> alloc::vec::Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc4231_case2_short_key() {
        let key = HMAC_SHA256.with_key(b"Jefe");
        let tag = key.sign(&[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            tag.as_ref(),
            unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843").as_slice()
        );
        assert_eq!(key.tag_len(), 32);
    }

    #[test]
    fn rfc4231_case6_key_longer_than_block() {
        let key = HMAC_SHA256.with_key(&[0xaa; 131]);
        let tag = key.sign_concat(
            b"Test Using Larger Than Block-Size Key",
            &[b" - Hash"],
            b" Key First",
        );
        assert_eq!(
            tag.as_ref(),
            unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54").as_slice()
        );
    }

    #[test]
    fn block_sized_key_is_used_verbatim() {
        // A 64-byte key must not be hashed (RFC 2104 only hashes longer keys).
        let key = [0x0bu8; BLOCK_LEN];
        let ours = HMAC_SHA256.with_key(&key).sign(&[b"m"]);
        let mut reference = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
        reference.update(b"m");
        assert_eq!(ours.as_ref(), &reference.finalize().into_bytes()[..]);
    }
}
