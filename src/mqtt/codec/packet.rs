//! [`Packet`]: any of the 14 control packets, borrowing from a buffer.

use super::{
    ConnAck, Connect, Disconnect, EncodeError, PacketType, PingReq, PingResp, PubAck, PubComp,
    PubRec, PubRel, Publish, SubAck, Subscribe, UnsubAck, Unsubscribe,
};

/// One MQTT 3.1.1 control packet. Decoding goes through
/// [`Packet::decode`] / [`Packet::decode_from_server`] (in `decode.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// CONNECT (§3.1), client to server.
    Connect(Connect<'a>),
    /// CONNACK (§3.2), server to client.
    ConnAck(ConnAck),
    /// PUBLISH (§3.3), both directions.
    Publish(Publish<'a>),
    /// PUBACK (§3.4), both directions.
    PubAck(PubAck),
    /// PUBREC (§3.5), both directions.
    PubRec(PubRec),
    /// PUBREL (§3.6), both directions.
    PubRel(PubRel),
    /// PUBCOMP (§3.7), both directions.
    PubComp(PubComp),
    /// SUBSCRIBE (§3.8), client to server.
    Subscribe(Subscribe<'a>),
    /// SUBACK (§3.9), server to client.
    SubAck(SubAck<'a>),
    /// UNSUBSCRIBE (§3.10), client to server.
    Unsubscribe(Unsubscribe<'a>),
    /// UNSUBACK (§3.11), server to client.
    UnsubAck(UnsubAck),
    /// PINGREQ (§3.12), client to server.
    PingReq(PingReq),
    /// PINGRESP (§3.13), server to client.
    PingResp(PingResp),
    /// DISCONNECT (§3.14), client to server.
    Disconnect(Disconnect),
}

impl Packet<'_> {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq(_) => PacketType::PingReq,
            Packet::PingResp(_) => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
        }
    }

    /// Length of the whole encoded frame, or why it cannot be encoded.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        match self {
            Packet::Connect(p) => p.encoded_len(),
            Packet::ConnAck(p) => p.encoded_len(),
            Packet::Publish(p) => p.encoded_len(),
            Packet::PubAck(p) => p.encoded_len(),
            Packet::PubRec(p) => p.encoded_len(),
            Packet::PubRel(p) => p.encoded_len(),
            Packet::PubComp(p) => p.encoded_len(),
            Packet::Subscribe(p) => p.encoded_len(),
            Packet::SubAck(p) => p.encoded_len(),
            Packet::Unsubscribe(p) => p.encoded_len(),
            Packet::UnsubAck(p) => p.encoded_len(),
            Packet::PingReq(p) => p.encoded_len(),
            Packet::PingResp(p) => p.encoded_len(),
            Packet::Disconnect(p) => p.encoded_len(),
        }
    }

    /// Encodes the frame at the start of `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            Packet::Connect(p) => p.encode(out),
            Packet::ConnAck(p) => p.encode(out),
            Packet::Publish(p) => p.encode(out),
            Packet::PubAck(p) => p.encode(out),
            Packet::PubRec(p) => p.encode(out),
            Packet::PubRel(p) => p.encode(out),
            Packet::PubComp(p) => p.encode(out),
            Packet::Subscribe(p) => p.encode(out),
            Packet::SubAck(p) => p.encode(out),
            Packet::Unsubscribe(p) => p.encode(out),
            Packet::UnsubAck(p) => p.encode(out),
            Packet::PingReq(p) => p.encode(out),
            Packet::PingResp(p) => p.encode(out),
            Packet::Disconnect(p) => p.encode(out),
        }
    }
}

macro_rules! from_impls {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl<'a> From<$ty> for Packet<'a> {
            fn from(p: $ty) -> Self {
                Packet::$variant(p)
            }
        })*
    };
}

from_impls!(
    Connect(Connect<'a>),
    ConnAck(ConnAck),
    Publish(Publish<'a>),
    PubAck(PubAck),
    PubRec(PubRec),
    PubRel(PubRel),
    PubComp(PubComp),
    Subscribe(Subscribe<'a>),
    SubAck(SubAck<'a>),
    Unsubscribe(Unsubscribe<'a>),
    UnsubAck(UnsubAck),
    PingReq(PingReq),
    PingResp(PingResp),
    Disconnect(Disconnect),
);
