//! The agent core's buffers on the device: received publishes in buffers from
//! the project's `mqttconfigGET_FREE_BUFFER_FXN` (the central pool by
//! default), outgoing packets in a buffer from the same functions when they
//! fit, else from the FreeRTOS heap (so that packets larger than a pool buffer
//! can still be sent). The only place the core's buffers touch raw pointers.

use alloc::boxed::Box;
use core::ptr::NonNull;

use crate::agent::core::Pool;
use crate::config::mqtt::buffer_fxn;

/// A buffer the core, the platform or (after a callback kept it) C owns.
/// Moved, never copied: its owner gives it back exactly once, through
/// [`Pool::give`]. Plain pointers and no `Drop`: a type without drop glue
/// keeps implicit frees out of the core's code at every move and overwrite of
/// a value that may hold a buffer (about 500 bytes of flash); the core's
/// property tests check that every buffer is given back.
pub enum PoolBuf {
    Pool { ptr: NonNull<u8>, cap: usize },
    /// A heap block of `cap` bytes (from `heap::try_boxed_bytes`).
    Heap { ptr: NonNull<u8>, cap: usize },
}

// SAFETY: the buffer is exclusively owned by this value, whichever task holds it.
unsafe impl Send for PoolBuf {}

impl AsRef<[u8]> for PoolBuf {
    fn as_ref(&self) -> &[u8] {
        match self {
            // SAFETY: the buffer (pool or heap) of `cap` bytes is owned by this value.
            PoolBuf::Pool { ptr, cap } | PoolBuf::Heap { ptr, cap } => unsafe { core::slice::from_raw_parts(ptr.as_ptr(), *cap) },
        }
    }
}

impl AsMut<[u8]> for PoolBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        match self {
            // SAFETY: as above, and `&mut self` makes the access exclusive.
            PoolBuf::Pool { ptr, cap } | PoolBuf::Heap { ptr, cap } => unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), *cap) },
        }
    }
}

impl PoolBuf {
    /// The buffer leaves Rust: C kept it (`pdTRUE` from a callback) and gives
    /// it back with `MQTT_AGENT_ReturnBuffer`. Only pool buffers are handed to C.
    pub fn into_raw(self) -> *mut u8 {
        // (Never a heap block: received publishes are pool buffers.)
        match self {
            PoolBuf::Pool { ptr, .. } | PoolBuf::Heap { ptr, .. } => ptr.as_ptr(),
        }
    }
}

/// The project's buffer functions, and the heap for large outgoing packets.
pub struct CPool;

fn pool_buffer(len: usize) -> Option<PoolBuf> {
    let mut want = u32::try_from(len).ok()?;
    // SAFETY: the configured GetFreeBuffer function takes a pointer to a u32 length.
    let raw = unsafe { buffer_fxn::get_free_buffer(&mut want) };
    let ptr = NonNull::new(raw)?;
    if want as usize >= len {
        return Some(PoolBuf::Pool { ptr, cap: want as usize });
    }
    // SAFETY: the buffer came from the configured functions and is unused.
    unsafe { buffer_fxn::return_buffer(raw) };
    None
}

impl Pool for CPool {
    type Buf = PoolBuf;

    fn take(&mut self, len: usize) -> Option<PoolBuf> {
        if let Some(buf) = pool_buffer(len) {
            return Some(buf);
        }
        if len <= crate::config::pool::BUFFER_SIZE {
            return None; // Fits the pool: wait for a pool buffer rather than use the heap.
        }
        let block = crate::platform::heap::try_boxed_bytes(&[], len)?;
        let cap = block.len();
        // The block leaves its Box here and goes back to one in `give`.
        NonNull::new(Box::into_raw(block).cast::<u8>()).map(|ptr| PoolBuf::Heap { ptr, cap })
    }

    fn take_rx(&mut self, len: usize) -> Option<PoolBuf> {
        pool_buffer(len)
    }

    fn give(&mut self, buf: PoolBuf) {
        match buf {
            // SAFETY: the buffer came from the configured functions and is given back once (it is moved in).
            PoolBuf::Pool { ptr, .. } => unsafe { buffer_fxn::return_buffer(ptr.as_ptr()) },
            // SAFETY: `ptr` and `cap` are the block `take` took out of its Box
            // (`[u8]` of `cap` bytes), given back once (it is moved in).
            PoolBuf::Heap { ptr, cap } => drop(unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(ptr.as_ptr(), cap)) }),
        }
    }

    fn largest(&self) -> usize {
        usize::MAX // The heap takes what the pool cannot.
    }
}
