use super::*;
use crate::mqtt::codec::{
    ConnAck, PingResp, PubAck, PubComp, PubRec, PubRel, Publish, SubAck, UnsubAck,
};
use std::vec::Vec;

const KA: KeepAlive = KeepAlive {
    interval: 100,
    timeout: 20,
};
type S = Session<3, 2>;

fn connected(now: u32) -> S {
    let mut s = S::new();
    s.connect_sent(now, 20);
    let r = s
        .received(
            &Packet::ConnAck(ConnAck {
                session_present: false,
                code: ConnectReturnCode::Accepted,
            }),
            now,
        )
        .unwrap();
    assert_eq!(r.complete, Some((CONNECT, Outcome::Done)));
    assert!(s.is_connected());
    s
}

fn publish(qos: QoS, id: Option<u16>) -> Packet<'static> {
    Packet::Publish(Publish {
        topic: "t",
        qos,
        packet_id: id,
        dup: false,
        retain: false,
        payload: b"x",
    })
}

#[test]
fn connack_refusal_completes_with_code_and_disconnects() {
    let mut s = S::new();
    s.connect_sent(0, 20);
    let r = s
        .received(
            &Packet::ConnAck(ConnAck {
                session_present: false,
                code: ConnectReturnCode::NotAuthorized,
            }),
            1,
        )
        .unwrap();
    assert_eq!(
        r.complete,
        Some((CONNECT, Outcome::Refused(ConnectReturnCode::NotAuthorized)))
    );
    assert!(s.is_disconnected());
}

#[test]
fn packets_before_connack_and_second_connack_are_violations() {
    let mut s = S::new();
    s.connect_sent(0, 20);
    assert_eq!(
        s.received(&Packet::PingResp(PingResp), 0),
        Err(ProtocolViolation::UnexpectedPacket)
    );
    let mut s = connected(0);
    let ack = Packet::ConnAck(ConnAck {
        session_present: false,
        code: ConnectReturnCode::Accepted,
    });
    assert_eq!(
        s.received(&ack, 0),
        Err(ProtocolViolation::UnexpectedPacket)
    );
}

#[test]
fn qos1_publish_completes_on_puback() {
    let mut s = connected(0);
    let id = s.begin(Expect::PubAck, 2).unwrap();
    assert_eq!(s.in_flight(), 1);
    assert!(s.waits(2) && !s.waits(0));
    let r = s.received(&Packet::PubAck(PubAck(id)), 1).unwrap();
    assert_eq!(r.complete, Some((2, Outcome::Done)));
    assert_eq!(s.in_flight(), 0);
    assert!(!s.waits(2));
}

#[test]
fn qos2_publish_sends_pubrel_then_completes_on_pubcomp() {
    let mut s = connected(0);
    let id = s.begin(Expect::PubRec, 1).unwrap();
    let r = s.received(&Packet::PubRec(PubRec(id)), 1).unwrap();
    assert_eq!(
        r,
        Reaction {
            complete: None,
            send: Some(Ack::PubRel(id)),
            deliver: false
        }
    );
    // A duplicate PUBREC gets PUBREL again.
    assert_eq!(
        s.received(&Packet::PubRec(PubRec(id)), 1).unwrap().send,
        Some(Ack::PubRel(id))
    );
    let r = s.received(&Packet::PubComp(PubComp(id)), 2).unwrap();
    assert_eq!(r.complete, Some((1, Outcome::Done)));
}

#[test]
fn suback_grants_or_refuses() {
    let mut s = connected(0);
    let a = s.begin(Expect::SubAck, 1).unwrap();
    let b = s.begin(Expect::SubAck, 2).unwrap();
    let r = s
        .received(
            &Packet::SubAck(SubAck {
                packet_id: a,
                return_codes: &[1],
            }),
            1,
        )
        .unwrap();
    assert_eq!(r.complete, Some((1, Outcome::Granted(QoS::AtLeastOnce))));
    let r = s
        .received(
            &Packet::SubAck(SubAck {
                packet_id: b,
                return_codes: &[0x80],
            }),
            1,
        )
        .unwrap();
    assert_eq!(r.complete, Some((2, Outcome::SubscriptionRefused)));
}

