//! The MQTT agent's FreeRTOS side: the agent core (`crate::agent::core`, all
//! the protocol and every decision) behind one lock, one task that does the
//! core's I/O and calls the application's callbacks, and the callers' wait.
//!
//! A caller hands its [`Command`] to the core under the lock (the packet is
//! encoded there, the payload copied once), wakes the task and waits for at
//! most its timeout; then it collects the result, or leaves the slot
//! abandoned (the late answer frees it, reaching nobody).
//!
//! The lock is built from kernel code every FreeRTOS image has already
//! (scheduler suspension, and the event lists a queue blocks tasks on), not
//! from a FreeRTOS mutex: a caller holds the core with the scheduler
//! suspended (`vTaskSuspendAll`) for its short, never blocking work (check a
//! handle, take a slot and a buffer, encode, copy the payload, collect); the
//! agent task holds it with the scheduler running while it reads its sockets
//! (see [`Agent::hold`]), and callers that find it so wait until it lets go.
//! Nothing under either is an application callback, a send or a connect.
//!
//! Every wait (a caller's for its operation or for the core, the agent
//! task's sleep) blocks on one of three event lists of the library's own
//! (`rtos::block`, `rtos::wake`: the kernel functions a queue uses, which
//! every image has; not task notifications, whose kernel code the library
//! alone would pull in), after it looked at what it waits for in the same
//! scheduler suspension, so no wake-up is lost; the application's task
//! notifications are left alone. A wake-up reaches every task on its list,
//! so it is only a hint: a caller looks at its slot under the lock and
//! waits again, for the time left, unless the agent task marked it finished.

mod buffers;
mod task;

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::mem::MaybeUninit;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};

use crate::agent::core::{self as agent_core, Action, AgentCore, Failure, Next, Refused};
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
/// Every client's keep-alive timing.
const KEEP_ALIVE: KeepAlive = KeepAlive { interval: mqtt::KEEP_ALIVE_ACTUAL_INTERVAL_TICKS, timeout: mqtt::KEEP_ALIVE_TIMEOUT_TICKS };
const OPS: usize = mqtt::MAX_PARALLEL_OPS;
#[cfg(afr_subscription_management)]
const SUBS: usize = mqtt::SUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS;
/// Without subscription management no subscription has a callback (the
/// table stays empty), but a delivery's list still holds the connect callback.
#[cfg(not(afr_subscription_management))]
const SUBS: usize = 1;
#[cfg(afr_subscription_management)]
const FILTER: usize = mqtt::SUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH;
#[cfg(not(afr_subscription_management))]
const FILTER: usize = 0;
/// Bytes read from one client per pass of the task loop: a broker that floods
/// one connection cannot keep the task from the other clients, their
/// operations and keep-alive (see `task::run`). At least two of the largest
/// publishes a pool buffer holds: one such publish is no flood (a spent
/// budget makes the task rest a tick, which a 4 KB round trip paid each time
/// with the simulator benchmark's 8 KB buffers and a 4 KB budget).
const RX_BUDGET: usize = {
    let per_rx = 4 * if mqtt::RX_BUFFER_SIZE > 64 { mqtt::RX_BUFFER_SIZE } else { 64 };
    let two_largest = 2 * (crate::config::pool::BUFFER_SIZE + 5);
    if per_rx > two_largest { per_rx } else { two_largest }
};

/// A C pointer carried between tasks; only ever handed back to C.
#[derive(Clone, Copy)]
pub struct CPtr(pub *mut c_void);
// SAFETY: the library never dereferences it; C code owns its meaning.
unsafe impl Send for CPtr {}

/// An application callback as the core keeps it (it only copies it around).
/// Its tag is a word whose values are the two largest, so that the value
/// after them, `Option<Callback>`'s `None`, is 0, as a never-created
/// client's zero bytes need (see `CLIENTS`). (A byte tag numbered from 1 did
/// that too, but moving callbacks and actions byte-wise cost the agent task
/// 33 instructions per QoS 1 round trip; rustc's own tag is a word too.)
#[derive(Clone, Copy)]
#[repr(u32)]
pub enum Callback {
    /// A subscription's callback and its context.
    #[cfg(afr_subscription_management)]
    Publish(MQTTPublishCallback_t, CPtr) = u32::MAX - 1,
    /// The connect callback (`pxCallback`) and its `pvUserData`.
    Connect(MQTTAgentCallback_t, CPtr) = u32::MAX,
}

pub use crate::platform::link::{Open, OpenRequest};

