//! TLS on the platform: rustls sessions over Secure Sockets, the project's
//! time and random hooks (`mqttconfigTLS_TIME_FXN`, `mqttconfigTLS_RANDOM_FXN`)
//! and the device's credentials (the project's `aws_clientcredential_keys.h`,
//! or what `MQTT_AGENT_SetClientCredentials` set at run time).

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::ffi::c_char;

use rustls::pki_types::UnixTime;
use rustls::time_provider::TimeProvider;

use crate::config::mqtt;
use crate::platform::log::debug;
use crate::platform::rtos;
use crate::platform::sockets::Socket;
use crate::tls::client::{self, Identity, Params, SetupError};
use crate::tls::provider::Entropy;
use crate::tls::stream::{TlsError, TlsStream, Transport, TransportFailed};

/// Why a TLS connection failed, as `MQTT_AGENT_GetTLSError` reports it (0 is "no failure").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Failure {
    /// No time hook, or it did not know the time.
    NoTime = 1,
    /// No random hook, or it failed.
    NoEntropy = 2,
    /// `pcCertificate` is not PEM certificates.
    BadTrustedCertificate = 3,
    /// No `pcCertificate` and no built-in roots in this build.
    NoTrustAnchors = 4,
    /// The host name is not a DNS name (or not an IP address with `mqttagentURL_IS_IP_ADDRESS`).
    BadServerName = 5,
    /// The client certificate or key is not usable PEM.
    BadClientCredentials = 6,
    /// The server's certificate does not chain to a trusted root.
    UnknownIssuer = 7,
    /// The server's certificate has expired or is not valid yet.
    CertificateExpired = 8,
    /// The server's certificate is for another host.
    CertificateNameMismatch = 9,
    /// The server's certificate is unacceptable for another reason.
    BadCertificate = 10,
    /// The server ended the handshake with an alert (e.g. it refused our certificate).
    AlertReceived = 11,
    /// The handshake did not finish within the connect's timeout.
    Timeout = 12,
    /// A record did not fit `mqttconfigTLS_RX_BUFFER_SIZE` / `mqttconfigTLS_TX_BUFFER_SIZE`.
    RecordTooLarge = 13,
    /// The connection closed or failed during the handshake.
    ConnectionLost = 14,
    /// Any other TLS protocol failure.
    Protocol = 15,
    /// The FreeRTOS heap could not hold the connection's TLS buffers.
    OutOfMemory = 17,
}

impl From<&SetupError> for Failure {
    fn from(e: &SetupError) -> Self {
        match e {
            SetupError::BadTrustedCertificate => Failure::BadTrustedCertificate,
            SetupError::NoTrustAnchors => Failure::NoTrustAnchors,
            SetupError::BadServerName => Failure::BadServerName,
            SetupError::BadClientCredentials => Failure::BadClientCredentials,
            SetupError::Tls(e) => Failure::from(e),
        }
    }
}

impl From<&rustls::Error> for Failure {
    fn from(e: &rustls::Error) -> Self {
        use rustls::CertificateError as C;
        match e {
            rustls::Error::FailedToGetCurrentTime => Failure::NoTime,
            rustls::Error::FailedToGetRandomBytes => Failure::NoEntropy,
            rustls::Error::InvalidCertificate(c) => match c {
                C::UnknownIssuer => Failure::UnknownIssuer,
                C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
                    Failure::CertificateExpired
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => Failure::CertificateNameMismatch,
                _ => Failure::BadCertificate,
            },
            rustls::Error::AlertReceived(_) => Failure::AlertReceived,
            _ => Failure::Protocol,
        }
    }
}

impl From<&TlsError> for Failure {
    fn from(e: &TlsError) -> Self {
        match e {
            TlsError::Transport | TlsError::Closed => Failure::ConnectionLost,
            TlsError::Timeout => Failure::Timeout,
            TlsError::RecordTooLarge => Failure::RecordTooLarge,
            TlsError::OutOfMemory => Failure::OutOfMemory,
            TlsError::Protocol(e) => Failure::from(e),
        }
    }
}

/// Randomness from `mqttconfigTLS_RANDOM_FXN`.
#[derive(Debug, Default)]
pub struct HookEntropy;

