//! The connection the agent speaks MQTT over: a Secure Socket (plain, or TLS
//! done by the project's Secure Sockets port), or the library's own TLS on a
//! plain one. Never anything else: a connect that asked for TLS gets TLS or fails.
//!
//! Which TLS: `mqttconfigTLS_BACKEND` in the project's `aws_mqtt_agent_config.h`.
//! `mqttagentTLS_BACKEND_SOCKETS_PORT` (the default, AFR v1.4.7's way): the
//! agent sets `SOCKETS_SO_REQUIRE_TLS`, `SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE`,
//! `SOCKETS_SO_SERVER_NAME_INDICATION` and `SOCKETS_SO_ALPN_PROTOCOLS` before
//! `SOCKETS_Connect`, and the port (mbedTLS with PKCS#11 keys, an offload chip)
//! does the rest. `mqttagentTLS_BACKEND_LIBRARY`: rustls in the library (cargo
//! feature `tls`), over a plain socket.

use core::ffi::CStr;
use core::ops::Deref;

use crate::c_types::agent_types::{mqttagentREQUIRE_TLS, mqttagentURL_IS_IP_ADDRESS, mqttagentUSE_AWS_IOT_ALPN_443};
use crate::platform::sockets::{Socket, WakeupCallback};

/// What a TLS connect asks for besides the socket (either back-end): the
/// connect's open request (`aws_alpn`, `start`, `timeout`, [`OpenRequest::trusted_pem`]).
pub type TlsRequest = OpenRequest;

/// What opening a connection needs: where, and TLS. Made by `ffi::agent`;
/// the host name and the trusted PEM follow it in its [`OpenRequest`]'s block.
#[derive(Clone, Copy)]
pub struct Open {
    pub port: u16,
    /// The connect's `mqttagent*` flags (the low byte of `xFlags`, with the
    /// deprecated booleans folded in), kept as given (one conversion, in
    /// `MQTT_AGENT_Connect`): read through the methods below.
    pub flags: u8,
    /// The tick the application's connect call started, and its `xTimeoutTicks`
    /// (they bound the library's handshake; the port bounds its own, so
    /// without the library's TLS they are not kept).
    #[cfg(feature = "tls")]
    pub start: u32,
    #[cfg(feature = "tls")]
    pub timeout: u32,
}

/// The head of an open request's heap block: then `host_len` bytes of the
/// host name with its NUL (the only one), then `pem_len` bytes of the trusted PEM copy.
#[repr(C)]
struct Head {
    open: Open,
    host_len: usize,
    pem_len: usize,
    /// A trusted PEM was given (`pcCertificate`), possibly empty.
    has_pem: bool,
}

/// An open request in one heap block (its [`Open`], then the copies of the
/// host name and the trusted PEM): one allocation and one free for a
/// connect. A `Command` (which callers build and the agent moves through
/// their stack frames) carries one pointer for it. Its drop is one
/// out-of-line call, not drop glue at each place the core may drop one.
pub struct OpenRequest(core::ptr::NonNull<Head>);

// SAFETY: it owns its block alone (as a `Box` would) and holds only plain
// bytes; the agent hands it from the caller's task to its own.
unsafe impl Send for OpenRequest {}

impl Open {
    /// `mqttagentURL_IS_IP_ADDRESS`.
    pub fn is_ip(&self) -> bool {
        self.flags & mqttagentURL_IS_IP_ADDRESS as u8 != 0
    }

    /// TLS asked for (`mqttagentREQUIRE_TLS`, or ALPN on 443, which implies
    /// it), with the fields below (unused without TLS).
    pub fn tls(&self) -> bool {
        self.flags & (mqttagentREQUIRE_TLS | mqttagentUSE_AWS_IOT_ALPN_443) as u8 != 0
    }

    /// Offer ALPN `x-amzn-mqtt-ca` (`mqttagentUSE_AWS_IOT_ALPN_443`).
    pub fn aws_alpn(&self) -> bool {
        self.flags & mqttagentUSE_AWS_IOT_ALPN_443 as u8 != 0
    }
}

impl OpenRequest {
    /// `open`, a copy of `host` with its NUL and a copy of `pem`, in one
    /// heap block; `None` when the heap cannot hold it.
    #[inline(always)] // One caller (MQTT_AGENT_Connect).
    pub fn new(open: Open, host: &CStr, pem: Option<&[u8]>) -> Option<Self> {
        let pem_bytes = pem.unwrap_or(&[]);
        let head = core::mem::size_of::<Head>();
        let host = host.to_bytes_with_nul();
        let host_len = host.len();
        let size = head.checked_add(host_len)?.checked_add(pem_bytes.len())?;
        // The heap's alignment is Head's (asserted below).
        let block = core::ptr::NonNull::new(crate::platform::heap::port_malloc(size).cast::<Head>())?;
        // SAFETY: a fresh block of `size` bytes aligned for Head: the head,
        // then `host_len + pem.len()` bytes, which the sources do not overlap.
        unsafe {
            block.as_ptr().write(Head { open, host_len, pem_len: pem_bytes.len(), has_pem: pem.is_some() });
            let bytes = block.as_ptr().cast::<u8>().add(head);
            core::ptr::copy_nonoverlapping(host.as_ptr(), bytes, host_len);
            core::ptr::copy_nonoverlapping(pem_bytes.as_ptr(), bytes.add(host_len), pem_bytes.len());
        }
        Some(OpenRequest(block))
    }

