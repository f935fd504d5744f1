//! The RustCrypto-based provider against rustls' ring provider: full
//! in-memory handshakes (TLS 1.3 and 1.2, RSA and P-256 certificates, client
//! authentication), record tampering, key loading and entropy failure. Then
//! the agent's TLS session (`tls::client` + `tls::stream`) over an in-memory
//! transport: small buffers, byte-by-byte reads, timeouts, ALPN, SNI, close.
//!
//! Certificates and keys are made by the `openssl` command at test time, read
//! into memory, and the directory is removed straight away.
#![cfg(feature = "tls")]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use afrcloud::tls::provider::{provider, Entropy};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
    ServerName,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, Error, RootCertStore, ServerConfig,
    ServerConnection, SignatureScheme, SupportedProtocolVersion,
};

// ---- entropy ----

#[derive(Debug, Default)]
struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(dest: &mut [u8]) -> bool {
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(dest))
            .is_ok()
    }
}

#[derive(Debug, Default)]
struct NoEntropy;

impl Entropy for NoEntropy {
    fn fill(_: &mut [u8]) -> bool {
        false
    }
}

/// OS entropy until `ENTROPY_GONE` is set; only the test that sets it uses this type.
#[derive(Debug, Default)]
struct FailingLater;

static ENTROPY_GONE: AtomicBool = AtomicBool::new(false);

impl Entropy for FailingLater {
    fn fill(dest: &mut [u8]) -> bool {
        !ENTROPY_GONE.load(Ordering::SeqCst) && OsEntropy::fill(dest)
    }
}

// ---- test PKI ----

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "afrcloud-tls-provider-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed for these tests");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A DER certificate and its private key in several encodings.
struct Identity {
    cert: CertificateDer<'static>,
    /// PKCS#1 for RSA, SEC1 for EC.
    traditional: Vec<u8>,
    pkcs8: Vec<u8>,
    /// subjectPublicKey contents (PKCS#1 RSAPublicKey or SEC1 point).
    public_key: Vec<u8>,
}

impl Identity {
    fn traditional_key(&self) -> PrivateKeyDer<'static> {
        if self.is_rsa() {
            PrivatePkcs1KeyDer::from(self.traditional.clone()).into()
        } else {
            PrivateSec1KeyDer::from(self.traditional.clone()).into()
        }
    }

    fn pkcs8_key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.pkcs8.clone()).into()
    }

    fn is_rsa(&self) -> bool {
        self.public_key.first() == Some(&0x30)
    }
}

struct Pki {
    rsa_ca: CertificateDer<'static>,
    ec_ca: CertificateDer<'static>,
    /// An ECDSA P-384 CA (like Amazon Root CA 4) and a P-384 server under it (SHA-384 signatures).
    p384_ca: CertificateDer<'static>,
    p384_server: Identity,
    /// A server whose certificate the RSA CA signed with SHA-384 (like Amazon Root CA 2 does).
    rsa_sha384_server: Identity,
    rsa_server: Identity,
    ec_server: Identity,
    rogue_server: Identity,
    rsa_client: Identity,
    ec_client: Identity,
    ed25519_pkcs8: Vec<u8>,
    rsa1024_pkcs1: Vec<u8>,
    rsa1024_pkcs8: Vec<u8>,
    rsa1024_public: Vec<u8>,
    p384_sec1: Vec<u8>,
    p384_pkcs8: Vec<u8>,
    /// A message and openssl's PKCS#1 v1.5 / SHA-256 signatures over it.
    message: Vec<u8>,
    rsa2048_openssl_sig: Vec<u8>,
    rsa1024_openssl_sig: Vec<u8>,
}

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:iot.example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(make_pki)
}

fn make_pki() -> Pki {
    let tmp = TempDir::new();
    let dir = tmp.0.as_path();
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    std::fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).unwrap();

    let make_ca = |name: &str, alg: &str| {
        genkey(dir, &format!("{name}.key"), alg);
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-config",
                "openssl.cnf",
                "-extensions",
                "ca",
                "-key",
                &format!("{name}.key"),
                "-subj",
                &format!("/CN={name}"),
                "-days",
                "2",
                "-sha256",
                "-outform",
                "DER",
                "-out",
                &format!("{name}.der"),
            ],
        );
    };
    let make_leaf = |name: &str, alg: &str, ca: &str, ext: &str, digest: &str| -> Identity {
        let key = format!("{name}.key");
        genkey(dir, &key, alg);
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-config",
                "openssl.cnf",
                "-key",
                &key,
                "-subj",
                &format!("/CN={name}"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.der"),
                "-CAform",
                "DER",
                "-CAkey",
                &format!("{ca}.key"),
                "-set_serial",
                "7",
                "-days",
                "2",
                digest,
                "-extfile",
                "openssl.cnf",
                "-extensions",
                ext,
                "-outform",
                "DER",
                "-out",
                &format!("{name}.der"),
            ],
        );
        let is_rsa = alg.starts_with("RSA");
        key_forms(dir, name, is_rsa);
        Identity {
            cert: CertificateDer::from(read(&format!("{name}.der"))),
            traditional: read(&format!("{name}.trad")),
            pkcs8: read(&format!("{name}.p8")),
            public_key: read(&format!("{name}.pub")),
        }
    };

    make_ca("rsa-ca", "RSA:2048");
    make_ca("ec-ca", "EC:P-256");
    make_ca("rogue-ca", "RSA:2048");
    make_ca("p384-ca", "EC:P-384");
    let rsa_server = make_leaf("rsa-server", "RSA:2048", "rsa-ca", "server", "-sha256");
    let ec_server = make_leaf("ec-server", "EC:P-256", "ec-ca", "server", "-sha256");
    let rogue_server = make_leaf("rogue-server", "RSA:2048", "rogue-ca", "server", "-sha256");
    let rsa_client = make_leaf("rsa-client", "RSA:2048", "rsa-ca", "client", "-sha256");
    let ec_client = make_leaf("ec-client", "EC:P-256", "ec-ca", "client", "-sha256");
    // Shapes of the chains under Amazon Root CA 4 (P-384) and Root CA 2 (SHA-384 RSA).
    let p384_server = make_leaf("p384-server", "EC:P-384", "p384-ca", "server", "-sha384");
    let rsa_sha384_server = make_leaf("rsa384-server", "RSA:2048", "rsa-ca", "server", "-sha384");

    genkey(dir, "ed25519.key", "ED25519");
    openssl(
        dir,
        &[
            "pkey",
            "-in",
            "ed25519.key",
            "-outform",
            "DER",
            "-out",
            "ed25519.p8",
        ],
    );
    genkey(dir, "rsa1024.key", "RSA:1024");
    key_forms(dir, "rsa1024", true);
    genkey(dir, "p384.key", "EC:P-384");
    key_forms(dir, "p384", false);

    std::fs::write(dir.join("message"), b"signed by openssl").unwrap();
    for key in ["rsa-server", "rsa1024"] {
        openssl(
            dir,
            &[
                "dgst",
                "-sha256",
                "-sign",
                &format!("{key}.key"),
                "-out",
                &format!("{key}.sig"),
                "message",
            ],
        );
    }

    Pki {
        rsa_ca: CertificateDer::from(read("rsa-ca.der")),
        ec_ca: CertificateDer::from(read("ec-ca.der")),
        p384_ca: CertificateDer::from(read("p384-ca.der")),
        p384_server,
        rsa_sha384_server,
        rsa_server,
        ec_server,
        rogue_server,
        rsa_client,
        ec_client,
        ed25519_pkcs8: read("ed25519.p8"),
        rsa1024_pkcs1: read("rsa1024.trad"),
        rsa1024_pkcs8: read("rsa1024.p8"),
        rsa1024_public: read("rsa1024.pub"),
        p384_sec1: read("p384.trad"),
        p384_pkcs8: read("p384.p8"),
        message: read("message"),
        rsa2048_openssl_sig: read("rsa-server.sig"),
        rsa1024_openssl_sig: read("rsa1024.sig"),
    }
}

