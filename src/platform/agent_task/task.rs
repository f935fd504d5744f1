//! The agent task: a thin loop around the core. It reads each open
//! connection into the core (under the lock), lets the core time its
//! keep-alives, then performs the core's actions one at a time without the
//! lock: open and close connections, send, wake callers, call the
//! application's callbacks. After it sent something it looks at the sockets
//! once more before it sleeps, so that an answer already there is not left
//! for the next wake-up.

use core::ffi::c_void;
use core::sync::atomic::{AtomicU8, Ordering};

use super::{agent, Agent, CPool, Callback, OpenRequest, PoolBuf, BROKERS, SUBS};
use crate::agent::core::{Action, CloseReason, Delivery, Next, Out, Reader, Report as Did, RxStatus};
use crate::config::{kernel, mqtt};
use crate::c_types::agent_types::{MQTTAgentCallbackParams_t, MQTTAgentCallbackParams_u, MQTTAgentEvent_t};
use crate::c_types::mqtt_lib::{MQTTPublishData_t, MQTTQoS_t};
use crate::mqtt::codec::QoS;
use crate::platform::link::Link;
use crate::platform::rtos;
use crate::platform::sockets::{NetError, PortTls, Socket, Socket_t};

use super::TLS_BY_SOCKETS_PORT;

/// `MQTTAgentTLSError_t` codes of the port back-end (see `ffi::agent_tls`).
const PORT_REFUSED_OPTION: u8 = 18;
const PORT_CONNECT_FAILED: u8 = 19;

/// One client's connection, owned by the task.
struct Conn {
    link: Option<Link>,
    /// The socket wakes the task when data arrives (else the task polls).
    wakeup: bool,
}

struct LinkReader<'a>(&'a mut Link);

impl Reader for LinkReader<'_> {
    fn read(&mut self, into: &mut [u8]) -> Result<usize, ()> {
        match self.0 {
            Link::Plain(socket) => socket.recv(into).map_err(|_| ()),
            #[cfg(feature = "tls")]
            Link::Tls(_) => read_tls(self.0, into),
        }
    }
}

/// A TLS connection's read, apart: its temporaries (records, alerts) would
/// otherwise widen the frame of the task's pass, which every pass carries
/// under the receive path, TLS or not.
#[cfg(feature = "tls")]
#[inline(never)]
fn read_tls(link: &mut Link, into: &mut [u8]) -> Result<usize, ()> {
    link.recv(into)
}

extern "C" fn socket_wakeup(_socket: Socket_t) {
    if let Some(a) = agent() {
        a.wake();
    }
}

/// Actions taken from the core per pass, performed without the lock.
const BATCH: usize = 4;

/// What the task tells the core about an action it performed (and when);
/// applied at the next pass, under the same lock as everything else (one
/// lock per pass), through the core's one entry for all.
#[derive(Clone, Copy)]
struct Report {
    client: usize,
    did: Did,
    at: u32,
}

/// A place of the pass's batch: an action of the core, performed without
/// the lock and taken out of its place (no copy of the whole batch); then
/// what the core must be told of it, left in the same place until the next
/// pass applies it (no list of reports beside the batch).
enum Slot {
    Act(Next<PoolBuf, Callback, OpenRequest>),
    Did(Report),
    Done,
}

type Batch = heapless::Vec<Slot, BATCH>;

/// The agent task's C entry: its parameter is the agent, which `init`
/// publishes (its core written) before it creates the task, so the task
/// neither looks it up nor tests it.
pub extern "C" fn entry(param: *mut c_void) {
    // SAFETY: `init` passes `&AGENT` (a static: it lives for ever), and `Agent` is `Sync`.
    run(unsafe { &*(param as *const Agent) })
}

