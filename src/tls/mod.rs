//! TLS for the agent's connections: rustls over a plain Secure Socket.
//!
//! - [`provider`]: the rustls crypto provider, assembled from RustCrypto
//!   primitives with only what AWS IoT needs (it builds for Cortex-M, where
//!   `ring` does not).
pub mod provider;
