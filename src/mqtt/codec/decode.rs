//! Decoding whole packets: from a fixed header plus its body
//! ([`Packet::decode`], [`Packet::decode_from_server`]), or from a contiguous
//! buffer that may hold a partial frame ([`decode_frame`], [`frame_len`]).
//!
//! Decoding is zero-copy: strings and payloads borrow from `body`/`buf`.

use super::{
    ConnAck, Connect, DecodeError, Disconnect, FixedHeader, Packet, PacketType, PingReq, PingResp,
    PubAck, PubComp, PubRec, PubRel, Publish, SubAck, Subscribe, UnsubAck, Unsubscribe,
};

impl<'a> Packet<'a> {
    /// Decodes the body of a packet whose fixed header is `header`. `body` must
    /// be exactly `header.remaining_len` bytes ([`DecodeError::Truncated`] if
    /// shorter, [`DecodeError::LengthMismatch`] if longer).
    ///
    /// Accepts all 14 types in either direction; every rule of the standard
    /// about the packet's own shape is checked, including those on topic
    /// names in PUBLISH, which hold both ways [MQTT-3.3.2-2].
    pub fn decode(header: &FixedHeader, body: &'a [u8]) -> Result<Packet<'a>, DecodeError> {
        Self::decode_types(header, body, true)
    }

    /// The decoder; with `client_packets` false the types only a client sends
    /// are refused, and their decoders drop out of a client's build (the
    /// argument is a constant at each call site).
    #[inline(always)]
    fn decode_types(header: &FixedHeader, body: &'a [u8], client_packets: bool) -> Result<Packet<'a>, DecodeError> {
        header.validate()?;
        if !client_packets && !header.packet_type.server_may_send() {
            return Err(DecodeError::UnexpectedPacket);
        }
        let expected = header.remaining_len as usize;
        if body.len() < expected {
            return Err(DecodeError::Truncated);
        }
        if body.len() > expected {
            return Err(DecodeError::LengthMismatch);
        }
        Ok(match header.packet_type {
            PacketType::Connect if client_packets => Packet::Connect(Connect::decode(body)?),
            PacketType::ConnAck => Packet::ConnAck(ConnAck::decode(body)?),
            PacketType::Publish => Packet::Publish(Publish::decode(header.flags, body)?),
            PacketType::PubAck => Packet::PubAck(PubAck::decode(body)?),
            PacketType::PubRec => Packet::PubRec(PubRec::decode(body)?),
            PacketType::PubRel => Packet::PubRel(PubRel::decode(body)?),
            PacketType::PubComp => Packet::PubComp(PubComp::decode(body)?),
            PacketType::Subscribe if client_packets => Packet::Subscribe(Subscribe::decode(body)?),
            PacketType::SubAck => Packet::SubAck(SubAck::decode(body)?),
            PacketType::Unsubscribe if client_packets => Packet::Unsubscribe(Unsubscribe::decode(body)?),
            PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(body)?),
            PacketType::PingReq if client_packets => Packet::PingReq(PingReq::decode(body)?),
            PacketType::PingResp => Packet::PingResp(PingResp::decode(body)?),
            PacketType::Disconnect if client_packets => Packet::Disconnect(Disconnect::decode(body)?),
            _ => return Err(DecodeError::UnexpectedPacket),
        })
    }

    /// [`Packet::decode`] for a client: additionally rejects, with
    /// [`DecodeError::UnexpectedPacket`], the types a server never sends
    /// (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT). Header flag
    /// errors take precedence.
    pub fn decode_from_server(
        header: &FixedHeader,
        body: &'a [u8],
    ) -> Result<Packet<'a>, DecodeError> {
        Self::decode_types(header, body, false)
    }
}

/// Length of the frame starting at `buf[0]` (header plus body, the header as
/// actually encoded), once its fixed header is complete; `Ok(None)` before.
/// `buf` need not hold the body yet.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    Ok(FixedHeader::parse(buf)?.map(|(h, n)| n.saturating_add(h.remaining_len as usize)))
}

