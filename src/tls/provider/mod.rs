//! A rustls [`CryptoProvider`] built from RustCrypto primitives, holding only
//! what AWS IoT needs so it fits a 1 MB-flash MCU:
//!
//! - cipher suites: TLS13_AES_128_GCM_SHA256, and for TLS 1.2
//!   TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 and TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256;
//! - key exchange: secp256r1;
//! - signature verification: ECDSA P-256/SHA-256, RSA PKCS#1 v1.5/SHA-256 and
//!   RSA-PSS/SHA-256 (RSA keys of 2048 to 8192 bits);
//! - client keys: RSA (PKCS#1 or PKCS#8) and P-256 (SEC1 or PKCS#8).
//!
//! Randomness comes from an [`Entropy`] implementation chosen by the caller.

use alloc::boxed::Box;
use alloc::vec;

use rustls::crypto::tls12::PrfUsingHmac;
use rustls::crypto::tls13::HkdfUsingHmac;
use rustls::crypto::{CipherSuiteCommon, CryptoProvider, KeyExchangeAlgorithm};
use rustls::{
    CipherSuite, SignatureScheme, SupportedCipherSuite, Tls12CipherSuite, Tls13CipherSuite,
};

mod aead;
mod hash;
mod hmac;
mod kx;
mod random;
mod sign;
mod verify;

/// Where randomness comes from (the product implements it over a C hook; tests over the OS).
pub trait Entropy: Send + Sync + core::fmt::Debug + Default + 'static {
    /// Fills `dest` completely; false when no randomness is available.
    fn fill(dest: &mut [u8]) -> bool;
}

/// The provider: only what AWS IoT needs.
pub fn provider<E: Entropy>() -> CryptoProvider {
    CryptoProvider {
        // Preference order: TLS 1.3 first; ECDSA before RSA as it's cheaper.
        cipher_suites: vec![
            TLS13_AES_128_GCM_SHA256,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        kx_groups: vec![leak::<kx::P256<E>>()],
        signature_verification_algorithms: verify::ALGORITHMS,
        secure_random: leak::<random::Random<E>>(),
        key_provider: leak::<sign::Keys<E>>(),
    }
}

/// A `&'static` to a fresh zero-sized value. Generic types can't have statics,
/// but leaking a ZST is free: `Box` does not allocate for it.
fn leak<T: Default + 'static>() -> &'static T {
    const {
        assert!(
            core::mem::size_of::<T>() == 0,
            "only zero-sized values may be leaked"
        )
    };
    Box::leak(Box::new(T::default()))
}

static TLS13_AES_128_GCM_SHA256: SupportedCipherSuite =
    SupportedCipherSuite::Tls13(&Tls13CipherSuite {
        common: CipherSuiteCommon {
            suite: CipherSuite::TLS13_AES_128_GCM_SHA256,
            hash_provider: &hash::SHA256,
            // AES-GCM's limit for full-size records (see `CipherSuiteCommon`).
            confidentiality_limit: 1 << 24,
        },
        hkdf_provider: &HkdfUsingHmac(&hmac::HMAC_SHA256),
        aead_alg: &aead::Tls13Aes128Gcm,
        quic: None,
    });

static TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: SupportedCipherSuite =
    SupportedCipherSuite::Tls12(&Tls12CipherSuite {
        common: CipherSuiteCommon {
            suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            hash_provider: &hash::SHA256,
            confidentiality_limit: 1 << 24,
        },
        kx: KeyExchangeAlgorithm::ECDHE,
        sign: &[SignatureScheme::ECDSA_NISTP256_SHA256],
        aead_alg: &aead::Tls12Aes128Gcm,
        prf_provider: &PrfUsingHmac(&hmac::HMAC_SHA256),
    });

static TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: SupportedCipherSuite =
    SupportedCipherSuite::Tls12(&Tls12CipherSuite {
        common: CipherSuiteCommon {
            suite: CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            hash_provider: &hash::SHA256,
            confidentiality_limit: 1 << 24,
        },
        kx: KeyExchangeAlgorithm::ECDHE,
        sign: &[
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA256,
        ],
        aead_alg: &aead::Tls12Aes128Gcm,
        prf_provider: &PrfUsingHmac(&hmac::HMAC_SHA256),
    });
