//! Micro-benchmarks of the pure core: the MQTT codec, topic-filter matching
//! and the shadow JSON helpers. Run with `cargo bench --bench micro` or
//! `scripts/bench-micro.sh` (which also prints a summary table).
//!
//! Benchmark names are `<group>/<case>`:
//! - `codec_encode/<packet>`, `codec_decode/<packet>`: one whole frame,
//!   throughput in frame bytes. Decoding goes through `decode_frame`
//!   (fixed header parse + body checks, all 14 types accepted).
//! - `codec_incremental/<packet>`: what the agent does on a socket: the fixed
//!   header fed byte by byte to a `HeaderDecoder`, then
//!   `Packet::decode_from_server` on the body.
//! - `topic_exact/<n>`, `topic_aws_mix/<n>`, `topic_all_wildcard/<n>`: one
//!   `FilterTable::matching(topic)` walked to the end, with `n` subscriptions
//!   in a `FilterTable<512, 128>`; throughput in lookups.
//! - `shadow_fields/<size>`, `shadow_with_client_token/<size>`: throughput in
//!   document bytes.

use std::hint::black_box;

use afrcloud::mqtt::codec::{
    decode_frame, Connect, Disconnect, HeaderDecoder, Packet, PingReq, PingResp, PubAck, PubComp,
    PubRec, PubRel, Publish, QoS, SubAck, Subscribe, SubscribeFilters, UnsubAck, Unsubscribe,
    UnsubscribeFilters,
};
use afrcloud::mqtt::topic::FilterTable;
use afrcloud::shadow::json;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

// ---------------------------------------------------------------------------
// Codec
// ---------------------------------------------------------------------------

const THING: &str = "my-thing-0001";
const PUB_TOPIC: &str = "$aws/things/my-thing-0001/shadow/update/accepted";

/// Encodes `p` into a fresh vector (checked against `encoded_len`).
fn frame_of(p: &Packet<'_>) -> Vec<u8> {
    let mut v = vec![0u8; p.encoded_len().expect("encodable")];
    assert_eq!(p.encode(&mut v), Ok(v.len()));
    v
}

/// Benchmarks encoding and decoding `packet` under the name `name`.
fn codec_case(c: &mut Criterion, name: &str, packet: &Packet<'_>) {
    let frame = frame_of(packet);
    // Sanity: the frame decodes back to the same packet.
    let (decoded, used) = decode_frame(&frame).expect("valid").expect("complete");
    assert_eq!(used, frame.len());
    assert_eq!(&decoded, packet, "{name}");
    let bytes = frame.len() as u64;

    let mut g = c.benchmark_group("codec_encode");
    g.throughput(Throughput::Bytes(bytes));
    let mut out = vec![0u8; frame.len()];
    g.bench_function(name, |b| {
        b.iter(|| black_box(packet).encode(black_box(&mut out[..])))
    });
    g.finish();

    let mut g = c.benchmark_group("codec_decode");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function(name, |b| {
        b.iter(|| match decode_frame(black_box(&frame[..])) {
            Ok(Some((p, n))) => {
                black_box(&p);
                n
            }
            _ => unreachable!(),
        })
    });
    g.finish();
}

