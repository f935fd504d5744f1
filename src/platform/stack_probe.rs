//! How deep the agent task's stack goes, on the simulator: the agent task
//! paints `STACK_PAINT` bytes below its first frame at start (the POSIX port
//! runs each task on an 8 MB host thread stack, so this memory is mapped), and
//! `AFR_SELFTEST_AgentStackPeak` finds the lowest byte written since. The
//! figure includes the simulator's tick signal frames (on a Cortex-M,
//! interrupts run on the main stack instead), so it is an upper bound.
use core::sync::atomic::{AtomicUsize, Ordering};

const STACK_PAINT: usize = 256 * 1024;
const PATTERN: u8 = 0xA5;
static TOP: AtomicUsize = AtomicUsize::new(0);

/// Called first thing in the agent task.
#[inline(never)]
pub fn paint() {
    let marker = 0u8;
    let top = core::hint::black_box(&marker as *const u8 as usize) - 256;
    let base = top - STACK_PAINT;
    for addr in base..top {
        // SAFETY: simulator only (feature `selftest`): the region lies within the
        // host thread's stack mapping, below every live frame of this task.
        unsafe { core::ptr::write_volatile(addr as *mut u8, PATTERN) };
    }
    TOP.store(top, Ordering::Release);
}

/// The agent task's deepest stack use so far, in bytes (0 before it ran).
pub fn peak() -> u32 {
    let top = TOP.load(Ordering::Acquire);
    if top == 0 {
        return 0;
    }
    let base = top - STACK_PAINT;
    // SAFETY: reads the painted region (see `paint`), which stays mapped.
    let first_used = (base..top).find(|a| unsafe { core::ptr::read_volatile(*a as *const u8) } != PATTERN);
    first_used.map_or(0, |a| (top - a) as u32)
}
