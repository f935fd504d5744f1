//! AWS IoT Device Shadow MQTT topics (classic shadow):
//! `$aws/things/<thing>/shadow/<operation>[/<response>]`.

use crate::bytes::{after, same_out_of_line};

/// AWS IoT's longest thing name.
pub const MAX_THING_NAME: usize = 128;

/// Room for the longest topic: prefix, thing name and `/shadow/update/documents`.
pub const MAX_TOPIC: usize = 12 + MAX_THING_NAME + 24;

const _: () = assert!(MAX_TOPIC < 256);

/// A topic name built in place (bytes: thing names are ASCII, so it is text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    len: u8,
    bytes: [u8; MAX_TOPIC],
}

impl Topic {
    pub const fn new() -> Self {
        Topic { len: 0, bytes: [0; MAX_TOPIC] }
    }
    pub fn as_bytes(&self) -> &[u8] {
        // (`len` never exceeds the buffer: `write` bounds it.)
        &self.bytes[..(self.len as usize).min(MAX_TOPIC)]
    }
    /// The topic as text (tests, logs; the firmware sends bytes).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl Default for Topic {
    fn default() -> Self {
        Self::new()
    }
}

/// A shadow operation (its discriminant indexes the operations' tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Operation {
    Update,
    Get,
    Delete,
}

/// The topics a shadow client publishes to or subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request topic of an operation.
    Request(Operation),
    /// `<operation>/accepted`.
    Accepted(Operation),
    /// `<operation>/rejected`.
    Rejected(Operation),
    /// `update/delta`: desired differs from reported.
    Delta,
    /// `update/documents`: the previous and current documents after an update.
    Documents,
}

impl Kind {
    /// Its index in [`TAILS`]: the subscribed kinds as in [`SUBSCRIBED`]
    /// (`2 × operation`, + 1 when rejected; delta 6, documents 7), then the
    /// requests (8 + operation). The core works with these numbers.
    pub fn index(self) -> usize {
        match self {
            Kind::Request(op) => 8 + op as usize,
            Kind::Accepted(op) => 2 * op as usize,
            Kind::Rejected(op) => 2 * op as usize + 1,
            Kind::Delta => 6,
            Kind::Documents => 7,
        }
    }
}

/// Why a topic could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThingNameError {
    Empty,
    TooLong,
    /// Characters AWS does not allow in thing names (also keeps MQTT wildcards out).
    InvalidCharacter,
}

/// AWS IoT thing names: 1–128 characters of `a-zA-Z0-9:_-`.
pub fn validate_thing_name(name: &[u8]) -> Result<(), ThingNameError> {
    if name.is_empty() {
        return Err(ThingNameError::Empty);
    }
    if name.len() > MAX_THING_NAME {
        return Err(ThingNameError::TooLong);
    }
    if !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'-') {
        return Err(ThingNameError::InvalidCharacter);
    }
    Ok(())
}

/// The topic of `kind` for `thing`.
pub fn topic(thing: &str, kind: Kind) -> Result<Topic, ThingNameError> {
    validate_thing_name(thing.as_bytes())?;
    let mut t = Topic::new();
    write(thing.as_bytes(), kind.index(), &mut t);
    Ok(t)
}

/// What follows `/shadow/` in each topic, by [`Kind::index`]: one table for
/// building and parsing, packed (one text, the request names being the
/// prefixes of their responses', and a start and length per kind) rather
/// than a table of slices.
const TAIL_TEXT: &[u8] = b"update/acceptedupdate/rejectedget/acceptedget/rejecteddelete/accepteddelete/rejectedupdate/deltaupdate/documents";
const TAILS: [(u8, u8); 11] = [(0, 15), (15, 15), (30, 12), (42, 12), (54, 15), (69, 15), (84, 12), (96, 16), (0, 6), (30, 3), (54, 6)];

/// The tail of kind `index` (empty for no kind).
#[inline(never)] // Two callers (building, parsing): one copy.
fn tail(index: usize) -> &'static [u8] {
    let (at, len) = TAILS.get(index).map_or((0, 0), |&(at, len)| (at as usize, len as usize));
    TAIL_TEXT.get(at..at + len).unwrap_or(&[])
}

/// Writes the topic of kind `index` ([`Kind::index`]) for `thing` (a valid
/// thing name) into `t`, in place: a topic is 165 bytes, built where it is used.
pub fn write(thing: &[u8], index: usize, t: &mut Topic) {
    // Four copies at offsets bounded by construction (a name of at most
    // MAX_THING_NAME, a tail of at most 16: MAX_TOPIC covers both), so no
    // length checks and no list of parts. (Plain copies rather than `write!`:
    // no formatting machinery in the firmware.)
    let n = thing.len().min(MAX_THING_NAME);
    let tail = tail(index);
    let m = tail.len().min(MAX_TOPIC - 20 - MAX_THING_NAME);
    t.bytes[..12].copy_from_slice(b"$aws/things/");
    t.bytes[12..12 + n].copy_from_slice(&thing[..n]);
    t.bytes[12 + n..20 + n].copy_from_slice(b"/shadow/");
    t.bytes[20 + n..20 + n + m].copy_from_slice(&tail[..m]);
    t.len = (20 + n + m) as u8;
}

