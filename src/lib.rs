//! Amazon FreeRTOS v1 cloud connectivity (MQTT agent, buffer pool, Device Shadow)
//! reimplemented in Rust behind AFR's own C ABI.
//!
//! Layout:
//! - [`mqtt`]: the sans-I/O MQTT 3.1.1 codec and topic rules (pure, `no_std`).
//! - [`pool`]: the central buffer pool's logic (pure, lock-free).
//! - [`tls`] (feature `tls`): rustls with our own crypto provider, and (with
//!   `rtos`) the TLS link the agent runs its connections over.
//! - `ffi` (feature `rtos`): the C ABI, the only place C pointers are touched.
//! - `platform` (feature `rtos`): FreeRTOS (through freertos-rust) adapters.
//!
//! Without the `rtos` feature the crate is the pure core on `std`, which is what
//! unit tests, property tests, fuzzing and benchmarks link. With `rtos` it is
//! `no_std` + `alloc` and ships as a static library.
#![cfg_attr(any(feature = "rtos", target_os = "none"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

/// Property-test cases: `PROPTEST_CASES` when set (Miri runs few), else `default`.
#[cfg(test)]
pub(crate) fn test_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

mod bytes;
pub mod mqtt;
pub mod agent;
pub mod handle;
pub mod pool;
pub mod shadow;
#[cfg(feature = "tls")]
pub mod tls;

#[cfg(feature = "rtos")]
pub mod config;
#[cfg(feature = "rtos")]
mod c_types;
#[cfg(feature = "rtos")]
mod ffi;
#[cfg(feature = "rtos")]
mod platform;
