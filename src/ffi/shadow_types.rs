//! `aws_shadow.h`'s types (AFR v1.4.7 names, values and layout).
// Several codes exist for C only (and, without subscription management, none is used).
#![allow(dead_code)]

use core::ffi::{c_char, c_void};

use crate::ffi::agent_types::MQTTAgentHandle_t;
use crate::ffi::mqtt_lib::{MQTTBufferHandle_t, MQTTQoS_t};
use crate::ffi::types::BaseType_t;

/// Opaque handle of a shadow client.
pub type ShadowClientHandle_t = *mut c_void;

/// Result of every `SHADOW_*` call: one of the `eShadow*` codes.
pub type ShadowReturnCode_t = i16;

/// AFR v1's JSON parser errors; kept for source compatibility (this library
/// has no token budget and does not return them).
pub const eShadowJSMNPart: ShadowReturnCode_t = -3;
pub const eShadowJSMNInval: ShadowReturnCode_t = -2;
pub const eShadowJSMNNoMem: ShadowReturnCode_t = -1;
/// The operation succeeded.
pub const eShadowSuccess: ShadowReturnCode_t = 0;
/// No response within the caller's timeout.
pub const eShadowTimeout: ShadowReturnCode_t = 1;
/// Bad arguments, not connected, or a malformed response.
pub const eShadowFailure: ShadowReturnCode_t = 2;
/// An unexpected state.
pub const eShadowUnknown: ShadowReturnCode_t = 3;
/// The service rejected the request: these are its codes.
pub const eShadowRejectedBadRequest: ShadowReturnCode_t = 400;
pub const eShadowRejectedUnauthorized: ShadowReturnCode_t = 401;
pub const eShadowRejectedForbidden: ShadowReturnCode_t = 403;
pub const eShadowRejectedNotFound: ShadowReturnCode_t = 404;
pub const eShadowRejectedConflict: ShadowReturnCode_t = 409;
pub const eShadowRejectedPayloadTooLarge: ShadowReturnCode_t = 413;
pub const eShadowRejectedUnsupportedMediaType: ShadowReturnCode_t = 415;
pub const eShadowRejectedTooManyRequests: ShadowReturnCode_t = 429;
pub const eShadowRejectedInternalServerError: ShadowReturnCode_t = 500;

/// Whether a shadow client has its own MQTT client or uses the application's.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowMQTTClientType_t {
    /// Use `xMQTTClientHandle`, an MQTT agent client the application created.
    eSharedMQTTClient,
    /// The shadow client creates and owns an MQTT agent client.
    eDedicatedMQTTClient,
}

/// Parameters of `SHADOW_ClientCreate`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShadowCreateParams_t {
    pub xMQTTClientType: ShadowMQTTClientType_t,
    /// The shared MQTT client (ignored for a dedicated client).
    pub xMQTTClientHandle: MQTTAgentHandle_t,
}

/// Parameters of `SHADOW_Update`, `SHADOW_Get` and `SHADOW_Delete`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShadowOperationParams_t {
    /// The thing name, NUL-terminated.
    pub pcThingName: *const c_char,
    /// Update: the document to send. Get: set to the received document.
    pub pcData: *const c_char,
    /// Length of `pcData`.
    pub ulDataLength: u32,
    /// Get: the MQTT buffer holding the received document; give it back with
    /// `SHADOW_ReturnMQTTBuffer`.
    pub xBuffer: MQTTBufferHandle_t,
    /// 1: stay subscribed to the operation's response topics afterwards.
    pub ucKeepSubscriptions: u8,
    /// QoS of the request and of the response subscriptions.
    pub xQoS: MQTTQoS_t,
}

/// Called with each `update/documents` message of a thing. Returning `pdTRUE`
/// keeps `xBuffer` (give it back with `SHADOW_ReturnMQTTBuffer`).
pub type ShadowUpdatedCallback_t = Option<
    unsafe extern "C" fn(
        pvUserData: *mut c_void,
        pcThingName: *const c_char,
        pcUpdateDocument: *const c_char,
        ulDocumentLength: u32,
        xBuffer: MQTTBufferHandle_t,
    ) -> BaseType_t,
>;

/// Called when a thing's shadow is deleted.
pub type ShadowDeletedCallback_t = Option<unsafe extern "C" fn(pvUserData: *mut c_void, pcThingName: *const c_char)>;

/// Called with each `update/delta` message of a thing. Returning `pdTRUE`
/// keeps `xBuffer` (give it back with `SHADOW_ReturnMQTTBuffer`).
pub type ShadowDeltaCallback_t = Option<
    unsafe extern "C" fn(
        pvUserData: *mut c_void,
        pcThingName: *const c_char,
        pcDeltaDocument: *const c_char,
        ulDocumentLength: u32,
        xBuffer: MQTTBufferHandle_t,
    ) -> BaseType_t,
>;

/// Parameters of `SHADOW_RegisterCallbacks`; a NULL callback unregisters.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShadowCallbackParams_t {
    pub pcThingName: *const c_char,
    pub xShadowUpdatedCallback: ShadowUpdatedCallback_t,
    pub xShadowDeletedCallback: ShadowDeletedCallback_t,
    pub xShadowDeltaCallback: ShadowDeltaCallback_t,
}

// Rust layouts equal AFR's C layouts (CONTRACT.md §1).
const _: () = {
    use core::mem::{offset_of, size_of};
    let short_enums = size_of::<MQTTQoS_t>() == 1;
    assert!(size_of::<ShadowCreateParams_t>() == 8);
    assert!(size_of::<ShadowOperationParams_t>() == if short_enums { 20 } else { 24 });
    assert!(offset_of!(ShadowOperationParams_t, xQoS) == if short_enums { 17 } else { 20 });
    assert!(size_of::<ShadowCallbackParams_t>() == 16);
};