/// A private key; `alg` is `RSA:<bits>`, `EC:<curve>` or `ED25519`.
fn genkey(dir: &Path, out: &str, alg: &str) {
    let opt;
    let mut args = vec!["genpkey", "-out", out, "-algorithm"];
    match alg.split_once(':') {
        Some(("RSA", bits)) => {
            opt = format!("rsa_keygen_bits:{bits}");
            args.extend(["RSA", "-pkeyopt", &opt]);
        }
        Some(("EC", curve)) => {
            opt = format!("ec_paramgen_curve:{curve}");
            args.extend(["EC", "-pkeyopt", &opt]);
        }
        _ => args.push(alg),
    }
    openssl(dir, &args);
}

/// `<name>.key` → `<name>.trad` (PKCS#1 / SEC1), `<name>.p8` (PKCS#8),
/// `<name>.pub` (subjectPublicKey contents).
fn key_forms(dir: &Path, name: &str, is_rsa: bool) {
    let key = format!("{name}.key");
    let (trad, p8, pubkey) = (
        format!("{name}.trad"),
        format!("{name}.p8"),
        format!("{name}.pub"),
    );
    openssl(
        dir,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", &key, "-outform", "DER", "-out", &p8,
        ],
    );
    if is_rsa {
        openssl(
            dir,
            &[
                "rsa",
                "-in",
                &key,
                "-traditional",
                "-outform",
                "DER",
                "-out",
                &trad,
            ],
        );
        openssl(
            dir,
            &[
                "rsa",
                "-in",
                &key,
                "-RSAPublicKey_out",
                "-outform",
                "DER",
                "-out",
                &pubkey,
            ],
        );
    } else {
        openssl(dir, &["ec", "-in", &key, "-outform", "DER", "-out", &trad]);
        // The SPKI ends with the BIT STRING's 65-byte uncompressed point.
        openssl(
            dir,
            &[
                "ec", "-in", &key, "-pubout", "-outform", "DER", "-out", &pubkey,
            ],
        );
        let spki = std::fs::read(dir.join(&pubkey)).unwrap();
        std::fs::write(dir.join(&pubkey), &spki[spki.len() - 65..]).unwrap();
    }
}

// ---- configurations ----

fn ring() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(cas: &[&CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots.add((*ca).clone()).unwrap();
    }
    roots
}

fn server_config(
    identity: &Identity,
    version: &'static SupportedProtocolVersion,
    require_client_auth: bool,
) -> Arc<ServerConfig> {
    let pki = pki();
    let builder = ServerConfig::builder_with_provider(ring())
        .with_protocol_versions(&[version])
        .unwrap();
    let builder = if require_client_auth {
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots(&[&pki.rsa_ca, &pki.ec_ca])),
            ring(),
        )
        .build()
        .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(
        builder
            .with_single_cert(vec![identity.cert.clone()], identity.pkcs8_key())
            .unwrap(),
    )
}

fn client_config<E: Entropy>(
    client_auth: Option<PrivateKeyDer<'static>>,
    cert: Option<&Identity>,
) -> Arc<ClientConfig> {
    let pki = pki();
    let builder = ClientConfig::builder_with_provider(Arc::new(provider::<E>()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots(&[&pki.rsa_ca, &pki.ec_ca]));
    Arc::new(match (client_auth, cert) {
        (Some(key), Some(identity)) => builder
            .with_client_auth_cert(vec![identity.cert.clone()], key)
            .unwrap(),
        _ => builder.with_no_client_auth(),
    })
}

fn server_name() -> ServerName<'static> {
    ServerName::try_from("iot.example.com").unwrap()
}

// ---- byte pumping ----

/// Moves everything `from` has to send into `to`, letting `tamper` edit the
/// bytes in flight, then has `to` process them.
fn transfer<A, B>(
    from: &mut ConnectionCommon<A>,
    to: &mut ConnectionCommon<B>,
    tamper: &mut dyn FnMut(&mut Vec<u8>),
) -> Result<usize, Error> {
    let mut bytes = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut bytes).unwrap();
    }
    if bytes.is_empty() {
        return Ok(0);
    }
    tamper(&mut bytes);
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets()?;
    }
    Ok(bytes.len())
}

