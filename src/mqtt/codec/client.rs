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

use super::wire::{scan_text, utf8_with_nul, HAS_NUL, HAS_WILDCARD, NOT_UTF8};
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

/// The start of a CONNECT's variable header: the protocol name "MQTT" as a
/// length-prefixed string, level 4 (§3.1.2.1-2), then the flags (§3.1.2.3):
/// clean session, with or without a user name.
const CONNECT_START: &[u8; 8] = b"\x00\x04MQTT\x04\x02";
const CONNECT_START_USER: &[u8; 8] = b"\x00\x04MQTT\x04\x82";
/// A SUBSCRIBE's requested QoS byte, by QoS.
const QOS_BYTES: [u8; 3] = [0, 1, 2];

/// Most pieces a packet's parts have (CONNECT: its start, client id, user name).
const PIECES: usize = 3;

/// A packet the agent sends, as its parts: the fixed header's first byte and
/// up to `PIECES` pieces, each raw bytes or a string (a 2-byte length
/// before it), and one 2-byte word before one of them, given when writing:
/// the packet id, or CONNECT's keep-alive (see [`Request::word`]). Every packet the agent sends is
/// such a list: one checking, counting and writing path for all four kinds
/// (`Frame::frame`), and the agent builds the parts from its command at
/// once (no [`Request`] in between).
///
/// For every packet but CONNECT, piece 0 is the topic name or filter.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pieces: [&'a [u8]; PIECES],
    first: u8,
    /// Bit i: piece i is a string (its 2-byte length before it).
    strings: u8,
    /// Bit i: the word goes before piece i (at most one bit).
    word_at: u8,
}

impl<'a> Frame<'a> {
    /// CONNECT with a clean session (no will, no password); its word is
    /// the keep-alive.
    #[inline]
    pub fn connect(client_id: &'a [u8], username: Option<&'a [u8]>) -> Self {
        let (start, user, strings): (&[u8], &[u8], u8) = match username {
            Some(user) => (CONNECT_START_USER, user, 0b110),
            None => (CONNECT_START, &[], 0b010),
        };
        Frame { pieces: [start, client_id, user], first: (PacketType::Connect as u8) << 4, strings, word_at: 0b010 }
    }

    /// SUBSCRIBE of one filter.
    #[inline]
    pub fn subscribe(filter: &'a [u8], qos: QoS) -> Self {
        let qos: &'static [u8] = core::slice::from_ref(&QOS_BYTES[qos as usize]);
        Frame { pieces: [filter, qos, &[]], first: ((PacketType::Subscribe as u8) << 4) | 0b0010, strings: 0b001, word_at: 0b001 }
    }

    /// UNSUBSCRIBE of one filter.
    #[inline]
    pub fn unsubscribe(filter: &'a [u8]) -> Self {
        Frame { pieces: [filter, &[], &[]], first: ((PacketType::Unsubscribe as u8) << 4) | 0b0010, strings: 0b001, word_at: 0b001 }
    }

    /// PUBLISH (first attempt, DUP 0); the packet id only with QoS 1 and 2.
    #[inline]
    pub fn publish(topic: &'a [u8], payload: &'a [u8], qos: QoS, retain: bool) -> Self {
        Frame {
            pieces: [topic, payload, &[]],
            first: ((PacketType::Publish as u8) << 4) | ((qos as u8) << 1) | u8::from(retain),
            strings: 0b001,
            word_at: if qos == QoS::AtMostOnce { 0 } else { 0b010 },
        }
    }

    /// As [`Request::encoded_len_prechecked`].
    pub fn encoded_len_prechecked(&self) -> Result<usize, EncodeError> {
        result(self.frame(1, None, false))
    }

