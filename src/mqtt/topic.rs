//! MQTT 3.1.1 §4.7 topic names and topic filters: validation, matching, and a
//! fixed-capacity subscription index ([`FilterTable`]) for dispatching incoming
//! PUBLISH packets to subscription callbacks.
//!
//! Everything here is `core`-only, allocation-free and panic-free on any input.
//! Topic strings are compared byte-wise: the spec requires no normalisation
//! ([MQTT-4.7.3-4]), and `/`, `+`, `#` and U+0000 are ASCII, so scanning the
//! UTF-8 bytes never confuses them with parts of multi-byte characters.

use core::fmt;

/// Largest topic name or filter in bytes: it travels as a UTF-8 encoded string
/// with a 16-bit length prefix [MQTT-1.5.3], [MQTT-4.7.3-3].
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Why a topic name or topic filter is not acceptable.
///
/// When several problems are present, the first one in this order is reported:
/// `Empty`, `TooLong`, `InvalidUtf8`, `NullCharacter`, then the wildcard rules
/// level by level from the left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicError {
    /// Zero-length topic name or filter [MQTT-4.7.3-1].
    Empty,
    /// Longer than 65,535 bytes once UTF-8 encoded [MQTT-4.7.3-3].
    TooLong,
    /// The bytes are not well-formed UTF-8 [MQTT-1.5.3-1] (byte-slice entry points only).
    InvalidUtf8,
    /// Contains U+0000 [MQTT-1.5.3-2], [MQTT-4.7.3-2].
    NullCharacter,
    /// A topic name contains `+` or `#`; wildcards are for filters only [MQTT-3.3.2-2].
    WildcardInName,
    /// `#` is not the last character or not alone in its level, e.g. `a/b#` or `a/#/b`
    /// [MQTT-4.7.1-2].
    MisplacedMultiLevel,
    /// `+` is not alone in its level, e.g. `a+/b` [MQTT-4.7.1-3].
    MisplacedSingleLevel,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            TopicError::Empty => "topic is empty",
            TopicError::TooLong => "topic is longer than 65535 bytes",
            TopicError::InvalidUtf8 => "topic is not valid UTF-8",
            TopicError::NullCharacter => "topic contains U+0000",
            TopicError::WildcardInName => "topic name contains a wildcard",
            TopicError::MisplacedMultiLevel => "'#' must be alone in the last level",
            TopicError::MisplacedSingleLevel => "'+' must be alone in its level",
        };
        f.write_str(msg)
    }
}

/// Checks shared by names and filters: length limits and U+0000.
fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if s.as_bytes().contains(&0) {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Validates a topic name (what a PUBLISH carries): non-empty, at most 65,535
/// bytes, no U+0000 and no wildcard characters.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    check_common(name)?;
    if name.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Validates a topic filter (what SUBSCRIBE / UNSUBSCRIBE carry): non-empty, at
/// most 65,535 bytes, no U+0000, `#` only as a whole last level and `+` only as
/// a whole level.
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    check_levels(filter.as_bytes())
}

/// Wildcard placement in a filter, level by level from the left.
fn check_levels(filter: &[u8]) -> Result<(), TopicError> {
    let mut rest = Some(filter);
    while let Some((level, next)) = rest.map(split_level) {
        let is_last = next.is_none();
        rest = next;
        // (`iter().any`, not `contains`: no memchr in the image for these short scans.)
        if level.iter().any(|&b| b == b'#') {
            // [MQTT-4.7.1-2]: "#" must occupy a whole level and be the last one.
            if level != b"#" || !is_last {
                return Err(TopicError::MisplacedMultiLevel);
            }
        } else if level.iter().any(|&b| b == b'+') && level != b"+" {
            // [MQTT-4.7.1-3]: "+" must occupy an entire level.
            return Err(TopicError::MisplacedSingleLevel);
        }
    }
    Ok(())
}

/// Length and UTF-8 checks for the byte-slice entry points (the C ABI hands us
/// pointer + length).
fn str_from_bytes(bytes: &[u8]) -> Result<&str, TopicError> {
    if bytes.is_empty() {
        return Err(TopicError::Empty);
    }
    if bytes.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    core::str::from_utf8(bytes).map_err(|_| TopicError::InvalidUtf8)
}

