//! The packets that are only a fixed header with remaining length 0: PINGREQ
//! (§3.12, `C0 00`), PINGRESP (§3.13, `D0 00`) and DISCONNECT (§3.14,
//! `E0 00`).

use super::wire;
use super::{DecodeError, EncodeError, PacketType};

macro_rules! empty_packet {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name;

        impl $name {
            /// Length of the whole encoded frame: always 2.
            pub fn encoded_len(&self) -> Result<usize, EncodeError> {
                wire::frame_len(0)
            }

            /// Encodes the frame at the start of `out`; returns its length.
            pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                wire::write_frame(out, ($ty as u8) << 4, 0, |_| Ok(()))
            }

            pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
                if body.is_empty() {
                    Ok($name)
                } else {
                    Err(DecodeError::LengthMismatch)
                }
            }
        }
    };
}

empty_packet!(
    /// PINGREQ: the client's keep-alive probe (§3.12).
    PingReq,
    PacketType::PingReq
);
empty_packet!(
    /// PINGRESP: the server's answer to PINGREQ (§3.13).
    PingResp,
    PacketType::PingResp
);
empty_packet!(
    /// DISCONNECT: the client's clean goodbye (§3.14).
    Disconnect,
    PacketType::Disconnect
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{decode_frame, decode_frame_from_server, Packet};

    #[test]
    fn vectors() {
        let mut out = [0xAAu8; 3];
        assert_eq!(PingReq.encode(&mut out), Ok(2));
        assert_eq!(out, [0xC0, 0x00, 0xAA]);
        assert_eq!(
            decode_frame(&[0xC0, 0x00]),
            Ok(Some((Packet::PingReq(PingReq), 2)))
        );
        assert_eq!(PingResp.encode(&mut out), Ok(2));
        assert_eq!(&out[..2], [0xD0, 0x00]);
        assert_eq!(
            decode_frame_from_server(&[0xD0, 0x00]),
            Ok(Some((Packet::PingResp(PingResp), 2)))
        );
        assert_eq!(Disconnect.encode(&mut out), Ok(2));
        assert_eq!(&out[..2], [0xE0, 0x00]);
        assert_eq!(
            decode_frame(&[0xE0, 0x00]),
            Ok(Some((Packet::Disconnect(Disconnect), 2)))
        );
        assert_eq!(PingReq.encoded_len(), Ok(2));
        assert_eq!(
            PingResp.encode(&mut [0u8; 1]),
            Err(EncodeError::BufferTooSmall { needed: 2 })
        );
    }

    #[test]
    fn nonzero_length() {
        assert_eq!(PingResp::decode(&[0]), Err(DecodeError::LengthMismatch));
        assert_eq!(
            decode_frame(&[0xD0, 0x01, 0x00]),
            Err(DecodeError::LengthMismatch)
        );
        assert_eq!(
            decode_frame(&[0xE0, 0x01, 0x00]),
            Err(DecodeError::LengthMismatch)
        );
    }

    #[test]
    fn client_only_packets_from_server() {
        assert_eq!(
            decode_frame_from_server(&[0xC0, 0x00]),
            Err(DecodeError::UnexpectedPacket)
        );
        assert_eq!(
            decode_frame_from_server(&[0xE0, 0x00]),
            Err(DecodeError::UnexpectedPacket)
        );
    }
}
