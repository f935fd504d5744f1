//! `aws_bufferpool.h`: the central buffer pool's C API.
//!
//! The pool itself is [`crate::pool::BufferPool`], one static instance sized by the
//! project's `bufferpoolconfigNUM_BUFFERS` and `bufferpoolconfigBUFFER_SIZE`.

use core::ptr;

use crate::config::pool::{BUFFER_SIZE, NUM_BUFFERS};
use crate::ffi::types::{pdPASS, BaseType_t};
use crate::pool::BufferPool;

/// The pool every component (agent, shadow, application) shares.
pub(crate) static POOL: BufferPool<NUM_BUFFERS, BUFFER_SIZE> = BufferPool::new();

/// Initialises the buffer pool. Returns `pdPASS`.
///
/// The pool is ready from program start (its state lives in static memory), so
/// this only exists for AFR's initialisation sequence. Unlike AFR v1 it never
/// marks buffers free that are still in use, so calling it twice is harmless.
// (On Arm it is naked: two instructions, without the frame record the
// compiler sets up even here; bytes saved. Not in the doc comment: cbindgen
// copies that into the checked-in header.)
#[no_mangle]
#[cfg_attr(all(target_arch = "arm", target_has_atomic = "32"), unsafe(naked))]
pub extern "C" fn BUFFERPOOL_Init() -> BaseType_t {
    #[cfg(all(target_arch = "arm", target_has_atomic = "32"))]
    {
        // Returns pdPASS in r0; no stack, no other register.
        core::arch::naked_asm!("movs r0, #{pass}", "bx lr", pass = const pdPASS)
    }
    #[cfg(not(all(target_arch = "arm", target_has_atomic = "32")))]
    pdPASS
}

/// Takes a free buffer of at least `*pulBufferLength` bytes.
///
/// On success returns the buffer and writes its real size
/// (`bufferpoolconfigBUFFER_SIZE`) to `*pulBufferLength`. Returns NULL, leaving
/// `*pulBufferLength` unchanged, when the request exceeds the buffer size, when
/// no buffer is free, or when `pulBufferLength` is NULL.
#[no_mangle]
#[inline(never)] // One copy: the agent takes its buffers through this function too.
pub extern "C" fn BUFFERPOOL_GetFreeBuffer(pulBufferLength: *mut u32) -> *mut u8 {
    if pulBufferLength.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: non-null, and the C caller passes a pointer to a readable, writable uint32_t.
    let wanted = unsafe { pulBufferLength.read_unaligned() };
    let Ok(wanted) = usize::try_from(wanted) else { return ptr::null_mut() };
    match POOL.take(wanted) {
        Some((buffer, size)) => {
            // SAFETY: as above; the size fits u32 because build.rs read it from a C macro.
            unsafe { pulBufferLength.write_unaligned(size as u32) };
            buffer.as_ptr()
        }
        None => ptr::null_mut(),
    }
}

/// Gives a buffer back to the pool.
///
/// A pointer that is not the start of one of the pool's buffers, or a buffer
/// that is not in use (returned twice), is refused and the pool is left
/// untouched; with `mqttconfigENABLE_DEBUG_LOGS` the refusal is logged.
#[no_mangle]
pub extern "C" fn BUFFERPOOL_ReturnBuffer(pucBuffer: *mut u8) {
    // SAFETY: AFR's contract: the caller owns the buffer it returns and stops using
    // it. Anything that is not a buffer start is only compared as an address.
    if let Err(why) = unsafe { POOL.give_back(pucBuffer) } {
        crate::platform::log::debug(format_args!("BUFFERPOOL_ReturnBuffer: refused {pucBuffer:p}: {why}"));
    }
}
