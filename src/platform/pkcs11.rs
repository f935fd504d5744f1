//! The project's PKCS#11 module, as AFR's `aws_tls.c` used it
//! (`mqttconfigTLS_PKCS11` 1): the device's TLS key is found by its label
//! (`mqttconfigTLS_PKCS11_KEY_LABEL`, AFR's "Device Priv TLS Key") and signs
//! through `C_Sign`, so it never leaves the token (a secure element, the
//! project's PKCS#11 storage); `C_GenerateRandom` supplies randomness when the
//! project names no random hook; the certificate comes from the credential
//! header or, without one there, from the token ("Device Cert").
//!
//! The module is called by its `C_*` symbols, linked from the project. Only
//! the agent task calls in (TLS connects run there), one session at a time.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::ffi::{c_ulong, c_void};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustls::SignatureScheme;

use crate::config::mqtt;
use crate::platform::log::debug;
use crate::tls::external_key::{ecdsa_raw_to_der, ExternalKey, KeyKind, SHA256_DIGEST_INFO};

#[allow(non_camel_case_types)]
type CK_ULONG = c_ulong;

#[repr(C)]
struct Attribute {
    kind: CK_ULONG,
    value: *mut c_void,
    len: CK_ULONG,
}

#[repr(C)]
struct Mechanism {
    mechanism: CK_ULONG,
    parameter: *mut c_void,
    len: CK_ULONG,
}

#[repr(C)]
struct PssParams {
    hash: CK_ULONG,
    mgf: CK_ULONG,
    salt_len: CK_ULONG,
}

extern "C" {
    fn C_Initialize(pInitArgs: *mut c_void) -> CK_ULONG;
    fn C_GetSlotList(tokenPresent: u8, pSlotList: *mut CK_ULONG, pulCount: *mut CK_ULONG) -> CK_ULONG;
    fn C_OpenSession(slot: CK_ULONG, flags: CK_ULONG, app: *mut c_void, notify: *mut c_void, session: *mut CK_ULONG) -> CK_ULONG;
    fn C_Login(session: CK_ULONG, user: CK_ULONG, pin: *const u8, len: CK_ULONG) -> CK_ULONG;
    fn C_FindObjectsInit(session: CK_ULONG, template: *const Attribute, count: CK_ULONG) -> CK_ULONG;
    fn C_FindObjects(session: CK_ULONG, objects: *mut CK_ULONG, max: CK_ULONG, count: *mut CK_ULONG) -> CK_ULONG;
    fn C_FindObjectsFinal(session: CK_ULONG) -> CK_ULONG;
    fn C_GetAttributeValue(session: CK_ULONG, object: CK_ULONG, template: *mut Attribute, count: CK_ULONG) -> CK_ULONG;
    fn C_SignInit(session: CK_ULONG, mechanism: *const Mechanism, key: CK_ULONG) -> CK_ULONG;
    fn C_Sign(session: CK_ULONG, data: *const u8, len: CK_ULONG, signature: *mut u8, sig_len: *mut CK_ULONG) -> CK_ULONG;
    fn C_GenerateRandom(session: CK_ULONG, out: *mut u8, len: CK_ULONG) -> CK_ULONG;
}

const CKR_OK: CK_ULONG = 0;
const CKR_CRYPTOKI_ALREADY_INITIALIZED: CK_ULONG = 0x191;
const CKR_USER_ALREADY_LOGGED_IN: CK_ULONG = 0x100;
const CKF_SERIAL_SESSION: CK_ULONG = 0x4;
const CKU_USER: CK_ULONG = 1;
const CKA_CLASS: CK_ULONG = 0x0;
const CKA_LABEL: CK_ULONG = 0x3;
const CKA_VALUE: CK_ULONG = 0x11;
const CKA_KEY_TYPE: CK_ULONG = 0x100;
const CKO_CERTIFICATE: CK_ULONG = 1;
const CKO_PRIVATE_KEY: CK_ULONG = 3;
const CKK_RSA: CK_ULONG = 0;
const CKK_EC: CK_ULONG = 3;
const CKM_RSA_PKCS: CK_ULONG = 0x1;
const CKM_RSA_PKCS_PSS: CK_ULONG = 0xd;
const CKM_ECDSA: CK_ULONG = 0x1041;
const CKM_SHA256: CK_ULONG = 0x250;
const CKG_MGF1_SHA256: CK_ULONG = 0x2;

