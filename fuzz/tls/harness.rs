//! The TLS client of the `tls_records` target, shared with the seed recorder
//! (`tls_seeds.rs`): the agent's rustls client (`afrcloud::tls::client`) with
//! the crate's crypto provider, fixed trust anchors, a fixed clock and
//! deterministic entropy, so that its ClientHello is the same on every run and
//! a server flight recorded once replays as a valid handshake.
//!
//! Input layout: byte 0 = options (bit 0: a client identity, bit 1: the AWS
//! ALPN, bits 2..=3: receive buffer size), byte 1 = how the transport cuts the
//! stream into reads (0: all that is there), then the server's bytes.
#![allow(dead_code)] // Each user takes a part.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use afrcloud::tls::client::{self, Identity, Params};
use afrcloud::tls::provider::Entropy;
use afrcloud::tls::stream::{TlsError, TlsStream, Transport, TransportFailed};
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::UnixTime;
use rustls::time_provider::TimeProvider;

pub const CA_PEM: &[u8] = include_bytes!("ca.pem");
pub const CLIENT_PEM: &[u8] = include_bytes!("client.pem");
pub const CLIENT_KEY: &[u8] = include_bytes!("client.key");
pub const SERVER_PEM: &[u8] = include_bytes!("server.pem");
pub const SERVER_KEY: &[u8] = include_bytes!("server.key");
pub const HOST: &str = "iot.example.com";
/// `mqttconfigTLS_TX_BUFFER_SIZE` of the client.
pub const TX_BUFFER: usize = 4096;
/// Receive buffer sizes (`mqttconfigTLS_RX_BUFFER_SIZE`): the default first.
pub const RX_BUFFERS: [usize; 4] = [16_645, 4096, 1024, 300];
/// The clock: 2040-01-01, inside the test certificates' validity.
pub const NOW_SECS: u64 = 2_208_988_800;

/// What the client sends once the handshake is done (an MQTT CONNECT, shape only).
pub const CLIENT_DATA: &[u8] = b"\x10\x12\x00\x04MQTT\x04\x02\x00\x3c\x00\x06fuzzer";

static ENTROPY: AtomicU64 = AtomicU64::new(0);

/// Randomness from a counter: the same sequence after every [`reset_entropy`].
#[derive(Debug, Default)]
pub struct FixedEntropy;

impl Entropy for FixedEntropy {
    fn fill(dest: &mut [u8]) -> bool {
        for chunk in dest.chunks_mut(8) {
            let x = mix(ENTROPY.fetch_add(1, Ordering::Relaxed));
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        true
    }
}

pub fn reset_entropy() {
    ENTROPY.store(0x5eed, Ordering::Relaxed);
}

/// A 64-bit mixing function (an avalanche of the counter).
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[derive(Debug)]
pub struct FixedClock;

impl TimeProvider for FixedClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(NOW_SECS)))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub identity: bool,
    pub aws_alpn: bool,
    pub rx: usize,
    pub chunks: u8,
}

impl Options {
    pub fn parse(data: &[u8]) -> Option<(Options, &[u8])> {
        let (&[flags, chunks], rest) = data.split_first_chunk::<2>()?;
        let o = Options {
            identity: flags & 1 != 0,
            aws_alpn: flags & 2 != 0,
            rx: RX_BUFFERS[(flags >> 2) as usize & 3],
            chunks,
        };
        Some((o, rest))
    }

    pub fn header(identity: bool, aws_alpn: bool, rx_index: u8, chunks: u8) -> [u8; 2] {
        [u8::from(identity) | u8::from(aws_alpn) << 1 | (rx_index & 3) << 2, chunks]
    }
}

