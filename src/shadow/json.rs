//! The few JSON fields the shadow client needs, read with serde-json-core
//! (no allocation, no token budget: a document of any size is scanned, never
//! counted), and the `clientToken` it adds to requests.

use serde::Deserialize;

/// Why a document could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Not a JSON object, malformed, or a field of the wrong type.
    Invalid,
    /// The output buffer is too small.
    TooLarge,
}

/// The fields of a shadow service response (or request) that matter to the
/// client. Every other field, at any depth, is skipped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Fields<'a> {
    #[serde(rename = "clientToken", borrow, default)]
    pub client_token: Option<&'a str>,
    /// The error code of a `/rejected` response (400, 404, 409, …); any
    /// integer a broker puts there (only 400–599 are the service's).
    #[serde(default)]
    pub code: Option<i64>,
    /// The shadow's version after the operation.
    #[serde(default)]
    pub version: Option<u32>,
}

/// Deepest nesting of objects and arrays a document may have. serde-json-core
/// skips the members we do not read recursively, one stack frame per level, so
/// a deeper document (a broker's `[[[[…`) is refused before it is parsed: the
/// stack used stays bounded whatever the input. AWS's service refuses state
/// nested deeper than 6 levels; a response wraps it in at most 5 more
/// (`previous`/`current`, `state` or `metadata`, `desired`, the metadata leaf),
/// so 16 leaves room.
pub const MAX_NESTING: usize = 16;

/// Whether objects and arrays in `doc` nest at most `max` deep (brackets inside
/// strings do not count). Linear, no recursion.
fn nesting_within(doc: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
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
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Reads [`Fields`] from a JSON object nested at most [`MAX_NESTING`] deep.
pub fn fields(doc: &[u8]) -> Result<Fields<'_>, JsonError> {
    let doc = trim(doc);
    if !nesting_within(doc, MAX_NESTING) {
        return Err(JsonError::Invalid);
    }
    match serde_json_core::from_slice::<Fields<'_>>(doc) {
        Ok((f, used)) if trim(&doc[used..]).is_empty() => Ok(f),
        _ => Err(JsonError::Invalid),
    }
}

/// Whether two JSON string contents, as they appear between the quotes (escape
/// sequences not yet decoded), are the same string: `a\/b` equals `a/b`,
/// `\u00e9` equals `é`. A clientToken echoed by the service may be encoded
/// differently from the request's.
pub fn same_string(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (Unescape(a.chars()), Unescape(b.chars()));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(Some(c)), Some(Some(d))) if c == d => {}
            _ => return false, // Different, or a malformed escape.
        }
    }
}

/// Decodes JSON string escapes; yields `None` for a malformed one.
struct Unescape<'a>(core::str::Chars<'a>);

impl Unescape<'_> {
    fn hex4(&mut self) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, _| Some(acc * 16 + self.0.next()?.to_digit(16)?))
    }
}

impl Iterator for Unescape<'_> {
    type Item = Option<char>;
    fn next(&mut self) -> Option<Option<char>> {
        let c = self.0.next()?;
        if c != '\\' {
            return Some(Some(c));
        }
        Some(match self.0.next() {
            Some('"') => Some('"'),
            Some('\\') => Some('\\'),
            Some('/') => Some('/'),
            Some('b') => Some('\u{8}'),
            Some('f') => Some('\u{c}'),
            Some('n') => Some('\n'),
            Some('r') => Some('\r'),
            Some('t') => Some('\t'),
            Some('u') => self.hex4().and_then(|hi| {
                if (0xD800..0xDC00).contains(&hi) {
                    // A surrogate pair: \uD83D\uDE00.
                    if self.0.next()? != '\\' || self.0.next()? != 'u' {
                        return None;
                    }
                    let lo = self.hex4()?;
                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo.checked_sub(0xDC00)? & 0x3FF))
                } else {
                    char::from_u32(hi)
                }
            }),
            _ => None,
        })
    }
}