#[derive(Debug)]
#[allow(dead_code)] // the errors are read through `Debug` in failure messages
enum Failed {
    Client(Error),
    Server(Error),
}

fn handshake(client: &mut ClientConnection, server: &mut ServerConnection) -> Result<(), Failed> {
    for _ in 0..20 {
        let sent = transfer(client, server, &mut |_| {}).map_err(Failed::Server)?
            + transfer(server, client, &mut |_| {}).map_err(Failed::Client)?;
        if sent == 0 && !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

fn connect(
    client_config: Arc<ClientConfig>,
    server_config: Arc<ServerConfig>,
) -> (ClientConnection, ServerConnection, Result<(), Failed>) {
    let mut client = ClientConnection::new(client_config, server_name()).unwrap();
    let mut server = ServerConnection::new(server_config).unwrap();
    let result = handshake(&mut client, &mut server);
    (client, server, result)
}

fn read_all<D>(conn: &mut ConnectionCommon<D>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match conn.reader().read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    out
}

/// Application data both ways; a 20 kB message spans two records.
fn exchange(client: &mut ClientConnection, server: &mut ServerConnection) {
    let big: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    client.writer().write_all(b"PUBLISH from device").unwrap();
    transfer(client, server, &mut |_| {}).unwrap();
    assert_eq!(read_all(server), b"PUBLISH from device");

    server.writer().write_all(&big).unwrap();
    transfer(server, client, &mut |_| {}).unwrap();
    assert_eq!(read_all(client), big);
}

fn check(
    server: &Identity,
    version: &'static SupportedProtocolVersion,
    client_identity: Option<(&Identity, PrivateKeyDer<'static>)>,
) {
    let (key, cert) = match client_identity {
        Some((identity, key)) => (Some(key), Some(identity)),
        None => (None, None),
    };
    let want_auth = key.is_some();
    let (mut client, mut server_conn, result) = connect(
        client_config::<OsEntropy>(key, cert),
        server_config(server, version, want_auth),
    );
    result.unwrap();
    assert_eq!(client.protocol_version(), Some(version.version));
    let suite = client.negotiated_cipher_suite().unwrap().suite();
    let expected = match (version.version, server.is_rsa()) {
        (rustls::ProtocolVersion::TLSv1_3, _) => rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
        (_, true) => rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        (_, false) => rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    };
    assert_eq!(suite, expected);
    if want_auth {
        assert!(server_conn
            .peer_certificates()
            .is_some_and(|c| c.len() == 1));
    }
    exchange(&mut client, &mut server_conn);
}

// ---- handshakes ----

use rustls::version::{TLS12, TLS13};

#[test]
fn tls13_rsa_server() {
    check(&pki().rsa_server, &TLS13, None);
}

#[test]
fn tls12_rsa_server() {
    check(&pki().rsa_server, &TLS12, None);
}

#[test]
fn tls13_p256_server() {
    check(&pki().ec_server, &TLS13, None);
}

#[test]
fn tls12_p256_server() {
    check(&pki().ec_server, &TLS12, None);
}

#[test]
fn tls13_client_auth_rsa_pkcs1() {
    let id = &pki().rsa_client;
    check(&pki().rsa_server, &TLS13, Some((id, id.traditional_key())));
}

#[test]
fn tls12_client_auth_rsa_pkcs1() {
    let id = &pki().rsa_client;
    check(&pki().rsa_server, &TLS12, Some((id, id.traditional_key())));
}

#[test]
fn tls13_client_auth_p256_sec1() {
    let id = &pki().ec_client;
    check(&pki().ec_server, &TLS13, Some((id, id.traditional_key())));
}

#[test]
fn tls12_client_auth_p256_sec1() {
    let id = &pki().ec_client;
    check(&pki().rsa_server, &TLS12, Some((id, id.traditional_key())));
}

#[test]
fn tls13_client_auth_pkcs8_keys() {
    let pki = pki();
    check(
        &pki.ec_server,
        &TLS13,
        Some((&pki.rsa_client, pki.rsa_client.pkcs8_key())),
    );
    check(
        &pki.rsa_server,
        &TLS13,
        Some((&pki.ec_client, pki.ec_client.pkcs8_key())),
    );
}

#[test]
fn unknown_ca_is_rejected() {
    for version in [&TLS13, &TLS12] {
        let (_, _, result) = connect(
            client_config::<OsEntropy>(None, None),
            server_config(&pki().rogue_server, version, false),
        );
        match result {
            Err(Failed::Client(Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))) => {}
            other => panic!("expected UnknownIssuer, got {other:?}"),
        }
    }
}

#[test]
fn tampered_records_fail_to_decrypt() {
    for version in [&TLS13, &TLS12] {
        for server_identity in [&pki().rsa_server, &pki().ec_server] {
            let (mut client, mut server, result) = connect(
                client_config::<OsEntropy>(None, None),
                server_config(server_identity, version, false),
            );
            result.unwrap();

            // Server → client: our decrypter must reject it.
            server.writer().write_all(b"shadow delta").unwrap();
            let flip_last = &mut |bytes: &mut Vec<u8>| {
                let last = bytes.len() - 1;
                bytes[last] ^= 0x01;
            };
            match transfer(&mut server, &mut client, flip_last) {
                Err(Error::DecryptError) => {}
                other => panic!("expected DecryptError, got {other:?}"),
            }

            // Client → server (our encrypter, their decrypter): a byte of the
            // ciphertext proper, just after the record header (and nonce).
            let (mut client, mut server, result) = connect(
                client_config::<OsEntropy>(None, None),
                server_config(server_identity, version, false),
            );
            result.unwrap();
            client.writer().write_all(b"telemetry").unwrap();
            let offset = if version.version == rustls::ProtocolVersion::TLSv1_2 {
                5 + 8
            } else {
                5
            };
            let flip = &mut |bytes: &mut Vec<u8>| bytes[offset] ^= 0x80;
            match transfer(&mut client, &mut server, flip) {
                Err(Error::DecryptError) => {}
                other => panic!("expected DecryptError, got {other:?}"),
            }
        }
    }
}

// ---- keys ----

#[test]
fn bad_and_unsupported_keys_are_errors() {
    let pki = pki();
    let keys = provider::<OsEntropy>().key_provider;
    let cases: Vec<(&str, PrivateKeyDer<'static>)> = vec![
        (
            "garbage PKCS#8",
            PrivatePkcs8KeyDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]).into(),
        ),
        (
            "garbage PKCS#1",
            PrivatePkcs1KeyDer::from(vec![0xde, 0xad, 0xbe, 0xef]).into(),
        ),
        ("garbage SEC1", PrivateSec1KeyDer::from(vec![]).into()),
        (
            "Ed25519 PKCS#8",
            PrivatePkcs8KeyDer::from(pki.ed25519_pkcs8.clone()).into(),
        ),
        (
            "RSA-1024 PKCS#1",
            PrivatePkcs1KeyDer::from(pki.rsa1024_pkcs1.clone()).into(),
        ),
        (
            "RSA-1024 PKCS#8",
            PrivatePkcs8KeyDer::from(pki.rsa1024_pkcs8.clone()).into(),
        ),
        (
            "P-384 SEC1",
            PrivateSec1KeyDer::from(pki.p384_sec1.clone()).into(),
        ),
        (
            "P-384 PKCS#8",
            PrivatePkcs8KeyDer::from(pki.p384_pkcs8.clone()).into(),
        ),
        // Right encoding, wrong container.
        (
            "RSA key as SEC1",
            PrivateSec1KeyDer::from(pki.rsa_client.traditional.clone()).into(),
        ),
        (
            "EC key as PKCS#1",
            PrivatePkcs1KeyDer::from(pki.ec_client.traditional.clone()).into(),
        ),
    ];
    for (what, key) in cases {
        match keys.load_private_key(key) {
            Err(Error::General(msg)) => assert!(!msg.is_empty(), "{what}"),
            Err(other) => panic!("{what}: unexpected error kind {other:?}"),
            Ok(_) => panic!("{what}: was accepted"),
        }
    }
}

