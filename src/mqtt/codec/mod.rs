//! MQTT 3.1.1 control packets: zero-copy, allocation-free encoding and decoding.
//!
//! Modelled on smoltcp's wire module: plain value types ("reprs") that borrow
//! their strings and payloads from the caller's buffer, with `decode` checking
//! every rule of the standard before a value is handed out, and `encode`
//! refusing to write anything a client must not send. Nothing here does I/O,
//! allocates, panics on any input, or uses `unsafe`.
//!
//! # Wire format (MQTT 3.1.1, OASIS standard, 29 October 2014)
//!
//! Every control packet is a *frame* (§2):
//!
//! ```text
//! +--------------------+-----------------------------+------------------+---------+
//! | byte 1             | bytes 2..=5                 | variable header  | payload |
//! | type<<4 | flags    | remaining length (varint)   | (type dependent) |         |
//! +--------------------+-----------------------------+------------------+---------+
//!  \___________ fixed header (2..=5 bytes) _________/ \___ remaining length bytes _/
//! ```
//!
//! - **Fixed header** (§2.2): the packet type in the high nibble of byte 1
//!   (1..=14; 0 and 15 are reserved) and type-specific flags in the low nibble.
//!   Only PUBLISH uses its flags (DUP, QoS, RETAIN, §3.3.1); PUBREL, SUBSCRIBE
//!   and UNSUBSCRIBE must carry `0b0010`, all others `0b0000`
//!   [MQTT-2.2.2-1], [MQTT-2.2.2-2]. See [`header`].
//! - **Remaining length** (§2.2.3): the number of bytes after the fixed header,
//!   as a little-endian base-128 varint of 1..=4 bytes (max 268 435 455).
//!   See [`varint`].
//! - **Variable header**: e.g. a 2-byte big-endian packet identifier (§2.3.1),
//!   which is non-zero whenever present [MQTT-2.3.1-1].
//! - **Payload**: e.g. the application message of a PUBLISH (the rest of the
//!   frame), or a list of topic filters in SUBSCRIBE.
//!
//! Strings (§1.5.3) are a 2-byte big-endian length followed by that many bytes
//! of well-formed UTF-8 that must not contain U+0000 [MQTT-1.5.3-1],
//! [MQTT-1.5.3-2]; binary fields (password, will message) are a 2-byte length
//! and raw bytes.
//!
//! # API shape
//!
//! | file            | contents |
//! |-----------------|----------|
//! | `mod.rs`        | [`PacketType`], [`QoS`], re-exports |
//! | `error.rs`      | [`DecodeError`], [`EncodeError`] |
//! | `varint.rs`     | [`varint::encode`], [`varint::encoded_len`], [`varint::decode`], [`MAX_REMAINING_LEN`] |
//! | `header.rs`     | [`FixedHeader`] (`parse`, `header_len`, `frame_len`, `encode`, `check_capacity`), byte-fed [`HeaderDecoder`] |
//! | `wire.rs`       | private cursor types and string/topic checks |
//! | `connect.rs`    | [`Connect`], [`Will`] |
//! | `connack.rs`    | [`ConnAck`], [`ConnectReturnCode`] |
//! | `publish.rs`    | [`Publish`] |
//! | `ack.rs`        | [`PubAck`], [`PubRec`], [`PubRel`], [`PubComp`], [`UnsubAck`] (packet id only) |
//! | `subscribe.rs`  | [`Subscribe`], [`SubscribeFilters`], [`SubAck`], [`SubAckCode`] |
//! | `unsubscribe.rs`| [`Unsubscribe`], [`UnsubscribeFilters`] |
//! | `ping.rs`       | [`PingReq`], [`PingResp`], [`Disconnect`] |
//! | `packet.rs`     | [`Packet`] over all 14 types (`packet_type`, `encoded_len`, `encode`) |
//! | `decode.rs`     | [`Packet::decode`], [`Packet::decode_from_server`], [`decode_frame`], [`decode_frame_from_server`], [`frame_len`] |
//!
//! Every packet type has `encoded_len(&self) -> Result<usize, EncodeError>`
//! (the whole frame, fixed header included; it fails exactly when `encode`
//! would fail for a reason other than a short buffer) and
//! `encode(&self, out: &mut [u8]) -> Result<usize, EncodeError>`, which writes
//! exactly `encoded_len` bytes at the start of `out` or returns
//! [`EncodeError::BufferTooSmall`] without writing past `out`.
//!
//! Decoding is symmetric: whatever [`Packet::decode`] accepts re-encodes, and
//! re-decodes to an equal value; the re-encoded bytes equal the input except
//! that a non-minimal remaining-length varint (legal in 3.1.1) comes back
//! minimal.
//!
//! # Receiving
//!
//! An agent reads a packet off a socket in two steps: feed the 2..=5 header
//! bytes one at a time to a [`HeaderDecoder`] (optionally bounded with
//! [`HeaderDecoder::with_max_remaining_len`], which yields
//! [`DecodeError::PacketTooLarge`]), then read exactly
//! [`FixedHeader::remaining_len`] bytes into a buffer of its choice and call
//! [`Packet::decode_from_server`]. With a contiguous buffer, [`decode_frame`]
//! does both and returns `Ok(None)` while the frame is incomplete.
#![forbid(unsafe_code)]