#[test]
fn mismatched_ack_type_is_a_violation_and_unknown_ids_are_ignored() {
    let mut s = connected(0);
    let id = s.begin(Expect::SubAck, 1).unwrap();
    assert_eq!(
        s.received(&Packet::PubAck(PubAck(id)), 1),
        Err(ProtocolViolation::MismatchedAck)
    );
    let r = s
        .received(&Packet::UnsubAck(UnsubAck(id.wrapping_add(7))), 1)
        .unwrap();
    assert_eq!(r, Reaction::default());
    // No packet has id 0 (a free slot's): an acknowledgement of 0 is unknown too.
    for kind in [PacketType::PubAck, PacketType::UnsubAck] {
        let ack = FromServer::Ack { kind, id: 0, code: None };
        let mut ended = false;
        assert_eq!(s.received_from_server(&ack, 1, |_, _| ended = true), Ok(Reply::default()));
        assert!(!ended, "an unknown id ends nothing");
    }
    assert!(s.waits(1) && !s.waits(0));
}

#[test]
fn in_flight_is_bounded_and_ids_are_unique_and_nonzero() {
    let mut s = connected(0);
    let ids: Vec<u16> = (0..3)
        .map(|t| s.begin(Expect::PubAck, t).unwrap())
        .collect();
    // One packet per slot: a token that is no slot (OPS is 3) gets none.
    assert!(s.begin(Expect::PubAck, 3).is_none());
    assert!(s.begin(Expect::PubAck, Token::MAX).is_none());
    assert_eq!(s.in_flight(), 3);
    assert!(ids.iter().all(|i| *i != 0));
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    s.cancel(1);
    assert!(!s.waits(1) && s.waits(0) && s.waits(2));
    assert_eq!(s.in_flight(), 2);
    let again = s.begin(Expect::PubAck, 1).unwrap();
    assert!(!ids.contains(&again) || again == ids[1]);
    // A cancelled id is unknown: its acknowledgement completes nothing.
    s.cancel(1);
    assert_eq!(s.received(&Packet::PubAck(PubAck(again)), 1).unwrap(), Reaction::default());
}

