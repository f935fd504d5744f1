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

use alloc::boxed::Box;

use crate::platform::sockets::{Socket, WakeupCallback};

/// What a TLS connect asks for besides the socket (either back-end).
pub struct TlsRequest {
    /// Offer ALPN `x-amzn-mqtt-ca` (`mqttagentUSE_AWS_IOT_ALPN_443`).
    pub aws_alpn: bool,
    /// A copy of `pcCertificate`, when given.
    pub trusted_pem: Option<Box<[u8]>>,
    /// The tick the application's connect call started, and its `xTimeoutTicks`
    /// (they bound the library's handshake; the port bounds its own).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub start: u32,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub timeout: u32,
}

/// The project chose the Secure Sockets port's TLS (`mqttconfigTLS_BACKEND`).
pub const TLS_BY_SOCKETS_PORT: bool = crate::config::mqtt::TLS_BACKEND == 0;

pub enum Link {
    Plain(Socket),
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::stream::TlsStream<Socket>>),
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
            Link::Tls(t) => t.send_all(data).map_err(|_| ()),
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