/// [`validate_topic_name`] for raw bytes, including the UTF-8 check, with the
/// codec's UTF-8 check (the agent keeps topics as bytes). Same answers as
/// [`topic_name_from_bytes`].
pub fn check_topic_name_bytes(bytes: &[u8]) -> Result<(), TopicError> {
    check_bytes(bytes)?;
    if bytes.iter().any(|&b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// [`validate_topic_filter`] for raw bytes, as [`check_topic_name_bytes`].
/// Same answers as [`topic_filter_from_bytes`].
pub fn check_topic_filter_bytes(bytes: &[u8]) -> Result<(), TopicError> {
    check_bytes(bytes)?;
    check_levels(bytes)
}

/// Whether `bytes` is a valid topic filter (`filter`) or topic name: the
/// answer of [`check_topic_filter_bytes`] or [`check_topic_name_bytes`] being
/// `Ok`, without the cause. One routine and one scan for both (the C API's
/// argument checks; the codec's `scan_text`, which checks UTF-8 and U+0000
/// in the same pass): each `+` or `#` must be a whole level (a `/` or either
/// end on both sides), `#` the last byte, and a name has neither.
#[inline(always)] // Its two calls (the C API's) each a test of scan_text's bits: 16 bytes less than a call.
pub fn is_valid_bytes(bytes: &[u8], filter: bool) -> bool {
    use crate::mqtt::codec::{scan_text, HAS_NUL, HAS_WILDCARD, MISPLACED_WILDCARD, NOT_UTF8};
    if bytes.is_empty() || bytes.len() > MAX_TOPIC_LEN {
        return false;
    }
    // The UTF-8, U+0000 and wildcard checks in one pass.
    let refused = NOT_UTF8 | HAS_NUL | if filter { MISPLACED_WILDCARD } else { HAS_WILDCARD };
    scan_text(bytes) & refused == 0
}

/// Empty, too long, UTF-8 and U+0000, in [`TopicError`]'s order.
fn check_bytes(bytes: &[u8]) -> Result<(), TopicError> {
    if bytes.is_empty() {
        return Err(TopicError::Empty);
    }
    if bytes.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    match crate::mqtt::codec::utf8_with_nul(bytes) {
        None => return Err(TopicError::InvalidUtf8),
        Some(true) => return Err(TopicError::NullCharacter),
        Some(false) => {}
    }
    Ok(())
}

/// [`validate_topic_name`] for raw bytes, including the UTF-8 check.
pub fn topic_name_from_bytes(bytes: &[u8]) -> Result<&str, TopicError> {
    let s = str_from_bytes(bytes)?;
    validate_topic_name(s)?;
    Ok(s)
}

/// [`validate_topic_filter`] for raw bytes, including the UTF-8 check.
pub fn topic_filter_from_bytes(bytes: &[u8]) -> Result<&str, TopicError> {
    let s = str_from_bytes(bytes)?;
    validate_topic_filter(s)?;
    Ok(s)
}

/// Whether a filter contains a wildcard character (`+` or `#`).
///
/// For a valid filter this means it can match more than one topic name; a
/// filter without wildcards matches exactly the topic name equal to it.
#[must_use]
pub fn is_wildcard_filter(filter: &str) -> bool {
    filter.bytes().any(|b| b == b'+' || b == b'#')
}

/// Whether `topic` (a topic name) matches `filter` (a topic filter), per §4.7.
///
/// - `+` matches exactly one level, which may be empty (`sport/+` matches `sport/`).
/// - `#` matches its parent level and any number of child levels (`sport/#`
///   matches `sport`, `sport/` and `sport/tennis/player1`) [MQTT-4.7.1-2].
/// - A filter starting with a wildcard does not match a topic name starting
///   with `$` [MQTT-4.7.2-1].
/// - Anything else is compared byte for byte, with no normalisation [MQTT-4.7.3-4].
///
/// Both arguments are assumed valid; for invalid input the answer is
/// unspecified but the function still returns without panicking.
#[must_use]
pub fn matches(filter: &str, topic: &str) -> bool {
    matches_bytes(filter.as_bytes(), topic.as_bytes())
}

/// [`matches`] on the strings' bytes (the agent keeps topics as bytes).
#[must_use]
pub fn matches_bytes(f: &[u8], t: &[u8]) -> bool {
    if t.first() == Some(&b'$') && matches!(f.first(), Some(b'+' | b'#')) {
        return false;
    }
    // What is left of each after the levels compared so far (`None`: no more levels).
    let (mut f, mut t) = (Some(f), Some(t));
    loop {
        let Some((fl, f_rest)) = f.map(split_level) else {
            // Both ran out together, or the topic has more levels.
            return t.is_none();
        };
        // "#" swallows the rest, including the case of no further topic
        // levels (it matches the parent too).
        if fl == b"#" {
            return true;
        }
        // The filter has more levels than the topic.
        let Some((tl, t_rest)) = t.map(split_level) else { return false };
        if fl != b"+" && fl != tl {
            return false;
        }
        (f, t) = (f_rest, t_rest);
    }
}

/// [`matches_bytes`] for a valid filter and a valid topic name (the
/// agent's subscriptions and received topics are checked before), in one
/// walk of both, byte by byte, not split into levels: in a valid filter a
/// wildcard is a whole level, so a `+` starts where a topic level starts
/// (the bytes before it matched) and takes that level's bytes, up to its
/// `/` or the end; a `#` takes the rest. Every other byte must be the
/// topic's next one, so a filter without wildcards matches exactly the
/// topic equal to it. (Other input: an answer, unspecified, and no panic.)
#[must_use]
pub fn matches_valid(f: &[u8], t: &[u8]) -> bool {
    if t.first() == Some(&b'$') && matches!(f.first(), Some(b'+' | b'#')) {
        return false;
    }
    // The topic's bytes matched so far.
    let mut j = 0;
    for &c in f {
        match c {
            // It swallows the rest, including no further topic level.
            b'#' => return true,
            b'+' => {
                while t.get(j).is_some_and(|&b| b != b'/') {
                    j += 1;
                }
            }
            _ => {
                // The topic's end reads as one '/' (then as U+0000, in no
                // valid filter): "a/#" goes on to its "#" after "a", which
                // matches the parent level too [MQTT-4.7.1-2]; any other
                // filter that goes on fails, at the latest at the end (`j`
                // then past the topic). (Smaller than testing for "/#".)
                let b = t.get(j).copied().unwrap_or(if j == t.len() { b'/' } else { 0 });
                if b != c {
                    return false;
                }
                j += 1;
            }
        }
    }
    j == t.len()
}

/// The first level of `s` and what follows its `/` (`None`: it was the last
/// level). `a/` is `a` then an empty last level; the empty string is one empty level.
#[inline(never)]
fn split_level(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == b'/') {
        Some(p) => (s.get(..p).unwrap_or(s), s.get(p + 1..)),
        None => (s, None),
    }
}

// ---------------------------------------------------------------------------
// FilterTable
// ---------------------------------------------------------------------------

/// Why [`FilterTable::insert`] refused a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableError {
    /// All `N` entries are in use (and the filter is not already present).
    Full,
    /// The filter is longer than the table's `MAX_LEN` bytes.
    TooLong,
    /// The filter is not a valid MQTT topic filter.
    InvalidFilter(TopicError),
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::Full => f.write_str("subscription table is full"),
            TableError::TooLong => f.write_str("topic filter is too long for the table"),
            TableError::InvalidFilter(e) => write!(f, "invalid topic filter: {e}"),
        }
    }
}

