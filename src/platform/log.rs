//! Debug log, as AFR's `mqttconfigDEBUG_LOG`: through the project's
//! `vLoggingPrintf` when `mqttconfigENABLE_DEBUG_LOGS` is 1, else compiled out
//! (and `vLoggingPrintf` is then not referenced at all).

use core::fmt::Arguments;

#[cfg(afr_debug_logs)]
pub fn debug(args: Arguments<'_>) {
    use core::fmt::Write;
    extern "C" {
        fn vLoggingPrintf(pcFormat: *const core::ffi::c_char, ...);
    }
    // Long messages are cut: a log line must never allocate or fail.
    let mut line: heapless::String<160> = heapless::String::new();
    let _ = line.write_fmt(args);
    let _ = line.push_str("\r\n\0");
    if !line.ends_with('\0') {
        line.pop();
        let _ = line.push('\0');
    }
    // SAFETY: "%s" with a NUL-terminated string that lives through the call.
    unsafe { vLoggingPrintf(b"%s\0".as_ptr() as *const core::ffi::c_char, line.as_ptr()) };
}

#[cfg(not(afr_debug_logs))]
#[inline(always)]
pub fn debug(_args: Arguments<'_>) {}
