//! The connection the agent speaks MQTT over: a plain Secure Socket, or the
//! library's own TLS on one. Never anything else: a connect that asked for TLS
//! gets TLS or fails.

#[cfg(feature = "tls")]
use alloc::boxed::Box;

use crate::platform::sockets::{Socket, WakeupCallback};

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
