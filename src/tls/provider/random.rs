//! Randomness: rustls' `SecureRandom` and a `rand_core` adapter for the RSA
//! crate, both over [`Entropy`].

use core::marker::PhantomData;

use rustls::crypto::{GetRandomFailed, SecureRandom};

use super::Entropy;

#[derive(Debug, Default)]
pub(super) struct Random<E>(PhantomData<E>);

impl<E: Entropy> SecureRandom for Random<E> {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        if E::fill(buf) {
            Ok(())
        } else {
            Err(GetRandomFailed)
        }
    }
}

/// `rand_core` RNG for RSA blinding and PSS salts.
///
/// The rsa crate and its bignum library treat the RNG as infallible (an
/// error from `try_fill_bytes` becomes a panic inside rand), so a failure
/// can't be reported through it: we remember it, hand out filler bytes
/// (non-constant, so rejection-sampling loops such as blinding still
/// terminate) and the caller must check [`EntropyRng::failed`] and throw the
/// result away.
pub(super) struct EntropyRng<E> {
    failed: bool,
    filler: u32,
    _entropy: PhantomData<E>,
}

impl<E: Entropy> EntropyRng<E> {
    pub(super) fn new() -> Self {
        Self {
            failed: false,
            filler: 0x9e37_79b9,
            _entropy: PhantomData,
        }
    }

    /// True when any request could not be served from real entropy.
    pub(super) fn failed(&self) -> bool {
        self.failed
    }

    fn fill_filler(&mut self, dest: &mut [u8]) {
        for byte in dest {
            // xorshift32: cheap and never stuck at zero.
            self.filler ^= self.filler << 13;
            self.filler ^= self.filler >> 17;
            self.filler ^= self.filler << 5;
            *byte = self.filler as u8;
        }
    }
}

impl<E: Entropy> rand_core::RngCore for EntropyRng<E> {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if !E::fill(dest) {
            self.failed = true;
            self.fill_filler(dest);
        }
    }

    /// Never `Err`: rand 0.8 (used by the rsa crate's bignum library) turns an
    /// error here into a panic. Failure is reported through `failed` instead.
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl<E: Entropy> rand_core::CryptoRng for EntropyRng<E> {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::RngCore;

    #[derive(Debug, Default)]
    struct Never;
    impl Entropy for Never {
        fn fill(_dest: &mut [u8]) -> bool {
            false
        }
    }

    #[derive(Debug, Default)]
    struct Sevens;
    impl Entropy for Sevens {
        fn fill(dest: &mut [u8]) -> bool {
            dest.fill(7);
            true
        }
    }

    #[test]
    fn secure_random_reports_failure() {
        let mut buf = [0u8; 4];
        assert!(Random::<Never>::default().fill(&mut buf).is_err());
        assert!(Random::<Sevens>::default().fill(&mut buf).is_ok());
        assert_eq!(buf, [7; 4]);
    }

    #[test]
    fn rng_adapter_flags_failure_and_varies_filler() {
        let mut rng = EntropyRng::<Never>::new();
        let mut a = [0u8; 8];
        rng.fill_bytes(&mut a);
        assert!(rng.failed());
        assert_ne!(rng.next_u64(), u64::from_le_bytes(a));
        let mut fresh = EntropyRng::<Never>::new();
        assert!(fresh.try_fill_bytes(&mut a).is_ok());
        assert!(fresh.failed());

        let mut ok = EntropyRng::<Sevens>::new();
        ok.fill_bytes(&mut a);
        assert!(!ok.failed());
        assert_eq!(a, [7; 8]);
    }
}
