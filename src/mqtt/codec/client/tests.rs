//! The client codec against the full codec: same bytes, same lengths, same
//! errors, for every input generated; and the UTF-8 check against core's.

use proptest::prelude::*;

use super::*;
use crate::mqtt::codec::is_utf8;
use crate::mqtt::codec::{
    Connect, FixedHeader, Packet, Publish, Subscribe, SubscribeFilters, Unsubscribe,
    UnsubscribeFilters,
};

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

/// Strings with the characters that matter: separators, wildcards, NUL, multi-byte.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just('a'), Just('/'), Just('+'), Just('#'), Just('\0'), Just('é'), Just('\u{2A6D4}'), any::<char>()],
        0..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// Encodes with the client codec and with the full codec; both must agree.
fn same(ours: Request<'_>, id: u16, theirs: Packet<'_>) {
    let expected = theirs.encoded_len();
    if expected != Err(EncodeError::ZeroPacketId) {
        // (The length is asked for before the id is known: any non-zero id.)
        assert_eq!(ours.encoded_len(), expected);
    }
    let mut a = vec![0u8; expected.unwrap_or(0) + 3];
    let mut b = vec![0u8; expected.unwrap_or(0) + 3];
    assert_eq!(ours.encode(id, &mut a), theirs.encode(&mut b));
    assert_eq!(a, b);
    if let (Ok(len), Ok(_)) = (ours.encoded_len(), theirs.encode(&mut b)) {
        // One writing pass after encoded_len: the same frame.
        let mut c = vec![0u8; len + 3];
        assert_eq!(ours.encode_checked(id, len, &mut c), Ok(len));
        assert_eq!(c, b);
    }
    if let Ok(len) = expected {
        let mut short = vec![0xAAu8; len - 1];
        assert_eq!(ours.encode(id, &mut short), Err(EncodeError::BufferTooSmall { needed: len }));
        assert!(short.iter().all(|&b| b == 0xAA), "nothing written when the buffer is short");
        // The same with the length known: a buffer shorter than it is refused.
        assert_eq!(ours.encode_checked(id.max(1), len, &mut short), Err(EncodeError::BufferTooSmall { needed: len }));
        assert!(short.iter().all(|&b| b == 0xAA), "nothing written when the buffer is short");
    }
}

