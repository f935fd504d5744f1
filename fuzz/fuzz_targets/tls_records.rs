//! The TLS client record stream (`tls::stream::TlsStream`) over an in-memory
//! transport whose receive side replays the fuzz input, cut into reads of
//! fuzzed sizes. The client is the agent's (`tls::client::connection` with the
//! crate's RustCrypto provider), made deterministic (entropy, clock) so that
//! recorded server flights in the seed corpus replay as real handshakes and
//! the fuzzer can reach the encrypted records behind them.
//!
//! Any error is a fine answer; a panic or an abort is not. Also checked: a
//! failed session keeps returning its first error, and no plaintext is read
//! before the handshake is done. See `tls/harness.rs` for the input layout.
#![no_main]

#[path = "../tls/harness.rs"]
mod harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(out) = harness::replay(data) {
        assert!(out.handshake_done || out.plain.is_empty(), "plaintext before the handshake");
    }
});
