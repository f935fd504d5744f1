//! Errors of decoding (malformed input) and encoding (values a client must not
//! send, or a buffer too small). Section and rule numbers refer to MQTT 3.1.1.

use core::fmt;

/// Why bytes are not a valid MQTT 3.1.1 control packet. Any of these means the
/// peer violated the protocol; the connection must be closed (§4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// Packet type 0 or 15 in the first fixed-header byte (§2.2.1).
    ReservedPacketType,
    /// The fixed-header flag bits are wrong for the packet type: PUBREL,
    /// SUBSCRIBE and UNSUBSCRIBE need `0b0010`, all types but PUBLISH `0b0000`
    /// [MQTT-2.2.2-1], [MQTT-2.2.2-2].
    InvalidFlags,
    /// A QoS field holds 3 (PUBLISH fixed header [MQTT-3.3.1-4], CONNECT will
    /// QoS [MQTT-3.1.2-14]), or a SUBSCRIBE requested-QoS byte is not 0, 1 or 2
    /// (including non-zero reserved bits) [MQTT-3.8.3-4].
    InvalidQos,
    /// The remaining-length varint has a continuation bit set on its 4th byte,
    /// i.e. it would need more than 4 bytes (§2.2.3).
    RemainingLengthTooLong,
    /// The remaining length is larger than the buffer the caller can offer
    /// (see [`super::HeaderDecoder::with_max_remaining_len`] and
    /// [`super::FixedHeader::check_capacity`]).
    PacketTooLarge,
    /// A field (length-prefixed string, packet identifier, fixed-size body)
    /// runs past the end of the remaining length, or the body handed to
    /// decode is shorter than the header's remaining length.
    Truncated,
    /// Bytes are left over after the last field of the packet (e.g. a CONNACK
    /// whose remaining length is not 2, a PINGRESP whose is not 0), or the body
    /// handed to decode is longer than the header's remaining length.
    LengthMismatch,
    /// A packet identifier is 0 where one must be non-zero [MQTT-2.3.1-1].
    ZeroPacketId,
    /// A string field is not well-formed UTF-8 [MQTT-1.5.3-1].
    InvalidUtf8,
    /// A string field contains U+0000 [MQTT-1.5.3-2].
    NullCharacter,
    /// CONNECT protocol name is not "MQTT" [MQTT-3.1.2-1].
    InvalidProtocolName,
    /// CONNECT protocol level is not 4 [MQTT-3.1.2-2].
    UnsupportedProtocolLevel,
    /// CONNECT flags are inconsistent: reserved bit 0 set [MQTT-3.1.2-3], will
    /// QoS/retain set without the will flag [MQTT-3.1.2-11], [MQTT-3.1.2-13],
    /// [MQTT-3.1.2-15], or password flag without user name flag
    /// [MQTT-3.1.2-22].
    InvalidConnectFlags,
    /// CONNECT with a zero-byte client identifier and CleanSession 0
    /// [MQTT-3.1.3-7].
    EmptyClientId,
    /// CONNACK acknowledge flags have a reserved bit (7..=1) set (§3.2.2.1).
    InvalidConnackFlags,
    /// CONNACK return code above 5 (§3.2.2.3).
    InvalidConnackCode,
    /// CONNACK with session present set and a non-zero return code
    /// [MQTT-3.2.2-4].
    SessionPresentWithError,
    /// PUBLISH with DUP set and QoS 0 [MQTT-3.3.1-2].
    DupWithQos0,
    /// A topic name (PUBLISH, CONNECT will topic) contains `+` or `#`
    /// [MQTT-3.3.2-2], [MQTT-4.7.3-1].
    WildcardInTopic,
    /// A topic name or topic filter is empty [MQTT-4.7.3-1].
    EmptyTopic,
    /// SUBSCRIBE or UNSUBSCRIBE without any topic filter [MQTT-3.8.3-3],
    /// [MQTT-3.10.3-2].
    NoFilters,
    /// SUBACK without any return code (§3.9.3).
    EmptySuback,
    /// A SUBACK return code other than 0x00, 0x01, 0x02 or 0x80 [MQTT-3.9.3-2].
    InvalidSubackCode,
    /// A packet a server never sends to a client: CONNECT, SUBSCRIBE,
    /// UNSUBSCRIBE, PINGREQ or DISCONNECT (only from
    /// [`super::Packet::decode_from_server`] and
    /// [`super::decode_frame_from_server`]).
    UnexpectedPacket,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DecodeError::ReservedPacketType => "reserved packet type",
            DecodeError::InvalidFlags => "invalid fixed header flags",
            DecodeError::InvalidQos => "invalid QoS",
            DecodeError::RemainingLengthTooLong => "remaining length longer than 4 bytes",
            DecodeError::PacketTooLarge => "packet larger than the receive buffer",
            DecodeError::Truncated => "field runs past the end of the packet",
            DecodeError::LengthMismatch => "packet length does not match its contents",
            DecodeError::ZeroPacketId => "packet identifier is zero",
            DecodeError::InvalidUtf8 => "string is not valid UTF-8",
            DecodeError::NullCharacter => "string contains U+0000",
            DecodeError::InvalidProtocolName => "protocol name is not MQTT",
            DecodeError::UnsupportedProtocolLevel => "protocol level is not 4",
            DecodeError::InvalidConnectFlags => "invalid CONNECT flags",
            DecodeError::EmptyClientId => "empty client identifier without clean session",
            DecodeError::InvalidConnackFlags => "invalid CONNACK flags",
            DecodeError::InvalidConnackCode => "invalid CONNACK return code",
            DecodeError::SessionPresentWithError => "session present with a non-zero return code",
            DecodeError::DupWithQos0 => "DUP set on a QoS 0 PUBLISH",
            DecodeError::WildcardInTopic => "wildcard in a topic name",
            DecodeError::EmptyTopic => "empty topic",
            DecodeError::NoFilters => "no topic filters",
            DecodeError::EmptySuback => "SUBACK without return codes",
            DecodeError::InvalidSubackCode => "invalid SUBACK return code",
            DecodeError::UnexpectedPacket => "packet type a server never sends",
        };
        f.write_str(s)
    }
}

