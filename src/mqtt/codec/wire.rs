//! Bounds-checked cursors over packet bytes and the field rules shared by
//! several packet types (strings §1.5.3, packet identifiers §2.3.1, topic
//! names §4.7.3). Every access is checked; nothing here can panic.

use super::{varint, DecodeError, EncodeError, MAX_REMAINING_LEN};

/// Longest string or binary field: its length is a `u16` (§1.5.3).
pub(crate) const MAX_FIELD_LEN: usize = u16::MAX as usize;

/// Reads fields front to back from a packet body.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the next `n` bytes, or [`DecodeError::Truncated`].
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, tail) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
        self.buf = tail;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let hi = self.u8()?;
        let lo = self.u8()?;
        Ok(u16::from_be_bytes([hi, lo]))
    }

    /// A packet identifier, which must be non-zero [MQTT-2.3.1-1].
    pub(crate) fn packet_id(&mut self) -> Result<u16, DecodeError> {
        match self.u16()? {
            0 => Err(DecodeError::ZeroPacketId),
            id => Ok(id),
        }
    }

    /// A 2-byte length followed by that many bytes (§1.5.3 shape; binary
    /// fields such as the password and will message, §3.1.3).
    pub(crate) fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.bytes(usize::from(len))
    }

    /// A UTF-8 encoded string (§1.5.3): well-formed [MQTT-1.5.3-1], without
    /// U+0000 [MQTT-1.5.3-2].
    pub(crate) fn str(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.binary()?;
        let s = core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
        if bytes.contains(&0) {
            return Err(DecodeError::NullCharacter);
        }
        Ok(s)
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// [`DecodeError::LengthMismatch`] if bytes are left over.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::LengthMismatch)
        }
    }
}

/// Whether `bytes` are well-formed UTF-8 (RFC 3629, what `core::str::from_utf8`
/// accepts: no overlong forms, no surrogates, nothing above U+10FFFF), without
/// core's validator and its 256-byte table.
pub fn is_utf8(bytes: &[u8]) -> bool {
    utf8_with_nul(bytes).is_some()
}

/// [`is_utf8`] and, in the same pass, whether the bytes hold U+0000 (MQTT
/// strings must not [MQTT-1.5.3-2]): `None` when not UTF-8, else
/// `Some(has_nul)`. One loop instead of a second scan (and no `memchr`):
/// [`scan_text`]'s.
#[inline]
pub fn utf8_with_nul(bytes: &[u8]) -> Option<bool> {
    let found = scan_text(bytes);
    (found & NOT_UTF8 == 0).then_some(found & HAS_NUL != 0)
}

/// [`scan_text`]: the bytes are not well-formed UTF-8 (the other bits then say nothing).
pub const NOT_UTF8: u32 = 8;
/// [`scan_text`]: the bytes hold U+0000.
pub const HAS_NUL: u32 = 1;
/// [`scan_text`]: the bytes hold a `+` or a `#` (a topic name must not).
pub const HAS_WILDCARD: u32 = 2;
/// [`scan_text`]: a `+` or `#` that a topic filter must not have: not a
/// whole level (a `/` or either end on both sides), or a `#` not the last byte.
pub const MISPLACED_WILDCARD: u32 = 4;

