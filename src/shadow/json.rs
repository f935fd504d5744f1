//! The few JSON fields the shadow client needs, read by a purpose-built
//! scanner, and the `clientToken` it adds to requests.
//!
//! Why not serde-json-core (issue #13): the shadow reads three top-level
//! members of a document it otherwise passes through. With serde derive and
//! serde-json-core the reader cost about 5,900 bytes of Cortex-M4F flash
//! (the derive's visitor, `deserialize_ignored_any` to skip the rest, string
//! fragment iteration with UTF-8 validation and `str` slicing); AFR v1.4.7's
//! whole shadow client was 6,680. This module is about 1,980 bytes (the reader
//! about 1,600; BENCHMARKS.md). The scanner checks the same grammar in one
//! linear pass over bytes: no recursion (nesting is counted, at most
//! [`MAX_NESTING`]), no allocation, no token budget, no panic site. Strings are
//! checked for JSON escapes and control characters, not for UTF-8: the client
//! only compares tokens, byte for byte after unescaping, and passes documents
//! through (the service refuses invalid UTF-8 itself).

/// Why a document could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Not a JSON object, malformed, or a field of the wrong type.
    Invalid,
    /// The output buffer is too small.
    TooLarge,
}

/// The fields of a shadow service response (or request) that matter to the
/// client: top-level members only; every other member, at any depth, is
/// skipped. A `null` code or version reads as absent, a `null` clientToken
/// is invalid; a member given twice (its name compared by value) is invalid.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fields<'a> {
    /// The `clientToken` as it appears between its quotes (escapes not
    /// decoded: compare with [`same_string`]).
    pub client_token: Option<&'a [u8]>,
    /// The error code of a `/rejected` response (400, 404, 409, …); any
    /// integer a broker puts there (only 400–599 are the service's).
    pub code: Option<i64>,
    /// The shadow's version after the operation.
    pub version: Option<u32>,
    /// The top-level object after its `{`: its members as written and its
    /// closing `}`, empty for an empty object (what [`with_token`] puts
    /// after the token).
    pub members: &'a [u8],
}

/// Deepest nesting of objects and arrays a document may have; a deeper one
/// (a broker's `[[[[…`) is refused. The scanner keeps one bit per level, so
/// this bounds its state, not its stack. AWS's service refuses state nested
/// deeper than 6 levels; a response wraps it in at most 5 more
/// (`previous`/`current`, `state` or `metadata`, `desired`, the metadata leaf),
/// so 16 leaves room.
pub const MAX_NESTING: usize = 16;
const _: () = assert!(MAX_NESTING < 32);

/// The member being read at the top level (bit in `Scan::seen`; `Scan::key`
/// lists ours in this order).
const TOKEN: u32 = 1;
const CODE: u32 = 2;
const VERSION: u32 = 4;
/// In `Scan::seen`: the top-level object has a member.
const MEMBERS: u32 = 8;

struct Scan<'a> {
    doc: &'a [u8],
    at: usize,
}

