//! `aws_mqtt_agent.h`'s functions.
//!
//! Each checks its arguments first; a NULL, stale or foreign handle, NULL
//! parameters, an empty or invalid topic, a wildcard in a publish topic, a QoS
//! above 2 or invalid UTF-8 all return `eMQTTAgentFailure` without reaching
//! the agent. Calls from inside an agent callback return
//! `eMQTTAgentAPICalledFromCallback`. Every call waits at most `xTimeoutTicks`.

use core::ffi::{c_char, c_void, CStr};
use core::ptr::addr_of;

use crate::config::mqtt;
use crate::ffi::agent_types::*;
use crate::ffi::mqtt_lib::MQTTBufferHandle_t;
use crate::ffi::read_c_enum;
use crate::ffi::types::{pdFAIL, pdPASS, BaseType_t, TickType_t};
use crate::mqtt::codec::{scan_text, QoS, HAS_NUL, NOT_UTF8};
use crate::mqtt::topic;
use crate::platform::agent_task::{self, agent, Callback, Command, Ended, Open};
use crate::platform::rtos;

use MQTTAgentReturnCode_t::*;

/// `securesocketsMAX_DNS_NAME_LENGTH`.
const MAX_HOST_LEN: usize = 253;

/// A byte slice from a C pointer and length; NULL is only accepted for length 0.
///
/// # Safety
/// When non-NULL, `ptr` must be valid for `len` bytes for the returned lifetime.
pub(crate) unsafe fn c_bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    // For length 0 any non-NULL pointer will do: the address with its low
    // bit set (one instruction, not a choice between two pointers).
    let ptr = ptr.map_addr(|a| a | usize::from(len == 0));
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-NULL, and valid for `len` bytes per this function's
    // contract, or `len` is 0.
    Some(unsafe { core::slice::from_raw_parts(ptr, len) })
}

fn qos_from_c(raw: u32) -> Option<QoS> {
    QoS::try_from(u8::try_from(raw).ok()?).ok()
}

/// An argument check failed: the log says which call and why (as coreMQTT's
/// log lines do; compiled out without `mqttconfigENABLE_DEBUG_LOGS`).
fn refused(call: &str, why: &str) -> MQTTAgentReturnCode_t {
    crate::platform::log::debug(format_args!("{call}: refused: {why}"));
    eMQTTAgentFailure
}

/// Initialises the agent and creates its task. Call once, after the scheduler's
/// resources exist (before or after `vTaskStartScheduler`). Returns `pdPASS`.
#[no_mangle]
pub extern "C" fn MQTT_AGENT_Init() -> BaseType_t {
    if agent_task::init() {
        pdPASS
    } else {
        pdFAIL
    }
}

/// The body of a C entry point that hands its arguments to [`call`] with
/// the call's kind. On Arm (Thumb-2 or Arm state: `movw`/`movt`, a `b` of
/// any range; not Armv6-M, which has no compare-and-swap atomics either)
/// the entry point is naked: two to five instructions that put the kind
/// (and for Delete and Disconnect their other arguments) where `call`
/// takes them and jump to it, 6 to 16 bytes; the compiler's version sets
/// up a frame record first even for this tail call, 14 to 20 bytes
/// (agent+pool -36, +shadow -44). Elsewhere the same call in Rust. (A
/// macro body, not a macro around the functions: cbindgen reads them.)
#[cfg(all(target_arch = "arm", target_has_atomic = "32"))]
macro_rules! to_call {
    (call($h:expr, $p:expr, $t:expr, $k:expr), [$($asm:literal),+] $(, $op:ident = $val:expr)*) => {
        // The instructions only set the argument registers r1 to r3 as the
        // Rust version below passes them (AAPCS: handle, parameter block,
        // ticks, kind) and tail-call `call`, which returns to our caller;
        // no stack, no other register.
        core::arch::naked_asm!($($asm,)+ "b {call}", call = sym call, kind = const $k as u8 $(, $op = const $val)*)
    };
}
#[cfg(not(all(target_arch = "arm", target_has_atomic = "32")))]
macro_rules! to_call {
    (call($h:expr, $p:expr, $t:expr, $k:expr), [$($asm:literal),+] $(, $op:ident = $val:expr)*) => {
        // SAFETY: the parameter block is NULL or the caller's, of the call's
        // type (NO_PARAMS for Delete and Disconnect), as `call` requires.
        unsafe { call($h, $p, $t, $k) }
    };
}

