//! `aws_shadow.h`'s functions: the Device Shadow client over the MQTT agent.
//!
//! Update, Get and Delete subscribe to their `accepted`/`rejected` topics,
//! publish the request and wait for the response whose `clientToken` matches
//! theirs (one is added to a document that has none). Matching reads only the
//! token, so a document's size never turns a success into a timeout.
//! Registered callbacks ride on subscription callbacks of the agent; their
//! topics are subscribed again by `SHADOW_ClientConnect` after a reconnect, and
//! the application's own connect callback still receives the agent's events.
//! Requires `mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT` 1, as AFR's client did.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::{c_char, c_void, CStr};
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use freertos_rust::{Duration, Mutex, MutexGuard, MutexNormal, Semaphore};
use heapless::String;

use crate::config::{kernel, shadow as cfg};
use crate::ffi::agent::{
    MQTT_AGENT_Connect, MQTT_AGENT_Create, MQTT_AGENT_Delete, MQTT_AGENT_Disconnect, MQTT_AGENT_Publish,
    MQTT_AGENT_ReturnBuffer, MQTT_AGENT_Subscribe, MQTT_AGENT_Unsubscribe,
};
use crate::ffi::agent_types::*;
use crate::ffi::mqtt_lib::{MQTTBool_t, MQTTBufferHandle_t, MQTTPublishData_t, MQTTQoS_t};
use crate::ffi::read_c_enum;
use crate::ffi::shadow_types::*;
use crate::ffi::types::{pdFALSE, pdTRUE, BaseType_t, TickType_t};
use crate::handle;
use crate::platform::agent_task::{self, Command};
use crate::platform::rtos;
use crate::shadow::json;
use crate::shadow::topic::{self, Kind, Operation, Topic, MAX_THING_NAME};

const CLIENTS: usize = cfg::MAX_CLIENTS;
const THINGS: usize = cfg::MAX_THINGS_WITH_CALLBACKS;
/// Subscriptions one client can hold: three per thing with callbacks, the
/// response pair of the operation in progress, and kept response pairs.
const TOPICS: usize = 3 * THINGS + 2 + 2 * KEPT;
const KEPT: usize = 3 * THINGS + 3;
/// `clientToken`s we generate are short; AWS allows 64 bytes, which we store too.
const MAX_TOKEN: usize = 64;

type ThingName = String<{ MAX_THING_NAME + 1 }>;

struct Things {
    /// NUL-terminated, handed to the callbacks.
    name: ThingName,
    updated: ShadowUpdatedCallback_t,
    deleted: ShadowDeletedCallback_t,
    delta: ShadowDeltaCallback_t,
}

/// The operation a caller is waiting for.
struct Pending {
    thing: ThingName,
    op: Operation,
    token: String<MAX_TOKEN>,
    result: Option<ShadowReturnCode_t>,
    /// Get: the accepted document (buffer, data, length), kept for the caller.
    document: Option<(usize, usize, u32)>,
}

struct Client {
    in_use: bool,
    /// The slot's current generation (`crate::handle`); 0: retired for good.
    generation: u32,
    mqtt: usize,
    dedicated: bool,
    app_callback: MQTTAgentCallback_t,
    app_user_data: usize,
    /// `SHADOW_ClientConnect` put [`on_agent_event`] in place of the
    /// application's connect callback; delete puts the application's back.
    intercepting: bool,
    /// What shadow callbacks receive as `pvUserData`: the connect parameters' `pvUserData`, as in AFR.
    callback_user_data: usize,
    things: heapless::Vec<Things, THINGS>,
    /// Shadow topics subscribed on the agent, with how many uses hold each.
    topics: heapless::Vec<(Topic, u8), TOPICS>,
    /// Response subscriptions left in place by `ucKeepSubscriptions`.
    kept: heapless::Vec<(ThingName, Operation), KEPT>,
    pending: Option<Pending>,
    next_token: u32,
}

impl Client {
    const fn new() -> Self {
        Client {
            in_use: false,
            generation: handle::FIRST_GENERATION,
            mqtt: 0,
            dedicated: false,
            app_callback: None,
            app_user_data: 0,
            intercepting: false,
            callback_user_data: 0,
            things: heapless::Vec::new(),
            topics: heapless::Vec::new(),
            kept: heapless::Vec::new(),
            pending: None,
            next_token: 1,
        }
    }
}

impl Client {
    /// Back to a free slot at `generation`, in place: a `Client` holds several
    /// KB of tables, more than an application task's stack may spare for a
    /// temporary (found on the emulated Cortex-M4F).
    fn reset(&mut self, generation: u32) {
        self.in_use = false;
        self.generation = generation;
        self.mqtt = 0;
        self.dedicated = false;
        self.app_callback = None;
        self.app_user_data = 0;
        self.intercepting = false;
        self.callback_user_data = 0;
        self.things.clear();
        self.topics.clear();
        self.kept.clear();
        self.pending = None;
        self.next_token = 1;
    }
}