proptest! {
    #[test]
    fn connect_as_full_codec(id in text(), user in proptest::option::of(text()), ka in any::<u16>()) {
        let full = Connect {
            client_id: &id,
            keep_alive: ka,
            clean_session: true,
            username: user.as_deref(),
            password: None,
            will: None,
        };
        same(Request::Connect { client_id: id.as_bytes(), username: user.as_deref().map(str::as_bytes), keep_alive: ka }, 7, Packet::Connect(full));
    }

    #[test]
    fn subscribe_as_full_codec(filter in text(), q in qos(), id in any::<u16>()) {
        let filters = [(filter.as_str(), q)];
        let full = Subscribe { packet_id: id, filters: SubscribeFilters::new(&filters) };
        same(Request::Subscribe { filter: filter.as_bytes(), qos: q }, id, Packet::Subscribe(full));
    }

    #[test]
    fn unsubscribe_as_full_codec(filter in text(), id in any::<u16>()) {
        let filters = [filter.as_str()];
        let full = Unsubscribe { packet_id: id, filters: UnsubscribeFilters::new(&filters) };
        same(Request::Unsubscribe { filter: filter.as_bytes() }, id, Packet::Unsubscribe(full));
    }

    #[test]
    fn publish_as_full_codec(
        topic in text(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        q in qos(),
        retain in any::<bool>(),
        id in any::<u16>(),
    ) {
        let full = Publish {
            topic: &topic,
            qos: q,
            packet_id: (q != QoS::AtMostOnce).then_some(id),
            dup: false,
            retain,
            payload: &payload,
        };
        same(Request::Publish { topic: topic.as_bytes(), payload: &payload, qos: q, retain }, id, Packet::Publish(full));
    }

    /// Whatever the bytes, the client decoder accepts exactly what the full
    /// decoder accepts, with the same error, and the same fields.
    #[test]
    fn decode_as_full_codec(first in any::<u8>(), body in proptest::collection::vec(
        prop_oneof![Just(0u8), Just(1), Just(2), Just(0x80), Just(b'+'), Just(b'a'), Just(0xC3), Just(0xA9), any::<u8>()], 0..24),
        extra in 0u32..3,
    ) {
        let Ok(Some((header, _))) = FixedHeader::parse(&[first, body.len() as u8]) else { return Ok(()) };
        // A body of the header's length, or a mismatching one.
        let header = FixedHeader { remaining_len: header.remaining_len + extra % 2, ..header };
        check_decode(&header, &body);
    }

    /// The byte-slice topic checks the C API uses answer as the `&str` ones.
    #[test]
    fn topic_checks_as_str_ones(bytes in proptest::collection::vec(
        prop_oneof![Just(b'/'), Just(b'+'), Just(b'#'), Just(b'a'), Just(0u8), Just(0xC3), Just(0xA9), any::<u8>()], 0..10)) {
        use crate::mqtt::topic;
        prop_assert_eq!(topic::check_topic_filter_bytes(&bytes), topic::topic_filter_from_bytes(&bytes).map(|_| ()));
        prop_assert_eq!(topic::check_topic_name_bytes(&bytes), topic::topic_name_from_bytes(&bytes).map(|_| ()));
    }

    #[test]
    fn utf8_as_core(bytes in proptest::collection::vec(
        prop_oneof![any::<u8>(), 0x80u8..0xC0, 0xC0u8..0xF8, Just(0xED), Just(0xF4), Just(0xE0), Just(0xF0)], 0..12)) {
        prop_assert_eq!(is_utf8(&bytes), core::str::from_utf8(&bytes).is_ok());
        prop_assert_eq!(utf8_with_nul(&bytes), core::str::from_utf8(&bytes).ok().map(|_| bytes.contains(&0)));
    }

    /// Longer strings, mostly ASCII (NULs among them), so that the four-bytes-at-a-time
    /// path meets non-ASCII and zero bytes at every offset of a word.
    #[test]
    fn utf8_ascii_runs_as_core(bytes in proptest::collection::vec(
        prop_oneof![8 => 0x01u8..0x80, 1 => Just(0u8), 1 => any::<u8>(), 1 => Just(0xC3), 1 => Just(0xA9)], 0..40)) {
        prop_assert_eq!(utf8_with_nul(&bytes), core::str::from_utf8(&bytes).ok().map(|_| bytes.contains(&0)));
    }

    /// `scan_text`'s bits, each against its own model: UTF-8 as core's
    /// validator, U+0000 and wildcards as a search, a misplaced wildcard as
    /// the topic filter rules (each `+` or `#` a whole level, `#` last).
    #[test]
    fn scan_text_bits_as_models(bytes in proptest::collection::vec(
        prop_oneof![3 => proptest::sample::select(vec![b'+', b'#', b'/', b'a', b' ', 0]), 1 => any::<u8>(), 1 => Just(0xC3), 1 => Just(0xA9)], 0..14)) {
        use crate::mqtt::codec::{scan_text, HAS_NUL, HAS_WILDCARD, MISPLACED_WILDCARD, NOT_UTF8};
        let found = scan_text(&bytes);
        prop_assert_eq!(found & NOT_UTF8 == 0, core::str::from_utf8(&bytes).is_ok(), "{:?}", bytes);
        if found & NOT_UTF8 == 0 {
            prop_assert_eq!(found & HAS_NUL != 0, bytes.contains(&0));
            prop_assert_eq!(found & HAS_WILDCARD != 0, bytes.iter().any(|&b| b == b'+' || b == b'#'));
            let levels_ok = bytes.split(|&b| b == b'/').all(|level| {
                !level.iter().any(|&b| b == b'+' || b == b'#') || level == b"+" || level == b"#"
            }) && bytes.iter().position(|&b| b == b'#').map_or(true, |i| i + 1 == bytes.len());
            prop_assert_eq!(found & MISPLACED_WILDCARD == 0, levels_ok, "{:?}", bytes);
        }
    }
}

fn check_decode(header: &FixedHeader, body: &[u8]) {
    let ours = decode_from_server(header, body);
    // The agent's path: a parsed (valid) header and a body of its length.
    if header.validate().is_ok() && body.len() == header.remaining_len as usize {
        if header.packet_type == PacketType::Publish {
            assert_eq!(decode_publish(header.flags, body).map(FromServer::Publish), ours);
        } else if header.packet_type.server_may_send() {
            assert_eq!(decode_body(header, body), ours);
        }
    }
    let theirs = Packet::decode_from_server(header, body);
    match (ours, theirs) {
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(a), Ok(b)) => {
            let expected = match b {
                Packet::ConnAck(c) => FromServer::ConnAck(c),
                Packet::PubAck(p) => FromServer::Ack { kind: PacketType::PubAck, id: p.0, code: None },
                Packet::PubRec(p) => FromServer::Ack { kind: PacketType::PubRec, id: p.0, code: None },
                Packet::PubRel(p) => FromServer::Ack { kind: PacketType::PubRel, id: p.0, code: None },
                Packet::PubComp(p) => FromServer::Ack { kind: PacketType::PubComp, id: p.0, code: None },
                Packet::UnsubAck(p) => FromServer::Ack { kind: PacketType::UnsubAck, id: p.0, code: None },
                Packet::PingResp(_) => FromServer::PingResp,
                Packet::SubAck(s) => {
                    FromServer::Ack { kind: PacketType::SubAck, id: s.packet_id, code: Some(s.codes().next().unwrap()) }
                }
                Packet::Publish(p) => {
                    let base = body.as_ptr() as usize;
                    FromServer::Publish(InPublish {
                        qos: p.qos,
                        packet_id: p.packet_id.unwrap_or(0),
                        dup: p.dup,
                        retain: p.retain,
                        topic: (p.topic.as_ptr() as usize - base, p.topic.len()),
                        payload: (p.payload.as_ptr() as usize - base, p.payload.len()),
                    })
                }
                other => panic!("the full decoder gave a client packet: {other:?}"),
            };
            assert_eq!(a, expected);
        }
        (a, b) => panic!("client decoder {a:?}, full decoder {b:?}"),
    }
}

