//! The packets that are nothing but a non-zero packet identifier: PUBACK
//! (§3.4), PUBREC (§3.5), PUBREL (§3.6, fixed-header flags `0b0010`), PUBCOMP
//! (§3.7) and UNSUBACK (§3.11). Remaining length is always 2.

use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, PacketType};

/// Encodes a 4-byte packet-identifier frame.
fn encode_id(packet_type: PacketType, id: u16, out: &mut [u8]) -> Result<usize, EncodeError> {
    if id == 0 {
        return Err(EncodeError::ZeroPacketId);
    }
    let flags = packet_type.required_flags().unwrap_or(0);
    wire::write_frame(out, ((packet_type as u8) << 4) | flags, 2, |w| w.u16(id))
}

/// Decodes a body that is exactly a non-zero packet identifier.
fn decode_id(body: &[u8]) -> Result<u16, DecodeError> {
    let mut r = Reader::new(body);
    let id = r.packet_id()?;
    r.finish()?;
    Ok(id)
}

macro_rules! id_packet {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub u16);

        impl $name {
            /// The packet identifier.
            pub fn packet_id(&self) -> u16 {
                self.0
            }

            /// Length of the whole encoded frame (4), or
            /// [`EncodeError::ZeroPacketId`].
            pub fn encoded_len(&self) -> Result<usize, EncodeError> {
                if self.0 == 0 {
                    return Err(EncodeError::ZeroPacketId);
                }
                wire::frame_len(2)
            }

            /// Encodes the frame at the start of `out`; returns its length.
            pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                encode_id($ty, self.0, out)
            }

            pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
                decode_id(body).map($name)
            }
        }
    };
}

id_packet!(
    /// PUBACK: acknowledges a QoS 1 PUBLISH (§3.4).
    PubAck,
    PacketType::PubAck
);
id_packet!(
    /// PUBREC: first answer to a QoS 2 PUBLISH (§3.5).
    PubRec,
    PacketType::PubRec
);
id_packet!(
    /// PUBREL: answer to PUBREC (§3.6); fixed-header flags `0b0010`.
    PubRel,
    PacketType::PubRel
);
id_packet!(
    /// PUBCOMP: answer to PUBREL, completing QoS 2 (§3.7).
    PubComp,
    PacketType::PubComp
);
id_packet!(
    /// UNSUBACK: acknowledges UNSUBSCRIBE (§3.11).
    UnsubAck,
    PacketType::UnsubAck
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{decode_frame, Packet};

    #[test]
    fn vectors() {
        let mut out = [0u8; 4];
        assert_eq!(PubAck(0x1234).encode(&mut out), Ok(4));
        assert_eq!(out, [0x40, 2, 0x12, 0x34]);
        assert_eq!(
            decode_frame(&out),
            Ok(Some((Packet::PubAck(PubAck(0x1234)), 4)))
        );
        assert_eq!(PubRec(1).encode(&mut out), Ok(4));
        assert_eq!(out, [0x50, 2, 0, 1]);
        assert_eq!(decode_frame(&out), Ok(Some((Packet::PubRec(PubRec(1)), 4))));
        assert_eq!(PubRel(0xffff).encode(&mut out), Ok(4));
        assert_eq!(out, [0x62, 2, 0xff, 0xff]);
        assert_eq!(
            decode_frame(&out),
            Ok(Some((Packet::PubRel(PubRel(0xffff)), 4)))
        );
        assert_eq!(PubComp(7).encode(&mut out), Ok(4));
        assert_eq!(out, [0x70, 2, 0, 7]);
        assert_eq!(
            decode_frame(&out),
            Ok(Some((Packet::PubComp(PubComp(7)), 4)))
        );
        assert_eq!(UnsubAck(258).encode(&mut out), Ok(4));
        assert_eq!(out, [0xB0, 2, 1, 2]);
        assert_eq!(
            decode_frame(&out),
            Ok(Some((Packet::UnsubAck(UnsubAck(258)), 4)))
        );
        assert_eq!(UnsubAck(258).packet_id(), 258);
        assert_eq!(PubAck(1).encoded_len(), Ok(4));
    }

    #[test]
    fn zero_id() {
        assert_eq!(
            PubAck(0).encode(&mut [0u8; 4]),
            Err(EncodeError::ZeroPacketId)
        );
        assert_eq!(PubRel(0).encoded_len(), Err(EncodeError::ZeroPacketId));
        assert_eq!(PubComp::decode(&[0, 0]), Err(DecodeError::ZeroPacketId));
        assert_eq!(
            decode_frame(&[0x40, 2, 0, 0]),
            Err(DecodeError::ZeroPacketId)
        );
    }

    #[test]
    fn wrong_length() {
        assert_eq!(PubAck::decode(&[0]), Err(DecodeError::Truncated));
        assert_eq!(PubAck::decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(PubAck::decode(&[0, 1, 0]), Err(DecodeError::LengthMismatch));
        assert_eq!(
            decode_frame(&[0xB0, 3, 0, 1, 0]),
            Err(DecodeError::LengthMismatch)
        );
        assert_eq!(
            PubAck(1).encode(&mut [0u8; 3]),
            Err(EncodeError::BufferTooSmall { needed: 4 })
        );
    }

    #[test]
    fn pubrel_flags() {
        assert_eq!(
            decode_frame(&[0x60, 2, 0, 1]),
            Err(DecodeError::InvalidFlags)
        );
        assert_eq!(
            decode_frame(&[0x42, 2, 0, 1]),
            Err(DecodeError::InvalidFlags)
        );
    }
}
