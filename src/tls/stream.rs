//! A TLS client connection over any byte transport, driven through rustls's
//! unbuffered (sans-I/O) API with buffers of configured sizes.
//!
//! The agent reads a connection in small pieces and never blocks on it: `recv`
//! hands out decrypted bytes as they come and returns `Ok(0)` when neither
//! plaintext nor new TLS data is there; `send_all` encrypts into records no
//! larger than the send buffer.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use rustls::client::UnbufferedClientConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, UnbufferedStatus};

/// The byte transport under TLS (a Secure Sockets socket in the product).
pub trait Transport {
    /// Sends all of `data`, waiting at most the transport's send timeout.
    fn send_all(&mut self, data: &[u8]) -> Result<(), TransportFailed>;
    /// Reads what is there now, without waiting: `Ok(0)` when nothing is.
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TransportFailed>;
}

/// The transport closed, reset or timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportFailed;

/// Why a TLS connection failed.
#[derive(Debug, Clone, PartialEq)]
pub enum TlsError {
    /// The transport failed under us.
    Transport,
    /// The handshake did not finish in time.
    Timeout,
    /// The peer sent a record larger than the receive buffer
    /// (`mqttconfigTLS_RX_BUFFER_SIZE`), or we had one larger than the send buffer.
    RecordTooLarge,
    /// The peer closed the TLS session (close_notify).
    Closed,
    /// TLS itself failed: certificate verification, an alert from the peer, a
    /// bad record, a missing time or random source.
    Protocol(rustls::Error),
}

impl From<TransportFailed> for TlsError {
    fn from(_: TransportFailed) -> Self {
        TlsError::Transport
    }
}

/// Room each record needs beyond its plaintext: header (5), TLS 1.2's explicit
/// nonce (8) or TLS 1.3's inner content type (1), and the AEAD tag (16),
/// rounded up.
pub const RECORD_OVERHEAD: usize = 32;

/// Capacity of the decrypted-data buffer kept between records.
const PLAIN_KEEP: usize = 1024;

/// Smallest send buffer that still carries useful records.
pub const MIN_TX_BUFFER: usize = 256;

/// The `max_fragment_size` (rustls: plaintext plus the 5-byte header) that
/// keeps every record we send within a send buffer of `tx_size` bytes.
pub fn max_fragment_size(tx_size: usize) -> usize {
    // rustls accepts 32..=16389 (2^14 + 5).
    tx_size.saturating_sub(RECORD_OVERHEAD).clamp(MIN_TX_BUFFER - RECORD_OVERHEAD, 16_389)
}

/// What the state machine is waiting for after a step.
enum Step {
    /// The handshake needs the peer's next flight.
    Blocked,
    /// The session is established: application data may flow.
    Open,
}

/// A client TLS session over `T`.
pub struct TlsStream<T> {
    transport: T,
    conn: UnbufferedClientConnection,
    /// TLS bytes received and not yet processed (at most one record is needed at once).
    incoming: Box<[u8]>,
    filled: usize,
    /// Records on their way out.
    outgoing: Box<[u8]>,
    queued: usize,
    /// Decrypted application data not yet read, from `plain_at`.
    plain: Vec<u8>,
    plain_at: usize,
    /// New TLS bytes arrived since the state machine last ran.
    unprocessed: bool,
    /// Why the session failed, once it has.
    failed: Option<TlsError>,
}

impl<T: Transport> TlsStream<T> {
    /// A session about to start its handshake; `conn` is a fresh rustls client.
    pub fn new(transport: T, conn: UnbufferedClientConnection, rx_size: usize, tx_size: usize) -> Self {
        TlsStream {
            transport,
            conn,
            incoming: vec![0u8; rx_size].into_boxed_slice(),
            filled: 0,
            outgoing: vec![0u8; tx_size.max(MIN_TX_BUFFER)].into_boxed_slice(),
            queued: 0,
            plain: Vec::new(),
            plain_at: 0,
            unprocessed: false,
            failed: None,
        }
    }

    /// The transport, e.g. to set socket options.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably (tests drive the peer through it).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Why the session failed (the first error `handshake`, `send_all` or `recv` returned).
    pub fn failure(&self) -> Option<&TlsError> {
        self.failed.as_ref()
    }

    fn note<R>(&mut self, r: Result<R, TlsError>) -> Result<R, TlsError> {
        if let (Err(e), None) = (&r, &self.failed) {
            self.failed = Some(e.clone());
        }
        r
    }

    /// Runs the handshake to its end. `wait` is called whenever the peer's next
    /// flight has not arrived; it waits a little and returns false once the
    /// time allowed is over.
    pub fn handshake(&mut self, wait: impl FnMut() -> bool) -> Result<(), TlsError> {
        let r = self.run_handshake(wait);
        self.note(r)
    }