struct Shadow {
    /// `CLIENTS` slots, made in place on the heap: an array of them moved
    /// through a stack frame would not fit an application task's stack.
    clients: Mutex<Vec<Client>>,
    /// Serialises each client's operations (AFR did the same).
    operations: Vec<Mutex<()>>,
    /// Signals the waiting caller that its response arrived.
    waiters: Vec<Semaphore>,
}

static SHADOW: AtomicPtr<Shadow> = AtomicPtr::new(core::ptr::null_mut());
static INIT: AtomicU8 = AtomicU8::new(0);

fn shadow() -> Option<&'static Shadow> {
    if INIT.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        let state = match create_shadow() {
            Some(s) => {
                SHADOW.store(Box::leak(s), Ordering::Release);
                2
            }
            None => 0,
        };
        INIT.store(state, Ordering::Release);
    }
    while INIT.load(Ordering::Acquire) == 1 {
        rtos::delay(1);
    }
    // SAFETY: only ever a leaked, never-freed Shadow.
    unsafe { SHADOW.load(Ordering::Acquire).as_ref() }
}

fn create_shadow() -> Option<Box<Shadow>> {
    let mut operations = Vec::new();
    let mut waiters = Vec::new();
    for _ in 0..CLIENTS {
        operations.push(Mutex::new(()).ok()?);
        waiters.push(Semaphore::new_binary().ok()?);
    }
    let mut table = Vec::new();
    table.try_reserve_exact(CLIENTS).ok()?;
    table.resize_with(CLIENTS, Client::new);
    let clients = Mutex::new(table).ok()?;
    Some(Box::new(Shadow { clients, operations, waiters }))
}

fn handle_of(index: usize, generation: u32) -> ShadowClientHandle_t {
    handle::encode(handle::Kind::Shadow, index, generation) as ShadowClientHandle_t
}

const _: () = assert!(CLIENTS <= handle::MAX_SLOTS, "shadowconfigMAX_CLIENTS is at most 127");

impl Shadow {
    fn lock(&self) -> MutexGuard<'_, Vec<Client>, MutexNormal> {
        loop {
            // Held only briefly, never across a call into the agent.
            if let Ok(g) = self.clients.lock(Duration::infinite()) {
                return g;
            }
        }
    }

    fn index(&self, handle: ShadowClientHandle_t) -> Option<usize> {
        let (index, generation) = handle::decode(handle::Kind::Shadow, handle as usize, CLIENTS)?;
        let clients = self.lock();
        live(&clients, index, generation).then_some(index)
    }

    fn mqtt(&self, index: usize) -> MQTTAgentHandle_t {
        self.lock()[index].mqtt as MQTTAgentHandle_t
    }
}

/// Whether slot `index` holds the client of `generation`.
fn live(clients: &[Client], index: usize, generation: u32) -> bool {
    clients.get(index).is_some_and(|c| c.in_use && c.generation == generation)
}

/// Common entry: not from an agent callback (it would deadlock), a known handle.
fn enter(handle: ShadowClientHandle_t) -> Result<(&'static Shadow, usize), ShadowReturnCode_t> {
    if agent_task::in_agent_task() {
        return Err(eShadowFailure);
    }
    let s = shadow().ok_or(eShadowFailure)?;
    let index = s.index(handle).ok_or(eShadowFailure)?;
    Ok((s, index))
}

fn from_agent(code: MQTTAgentReturnCode_t) -> ShadowReturnCode_t {
    match code {
        MQTTAgentReturnCode_t::eMQTTAgentSuccess => eShadowSuccess,
        MQTTAgentReturnCode_t::eMQTTAgentTimeout => eShadowTimeout,
        _ => eShadowFailure,
    }
}

fn remaining(start: u32, timeout: TickType_t) -> TickType_t {
    timeout.saturating_sub(rtos::tick_count().wrapping_sub(start))
}

/// A NUL-terminated thing name from C, validated.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
unsafe fn thing_name<'a>(name: *const c_char) -> Option<&'a str> {
    if name.is_null() {
        return None;
    }
    // SAFETY: per this function's contract.
    let s = unsafe { CStr::from_ptr(name) }.to_str().ok()?;
    topic::validate_thing_name(s).ok().map(|_| s)
}


// ---------------------------------------------------------------- subscriptions

/// Whether another shadow client on the same MQTT client holds `topic`: the
/// agent keeps one callback per filter, so shadow clients sharing an MQTT
/// client share its subscriptions.
fn held_elsewhere(clients: &[Client], index: usize, topic: &Topic) -> bool {
    let mqtt = clients[index].mqtt;
    clients
        .iter()
        .enumerate()
        .any(|(i, c)| i != index && c.in_use && c.mqtt == mqtt && c.topics.iter().any(|(t, n)| t == topic && *n > 0))
}