pub type Command<'a> = agent_core::Command<'a, OpenRequest, Callback>;
type Core = AgentCore<&'static mut [Client], PoolBuf, Callback, OpenRequest, BROKERS, OPS, SUBS, FILTER>;
type Client = agent_core::Client<PoolBuf, Callback, OpenRequest, OPS, SUBS, FILTER>;

/// How a caller's command ended: one byte (the first three are the C API's
/// `MQTTAgentReturnCode_t` values), not a `Result` of two enums, so that the
/// wait and the callers pass one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Ended {
    /// The operation succeeded.
    Success = 0,
    /// The operation failed (the broker refused it, the connection was lost…).
    Failure = 1,
    /// The caller's timeout passed.
    Timeout = 2,
    /// The handle names no live client (never created, deleted, or not a
    /// handle). 5: its low two bits are `Failure`'s, the C API's code for
    /// it (`ffi::agent::call` masks; bytes saved).
    BadHandle = 5,
}

/// What the lock guards.
struct Shared {
    /// Written once by `init`, before `state`'s CORE: initialised wherever
    /// the agent is reached (through `agent()`).
    core: MaybeUninit<Core>,
    /// Per (client, slot): the agent task found the operation finished (its
    /// caller is told), marked under the hold; cleared by the caller that
    /// takes the slot, under the lock. (No task handle: a wake-up reaches
    /// every waiting caller, see `Agent::complete`.)
    told: [bool; BROKERS * OPS],
}

pub struct Agent {
    shared: UnsafeCell<Shared>,
    /// The agent task holds the core with the scheduler running (`hold`).
    /// Written by the agent task, read by callers, both with the scheduler suspended.
    held: AtomicBool,
    /// The agent task was woken (an API call or data on a socket) since it
    /// last slept: it does not sleep then. Set by the wakers before they wake
    /// the task's list; tested by the agent task with the scheduler suspended
    /// (see `sleep`), cleared after its sleep.
    pending: AtomicBool,
    /// The agent task's handle, which it records itself (null until then),
    /// for `is_current`. Relaxed, written and read: the handle is all it carries.
    task: AtomicPtr<c_void>,
    /// Per client: why the last TLS connect failed (`MQTTAgentTLSError_t`), 0 when it did not.
    tls_failure: [AtomicU8; BROKERS],
    /// The agent's state, one byte of the bits `CORE`, `TASK` and `BUSY`
    /// (one load for `agent()`, one word of flags for `init`); here, beside
    /// what it guards, so that both are reached from one address.
    state: AtomicU8,
}

// SAFETY: `shared` is only reached through `lock` (the scheduler suspended,
// the agent task not holding it) or `hold` (the agent task, with callers kept
// out by `held`), so one task at a time.
unsafe impl Sync for Agent {}

impl Shared {
    fn core(&mut self) -> &mut Core {
        // SAFETY: `Shared` is only reached through `agent()`, which gives the
        // agent only once `state`'s CORE says its core was written.
        unsafe { self.core.assume_init_mut() }
    }
}

/// The agent: everything but the core is ready in static memory (all zero:
/// `.bss`); `init` writes the core once (never freed, never moved).
static AGENT: Agent = Agent {
    shared: UnsafeCell::new(Shared { core: MaybeUninit::uninit(), told: [false; BROKERS * OPS] }),
    held: AtomicBool::new(false),
    pending: AtomicBool::new(false),
    task: AtomicPtr::new(core::ptr::null_mut()),
    tls_failure: [const { AtomicU8::new(0) }; BROKERS],
    state: AtomicU8::new(0),
};
/// The clients' table, all zero bytes: in `.bss`, built by no code
/// (`Client::new`); lent to AGENT's core once, by `init`.
///
/// On the device its section is named as `.bss` (the standard linker
/// scripts' `*(.bss*)`), which makes a value that is not all zero bytes a
/// build error ("BSS section … cannot have non-zero bytes") rather than
/// kilobytes of flash in `.data` (e.g. after a change of an enum's layout
/// made a never-created client's `None` a byte other than 0).
// SAFETY (the attribute): only the section's name changes: an ordinary
// zero-filled section of writable data, where the value goes anyway.
#[cfg_attr(target_os = "none", link_section = ".bss.afr_mqtt_clients")]
static CLIENTS: Clients = Clients(UnsafeCell::new([const { Client::new() }; BROKERS]));
struct Clients(UnsafeCell<[Client; BROKERS]>);
// SAFETY: reached once, by `init` (BUSY claimed, CORE clear), which
// lends it to AGENT's core for good; then only through the core, as `Agent` says.
unsafe impl Sync for Clients {}

