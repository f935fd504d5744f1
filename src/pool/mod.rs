//! The central buffer pool (AFR v1 `aws_bufferpool.h`): `N` buffers of `SIZE`
//! bytes each, living inside the pool value itself (so a `static` pool puts
//! them in `.bss`), handed out and taken back without a lock.
//!
//! AFR semantics reproduced here:
//! - `BUFFERPOOL_GetFreeBuffer(&len)` → [`BufferPool::take`]: fails when
//!   `len > SIZE` or when no buffer is free; on success the caller learns the
//!   real size (`SIZE`).
//! - `BUFFERPOOL_ReturnBuffer(p)` → [`BufferPool::give_back`]: unlike AFR, a
//!   pointer that is not the start of one of our buffers, or a buffer that is
//!   already free, is detected and refused without touching any state.
//! - `BUFFERPOOL_Init()` → [`BufferPool::reset`].
//!
//! Concurrency: each buffer has an `AtomicBool` "in use" flag; ownership of a
//! buffer is exactly "I flipped its flag from false to true". Taking swaps
//! `true` in with `Acquire` ordering (the buffer is ours when the swap gives
//! back `false`), giving back swaps `false` in with `Release`, so
//! every write a previous holder made to the buffer happens-before anything the
//! next holder does with it, and the previous holder's accesses cannot be
//! reordered after the hand-over. No RTOS primitive is needed, which makes the
//! pool usable from any task (and, being wait-free per attempt, from ISRs).
//!
//! Safe Rust users take a [`PoolBuffer`], an RAII handle that dereferences to
//! `&mut [u8]` and gives the buffer back on drop; the C ABI uses the raw
//! [`take`](BufferPool::take) / [`give_back`](BufferPool::give_back) pair, or
//! converts with [`PoolBuffer::into_raw`] / [`PoolBuffer::from_raw`].

use core::cell::UnsafeCell;
use core::fmt;
use core::mem::{align_of, size_of, ManuallyDrop};
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

/// Alignment of every buffer's start. 8 covers every scalar type on the
/// supported targets (`u64`/`f64` on Cortex-M and i686), so C code may place
/// structures at the start of a buffer, as AFR's users do.
pub const BUFFER_ALIGN: usize = 8;

/// Why a pointer was refused by [`BufferPool::give_back`] or
/// [`PoolBuffer::from_raw`]. In both cases the pool is left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolError {
    /// Not the start of one of this pool's buffers: null, outside the pool,
    /// pointing inside a buffer, or misaligned.
    Foreign,
    /// The start of one of our buffers, but that buffer is already free
    /// (typically a double return).
    NotInUse,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoolError::Foreign => "pointer is not the start of a buffer of this pool",
            PoolError::NotInUse => "buffer is not in use (double return?)",
        })
    }
}

/// One buffer's storage. `repr(C, align(8))`: the bytes start at offset 0 and
/// every buffer in the array starts on an 8-byte boundary (the array stride is
/// `SIZE` rounded up to a multiple of 8).
#[repr(C, align(8))]
struct Buffer<const SIZE: usize>([u8; SIZE]);

/// A pool of `N` buffers of `SIZE` bytes.
///
/// `BufferPool::new()` is `const`, so the pool is meant to be a `static`:
///
/// ```
/// use afrcloud::pool::BufferPool;
/// static POOL: BufferPool<4, 256> = BufferPool::new();
/// let mut buf = POOL.take_buffer(100).unwrap();
/// assert_eq!(buf.len(), 256);
/// buf[0] = 1;
/// assert_eq!(POOL.free_count(), 3);
/// drop(buf);
/// assert_eq!(POOL.free_count(), 4);
/// ```
pub struct BufferPool<const N: usize, const SIZE: usize> {
    /// One cell per buffer so that creating a slice over one buffer never
    /// creates a reference covering another.
    buffers: [UnsafeCell<Buffer<SIZE>>; N],
    /// `in_use[i]` is true while someone owns buffer `i`.
    in_use: [AtomicBool; N],
}