/// Subscribes `topic` on the agent unless already held; counts the use.
fn acquire(s: &Shadow, index: usize, topic: &Topic, qos: MQTTQoS_t, timeout: TickType_t) -> ShadowReturnCode_t {
    {
        let mut clients = s.lock();
        if let Some(entry) = clients[index].topics.iter_mut().find(|(t, _)| t == topic) {
            entry.1 += 1;
            return eShadowSuccess;
        }
        if clients[index].topics.is_full() {
            return eShadowFailure;
        }
        if held_elsewhere(&clients, index, topic) {
            let _ = clients[index].topics.push((topic.clone(), 1));
            return eShadowSuccess;
        }
    }
    let code = subscribe(s, index, topic, qos, timeout);
    if code == eShadowSuccess {
        let _ = s.lock()[index].topics.push((topic.clone(), 1));
    } else if code == eShadowTimeout {
        // The agent may still send the SUBSCRIBE and has the callback in its
        // table: withdraw it (the agent drops the callback as it sends the
        // UNSUBSCRIBE; this caller does not wait for the broker).
        unsubscribe(s, index, topic, 1);
    }
    code
}

/// Subscribes `topic` on the agent with the shadow's publish callback; the
/// callback's context is the MQTT client, shared by its shadow clients.
fn subscribe(s: &Shadow, index: usize, topic: &Topic, qos: MQTTQoS_t, timeout: TickType_t) -> ShadowReturnCode_t {
    let mqtt = s.mqtt(index);
    let params = MQTTAgentSubscribeParams_t {
        pucTopic: topic.as_ptr(),
        usTopicLength: topic.len() as u16,
        xQoS: qos,
        pvPublishCallbackContext: mqtt,
        pxPublishCallback: Some(on_publish),
    };
    from_agent(MQTT_AGENT_Subscribe(mqtt, &params, timeout))
}

fn unsubscribe(s: &Shadow, index: usize, topic: &Topic, timeout: TickType_t) {
    let params = MQTTAgentUnsubscribeParams_t { pucTopic: topic.as_ptr(), usTopicLength: topic.len() as u16 };
    let _ = MQTT_AGENT_Unsubscribe(s.mqtt(index), &params, timeout);
}

/// Drops one use of `topic`; the last one on its MQTT client unsubscribes it.
fn release(s: &Shadow, index: usize, topic: &Topic, timeout: TickType_t) {
    {
        let mut clients = s.lock();
        let topics = &mut clients[index].topics;
        let Some(i) = topics.iter().position(|(t, _)| t == topic) else { return };
        topics[i].1 -= 1;
        if topics[i].1 > 0 {
            return;
        }
        topics.swap_remove(i);
        if held_elsewhere(&clients, index, topic) {
            return;
        }
    }
    unsubscribe(s, index, topic, timeout);
}

// ------------------------------------------------------------ agent callbacks

/// Subscription callback of every shadow topic (agent task): completes the
/// waiting operation or calls the thing's callbacks.
unsafe extern "C" fn on_publish(context: *mut c_void, data: *const MQTTPublishData_t) -> MQTTBool_t {
    let Some(s) = shadow() else { return MQTTBool_t::eMQTTFalse };
    let mqtt = context as usize;
    // SAFETY: the agent passes a valid publish whose topic and payload live in its buffer.
    let (topic_bytes, doc, buffer) = unsafe {
        let d = &*data;
        (
            core::slice::from_raw_parts(d.pucTopic, d.usTopicLength as usize),
            core::slice::from_raw_parts(d.pvData as *const u8, d.ulDataLength as usize),
            d.xBuffer,
        )
    };
    let Some((thing, kind)) = core::str::from_utf8(topic_bytes).ok().and_then(topic::parse) else {
        return MQTTBool_t::eMQTTFalse;
    };
    // Every shadow client on this MQTT client, until one keeps the buffer.
    for index in 0..CLIENTS {
        let generation = {
            let clients = s.lock();
            let c = &clients[index];
            (c.in_use && c.mqtt == mqtt).then_some(c.generation)
        };
        if let Some(generation) = generation {
            if deliver(s, index, generation, thing, kind, doc, buffer) {
                return MQTTBool_t::eMQTTTrue;
            }
        }
    }
    MQTTBool_t::eMQTTFalse
}