#[test]
fn an_id_not_tracked_is_not_in_flight() {
    // The agent's two steps: an id for a packet that may still fail to be
    // built, in flight only once tracked; one never tracked needs no cancel.
    let mut s = connected(0);
    let a = s.next_id(Expect::SubAck, 1).unwrap();
    assert!(!s.waits(1) && s.in_flight() == 0);
    assert_eq!(s.received(&Packet::SubAck(SubAck { packet_id: a, return_codes: &[0] }), 1).unwrap(), Reaction::default());
    let b = s.next_id(Expect::PubAck, 1).unwrap();
    assert!(b != 0 && b != a);
    s.track(1, b);
    assert!(s.waits(1) && s.in_flight() == 1);
    assert!(s.next_id(Expect::PubAck, 3).is_none(), "no slot");
    let r = s.received(&Packet::PubAck(PubAck(b)), 1).unwrap();
    assert_eq!(r.complete, Some((1, Outcome::Done)));
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn packet_ids_wrap_without_zero_or_reuse() {
    let mut s = connected(0);
    let held = s.begin(Expect::PubAck, 0).unwrap();
    for _ in 0..70_000u32 {
        let id = s.begin(Expect::PubAck, 1).unwrap();
        assert!(id != 0 && id != held);
        s.cancel(1);
    }
}

#[test]
fn abandoned_operation_consumes_its_late_answer() {
    // The caller of slot 2 gave up (the agent marks its slot, the session is
    // not told): the id stays reserved until its answer, which frees the slot
    // (the agent's tests check that it then reaches nobody).
    let mut s = connected(0);
    let id = s.begin(Expect::PubAck, 2).unwrap();
    for _ in 0..70_000u32 {
        let other = s.begin(Expect::PubAck, 0).unwrap();
        assert_ne!(other, id, "the id stays reserved until its answer");
        s.cancel(0);
    }
    assert_eq!(s.in_flight(), 1);
    let r = s.received(&Packet::PubAck(PubAck(id)), 1).unwrap();
    assert_eq!(r.complete, Some((2, Outcome::Done)));
    assert_eq!(s.in_flight(), 0);
    // Consumed: a second answer is unknown.
    assert_eq!(s.received(&Packet::PubAck(PubAck(id)), 1).unwrap(), Reaction::default());
}

#[test]
fn abandoned_connect_still_opens_the_session() {
    // The connect's caller gave up (the agent keeps that, and closes the
    // connection again): its CONNACK still opens the session.
    let mut s = S::new();
    s.connect_sent(0, 20);
    let r = s
        .received(
            &Packet::ConnAck(ConnAck {
                session_present: false,
                code: ConnectReturnCode::Accepted,
            }),
            1,
        )
        .unwrap();
    assert_eq!(r.complete, Some((CONNECT, Outcome::Done)));
    assert!(s.is_connected());
}

#[test]
fn incoming_qos_levels_are_acknowledged_and_qos2_delivered_once() {
    let mut s = connected(0);
    assert_eq!(
        s.received(&publish(QoS::AtMostOnce, None), 1).unwrap(),
        Reaction {
            deliver: true,
            ..Default::default()
        }
    );
    assert_eq!(
        s.received(&publish(QoS::AtLeastOnce, Some(3)), 1).unwrap(),
        Reaction {
            deliver: true,
            send: Some(Ack::PubAck(3)),
            complete: None
        }
    );
    let first = s.received(&publish(QoS::ExactlyOnce, Some(4)), 1).unwrap();
    assert_eq!(
        first,
        Reaction {
            deliver: true,
            send: Some(Ack::PubRec(4)),
            complete: None
        }
    );
    let dup = s.received(&publish(QoS::ExactlyOnce, Some(4)), 1).unwrap();
    assert_eq!(
        dup,
        Reaction {
            deliver: false,
            send: Some(Ack::PubRec(4)),
            complete: None
        }
    );
    assert_eq!(
        s.received(&Packet::PubRel(PubRel(4)), 1).unwrap().send,
        Some(Ack::PubComp(4))
    );
    // After PUBREL the id is new again.
    assert!(
        s.received(&publish(QoS::ExactlyOnce, Some(4)), 1)
            .unwrap()
            .deliver
    );
}

fn publish_dup(qos: QoS, id: u16) -> Packet<'static> {
    Packet::Publish(Publish {
        topic: "t",
        qos,
        packet_id: Some(id),
        dup: true,
        retain: false,
        payload: b"x",
    })
}

#[test]
fn any_number_of_unreleased_qos2_publishes_is_delivered_once_each() {
    // QOS2_IN is 2 here: 40 messages in flight at once, none dropped, none twice,
    // the connection never refused.
    let mut s = connected(0);
    for id in 1..=40u16 {
        let r = s.received(&publish(QoS::ExactlyOnce, Some(id)), 0).unwrap();
        assert_eq!(
            r,
            Reaction {
                deliver: true,
                send: Some(Ack::PubRec(id)),
                complete: None
            },
            "id {id}"
        );
    }
    // The broker re-delivers (DUP) some it has no PUBREC for yet: tracked or not, never again.
    for id in [1u16, 2, 3, 39, 40] {
        let r = s.received(&publish_dup(QoS::ExactlyOnce, id), 0).unwrap();
        assert_eq!(
            r,
            Reaction {
                deliver: false,
                send: Some(Ack::PubRec(id)),
                complete: None
            },
            "dup {id}"
        );
    }
    for id in 1..=40u16 {
        assert_eq!(
            s.received(&Packet::PubRel(PubRel(id)), 0).unwrap().send,
            Some(Ack::PubComp(id))
        );
    }
    assert!(s.is_connected());
    // Ids are fresh again after PUBREL.
    assert!(
        s.received(&publish(QoS::ExactlyOnce, Some(3)), 0)
            .unwrap()
            .deliver
    );
}

