//! The client's side of the codec, small: the four packets the agent sends
//! (CONNECT with a clean session, SUBSCRIBE and UNSUBSCRIBE of one filter,
//! PUBLISH) and the packets a server sends a client, decoded into what the
//! agent needs (a received PUBLISH as byte ranges of its buffer).
//!
//! The shipped agent uses only this module; the generic [`Packet`](super::Packet)
//! codec (all 14 types, both directions) stays for tests, fuzzing and
//! benchmarks. Both check the same rules: the tests below compare them on every
//! input they generate (same bytes, same errors).
//!
//! Strings are taken as bytes and checked here (well-formed UTF-8
//! [MQTT-1.5.3-1], no U+0000 [MQTT-1.5.3-2], at most 65,535 bytes), so that no
//! caller needs a `&str` (and the shipped image no `core::str::from_utf8`).

use super::wire::is_utf8;
use super::{
    ConnAck, ConnectReturnCode, DecodeError, EncodeError, FixedHeader, PacketType, QoS,
    SubAckCode, MAX_REMAINING_LEN,
};

/// One piece of an outgoing packet, in wire order.
#[derive(Clone, Copy)]
enum Piece<'a> {
    Skip,
    Byte(u8),
    U16(u16),
    /// Bytes as they are (the payload of a PUBLISH, the protocol name and level).
    Raw(&'a [u8]),
    /// A length-prefixed string (checked when the packet is made).
    Str(&'a [u8]),
}

impl Piece<'_> {
    fn len(&self) -> usize {
        match *self {
            Piece::Skip => 0,
            Piece::Byte(_) => 1,
            Piece::U16(_) => 2,
            Piece::Raw(b) => b.len(),
            Piece::Str(b) => 2 + b.len(),
        }
    }
}

/// The protocol name "MQTT" as a length-prefixed string, then level 4 (§3.1.2.1-2).
const PROTOCOL: &[u8] = b"\x00\x04MQTT\x04";
/// CONNECT flags: user name, clean session (§3.1.2.3).
const FLAG_USERNAME: u8 = 0x80;
const FLAG_CLEAN_SESSION: u8 = 0x02;

/// A packet the client sends, checked and sized, ready to be written.
pub struct Outgoing<'a> {
    first: u8,
    pieces: [Piece<'a>; 5],
    /// The whole frame's length.
    len: usize,
}

/// A string field: well-formed UTF-8, no U+0000, at most 65,535 bytes.
fn str_piece(s: &[u8]) -> Result<Piece<'_>, EncodeError> {
    if !is_utf8(s) {
        return Err(EncodeError::InvalidUtf8);
    }
    if s.contains(&0) {
        return Err(EncodeError::NullCharacter);
    }
    if s.len() > u16::MAX as usize {
        return Err(EncodeError::StringTooLong);
    }
    Ok(Piece::Str(s))
}

/// A topic name: non-empty [MQTT-4.7.3-1], no wildcard [MQTT-3.3.2-2].
fn topic_name_piece(s: &[u8]) -> Result<Piece<'_>, EncodeError> {
    if s.is_empty() {
        return Err(EncodeError::EmptyTopic);
    }
    if s.iter().any(|&b| b == b'+' || b == b'#') {
        return Err(EncodeError::WildcardInTopic);
    }
    str_piece(s)
}

/// A topic filter: non-empty [MQTT-4.7.3-1] (wildcard placement is the topic module's).
fn topic_filter_piece(s: &[u8]) -> Result<Piece<'_>, EncodeError> {
    if s.is_empty() {
        return Err(EncodeError::EmptyTopic);
    }
    str_piece(s)
}

fn packet_id(id: u16) -> Result<Piece<'static>, EncodeError> {
    if id == 0 {
        return Err(EncodeError::ZeroPacketId);
    }
    Ok(Piece::U16(id))
}

