//! The client's side of the codec, small: the four packets the agent sends
//! ([`Request`]: CONNECT with a clean session, SUBSCRIBE and UNSUBSCRIBE of
//! one filter, PUBLISH) and the packets a server sends a client, decoded into what the
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

use super::wire::utf8_with_nul;
use super::{
    ConnAck, ConnectReturnCode, DecodeError, EncodeError, FixedHeader, PacketType, QoS,
    SubAckCode, MAX_REMAINING_LEN,
};

/// A packet the agent sends: CONNECT with a clean session (no will, no
/// password), SUBSCRIBE and UNSUBSCRIBE of one filter, PUBLISH (first
/// attempt, DUP 0). The packet id is given when encoding (it is ignored for
/// CONNECT and QoS 0); the frame's length does not depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    Connect { client_id: &'a [u8], username: Option<&'a [u8]>, keep_alive: u16 },
    Subscribe { filter: &'a [u8], qos: QoS },
    Unsubscribe { filter: &'a [u8] },
    Publish { topic: &'a [u8], payload: &'a [u8], qos: QoS, retain: bool },
}

/// The protocol name "MQTT" as a length-prefixed string, then level 4 (§3.1.2.1-2).
const PROTOCOL: &[u8] = b"\x00\x04MQTT\x04";
/// CONNECT flags: user name, clean session (§3.1.2.3).
const FLAG_USERNAME: u8 = 0x80;
const FLAG_CLEAN_SESSION: u8 = 0x02;

/// Writes a packet body front to back, or (into an empty slice) only counts it.
/// `check`: apply the string and topic rules (the counting pass does; the
/// writing pass after it need not check the same strings again).
struct Body<'b> {
    out: &'b mut [u8],
    len: usize,
    check: bool,
}

impl Body<'_> {
    #[inline(never)]
    fn put(&mut self, src: &[u8]) {
        if let Some(dst) = self.out.get_mut(self.len..).and_then(|d| d.get_mut(..src.len())) {
            dst.copy_from_slice(src);
        }
        self.len = self.len.saturating_add(src.len());
    }

    /// A length-prefixed string: well-formed UTF-8 [MQTT-1.5.3-1], no U+0000
    /// [MQTT-1.5.3-2], at most 65,535 bytes.
    #[inline(never)]
    fn str(&mut self, s: &[u8]) -> Result<(), EncodeError> {
        if self.check {
            match utf8_with_nul(s) {
                None => return Err(EncodeError::InvalidUtf8),
                Some(true) => return Err(EncodeError::NullCharacter),
                Some(false) => {}
            }
        }
        let Ok(len) = u16::try_from(s.len()) else { return Err(EncodeError::StringTooLong) };
        self.put(&len.to_be_bytes());
        self.put(s);
        Ok(())
    }
}

/// Bytes of a remaining length's encoding (§2.2.3); 5 for more than the largest.
fn varint_len(r: usize) -> usize {
    match r {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        2_097_152..=268_435_455 => 4,
        _ => 5,
    }
}

/// A packet identifier is never 0 [MQTT-2.3.1-1].
fn check_id(id: u16) -> Result<(), EncodeError> {
    if id == 0 {
        return Err(EncodeError::ZeroPacketId);
    }
    Ok(())
}

/// Topic names and filters are never empty [MQTT-4.7.3-1].
fn check_not_empty(topic: &[u8]) -> Result<(), EncodeError> {
    if topic.is_empty() {
        return Err(EncodeError::EmptyTopic);
    }
    Ok(())
}

