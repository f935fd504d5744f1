//! The remaining-length field (§2.2.3): a base-128 varint of 1..=4 bytes, least
//! significant group first, bit 7 of each byte meaning "more bytes follow".
//!
//! | value range              | bytes |
//! |--------------------------|-------|
//! | 0 ..= 127                | 1     |
//! | 128 ..= 16 383           | 2     |
//! | 16 384 ..= 2 097 151     | 3     |
//! | 2 097 152 ..= 268 435 455| 4     |

use super::{DecodeError, EncodeError};

/// Largest value the remaining length can hold (`0xFF 0xFF 0xFF 0x7F`).
pub const MAX_REMAINING_LEN: u32 = 268_435_455;

/// Most bytes a remaining-length field takes.
pub const MAX_LEN: usize = 4;

/// Number of bytes [`encode`] writes for `value`. Values above
/// [`MAX_REMAINING_LEN`] are not encodable; for them this returns 4.
pub const fn encoded_len(value: u32) -> usize {
    if value < 128 {
        1
    } else if value < 16_384 {
        2
    } else if value < 2_097_152 {
        3
    } else {
        4
    }
}

/// Writes `value` at the start of `out`, returning the bytes written.
///
/// Fails with [`EncodeError::PacketTooLarge`] above [`MAX_REMAINING_LEN`] and
/// with [`EncodeError::BufferTooSmall`] (`needed` = varint length) if `out` is
/// too short; in both cases `out` is untouched.
pub fn encode(value: u32, out: &mut [u8]) -> Result<usize, EncodeError> {
    if value > MAX_REMAINING_LEN {
        return Err(EncodeError::PacketTooLarge);
    }
    let n = encoded_len(value);
    let dst = out
        .get_mut(..n)
        .ok_or(EncodeError::BufferTooSmall { needed: n })?;
    let mut rest = value;
    for byte in dst.iter_mut() {
        // Truncation intended: the low 7 bits.
        let mut b = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest > 0 {
            b |= 0x80;
        }
        *byte = b;
    }
    Ok(n)
}

/// Decodes a remaining length from the start of `buf`.
///
/// Returns `Ok(Some((value, bytes_used)))`, or `Ok(None)` if `buf` ends before
/// the last byte of the field (more bytes needed), or
/// [`DecodeError::RemainingLengthTooLong`] as soon as a 4th byte with the
/// continuation bit is seen. Non-minimal encodings (e.g. `0x80 0x00`) are
/// accepted: MQTT 3.1.1 does not forbid them.
pub fn decode(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &b) in buf.iter().take(MAX_LEN).enumerate() {
        // i <= 3, so the shift is at most 21 and 0x7f << 21 fits a u32.
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
        if i + 1 == MAX_LEN {
            return Err(DecodeError::RemainingLengthTooLong);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boundary values of the table in §2.2.3.
    const TABLE: &[(u32, &[u8])] = &[
        (0, &[0x00]),
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xff, 0x7f]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xff, 0xff, 0x7f]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xff, 0xff, 0xff, 0x7f]),
    ];

    #[test]
    fn spec_table_encode_decode() {
        for &(value, bytes) in TABLE {
            let mut out = [0u8; 4];
            let n = encode(value, &mut out).unwrap();
            assert_eq!(&out[..n], bytes, "{value}");
            assert_eq!(encoded_len(value), bytes.len());
            assert_eq!(decode(bytes), Ok(Some((value, bytes.len()))));
            // Trailing bytes are not consumed.
            let mut longer = [0xAAu8; 6];
            longer[..n].copy_from_slice(bytes);
            assert_eq!(decode(&longer), Ok(Some((value, n))));
            // Every strict prefix asks for more.
            for cut in 0..n {
                assert_eq!(decode(&bytes[..cut]), Ok(None));
            }
        }
    }

    #[test]
    fn too_large_to_encode() {
        let mut out = [0u8; 8];
        assert_eq!(
            encode(MAX_REMAINING_LEN + 1, &mut out),
            Err(EncodeError::PacketTooLarge)
        );
        assert_eq!(encode(u32::MAX, &mut out), Err(EncodeError::PacketTooLarge));
    }

    #[test]
    fn buffer_too_small() {
        let mut out = [0u8; 2];
        assert_eq!(
            encode(16_384, &mut out),
            Err(EncodeError::BufferTooSmall { needed: 3 })
        );
        assert_eq!(out, [0, 0]);
        assert_eq!(
            encode(1, &mut []),
            Err(EncodeError::BufferTooSmall { needed: 1 })
        );
    }

    #[test]
    fn five_bytes_rejected() {
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::RemainingLengthTooLong)
        );
        assert_eq!(
            decode(&[0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(DecodeError::RemainingLengthTooLong)
        );
    }

    #[test]
    fn non_minimal_accepted() {
        assert_eq!(decode(&[0x80, 0x00]), Ok(Some((0, 2))));
        assert_eq!(decode(&[0xff, 0x80, 0x80, 0x00]), Ok(Some((127, 4))));
    }
}