/// 32-bit FNV-1a: a cheap, deterministic hash so the exact-match index can
/// compare one `u32` per probe instead of a whole string.
fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[derive(Debug, Clone)]
struct Entry<V, const MAX_LEN: usize> {
    filter: heapless::String<MAX_LEN>,
    hash: u32,
    value: V,
}

/// A fixed-capacity set of up to `N` topic filters (each at most `MAX_LEN`
/// bytes), each with a value `V` (by default an opaque `u32`, e.g. a callback
/// slot). No allocation; suitable for a `static` or a task's state.
///
/// Layout and cost (N = capacity, W = number of wildcard filters, L = topic length):
/// - entries are kept in insertion order;
/// - filters without wildcards are also indexed in an array sorted by
///   (FNV-1a hash, bytes), so the exact-match lookup in [`matching`](Self::matching),
///   [`get`](Self::get), [`insert`](Self::insert) and [`remove`](Self::remove)
///   costs O(L + log N) — one hash, a binary search over `u32`s and normally a
///   single string comparison;
/// - wildcard filters are indexed in insertion order and matched one by one:
///   O(W · L) per topic;
/// - `insert` and `remove` shift the arrays: O(N) moves.
///
/// Inserting a filter that is already present replaces its value (returning the
/// old one) and keeps the entry's original position in insertion order — the
/// same outcome as AFR re-subscribing with a new callback.
#[derive(Debug, Clone)]
pub struct FilterTable<const N: usize, const MAX_LEN: usize, V = u32> {
    entries: heapless::Vec<Entry<V, MAX_LEN>, N>,
    /// Positions in `entries` of wildcard-free filters, sorted by (hash, bytes).
    exact: heapless::Vec<u16, N>,
    /// Positions in `entries` of wildcard filters, ascending (= insertion order).
    wild: heapless::Vec<u16, N>,
}

impl<const N: usize, const MAX_LEN: usize, V> Default for FilterTable<N, MAX_LEN, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const MAX_LEN: usize, V> FilterTable<N, MAX_LEN, V> {
    /// Positions are stored as `u16` to keep the indexes small on MCUs.
    const CAPACITY_FITS_U16: () = assert!(N <= u16::MAX as usize, "FilterTable: N must be <= 65535");

