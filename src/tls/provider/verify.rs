//! Signature verification for certificate chains and handshake signatures:
//! ECDSA P-256/SHA-256, RSA PKCS#1 v1.5/SHA-256 and RSA-PSS/SHA-256; with
//! feature `sha384` also ECDSA P-384/SHA-384 (Amazon Root CA 4) and RSA
//! PKCS#1 v1.5/SHA-384 (Amazon Root CA 2 signs with it).
//!
//! webpki hands `verify_signature` the contents of the certificate's
//! subjectPublicKey BIT STRING (a SEC1 point for EC, a PKCS#1 RSAPublicKey
//! for RSA), the signed bytes unhashed, and the signature (ASN.1 DER
//! `Ecdsa-Sig-Value` for ECDSA, the raw big-endian integer for RSA).

use rsa::pkcs1::der::Decode;
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm,
};
use rustls::SignatureScheme;
use sha2::Sha256;
#[cfg(feature = "sha384")]
use sha2::Sha384;

/// RSA moduli we accept, in bits: smaller is too weak, larger only costs time.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

static ECDSA_P256_SHA256: &dyn SignatureVerificationAlgorithm = &EcdsaP256Sha256;
static RSA_PKCS1_SHA256: &dyn SignatureVerificationAlgorithm = &RsaPkcs1::<Sha256>(alg_id::RSA_PKCS1_SHA256, core::marker::PhantomData);
static RSA_PSS_SHA256: &dyn SignatureVerificationAlgorithm = &RsaPssSha256;
#[cfg(feature = "sha384")]
static ECDSA_P384_SHA384: &dyn SignatureVerificationAlgorithm = &EcdsaP384Sha384;
#[cfg(feature = "sha384")]
static RSA_PKCS1_SHA384: &dyn SignatureVerificationAlgorithm = &RsaPkcs1::<Sha384>(alg_id::RSA_PKCS1_SHA384, core::marker::PhantomData);

#[cfg(not(feature = "sha384"))]
pub(super) static ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[ECDSA_P256_SHA256, RSA_PKCS1_SHA256, RSA_PSS_SHA256],
    // Order is our preference as advertised to the peer.
    mapping: &[
        (SignatureScheme::ECDSA_NISTP256_SHA256, &[ECDSA_P256_SHA256]),
        (SignatureScheme::RSA_PSS_SHA256, &[RSA_PSS_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[RSA_PKCS1_SHA256]),
    ],
};

#[cfg(feature = "sha384")]
pub(super) static ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[ECDSA_P256_SHA256, ECDSA_P384_SHA384, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PSS_SHA256],
    mapping: &[
        (SignatureScheme::ECDSA_NISTP256_SHA256, &[ECDSA_P256_SHA256]),
        (SignatureScheme::ECDSA_NISTP384_SHA384, &[ECDSA_P384_SHA384]),
        (SignatureScheme::RSA_PSS_SHA256, &[RSA_PSS_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[RSA_PKCS1_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[RSA_PKCS1_SHA384]),
    ],
};

#[derive(Debug)]
struct EcdsaP256Sha256;

impl SignatureVerificationAlgorithm for EcdsaP256Sha256 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        // Certificates carry uncompressed points; like webpki, accept nothing else.
        if public_key.first() != Some(&0x04) {
            return Err(InvalidSignature);
        }
        let key =
            p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature =
            p256::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P256
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA256
    }
}

#[cfg(feature = "sha384")]
#[derive(Debug)]
struct EcdsaP384Sha384;

#[cfg(feature = "sha384")]
impl SignatureVerificationAlgorithm for EcdsaP384Sha384 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        if public_key.first() != Some(&0x04) {
            return Err(InvalidSignature);
        }
        let key =
            p384::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature =
            p384::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P384
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA384
    }
}

/// Parses a PKCS#1 RSAPublicKey and enforces our size range. Done by hand
/// because the rsa crate's own decoder caps keys at 4096 bits.
fn rsa_public_key(der: &[u8]) -> Result<RsaPublicKey, InvalidSignature> {
    let parsed = rsa::pkcs1::RsaPublicKey::from_der(der).map_err(|_| InvalidSignature)?;
    let n = BigUint::from_bytes_be(parsed.modulus.as_bytes());
    let e = BigUint::from_bytes_be(parsed.public_exponent.as_bytes());
    let key = RsaPublicKey::new_with_max_size(n, e, RSA_MAX_BITS).map_err(|_| InvalidSignature)?;
    if key.n().bits() < RSA_MIN_BITS {
        return Err(InvalidSignature);
    }
    Ok(key)
}

/// RSA PKCS#1 v1.5 with digest `D`, whose signature algorithm id is the `.0`.
struct RsaPkcs1<D>(AlgorithmIdentifier, core::marker::PhantomData<fn() -> D>);

impl<D> core::fmt::Debug for RsaPkcs1<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RsaPkcs1")
    }
}

impl<D> SignatureVerificationAlgorithm for RsaPkcs1<D>
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid + Send + Sync,
{
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key = rsa::pkcs1v15::VerifyingKey::<D>::new(rsa_public_key(public_key)?);
        let signature =
            rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.0
    }
}

/// RSA-PSS with an rsaEncryption key ("rsae"), MGF1-SHA-256 and a 32-byte salt,
/// the only PSS shape TLS 1.3 and webpki use.
#[derive(Debug)]
struct RsaPssSha256;

impl SignatureVerificationAlgorithm for RsaPssSha256 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        // `new` fixes the salt length to the digest length, which is then enforced.
        let key = rsa::pss::VerifyingKey::<Sha256>::new(rsa_public_key(public_key)?);
        let signature = rsa::pss::Signature::try_from(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_PSS_SHA256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        let inputs: [&[u8]; 5] = [
            &[],
            &[0x04],
            &[0x30, 0x00],
            &[0x30, 0x82, 0xff, 0xff],
            &[0xff; 300],
        ];
        for alg in ALGORITHMS.all {
            for key in inputs {
                for sig in inputs {
                    assert!(alg.verify_signature(key, b"msg", sig).is_err());
                }
            }
        }
    }

    #[test]
    fn mapping_covers_exactly_our_schemes() {
        let schemes = ALGORITHMS.supported_schemes();
        let mut want = vec![SignatureScheme::ECDSA_NISTP256_SHA256];
        if cfg!(feature = "sha384") {
            want.push(SignatureScheme::ECDSA_NISTP384_SHA384);
        }
        want.extend([SignatureScheme::RSA_PSS_SHA256, SignatureScheme::RSA_PKCS1_SHA256]);
        if cfg!(feature = "sha384") {
            want.push(SignatureScheme::RSA_PKCS1_SHA384);
        }
        assert_eq!(schemes, want);
        for (_, algs) in ALGORITHMS.mapping {
            assert_eq!(algs.len(), 1);
        }
    }
}
