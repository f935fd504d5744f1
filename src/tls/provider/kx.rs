//! Ephemeral ECDH over secp256r1, the one group we offer (every TLS server
//! AWS IoT runs supports it).

use alloc::boxed::Box;
use core::marker::PhantomData;

use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{FieldBytes, PublicKey, SecretKey};
use rustls::crypto::{ActiveKeyExchange, GetRandomFailed, SharedSecret, SupportedKxGroup};
use rustls::ffdhe_groups::FfdheGroup;
use rustls::{Error, NamedGroup, PeerMisbehaved};

use super::Entropy;

/// Uncompressed SEC1 point: 0x04 || X || Y, the only form TLS 1.3 allows
/// (RFC 8446 section 4.2.8.2) and what every TLS 1.2 peer sends.
const POINT_LEN: usize = 65;

#[derive(Debug, Default)]
pub(super) struct P256<E>(PhantomData<E>);

impl<E: Entropy> SupportedKxGroup for P256<E> {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let secret = random_secret::<E>()?;
        let point = secret.public_key().to_encoded_point(false);
        let pub_key = point
            .as_bytes()
            .try_into()
            .map_err(|_| Error::General("P-256: unexpected public key encoding".into()))?;
        Ok(Box::new(P256Exchange { secret, pub_key }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::secp256r1
    }

    // The default looks the name up in rustls' FFDHE tables, pulling them into
    // the image; we know the answer.
    fn ffdhe_group(&self) -> Option<FfdheGroup<'static>> {
        None
    }
}

/// Draws the private scalar straight from `E` (not through an infallible
/// `rand_core` RNG) so a failing entropy source is an error, not a panic.
fn random_secret<E: Entropy>() -> Result<SecretKey, Error> {
    let mut bytes = FieldBytes::default();
    // Rejection sampling: a draw is zero or >= n with probability < 2^-32,
    // so a few tries only fail when the "entropy" is broken.
    for _ in 0..4 {
        if !E::fill(&mut bytes) {
            return Err(GetRandomFailed.into());
        }
        if let Ok(secret) = SecretKey::from_bytes(&bytes) {
            bytes.fill(0);
            return Ok(secret);
        }
    }
    Err(GetRandomFailed.into())
}

struct P256Exchange {
    secret: SecretKey,
    pub_key: [u8; POINT_LEN],
}

impl ActiveKeyExchange for P256Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        if peer_pub_key.len() != POINT_LEN || peer_pub_key[0] != 0x04 {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        // Checks the point is on the curve and not the identity.
        let peer = PublicKey::from_sec1_bytes(peer_pub_key)
            .map_err(|_| Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
        Ok(SharedSecret::from(&shared.raw_secret_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.pub_key
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::secp256r1
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[derive(Debug, Default)]
    struct Counter;
    impl Entropy for Counter {
        // Distinct, valid scalars per call; enough for an agreement test.
        fn fill(dest: &mut [u8]) -> bool {
            use core::sync::atomic::{AtomicU8, Ordering};
            static NEXT: AtomicU8 = AtomicU8::new(1);
            dest.fill(0);
            if let Some(last) = dest.last_mut() {
                *last = NEXT.fetch_add(1, Ordering::Relaxed) | 1;
            }
            dest[0] = 0x11;
            true
        }
    }

    #[derive(Debug, Default)]
    struct Never;
    impl Entropy for Never {
        fn fill(_: &mut [u8]) -> bool {
            false
        }
    }

    #[derive(Debug, Default)]
    struct AllOnes;
    impl Entropy for AllOnes {
        // 0xff..ff is above the group order: always rejected.
        fn fill(dest: &mut [u8]) -> bool {
            dest.fill(0xff);
            true
        }
    }

    #[test]
    fn both_sides_agree() {
        let group = P256::<Counter>::default();
        let a = group.start().unwrap();
        let b = group.start().unwrap();
        assert_eq!(a.pub_key().len(), POINT_LEN);
        assert_eq!(a.group(), NamedGroup::secp256r1);
        let a_pub = a.pub_key().to_vec();
        let s1 = a.complete(b.pub_key()).unwrap();
        let s2 = b.complete(&a_pub).unwrap();
        assert_eq!(s1.secret_bytes(), s2.secret_bytes());
        assert_eq!(s1.secret_bytes().len(), 32);
    }

    #[test]
    fn bad_peer_keys_are_errors() {
        let group = P256::<Counter>::default();
        let good = group.start().unwrap().pub_key().to_vec();
        let mut compressed = good[..33].to_vec();
        compressed[0] = 0x02;
        let mut off_curve = good.clone();
        off_curve[64] ^= 1;
        let mut identity = [0u8; POINT_LEN];
        identity[0] = 4;
        for bad in [
            &[][..],
            &good[..64],
            &compressed,
            &off_curve,
            &identity[..],
            &[0u8; POINT_LEN],
        ] {
            let kx = group.start().unwrap();
            assert!(kx.complete(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn entropy_failure_is_an_error() {
        assert!(matches!(
            P256::<Never>::default().start(),
            Err(Error::FailedToGetRandomBytes)
        ));
        assert!(matches!(
            P256::<AllOnes>::default().start(),
            Err(Error::FailedToGetRandomBytes)
        ));
    }
}
