//! FreeRTOS services the agent uses, through freertos-rust.

use alloc::boxed::Box;

use freertos_rust::{FreeRtosError, Task, TaskPriority};

/// Why a task could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// The configured stack depth does not fit freertos-rust's `u16` stack size.
    StackTooDeep,
    /// The configured priority does not fit FreeRTOS's priorities.
    BadPriority,
    /// The FreeRTOS heap could not hold the task.
    OutOfMemory,
}

/// Creates a FreeRTOS task running `body`. `stack_depth` is in words, as
/// `xTaskCreate` takes it.
pub fn spawn(
    name: &str,
    stack_depth: u32,
    priority: u32,
    body: impl FnOnce() + Send + 'static,
) -> Result<Task, SpawnError> {
    let stack = u16::try_from(stack_depth).map_err(|_| SpawnError::StackTooDeep)?;
    let prio = u8::try_from(priority).map_err(|_| SpawnError::BadPriority)?;
    if priority >= crate::config::kernel::MAX_PRIORITIES {
        return Err(SpawnError::BadPriority);
    }
    let body: Box<dyn FnOnce() + Send> = Box::new(body);
    Task::new()
        .name(name)
        .stack_size(stack)
        .priority(TaskPriority(prio))
        .start(move |_task| body())
        .map_err(|e: FreeRtosError| match e {
            FreeRtosError::OutOfMemory => SpawnError::OutOfMemory,
            _ => SpawnError::OutOfMemory,
        })
}

/// The scheduler's tick count.
pub fn tick_count() -> u32 {
    // SAFETY: xTaskGetTickCount has no preconditions in task context.
    unsafe { freertos_rust::freertos_rs_xTaskGetTickCount() }
}

/// Blocks the calling task for `ticks`.
pub fn delay(ticks: u32) {
    // SAFETY: vTaskDelay may be called from any task.
    unsafe { freertos_rust::freertos_rs_vTaskDelay(ticks) }
}