    /// An empty table (usable in `const`/`static` initialisers).
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_FITS_U16;
        Self {
            entries: heapless::Vec::new(),
            exact: heapless::Vec::new(),
            wild: heapless::Vec::new(),
        }
    }

    /// Number of filters stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no filter is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Maximum number of filters (`N`).
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Maximum filter length in bytes (`MAX_LEN`).
    pub const fn max_filter_len(&self) -> usize {
        MAX_LEN
    }

    /// Removes every filter.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.exact.clear();
        self.wild.clear();
    }

    fn key(&self, pos: u16) -> Option<(u32, &[u8])> {
        self.entries
            .get(usize::from(pos))
            .map(|e| (e.hash, e.filter.as_bytes()))
    }

    /// Binary search of the exact index: `Ok(i)` when `exact[i]` holds `s`,
    /// `Err(i)` with the insertion point otherwise.
    fn search_exact(&self, hash: u32, s: &[u8]) -> Result<usize, usize> {
        self.exact
            .binary_search_by(|&pos| match self.key(pos) {
                Some(k) => k.cmp(&(hash, s)),
                // Unreachable while the invariants hold; any answer avoids a panic.
                None => core::cmp::Ordering::Less,
            })
    }

    /// Position in `entries` of `filter`, if present.
    fn position(&self, filter: &str) -> Option<usize> {
        let hash = fnv1a(filter.as_bytes());
        if is_wildcard_filter(filter) {
            self.wild
                .iter()
                .map(|&p| usize::from(p))
                .find(|&p| {
                    self.entries
                        .get(p)
                        .is_some_and(|e| e.hash == hash && e.filter.as_str() == filter)
                })
        } else {
            self.search_exact(hash, filter.as_bytes())
                .ok()
                .and_then(|i| self.exact.get(i))
                .map(|&p| usize::from(p))
        }
    }

    /// Adds `filter` with `value`.
    ///
    /// Returns `Ok(None)` for a new filter, `Ok(Some(old))` when the filter was
    /// already present (its value is replaced, its position kept), or an error
    /// if the filter is longer than `MAX_LEN`, not a valid topic filter, or the
    /// table is full. On error the table is unchanged.
    pub fn insert(&mut self, filter: &str, value: V) -> Result<Option<V>, TableError> {
        if filter.len() > MAX_LEN {
            return Err(TableError::TooLong);
        }
        validate_topic_filter(filter).map_err(TableError::InvalidFilter)?;

        if let Some(e) = self.position(filter).and_then(|p| self.entries.get_mut(p)) {
            return Ok(Some(core::mem::replace(&mut e.value, value)));
        }
        if self.entries.is_full() {
            return Err(TableError::Full);
        }

        let mut text = heapless::String::new();
        text.push_str(filter).map_err(|()| TableError::TooLong)?;
        let hash = fnv1a(filter.as_bytes());
        let pos = self.entries.len();
        // `pos < N <= u16::MAX` (entries is not full, N checked at compile time).
        let pos16 = u16::try_from(pos).map_err(|_| TableError::Full)?;
        let wildcard = is_wildcard_filter(filter);
        // Reserve the index slot first so nothing can fail after `entries` grows.
        // Each index holds at most `N` positions in total, and `entries` is not full.
        let exact_at = if wildcard {
            self.wild.push(pos16).map_err(|_| TableError::Full)?;
            None
        } else {
            let at = match self.search_exact(hash, filter.as_bytes()) {
                Ok(at) | Err(at) => at,
            };
            self.exact.insert(at, pos16).map_err(|_| TableError::Full)?;
            Some(at)
        };
        if self
            .entries
            .push(Entry {
                filter: text,
                hash,
                value,
            })
            .is_err()
        {
            // Unreachable (checked `is_full` above); undo the index change anyway
            // (precisely: a full rebuild would sort, which costs flash).
            match exact_at {
                Some(at) => {
                    self.exact.remove(at);
                }
                None => {
                    self.wild.pop();
                }
            }
            return Err(TableError::Full);
        }
        Ok(None)
    }

    /// Removes `filter` (compared as an exact string, not matched) and returns
    /// its value.
    pub fn remove(&mut self, filter: &str) -> Option<V> {
        let pos = self.position(filter)?;
        if pos >= self.entries.len() {
            return None;
        }
        let entry = self.entries.remove(pos);
        // Drop `pos` from whichever index holds it and close the gap it leaves
        // in `entries` positions.
        let pos16 = u16::try_from(pos).ok()?;
        for index in [&mut self.exact, &mut self.wild] {
            index.retain(|&p| p != pos16);
            for p in index.iter_mut() {
                if *p > pos16 {
                    *p -= 1;
                }
            }
        }
        Some(entry.value)
    }

    /// Keeps only the entries for which `keep(filter, &mut value)` is true.
    /// O(N log N).
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut V) -> bool) {
        self.entries
            .retain_mut(|e| keep(e.filter.as_str(), &mut e.value));
        self.rebuild_indexes();
    }

    fn rebuild_indexes(&mut self) {
        self.exact.clear();
        self.wild.clear();
        for (pos, e) in self.entries.iter().enumerate() {
            let Ok(pos16) = u16::try_from(pos) else { break };
            let index = if is_wildcard_filter(&e.filter) {
                &mut self.wild
            } else {
                &mut self.exact
            };
            // Cannot fail: each index has capacity N >= entries.len().
            let _ = index.push(pos16);
        }
        let entries = &self.entries;
        self.exact.sort_unstable_by(|&a, &b| {
            let key = |p: u16| entries.get(usize::from(p)).map(|e| (e.hash, e.filter.as_bytes()));
            key(a).cmp(&key(b))
        });
    }

    /// The value stored for `filter` (exact string comparison).
    pub fn get(&self, filter: &str) -> Option<&V> {
        self.position(filter)
            .and_then(|p| self.entries.get(p))
            .map(|e| &e.value)
    }

    /// Mutable access to the value stored for `filter` (exact string comparison).
    pub fn get_mut(&mut self, filter: &str) -> Option<&mut V> {
        self.position(filter)
            .and_then(|p| self.entries.get_mut(p))
            .map(|e| &mut e.value)
    }

    /// Whether `filter` is stored (exact string comparison).
    pub fn contains(&self, filter: &str) -> bool {
        self.position(filter).is_some()
    }

    /// All `(filter, value)` pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> + '_ {
        self.entries.iter().map(|e| (e.filter.as_str(), &e.value))
    }

    /// The entries whose filter matches `topic`: first the filter equal to
    /// `topic` (if any), then the wildcard filters that match it, in insertion
    /// order — the order in which AFR invokes subscription callbacks.
    ///
    /// The exact-match part costs O(L + log N); the wildcard part O(W · L),
    /// evaluated lazily as the iterator advances.
    #[must_use]
    pub fn matching<'a>(&'a self, topic: &'a str) -> Matching<'a, N, MAX_LEN, V> {
        let exact = self
            .search_exact(fnv1a(topic.as_bytes()), topic.as_bytes())
            .ok()
            .and_then(|i| self.exact.get(i))
            .map(|&p| usize::from(p));
        Matching {
            table: self,
            topic,
            exact,
            next_wild: 0,
        }
    }
}

/// Iterator returned by [`FilterTable::matching`]; yields `(filter, &value)`.
#[derive(Debug, Clone)]
pub struct Matching<'a, const N: usize, const MAX_LEN: usize, V = u32> {
    table: &'a FilterTable<N, MAX_LEN, V>,
    topic: &'a str,
    exact: Option<usize>,
    next_wild: usize,
}