/// The agent task's body.
/// Never returns: the task is never deleted (so `vTaskDelete` is not linked
/// for it).
#[inline(always)] // One caller, the entry.
fn run(agent: &'static Agent) -> ! {
    #[cfg(feature = "selftest")]
    crate::platform::stack_probe::paint();
    // Its handle, for `is_current`, before its first pass (a callback
    // called from the task finds it). Relaxed: the handle is all it publishes.
    agent.task.store(rtos::current_task(), Ordering::Relaxed);
    let mut conns: [Conn; BROKERS] = core::array::from_fn(|_| Conn { link: None, wakeup: false });
    let mut rested = true;
    // Made once (the loop never ends): no drop code for it each pass; after
    // each pass's actions it holds only their reports.
    let mut batch = Batch::new();
    loop {
        let mut delivery = None;
        let (found, deadline) = pass(agent, &mut conns, &mut batch, &mut delivery, rested);
        let flooded = found & FLOODED != 0;
        rested = false;
        let mut more = batch.is_full() || delivery.is_some();
        for slot in batch.iter_mut() {
            more |= perform(agent, &mut conns, slot);
        }
        deliver(&mut delivery);
        if (found & PAUSED != 0 || more) && !flooded {
            // A delivery was made or more actions wait, or something was sent
            // or opened: an answer may be there already. Look before sleeping.
            continue;
        }
        let mut wait = deadline.max(1);
        if conns.iter().any(|c| c.link.is_some() && !c.wakeup) {
            wait = wait.min(mqtt::MQTT_TASK_MAX_BLOCK_TICKS.max(1));
        }
        if flooded {
            // A budget ran out: more may be waiting. Block for a tick whatever
            // wake-ups are pending (a flood keeps the socket's wake-up coming),
            // so that the application's tasks get the CPU meanwhile.
            rtos::delay(1);
        } else {
            super::sleep(agent, wait);
        }
        rested = true;
    }
}

/// A pass found a receive budget spent.
const FLOODED: u32 = 1;
/// A pass found a client paused for a delivery.
const PAUSED: u32 = 2;

/// One pass under the lock: the last pass's reports, every open connection's
/// bytes, keep-alive, and up to a batch of actions; at most one delivery,
/// which ends the batch (performed after it, in order). Gives what it found
/// (`FLOODED`, `PAUSED`) and the ticks to the next deadline (`MAX_DELAY`:
/// none, which the sleep's bound makes the same): two words in two
/// registers, not a tuple of flags and an `Option` through memory.
#[inline(never)]
fn pass(
    agent: &Agent,
    conns: &mut [Conn],
    batch: &mut Batch,
    delivery: &mut Option<Delivery<PoolBuf, Callback, SUBS>>,
    rested: bool,
) -> (u32, u32) {
    let mut core = agent.hold();
    if rested {
        core.rested();
    }
    for slot in batch.iter() {
        if let Slot::Did(Report { client, did, at }) = *slot {
            core.reported(client, did, at, &mut CPool);
        }
    }
    batch.clear();
    let now = rtos::tick_count();
    let (mut flooded, mut paused) = (false, false);
    for (client, conn) in conns.iter_mut().enumerate() {
        // (`received` reads only a connection the core reads: open, not closing.)
        if let Some(link) = conn.link.as_mut() {
            match core.received(client, &mut LinkReader(link), now, &mut CPool) {
                RxStatus::Budget => flooded = true,
                RxStatus::Paused => paused = true,
                RxStatus::Idle => {}
            }
        }
    }
    let deadline = core.tick(now, &mut CPool).unwrap_or(kernel::MAX_DELAY);
    while !batch.is_full() {
        match core.next_action() {
            Some(Next { client, action: Action::Deliver }) => {
                core.move_delivery(client, delivery);
                break;
            }
            Some(action) => {
                let _ = batch.push(Slot::Act(action));
            }
            None => break,
        }
    }
    (flooded as u32 * FLOODED | paused as u32 * PAUSED, deadline)
}