    /// As [`Request::encode_checked`], with the packet's word (its packet
    /// id, or a CONNECT's keep-alive).
    pub fn encode_checked(&self, word: u16, len: usize, out: &mut [u8]) -> Result<usize, EncodeError> {
        // An `out` shorter than `len` is refused here: `frame` without a
        // buffer only counts, and would report success having written nothing.
        let Some(out) = out.get_mut(..len) else { return Err(EncodeError::BufferTooSmall { needed: len }) };
        match self.frame(word, Some(out), false) {
            (n, Framed::Ok) if n != len => Err(EncodeError::BufferTooSmall { needed: n }),
            r => result(r),
        }
    }

    /// Checks, counts and (with `out`) writes the frame with its word
    /// `word` (the packet id, or a CONNECT's keep-alive).
    /// `check`: scan the strings (UTF-8, U+0000, wildcards in a topic name).
    /// The length and the outcome as a pair (see [`Framed`]).
    #[inline(never)]
    fn frame(&self, word: u16, mut out: Option<&mut [u8]>, check: bool) -> (usize, Framed) {
        let first = self.first;
        let kind = first >> 4;
        let connect = kind == PacketType::Connect as u8;
        // The id (when the packet has one) and the topic or filter, checked
        // before the strings, in the full codec's order.
        if !connect {
            if self.word_at != 0 && word == 0 {
                return (0, Framed::ZeroPacketId);
            }
            let topic = self.pieces[0];
            if topic.is_empty() {
                return (0, Framed::EmptyTopic);
            }
            // No wildcard in a topic name [MQTT-3.3.2-2].
            if check && kind == PacketType::Publish as u8 && topic.iter().any(|&b| b == b'+' || b == b'#') {
                return (0, Framed::WildcardInTopic);
            }
        }
        // Two walks of the pieces in one loop (no second frame on the
        // caller's stack): the first counts by writing nowhere, the second
        // writes into `out` after the fixed header.
        let mut w = Writer { out: &mut [], at: 0 };
        let mut needed = 0;
        loop {
            for (i, p) in self.pieces.iter().enumerate() {
                // What goes before the piece: the word, its length, both or
                // neither, big-endian in the low bytes of `before`.
                let (mut before, mut n) = (0u32, 0);
                if self.word_at & (1 << i) != 0 {
                    before = word as u32;
                    n = 2;
                }
                if self.strings & (1 << i) != 0 {
                    // Well-formed UTF-8 [MQTT-1.5.3-1], no U+0000 [MQTT-1.5.3-2], at most 65,535 bytes.
                    if check {
                        match utf8_with_nul(p) {
                            None => return (0, Framed::InvalidUtf8),
                            Some(true) => return (0, Framed::NullCharacter),
                            Some(false) => {}
                        }
                    }
                    if p.len() > u16::MAX as usize {
                        return (0, Framed::StringTooLong);
                    }
                    before = before << 16 | p.len() as u32;
                    n += 2;
                }
                w.put(before.to_be_bytes().get(4 - n..).unwrap_or(&[]));
                w.put(p);
            }
            if needed != 0 {
                return (needed, Framed::Ok);
            }
            let remaining = w.at;
            if remaining > MAX_REMAINING_LEN as usize {
                return (0, Framed::PacketTooLarge);
            }
            // Fixed header: the first byte and a 1..=4-byte remaining length (§2.2.3).
            let mut header = [first, 0, 0, 0, 0];
            let mut header_len = 1;
            let mut rest = remaining;
            while let Some(b) = header.get_mut(header_len) {
                *b = rest as u8 & 0x7f;
                rest >>= 7;
                header_len += 1;
                if rest == 0 {
                    break;
                }
                *b |= 0x80;
            }
            // (At least 2: the write walk's mark.)
            needed = header_len + remaining;
            let Some(out) = out.take() else { return (needed, Framed::Ok) };
            let Some(out) = out.get_mut(..needed) else {
                return (needed, Framed::BufferTooSmall);
            };
            w = Writer { out, at: 0 };
            w.put(header.get(..header_len).unwrap_or(&[]));
        }
    }
}

