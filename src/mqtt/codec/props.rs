//! Property tests: round trips for every packet type, split-point
//! independence of the byte-fed decoder, and robustness on arbitrary bytes.

use proptest::prelude::*;

use super::*;

/// An owned packet, from which a borrowed [`Packet`] is made for a test.
#[derive(Debug, Clone)]
enum Owned {
    Connect {
        client_id: String,
        keep_alive: u16,
        clean_session: bool,
        username: Option<String>,
        password: Option<Vec<u8>>,
        will: Option<(String, Vec<u8>, QoS, bool)>,
    },
    ConnAck(ConnAck),
    Publish {
        topic: String,
        qos: QoS,
        id: u16,
        dup: bool,
        retain: bool,
        payload: Vec<u8>,
    },
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    Subscribe {
        id: u16,
        filters: Vec<(String, QoS)>,
    },
    SubAck {
        id: u16,
        codes: Vec<u8>,
    },
    Unsubscribe {
        id: u16,
        filters: Vec<String>,
    },
    UnsubAck(u16),
    PingReq,
    PingResp,
    Disconnect,
}

impl Owned {
    /// Calls `f` with the borrowed packet.
    fn with<R>(&self, f: impl FnOnce(Packet<'_>) -> R) -> R {
        match self {
            Owned::Connect {
                client_id,
                keep_alive,
                clean_session,
                username,
                password,
                will,
            } => f(Packet::Connect(Connect {
                client_id,
                keep_alive: *keep_alive,
                clean_session: *clean_session,
                username: username.as_deref(),
                password: password.as_deref(),
                will: will.as_ref().map(|(topic, payload, qos, retain)| Will {
                    topic,
                    payload,
                    qos: *qos,
                    retain: *retain,
                }),
            })),
            Owned::ConnAck(c) => f(Packet::ConnAck(*c)),
            Owned::Publish {
                topic,
                qos,
                id,
                dup,
                retain,
                payload,
            } => f(Packet::Publish(Publish {
                topic,
                qos: *qos,
                packet_id: if *qos == QoS::AtMostOnce {
                    None
                } else {
                    Some(*id)
                },
                dup: *dup && *qos != QoS::AtMostOnce,
                retain: *retain,
                payload,
            })),
            Owned::PubAck(id) => f(Packet::PubAck(PubAck(*id))),
            Owned::PubRec(id) => f(Packet::PubRec(PubRec(*id))),
            Owned::PubRel(id) => f(Packet::PubRel(PubRel(*id))),
            Owned::PubComp(id) => f(Packet::PubComp(PubComp(*id))),
            Owned::Subscribe { id, filters } => {
                let list: Vec<(&str, QoS)> =
                    filters.iter().map(|(s, q)| (s.as_str(), *q)).collect();
                f(Packet::Subscribe(Subscribe {
                    packet_id: *id,
                    filters: SubscribeFilters::new(&list),
                }))
            }
            Owned::SubAck { id, codes } => f(Packet::SubAck(SubAck {
                packet_id: *id,
                return_codes: codes,
            })),
            Owned::Unsubscribe { id, filters } => {
                let list: Vec<&str> = filters.iter().map(String::as_str).collect();
                f(Packet::Unsubscribe(Unsubscribe {
                    packet_id: *id,
                    filters: UnsubscribeFilters::new(&list),
                }))
            }
            Owned::UnsubAck(id) => f(Packet::UnsubAck(UnsubAck(*id))),
            Owned::PingReq => f(Packet::PingReq(PingReq)),
            Owned::PingResp => f(Packet::PingResp(PingResp)),
            Owned::Disconnect => f(Packet::Disconnect(Disconnect)),
        }
    }

    fn encode(&self) -> Vec<u8> {
        self.with(|p| encode_vec(&p))
    }
}

fn encode_vec(p: &Packet<'_>) -> Vec<u8> {
    let len = p.encoded_len().expect("encodable");
    let mut v = vec![0u8; len];
    assert_eq!(p.encode(&mut v), Ok(len));
    v
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

/// Characters with a bias towards the interesting ones.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range('a', 'z'),
        1 => Just('/'),
        1 => Just('+'),
        1 => Just('#'),
        1 => any::<char>(),
    ]
}

fn string_where(min: usize, max: usize, ok: fn(char) -> bool) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        text_char().prop_filter("excluded char", move |c| ok(*c)),
        min..max,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// Any string an MQTT string may hold (no U+0000).