mod ack;
pub mod client;
mod connack;
mod connect;
mod decode;
mod error;
pub mod header;
mod packet;
mod ping;
mod publish;
mod subscribe;
mod unsubscribe;
pub mod varint;
mod wire;

#[cfg(test)]
mod props;

pub use ack::{PubAck, PubComp, PubRec, PubRel, UnsubAck};
pub use connack::{ConnAck, ConnectReturnCode};
pub use connect::{Connect, Will};
pub use decode::{decode_frame, decode_frame_from_server, frame_len};
pub use error::{DecodeError, EncodeError};
pub use header::{FixedHeader, HeaderDecoder};
pub use packet::Packet;
pub use ping::{Disconnect, PingReq, PingResp};
pub use publish::Publish;
pub use subscribe::{
    SubAck, SubAckCode, SubAckCodes, Subscribe, SubscribeFilters, SubscribeFiltersIter,
};
pub use unsubscribe::{Unsubscribe, UnsubscribeFilters, UnsubscribeFiltersIter};
pub use varint::MAX_REMAINING_LEN;
pub use wire::{is_utf8, scan_text, utf8_with_nul, HAS_NUL, HAS_WILDCARD, MISPLACED_WILDCARD, NOT_UTF8};

/// The protocol name carried by CONNECT (§3.1.2.1).
pub const PROTOCOL_NAME: &str = "MQTT";
/// The protocol level of MQTT 3.1.1 (§3.1.2.2).
pub const PROTOCOL_LEVEL: u8 = 4;

/// Control packet type: the high nibble of the first fixed-header byte (§2.2.1).
///
/// 0 and 15 are reserved and never valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// Client request to connect to the server.
    Connect = 1,
    /// Connect acknowledgment.
    ConnAck = 2,
    /// Publish message.
    Publish = 3,
    /// Publish acknowledgment (QoS 1).
    PubAck = 4,
    /// Publish received (QoS 2, part 1).
    PubRec = 5,
    /// Publish release (QoS 2, part 2).
    PubRel = 6,
    /// Publish complete (QoS 2, part 3).
    PubComp = 7,
    /// Client subscribe request.
    Subscribe = 8,
    /// Subscribe acknowledgment.
    SubAck = 9,
    /// Unsubscribe request.
    Unsubscribe = 10,
    /// Unsubscribe acknowledgment.
    UnsubAck = 11,
    /// PING request.
    PingReq = 12,
    /// PING response.
    PingResp = 13,
    /// Client is disconnecting.
    Disconnect = 14,
}

