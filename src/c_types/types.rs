//! FreeRTOS scalar types as the project's port defines them. build.rs refuses a
//! port whose sizes differ from these (and from freertos-rust's).

/// `BaseType_t` of a 32-bit port.
pub type BaseType_t = i32;
/// `TickType_t` with `configTICK_TYPE_WIDTH_IN_BITS` 32.
pub type TickType_t = u32;

pub const pdFALSE: BaseType_t = 0;
pub const pdTRUE: BaseType_t = 1;
pub const pdFAIL: BaseType_t = pdFALSE;
pub const pdPASS: BaseType_t = pdTRUE;
