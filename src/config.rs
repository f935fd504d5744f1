//! The project's AFR configuration, read from its own headers at build time.
//!
//! `build.rs` runs the project's C compiler over `FreeRTOSConfig.h`,
//! `aws_mqtt_agent_config.h`, `aws_mqtt_config.h`, `aws_bufferpool_config.h` and
//! `aws_shadow_config.h` (each followed by our defaults in `include/`), so every
//! constant below is the value the project's C code sees. Nothing here is typed by hand.

include!(concat!(env!("OUT_DIR"), "/afr_config.rs"));