fn mqtt_string(min: usize, max: usize) -> impl Strategy<Value = String> {
    string_where(min, max, |c| c != '\0')
}

/// A topic name: non-empty, no wildcards.
fn topic_name() -> impl Strategy<Value = String> {
    string_where(1, 24, |c| c != '\0' && c != '+' && c != '#')
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn packet_id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

fn connect() -> impl Strategy<Value = Owned> {
    (
        mqtt_string(0, 24),
        any::<u16>(),
        any::<bool>(),
        proptest::option::of(mqtt_string(0, 16)),
        proptest::option::of(bytes(16)),
        proptest::option::of((topic_name(), bytes(32), qos(), any::<bool>())),
    )
        .prop_map(
            |(client_id, keep_alive, clean, username, password, will)| Owned::Connect {
                clean_session: clean || client_id.is_empty(),
                password: if username.is_some() { password } else { None },
                client_id,
                keep_alive,
                username,
                will,
            },
        )
}

fn connack() -> impl Strategy<Value = Owned> {
    (any::<bool>(), 0u8..=5).prop_map(|(sp, code)| {
        let code = ConnectReturnCode::try_from(code).unwrap();
        Owned::ConnAck(ConnAck {
            session_present: sp && code == ConnectReturnCode::Accepted,
            code,
        })
    })
}

fn publish() -> impl Strategy<Value = Owned> {
    (
        topic_name(),
        qos(),
        packet_id(),
        any::<bool>(),
        any::<bool>(),
        bytes(300),
    )
        .prop_map(|(topic, qos, id, dup, retain, payload)| Owned::Publish {
            topic,
            qos,
            id,
            dup,
            retain,
            payload,
        })
}

fn suback_code() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(1), Just(2), Just(0x80)]
}

fn owned_packet() -> impl Strategy<Value = Owned> {
    prop_oneof![
        connect(),
        connack(),
        publish(),
        packet_id().prop_map(Owned::PubAck),
        packet_id().prop_map(Owned::PubRec),
        packet_id().prop_map(Owned::PubRel),
        packet_id().prop_map(Owned::PubComp),
        (
            packet_id(),
            proptest::collection::vec((mqtt_string(1, 16), qos()), 1..5)
        )
            .prop_map(|(id, filters)| Owned::Subscribe { id, filters }),
        (packet_id(), proptest::collection::vec(suback_code(), 1..8))
            .prop_map(|(id, codes)| Owned::SubAck { id, codes }),
        (
            packet_id(),
            proptest::collection::vec(mqtt_string(1, 16), 1..5)
        )
            .prop_map(|(id, filters)| Owned::Unsubscribe { id, filters }),
        packet_id().prop_map(Owned::UnsubAck),
        Just(Owned::PingReq),
        Just(Owned::PingResp),
        Just(Owned::Disconnect),
    ]
}

/// Whatever decodes must re-encode to a frame that decodes to the same value,
/// with the same body bytes (only a non-minimal length header may change).
fn check_reencode(p: &Packet<'_>, frame: &[u8]) {
    let again = encode_vec(p);
    let (d, n) = decode_frame(&again).unwrap().unwrap();
    assert_eq!(n, again.len());
    assert_eq!(&d, p);
    let (_, hl_in) = FixedHeader::parse(frame).unwrap().unwrap();
    let (_, hl_out) = FixedHeader::parse(&again).unwrap().unwrap();
    assert_eq!(frame[0], again[0]);
    assert_eq!(&frame[hl_in..], &again[hl_out..]);
}

