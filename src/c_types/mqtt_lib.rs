//! `aws_mqtt_lib.h`: the MQTT types the agent API uses (AFR v1.4.7 layout).
//!
//! Enums are `#[repr(C)]` so that they take the C compiler's enum size on each
//! target: 4 bytes on the simulator, 1 byte with arm-none-eabi-gcc's short enums.
//! Values coming from C are never read as these enums directly (an out-of-range
//! value would be undefined behaviour in Rust): see [`crate::ffi::read_c_enum`].

use core::ffi::c_void;

/// Boolean of the MQTT library. (Only ever read from C, as an integer.)
#[repr(C)]
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MQTTBool_t {
    eMQTTFalse = 0,
    eMQTTTrue = 1,
}

/// Quality of service.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MQTTQoS_t {
    /// At most once.
    eMQTTQoS0 = 0,
    /// At least once.
    eMQTTQoS1 = 1,
    /// Exactly once (supported by this library; AFR v1 was not).
    eMQTTQoS2 = 2,
}

/// A received message's buffer: the start of the buffer-pool buffer that holds
/// the whole packet. Give it back with `MQTT_AGENT_ReturnBuffer` after taking
/// ownership in a callback.
pub type MQTTBufferHandle_t = *mut c_void;

/// A received PUBLISH. `pucTopic` and `pvData` point into `xBuffer`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MQTTPublishData_t {
    /// Quality of service of the message.
    pub xQos: MQTTQoS_t,
    /// The topic (not NUL-terminated).
    pub pucTopic: *const u8,
    /// Length of the topic.
    pub usTopicLength: u16,
    /// The payload.
    pub pvData: *const c_void,
    /// Length of the payload.
    pub ulDataLength: u32,
    /// The buffer holding topic and payload.
    pub xBuffer: MQTTBufferHandle_t,
}

/// Subscription callback. Returning `eMQTTTrue` takes ownership of
/// `pxPublishData->xBuffer`, to be given back with `MQTT_AGENT_ReturnBuffer`;
/// `eMQTTFalse` leaves it to the library, which reuses it when the callback returns.
#[cfg(afr_subscription_management)]
pub type MQTTPublishCallback_t = Option<
    unsafe extern "C" fn(pvPublishCallbackContext: *mut c_void, pxPublishData: *const MQTTPublishData_t) -> MQTTBool_t,
>;
