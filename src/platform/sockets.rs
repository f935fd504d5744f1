//! AFR Secure Sockets, as every AFR port provides them (`aws_secure_sockets.h`).
//!
//! The library only ever opens plain TCP sockets through this API; TLS, when
//! asked for, is its own (rustls) on top. Constants are AFR v1.4.7's values.

#![allow(non_snake_case, non_camel_case_types)]

use core::ffi::{c_char, c_void, CStr};
use core::ptr;

pub type Socket_t = *mut c_void;

const SOCKETS_INVALID_SOCKET: Socket_t = !0usize as Socket_t;
const SOCKETS_AF_INET: i32 = 2;
const SOCKETS_SOCK_STREAM: i32 = 1;
const SOCKETS_IPPROTO_TCP: i32 = 6;
const SOCKETS_SO_SNDTIMEO: i32 = 1;
const SOCKETS_SO_SERVER_NAME_INDICATION: i32 = 6;
const SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE: i32 = 7;
const SOCKETS_SO_REQUIRE_TLS: i32 = 8;
const SOCKETS_SO_NONBLOCK: i32 = 9;
const SOCKETS_SO_ALPN_PROTOCOLS: i32 = 10;
/// AWS IoT's ALPN for MQTT on port 443 (`socketsAWS_IOT_ALPN_MQTT`), NUL-terminated.
const AWS_IOT_ALPN: &[u8] = b"x-amzn-mqtt-ca\0";
const SOCKETS_SO_WAKEUP_CALLBACK: i32 = 17;
const SOCKETS_SHUT_RDWR: u32 = 2;
const SOCKETS_EWOULDBLOCK: i32 = -11;

/// `SocketsSockaddr_t`.
#[repr(C)]
struct SocketsSockaddr_t {
    ucLength: u8,
    ucSocketDomain: u8,
    usPort: u16,
    ulAddress: u32,
}

extern "C" {
    fn SOCKETS_Socket(lDomain: i32, lType: i32, lProtocol: i32) -> Socket_t;
    fn SOCKETS_Connect(xSocket: Socket_t, pxAddress: *mut SocketsSockaddr_t, xAddressLength: u32) -> i32;
    fn SOCKETS_Send(xSocket: Socket_t, pvBuffer: *const c_void, xDataLength: usize, ulFlags: u32) -> i32;
    fn SOCKETS_Recv(xSocket: Socket_t, pvBuffer: *mut c_void, xBufferLength: usize, ulFlags: u32) -> i32;
    fn SOCKETS_Shutdown(xSocket: Socket_t, ulHow: u32) -> i32;
    fn SOCKETS_Close(xSocket: Socket_t) -> i32;
    fn SOCKETS_SetSockOpt(xSocket: Socket_t, lLevel: i32, lOptionName: i32, pvOptionValue: *const c_void, xOptionLength: usize) -> i32;
    fn SOCKETS_GetHostByName(pcHostName: *const c_char) -> u32;
}

/// Why a socket operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetError {
    /// The host name did not resolve, or the address did not parse.
    Resolve,
    /// No socket could be created.
    NoSocket,
    /// The TCP connection could not be made.
    Connect,
    /// The peer closed or reset the connection, or the port reported an error.
    Closed,
    /// Sending did not finish within the send timeout.
    SendTimeout,
    /// The port refused this TLS option (`SOCKETS_SO_*`): no TLS, so no connect.
    TlsOptionRefused(i32),
}

/// TLS done by the Secure Sockets port: what AFR v1.4.7's agent set before
/// `SOCKETS_Connect`, in its order: `SOCKETS_SO_REQUIRE_TLS`;
/// `SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE` with `pcCertificate` and its size,
/// when given; `SOCKETS_SO_SERVER_NAME_INDICATION` with the host name (not for
/// an IP address); `SOCKETS_SO_ALPN_PROTOCOLS` with `x-amzn-mqtt-ca` when asked.
pub type PortTls = crate::platform::link::TlsRequest;

/// The wake-up callback's C signature (`void f( Socket_t )`).
pub type WakeupCallback = extern "C" fn(Socket_t);

/// An open TCP connection. Closed on drop.
pub struct Socket {
    raw: Socket_t,
    send_timeout: u32,
}

// SAFETY: a Secure Sockets handle may be used from any task; the agent uses
// each socket from its own task only.
unsafe impl Send for Socket {}

