//! A device key the library never reads: a PKCS#11 token (a secure element,
//! the project's PKCS#11 storage) or the project's signing hook signs for it,
//! as AFR's `aws_tls.c` had its PKCS#11 module sign. The library hashes the
//! handshake transcript (SHA-256) and hands over only the digest.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Debug;

use rustls::sign::{Signer, SigningKey};
use rustls::{Error, SignatureAlgorithm, SignatureScheme};
use sha2::{Digest, Sha256};

/// The kinds of key a device may hold outside the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA (2048 bits or more): RSA-PSS for TLS 1.3, PKCS#1 v1.5 for TLS 1.2.
    Rsa,
    /// ECDSA on P-256.
    EcP256,
}

/// What signs with the device key.
pub trait ExternalKey: Debug + Send + Sync {
    fn kind(&self) -> KeyKind;
    /// The signature of a SHA-256 `digest` for `scheme` (one of
    /// [`KeyKind`]'s), in TLS's form: ASN.1 DER for ECDSA, the raw integer for
    /// RSA. `None` when the token or hook failed.
    fn sign_digest(&self, scheme: SignatureScheme, digest: &[u8; 32]) -> Option<Vec<u8>>;
}

/// The schemes we offer for a key kind, in preference order.
fn schemes(kind: KeyKind) -> &'static [SignatureScheme] {
    match kind {
        KeyKind::EcP256 => &[SignatureScheme::ECDSA_NISTP256_SHA256],
        KeyKind::Rsa => &[SignatureScheme::RSA_PSS_SHA256, SignatureScheme::RSA_PKCS1_SHA256],
    }
}

/// rustls's view of an [`ExternalKey`].
#[derive(Debug)]
pub struct ExternalSigningKey(pub Arc<dyn ExternalKey>);

impl SigningKey for ExternalSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = schemes(self.0.kind()).iter().copied().find(|s| offered.contains(s))?;
        Some(Box::new(ExternalSigner { key: self.0.clone(), scheme }))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.0.kind() {
            KeyKind::Rsa => SignatureAlgorithm::RSA,
            KeyKind::EcP256 => SignatureAlgorithm::ECDSA,
        }
    }
}

#[derive(Debug)]
struct ExternalSigner {
    key: Arc<dyn ExternalKey>,
    scheme: SignatureScheme,
}

impl Signer for ExternalSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let digest: [u8; 32] = Sha256::digest(message).into();
        self.key
            .sign_digest(self.scheme, &digest)
            .ok_or_else(|| Error::General("the device key (PKCS#11 or signing hook) did not sign".into()))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// The DER `Ecdsa-Sig-Value` of a raw `r || s` signature (PKCS#11's CKM_ECDSA form).
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let int = |x: &[u8]| -> Vec<u8> {
        let mut v: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        if v.first().map_or(true, |b| b & 0x80 != 0) {
            v.insert(0, 0); // Positive, and at least one byte.
        }
        let mut out = Vec::with_capacity(v.len() + 2);
        out.push(0x02);
        out.push(v.len() as u8);
        out.extend_from_slice(&v);
        out
    };
    let (r, s) = (int(&raw[..32]), int(&raw[32..]));
    let mut der = Vec::with_capacity(r.len() + s.len() + 2);
    der.push(0x30);
    der.push((r.len() + s.len()) as u8);
    der.extend_from_slice(&r);
    der.extend_from_slice(&s);
    Some(der)
}

/// PKCS#1 v1.5's DigestInfo prefix for SHA-256 (what CKM_RSA_PKCS signs before the digest).
pub const SHA256_DIGEST_INFO: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

/// The key kind a certificate's public key names (rsaEncryption or
/// id-ecPublicKey on P-256), for a signing hook that does not say.
pub fn kind_of_certificate(cert_der: &[u8]) -> Option<KeyKind> {
    const RSA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const EC_P256: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let has = |needle: &[u8]| cert_der.windows(needle.len()).any(|w| w == needle);
    match (has(RSA), has(EC_P256)) {
        (true, false) => Some(KeyKind::Rsa),
        (false, true) => Some(KeyKind::EcP256),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ecdsa_signatures_become_der() {
        let mut raw = [0u8; 64];
        raw[31] = 1; // r = 1
        raw[32] = 0x80; // s with the high bit set: a leading zero byte
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x26, 0x02, 0x01, 0x01]);
        assert_eq!(&der[5..8], &[0x02, 0x21, 0x00]);
        assert_eq!(der.len(), 2 + 3 + 35);
        assert!(ecdsa_raw_to_der(&raw[..63]).is_none());
        let zero = ecdsa_raw_to_der(&[0u8; 64]).unwrap();
        assert_eq!(zero, [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]);
    }

    #[test]
    fn schemes_follow_the_key() {
        assert_eq!(schemes(KeyKind::EcP256), &[SignatureScheme::ECDSA_NISTP256_SHA256]);
        assert_eq!(schemes(KeyKind::Rsa)[0], SignatureScheme::RSA_PSS_SHA256);
    }
}