/// Our signatures, checked by ring's verifiers (and by ours); covers PKCS#1
/// v1.5 signing, which the handshakes don't pick.
#[test]
fn our_signatures_verify_with_ring() {
    let pki = pki();
    let ours = provider::<OsEntropy>();
    let ring = rustls::crypto::ring::default_provider();
    let message = b"CertificateVerify content";
    let cases = [
        (&pki.rsa_client, SignatureScheme::RSA_PKCS1_SHA256),
        (&pki.rsa_client, SignatureScheme::RSA_PSS_SHA256),
        (&pki.ec_client, SignatureScheme::ECDSA_NISTP256_SHA256),
    ];
    for (identity, scheme) in cases {
        let key = ours
            .key_provider
            .load_private_key(identity.traditional_key())
            .unwrap();
        let signer = key.choose_scheme(&[scheme]).unwrap();
        assert_eq!(signer.scheme(), scheme);
        let signature = signer.sign(message).unwrap();
        for provider in [&ring, &ours] {
            let (_, algs) = provider
                .signature_verification_algorithms
                .mapping
                .iter()
                .find(|(s, _)| *s == scheme)
                .unwrap();
            algs[0]
                .verify_signature(&identity.public_key, message, &signature)
                .unwrap();
            let mut bad = signature.clone();
            bad[10] ^= 1;
            assert!(algs[0]
                .verify_signature(&identity.public_key, message, &bad)
                .is_err());
        }
    }
    // Key kinds offer only their own schemes.
    let rsa = ours
        .key_provider
        .load_private_key(pki.rsa_client.pkcs8_key())
        .unwrap();
    assert!(rsa
        .choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
        .is_none());
    assert_eq!(
        rsa.choose_scheme(&[
            SignatureScheme::RSA_PKCS1_SHA256,
            SignatureScheme::RSA_PSS_SHA256
        ])
        .unwrap()
        .scheme(),
        SignatureScheme::RSA_PSS_SHA256
    );
    let ec = ours
        .key_provider
        .load_private_key(pki.ec_client.pkcs8_key())
        .unwrap();
    assert!(ec
        .choose_scheme(&[SignatureScheme::RSA_PSS_SHA256])
        .is_none());
}

#[test]
fn rsa_verification_rejects_small_keys() {
    let pki = pki();
    let ours = provider::<OsEntropy>();
    let (_, algs) = ours
        .signature_verification_algorithms
        .mapping
        .iter()
        .find(|(s, _)| *s == SignatureScheme::RSA_PKCS1_SHA256)
        .unwrap();
    algs[0]
        .verify_signature(
            &pki.rsa_server.public_key,
            &pki.message,
            &pki.rsa2048_openssl_sig,
        )
        .unwrap();
    assert!(algs[0]
        .verify_signature(&pki.rsa1024_public, &pki.message, &pki.rsa1024_openssl_sig)
        .is_err());
}

// ---- entropy ----

#[test]
fn no_entropy_fails_cleanly() {
    match ClientConnection::new(client_config::<NoEntropy>(None, None), server_name()) {
        Err(Error::FailedToGetRandomBytes) => {}
        other => panic!("expected FailedToGetRandomBytes, got {:?}", other.err()),
    }
}

#[test]
fn entropy_loss_during_rsa_signing_fails_cleanly() {
    let pki = pki();
    let id = &pki.rsa_client;
    let config = client_config::<FailingLater>(Some(id.traditional_key()), Some(id));
    // The ClientHello (random, key share) still gets entropy...
    let mut client = ClientConnection::new(config, server_name()).unwrap();
    let mut server = ServerConnection::new(server_config(&pki.rsa_server, &TLS13, true)).unwrap();
    // ...but the CertificateVerify signature (blinding, PSS salt) does not.
    ENTROPY_GONE.store(true, Ordering::SeqCst);
    match handshake(&mut client, &mut server) {
        Err(Failed::Client(Error::FailedToGetRandomBytes)) => {}
        other => panic!("expected a client FailedToGetRandomBytes, got {other:?}"),
    }
}

// ---- the agent's session: tls::client + tls::stream over an in-memory transport ----

