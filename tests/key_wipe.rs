//! The device's private key leaves no copy in freed heap: every block the
//! allocator gets back while a client identity is parsed and dropped is
//! searched for pieces of the key, in base64 (the PEM text) and in DER.
#![cfg(feature = "tls")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use afrcloud::tls::client::Identity;

const NEEDLE: usize = 24;

/// Searches every freed block for two needles while armed.
struct Watch;

static ARMED: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);
// Written only while disarmed; read in dealloc while armed.
static mut NEEDLES: [[u8; NEEDLE]; 2] = [[0; NEEDLE]; 2];

unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::SeqCst) {
            // SAFETY: the block is still ours until System.dealloc below.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            // SAFETY: NEEDLES is not written while ARMED.
            let needles = unsafe { &*std::ptr::addr_of!(NEEDLES) };
            if needles.iter().any(|n| block.windows(NEEDLE).any(|w| w == n)) {
                FOUND.fetch_add(1, Ordering::SeqCst);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

/// One test at a time: the watch is global.
static SERIAL: Mutex<()> = Mutex::new(());

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Key PEM (in the asked form), certificate PEM and the key's DER.
fn material(alg: &[&str], form: &[&str]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("afr-key-wipe-{}-{}", std::process::id(), alg.join("-")));
    std::fs::create_dir_all(&dir).unwrap();
    let mut gen = vec!["genpkey", "-out", "k.pem"];
    gen.extend_from_slice(alg);
    openssl(&dir, &gen);
    let mut conv = vec!["pkey", "-in", "k.pem", "-out", "key.pem"];
    conv.extend_from_slice(form);
    openssl(&dir, &conv);
    openssl(&dir, &["req", "-x509", "-new", "-key", "k.pem", "-subj", "/CN=wipe", "-days", "1", "-out", "cert.pem"]);
    let mut der = vec!["pkey", "-in", "key.pem", "-outform", "DER", "-out", "key.der"];
    der.extend_from_slice(form);
    openssl(&dir, &der);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let r = (read("key.pem"), read("cert.pem"), read("key.der"));
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn no_copy_left(alg: &[&str], form: &[&str], sec1: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (key_pem, cert_pem, key_der) = material(alg, form);
    // Needles from the secret part of the base64 body and of the DER: the
    // middle of an RSA key (d, p, q); for SEC1 the scalar, which comes right
    // after `30 77 02 01 01 04 20` (the rest of an EC key is the public point,
    // which the certificate carries too).
    let text = std::str::from_utf8(&key_pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let (b64_at, der_at) = if sec1 { (12, 7) } else { (body.len() / 2, key_der.len() / 2) };
    // SAFETY: not ARMED yet; nothing reads NEEDLES now.
    unsafe {
        NEEDLES[0].copy_from_slice(&body.as_bytes()[b64_at..b64_at + NEEDLE]);
        NEEDLES[1].copy_from_slice(&key_der[der_at..der_at + NEEDLE]);
    }
    FOUND.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let identity = Identity::from_pem(&cert_pem, &key_pem);
    let parsed = identity.is_ok();
    let copy = identity.as_ref().ok().cloned();
    drop(copy);
    drop(identity);
    ARMED.store(false, Ordering::SeqCst);
    assert!(parsed, "{alg:?} {form:?}: the identity parses");
    assert_eq!(FOUND.load(Ordering::SeqCst), 0, "{alg:?} {form:?}: freed blocks held pieces of the key");
}

#[test]
fn rsa_pkcs1_key_leaves_no_copy() {
    no_copy_left(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], &["-traditional"], false);
}

#[test]
fn rsa_pkcs8_key_leaves_no_copy() {
    no_copy_left(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], &[], false);
}

#[test]
fn ec_sec1_key_leaves_no_copy() {
    no_copy_left(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], &["-traditional"], true);
}

#[test]
fn a_key_that_does_not_parse_leaves_no_copy() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (key_pem, cert_pem, _) = material(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], &[]);
    // Cut the key short (a broken header): decoding fails half way.
    let text = String::from_utf8(key_pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let broken = format!("-----BEGIN PRIVATE KEY-----\n{}*\n-----END PRIVATE KEY-----\n", &body[..body.len() - 5]);
    unsafe {
        NEEDLES[0].copy_from_slice(&body.as_bytes()[4..4 + NEEDLE]);
        NEEDLES[1] = [0xA5; NEEDLE];
    }
    FOUND.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let r = Identity::from_pem(&cert_pem, broken.as_bytes());
    drop(r.as_ref().ok().cloned());
    let failed = r.is_err();
    drop(r);
    ARMED.store(false, Ordering::SeqCst);
    assert!(failed);
    assert_eq!(FOUND.load(Ordering::SeqCst), 0);
}
