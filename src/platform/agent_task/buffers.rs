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
/// Moved, never copied: its owner gives it back exactly once.
pub enum PoolBuf {
    Pool { ptr: NonNull<u8>, cap: usize },
    Heap(Box<[u8]>),
}

// SAFETY: the buffer is exclusively owned by this value, whichever task holds it.
unsafe impl Send for PoolBuf {}

impl AsRef<[u8]> for PoolBuf {
    fn as_ref(&self) -> &[u8] {
        match self {
            // SAFETY: the pool buffer of `cap` bytes is owned by this value.
            PoolBuf::Pool { ptr, cap } => unsafe { core::slice::from_raw_parts(ptr.as_ptr(), *cap) },
            PoolBuf::Heap(b) => b,
        }
    }
}

impl AsMut<[u8]> for PoolBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        match self {
            // SAFETY: as above, and `&mut self` makes the access exclusive.
            PoolBuf::Pool { ptr, cap } => unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), *cap) },
            PoolBuf::Heap(b) => b,
        }
    }
}

impl PoolBuf {
    /// The buffer leaves Rust: C kept it (`pdTRUE` from a callback) and gives
    /// it back with `MQTT_AGENT_ReturnBuffer`. Only pool buffers are handed to C.
    pub fn into_raw(self) -> *mut u8 {
        match self {
            PoolBuf::Pool { ptr, .. } => ptr.as_ptr(),
            PoolBuf::Heap(b) => Box::leak(b).as_mut_ptr(), // Never: received publishes are pool buffers.
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
        crate::platform::heap::try_boxed_bytes(&[], len).map(PoolBuf::Heap)
    }

    fn take_rx(&mut self, len: usize) -> Option<PoolBuf> {
        pool_buffer(len)
    }

    fn give(&mut self, buf: PoolBuf) {
        if let PoolBuf::Pool { ptr, .. } = buf {
            // SAFETY: the buffer came from the configured functions and is given back once (it is moved in).
            unsafe { buffer_fxn::return_buffer(ptr.as_ptr()) };
        }
    }

    fn largest(&self) -> usize {
        usize::MAX // The heap takes what the pool cannot.
    }
}
