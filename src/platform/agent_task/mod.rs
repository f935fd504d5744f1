//! The MQTT agent's FreeRTOS side: the agent core (`crate::agent::core`, all
//! the protocol and every decision) behind one lock, one task that does the
//! core's I/O and calls the application's callbacks, and the callers' wait.
//!
//! A caller hands its [`Command`] to the core under the lock (the packet is
//! encoded there, the payload copied once), wakes the task and waits on its
//! slot's semaphore for at most its timeout; then it collects the result, or
//! leaves the slot abandoned (the late answer frees it, reaching nobody).

mod buffers;
mod task;

use alloc::boxed::Box;
use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use freertos_rust::{Duration, Mutex, MutexGuard, MutexNormal, Semaphore, Task, TaskNotification};

use crate::agent::core::{self as agent_core, AgentCore, Failure, Refused};
use crate::agent::session::KeepAlive;
use crate::config::mqtt;
use crate::c_types::agent_types::MQTTAgentCallback_t;
#[cfg(afr_subscription_management)]
use crate::c_types::mqtt_lib::MQTTPublishCallback_t;
use crate::handle;
use crate::platform::rtos;

pub use buffers::{CPool, PoolBuf};
pub use crate::platform::link::TLS_BY_SOCKETS_PORT;

const BROKERS: usize = mqtt::MAX_BROKERS;
const OPS: usize = mqtt::MAX_PARALLEL_OPS;
#[cfg(afr_subscription_management)]
const SUBS: usize = mqtt::SUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS;
#[cfg(not(afr_subscription_management))]
const SUBS: usize = 0;
#[cfg(afr_subscription_management)]
const FILTER: usize = mqtt::SUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH;
#[cfg(not(afr_subscription_management))]
const FILTER: usize = 0;
/// Bytes read from one client per pass of the task loop: a broker that floods
/// one connection cannot keep the task from the other clients, their
/// operations and keep-alive (see `task::run`).
const RX_BUDGET: usize = 4 * if mqtt::RX_BUFFER_SIZE > 64 { mqtt::RX_BUFFER_SIZE } else { 64 };

/// A C pointer carried between tasks; only ever handed back to C.
#[derive(Clone, Copy)]
pub struct CPtr(pub *mut c_void);
// SAFETY: the library never dereferences it; C code owns its meaning.
unsafe impl Send for CPtr {}

/// An application callback as the core keeps it (it only copies it around).
#[derive(Clone, Copy)]
pub enum Callback {
    /// A subscription's callback and its context.
    #[cfg(afr_subscription_management)]
    Publish(MQTTPublishCallback_t, CPtr),
    /// The connect callback (`pxCallback`) and its `pvUserData`.
    Connect(MQTTAgentCallback_t, CPtr),
}

/// What opening a connection needs: where, and TLS. Made by `ffi::agent`.
pub struct OpenRequest {
    /// The host name, NUL-terminated.
    pub host: Box<[u8]>,
    pub port: u16,
    pub is_ip: bool,
    pub tls: Option<Box<crate::platform::link::TlsRequest>>,
}

pub type Command<'a> = agent_core::Command<'a, OpenRequest, Callback>;
type Core = AgentCore<PoolBuf, Callback, OpenRequest, BROKERS, OPS, SUBS, FILTER>;

/// How an operation ended, for the C API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Success,
    Failure,
}

/// Why a caller got no `Done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// The handle names no live client (never created, deleted, or not a handle).
    BadHandle,
    /// The agent is not initialised.
    NotReady,
    /// The caller's timeout passed.
    Timeout,
}

pub struct Agent {
    core: Mutex<Core>,
    /// One binary semaphore per (client, slot): the slot's completion signal.
    /// (All `Some` once the agent exists: `create_agent` checks.)
    waiters: [Option<Semaphore>; BROKERS * OPS],
    task: AtomicPtr<c_void>,
    /// Per client: why the last TLS connect failed (`MQTTAgentTLSError_t`), 0 when it did not.
    tls_failure: [AtomicU8; BROKERS],
}

static AGENT: AtomicPtr<Agent> = AtomicPtr::new(core::ptr::null_mut());
static INIT: AtomicU8 = AtomicU8::new(0);

/// The initialised agent, if any.
pub fn agent() -> Option<&'static Agent> {
    // SAFETY: AGENT is only ever set to a leaked, never-freed Agent (see `init`).
    unsafe { AGENT.load(Ordering::Acquire).as_ref() }
}

/// Creates the agent and its task. Idempotent; false when resources are missing.
pub fn init() -> bool {
    match INIT.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {}
        Err(_) => {
            // Another caller initialises (1) or did (2): wait for the outcome.
            while INIT.load(Ordering::Acquire) == 1 {
                rtos::delay(1);
            }
            return INIT.load(Ordering::Acquire) == 2;
        }
    }
    let ok = create_agent().is_some();
    INIT.store(if ok { 2 } else { 0 }, Ordering::Release);
    ok
}

