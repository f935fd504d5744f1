//! PUBLISH (§3.3), in both directions.
//!
//! Fixed-header flags: DUP (bit 3), QoS (bits 2-1), RETAIN (bit 0); QoS 3 is
//! malformed [MQTT-3.3.1-4] and DUP must be 0 at QoS 0 [MQTT-3.3.1-2].
//! Variable header: topic name (string, non-empty, no wildcards
//! [MQTT-3.3.2-2], [MQTT-4.7.3-1]), then a non-zero packet identifier only at
//! QoS 1 and 2 (§3.3.2.2). Payload: the rest of the frame, possibly empty.

use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, PacketType, QoS};

const FLAG_DUP: u8 = 0b1000;
const QOS_SHIFT: u8 = 1;
const FLAG_RETAIN: u8 = 0b0001;

/// A PUBLISH packet. Decoding borrows `topic` and `payload` from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Publish<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Delivery QoS.
    pub qos: QoS,
    /// Packet identifier: `Some` (non-zero) exactly when `qos` is above 0.
    pub packet_id: Option<u16>,
    /// Re-delivery of an earlier attempt (QoS 1 and 2 only).
    pub dup: bool,
    /// Retain flag.
    pub retain: bool,
    /// Application message.
    pub payload: &'a [u8],
}

impl<'a> Publish<'a> {
    /// The low nibble of the first fixed-header byte.
    pub fn flags(&self) -> u8 {
        let mut f = (self.qos as u8) << QOS_SHIFT;
        if self.dup {
            f |= FLAG_DUP;
        }
        if self.retain {
            f |= FLAG_RETAIN;
        }
        f
    }