/// The parameter block `call` is given for Delete and Disconnect, which
/// have none: not NULL (so that `call` tests NULL once for all), never read.
#[cfg_attr(all(target_arch = "arm", target_has_atomic = "32"), allow(dead_code))] // (Naked: `NO_PARAMS_ADDR`.)
const NO_PARAMS: *const c_void = core::ptr::without_provenance(NO_PARAMS_ADDR);
/// Its address (the naked entry points load it as a number).
const NO_PARAMS_ADDR: usize = 1;

/// Creates a client; `eMQTTAgentFailure` when `mqttconfigMAX_BROKERS` exist.
#[no_mangle]
pub extern "C" fn MQTT_AGENT_Create(pxMQTTHandle: *mut MQTTAgentHandle_t) -> MQTTAgentReturnCode_t {
    let agent = agent();
    if agent.is_some_and(agent_task::Agent::is_current) {
        return eMQTTAgentAPICalledFromCallback;
    }
    if pxMQTTHandle.is_null() {
        return refused("MQTT_AGENT_Create", "pxMQTTHandle is NULL");
    }
    let Some(handle) = agent.and_then(|a| a.create()) else { return refused("MQTT_AGENT_Create", "no free client (mqttconfigMAX_BROKERS) or the agent is not initialised") };
    // SAFETY: non-NULL pointer to the caller's handle variable.
    unsafe { pxMQTTHandle.write_unaligned(handle) };
    eMQTTAgentSuccess
}

/// Deletes a client (disconnecting it first if needed). The handle is invalid afterwards.
#[no_mangle]
#[cfg_attr(all(target_arch = "arm", target_has_atomic = "32"), unsafe(naked))] // See `to_call`.
pub extern "C" fn MQTT_AGENT_Delete(xMQTTHandle: MQTTAgentHandle_t) -> MQTTAgentReturnCode_t {
    to_call!(
        call(xMQTTHandle, NO_PARAMS, crate::config::kernel::MAX_DELAY, Call::Delete),
        ["movw r2, #{lo}", "movt r2, #{hi}", "movs r1, #{np}", "movs r3, #{kind}"],
        lo = crate::config::kernel::MAX_DELAY & 0xffff,
        hi = crate::config::kernel::MAX_DELAY >> 16,
        np = NO_PARAMS_ADDR
    )
}

/// Connects to the broker and waits for its CONNACK.
#[no_mangle]
#[cfg_attr(all(target_arch = "arm", target_has_atomic = "32"), unsafe(naked))] // See `to_call`.
pub extern "C" fn MQTT_AGENT_Connect(
    xMQTTHandle: MQTTAgentHandle_t,
    pxConnectParams: *const MQTTAgentConnectParams_t,
    xTimeoutTicks: TickType_t,
) -> MQTTAgentReturnCode_t {
    to_call!(call(xMQTTHandle, pxConnectParams.cast(), xTimeoutTicks, Call::Connect), ["movs r3, #{kind}"])
}

// The user name goes to the agent unscanned, as the checked client id does
// (the core's `Connects` for `OpenRequest`, below).
const _: () = assert!(no_nul(mqtt::METRICS_USER_NAME.as_bytes()), "the metrics user name holds U+0000");

/// Every CONNECT's user name: the metrics one when enabled; the core builds
/// it in, so that `MQTT_AGENT_Connect` does not store it in each command.
impl crate::agent::core::Connects for agent_task::OpenRequest {
    const USER_NAME: Option<&'static [u8]> = if mqtt::ENABLE_METRICS { Some(mqtt::METRICS_USER_NAME.as_bytes()) } else { None };
}

const fn no_nul(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == 0 {
            return false;
        }
        i += 1;
    }
    true
}

