//! The fixed header (§2.2): one byte of packet type and flags, then the
//! remaining length. [`FixedHeader::parse`] reads it from a buffer;
//! [`HeaderDecoder`] takes it one byte at a time straight off a socket.
//!
//! Flags are checked here, per packet type [MQTT-2.2.2-1], [MQTT-2.2.2-2]:
//! PUBREL, SUBSCRIBE and UNSUBSCRIBE must carry `0b0010`, PUBLISH carries
//! DUP (bit 3), QoS (bits 2-1) and RETAIN (bit 0) with QoS 3 forbidden
//! [MQTT-3.3.1-4] and DUP forbidden at QoS 0 [MQTT-3.3.1-2]; every other type
//! carries `0b0000`.

use super::{varint, DecodeError, EncodeError, PacketType, MAX_REMAINING_LEN};

/// A decoded, validated fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedHeader {
    /// Control packet type (high nibble of byte 1).
    pub packet_type: PacketType,
    /// The low nibble of byte 1.
    pub flags: u8,
    /// Bytes following the fixed header (variable header and payload).
    pub remaining_len: u32,
}

/// Checks the low nibble of byte 1 for `packet_type`.
pub(crate) fn check_flags(packet_type: PacketType, flags: u8) -> Result<(), DecodeError> {
    if flags > 0x0f {
        return Err(DecodeError::InvalidFlags);
    }
    match packet_type.required_flags() {
        Some(required) if flags == required => Ok(()),
        Some(_) => Err(DecodeError::InvalidFlags),
        None => {
            // PUBLISH (§3.3.1).
            let qos = (flags >> 1) & 0b11;
            if qos == 3 {
                return Err(DecodeError::InvalidQos);
            }
            if flags & 0b1000 != 0 && qos == 0 {
                return Err(DecodeError::DupWithQos0);
            }
            Ok(())
        }
    }
}

/// Splits and checks byte 1 of a fixed header.
fn parse_first_byte(byte: u8) -> Result<(PacketType, u8), DecodeError> {
    let packet_type = PacketType::try_from(byte >> 4)?;
    let flags = byte & 0x0f;
    check_flags(packet_type, flags)?;
    Ok((packet_type, flags))
}

impl FixedHeader {
    /// Builds a header, checking the flags for the type and the length bound.
    pub fn new(
        packet_type: PacketType,
        flags: u8,
        remaining_len: u32,
    ) -> Result<Self, DecodeError> {
        check_flags(packet_type, flags)?;
        if remaining_len > MAX_REMAINING_LEN {
            return Err(DecodeError::RemainingLengthTooLong);
        }
        Ok(FixedHeader {
            packet_type,
            flags,
            remaining_len,
        })
    }

    /// Re-checks the flags (the fields are public, so a header may have been
    /// built by hand).
    pub fn validate(&self) -> Result<(), DecodeError> {
        check_flags(self.packet_type, self.flags)?;
        if self.remaining_len > MAX_REMAINING_LEN {
            return Err(DecodeError::RemainingLengthTooLong);
        }
        Ok(())
    }

    /// Byte 1: type in the high nibble, flags in the low one.
    pub fn first_byte(&self) -> u8 {
        ((self.packet_type as u8) << 4) | (self.flags & 0x0f)
    }

    /// Length of this header when encoded minimally: 2..=5 bytes.
    pub fn header_len(&self) -> usize {
        1 + varint::encoded_len(self.remaining_len)
    }

    /// Length of the whole frame (minimal header plus remaining length).
    pub fn frame_len(&self) -> usize {
        // remaining_len <= 268 435 455 for any parsed header, so this cannot
        // overflow even a 32-bit usize; saturate for hand-built ones.
        self.header_len()
            .saturating_add(self.remaining_len as usize)
    }

    /// [`DecodeError::PacketTooLarge`] if the body does not fit in `capacity`
    /// bytes (the buffer the caller would read it into).
    pub fn check_capacity(&self, capacity: usize) -> Result<(), DecodeError> {
        if (self.remaining_len as usize) > capacity {
            Err(DecodeError::PacketTooLarge)
        } else {
            Ok(())
        }
    }

