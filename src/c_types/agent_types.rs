//! `aws_mqtt_agent.h`'s types (AFR v1.4.7 layout).

use core::ffi::c_void;

use crate::ffi::mqtt_lib::{MQTTPublishData_t, MQTTQoS_t};
#[cfg(afr_subscription_management)]
use crate::ffi::mqtt_lib::MQTTPublishCallback_t;
use crate::ffi::types::BaseType_t;

/// Opaque handle of an MQTT agent client.
pub type MQTTAgentHandle_t = *mut c_void;

/// Result of every `MQTT_AGENT_*` call.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MQTTAgentReturnCode_t {
    /// The operation succeeded.
    eMQTTAgentSuccess,
    /// The operation failed (bad arguments, refused by the broker, connection lost).
    eMQTTAgentFailure,
    /// No answer within the caller's `xTimeoutTicks`.
    eMQTTAgentTimeout,
    /// An agent API was called from inside an agent callback, where it would deadlock.
    eMQTTAgentAPICalledFromCallback,
}

/// Events reported to the connect callback.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MQTTAgentEvent_t {
    /// A publish that no subscription callback claimed.
    eMQTTAgentPublish,
    /// The connection to the broker was lost.
    eMQTTAgentDisconnect,
}

/// Event data: meaningful only for `eMQTTAgentPublish`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union MQTTAgentCallbackParams_u {
    pub xPublishData: MQTTPublishData_t,
}

/// What the connect callback receives.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MQTTAgentCallbackParams_t {
    pub xMQTTEvent: MQTTAgentEvent_t,
    pub u: MQTTAgentCallbackParams_u,
}

/// The connect callback. For `eMQTTAgentPublish`, returning `pdTRUE` takes
/// ownership of the buffer (give it back with `MQTT_AGENT_ReturnBuffer`).
pub type MQTTAgentCallback_t = Option<
    unsafe extern "C" fn(pvUserData: *mut c_void, pxCallbackParams: *const MQTTAgentCallbackParams_t) -> BaseType_t,
>;

/// `xFlags` bit: `pcURL` is a dotted IPv4 address, not a DNS name.
pub const mqttagentURL_IS_IP_ADDRESS: u32 = 0x0000_0001;
/// `xFlags` bit: connect over TLS.
pub const mqttagentREQUIRE_TLS: u32 = 0x0000_0002;
/// `xFlags` bit: AWS IoT MQTT over TLS on port 443 with ALPN `x-amzn-mqtt-ca`.
pub const mqttagentUSE_AWS_IOT_ALPN_443: u32 = 0x0000_0004;

/// Parameters of `MQTT_AGENT_Connect`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MQTTAgentConnectParams_t {
    /// Broker host name, or IPv4 address with `mqttagentURL_IS_IP_ADDRESS`. NUL-terminated.
    pub pcURL: *const core::ffi::c_char,
    /// `mqttagent*` flag bits.
    pub xFlags: BaseType_t,
    /// Deprecated: use `mqttagentURL_IS_IP_ADDRESS` in `xFlags`.
    pub xURLIsIPAddress: BaseType_t,
    /// Broker port (ignored with `mqttagentUSE_AWS_IOT_ALPN_443`).
    pub usPort: u16,
    /// Client identifier (not NUL-terminated).
    pub pucClientId: *const u8,
    /// Length of the client identifier.
    pub usClientIdLength: u16,
    /// Deprecated: use `mqttagentREQUIRE_TLS` in `xFlags`.
    pub xSecuredConnection: BaseType_t,
    /// Passed back to `pxCallback`.
    pub pvUserData: *mut c_void,
    /// Receives unclaimed publishes and the disconnect event. May be NULL.
    pub pxCallback: MQTTAgentCallback_t,
    /// PEM certificate(s) the server must chain to; NULL for the built-in roots.
    pub pcCertificate: *mut core::ffi::c_char,
    /// Size of `pcCertificate` in bytes.
    pub ulCertificateSize: u32,
}

/// Parameters of `MQTT_AGENT_Subscribe`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MQTTAgentSubscribeParams_t {
    /// Topic filter, wildcards allowed (not NUL-terminated).
    pub pucTopic: *const u8,
    /// Length of the filter.
    pub usTopicLength: u16,
    /// Requested QoS.
    pub xQoS: MQTTQoS_t,
    /// Passed back to `pxPublishCallback`.
    #[cfg(afr_subscription_management)]
    pub pvPublishCallbackContext: *mut c_void,
    /// Called for publishes matching this filter. May be NULL.
    #[cfg(afr_subscription_management)]
    pub pxPublishCallback: MQTTPublishCallback_t,
}

/// Parameters of `MQTT_AGENT_Unsubscribe`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MQTTAgentUnsubscribeParams_t {
    /// Topic filter (not NUL-terminated).
    pub pucTopic: *const u8,
    /// Length of the filter.
    pub usTopicLength: u16,
}

/// Parameters of `MQTT_AGENT_Publish`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MQTTAgentPublishParams_t {
    /// Topic name, no wildcards (not NUL-terminated).
    pub pucTopic: *const u8,
    /// Length of the topic.
    pub usTopicLength: u16,
    /// QoS of the message.
    pub xQoS: MQTTQoS_t,
    /// Payload; copied before the call returns.
    pub pvData: *const c_void,
    /// Length of the payload.
    pub ulDataLength: u32,
}

// The Rust layouts must equal AFR's C layouts (CONTRACT.md §1); tests/abi checks
// the C side. arm-none-eabi uses 1-byte enums, the simulator 4-byte ones.
const _: () = {
    use core::mem::{offset_of, size_of};
    let short_enums = size_of::<MQTTQoS_t>() == 1;
    assert!(size_of::<MQTTQoS_t>() == if cfg!(target_arch = "arm") { 1 } else { 4 });
    assert!(size_of::<MQTTAgentConnectParams_t>() == 44);
    assert!(offset_of!(MQTTAgentConnectParams_t, ulCertificateSize) == 40);
    assert!(size_of::<MQTTAgentCallbackParams_t>() == 28);
    assert!(size_of::<MQTTPublishData_t>() == 24);
    assert!(size_of::<MQTTAgentUnsubscribeParams_t>() == 8);
    assert!(size_of::<MQTTAgentPublishParams_t>() == if short_enums { 16 } else { 20 });
    assert!(offset_of!(MQTTAgentPublishParams_t, xQoS) == if short_enums { 6 } else { 8 });
    #[cfg(afr_subscription_management)]
    assert!(size_of::<MQTTAgentSubscribeParams_t>() == if short_enums { 16 } else { 20 });
    #[cfg(not(afr_subscription_management))]
    assert!(size_of::<MQTTAgentSubscribeParams_t>() == if short_enums { 8 } else { 12 });
};
