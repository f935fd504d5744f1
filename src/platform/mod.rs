//! Adapters between the pure core and the platform: FreeRTOS through
//! freertos-rust (heap, tasks, ticks) and the runtime glue a `no_std` static
//! library needs (panic handler).

pub mod agent_task;
pub mod heap;
pub mod link;
pub mod log;
pub mod sockets;
pub mod rtos;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(all(feature = "tls", afr_tls_pkcs11))]
pub mod pkcs11;
mod runtime;

#[cfg(feature = "selftest")]
pub mod stack_probe;