/// [`Frame::frame`]'s outcome, beside the length (`needed` for
/// `BufferTooSmall`) rather than in a `Result<usize, EncodeError>`, so
/// that both come back in two registers, not through memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Framed {
    Ok,
    BufferTooSmall,
    StringTooLong,
    PacketTooLarge,
    ZeroPacketId,
    EmptyTopic,
    WildcardInTopic,
    NullCharacter,
    InvalidUtf8,
}

/// The `Result` of a [`Frame::frame`] outcome.
fn result((n, framed): (usize, Framed)) -> Result<usize, EncodeError> {
    Err(match framed {
        Framed::Ok => return Ok(n),
        Framed::BufferTooSmall => EncodeError::BufferTooSmall { needed: n },
        Framed::StringTooLong => EncodeError::StringTooLong,
        Framed::PacketTooLarge => EncodeError::PacketTooLarge,
        Framed::ZeroPacketId => EncodeError::ZeroPacketId,
        Framed::EmptyTopic => EncodeError::EmptyTopic,
        Framed::WildcardInTopic => EncodeError::WildcardInTopic,
        Framed::NullCharacter => EncodeError::NullCharacter,
        Framed::InvalidUtf8 => EncodeError::InvalidUtf8,
    })
}

/// Writes front to back into a slice sized for the frame first.
struct Writer<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    /// Copies `src` and moves on; out of room, it copies nothing (only
    /// when counting, into no room at all: else `out` is the frame's size).
    #[inline(never)]
    fn put(&mut self, src: &[u8]) {
        // The position moved on first: the copy is then the last thing
        // done (a tail call of `memcpy`, no registers kept across it).
        let at = self.at;
        self.at = at.saturating_add(src.len());
        if let Some(dst) = self.out.get_mut(at..).and_then(|d| d.get_mut(..src.len())) {
            dst.copy_from_slice(src);
        }
    }
}

impl<'a> Request<'a> {
    /// The word its frame carries with packet id `id`: the id, or a
    /// CONNECT's keep-alive (see [`Frame`]).
    pub fn word(&self, id: u16) -> u16 {
        match *self {
            Request::Connect { keep_alive, .. } => keep_alive,
            _ => id,
        }
    }

    /// Its parts (see [`Frame`]).
    pub fn frame_parts(&self) -> Frame<'a> {
        match *self {
            Request::Connect { client_id, username, .. } => Frame::connect(client_id, username),
            Request::Subscribe { filter, qos } => Frame::subscribe(filter, qos),
            Request::Unsubscribe { filter } => Frame::unsubscribe(filter),
            Request::Publish { topic, payload, qos, retain } => Frame::publish(topic, payload, qos, retain),
        }
    }

    /// Length of the whole frame, or why it cannot be encoded (as
    /// [`encode`](Self::encode) with a non-zero packet id).
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        result(self.frame_parts().frame(1, None, true))
    }

    /// As [`encoded_len`](Self::encoded_len) for a request whose strings
    /// its maker checked already (well-formed UTF-8, no U+0000, no wildcard
    /// in a topic name): they are not scanned (the agent's callers check
    /// every string they hand it); lengths, an empty topic and the
    /// packet's size still are.
    pub fn encoded_len_prechecked(&self) -> Result<usize, EncodeError> {
        self.frame_parts().encoded_len_prechecked()
    }

    /// Writes the frame with packet id `id` at the start of `out`; returns its
    /// length. Nothing is written when `out` is too small.
    pub fn encode(&self, id: u16, out: &mut [u8]) -> Result<usize, EncodeError> {
        result(self.frame_parts().frame(self.word(id), Some(out), true))
    }

    /// As [`encode`](Self::encode) for a request whose
    /// [`encoded_len`](Self::encoded_len) was `Ok(len)`: the strings are not
    /// scanned again (UTF-8, U+0000, wildcards). A `len` other than the
    /// frame's gives an error.
    pub fn encode_checked(&self, id: u16, len: usize, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.frame_parts().encode_checked(self.word(id), len, out)
    }
}