impl<'a> Outgoing<'a> {
    #[inline(never)]
    fn new(first: u8, pieces: [Piece<'a>; 5]) -> Result<Self, EncodeError> {
        let mut remaining = 0usize;
        for p in &pieces {
            remaining = remaining.checked_add(p.len()).ok_or(EncodeError::PacketTooLarge)?;
        }
        if remaining > MAX_REMAINING_LEN as usize {
            return Err(EncodeError::PacketTooLarge);
        }
        // Fixed header: the first byte and a 1..=4-byte remaining length.
        let mut header = 2;
        let mut rest = remaining >> 7;
        while rest > 0 {
            header += 1;
            rest >>= 7;
        }
        Ok(Outgoing { first, pieces, len: header + remaining })
    }

    /// CONNECT with a clean session, no will and no password (what the agent sends).
    pub fn connect(client_id: &'a [u8], username: Option<&'a [u8]>, keep_alive: u16) -> Result<Self, EncodeError> {
        let flags = FLAG_CLEAN_SESSION | if username.is_some() { FLAG_USERNAME } else { 0 };
        let id = str_piece(client_id)?;
        let user = match username {
            Some(u) => str_piece(u)?,
            None => Piece::Skip,
        };
        Self::new(
            (PacketType::Connect as u8) << 4,
            [Piece::Raw(PROTOCOL), Piece::Byte(flags), Piece::U16(keep_alive), id, user],
        )
    }

    /// SUBSCRIBE of one filter.
    pub fn subscribe(packet_id_: u16, filter: &'a [u8], qos: QoS) -> Result<Self, EncodeError> {
        let id = packet_id(packet_id_)?;
        Self::new(
            ((PacketType::Subscribe as u8) << 4) | 0b0010,
            [id, topic_filter_piece(filter)?, Piece::Byte(qos as u8), Piece::Skip, Piece::Skip],
        )
    }

    /// UNSUBSCRIBE of one filter.
    pub fn unsubscribe(packet_id_: u16, filter: &'a [u8]) -> Result<Self, EncodeError> {
        let id = packet_id(packet_id_)?;
        Self::new(
            ((PacketType::Unsubscribe as u8) << 4) | 0b0010,
            [id, topic_filter_piece(filter)?, Piece::Skip, Piece::Skip, Piece::Skip],
        )
    }

    /// PUBLISH, first attempt (DUP 0); `packet_id` is used at QoS 1 and 2 only.
    pub fn publish(topic: &'a [u8], payload: &'a [u8], qos: QoS, retain: bool, packet_id_: u16) -> Result<Self, EncodeError> {
        let id = match qos {
            QoS::AtMostOnce => Piece::Skip,
            _ => packet_id(packet_id_)?,
        };
        Self::new(
            ((PacketType::Publish as u8) << 4) | ((qos as u8) << 1) | u8::from(retain),
            [topic_name_piece(topic)?, id, Piece::Raw(payload), Piece::Skip, Piece::Skip],
        )
    }

    /// Length of the whole frame.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Writes the frame at the start of `out`; returns its length. Nothing is
    /// written when `out` is too small.
    #[inline(never)]
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let needed = self.len;
        let Some(out) = out.get_mut(..needed) else {
            return Err(EncodeError::BufferTooSmall { needed });
        };
        let mut w = Cursor(out);
        w.put(&[self.first]);
        let mut rem = self.pieces.iter().map(Piece::len).sum::<usize>();
        loop {
            let byte = (rem & 0x7f) as u8;
            rem >>= 7;
            if rem == 0 {
                w.put(&[byte]);
                break;
            }
            w.put(&[byte | 0x80]);
        }
        for p in &self.pieces {
            match *p {
                Piece::Skip => {}
                Piece::Byte(b) => w.put(&[b]),
                Piece::U16(v) => w.put(&v.to_be_bytes()),
                Piece::Raw(b) => w.put(b),
                Piece::Str(b) => {
                    w.put(&(b.len() as u16).to_be_bytes());
                    w.put(b);
                }
            }
        }
        Ok(needed)
    }
}

/// Writes front to back into a slice sized for the frame (a short one stops writing).
struct Cursor<'b>(&'b mut [u8]);

impl Cursor<'_> {
    fn put(&mut self, src: &[u8]) {
        let buf = core::mem::take(&mut self.0);
        if let Some((head, tail)) = buf.split_at_mut_checked(src.len()) {
            head.copy_from_slice(src);
            self.0 = tail;
        }
    }
}

/// A PUBLISH from the server: where its parts are in the body it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InPublish {
    pub qos: QoS,
    pub packet_id: Option<u16>,
    pub dup: bool,
    pub retain: bool,
    /// Byte ranges (start, length) of the topic name and the payload in the body.
    pub topic: (usize, usize),
    pub payload: (usize, usize),
}

