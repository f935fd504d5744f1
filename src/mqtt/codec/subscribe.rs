//! SUBSCRIBE (§3.8) and SUBACK (§3.9).
//!
//! SUBSCRIBE: fixed-header flags `0b0010`; variable header a non-zero packet
//! identifier; payload one or more [MQTT-3.8.3-3] pairs of topic filter
//! (non-empty string) and requested-QoS byte (0, 1 or 2, upper six bits
//! reserved as 0 [MQTT-3.8.3-4]).
//!
//! SUBACK: variable header the packet identifier; payload one return code per
//! filter, each 0x00/0x01/0x02 (granted QoS) or 0x80 (failure) [MQTT-3.9.3-2].
//!
//! Without allocation, the filter list has two representations behind one
//! type, [`SubscribeFilters`]: a caller's slice of `(filter, QoS)` pairs (what
//! a client encodes) or the validated payload bytes of a decoded packet (what
//! a test server sees). Both iterate as `(&str, QoS)` and compare equal when
//! they yield the same pairs.

use core::fmt;

use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, PacketType, QoS};

/// The topic filters of a SUBSCRIBE, with their requested QoS.
#[derive(Clone, Copy)]
pub struct SubscribeFilters<'a>(FiltersRepr<'a>);

#[derive(Clone, Copy)]
enum FiltersRepr<'a> {
    Slice(&'a [(&'a str, QoS)]),
    /// A payload already checked by [`parse_entry`] through its whole length.
    Wire(&'a [u8]),
}

/// Reads one `(filter, QoS)` pair of a SUBSCRIBE payload.
fn parse_entry<'a>(r: &mut Reader<'a>) -> Result<(&'a str, QoS), DecodeError> {
    let filter = r.str()?;
    if filter.is_empty() {
        return Err(DecodeError::EmptyTopic);
    }
    // Reserved bits 7..=2 set also land here as a value above 2.
    let qos = QoS::try_from(r.u8()?)?;
    Ok((filter, qos))
}

impl<'a> SubscribeFilters<'a> {
    /// Filters to encode.
    pub const fn new(filters: &'a [(&'a str, QoS)]) -> Self {
        SubscribeFilters(FiltersRepr::Slice(filters))
    }

    /// Validates a SUBSCRIBE payload (at least one entry).
    pub(crate) fn parse(payload: &'a [u8]) -> Result<Self, DecodeError> {
        if payload.is_empty() {
            return Err(DecodeError::NoFilters);
        }
        let mut r = Reader::new(payload);
        while !r.is_empty() {
            parse_entry(&mut r)?;
        }
        Ok(SubscribeFilters(FiltersRepr::Wire(payload)))
    }

    /// The `(filter, QoS)` pairs in order.
    pub fn iter(&self) -> SubscribeFiltersIter<'a> {
        SubscribeFiltersIter(match self.0 {
            FiltersRepr::Slice(s) => IterRepr::Slice(s.iter()),
            FiltersRepr::Wire(b) => IterRepr::Wire(Reader::new(b)),
        })
    }

    /// Number of filters.
    pub fn len(&self) -> usize {
        match self.0 {
            FiltersRepr::Slice(s) => s.len(),
            FiltersRepr::Wire(_) => self.iter().count(),
        }
    }

    /// Whether there are no filters (never true for a decoded packet).
    pub fn is_empty(&self) -> bool {
        match self.0 {
            FiltersRepr::Slice(s) => s.is_empty(),
            FiltersRepr::Wire(b) => b.is_empty(),
        }
    }
}

impl<'a> From<&'a [(&'a str, QoS)]> for SubscribeFilters<'a> {
    fn from(filters: &'a [(&'a str, QoS)]) -> Self {
        Self::new(filters)
    }
}