/// What the agent task needs to open the connection: copies of the host name
/// (NUL-terminated) and of the trusted certificate, and the TLS parameters,
/// in one heap block; `None` when the heap cannot hold them (the arguments
/// were checked).
#[inline(always)] // One caller: its arguments stay in registers.
fn open_request(p: &MQTTAgentConnectParams_t, host: &CStr, port: u16, flags: u32, start: u32, timeout: u32) -> Option<agent_task::OpenRequest> {
    let tls = flags & (mqttagentREQUIRE_TLS | mqttagentUSE_AWS_IOT_ALPN_443) != 0;
    let pem = super::agent_tls::trusted_pem(p, tls).ok()?;
    #[cfg(not(feature = "tls"))]
    let _ = (start, timeout);
    let open = Open {
        port,
        flags: flags as u8,
        #[cfg(feature = "tls")]
        start,
        #[cfg(feature = "tls")]
        timeout,
    };
    agent_task::OpenRequest::new(open, host, pem)
}

/// Sends DISCONNECT and closes the connection. Operations still waiting fail.
#[no_mangle]
#[cfg_attr(all(target_arch = "arm", target_has_atomic = "32"), unsafe(naked))] // See `to_call`.
pub extern "C" fn MQTT_AGENT_Disconnect(xMQTTHandle: MQTTAgentHandle_t, xTimeoutTicks: TickType_t) -> MQTTAgentReturnCode_t {
    to_call!(call(xMQTTHandle, NO_PARAMS, xTimeoutTicks, Call::Disconnect), ["mov r2, r1", "movs r1, #{np}", "movs r3, #{kind}"], np = NO_PARAMS_ADDR)
}

/// Subscribes to one topic filter and waits for the SUBACK. With subscription
/// management, `pxPublishCallback` then receives the matching publishes.
#[no_mangle]
#[cfg_attr(all(target_arch = "arm", target_has_atomic = "32"), unsafe(naked))] // See `to_call`.
pub extern "C" fn MQTT_AGENT_Subscribe(
    xMQTTHandle: MQTTAgentHandle_t,
    pxSubscribeParams: *const MQTTAgentSubscribeParams_t,
    xTimeoutTicks: TickType_t,
) -> MQTTAgentReturnCode_t {
    to_call!(call(xMQTTHandle, pxSubscribeParams.cast(), xTimeoutTicks, Call::Subscribe), ["movs r3, #{kind}"])
}

/// Unsubscribes from one topic filter and waits for the UNSUBACK.
#[no_mangle]
#[cfg_attr(all(target_arch = "arm", target_has_atomic = "32"), unsafe(naked))] // See `to_call`.
pub extern "C" fn MQTT_AGENT_Unsubscribe(
    xMQTTHandle: MQTTAgentHandle_t,
    pxUnsubscribeParams: *const MQTTAgentUnsubscribeParams_t,
    xTimeoutTicks: TickType_t,
) -> MQTTAgentReturnCode_t {
    to_call!(call(xMQTTHandle, pxUnsubscribeParams.cast(), xTimeoutTicks, Call::Unsubscribe), ["movs r3, #{kind}"])
}

/// Publishes a message: QoS 0 returns once sent, QoS 1 at PUBACK, QoS 2 at
/// PUBCOMP. The payload is copied once, into the outgoing buffer, before the
/// call returns.
#[no_mangle]
#[cfg_attr(all(target_arch = "arm", target_has_atomic = "32"), unsafe(naked))] // See `to_call`.
pub extern "C" fn MQTT_AGENT_Publish(
    xMQTTHandle: MQTTAgentHandle_t,
    pxPublishParams: *const MQTTAgentPublishParams_t,
    xTimeoutTicks: TickType_t,
) -> MQTTAgentReturnCode_t {
    to_call!(call(xMQTTHandle, pxPublishParams.cast(), xTimeoutTicks, Call::Publish), ["movs r3, #{kind}"])
}

/// The six calls that reach the agent with a command. Subscribe,
/// Unsubscribe and Publish have parameter blocks that start alike
/// (`pucTopic`, `usTopicLength`, then `xQoS` for Subscribe and Publish);
/// Connect has its own; Delete and Disconnect none. One routine checks them
/// all and submits (one entry check, one submit: less code than a routine
/// per kind), with the call's own parts chosen by this value (each refusal
/// keeps its call's log line).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Call {
    Subscribe,
    Unsubscribe,
    Publish,
    Connect,
    Delete,
    Disconnect,
}

