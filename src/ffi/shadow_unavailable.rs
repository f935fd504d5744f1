//! `aws_shadow.h` when the project sets `mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT`
//! to 0: the shadow client needs per-topic callbacks (as AFR's did), so no
//! shadow client can be created and every call answers `eShadowFailure`.

use crate::ffi::agent_types::MQTTAgentConnectParams_t;
use crate::ffi::mqtt_lib::MQTTBufferHandle_t;
use crate::ffi::shadow_types::*;
use crate::ffi::types::TickType_t;

#[no_mangle]
pub extern "C" fn SHADOW_ClientCreate(_: *mut ShadowClientHandle_t, _: *const ShadowCreateParams_t) -> ShadowReturnCode_t {
    eShadowFailure
}
#[no_mangle]
pub extern "C" fn SHADOW_ClientConnect(_: ShadowClientHandle_t, _: *mut MQTTAgentConnectParams_t, _: TickType_t) -> ShadowReturnCode_t {
    eShadowFailure
}
#[no_mangle]
pub extern "C" fn SHADOW_ClientDisconnect(_: ShadowClientHandle_t) -> ShadowReturnCode_t {
    eShadowFailure
}
#[no_mangle]
pub extern "C" fn SHADOW_ClientDelete(_: ShadowClientHandle_t) -> ShadowReturnCode_t {
    eShadowFailure
}
#[no_mangle]
pub extern "C" fn SHADOW_Update(_: ShadowClientHandle_t, _: *mut ShadowOperationParams_t, _: TickType_t) -> ShadowReturnCode_t {
    eShadowFailure
}
#[no_mangle]
pub extern "C" fn SHADOW_Get(_: ShadowClientHandle_t, _: *mut ShadowOperationParams_t, _: TickType_t) -> ShadowReturnCode_t {
    eShadowFailure
}
#[no_mangle]
pub extern "C" fn SHADOW_Delete(_: ShadowClientHandle_t, _: *mut ShadowOperationParams_t, _: TickType_t) -> ShadowReturnCode_t {
    eShadowFailure
}
#[no_mangle]
pub extern "C" fn SHADOW_RegisterCallbacks(_: ShadowClientHandle_t, _: *mut ShadowCallbackParams_t, _: TickType_t) -> ShadowReturnCode_t {
    eShadowFailure
}
#[no_mangle]
pub extern "C" fn SHADOW_ReturnMQTTBuffer(_: ShadowClientHandle_t, _: MQTTBufferHandle_t) -> ShadowReturnCode_t {
    eShadowFailure
}