impl<'a> IntoIterator for SubscribeFilters<'a> {
    type Item = (&'a str, QoS);
    type IntoIter = SubscribeFiltersIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for SubscribeFilters<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for SubscribeFilters<'_> {}

impl fmt::Debug for SubscribeFilters<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over [`SubscribeFilters`].
pub struct SubscribeFiltersIter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Slice(core::slice::Iter<'a, (&'a str, QoS)>),
    Wire(Reader<'a>),
}

impl<'a> Iterator for SubscribeFiltersIter<'a> {
    type Item = (&'a str, QoS);
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Slice(it) => it.next().copied(),
            IterRepr::Wire(r) => {
                if r.is_empty() {
                    return None;
                }
                // The payload was validated when decoded, so this succeeds;
                // should it not, iteration just ends.
                match parse_entry(r) {
                    Ok(entry) => Some(entry),
                    Err(_) => {
                        r.rest();
                        None
                    }
                }
            }
        }
    }
}

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Non-zero packet identifier.
    pub packet_id: u16,
    /// One or more topic filters with requested QoS.
    pub filters: SubscribeFilters<'a>,
}

impl<'a> Subscribe<'a> {
    fn remaining_len(&self) -> Result<usize, EncodeError> {
        if self.packet_id == 0 {
            return Err(EncodeError::ZeroPacketId);
        }
        if self.filters.is_empty() {
            return Err(EncodeError::NoFilters);
        }
        let mut len = 2usize;
        for (filter, _) in self.filters.iter() {
            len = wire::add(len, wire::topic_filter_len(filter)?)?;
            len = wire::add(len, 1)?;
        }
        Ok(len)
    }

    /// Length of the whole encoded frame, or why it cannot be encoded.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        wire::frame_len(self.remaining_len()?)
    }

    /// Encodes the frame at the start of `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let remaining = self.remaining_len()?;
        wire::write_frame(
            out,
            ((PacketType::Subscribe as u8) << 4) | 0b0010,
            remaining,
            |w| {
                w.u16(self.packet_id)?;
                for (filter, qos) in self.filters.iter() {
                    w.str(filter)?;
                    w.u8(qos as u8)?;
                }
                Ok(())
            },
        )
    }

    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = r.packet_id()?;
        let filters = SubscribeFilters::parse(r.rest())?;
        Ok(Subscribe { packet_id, filters })
    }
}

/// One SUBACK return code (§3.9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubAckCode {
    /// 0x00, 0x01, 0x02: subscribed with this maximum QoS.
    Granted(QoS),
    /// 0x80: the subscription failed.
    Failure,
}

impl TryFrom<u8> for SubAckCode {
    type Error = DecodeError;
    fn try_from(b: u8) -> Result<Self, DecodeError> {
        match b {
            0x00 => Ok(SubAckCode::Granted(QoS::AtMostOnce)),
            0x01 => Ok(SubAckCode::Granted(QoS::AtLeastOnce)),
            0x02 => Ok(SubAckCode::Granted(QoS::ExactlyOnce)),
            0x80 => Ok(SubAckCode::Failure),
            _ => Err(DecodeError::InvalidSubackCode),
        }
    }
}

impl From<SubAckCode> for u8 {
    fn from(c: SubAckCode) -> u8 {
        match c {
            SubAckCode::Granted(q) => q as u8,
            SubAckCode::Failure => 0x80,
        }
    }
}

/// A SUBACK packet; `return_codes` are the raw bytes (validated when
/// decoded, checked when encoded). Use [`SubAck::codes`] for typed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubAck<'a> {
    /// Packet identifier of the SUBSCRIBE being acknowledged (non-zero).
    pub packet_id: u16,
    /// One code per requested filter, in order.
    pub return_codes: &'a [u8],
}

/// Iterator over the typed return codes of a [`SubAck`].
#[derive(Debug, Clone)]
pub struct SubAckCodes<'a>(core::slice::Iter<'a, u8>);

impl Iterator for SubAckCodes<'_> {
    type Item = SubAckCode;
    fn next(&mut self) -> Option<SubAckCode> {
        // A hand-built SubAck may hold invalid bytes; they read as failures.
        self.0
            .next()
            .map(|&b| SubAckCode::try_from(b).unwrap_or(SubAckCode::Failure))
    }
}