// The naked entry points (`to_call`) put exactly these four arguments in r0
// to r3 and branch to `call`: a change of its signature fails here, not at
// run time on Arm.
#[cfg(all(target_arch = "arm", target_has_atomic = "32"))]
const _: unsafe extern "C" fn(MQTTAgentHandle_t, *const c_void, TickType_t, Call) -> MQTTAgentReturnCode_t = call;

// The common start of the three parameter blocks, read through the unsubscribe
// block's type (pucTopic, usTopicLength) and the publish block's (xQoS).
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(MQTTAgentSubscribeParams_t, pucTopic) == offset_of!(MQTTAgentUnsubscribeParams_t, pucTopic));
    assert!(offset_of!(MQTTAgentPublishParams_t, pucTopic) == offset_of!(MQTTAgentUnsubscribeParams_t, pucTopic));
    assert!(offset_of!(MQTTAgentSubscribeParams_t, usTopicLength) == offset_of!(MQTTAgentUnsubscribeParams_t, usTopicLength));
    assert!(offset_of!(MQTTAgentPublishParams_t, usTopicLength) == offset_of!(MQTTAgentUnsubscribeParams_t, usTopicLength));
    assert!(offset_of!(MQTTAgentSubscribeParams_t, xQoS) == offset_of!(MQTTAgentPublishParams_t, xQoS));
};

/// `MQTT_AGENT_Connect`, `_Subscribe`, `_Unsubscribe`, `_Publish`,
/// `_Delete` and `_Disconnect`: one argument check and submit for the six
/// (their entry points tail-call it, so it adds no stack to theirs; the C
/// ABI, so that its result comes back widened as theirs).
///
/// # Safety
/// `params` is NULL or points to a valid parameter block of `call`'s type
/// ([`NO_PARAMS`] for Delete and Disconnect, which read none).
#[inline(never)]
unsafe extern "C" fn call(handle: MQTTAgentHandle_t, params: *const c_void, timeout: TickType_t, call: Call) -> MQTTAgentReturnCode_t {
    use Call::*;
    // What every call checks first: agent initialised, not from an agent callback.
    let Some(agent) = agent() else { return eMQTTAgentFailure };
    if agent.is_current() {
        return eMQTTAgentAPICalledFromCallback;
    }
    let start = rtos::tick_count();
    // One test for the four calls with a parameter block (Delete and
    // Disconnect pass `NO_PARAMS`).
    if params.is_null() {
        let (name, why) = match call {
            Connect => ("MQTT_AGENT_Connect", "pxConnectParams is NULL"),
            Subscribe => ("MQTT_AGENT_Subscribe", "pxSubscribeParams is NULL"),
            Unsubscribe => ("MQTT_AGENT_Unsubscribe", "pxUnsubscribeParams is NULL"),
            _ => ("MQTT_AGENT_Publish", "pxPublishParams is NULL"),
        };
        return refused(name, why);
    }
    let command = match call {
        Delete => Command::Delete,
        Disconnect => Command::Disconnect,
        // SAFETY: the caller's connect parameter block (not NULL, see above).
        Connect => match unsafe { connect_command(params.cast(), start, timeout) } {
            Ok(command) => command,
            Err(code) => return code,
        },
        Subscribe | Unsubscribe | Publish => {
            let name = match call {
                Subscribe => "MQTT_AGENT_Subscribe",
                Unsubscribe => "MQTT_AGENT_Unsubscribe",
                _ => "MQTT_AGENT_Publish",
            };
            // SAFETY: non-NULL; the common start of the three blocks (see the assertions above).
            let p = unsafe { &*(params as *const MQTTAgentUnsubscribeParams_t) };
            let publish = params as *const MQTTAgentPublishParams_t;
            let mut qos = QoS::AtMostOnce;
            if call != Unsubscribe {
                // SAFETY: a subscribe or publish block, whose xQoS is at the same
                // place; the enum field is read as an integer (any value from C is defined).
                let Some(q) = qos_from_c(unsafe { read_c_enum(addr_of!((*publish).xQoS)) }) else {
                    return refused(name, "xQoS is not 0, 1 or 2");
                };
                qos = q;
            }
            // SAFETY: the topic is pucTopic/usTopicLength.
            let topic = unsafe { c_bytes(p.pucTopic, p.usTopicLength as usize) };
            if call == Publish {
                // SAFETY: a publish block; the payload is pvData/ulDataLength.
                let (Some(name_bytes), Some(payload)) = (topic, unsafe { c_bytes((*publish).pvData as *const u8, (*publish).ulDataLength as usize) }) else {
                    return refused(name, "pucTopic or pvData is NULL with a non-zero length");
                };
                let true = topic::is_valid_bytes(name_bytes, false) else { return refused(name, "the topic name is empty, not UTF-8 or has a wildcard") };
                Command::Publish { topic: name_bytes, payload, qos, retain: false }
            } else {
                let Some(filter) = topic.filter(|f| topic::is_valid_bytes(f, true)) else {
                    return refused(name, "pucTopic is NULL with a non-zero usTopicLength, or the topic filter is empty, not UTF-8 or misplaces a wildcard");
                };
                if call == Unsubscribe {
                    Command::Unsubscribe { filter }
                } else {
                    // SAFETY: a subscribe block.
                    #[cfg(afr_subscription_management)]
                    let callback = unsafe {
                        let s = &*(params as *const MQTTAgentSubscribeParams_t);
                        s.pxPublishCallback.map(|f| Callback::Publish(Some(f), agent_task::CPtr(s.pvPublishCallbackContext)))
                    };
                    #[cfg(not(afr_subscription_management))]
                    let callback = None;
                    Command::Subscribe { filter, qos, callback }
                }
            }
        }
    };
    let ended = agent_task::Agent::submit_from(handle, command, start, timeout, agent.ready());
    // The low two bits are the C code (BadHandle's are Failure's): one mask,
    // not a match of four (bytes saved).
    const _: () = assert!(
        Ended::BadHandle as u8 & 3 == Ended::Failure as u8
            && Ended::Failure as u8 == eMQTTAgentFailure as u8
            && Ended::Success as u8 == eMQTTAgentSuccess as u8
            && Ended::Timeout as u8 == eMQTTAgentTimeout as u8
            && (size_of::<MQTTAgentReturnCode_t>() == 1 || size_of::<MQTTAgentReturnCode_t>() == 4)
    );
    let code = ended as u8 & 3;
    // SAFETY: `code` is 0, 1 or 2, values of the C enum (Success, Failure,
    // Timeout, asserted above and in `shadow`), read from an integer of its
    // size (1 byte with short enums, else 4). (A match on it is not compiled
    // to the identity.)
    unsafe {
        if size_of::<MQTTAgentReturnCode_t>() == 1 {
            core::mem::transmute_copy::<u8, MQTTAgentReturnCode_t>(&code)
        } else {
            core::mem::transmute_copy::<u32, MQTTAgentReturnCode_t>(&u32::from(code))
        }
    }
}