/// The session the agent task works in (0: none yet).
static SESSION: AtomicUsize = AtomicUsize::new(0);
static BUSY: AtomicBool = AtomicBool::new(false);

/// Runs `f` with the session, opening it (and logging in with
/// `mqttconfigTLS_PKCS11_PIN` when one is set) at first use.
fn with_session<T>(f: impl FnOnce(CK_ULONG) -> Option<T>) -> Option<T> {
    // Only the agent task calls in; this guards against a second caller all the same.
    if BUSY.swap(true, Ordering::Acquire) {
        return None;
    }
    let session = match SESSION.load(Ordering::Relaxed) {
        0 => open(),
        s => Some(s as CK_ULONG),
    };
    let result = session.and_then(|s| {
        SESSION.store(s as usize, Ordering::Relaxed);
        f(s)
    });
    BUSY.store(false, Ordering::Release);
    result
}

/// A session on the first slot with a token that holds the device key.
fn open() -> Option<CK_ULONG> {
    // SAFETY (all calls below): PKCS#11 functions of the project's module,
    // with pointers to live locals and their true lengths.
    let rv = unsafe { C_Initialize(core::ptr::null_mut()) };
    if rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED {
        debug(format_args!("PKCS#11: C_Initialize failed (0x{rv:x})"));
        return None;
    }
    let mut count: CK_ULONG = 0;
    if unsafe { C_GetSlotList(1, core::ptr::null_mut(), &mut count) } != CKR_OK || count == 0 {
        debug(format_args!("PKCS#11: no slot with a token"));
        return None;
    }
    let mut slots = vec![0 as CK_ULONG; count as usize];
    if unsafe { C_GetSlotList(1, slots.as_mut_ptr(), &mut count) } != CKR_OK {
        return None;
    }
    let pin = mqtt::TLS_PKCS11_PIN.as_bytes();
    for slot in slots.iter().take(count as usize) {
        let mut session: CK_ULONG = 0;
        let flags = CKF_SERIAL_SESSION;
        if unsafe { C_OpenSession(*slot, flags, core::ptr::null_mut(), core::ptr::null_mut(), &mut session) } != CKR_OK {
            continue;
        }
        if !pin.is_empty() {
            let rv = unsafe { C_Login(session, CKU_USER, pin.as_ptr(), pin.len() as CK_ULONG) };
            if rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN {
                continue;
            }
        }
        if find(session, CKO_PRIVATE_KEY, mqtt::TLS_PKCS11_KEY_LABEL).is_some() {
            return Some(session);
        }
    }
    debug(format_args!("PKCS#11: no token holds the key labelled {:?}", mqtt::TLS_PKCS11_KEY_LABEL));
    None
}

/// The object of `class` with `label` (as AFR's PAL stored it, with or without its NUL).
fn find(session: CK_ULONG, class: CK_ULONG, label: &str) -> Option<CK_ULONG> {
    let mut with_nul: Vec<u8> = Vec::with_capacity(label.len() + 1);
    with_nul.extend_from_slice(label.as_bytes());
    with_nul.push(0);
    for len in [label.len(), label.len() + 1] {
        let mut class = class;
        let template = [
            Attribute { kind: CKA_CLASS, value: &mut class as *mut CK_ULONG as *mut c_void, len: core::mem::size_of::<CK_ULONG>() as CK_ULONG },
            Attribute { kind: CKA_LABEL, value: with_nul.as_mut_ptr() as *mut c_void, len: len as CK_ULONG },
        ];
        let (mut object, mut found): (CK_ULONG, CK_ULONG) = (0, 0);
        // SAFETY: a template of two attributes over live locals; one handle out.
        unsafe {
            if C_FindObjectsInit(session, template.as_ptr(), 2) != CKR_OK {
                return None;
            }
            let rv = C_FindObjects(session, &mut object, 1, &mut found);
            C_FindObjectsFinal(session);
            if rv == CKR_OK && found == 1 {
                return Some(object);
            }
        }
    }
    None
}

/// An attribute's value (two calls: its length, then the bytes).
fn attribute(session: CK_ULONG, object: CK_ULONG, kind: CK_ULONG) -> Option<Vec<u8>> {
    let mut a = Attribute { kind, value: core::ptr::null_mut(), len: 0 };
    // SAFETY: first call with no buffer asks for the length; the second gets a buffer of it.
    unsafe {
        if C_GetAttributeValue(session, object, &mut a, 1) != CKR_OK || a.len as usize > 64 * 1024 {
            return None;
        }
        let mut out = vec![0u8; a.len as usize];
        a.value = out.as_mut_ptr() as *mut c_void;
        (C_GetAttributeValue(session, object, &mut a, 1) == CKR_OK).then(|| {
            out.truncate(a.len as usize);
            out
        })
    }
}