// SAFETY: the buffers' bytes (the only non-`Sync` part, behind `UnsafeCell`) are
// accessed only by the party that set the buffer's `in_use` flag from false to
// true with an Acquire swap (the swap returned false), until it clears the flag
// again with a Release swap. That makes access to each buffer exclusive and
// properly ordered across threads; everything else in the pool is atomic.
// `unsafe fn reset` states the one way to break this, as its caller's duty.
unsafe impl<const N: usize, const SIZE: usize> Sync for BufferPool<N, SIZE> {}

impl<const N: usize, const SIZE: usize> Default for BufferPool<N, SIZE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const SIZE: usize> fmt::Debug for BufferPool<N, SIZE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("capacity", &N)
            .field("buffer_size", &SIZE)
            .field("free", &self.free_count())
            .finish()
    }
}

impl<const N: usize, const SIZE: usize> BufferPool<N, SIZE> {
    /// Zero-sized buffers would all share one address, making pointers
    /// ambiguous; reject them when the pool type is instantiated.
    const SIZE_IS_NONZERO: () = assert!(SIZE > 0, "BufferPool: SIZE must be > 0");

    /// Distance in bytes between the starts of consecutive buffers.
    const STRIDE: usize = size_of::<UnsafeCell<Buffer<SIZE>>>();

