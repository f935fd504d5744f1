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
///
/// Two words: where the buffer came from is the top bit of `cap` (set: a
/// heap block of `cap & !HEAP` bytes from `heap::try_boxed_bytes`; clear: a
/// buffer of the project's buffer functions), not a tag word of its own, so
/// the core's actions that carry one (`Out::Buf`) are a word smaller.
pub struct PoolBuf {
    ptr: NonNull<u8>,
    cap: usize,
}

/// The top bit of [`PoolBuf::cap`]: a heap block. (No buffer holds
/// `isize::MAX` bytes: a heap block's `Layout` is below it, a pool buffer's
/// capacity is capped below it.)
const HEAP: usize = 1 << (usize::BITS - 1);

// SAFETY: the buffer is exclusively owned by this value, whichever task holds it.
unsafe impl Send for PoolBuf {}

impl AsRef<[u8]> for PoolBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the buffer (pool or heap) of `cap & !HEAP` bytes is owned by this value.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.cap & !HEAP) }
    }
}

impl AsMut<[u8]> for PoolBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the access exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap & !HEAP) }
    }
}

impl PoolBuf {
    /// The buffer leaves Rust: C kept it (`pdTRUE` from a callback) and gives
    /// it back with `MQTT_AGENT_ReturnBuffer`. Only pool buffers are handed to C.
    pub fn into_raw(self) -> *mut u8 {
        // (Never a heap block: received publishes are pool buffers.)
        self.ptr.as_ptr()
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
        // (At most `HEAP - 1`: the top bit says heap; still at least `len`,
        // which is below it, being a slice's length.)
        return Some(PoolBuf { ptr, cap: (want as usize).min(HEAP - 1) });
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
        NonNull::new(Box::into_raw(block).cast::<u8>()).map(|ptr| PoolBuf { ptr, cap: cap | HEAP })
    }

    fn take_rx(&mut self, len: usize) -> Option<PoolBuf> {
        pool_buffer(len)
    }

    fn give(&mut self, buf: PoolBuf) {
        if buf.cap & HEAP == 0 {
            // SAFETY: the buffer came from the configured functions and is given back once (it is moved in).
            unsafe { buffer_fxn::return_buffer(buf.ptr.as_ptr()) }
        } else {
            // SAFETY: `ptr` and `cap & !HEAP` are the block `take` took out of
            // its Box (`[u8]` of that many bytes), given back once (it is moved in).
            drop(unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(buf.ptr.as_ptr(), buf.cap & !HEAP)) })
        }
    }

    fn largest(&self) -> usize {
        usize::MAX // The heap takes what the pool cannot.
    }
}

// The point of the folded kind: a buffer is two words, so is the core's
// `Out::Buf` with its length in three, and an action carrying one, with its
// client, in five (six with a tag word).
const _: () = assert!(core::mem::size_of::<PoolBuf>() == 2 * core::mem::size_of::<usize>());
const _: () = assert!(
    core::mem::size_of::<Option<crate::agent::core::Next<PoolBuf, super::Callback, super::OpenRequest>>>()
        <= 5 * core::mem::size_of::<usize>()
);