// `peek`, `byte` and `next_token` are `extern "C"`: the C ABI returns a `u8`
// zero-extended to a word (AAPCS), so their callers compare it without a
// `uxtb` after each call (the Rust ABI promises nothing of the kind).
impl<'a> Scan<'a> {
    /// The next byte (0 at the end), not consumed.
    #[inline(never)] // Called from many places: one copy.
    extern "C" fn peek(&self) -> u8 {
        self.here()
    }
    /// [`Self::peek`] inlined, for the loops over whitespace and digits.
    #[inline(always)]
    fn here(&self) -> u8 {
        self.doc.get(self.at).copied().unwrap_or(0)
    }
    #[inline(never)] // Called from many places: one copy.
    extern "C" fn byte(&mut self) -> u8 {
        // Not through `peek`: no frame below this one (the comparison's
        // decoder runs on the agent task's stack).
        let b = self.here();
        self.at += 1;
        b
    }
    /// After a backslash: the escaped character, `None` when malformed: the
    /// decoder of [`same_string`]. A `\u` escape of a high surrogate followed
    /// by one of a low surrogate is one character; any other surrogate stands
    /// alone (malformed to the comparison; text to the scanner, as it is to
    /// the service: the scanner reads each escape alone with [`Self::unit`]).
    fn escape(&mut self) -> Option<u32> {
        let hi = self.unit()?;
        if (0xD800..0xDC00).contains(&hi) {
            let at = self.at;
            if self.byte() == b'\\' {
                if let Some(lo @ 0xDC00..=0xDFFF) = self.unit() {
                    return Some(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
                }
            }
            self.at = at;
        }
        Some(hi)
    }
    /// After a backslash: one escape's UTF-16 code unit (a `\u` escape's
    /// four hex digits, a one-character escape's character).
    #[inline(never)] // Called by the scanner and twice by escape: one copy.
    fn unit(&mut self) -> Option<u32> {
        let e = self.byte();
        if e == b'u' {
            return (0..4).try_fold(0u32, |acc, _| Some(acc * 16 + (self.byte() as char).to_digit(16)?));
        }
        // The one-character escapes, each before what it stands for.
        let mut pairs: &[u8] = b"\x22\x22\\\\//b\x08f\x0cn\nr\rt\t";
        while let [x, c, rest @ ..] = pairs {
            if *x == e {
                return Some(*c as u32);
            }
            pairs = rest;
        }
        None
    }
    /// The next byte after whitespace (0 at the end), not consumed.
    #[inline(never)] // Called from many places: one copy.
    extern "C" fn next_token(&mut self) -> u8 {
        while matches!(self.here(), b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
        self.peek()
    }
    fn eat(&mut self, b: u8) -> Option<()> {
        if self.next_token() != b {
            return None;
        }
        self.at += 1;
        Some(())
    }
    /// A string, at its opening quote; its contents between the quotes.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.at;
        loop {
            match self.byte() {
                b'"' => return self.doc.get(start..self.at - 1),
                // Each escape alone: a surrogate pair's two are valid
                // exactly when each is.
                b'\\' => {
                    self.unit()?;
                }
                // Control characters (and the end of input, read as 0).
                0..=0x1f => return None,
                _ => {}
            }
        }
    }
    /// A member's name and its colon; which of ours it is at the top level
    /// (`depth` 1), 0 for any other. Ours may come once each.
    fn key(&mut self, depth: usize, seen: &mut u32) -> Option<u32> {
        let name = self.string()?;
        self.eat(b':')?;
        if depth != 1 {
            return Some(0);
        }
        // Compared by value: `"client\u0054oken"` is our member too (else a
        // request could carry it next to the token we add, twice for the service).
        // Ours, packed (no table of slices, no table built on the stack): each
        // name after its length, in the order of their bits; none leaves 8.
        const OURS: &[u8] = b"\x0bclientToken\x04code\x07version";
        let (mut at, mut member) = (0, 1u32);
        while let Some(&len) = OURS.get(at) {
            let end = at + 1 + len as usize;
            if same_string(name, OURS.get(at + 1..end).unwrap_or(&[])) {
                break;
            }
            at = end;
            member <<= 1;
        }
        let member = member & 7;
        if *seen & member != 0 {
            return None;
        }
        // A top-level member: the object is not empty.
        *seen |= member | MEMBERS;
        Some(member)
    }
    /// A number, its grammar checked. For one of ours (`ours`), its value:
    /// `None` unless it is an integer that fits an `i64`; any other's reads as 0.
    fn number(&mut self, ours: bool) -> Option<i64> {
        // The grammar as a state machine over classes of bytes: `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`.
        // States: 0 the start, 1 after `-`, 2 a leading `0`, 3 in the integer
        // part's digits, 4 after `.`, 5 in the fraction's digits, 6 after `e`,
        // 7 after its sign, 8 in the exponent's digits. Each state's next
        // state by class, 4 bits each (class 0 in the lowest); 0xF: the
        // number ends here, which only states 2, 3, 5 and 8 may.
        const NEXT: [u32; 9] = [
            0xffff132, 0xfffff32, 0xf64ffff, 0xf64ff33, 0xfffff55, 0xf6fff55, 0xfff7788, 0xfffff88, 0xfffff88,
        ];
        // The integer part's magnitude, wrapping (more than 19 digits overflow).
        let (mut state, mut v, mut digits, mut negative) = (0, 0u64, 0, false);
        loop {
            // Classes: 0 `0`, 1 the other digits, 2 `-`, 3 `+`, 4 `.`, 5 `e`, 6 any other.
            let c = self.peek();
            let class = match c {
                b'0' => 0,
                b'1'..=b'9' => 1,
                b'-' => 2,
                b'+' => 3,
                b'.' => 4,
                b'e' | b'E' => 5,
                _ => 6,
            };
            let next = NEXT.get(state).map_or(0xf, |row| row >> (4 * class) & 0xf) as usize;
            if next == 0xf {
                break;
            }
            if let 2 | 3 = next {
                v = v.wrapping_mul(10).wrapping_add(c.wrapping_sub(b'0') as u64);
                digits += 1;
            }
            negative |= next == 1;
            state = next;
            self.at += 1;
        }
        if 0b1_0010_1100 >> state & 1 == 0 {
            return None;
        }
        if !ours {
            return Some(0);
        }
        // A fraction or an exponent (states 5, 8) is no integer; more than
        // 19 digits (no leading zero) overflow an `i64`, 19 fit a `u64`: the
        // magnitude, read without overflow checks, is compared with the
        // `i64` range (one more for a negative).
        if state > 3 || digits > 19 || v > i64::MAX as u64 + negative as u64 {
            return None;
        }
        Some(if negative { v.wrapping_neg() } else { v } as i64)
    }
}

/// Reads [`Fields`] from a JSON object nested at most [`MAX_NESTING`] deep:
/// one pass, the whole document checked.
pub fn fields(doc: &[u8]) -> Result<Fields<'_>, JsonError> {
    read(doc).ok_or(JsonError::Invalid)
}