use afrcloud::tls::client::{self as tls_client, Identity as ClientIdentity, Params, SetupError};
use afrcloud::tls::stream::{TlsError, TlsStream, Transport, TransportFailed};
use rustls::pki_types::UnixTime;
use rustls::time_provider::TimeProvider;

#[derive(Debug)]
struct Clock(Option<UnixTime>);

impl TimeProvider for Clock {
    fn current_time(&self) -> Option<UnixTime> {
        self.0
    }
}

fn now() -> Arc<dyn TimeProvider> {
    let _ = pki(); // Its certificates are valid from their generation time on.
    Arc::new(Clock(Some(UnixTime::now())))
}

/// PEM text of a DER certificate (what a device passes as pcCertificate).
fn pem(der: &[u8]) -> Vec<u8> {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in der.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n\0"); // AFR passes sizeof( literal ).
    out.into_bytes()
}

/// The broker's side: a rustls server (ring) that echoes application data,
/// reached through `Transport`, handing out at most `chunk` bytes per read.
struct Pipe {
    server: ServerConnection,
    to_client: Vec<u8>,
    chunk: usize,
    /// Deliver nothing (a server that never answers).
    silent: bool,
    received_plain: Vec<u8>,
    /// What the server's rustls made of our bytes when it failed (e.g. our alert).
    server_error: Option<Error>,
    /// Sent by the server with its first flight, then close_notify (TLS 1.3
    /// half-RTT data: needs `send_half_rtt_data` in the server's config).
    half_rtt_then_close: Option<Vec<u8>>,
}

impl Pipe {
    fn new(config: Arc<ServerConfig>, chunk: usize) -> Self {
        Pipe {
            server: ServerConnection::new(config).unwrap(),
            to_client: Vec::new(),
            chunk,
            silent: false,
            received_plain: Vec::new(),
            server_error: None,
            half_rtt_then_close: None,
        }
    }

    fn pump_out(&mut self) {
        while self.server.wants_write() {
            self.server.write_tls(&mut self.to_client).unwrap();
        }
    }
}

impl Transport for Pipe {
    fn send_all(&mut self, data: &[u8]) -> Result<(), TransportFailed> {
        let mut rest = data;
        while !rest.is_empty() {
            self.server.read_tls(&mut rest).map_err(|_| TransportFailed)?;
            if let Err(e) = self.server.process_new_packets() {
                self.server_error = Some(e);
                self.pump_out(); // The alert goes out, then the connection ends.
                return Err(TransportFailed);
            }
        }
        if let Some(data) = self.half_rtt_then_close.take() {
            self.server.writer().write_all(&data).unwrap();
            self.server.send_close_notify();
        }
        let echo = read_all(&mut self.server);
        if !echo.is_empty() {
            self.received_plain.extend_from_slice(&echo);
            self.server.writer().write_all(&echo).unwrap();
        }
        self.pump_out();
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TransportFailed> {
        if self.silent {
            return Ok(0);
        }
        let n = buf.len().min(self.chunk).min(self.to_client.len());
        buf[..n].copy_from_slice(&self.to_client[..n]);
        self.to_client.drain(..n);
        Ok(n)
    }
}

struct Session {
    aws_alpn: bool,
    identity: Option<ClientIdentity>,
    time: Arc<dyn TimeProvider>,
    /// Lower bound for "now" when `time` does not know it.
    floor: Option<UnixTime>,
    rx: usize,
    tx: usize,
    chunk: usize,
}

impl Default for Session {
    fn default() -> Self {
        Session { aws_alpn: false, identity: None, time: now(), floor: None, rx: 16_645, tx: 4096, chunk: usize::MAX }
    }
}

impl Session {
    fn start(self, server_config: Arc<ServerConfig>) -> (TlsStream<Pipe>, Result<(), TlsError>) {
        let ca = pem(&pki().rsa_ca);
        let params = Params {
            host: "iot.example.com",
            is_ip: false,
            aws_alpn: self.aws_alpn,
            trusted_pem: Some(&ca),
            default_roots_pem: None,
            identity: self.identity,
            tx_buffer: self.tx,
            time_floor: self.floor,
        };
        let conn = tls_client::connection::<OsEntropy>(params, self.time).unwrap();
        let mut stream = TlsStream::new(Pipe::new(server_config, self.chunk), conn, self.rx, self.tx).unwrap();
        let mut idle_turns = 0;
        let result = stream.handshake(|idle| {
            idle_turns += usize::from(idle);
            idle_turns < 3
        });
        (stream, result)
    }
}

/// Reads until `want` bytes came (the transport has everything already).
fn read_exactly(stream: &mut TlsStream<Pipe>, want: usize, piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; piece];
    while out.len() < want {
        let n = stream.recv(&mut buf).unwrap();
        assert!(n > 0, "stream ran dry after {} of {want} bytes", out.len());
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(stream.recv(&mut buf).unwrap(), 0, "nothing more is there");
    out
}

#[test]
fn session_echo_with_small_buffers_and_byte_reads() {
    for version in [&TLS13, &TLS12] {
        // A 256-byte send buffer: every message goes out as many records.
        let session = Session { tx: 256, chunk: 7, ..Session::default() };
        let (mut stream, result) = session.start(server_config(&pki().rsa_server, version, false));
        result.unwrap();
        let message: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        stream.send_all(&message).unwrap();
        assert_eq!(read_exactly(&mut stream, message.len(), 1), message);
        stream.send_all(b"second").unwrap();
        assert_eq!(read_exactly(&mut stream, 6, 1024), b"second");
        assert!(stream.failure().is_none());
    }
}

#[test]
fn session_mutual_auth_from_pem_credentials() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    // The client identity as PEM, the way a credential header holds it.
    let id = &pki().ec_client;
    let cert_pem = pem(&id.cert);
    std::fs::write(d.join("k.der"), &id.traditional).unwrap();
    openssl(d, &["ec", "-inform", "DER", "-in", "k.der", "-out", "k.pem"]);
    let key_pem = std::fs::read(d.join("k.pem")).unwrap();
    let identity = ClientIdentity::from_pem(&cert_pem, &key_pem).unwrap();
    let session = Session { identity: Some(identity), ..Session::default() };
    let (mut stream, result) = session.start(server_config(&pki().rsa_server, &TLS13, true));
    result.unwrap();
    stream.send_all(b"hello").unwrap();
    assert_eq!(read_exactly(&mut stream, 5, 64), b"hello");
    assert!(stream.transport().server.peer_certificates().is_some());
}

