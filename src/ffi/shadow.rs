//! `aws_shadow.h`'s functions: the Device Shadow client over the MQTT agent.
//!
//! Every decision (topics and their uses, tokens, which response answers
//! which caller, callbacks, buffer ownership, handles) is the pure
//! [`ShadowCore`]'s. This file checks the C arguments (and logs which one it
//! refused), converts, holds the lock around the core, waits for the
//! service's response and performs the core's [`Step`]s and [`Delivered`]
//! steps: calls into the agent and into the application's callbacks.
//! Requires `mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT` 1, as AFR's client did.
//!
//! No FreeRTOS mutex or semaphore (no kernel queue code, no heap for them),
//! as the agent (`platform::agent_task`):
//! - The table (the core, the applications' callbacks) is held with the scheduler suspended (`vTaskSuspendAll`), only for work
//!   that never blocks: the core's decisions, table entries, wake-ups.
//!   No log, agent call or application callback runs under it.
//! - One operation at a time per client, as AFR's: the core's flow is the
//!   client's operation lock (`begin` refuses a busy client with `Timeout`).
//!   A caller that finds it busy waits at most its own timeout, blocked
//!   (`rtos::block`, on the agent's callers' event list) in the suspension
//!   it looked in, until the flow's end (its `Finish` or `Detach`, under the
//!   lock) wakes the list. No priority inheritance.
//! - The flow's caller waits for the service's response the same way, for the time
//!   left: the agent task's publish callback closes the operation in the core
//!   (its answer) and wakes the list, both under the lock. Every wake-up is a
//!   hint (the core's record says whether it was the answer: the next step
//!   is a wait again while the operation is open); the application's task
//!   notifications are left alone.

use core::cell::UnsafeCell;
use core::ffi::{c_char, c_void};

use crate::config::{kernel, shadow as cfg};
// Lifecycle calls take the application's C parameters: they go through the
// C API's conversions. Operations use the agent's Rust API (in `drive`).
use crate::ffi::agent::{MQTT_AGENT_Connect, MQTT_AGENT_Create, MQTT_AGENT_Disconnect, MQTT_AGENT_ReturnBuffer};
use crate::ffi::agent_types::*;
use crate::ffi::mqtt_lib::{MQTTBool_t, MQTTBufferHandle_t, MQTTPublishData_t};
use crate::ffi::read_c_enum;
use crate::ffi::shadow_types::*;
use crate::ffi::types::{pdFALSE, pdTRUE, BaseType_t, TickType_t};
use crate::platform::agent_task::{self, Command};
use crate::platform::log::debug;
use crate::platform::rtos;
use crate::shadow::core::{
    request_capacity, BufferId, Budget, Callback, ClientId, Code, Delivered, Delivery, Document, MqttId, Outcome, QoS, ShadowCore, Start, Step,
    Wants, CLIENTS,
};
use crate::shadow::topic::{self, Operation, Topic, MAX_THING_NAME};

/// A thing's C callbacks: the core's record, carried and handed back.
#[derive(Clone, Copy)]
struct CCallbacks {
    updated: ShadowUpdatedCallback_t,
    deleted: ShadowDeletedCallback_t,
    delta: ShadowDeltaCallback_t,
}

const NO_CALLBACKS: CCallbacks = CCallbacks { updated: None, deleted: None, delta: None };

/// The application's side of a client: its connect callback and user data.
#[derive(Clone, Copy)]
struct App {
    callback: MQTTAgentCallback_t,
    user_data: usize,
    /// `SHADOW_ClientConnect` put [`on_agent_event`] in place of the
    /// application's connect callback; delete puts the application's back.
    intercepting: bool,
}

const NO_APP: App = App { callback: None, user_data: 0, intercepting: false };

struct State {
    core: ShadowCore<CCallbacks>,
    apps: [App; CLIENTS],
}

/// The table, static (mostly zeros: no flash, no temporary on any stack);
/// only ever touched through [`Shadow::lock`].
struct Table(UnsafeCell<State>);
// SAFETY: every access holds `Shadow::lock` (the scheduler suspended: one task
// at a time, and no interrupt handler touches it); the task handles in it are
// only handed to the kernel while their tasks exist (see `Op`).
unsafe impl Sync for Table {}