/// Parses a dotted IPv4 address into network byte order. Each part is what
/// `u8::from_str` takes (decimal digits, an optional leading `+`, at most
/// 255), read from the bytes in one pass that shifts each part into the
/// address: no `core::str` parsing code, no split iterator and no array of
/// octets in the image.
fn parse_ipv4(s: &[u8]) -> Option<u32> {
    // state: 0 a part starts, 1 after its '+', 2 after a digit.
    let (mut address, mut parts, mut value, mut state) = (0u32, 0u32, 0u32, 0u8);
    // A plain range, not 0..=len (whose iterator carries an exhausted flag);
    // len + 1 cannot overflow (a slice's length is at most isize::MAX).
    for i in 0..s.len() + 1 {
        // A '.' after the last byte ends the last part as the others.
        let c = s.get(i).copied().unwrap_or(b'.');
        let digit = c.wrapping_sub(b'0');
        if digit < 10 {
            value = value * 10 + u32::from(digit);
            if value > 255 {
                return None;
            }
            state = 2;
        } else if c == b'+' && state == 0 {
            state = 1;
        } else if c == b'.' && state == 2 && parts < 4 {
            (address, parts, value, state) = (address << 8 | value, parts + 1, 0, 0);
        } else {
            return None;
        }
    }
    // The first part is the address's first byte in memory (network order).
    (parts == 4).then(|| address.to_be())
}

impl Socket {
    /// Connects to `host:port`. `host` is a name resolved with
    /// `SOCKETS_GetHostByName`, or with `is_ip` a dotted IPv4 address.
    /// With `tls`, the port is told to do TLS before it connects.
    pub fn connect(host: &CStr, is_ip: bool, port: u16, send_timeout_ticks: u32, tls: Option<&PortTls>) -> Result<Self, NetError> {
        let address = if is_ip {
            parse_ipv4(host.to_bytes()).ok_or(NetError::Resolve)?
        } else {
            // SAFETY: a C string that outlives the call.
            unsafe { SOCKETS_GetHostByName(host.as_ptr()) }
        };
        if address == 0 {
            return Err(NetError::Resolve);
        }
        // SAFETY: plain constructor call with AFR's constants.
        let raw = unsafe { SOCKETS_Socket(SOCKETS_AF_INET, SOCKETS_SOCK_STREAM, SOCKETS_IPPROTO_TCP) };
        if raw == SOCKETS_INVALID_SOCKET || raw.is_null() {
            return Err(NetError::NoSocket);
        }
        let socket = Socket { raw, send_timeout: send_timeout_ticks };
        // SAFETY: the option value is a TickType_t (u32) that lives through the call.
        unsafe { Self::set(socket.raw, SOCKETS_SO_SNDTIMEO, &send_timeout_ticks as *const u32 as *const c_void, core::mem::size_of::<u32>()) };
        if let Some(tls) = tls {
            socket.set_tls_options(tls, host, !is_ip)?;
        }
        let mut addr = SocketsSockaddr_t {
            ucLength: core::mem::size_of::<SocketsSockaddr_t>() as u8,
            ucSocketDomain: SOCKETS_AF_INET as u8,
            usPort: port.to_be(),
            ulAddress: address,
        };
        // SAFETY: `addr` is a valid SocketsSockaddr_t for the duration of the call.
        let rc = unsafe { SOCKETS_Connect(socket.raw, &mut addr, core::mem::size_of::<SocketsSockaddr_t>() as u32) };
        if rc != 0 {
            return Err(NetError::Connect);
        }
        // Reads never block the agent task: it waits for data itself. (A timeout
        // option of 0 means "forever" in AFR, hence the non-blocking option.)
        // SAFETY: SOCKETS_SO_NONBLOCK takes no value.
        unsafe { Self::set(socket.raw, SOCKETS_SO_NONBLOCK, ptr::null(), 0) };
        Ok(socket)
    }