/// Strips surrounding whitespace and a C string's trailing NUL, which AFR
/// applications often count in `ulDataLength`.
fn trim(mut doc: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = doc {
        if first.is_ascii_whitespace() {
            doc = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = doc {
        if last.is_ascii_whitespace() || *last == 0 {
            doc = rest;
        } else {
            break;
        }
    }
    doc
}

/// Writes `doc` into `out` with `"clientToken":"<token>"` added as its first
/// member; `doc` must be a JSON object without a client token. Returns the length.
pub fn with_client_token(doc: &[u8], token: &str, out: &mut [u8]) -> Result<usize, JsonError> {
    let doc = trim(doc);
    let inner = doc.strip_prefix(b"{").and_then(|d| d.strip_suffix(b"}")).ok_or(JsonError::Invalid)?;
    let empty = trim(inner).is_empty();
    let mut w = Cursor { out, len: 0 };
    w.put(b"{\"clientToken\":\"")?;
    w.put(token.as_bytes())?;
    w.put(if empty { b"\"" } else { b"\"," })?;
    w.put(if empty { &[] } else { inner })?;
    w.put(b"}")?;
    Ok(w.len)
}

/// The body of a get or delete request: `{"clientToken":"<token>"}`.
pub fn token_only(token: &str, out: &mut [u8]) -> Result<usize, JsonError> {
    with_client_token(b"{}", token, out)
}

struct Cursor<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), JsonError> {
        let end = self.len.checked_add(bytes.len()).ok_or(JsonError::TooLarge)?;
        self.out.get_mut(self.len..end).ok_or(JsonError::TooLarge)?.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn reads_the_fields_anywhere_among_others() {
        let doc = br#"{"state":{"desired":{"color":"red","list":[1,{"a":null}]}},"metadata":{},"version":7,"timestamp":1,"clientToken":"tok-1"}"#;
        let f = fields(doc).unwrap();
        assert_eq!(f, Fields { client_token: Some("tok-1"), code: None, version: Some(7) });
        let rej = br#" {"code":409,"message":"Version conflict","clientToken":"x"} "#;
        assert_eq!(fields(rej).unwrap().code, Some(409));
        assert_eq!(fields(b"{}\0").unwrap(), Fields::default());
    }

    #[test]
    fn a_large_document_is_no_problem() {
        // Far more tokens than AFR's shadowconfigJSON_JSMN_TOKENS (64).
        let mut doc = String::from(r#"{"state":{"reported":{"#);
        for i in 0..400 {
            doc.push_str(&format!("\"k{i}\":[{i},\"v\",true,null],"));
        }
        doc.push_str(r#""end":1}},"clientToken":"big"}"#);
        assert!(doc.len() > 8000);
        assert_eq!(fields(doc.as_bytes()).unwrap().client_token, Some("big"));
    }

    #[test]
    fn malformed_or_wrongly_typed_input_is_an_error() {
        for bad in [&b"not json"[..], b"{", b"[1,2]", b"{\"code\":\"x\"}", b"{\"clientToken\":5}", b"{} trailing", b""] {
            assert_eq!(fields(bad), Err(JsonError::Invalid), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    fn nested(depth: usize, open: &str, close: &str) -> String {
        let mut doc = String::from("{\"clientToken\":\"n\",\"a\":");
        doc.push_str(&open.repeat(depth - 1));
        doc.push('1');
        doc.push_str(&close.repeat(depth - 1));
        doc.push('}');
        doc
    }

    #[test]
    fn nesting_up_to_the_limit_is_read_beyond_it_refused() {
        for (open, close) in [("[", "]"), ("{\"k\":", "}")] {
            let ok = nested(MAX_NESTING, open, close);
            assert_eq!(fields(ok.as_bytes()).unwrap().client_token, Some("n"), "{ok}");
            let deep = nested(MAX_NESTING + 1, open, close);
            assert_eq!(fields(deep.as_bytes()), Err(JsonError::Invalid), "{deep}");
        }
        // Brackets inside strings (escaped quotes too) are text, not nesting.
        let text = format!("{{\"clientToken\":\"t\",\"s\":\"\\\"{}\"}}", "[".repeat(100));
        assert_eq!(fields(text.as_bytes()).unwrap().client_token, Some("t"));
    }

    #[test]
    fn a_depth_bomb_uses_no_stack() {
        // ~2 KB of '[' overflowed the agent task's stack in serde-json-core.
        // Run on a thread with a small stack: the refusal needs no recursion.
        let bomb = format!("{{\"clientToken\":\"x\",\"a\":{}}}", "[".repeat(200_000));
        let r = std::thread::Builder::new()
            .stack_size(32 * 1024)
            .spawn(move || fields(bomb.as_bytes()) == Err(JsonError::Invalid))
            .unwrap()
            .join()
            .unwrap();
        assert!(r);
    }

    #[test]
    fn huge_numbers_and_escapes_are_errors_or_skipped_never_a_crash() {
        let huge = format!("{{\"clientToken\":\"h\",\"code\":{}}}", "9".repeat(5000));
        assert_eq!(fields(huge.as_bytes()), Err(JsonError::Invalid));
        let skipped = format!("{{\"clientToken\":\"h\",\"n\":{}e99999}}", "9".repeat(5000));
        let _ = fields(skipped.as_bytes());
        let escapes = format!("{{\"clientToken\":\"{}\"}}", "\\u00e9".repeat(2000));
        assert!(fields(escapes.as_bytes()).is_ok());
        assert!(fields(br#"{"clientToken":"\ud800"}"#).is_ok(), "a lone surrogate is text to the reader");
    }

    #[test]
    fn adds_a_client_token() {
        let mut out = [0u8; 128];
        let n = with_client_token(br#"{"state":{"reported":{"on":true}}}"#, "t-9", &mut out).unwrap();
        assert_eq!(&out[..n], br#"{"clientToken":"t-9","state":{"reported":{"on":true}}}"#);
        let f = fields(&out[..n]).unwrap();
        assert_eq!(f.client_token, Some("t-9"));
        let n = token_only("abc", &mut out).unwrap();
        assert_eq!(&out[..n], br#"{"clientToken":"abc"}"#);
        let n = with_client_token(b" { } \0", "e", &mut out).unwrap();
        assert_eq!(&out[..n], br#"{"clientToken":"e"}"#);
    }

    #[test]
    fn strings_compare_by_value_not_encoding() {
        assert!(same_string("a/b", r"a\/b"));
        assert!(same_string(r#"q\"x"#, "q\"x"));
        assert!(same_string(r"\u00e9t\u00E9", "été"));
        assert!(same_string(r"\ud83d\ude00", "😀"));
        assert!(same_string(r"tab\there", "tab\there"));
        assert!(!same_string("abc", "abd"));
        assert!(!same_string("abc", "ab"));
        assert!(!same_string(r"bad\x", r"bad\x"), "malformed escapes never match");
        assert!(!same_string(r"\u12", r"\u12"));
    }

    #[test]
    fn adding_a_token_checks_room_and_shape() {
        let mut small = [0u8; 10];
        assert_eq!(with_client_token(b"{\"a\":1}", "tok", &mut small), Err(JsonError::TooLarge));
        let mut out = [0u8; 64];
        assert_eq!(with_client_token(b"[1]", "tok", &mut out), Err(JsonError::Invalid));
    }
}