/// A PUBLISH from the server: where its parts are in the body it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InPublish {
    pub qos: QoS,
    /// Its packet identifier; 0 for QoS 0, which has none (never 0 otherwise).
    pub packet_id: u16,
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
    /// PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK or SUBACK: its type and
    /// packet id, and for a SUBACK its first return code (all were checked).
    /// One shape for the six: the session finds the id's packet and checks
    /// that it waits for this type, whatever the type.
    Ack { kind: PacketType, id: u16, code: Option<SubAckCode> },
    PingResp,
}

/// The non-zero packet identifier at `at`.
fn id_at(body: &[u8], at: usize) -> Result<u16, DecodeError> {
    // `at` is at most 2 + 65,535 (after a topic): no overflow.
    match body.get(at..at + 2) {
        Some(&[a, b]) if a | b != 0 => Ok(u16::from_be_bytes([a, b])),
        Some(_) => Err(DecodeError::ZeroPacketId),
        None => Err(DecodeError::Truncated),
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
    if header.packet_type == PacketType::Publish {
        return decode_publish(header.flags, body).map(FromServer::Publish);
    }
    decode_body(header, body)
}

/// [`decode_from_server`] for a packet other than PUBLISH (that is
/// [`decode_publish`]) whose header [`FixedHeader::parse`] read (so its flags
/// and length were checked), with the body of exactly its length, as the
/// agent has them: the same result, without checking again.
pub fn decode_body(header: &FixedHeader, body: &[u8]) -> Result<FromServer, DecodeError> {
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
        // The six acknowledgements: one id, then a SUBACK's return codes
        // (the others end after their id).
        kind @ (PacketType::PubAck
        | PacketType::PubRec
        | PacketType::PubRel
        | PacketType::PubComp
        | PacketType::UnsubAck
        | PacketType::SubAck) => {
            let id = id_at(body, 0)?;
            let codes = body.get(2..).unwrap_or(&[]);
            let code = if kind == PacketType::SubAck {
                let Some(&first) = codes.first() else { return Err(DecodeError::EmptySuback) };
                for &b in codes {
                    SubAckCode::try_from(b)?;
                }
                Some(SubAckCode::try_from(first)?)
            } else if !codes.is_empty() {
                return Err(DecodeError::LengthMismatch);
            } else {
                None
            };
            FromServer::Ack { kind, id, code }
        }
        PacketType::PingResp => {
            if !body.is_empty() {
                return Err(DecodeError::LengthMismatch);
            }
            FromServer::PingResp
        }
        // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT: never from a
        // server (and PUBLISH: not here).
        _ => return Err(DecodeError::UnexpectedPacket),
    })
}

/// A PUBLISH body given its fixed-header flags, which `check_flags` passed
/// (QoS not 3, no DUP with QoS 0): [`decode_from_server`]'s result for it.
#[inline(always)] // Its one caller's (the agent's) tail: no call, no second frame.
pub fn decode_publish(flags: u8, body: &[u8]) -> Result<InPublish, DecodeError> {
    let qos = match (flags >> 1) & 0b11 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    let dup = flags & 0b1000 != 0;
    let topic_len = match body.get(..2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]) as usize,
        None => return Err(DecodeError::Truncated),
    };
    let Some(topic) = body.get(2..2 + topic_len) else { return Err(DecodeError::Truncated) };
    // UTF-8, U+0000 and wildcards in one pass; one test for a good topic,
    // then the causes in their order (an empty topic has none of the bits).
    let found = scan_text(topic) & (NOT_UTF8 | HAS_NUL | HAS_WILDCARD);
    if found != 0 || topic.is_empty() {
        return Err(if found & NOT_UTF8 != 0 {
            DecodeError::InvalidUtf8
        } else if found & HAS_NUL != 0 {
            DecodeError::NullCharacter
        } else if found == 0 {
            DecodeError::EmptyTopic
        } else {
            DecodeError::WildcardInTopic
        });
    }
    let mut at = 2 + topic_len;
    let packet_id = if qos == QoS::AtMostOnce {
        0
    } else {
        let id = id_at(body, at)?;
        at += 2;
        id
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
