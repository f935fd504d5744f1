//! CONNACK (§3.2): the server's answer to CONNECT. Remaining length is always
//! 2: acknowledge flags (bits 7..=1 reserved, bit 0 session present) and the
//! return code (0..=5).

use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, PacketType};

/// CONNACK return code (§3.2.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnectReturnCode {
    /// 0: connection accepted.
    Accepted = 0,
    /// 1: the server does not support the requested protocol level.
    UnacceptableProtocolVersion = 1,
    /// 2: the client identifier is not allowed.
    IdentifierRejected = 2,
    /// 3: the MQTT service is unavailable.
    ServerUnavailable = 3,
    /// 4: the user name or password is malformed.
    BadUserNameOrPassword = 4,
    /// 5: the client is not authorized to connect.
    NotAuthorized = 5,
}

impl TryFrom<u8> for ConnectReturnCode {
    type Error = DecodeError;

    /// 0..=5, else [`DecodeError::InvalidConnackCode`].
    fn try_from(value: u8) -> Result<Self, DecodeError> {
        Ok(match value {
            0 => ConnectReturnCode::Accepted,
            1 => ConnectReturnCode::UnacceptableProtocolVersion,
            2 => ConnectReturnCode::IdentifierRejected,
            3 => ConnectReturnCode::ServerUnavailable,
            4 => ConnectReturnCode::BadUserNameOrPassword,
            5 => ConnectReturnCode::NotAuthorized,
            _ => return Err(DecodeError::InvalidConnackCode),
        })
    }
}

/// A CONNACK packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnAck {
    /// The server resumed a stored session (only with `Accepted`
    /// [MQTT-3.2.2-4]).
    pub session_present: bool,
    /// Whether and why not the connection was accepted.
    pub code: ConnectReturnCode,
}

impl ConnAck {
    fn check(&self) -> Result<(), EncodeError> {
        if self.session_present && self.code != ConnectReturnCode::Accepted {
            Err(EncodeError::SessionPresentWithError)
        } else {
            Ok(())
        }
    }

    /// Length of the whole encoded frame: always 4.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        self.check()?;
        wire::frame_len(2)
    }

    /// Encodes the frame at the start of `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.check()?;
        wire::write_frame(out, (PacketType::ConnAck as u8) << 4, 2, |w| {
            w.u8(u8::from(self.session_present))?;
            w.u8(self.code as u8)
        })
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let flags = r.u8()?;
        let code = r.u8()?;
        r.finish()?;
        if flags & 0xfe != 0 {
            return Err(DecodeError::InvalidConnackFlags);
        }
        let session_present = flags & 1 != 0;
        let code = ConnectReturnCode::try_from(code)?;
        if session_present && code != ConnectReturnCode::Accepted {
            return Err(DecodeError::SessionPresentWithError);
        }
        Ok(ConnAck {
            session_present,
            code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{decode_frame, Packet};

    #[test]
    fn encode_decode_vectors() {
        let cases: &[(ConnAck, [u8; 4])] = &[
            (
                ConnAck {
                    session_present: false,
                    code: ConnectReturnCode::Accepted,
                },
                [0x20, 2, 0, 0],
            ),
            (
                ConnAck {
                    session_present: true,
                    code: ConnectReturnCode::Accepted,
                },
                [0x20, 2, 1, 0],
            ),
            (
                ConnAck {
                    session_present: false,
                    code: ConnectReturnCode::NotAuthorized,
                },
                [0x20, 2, 0, 5],
            ),
            (
                ConnAck {
                    session_present: false,
                    code: ConnectReturnCode::IdentifierRejected,
                },
                [0x20, 2, 0, 2],
            ),
        ];
        for (c, bytes) in cases {
            let mut out = [0u8; 4];
            assert_eq!(c.encoded_len(), Ok(4));
            assert_eq!(c.encode(&mut out), Ok(4));
            assert_eq!(&out, bytes);
            assert_eq!(decode_frame(bytes), Ok(Some((Packet::ConnAck(*c), 4))));
        }
        for v in 0u8..=5 {
            assert_eq!(ConnectReturnCode::try_from(v).map(|c| c as u8), Ok(v));
        }
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            ConnAck::decode(&[0x02, 0]),
            Err(DecodeError::InvalidConnackFlags)
        );
        assert_eq!(
            ConnAck::decode(&[0x80, 0]),
            Err(DecodeError::InvalidConnackFlags)
        );
        assert_eq!(
            ConnAck::decode(&[0, 6]),
            Err(DecodeError::InvalidConnackCode)
        );
        assert_eq!(
            ConnAck::decode(&[0, 0xff]),
            Err(DecodeError::InvalidConnackCode)
        );
        assert_eq!(
            ConnAck::decode(&[1, 1]),
            Err(DecodeError::SessionPresentWithError)
        );
        assert_eq!(ConnAck::decode(&[0]), Err(DecodeError::Truncated));
        assert_eq!(ConnAck::decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(
            ConnAck::decode(&[0, 0, 0]),
            Err(DecodeError::LengthMismatch)
        );
    }

    #[test]
    fn encode_errors() {
        let c = ConnAck {
            session_present: true,
            code: ConnectReturnCode::ServerUnavailable,
        };
        assert_eq!(
            c.encode(&mut [0u8; 4]),
            Err(EncodeError::SessionPresentWithError)
        );
        assert_eq!(c.encoded_len(), Err(EncodeError::SessionPresentWithError));
        let c = ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        };
        assert_eq!(
            c.encode(&mut [0u8; 3]),
            Err(EncodeError::BufferTooSmall { needed: 4 })
        );
    }
}