#[test]
fn a_tracked_qos2_id_resent_without_dup_is_not_delivered_again() {
    let mut s = connected(0);
    assert!(
        s.received(&publish(QoS::ExactlyOnce, Some(9)), 0)
            .unwrap()
            .deliver
    );
    assert!(
        !s.received(&publish(QoS::ExactlyOnce, Some(9)), 0)
            .unwrap()
            .deliver
    );
}

#[test]
fn dup_flag_does_not_suppress_qos1() {
    // QoS 1 is at-least-once: a re-delivery is delivered (and acknowledged).
    let mut s = connected(0);
    assert!(
        s.received(&publish_dup(QoS::AtLeastOnce, 5), 0)
            .unwrap()
            .deliver
    );
}

#[test]
fn keep_alive_pings_after_silence_and_dies_without_pingresp() {
    let mut s = connected(1000);
    assert_eq!(s.poll(1099, KA), Timer::Idle);
    assert_eq!(s.next_deadline(1050, KA), Some(50));
    assert_eq!(s.poll(1100, KA), Timer::SendPing);
    s.ping_sent(1100);
    assert_eq!(s.poll(1119, KA), Timer::Idle);
    assert_eq!(s.next_deadline(1110, KA), Some(10));
    assert_eq!(s.poll(1120, KA), Timer::Dead);
}

#[test]
fn pingresp_clears_the_ping_and_sending_postpones_it() {
    let mut s = connected(0);
    s.sent(90);
    assert_eq!(s.poll(150, KA), Timer::Idle);
    s.ping_sent(190);
    s.received(&Packet::PingResp(PingResp), 195).unwrap();
    assert_eq!(s.poll(250, KA), Timer::Idle);
    assert_eq!(s.poll(290, KA), Timer::SendPing);
}

#[test]
fn keep_alive_survives_tick_wraparound() {
    let start = u32::MAX - 10;
    let s = connected(start);
    assert_eq!(s.poll(start.wrapping_add(99), KA), Timer::Idle);
    assert_eq!(s.poll(start.wrapping_add(100), KA), Timer::SendPing);
}

#[test]
fn missing_connack_is_dead_after_the_callers_time_not_the_keep_alive_timeout() {
    let mut s = S::new();
    s.connect_sent(50, 20);
    assert_eq!(s.poll(69, KA), Timer::Idle);
    assert_eq!(s.poll(70, KA), Timer::Dead);
    // A caller allowing 500 ticks gets a CONNACK that takes 300 (KA.timeout is 20).
    let mut s = S::new();
    s.connect_sent(1000, 500);
    assert_eq!(s.next_deadline(1000, KA), Some(500));
    assert_eq!(s.poll(1300, KA), Timer::Idle);
    let r = s
        .received(
            &Packet::ConnAck(ConnAck {
                session_present: false,
                code: ConnectReturnCode::Accepted,
            }),
            1300,
        )
        .unwrap();
    assert_eq!(r.complete, Some((CONNECT, Outcome::Done)));
    assert_ne!(
        s.poll(1501, KA),
        Timer::Dead,
        "connected: only keep-alive timing applies now"
    );
}