/// One pass over an MQTT string: [`NOT_UTF8`] when it is not well-formed
/// UTF-8 (RFC 3629, what `core::str::from_utf8` accepts: no overlong forms,
/// no surrogates, nothing above U+10FFFF; without core's validator and its
/// 256-byte table), else what it holds of [`HAS_NUL`], [`HAS_WILDCARD`] and
/// [`MISPLACED_WILDCARD`] (bits of one word: no `Option` to test besides,
/// and a `u32`, not a `u8`, so that callers need not zero-extend it). The
/// UTF-8 check, the U+0000 check and the topic rules in the same loop: a
/// topic is read once (the C API's topic checks, a received publish's topic).
#[inline(never)]
pub fn scan_text(bytes: &[u8]) -> u32 {
    let mut found = 0;
    let mut rest = bytes;
    // The byte before `lead` ('/' before the first; for a multi-byte
    // character its lead byte, never '/', stands for its last).
    let mut prior = b'/';
    loop {
        let [lead, tail @ ..] = rest else { return found };
        rest = tail;
        let lead = *lead;
        let before = prior;
        prior = lead;
        if lead < 0x80 {
            // One test for the common bytes: U+0000, '#' and '+' are all at
            // most '+' (as are only control characters, space and a few
            // punctuation marks).
            if lead > b'+' {
                continue;
            }
            if lead == 0 {
                found |= HAS_NUL;
            }
            if lead == b'+' || lead == b'#' {
                found |= HAS_WILDCARD;
                // Before it: the start or a '/' (carried through the loop
                // in a register: smaller than looking it up here); after
                // it: the end, or a '/' after a '+'.
                if before != b'/' || rest.first().is_some_and(|&n| n != b'/' || lead == b'#') {
                    found |= MISPLACED_WILDCARD;
                }
            }
            continue;
        }
        // Decode the sequence's code point, then refuse what RFC 3629 does:
        // overlong forms (below the smallest value of its length),
        // surrogates, above U+10FFFF. Arithmetic rather than a table of
        // lead-byte ranges: smaller, and the same answers. The lead byte's
        // leading ones give the length, 2 to 4 (`more` continuation bytes,
        // 1 to 3): below 0xC0 it is a continuation byte, and 0xC0 and 0xC1
        // start only overlong forms (so that the test below need not know
        // 2-byte forms).
        let ones = (!u32::from(lead) << 24).leading_zeros();
        if lead < 0xc2 || ones > 4 {
            return NOT_UTF8;
        }
        let more = ones - 1;
        let mut cp = u32::from(lead) & (0x3f >> more);
        let Some((more_bytes, tail)) = rest.split_at_checked(more as usize) else { return NOT_UTF8 };
        rest = tail;
        for &b in more_bytes {
            if b & 0xc0 != 0x80 {
                return NOT_UTF8;
            }
            cp = cp << 6 | u32::from(b & 0x3f);
        }
        // Overlong: below 2^11 with 2, 2^16 with 3 continuation bytes.
        if cp >> (5 * more + 1) == 0 || cp > 0x10_ffff || cp >> 11 == 0xd800 >> 11 {
            return NOT_UTF8;
        }
    }
}

/// A topic name as it must appear in PUBLISH and as a will topic: at least one
/// character [MQTT-4.7.3-1], no wildcard [MQTT-3.3.2-2] (the will topic is a
/// topic name too, §3.1.3.2).
pub(crate) fn check_topic_name(s: &str) -> Result<(), DecodeError> {
    if s.is_empty() {
        return Err(DecodeError::EmptyTopic);
    }
    if s.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(DecodeError::WildcardInTopic);
    }
    Ok(())
}

/// Encoded size of a length-prefixed field of `len` bytes.
pub(crate) fn field_len(len: usize) -> Result<usize, EncodeError> {
    if len > MAX_FIELD_LEN {
        Err(EncodeError::StringTooLong)
    } else {
        Ok(2 + len)
    }
}

/// Checks a string for encoding and returns its encoded size.
pub(crate) fn str_len(s: &str) -> Result<usize, EncodeError> {
    if s.as_bytes().contains(&0) {
        return Err(EncodeError::NullCharacter);
    }
    field_len(s.len())
}

/// Checks a topic name for encoding and returns its encoded size.
pub(crate) fn topic_name_len(s: &str) -> Result<usize, EncodeError> {
    check_topic_name(s).map_err(|e| match e {
        DecodeError::EmptyTopic => EncodeError::EmptyTopic,
        _ => EncodeError::WildcardInTopic,
    })?;
    str_len(s)
}

/// Checks a topic filter for encoding (non-empty [MQTT-4.7.3-1]) and returns
/// its encoded size. Wildcard placement is the topic module's business.
pub(crate) fn topic_filter_len(s: &str) -> Result<usize, EncodeError> {
    if s.is_empty() {
        return Err(EncodeError::EmptyTopic);
    }
    str_len(s)
}

/// `a + b` or [`EncodeError::PacketTooLarge`].
pub(crate) fn add(a: usize, b: usize) -> Result<usize, EncodeError> {
    a.checked_add(b).ok_or(EncodeError::PacketTooLarge)
}

/// Total frame length for a body of `remaining` bytes.
pub(crate) fn frame_len(remaining: usize) -> Result<usize, EncodeError> {
    let rem = u32::try_from(remaining).map_err(|_| EncodeError::PacketTooLarge)?;
    if rem > MAX_REMAINING_LEN {
        return Err(EncodeError::PacketTooLarge);
    }
    add(1 + varint::encoded_len(rem), remaining)
}

/// Writes fields front to back into an output buffer.
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
    needed: usize,
}

impl Writer<'_> {
    fn too_small(&self) -> EncodeError {
        EncodeError::BufferTooSmall {
            needed: self.needed,
        }
    }

    pub(crate) fn bytes(&mut self, src: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos.checked_add(src.len()).ok_or(self.too_small())?;
        let needed = self.needed;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(EncodeError::BufferTooSmall { needed })?;
        dst.copy_from_slice(src);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, b: u8) -> Result<(), EncodeError> {
        self.bytes(&[b])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.bytes(&v.to_be_bytes())
    }

    /// A 2-byte length and the bytes (length checked by the caller's sizing,
    /// re-checked here).
    pub(crate) fn binary(&mut self, src: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(src.len()).map_err(|_| EncodeError::StringTooLong)?;
        self.u16(len)?;
        self.bytes(src)
    }

    pub(crate) fn str(&mut self, s: &str) -> Result<(), EncodeError> {
        self.binary(s.as_bytes())
    }
}