impl Entropy for HookEntropy {
    fn fill(dest: &mut [u8]) -> bool {
        #[cfg(all(not(afr_tls_random_hook), afr_tls_pkcs11))]
        {
            // As AFR's aws_tls.c: the PKCS#11 module's C_GenerateRandom.
            crate::platform::pkcs11::random(dest)
        }
        #[cfg(afr_tls_random_hook)]
        {
            // SAFETY: the project's hook writes at most `len` bytes to a buffer valid for them.
            unsafe { mqtt::tls_fxn::random(dest.as_mut_ptr(), dest.len()) == crate::c_types::types::pdTRUE }
        }
        #[cfg(not(any(afr_tls_random_hook, afr_tls_pkcs11)))]
        {
            let _ = dest;
            false
        }
    }
}

/// Wall-clock time from `mqttconfigTLS_TIME_FXN`.
#[derive(Debug)]
struct HookTime;

impl TimeProvider for HookTime {
    fn current_time(&self) -> Option<UnixTime> {
        #[cfg(afr_tls_time_hook)]
        {
            let mut seconds = 0u64;
            // SAFETY: the project's hook writes one u64 through a valid pointer.
            let known = unsafe { mqtt::tls_fxn::time(&mut seconds) } == crate::c_types::types::pdTRUE;
            known.then(|| UnixTime::since_unix_epoch(core::time::Duration::from_secs(seconds)))
        }
        #[cfg(not(afr_tls_time_hook))]
        None
    }
}

impl Transport for Socket {
    fn send_all(&mut self, data: &[u8]) -> Result<(), TransportFailed> {
        Socket::send_all(self, data).map_err(|_| TransportFailed)
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TransportFailed> {
        Socket::recv(self, buf).map_err(|_| TransportFailed)
    }
}

pub use crate::platform::link::TlsRequest as Request;

/// Heap a TLS handshake may take beyond its record buffers: rustls's state,
/// the certificate chain, the RSA signature with the device key. Measured at
/// 27.4 KB on the simulator (RSA-2048 server and client keys, TLS 1.3; the
/// `TLS heap` line of ctest `agent_tls`), rounded up to 32 KB.
pub const HANDSHAKE_HEAP_OVERHEAD: usize = 32 * 1024;

/// Heap a TLS connect needs free before it starts: the record buffers
/// (`mqttconfigTLS_RX_BUFFER_SIZE` + `mqttconfigTLS_TX_BUFFER_SIZE`) and
/// [`HANDSHAKE_HEAP_OVERHEAD`]; 53,509 bytes with the default buffers.
pub const HANDSHAKE_HEAP: usize = mqtt::TLS_RX_BUFFER_SIZE + mqtt::TLS_TX_BUFFER_SIZE + HANDSHAKE_HEAP_OVERHEAD;

extern "C" {
    /// From `cmake/afr_heap.c`: free heap and largest free block, pdFALSE when
    /// the project's heap cannot tell (heap_3).
    fn afr_cloud_heap_room(pxFree: *mut usize, pxLargestBlock: *mut usize) -> i32; // BaseType_t of a 32-bit port
}

/// Whether the FreeRTOS heap can hold a handshake. An allocation that fails
/// inside rustls cannot be undone (it stops the device), so a connect the heap
/// cannot carry is refused before it starts.
fn heap_can_hold_handshake() -> bool {
    let (mut free, mut largest) = (0usize, 0usize);
    // SAFETY: the probe writes two sizes through valid pointers.
    if unsafe { afr_cloud_heap_room(&mut free, &mut largest) } == 0 {
        return true; // The heap does not say: try.
    }
    if free < HANDSHAKE_HEAP || largest < mqtt::TLS_RX_BUFFER_SIZE {
        debug(format_args!(
            "TLS: {free} bytes of heap free (largest block {largest}), a handshake needs {HANDSHAKE_HEAP}: connect refused"
        ));
        return false;
    }
    true
}

/// `mqttconfigTLS_DEFAULT_ROOTS_PEM`, when the project names one and it is not
/// empty: the roots trusted when `pcCertificate` is NULL.
fn project_default_roots() -> Option<&'static [u8]> {
    #[cfg(afr_tls_default_roots)]
    {
        // SAFETY: the project names a NUL-terminated PEM string (a `const char[]`
        // in flash); only its bytes up to the NUL are read.
        let pem = unsafe { core::ffi::CStr::from_ptr(core::ptr::addr_of!(mqtt::tls_fxn::DEFAULT_ROOTS_PEM) as *const c_char) };
        (!pem.is_empty()).then(|| pem.to_bytes())
    }
    #[cfg(not(afr_tls_default_roots))]
    None
}