/// Performs one of the core's actions, taken out of its slot of the batch
/// here (not copied through the task's loop), without the lock; what the
/// core must be told at the next pass takes its place (one write, at the end).
/// True when it did so (something was sent or opened: an answer may come).
#[inline(never)]
fn perform(
    agent: &Agent,
    conns: &mut [Conn],
    slot: &mut Slot,
) -> bool {
    let Slot::Act(Next { client, action }) = core::mem::replace(slot, Slot::Done) else { return false };
    // The client's connection, found once: one test for every kind, not a
    // bounds check and panic site at each use (the core's clients are the
    // task's `BROKERS`, so it is always there).
    let Some(conn) = conns.get_mut(client) else { return false };
    let did = match action {
        Action::Open { open } => match open_connection(conn, &agent.tls_failure[client], core::mem::ManuallyDrop::into_inner(open)) {
            true => Did::Opened,
            false => Did::OpenFailed,
        },
        Action::Send { out, complete } => Did::Sent { complete, ok: send(conn, out) },
        Action::Close { close: (reason, graceful) } => {
            close(agent, conn, client, reason, graceful);
            return false;
        }
        Action::Complete { .. } => {
            agent.complete(); // (Every waiting caller looks at its own slot.)
            return false;
        }
        Action::Deliver => return false, // Taken in `pass`.
        Action::Disconnected { callback } => {
            disconnected(callback);
            return false;
        }
        Action::Dropped { len } => {
            crate::platform::log::debug(format_args!(
                "MQTT: dropped an incoming publish of {len} bytes: no buffer large enough is free"
            ));
            return false;
        }
    };
    *slot = Slot::Did(Report { client, did, at: rtos::tick_count() });
    true
}

/// Sends one packet (one `send_all` call for both kinds); a pool buffer goes
/// back after. Inlined into `perform`, its one caller (a TLS send stays out
/// of line, see `Link::send_all`).
fn send(conn: &mut Conn, out: Out<PoolBuf>) -> bool {
    let small;
    let bytes = match &out {
        Out::Buf { buf, len } => buf.as_ref().get(..*len),
        Out::Small { word, len } => {
            small = word.to_le_bytes();
            small.get(..*len as usize)
        }
    };
    let ok = match (conn.link.as_mut(), bytes) {
        (Some(link), Some(bytes)) => link.send_all(bytes).is_ok(),
        _ => false,
    };
    if let Out::Buf { buf, .. } = out {
        crate::agent::core::Pool::give(&mut CPool, buf);
    }
    ok
}

type TlsRequest<'a> = Option<&'a crate::platform::link::TlsRequest>;

/// The connection over a connected socket: the library's TLS when asked for
/// and the project chose it (its handshake runs here, bounded by the
/// connect's timeout), else the socket itself (plain, or TLS by the port).
/// `Err` carries the `MQTTAgentTLSError_t` code.
#[cfg(feature = "tls")]
fn open_link(socket: Socket, tls: TlsRequest<'_>) -> Result<Link, u8> {
    match tls.filter(|_| !TLS_BY_SOCKETS_PORT) {
        Some(request) => open_tls(socket, request),
        None => Ok(Link::Plain(socket)),
    }
}

/// The library's TLS over a connected socket. Apart and never inlined: the
/// TLS stream passes through this frame (hundreds of bytes), which a plain
/// connection's open would otherwise carry too (the agent task's peak stack).
/// The host name and whether it is an IP address are read here from the
/// request (two arguments: none passed on the stack by `open_connection`,
/// whose frame lies under this one). The host with its NUL, as before the
/// host became a `CStr` (a `CStr::to_str` here made this frame 40 bytes
/// larger, 3,516 against 3,476).
#[cfg(feature = "tls")]
#[inline(never)]
fn open_tls(socket: Socket, request: &crate::platform::link::TlsRequest) -> Result<Link, u8> {
    use crate::platform::tls::{open, Failure};
    let host = request.host().to_bytes_with_nul();
    let name = host.strip_suffix(&[0]).and_then(|h| core::str::from_utf8(h).ok()).ok_or(Failure::BadServerName as u8)?;
    open(socket, name, request.is_ip(), request).map(Link::Tls).map_err(|f| f as u8)
}

