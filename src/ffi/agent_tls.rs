//! `aws_mqtt_agent_tls.h`: this library's TLS additions to the agent API (AFR's
//! agent left TLS to the Secure Sockets port, so these have no AFR original).
//!
//! - `MQTT_AGENT_SetClientCredentials`: the device's certificate and key at run
//!   time (devices that keep them in secure storage), instead of the project's
//!   `aws_clientcredential_keys.h`.
//! - `MQTT_AGENT_GetTLSError`: why a client's last TLS connect failed.

use core::ffi::c_char;

use crate::ffi::agent_types::{MQTTAgentConnectParams_t, MQTTAgentHandle_t, MQTTAgentReturnCode_t};
use MQTTAgentReturnCode_t::*;

/// Why a client's last TLS connect failed (`MQTT_AGENT_GetTLSError`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MQTTAgentTLSError_t {
    /// The last connect did not fail in TLS (or was not TLS).
    eMQTTAgentTLSNoError = 0,
    /// No `mqttconfigTLS_TIME_FXN`, or it did not know the time: certificates cannot be checked.
    eMQTTAgentTLSNoTime = 1,
    /// No `mqttconfigTLS_RANDOM_FXN`, or it failed.
    eMQTTAgentTLSNoEntropy = 2,
    /// `pcCertificate` is not PEM certificates.
    eMQTTAgentTLSBadTrustedCertificate = 3,
    /// No `pcCertificate`, and the library was built without its root certificates.
    eMQTTAgentTLSNoTrustAnchors = 4,
    /// `pcURL` is not a DNS name (or not an IPv4 address with `mqttagentURL_IS_IP_ADDRESS`).
    eMQTTAgentTLSBadServerName = 5,
    /// The client certificate or private key (credential header or
    /// `MQTT_AGENT_SetClientCredentials`) is not usable PEM, or a key kind
    /// other than RSA or ECDSA P-256.
    eMQTTAgentTLSBadClientCredentials = 6,
    /// The server's certificate does not chain to a trusted certificate.
    eMQTTAgentTLSUnknownIssuer = 7,
    /// The server's certificate has expired or is not valid yet.
    eMQTTAgentTLSCertificateExpired = 8,
    /// The server's certificate is for another host name.
    eMQTTAgentTLSCertificateNameMismatch = 9,
    /// The server's certificate is unacceptable for another reason.
    eMQTTAgentTLSBadCertificate = 10,
    /// The server ended the session with an alert (e.g. it refused our certificate).
    eMQTTAgentTLSAlertReceived = 11,
    /// The handshake did not finish within the connect's timeout.
    eMQTTAgentTLSTimeout = 12,
    /// A record did not fit `mqttconfigTLS_RX_BUFFER_SIZE` or `mqttconfigTLS_TX_BUFFER_SIZE`.
    eMQTTAgentTLSRecordTooLarge = 13,
    /// The connection closed during the handshake.
    eMQTTAgentTLSConnectionLost = 14,
    /// Another TLS protocol failure.
    eMQTTAgentTLSProtocolError = 15,
    /// The library was built without TLS (cargo feature `tls`).
    eMQTTAgentTLSNotBuilt = 16,
    /// The FreeRTOS heap could not hold the connection's TLS buffers.
    eMQTTAgentTLSOutOfMemory = 17,
    /// `mqttconfigTLS_BACKEND` is the Secure Sockets port, and the port refused
    /// one of the TLS options (`SOCKETS_SO_REQUIRE_TLS`, `..._TRUSTED_SERVER_CERTIFICATE`,
    /// `..._SERVER_NAME_INDICATION`, `..._ALPN_PROTOCOLS`): the connect fails,
    /// never plain TCP. The debug log names the option.
    eMQTTAgentTLSPortRefusedOption = 18,
    /// `mqttconfigTLS_BACKEND` is the Secure Sockets port, and its
    /// `SOCKETS_Connect` failed (TCP or the port's TLS handshake: the port knows which).
    eMQTTAgentTLSPortConnectFailed = 19,
}

/// Largest PEM text accepted from C (certificates, keys): a bound on what a
/// size argument may make the library read.
pub(crate) const MAX_PEM: u32 = 64 * 1024;

