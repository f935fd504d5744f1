//! What a `no_std` static library must provide itself.

use core::panic::PanicInfo;

/// The library never panics by design (checked inputs, no unwrap on untrusted
/// data); if a bug makes it panic anyway, stop loudly instead of unwinding into C.
#[panic_handler]
fn on_panic(_info: &PanicInfo) -> ! {
    #[cfg(target_os = "linux")]
    {
        extern "C" {
            fn abort() -> !;
        }
        // SAFETY: libc's abort has no preconditions; the simulator links libc.
        unsafe { abort() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // The project's configASSERT: its chosen way to report a fault.
        crate::platform::rtos::assert_failed();
        loop {
            core::hint::spin_loop();
        }
    }
}

/// The prebuilt `core`/`alloc` for hosted targets are compiled with unwinding and
/// reference this symbol; with `panic = "abort"` it is never called.
#[cfg(target_os = "linux")]
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