fn bench_codec(c: &mut Criterion) {
    let payload_64 = vec![0x5au8; 64];
    let payload_4k: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    let subs = [
        ("$aws/things/my-thing-0001/shadow/update/accepted", QoS::AtLeastOnce),
        ("$aws/things/my-thing-0001/shadow/update/rejected", QoS::AtLeastOnce),
        ("$aws/things/my-thing-0001/shadow/update/delta", QoS::AtLeastOnce),
    ];
    let unsubs = [
        "$aws/things/my-thing-0001/shadow/update/accepted",
        "$aws/things/my-thing-0001/shadow/update/rejected",
        "$aws/things/my-thing-0001/shadow/update/delta",
    ];

    let publish = |qos: QoS, payload: &'static [u8]| {
        Packet::Publish(Publish {
            topic: PUB_TOPIC,
            qos,
            packet_id: (qos != QoS::AtMostOnce).then_some(0x1234),
            dup: false,
            retain: false,
            payload,
        })
    };
    // Leaked so the closures above can hand out 'static payloads.
    let p64: &'static [u8] = Box::leak(payload_64.into_boxed_slice());
    let p4k: &'static [u8] = Box::leak(payload_4k.into_boxed_slice());

    let cases: Vec<(&str, Packet<'_>)> = vec![
        (
            "connect_user",
            Packet::Connect(Connect {
                client_id: THING,
                keep_alive: 1200,
                clean_session: true,
                username: Some("?SDK=AmazonFreeRTOS&Version=1.4.7"),
                password: None,
                will: None,
            }),
        ),
        ("publish_qos0_64B", publish(QoS::AtMostOnce, p64)),
        ("publish_qos1_64B", publish(QoS::AtLeastOnce, p64)),
        ("publish_qos2_64B", publish(QoS::ExactlyOnce, p64)),
        ("publish_qos0_4KB", publish(QoS::AtMostOnce, p4k)),
        ("publish_qos1_4KB", publish(QoS::AtLeastOnce, p4k)),
        ("publish_qos2_4KB", publish(QoS::ExactlyOnce, p4k)),
        ("puback", Packet::PubAck(PubAck(0x1234))),
        ("pubrec", Packet::PubRec(PubRec(0x1234))),
        ("pubrel", Packet::PubRel(PubRel(0x1234))),
        ("pubcomp", Packet::PubComp(PubComp(0x1234))),
        (
            "subscribe_3",
            Packet::Subscribe(Subscribe {
                packet_id: 7,
                filters: SubscribeFilters::new(&subs),
            }),
        ),
        (
            "suback_3",
            Packet::SubAck(SubAck {
                packet_id: 7,
                return_codes: &[1, 1, 0x80],
            }),
        ),
        (
            "unsubscribe_3",
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 8,
                filters: UnsubscribeFilters::new(&unsubs),
            }),
        ),
        ("unsuback", Packet::UnsubAck(UnsubAck(8))),
        ("pingreq", Packet::PingReq(PingReq)),
        ("pingresp", Packet::PingResp(PingResp)),
        ("disconnect", Packet::Disconnect(Disconnect)),
    ];
    for (name, packet) in &cases {
        codec_case(c, name, packet);
    }

    // The agent's receive path: header byte by byte, then the body.
    let mut g = c.benchmark_group("codec_incremental");
    for (name, payload) in [("publish_qos1_64B", p64), ("publish_qos1_4KB", p4k)] {
        let frame = frame_of(&publish(QoS::AtLeastOnce, payload));
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let frame = black_box(&frame[..]);
                let mut dec = HeaderDecoder::with_max_remaining_len(8192);
                let mut at = 0;
                let header = loop {
                    let byte = frame[at];
                    at += 1;
                    match dec.push(byte) {
                        Ok(Some(h)) => break h,
                        Ok(None) => {}
                        Err(_) => unreachable!(),
                    }
                };
                let body = &frame[at..at + header.remaining_len as usize];
                match Packet::decode_from_server(&header, body) {
                    Ok(Packet::Publish(p)) => p.payload.len(),
                    _ => unreachable!(),
                }
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// Topic matching
// ---------------------------------------------------------------------------

type Table = FilterTable<512, 128, u32>;

const SIZES: [usize; 4] = [1, 8, 64, 512];

/// The shadow topics a device subscribes to for one thing.
const SHADOW_SUFFIXES: [&str; 8] = [
    "update/accepted",
    "update/rejected",
    "update/delta",
    "update/documents",
    "get/accepted",
    "get/rejected",
    "delete/accepted",
    "delete/rejected",
];

fn new_table() -> Box<Table> {
    Box::new(Table::new())
}

/// The i-th exact shadow filter (8 topics per thing).
fn shadow_filter(i: usize) -> String {
    format!(
        "$aws/things/thing-{:04}/shadow/{}",
        i / SHADOW_SUFFIXES.len(),
        SHADOW_SUFFIXES[i % SHADOW_SUFFIXES.len()]
    )
}

/// (a) `n` exact filters; the topic equals one of them.
fn exact_table(n: usize) -> (Box<Table>, String) {
    let mut t = new_table();
    for i in 0..n {
        t.insert(&shadow_filter(i), i as u32).unwrap();
    }
    (t, shadow_filter(n / 2))
}

/// (b) the AWS mix: `n` subscriptions, of which `min(4, n / 8)` are wildcard
/// filters (one of which matches the topic) and the rest exact shadow
/// filters; the topic is a shadow delta whose exact filter is present.
fn aws_mix_table(n: usize) -> (Box<Table>, String) {
    const WILD: [&str; 4] = [
        "$aws/things/+/shadow/update/delta",
        "$aws/things/thing-0000/jobs/#",
        "$aws/events/presence/+/+",
        "devices/+/config",
    ];
    let w = (n / 8).min(WILD.len());
    let mut t = new_table();
    for (i, f) in WILD.iter().take(w).enumerate() {
        t.insert(f, 10_000 + i as u32).unwrap();
    }
    for i in 0..n - w {
        t.insert(&shadow_filter(i), i as u32).unwrap();
    }
    assert_eq!(t.len(), n);
    // A delta topic (suffix index 2) of a thing in the middle of the table.
    let things = ((n - w) / SHADOW_SUFFIXES.len()).max(1);
    let topic = shadow_filter((things / 2) * SHADOW_SUFFIXES.len() + 2);
    let topic = if t.contains(&topic) { topic } else { shadow_filter(0) };
    (t, topic)
}

/// (c) worst case: `n` wildcard filters that all share the topic's first
/// levels, so every one is walked to its last level; one matches.
fn all_wildcard_table(n: usize) -> (Box<Table>, String) {
    let mut t = new_table();
    for i in 0..n {
        let f = if i == n / 2 {
            "$aws/things/+/shadow/update/delta".to_string()
        } else {
            format!("$aws/things/+/shadow/+/f{i:04}")
        };
        t.insert(&f, i as u32).unwrap();
    }
    (t, "$aws/things/thing-0042/shadow/update/delta".to_string())
}

fn bench_topic(c: &mut Criterion) {
    type Build = fn(usize) -> (Box<Table>, String);
    let kinds: [(&str, Build); 3] = [
        ("topic_exact", exact_table),
        ("topic_aws_mix", aws_mix_table),
        ("topic_all_wildcard", all_wildcard_table),
    ];
    for (group, build) in kinds {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(1));
        for n in SIZES {
            let (table, topic) = build(n);
            let hits = table.matching(&topic).count();
            assert!(hits >= 1, "{group}/{n}: topic {topic} matches nothing");
            g.bench_with_input(BenchmarkId::from_parameter(n), &topic, |b, topic| {
                b.iter(|| {
                    // Walk every match, as the agent does to invoke callbacks.
                    black_box(&*table)
                        .matching(black_box(topic.as_str()))
                        .fold(0u32, |acc, (_, v)| acc.wrapping_add(*v))
                })
            });
        }
        g.finish();
    }
}