static TABLE: Table =
    Table(UnsafeCell::new(State { core: ShadowCore::new(NO_CALLBACKS), apps: [NO_APP; CLIENTS] }));

/// The shadow client's synchronisation: no kernel object, only the scheduler
/// suspension and the agent's callers' event list (see the module doc).
struct Shadow;

static SHADOW: Shadow = Shadow;

/// Each client's topic buffer: static (zeros, .bss), off the callers' stacks.
struct Topics([UnsafeCell<Topic>; CLIENTS]);
// SAFETY: client `slot`'s buffer is only used by the task that runs the
// flow of the client in that slot (`drive`), so by one task at a time.
unsafe impl Sync for Topics {}

const NO_TOPIC: UnsafeCell<Topic> = UnsafeCell::new(Topic::new());
static TOPICS: Topics = Topics([NO_TOPIC; CLIENTS]);

/// The table, held: the scheduler stays suspended until it drops, so only
/// for short work that never blocks (the core's decisions, table entries,
/// wake-ups): no log, no agent call, no callback under it. One at a time
/// per task (none is made while another lives).
struct Guard {
    _private: (),
}

impl Drop for Guard {
    fn drop(&mut self) {
        rtos::resume_all();
    }
}

impl core::ops::Deref for Guard {
    type Target = State;
    fn deref(&self) -> &State {
        // SAFETY: the scheduler is suspended for the guard's life: no other
        // task runs, and no interrupt handler touches the table.
        unsafe { &*TABLE.0.get() }
    }
}

impl core::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut State {
        // SAFETY: as `deref`; and this task makes one guard at a time, so this
        // is the only reference to the table.
        unsafe { &mut *TABLE.0.get() }
    }
}

impl Shadow {
    // Out of line, though it is only a call: LLVM then inlines the rest of
    // `flow` differently, 24 bytes smaller (measured).
    #[inline(never)]
    fn lock(&self) -> Guard {
        rtos::suspend_all();
        Guard { _private: () }
    }

}

/// Logs why `function` refused an argument (as coreMQTT does) and fails.
fn refuse(function: &str, argument: &str, why: &str) -> ShadowReturnCode_t {
    debug(format_args!("{function}: refused {argument}: {why}"));
    eShadowFailure
}

/// Common entry: not from an agent callback (it would deadlock), a live handle.
#[inline(always)] // Inlined into its caller, the image is smaller (measured).
/// Also the client's MQTT client (fixed for the client's life).
fn enter(function: &str, handle: ShadowClientHandle_t) -> Result<(&'static Shadow, ClientId, MqttId), ShadowReturnCode_t> {
    if agent_task::in_agent_task() {
        return Err(refuse(function, "call", "from the MQTT agent task (a callback)"));
    }
    let s = &SHADOW;
    // Looked up first: the refusal's log is not written under the lock.
    let found = {
        let g = s.lock();
        g.core.client(handle as usize).and_then(|id| Some((id, g.core.mqtt(id)?)))
    };
    match found {
        Some((id, mqtt)) => Ok((s, id, mqtt)),
        None => Err(refuse(function, "xShadowClientHandle", "no live shadow client")),
    }
}

fn code(c: Code) -> ShadowReturnCode_t {
    c.0
}

// The core's codes are AFR's values.
const _: () = assert!(
    Code::Success.0 == eShadowSuccess && Code::Timeout.0 == eShadowTimeout && Code::Failure.0 == eShadowFailure
);

/// An agent result as an outcome: a `MQTTAgentReturnCode_t` or an
/// [`agent_task::Ended`] (whose first three values are the same), as a number.
#[inline(never)] // Several callers: one copy.
fn outcome(code: u8) -> Outcome {
    const _: () = assert!(
        MQTTAgentReturnCode_t::eMQTTAgentSuccess as u8 == agent_task::Ended::Success as u8
            && MQTTAgentReturnCode_t::eMQTTAgentTimeout as u8 == agent_task::Ended::Timeout as u8
    );
    match code {
        0 => Outcome::Success,
        2 => Outcome::Timeout,
        _ => Outcome::Failure,
    }
}

#[inline(never)] // Called from several places: one copy.
fn remaining(start: u32, timeout: TickType_t) -> TickType_t {
    timeout.saturating_sub(rtos::tick_count().wrapping_sub(start))
}

