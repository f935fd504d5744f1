//! CONNECT (§3.1): the first packet a client sends.
//!
//! Variable header: protocol name "MQTT" (as a length-prefixed string), protocol
//! level 4, connect flags, keep alive (u16 seconds). Payload, in this order:
//! client identifier, will topic and will message (if the will flag is set),
//! user name (if its flag is set), password (if its flag is set).
//!
//! Connect flags (§3.1.2.3): bit 7 user name, bit 6 password, bit 5 will
//! retain, bits 4-3 will QoS, bit 2 will flag, bit 1 clean session, bit 0
//! reserved (must be 0) [MQTT-3.1.2-3].

use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, PacketType, QoS, PROTOCOL_LEVEL, PROTOCOL_NAME};

const FLAG_USERNAME: u8 = 0x80;
const FLAG_PASSWORD: u8 = 0x40;
const FLAG_WILL_RETAIN: u8 = 0x20;
const WILL_QOS_SHIFT: u8 = 3;
const FLAG_WILL: u8 = 0x04;
const FLAG_CLEAN_SESSION: u8 = 0x02;
const FLAG_RESERVED: u8 = 0x01;

/// Protocol name (2 + 4), level (1), flags (1), keep alive (2).
const VARIABLE_HEADER_LEN: usize = 10;

/// The will message the server publishes if the client vanishes (§3.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Will<'a> {
    /// Will topic: a topic name, so non-empty and without wildcards.
    pub topic: &'a str,
    /// Will message (at most 65 535 bytes).
    pub payload: &'a [u8],
    /// QoS of the will publish.
    pub qos: QoS,
    /// Whether the will publish is retained.
    pub retain: bool,
}

/// A CONNECT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Connect<'a> {
    /// Client identifier; may be empty only with `clean_session`
    /// [MQTT-3.1.3-7].
    pub client_id: &'a str,
    /// Keep-alive interval in seconds (0 = off).
    pub keep_alive: u16,
    /// Start a fresh session (CleanSession flag).
    pub clean_session: bool,
    /// User name.
    pub username: Option<&'a str>,
    /// Password (binary); requires `username` [MQTT-3.1.2-22].
    pub password: Option<&'a [u8]>,
    /// Will message.
    pub will: Option<Will<'a>>,
}

impl<'a> Connect<'a> {
    fn flags(&self) -> u8 {
        let mut f = 0;
        if self.username.is_some() {
            f |= FLAG_USERNAME;
        }
        if self.password.is_some() {
            f |= FLAG_PASSWORD;
        }
        if let Some(will) = &self.will {
            f |= FLAG_WILL | ((will.qos as u8) << WILL_QOS_SHIFT);
            if will.retain {
                f |= FLAG_WILL_RETAIN;
            }
        }
        if self.clean_session {
            f |= FLAG_CLEAN_SESSION;
        }
        f
    }

