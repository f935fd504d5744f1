//! The MQTT agent's core: protocol state per connection, without I/O, time
//! sources or FreeRTOS. The FreeRTOS task that drives it is in
//! `platform::agent_task`; the C API in `ffi::agent`.

pub mod core;
pub mod session;