#[cfg(not(feature = "tls"))]
fn open_link(socket: Socket, _tls: TlsRequest<'_>) -> Result<Link, u8> {
    Ok(Link::Plain(socket))
}

/// Opens a client's connection (TCP, then TLS) into its `conn`, without the
/// lock: other callers keep submitting meanwhile. `tls_failure` is the
/// client's `MQTT_AGENT_GetTLSError` code (0 from the start, then why the
/// open failed). Both are the client's own places, indexed once by `perform`
/// (as for a send or a close), not the tables and the client's index. True
/// when it opened (a `bool` in a register; `perform` makes the report).
#[inline(never)] // Its frame only while it runs: the task's own frame stays small (TLS needs the room).
fn open_connection(conn: &mut Conn, tls_failure: &AtomicU8, open: OpenRequest) -> bool {
    tls_failure.store(0, Ordering::Relaxed);
    // Read where it lies; the request is freed once, when `open` goes.
    let (port, is_ip) = (open.port, open.is_ip());
    let host = open.host();
    let tls = open.tls().then_some(&open);
    let send_timeout = (mqtt::TCP_SEND_TIMEOUT_MS as u64 * kernel::TICK_RATE_HZ as u64 / 1000) as u32;
    // TLS by the Secure Sockets port: AFR v1.4.7's options before SOCKETS_Connect.
    let port_tls: Option<&PortTls> = tls.filter(|_| TLS_BY_SOCKETS_PORT);
    let opened = match Socket::connect(host, is_ip, port, send_timeout.max(1), port_tls) {
        Ok(socket) => open_link(socket, tls),
        Err(e) => Err(match (e, port_tls.is_some()) {
            (NetError::TlsOptionRefused(option), _) => {
                crate::platform::log::debug(format_args!(
                    "MQTT: the Secure Sockets port refused TLS option {option}: connect failed (never plain TCP)"
                ));
                PORT_REFUSED_OPTION
            }
            (NetError::Connect, true) => PORT_CONNECT_FAILED,
            _ => 0,
        }),
    };
    match opened {
        Ok(link) => {
            conn.wakeup = link.set_wakeup(socket_wakeup);
            conn.link = Some(link);
            true
        }
        Err(code) => {
            tls_failure.store(code, Ordering::Relaxed);
            false
        }
    }
}

fn close(agent: &Agent, conn: &mut Conn, client: usize, reason: CloseReason, graceful: bool) {
    let Some(mut link) = conn.link.take() else { return };
    // Say why TLS ended it (e.g. the server refused our certificate).
    let code = link.tls_failure();
    if code != 0 {
        agent.set_tls_failure(client, code);
    }
    if reason != CloseReason::Requested {
        crate::platform::log::debug(format_args!("MQTT: client {client}: connection closed: {reason:?}"));
    }
    if graceful {
        link.close_notify(); // Asked for: end TLS cleanly, then the socket closes.
    }
}

fn qos_to_c(qos: QoS) -> MQTTQoS_t {
    match qos {
        QoS::AtMostOnce => MQTTQoS_t::eMQTTQoS0,
        QoS::AtLeastOnce => MQTTQoS_t::eMQTTQoS1,
        QoS::ExactlyOnce => MQTTQoS_t::eMQTTQoS2,
    }
}