    fn head(&self) -> &Head {
        // SAFETY: `new` wrote the head; the block lives as long as `self`.
        unsafe { self.0.as_ref() }
    }

    /// `len` bytes from `at` in the bytes after the head, which are the
    /// host name with its NUL (`host_len`), then the PEM (`pem_len`).
    ///
    /// # Safety
    /// `at + len` is at most `host_len + pem_len`.
    unsafe fn bytes(&self, at: usize, len: usize) -> &[u8] {
        // SAFETY: `new` wrote `host_len + pem_len` bytes after the head; the
        // range is inside them per this function's contract.
        unsafe { core::slice::from_raw_parts(self.0.as_ptr().cast::<u8>().add(core::mem::size_of::<Head>() + at), len) }
    }

    /// The host name.
    pub fn host(&self) -> &CStr {
        // SAFETY: the first `host_len` bytes, which `new` copied from a `CStr`
        // with its NUL (so one NUL, at the end).
        unsafe { CStr::from_bytes_with_nul_unchecked(self.bytes(0, self.head().host_len)) }
    }

    /// The copy of `pcCertificate`, when given.
    pub fn trusted_pem(&self) -> Option<&[u8]> {
        let head = self.head();
        // SAFETY: the `pem_len` bytes after the host name.
        head.has_pem.then(|| unsafe { self.bytes(head.host_len, head.pem_len) })
    }
}

impl Deref for OpenRequest {
    type Target = Open;
    fn deref(&self) -> &Open {
        &self.head().open
    }
}

impl Drop for OpenRequest {
    #[inline(never)]
    fn drop(&mut self) {
        // SAFETY: the block came from `port_malloc` in `new`; freed once, here.
        unsafe { crate::platform::heap::port_free(self.0.as_ptr().cast::<u8>()) }
    }
}

const _: () = assert!(core::mem::align_of::<Head>() <= crate::config::kernel::BYTE_ALIGNMENT, "the heap's blocks hold a Head");

/// The project chose the Secure Sockets port's TLS (`mqttconfigTLS_BACKEND`).
pub const TLS_BY_SOCKETS_PORT: bool = crate::config::mqtt::TLS_BACKEND == 0;

pub enum Link {
    Plain(Socket),
    #[cfg(feature = "tls")]
    Tls(alloc::boxed::Box<crate::tls::stream::TlsStream<Socket>>),
}

impl Link {
    fn socket(&self) -> &Socket {
        match self {
            Link::Plain(s) => s,
            #[cfg(feature = "tls")]
            Link::Tls(t) => t.transport(),
        }
    }

    /// See [`Socket::set_wakeup`]: data arriving on the socket wakes the agent.
    pub fn set_wakeup(&self, callback: WakeupCallback) -> bool {
        self.socket().set_wakeup(callback)
    }

    /// Why the TLS session failed (an `MQTTAgentTLSError_t` code), 0 when it did not.
    pub fn tls_failure(&self) -> u8 {
        match self {
            Link::Plain(_) => 0,
            #[cfg(feature = "tls")]
            Link::Tls(t) => t.failure().map_or(0, |e| crate::platform::tls::Failure::from(e) as u8),
        }
    }

    /// Ends a TLS session cleanly (close_notify) before the socket closes.
    pub fn close_notify(&mut self) {
        #[cfg(feature = "tls")]
        if let Link::Tls(t) = self {
            t.close_notify();
        }
    }

    /// Sends all of `data` (encrypted with TLS), within the send timeout.
    pub fn send_all(&mut self, data: &[u8]) -> Result<(), ()> {
        match self {
            Link::Plain(s) => s.send_all(data).map_err(|_| ()),
            #[cfg(feature = "tls")]
            Link::Tls(t) => send_tls(t, data),
        }
    }

    /// Reads what is available now (decrypted with TLS); `Ok(0)` when nothing is.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
        match self {
            Link::Plain(s) => s.recv(buf).map_err(|_| ()),
            #[cfg(feature = "tls")]
            Link::Tls(t) => t.recv(buf).map_err(|_| ()),
        }
    }
}

/// A TLS connection's send, apart: its temporaries (records) would otherwise
/// widen the frame of the agent task's `perform`, which a send is inlined
/// into, under every open and close, TLS or not.
#[cfg(feature = "tls")]
#[inline(never)]
fn send_tls(t: &mut crate::tls::stream::TlsStream<Socket>, data: &[u8]) -> Result<(), ()> {
    t.send_all(data).map_err(|_| ())
}