/// One shadow client's share of a publish: the response its caller waits for,
/// then the thing's callbacks. True when the buffer is kept. Everything is
/// looked up again under the lock, with the client's generation: a client
/// deleted (and its slot reused) meanwhile gets nothing.
#[allow(clippy::too_many_arguments)]
fn deliver(s: &Shadow, index: usize, generation: u32, thing: &str, kind: Kind, doc: &[u8], buffer: *mut c_void) -> bool {
    let mut keep = false;
    if let Kind::Accepted(op) | Kind::Rejected(op) = kind {
        keep = complete_pending(s, index, generation, thing, kind, op, doc, buffer);
    }
    // The thing's callbacks: copied under the lock, called without it. The
    // name handed to them is this task's own copy, not the table's, which
    // another task may rewrite once the lock is released.
    let (user, name, callbacks) = {
        let clients = s.lock();
        if !live(&clients, index, generation) {
            return keep;
        }
        let c = &clients[index];
        let found = c.things.iter().find(|t| t.name.trim_end_matches('\0') == thing);
        (
            c.callback_user_data as *mut c_void,
            found.map(|t| t.name.clone()).unwrap_or_default(),
            found.map(|t| (t.updated, t.deleted, t.delta)),
        )
    };
    if let Some((updated, deleted, delta)) = callbacks {
        let name = name.as_ptr() as *const c_char;
        let doc_ptr = doc.as_ptr() as *const c_char;
        let len = doc.len() as u32;
        // SAFETY: the application's callbacks, with a NUL-terminated thing name
        // (a local copy) and the document inside the agent's buffer.
        unsafe {
            match kind {
                Kind::Documents if !keep => keep = updated.is_some_and(|f| f(user, name, doc_ptr, len, buffer) == pdTRUE),
                Kind::Delta if !keep => keep = delta.is_some_and(|f| f(user, name, doc_ptr, len, buffer) == pdTRUE),
                Kind::Accepted(Operation::Delete) => {
                    if let Some(f) = deleted {
                        f(user, name)
                    }
                }
                _ => {}
            }
        }
    }
    keep
}

/// The return code of a response: success for `accepted`; for `rejected` the
/// service's code, or a failure when the code is not one (see `rejection_code`).
fn response_code(kind: Kind, code: Option<i64>) -> ShadowReturnCode_t {
    match kind {
        Kind::Rejected(_) => crate::shadow::rejection_code(code).unwrap_or(eShadowFailure),
        _ => eShadowSuccess,
    }
}

/// A response on `<op>/accepted` or `<op>/rejected`: if it answers the waiting
/// operation (same thing, operation and clientToken), record the result and
/// wake the caller. True when the caller keeps the buffer (Get's document).
/// A response without this operation's token (another client's, a token-less
/// rejection, unreadable JSON) never completes it: the thing's topics are
/// shared by every client of that thing.
#[allow(clippy::too_many_arguments)]
fn complete_pending(
    s: &Shadow,
    index: usize,
    generation: u32,
    thing: &str,
    kind: Kind,
    op: Operation,
    doc: &[u8],
    buffer: *mut c_void,
) -> bool {
    let mut clients = s.lock();
    if !live(&clients, index, generation) {
        return false;
    }
    let c = &mut clients[index];
    let Some(p) = c.pending.as_mut().filter(|p| p.op == op && p.result.is_none() && p.thing.trim_end_matches('\0') == thing) else {
        return false;
    };
    let Ok(f) = json::fields(doc) else { return false };
    if !f.client_token.is_some_and(|t| json::same_string(t, &p.token)) {
        return false;
    }
    let result = response_code(kind, f.code);
    let keep = result == eShadowSuccess && op == Operation::Get;
    if keep {
        p.document = Some((buffer as usize, doc.as_ptr() as usize, doc.len() as u32));
    }
    p.result = Some(result);
    s.waiters[index].give();
    keep
}