#[test]
fn session_offers_aws_alpn_and_sends_sni() {
    let mut config = (*server_config(&pki().rsa_server, &TLS13, false)).clone();
    config.alpn_protocols = vec![b"x-amzn-mqtt-ca".to_vec()];
    let session = Session { aws_alpn: true, ..Session::default() };
    let (stream, result) = session.start(Arc::new(config));
    result.unwrap();
    let server = &stream.transport().server;
    assert_eq!(server.alpn_protocol(), Some(&b"x-amzn-mqtt-ca"[..]));
    assert_eq!(server.server_name(), Some("iot.example.com"));
}

#[test]
fn session_record_larger_than_receive_buffer_fails() {
    // The server's certificate flight does not fit 600 bytes.
    let session = Session { rx: 600, ..Session::default() };
    let (stream, result) = session.start(server_config(&pki().rsa_server, &TLS13, false));
    assert_eq!(result, Err(TlsError::RecordTooLarge));
    assert_eq!(stream.failure(), Some(&TlsError::RecordTooLarge));
}

#[test]
fn session_handshake_times_out_when_the_server_is_silent() {
    let ca = pem(&pki().rsa_ca);
    let params = Params { host: "iot.example.com", is_ip: false, aws_alpn: false, trusted_pem: Some(&ca), default_roots_pem: None, identity: None, tx_buffer: 4096, time_floor: None };
    let conn = tls_client::connection::<OsEntropy>(params, now()).unwrap();
    let mut pipe = Pipe::new(server_config(&pki().rsa_server, &TLS13, false), usize::MAX);
    pipe.silent = true;
    let mut stream = TlsStream::new(pipe, conn, 16_645, 4096).unwrap();
    let mut idle_turns = 0;
    assert_eq!(stream.handshake(|idle| { idle_turns += usize::from(idle); idle_turns < 5 }), Err(TlsError::Timeout));
    assert_eq!(idle_turns, 5);
    // The session stays failed.
    assert_eq!(stream.send_all(b"x"), Err(TlsError::Timeout));
}

#[test]
fn session_without_time_refuses_certificates() {
    let session = Session { time: Arc::new(Clock(None)), ..Session::default() };
    let (_, result) = session.start(server_config(&pki().rsa_server, &TLS13, false));
    assert_eq!(result, Err(TlsError::Protocol(Error::FailedToGetCurrentTime)));
}

fn days_from_now(days: i64) -> UnixTime {
    let secs = UnixTime::now().as_secs() as i64 + days * 86_400;
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs as u64))
}

#[test]
fn session_without_time_uses_the_build_time_as_a_lower_bound() {
    // Built a year ago: the certificates (issued now) are newer, and accepted.
    let session = Session { time: Arc::new(Clock(None)), floor: Some(days_from_now(-365)), ..Session::default() };
    let (mut stream, result) = session.start(server_config(&pki().rsa_server, &TLS13, false));
    assert_eq!(result, Ok(()));
    stream.send_all(b"ping").unwrap();
    // Built after they expired (they are valid for 2 days): refused as expired.
    let session = Session { time: Arc::new(Clock(None)), floor: Some(days_from_now(10)), ..Session::default() };
    let (_, result) = session.start(server_config(&pki().rsa_server, &TLS13, false));
    assert!(
        matches!(result, Err(TlsError::Protocol(Error::InvalidCertificate(ref e))) if matches!(e, rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. })),
        "{result:?}"
    );
    // A clock that knows the time wins over the floor.
    let session = Session { time: now(), floor: Some(days_from_now(10)), ..Session::default() };
    let (_, result) = session.start(server_config(&pki().rsa_server, &TLS13, false));
    assert_eq!(result, Ok(()));
}

#[test]
fn not_before_is_read_from_real_certificates() {
    for der in [&pki().rsa_server.cert, &pki().rsa_ca] {
        let nb = afrcloud::tls::validity::not_before(der).expect("a notBefore");
        let now = UnixTime::now().as_secs();
        assert!(nb <= now && now - nb < 3 * 86_400, "notBefore {nb}, now {now}");
    }
}

#[test]
fn session_with_a_clock_past_expiry_refuses_the_certificate() {
    // The test certificates are valid for 2 days: ten days on, they have expired.
    let later = UnixTime::since_unix_epoch(UnixTime::now().as_secs().checked_add(10 * 86_400).map(std::time::Duration::from_secs).unwrap());
    let session = Session { time: Arc::new(Clock(Some(later))), ..Session::default() };
    let (_, result) = session.start(server_config(&pki().rsa_server, &TLS13, false));
    assert!(
        matches!(result, Err(TlsError::Protocol(Error::InvalidCertificate(ref e))) if matches!(e, rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. })),
        "{result:?}"
    );
}

#[test]
fn session_peer_close_is_reported() {
    let (mut stream, result) = Session::default().start(server_config(&pki().rsa_server, &TLS13, false));
    result.unwrap();
    let pipe = stream.transport_mut();
    pipe.server.send_close_notify();
    pipe.pump_out();
    let mut buf = [0u8; 16];
    assert_eq!(stream.recv(&mut buf), Err(TlsError::Closed));
}

