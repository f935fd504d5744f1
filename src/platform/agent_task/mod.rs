//! The MQTT agent's FreeRTOS side: one task (created through freertos-rust)
//! that owns every client's socket and protocol state, and the hand-off of
//! operations between API callers and that task.
//!
//! A caller encodes its packet into a [`TxBuf`] in its own task (the payload is
//! copied exactly once, there), puts it in one of its client's
//! `mqttconfigMAX_PARALLEL_OPS` operation slots, wakes the agent task and waits
//! on the slot's semaphore for at most its timeout. The agent task sends,
//! tracks the acknowledgement and completes the slot. A caller that gives up
//! leaves the slot `Abandoned`: the late answer then frees it and reaches nobody.

mod client;
mod txbuf;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};

use freertos_rust::{CurrentTask, Duration, Mutex, Semaphore, Task, TaskNotification};

use crate::config::{kernel, mqtt};
use crate::handle;
use crate::ffi::agent_types::MQTTAgentCallback_t;
use crate::mqtt::codec::QoS;
use crate::platform::rtos;

pub use crate::platform::link::TLS_BY_SOCKETS_PORT;
pub use txbuf::TxBuf;

const BROKERS: usize = mqtt::MAX_BROKERS;
const OPS: usize = mqtt::MAX_PARALLEL_OPS;

/// A C pointer carried between tasks; only ever handed back to C.
#[derive(Clone, Copy)]
pub struct CPtr(pub *mut c_void);
// SAFETY: the library never dereferences it; C code owns its meaning.
unsafe impl Send for CPtr {}

/// A subscription's C callback and its context.
#[cfg(afr_subscription_management)]
#[derive(Clone, Copy)]
pub struct SubCallback {
    pub f: crate::ffi::mqtt_lib::MQTTPublishCallback_t,
    pub ctx: CPtr,
}

/// An operation handed to the agent task.
pub enum Command {
    /// `buf` holds the CONNECT packet (`packet_len` bytes) followed by the
    /// NUL-terminated host name at `host_at`.
    /// `tls`: the connection must be TLS (there is no fall-back to plain TCP).
    Connect {
        buf: TxBuf,
        packet_len: usize,
        host_at: usize,
        port: u16,
        is_ip: bool,
        callback: MQTTAgentCallback_t,
        user_data: CPtr,
        /// The tick the application's call started and its `xTimeoutTicks`:
        /// they bound the TCP connect, the TLS handshake and the CONNACK.
        start: u32,
        timeout: u32,
        tls: Option<Box<crate::platform::link::TlsRequest>>,
    },
    #[cfg(afr_subscription_management)]
    Subscribe { buf: TxBuf, len: usize, callback: SubCallback },
    #[cfg(not(afr_subscription_management))]
    Subscribe { buf: TxBuf, len: usize },
    Unsubscribe { buf: TxBuf, len: usize },
    /// The packet id (placeholder 1) sits at `id_at` when `qos` is above 0.
    Publish { buf: TxBuf, len: usize, qos: QoS, id_at: usize },
    Disconnect,
    Delete,
    /// Replaces the connect callback and its `pvUserData` (the shadow client
    /// puts the application's back when it lets go of a shared client).
    #[cfg_attr(not(afr_subscription_management), allow(dead_code))] // Used by the shadow client only.
    SetCallback { callback: MQTTAgentCallback_t, user_data: CPtr },
    /// Does nothing. Its completion tells the caller that no callback of this
    /// client that started before the call is still running: the agent task
    /// runs operations and callbacks one after the other.
    #[cfg_attr(not(afr_subscription_management), allow(dead_code))]
    Barrier,
}

/// How the agent task finished an operation.
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

enum Slot {
    Free,
    Queued(Command),
    Active,
    Completed(Done),
    Abandoned,
}

