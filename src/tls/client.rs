//! Builds the rustls client for one connection from what the application gave:
//! the server's name, trust (`pcCertificate` or the built-in roots), the
//! device's certificate and key, ALPN.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use rustls::client::{Resumption, UnbufferedClientConnection, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, RootCertStore};

use super::provider::{self, Entropy};
use super::stream::max_fragment_size;
use super::external_key::{ExternalKey, ExternalSigningKey};
use super::validity::{Clock, ClockedVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};

/// The ALPN protocol AWS IoT expects for MQTT on port 443.
pub const AWS_IOT_ALPN: &[u8] = b"x-amzn-mqtt-ca";

/// Why no TLS client could be made.
#[derive(Debug, Clone, PartialEq)]
pub enum SetupError {
    /// `pcCertificate` holds no PEM certificate, or one that does not parse.
    BadTrustedCertificate,
    /// No `pcCertificate`, and this build has no built-in roots (feature `webpki-roots`).
    NoTrustAnchors,
    /// The host name is not a valid DNS name (or IP address with `mqttagentURL_IS_IP_ADDRESS`).
    BadServerName,
    /// The client certificate or key is not PEM, or the key is of a kind we cannot use.
    BadClientCredentials,
    /// rustls refused the configuration.
    Tls(rustls::Error),
}

/// The device's certificate chain and private key (client authentication).
#[derive(Debug)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: Key,
}

/// The device key: its DER (from PEM), or one the library never sees.
#[derive(Debug)]
enum Key {
    Der(PrivateKeyDer<'static>),
    External(Arc<dyn ExternalKey>),
}

fn chain_from_pem(cert_pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, SetupError> {
    let chain = CertificateDer::pem_slice_iter(trim_nul(cert_pem))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| SetupError::BadClientCredentials)?;
    if chain.is_empty() {
        return Err(SetupError::BadClientCredentials);
    }
    Ok(chain)
}

/// Drops the NUL terminators C strings (and `sizeof` of a string literal) carry.
fn trim_nul(pem: &[u8]) -> &[u8] {
    let end = pem.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    &pem[..end]
}

impl Identity {
    /// Parses a PEM certificate (chain) and a PEM private key: PKCS#1 or PKCS#8
    /// RSA, SEC1 or PKCS#8 P-256. The key's kind is checked when a connection
    /// uses it.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, SetupError> {
        let chain = chain_from_pem(cert_pem)?;
        // Our own decoder: rustls's PEM reader leaves the key's base64 in freed heap.
        let key = super::pem_key::private_key(trim_nul(key_pem)).ok_or(SetupError::BadClientCredentials)?;
        Ok(Identity { chain, key: Key::Der(key) })
    }

    /// A PEM certificate (chain) whose key signs outside the library
    /// (PKCS#11, the project's signing hook).
    pub fn with_external_key(cert_pem: &[u8], key: Arc<dyn ExternalKey>) -> Result<Self, SetupError> {
        Ok(Identity { chain: chain_from_pem(cert_pem)?, key: Key::External(key) })
    }

    /// The same, with the certificate as DER (e.g. read from a PKCS#11 token).
    pub fn with_external_key_der(cert_der: Vec<u8>, key: Arc<dyn ExternalKey>) -> Self {
        Identity { chain: vec![CertificateDer::from(cert_der)], key: Key::External(key) }
    }

    /// The leaf certificate's DER.
    pub fn certificate(&self) -> &[u8] {
        self.chain.first().map_or(&[], |c| c.as_ref())
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        let key = match &self.key {
            Key::Der(k) => Key::Der(k.clone_key()),
            Key::External(k) => Key::External(k.clone()),
        };
        Identity { chain: self.chain.clone(), key }
    }
}

impl Identity {
    /// The certificate chain and key, leaving an empty identity behind.
    fn take(&mut self) -> (Vec<CertificateDer<'static>>, Key) {
        let empty = Key::Der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(Vec::new())));
        (core::mem::take(&mut self.chain), core::mem::replace(&mut self.key, empty))
    }
}