#[test]
fn client_parameters_are_checked() {
    let ca = pem(&pki().rsa_ca);
    let base = || Params { host: "iot.example.com", is_ip: false, aws_alpn: false, trusted_pem: None, default_roots_pem: None, identity: None, tx_buffer: 4096, time_floor: None };
    let setup = |p| tls_client::connection::<OsEntropy>(p, now()).map(|_| ());
    assert_eq!(setup(Params { trusted_pem: Some(b"no PEM here\0"), ..base() }), Err(SetupError::BadTrustedCertificate));
    assert_eq!(
        setup(Params { trusted_pem: Some(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"), ..base() }),
        Err(SetupError::BadTrustedCertificate)
    );
    assert_eq!(setup(Params { host: "not a host name", trusted_pem: Some(&ca), ..base() }), Err(SetupError::BadServerName));
    assert!(setup(Params { trusted_pem: Some(&ca), ..base() }).is_ok());
    // No pcCertificate: the built-in roots (Amazon's, or Mozilla's with webpki-roots).
    assert!(setup(base()).is_ok());
    assert!(ClientIdentity::from_pem(b"Paste client certificate here.\0", b"x").is_err());
    assert!(ClientIdentity::from_pem(&ca, b"Paste client private key here.").is_err());
}

#[test]
fn session_deadline_holds_against_a_dripping_server() {
    // One byte per read: the deadline is still checked on every turn.
    let session = Session { chunk: 1, ..Session::default() };
    let ca = pem(&pki().rsa_ca);
    let params = Params { host: "iot.example.com", is_ip: false, aws_alpn: false, trusted_pem: Some(&ca), default_roots_pem: None, identity: None, tx_buffer: 4096, time_floor: None };
    let conn = tls_client::connection::<OsEntropy>(params, session.time).unwrap();
    let mut stream = TlsStream::new(Pipe::new(server_config(&pki().rsa_server, &TLS13, false), 1), conn, 16_645, 4096).unwrap();
    let mut turns = 0;
    assert_eq!(stream.handshake(|_| { turns += 1; turns < 50 }), Err(TlsError::Timeout));
}

#[test]
fn session_survives_a_key_update_before_a_large_send() {
    let (mut stream, result) = Session::default().start(server_config(&pki().rsa_server, &TLS13, false));
    result.unwrap();
    // The server updates its keys and asks for ours (rustls: update_requested).
    let pipe = stream.transport_mut();
    pipe.server.refresh_traffic_keys().unwrap();
    pipe.pump_out();
    let mut buf = [0u8; 8];
    assert_eq!(stream.recv(&mut buf).unwrap(), 0);
    // A send that fills whole records, with our KeyUpdate reply before it.
    let message: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    stream.send_all(&message).unwrap();
    assert_eq!(read_exactly(&mut stream, message.len(), 4096), message);
}

#[test]
fn session_delivers_data_that_came_before_close_notify() {
    let (mut stream, result) = Session::default().start(server_config(&pki().rsa_server, &TLS13, false));
    result.unwrap();
    let pipe = stream.transport_mut();
    pipe.server.writer().write_all(b"last words").unwrap();
    pipe.server.send_close_notify();
    pipe.pump_out();
    let mut buf = [0u8; 64];
    let n = stream.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"last words");
    assert_eq!(stream.recv(&mut buf), Err(TlsError::Closed));
}

#[test]
fn data_and_close_with_the_last_handshake_flight_are_delivered_in_order() {
    // The server's whole answer in one read: its flight, half-RTT data, close_notify.
    let mut config = (*server_config(&pki().rsa_server, &TLS13, false)).clone();
    config.send_half_rtt_data = true;
    let ca = pem(&pki().rsa_ca);
    let params = Params {
        host: "iot.example.com",
        is_ip: false,
        aws_alpn: false,
        trusted_pem: Some(&ca),
        default_roots_pem: None,
        identity: None,
        tx_buffer: 4096,
        time_floor: None,
    };
    let conn = tls_client::connection::<OsEntropy>(params, now()).unwrap();
    let mut pipe = Pipe::new(Arc::new(config), usize::MAX);
    pipe.half_rtt_then_close = Some(b"early words".to_vec());
    let mut stream = TlsStream::new(pipe, conn, 16_645, 4096).unwrap();
    assert_eq!(stream.handshake(|_| true), Ok(()), "the handshake finished; the close comes after the data");
    let mut buf = [0u8; 64];
    let n = stream.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"early words");
    assert_eq!(stream.recv(&mut buf), Err(TlsError::Closed));
}

#[test]
fn session_close_notify_reaches_the_peer() {
    let (mut stream, result) = Session::default().start(server_config(&pki().rsa_server, &TLS13, false));
    result.unwrap();
    let mut buf = [0u8; 8];
    // Before: the server has no end of stream.
    assert!(stream.transport_mut().server.reader().read(&mut buf).is_err());
    stream.close_notify();
    assert_eq!(stream.transport_mut().server.reader().read(&mut buf).unwrap(), 0);
}

#[test]
fn session_tells_the_server_why_it_gave_up() {
    // The server's certificate is not from a CA we trust: we send the alert.
    let (stream, result) = Session::default().start(server_config(&pki().rogue_server, &TLS13, false));
    assert!(matches!(result, Err(TlsError::Protocol(Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)))), "{result:?}");
    assert_eq!(
        stream.transport().server_error,
        Some(Error::AlertReceived(rustls::AlertDescription::UnknownCA))
    );
}

/// A handshake against the RSA server with these trust settings.
fn handshake_trusting(trusted: Option<&[u8]>, default_roots: Option<&[u8]>) -> Result<(), TlsError> {
    let params = Params {
        host: "iot.example.com",
        is_ip: false,
        aws_alpn: false,
        trusted_pem: trusted,
        default_roots_pem: default_roots,
        identity: None,
        tx_buffer: 4096,
        time_floor: None,
    };
    let conn = tls_client::connection::<OsEntropy>(params, now()).unwrap();
    let mut stream = TlsStream::new(Pipe::new(server_config(&pki().rsa_server, &TLS13, false), usize::MAX), conn, 16_645, 4096).unwrap();
    stream.handshake(|_| true)
}

fn is_unknown_issuer(r: &Result<(), TlsError>) -> bool {
    matches!(r, Err(TlsError::Protocol(Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer))))
}

#[test]
fn the_projects_default_roots_replace_the_built_in_ones() {
    let ca = pem(&pki().rsa_ca);
    let other = pem(&pki().ec_ca);
    // pcCertificate NULL: the project's roots (a private broker's CA) are trusted.
    assert_eq!(handshake_trusting(None, Some(&ca)), Ok(()));
    // Built-in roots only (Amazon's, or Mozilla's with webpki-roots): not our test CA.
    assert!(is_unknown_issuer(&handshake_trusting(None, None)));
    // pcCertificate wins over the default roots.
    assert!(is_unknown_issuer(&handshake_trusting(Some(&other), Some(&ca))));
    assert_eq!(handshake_trusting(Some(&ca), Some(&other)), Ok(()));
}