#[test]
fn dropping_the_connection_returns_every_waiter_once() {
    // Before the drop, `waits` names each slot with a packet in flight (the
    // agent fails those, and the connect, whose slot it keeps); after it, none.
    let waiting = |s: &S| -> Vec<usize> { (0..4).filter(|&t| s.waits(t)).collect() };
    let mut s = S::new();
    s.connect_sent(0, 20);
    assert_eq!(waiting(&s), Vec::<usize>::new());
    s.drop_connection();
    assert!(s.is_disconnected());
    let mut s = connected(0);
    let a = s.begin(Expect::PubAck, 0).unwrap();
    s.begin(Expect::SubAck, 2).unwrap();
    assert_eq!(waiting(&s), vec![0, 2]);
    s.drop_connection();
    assert!(s.is_disconnected());
    assert_eq!(s.in_flight(), 0);
    assert_eq!(waiting(&s), Vec::<usize>::new());
    s.drop_connection();
    assert_eq!(waiting(&s), Vec::<usize>::new());
    // Nothing completes afterwards: not before a CONNACK, nor after it.
    assert_eq!(s.received(&Packet::PubAck(PubAck(a)), 1), Err(ProtocolViolation::UnexpectedPacket));
    s.connect_sent(1, 20);
    let accepted = Packet::ConnAck(ConnAck { session_present: false, code: ConnectReturnCode::Accepted });
    assert_eq!(s.received(&accepted, 1).unwrap().complete, Some((CONNECT, Outcome::Done)));
    assert_eq!(s.received(&Packet::PubAck(PubAck(a)), 1).unwrap(), Reaction::default());
}

#[test]
fn packet_id_zero_is_a_violation() {
    let mut s = connected(0);
    assert_eq!(
        s.received_publish(QoS::AtLeastOnce, 0, false),
        Err(ProtocolViolation::UnexpectedPacket)
    );
    assert_eq!(
        s.received_publish(QoS::ExactlyOnce, 0, true),
        Err(ProtocolViolation::UnexpectedPacket)
    );
    assert!(
        s.received_publish(QoS::AtMostOnce, 0, false)
            .unwrap()
            .deliver
    );
}

#[test]
fn the_connection_states_from_opening_to_closed() {
    let accepted = Packet::ConnAck(ConnAck { session_present: false, code: ConnectReturnCode::Accepted });
    let refused = Packet::ConnAck(ConnAck { session_present: false, code: ConnectReturnCode::NotAuthorized });
    let mut s = S::new();
    assert!(s.is_closed() && s.is_disconnected() && !s.is_open() && !s.is_opening());
    // A connect submitted at 100 allowing 50 ticks: opening, not timed, nothing received.
    s.opening(100, 50);
    assert!(s.is_opening() && s.is_disconnected() && !s.is_closed() && !s.is_open());
    assert_eq!(s.next_deadline(120, KA), None);
    assert_eq!(s.poll(500, KA), Timer::Idle);
    assert_eq!(s.received(&accepted, 120), Err(ProtocolViolation::UnexpectedPacket));
    // Opened at 130: the CONNACK may take the 20 ticks left, and 2 more.
    s.opened(130);
    assert!(s.is_open() && !s.is_opening() && !s.is_disconnected() && !s.is_connected());
    assert_eq!(s.next_deadline(130, KA), Some(22));
    assert_eq!(s.poll(151, KA), Timer::Idle);
    assert_eq!(s.poll(152, KA), Timer::Dead);
    // Opened after the caller's time: two ticks.
    let mut s = S::new();
    s.opening(100, 50);
    s.opened(400);
    assert_eq!(s.next_deadline(400, KA), Some(2));
    // A refusal leaves the connection open without a session, until dropped.
    let mut s = S::new();
    s.opening(0, 10);
    s.opened(1);
    assert_eq!(s.received(&refused, 2).unwrap().complete, Some((CONNECT, Outcome::Refused(ConnectReturnCode::NotAuthorized))));
    assert!(s.is_open() && s.is_disconnected() && !s.is_closed());
    assert_eq!(s.next_deadline(2, KA), None);
    assert_eq!(s.received(&accepted, 2), Err(ProtocolViolation::UnexpectedPacket));
    s.drop_connection();
    assert!(s.is_closed() && !s.is_open());
    // Opened for no CONNECT (its client is being deleted): open, untimed.
    s.opening(0, 10);
    s.opened_closing();
    assert!(s.is_open() && s.is_disconnected() && !s.is_opening());
    assert_eq!(s.next_deadline(5, KA), None);
    s.drop_connection();
    assert!(s.is_closed());
    // Accepted: connected, timed by the keep-alive.
    s.opening(0, 10);
    s.opened(0);
    assert_eq!(s.received(&accepted, 1).unwrap().complete, Some((CONNECT, Outcome::Done)));
    assert!(s.is_open() && s.is_connected());
}

