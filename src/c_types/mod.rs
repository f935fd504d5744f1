//! The C types of AFR's headers (`aws_mqtt_lib.h`, `aws_mqtt_agent.h`,
//! FreeRTOS's base types), as plain Rust declarations. Both `ffi` (the C API)
//! and `platform` (which calls the application's callbacks) use them, so
//! neither imports the other's types: `ffi` calls `platform`, never the reverse.
//! cbindgen generates the headers from these files (tests/headers.rs).

#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)] // AFR's C names.

pub mod agent_types;
pub mod mqtt_lib;
pub mod types;