impl PacketType {
    /// The fixed-header flags this type must carry, or `None` for PUBLISH,
    /// whose flags carry DUP/QoS/RETAIN [MQTT-2.2.2-1].
    pub const fn required_flags(self) -> Option<u8> {
        if matches!(self, PacketType::Publish) {
            return None;
        }
        // 0b0010 for PUBREL (6), SUBSCRIBE (8) and UNSUBSCRIBE (10): one bit
        // test, no table of the fourteen types.
        Some(((0x0540u16 >> self as u8) as u8 & 1) << 1)
    }

    /// Whether a server may send this packet type to a client. CONNECT,
    /// SUBSCRIBE, UNSUBSCRIBE, PINGREQ and DISCONNECT only flow client to
    /// server (§3.1, §3.8, §3.10, §3.12, §3.14).
    pub const fn server_may_send(self) -> bool {
        !matches!(
            self,
            PacketType::Connect
                | PacketType::Subscribe
                | PacketType::Unsubscribe
                | PacketType::PingReq
                | PacketType::Disconnect
        )
    }
}

impl TryFrom<u8> for PacketType {
    type Error = DecodeError;

    /// Converts the 4-bit type value (not the whole first byte).
    fn try_from(value: u8) -> Result<Self, DecodeError> {
        Ok(match value {
            1 => PacketType::Connect,
            2 => PacketType::ConnAck,
            3 => PacketType::Publish,
            4 => PacketType::PubAck,
            5 => PacketType::PubRec,
            6 => PacketType::PubRel,
            7 => PacketType::PubComp,
            8 => PacketType::Subscribe,
            9 => PacketType::SubAck,
            10 => PacketType::Unsubscribe,
            11 => PacketType::UnsubAck,
            12 => PacketType::PingReq,
            13 => PacketType::PingResp,
            14 => PacketType::Disconnect,
            _ => return Err(DecodeError::ReservedPacketType),
        })
    }
}

/// Quality of service level (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: fire and forget.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: acknowledged delivery (PUBACK).
    AtLeastOnce = 1,
    /// QoS 2: assured delivery (PUBREC/PUBREL/PUBCOMP).
    ExactlyOnce = 2,
}

impl TryFrom<u8> for QoS {
    type Error = DecodeError;

    /// 0, 1 and 2 are valid; anything else is [`DecodeError::InvalidQos`]
    /// [MQTT-3.3.1-4].
    fn try_from(value: u8) -> Result<Self, DecodeError> {
        match value {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            _ => Err(DecodeError::InvalidQos),
        }
    }
}

impl From<QoS> for u8 {
    fn from(q: QoS) -> u8 {
        q as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_type_round_trip() {
        for v in 1u8..=14 {
            let t = PacketType::try_from(v).unwrap();
            assert_eq!(t as u8, v);
        }
        assert_eq!(
            PacketType::try_from(0),
            Err(DecodeError::ReservedPacketType)
        );
        assert_eq!(
            PacketType::try_from(15),
            Err(DecodeError::ReservedPacketType)
        );
        assert_eq!(
            PacketType::try_from(200),
            Err(DecodeError::ReservedPacketType)
        );
    }

    #[test]
    fn qos_try_from() {
        assert_eq!(QoS::try_from(0), Ok(QoS::AtMostOnce));
        assert_eq!(QoS::try_from(1), Ok(QoS::AtLeastOnce));
        assert_eq!(QoS::try_from(2), Ok(QoS::ExactlyOnce));
        assert_eq!(QoS::try_from(3), Err(DecodeError::InvalidQos));
        assert_eq!(u8::from(QoS::ExactlyOnce), 2);
    }

    #[test]
    fn server_direction() {
        let never = [1u8, 8, 10, 12, 14];
        for v in 1u8..=14 {
            let t = PacketType::try_from(v).unwrap();
            assert_eq!(t.server_may_send(), !never.contains(&v), "{t:?}");
        }
    }
}