/// The agent's connect callback for shadow clients: forwards every event
/// (unclaimed publishes, disconnects) to the application's own callback.
unsafe extern "C" fn on_agent_event(user: *mut c_void, params: *const MQTTAgentCallbackParams_t) -> BaseType_t {
    let Some(s) = shadow() else { return pdFALSE };
    // `user` is the shadow client's handle: a deleted client's forwards nothing.
    let Some((index, generation)) = handle::decode(handle::Kind::Shadow, user as usize, CLIENTS) else { return pdFALSE };
    let (callback, app_user) = {
        let clients = s.lock();
        if !live(&clients, index, generation) {
            return pdFALSE;
        }
        (clients[index].app_callback, clients[index].app_user_data)
    };
    // SAFETY: the application's callback with the agent's parameters.
    callback.map_or(pdFALSE, |f| unsafe { f(app_user as *mut c_void, params) })
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
    if agent_task::in_agent_task() || pxShadowClientHandle.is_null() || pxShadowCreateParams.is_null() {
        return eShadowFailure;
    }
    let Some(s) = shadow() else { return eShadowFailure };
    // SAFETY: non-NULL; the enum is read as an integer, the handle as a pointer.
    let (kind, shared) = unsafe {
        (read_c_enum(core::ptr::addr_of!((*pxShadowCreateParams).xMQTTClientType)), (*pxShadowCreateParams).xMQTTClientHandle)
    };
    let dedicated = match kind {
        0 if !shared.is_null() => false,
        1 => true,
        _ => return eShadowFailure,
    };
    let index = {
        let mut clients = s.lock();
        // A retired slot (generation 0) is never handed out again.
        let Some(i) = clients.iter().position(|c| !c.in_use && c.generation != 0) else { return eShadowFailure };
        let generation = clients[i].generation;
        let c = &mut clients[i];
        c.reset(generation);
        c.in_use = true;
        c.dedicated = dedicated;
        c.mqtt = shared as usize;
        i
    };
    if dedicated {
        let mut mqtt: MQTTAgentHandle_t = core::ptr::null_mut();
        if MQTT_AGENT_Create(&mut mqtt) != MQTTAgentReturnCode_t::eMQTTAgentSuccess {
            s.lock()[index].in_use = false;
            return eShadowFailure;
        }
        s.lock()[index].mqtt = mqtt as usize;
    }
    let generation = s.lock()[index].generation;
    // SAFETY: non-NULL pointer to the caller's handle variable.
    unsafe { pxShadowClientHandle.write_unaligned(handle_of(index, generation)) };
    eShadowSuccess
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
    let (s, index) = match enter(xShadowClientHandle) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let start = rtos::tick_count();
    // SAFETY: NULL is refused; otherwise a valid parameter block, only read.
    let Some(app) = (unsafe { pxConnectParams.as_ref() }) else { return eShadowFailure };
    let mut params = *app;
    params.pxCallback = Some(on_agent_event);
    let Ok(_op) = s.operations[index].lock(Duration::ticks(xTimeoutTicks)) else { return eShadowTimeout };
    {
        let mut clients = s.lock();
        let c = &mut clients[index];
        params.pvUserData = handle_of(index, c.generation);
        c.intercepting = true;
        c.app_callback = app.pxCallback;
        c.app_user_data = app.pvUserData as usize;
        c.callback_user_data = app.pvUserData as usize;
        // Kept response subscriptions did not survive the old session.
        // In place: the table itself would not fit a small task's stack.
        for k in 0..c.kept.len() {
            let op = c.kept[k].1;
            for kind in [Kind::Accepted(op), Kind::Rejected(op)] {
                if let Ok(t) = topic::topic(c.kept[k].0.trim_end_matches('\0'), kind) {
                    if let Some(i) = c.topics.iter().position(|(x, _)| *x == t) {
                        c.topics[i].1 -= 1;
                        if c.topics[i].1 == 0 {
                            c.topics.swap_remove(i);
                        }
                    }
                }
            }
        }
        c.kept.clear();
    }
    let code = from_agent(MQTT_AGENT_Connect(s.mqtt(index), &params, remaining(start, xTimeoutTicks)));
    if code != eShadowSuccess {
        return code;
    }
    // One topic at a time (a copy of the whole table would not fit a small
    // task stack); the operation lock keeps the table as it is meanwhile.
    for i in 0.. {
        let Some(t) = s.lock()[index].topics.get(i).map(|(t, _)| t.clone()) else { break };
        let c = subscribe(s, index, &t, MQTTQoS_t::eMQTTQoS1, remaining(start, xTimeoutTicks));
        if c != eShadowSuccess {
            return c;
        }
    }
    eShadowSuccess
}

/// Disconnects the client's MQTT client, waiting at most `shadowconfigCLEANUP_TIME_MS`.
#[no_mangle]
pub extern "C" fn SHADOW_ClientDisconnect(xShadowClientHandle: ShadowClientHandle_t) -> ShadowReturnCode_t {
    match enter(xShadowClientHandle) {
        Ok((s, index)) => from_agent(MQTT_AGENT_Disconnect(s.mqtt(index), cleanup_ticks())),
        Err(code) => code,
    }
}

fn cleanup_ticks() -> TickType_t {
    ((cfg::CLEANUP_TIME_MS as u64 * kernel::TICK_RATE_HZ as u64) / 1000).max(1) as TickType_t
}

/// Deletes the client: a dedicated MQTT client is deleted with it (after a
/// disconnect); on a shared one its subscriptions are removed. The handle is
/// invalid afterwards.
#[no_mangle]
pub extern "C" fn SHADOW_ClientDelete(xShadowClientHandle: ShadowClientHandle_t) -> ShadowReturnCode_t {
    let (s, index) = match enter(xShadowClientHandle) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let Ok(_op) = s.operations[index].lock(Duration::ticks(cleanup_ticks())) else { return eShadowTimeout };
    let dedicated = s.lock()[index].dedicated;
    let mqtt = s.mqtt(index);
    if dedicated {
        // Its MQTT client goes too; the agent ends it in its own task, so no
        // callback of it runs after this returns.
        let code = from_agent(MQTT_AGENT_Delete(mqtt));
        retire(s, index);
        return code;
    }
    // Its own subscriptions go, one at a time (each leaves the table before its
    // UNSUBSCRIBE: a copy of the whole table would not fit a small task stack).
    loop {
        let next = {
            let mut clients = s.lock();
            let Some(i) = clients[index].topics.iter().position(|(t, _)| !held_elsewhere(&clients, index, t)) else { break };
            clients[index].topics.swap_remove(i).0
        };
        unsubscribe(s, index, &next, cleanup_ticks());
    }
    let (intercepting, app_callback, app_user) = {
        let clients = s.lock();
        let c = &clients[index];
        (c.intercepting, c.app_callback, c.app_user_data)
    };
    retire(s, index);
    // The shared MQTT client stays the application's: its own connect callback
    // comes back. Either command runs in the agent task after any callback in
    // progress, so no shadow callback of this client runs once this returns.
    let command = match intercepting {
        true => Command::SetCallback {
            callback: Some(agent_task::Callback::Connect(app_callback, agent_task::CPtr(app_user as *mut c_void))),
        },
        false => Command::Barrier,
    };
    match agent_submit(mqtt, command) {
        // The application deleted its MQTT client first: nothing runs for it any more.
        Err(agent_task::SubmitError::BadHandle) => eShadowSuccess,
        r => to_shadow_code(r),
    }
}