fn create_agent() -> Option<()> {
    let keep_alive = KeepAlive { interval: mqtt::KEEP_ALIVE_ACTUAL_INTERVAL_TICKS, timeout: mqtt::KEEP_ALIVE_TIMEOUT_TICKS };
    let core = Core::new(keep_alive, RX_BUDGET)?;
    // A fixed array: no Vec growth code (any semaphore made is deleted again on failure).
    let waiters: [Option<Semaphore>; BROKERS * OPS] = core::array::from_fn(|_| Semaphore::new_binary().ok());
    if waiters.iter().any(Option::is_none) {
        return None;
    }
    let agent = Box::new(Agent {
        core: Mutex::new(core).ok()?,
        waiters,
        task: AtomicPtr::new(core::ptr::null_mut()),
        tls_failure: core::array::from_fn(|_| AtomicU8::new(0)),
    });
    let agent: &'static Agent = Box::leak(agent);
    AGENT.store(agent as *const Agent as *mut Agent, Ordering::Release);
    let task = rtos::spawn_fn("MQTT", mqtt::MQTT_TASK_STACK_DEPTH, mqtt::MQTT_TASK_PRIORITY, task::run).ok()?;
    agent.task.store(task, Ordering::Release);
    Some(())
}

/// True when called from the agent task, i.e. from inside an agent callback.
pub fn in_agent_task() -> bool {
    let Some(agent) = agent() else { return false };
    let task = agent.task.load(Ordering::Acquire);
    // SAFETY: returns the running task's handle; no preconditions in task context.
    let me = unsafe { freertos_rust::freertos_rs_get_current_task() } as *mut c_void;
    !task.is_null() && task == me
}

fn handle_of(index: usize, generation: u32) -> *mut c_void {
    handle::encode(handle::Kind::Mqtt, index, generation) as *mut c_void
}

fn decode_handle(h: *mut c_void) -> Option<(usize, u32)> {
    handle::decode(handle::Kind::Mqtt, h as usize, BROKERS)
}

const _: () = assert!(BROKERS <= handle::MAX_SLOTS, "mqttconfigMAX_BROKERS is at most 127");

impl Agent {
    fn lock(&self) -> MutexGuard<'_, Core, MutexNormal> {
        loop {
            // Held for short, non-blocking work only (never across a send,
            // a connect or an application callback).
            if let Ok(guard) = self.core.lock(Duration::infinite()) {
                return guard;
            }
        }
    }

    /// The completion signal of `slot` of `client`.
    fn waiter(&self, client: usize, slot: u16) -> Option<&Semaphore> {
        self.waiters.get(client * OPS + slot as usize)?.as_ref()
    }

    /// Allocates a client; `None` when `mqttconfigMAX_BROKERS` exist already.
    pub fn create(&self) -> Option<*mut c_void> {
        let (index, generation) = self.lock().create()?;
        self.tls_failure[index].store(0, Ordering::Relaxed);
        Some(handle_of(index, generation))
    }

    /// Runs `command` on the client `handle` and waits at most `timeout`
    /// ticks. While all of the client's slots are busy or no buffer is free,
    /// it retries every tick within that time.
    pub fn submit(&self, handle: *mut c_void, mut command: Command<'_>, timeout: u32) -> Result<Done, SubmitError> {
        let start = rtos::tick_count();
        let (index, generation) = decode_handle(handle).ok_or(SubmitError::BadHandle)?;
        let slot = loop {
            let refused = self.lock().submit(index, generation, command, &mut CPool);
            match refused {
                Ok(slot) => break slot,
                Err((Refused::BadHandle, _)) => return Err(SubmitError::BadHandle),
                Err((Refused::Busy | Refused::NoBufferNow, back)) => {
                    if rtos::tick_count().wrapping_sub(start) >= timeout {
                        return Err(SubmitError::Timeout);
                    }
                    command = back;
                    rtos::delay(1);
                }
            }
        };
        self.wake();
        let waited = rtos::tick_count().wrapping_sub(start);
        let Some(semaphore) = self.waiter(index, slot) else { return Err(SubmitError::NotReady) };
        let signalled = semaphore.take(Duration::ticks(timeout.saturating_sub(waited))).is_ok();
        let result = self.lock().collect(index, slot, &mut CPool);
        if result.is_some() && !signalled {
            // Completed just after the wait ended: clear the pending signal.
            let _ = semaphore.take(Duration::zero());
        }
        match result {
            Some(Ok(())) => Ok(Done::Success),
            Some(Err(failure)) => {
                log_failure(index, failure);
                Ok(Done::Failure)
            }
            None => Err(SubmitError::Timeout),
        }
    }

    /// Why the last TLS connect of `handle` failed (0: it did not), `None` for a bad handle.
    pub fn tls_failure(&self, handle: *mut c_void) -> Option<u8> {
        let (index, generation) = decode_handle(handle)?;
        self.lock().live(index, generation).then(|| self.tls_failure[index].load(Ordering::Relaxed))
    }

    fn set_tls_failure(&self, client: usize, code: u8) {
        self.tls_failure[client].store(code, Ordering::Relaxed);
    }

    /// Wakes the agent task (an API call or data on a socket).
    pub fn wake(&self) {
        let task = self.task.load(Ordering::Acquire);
        if !task.is_null() {
            // SAFETY: the handle is the agent task's, which never ends.
            unsafe { Task::from_raw_handle(task as freertos_rust::FreeRtosTaskHandle) }.notify(TaskNotification::Increment);
        }
    }
}

/// A failed operation's cause, for the debug log (compiled out without it).
fn log_failure(client: usize, failure: Failure) {
    crate::platform::log::debug(format_args!("MQTT: client {client}: operation failed: {failure:?}"));
}

/// Blocks the agent task until woken or `ticks` pass.
fn sleep(ticks: u32) {
    let wait = if ticks >= crate::config::kernel::MAX_DELAY { Duration::infinite() } else { Duration::ticks(ticks) };
    freertos_rust::CurrentTask::take_notification(true, wait);
}