    /// Parses a fixed header from the start of `buf`.
    ///
    /// Returns `Ok(Some((header, bytes_used)))`, `Ok(None)` when `buf` ends
    /// inside the header, or an error as soon as the bytes present are invalid
    /// (a bad first byte is reported even when it is the only byte).
    pub fn parse(buf: &[u8]) -> Result<Option<(FixedHeader, usize)>, DecodeError> {
        let Some((&first, rest)) = buf.split_first() else {
            return Ok(None);
        };
        let (packet_type, flags) = parse_first_byte(first)?;
        match varint::decode(rest)? {
            None => Ok(None),
            Some((remaining_len, n)) => Ok(Some((
                FixedHeader {
                    packet_type,
                    flags,
                    remaining_len,
                },
                1 + n,
            ))),
        }
    }

    /// Writes this header (minimal varint) at the start of `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let needed = self.header_len();
        if self.remaining_len > MAX_REMAINING_LEN {
            return Err(EncodeError::PacketTooLarge);
        }
        let (first, rest) = match out.split_first_mut() {
            Some(x) if needed <= 1 + x.1.len() => x,
            _ => return Err(EncodeError::BufferTooSmall { needed }),
        };
        *first = self.first_byte();
        let n = varint::encode(self.remaining_len, rest)?;
        Ok(1 + n)
    }
}