/// Frees slot `index` for a new client with the next generation (or retires it).
fn retire(s: &Shadow, index: usize) {
    let mut clients = s.lock();
    let generation = handle::next_generation(clients[index].generation).unwrap_or(0);
    clients[index].reset(generation);
}

/// Runs `command` on the agent client `mqtt`, waiting at most `shadowconfigCLEANUP_TIME_MS`.
fn agent_submit(mqtt: MQTTAgentHandle_t, command: Command) -> Result<agent_task::Done, agent_task::SubmitError> {
    let agent = agent_task::agent().ok_or(agent_task::SubmitError::NotReady)?;
    agent.submit(mqtt, command, cleanup_ticks())
}

fn to_shadow_code(r: Result<agent_task::Done, agent_task::SubmitError>) -> ShadowReturnCode_t {
    match r {
        Ok(agent_task::Done::Success) => eShadowSuccess,
        Err(agent_task::SubmitError::Timeout) => eShadowTimeout,
        _ => eShadowFailure,
    }
}

fn agent_call(mqtt: MQTTAgentHandle_t, command: Command) -> ShadowReturnCode_t {
    to_shadow_code(agent_submit(mqtt, command))
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
    operation(xShadowClientHandle, pxUpdateParams, xTimeoutTicks, Operation::Update)
}

/// Requests the shadow document. On success `pcData`/`ulDataLength` point to it
/// inside `xBuffer`, which the caller gives back with `SHADOW_ReturnMQTTBuffer`.
#[no_mangle]
pub extern "C" fn SHADOW_Get(
    xShadowClientHandle: ShadowClientHandle_t,
    pxGetParams: *mut ShadowOperationParams_t,
    xTimeoutTicks: TickType_t,
) -> ShadowReturnCode_t {
    operation(xShadowClientHandle, pxGetParams, xTimeoutTicks, Operation::Get)
}

/// Deletes the shadow and waits for the service's answer.
#[no_mangle]
pub extern "C" fn SHADOW_Delete(
    xShadowClientHandle: ShadowClientHandle_t,
    pxDeleteParams: *mut ShadowOperationParams_t,
    xTimeoutTicks: TickType_t,
) -> ShadowReturnCode_t {
    operation(xShadowClientHandle, pxDeleteParams, xTimeoutTicks, Operation::Delete)
}

fn operation(handle: ShadowClientHandle_t, params: *mut ShadowOperationParams_t, timeout: TickType_t, op: Operation) -> ShadowReturnCode_t {
    let code = run_operation(handle, params, timeout, op);
    if op == Operation::Get && code != eShadowSuccess {
        // As AFR: a failed Get leaves no document behind (applications test pcData).
        // SAFETY: NULL is skipped; otherwise the caller's parameter block.
        if let Some(p) = unsafe { params.as_mut() } {
            p.pcData = core::ptr::null();
            p.ulDataLength = 0;
            p.xBuffer = core::ptr::null_mut();
        }
    }
    code
}

