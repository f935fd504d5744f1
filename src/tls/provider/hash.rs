//! SHA-256, the only hash our suites use (transcript hash, HKDF/PRF via HMAC).

use alloc::boxed::Box;

use rustls::crypto::hash::{Context, Hash, HashAlgorithm, Output};
use sha2::{Digest, Sha256};

pub(super) struct Sha256Hash;

pub(super) static SHA256: Sha256Hash = Sha256Hash;

impl Hash for Sha256Hash {
    fn start(&self) -> Box<dyn Context> {
        Box::new(Sha256Context(Sha256::new()))
    }

    fn hash(&self, data: &[u8]) -> Output {
        Output::new(&Sha256::digest(data))
    }

    fn output_len(&self) -> usize {
        32
    }

    fn algorithm(&self) -> HashAlgorithm {
        HashAlgorithm::SHA256
    }
}

/// A running transcript hash; rustls forks it to hash prefixes of the transcript.
struct Sha256Context(Sha256);

impl Context for Sha256Context {
    fn fork_finish(&self) -> Output {
        Output::new(&self.0.clone().finalize())
    }

    fn fork(&self) -> Box<dyn Context> {
        Box::new(Sha256Context(self.0.clone()))
    }

    fn finish(self: Box<Self>) -> Output {
        Output::new(&self.0.finalize())
    }

    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_abc_and_forks() {
        let expected = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ];
        assert_eq!(SHA256.hash(b"abc").as_ref(), &expected);

        let mut ctx = SHA256.start();
        ctx.update(b"a");
        let fork = ctx.fork();
        ctx.update(b"bc");
        assert_eq!(ctx.fork_finish().as_ref(), &expected);
        assert_eq!(ctx.finish().as_ref(), &expected);
        assert_eq!(fork.finish().as_ref(), SHA256.hash(b"a").as_ref());
        assert_eq!(SHA256.output_len(), 32);
    }
}