/// Sets the device's TLS client certificate (PEM, the chain may follow it) and
/// private key (PEM: PKCS#1 or PKCS#8 RSA, SEC1 or PKCS#8 ECDSA P-256) for
/// every later TLS connect, replacing the credential header's. Both are copied.
/// The sizes may include a terminating NUL. Both NULL (sizes 0): later connects
/// present no client certificate.
///
/// Returns `eMQTTAgentFailure` (and changes nothing) when either is not PEM,
/// only one is given, or the library was built without TLS.
#[no_mangle]
pub extern "C" fn MQTT_AGENT_SetClientCredentials(
    pcCertificatePem: *const c_char,
    ulCertificateSize: u32,
    pcPrivateKeyPem: *const c_char,
    ulPrivateKeySize: u32,
) -> MQTTAgentReturnCode_t {
    #[cfg(feature = "tls")]
    {
        use crate::platform::tls::credentials;
        if ulCertificateSize > MAX_PEM || ulPrivateKeySize > MAX_PEM {
            return eMQTTAgentFailure;
        }
        use crate::tls::client::Identity;
        // SAFETY: per the contract, non-NULL pointers are valid for their sizes.
        let (cert, key) = unsafe {
            (
                super::agent::c_bytes(pcCertificatePem as *const u8, ulCertificateSize as usize),
                super::agent::c_bytes(pcPrivateKeyPem as *const u8, ulPrivateKeySize as usize),
            )
        };
        match (cert, key) {
            (Some([]), Some([])) => {
                credentials::set(None);
                eMQTTAgentSuccess
            }
            (Some(cert), Some(key)) if !cert.is_empty() && !key.is_empty() => match Identity::from_pem(cert, key) {
                Ok(identity) => {
                    credentials::set(Some(identity));
                    eMQTTAgentSuccess
                }
                Err(_) => eMQTTAgentFailure,
            },
            _ => eMQTTAgentFailure,
        }
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (pcCertificatePem, ulCertificateSize, pcPrivateKeyPem, ulPrivateKeySize);
        eMQTTAgentFailure
    }
}

/// Why the last TLS connect of `xMQTTHandle` failed, in `*pxError`
/// (`eMQTTAgentTLSNoError` after a connect that did not fail in TLS).
/// `eMQTTAgentFailure` for a bad handle or a NULL `pxError`.
#[no_mangle]
pub extern "C" fn MQTT_AGENT_GetTLSError(
    xMQTTHandle: MQTTAgentHandle_t,
    pxError: *mut MQTTAgentTLSError_t,
) -> MQTTAgentReturnCode_t {
    use MQTTAgentTLSError_t::*;
    if pxError.is_null() {
        return eMQTTAgentFailure;
    }
    let Some(code) = crate::platform::agent_task::agent().and_then(|a| a.tls_failure(xMQTTHandle)) else {
        return eMQTTAgentFailure;
    };
    const ALL: [MQTTAgentTLSError_t; 20] = [
        eMQTTAgentTLSNoError,
        eMQTTAgentTLSNoTime,
        eMQTTAgentTLSNoEntropy,
        eMQTTAgentTLSBadTrustedCertificate,
        eMQTTAgentTLSNoTrustAnchors,
        eMQTTAgentTLSBadServerName,
        eMQTTAgentTLSBadClientCredentials,
        eMQTTAgentTLSUnknownIssuer,
        eMQTTAgentTLSCertificateExpired,
        eMQTTAgentTLSCertificateNameMismatch,
        eMQTTAgentTLSBadCertificate,
        eMQTTAgentTLSAlertReceived,
        eMQTTAgentTLSTimeout,
        eMQTTAgentTLSRecordTooLarge,
        eMQTTAgentTLSConnectionLost,
        eMQTTAgentTLSProtocolError,
        eMQTTAgentTLSNotBuilt,
        eMQTTAgentTLSOutOfMemory,
        eMQTTAgentTLSPortRefusedOption,
        eMQTTAgentTLSPortConnectFailed,
    ];
    let error = match ALL.get(code as usize).copied() {
        Some(e) if cfg!(feature = "tls") || code == 0 || code >= eMQTTAgentTLSPortRefusedOption as u8 => e,
        Some(_) => eMQTTAgentTLSNotBuilt,
        None => eMQTTAgentTLSProtocolError,
    };
    // SAFETY: non-NULL pointer to the caller's variable.
    unsafe { pxError.write_unaligned(error) };
    eMQTTAgentSuccess
}

/// The trusted certificate of a TLS connect (`pcCertificate`, which the open
/// request copies: the caller's memory is only valid during the call):
/// `Ok(None)` without TLS or without one, `Err` when its size is beyond
/// `MAX_PEM` (which the connect checked before, as an argument).
/// A non-NULL `pcCertificate` of size 0 is kept as an empty trust list, which
/// fails the connect: it never silently widens trust to the built-in roots.
pub(crate) fn trusted_pem(p: &MQTTAgentConnectParams_t, tls: bool) -> Result<Option<&[u8]>, ()> {
    // NULL means "the built-in roots", whatever the size says; without TLS it is not used.
    if !tls || p.pcCertificate.is_null() {
        return Ok(None);
    }
    if p.ulCertificateSize > MAX_PEM {
        return Err(());
    }
    // SAFETY: pcCertificate/ulCertificateSize describe the caller's certificate, as AFR documents.
    unsafe { super::agent::c_bytes(p.pcCertificate as *const u8, p.ulCertificateSize as usize) }.map(Some).ok_or(())
}
