//! TLS for the agent's connections: rustls over a plain Secure Socket.
//!
//! - [`provider`]: the rustls crypto provider, assembled from RustCrypto
//!   primitives with only what AWS IoT needs (it builds for Cortex-M, where
//!   `ring` does not).
//! - [`amazon_roots`]: the roots AFR v1.4.7 trusted by default (generated).
//! - [`client`]: one connection's rustls client from the application's
//!   parameters (trust, identity, SNI, ALPN).
//! - [`external_key`]: a device key that signs outside the library (PKCS#11, a hook).
//! - [`pem_key`]: the device key out of PEM without leaving copies in freed heap.
//! - [`validity`]: "now" for certificate dates, the build time when the device has no clock.
//! - [`stream`]: the session over any byte transport, with buffers of
//!   configured sizes, reading without blocking.
//!
//! The platform side (Secure Sockets, the project's time and random hooks, the
//! credential header) is in `platform::tls`.

pub mod amazon_roots;
pub mod client;
pub mod external_key;
pub mod pem_key;
pub mod provider;
pub mod stream;
pub mod validity;
