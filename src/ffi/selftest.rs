//! Test-only C entry points (cargo feature `selftest`), used by the simulator
//! smoke test to prove that the library creates and runs real FreeRTOS tasks.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::ffi::bufferpool::POOL;
use crate::ffi::types::{pdFAIL, pdPASS, BaseType_t};
use crate::platform::rtos;

/// How long the self-test task sleeps, in ticks, to prove the scheduler runs it.
pub const AFR_SELFTEST_DELAY_TICKS: u32 = 5;

/// Called by the self-test task with 0 (all checks passed) or the number of the
/// first failed check, and the ticks that passed while the task ran.
pub type AFR_SELFTEST_Report = Option<extern "C" fn(lResult: i32, ulElapsedTicks: u32)>;

#[repr(C, align(64))]
struct OverAligned([u8; 64]);

fn checks() -> i32 {
    // 1: the FreeRTOS heap serves Rust allocations.
    let mut v: Vec<u8> = Vec::with_capacity(300);
    v.extend((0..300u32).map(|i| i as u8));
    if v.iter().enumerate().any(|(i, b)| *b != i as u8) {
        return 1;
    }
    // 2: alignments above portBYTE_ALIGNMENT are honoured.
    let boxes: Vec<Box<OverAligned>> = (0..4).map(|_| Box::new(OverAligned([7; 64]))).collect();
    if boxes.iter().any(|b| (&**b as *const OverAligned as usize) % 64 != 0 || b.0[63] != 7) {
        return 2;
    }
    drop(boxes);
    // 3: the buffer pool hands out a buffer and refuses it back twice.
    let Some((buf, _)) = POOL.take(1) else { return 3 };
    // SAFETY: this task owns `buf` from `take` and never touches its memory.
    let (first, second) = unsafe { (POOL.give_back(buf.as_ptr()), POOL.give_back(buf.as_ptr())) };
    if first.is_err() || second.is_ok() {
        return 4;
    }
    0
}

/// Creates a FreeRTOS task (through freertos-rust) that runs the self-checks,
/// sleeps `AFR_SELFTEST_DELAY_TICKS` and calls `report` from that task.
/// Returns `pdPASS` when the task was created.
#[no_mangle]
pub extern "C" fn AFR_SELFTEST_StartTask(report: AFR_SELFTEST_Report) -> BaseType_t {
    let Some(report) = report else { return pdFAIL };
    let spawned = rtos::spawn("rust_selftest", crate::config::kernel::MINIMAL_STACK_SIZE * 2, 2, move || {
        let start = rtos::tick_count();
        let result = checks();
        rtos::delay(AFR_SELFTEST_DELAY_TICKS);
        report(result, rtos::tick_count().wrapping_sub(start));
    });
    match spawned {
        Ok(_) => pdPASS,
        Err(_) => pdFAIL,
    }
}

/// The agent task's deepest stack use so far, in bytes (0 before it ran);
/// see `platform::stack_probe`.
#[no_mangle]
pub extern "C" fn AFR_SELFTEST_AgentStackPeak() -> u32 {
    crate::platform::stack_probe::peak()
}