    /// A pool with all buffers free and zeroed.
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SIZE_IS_NONZERO;
        Self {
            buffers: [const { UnsafeCell::new(Buffer([0; SIZE])) }; N],
            in_use: [const { AtomicBool::new(false) }; N],
        }
    }

    /// Number of buffers (`N`).
    pub const fn capacity() -> usize {
        N
    }

    /// Size of every buffer in bytes (`SIZE`): what AFR writes back into
    /// `*pulBufferLength`.
    pub const fn buffer_size() -> usize {
        SIZE
    }

    /// Start of buffer `index` (caller guarantees `index < N`).
    fn buffer_ptr(&self, index: usize) -> *mut u8 {
        // `UnsafeCell::get` gives a pointer allowed to write; `Buffer` is
        // `repr(C)` so its bytes start at offset 0.
        self.buffers[index].get().cast::<u8>()
    }

    /// Claims the first free buffer, returning its index.
    fn claim(&self, wanted_len: usize) -> Option<usize> {
        if wanted_len > SIZE {
            return None;
        }
        self.in_use.iter().position(|flag| {
            // Acquire: see the module docs. A swap rather than a
            // compare-exchange (no compare-and-retry loop): on a buffer in
            // use it writes the `true` that is there already. (No Relaxed
            // pre-check to skip busy buffers: it saved an exclusive access
            // per busy buffer, which costs a Cortex-M nothing more; 4 bytes.)
            !flag.swap(true, Ordering::Acquire)
        })
    }

    /// Frees buffer `index`; `NotInUse` if it was already free.
    fn release(&self, index: usize) -> Result<(), PoolError> {
        let flag = self.in_use.get(index).ok_or(PoolError::Foreign)?;
        // Release: the holder's accesses happen-before the next take. A swap
        // rather than a compare-exchange (no compare-and-retry loop): on a
        // free buffer it writes the `false` that is there already.
        match flag.swap(false, Ordering::Release) {
            true => Ok(()),
            false => Err(PoolError::NotInUse),
        }
    }

    /// Takes a free buffer able to hold `wanted_len` bytes, for a caller that
    /// manages it by raw pointer (the C ABI).
    ///
    /// Returns the start of the buffer (8-byte aligned, valid for reads and
    /// writes of `SIZE` bytes until given back) and `SIZE`; `None` when
    /// `wanted_len > SIZE` or no buffer is free. The buffer keeps whatever bytes
    /// its previous holder left in it. Single-threaded, the lowest-indexed free
    /// buffer is chosen, like AFR.
    ///
    /// The buffer stays taken until [`give_back`](Self::give_back) (or a
    /// [`PoolBuffer`] made with [`PoolBuffer::from_raw`] is dropped).
    #[must_use = "a taken buffer stays taken until given back"]
    pub fn take(&self, wanted_len: usize) -> Option<(NonNull<u8>, usize)> {
        let index = self.claim(wanted_len)?;
        NonNull::new(self.buffer_ptr(index)).map(|p| (p, SIZE))
    }

    /// Gives back a buffer obtained from [`take`](Self::take) or
    /// [`PoolBuffer::into_raw`].
    ///
    /// Refuses, leaving the pool unchanged, a pointer that is not exactly the
    /// start of one of this pool's buffers (`Foreign`) and a buffer that is
    /// already free (`NotInUse`). The pool only knows "free" or "taken", not by
    /// whom: a double return that comes after someone else re-took the buffer
    /// cannot be detected (the same holds in AFR).
    ///
    /// # Safety
    ///
    /// If `ptr` is the start of one of this pool's buffers, the caller must own
    /// that buffer (it came from `take`/`into_raw` and has not been given back
    /// since) and must not use it afterwards. In particular it must not be the
    /// pointer of a live [`PoolBuffer`], whose memory would then be handed to
    /// the next taker while still borrowed. Pointers that are not buffer starts
    /// (null, foreign, interior) are always safe to pass: they are only
    /// compared as addresses, never dereferenced.
    #[inline(never)] // One copy for BUFFERPOOL_ReturnBuffer and MQTT_AGENT_ReturnBuffer.
    pub unsafe fn give_back(&self, ptr: *const u8) -> Result<(), PoolError> {
        let index = self.index_of(ptr).ok_or(PoolError::Foreign)?;
        self.release(index)
    }

    /// Index of the buffer that starts at `ptr`, or `None` if `ptr` is not the
    /// start of one of this pool's buffers (null, outside, interior or
    /// misaligned). Compares addresses only; never dereferences.
    pub fn index_of(&self, ptr: *const u8) -> Option<usize> {
        // Integer arithmetic on addresses: no pointer offsetting, so no UB for
        // pointers from other allocations.
        // A pointer below the pool wraps to an offset of at least the
        // pool's size (the pool lies below the top of the address space):
        // one unsigned comparison refuses both sides.
        let base = self.buffers.as_ptr() as usize;
        let offset = (ptr as usize).wrapping_sub(base);
        // STRIDE > 0 because SIZE > 0 (checked at compile time).
        if Self::STRIDE == 0 || offset % Self::STRIDE != 0 || offset >= N * Self::STRIDE {
            return None;
        }
        Some(offset / Self::STRIDE)
    }

    /// Number of free buffers: a snapshot that other tasks may change at once.
    pub fn free_count(&self) -> usize {
        self.in_use
            .iter()
            .filter(|flag| !flag.load(Ordering::Relaxed))
            .count()
    }

    /// Whether buffer `index` is currently taken (`false` for out-of-range).
    pub fn is_in_use(&self, index: usize) -> bool {
        self.in_use
            .get(index)
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Marks every buffer free: AFR's `BUFFERPOOL_Init()`.
    ///
    /// # Safety
    ///
    /// No buffer may be in use: no live [`PoolBuffer`] and no pointer from
    /// `take`/`into_raw` that will be used again, and no `take`/`give_back` may
    /// run concurrently. Otherwise a buffer someone still uses would be handed
    /// out a second time. (Call it once at start-up, as AFR does, or on a pool
    /// known to be idle.)
    pub unsafe fn reset(&self) {
        for flag in &self.in_use {
            // Release: pairs with the next take's Acquire like a give-back.
            flag.store(false, Ordering::Release);
        }
    }

    /// Takes a free buffer able to hold `wanted_len` bytes as an RAII handle;
    /// `None` when `wanted_len > SIZE` or no buffer is free.
    #[must_use = "dropping the handle gives the buffer back at once"]
    pub fn take_buffer(&self, wanted_len: usize) -> Option<PoolBuffer<'_, N, SIZE>> {
        let index = self.claim(wanted_len)?;
        Some(PoolBuffer {
            pool: self,
            index,
        })
    }
}