fn cleanup_ticks() -> TickType_t {
    ((cfg::CLEANUP_TIME_MS as u64 * kernel::TICK_RATE_HZ as u64) / 1000).max(1) as TickType_t
}

/// A NUL-terminated thing name from C, validated.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
unsafe fn thing_name<'a>(function: &str, name: *const c_char) -> Result<&'a str, ShadowReturnCode_t> {
    if name.is_null() {
        return Err(refuse(function, "pcThingName", "NULL"));
    }
    // At most one byte past the longest name is read: a longer one is refused.
    let mut len = 0;
    // SAFETY: per this function's contract, every byte up to the NUL is
    // readable, and the loop stops at the NUL.
    while len <= MAX_THING_NAME && unsafe { *name.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` bytes just read.
    let bytes = unsafe { core::slice::from_raw_parts(name as *const u8, len) };
    match topic::validate_thing_name(bytes) {
        // SAFETY: a valid thing name is ASCII, hence UTF-8.
        Ok(()) => Ok(unsafe { core::str::from_utf8_unchecked(bytes) }),
        Err(_) => Err(refuse(function, "pcThingName", "not a thing name (1-128 of a-zA-Z0-9:_-)")),
    }
}

// ------------------------------------------------------------ performing steps

/// How a caller's flow ended: its code, and a Get's document.
enum Ended {
    Finish(ShadowReturnCode_t, Option<Document>),
}

/// What a flow needs from its caller: the timeout's start, the request body,
/// the connect parameters.
struct Caller<'a> {
    /// The client's MQTT client (the core's, fixed for the client's life).
    mqtt: MqttId,
    start: u32,
    timeout: TickType_t,
    body: &'a [u8],
    /// A connect's parameters, the application's (the Connect step puts our
    /// callback in a copy).
    connect: Option<&'a MQTTAgentConnectParams_t>,
}

/// Waits for a wake-up at most `ticks` (0: `Timeout` at once): the response
/// (woken by `on_publish`; the core waits again while the operation is open)
/// or the end of another caller's flow on the client (`begin` is tried
/// again). Blocked in the suspension of `g`, in which the core looked, so
/// that no wake-up is lost; the block ends it.
#[inline(never)] // Two callers: one copy (inlined, +116 bytes measured).
fn wait(g: Guard, ticks: TickType_t) -> Outcome {
    if ticks == 0 {
        return Outcome::Timeout;
    }
    core::mem::forget(g);
    // SAFETY: the lock's suspension, once (nothing nests it).
    unsafe { rtos::block(rtos::List::Done, ticks) };
    Outcome::Success
}

/// Performs `id`'s flow, step by step, until it ends. The topic is built here,
/// once, for every step that names one.
/// `id`'s flow was begun by this caller: until it ends only this task steps it.
fn drive(s: &Shadow, id: ClientId, caller: &Caller<'_>) -> Ended {
    let Some(cell) = TOPICS.0.get(id.slot) else {
        return Ended::Finish(eShadowFailure, None);
    };
    // SAFETY: the caller runs the flow of the client in `id.slot` (a `begin`
    // on it, or on any client later in the slot, is refused until it ends),
    // until its Finish or Detach step, after which `topic` is not used: no
    // other reference to its topic exists meanwhile.
    let topic = unsafe { &mut *cell.get() };
    let mut last = Outcome::Success;
    let mqtt = caller.mqtt;
    loop {
        let (step, app) = {
            let mut g = s.lock();
            let step = g.core.resume(id, last, topic);
            match step {
                Step::Wait => {
                    last = wait(g, remaining(caller.start, caller.timeout));
                    continue;
                }
                // A Get's document is taken under the lock that finished it.
                Step::Finish { code: c } => {
                    // The flow is over: callers waiting for the client look again.
                    rtos::wake(rtos::List::Done);
                    return Ended::Finish(code(c), g.core.document(id));
                }
                // The client is gone (and its flow): as Finish. A delete hands
                // the application's side back: read under the lock that
                // retired the client, so before any create can take its slot.
                Step::Detach { .. } => {
                    rtos::wake(rtos::List::Done);
                    (step, g.apps.get(id.slot).copied())
                }
                _ => (step, None),
            }
        };
        // The step's time budget, computed once.
        let ticks = match step {
            Step::Unsubscribe { budget: Budget::Cleanup } | Step::Barrier | Step::Detach { dedicated: false } => {
                cleanup_ticks()
            }
            Step::Unsubscribe { budget: Budget::Tick } => 1,
            // A shared MQTT client's hand-back within the cleanup time; a
            // dedicated one's delete waits as MQTT_AGENT_Delete does.
            Step::Detach { dedicated: true } => kernel::MAX_DELAY,
            _ => remaining(caller.start, caller.timeout),
        };
        // Subscribe, unsubscribe, publish, barrier and a delete's last command go
        // to the agent in Rust, as typed commands (the topics are the core's,
        // valid by construction), from one call site: one command on the stack.
        let (mqtt, command) = match step {
            Step::Subscribe { qos } => {
                // The callback's context is the MQTT client, shared by its shadow clients.
                let callback = agent_task::Callback::Publish(Some(on_publish), agent_task::CPtr(mqtt.0 as *mut c_void));
                (mqtt, Command::Subscribe { filter: topic.as_bytes(), qos, callback: Some(callback) })
            }
            Step::Unsubscribe { .. } => (mqtt, Command::Unsubscribe { filter: topic.as_bytes() }),
            Step::Publish { qos } => {
                (mqtt, Command::Publish { topic: topic.as_bytes(), payload: caller.body, qos, retain: false })
            }
            Step::Barrier => (mqtt, Command::Barrier),
            Step::Wait => continue, // Waited above, under the lock (`wait`).
            Step::Connect => {
                last = match caller.connect {
                    Some(app) => {
                        // The application's parameters, with our callback in its place
                        // (built here: its stack slot is only live for this call).
                        let mut ours = *app;
                        ours.pxCallback = Some(on_agent_event);
                        ours.pvUserData = id.handle() as *mut c_void;
                        outcome(MQTT_AGENT_Connect(mqtt.0 as MQTTAgentHandle_t, &ours, ticks) as u8)
                    }
                    None => Outcome::Failure,
                };
                continue;
            }
            Step::ReturnBuffer { buffer } => {
                let _ = MQTT_AGENT_ReturnBuffer(mqtt.0 as MQTTAgentHandle_t, buffer.0 as MQTTBufferHandle_t);
                last = Outcome::Success;
                continue;
            }
            Step::Finish { .. } => continue, // Returned above, under the lock.
            // The client is gone. A dedicated MQTT client goes too; the agent
            // ends it in its own task, so no callback of it runs after this
            // returns. A shared one stays the application's: its own connect
            // callback comes back. Either command runs in the agent task after
            // any callback in progress, so no shadow callback of this client
            // runs once this returns.
            Step::Detach { dedicated } => {
                // The client is gone from the core, and its flow with it
                // (its waiters woken above): not held across the command
                // (the topic is not used after this).
                let command = match (dedicated, app) {
                    (true, _) => Command::Delete,
                    (false, Some(app)) if app.intercepting => Command::SetCallback {
                        callback: Some(agent_task::Callback::Connect(app.callback, agent_task::CPtr(app.user_data as *mut c_void))),
                    },
                    (false, _) => Command::Barrier,
                };
                (mqtt, command)
            }
        };
        // (No agent: a failure.)
        let ended = agent_task::agent().map_or(agent_task::Ended::Failure, |a| a.submit(mqtt.0 as MQTTAgentHandle_t, command, ticks));
        last = match ended {
            // A shared MQTT client that the application deleted first: nothing
            // runs for it any more.
            agent_task::Ended::BadHandle if step == (Step::Detach { dedicated: false }) => Outcome::Success,
            e => outcome(e as u8),
        };
        if let Step::Detach { .. } = step {
            return Ended::Finish(code(last), None);
        }
    }
}

// ------------------------------------------------------------ agent callbacks

/// Subscription callback of every shadow topic (agent task): performs the
/// core's delivery (wakes a waiting caller, calls the thing's callbacks).
unsafe extern "C" fn on_publish(context: *mut c_void, data: *const MQTTPublishData_t) -> MQTTBool_t {
    let s = &SHADOW;
    // SAFETY: the agent passes a valid publish whose topic and payload live in its buffer.
    let (topic_bytes, doc, buffer) = unsafe {
        let d = &*data;
        (
            core::slice::from_raw_parts(d.pucTopic, d.usTopicLength as usize),
            core::slice::from_raw_parts(d.pvData as *const u8, d.ulDataLength as usize),
            d.xBuffer,
        )
    };
    let mqtt = MqttId(context as usize);
    let Some(mut delivery) = Delivery::new(mqtt, topic_bytes, doc, BufferId(buffer as usize), doc.as_ptr() as usize) else {
        return MQTTBool_t::eMQTTFalse;
    };
    loop {
        let (step, user) = {
            let mut g = s.lock();
            let State { core, apps, .. } = &mut *g;
            // The waiting caller (its operation just closed: only a running
            // flow's operation is open to an answer) is woken under the
            // lock, with the list's other waiters (each looks again).
            let step = core.deliver(&mut delivery, |_| rtos::wake(rtos::List::Done));
            let user = match step {
                Delivered::Call { slot, .. } => apps.get(slot).map_or(0, |a| a.user_data),
                _ => 0,
            };
            (step, user as *mut c_void)
        };
        match step {
            Delivered::Call { callback, record, .. } => {
                // The callbacks get a NUL-terminated copy of the name, this task's own.
                let thing = delivery.thing();
                let mut name = [0u8; MAX_THING_NAME + 1];
                if let Some(n) = name.get_mut(..thing.len()) {
                    n.copy_from_slice(thing); // Always: a parsed name is at most MAX_THING_NAME.
                }
                let name = name.as_ptr() as *const c_char;
                let (at, len) = (doc.as_ptr() as *const c_char, doc.len() as u32);
                // SAFETY: the application's callbacks, with a NUL-terminated thing
                // name and the document inside the agent's buffer.
                let kept = unsafe {
                    // Updated and delta callbacks have one signature: one call site.
                    let with_document = match callback {
                        Callback::Updated => record.updated,
                        Callback::Delta => record.delta,
                        Callback::Deleted => {
                            if let Some(f) = record.deleted {
                                f(user, name)
                            }
                            None
                        }
                    };
                    with_document.is_some_and(|f| f(user, name, at, len, buffer) == pdTRUE)
                };
                delivery.kept(kept);
            }
            Delivered::Done { kept } => return if kept { MQTTBool_t::eMQTTTrue } else { MQTTBool_t::eMQTTFalse },
        }
    }
}

/// The agent's connect callback for shadow clients: forwards every event
/// (unclaimed publishes, disconnects) to the application's own callback.
unsafe extern "C" fn on_agent_event(user: *mut c_void, params: *const MQTTAgentCallbackParams_t) -> BaseType_t {
    let s = &SHADOW;
    // `user` is the shadow client's handle: a deleted client's forwards nothing.
    let app = {
        let g = s.lock();
        match g.core.client(user as usize) {
            Some(id) => g.apps[id.slot],
            None => return pdFALSE,
        }
    };
    // SAFETY: the application's callback with the agent's parameters.
    app.callback.map_or(pdFALSE, |f| unsafe { f(app.user_data as *mut c_void, params) })
}

// -------------------------------------------------------------------- the API

/// Creates a shadow client: with `eDedicatedMQTTClient` it creates its own MQTT
/// agent client; with `eSharedMQTTClient` it uses `xMQTTClientHandle`.
/// Fails when `shadowconfigMAX_CLIENTS` exist.
#[no_mangle]
pub extern "C" fn SHADOW_ClientCreate(
    pxShadowClientHandle: *mut ShadowClientHandle_t,
    pxShadowCreateParams: *const ShadowCreateParams_t,
) -> ShadowReturnCode_t {
    const F: &str = "SHADOW_ClientCreate";
    if agent_task::in_agent_task() {
        return refuse(F, "call", "from the MQTT agent task (a callback)");
    }
    if pxShadowClientHandle.is_null() {
        return refuse(F, "pxShadowClientHandle", "NULL");
    }
    if pxShadowCreateParams.is_null() {
        return refuse(F, "pxShadowCreateParams", "NULL");
    }
    let s = &SHADOW;
    // SAFETY: non-NULL; the enum is read as an integer, the handle as a pointer.
    let (kind, shared) = unsafe {
        (read_c_enum(core::ptr::addr_of!((*pxShadowCreateParams).xMQTTClientType)), (*pxShadowCreateParams).xMQTTClientHandle)
    };
    let dedicated = match kind {
        0 if !shared.is_null() => false,
        0 => return refuse(F, "xMQTTClientHandle", "NULL with eSharedMQTTClient"),
        1 => true,
        _ => return refuse(F, "xMQTTClientType", "not a client type"),
    };
    let id = {
        let mut g = s.lock();
        let Some(id) = g.core.create(MqttId(shared as usize), dedicated) else {
            drop(g);
            return refuse(F, "call", "shadowconfigMAX_CLIENTS clients exist");
        };
        g.apps[id.slot] = NO_APP;
        id
    };
    if dedicated {
        let mut mqtt: MQTTAgentHandle_t = core::ptr::null_mut();
        if MQTT_AGENT_Create(&mut mqtt) != MQTTAgentReturnCode_t::eMQTTAgentSuccess {
            s.lock().core.discard(id);
            return eShadowFailure;
        }
        s.lock().core.set_mqtt(id, MqttId(mqtt as usize));
    }
    // SAFETY: non-NULL pointer to the caller's handle variable.
    unsafe { pxShadowClientHandle.write_unaligned(id.handle() as ShadowClientHandle_t) };
    eShadowSuccess
}

/// Every caller's flow, one copy: not from a callback, a live handle, the
/// core's `begin` (once no other flow runs on the client), then [`drive`]. `start`:
/// the checked arguments; `connect`: a connect's parameters.
#[inline(never)] // Called from several places: one copy.
fn flow(
    function: &str,
    handle: ShadowClientHandle_t,
    timeout: TickType_t,
    start: Start<'_, CCallbacks>,
    connect: Option<&MQTTAgentConnectParams_t>,
) -> Ended {
    let (s, id, mqtt) = match enter(function, handle) {
        Ok(v) => v,
        Err(code) => return Ended::Finish(code, None),
    };
    let begun = rtos::tick_count();
    // An operation's request body, with our clientToken unless the document
    // has one: one exact heap block (the agent's helper), freed on return.
    let capacity = match start {
        Start::Operation { op, doc, .. } => request_capacity(op, doc.len()),
        _ => 0,
    };
    // A full heap leaves it empty: `begin` then refuses the operation for want
    // of room (`Failure`) once the client is free, as the heap's failure after
    // that wait (an operation's body is never empty).
    let mut body = crate::platform::heap::try_boxed_bytes(&[], capacity).unwrap_or_default();
    // One flow at a time per client (the core's): while another caller's runs,
    // this one waits for its end (which wakes the list) at most its own time.
    let began = loop {
        let left = remaining(begun, timeout);
        let mut g = s.lock();
        let began = g.core.begin(id, start, &mut body);
        match began {
            Err(Code::Timeout) => {
                if wait(g, left) != Outcome::Success {
                    return Ended::Finish(eShadowTimeout, None);
                }
            }
            Ok(_) => {
                if let (Some(a), Some(slot)) = (connect, g.apps.get_mut(id.slot)) {
                    *slot = App { callback: a.pxCallback, user_data: a.pvUserData as usize, intercepting: true };
                }
                break began;
            }
            Err(_) => break began,
        }
    };
    let len = match began {
        Ok(len) => len,
        Err(c) => {
            match start {
                Start::Operation { op: Operation::Update, .. } if !body.is_empty() => {
                    debug(format_args!("{function}: refused pcData: not a JSON object (or its clientToken is too long)"))
                }
                Start::Register { .. } => {
                    debug(format_args!("{function}: refused pcThingName: shadowconfigMAX_THINGS_WITH_CALLBACKS things have callbacks"))
                }
                _ => {}
            }
            return Ended::Finish(code(c), None);
        }
    };
    let body = body.get(..len).unwrap_or(&[]);
    drive(s, id, &Caller { mqtt, start: begun, timeout, body, connect })
}

/// A flow's return code.
fn result(ended: Ended) -> ShadowReturnCode_t {
    let Ended::Finish(c, _) = ended;
    c
}

/// Connects the client's MQTT client (dedicated or shared) with
/// `pxConnectParams`, then subscribes again to the topics of registered
/// callbacks (the session is clean). The application's `pxCallback` keeps
/// receiving the agent's events; shadow callbacks get `pvUserData`.
#[no_mangle]
pub extern "C" fn SHADOW_ClientConnect(
    xShadowClientHandle: ShadowClientHandle_t,
    pxConnectParams: *mut MQTTAgentConnectParams_t,
    xTimeoutTicks: TickType_t,
) -> ShadowReturnCode_t {
    const F: &str = "SHADOW_ClientConnect";
    // SAFETY: NULL is refused; otherwise a valid parameter block, only read.
    let Some(app) = (unsafe { pxConnectParams.as_ref() }) else { return refuse(F, "pxConnectParams", "NULL") };
    result(flow(F, xShadowClientHandle, xTimeoutTicks, Start::Connect, Some(app)))
}

/// Disconnects the client's MQTT client, waiting at most `shadowconfigCLEANUP_TIME_MS`.
#[no_mangle]
pub extern "C" fn SHADOW_ClientDisconnect(xShadowClientHandle: ShadowClientHandle_t) -> ShadowReturnCode_t {
    const F: &str = "SHADOW_ClientDisconnect";
    if agent_task::in_agent_task() {
        return refuse(F, "call", "from the MQTT agent task (a callback)");
    }
    let Some(mqtt) = mqtt_of(xShadowClientHandle) else { return refuse(F, "xShadowClientHandle", "no live shadow client") };
    code(from_agent(MQTT_AGENT_Disconnect(mqtt.0 as MQTTAgentHandle_t, cleanup_ticks())))
}

/// The MQTT client of the live client `handle` names (fixed for the client's life).
#[inline(never)] // Two callers: one copy.
fn mqtt_of(handle: ShadowClientHandle_t) -> Option<MqttId> {
    let g = SHADOW.lock();
    g.core.client(handle as usize).and_then(|id| g.core.mqtt(id))
}

fn from_agent(c: MQTTAgentReturnCode_t) -> Code {
    outcome(c as u8)
}

/// Deletes the client: a dedicated MQTT client is deleted with it (after a
/// disconnect); on a shared one its subscriptions are removed. The handle is
/// invalid afterwards.
#[no_mangle]
pub extern "C" fn SHADOW_ClientDelete(xShadowClientHandle: ShadowClientHandle_t) -> ShadowReturnCode_t {
    // The flow ends with the MQTT client's delete or hand-back (see `drive`).
    result(flow("SHADOW_ClientDelete", xShadowClientHandle, cleanup_ticks(), Start::Delete, None))
}

/// Publishes an update and waits for `update/accepted` (`eShadowSuccess`) or
/// `update/rejected` (the service's code). A document without a `clientToken`
/// gets one.
#[no_mangle]
pub extern "C" fn SHADOW_Update(
    xShadowClientHandle: ShadowClientHandle_t,
    pxUpdateParams: *mut ShadowOperationParams_t,
    xTimeoutTicks: TickType_t,
) -> ShadowReturnCode_t {
    operation("SHADOW_Update", xShadowClientHandle, pxUpdateParams, xTimeoutTicks, Operation::Update)
}

/// Requests the shadow document. On success `pcData`/`ulDataLength` point to it
/// inside `xBuffer`, which the caller gives back with `SHADOW_ReturnMQTTBuffer`.
#[no_mangle]
pub extern "C" fn SHADOW_Get(
    xShadowClientHandle: ShadowClientHandle_t,
    pxGetParams: *mut ShadowOperationParams_t,
    xTimeoutTicks: TickType_t,
) -> ShadowReturnCode_t {
    operation("SHADOW_Get", xShadowClientHandle, pxGetParams, xTimeoutTicks, Operation::Get)
}

/// Deletes the shadow and waits for the service's answer.
#[no_mangle]
pub extern "C" fn SHADOW_Delete(
    xShadowClientHandle: ShadowClientHandle_t,
    pxDeleteParams: *mut ShadowOperationParams_t,
    xTimeoutTicks: TickType_t,
) -> ShadowReturnCode_t {
    operation("SHADOW_Delete", xShadowClientHandle, pxDeleteParams, xTimeoutTicks, Operation::Delete)
}

fn operation(
    function: &str,
    handle: ShadowClientHandle_t,
    params: *mut ShadowOperationParams_t,
    timeout: TickType_t,
    op: Operation,
) -> ShadowReturnCode_t {
    let Ended::Finish(result, document) = run_operation(function, handle, params, timeout, op);
    // SAFETY: NULL is skipped; otherwise the caller's parameter block.
    if let (Operation::Get, Some(p)) = (op, unsafe { params.as_mut() }) {
        // On success the document is the caller's; as AFR, a failed Get leaves
        // no document behind (applications test pcData).
        let d = document.unwrap_or(Document { buffer: BufferId(0), at: 0, len: 0 });
        p.xBuffer = d.buffer.0 as MQTTBufferHandle_t;
        p.pcData = d.at as *const c_char;
        p.ulDataLength = d.len;
    }
    result
}

/// An operation's arguments, checked; then its [`flow`].
fn run_operation(
    function: &str,
    handle: ShadowClientHandle_t,
    params: *mut ShadowOperationParams_t,
    timeout: TickType_t,
    op: Operation,
) -> Ended {
    let fail = |c| Ended::Finish(c, None);
    // SAFETY: NULL is refused; otherwise the caller's parameter block.
    let Some(p) = (unsafe { params.as_ref() }) else { return fail(refuse(function, "pxParams", "NULL")) };
    // SAFETY: pcThingName is a C string.
    let thing = match unsafe { thing_name(function, p.pcThingName) } {
        Ok(t) => t,
        Err(c) => return fail(c),
    };
    // SAFETY: xQoS is read as an integer.
    let qos = match unsafe { read_c_enum(core::ptr::addr_of!((*params).xQoS)) } {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => return fail(refuse(function, "xQoS", "not 0 or 1 (AWS IoT has no QoS 2)")),
    };
    let doc: &[u8] = match op {
        Operation::Update if p.pcData.is_null() => return fail(refuse(function, "pcData", "NULL")),
        Operation::Update if p.ulDataLength == 0 => return fail(refuse(function, "ulDataLength", "0")),
        // SAFETY: pcData/ulDataLength describe the caller's document.
        Operation::Update => unsafe { core::slice::from_raw_parts(p.pcData as *const u8, p.ulDataLength as usize) },
        _ => &[],
    };
    flow(function, handle, timeout, Start::Operation { op, thing, qos, keep: p.ucKeepSubscriptions != 0, doc }, None)
}

/// Registers (or, with NULL, unregisters) a thing's callbacks for updated
/// documents, deltas and deletes. Up to `shadowconfigMAX_THINGS_WITH_CALLBACKS`
/// things per client. The client must be connected.
#[no_mangle]
pub extern "C" fn SHADOW_RegisterCallbacks(
    xShadowClientHandle: ShadowClientHandle_t,
    pxCallbackParams: *mut ShadowCallbackParams_t,
    xTimeoutTicks: TickType_t,
) -> ShadowReturnCode_t {
    const F: &str = "SHADOW_RegisterCallbacks";
    // SAFETY: NULL is refused; otherwise the caller's parameter block.
    let Some(p) = (unsafe { pxCallbackParams.as_ref() }) else { return refuse(F, "pxCallbackParams", "NULL") };
    // SAFETY: a C string.
    let thing = match unsafe { thing_name(F, p.pcThingName) } {
        Ok(t) => t,
        Err(c) => return c,
    };
    let record = CCallbacks { updated: p.xShadowUpdatedCallback, deleted: p.xShadowDeletedCallback, delta: p.xShadowDeltaCallback };
    let want = Wants { updated: record.updated.is_some(), deleted: record.deleted.is_some(), delta: record.delta.is_some() }.bits();
    result(flow(F, xShadowClientHandle, xTimeoutTicks, Start::Register { thing, want, record }, None))
}

/// Gives back a buffer that a shadow callback kept or that `SHADOW_Get` returned.
#[no_mangle]
pub extern "C" fn SHADOW_ReturnMQTTBuffer(
    xShadowClientHandle: ShadowClientHandle_t,
    xBufferHandle: MQTTBufferHandle_t,
) -> ShadowReturnCode_t {
    let Some(mqtt) = mqtt_of(xShadowClientHandle) else {
        return refuse("SHADOW_ReturnMQTTBuffer", "xShadowClientHandle", "no live shadow client");
    };
    code(from_agent(MQTT_AGENT_ReturnBuffer(mqtt.0 as MQTTAgentHandle_t, xBufferHandle)))
}