/// Byte-at-a-time fixed-header decoder, for reading the 2..=5 header bytes
/// straight off a socket before choosing where the body goes.
///
/// ```
/// # use afrcloud::mqtt::codec::{HeaderDecoder, PacketType};
/// let mut dec = HeaderDecoder::new();
/// assert_eq!(dec.push(0xD0), Ok(None)); // PINGRESP ...
/// let h = dec.push(0x00).unwrap().unwrap(); // ... with remaining length 0
/// assert_eq!(h.packet_type, PacketType::PingResp);
/// ```
///
/// After a complete header or an error the decoder is back at its initial
/// state, ready for the next packet (after an error the connection should be
/// dropped anyway).
#[derive(Debug, Clone)]
pub struct HeaderDecoder {
    first: Option<(PacketType, u8)>,
    len_bytes: [u8; varint::MAX_LEN],
    len_count: usize,
    max_remaining_len: u32,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecoder {
    /// A decoder accepting any remaining length up to [`MAX_REMAINING_LEN`].
    pub const fn new() -> Self {
        Self::with_max_remaining_len(MAX_REMAINING_LEN)
    }

    /// A decoder that fails with [`DecodeError::PacketTooLarge`] once a header
    /// announces more than `max` bytes of body.
    pub const fn with_max_remaining_len(max: u32) -> Self {
        HeaderDecoder {
            first: None,
            len_bytes: [0; varint::MAX_LEN],
            len_count: 0,
            max_remaining_len: max,
        }
    }

    /// Forgets any partial header.
    pub fn reset(&mut self) {
        self.first = None;
        self.len_count = 0;
    }

    /// Whether some bytes of a header have been pushed but the header is not
    /// complete yet (e.g. to tell a clean EOF from one inside a packet).
    pub fn in_progress(&self) -> bool {
        self.first.is_some()
    }

    /// Feeds one byte. Returns the header once its last byte was pushed,
    /// `Ok(None)` while more bytes are needed, or the first error seen.
    pub fn push(&mut self, byte: u8) -> Result<Option<FixedHeader>, DecodeError> {
        let result = self.step(byte);
        if !matches!(result, Ok(None)) {
            self.reset();
        }
        result
    }

    fn step(&mut self, byte: u8) -> Result<Option<FixedHeader>, DecodeError> {
        let Some((packet_type, flags)) = self.first else {
            self.first = Some(parse_first_byte(byte)?);
            return Ok(None);
        };
        let slot = self
            .len_bytes
            .get_mut(self.len_count)
            .ok_or(DecodeError::RemainingLengthTooLong)?;
        *slot = byte;
        self.len_count += 1;
        let pushed = self.len_bytes.get(..self.len_count).unwrap_or(&[]);
        match varint::decode(pushed)? {
            None => Ok(None),
            Some((remaining_len, _)) => {
                if remaining_len > self.max_remaining_len {
                    return Err(DecodeError::PacketTooLarge);
                }
                Ok(Some(FixedHeader {
                    packet_type,
                    flags,
                    remaining_len,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::QoS;

    fn feed(bytes: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
        let mut dec = HeaderDecoder::new();
        let mut last = Ok(None);
        for &b in bytes {
            last = dec.push(b);
            if !matches!(last, Ok(None)) {
                break;
            }
        }
        last
    }

    #[test]
    fn pingreq_header() {
        let (h, n) = FixedHeader::parse(&[0xC0, 0x00]).unwrap().unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            h,
            FixedHeader {
                packet_type: PacketType::PingReq,
                flags: 0,
                remaining_len: 0
            }
        );
        assert_eq!(feed(&[0xC0, 0x00]), Ok(Some(h)));
        let mut out = [0u8; 2];
        assert_eq!(h.encode(&mut out), Ok(2));
        assert_eq!(out, [0xC0, 0x00]);
    }

    #[test]
    fn incomplete_is_none() {
        assert_eq!(FixedHeader::parse(&[]), Ok(None));
        assert_eq!(FixedHeader::parse(&[0x30]), Ok(None));
        assert_eq!(FixedHeader::parse(&[0x30, 0x80]), Ok(None));
        assert_eq!(FixedHeader::parse(&[0x30, 0x80, 0x80, 0x80]), Ok(None));
        assert_eq!(feed(&[0x30, 0x80, 0x80]), Ok(None));
    }

    #[test]
    fn reserved_types() {
        for b in [0x00u8, 0x0f, 0xf0, 0xff] {
            assert_eq!(
                FixedHeader::parse(&[b]),
                Err(DecodeError::ReservedPacketType)
            );
            assert_eq!(feed(&[b, 0]), Err(DecodeError::ReservedPacketType));
        }
    }

    #[test]
    fn flags_per_type() {
        for t in 1u8..=14 {
            let pt = PacketType::try_from(t).unwrap();
            for f in 0u8..16 {
                let r = FixedHeader::parse(&[(t << 4) | f, 0]);
                let ok = match pt {
                    PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => {
                        f == 0b0010
                    }
                    PacketType::Publish => {
                        ((f >> 1) & 3) != 3 && !(f & 8 != 0 && (f >> 1) & 3 == 0)
                    }
                    _ => f == 0,
                };
                assert_eq!(r.is_ok(), ok, "type {t} flags {f:04b}");
                assert_eq!(feed(&[(t << 4) | f, 0]).is_ok(), ok);
            }
        }
        assert_eq!(FixedHeader::parse(&[0x82, 0]).map(|_| ()), Ok(()));
        assert_eq!(
            FixedHeader::parse(&[0x80, 0]),
            Err(DecodeError::InvalidFlags)
        );
        assert_eq!(
            FixedHeader::parse(&[0x60, 2]),
            Err(DecodeError::InvalidFlags)
        );
        assert_eq!(
            FixedHeader::parse(&[0xA0, 2]),
            Err(DecodeError::InvalidFlags)
        );
        assert_eq!(FixedHeader::parse(&[0xC1]), Err(DecodeError::InvalidFlags));
        assert_eq!(
            FixedHeader::parse(&[0x42, 2]),
            Err(DecodeError::InvalidFlags)
        );
    }

    #[test]
    fn publish_flags() {
        assert_eq!(FixedHeader::parse(&[0x36, 0]), Err(DecodeError::InvalidQos));
        assert_eq!(
            FixedHeader::parse(&[0x38, 0]),
            Err(DecodeError::DupWithQos0)
        );
        assert_eq!(feed(&[0x3E]), Err(DecodeError::InvalidQos));
        let (h, _) = FixedHeader::parse(&[0x3D, 5]).unwrap().unwrap();
        assert_eq!(h.flags, 0b1101);
        assert_eq!(QoS::try_from((h.flags >> 1) & 3), Ok(QoS::ExactlyOnce));
    }

    #[test]
    fn remaining_length_too_long() {
        let bad = [0x30, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            FixedHeader::parse(&bad),
            Err(DecodeError::RemainingLengthTooLong)
        );
        // The error shows up at the 4th length byte, before a 5th arrives.
        assert_eq!(
            FixedHeader::parse(&bad[..5]),
            Err(DecodeError::RemainingLengthTooLong)
        );
        assert_eq!(feed(&bad), Err(DecodeError::RemainingLengthTooLong));
        let mut dec = HeaderDecoder::new();
        for &b in &bad[..4] {
            assert_eq!(dec.push(b), Ok(None));
        }
        assert_eq!(dec.push(bad[4]), Err(DecodeError::RemainingLengthTooLong));
        assert!(!dec.in_progress());
    }

    #[test]
    fn max_length_header() {
        let buf = [0x30, 0xff, 0xff, 0xff, 0x7f];
        let (h, n) = FixedHeader::parse(&buf).unwrap().unwrap();
        assert_eq!(
            (h.remaining_len, n, h.header_len()),
            (MAX_REMAINING_LEN, 5, 5)
        );
        assert_eq!(feed(&buf), Ok(Some(h)));
        assert_eq!(h.frame_len(), 5 + MAX_REMAINING_LEN as usize);
    }

    #[test]
    fn packet_too_large() {
        let mut dec = HeaderDecoder::with_max_remaining_len(100);
        assert_eq!(dec.push(0x30), Ok(None));
        assert_eq!(
            dec.push(100),
            Ok(Some(FixedHeader {
                packet_type: PacketType::Publish,
                flags: 0,
                remaining_len: 100
            }))
        );
        assert_eq!(dec.push(0x30), Ok(None));
        assert_eq!(dec.push(101), Err(DecodeError::PacketTooLarge));
        let (h, _) = FixedHeader::parse(&[0x30, 101]).unwrap().unwrap();
        assert_eq!(h.check_capacity(100), Err(DecodeError::PacketTooLarge));
        assert_eq!(h.check_capacity(101), Ok(()));
    }

    #[test]
    fn decoder_reuse_and_reset() {
        let mut dec = HeaderDecoder::default();
        assert_eq!(dec.push(0x20), Ok(None));
        assert!(dec.in_progress());
        dec.reset();
        assert!(!dec.in_progress());
        assert_eq!(dec.push(0xD0), Ok(None));
        assert!(dec.push(0x00).unwrap().is_some());
        assert_eq!(dec.push(0x00), Err(DecodeError::ReservedPacketType));
        assert_eq!(dec.push(0x20), Ok(None));
        assert_eq!(
            dec.push(0x02).unwrap().unwrap().packet_type,
            PacketType::ConnAck
        );
    }

    #[test]
    fn new_and_validate() {
        assert!(FixedHeader::new(PacketType::PubRel, 2, 2).is_ok());
        assert_eq!(
            FixedHeader::new(PacketType::PubRel, 0, 2),
            Err(DecodeError::InvalidFlags)
        );
        assert_eq!(
            FixedHeader::new(PacketType::Publish, 0x10, 2),
            Err(DecodeError::InvalidFlags)
        );
        assert_eq!(
            FixedHeader::new(PacketType::Publish, 0, MAX_REMAINING_LEN + 1),
            Err(DecodeError::RemainingLengthTooLong)
        );
        let h = FixedHeader {
            packet_type: PacketType::Connect,
            flags: 1,
            remaining_len: 0,
        };
        assert_eq!(h.validate(), Err(DecodeError::InvalidFlags));
    }

    #[test]
    fn encode_short_buffer() {
        let h = FixedHeader {
            packet_type: PacketType::Publish,
            flags: 0,
            remaining_len: 200,
        };
        assert_eq!(
            h.encode(&mut [0u8; 2]),
            Err(EncodeError::BufferTooSmall { needed: 3 })
        );
        assert_eq!(
            h.encode(&mut []),
            Err(EncodeError::BufferTooSmall { needed: 3 })
        );
        let mut out = [0u8; 3];
        assert_eq!(h.encode(&mut out), Ok(3));
        assert_eq!(out, [0x30, 0xC8, 0x01]);
    }
}
