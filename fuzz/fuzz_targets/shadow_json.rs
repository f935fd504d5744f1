//! The shadow client's JSON handling (`shadow::json`) on arbitrary bytes.
//!
//! The input is split in two at a position given by its first byte: a
//! document (everything after the split) and a string (before it, when it is
//! UTF-8). Checked:
//! - `fields` on the document, on the string, and on the whole input never
//!   panics; a client token it returns lies inside the document;
//! - `same_string` is symmetric, reflexive on strings without backslashes, and
//!   a string equals its own fully escaped form (`\uXXXX` for every character,
//!   surrogate pairs beyond the BMP);
//! - `with_client_token` with an output buffer of fuzzed size succeeds exactly
//!   when the buffer holds the result (the same bytes as with ample room), and
//!   `token_only` is `with_client_token` on `{}`;
//! - when the document is an object that `fields` reads and has no client
//!   token, and the token needs no escaping, `fields` reads the output back
//!   with that token and the document's other fields.
//!
//! - documents nested deeper than the library's limit
//!   (`shadow::json::MAX_NESTING`) are refused as invalid without recursion;
//!   nothing is guarded out, so deep inputs reach `fields` and must not
//!   overflow the stack.
#![no_main]

use afrcloud::shadow::json::{fields, same_string, token_only, with_client_token, with_token, Fields, JsonError};
use libfuzzer_sys::fuzz_target;

/// Nesting depth of `[` and `{` (brackets inside strings count too: an upper bound).
fn nesting(doc: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for &b in doc {
        match b {
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Nesting depth of `[` and `{` outside strings (what the library counts).
fn nesting_outside_strings(doc: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in doc {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn read(doc: &[u8]) -> Option<Result<Fields<'_>, JsonError>> {
    let r = fields(doc);
    if nesting(doc) > afrcloud::shadow::json::MAX_NESTING {
        // Deeper than the limit (even counting brackets in strings generously
        // would not make a real document this deep): refused.
        assert!(r.is_err() || nesting_outside_strings(doc) <= afrcloud::shadow::json::MAX_NESTING);
    }
    if let Ok(Fields { client_token: Some(t), .. }) = r {
        let range = doc.as_ptr_range();
        assert!(range.contains(&t.as_ptr()) || t.is_empty(), "the token borrows from the document");
    }
    Some(r)
}

/// `s` with every character written as a JSON `\u` escape.
fn escape_all(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let mut units = [0u16; 2];
        for u in c.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{:04X}", u));
        }
    }
    out
}

/// A token that goes into JSON as it is (no quote, backslash or control character).
fn plain_token(t: &str) -> bool {
    !t.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let cut = (cut as usize).min(rest.len());
    let (head, doc) = rest.split_at(cut);
    let _ = read(data);
    let doc_fields = read(doc);
    let _ = read(head);

    let Ok(a) = std::str::from_utf8(head) else { return };
    // Two strings to compare: the head split at its middle character.
    let mid = a.char_indices().nth(a.chars().count() / 2).map_or(a.len(), |(i, _)| i);
    let (x, y) = a.split_at(mid);
    for (p, q) in [(x, y), (a, a), (x, x), (a, doc_str(doc))] {
        assert_eq!(same_string(p.as_bytes(), q.as_bytes()), same_string(q.as_bytes(), p.as_bytes()), "symmetry: {p:?} {q:?}");
    }
    for s in [a, x, y] {
        if !s.contains('\\') {
            assert!(same_string(s.as_bytes(), s.as_bytes()), "reflexive: {s:?}");
            assert!(same_string(s.as_bytes(), escape_all(s).as_bytes()), "escaped form: {s:?}");
        }
    }

    // The token: the head's first half; the output buffer: its size from the head's length.
    let token = x.as_bytes();
    let mut ample = vec![0u8; doc.len() + token.len() + 32];
    let full = with_client_token(doc, token, &mut ample);
    let size = (a.len() * 7) % (doc.len() + token.len() + 24);
    let mut out = vec![0u8; size];
    let sized = with_client_token(doc, token, &mut out);
    match full {
        Ok(n) => {
            if n <= size {
                assert_eq!(sized, Ok(n));
                assert_eq!(out[..n], ample[..n]);
            } else {
                assert_eq!(sized, Err(JsonError::TooLarge));
            }
            let written = &ample[..n];
            if let Some(Ok(before)) = doc_fields {
                // The request path writes from the fields read: the same bytes.
                let mut from_fields = vec![0u8; n];
                assert_eq!(with_token(before.members, token, &mut from_fields), Ok(n));
                assert_eq!(from_fields[..], ample[..n]);
                // Any document `fields` reads without a token (none at the top
                // level, whatever its spelling; not null) reads back with ours.
                if before.client_token.is_none() && plain_token(x) {
                    let after = read(written).expect("nesting is unchanged");
                    let after = after.unwrap_or_else(|e| {
                        panic!("{e:?} reading back {:?}", String::from_utf8_lossy(written))
                    });
                    assert_eq!(after, Fields { client_token: Some(token), members: after.members, ..before });
                }
            }
        }
        Err(e) => assert_eq!(sized, Err(e)),
    }
    let mut a1 = vec![0u8; token.len() + 20];
    let mut a2 = vec![0u8; token.len() + 20];
    let (r1, r2) = (token_only(token, &mut a1), with_client_token(b"{}", token, &mut a2));
    assert_eq!(r1, r2);
    if let Ok(n) = r1 {
        assert_eq!(a1[..n], a2[..n]);
        if plain_token(x) {
            assert_eq!(fields(&a1[..n]).map(|f| f.client_token), Ok(Some(token)));
        }
    }
});

/// The document as a string, when it is UTF-8 (else empty).
fn doc_str(doc: &[u8]) -> &str {
    std::str::from_utf8(doc).unwrap_or("")
}