/// [`fields`], `None` for any error (one error exit).
fn read(doc: &[u8]) -> Option<Fields<'_>> {
    let mut s = Scan { doc, at: 0 };
    // What `trim` strips before the object: JSON's whitespace and the form
    // feed; what it strips after (NULs too) is checked below.
    let open = loop {
        match s.next_token() {
            0x0c => s.at += 1,
            b'{' => break s.at,
            _ => return None,
        }
    };
    let mut f = Fields::default();
    let mut seen = 0u32;
    // One bit per open level (1: an object, 0: an array), lowest the innermost.
    let (mut objects, mut depth) = (0u32, 0usize);
    // Which of ours the next value is (0: none).
    let mut member = 0u32;
    loop {
        // In an object, the value's member name first (one call site).
        if objects & 1 != 0 {
            member = s.key(depth, &mut seen)?;
        }
        let b = s.next_token();
        match b {
            b'{' | b'[' => {
                if member != 0 || depth == MAX_NESTING {
                    return None;
                }
                s.at += 1;
                let object = b == b'{';
                objects = objects << 1 | object as u32;
                depth += 1;
                if s.next_token() != b + 2 {
                    // Not empty (`}` is `{` + 2, `]` is `[` + 2): its first member or element.
                    continue;
                }
                // Empty: closed below, as after a last value.
            }
            b'"' => {
                let text = s.string()?;
                match member {
                    0 => {}
                    TOKEN => f.client_token = Some(text),
                    _ => return None,
                }
            }
            b'-' | b'0'..=b'9' => {
                let n = s.number(member != 0)?;
                match member {
                    0 => {}
                    CODE => f.code = Some(n),
                    VERSION => f.version = Some(u32::try_from(n).ok()?),
                    _ => return None,
                }
            }
            _ => {
                let word: &[u8] = match b {
                    b't' => b"true",
                    b'f' => b"false",
                    b'n' => b"null",
                    _ => return None,
                };
                // A `null` code or version is absent; `true`/`false` the wrong
                // type, and so is a `null` clientToken: a request that has one
                // must not get ours too (two members), an answer with one
                // answers nobody either way.
                if member == TOKEN || (member != 0 && b != b'n') {
                    return None;
                }
                // Byte by byte (the end reads as 0, in no word).
                for &c in word {
                    if s.byte() != c {
                        return None;
                    }
                }
            }
        }
        member = 0;
        // After a value: close levels, until a comma leads to the next value.
        loop {
            if depth == 0 {
                // The object ends the document but for whitespace and NULs
                // (`trim`'s): its members and `}` run from `open` to here.
                let end = s.at;
                // JSON's whitespace, then a form feed or NUL, again.
                while matches!(s.next_token(), 0 | 0x0c) && s.at < s.doc.len() {
                    s.at += 1;
                }
                if s.at != s.doc.len() {
                    return None;
                }
                if seen & MEMBERS != 0 {
                    f.members = s.doc.get(open + 1..end).unwrap_or(&[]);
                }
                return Some(f);
            }
            let b = s.next_token();
            let object = objects & 1 != 0;
            s.at += 1;
            if b == b',' {
                break;
            }
            if b != if object { b'}' } else { b']' } {
                return None;
            }
            objects >>= 1;
            depth -= 1;
        }
    }
}

