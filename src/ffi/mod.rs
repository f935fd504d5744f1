//! The C ABI: every `extern "C"` function of the library lives under this module,
//! and it is the only place that touches C pointers. Each function checks its
//! arguments before anything reaches the core and answers bad input with the
//! documented AFR return code; nothing panics across the boundary.
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

pub mod types;
pub mod mqtt_lib;
pub mod agent_types;

mod bufferpool;
#[cfg(feature = "selftest")]
mod selftest;