/// Splits a shadow topic into its thing name and kind index (one of
/// [`SUBSCRIBED`]'s, not requests). The thing name is valid (so ASCII); the
/// topic's bytes need not be UTF-8.
pub fn parse(topic: &[u8]) -> Option<(&[u8], usize)> {
    // (Byte loops rather than `strip_prefix` and `==`: no `memcmp`.)
    let rest = after(topic, b"$aws/things/")?;
    // The thing name ends at the first '/' (it cannot contain one).
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (thing, rest) = rest.split_at(slash);
    let rest = after(rest, b"/shadow/")?;
    validate_thing_name(thing).ok()?;
    let kind = (0..8).find(|&i| same_out_of_line(tail(i), rest))?;
    Some((thing, kind))
}

/// Every topic a client subscribes to (all but the requests it publishes to),
/// in [`Kind::index`] order.
pub const SUBSCRIBED: [Kind; 8] = [
    Kind::Accepted(Operation::Update),
    Kind::Rejected(Operation::Update),
    Kind::Accepted(Operation::Get),
    Kind::Rejected(Operation::Get),
    Kind::Accepted(Operation::Delete),
    Kind::Rejected(Operation::Delete),
    Kind::Delta,
    Kind::Documents,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_every_kind() {
        for (i, k) in SUBSCRIBED.into_iter().enumerate() {
            assert_eq!(k.index(), i);
            let t = topic("lamp-1", k).unwrap();
            assert_eq!(parse(t.as_bytes()), Some((&b"lamp-1"[..], i)), "{}", t.as_str());
        }
        assert_eq!(topic("lamp", Kind::Request(Operation::Get)).unwrap().as_str(), "$aws/things/lamp/shadow/get");
        assert_eq!(topic("lamp", Kind::Documents).unwrap().as_str(), "$aws/things/lamp/shadow/update/documents");
        assert_eq!(topic("lamp", Kind::Request(Operation::Delete)).unwrap().as_str(), "$aws/things/lamp/shadow/delete");
        assert_eq!(topic("lamp", Kind::Request(Operation::Update)).unwrap().as_str(), "$aws/things/lamp/shadow/update");
    }

    #[test]
    fn every_tail_is_its_kind_s() {
        let tails = [
            "update/accepted", "update/rejected", "get/accepted", "get/rejected", "delete/accepted", "delete/rejected",
            "update/delta", "update/documents", "update", "get", "delete",
        ];
        for (i, want) in tails.into_iter().enumerate() {
            assert_eq!(tail(i), want.as_bytes(), "{i}");
        }
        assert_eq!(tail(tails.len()), b"");
    }

    #[test]
    fn longest_thing_name_fits() {
        let name: std::string::String = "x".repeat(MAX_THING_NAME);
        let t = topic(&name, Kind::Documents).unwrap();
        assert_eq!(t.as_str(), std::format!("$aws/things/{name}/shadow/update/documents"));
        assert_eq!(t.as_bytes().len(), MAX_TOPIC);
        // A shorter topic written over a longer one is only the shorter one.
        let mut t = t;
        write(b"a", Kind::Request(Operation::Get).index(), &mut t);
        assert_eq!(t.as_str(), "$aws/things/a/shadow/get");
        let long: std::string::String = "x".repeat(MAX_THING_NAME + 1);
        assert_eq!(topic(&long, Kind::Delta), Err(ThingNameError::TooLong));
    }

    #[test]
    fn invalid_names_are_refused() {
        assert_eq!(validate_thing_name(b""), Err(ThingNameError::Empty));
        for bad in ["a/b", "a+", "a#", "a b", "é"] {
            assert_eq!(validate_thing_name(bad.as_bytes()), Err(ThingNameError::InvalidCharacter), "{bad}");
        }
        assert_eq!(parse(b"$aws/things/a/shadow/update"), None);
        assert_eq!(parse(b"$aws/things/a+b/shadow/update/delta"), None);
        assert_eq!(parse(b"other/things/a/shadow/update/delta"), None);
        assert_eq!(parse(b"$aws/things/a/b/shadow/update/delta"), None);
        assert_eq!(parse(b"$aws/things/\xff/shadow/update/delta"), None);
    }
}