    fn set_tls_options(&self, tls: &PortTls, host: &CStr, sni: bool) -> Result<(), NetError> {
        // SAFETY (each option): its value as `set` requires, alive through the call.
        unsafe {
            self.option(SOCKETS_SO_REQUIRE_TLS, ptr::null(), 0)?;
            if let Some(pem) = tls.trusted_pem() {
                self.option(SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE, pem.as_ptr() as *const c_void, pem.len())?;
            }
            if sni {
                // The NUL-terminated name and its length with the NUL, as AFR passed them.
                let host = host.to_bytes_with_nul();
                self.option(SOCKETS_SO_SERVER_NAME_INDICATION, host.as_ptr() as *const c_void, host.len())?;
            }
            if tls.aws_alpn() {
                let protocols: [*const c_char; 1] = [AWS_IOT_ALPN.as_ptr() as *const c_char];
                // The value is the array of names; the length is their count.
                self.option(SOCKETS_SO_ALPN_PROTOCOLS, protocols.as_ptr() as *const c_void, protocols.len())?;
            }
        }
        Ok(())
    }

    /// A TLS option the connect needs: refused, no connect.
    ///
    /// # Safety
    /// As [`set`](Self::set).
    unsafe fn option(&self, option: i32, value: *const c_void, len: usize) -> Result<(), NetError> {
        // SAFETY: this function's contract is `set`'s.
        if unsafe { Self::set(self.raw, option, value, len) } {
            Ok(())
        } else {
            Err(NetError::TlsOptionRefused(option))
        }
    }

    /// `SOCKETS_SetSockOpt` at level 0: true when the port took the option.
    /// One call site for every option the library sets (each call passes
    /// four registers, not a fifth argument on the stack).
    ///
    /// # Safety
    /// `value` is what `option` takes: `len` bytes, or the option's own form
    /// (NULL, a function pointer, the ALPN array), alive through the call
    /// (the port copies what it keeps).
    #[inline(never)]
    unsafe fn set(raw: Socket_t, option: i32, value: *const c_void, len: usize) -> bool {
        // SAFETY: per this function's contract.
        unsafe { SOCKETS_SetSockOpt(raw, 0, option, value, len) == 0 }
    }

    /// Asks the port to call `callback` when data arrives. False when the port
    /// has no wake-up support (the agent then polls).
    pub fn set_wakeup(&self, callback: WakeupCallback) -> bool {
        // SAFETY: AFR passes the function pointer itself as the option value.
        unsafe { Self::set(self.raw, SOCKETS_SO_WAKEUP_CALLBACK, callback as *const c_void, core::mem::size_of::<*const c_void>()) }
    }

    /// Sends all of `data`, waiting while the socket's buffer is full for at
    /// most the send timeout (`mqttconfigTCP_SEND_TIMEOUT_MS`).
    pub fn send_all(&mut self, mut data: &[u8]) -> Result<(), NetError> {
        let start = crate::platform::rtos::tick_count();
        while !data.is_empty() {
            // SAFETY: `data` is valid for reads of its length during the call.
            let n = unsafe { SOCKETS_Send(self.raw, data.as_ptr() as *const c_void, data.len(), 0) };
            match n {
                n if n > 0 => data = data.get(n as usize..).ok_or(NetError::Closed)?,
                0 | SOCKETS_EWOULDBLOCK => {
                    if crate::platform::rtos::tick_count().wrapping_sub(start) >= self.send_timeout {
                        return Err(NetError::SendTimeout);
                    }
                    crate::platform::rtos::delay(1);
                }
                _ => return Err(NetError::Closed),
            }
        }
        Ok(())
    }

    /// Reads what is available, up to `buf.len()` bytes, without waiting:
    /// `Ok(0)` when nothing is there yet.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        if buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: `buf` is valid for writes of its length during the call.
        let n = unsafe { SOCKETS_Recv(self.raw, buf.as_mut_ptr() as *mut c_void, buf.len(), 0) };
        match n {
            n if n > 0 => Ok((n as usize).min(buf.len())),
            0 | SOCKETS_EWOULDBLOCK => Ok(0),
            _ => Err(NetError::Closed),
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: `raw` is an open socket owned by this value; it is not used again.
        unsafe { close(self.raw) }
    }
}

/// Shuts down and closes a socket: one copy for the connect's failures, the
/// close and a replaced link.
///
/// # Safety
/// `raw` is an open socket, not used again.
#[inline(never)]
unsafe fn close(raw: Socket_t) {
    // SAFETY: per this function's contract.
    unsafe {
        SOCKETS_Shutdown(raw, SOCKETS_SHUT_RDWR);
        SOCKETS_Close(raw);
    }
}