/// Encodes one frame: checks that `out` holds the whole frame (else
/// [`EncodeError::BufferTooSmall`] with nothing written), writes the fixed
/// header, then lets `body` write exactly `remaining` bytes.
pub(crate) fn write_frame<F>(
    out: &mut [u8],
    first_byte: u8,
    remaining: usize,
    body: F,
) -> Result<usize, EncodeError>
where
    F: FnOnce(&mut Writer<'_>) -> Result<(), EncodeError>,
{
    let needed = frame_len(remaining)?;
    if out.len() < needed {
        return Err(EncodeError::BufferTooSmall { needed });
    }
    let mut w = Writer {
        buf: out,
        pos: 0,
        needed,
    };
    w.u8(first_byte)?;
    // frame_len checked the range, so this conversion cannot fail.
    let rem = u32::try_from(remaining).map_err(|_| EncodeError::PacketTooLarge)?;
    let mut len_bytes = [0u8; varint::MAX_LEN];
    let n = varint::encode(rem, &mut len_bytes)?;
    w.bytes(len_bytes.get(..n).unwrap_or(&[]))?;
    body(&mut w)?;
    debug_assert_eq!(w.pos, needed, "encoded length disagrees with encoded_len");
    Ok(w.pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_fields() {
        let buf = [0x00, 0x03, b'a', b'/', b'b', 0x12, 0x34, 0xff];
        let mut r = Reader::new(&buf);
        assert_eq!(r.str(), Ok("a/b"));
        assert_eq!(r.u16(), Ok(0x1234));
        assert_eq!(r.finish(), Err(DecodeError::LengthMismatch));
        assert_eq!(r.u8(), Ok(0xff));
        assert_eq!(r.finish(), Ok(()));
        assert_eq!(r.u8(), Err(DecodeError::Truncated));
        assert_eq!(r.u16(), Err(DecodeError::Truncated));
        assert_eq!(r.rest(), &[] as &[u8]);
    }

    #[test]
    fn strings() {
        assert_eq!(
            Reader::new(&[0x00, 0x02, b'a']).str(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Reader::new(&[0x00]).str(), Err(DecodeError::Truncated));
        assert_eq!(
            Reader::new(&[0x00, 0x01, 0xff]).str(),
            Err(DecodeError::InvalidUtf8)
        );
        // An encoded surrogate (U+D800) is not well-formed UTF-8 [MQTT-1.5.3-1].
        assert_eq!(
            Reader::new(&[0x00, 0x03, 0xED, 0xA0, 0x80]).str(),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(
            Reader::new(&[0x00, 0x02, b'a', 0x00]).str(),
            Err(DecodeError::NullCharacter)
        );
        // §1.5.3 example: "A\u{2A6D4}" = 41 F0 AA 9B 94.
        assert_eq!(
            Reader::new(&[0x00, 0x05, 0x41, 0xF0, 0xAA, 0x9B, 0x94]).str(),
            Ok("A\u{2A6D4}")
        );
        assert_eq!(Reader::new(&[0x00, 0x00]).str(), Ok(""));
    }

    #[test]
    fn packet_ids() {
        assert_eq!(
            Reader::new(&[0, 0]).packet_id(),
            Err(DecodeError::ZeroPacketId)
        );
        assert_eq!(Reader::new(&[0, 1]).packet_id(), Ok(1));
    }

    #[test]
    fn encode_checks() {
        assert_eq!(str_len("a\0"), Err(EncodeError::NullCharacter));
        assert_eq!(field_len(65_535), Ok(65_537));
        assert_eq!(field_len(65_536), Err(EncodeError::StringTooLong));
        assert_eq!(topic_name_len(""), Err(EncodeError::EmptyTopic));
        assert_eq!(topic_name_len("a/+"), Err(EncodeError::WildcardInTopic));
        assert_eq!(topic_name_len("a/#"), Err(EncodeError::WildcardInTopic));
        assert_eq!(topic_filter_len("a/#"), Ok(5));
        assert_eq!(topic_filter_len(""), Err(EncodeError::EmptyTopic));
        assert_eq!(
            frame_len(MAX_REMAINING_LEN as usize),
            Ok(MAX_REMAINING_LEN as usize + 5)
        );
        assert_eq!(
            frame_len(MAX_REMAINING_LEN as usize + 1),
            Err(EncodeError::PacketTooLarge)
        );
    }
}
