//! UNSUBSCRIBE (§3.10): fixed-header flags `0b0010`, a non-zero packet
//! identifier, then one or more [MQTT-3.10.3-2] topic filters (non-empty
//! strings). Its answer, UNSUBACK, is in `ack.rs`.
//!
//! Like [`super::SubscribeFilters`], [`UnsubscribeFilters`] is either a
//! caller's slice (to encode) or the validated payload of a decoded packet.

use core::fmt;

use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, PacketType};

/// The topic filters of an UNSUBSCRIBE.
#[derive(Clone, Copy)]
pub struct UnsubscribeFilters<'a>(Repr<'a>);

#[derive(Clone, Copy)]
enum Repr<'a> {
    Slice(&'a [&'a str]),
    /// A payload already checked by [`parse_entry`] through its whole length.
    Wire(&'a [u8]),
}

fn parse_entry<'a>(r: &mut Reader<'a>) -> Result<&'a str, DecodeError> {
    let filter = r.str()?;
    if filter.is_empty() {
        return Err(DecodeError::EmptyTopic);
    }
    Ok(filter)
}

impl<'a> UnsubscribeFilters<'a> {
    /// Filters to encode.
    pub const fn new(filters: &'a [&'a str]) -> Self {
        UnsubscribeFilters(Repr::Slice(filters))
    }

    /// Validates an UNSUBSCRIBE payload (at least one entry).
    pub(crate) fn parse(payload: &'a [u8]) -> Result<Self, DecodeError> {
        if payload.is_empty() {
            return Err(DecodeError::NoFilters);
        }
        let mut r = Reader::new(payload);
        while !r.is_empty() {
            parse_entry(&mut r)?;
        }
        Ok(UnsubscribeFilters(Repr::Wire(payload)))
    }

    /// The filters in order.
    pub fn iter(&self) -> UnsubscribeFiltersIter<'a> {
        UnsubscribeFiltersIter(match self.0 {
            Repr::Slice(s) => IterRepr::Slice(s.iter()),
            Repr::Wire(b) => IterRepr::Wire(Reader::new(b)),
        })
    }

    /// Number of filters.
    pub fn len(&self) -> usize {
        match self.0 {
            Repr::Slice(s) => s.len(),
            Repr::Wire(_) => self.iter().count(),
        }
    }

    /// Whether there are no filters (never true for a decoded packet).
    pub fn is_empty(&self) -> bool {
        match self.0 {
            Repr::Slice(s) => s.is_empty(),
            Repr::Wire(b) => b.is_empty(),
        }
    }
}

impl<'a> From<&'a [&'a str]> for UnsubscribeFilters<'a> {
    fn from(filters: &'a [&'a str]) -> Self {
        Self::new(filters)
    }
}

impl<'a> IntoIterator for UnsubscribeFilters<'a> {
    type Item = &'a str;
    type IntoIter = UnsubscribeFiltersIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for UnsubscribeFilters<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UnsubscribeFilters<'_> {}

impl fmt::Debug for UnsubscribeFilters<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over [`UnsubscribeFilters`].
pub struct UnsubscribeFiltersIter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Slice(core::slice::Iter<'a, &'a str>),
    Wire(Reader<'a>),
}

impl<'a> Iterator for UnsubscribeFiltersIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        match &mut self.0 {
            IterRepr::Slice(it) => it.next().copied(),
            IterRepr::Wire(r) => {
                if r.is_empty() {
                    return None;
                }
                // Validated when decoded; should it fail, iteration ends.
                match parse_entry(r) {
                    Ok(f) => Some(f),
                    Err(_) => {
                        r.rest();
                        None
                    }
                }
            }
        }
    }
}

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Non-zero packet identifier.
    pub packet_id: u16,
    /// One or more topic filters.
    pub filters: UnsubscribeFilters<'a>,
}

impl<'a> Unsubscribe<'a> {
    fn remaining_len(&self) -> Result<usize, EncodeError> {
        if self.packet_id == 0 {
            return Err(EncodeError::ZeroPacketId);
        }
        if self.filters.is_empty() {
            return Err(EncodeError::NoFilters);
        }
        let mut len = 2usize;
        for filter in self.filters.iter() {
            len = wire::add(len, wire::topic_filter_len(filter)?)?;
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
            ((PacketType::Unsubscribe as u8) << 4) | 0b0010,
            remaining,
            |w| {
                w.u16(self.packet_id)?;
                for filter in self.filters.iter() {
                    w.str(filter)?;
                }
                Ok(())
            },
        )
    }

    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = r.packet_id()?;
        let filters = UnsubscribeFilters::parse(r.rest())?;
        Ok(Unsubscribe { packet_id, filters })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{decode_frame, decode_frame_from_server, Packet};

    /// §3.10.3.1's payload example: "a/b", "c/d", with packet id 10.
    const UNSUB: &[u8] = &[
        0xA2, 12, 0, 10, 0, 3, b'a', b'/', b'b', 0, 3, b'c', b'/', b'd',
    ];

    #[test]
    fn vector() {
        let list = ["a/b", "c/d"];
        let u = Unsubscribe {
            packet_id: 10,
            filters: UnsubscribeFilters::new(&list),
        };
        let mut out = [0u8; 32];
        assert_eq!(u.encoded_len(), Ok(UNSUB.len()));
        assert_eq!(u.encode(&mut out), Ok(UNSUB.len()));
        assert_eq!(&out[..UNSUB.len()], UNSUB);
        let (p, n) = decode_frame(UNSUB).unwrap().unwrap();
        assert_eq!(n, UNSUB.len());
        let Packet::Unsubscribe(d) = p else {
            panic!("{p:?}")
        };
        assert_eq!(d, u);
        assert_eq!(d.filters.len(), 2);
        assert_eq!(d.filters.into_iter().collect::<Vec<_>>(), list);
        assert_eq!(format!("{:?}", d.filters), "[\"a/b\", \"c/d\"]");
        assert_eq!(
            decode_frame_from_server(UNSUB),
            Err(DecodeError::UnexpectedPacket)
        );
    }

    #[test]
    fn encode_rejects() {
        let u = Unsubscribe {
            packet_id: 1,
            filters: UnsubscribeFilters::new(&[]),
        };
        assert_eq!(u.encoded_len(), Err(EncodeError::NoFilters));
        let list = ["a"];
        let u = Unsubscribe {
            packet_id: 0,
            filters: UnsubscribeFilters::from(&list[..]),
        };
        assert_eq!(u.encode(&mut [0u8; 16]), Err(EncodeError::ZeroPacketId));
        let list = [""];
        let u = Unsubscribe {
            packet_id: 1,
            filters: UnsubscribeFilters::new(&list),
        };
        assert_eq!(u.encoded_len(), Err(EncodeError::EmptyTopic));
    }

    #[test]
    fn decode_errors() {
        assert_eq!(Unsubscribe::decode(&[0, 1]), Err(DecodeError::NoFilters));
        assert_eq!(
            Unsubscribe::decode(&[0, 0, 0, 1, b'a']),
            Err(DecodeError::ZeroPacketId)
        );
        assert_eq!(
            Unsubscribe::decode(&[0, 1, 0, 0]),
            Err(DecodeError::EmptyTopic)
        );
        assert_eq!(
            Unsubscribe::decode(&[0, 1, 0, 2, b'a']),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Unsubscribe::decode(&[0, 1, 0, 1, b'a', 0]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_frame(&[0xA0, 5, 0, 1, 0, 1, b'a']),
            Err(DecodeError::InvalidFlags)
        );
    }
}
