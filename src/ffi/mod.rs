//! The C ABI: every `extern "C"` function of the library lives under this module,
//! and it is the only place that touches C pointers. Each function checks its
//! arguments before anything reaches the core and answers bad input with the
//! documented AFR return code; nothing panics across the boundary.
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

pub use crate::c_types::{agent_types, mqtt_lib, types};
pub mod shadow_types;

mod agent;
mod agent_tls;
mod bufferpool;
// The shadow client rides on subscription callbacks, as AFR's did.
#[cfg(afr_subscription_management)]
mod shadow;
#[cfg(not(afr_subscription_management))]
mod shadow_unavailable;
#[cfg(feature = "selftest")]
pub(crate) mod selftest;

/// Reads a C enum field as the integer it is, so that any value C stored there
/// (even one outside the enum) is defined behaviour; the caller then validates it.
///
/// # Safety
/// `field` must point to readable memory of the enum's size.
pub(crate) unsafe fn read_c_enum<E>(field: *const E) -> u32 {
    // SAFETY: per this function's contract; `repr(C)` enums are 1, 2 or 4 bytes.
    unsafe {
        match core::mem::size_of::<E>() {
            1 => (field as *const u8).read_unaligned() as u32,
            2 => (field as *const u16).read_unaligned() as u32,
            _ => (field as *const u32).read_unaligned(),
        }
    }
}