/// Whether two JSON string contents, as they appear between the quotes (escape
/// sequences not yet decoded), are the same string: `a\/b` equals `a/b`,
/// `\u00e9` equals `é`. A clientToken echoed by the service may be encoded
/// differently from the request's. Compared as UTF-8 bytes after decoding.
pub fn same_string(a: &[u8], b: &[u8]) -> bool {
    let (mut x, mut y) = (Unescape::new(a), Unescape::new(b));
    loop {
        let c = x.next();
        // Different, or a malformed escape (never equal to anything).
        if c != y.next() || c == BAD {
            return false;
        }
        if c == END {
            return true;
        }
    }
}

/// What [`Unescape::next`] yields past the end and for a malformed escape:
/// no byte's value.
const END: u32 = 0x100;
const BAD: u32 = 0x200;

/// Decodes JSON string escapes into UTF-8 bytes.
struct Unescape<'a> {
    s: Scan<'a>,
    /// The continuation bytes of an escaped character still to yield, the
    /// next in the low byte (none left: 0; each is 0x80 or more).
    more: u32,
}

impl<'a> Unescape<'a> {
    fn new(doc: &'a [u8]) -> Self {
        Unescape { s: Scan { doc, at: 0 }, more: 0 }
    }
    /// The next byte, [`END`] or [`BAD`].
    fn next(&mut self) -> u32 {
        if self.more != 0 {
            let b = self.more & 0xff;
            self.more >>= 8;
            return b;
        }
        if self.s.at >= self.s.doc.len() {
            return END;
        }
        let b = self.s.byte();
        if b != b'\\' {
            return b as u32;
        }
        // A surrogate left alone is no character.
        let Some(mut c @ (0..=0xD7FF | 0xE000..)) = self.s.escape() else { return BAD };
        if c < 0x80 {
            return c;
        }
        // UTF-8: continuation bytes, from the last, until the rest fits the
        // lead byte (5 bits after one, 4 after two, 3 after three); the lead
        // byte now, the continuation bytes next.
        let (mut lead, mut room) = (0xff80u32, 0x3fu32);
        loop {
            self.more = self.more << 8 | 0x80 | c & 0x3f;
            c >>= 6;
            lead >>= 1;
            room >>= 1;
            if c <= room {
                return (lead | c) & 0xff;
            }
        }
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
pub fn with_client_token(doc: &[u8], token: &[u8], out: &mut [u8]) -> Result<usize, JsonError> {
    let doc = trim(doc);
    let inner = doc.strip_prefix(b"{").and_then(|d| d.strip_suffix(b"}")).ok_or(JsonError::Invalid)?;
    // The members and the closing brace, as `fields` gives them.
    let members = if trim(inner).is_empty() { b"" } else { doc.get(1..).unwrap_or(&[]) };
    with_token(members, token, out)
}

/// Writes `{"clientToken":"<token>",` and `members` (the members of an
/// object and its closing `}`: [`Fields::members`]) into `out`, or
/// `{"clientToken":"<token>"}` when `members` is empty: [`with_client_token`]
/// of the document `fields` read. Returns the length.
pub fn with_token(members: &[u8], token: &[u8], out: &mut [u8]) -> Result<usize, JsonError> {
    let mut w = Cursor { out, len: 0 };
    // One copy site for the four parts.
    let sep: &[u8] = if members.is_empty() { b"\"}" } else { b"\"," };
    for part in [&b"{\"clientToken\":\""[..], token, sep, members] {
        w.put(part)?;
    }
    Ok(w.len)
}

/// The body of a get or delete request: `{"clientToken":"<token>"}`.
pub fn token_only(token: &[u8], out: &mut [u8]) -> Result<usize, JsonError> {
    with_token(b"", token, out)
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
        assert_eq!(f, Fields { client_token: Some(b"tok-1"), code: None, version: Some(7), members: &doc[1..] });
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
        assert_eq!(fields(doc.as_bytes()).unwrap().client_token, Some(&b"big"[..]));
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
            assert_eq!(fields(ok.as_bytes()).unwrap().client_token, Some(&b"n"[..]), "{ok}");
            let deep = nested(MAX_NESTING + 1, open, close);
            assert_eq!(fields(deep.as_bytes()), Err(JsonError::Invalid), "{deep}");
        }
        // Brackets inside strings (escaped quotes too) are text, not nesting.
        let text = format!("{{\"clientToken\":\"t\",\"s\":\"\\\"{}\"}}", "[".repeat(100));
        assert_eq!(fields(text.as_bytes()).unwrap().client_token, Some(&b"t"[..]));
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
    fn the_scanner_checks_the_grammar() {
        let ok: &[&[u8]] = &[
            br#"{"a":[],"b":{},"c":[{}],"d":-0.5e+3,"e":"\u00E9\n","f":[true,false,null]}"#,
            br#" { "code" : null , "version" : 0 } "#,
            br#"{"x":{"clientToken":5,"code":"nested members are not ours"}}"#,
        ];
        for doc in ok {
            assert!(fields(doc).is_ok(), "{:?}", String::from_utf8_lossy(doc));
        }
        let bad: &[&[u8]] = &[
            br#"{"a":01}"#, br#"{"a":1.}"#, br#"{"a":-}"#, br#"{"a":1e}"#, br#"{"a":tru}"#, br#"{"a":nul}"#,
            br#"{"a":[1,]}"#, br#"{"a":1,}"#, b"{,}", br#"{"a" 1}"#, br#"{"a":1 "b":2}"#, br#"{"a":[}"#,
            br#"{"a":"\x"}"#, br#"{"a":"\u12G4"}"#, b"{\"a\":\"tab\there\"}", br#"{"a":"open}"#,
            br#"{"a":1}}"#, br#"{"a":1]"#, b"{}{}", b"{\"a\":1}\0x",
            br#"{"clientToken":"a","clientToken":"b"}"#, br#"{"code":1.5}"#, br#"{"code":true}"#,
            br#"{"version":-1}"#, br#"{"version":4294967296}"#, br#"{"clientToken":{}}"#,
            br#"{"clientToken":null}"#, br#"{"clientToken":"a","client\u0054oken":"b"}"#,
            br#"{"\u0063ode":1,"code":2}"#,
        ];
        for doc in bad {
            assert_eq!(fields(doc), Err(JsonError::Invalid), "{:?}", String::from_utf8_lossy(doc));
        }
        let doc = br#"{"code":-404,"version":4294967295,"clientToken":"a\"b"}"#;
        let f = fields(doc).unwrap();
        assert_eq!(f, Fields { client_token: Some(br#"a\"b"#), code: Some(-404), version: Some(u32::MAX), members: &doc[1..] });
        // Member names compared by value, not by their encoding.
        let doc = br#"{"\u0063ode":-404,"versio\u006e":4294967295,"client\u0054oken":"a\"b"}"#;
        let f = fields(doc).unwrap();
        assert_eq!(f, Fields { client_token: Some(br#"a\"b"#), code: Some(-404), version: Some(u32::MAX), members: &doc[1..] });
        assert_eq!(fields(format!("{{\"code\":{}}}", i64::MAX).as_bytes()).unwrap().code, Some(i64::MAX));
        assert_eq!(fields(format!("{{\"code\":{}}}", i64::MIN).as_bytes()).unwrap().code, Some(i64::MIN));
    }

    #[test]
    fn integers_of_ours_are_read_to_their_limits() {
        let code = |n: &str| fields(format!("{{\"code\":{n}}}").as_bytes()).map(|f| f.code);
        let version = |n: &str| fields(format!("{{\"version\":{n}}}").as_bytes()).map(|f| f.version);
        for (n, want) in [
            ("0", 0), ("-0", 0), ("9", 9), ("-1", -1), ("1000000000000000000", 1_000_000_000_000_000_000),
            ("999999999999999999", 999_999_999_999_999_999), ("-999999999999999999", -999_999_999_999_999_999),
            ("9223372036854775806", i64::MAX - 1), ("-9223372036854775807", i64::MIN + 1),
        ] {
            assert_eq!(code(n), Ok(Some(want)), "{n}");
        }
        for n in [
            "9223372036854775808", "-9223372036854775809", "9999999999999999999", "-9999999999999999999",
            "10000000000000000000", "18446744073709551615", "18446744073709551616", "99999999999999999999",
            "-18446744073709551616", "0.0", "1e2", "-1E0", "00", "-01",
        ] {
            assert_eq!(code(n), Err(JsonError::Invalid), "{n}");
        }
        assert_eq!(version("-0"), Ok(Some(0)));
        assert_eq!(version("4294967295"), Ok(Some(u32::MAX)));
        for n in ["4294967296", "-1", "9223372036854775807", "18446744073709551616", "1.0", "-9223372036854775808"] {
            assert_eq!(version(n), Err(JsonError::Invalid), "{n}");
        }
        // Not ours: any number that follows the grammar, whatever its size.
        for n in ["18446744073709551616", "-99999999999999999999999", "1.5e-3", "0"] {
            assert!(fields(format!("{{\"n\":{n},\"o\":{{\"code\":{n}}}}}").as_bytes()).is_ok(), "{n}");
        }
    }

    #[test]
    fn adds_a_client_token() {
        let mut out = [0u8; 128];
        let n = with_client_token(br#"{"state":{"reported":{"on":true}}}"#, b"t-9", &mut out).unwrap();
        assert_eq!(&out[..n], br#"{"clientToken":"t-9","state":{"reported":{"on":true}}}"#);
        let f = fields(&out[..n]).unwrap();
        assert_eq!(f.client_token, Some(&b"t-9"[..]));
        let n = token_only(b"abc", &mut out).unwrap();
        assert_eq!(&out[..n], br#"{"clientToken":"abc"}"#);
        let n = with_client_token(b" { } \0", b"e", &mut out).unwrap();
        assert_eq!(&out[..n], br#"{"clientToken":"e"}"#);
        // From the fields read (the request path): the members as written,
        // whitespace and all; an empty object's whitespace goes.
        let f = fields(b" {\t\"a\" : [ ] } \0").unwrap();
        assert_eq!(f.members, b"\t\"a\" : [ ] }");
        let n = with_token(f.members, b"t", &mut out).unwrap();
        assert_eq!(&out[..n], b"{\"clientToken\":\"t\",\t\"a\" : [ ] }");
        for empty in [&b"{}"[..], b" { \r\n } ", b"{ }\0"] {
            assert_eq!(fields(empty).unwrap().members, b"");
            let n = with_token(fields(empty).unwrap().members, b"e", &mut out).unwrap();
            assert_eq!(&out[..n], br#"{"clientToken":"e"}"#);
        }
    }

    #[test]
    fn strings_compare_by_value_not_encoding() {
        let same_string = |a: &str, b: &str| same_string(a.as_bytes(), b.as_bytes());
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
    fn surrogates_pair_or_stand_alone() {
        let same_string = |a: &str, b: &str| same_string(a.as_bytes(), b.as_bytes());
        // A pair is one character, whatever the case of its digits.
        assert!(same_string(r"x\uD83D\uDE00y", "x😀y"));
        // A lone surrogate (high without a low after it, a low first, a high
        // before another escape) is text to the scanner, never equal to anything.
        for lone in [r"\ud800", r"\ud800\u0041", r"\ude00\ud83d", r"\ud800\\", r"\ud800\ud800"] {
            assert!(!same_string(lone, lone), "{lone}");
            let doc = format!("{{\"clientToken\":\"{lone}\"}}");
            assert!(fields(doc.as_bytes()).is_ok(), "{doc}");
        }
        assert!(!same_string(r"\ud800\u0041", r"\ud800A"));
        assert_eq!(fields(br#"{"a":"\ud800\u12G4"}"#), Err(JsonError::Invalid));
        assert_eq!(fields(br#"{"a":"\ud800\x"}"#), Err(JsonError::Invalid));
    }

    #[test]
    fn adding_a_token_checks_room_and_shape() {
        let mut small = [0u8; 10];
        assert_eq!(with_client_token(b"{\"a\":1}", b"tok", &mut small), Err(JsonError::TooLarge));
        let mut out = [0u8; 64];
        assert_eq!(with_client_token(b"[1]", b"tok", &mut out), Err(JsonError::Invalid));
    }
}