/// `MQTT_AGENT_Connect`'s checks of its parameter block and its command (the
/// copies made last, so that no refusal frees one), or the code to return.
///
/// # Safety
/// `pxConnectParams` is the caller's valid connect parameter block.
#[inline(always)] // One caller (`call`).
unsafe fn connect_command<'a>(pxConnectParams: *const MQTTAgentConnectParams_t, start: u32, xTimeoutTicks: TickType_t) -> Result<Command<'a>, MQTTAgentReturnCode_t> {
    // SAFETY: the caller's valid parameter block (NULL was refused).
    let p = unsafe { &*pxConnectParams };
    let flags = p.xFlags as u32
        | if p.xURLIsIPAddress != 0 { mqttagentURL_IS_IP_ADDRESS } else { 0 }
        | if p.xSecuredConnection != 0 { mqttagentREQUIRE_TLS } else { 0 };
    // ALPN on 443 is AWS IoT's MQTT over TLS: it implies TLS.
    let wants_tls = flags & (mqttagentREQUIRE_TLS | mqttagentUSE_AWS_IOT_ALPN_443) != 0;
    let port = if flags & mqttagentUSE_AWS_IOT_ALPN_443 != 0 { 443 } else { p.usPort };
    if p.pcURL.is_null() || port == 0 {
        return Err(refused("MQTT_AGENT_Connect", "pcURL is NULL or the port is 0"));
    }
    if wants_tls && !cfg!(feature = "tls") && !agent_task::TLS_BY_SOCKETS_PORT {
        // No TLS in this build: refuse rather than fall back to plain TCP.
        return Err(refused("MQTT_AGENT_Connect", "TLS asked for, and this build has no TLS"));
    }
    // SAFETY: pcURL is a NUL-terminated string; reading stops at its NUL or the length limit.
    let mut host_len = 0;
    while host_len <= MAX_HOST_LEN && unsafe { *p.pcURL.add(host_len) } != 0 as c_char {
        host_len += 1;
    }
    if host_len == 0 || host_len > MAX_HOST_LEN {
        return Err(refused("MQTT_AGENT_Connect", "pcURL is empty or longer than 253 bytes"));
    }
    // SAFETY: host_len bytes other than NUL, then the NUL, were just read.
    let host = unsafe { CStr::from_bytes_with_nul_unchecked(core::slice::from_raw_parts(p.pcURL as *const u8, host_len + 1)) };
    // SAFETY: the client id is pucClientId/usClientIdLength, as AFR documents.
    let Some(client_id) = (unsafe { c_bytes(p.pucClientId, p.usClientIdLength as usize) }) else {
        return Err(refused("MQTT_AGENT_Connect", "pucClientId is NULL with a non-zero usClientIdLength"));
    };
    // The agent does not scan it again (see `Command`): U+0000 is refused here too.
    if scan_text(client_id) & (NOT_UTF8 | HAS_NUL) != 0 {
        return Err(refused("MQTT_AGENT_Connect", "the client id is not UTF-8 or holds U+0000"));
    }
    if wants_tls && !p.pcCertificate.is_null() && p.ulCertificateSize > super::agent_tls::MAX_PEM {
        return Err(refused("MQTT_AGENT_Connect", "ulCertificateSize is above 64 KiB"));
    }
    // Every argument checked: the copies last, so no refusal frees one.
    let Some(open) = open_request(p, host, port, flags, start, xTimeoutTicks) else {
        return Err(refused("MQTT_AGENT_Connect", "no memory for the connect request"));
    };
    let command = Command::Connect {
        client_id,
        keep_alive: mqtt::KEEP_ALIVE_INTERVAL_SECONDS,
        open: Some(open),
        callback: Some(Callback::Connect(p.pxCallback, agent_task::CPtr(p.pvUserData))),
        start,
        timeout: xTimeoutTicks,
    };
    Ok(command)
}