/// A whole frame found at the start of a buffer.
struct Frame<'a> {
    header: FixedHeader,
    body: &'a [u8],
    len: usize,
}

/// Splits the first whole frame off `buf`: `Ok(None)` while `buf` holds only
/// part of it (header or body).
fn split_frame(buf: &[u8]) -> Result<Option<Frame<'_>>, DecodeError> {
    let Some((header, header_len)) = FixedHeader::parse(buf)? else {
        return Ok(None);
    };
    let Some(end) = header_len.checked_add(header.remaining_len as usize) else {
        return Err(DecodeError::PacketTooLarge);
    };
    Ok(buf.get(header_len..end).map(|body| Frame {
        header,
        body,
        len: end,
    }))
}

/// Decodes the frame at the start of `buf`, returning the packet and the
/// frame's length (consume that many bytes), or `Ok(None)` if `buf` does not
/// hold the whole frame yet. Errors are reported as soon as the bytes present
/// prove the frame invalid (fixed header) or once the frame is complete.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, DecodeError> {
    match split_frame(buf)? {
        None => Ok(None),
        Some(f) => Ok(Some((Packet::decode(&f.header, f.body)?, f.len))),
    }
}

/// [`decode_frame`] with [`Packet::decode_from_server`]'s extra checks.
pub fn decode_frame_from_server(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, DecodeError> {
    match split_frame(buf)? {
        None => Ok(None),
        Some(f) => Ok(Some((
            Packet::decode_from_server(&f.header, f.body)?,
            f.len,
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{ConnectReturnCode, QoS, SubscribeFilters, UnsubscribeFilters, Will};

    /// One valid frame of every type.
    fn all_frames() -> Vec<Vec<u8>> {
        let subs = [("a/+", QoS::AtLeastOnce), ("#", QoS::AtMostOnce)];
        let unsubs = ["a/+", "b"];
        let packets: Vec<Packet<'_>> = vec![
            Packet::Connect(Connect {
                client_id: "dev",
                keep_alive: 60,
                clean_session: false,
                username: Some("user"),
                password: Some(b"\x00\xffpw"),
                will: Some(Will {
                    topic: "dev/gone",
                    payload: b"bye",
                    qos: QoS::ExactlyOnce,
                    retain: true,
                }),
            }),
            Packet::ConnAck(ConnAck {
                session_present: true,
                code: ConnectReturnCode::Accepted,
            }),
            Packet::Publish(Publish {
                topic: "t/1",
                qos: QoS::AtLeastOnce,
                packet_id: Some(5),
                dup: true,
                retain: true,
                payload: &[1, 2, 3],
            }),
            Packet::PubAck(PubAck(1)),
            Packet::PubRec(PubRec(2)),
            Packet::PubRel(PubRel(3)),
            Packet::PubComp(PubComp(4)),
            Packet::Subscribe(Subscribe {
                packet_id: 6,
                filters: SubscribeFilters::new(&subs),
            }),
            Packet::SubAck(SubAck {
                packet_id: 6,
                return_codes: &[1, 0x80],
            }),
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 7,
                filters: UnsubscribeFilters::new(&unsubs),
            }),
            Packet::UnsubAck(UnsubAck(7)),
            Packet::PingReq(PingReq),
            Packet::PingResp(PingResp),
            Packet::Disconnect(Disconnect),
        ];
        packets
            .iter()
            .map(|p| {
                let mut v = vec![0u8; p.encoded_len().unwrap()];
                assert_eq!(p.encode(&mut v), Ok(v.len()));
                let (d, n) = decode_frame(&v).unwrap().unwrap();
                assert_eq!(n, v.len());
                assert_eq!(&d, p);
                assert_eq!(d.packet_type(), p.packet_type());
                v
            })
            .collect()
    }

    #[test]
    fn every_type_round_trips() {
        assert_eq!(all_frames().len(), 14);
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        for frame in all_frames() {
            for cut in 0..frame.len() {
                assert_eq!(
                    decode_frame(&frame[..cut]),
                    Ok(None),
                    "{frame:02x?} cut at {cut}"
                );
                let fl = frame_len(&frame[..cut]).unwrap();
                assert!(fl.is_none() || fl == Some(frame.len()));
                let from_server = decode_frame_from_server(&frame[..cut]);
                assert_eq!(from_server, Ok(None));
            }
            assert_eq!(frame_len(&frame), Ok(Some(frame.len())));
        }
    }

    #[test]
    fn trailing_bytes_are_not_consumed() {
        let mut two = vec![0xD0, 0x00];
        two.extend_from_slice(&[0x40, 0x02, 0x00, 0x09]);
        let (p, n) = decode_frame(&two).unwrap().unwrap();
        assert_eq!((p, n), (Packet::PingResp(PingResp), 2));
        let (p, n) = decode_frame(&two[n..]).unwrap().unwrap();
        assert_eq!((p, n), (Packet::PubAck(PubAck(9)), 4));
    }

    #[test]
    fn server_direction() {
        for frame in all_frames() {
            let (h, n) = FixedHeader::parse(&frame).unwrap().unwrap();
            let r = Packet::decode_from_server(&h, &frame[n..]);
            if h.packet_type.server_may_send() {
                assert!(r.is_ok(), "{:?}", h.packet_type);
            } else {
                assert_eq!(r, Err(DecodeError::UnexpectedPacket));
            }
        }
        // CONNECT from a server.
        assert_eq!(
            decode_frame_from_server(&[0x10, 0]),
            Err(DecodeError::UnexpectedPacket)
        );
        // A PUBLISH topic with a wildcard, from a server.
        assert_eq!(
            decode_frame_from_server(&[0x30, 3, 0, 1, b'+']),
            Err(DecodeError::WildcardInTopic)
        );
        assert_eq!(
            decode_frame_from_server(&[0x30, 2, 0, 0]),
            Err(DecodeError::EmptyTopic)
        );
    }

    #[test]
    fn body_length_must_match_header() {
        let h = FixedHeader {
            packet_type: PacketType::PubAck,
            flags: 0,
            remaining_len: 2,
        };
        assert_eq!(Packet::decode(&h, &[0]), Err(DecodeError::Truncated));
        assert_eq!(
            Packet::decode(&h, &[0, 1, 2]),
            Err(DecodeError::LengthMismatch)
        );
        assert_eq!(Packet::decode(&h, &[0, 1]), Ok(Packet::PubAck(PubAck(1))));
        // Hand-built header with bad flags.
        let h = FixedHeader {
            packet_type: PacketType::PubAck,
            flags: 2,
            remaining_len: 2,
        };
        assert_eq!(Packet::decode(&h, &[0, 1]), Err(DecodeError::InvalidFlags));
        assert_eq!(
            Packet::decode_from_server(&h, &[0, 1]),
            Err(DecodeError::InvalidFlags)
        );
    }

    #[test]
    fn header_errors_before_body() {
        assert_eq!(decode_frame(&[0x00]), Err(DecodeError::ReservedPacketType));
        assert_eq!(
            decode_frame(&[0xF0, 0]),
            Err(DecodeError::ReservedPacketType)
        );
        assert_eq!(frame_len(&[0xF0]), Err(DecodeError::ReservedPacketType));
        assert_eq!(
            decode_frame(&[0x20, 0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::RemainingLengthTooLong)
        );
        assert_eq!(decode_frame(&[0x62, 0x02]), Ok(None));
        assert_eq!(
            frame_len(&[0x30, 0xff, 0xff, 0xff, 0x7f]),
            Ok(Some(268_435_460))
        );
    }

    #[test]
    fn non_minimal_length_accepted() {
        let frame = [0xD0, 0x80, 0x00];
        assert_eq!(
            decode_frame(&frame),
            Ok(Some((Packet::PingResp(PingResp), 3)))
        );
        assert_eq!(frame_len(&frame), Ok(Some(3)));
    }
}
