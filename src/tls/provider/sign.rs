//! Client-authentication keys: RSA (PKCS#1 as AWS IoT issues them, or PKCS#8)
//! and P-256 (SEC1 or PKCS#8).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use p256::pkcs8::DecodePrivateKey as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
use rustls::crypto::KeyProvider;
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::{Signer, SigningKey};
use rustls::{Error, SignatureAlgorithm, SignatureScheme};
use sha2::{Digest, Sha256};

use super::random::EntropyRng;
use super::Entropy;

/// Same range as for verification; the lower bound is also what AWS IoT requires.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

#[derive(Debug, Default)]
pub(super) struct Keys<E>(PhantomData<E>);

impl<E: Entropy> KeyProvider for Keys<E> {
    fn load_private_key(
        &self,
        mut key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, Error> {
        let loaded = load::<E>(&key_der);
        // The DER copy goes back to the heap: wipe it (the parsed keys wipe themselves).
        zeroize::Zeroize::zeroize(&mut key_der);
        loaded
    }
}

/// A signing key from the private key's DER, of a kind we can use.
fn load<E: Entropy>(key_der: &PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, Error> {
    match key_der {
        PrivateKeyDer::Pkcs1(der) => {
            match RsaPrivateKey::from_pkcs1_der(der.secret_pkcs1_der()) {
                Ok(key) => rsa_key::<E>(key),
                Err(_) => Err(Error::General("invalid RSA private key (PKCS#1)".into())),
            }
        }
        PrivateKeyDer::Sec1(der) => match p256::SecretKey::from_sec1_der(der.secret_sec1_der())
        {
            Ok(key) => Ok(ec_key(&key)),
            Err(_) => Err(Error::General(
                "invalid or unsupported EC private key (SEC1; only P-256 is supported)".into(),
            )),
        },
        PrivateKeyDer::Pkcs8(der) => {
            // Each decoder checks the algorithm OID (and the curve), so at
            // most one of them accepts the key.
            let der = der.secret_pkcs8_der();
            if let Ok(key) = p256::SecretKey::from_pkcs8_der(der) {
                Ok(ec_key(&key))
            } else if let Ok(key) = RsaPrivateKey::from_pkcs8_der(der) {
                rsa_key::<E>(key)
            } else {
                Err(Error::General(
                    "invalid or unsupported PKCS#8 private key (only RSA and ECDSA P-256 are supported)".into(),
                ))
            }
        }
        _ => Err(Error::General("unsupported private key format".into())),
    }
}

fn rsa_key<E: Entropy>(key: RsaPrivateKey) -> Result<Arc<dyn SigningKey>, Error> {
    let bits = key.n().bits();
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(Error::General(
            "unsupported RSA private key size (2048 to 8192 bits supported)".into(),
        ));
    }
    Ok(Arc::new(RsaKey::<E> {
        key: Arc::new(key),
        _entropy: PhantomData,
    }))
}

fn ec_key(key: &p256::SecretKey) -> Arc<dyn SigningKey> {
    Arc::new(EcKey(Arc::new(p256::ecdsa::SigningKey::from(key))))
}

// ---- RSA ----

struct RsaKey<E> {
    key: Arc<RsaPrivateKey>,
    _entropy: PhantomData<E>,
}

/// Never prints key material (the rsa crate's own `Debug` prints it all).
impl<E> fmt::Debug for RsaKey<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKey")
            .field("bits", &self.key.n().bits())
            .finish()
    }
}

impl<E: Entropy> SigningKey for RsaKey<E> {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        // PSS first: TLS 1.3 allows nothing else for RSA, and it's the better padding.
        [
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA256,
        ]
        .into_iter()
        .find(|scheme| offered.contains(scheme))
        .map(|scheme| {
            Box::new(RsaSigner::<E> {
                key: self.key.clone(),
                scheme,
                _entropy: PhantomData,
            }) as Box<dyn Signer>
        })
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }
}

struct RsaSigner<E> {
    key: Arc<RsaPrivateKey>,
    scheme: SignatureScheme,
    _entropy: PhantomData<E>,
}

impl<E> fmt::Debug for RsaSigner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaSigner")
            .field("scheme", &self.scheme)
            .finish()
    }
}

impl<E: Entropy> Signer for RsaSigner<E> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let hashed = Sha256::digest(message);
        let mut rng = EntropyRng::<E>::new();
        // Blinding (both paddings) hides the private exponent from timing; the
        // PSS salt comes from the same RNG. `new_blinded` is what turns
        // blinding on for PSS.
        let signature = if self.scheme == SignatureScheme::RSA_PSS_SHA256 {
            self.key
                .sign_with_rng(&mut rng, Pss::new_blinded::<Sha256>(), &hashed)
        } else {
            self.key
                .sign_with_rng(&mut rng, Pkcs1v15Sign::new::<Sha256>(), &hashed)
        };
        if rng.failed() {
            // Whatever was computed used filler bytes: discard it.
            return Err(Error::FailedToGetRandomBytes);
        }
        signature.map_err(|_| Error::General("RSA signing failed".into()))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

// ---- ECDSA P-256 ----

struct EcKey(Arc<p256::ecdsa::SigningKey>);

impl fmt::Debug for EcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EcKey(P-256)")
    }
}

impl SigningKey for EcKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
            .then(|| Box::new(EcSigner(self.0.clone())) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

struct EcSigner(Arc<p256::ecdsa::SigningKey>);

impl fmt::Debug for EcSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EcSigner(ECDSA_NISTP256_SHA256)")
    }
}

impl Signer for EcSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        // Deterministic nonces (RFC 6979): no entropy needed, none to fail.
        let signature: p256::ecdsa::Signature =
            p256::ecdsa::signature::Signer::try_sign(&*self.0, message)
                .map_err(|_| Error::General("ECDSA signing failed".into()))?;
        // TLS carries ECDSA signatures DER-encoded.
        Ok(signature.to_der().as_bytes().to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}