/// Gives back a buffer whose ownership a callback took (by returning
/// `pdTRUE`/`eMQTTTrue`). The handle is not needed (AFR ignored it too); a NULL
/// buffer, or with the central pool a buffer that is not in use or not the
/// pool's, returns `eMQTTAgentFailure` and changes nothing.
#[no_mangle]
#[inline(never)] // FreeRTOS_Agent_ReturnBuffer calls it rather than carrying a copy.
pub extern "C" fn MQTT_AGENT_ReturnBuffer(xMQTTHandle: MQTTAgentHandle_t, xBufferHandle: MQTTBufferHandle_t) -> MQTTAgentReturnCode_t {
    let _ = xMQTTHandle;
    if xBufferHandle.is_null() {
        return refused("MQTT_AGENT_ReturnBuffer", "xBufferHandle is NULL");
    }
    if USES_CENTRAL_POOL {
        // SAFETY: the application hands back a buffer it owns; anything else is refused.
        match unsafe { crate::ffi::bufferpool::POOL.give_back(xBufferHandle as *const u8) } {
            Ok(()) => eMQTTAgentSuccess,
            Err(_) => eMQTTAgentFailure,
        }
    } else {
        // SAFETY: the project's own return function, as AFR called it.
        unsafe { mqtt::buffer_fxn::return_buffer(xBufferHandle as *mut u8) };
        eMQTTAgentSuccess
    }
}

/// The name the product documentation uses for [`MQTT_AGENT_ReturnBuffer`].
#[no_mangle]
pub extern "C" fn FreeRTOS_Agent_ReturnBuffer(xMQTTHandle: MQTTAgentHandle_t, xBufferHandle: MQTTBufferHandle_t) -> MQTTAgentReturnCode_t {
    MQTT_AGENT_ReturnBuffer(xMQTTHandle, xBufferHandle)
}

/// The project left the agent on the central buffer pool (AFR's default).
const USES_CENTRAL_POOL: bool = str_eq(mqtt::RETURN_BUFFER_FXN, "BUFFERPOOL_ReturnBuffer");

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
