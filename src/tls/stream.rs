//! A TLS client connection over any byte transport, driven through rustls's
//! unbuffered (sans-I/O) API with buffers of configured sizes.
//!
//! The agent reads a connection in small pieces and never blocks on it: `recv`
//! hands out decrypted bytes as they come and returns `Ok(0)` when neither
//! plaintext nor new TLS data is there; `send_all` encrypts into records no
//! larger than the send buffer.

use alloc::boxed::Box;
use alloc::vec::Vec;

use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
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
    /// The FreeRTOS heap could not hold the session's buffers.
    OutOfMemory,
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

/// Room left in the send buffer beside each record: a TLS 1.3 KeyUpdate the
/// peer asked for is written by rustls into the same buffer, before our next
/// record (27 bytes).
const KEY_UPDATE_ROOM: usize = 32;

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
    /// Why the session failed, once it has: every later call returns it.
    failed: Option<TlsError>,
    /// An error met while decrypted data was still unread (e.g. the peer's
    /// close_notify right after its last records): returned once that data is read.
    deferred: Option<TlsError>,
}

/// A zeroed buffer from the heap, or `OutOfMemory` (never a panic).
fn buffer(len: usize) -> Result<Box<[u8]>, TlsError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| TlsError::OutOfMemory)?;
    v.resize(len, 0);
    Ok(v.into_boxed_slice())
}

impl<T: Transport> TlsStream<T> {
    /// A session about to start its handshake; `conn` is a fresh rustls client.
    /// `OutOfMemory` when the heap cannot hold the buffers.
    pub fn new(transport: T, conn: UnbufferedClientConnection, rx_size: usize, tx_size: usize) -> Result<Self, TlsError> {
        Ok(TlsStream {
            transport,
            conn,
            incoming: buffer(rx_size)?,
            filled: 0,
            outgoing: buffer(tx_size.max(MIN_TX_BUFFER))?,
            queued: 0,
            plain: Vec::new(),
            plain_at: 0,
            unprocessed: false,
            failed: None,
            deferred: None,
        })
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

    /// Runs `f` unless the session already failed, and remembers its first error.
    fn guarded<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R, TlsError>) -> Result<R, TlsError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = f(self);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            if let TlsError::Protocol(_) = e {
                self.send_alert();
            }
        }
        r
    }

    /// After a TLS failure rustls has queued the fatal alert that tells the
    /// peer why (e.g. bad_certificate): send it, best effort.
    fn send_alert(&mut self) {
        // The buffer as rustls last left it (never an empty one: its deframer
        // may still track a partly processed flight in it).
        let TlsStream { transport, conn, incoming, filled, outgoing, .. } = self;
        let UnbufferedStatus { state, .. } = conn.process_tls_records(&mut incoming[..*filled]);
        if let Ok(ConnectionState::EncodeTlsData(mut data)) = state {
            if let Ok(n) = data.encode(outgoing) {
                let _ = transport.send_all(&outgoing[..n]);
            }
        }
    }

    /// Runs the handshake to its end. `wait` is called on every turn, with
    /// `true` when the peer's next bytes have not arrived (it should then wait a
    /// little); it returns false once the time allowed is over.
    pub fn handshake(&mut self, wait: impl FnMut(bool) -> bool) -> Result<(), TlsError> {
        self.guarded(|s| s.run_handshake(wait))
    }

    fn run_handshake(&mut self, mut wait: impl FnMut(bool) -> bool) -> Result<(), TlsError> {
        let mut idle = false;
        loop {
            // Checked on every turn: a peer dripping bytes cannot stretch the time.
            if !wait(idle) {
                return Err(TlsError::Timeout);
            }
            idle = match self.process(None) {
                Ok(Step::Open) => return Ok(()),
                Ok(Step::Blocked) => self.fill()? == 0,
                // The peer's data (possible only once the handshake is over) and
                // its close came with its last flight: the data is read first.
                Err(e @ TlsError::Closed) if self.plain_at < self.plain.len() => {
                    self.deferred = Some(e);
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
        }
    }

    /// Encrypts and sends all of `data`.
    pub fn send_all(&mut self, data: &[u8]) -> Result<(), TlsError> {
        self.guarded(|s| match s.process(Some(data))? {
            Step::Open => Ok(()),
            Step::Blocked => Err(TlsError::Protocol(rustls::Error::HandshakeNotComplete)),
        })
    }

    /// Tells the peer the session ends (close_notify), when it is open and
    /// nothing else is pending; best effort, before the socket closes.
    pub fn close_notify(&mut self) {
        if self.failed.is_some() {
            return;
        }
        let TlsStream { transport, conn, incoming, filled, outgoing, .. } = self;
        let UnbufferedStatus { state, .. } = conn.process_tls_records(&mut incoming[..*filled]);
        if let Ok(ConnectionState::WriteTraffic(mut writer)) = state {
            if let Ok(n) = writer.queue_close_notify(outgoing) {
                let _ = transport.send_all(&outgoing[..n]);
            }
        }
    }

    /// Reads decrypted bytes without waiting: `Ok(0)` when there are none yet.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        self.guarded(|s| s.read_plain(buf))
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
            if let Some(e) = self.deferred.take() {
                return Err(e); // All data before it has been read.
            }
            if self.unprocessed {
                self.unprocessed = false;
                if let Err(e) = self.process(None) {
                    self.deferred = Some(e); // Returned after what was decrypted before it.
                }
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
            let step = handle(state, &mut discard, transport, outgoing, queued, plain, &mut app);
            // Applied on errors too: rustls may be asked once more (for its alert).
            if discard > 0 {
                incoming.copy_within(discard..*filled, 0);
                *filled -= discard;
            }
            if let Some(step) = step? {
                return Ok(step);
            }
        }
    }
}

/// One state of rustls's unbuffered client: decrypted records go to `plain`,
/// records to send through `outgoing`, `app` is sent once the session is open.
/// `Some` when the caller's step is over.
fn handle<T: Transport>(
    state: Result<ConnectionState<'_, '_, ClientConnectionData>, rustls::Error>,
    discard: &mut usize,
    transport: &mut T,
    outgoing: &mut [u8],
    queued: &mut usize,
    plain: &mut Vec<u8>,
    app: &mut Option<&[u8]>,
) -> Result<Option<Step>, TlsError> {
    Ok(match state.map_err(TlsError::Protocol)? {
        ConnectionState::ReadTraffic(mut records) => {
            while let Some(record) = records.next_record() {
                let record = record.map_err(TlsError::Protocol)?;
                *discard += record.discard;
                plain.try_reserve(record.payload.len()).map_err(|_| TlsError::OutOfMemory)?;
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
                // One record per piece, so each fits the send buffer (with
                // room for a KeyUpdate reply rustls may put before it).
                let piece = max_fragment_size(outgoing.len()) - 5 - KEY_UPDATE_ROOM;
                for chunk in data.chunks(piece) {
                    let n = writer.encrypt(chunk, outgoing).map_err(|_| TlsError::RecordTooLarge)?;
                    transport.send_all(&outgoing[..n])?;
                }
            }
            Some(Step::Open)
        }
        ConnectionState::PeerClosed | ConnectionState::Closed => return Err(TlsError::Closed),
        _ => return Err(TlsError::Protocol(rustls::Error::General("unexpected TLS state".into()))),
    })
}