proptest! {
    #[test]
    fn varint_round_trip(v in 0u32..=MAX_REMAINING_LEN) {
        let mut out = [0u8; 4];
        let n = varint::encode(v, &mut out).unwrap();
        prop_assert_eq!(n, varint::encoded_len(v));
        prop_assert_eq!(varint::decode(&out[..n]), Ok(Some((v, n))));
        for cut in 0..n {
            prop_assert_eq!(varint::decode(&out[..cut]), Ok(None));
        }
    }

    #[test]
    fn round_trip(owned in owned_packet()) {
        owned.with(|p| {
            let frame = encode_vec(&p);
            let (d, n) = decode_frame(&frame).unwrap().unwrap();
            assert_eq!(n, frame.len());
            assert_eq!(d, p);
            assert_eq!(frame_len(&frame), Ok(Some(frame.len())));
            // Via header + body, as the agent does.
            let (h, hl) = FixedHeader::parse(&frame).unwrap().unwrap();
            assert_eq!(h.header_len(), hl);
            assert_eq!(h.frame_len(), frame.len());
            assert_eq!(Packet::decode(&h, &frame[hl..]), Ok(p));
            let from_server = Packet::decode_from_server(&h, &frame[hl..]);
            if p.packet_type().server_may_send() {
                assert_eq!(from_server, Ok(p));
            } else {
                assert_eq!(from_server, Err(DecodeError::UnexpectedPacket));
            }
            // Decoded values (wire-backed filter lists) re-encode identically.
            assert_eq!(encode_vec(&d), frame);
            // Every strict prefix is incomplete.
            for cut in 0..frame.len() {
                assert_eq!(decode_frame(&frame[..cut]), Ok(None));
            }
        });
    }

    #[test]
    fn short_buffer_never_overruns(owned in owned_packet(), short_by in 1usize..8) {
        owned.with(|p| {
            let len = p.encoded_len().unwrap();
            let avail = len.saturating_sub(short_by);
            let mut buf = vec![0xA5u8; len + 8];
            let r = p.encode(&mut buf[..avail]);
            assert_eq!(r, Err(EncodeError::BufferTooSmall { needed: len }));
            assert!(buf[avail..].iter().all(|&b| b == 0xA5));
        });
    }

    #[test]
    fn split_point_independence(
        packets in proptest::collection::vec(owned_packet(), 1..8),
        chunks in proptest::collection::vec(1usize..40, 1..16),
    ) {
        let frames: Vec<Vec<u8>> = packets.iter().map(Owned::encode).collect();
        let stream: Vec<u8> = frames.concat();

        let mut dec = HeaderDecoder::new();
        let mut header: Option<FixedHeader> = None;
        let mut body: Vec<u8> = Vec::new();
        let mut seen = 0usize;
        let mut pos = 0usize;
        let mut chunk_sizes = chunks.iter().cycle();
        while pos < stream.len() {
            let size = (*chunk_sizes.next().unwrap()).min(stream.len() - pos);
            let chunk = &stream[pos..pos + size];
            pos += size;
            let mut i = 0;
            while i < chunk.len() {
                match header {
                    None => {
                        if let Some(h) = dec.push(chunk[i]).unwrap() {
                            header = Some(h);
                            body.clear();
                        }
                        i += 1;
                    }
                    Some(h) => {
                        let need = h.remaining_len as usize - body.len();
                        let take = need.min(chunk.len() - i);
                        body.extend_from_slice(&chunk[i..i + take]);
                        i += take;
                    }
                }
                if let Some(h) = header {
                    if body.len() == h.remaining_len as usize {
                        let streamed = Packet::decode(&h, &body).unwrap();
                        let (whole, n) = decode_frame(&frames[seen]).unwrap().unwrap();
                        prop_assert_eq!(n, frames[seen].len());
                        prop_assert_eq!(streamed, whole);
                        packets[seen].with(|orig| assert_eq!(streamed, orig));
                        seen += 1;
                        header = None;
                    }
                }
            }
        }
        prop_assert!(header.is_none() && !dec.in_progress());
        prop_assert_eq!(seen, frames.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = frame_len(&data);
        let _ = decode_frame_from_server(&data);
        // The byte-fed decoder agrees with the buffer parser.
        let parsed = FixedHeader::parse(&data);
        let mut dec = HeaderDecoder::new();
        let mut fed = Ok(None);
        let mut used = 0;
        for &b in &data {
            used += 1;
            fed = dec.push(b);
            if !matches!(fed, Ok(None)) {
                break;
            }
        }
        match parsed {
            Ok(Some((h, n))) => {
                prop_assert_eq!(fed, Ok(Some(h)));
                prop_assert_eq!(used, n);
            }
            Ok(None) => prop_assert_eq!(fed, Ok(None)),
            Err(e) => prop_assert_eq!(fed, Err(e)),
        }
        if let Ok(Some((p, n))) = decode_frame(&data) {
            check_reencode(&p, &data[..n]);
        }
    }

    #[test]
    fn mutated_frames_never_panic(owned in owned_packet(), edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut frame = owned.encode();
        for (at, v) in edits {
            let i = at % frame.len();
            frame[i] = v;
        }
        for r in [decode_frame(&frame), decode_frame_from_server(&frame)] {
            if let Ok(Some((p, n))) = r {
                check_reencode(&p, &frame[..n]);
            }
        }
    }
}