#[test]
fn acknowledgements_end_their_operation_through_complete_once() {
    // The agent's path: the session ends an acknowledged operation itself,
    // through `complete`, and replies only with what else to do.
    let mut s = connected(0);
    let pub1 = s.begin(Expect::PubAck, 0).unwrap();
    let pub2 = s.begin(Expect::PubRec, 1).unwrap();
    let sub = s.begin(Expect::SubAck, 2).unwrap();
    let mut ended = Vec::new();
    let mut rx = |s: &mut S, kind, id, code| {
        let mut got = Vec::new();
        let r = s.received_from_server(&FromServer::Ack { kind, id, code }, 1, |t, o| got.push((t, o)));
        ended.extend_from_slice(&got);
        (r, got.len())
    };
    assert_eq!(rx(&mut s, PacketType::PubAck, pub1, None), (Ok(Reply::default()), 1));
    assert!(!s.waits(0) && s.waits(1) && s.waits(2));
    // PUBREC: PUBREL goes out, nothing ends; PUBCOMP ends it.
    let rel = Reply { send: Some(Ack::PubRel(pub2)), ..Reply::default() };
    assert_eq!(rx(&mut s, PacketType::PubRec, pub2, None), (Ok(rel), 0));
    assert_eq!(rx(&mut s, PacketType::PubRec, pub2, None), (Ok(rel), 0));
    assert!(s.waits(1));
    assert_eq!(rx(&mut s, PacketType::PubComp, pub2, None), (Ok(Reply::default()), 1));
    assert_eq!(rx(&mut s, PacketType::SubAck, sub, Some(SubAckCode::Failure)), (Ok(Reply::default()), 1));
    // Late duplicates end nothing again.
    assert_eq!(rx(&mut s, PacketType::PubAck, pub1, None), (Ok(Reply::default()), 0));
    assert_eq!(rx(&mut s, PacketType::PubComp, pub2, None), (Ok(Reply::default()), 0));
    assert_eq!(ended, [(0, Outcome::Done), (1, Outcome::Done), (2, Outcome::SubscriptionRefused)]);
    assert_eq!(s.in_flight(), 0);
    // A CONNACK's outcome is the reply's (the agent keeps the connect's slot).
    let mut s = S::new();
    s.connect_sent(0, 20);
    let ack = FromServer::ConnAck(ConnAck { session_present: false, code: ConnectReturnCode::BadUserNameOrPassword });
    let r = s.received_from_server(&ack, 1, |_, _| panic!("a CONNACK ends no slot"));
    assert_eq!(r, Ok(Reply { connack: Some(ConnectReturnCode::BadUserNameOrPassword), ..Reply::default() }));
}

/// [`Session::received_small`]'s errors, told apart as the agent's close reasons are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    Malformed(DecodeError),
    Protocol(ProtocolViolation),
}

impl From<DecodeError> for Refused {
    fn from(e: DecodeError) -> Self {
        Refused::Malformed(e)
    }
}

impl From<ProtocolViolation> for Refused {
    fn from(v: ProtocolViolation) -> Self {
        Refused::Protocol(v)
    }
}

/// A session's parts in any state: ids in flight (0: none), waiting for
/// anything, received QoS 2 ids tracked, a PINGREQ out or not.
type Parts = (State, [u16; 3], [Expect; 3], [u16; 2], Option<u32>);