/// Exclusive ownership of one buffer of a [`BufferPool`]; dereferences to the
/// whole buffer (`SIZE` bytes) and gives it back when dropped.
pub struct PoolBuffer<'p, const N: usize, const SIZE: usize> {
    pool: &'p BufferPool<N, SIZE>,
    /// `< N`, and `pool.in_use[index]` was claimed by this handle.
    index: usize,
}

impl<'p, const N: usize, const SIZE: usize> PoolBuffer<'p, N, SIZE> {
    /// Index of this buffer in its pool.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The pool this buffer belongs to.
    pub fn pool(&self) -> &'p BufferPool<N, SIZE> {
        self.pool
    }

    /// Hands the buffer to a raw-pointer owner (e.g. C code) without giving it
    /// back. Return it later with [`BufferPool::give_back`] or turn it back
    /// into a handle with [`PoolBuffer::from_raw`].
    #[must_use = "the buffer stays taken until the pointer is given back"]
    pub fn into_raw(self) -> *mut u8 {
        let this = ManuallyDrop::new(self);
        this.pool.buffer_ptr(this.index)
    }

    /// Re-wraps a buffer pointer as a handle.
    ///
    /// Refused with `Foreign` if `ptr` is not the start of one of `pool`'s
    /// buffers, with `NotInUse` if that buffer is free.
    ///
    /// # Safety
    ///
    /// `ptr` must have come from [`into_raw`](Self::into_raw) or
    /// [`BufferPool::take`] on this pool and not have been given back or
    /// re-wrapped since; the caller gives up all other use of it (the checks
    /// catch foreign and free buffers, but cannot tell who owns a taken one).
    pub unsafe fn from_raw(
        pool: &'p BufferPool<N, SIZE>,
        ptr: *mut u8,
    ) -> Result<Self, PoolError> {
        let index = pool.index_of(ptr).ok_or(PoolError::Foreign)?;
        if !pool.is_in_use(index) {
            return Err(PoolError::NotInUse);
        }
        Ok(Self {
            pool,
            index,
        })
    }
}

impl<const N: usize, const SIZE: usize> Deref for PoolBuffer<'_, N, SIZE> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: this handle owns buffer `index` (its flag was claimed by
        // `take_buffer` or handed over through `from_raw`'s contract), so no one
        // else accesses those bytes until `drop`; the Acquire on the claim makes
        // the previous holder's writes visible. The pointer is valid for SIZE
        // initialised bytes (the pool zero-initialises them and `u8` has no
        // invalid values) for as long as the pool (`'p`) lives, and the borrow
        // of `self` bounds the slice's lifetime.
        unsafe { core::slice::from_raw_parts(self.pool.buffer_ptr(self.index), SIZE) }
    }
}

impl<const N: usize, const SIZE: usize> DerefMut for PoolBuffer<'_, N, SIZE> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only live slice of
        // the buffer, and the pointer comes from `UnsafeCell::get`, so writing is allowed.
        unsafe { core::slice::from_raw_parts_mut(self.pool.buffer_ptr(self.index), SIZE) }
    }
}

impl<const N: usize, const SIZE: usize> Drop for PoolBuffer<'_, N, SIZE> {
    fn drop(&mut self) {
        // Cannot fail while the ownership invariant holds; nothing to do if it did.
        let _ = self.pool.release(self.index);
    }
}

impl<const N: usize, const SIZE: usize> fmt::Debug for PoolBuffer<'_, N, SIZE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuffer")
            .field("index", &self.index)
            .field("len", &SIZE)
            .finish()
    }
}

// Compile-time layout checks for a representative instantiation.
const _: () = assert!(align_of::<Buffer<1>>() == BUFFER_ALIGN);
const _: () = assert!(size_of::<UnsafeCell<Buffer<13>>>() == 16);

#[cfg(test)]
mod tests;
