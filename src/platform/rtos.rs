//! FreeRTOS services the agent uses, through freertos-rust.

#[cfg(feature = "selftest")]
use alloc::boxed::Box;
use core::ffi::c_void;

#[cfg(feature = "selftest")]
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
/// `xTaskCreate` takes it. (The self-test's; the agent uses [`spawn_fn`].)
#[cfg(feature = "selftest")]
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

/// Kernel functions every FreeRTOS since v9 exports under these names and
/// signatures, called directly rather than through freertos-rust's one-line
/// shim wrappers; what differs between kernel versions (the task
/// waits on event lists) and configASSERT go through src/platform/kernel.c.
mod kernel {
    // Under the names the project's headers give them (an MPU port's
    // wrappers), as build.rs probed them.
    pub use crate::config::kernel::fns::*;
    extern "C" {
        // src/platform/kernel.c.
        pub fn afr_lists_init();
        pub fn afr_block(list: u32, ticks: u32);
        pub fn afr_wake(list: u32);
        #[cfg(not(target_os = "linux"))] // The simulator's panic handler aborts.
        pub fn afr_assert_failed();
    }
}

/// Creates a FreeRTOS task named `name` running the C task function `entry`
/// with `param` (the agent task): straight through `xTaskCreate`, without
/// freertos-rust's boxed closure, task builder and name copy. `entry` never
/// returns (so no task deletion code is linked for it). The task learns its
/// own handle (`current_task`): none is asked of `xTaskCreate`.
pub fn spawn_fn(name: &'static core::ffi::CStr, stack_depth: u32, priority: u32, entry: extern "C" fn(*mut c_void), param: *mut c_void) -> Result<(), SpawnError> {
    if stack_depth > u16::MAX as u32 {
        return Err(SpawnError::StackTooDeep);
    }
    if priority >= crate::config::kernel::MAX_PRIORITIES {
        return Err(SpawnError::BadPriority);
    }
    // SAFETY: `entry` has the C task signature and takes `param` as its
    // caller gives it; the name is NUL-terminated and copied by the kernel;
    // NULL asks for no handle (xTaskCreate allows it).
    let created = unsafe { kernel::xTaskCreate(entry, name.as_ptr().cast(), stack_depth, param, priority, core::ptr::null_mut()) };
    if created != 1 {
        return Err(SpawnError::OutOfMemory);
    }
    Ok(())
}

/// The scheduler's tick count.
pub fn tick_count() -> u32 {
    // SAFETY: xTaskGetTickCount has no preconditions in task context.
    unsafe { kernel::xTaskGetTickCount() }
}

/// Blocks the calling task for `ticks`.
pub fn delay(ticks: u32) {
    // SAFETY: vTaskDelay may be called from any task.
    unsafe { kernel::vTaskDelay(ticks) }
}

/// Suspends the scheduler (`vTaskSuspendAll`): no other task runs until
/// [`resume_all`]; interrupts still do. Nests. Nothing may block meanwhile.
pub fn suspend_all() {
    // SAFETY: vTaskSuspendAll has no preconditions (it nests, and is allowed
    // before the scheduler starts).
    unsafe { kernel::vTaskSuspendAll() }
}

/// Ends one [`suspend_all`] (`xTaskResumeAll`).
pub fn resume_all() {
    // SAFETY: every call pairs with an earlier `suspend_all` of the same task.
    unsafe { kernel::xTaskResumeAll() };
}

/// The running task's handle.
pub fn current_task() -> *mut c_void {
    // SAFETY: xTaskGetCurrentTaskHandle has no preconditions in task context.
    unsafe { kernel::xTaskGetCurrentTaskHandle() }
}

/// Raises the project's `configASSERT` (the panic handler's report on the device).
#[cfg(not(target_os = "linux"))]
pub fn assert_failed() {
    // SAFETY: no preconditions; what configASSERT does is the project's choice.
    unsafe { kernel::afr_assert_failed() }
}

/// One of the agent's event lists (src/platform/kernel.c): tasks blocked on
/// it until it is woken, each woken task looking again at what it waits for.
#[derive(Clone, Copy)]
#[repr(u32)]
pub enum List {
    /// Callers waiting while the agent task holds the core.
    Lock = 0,
    /// Callers waiting for their operation to finish.
    Done = 1,
    /// The agent task, asleep.
    Agent = 2,
}

/// Readies the event lists: once, before any task blocks on one.
pub fn init_lists() {
    // SAFETY: the lists are only reached through these functions, and nothing
    // blocks on them before this (the agent's `init`, before it is published).
    unsafe { kernel::afr_lists_init() }
}

/// Blocks the calling task on `list` for at most `ticks` (`portMAX_DELAY`:
/// until woken), and resumes the scheduler, which this task suspended (once,
/// with [`suspend_all`]) to look at what it waits for: a wake-up after that
/// look finds it on the list (none is lost).
///
/// # Safety
/// The calling task suspended the scheduler with [`suspend_all`], once (not
/// nested), and [`init_lists`] ran.
pub unsafe fn block(list: List, ticks: u32) {
    // SAFETY: per this function's contract, as the kernel's
    // vTaskPlaceOnEventList requires; blocking ends that suspension.
    unsafe { kernel::afr_block(list as u32, ticks) }
}

/// Wakes every task blocked on `list` (a task's call; it does not block).
pub fn wake(list: List) {
    // SAFETY: a task's call, the list initialised or empty (all zero).
    unsafe { kernel::afr_wake(list as u32) }
}