/// A device key is wiped before its memory goes back to the heap.
impl Drop for Identity {
    fn drop(&mut self) {
        if let Key::Der(key) = &mut self.key {
            zeroize::Zeroize::zeroize(key);
        }
    }
}

/// One connection's TLS parameters.
pub struct Params<'a> {
    /// The broker's host name, or its IPv4 address with `is_ip`.
    pub host: &'a str,
    pub is_ip: bool,
    /// Offer ALPN `x-amzn-mqtt-ca` (AWS IoT on port 443).
    pub aws_alpn: bool,
    /// `pcCertificate`: PEM trust anchors replacing the default roots.
    pub trusted_pem: Option<&'a [u8]>,
    /// The project's default roots (`mqttconfigTLS_DEFAULT_ROOTS_PEM`), when
    /// it names some: they replace the built-in ones.
    pub default_roots_pem: Option<&'a [u8]>,
    /// Client authentication, when the device has an identity.
    pub identity: Option<Identity>,
    /// `mqttconfigTLS_TX_BUFFER_SIZE`.
    pub tx_buffer: usize,
    /// When the clock does not know the time: the lower bound for "now"
    /// (the library's build time), or `None` to refuse (see [`validity`](super::validity)).
    pub time_floor: Option<UnixTime>,
}

/// What a connect trusts: `pcCertificate`; else the project's default roots;
/// else the built-in ones: Mozilla's set with feature `webpki-roots`, else
/// the roots AFR v1.4.7 trusted ([`AMAZON_ROOTS`](super::amazon_roots::AMAZON_ROOTS)).
fn trust_anchors(trusted_pem: Option<&[u8]>, default_roots_pem: Option<&[u8]>) -> Result<RootCertStore, SetupError> {
    let mut roots = RootCertStore::empty();
    match trusted_pem.or(default_roots_pem) {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(trim_nul(pem)) {
                let cert = cert.map_err(|_| SetupError::BadTrustedCertificate)?;
                roots.add(cert).map_err(|_| SetupError::BadTrustedCertificate)?;
            }
            if roots.is_empty() {
                return Err(SetupError::BadTrustedCertificate);
            }
        }
        None => {
            #[cfg(feature = "webpki-roots")]
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            #[cfg(not(feature = "webpki-roots"))]
            roots.extend(super::amazon_roots::AMAZON_ROOTS.iter().cloned());
        }
    }
    Ok(roots)
}

/// A rustls client for one connection, ready to start its handshake.
pub fn connection<E: Entropy>(
    params: Params<'_>,
    time: Arc<dyn TimeProvider>,
) -> Result<UnbufferedClientConnection, SetupError> {
    let roots = trust_anchors(params.trusted_pem, params.default_roots_pem)?;
    let name = ServerName::try_from(String::from(params.host)).map_err(|_| SetupError::BadServerName)?;
    let provider = Arc::new(provider::provider::<E>());
    let clock = Clock { hook: time, floor: params.time_floor };
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|_| SetupError::NoTrustAnchors)?;
    let builder = ClientConfig::builder_with_details(provider, Arc::new(clock.clone()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(SetupError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ClockedVerifier { inner, clock }));
    let mut config = match params.identity {
        Some(mut id) => match id.take() {
            // The provider wipes the key's DER once it has parsed it.
            (chain, Key::Der(key)) => builder.with_client_auth_cert(chain, key).map_err(|_| SetupError::BadClientCredentials)?,
            (chain, Key::External(key)) => {
                let certified = CertifiedKey::new(chain, Arc::new(ExternalSigningKey(key)));
                builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
            }
        },
        None => builder.with_no_client_auth(),
    };
    config.resumption = Resumption::disabled(); // No session cache kept in RAM.
    config.max_fragment_size = Some(max_fragment_size(params.tx_buffer));
    // An address is verified against the certificate's IP names and never sent as SNI.
    config.enable_sni = !params.is_ip && !matches!(name, ServerName::IpAddress(_));
    if params.aws_alpn {
        config.alpn_protocols = vec![AWS_IOT_ALPN.to_vec()];
    }
    UnbufferedClientConnection::new(Arc::new(config), name).map_err(SetupError::Tls)
}
