//! Byte-slice comparisons as plain loops, shared by the agent and the shadow:
//! slice `==` and `strip_prefix` compile to calls of the C library's `memcmp`
//! (96 bytes of flash, for comparisons of a few to 128 bytes).
#![forbid(unsafe_code)]

/// Whether `a` and `b` hold the same bytes. (Inlined in the agent's one
/// caller. With the length test first, `Iterator::eq` is the smallest form
/// measured: 36 bytes out of line, against 48 for `zip(..).all(..)`.)
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().eq(b)
}

/// [`same`] out of line: one copy for callers in many places (the shadow's).
#[inline(never)]
pub(crate) fn same_out_of_line(a: &[u8], b: &[u8]) -> bool {
    same(a, b)
}

/// `s` after `prefix`, when it starts with it.
pub(crate) fn after<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, rest) = s.split_at_checked(prefix.len())?;
    same_out_of_line(head, prefix).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_like_the_slices() {
        let cases: [(&[u8], &[u8]); 6] = [(b"", b""), (b"a", b""), (b"", b"a"), (b"ab", b"ab"), (b"ab", b"ac"), (b"ab", b"abc")];
        for (a, b) in cases {
            assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            assert_eq!(same_out_of_line(a, b), a == b, "{a:?} {b:?}");
            assert_eq!(after(a, b), a.strip_prefix(b), "{a:?} {b:?}");
        }
    }
}