#[test]
#[cfg_attr(miri, ignore)] // 16 M inputs: too slow under Miri (the property test compares with core there).
fn utf8_exhaustive_up_to_three_bytes() {
    for a in 0..=255u8 {
        assert_eq!(is_utf8(&[a]), core::str::from_utf8(&[a]).is_ok());
        for b in 0..=255u8 {
            assert_eq!(is_utf8(&[a, b]), core::str::from_utf8(&[a, b]).is_ok(), "{a:02x} {b:02x}");
            if a >= 0xE0 {
                for c in [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff] {
                    let s = [a, b, c];
                    assert_eq!(is_utf8(&s), core::str::from_utf8(&s).is_ok(), "{s:02x?}");
                    let s = [a, b, c, 0x80];
                    assert_eq!(is_utf8(&s), core::str::from_utf8(&s).is_ok(), "{s:02x?}");
                }
            }
        }
    }
    // The ends of each range (§1.5.3's example among them).
    for s in ["A\u{2A6D4}", "\u{7f}", "\u{80}", "\u{7ff}", "\u{800}", "\u{d7ff}", "\u{e000}", "\u{ffff}", "\u{10000}", "\u{10ffff}"] {
        assert!(is_utf8(s.as_bytes()));
    }
    assert!(!is_utf8(&[0xED, 0xA0, 0x80])); // U+D800, a surrogate
    assert!(!is_utf8(&[0xF4, 0x90, 0x80, 0x80])); // above U+10FFFF
    assert!(!is_utf8(&[0xC0, 0x80])); // overlong NUL
}

#[test]
fn decode_vectors() {
    // Every server packet type, valid, and the headers a client refuses.
    let frames: &[&[u8]] = &[
        &[0x20, 2, 0, 0],
        &[0x20, 2, 1, 0],
        &[0x20, 2, 1, 5],
        &[0x20, 2, 0, 6],
        &[0x20, 3, 0, 0, 0],
        &[0x20, 1, 0],
        &[0x40, 2, 0, 7],
        &[0x40, 2, 0, 0],
        &[0x50, 2, 1, 0],
        &[0x62, 2, 1, 0],
        &[0x70, 2, 1, 0],
        &[0x90, 3, 0, 9, 1],
        &[0x90, 4, 0, 9, 0x80, 3],
        &[0x90, 2, 0, 9],
        &[0xB0, 2, 0, 9],
        &[0xD0, 0],
        &[0xD0, 1, 0],
        &[0x30, 5, 0, 3, b'a', b'/', b'b'],
        &[0x32, 9, 0, 3, b'a', b'/', b'b', 0, 10, b'h', b'i'],
        &[0x3D, 7, 0, 3, b'a', b'/', b'b', 0, 10],
        &[0x32, 5, 0, 3, b'a', b'/', b'b'],
        &[0x30, 5, 0, 3, b'a', b'/', b'+'],
        &[0x30, 2, 0, 0],
        &[0x30, 3, 0, 1, 0],
        &[0x30, 3, 0, 1, 0xff],
        &[0x10, 0],
        &[0x82, 0],
        &[0xC0, 0],
        &[0xE0, 0],
    ];
    for f in frames {
        let (header, n) = FixedHeader::parse(f).unwrap().unwrap();
        check_decode(&header, &f[n..]);
    }
}