impl<'a, const N: usize, const MAX_LEN: usize, V> Iterator for Matching<'a, N, MAX_LEN, V> {
    type Item = (&'a str, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let table = self.table;
        if let Some(e) = self.exact.take().and_then(|p| table.entries.get(p)) {
            return Some((e.filter.as_str(), &e.value));
        }
        while let Some(&p) = table.wild.get(self.next_wild) {
            self.next_wild += 1;
            if let Some(e) = table.entries.get(usize::from(p)) {
                if matches(&e.filter, self.topic) {
                    return Some((e.filter.as_str(), &e.value));
                }
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining_wild = self.table.wild.len().saturating_sub(self.next_wild);
        (
            usize::from(self.exact.is_some()),
            Some(remaining_wild + usize::from(self.exact.is_some())),
        )
    }
}


#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::string::String;
    use std::vec::Vec;

    // --- §4.7.1.2 multi-level wildcard examples ---------------------------

    #[test]
    fn multi_level_wildcard_spec_examples() {
        let f = "sport/tennis/player1/#";
        assert!(matches(f, "sport/tennis/player1"));
        assert!(matches(f, "sport/tennis/player1/ranking"));
        assert!(matches(f, "sport/tennis/player1/score/wimbledon"));
        // "sport/#" also matches the singular "sport", # includes the parent level.
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/#", "sport/"));
        assert!(!matches(f, "sport/tennis/player2"));
        assert!(!matches(f, "sport/tennis"));
        // "#" is valid and matches every (non-$) topic.
        assert_eq!(validate_topic_filter("#"), Ok(()));
        assert!(matches("#", "sport/tennis/player1"));
        assert!(matches("#", "/"));
        // "sport/tennis/#" is valid; "sport/tennis#" and "sport/tennis/#/ranking" are not.
        assert_eq!(validate_topic_filter("sport/tennis/#"), Ok(()));
        assert_eq!(
            validate_topic_filter("sport/tennis#"),
            Err(TopicError::MisplacedMultiLevel)
        );
        assert_eq!(
            validate_topic_filter("sport/tennis/#/ranking"),
            Err(TopicError::MisplacedMultiLevel)
        );
    }

    // --- §4.7.1.3 single-level wildcard examples --------------------------

    #[test]
    fn single_level_wildcard_spec_examples() {
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(matches("sport/tennis/+", "sport/tennis/player2"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(!matches("sport/+", "sport/tennis/player1"));
        for f in ["+", "+/tennis/#", "sport/+/player1"] {
            assert_eq!(validate_topic_filter(f), Ok(()), "{f}");
        }
        assert_eq!(
            validate_topic_filter("sport+"),
            Err(TopicError::MisplacedSingleLevel)
        );
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(matches("+/tennis/#", "sport/tennis/player1/ranking"));
        assert!(matches("sport/+/player1", "sport/tennis/player1"));
    }

    // --- §4.7.2 topics beginning with $ -----------------------------------

    #[test]
    fn dollar_topics_spec_examples() {
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("#", "$SYS"));
        assert!(!matches("+", "$SYS"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/"));
        assert!(matches("$SYS/#", "$SYS"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
        // Only a leading $ is special.
        assert!(matches("#", "a/$SYS"));
        assert!(matches("+/$SYS", "a/$SYS"));
        // AWS IoT shadow topics start with $aws.
        assert!(matches(
            "$aws/things/+/shadow/update/accepted",
            "$aws/things/dev1/shadow/update/accepted"
        ));
        assert!(!matches("+/things/dev1/shadow/update", "$aws/things/dev1/shadow/update"));
    }

    // --- §4.7.3 topic semantics -------------------------------------------

    #[test]
    fn topic_semantics_spec_examples() {
        // Case sensitive.
        assert!(!matches("ACCOUNTS", "Accounts"));
        assert!(matches("Accounts", "Accounts"));
        // Spaces are allowed and significant.
        assert_eq!(validate_topic_name("Accounts payable"), Ok(()));
        assert!(matches("Accounts payable", "Accounts payable"));
        // A leading or trailing "/" creates a distinct (empty) level.
        assert_eq!(validate_topic_name("/finance"), Ok(()));
        assert!(!matches("finance", "/finance"));
        assert!(!matches("/finance", "finance"));
        // "/" alone is a valid name with two empty levels.
        assert_eq!(validate_topic_name("/"), Ok(()));
        assert!(matches("+/+", "/"));
        assert!(!matches("+", "/"));
        // Empty levels are allowed in names and filters.
        assert_eq!(validate_topic_name("a//b"), Ok(()));
        assert_eq!(validate_topic_filter("a//+/#"), Ok(()));
        assert!(matches("a/+/b", "a//b"));
        // Non-ASCII is compared byte for byte.
        assert!(matches("héllo/+", "héllo/wörld"));
        assert!(!matches("he\u{301}llo", "héllo"));
    }

    #[test]
    fn every_topic_error_variant() {
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_filter(""), Err(TopicError::Empty));
        assert_eq!(topic_name_from_bytes(b""), Err(TopicError::Empty));
        assert_eq!(topic_filter_from_bytes(b""), Err(TopicError::Empty));

        let max = "a".repeat(MAX_TOPIC_LEN);
        let over = "a".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(validate_topic_name(&max), Ok(()));
        assert_eq!(validate_topic_filter(&max), Ok(()));
        assert_eq!(validate_topic_name(&over), Err(TopicError::TooLong));
        assert_eq!(validate_topic_filter(&over), Err(TopicError::TooLong));
        assert_eq!(topic_name_from_bytes(over.as_bytes()), Err(TopicError::TooLong));
        assert_eq!(topic_filter_from_bytes(over.as_bytes()), Err(TopicError::TooLong));
        // The limit counts UTF-8 bytes, not characters.
        let multibyte = "é".repeat(MAX_TOPIC_LEN / 2 + 1);
        assert_eq!(validate_topic_name(&multibyte), Err(TopicError::TooLong));

        assert_eq!(topic_name_from_bytes(b"a/\xff"), Err(TopicError::InvalidUtf8));
        assert_eq!(topic_filter_from_bytes(b"\xc3"), Err(TopicError::InvalidUtf8));
        // UTF-16 surrogate encoded in UTF-8 is ill-formed [MQTT-1.5.3-1].
        assert_eq!(
            topic_name_from_bytes(b"\xed\xa0\x80"),
            Err(TopicError::InvalidUtf8)
        );

        assert_eq!(validate_topic_name("a\0b"), Err(TopicError::NullCharacter));
        assert_eq!(validate_topic_filter("a/\0"), Err(TopicError::NullCharacter));
        assert_eq!(topic_name_from_bytes(b"\0"), Err(TopicError::NullCharacter));

        assert_eq!(validate_topic_name("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("#"), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a/b#"), Err(TopicError::WildcardInName));
        assert_eq!(topic_name_from_bytes(b"+"), Err(TopicError::WildcardInName));

        for f in ["a/b#", "#/", "#/a", "a/#/", "##", "a/#b", "a/#/#"] {
            assert_eq!(
                validate_topic_filter(f),
                Err(TopicError::MisplacedMultiLevel),
                "{f}"
            );
        }
        for f in ["a+/b", "+a", "a/++", "a/+b/#", "a/b+"] {
            assert_eq!(
                validate_topic_filter(f),
                Err(TopicError::MisplacedSingleLevel),
                "{f}"
            );
        }
        assert_eq!(topic_filter_from_bytes(b"a+"), Err(TopicError::MisplacedSingleLevel));
        assert_eq!(topic_filter_from_bytes(b"a/b/#"), Ok("a/b/#"));
        assert_eq!(topic_name_from_bytes(b"a/b"), Ok("a/b"));
        // Every variant has a message.
        assert!(!std::format!("{}", TopicError::MisplacedSingleLevel).is_empty());
    }

    #[test]
    fn wildcard_detection() {
        assert!(is_wildcard_filter("#"));
        assert!(is_wildcard_filter("a/+/b"));
        assert!(!is_wildcard_filter("a/b"));
        assert!(!is_wildcard_filter("$SYS/x"));
    }

    #[test]
    fn matches_does_not_panic_on_invalid_input() {
        for (f, t) in [
            ("", ""),
            ("", "a"),
            ("a", ""),
            ("#/a", "x/y"),
            ("a#", "a#"),
            ("+", ""),
            ("++", "+"),
            ("#", ""),
        ] {
            let _ = matches(f, t);
        }
    }

    // --- FilterTable --------------------------------------------------------

    type Table = FilterTable<8, 32>;

    fn collect<'a>(t: &'a Table, topic: &'a str) -> Vec<(&'a str, u32)> {
        t.matching(topic).map(|(f, v)| (f, *v)).collect()
    }

    #[test]
    fn table_exact_first_then_wildcards_in_insertion_order() {
        let mut t = Table::new();
        assert_eq!(t.insert("a/#", 1), Ok(None));
        assert_eq!(t.insert("+/b", 2), Ok(None));
        assert_eq!(t.insert("x/y", 3), Ok(None));
        assert_eq!(t.insert("a/b", 4), Ok(None));
        assert_eq!(t.insert("#", 5), Ok(None));
        assert_eq!(t.len(), 5);
        assert_eq!(
            collect(&t, "a/b"),
            std::vec![("a/b", 4), ("a/#", 1), ("+/b", 2), ("#", 5)]
        );
        assert_eq!(collect(&t, "x/y"), std::vec![("x/y", 3), ("#", 5)]);
        assert_eq!(collect(&t, "$x/b"), std::vec![]);
        assert_eq!(t.iter().map(|(_, v)| *v).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn table_duplicate_replaces_and_keeps_position() {
        let mut t = Table::new();
        t.insert("a/+", 1).unwrap();
        t.insert("b", 2).unwrap();
        t.insert("#", 3).unwrap();
        assert_eq!(t.insert("a/+", 10), Ok(Some(1)));
        assert_eq!(t.insert("b", 20), Ok(Some(2)));
        assert_eq!(t.len(), 3);
        assert_eq!(collect(&t, "a/c"), std::vec![("a/+", 10), ("#", 3)]);
        assert_eq!(t.get("b"), Some(&20));
        *t.get_mut("#").unwrap() = 30;
        assert_eq!(t.get("#"), Some(&30));
    }

    #[test]
    fn table_errors() {
        let mut t: FilterTable<2, 4> = FilterTable::new();
        assert_eq!(t.insert("abcde", 0), Err(TableError::TooLong));
        assert_eq!(t.insert("a+", 0), Err(TableError::InvalidFilter(TopicError::MisplacedSingleLevel)));
        assert_eq!(t.insert("", 0), Err(TableError::InvalidFilter(TopicError::Empty)));
        t.insert("abcd", 1).unwrap();
        t.insert("+", 2).unwrap();
        assert_eq!(t.insert("c", 3), Err(TableError::Full));
        // Replacing is still possible when full.
        assert_eq!(t.insert("+", 4), Ok(Some(2)));
        assert_eq!(t.len(), 2);
        assert_eq!(t.capacity(), 2);
        assert_eq!(t.max_filter_len(), 4);
    }

    #[test]
    fn table_remove_and_retain() {
        let mut t = Table::new();
        for (i, f) in ["a", "+", "b", "#", "c"].iter().enumerate() {
            t.insert(f, i as u32).unwrap();
        }
        assert_eq!(t.remove("zz"), None);
        assert_eq!(t.remove("a/+"), None);
        assert_eq!(t.remove("+"), Some(1));
        assert_eq!(t.remove("+"), None);
        assert_eq!(t.remove("a"), Some(0));
        assert_eq!(collect(&t, "b"), std::vec![("b", 2), ("#", 3)]);
        assert_eq!(collect(&t, "c"), std::vec![("c", 4), ("#", 3)]);
        t.insert("+", 9).unwrap();
        assert_eq!(collect(&t, "c"), std::vec![("c", 4), ("#", 3), ("+", 9)]);
        t.retain(|f, v| {
            *v += 100;
            f != "#"
        });
        assert_eq!(collect(&t, "c"), std::vec![("c", 104), ("+", 109)]);
        assert_eq!(collect(&t, "b"), std::vec![("b", 102), ("+", 109)]);
        assert!(t.contains("b"));
        assert!(!t.contains("#"));
        t.clear();
        assert!(t.is_empty());
        assert_eq!(collect(&t, "b"), std::vec![]);
    }

    #[test]
    fn table_in_static_and_generic_value() {
        static EMPTY: FilterTable<4, 16> = FilterTable::new();
        assert!(EMPTY.is_empty());
        let mut t: FilterTable<4, 16, &str> = FilterTable::default();
        t.insert("x/#", "cb").unwrap();
        assert_eq!(t.matching("x/y").next(), Some(("x/#", &"cb")));
    }

    // --- property tests ----------------------------------------------------

    /// A level of a topic name: small alphabet so collisions with filters are common.
    fn name_level() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-c]{1,3}",
            Just(String::from("$SYS")),
            Just(String::from("é ü")),
        ]
    }

    fn topic_name() -> impl Strategy<Value = String> {
        proptest::collection::vec(name_level(), 1..6)
            .prop_map(|v| v.join("/"))
            .prop_filter("topic names are non-empty", |t| !t.is_empty())
    }

    fn filter_level() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-b]{1,2}",
            Just(String::from("$SYS")),
            Just(String::from("+")),
        ]
    }

    fn topic_filter() -> impl Strategy<Value = String> {
        (proptest::collection::vec(filter_level(), 1..5), any::<bool>()).prop_map(|(mut v, hash)| {
            if hash {
                v.push(String::from("#"));
            }
            v.join("/")
        })
        .prop_filter("topic filters are non-empty", |f| !f.is_empty())
    }

    proptest! {
        #[test]
        fn prop_name_matches_itself(t in topic_name()) {
            prop_assert_eq!(validate_topic_name(&t), Ok(()));
            prop_assert_eq!(validate_topic_filter(&t), Ok(()));
            prop_assert!(!is_wildcard_filter(&t));
            prop_assert!(matches(&t, &t));
            prop_assert_eq!(topic_name_from_bytes(t.as_bytes()), Ok(t.as_str()));
        }

        #[test]
        fn prop_hash_matches_every_non_dollar_topic(t in topic_name()) {
            prop_assert_eq!(matches("#", &t), !t.starts_with('$'));
        }

        #[test]
        fn prop_generalised_filter_matches(
            t in topic_name(),
            plus in proptest::collection::vec(any::<bool>(), 6),
            cut in proptest::option::of(0usize..7),
        ) {
            let levels: Vec<&str> = t.split('/').collect();
            let mut f: Vec<&str> = levels
                .iter()
                .zip(plus.iter().chain(core::iter::repeat(&false)))
                .map(|(l, &p)| if p { "+" } else { *l })
                .collect();
            if let Some(k) = cut {
                f.truncate(k.min(levels.len()));
                f.push("#");
            }
            let f = f.join("/");
            prop_assert_eq!(validate_topic_filter(&f), Ok(()));
            let wildcard_first = f.starts_with('+') || f.starts_with('#');
            prop_assert_eq!(matches(&f, &t), !(t.starts_with('$') && wildcard_first), "{} {}", f, t);
        }

        /// The agent's byte walk answers as the level walk on a valid
        /// filter and topic name (random pairs, and a topic with a filter
        /// made from it).
        #[test]
        fn prop_matches_valid_as_matches_bytes(
            f in topic_filter(),
            t in topic_name(),
            plus in proptest::collection::vec(any::<bool>(), 6),
            cut in proptest::option::of(0usize..7),
        ) {
            prop_assert_eq!(matches_valid(f.as_bytes(), t.as_bytes()), matches_bytes(f.as_bytes(), t.as_bytes()), "{} {}", f, t);
            prop_assert!(matches_valid(t.as_bytes(), t.as_bytes()));
            let levels: Vec<&str> = t.split('/').collect();
            let mut g: Vec<&str> = levels
                .iter()
                .zip(plus.iter().chain(core::iter::repeat(&false)))
                .map(|(l, &p)| if p { "+" } else { *l })
                .collect();
            if let Some(k) = cut {
                g.truncate(k.min(levels.len()));
                g.push("#");
            }
            let g = g.join("/");
            prop_assert_eq!(matches_valid(g.as_bytes(), t.as_bytes()), matches_bytes(g.as_bytes(), t.as_bytes()), "{} {}", g, t);
            // A topic one level longer or shorter.
            let longer = format!("{t}/a");
            prop_assert_eq!(matches_valid(g.as_bytes(), longer.as_bytes()), matches_bytes(g.as_bytes(), longer.as_bytes()), "{} {}", g, longer);
            if let Some((shorter, _)) = t.rsplit_once('/') {
                prop_assert_eq!(matches_valid(g.as_bytes(), shorter.as_bytes()), matches_bytes(g.as_bytes(), shorter.as_bytes()), "{} {}", g, shorter);
            }
        }

        #[test]
        fn prop_random_filters_validate_and_match_without_panic(f in topic_filter(), t in topic_name()) {
            prop_assert_eq!(validate_topic_filter(&f), Ok(()));
            let m = matches(&f, &t);
            if !is_wildcard_filter(&f) {
                prop_assert_eq!(m, f == t);
            }
        }

        /// The level walker answers as a split-iterator matcher (the
        /// implementation before it), on filters and topics made of the
        /// characters that matter.
        #[test]
        fn prop_matches_as_split_iterators(
            f in proptest::collection::vec(prop_oneof![Just(b'/'), Just(b'+'), Just(b'#'), Just(b'a'), Just(b'$')], 0..8),
            t in proptest::collection::vec(prop_oneof![Just(b'/'), Just(b'a'), Just(b'b'), Just(b'$')], 0..8),
        ) {
            fn split_matches(f: &[u8], t: &[u8]) -> bool {
                if t.first() == Some(&b'$') && matches!(f.first(), Some(b'+' | b'#')) {
                    return false;
                }
                let mut f_levels = f.split(|&b| b == b'/');
                let mut t_levels = t.split(|&b| b == b'/');
                loop {
                    match (f_levels.next(), t_levels.next()) {
                        (Some(b"#"), _) => return true,
                        (Some(b"+"), Some(_)) => {}
                        (Some(fl), Some(tl)) if fl != tl => return false,
                        (Some(_), Some(_)) => {}
                        (None, None) => return true,
                        _ => return false,
                    }
                }
            }
            prop_assert_eq!(matches_bytes(&f, &t), split_matches(&f, &t));
        }

        #[test]
        fn prop_never_panics_on_arbitrary_strings(f in ".{0,12}", t in ".{0,12}", b in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = matches(&f, &t);
            let _ = validate_topic_filter(&f);
            let _ = validate_topic_name(&t);
            let _ = topic_filter_from_bytes(&b);
            let _ = topic_name_from_bytes(&b);
            // The only valid filter containing "#" ends with it.
            if validate_topic_filter(&f).is_ok() && f.contains('#') {
                prop_assert!(f == "#" || f.ends_with("/#"));
            }
        }

        /// `is_valid_bytes` answers as the checks with a cause, on any
        /// bytes (mostly wildcards, slashes and a few others, where the
        /// level rules bite) and on valid filters and names.
        #[test]
        fn prop_is_valid_bytes_as_checks(
            b in proptest::collection::vec(proptest::sample::select(vec![b'+', b'#', b'/', b'a', 0, 0xC3, 0xA9, 0xFF]), 0..10),
            f in topic_filter(),
            t in topic_name(),
        ) {
            for bytes in [&b[..], f.as_bytes(), t.as_bytes()] {
                prop_assert_eq!(is_valid_bytes(bytes, true), check_topic_filter_bytes(bytes).is_ok(), "{:?}", bytes);
                prop_assert_eq!(is_valid_bytes(bytes, false), check_topic_name_bytes(bytes).is_ok(), "{:?}", bytes);
            }
        }

        #[test]
        fn prop_table_agrees_with_brute_force(
            filters in proptest::collection::vec(topic_filter(), 0..20),
            removals in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
            topics in proptest::collection::vec(topic_name(), 1..8),
        ) {
            let mut table: FilterTable<16, 16> = FilterTable::new();
            // Model: insertion-ordered (filter, value) list.
            let mut model: Vec<(String, u32)> = Vec::new();
            for (i, f) in filters.iter().enumerate() {
                let v = i as u32;
                let res = table.insert(f, v);
                if f.len() > 16 {
                    prop_assert_eq!(res, Err(TableError::TooLong));
                } else if let Some(slot) = model.iter_mut().find(|(mf, _)| mf == f) {
                    prop_assert_eq!(res, Ok(Some(slot.1)));
                    slot.1 = v;
                } else if model.len() == 16 {
                    prop_assert_eq!(res, Err(TableError::Full));
                } else {
                    prop_assert_eq!(res, Ok(None));
                    model.push((f.clone(), v));
                }
            }
            for r in &removals {
                if model.is_empty() { break; }
                let (f, v) = model.remove(r.index(model.len()));
                prop_assert_eq!(table.remove(&f), Some(v));
            }
            prop_assert_eq!(table.len(), model.len());
            let mut probes = topics.clone();
            // Also probe with stored wildcard-free filters so exact hits are frequent.
            probes.extend(model.iter().map(|(f, _)| f.clone()).filter(|f| !is_wildcard_filter(f)));
            for t in &probes {
                let got: Vec<(&str, u32)> = table.matching(t).map(|(f, v)| (f, *v)).collect();
                let exact: Vec<(&str, u32)> = model.iter().filter(|(f, _)| f == t).map(|(f, v)| (f.as_str(), *v)).collect();
                let wild = model.iter().filter(|(f, _)| is_wildcard_filter(f) && matches(f, t)).map(|(f, v)| (f.as_str(), *v));
                let expected: Vec<(&str, u32)> = exact.into_iter().chain(wild).collect();
                prop_assert_eq!(&got, &expected);
                // Same set as a plain scan with `matches`.
                let brute = model.iter().filter(|(f, _)| matches(f, t)).count();
                prop_assert_eq!(got.len(), brute);
            }
        }
    }
}