/// Random bytes from the token; false when it has none to give.
pub fn random(dest: &mut [u8]) -> bool {
    // SAFETY: the module writes `dest.len()` bytes into `dest`.
    with_session(|s| (unsafe { C_GenerateRandom(s, dest.as_mut_ptr(), dest.len() as CK_ULONG) } == CKR_OK).then_some(()))
        .is_some()
}

/// The device's TLS key in the token.
#[derive(Debug)]
pub struct TokenKey {
    kind: KeyKind,
}

impl TokenKey {
    /// The key, when a token holds one of a kind we can use.
    pub fn find() -> Option<Arc<Self>> {
        let kind = with_session(|s| {
            let key = find(s, CKO_PRIVATE_KEY, mqtt::TLS_PKCS11_KEY_LABEL)?;
            let raw = attribute(s, key, CKA_KEY_TYPE)?;
            let mut bytes = [0u8; core::mem::size_of::<CK_ULONG>()];
            bytes.copy_from_slice(raw.get(..core::mem::size_of::<CK_ULONG>())?);
            match CK_ULONG::from_ne_bytes(bytes) {
                CKK_RSA => Some(KeyKind::Rsa),
                CKK_EC => Some(KeyKind::EcP256), // P-256: the only curve the TLS side offers.
                _ => None,
            }
        })?;
        Some(Arc::new(TokenKey { kind }))
    }

    /// The device certificate stored in the token ("Device Cert"), DER.
    pub fn certificate() -> Option<Vec<u8>> {
        with_session(|s| {
            let cert = find(s, CKO_CERTIFICATE, mqtt::TLS_PKCS11_CERT_LABEL)?;
            attribute(s, cert, CKA_VALUE)
        })
    }
}

impl ExternalKey for TokenKey {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn sign_digest(&self, scheme: SignatureScheme, digest: &[u8; 32]) -> Option<Vec<u8>> {
        let mut pss = PssParams { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, salt_len: 32 };
        let mut pkcs1 = [0u8; SHA256_DIGEST_INFO.len() + 32];
        let (mechanism, data): (Mechanism, &[u8]) = match scheme {
            SignatureScheme::ECDSA_NISTP256_SHA256 => (Mechanism { mechanism: CKM_ECDSA, parameter: core::ptr::null_mut(), len: 0 }, digest),
            SignatureScheme::RSA_PSS_SHA256 => (
                Mechanism {
                    mechanism: CKM_RSA_PKCS_PSS,
                    parameter: &mut pss as *mut PssParams as *mut c_void,
                    len: core::mem::size_of::<PssParams>() as CK_ULONG,
                },
                digest,
            ),
            SignatureScheme::RSA_PKCS1_SHA256 => {
                pkcs1[..SHA256_DIGEST_INFO.len()].copy_from_slice(&SHA256_DIGEST_INFO);
                pkcs1[SHA256_DIGEST_INFO.len()..].copy_from_slice(digest);
                (Mechanism { mechanism: CKM_RSA_PKCS, parameter: core::ptr::null_mut(), len: 0 }, &pkcs1)
            }
            _ => return None,
        };
        let raw = with_session(|s| {
            let key = find(s, CKO_PRIVATE_KEY, mqtt::TLS_PKCS11_KEY_LABEL)?;
            let mut signature = vec![0u8; 1024]; // RSA-8192 at most.
            let mut len = signature.len() as CK_ULONG;
            // SAFETY: mechanism and data live through both calls; the module
            // writes at most `len` bytes and says how many.
            let rv = unsafe {
                match C_SignInit(s, &mechanism, key) {
                    CKR_OK => C_Sign(s, data.as_ptr(), data.len() as CK_ULONG, signature.as_mut_ptr(), &mut len),
                    rv => rv,
                }
            };
            if rv != CKR_OK {
                debug(format_args!("PKCS#11: C_Sign failed (0x{rv:x})"));
                return None;
            }
            signature.truncate(len as usize);
            Some(signature)
        })?;
        match self.kind {
            KeyKind::EcP256 => ecdsa_raw_to_der(&raw),
            KeyKind::Rsa => Some(raw),
        }
    }
}