/// A fresh client, its entropy reset: the same ClientHello every time.
pub fn client(o: &Options) -> UnbufferedClientConnection {
    reset_entropy();
    let identity = o.identity.then(|| Identity::from_pem(CLIENT_PEM, CLIENT_KEY).expect("the test client identity"));
    let params = Params {
        host: HOST,
        is_ip: false,
        aws_alpn: o.aws_alpn,
        trusted_pem: Some(CA_PEM),
        default_roots_pem: None,
        identity,
        tx_buffer: TX_BUFFER,
        time_floor: None,
    };
    client::connection::<FixedEntropy>(params, Arc::new(FixedClock)).expect("the client configuration")
}

/// The server's side replayed from bytes, handed out in reads of varying
/// size (sometimes none: "nothing has arrived yet"). What the client sends is
/// counted and dropped.
pub struct Replay<'a> {
    rest: &'a [u8],
    chunks: u8,
    turn: u64,
    pub sent: usize,
    /// Bytes not yet read, for the handshake's wait callback.
    left: Rc<Cell<usize>>,
}

impl<'a> Replay<'a> {
    pub fn new(data: &'a [u8], chunks: u8) -> Self {
        Replay { rest: data, chunks, turn: 0, sent: 0, left: Rc::new(Cell::new(data.len())) }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

impl Transport for Replay<'_> {
    fn send_all(&mut self, data: &[u8]) -> Result<(), TransportFailed> {
        self.sent += data.len();
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TransportFailed> {
        let n = if self.chunks == 0 {
            self.rest.len()
        } else {
            self.turn += 1;
            let r = mix(self.turn ^ u64::from(self.chunks) << 32);
            if r % 8 == 0 {
                0
            } else {
                1 + (r >> 8) as usize % (usize::from(self.chunks) * 8)
            }
        };
        let n = n.min(buf.len()).min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        self.left.set(self.rest.len());
        Ok(n)
    }
}

/// How a replay went: the plaintext the client read, and the first error.
pub struct Outcome {
    pub handshake_done: bool,
    pub plain: Vec<u8>,
    pub error: Option<TlsError>,
}

/// Runs the client over `data` (options, then server bytes): the handshake,
/// one write, then reads in pieces of varying size until the server's bytes
/// are used up or the session fails. Checks that a failed session keeps
/// returning its first error.
pub fn replay(data: &[u8]) -> Option<Outcome> {
    let (o, stream) = Options::parse(data)?;
    let conn = client(&o);
    let mut tls = TlsStream::new(Replay::new(stream, o.chunks), conn, o.rx, TX_BUFFER).expect("buffers");
    let mut out = Outcome { handshake_done: false, plain: Vec::new(), error: None };
    let result = run(&mut tls, &mut out);
    if let Err(e) = result {
        // Compared as text: rustls's `OtherError` never equals itself.
        let text = format!("{e:?}");
        assert_eq!(format!("{:?}", tls.failure()), format!("Some({text})"), "the first error is kept");
        let mut buf = [0u8; 16];
        assert_eq!(format!("{:?}", tls.recv(&mut buf)), format!("Err({text})"), "a failed session keeps failing");
        out.error = Some(e);
    } else {
        assert!(tls.failure().is_none());
        tls.close_notify();
    }
    Some(out)
}

fn run(tls: &mut TlsStream<Replay<'_>>, out: &mut Outcome) -> Result<(), TlsError> {
    let left = tls.transport().left.clone();
    let mut idle_turns = 0;
    tls.handshake(|idle| {
        // Three idle turns once the server's bytes ran out end the handshake
        // (as its timeout would).
        if idle && left.get() == 0 {
            idle_turns += 1;
        }
        idle_turns < 3
    })?;
    out.handshake_done = true;
    tls.send_all(CLIENT_DATA)?;
    let mut buf = [0u8; 1500];
    let mut turn = 0u64;
    loop {
        turn += 1;
        let piece = 1 + (mix(turn) % buf.len() as u64) as usize;
        let n = tls.recv(&mut buf[..piece])?;
        assert!(n <= piece);
        out.plain.extend_from_slice(&buf[..n]);
        if n == 0 && tls.transport().is_empty() {
            return Ok(());
        }
    }
}