fn run_operation(handle: ShadowClientHandle_t, params: *mut ShadowOperationParams_t, timeout: TickType_t, op: Operation) -> ShadowReturnCode_t {
    let (s, index) = match enter(handle) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let start = rtos::tick_count();
    // SAFETY: NULL is refused; otherwise the caller's parameter block.
    let Some(p) = (unsafe { params.as_mut() }) else { return eShadowFailure };
    // SAFETY: pcThingName is a C string; xQoS is read as an integer.
    let (Some(thing), qos_raw) = (unsafe { thing_name(p.pcThingName) }, unsafe { read_c_enum(core::ptr::addr_of!((*params).xQoS)) })
    else {
        return eShadowFailure;
    };
    let qos = match qos_raw {
        0 => MQTTQoS_t::eMQTTQoS0,
        1 => MQTTQoS_t::eMQTTQoS1,
        _ => return eShadowFailure, // AWS IoT does not support QoS 2.
    };
    let Ok(_op) = s.operations[index].lock(Duration::ticks(timeout)) else { return eShadowTimeout };

    // The request body, with our clientToken unless the document has one.
    let mut token: String<MAX_TOKEN> = String::new();
    let body: Vec<u8> = match build_request(s, index, op, p, &mut token) {
        Ok(b) => b,
        Err(code) => return code,
    };

    // Subscribe to the responses (unless kept from an earlier operation).
    // Topics are built where they are used, one at a time: each is 164 bytes
    // of the caller's stack.
    let kept = s.lock()[index].kept.iter().any(|(t, o)| *o == op && t.trim_end_matches('\0') == thing);
    if !kept {
        let code = acquire_kind(s, index, thing, Kind::Accepted(op), qos, remaining(start, timeout));
        if code != eShadowSuccess {
            return code;
        }
        let code = acquire_kind(s, index, thing, Kind::Rejected(op), qos, remaining(start, timeout));
        if code != eShadowSuccess {
            release_kind(s, index, thing, Kind::Accepted(op), remaining(start, timeout));
            return code;
        }
    }

    // Wait for the matching response. The pending entry is filled in place.
    let _ = s.waiters[index].take(Duration::zero());
    {
        let mut clients = s.lock();
        let pending = clients[index].pending.insert(Pending { thing: ThingName::new(), op, token: String::new(), result: None, document: None });
        let _ = pending.thing.push_str(thing);
        let _ = pending.thing.push('\0');
        pending.token = token;
    }
    let mut code = publish_request(s, index, thing, op, qos, &body, remaining(start, timeout));
    drop(body);
    if code == eShadowSuccess {
        let _ = s.waiters[index].take(Duration::ticks(remaining(start, timeout)));
    }
    let pending = s.lock()[index].pending.take();
    // The response may have come before the publish failed or timed out
    // (e.g. its PUBACK was late): the result stands only with a sent request,
    // and a Get document that is not handed out goes back to the pool.
    let (result, document) = match pending {
        Some(Pending { result, document, .. }) => (result, document),
        None => (None, None),
    };
    code = match (code, result) {
        (eShadowSuccess, Some(r)) => r,
        (eShadowSuccess, None) => eShadowTimeout,
        (failed, _) => failed,
    };
    if let Some((buffer, data, len)) = document {
        if code == eShadowSuccess {
            p.xBuffer = buffer as *mut c_void;
            p.pcData = data as *const c_char;
            p.ulDataLength = len;
        } else {
            let _ = MQTT_AGENT_ReturnBuffer(s.mqtt(index), buffer as MQTTBufferHandle_t);
        }
    }

    if p.ucKeepSubscriptions != 0 && !kept {
        let mut clients = s.lock();
        let kept = &mut clients[index].kept;
        if kept.push((ThingName::new(), op)).is_ok() {
            if let Some((name, _)) = kept.last_mut() {
                let _ = name.push_str(thing);
                let _ = name.push('\0');
            }
        }
    } else if p.ucKeepSubscriptions == 0 {
        if kept {
            s.lock()[index].kept.retain(|(t, o)| !(*o == op && t.trim_end_matches('\0') == thing));
        }
        // Within what is left of the caller's time: a call never blocks longer
        // than its timeout. An unsubscribe that cannot finish in time leaves a
        // harmless subscription behind (its answers reach no waiting caller).
        release_kind(s, index, thing, Kind::Accepted(op), remaining(start, timeout));
        release_kind(s, index, thing, Kind::Rejected(op), remaining(start, timeout));
    }
    code
}

/// [`acquire`] of `thing`'s topic of `kind`, built in this frame only.
#[inline(never)]
fn acquire_kind(s: &Shadow, index: usize, thing: &str, kind: Kind, qos: MQTTQoS_t, timeout: TickType_t) -> ShadowReturnCode_t {
    match topic::topic(thing, kind) {
        Ok(t) => acquire(s, index, &t, qos, timeout),
        Err(_) => eShadowFailure,
    }
}

/// [`release`] of `thing`'s topic of `kind`, built in this frame only.
#[inline(never)]
fn release_kind(s: &Shadow, index: usize, thing: &str, kind: Kind, timeout: TickType_t) {
    if let Ok(t) = topic::topic(thing, kind) {
        release(s, index, &t, timeout);
    }
}

/// Publishes the request of `op` on `thing`.
#[inline(never)]
fn publish_request(s: &Shadow, index: usize, thing: &str, op: Operation, qos: MQTTQoS_t, body: &[u8], timeout: TickType_t) -> ShadowReturnCode_t {
    let Ok(request) = topic::topic(thing, Kind::Request(op)) else { return eShadowFailure };
    let publish = MQTTAgentPublishParams_t {
        pucTopic: request.as_ptr(),
        usTopicLength: request.len() as u16,
        xQoS: qos,
        pvData: body.as_ptr() as *const c_void,
        ulDataLength: body.len() as u32,
    };
    from_agent(MQTT_AGENT_Publish(s.mqtt(index), &publish, timeout))
}