/// A packet a server may send a client, as the agent uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromServer {
    ConnAck(ConnAck),
    Publish(InPublish),
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    /// The packet id and the first return code (all were checked).
    SubAck(u16, SubAckCode),
    UnsubAck(u16),
    PingResp,
}

/// A packet identifier that ends the body.
fn only_id(body: &[u8]) -> Result<u16, DecodeError> {
    let id = id_at(body, 0)?;
    if body.len() > 2 {
        return Err(DecodeError::LengthMismatch);
    }
    Ok(id)
}

/// The non-zero packet identifier at `at`.
fn id_at(body: &[u8], at: usize) -> Result<u16, DecodeError> {
    match body.get(at..).and_then(|b| b.get(..2)) {
        None => Err(DecodeError::Truncated),
        Some([0, 0]) => Err(DecodeError::ZeroPacketId),
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
    }
}

/// The body of a packet a server sent a client, whose fixed header is
/// `header`: exactly what [`Packet::decode_from_server`](super::Packet::decode_from_server)
/// accepts, with the same errors.
pub fn decode_from_server(header: &FixedHeader, body: &[u8]) -> Result<FromServer, DecodeError> {
    header.validate()?;
    if !header.packet_type.server_may_send() {
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
        PacketType::ConnAck => {
            let [flags, code] = *body else {
                return Err(if body.len() < 2 { DecodeError::Truncated } else { DecodeError::LengthMismatch });
            };
            if flags & 0xfe != 0 {
                return Err(DecodeError::InvalidConnackFlags);
            }
            let session_present = flags & 1 != 0;
            let code = ConnectReturnCode::try_from(code)?;
            if session_present && code != ConnectReturnCode::Accepted {
                return Err(DecodeError::SessionPresentWithError);
            }
            FromServer::ConnAck(ConnAck { session_present, code })
        }
        PacketType::Publish => FromServer::Publish(publish(header.flags, body)?),
        PacketType::PubAck => FromServer::PubAck(only_id(body)?),
        PacketType::PubRec => FromServer::PubRec(only_id(body)?),
        PacketType::PubRel => FromServer::PubRel(only_id(body)?),
        PacketType::PubComp => FromServer::PubComp(only_id(body)?),
        PacketType::UnsubAck => FromServer::UnsubAck(only_id(body)?),
        PacketType::SubAck => {
            let id = id_at(body, 0)?;
            let codes = body.get(2..).unwrap_or(&[]);
            let Some(&first) = codes.first() else { return Err(DecodeError::EmptySuback) };
            for &b in codes {
                SubAckCode::try_from(b)?;
            }
            FromServer::SubAck(id, SubAckCode::try_from(first)?)
        }
        _ => {
            // PINGRESP: server_may_send left nothing else.
            if !body.is_empty() {
                return Err(DecodeError::LengthMismatch);
            }
            FromServer::PingResp
        }
    })
}

/// A PUBLISH body given its (checked) fixed-header flags.
fn publish(flags: u8, body: &[u8]) -> Result<InPublish, DecodeError> {
    let qos = QoS::try_from((flags >> 1) & 0b11)?;
    let dup = flags & 0b1000 != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::DupWithQos0);
    }
    let topic_len = match body.get(..2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]) as usize,
        None => return Err(DecodeError::Truncated),
    };
    let Some(topic) = body.get(2..2 + topic_len) else { return Err(DecodeError::Truncated) };
    if !is_utf8(topic) {
        return Err(DecodeError::InvalidUtf8);
    }
    if topic.contains(&0) {
        return Err(DecodeError::NullCharacter);
    }
    if topic.is_empty() {
        return Err(DecodeError::EmptyTopic);
    }
    if topic.iter().any(|&b| b == b'+' || b == b'#') {
        return Err(DecodeError::WildcardInTopic);
    }
    let mut at = 2 + topic_len;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        let id = id_at(body, at)?;
        at += 2;
        Some(id)
    };
    Ok(InPublish {
        qos,
        packet_id,
        dup,
        retain: flags & 1 != 0,
        topic: (2, topic_len),
        payload: (at, body.len() - at),
    })
}

#[cfg(test)]
mod tests;