// ---------------------------------------------------------------------------
// Shadow JSON
// ---------------------------------------------------------------------------

/// A shadow service document (as in `/update/accepted` or `/get/accepted`) of
/// exactly `size` bytes: `state` with `desired` and `reported`, `metadata`
/// with a timestamp per property, `version`, `timestamp` and, if `token`,
/// `clientToken` last.
fn shadow_doc(size: usize, token: bool) -> Vec<u8> {
    fn value(i: usize) -> String {
        match i % 5 {
            0 => format!("\"{}\"", ["red", "green", "blue", "white"][i % 4]),
            1 => format!("{}", 20 + i * 7 % 80),
            2 => (i % 2 == 0).to_string(),
            3 => format!("{{\"mode\":\"auto\",\"level\":{},\"on\":true}}", i % 10),
            _ => format!("[{},{},{}]", i, i + 1, i + 2),
        }
    }
    fn props(n: usize, pad: usize, f: impl Fn(usize) -> String) -> String {
        let mut s = String::from("{");
        for i in 0..n {
            s.push_str(&format!("\"prop{i:03}\":{},", f(i)));
        }
        s.push_str(&format!("\"firmware\":\"v1.4.7{}\"}}", "-".repeat(pad)));
        s
    }
    let build = |n: usize, pad: usize| {
        let ts = |_| "{\"timestamp\":1700000000}".to_string();
        let mut d = format!(
            "{{\"state\":{{\"desired\":{},\"reported\":{}}},\"metadata\":{{\"desired\":{},\"reported\":{}}},\"version\":4242,\"timestamp\":1700000123",
            props(n, 0, value),
            props(n, pad, value),
            props(n, 0, ts),
            props(n, 0, ts),
        );
        if token {
            d.push_str(",\"clientToken\":\"my-thing-0001-1700000123-42\"");
        }
        d.push('}');
        d
    };
    let mut n = 0;
    while build(n + 1, 0).len() <= size {
        n += 1;
    }
    let pad = size - build(n, 0).len();
    let doc = build(n, pad).into_bytes();
    assert_eq!(doc.len(), size);
    doc
}

fn bench_shadow(c: &mut Criterion) {
    let sizes = [("1KB", 1024), ("8KB", 8192)];

    let mut g = c.benchmark_group("shadow_fields");
    for (label, size) in sizes {
        let doc = shadow_doc(size, true);
        let f = json::fields(&doc).expect("valid document");
        assert_eq!(f.client_token, Some(&b"my-thing-0001-1700000123-42"[..]));
        assert_eq!(f.version, Some(4242));
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(label), &doc, |b, doc| {
            b.iter(|| json::fields(black_box(doc)).map(|f| f.version))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("shadow_with_client_token");
    for (label, size) in sizes {
        // A request document (no token yet) of the same size.
        let doc = shadow_doc(size, false);
        let mut out = vec![0u8; doc.len() + 128];
        let n = json::with_client_token(&doc, b"my-thing-0001-1700000123-42", &mut out)
            .expect("fits");
        assert_eq!(
            json::fields(&out[..n]).unwrap().client_token,
            Some(&b"my-thing-0001-1700000123-42"[..])
        );
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(label), &doc, |b, doc| {
            b.iter(|| {
                json::with_client_token(
                    black_box(doc),
                    black_box(b"my-thing-0001-1700000123-42"),
                    black_box(&mut out[..]),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_codec, bench_topic, bench_shadow);
criterion_main!(benches);
