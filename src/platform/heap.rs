//! The Rust global allocator: the FreeRTOS heap (`pvPortMalloc` / `vPortFree`).
//!
//! freertos-rust's own allocator ignores `Layout::align()`; FreeRTOS only
//! guarantees `portBYTE_ALIGNMENT`. Larger alignments are served by
//! over-allocating and keeping the original pointer just below the aligned block.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::size_of;
use core::ptr;

extern "C" {
    // The kernel's heap, called directly (not through freertos-rust's wrappers).
    fn pvPortMalloc(size: usize) -> *mut core::ffi::c_void;
    fn vPortFree(block: *mut core::ffi::c_void);
}

use crate::config::kernel::BYTE_ALIGNMENT;

pub struct FreeRtosHeap;

/// A heap copy of `src` followed by `zeros` zero bytes; `None` when the heap
/// cannot hold it. One allocation of the exact size: none of `Vec`'s growth
/// code and no abort on a full heap.
pub fn try_boxed_bytes(src: &[u8], zeros: usize) -> Option<alloc::boxed::Box<[u8]>> {
    let len = src.len().checked_add(zeros)?;
    if len == 0 {
        return Some(alloc::boxed::Box::default());
    }
    let layout = Layout::array::<u8>(len).ok()?;
    // SAFETY: the layout's size is not zero.
    let block = unsafe { alloc::alloc::alloc(layout) };
    if block.is_null() {
        return None;
    }
    // SAFETY: `block` holds `len` = `src.len() + zeros` bytes and does not
    // overlap `src`; the box takes the allocation with the same layout
    // (`[u8]` of `len`, alignment 1) that `Box<[u8]>` frees with.
    unsafe {
        ptr::copy_nonoverlapping(src.as_ptr(), block, src.len());
        ptr::write_bytes(block.add(src.len()), 0, zeros);
        Some(alloc::boxed::Box::from_raw(ptr::slice_from_raw_parts_mut(block, len)))
    }
}

/// `value` in a heap block of its own; `None` (and `value` dropped) when the
/// heap cannot hold it. Unlike `Box::new`, a full heap is no abort (no
/// `handle_alloc_error`, whose panic must never reach C).
#[cfg_attr(not(feature = "tls"), allow(dead_code))] // The library's TLS stream.
pub fn try_box<T>(value: T) -> Option<alloc::boxed::Box<T>> {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        return Some(alloc::boxed::Box::new(value)); // No allocation for zero-sized values.
    }
    // SAFETY: the layout's size is not zero.
    let block = unsafe { alloc::alloc::alloc(layout) } as *mut T;
    if block.is_null() {
        return None;
    }
    // SAFETY: `block` is a fresh allocation of T's layout; the box frees it
    // with the same layout.
    unsafe {
        block.write(value);
        Some(alloc::boxed::Box::from_raw(block))
    }
}

/// Frees a block of [`port_malloc`].
///
/// # Safety
/// `block` came from `port_malloc` and is freed once.
pub(crate) unsafe fn port_free(block: *mut u8) {
    // SAFETY: per this function's contract.
    unsafe { vPortFree(block as *mut core::ffi::c_void) }
}

#[global_allocator]
static HEAP: FreeRtosHeap = FreeRtosHeap;

/// Bytes to request for an over-aligned block: room to align plus the saved pointer.
fn padded_size(layout: Layout) -> Option<usize> {
    layout.size().checked_add(layout.align())?.checked_add(size_of::<usize>())
}

/// A block of `size` bytes from the FreeRTOS heap, aligned to
/// `portBYTE_ALIGNMENT` (`BYTE_ALIGNMENT`), NULL when the heap cannot hold
/// it. Freed with [`port_free`] (not through `alloc::alloc`).
pub(crate) fn port_malloc(size: usize) -> *mut u8 {
    // SAFETY: pvPortMalloc (size_t, i.e. usize) may be called from any task;
    // it returns null on failure.
    unsafe { pvPortMalloc(size) as *mut u8 }
}

unsafe impl GlobalAlloc for FreeRtosHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= BYTE_ALIGNMENT {
            return port_malloc(layout.size());
        }
        let Some(total) = padded_size(layout) else { return ptr::null_mut() };
        let raw = port_malloc(total);
        if raw.is_null() {
            return raw;
        }
        // Leave at least one usize below the aligned address for the original pointer.
        let start = raw as usize + size_of::<usize>();
        let aligned = (start + layout.align() - 1) & !(layout.align() - 1);
        let offset = aligned - raw as usize;
        // SAFETY: offset + size <= total by construction, so both the aligned block and
        // the usize slot just below it lie inside the `total` bytes just allocated.
        unsafe {
            let block = raw.add(offset);
            (block as *mut usize).sub(1).write_unaligned(raw as usize);
            block
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let raw = if layout.align() <= BYTE_ALIGNMENT {
            block
        } else {
            // SAFETY: `alloc` stored the original pointer in the usize just below `block`.
            unsafe { (block as *const usize).sub(1).read_unaligned() as *mut u8 }
        };
        // SAFETY: `raw` came from pvPortMalloc and is freed once, as GlobalAlloc requires.
        unsafe { vPortFree(raw as *mut core::ffi::c_void) }
    }
}