    fn run_handshake(&mut self, mut wait: impl FnMut() -> bool) -> Result<(), TlsError> {
        loop {
            match self.process(None)? {
                Step::Open => return Ok(()),
                Step::Blocked => {
                    while self.fill()? == 0 {
                        if !wait() {
                            return Err(TlsError::Timeout);
                        }
                    }
                }
            }
        }
    }

    /// Encrypts and sends all of `data`.
    pub fn send_all(&mut self, data: &[u8]) -> Result<(), TlsError> {
        let r = match self.process(Some(data)) {
            Ok(Step::Open) => Ok(()),
            Ok(Step::Blocked) => Err(TlsError::Protocol(rustls::Error::HandshakeNotComplete)),
            Err(e) => Err(e),
        };
        self.note(r)
    }

    /// Reads decrypted bytes without waiting: `Ok(0)` when there are none yet.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        let r = self.read_plain(buf);
        self.note(r)
    }

    fn read_plain(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.plain_at < self.plain.len() {
                let n = buf.len().min(self.plain.len() - self.plain_at);
                buf[..n].copy_from_slice(&self.plain[self.plain_at..self.plain_at + n]);
                self.plain_at += n;
                if self.plain_at == self.plain.len() {
                    self.plain_at = 0;
                    if self.plain.capacity() > PLAIN_KEEP {
                        // A large record passed: give its memory back rather than
                        // hold up to 16 KB for the rest of the connection.
                        self.plain = Vec::new();
                    } else {
                        self.plain.clear(); // Small records reuse it.
                    }
                }
                return Ok(n);
            }
            if self.unprocessed {
                self.unprocessed = false;
                self.process(None)?;
                continue;
            }
            if self.fill()? == 0 {
                return Ok(0);
            }
        }
    }

    /// Reads from the transport into the free end of the receive buffer.
    fn fill(&mut self) -> Result<usize, TlsError> {
        let room = &mut self.incoming[self.filled..];
        if room.is_empty() {
            return Err(TlsError::RecordTooLarge); // A whole record must fit.
        }
        let n = self.transport.recv(room)?;
        self.filled += n;
        self.unprocessed |= n > 0;
        Ok(n)
    }

    /// Runs rustls on what was received until it needs more from the peer or
    /// can carry application data; sends `app` (when given) once it can.
    fn process(&mut self, mut app: Option<&[u8]>) -> Result<Step, TlsError> {
        loop {
            let TlsStream { transport, conn, incoming, filled, outgoing, queued, plain, .. } = self;
            let UnbufferedStatus { mut discard, state } = conn.process_tls_records(&mut incoming[..*filled]);
            let step = match state.map_err(TlsError::Protocol)? {
                ConnectionState::ReadTraffic(mut records) => {
                    while let Some(record) = records.next_record() {
                        let record = record.map_err(TlsError::Protocol)?;
                        discard += record.discard;
                        plain.extend_from_slice(record.payload);
                    }
                    None
                }
                ConnectionState::EncodeTlsData(mut data) => {
                    let n = match data.encode(&mut outgoing[*queued..]) {
                        Ok(n) => n,
                        Err(EncodeError::InsufficientSize(_)) if *queued > 0 => {
                            // Send what is queued, then encode into the emptied buffer.
                            transport.send_all(&outgoing[..*queued])?;
                            *queued = 0;
                            data.encode(&mut outgoing[..]).map_err(|_| TlsError::RecordTooLarge)?
                        }
                        Err(_) => return Err(TlsError::RecordTooLarge),
                    };
                    *queued += n;
                    None
                }
                ConnectionState::TransmitTlsData(done) => {
                    transport.send_all(&outgoing[..*queued])?;
                    *queued = 0;
                    done.done();
                    None
                }
                ConnectionState::BlockedHandshake => Some(Step::Blocked),
                ConnectionState::WriteTraffic(mut writer) => {
                    if let Some(data) = app.take() {
                        // One record per piece, so each fits the send buffer.
                        let piece = max_fragment_size(outgoing.len()) - 5;
                        for chunk in data.chunks(piece) {
                            let n = writer.encrypt(chunk, outgoing).map_err(|_| TlsError::RecordTooLarge)?;
                            transport.send_all(&outgoing[..n])?;
                        }
                    }
                    Some(Step::Open)
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => return Err(TlsError::Closed),
                _ => return Err(TlsError::Protocol(rustls::Error::General("unexpected TLS state".into()))),
            };
            if discard > 0 {
                incoming.copy_within(discard..*filled, 0);
                *filled -= discard;
            }
            if let Some(step) = step {
                return Ok(step);
            }
        }
    }
}
