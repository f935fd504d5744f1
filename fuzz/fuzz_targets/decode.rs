//! Feeds arbitrary bytes, as a stream of MQTT frames, through both receive
//! paths of the codec and checks that
//! 1. `decode_frame` over a contiguous buffer and `HeaderDecoder` byte by byte
//!    plus `Packet::decode` on an accumulated body yield the same packets and
//!    the same first error;
//! 2. `decode_frame_from_server` agrees with `decode_frame` up to
//!    `UnexpectedPacket` for the client-only types;
//! 3. every decoded packet re-encodes (`encoded_len` bytes exactly) to a frame
//!    that decodes to the same packet, with the same first byte and body.
#![no_main]

use afrcloud::mqtt::codec::{
    decode_frame, decode_frame_from_server, DecodeError, EncodeError, FixedHeader, HeaderDecoder,
    Packet,
};
use libfuzzer_sys::fuzz_target;

fn check_reencode(p: &Packet<'_>, frame: &[u8]) {
    let len = p.encoded_len().expect("a decoded packet must be encodable");
    let mut out = vec![0u8; len];
    assert_eq!(p.encode(&mut out), Ok(len));
    assert_eq!(decode_frame(&out), Ok(Some((*p, len))));
    let (_, hl_in) = FixedHeader::parse(frame).unwrap().unwrap();
    let (_, hl_out) = FixedHeader::parse(&out).unwrap().unwrap();
    assert_eq!(frame[0], out[0], "first byte");
    assert_eq!(&frame[hl_in..], &out[hl_out..], "body");
    // One byte short must fail cleanly.
    if len > 0 {
        assert_eq!(
            p.encode(&mut out[..len - 1]),
            Err(EncodeError::BufferTooSmall { needed: len })
        );
    }
}

fuzz_target!(|data: &[u8]| {
    // Path A: whole frames out of the contiguous buffer.
    let mut frames: Vec<Result<Packet<'_>, DecodeError>> = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &data[pos..];
        let whole = decode_frame(rest);
        let server = decode_frame_from_server(rest);
        match whole {
            Ok(Some((p, n))) => {
                if p.packet_type().server_may_send() {
                    assert_eq!(server, Ok(Some((p, n))));
                } else {
                    assert_eq!(server, Err(DecodeError::UnexpectedPacket));
                }
                check_reencode(&p, &rest[..n]);
                frames.push(Ok(p));
                pos += n;
            }
            Ok(None) => {
                assert_eq!(server, Ok(None));
                break;
            }
            Err(e) => {
                assert!(
                    server == Err(e) || server == Err(DecodeError::UnexpectedPacket),
                    "{server:?} vs {e:?}"
                );
                frames.push(Err(e));
                break;
            }
        }
    }

    // Path B: header bytes one at a time, then the body accumulated.
    let mut dec = HeaderDecoder::new();
    let mut header: Option<FixedHeader> = None;
    let mut body: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    for &b in data {
        match header {
            None => match dec.push(b) {
                Ok(None) => continue,
                Ok(Some(h)) => {
                    header = Some(h);
                    body.clear();
                }
                Err(e) => {
                    assert_eq!(frames.get(seen), Some(&Err(e)), "header error differs");
                    seen += 1;
                    break;
                }
            },
            Some(_) => body.push(b),
        }
        if let Some(h) = header {
            if body.len() == h.remaining_len as usize {
                header = None;
                if !finish(&h, &body, &frames, &mut seen) {
                    break;
                }
            }
        }
    }
    // Path A saw exactly the frames path B completed; where B stopped inside a
    // frame, A reported the rest as incomplete.
    assert_eq!(seen, frames.len(), "frame count");
});

/// Decodes a completed body, compares with path A's frame number `*seen`,
/// and says whether the stream goes on (false after an error).
fn finish(
    h: &FixedHeader,
    body: &[u8],
    frames: &[Result<Packet<'_>, DecodeError>],
    seen: &mut usize,
) -> bool {
    let expected = frames.get(*seen);
    *seen += 1;
    match Packet::decode(h, body) {
        Ok(p) => match expected {
            Some(Ok(q)) => {
                assert_eq!(&p, q);
                true
            }
            other => panic!("streamed {p:?}, whole {other:?}"),
        },
        Err(e) => {
            assert_eq!(expected, Some(&Err(e)), "body error differs");
            false
        }
    }
}