/// `Agent::state`: AGENT's core is written (set once, for good).
const CORE: u8 = 1;
/// The agent task runs (set once, for good).
const TASK: u8 = 2;
/// A task initialises (claimed with the scheduler suspended).
const BUSY: u8 = 4;

/// The initialised agent, if any. (Out of line: every C entry point calls it.)
#[inline(never)]
pub fn agent() -> Option<&'static Agent> {
    if AGENT.state.load(Ordering::Acquire) & CORE == 0 {
        return None;
    }
    // CORE is set (Release) only after AGENT's core was written, and it is
    // never written again.
    Some(&AGENT)
}

/// Proof that the agent is initialised, carried for free (no register): made
/// only from an agent that `agent()` gave, it gives AGENT back where the
/// agent is one argument too many (the C API's `run`).
#[derive(Clone, Copy)]
pub struct Ready(());

impl Ready {
    /// The agent this proof was made from (there is one, AGENT).
    #[inline(always)]
    pub fn agent(self) -> &'static Agent {
        &AGENT
    }
}

/// Creates the agent and its task. Idempotent; false when resources are missing.
pub fn init() -> bool {
    // Claim the initialisation with the scheduler suspended (a test and set
    // no other task can interleave with), unless it is done or under way.
    rtos::suspend_all();
    let state = AGENT.state.load(Ordering::Relaxed);
    if state & (TASK | BUSY) == 0 {
        AGENT.state.store(state | BUSY, Ordering::Relaxed);
    }
    rtos::resume_all();
    if state & (TASK | BUSY) != 0 {
        // Done, or another caller initialises: wait for the outcome.
        loop {
            let now = AGENT.state.load(Ordering::Acquire);
            if now & BUSY == 0 {
                return now & TASK != 0;
            }
            rtos::delay(1);
        }
    }
    if state & CORE == 0 {
        // SAFETY: BUSY is claimed, so this task alone initialises, and CORE
        // is clear, so nobody reaches AGENT's shared part yet; nor CLIENTS,
        // which is reached here only, once (CORE is set below, for good).
        unsafe { (*AGENT.shared.get()).core.write(Core::new(&mut *CLIENTS.0.get(), RX_BUDGET, KEEP_ALIVE)) };
        // Before anything can wait on them (nothing reaches the agent yet).
        rtos::init_lists();
        // Published before the task starts (the task is handed it as its
        // parameter, see `task::entry`).
        AGENT.state.store(CORE | BUSY, Ordering::Release);
    }
    // (When the task cannot be created, a later init only retries the task.)
    // (The task records its handle itself, first thing: see `task::run`.)
    let ok = rtos::spawn_fn(c"MQTT", mqtt::MQTT_TASK_STACK_DEPTH, mqtt::MQTT_TASK_PRIORITY, task::entry, &AGENT as *const Agent as *mut c_void).is_ok();
    AGENT.state.store(if ok { CORE | TASK } else { CORE }, Ordering::Release);
    ok
}

/// True when called from the agent task, i.e. from inside an agent callback.
/// (The shadow's; the C API looks the agent up once itself.)
#[cfg_attr(not(afr_subscription_management), allow(dead_code))]
pub fn in_agent_task() -> bool {
    agent().is_some_and(Agent::is_current)
}

fn handle_of(index: usize, generation: u32) -> *mut c_void {
    handle::encode(handle::Kind::Mqtt, index, generation) as *mut c_void
}

fn decode_handle(h: *mut c_void) -> Option<(usize, u32)> {
    handle::decode(handle::Kind::Mqtt, h as usize, BROKERS)
}

const _: () = assert!(BROKERS <= handle::MAX_SLOTS, "mqttconfigMAX_BROKERS is at most 127");

/// The core held by a caller: the scheduler stays suspended until it drops.
struct Locked<'a> {
    shared: &'a mut Shared,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        rtos::resume_all();
    }
}

impl Deref for Locked<'_> {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        self.shared
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Shared {
        self.shared
    }
}

/// The core held by the agent task, with the scheduler running (see [`Agent::hold`]).
pub(super) struct Held<'a> {
    agent: &'a Agent,
    shared: &'a mut Shared,
}

impl Held<'_> {
    /// The core's next action. A finished operation's caller is marked told
    /// here, under the hold, before the wake-up performed later (without the
    /// hold, see [`Agent::complete`]); a caller that takes the slot later
    /// clears the mark.
    pub(super) fn next_action(&mut self) -> Option<Next<PoolBuf, Callback, OpenRequest>> {
        let next = self.shared.core().poll(&mut CPool)?;
        if let Next { client, action: Action::Complete { slot } } = next {
            if let Some(told) = self.shared.told.get_mut(client * OPS + slot as usize) {
                *told = true;
            }
        }
        Some(next)
    }
}

