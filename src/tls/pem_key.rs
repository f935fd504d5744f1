//! The device's private key out of PEM text, without leaving copies behind.
//!
//! A general PEM reader gathers a section's base64 text into a growing buffer
//! before decoding it; each reallocation and the final free leave the key (in
//! base64) in freed heap. This one decodes straight from the caller's text
//! into one buffer of the exact size, which becomes the key's DER; on failure
//! that buffer is wiped before it is freed. The base64 alphabet is mapped
//! without table look-ups or branches on the key's characters.

use alloc::vec::Vec;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use zeroize::Zeroize;

/// The key kinds PEM labels name.
#[derive(Clone, Copy)]
enum Kind {
    Pkcs1,
    Pkcs8,
    Sec1,
}

const LABELS: [(&[u8], Kind); 3] =
    [(b"RSA PRIVATE KEY", Kind::Pkcs1), (b"PRIVATE KEY", Kind::Pkcs8), (b"EC PRIVATE KEY", Kind::Sec1)];

/// The first private key in `pem` (PKCS#1 RSA, PKCS#8, or SEC1 EC); sections
/// with other labels (e.g. OpenSSL's `EC PARAMETERS`) are skipped.
pub fn private_key(pem: &[u8]) -> Option<PrivateKeyDer<'static>> {
    let mut rest = pem;
    loop {
        let (label, body_and_rest) = next_begin(rest)?;
        let Some(kind) = LABELS.iter().find(|(l, _)| *l == label).map(|(_, k)| *k) else {
            rest = body_and_rest;
            continue;
        };
        let end = find_end(body_and_rest, label)?;
        let der = decode(&body_and_rest[..end])?;
        return Some(match kind {
            Kind::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            Kind::Pkcs8 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            Kind::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
        });
    }
}

const BEGIN: &[u8] = b"-----BEGIN ";
const DASHES: &[u8] = b"-----";

/// The label of the next `-----BEGIN <label>-----` and the text after it.
fn next_begin(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = find(text, BEGIN)?;
    let after = &text[at + BEGIN.len()..];
    let len = find(after, DASHES)?;
    Some((&after[..len], &after[len + DASHES.len()..]))
}

/// Where `-----END <label>-----` starts in `text`.
fn find_end(text: &[u8], label: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = find(&text[from..], b"-----END ") {
        let start = from + at;
        let after = &text[start + b"-----END ".len()..];
        if after.starts_with(label) && after[label.len()..].starts_with(DASHES) {
            return Some(start);
        }
        from = start + 1;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The 6-bit value of a base64 character, or -1. No branch and no table
/// indexed by the character: the mapping does not leak the key through timing.
fn sextet(c: u8) -> i16 {
    let c = c as i16;
    // `in_range(lo, hi)` is all ones when lo <= c <= hi, else 0.
    let in_range = |lo: i16, hi: i16| ((lo - 1 - c) & (c - hi - 1)) >> 8;
    -1 + (in_range(b'A' as i16, b'Z' as i16) & (c - b'A' as i16 + 1))
        + (in_range(b'a' as i16, b'z' as i16) & (c - b'a' as i16 + 27))
        + (in_range(b'0' as i16, b'9' as i16) & (c - b'0' as i16 + 53))
        + (in_range(b'+' as i16, b'+' as i16) & 63)
        + (in_range(b'/' as i16, b'/' as i16) & 64)
}

/// Decodes a section body: base64 with line breaks and spaces, `=` padding
/// only at the end. `None` (after wiping what was decoded) when malformed.
fn decode(body: &[u8]) -> Option<Vec<u8>> {
    let is_space = |c: &u8| matches!(c, b'\r' | b'\n' | b' ' | b'\t');
    let mut chars = body.iter().filter(|c| !is_space(c)).count();
    // Header lines (`Proc-Type:`, `DEK-Info:` of an encrypted key) are not base64: refused below.
    let pad = body.iter().rev().filter(|c| !is_space(c)).take(2).take_while(|c| **c == b'=').count();
    if chars % 4 != 0 || chars == 0 {
        return None;
    }
    chars -= pad;
    let mut out = Vec::new();
    out.try_reserve_exact(chars * 3 / 4).ok()?;
    let (mut acc, mut bits, mut bad, mut seen) = (0u32, 0u32, 0i16, 0usize);
    for &c in body.iter().filter(|c| !is_space(c)) {
        if seen == chars {
            break; // The padding.
        }
        seen += 1;
        let v = sextet(c);
        bad |= v; // Negative once any character was not base64.
        acc = (acc << 6) | (v as u32 & 0x3f);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    acc.zeroize();
    if bad < 0 || out.len() != chars * 3 / 4 {
        out.zeroize();
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_maps_like_rfc_4648() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for c in 0..=255u8 {
            let want = alphabet.iter().position(|a| *a == c).map_or(-1, |i| i as i16);
            assert_eq!(sextet(c), want, "{c}");
        }
    }

    #[test]
    fn decodes_with_line_breaks_and_padding() {
        assert_eq!(decode(b"aGVs\nbG8=\r\n").unwrap(), b"hello");
        assert_eq!(decode(b"aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(decode(b"aA==").unwrap(), b"h");
        for bad in [&b""[..], b"aGV", b"aGVs*G8=", b"a===", b"Proc-Type: 4,ENCRYPTED\naGVs"] {
            assert_eq!(decode(bad), None, "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn finds_each_key_kind_and_skips_other_sections() {
        let pem = b"junk\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n\
-----BEGIN EC PRIVATE KEY-----\naGVsbG8h\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(private_key(pem), Some(PrivateKeyDer::Sec1(k)) if k.secret_sec1_der() == b"hello!"));
        let pem = b"-----BEGIN RSA PRIVATE KEY-----\naGVsbG8h\n-----END RSA PRIVATE KEY-----";
        assert!(matches!(private_key(pem), Some(PrivateKeyDer::Pkcs1(_))));
        let pem = b"-----BEGIN PRIVATE KEY-----\r\naGVsbG8h\r\n-----END PRIVATE KEY-----\r\n";
        assert!(matches!(private_key(pem), Some(PrivateKeyDer::Pkcs8(_))));
        // Mismatched END, no END, a certificate only.
        assert!(private_key(b"-----BEGIN PRIVATE KEY-----\naGVsbG8h\n-----END RSA PRIVATE KEY-----").is_none());
        assert!(private_key(b"-----BEGIN PRIVATE KEY-----\naGVsbG8h\n").is_none());
        assert!(private_key(b"-----BEGIN CERTIFICATE-----\naGVsbG8h\n-----END CERTIFICATE-----").is_none());
    }
}