/// Hands a received publish to the application: subscription callbacks
/// (exact match first, then wildcards) until one takes the buffer, else the
/// connect callback when no subscription matched. A buffer nobody takes goes
/// back to the pool; one taken leaves Rust until `MQTT_AGENT_ReturnBuffer`.
#[inline(never)]
fn deliver(slot: &mut Option<Delivery<PoolBuf, Callback, SUBS>>) {
    // Read where it lies (no copy of the callback lists); only the buffer
    // is taken out, at the end.
    let Some(Delivery { buf, qos, topic_len, payload, subscribers, .. }) = slot.as_ref() else { return };
    let (qos, topic_len, payload) = (*qos, *topic_len, *payload);
    let base = buf.as_ref().as_ptr();
    // Made once, as the connect callback takes it; a subscription callback
    // gets its publish part.
    let params = MQTTAgentCallbackParams_t {
        xMQTTEvent: MQTTAgentEvent_t::eMQTTAgentPublish,
        u: MQTTAgentCallbackParams_u {
            xPublishData: MQTTPublishData_t {
                xQos: qos_to_c(qos),
                // SAFETY: the topic (at 2) and the payload are inside the buffer (the core decoded them from it).
                pucTopic: unsafe { base.add(2) },
                usTopicLength: topic_len,
                // SAFETY: as above.
                pvData: unsafe { base.add(payload.0) } as *const c_void,
                ulDataLength: payload.1 as u32,
                xBuffer: base as *mut c_void,
            },
        },
    };
    let taken = subscribers.iter().any(|cb| call_back(cb, &params));
    let Some(Delivery { buf, .. }) = slot.take() else { return };
    if taken {
        let _ = buf.into_raw(); // C owns it now.
    } else {
        crate::agent::core::Pool::give(&mut CPool, buf);
    }
}

/// `eMQTTAgentDisconnect` to the connect callback.
fn disconnected(callback: Callback) {
    // SAFETY: MQTTAgentCallbackParams_t is plain data; zeroed is a valid union.
    let mut params: MQTTAgentCallbackParams_t = unsafe { core::mem::zeroed() };
    params.xMQTTEvent = MQTTAgentEvent_t::eMQTTAgentDisconnect;
    if let Callback::Connect(..) = callback {
        call_back(&callback, &params);
    }
}

/// Calls an application callback from the agent task, as AFR did: a
/// subscription callback with the publish part of `params`, the connect
/// callback with `params`. True when it returned `eMQTTTrue`/`pdTRUE` (it
/// took the buffer of a publish).
#[inline(never)]
fn call_back(callback: &Callback, params: &MQTTAgentCallbackParams_t) -> bool {
    match *callback {
        #[cfg(afr_subscription_management)]
        // SAFETY: a publish's parameters hold its publish data.
        Callback::Publish(f, ctx) => call_publish_callback(f, ctx, unsafe { &params.u.xPublishData }),
        // SAFETY: the application's connect callback, with valid parameters.
        Callback::Connect(Some(f), ctx) => unsafe { f(ctx.0, params) == crate::c_types::types::pdTRUE },
        Callback::Connect(None, _) => false,
    }
}

#[cfg(afr_subscription_management)]
/// Calls a subscription callback. C returns an `MQTTBool_t`, whose size is the
/// target's enum size; it is read as an integer of that size, so that a value
/// other than 0 or 1 from C cannot be an invalid Rust enum.
fn call_publish_callback(f: crate::c_types::mqtt_lib::MQTTPublishCallback_t, ctx: super::CPtr, data: &MQTTPublishData_t) -> bool {
    use crate::c_types::mqtt_lib::MQTTBool_t;
    let Some(f) = f else { return false };
    let raw = f as *const c_void;
    // SAFETY: C declares the callback as returning MQTTBool_t, an enum that the C
    // ABI returns exactly like an unsigned integer of the same size; the pointer
    // is the application's callback, called with valid arguments.
    unsafe {
        match core::mem::size_of::<MQTTBool_t>() {
            1 => {
                let f: unsafe extern "C" fn(*mut c_void, *const MQTTPublishData_t) -> u8 = core::mem::transmute(raw);
                f(ctx.0, data) == 1
            }
            _ => {
                let f: unsafe extern "C" fn(*mut c_void, *const MQTTPublishData_t) -> u32 = core::mem::transmute(raw);
                f(ctx.0, data) == 1
            }
        }
    }
}