impl<'a> SubAck<'a> {
    /// The return codes as [`SubAckCode`]s (invalid bytes of a hand-built
    /// value read as [`SubAckCode::Failure`]; decoded values have none).
    pub fn codes(&self) -> SubAckCodes<'a> {
        SubAckCodes(self.return_codes.iter())
    }

    fn remaining_len(&self) -> Result<usize, EncodeError> {
        if self.packet_id == 0 {
            return Err(EncodeError::ZeroPacketId);
        }
        if self.return_codes.is_empty() {
            return Err(EncodeError::NoReturnCodes);
        }
        if self
            .return_codes
            .iter()
            .any(|&b| SubAckCode::try_from(b).is_err())
        {
            return Err(EncodeError::InvalidSubackCode);
        }
        wire::add(2, self.return_codes.len())
    }

    /// Length of the whole encoded frame, or why it cannot be encoded.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        wire::frame_len(self.remaining_len()?)
    }

    /// Encodes the frame at the start of `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let remaining = self.remaining_len()?;
        wire::write_frame(out, (PacketType::SubAck as u8) << 4, remaining, |w| {
            w.u16(self.packet_id)?;
            w.bytes(self.return_codes)
        })
    }

    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = r.packet_id()?;
        let return_codes = r.rest();
        if return_codes.is_empty() {
            return Err(DecodeError::EmptySuback);
        }
        for &b in return_codes {
            SubAckCode::try_from(b)?;
        }
        Ok(SubAck {
            packet_id,
            return_codes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{decode_frame, decode_frame_from_server, Packet};

    /// §3.8.3.1's payload example: "a/b" QoS 1, "c/d" QoS 2, packet id 10.
    const SUB: &[u8] = &[
        0x82, 14, 0, 10, 0, 3, b'a', b'/', b'b', 1, 0, 3, b'c', b'/', b'd', 2,
    ];

    #[test]
    fn subscribe_vector() {
        let list = [("a/b", QoS::AtLeastOnce), ("c/d", QoS::ExactlyOnce)];
        let s = Subscribe {
            packet_id: 10,
            filters: SubscribeFilters::new(&list),
        };
        let mut out = [0u8; 32];
        assert_eq!(s.encoded_len(), Ok(SUB.len()));
        assert_eq!(s.encode(&mut out), Ok(SUB.len()));
        assert_eq!(&out[..SUB.len()], SUB);
        let (p, n) = decode_frame(SUB).unwrap().unwrap();
        assert_eq!(n, SUB.len());
        let Packet::Subscribe(d) = p else {
            panic!("{p:?}")
        };
        assert_eq!(d, s);
        assert_eq!(d.filters.len(), 2);
        assert!(!d.filters.is_empty());
        let v: Vec<_> = d.filters.into_iter().collect();
        assert_eq!(v, list);
        assert_eq!(format!("{:?}", d.filters), format!("{:?}", list));
        // A decoded packet re-encodes to the same bytes.
        let mut again = [0u8; 32];
        assert_eq!(d.encode(&mut again), Ok(SUB.len()));
        assert_eq!(&again[..SUB.len()], SUB);
        // A server never sends SUBSCRIBE.
        assert_eq!(
            decode_frame_from_server(SUB),
            Err(DecodeError::UnexpectedPacket)
        );
    }

    #[test]
    fn subscribe_encode_rejects() {
        let list = [("a", QoS::AtMostOnce)];
        let s = Subscribe {
            packet_id: 0,
            filters: SubscribeFilters::from(&list[..]),
        };
        assert_eq!(s.encoded_len(), Err(EncodeError::ZeroPacketId));
        let s = Subscribe {
            packet_id: 1,
            filters: SubscribeFilters::new(&[]),
        };
        assert_eq!(s.encode(&mut [0u8; 16]), Err(EncodeError::NoFilters));
        let list = [("a", QoS::AtMostOnce), ("", QoS::AtMostOnce)];
        let s = Subscribe {
            packet_id: 1,
            filters: SubscribeFilters::new(&list),
        };
        assert_eq!(s.encoded_len(), Err(EncodeError::EmptyTopic));
        let list = [("a", QoS::AtMostOnce)];
        let s = Subscribe {
            packet_id: 1,
            filters: SubscribeFilters::new(&list),
        };
        assert_eq!(
            s.encode(&mut [0u8; 7]),
            Err(EncodeError::BufferTooSmall { needed: 8 })
        );
    }

    #[test]
    fn subscribe_decode_errors() {
        assert_eq!(Subscribe::decode(&[0, 1]), Err(DecodeError::NoFilters));
        assert_eq!(
            Subscribe::decode(&[0, 0, 0, 1, b'a', 0]),
            Err(DecodeError::ZeroPacketId)
        );
        assert_eq!(
            Subscribe::decode(&[0, 1, 0, 1, b'a', 3]),
            Err(DecodeError::InvalidQos)
        );
        // Reserved bits of the requested QoS byte [MQTT-3.8.3-4].
        assert_eq!(
            Subscribe::decode(&[0, 1, 0, 1, b'a', 0x04]),
            Err(DecodeError::InvalidQos)
        );
        assert_eq!(
            Subscribe::decode(&[0, 1, 0, 1, b'a']),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Subscribe::decode(&[0, 1, 0, 2, b'a']),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Subscribe::decode(&[0, 1, 0, 0, 0]),
            Err(DecodeError::EmptyTopic)
        );
        assert_eq!(
            Subscribe::decode(&[0, 1, 0, 1, 0, 0]),
            Err(DecodeError::NullCharacter)
        );
        assert_eq!(Subscribe::decode(&[0]), Err(DecodeError::Truncated));
        assert_eq!(
            decode_frame(&[0x80, 6, 0, 1, 0, 1, b'a', 0]),
            Err(DecodeError::InvalidFlags)
        );
    }

    /// §3.9.3's payload example ("Success - Maximum QoS 0", "Success -
    /// Maximum QoS 2", "Failure") with packet id 10.
    const SUBACK: &[u8] = &[0x90, 5, 0, 10, 0x00, 0x02, 0x80];

    #[test]
    fn suback_vector() {
        let s = SubAck {
            packet_id: 10,
            return_codes: &[0, 2, 0x80],
        };
        let mut out = [0u8; 8];
        assert_eq!(s.encoded_len(), Ok(SUBACK.len()));
        assert_eq!(s.encode(&mut out), Ok(SUBACK.len()));
        assert_eq!(&out[..SUBACK.len()], SUBACK);
        assert_eq!(
            decode_frame_from_server(SUBACK),
            Ok(Some((Packet::SubAck(s), SUBACK.len())))
        );
        let codes: Vec<_> = s.codes().collect();
        assert_eq!(
            codes,
            [
                SubAckCode::Granted(QoS::AtMostOnce),
                SubAckCode::Granted(QoS::ExactlyOnce),
                SubAckCode::Failure
            ]
        );
        for b in [0u8, 1, 2, 0x80] {
            assert_eq!(SubAckCode::try_from(b).map(u8::from), Ok(b));
        }
    }

    #[test]
    fn suback_errors() {
        assert_eq!(SubAck::decode(&[0, 1]), Err(DecodeError::EmptySuback));
        assert_eq!(
            SubAck::decode(&[0, 1, 3]),
            Err(DecodeError::InvalidSubackCode)
        );
        assert_eq!(
            SubAck::decode(&[0, 1, 0, 0x81]),
            Err(DecodeError::InvalidSubackCode)
        );
        assert_eq!(SubAck::decode(&[0, 0, 0]), Err(DecodeError::ZeroPacketId));
        assert_eq!(SubAck::decode(&[0]), Err(DecodeError::Truncated));
        let s = SubAck {
            packet_id: 1,
            return_codes: &[],
        };
        assert_eq!(s.encoded_len(), Err(EncodeError::NoReturnCodes));
        let s = SubAck {
            packet_id: 1,
            return_codes: &[0x40],
        };
        assert_eq!(s.encode(&mut [0u8; 8]), Err(EncodeError::InvalidSubackCode));
        assert_eq!(s.codes().next(), Some(SubAckCode::Failure));
        let s = SubAck {
            packet_id: 0,
            return_codes: &[0],
        };
        assert_eq!(s.encode(&mut [0u8; 8]), Err(EncodeError::ZeroPacketId));
    }
}