impl Request<'_> {
    /// Writes (or counts) the variable header and payload; gives the first byte.
    fn body(&self, id: u16, w: &mut Body<'_>) -> Result<u8, EncodeError> {
        let id_bytes = id.to_be_bytes();
        Ok(match *self {
            Request::Connect { client_id, username, keep_alive } => {
                w.put(PROTOCOL);
                w.put(&[FLAG_CLEAN_SESSION | if username.is_some() { FLAG_USERNAME } else { 0 }]);
                w.put(&keep_alive.to_be_bytes());
                w.str(client_id)?;
                if let Some(user) = username {
                    w.str(user)?;
                }
                (PacketType::Connect as u8) << 4
            }
            Request::Subscribe { filter, qos } => {
                check_id(id)?;
                check_not_empty(filter)?;
                w.put(&id_bytes);
                w.str(filter)?;
                w.put(&[qos as u8]);
                ((PacketType::Subscribe as u8) << 4) | 0b0010
            }
            Request::Unsubscribe { filter } => {
                check_id(id)?;
                check_not_empty(filter)?;
                w.put(&id_bytes);
                w.str(filter)?;
                ((PacketType::Unsubscribe as u8) << 4) | 0b0010
            }
            Request::Publish { topic, payload, qos, retain } => {
                if qos != QoS::AtMostOnce {
                    check_id(id)?;
                }
                check_not_empty(topic)?;
                // No wildcard in a topic name [MQTT-3.3.2-2].
                if w.check && topic.iter().any(|&b| b == b'+' || b == b'#') {
                    return Err(EncodeError::WildcardInTopic);
                }
                w.str(topic)?;
                if qos != QoS::AtMostOnce {
                    w.put(&id_bytes);
                }
                w.put(payload);
                ((PacketType::Publish as u8) << 4) | ((qos as u8) << 1) | u8::from(retain)
            }
        })
    }

    /// Length of the whole frame, or why it cannot be encoded (as
    /// [`encode`](Self::encode) with a non-zero packet id).
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        self.frame(1, None, None)
    }

    /// Writes the frame with packet id `id` at the start of `out`; returns its
    /// length. Nothing is written when `out` is too small.
    pub fn encode(&self, id: u16, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.frame(id, Some(out), None)
    }

    /// As [`encode`](Self::encode) for a request whose
    /// [`encoded_len`](Self::encoded_len) was `Ok(len)`: the strings are not
    /// checked nor the body counted again (one writing pass). A `len` other
    /// than that gives an error or a frame that is not this request's.
    pub fn encode_checked(&self, id: u16, len: usize, out: &mut [u8]) -> Result<usize, EncodeError> {
        // The remaining length whose frame is `len` bytes long: a header of 2 to 5 bytes.
        let remaining = (2..=5usize).find_map(|h| len.checked_sub(h).filter(|&r| varint_len(r) + 1 == h));
        self.frame(id, Some(out), remaining)
    }

    #[inline(never)]
    fn frame(&self, id: u16, out: Option<&mut [u8]>, counted: Option<usize>) -> Result<usize, EncodeError> {
        // First pass: check and count (unless counted already).
        let remaining = match counted {
            Some(r) => r,
            None => {
                let mut count = Body { out: &mut [], len: 0, check: true };
                self.body(id, &mut count)?;
                count.len
            }
        };
        if remaining > MAX_REMAINING_LEN as usize {
            return Err(EncodeError::PacketTooLarge);
        }
        // Fixed header: the first byte (written by the second pass) and a
        // 1..=4-byte remaining length (§2.2.3).
        let mut header = [0u8; 5];
        let mut header_len = 1;
        let mut rest = remaining;
        for b in header.iter_mut().skip(1) {
            *b = (rest & 0x7f) as u8 | if rest > 0x7f { 0x80 } else { 0 };
            header_len += 1;
            rest >>= 7;
            if rest == 0 {
                break;
            }
        }
        let needed = header_len + remaining;
        let Some(out) = out else { return Ok(needed) };
        let Some(out) = out.get_mut(..needed) else {
            return Err(EncodeError::BufferTooSmall { needed });
        };
        // Second pass: write (the strings were checked by the first).
        let mut w = Body { out, len: 0, check: false };
        w.put(header.get(..header_len).unwrap_or(&[]));
        let first = self.body(id, &mut w)?;
        if w.len != needed {
            return Err(EncodeError::BufferTooSmall { needed: w.len });
        }
        if let Some(b) = w.out.first_mut() {
            *b = first;
        }
        Ok(needed)
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
#[inline(never)]
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
    match utf8_with_nul(topic) {
        None => return Err(DecodeError::InvalidUtf8),
        Some(true) => return Err(DecodeError::NullCharacter),
        Some(false) => {}
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