/// Runs the TLS handshake on a connected socket.
pub fn open(socket: Socket, host: &str, is_ip: bool, request: &Request) -> Result<Box<TlsStream<Socket>>, Failure> {
    // The request's parts, read once (the open request's block holds the PEM).
    let (aws_alpn, trusted_pem) = (request.aws_alpn(), request.trusted_pem());
    if !heap_can_hold_handshake() {
        return Err(Failure::OutOfMemory);
    }
    let time_floor = match (HookTime.current_time(), mqtt::TLS_STRICT_TIME) {
        (Some(_), _) => None, // The clock knows: no floor needed.
        (None, true) => {
            debug(format_args!("TLS: the time is not known (mqttconfigTLS_TIME_FXN) and mqttconfigTLS_STRICT_TIME is 1: connect refused"));
            return Err(Failure::NoTime);
        }
        (None, false) => {
            debug(format_args!(
                "TLS: the time is not known (mqttconfigTLS_TIME_FXN): certificate dates checked against the library's build time ({} s)",
                mqtt::BUILD_UNIX_SECONDS
            ));
            Some(UnixTime::since_unix_epoch(core::time::Duration::from_secs(mqtt::BUILD_UNIX_SECONDS)))
        }
    };
    if cfg!(not(any(afr_tls_random_hook, afr_tls_pkcs11))) {
        debug(format_args!("TLS: no mqttconfigTLS_RANDOM_FXN: no randomness, connect refused"));
        return Err(Failure::NoEntropy);
    }
    let identity = credentials::current().map_err(|e| {
        debug(format_args!("TLS: the client certificate or key is not usable PEM"));
        Failure::from(&e)
    })?;
    let params = Params {
        host,
        is_ip,
        aws_alpn,
        trusted_pem,
        default_roots_pem: project_default_roots(),
        identity,
        tx_buffer: mqtt::TLS_TX_BUFFER_SIZE,
        time_floor,
    };
    let conn = client::connection::<HookEntropy>(params, Arc::new(HookTime)).map_err(|e| {
        debug(format_args!("TLS: setup failed: {e:?}"));
        Failure::from(&e)
    })?;
    let stream =
        TlsStream::new(socket, conn, mqtt::TLS_RX_BUFFER_SIZE, mqtt::TLS_TX_BUFFER_SIZE).map_err(|e| Failure::from(&e))?;
    // Into its box before the handshake: the agent task's stack then carries
    // no copy of the stream under the handshake's deep frames. A full heap is
    // a refused connect (eMQTTAgentTLSOutOfMemory), not an abort.
    let mut stream = crate::platform::heap::try_box(stream).ok_or(Failure::OutOfMemory)?;
    // From the application's call, capped by mqttconfigTLS_HANDSHAKE_TIMEOUT_MS
    // (the agent task is busy meanwhile), and two ticks past the caller's own
    // wait: a handshake still running when the caller's time is up is the
    // caller's eMQTTAgentTimeout, never a Failure that races it.
    let cap = (mqtt::TLS_HANDSHAKE_TIMEOUT_MS as u64 * crate::config::kernel::TICK_RATE_HZ as u64 / 1000).min(u32::MAX as u64) as u32;
    let allowed = request.timeout.min(cap).saturating_add(2);
    let outcome = stream.handshake(|idle| {
        if rtos::tick_count().wrapping_sub(request.start) >= allowed {
            return false;
        }
        if idle {
            rtos::delay(1);
        }
        true
    });
    match outcome {
        Ok(()) => Ok(stream),
        Err(e) => {
            debug(format_args!("TLS: handshake failed: {e:?}"));
            Err(Failure::from(&e))
        }
    }
}

/// The device's identity: set at run time, else the credential header's.
pub mod credentials {
    use super::*;
    use freertos_rust::CriticalRegion;

    extern "C" {
        /// From the credential shim (`cmake/afr_credentials.c`), compiled with the
        /// project's include path: the header's certificate and key, or NULLs.
        fn afr_cloud_credential_header(ppcCertificate: *mut *const c_char, ppcPrivateKey: *mut *const c_char);
    }

