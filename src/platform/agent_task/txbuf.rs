//! Outgoing packet buffers: a buffer from the project's configured buffer
//! functions (the central pool by default) when the packet fits, else the
//! FreeRTOS heap, so that packets larger than a pool buffer can still be sent.

use alloc::boxed::Box;
use alloc::vec;
use core::ptr::NonNull;

use crate::config::mqtt::buffer_fxn;

pub enum TxBuf {
    Pool { ptr: NonNull<u8>, cap: usize },
    Heap(Box<[u8]>),
}

// SAFETY: the buffer is exclusively owned by this value, whichever task holds it.
unsafe impl Send for TxBuf {}

impl TxBuf {
    /// A buffer of at least `len` bytes, or `None` when neither the pool nor the
    /// heap has one now.
    pub fn get(len: usize) -> Option<Self> {
        let mut want = u32::try_from(len).ok()?;
        // SAFETY: the configured GetFreeBuffer function takes a pointer to a u32 length.
        let raw = unsafe { buffer_fxn::get_free_buffer(&mut want) };
        if let Some(ptr) = NonNull::new(raw) {
            if want as usize >= len {
                return Some(TxBuf::Pool { ptr, cap: want as usize });
            }
            // SAFETY: the buffer came from the configured pool and is unused.
            unsafe { buffer_fxn::return_buffer(raw) };
        }
        if len <= crate::config::pool::BUFFER_SIZE {
            return None; // Fits the pool: wait for a pool buffer rather than use the heap.
        }
        let mut v = vec::Vec::new();
        v.try_reserve_exact(len).ok()?;
        v.resize(len, 0);
        Some(TxBuf::Heap(v.into_boxed_slice()))
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            // SAFETY: the pool buffer of `cap` bytes is owned by this value.
            TxBuf::Pool { ptr, cap } => unsafe { core::slice::from_raw_parts(ptr.as_ptr(), *cap) },
            TxBuf::Heap(b) => b,
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            // SAFETY: as above, and `&mut self` makes the access exclusive.
            TxBuf::Pool { ptr, cap } => unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), *cap) },
            TxBuf::Heap(b) => b,
        }
    }
}

impl Drop for TxBuf {
    fn drop(&mut self) {
        if let TxBuf::Pool { ptr, .. } = self {
            // SAFETY: the buffer came from the configured pool and is returned once.
            unsafe { buffer_fxn::return_buffer(ptr.as_ptr()) };
        }
    }
}