    /// Validates and sizes the variable header and payload.
    fn remaining_len(&self) -> Result<usize, EncodeError> {
        if self.password.is_some() && self.username.is_none() {
            return Err(EncodeError::PasswordWithoutUsername);
        }
        if self.client_id.is_empty() && !self.clean_session {
            return Err(EncodeError::EmptyClientId);
        }
        let mut len = wire::add(VARIABLE_HEADER_LEN, wire::str_len(self.client_id)?)?;
        if let Some(will) = &self.will {
            len = wire::add(len, wire::topic_name_len(will.topic)?)?;
            len = wire::add(len, wire::field_len(will.payload.len())?)?;
        }
        if let Some(user) = self.username {
            len = wire::add(len, wire::str_len(user)?)?;
        }
        if let Some(pass) = self.password {
            len = wire::add(len, wire::field_len(pass.len())?)?;
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
        wire::write_frame(out, (PacketType::Connect as u8) << 4, remaining, |w| {
            w.str(PROTOCOL_NAME)?;
            w.u8(PROTOCOL_LEVEL)?;
            w.u8(self.flags())?;
            w.u16(self.keep_alive)?;
            w.str(self.client_id)?;
            if let Some(will) = &self.will {
                w.str(will.topic)?;
                w.binary(will.payload)?;
            }
            if let Some(user) = self.username {
                w.str(user)?;
            }
            if let Some(pass) = self.password {
                w.binary(pass)?;
            }
            Ok(())
        })
    }

    /// Decodes a CONNECT body (the bytes after the fixed header).
    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        if r.binary()? != PROTOCOL_NAME.as_bytes() {
            return Err(DecodeError::InvalidProtocolName);
        }
        if r.u8()? != PROTOCOL_LEVEL {
            return Err(DecodeError::UnsupportedProtocolLevel);
        }
        let flags = r.u8()?;
        if flags & FLAG_RESERVED != 0 {
            return Err(DecodeError::InvalidConnectFlags);
        }
        // [MQTT-3.1.2-14]
        let will_qos = QoS::try_from((flags >> WILL_QOS_SHIFT) & 0b11)?;
        let will_retain = flags & FLAG_WILL_RETAIN != 0;
        let has_will = flags & FLAG_WILL != 0;
        // [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
        if !has_will && (will_qos != QoS::AtMostOnce || will_retain) {
            return Err(DecodeError::InvalidConnectFlags);
        }
        let has_username = flags & FLAG_USERNAME != 0;
        let has_password = flags & FLAG_PASSWORD != 0;
        // [MQTT-3.1.2-22]
        if has_password && !has_username {
            return Err(DecodeError::InvalidConnectFlags);
        }
        let clean_session = flags & FLAG_CLEAN_SESSION != 0;
        let keep_alive = r.u16()?;

        let client_id = r.str()?;
        if client_id.is_empty() && !clean_session {
            return Err(DecodeError::EmptyClientId);
        }
        let will = if has_will {
            let topic = r.str()?;
            wire::check_topic_name(topic)?;
            let payload = r.binary()?;
            Some(Will {
                topic,
                payload,
                qos: will_qos,
                retain: will_retain,
            })
        } else {
            None
        };
        let username = if has_username { Some(r.str()?) } else { None };
        let password = if has_password {
            Some(r.binary()?)
        } else {
            None
        };
        r.finish()?;
        Ok(Connect {
            client_id,
            keep_alive,
            clean_session,
            username,
            password,
            will,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{decode_frame, Packet};

    /// The §3.1.2.10 variable header (flags 0xCE, keep alive 10) with a
    /// payload of client id "cid", will "w/t"/"bye", user "u", password "p".
    const FULL: &[u8] = &[
        0x10, 31, // fixed header
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xCE, 0x00, 0x0A, // variable header
        0x00, 0x03, b'c', b'i', b'd', // client id
        0x00, 0x03, b'w', b'/', b't', // will topic
        0x00, 0x03, b'b', b'y', b'e', // will message
        0x00, 0x01, b'u', // user name
        0x00, 0x01, b'p', // password
    ];

    fn full() -> Connect<'static> {
        Connect {
            client_id: "cid",
            keep_alive: 10,
            clean_session: true,
            username: Some("u"),
            password: Some(b"p"),
            will: Some(Will {
                topic: "w/t",
                payload: b"bye",
                qos: QoS::AtLeastOnce,
                retain: false,
            }),
        }
    }

    fn body_of(frame: &[u8]) -> &[u8] {
        &frame[2..]
    }

    #[test]
    fn encode_all_fields() {
        let c = full();
        assert_eq!(c.encoded_len(), Ok(FULL.len()));
        let mut out = [0u8; 64];
        assert_eq!(c.encode(&mut out), Ok(FULL.len()));
        assert_eq!(&out[..FULL.len()], FULL);
        assert_eq!(
            decode_frame(FULL),
            Ok(Some((Packet::Connect(c), FULL.len())))
        );
    }

    #[test]
    fn minimal_connect() {
        let c = Connect {
            client_id: "",
            keep_alive: 0,
            clean_session: true,
            username: None,
            password: None,
            will: None,
        };
        let mut out = [0u8; 16];
        let n = c.encode(&mut out).unwrap();
        assert_eq!(
            &out[..n],
            &[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 0]
        );
        assert_eq!(Connect::decode(&out[2..n]), Ok(c));
    }

    #[test]
    fn buffer_too_small() {
        let mut out = [0u8; 32];
        assert_eq!(
            full().encode(&mut out),
            Err(EncodeError::BufferTooSmall { needed: 33 })
        );
    }

    #[test]
    fn encode_rejects() {
        let mut c = full();
        c.username = None;
        assert_eq!(c.encoded_len(), Err(EncodeError::PasswordWithoutUsername));
        let mut c = full();
        c.client_id = "";
        c.clean_session = false;
        assert_eq!(c.encode(&mut [0u8; 64]), Err(EncodeError::EmptyClientId));
        let mut c = full();
        c.will = Some(Will {
            topic: "a/#",
            payload: b"",
            qos: QoS::AtMostOnce,
            retain: false,
        });
        assert_eq!(c.encoded_len(), Err(EncodeError::WildcardInTopic));
        let mut c = full();
        c.username = Some("\0");
        assert_eq!(c.encoded_len(), Err(EncodeError::NullCharacter));
        let long = [0u8; 65_536];
        let mut c = full();
        c.password = Some(&long);
        assert_eq!(c.encoded_len(), Err(EncodeError::StringTooLong));
        c.password = Some(&long[1..]);
        assert!(c.encoded_len().is_ok());
    }

    fn with_body_byte(index: usize, value: u8) -> [u8; 33] {
        let mut f = [0u8; 33];
        f.copy_from_slice(FULL);
        f[index] = value;
        f
    }

    #[test]
    fn bad_protocol_name_and_level() {
        let f = with_body_byte(5, b'X');
        assert_eq!(
            Connect::decode(body_of(&f)),
            Err(DecodeError::InvalidProtocolName)
        );
        let f = with_body_byte(8, 3);
        assert_eq!(
            Connect::decode(body_of(&f)),
            Err(DecodeError::UnsupportedProtocolLevel)
        );
        // MQTT 3.1's "MQIsdp" name.
        let old = [
            0u8, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 2, 0, 10, 0, 1, b'x',
        ];
        assert_eq!(Connect::decode(&old), Err(DecodeError::InvalidProtocolName));
    }

    #[test]
    fn bad_flags() {
        // Reserved bit [MQTT-3.1.2-3].
        let f = with_body_byte(9, 0xCF);
        assert_eq!(
            Connect::decode(body_of(&f)),
            Err(DecodeError::InvalidConnectFlags)
        );
        // Will QoS 3 [MQTT-3.1.2-14].
        let f = with_body_byte(9, 0xDE);
        assert_eq!(Connect::decode(body_of(&f)), Err(DecodeError::InvalidQos));
        // Will retain without will [MQTT-3.1.2-15].
        let c = [0u8, 4, b'M', b'Q', b'T', b'T', 4, 0x22, 0, 0, 0, 1, b'x'];
        assert_eq!(Connect::decode(&c), Err(DecodeError::InvalidConnectFlags));
        // Will QoS without will [MQTT-3.1.2-13].
        let c = [0u8, 4, b'M', b'Q', b'T', b'T', 4, 0x0A, 0, 0, 0, 1, b'x'];
        assert_eq!(Connect::decode(&c), Err(DecodeError::InvalidConnectFlags));
        // Password without user name [MQTT-3.1.2-22].
        let c = [
            0u8, 4, b'M', b'Q', b'T', b'T', 4, 0x42, 0, 0, 0, 1, b'x', 0, 1, b'p',
        ];
        assert_eq!(Connect::decode(&c), Err(DecodeError::InvalidConnectFlags));
    }

    #[test]
    fn empty_client_id_needs_clean_session() {
        let c = [0u8, 4, b'M', b'Q', b'T', b'T', 4, 0x00, 0, 0, 0, 0];
        assert_eq!(Connect::decode(&c), Err(DecodeError::EmptyClientId));
        let c = [0u8, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 0];
        assert!(Connect::decode(&c).is_ok());
    }

    #[test]
    fn bad_will_topic() {
        let c = [
            0u8, 4, b'M', b'Q', b'T', b'T', 4, 0x06, 0, 0, 0, 1, b'x', 0, 1, b'+', 0, 0,
        ];
        assert_eq!(Connect::decode(&c), Err(DecodeError::WildcardInTopic));
        let c = [
            0u8, 4, b'M', b'Q', b'T', b'T', 4, 0x06, 0, 0, 0, 1, b'x', 0, 0, 0, 0,
        ];
        assert_eq!(Connect::decode(&c), Err(DecodeError::EmptyTopic));
    }

    #[test]
    fn truncated_and_trailing() {
        let body = body_of(FULL);
        for cut in 0..body.len() {
            assert_eq!(
                Connect::decode(&body[..cut]),
                Err(DecodeError::Truncated),
                "cut {cut}"
            );
        }
        let mut longer = [0u8; 32];
        longer[..31].copy_from_slice(body);
        assert_eq!(Connect::decode(&longer), Err(DecodeError::LengthMismatch));
    }
}