    /// What `MQTT_AGENT_SetClientCredentials` set: `Some(None)` means "no client certificate".
    static mut RUNTIME: Option<Option<Arc<Identity>>> = None;

    fn c_str(p: *const c_char) -> Option<&'static [u8]> {
        if p.is_null() {
            return None;
        }
        // SAFETY: the credential header's strings are NUL-terminated and static.
        Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
    }

    /// Replaces the identity for later connects (`None`: present no certificate).
    pub fn set(identity: Option<Identity>) {
        let new = Some(identity.map(Arc::new));
        let old = {
            let _cs = CriticalRegion::enter();
            // SAFETY: RUNTIME is only touched inside critical sections.
            unsafe { core::mem::replace(&mut *core::ptr::addr_of_mut!(RUNTIME), new) }
        };
        drop(old); // Freed outside the critical section.
    }

    /// The identity a connect uses now.
    pub fn current() -> Result<Option<Identity>, SetupError> {
        let runtime = {
            let _cs = CriticalRegion::enter();
            // SAFETY: RUNTIME is only touched inside critical sections; cloning an Arc only counts.
            unsafe { (*core::ptr::addr_of!(RUNTIME)).clone() }
        };
        if let Some(set) = runtime {
            return Ok(set.map(|id| (*id).clone()));
        }
        let (mut cert, mut key) = (core::ptr::null(), core::ptr::null());
        // SAFETY: the shim writes two pointers to static strings (or NULL).
        unsafe { afr_cloud_credential_header(&mut cert, &mut key) };
        let (cert, key) = (c_str(cert), c_str(key));
        // A key outside the library: the project's signing hook, else its PKCS#11 module.
        #[cfg(afr_tls_sign_hook)]
        {
            let _ = key; // The hook holds the key.
            let cert = cert.ok_or(SetupError::BadClientCredentials)?;
            // The key's kind is the certificate's.
            let probe = Identity::with_external_key(cert, Arc::new(SignHook(crate::tls::external_key::KeyKind::Rsa)))?;
            let kind = crate::tls::external_key::kind_of_certificate(probe.certificate()).ok_or(SetupError::BadClientCredentials)?;
            return Identity::with_external_key(cert, Arc::new(SignHook(kind))).map(Some);
        }
        #[cfg(all(not(afr_tls_sign_hook), afr_tls_pkcs11))]
        {
            let _ = key;
            let Some(token_key) = crate::platform::pkcs11::TokenKey::find() else {
                debug(format_args!("TLS: no usable device key in the PKCS#11 module"));
                return Err(SetupError::BadClientCredentials);
            };
            return match cert {
                Some(cert) => Identity::with_external_key(cert, token_key).map(Some),
                None => crate::platform::pkcs11::TokenKey::certificate()
                    .map(|der| Some(Identity::with_external_key_der(der, token_key)))
                    .ok_or(SetupError::BadClientCredentials),
            };
        }
        #[allow(unreachable_code)]
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Identity::from_pem(cert, key).map(Some),
            // A certificate without its key (or the reverse) is a broken header.
            _ => Err(SetupError::BadClientCredentials),
        }
    }

    /// The project's `mqttconfigTLS_SIGN_FXN`.
    #[cfg(afr_tls_sign_hook)]
    #[derive(Debug)]
    struct SignHook(crate::tls::external_key::KeyKind);

    #[cfg(afr_tls_sign_hook)]
    impl crate::tls::external_key::ExternalKey for SignHook {
        fn kind(&self) -> crate::tls::external_key::KeyKind {
            self.0
        }

        fn sign_digest(&self, scheme: rustls::SignatureScheme, digest: &[u8; 32]) -> Option<alloc::vec::Vec<u8>> {
            let mut signature = alloc::vec![0u8; 1024];
            let mut len = signature.len();
            // SAFETY: the hook reads the 32-byte digest and writes at most `len` bytes.
            let ok = unsafe {
                mqtt::tls_fxn::sign(u16::from(scheme), digest.as_ptr(), digest.len(), signature.as_mut_ptr(), &mut len)
            } == crate::c_types::types::pdTRUE;
            (ok && len <= signature.len()).then(|| {
                signature.truncate(len);
                signature
            })
        }
    }
}
