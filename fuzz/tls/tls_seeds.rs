//! Writes the seed corpus of the `tls_records` target to `seeds/tls_records/`:
//!
//! - `flight-*`: real server flights, recorded from an in-memory rustls server
//!   (built on the crate's own crypto provider) answering the target's
//!   deterministic client: TLS 1.3 and 1.2, with and without a client
//!   certificate request, then application data and close_notify. Each is
//!   replayed through the target's harness before it is written, and must
//!   complete the handshake and deliver the data.
//! - `record-*`: single record headers (content types 20..=24, versions
//!   0x0301 and 0x0303, lengths around the limits) with some garbage after them.
//!
//! Run from `fuzz/`: `cargo +nightly run --release --example tls_seeds`.

#[path = "harness.rs"]
mod harness;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use afrcloud::tls::provider::{provider, Entropy};
use afrcloud::tls::stream::{TlsStream, Transport, TransportFailed};
use harness::{Options, TX_BUFFER};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion};

/// The server's own randomness, apart from the client's fixed sequence.
#[derive(Debug, Default)]
struct ServerEntropy;

static SERVER_ENTROPY: AtomicU64 = AtomicU64::new(0x5e4e_0000);

impl Entropy for ServerEntropy {
    fn fill(dest: &mut [u8]) -> bool {
        for chunk in dest.chunks_mut(8) {
            let x = harness::mix(SERVER_ENTROPY.fetch_add(1, Ordering::Relaxed));
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        true
    }
}

/// The server as the client's transport; everything it sends is also recorded.
struct Server {
    conn: ServerConnection,
    to_client: Vec<u8>,
    recorded: Vec<u8>,
}

impl Server {
    fn pump(&mut self) {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut out).unwrap();
        }
        self.to_client.extend_from_slice(&out);
        self.recorded.extend_from_slice(&out);
    }
}

impl Transport for Server {
    fn send_all(&mut self, mut data: &[u8]) -> Result<(), TransportFailed> {
        while !data.is_empty() {
            self.conn.read_tls(&mut data).map_err(|_| TransportFailed)?;
            self.conn.process_new_packets().map_err(|e| panic!("server: {e}")).unwrap();
        }
        self.pump();
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TransportFailed> {
        let n = buf.len().min(self.to_client.len());
        buf[..n].copy_from_slice(&self.to_client[..n]);
        self.to_client.drain(..n);
        Ok(n)
    }
}

fn server_config(version: &'static SupportedProtocolVersion, client_auth: bool) -> Arc<ServerConfig> {
    let provider = Arc::new(provider::<ServerEntropy>());
    let builder = ServerConfig::builder_with_details(provider.clone(), Arc::new(harness::FixedClock))
        .with_protocol_versions(&[version])
        .unwrap();
    let builder = if client_auth {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(harness::CA_PEM) {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let chain: Vec<_> = CertificateDer::pem_slice_iter(harness::SERVER_PEM).map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_slice(harness::SERVER_KEY).unwrap();
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}

/// Application data the server sends after the handshake: a CONNACK, a
/// PUBLISH larger than one read, then a SUBACK.
fn server_data() -> Vec<u8> {
    let mut d = vec![0x20, 0x02, 0x00, 0x00];
    d.extend_from_slice(&[0x30, 0xd4, 0x0f, 0x00, 0x03, b'a', b'/', b'b']);
    d.extend((0..2000).map(|i| (i % 251) as u8));
    d.extend_from_slice(&[0x90, 0x03, 0x00, 0x01, 0x01]);
    d
}

fn record_flight(version: &'static SupportedProtocolVersion, client_auth: bool, aws_alpn: bool) -> Vec<u8> {
    let header = Options::header(client_auth, aws_alpn, 0, 0);
    let (o, _) = Options::parse(&header).unwrap();
    let server = Server {
        conn: ServerConnection::new(server_config(version, client_auth)).unwrap(),
        to_client: Vec::new(),
        recorded: Vec::new(),
    };
    let mut tls = TlsStream::new(server, harness::client(&o), o.rx, TX_BUFFER).unwrap();
    let mut turns = 0;
    tls.handshake(|_| {
        turns += 1;
        turns < 100
    })
    .expect("handshake with the recording server");
    tls.send_all(harness::CLIENT_DATA).unwrap();
    let server = tls.transport_mut();
    let mut got = vec![0u8; 64];
    let n = server.conn.reader().read(&mut got).unwrap();
    assert_eq!(&got[..n], harness::CLIENT_DATA);
    server.conn.writer().write_all(&server_data()).unwrap();
    server.conn.send_close_notify();
    server.pump();
    let mut seed = header.to_vec();
    seed.extend_from_slice(&server.recorded);
    seed
}

use std::io::Read;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/tls_records");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();

    let flights = [
        ("flight-tls13", &rustls::version::TLS13, false, false),
        ("flight-tls13-client-auth", &rustls::version::TLS13, true, false),
        ("flight-tls13-alpn", &rustls::version::TLS13, false, true),
        ("flight-tls12", &rustls::version::TLS12, false, false),
        ("flight-tls12-client-auth", &rustls::version::TLS12, true, false),
    ];
    for (name, version, client_auth, alpn) in flights {
        let seed = record_flight(version, client_auth, alpn);
        // The seed must replay, cut into reads of up to 128 and up to 24 bytes.
        // (All at once, the data and close_notify arrive with the end of the
        // handshake: see the note printed below.)
        for chunks in [16u8, 3] {
            let mut s = seed.clone();
            s[1] = chunks;
            let out = harness::replay(&s).unwrap();
            assert!(out.handshake_done, "{name}: replay handshake ({:?})", out.error);
            assert_eq!(out.plain, server_data(), "{name}: replayed data");
            assert_eq!(out.error, Some(afrcloud::tls::stream::TlsError::Closed), "{name}");
        }
        let mut at_once = seed.clone();
        at_once[1] = 0;
        let out = harness::replay(&at_once).unwrap();
        println!(
            "{name}: {} bytes; replayed in one read: handshake {}, {} bytes of data read, then {:?}",
            seed.len(),
            if out.handshake_done { "done" } else { "failed" },
            out.plain.len(),
            out.error
        );
        let mut cut = seed.clone();
        cut[1] = 16;
        write(name, &cut);
        cut[1] = 1;
        write(&format!("{name}-bytewise"), &cut);
        write(&format!("{name}-at-once"), &at_once);
    }

    let mut n = 0;
    for content_type in 20u8..=24 {
        for version in [0x0301u16, 0x0303] {
            for len in [0u16, 1, 16_384, 16_384 + 256, 16_384 + 2048 + 1, 0xffff] {
                let mut r = Options::header(false, false, 0, 0).to_vec();
                r.push(content_type);
                r.extend_from_slice(&version.to_be_bytes());
                r.extend_from_slice(&len.to_be_bytes());
                r.extend((0..usize::from(len).min(48)).map(|i| (i as u8).wrapping_mul(37)));
                write(&format!("record-{content_type}-{version:04x}-{len}"), &r);
                n += 1;
            }
        }
    }
    println!("{n} record header seeds in {}", dir.display());
}
