//! The Rust global allocator: the FreeRTOS heap (`pvPortMalloc` / `vPortFree`).
//!
//! freertos-rust's own allocator ignores `Layout::align()`; FreeRTOS only
//! guarantees `portBYTE_ALIGNMENT`. Larger alignments are served by
//! over-allocating and keeping the original pointer just below the aligned block.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::size_of;
use core::ptr;

use freertos_rust::{freertos_rs_pvPortMalloc, freertos_rs_vPortFree, FreeRtosVoidPtr};

use crate::config::kernel::BYTE_ALIGNMENT;

pub struct FreeRtosHeap;

#[global_allocator]
static HEAP: FreeRtosHeap = FreeRtosHeap;

/// Bytes to request for an over-aligned block: room to align plus the saved pointer.
fn padded_size(layout: Layout) -> Option<usize> {
    layout.size().checked_add(layout.align())?.checked_add(size_of::<usize>())
}

fn port_malloc(size: usize) -> *mut u8 {
    let Ok(size) = u32::try_from(size) else { return ptr::null_mut() };
    // SAFETY: pvPortMalloc may be called from any task; it returns null on failure.
    unsafe { freertos_rs_pvPortMalloc(size) as *mut u8 }
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
        unsafe { freertos_rs_vPortFree(raw as FreeRtosVoidPtr) }
    }
}