struct ClientShared {
    allocated: bool,
    deleting: bool,
    /// The slot's current generation (`crate::handle`); 0: retired for good.
    generation: u32,
    /// Why the last TLS connect failed (`MQTTAgentTLSError_t`), 0 when it did not.
    tls_failure: u8,
    slots: [Slot; OPS],
}

struct Shared {
    clients: [ClientShared; BROKERS],
}

pub struct Agent {
    shared: Mutex<Shared>,
    /// One binary semaphore per (client, slot): the slot's completion signal.
    waiters: Vec<Semaphore>,
    task: AtomicPtr<c_void>,
    /// Per client: an operation may be queued. Lets the agent task skip the
    /// lock for clients with nothing to do (each lock is two critical sections).
    queued: [AtomicBool; BROKERS],
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
    let shared = Shared {
        clients: core::array::from_fn(|_| ClientShared {
            allocated: false,
            deleting: false,
            generation: handle::FIRST_GENERATION,
            tls_failure: 0,
            slots: core::array::from_fn(|_| Slot::Free),
        }),
    };
    let mut waiters = Vec::new();
    waiters.try_reserve_exact(BROKERS * OPS).ok()?;
    for _ in 0..BROKERS * OPS {
        waiters.push(Semaphore::new_binary().ok()?);
    }
    let agent = Box::new(Agent {
        shared: Mutex::new(shared).ok()?,
        waiters,
        task: AtomicPtr::new(core::ptr::null_mut()),
        queued: core::array::from_fn(|_| AtomicBool::new(false)),
    });
    let agent: &'static Agent = Box::leak(agent);
    AGENT.store(agent as *const Agent as *mut Agent, Ordering::Release);
    let task = rtos::spawn("MQTT", mqtt::MQTT_TASK_STACK_DEPTH, mqtt::MQTT_TASK_PRIORITY, client::run).ok()?;
    agent.task.store(task.raw_handle() as *mut c_void, Ordering::Release);
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
    fn lock(&self) -> freertos_rust::MutexGuard<'_, Shared, freertos_rust::MutexNormal> {
        loop {
            // Critical sections under this lock are short and never block.
            if let Ok(guard) = self.shared.lock(Duration::infinite()) {
                return guard;
            }
        }
    }

    fn client_index(shared: &Shared, handle: *mut c_void) -> Option<usize> {
        let (index, generation) = decode_handle(handle)?;
        let c = &shared.clients[index];
        (c.allocated && !c.deleting && c.generation == generation).then_some(index)
    }

    /// Allocates a client; `None` when `mqttconfigMAX_BROKERS` exist already.
    pub fn create(&self) -> Option<*mut c_void> {
        let mut shared = self.lock();
        // A retired slot (generation 0) is never handed out again.
        let (index, c) = shared.clients.iter_mut().enumerate().find(|(_, c)| !c.allocated && c.generation != 0)?;
        c.allocated = true;
        c.deleting = false;
        c.tls_failure = 0;
        Some(handle_of(index, c.generation))
    }

    /// Runs `command` on the client `handle` and waits at most `timeout` ticks.
    pub fn submit(&self, handle: *mut c_void, command: Command, timeout: u32) -> Result<Done, SubmitError> {
        let start = rtos::tick_count();
        let is_delete = matches!(command, Command::Delete);
        let mut command = Some(command);
        let (client, slot) = loop {
            {
                let mut shared = self.lock();
                let client = Self::client_index(&shared, handle).ok_or(SubmitError::BadHandle)?;
                let c = &mut shared.clients[client];
                if let Some(i) = c.slots.iter().position(|s| matches!(s, Slot::Free)) {
                    c.slots[i] = Slot::Queued(command.take().ok_or(SubmitError::NotReady)?);
                    if is_delete {
                        c.deleting = true; // No new operations on a client being deleted.
                    }
                    break (client, i);
                }
            }
            // All slots busy: wait for one, within the caller's time.
            if rtos::tick_count().wrapping_sub(start) >= timeout {
                return Err(SubmitError::Timeout);
            }
            rtos::delay(1);
        };
        // After the slot is queued (under the lock): the agent task clears the
        // flag before it looks, so it never misses this operation.
        self.queued[client].store(true, Ordering::Release);
        self.wake();
        let waited = rtos::tick_count().wrapping_sub(start);
        let signalled = self.waiters[client * OPS + slot].take(Duration::ticks(timeout.saturating_sub(waited))).is_ok();

        let mut shared = self.lock();
        let s = &mut shared.clients[client].slots[slot];
        let outcome = match core::mem::replace(s, Slot::Free) {
            Slot::Completed(done) => {
                if !signalled {
                    // Completed just after the wait ended: clear the pending signal.
                    let _ = self.waiters[client * OPS + slot].take(Duration::zero());
                }
                Ok(done)
            }
            Slot::Queued(cmd) => {
                drop(cmd); // Never started: its buffer goes back now.
                Err(SubmitError::Timeout)
            }
            Slot::Active => {
                *s = Slot::Abandoned;
                Err(SubmitError::Timeout)
            }
            other => {
                *s = other;
                Err(SubmitError::Timeout)
            }
        };
        if is_delete {
            let c = &mut shared.clients[client];
            if outcome == Ok(Done::Success) {
                c.allocated = false;
                c.generation = handle::next_generation(c.generation).unwrap_or(0);
            }
            c.deleting = false;
        }
        outcome
    }

    /// Why the last TLS connect of `handle` failed (0: it did not), `None` for a bad handle.
    pub fn tls_failure(&self, handle: *mut c_void) -> Option<u8> {
        let shared = self.lock();
        Self::client_index(&shared, handle).map(|i| shared.clients[i].tls_failure)
    }

    /// Agent task: records the outcome of a connect for `tls_failure`.
    fn set_tls_failure(&self, client: usize, code: u8) {
        self.lock().clients[client].tls_failure = code;
    }

    /// Wakes the agent task (an API call or data on a socket).
    pub fn wake(&self) {
        let task = self.task.load(Ordering::Acquire);
        if !task.is_null() {
            // SAFETY: the handle is the agent task's, which never ends.
            unsafe { Task::from_raw_handle(task as freertos_rust::FreeRtosTaskHandle) }.notify(TaskNotification::Increment);
        }
    }

    /// Agent task: whether `client` may have queued operations (clears the mark).
    fn take_queued(&self, client: usize) -> bool {
        self.queued[client].swap(false, Ordering::AcqRel)
    }

    /// Agent task: every queued operation of `client` (in slot order), now
    /// `Active`, taken under one lock.
    fn queued_commands(&self, client: usize) -> heapless::Vec<(u16, Command), OPS> {
        let mut taken = heapless::Vec::new();
        let mut shared = self.lock();
        for (i, slot) in shared.clients[client].slots.iter_mut().enumerate() {
            if matches!(slot, Slot::Queued(_)) {
                if let Slot::Queued(cmd) = core::mem::replace(slot, Slot::Active) {
                    // Cannot overflow: one entry per slot.
                    let _ = taken.push((i as u16, cmd));
                }
            }
        }
        taken
    }

    /// Agent task: operation `slot` of `client` finished. False when its caller
    /// had already given up (the result reaches nobody).
    fn complete(&self, client: usize, slot: u16, done: Done) -> bool {
        let mut shared = self.lock();
        let Some(s) = shared.clients[client].slots.get_mut(slot as usize) else { return false };
        match s {
            Slot::Active => {
                *s = Slot::Completed(done);
                self.waiters[client * OPS + slot as usize].give();
                true
            }
            Slot::Abandoned => {
                *s = Slot::Free;
                false
            }
            _ => false,
        }
    }
}

/// Blocks the agent task until woken or `ticks` pass.
fn sleep(ticks: u32) {
    let wait = if ticks >= kernel::MAX_DELAY { Duration::infinite() } else { Duration::ticks(ticks) };
    CurrentTask::take_notification(true, wait);
}