/// The JSON request body of `op`; `token` receives its clientToken.
fn build_request(
    s: &Shadow,
    index: usize,
    op: Operation,
    p: &ShadowOperationParams_t,
    token: &mut String<MAX_TOKEN>,
) -> Result<Vec<u8>, ShadowReturnCode_t> {
    let new_token = || {
        let mut clients = s.lock();
        let c = &mut clients[index];
        let n = c.next_token;
        c.next_token = n.wrapping_add(1);
        // "afr-<client>-<generation>-<n>", built without formatting machinery.
        let mut t = String::new();
        let _ = t.push_str("afr");
        for v in [index as u32, c.generation as u32, n] {
            let _ = t.push('-');
            push_decimal(&mut t, v);
        }
        t
    };
    let mut body = Vec::new();
    if op != Operation::Update {
        *token = new_token();
        body.try_reserve_exact(token.len() + 20).map_err(|_| eShadowFailure)?;
        body.resize(token.len() + 20, 0);
        let n = json::token_only(token, &mut body).map_err(|_| eShadowFailure)?;
        body.truncate(n);
        return Ok(body);
    }
    if p.pcData.is_null() || p.ulDataLength == 0 {
        return Err(eShadowFailure);
    }
    // SAFETY: pcData/ulDataLength describe the caller's document.
    let doc = unsafe { core::slice::from_raw_parts(p.pcData as *const u8, p.ulDataLength as usize) };
    let fields = json::fields(doc).map_err(|_| eShadowFailure)?;
    match fields.client_token {
        Some(t) => {
            token.push_str(t).map_err(|_| eShadowFailure)?;
            body.try_reserve_exact(doc.len()).map_err(|_| eShadowFailure)?;
            body.extend_from_slice(doc);
        }
        None => {
            *token = new_token();
            let len = doc.len() + token.len() + 20;
            body.try_reserve_exact(len).map_err(|_| eShadowFailure)?;
            body.resize(len, 0);
            let n = json::with_client_token(doc, token, &mut body).map_err(|_| eShadowFailure)?;
            body.truncate(n);
        }
    }
    Ok(body)
}

fn push_decimal<const N: usize>(s: &mut String<N>, mut v: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for d in &digits[i..] {
        let _ = s.push(*d as char);
    }
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
    let (s, index) = match enter(xShadowClientHandle) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let start = rtos::tick_count();
    // SAFETY: NULL is refused; otherwise the caller's parameter block.
    let Some(p) = (unsafe { pxCallbackParams.as_ref() }) else { return eShadowFailure };
    // SAFETY: a C string.
    let Some(thing) = (unsafe { thing_name(p.pcThingName) }) else { return eShadowFailure };
    let Ok(_op) = s.operations[index].lock(Duration::ticks(xTimeoutTicks)) else { return eShadowTimeout };
    let named = |t: &Things| t.name.trim_end_matches('\0') == thing;

    let (old_updated, old_deleted, old_delta) = {
        let mut clients = s.lock();
        let things = &mut clients[index].things;
        match things.iter().find(|t| named(t)) {
            Some(t) => (t.updated.is_some(), t.deleted.is_some(), t.delta.is_some()),
            None if things.is_full() => return eShadowFailure,
            None => (false, false, false),
        }
    };
    let wanted = [
        (old_updated, p.xShadowUpdatedCallback.is_some(), Kind::Documents),
        (old_deleted, p.xShadowDeletedCallback.is_some(), Kind::Accepted(Operation::Delete)),
        (old_delta, p.xShadowDeltaCallback.is_some(), Kind::Delta),
    ];
    // Kinds, not topics: a topic is built where it is used (small stacks).
    let mut acquired: heapless::Vec<Kind, 3> = heapless::Vec::new();
    for (had, wants, kind) in wanted {
        if wants && !had {
            let code = acquire_kind(s, index, thing, kind, MQTTQoS_t::eMQTTQoS1, remaining(start, xTimeoutTicks));
            if code != eShadowSuccess {
                for k in &acquired {
                    release_kind(s, index, thing, *k, cleanup_ticks());
                }
                return code;
            }
            let _ = acquired.push(kind);
        } else if had && !wants {
            release_kind(s, index, thing, kind, remaining(start, xTimeoutTicks));
        }
    }
    {
        let mut clients = s.lock();
        let things = &mut clients[index].things;
        things.retain(|t| !named(t));
        if p.xShadowUpdatedCallback.is_some() || p.xShadowDeletedCallback.is_some() || p.xShadowDeltaCallback.is_some() {
            let entry = Things {
                name: ThingName::new(),
                updated: p.xShadowUpdatedCallback,
                deleted: p.xShadowDeletedCallback,
                delta: p.xShadowDeltaCallback,
            };
            if things.push(entry).is_ok() {
                if let Some(t) = things.last_mut() {
                    let _ = t.name.push_str(thing);
                    let _ = t.name.push('\0');
                }
            }
        }
    }
    // An old callback may be running in the agent task: wait until it returned,
    // so that none runs once this call has returned.
    agent_call(s.mqtt(index), Command::Barrier)
}

/// Gives back a buffer that a shadow callback kept or that `SHADOW_Get` returned.
#[no_mangle]
pub extern "C" fn SHADOW_ReturnMQTTBuffer(
    xShadowClientHandle: ShadowClientHandle_t,
    xBufferHandle: MQTTBufferHandle_t,
) -> ShadowReturnCode_t {
    let Some(s) = shadow() else { return eShadowFailure };
    let Some(index) = s.index(xShadowClientHandle) else { return eShadowFailure };
    from_agent(MQTT_AGENT_ReturnBuffer(s.mqtt(index), xBufferHandle))
}