    /// Validates and sizes variable header plus payload.
    fn remaining_len(&self) -> Result<usize, EncodeError> {
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(EncodeError::DupWithQos0);
        }
        let id_len = match (self.qos, self.packet_id) {
            (QoS::AtMostOnce, None) => 0,
            (QoS::AtMostOnce, Some(_)) => return Err(EncodeError::UnexpectedPacketId),
            (_, None) => return Err(EncodeError::MissingPacketId),
            (_, Some(0)) => return Err(EncodeError::ZeroPacketId),
            (_, Some(_)) => 2,
        };
        let len = wire::add(wire::topic_name_len(self.topic)?, id_len)?;
        wire::add(len, self.payload.len())
    }

    /// Length of the whole encoded frame, or why it cannot be encoded.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        wire::frame_len(self.remaining_len()?)
    }

    /// Encodes the frame at the start of `out`; returns its length. The
    /// payload is copied once, straight into `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let remaining = self.remaining_len()?;
        let first = ((PacketType::Publish as u8) << 4) | self.flags();
        wire::write_frame(out, first, remaining, |w| {
            w.str(self.topic)?;
            if let Some(id) = self.packet_id {
                w.u16(id)?;
            }
            w.bytes(self.payload)
        })
    }

    /// Decodes a PUBLISH body given the (already checked) fixed-header flags.
    pub(crate) fn decode(flags: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        let qos = QoS::try_from((flags >> QOS_SHIFT) & 0b11)?;
        let dup = flags & FLAG_DUP != 0;
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::DupWithQos0);
        }
        let retain = flags & FLAG_RETAIN != 0;
        let mut r = Reader::new(body);
        let topic = r.str()?;
        wire::check_topic_name(topic)?;
        let packet_id = if qos == QoS::AtMostOnce {
            None
        } else {
            Some(r.packet_id()?)
        };
        let payload = r.rest();
        Ok(Publish {
            topic,
            qos,
            packet_id,
            dup,
            retain,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{decode_frame, decode_frame_from_server, Packet};

    /// §3.3.2.3's variable header example (topic "a/b", packet id 10) at
    /// QoS 1, with payload "hi".
    const QOS1: &[u8] = &[
        0x32, 9, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'i',
    ];

    #[test]
    fn qos1_vector() {
        let p = Publish {
            topic: "a/b",
            qos: QoS::AtLeastOnce,
            packet_id: Some(10),
            dup: false,
            retain: false,
            payload: b"hi",
        };
        let mut out = [0u8; 16];
        assert_eq!(p.encoded_len(), Ok(QOS1.len()));
        assert_eq!(p.encode(&mut out), Ok(QOS1.len()));
        assert_eq!(&out[..QOS1.len()], QOS1);
        assert_eq!(
            decode_frame(QOS1),
            Ok(Some((Packet::Publish(p), QOS1.len())))
        );
    }

    #[test]
    fn qos0_retain_empty_payload() {
        let frame = [0x31, 5, 0, 3, b'a', b'/', b'b'];
        let p = Publish {
            topic: "a/b",
            qos: QoS::AtMostOnce,
            packet_id: None,
            dup: false,
            retain: true,
            payload: b"",
        };
        let mut out = [0u8; 7];
        assert_eq!(p.encode(&mut out), Ok(7));
        assert_eq!(out, frame);
        assert_eq!(
            decode_frame_from_server(&frame),
            Ok(Some((Packet::Publish(p), 7)))
        );
    }

    #[test]
    fn qos2_dup() {
        let p = Publish {
            topic: "x",
            qos: QoS::ExactlyOnce,
            packet_id: Some(0xBEEF),
            dup: true,
            retain: false,
            payload: &[0, 1, 2],
        };
        let mut out = [0u8; 10];
        assert_eq!(p.encode(&mut out), Ok(10));
        assert_eq!(out, [0x3C, 8, 0, 1, b'x', 0xBE, 0xEF, 0, 1, 2]);
        assert_eq!(decode_frame(&out), Ok(Some((Packet::Publish(p), 10))));
    }

    #[test]
    fn encode_rejects() {
        let ok = Publish {
            topic: "t",
            qos: QoS::AtLeastOnce,
            packet_id: Some(1),
            dup: false,
            retain: false,
            payload: b"",
        };
        let mut out = [0u8; 32];
        assert_eq!(
            Publish {
                packet_id: None,
                ..ok
            }
            .encode(&mut out),
            Err(EncodeError::MissingPacketId)
        );
        assert_eq!(
            Publish {
                packet_id: Some(0),
                ..ok
            }
            .encode(&mut out),
            Err(EncodeError::ZeroPacketId)
        );
        assert_eq!(
            Publish {
                qos: QoS::AtMostOnce,
                ..ok
            }
            .encode(&mut out),
            Err(EncodeError::UnexpectedPacketId)
        );
        assert_eq!(
            Publish {
                qos: QoS::AtMostOnce,
                packet_id: None,
                dup: true,
                ..ok
            }
            .encode(&mut out),
            Err(EncodeError::DupWithQos0)
        );
        assert_eq!(
            Publish { topic: "", ..ok }.encode(&mut out),
            Err(EncodeError::EmptyTopic)
        );
        assert_eq!(
            Publish {
                topic: "a/+/b",
                ..ok
            }
            .encode(&mut out),
            Err(EncodeError::WildcardInTopic)
        );
        assert_eq!(
            Publish { topic: "#", ..ok }.encoded_len(),
            Err(EncodeError::WildcardInTopic)
        );
        assert_eq!(
            Publish { topic: "a\0", ..ok }.encoded_len(),
            Err(EncodeError::NullCharacter)
        );
        assert_eq!(
            ok.encode(&mut out[..5]),
            Err(EncodeError::BufferTooSmall { needed: 7 })
        );
        assert_eq!(ok.encode(&mut out), Ok(7));
    }

    #[test]
    fn long_topic() {
        let long = "a".repeat(65_536);
        let p = Publish {
            topic: &long,
            qos: QoS::AtMostOnce,
            packet_id: None,
            dup: false,
            retain: false,
            payload: b"",
        };
        assert_eq!(p.encoded_len(), Err(EncodeError::StringTooLong));
        let p = Publish {
            topic: &long[1..],
            ..p
        };
        assert_eq!(p.encoded_len(), Ok(1 + 3 + 65_537));
    }

    #[test]
    fn too_large() {
        let big = vec![0u8; crate::mqtt::codec::MAX_REMAINING_LEN as usize];
        let p = Publish {
            topic: "t",
            qos: QoS::AtMostOnce,
            packet_id: None,
            dup: false,
            retain: false,
            payload: &big,
        };
        assert_eq!(p.encoded_len(), Err(EncodeError::PacketTooLarge));
        let p = Publish {
            payload: &big[3..],
            ..p
        };
        assert_eq!(
            p.encoded_len(),
            Ok(5 + crate::mqtt::codec::MAX_REMAINING_LEN as usize)
        );
    }

    #[test]
    fn decode_errors() {
        // Topic with wildcards or empty [MQTT-3.3.2-2], [MQTT-4.7.3-1].
        assert_eq!(
            Publish::decode(0, &[0, 1, b'#']),
            Err(DecodeError::WildcardInTopic)
        );
        assert_eq!(
            Publish::decode(0, &[0, 3, b'a', b'/', b'+']),
            Err(DecodeError::WildcardInTopic)
        );
        assert_eq!(
            Publish::decode(0, &[0, 0, b'x']),
            Err(DecodeError::EmptyTopic)
        );
        // Packet id 0 [MQTT-2.3.1-1].
        assert_eq!(
            Publish::decode(0b0010, &[0, 1, b'a', 0, 0]),
            Err(DecodeError::ZeroPacketId)
        );
        // Missing packet id.
        assert_eq!(
            Publish::decode(0b0010, &[0, 1, b'a', 0]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Publish::decode(0, &[0, 2, b'a']),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Publish::decode(0, &[0, 1, 0xC0]),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(
            Publish::decode(0, &[0, 1, 0]),
            Err(DecodeError::NullCharacter)
        );
        assert_eq!(
            Publish::decode(0b1000, &[0, 1, b'a']),
            Err(DecodeError::DupWithQos0)
        );
        assert_eq!(
            Publish::decode(0b0110, &[0, 1, b'a']),
            Err(DecodeError::InvalidQos)
        );
        // Through the frame decoder the header catches these first.
        assert_eq!(
            decode_frame(&[0x36, 3, 0, 1, b'a']),
            Err(DecodeError::InvalidQos)
        );
        assert_eq!(
            decode_frame(&[0x38, 3, 0, 1, b'a']),
            Err(DecodeError::DupWithQos0)
        );
    }
}