/// Why a value cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// `out` is shorter than the encoded frame; `needed` is the whole frame's
    /// length. Nothing past `out` was written (parts of `out` may have been).
    BufferTooSmall {
        /// Bytes the whole frame needs.
        needed: usize,
    },
    /// A length-prefixed string or binary field is longer than 65 535 bytes
    /// (§1.5.3).
    StringTooLong,
    /// The remaining length would exceed 268 435 455 bytes (§2.2.3).
    PacketTooLarge,
    /// A packet identifier is 0 [MQTT-2.3.1-1].
    ZeroPacketId,
    /// A QoS 1 or 2 PUBLISH has no packet identifier [MQTT-2.3.1-1].
    MissingPacketId,
    /// A QoS 0 PUBLISH has a packet identifier [MQTT-2.3.1-5].
    UnexpectedPacketId,
    /// DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2].
    DupWithQos0,
    /// SUBSCRIBE or UNSUBSCRIBE without topic filters [MQTT-3.8.3-3],
    /// [MQTT-3.10.3-2].
    NoFilters,
    /// An empty topic name or filter [MQTT-4.7.3-1].
    EmptyTopic,
    /// A topic name (PUBLISH, will topic) contains `+` or `#` [MQTT-3.3.2-2].
    WildcardInTopic,
    /// A string contains U+0000 [MQTT-1.5.3-2].
    NullCharacter,
    /// A string given as bytes is not well-formed UTF-8 [MQTT-1.5.3-1]
    /// (the client encoder, `client::Outgoing`, takes bytes).
    InvalidUtf8,
    /// SUBACK without return codes (§3.9.3).
    NoReturnCodes,
    /// SUBACK return code other than 0x00, 0x01, 0x02, 0x80 [MQTT-3.9.3-2].
    InvalidSubackCode,
    /// CONNECT with a password but no user name [MQTT-3.1.2-22].
    PasswordWithoutUsername,
    /// CONNECT with a zero-byte client identifier and clean session off
    /// [MQTT-3.1.3-7].
    EmptyClientId,
    /// CONNACK with session present and a non-zero return code [MQTT-3.2.2-4].
    SessionPresentWithError,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed } => {
                write!(f, "buffer too small, {needed} bytes needed")
            }
            EncodeError::StringTooLong => f.write_str("string longer than 65535 bytes"),
            EncodeError::PacketTooLarge => f.write_str("remaining length above 268435455"),
            EncodeError::ZeroPacketId => f.write_str("packet identifier is zero"),
            EncodeError::MissingPacketId => {
                f.write_str("QoS > 0 PUBLISH without packet identifier")
            }
            EncodeError::UnexpectedPacketId => f.write_str("QoS 0 PUBLISH with packet identifier"),
            EncodeError::DupWithQos0 => f.write_str("DUP set on a QoS 0 PUBLISH"),
            EncodeError::NoFilters => f.write_str("no topic filters"),
            EncodeError::EmptyTopic => f.write_str("empty topic"),
            EncodeError::WildcardInTopic => f.write_str("wildcard in a topic name"),
            EncodeError::NullCharacter => f.write_str("string contains U+0000"),
            EncodeError::InvalidUtf8 => f.write_str("string is not UTF-8"),
            EncodeError::NoReturnCodes => f.write_str("SUBACK without return codes"),
            EncodeError::InvalidSubackCode => f.write_str("invalid SUBACK return code"),
            EncodeError::PasswordWithoutUsername => f.write_str("password without user name"),
            EncodeError::EmptyClientId => {
                f.write_str("empty client identifier without clean session")
            }
            EncodeError::SessionPresentWithError => {
                f.write_str("session present with a non-zero return code")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        assert_eq!(
            DecodeError::NullCharacter.to_string(),
            "string contains U+0000"
        );
        assert_eq!(
            EncodeError::BufferTooSmall { needed: 7 }.to_string(),
            "buffer too small, 7 bytes needed"
        );
    }
}