fn any_session() -> impl Strategy<Value = Parts> {
    let id = || prop_oneof![0u16..4, Just(0x0100), any::<u16>()];
    let expect = prop_oneof![
        Just(Expect::PubAck),
        Just(Expect::PubRec),
        Just(Expect::PubComp),
        Just(Expect::SubAck),
        Just(Expect::UnsubAck)
    ];
    let state = prop_oneof![
        1 => Just(State::Closed),
        1 => Just(State::Opening { start: 0, timeout: 10 }),
        1 => Just(State::Open),
        2 => Just(State::AwaitingConnAck { since: 0, allowed: 10 }),
        5 => Just(State::Connected),
    ];
    (
        state,
        proptest::array::uniform3(id()),
        proptest::array::uniform3(expect),
        proptest::array::uniform2(id()),
        proptest::option::of(any::<u32>()),
    )
}

/// Ids once each (a session never holds one twice: in flight, or tracked).
fn unique<const N: usize>(mut ids: [u16; N]) -> [u16; N] {
    for i in 1..N {
        if ids[..i].contains(&ids[i]) {
            ids[i] = 0;
        }
    }
    ids
}

fn session((state, in_flight, expect, inbound_qos2, ping_sent): Parts) -> S {
    let (in_flight, inbound_qos2) = (unique(in_flight), unique(inbound_qos2));
    let mut s = S::new();
    s.state = state;
    s.in_flight = in_flight;
    s.expect = expect;
    s.inbound_qos2 = inbound_qos2;
    s.ping_sent = ping_sent;
    s
}

/// The same session again (`Session` is not `Clone`: the agent never copies one).
fn copy(s: &S) -> S {
    let mut c = S::new();
    c.state = s.state;
    c.last_sent = s.last_sent;
    c.ping_sent = s.ping_sent;
    c.next_packet_id = s.next_packet_id;
    c.in_flight = s.in_flight;
    c.expect = s.expect;
    c.inbound_qos2 = s.inbound_qos2;
    c
}

fn same(a: &S, b: &S) -> bool {
    a.state == b.state
        && a.last_sent == b.last_sent
        && a.ping_sent == b.ping_sent
        && a.next_packet_id == b.next_packet_id
        && a.in_flight == b.in_flight
        && a.expect == b.expect
        && a.inbound_qos2 == b.inbound_qos2
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// The agent's path for a packet other than PUBLISH (its body checked and
    /// answered in one match) answers exactly as the client codec's
    /// `decode_body` followed by `received_from_server`: the same reply or
    /// error (malformed, or out of place), the same operation ended, the
    /// same session after.
    #[test]
    fn received_small_is_decode_body_then_received_from_server(
        parts in any_session(),
        kind in prop_oneof![1u8..=14, prop::sample::select(vec![2u8, 4, 5, 6, 7, 9, 11, 13])],
        body in prop_oneof![
            proptest::collection::vec(prop_oneof![0u8..4, Just(0x80u8), any::<u8>()], 0..6),
            // An id that may be in flight or tracked, then maybe return codes.
            (prop_oneof![0u16..4, Just(0x0100)], proptest::collection::vec(prop_oneof![0u8..3, Just(0x80u8), any::<u8>()], 0..3))
                .prop_map(|(id, tail)| [&id.to_be_bytes()[..], &tail].concat()),
        ],
    ) {
        let kind = PacketType::try_from(kind).unwrap();
        let header = crate::mqtt::codec::FixedHeader {
            packet_type: kind,
            flags: kind.required_flags().unwrap_or(0),
            remaining_len: body.len() as u32,
        };
        let s = session(parts);
        let mut old = copy(&s);
        let mut old_ended = Vec::new();
        let want = crate::mqtt::codec::client::decode_body(&header, &body)
            .map_err(Refused::Malformed)
            .and_then(|p| {
                old.received_from_server(&p, 7, |t, o| old_ended.push((t, o))).map_err(Refused::Protocol)
            });
        let mut new = copy(&s);
        let mut new_ended = Vec::new();
        let got = new.received_small::<Refused>(kind, &body, |t, o| new_ended.push((t, o)));
        prop_assert_eq!(got, want);
        prop_assert_eq!(new_ended, old_ended);
        prop_assert!(same(&new, &old));
    }
}