#[test]
fn amazon_roots_are_the_pem_files_trust_anchors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tls/roots");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    let table = afrcloud::tls::amazon_roots::AMAZON_ROOTS;
    assert_eq!(names.len(), 6);
    assert_eq!(table.len(), names.len());
    for (name, anchor) in names.iter().zip(table) {
        let text = std::fs::read(dir.join(name)).unwrap();
        let der = rustls::pki_types::pem::PemObject::pem_slice_iter(&text).next().map(|c: Result<CertificateDer<'static>, _>| c.unwrap()).unwrap();
        let mut store = RootCertStore::empty();
        store.add(der).unwrap();
        let want = &store.roots[0];
        assert_eq!(want.subject.as_ref(), anchor.subject.as_ref(), "{name:?}: subject");
        assert_eq!(want.subject_public_key_info.as_ref(), anchor.subject_public_key_info.as_ref(), "{name:?}: key");
    }
}

/// A device key held by the test, signing digests as a PKCS#11 token or the
/// project's signing hook would: the library never sees it.
#[derive(Debug)]
struct TestExternalKey {
    ec: Option<p256::ecdsa::SigningKey>,
    rsa: Option<rsa::RsaPrivateKey>,
    signed: std::sync::atomic::AtomicUsize,
}

impl afrcloud::tls::external_key::ExternalKey for TestExternalKey {
    fn kind(&self) -> afrcloud::tls::external_key::KeyKind {
        use afrcloud::tls::external_key::KeyKind;
        if self.ec.is_some() { KeyKind::EcP256 } else { KeyKind::Rsa }
    }

    fn sign_digest(&self, scheme: rustls::SignatureScheme, digest: &[u8; 32]) -> Option<Vec<u8>> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        self.signed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match (&self.ec, &self.rsa, scheme) {
            (Some(k), _, rustls::SignatureScheme::ECDSA_NISTP256_SHA256) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(digest).ok()?;
                // As a token gives it (raw r || s), turned into TLS's DER by the library's helper.
                afrcloud::tls::external_key::ecdsa_raw_to_der(&sig.to_bytes())
            }
            (_, Some(k), rustls::SignatureScheme::RSA_PSS_SHA256) => {
                k.sign_with_rng(&mut UrandomRng, rsa::Pss::new::<sha2::Sha256>(), digest).ok()
            }
            (_, Some(k), rustls::SignatureScheme::RSA_PKCS1_SHA256) => k.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), digest).ok(),
            _ => None,
        }
    }
}

/// /dev/urandom as a `rand_core` RNG (for the test's own RSA-PSS salt).
struct UrandomRng;

impl rand_core::RngCore for UrandomRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(OsEntropy::fill(dest));
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for UrandomRng {}

#[test]
fn external_keys_sign_the_handshake() {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    for (id, version) in [(&pki().ec_client, &TLS13), (&pki().ec_client, &TLS12), (&pki().rsa_client, &TLS13), (&pki().rsa_client, &TLS12)] {
        let key = if id.is_rsa() {
            TestExternalKey { ec: None, rsa: Some(rsa::RsaPrivateKey::from_pkcs1_der(&id.traditional).unwrap()), signed: 0.into() }
        } else {
            use p256::pkcs8::DecodePrivateKey;
            TestExternalKey { ec: Some(p256::ecdsa::SigningKey::from_pkcs8_der(&id.pkcs8).unwrap()), rsa: None, signed: 0.into() }
        };
        let key = Arc::new(key);
        let identity = ClientIdentity::with_external_key(&pem(&id.cert), key.clone()).unwrap();
        let session = Session { identity: Some(identity), ..Session::default() };
        let (mut stream, result) = session.start(server_config(&pki().rsa_server, version, true));
        assert_eq!(result, Ok(()), "{:?} {:?}", version.version, id.is_rsa());
        stream.send_all(b"signed elsewhere").unwrap();
        assert_eq!(key.signed.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
    assert_eq!(afrcloud::tls::external_key::kind_of_certificate(&pki().ec_client.cert), Some(afrcloud::tls::external_key::KeyKind::EcP256));
    assert_eq!(afrcloud::tls::external_key::kind_of_certificate(&pki().rsa_client.cert), Some(afrcloud::tls::external_key::KeyKind::Rsa));
}

#[test]
#[cfg(feature = "sha384")]
fn p384_and_sha384_chains_verify() {
    for version in [&TLS13, &TLS12] {
        for (ca, server) in [(&pki().p384_ca, &pki().p384_server), (&pki().rsa_ca, &pki().rsa_sha384_server)] {
            let trusted = pem(ca);
            let params = Params { host: "iot.example.com", is_ip: false, aws_alpn: false, trusted_pem: Some(&trusted), default_roots_pem: None, identity: None, tx_buffer: 4096, time_floor: None };
            let conn = tls_client::connection::<OsEntropy>(params, now()).unwrap();
            let mut stream = TlsStream::new(Pipe::new(server_config(server, version, false), usize::MAX), conn, 16_645, 4096).unwrap();
            stream.handshake(|_| true).unwrap();
            stream.send_all(b"ping").unwrap();
        }
    }
}

#[test]
fn session_trusts_any_of_several_pem_certificates() {
    // pcCertificate may hold several certificates: the EC CA first, then ours.
    let mut several = pem(&pki().ec_ca);
    several.pop(); // The NUL a C string literal ends with sits only at the very end.
    several.extend_from_slice(&pem(&pki().rsa_ca));
    let params = Params { host: "iot.example.com", is_ip: false, aws_alpn: false, trusted_pem: Some(&several), default_roots_pem: None, identity: None, tx_buffer: 4096, time_floor: None };
    let conn = tls_client::connection::<OsEntropy>(params, now()).unwrap();
    let mut stream = TlsStream::new(Pipe::new(server_config(&pki().rsa_server, &TLS13, false), usize::MAX), conn, 16_645, 4096).unwrap();
    stream.handshake(|_| true).unwrap();
}