impl Deref for Held<'_> {
    type Target = Core;
    fn deref(&self) -> &Core {
        // SAFETY: as `Shared::core`.
        unsafe { self.shared.core.assume_init_ref() }
    }
}

impl DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Core {
        self.shared.core()
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // The pass's work on `shared` stays before the store.
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        // No scheduler suspension needed: a caller tests `held` and blocks
        // in one suspension, during which this task does not run; so it
        // either finds it clear or is on the list when it is woken here.
        self.agent.held.store(false, Ordering::Relaxed);
        rtos::wake(rtos::List::Lock);
    }
}

impl Agent {
    /// The core, for a caller (or the agent task outside its pass): with the
    /// scheduler suspended until the guard drops, so only for short work that
    /// never blocks. Waits while the agent task holds the core.
    fn lock(&self) -> Locked<'_> {
        loop {
            rtos::suspend_all();
            if !self.held.load(Ordering::Relaxed) {
                // SAFETY: the scheduler is suspended and the agent task does
                // not hold the core: no other task reaches `shared` until the
                // guard resumes the scheduler (no interrupt handler touches it).
                return Locked { shared: unsafe { &mut *self.shared.get() } };
            }
            // The agent task reads its sockets under the core: wait until it
            // lets go (it wakes every task waiting so, see `Held`'s drop).
            // SAFETY: suspended once, just above (callers never nest it); the
            // lists are ready (the agent is initialised).
            unsafe { rtos::block(rtos::List::Lock, crate::config::kernel::MAX_DELAY) };
        }
    }

    /// The core, for the agent task's pass: held with the scheduler running,
    /// as the pass reads the sockets (`SOCKETS_Recv`, and TLS records with the
    /// library's TLS), which must not run with the scheduler suspended.
    /// Callers meanwhile wait in `lock`. Only the agent task calls it, and
    /// never while it holds the core already.
    pub(super) fn hold(&self) -> Held<'_> {
        // No caller is inside `lock`'s section now: this task runs, so none
        // has the scheduler suspended (one core). So the store needs no
        // suspension of its own; a caller that comes later finds it. The
        // fence keeps the compiler from moving the pass's reads of `shared`
        // above it.
        self.held.store(true, Ordering::Relaxed);
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        // SAFETY: `held` keeps callers out of `shared` (they test it with the
        // scheduler suspended, and none was inside: this task runs, so no
        // caller has the scheduler suspended); only this task holds, once.
        Held { agent: self, shared: unsafe { &mut *self.shared.get() } }
    }

    /// Wakes the callers waiting for their operations, after a pass found
    /// one finished and marked its caller told (the others look and wait
    /// again): no lock, as a caller tests its mark and blocks in one
    /// scheduler suspension.
    pub(super) fn complete(&self) {
        rtos::wake(rtos::List::Done);
    }

    /// Allocates a client; `None` when `mqttconfigMAX_BROKERS` exist already.
    pub fn create(&self) -> Option<*mut c_void> {
        let (index, generation) = self.lock().core().create()?;
        self.set_tls_failure(index, 0);
        Some(handle_of(index, generation))
    }

    /// Runs `command` on the client `handle` and waits at most `timeout`
    /// ticks. While all of the client's slots are busy or no buffer is free,
    /// it retries every tick within that time.
    ///
    /// The command is handed to the core where it lies (no copy of it in this
    /// frame: it is the deepest part of a caller's stack); the wait, inlined
    /// here, needs no more frame than the submit does (76 bytes on Cortex-M4F).
    /// (The shadow's; the C API passes its own entry tick to `submit_from`.)
    #[inline]
    #[cfg_attr(not(afr_subscription_management), allow(dead_code))]
    pub fn submit(&self, handle: *mut c_void, command: Command<'_>, timeout: u32) -> Ended {
        Self::submit_from(handle, command, rtos::tick_count(), timeout, self.ready())
    }

    /// This agent's proof of being initialised (every `&Agent` outside this
    /// module is `agent()`'s, i.e. AGENT once its core is written).
    #[inline(always)]
    pub fn ready(&self) -> Ready {
        Ready(())
    }

    /// [`submit`](Self::submit) for a caller whose time started at tick
    /// `start` (the C API's calls: they take the tick once, on entry). The
    /// agent comes as its proof of being initialised, which takes no
    /// register and no stack (bytes saved against a fifth argument on the stack).
    pub fn submit_from(handle: *mut c_void, mut command: Command<'_>, start: u32, timeout: u32, ready: Ready) -> Ended {
        let this = ready.agent();
        let Some((index, generation)) = decode_handle(handle) else { return Ended::BadHandle };
        let (slot, shared) = loop {
            let mut shared = this.lock();
            match shared.core().submit(index, generation, &mut command, &mut CPool) {
                Ok(slot) => break (slot, shared),
                Err(Refused::BadHandle) => return Ended::BadHandle,
                Err(Refused::Busy | Refused::NoBufferNow) => {
                    drop(shared);
                    if rtos::tick_count().wrapping_sub(start) >= timeout {
                        return Ended::Timeout;
                    }
                    rtos::delay(1);
                }
            }
        };
        // Still under the lock: the agent task runs once this task blocks in
        // the wait (one suspension for the submit and the wait's first look).
        this.wake();
        match this.wait(shared, index, slot, start, timeout) {
            Some(Ok(())) => Ended::Success,
            Some(Err(failure)) => {
                log_failure(index, failure);
                Ended::Failure
            }
            None => Ended::Timeout,
        }
    }

    /// Waits, from the lock `shared` under which `slot` was taken, until the
    /// agent task marks it finished or `timeout` (from `start`) passes, then
    /// collects it: its result, or `None` (abandoned).
    fn wait<'a>(&'a self, mut shared: Locked<'a>, index: usize, slot: u16, start: u32, timeout: u32) -> Option<Result<(), Failure>> {
        let at = index * OPS + slot as usize;
        // The caller waits on this slot from now on. (Tested once: `at` is
        // below the table's length for the loop's accesses.)
        let Some(told) = shared.told.get_mut(at) else { return shared.core().collect(index, slot, &mut CPool) };
        *told = false;
        loop {
            let left = timeout.saturating_sub(rtos::tick_count().wrapping_sub(start));
            if left == 0 || shared.told.get(at).map_or(true, |told| *told) {
                return shared.core().collect(index, slot, &mut CPool);
            }
            // Woken when the agent task finished an operation (this one or
            // another: the slot is looked at again), or the time is up. The
            // block ends the lock's suspension (no guard drop).
            core::mem::forget(shared);
            // SAFETY: the lock's suspension, once (callers never nest it).
            unsafe { rtos::block(rtos::List::Done, left) };
            shared = self.lock();
        }
    }

    /// Why the last TLS connect of `handle` failed (0: it did not), `None` for a bad handle.
    pub fn tls_failure(&self, handle: *mut c_void) -> Option<u8> {
        let (index, generation) = decode_handle(handle)?;
        let live = self.lock().core().live(index, generation);
        live.then(|| self.tls_failure[index].load(Ordering::Relaxed))
    }

    /// `client` is below `mqttconfigMAX_BROKERS` (the core's client index).
    fn set_tls_failure(&self, client: usize, code: u8) {
        if let Some(f) = self.tls_failure.get(client) {
            f.store(code, Ordering::Relaxed);
        }
    }

    /// True when called from the agent task (see [`in_agent_task`]).
    pub fn is_current(&self) -> bool {
        let task = self.task.load(Ordering::Relaxed);
        !task.is_null() && task == rtos::current_task()
    }

    /// Wakes the agent task (an API call or data on a socket).
    pub fn wake(&self) {
        self.pending.store(true, Ordering::Relaxed);
        rtos::wake(rtos::List::Agent);
    }
}

/// A failed operation's cause, for the debug log (compiled out without it).
fn log_failure(client: usize, failure: Failure) {
    crate::platform::log::debug(format_args!("MQTT: client {client}: operation failed: {failure:?}"));
}

/// Blocks the agent task until woken or `ticks` pass (`portMAX_DELAY`:
/// until woken); not at all when it was woken since it last slept. Either
/// way the wake-ups so far are taken (as `ulTaskNotifyTake` clears): the
/// pass that follows looks at what they announced.
fn sleep(agent: &Agent, ticks: u32) {
    // The test and the block in one suspension: a wake-up comes before the
    // test or finds the task blocked.
    rtos::suspend_all();
    if agent.pending.load(Ordering::Relaxed) {
        rtos::resume_all();
    } else {
        // SAFETY: suspended once, just above (the agent task never nests
        // it); the lists are ready (`init`, before the task).
        unsafe { rtos::block(rtos::List::Agent, ticks.min(crate::config::kernel::MAX_DELAY)) };
    }
    agent.pending.store(false, Ordering::Relaxed);
}
