//! The agent core's behaviour table: one test per rule of the AFR contract and
//! per defect fixed, on the host, with a fake clock and scripted broker bytes.

use super::testkit::*;
use super::*;
use std::vec::Vec;

const CONNACK_OK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
const PINGRESP: [u8; 2] = [0xD0, 0x00];

fn puback(id: u16) -> [u8; 4] {
    let b = id.to_be_bytes();
    [0x40, 0x02, b[0], b[1]]
}

fn publish_cmd(qos: QoS) -> Command<'static, Open, Cb> {
    Command::Publish {
        topic: b"a/b",
        payload: b"hi",
        qos,
        retain: false,
    }
}

// ---------------------------------------------------------------- connect

#[test]
fn connect_opens_then_sends_connect_and_completes_on_connack() {
    let mut r = Rig::new();
    let c = r.create();
    let slot = r.submit(c, connect_command(Some(1), 500)).unwrap();
    r.run();
    assert_eq!(r.did, vec![Did::Open(c, "broker")]);
    r.core.opened(c, r.now);
    r.run();
    assert_eq!(
        r.sent(c)[0][0],
        0x10,
        "CONNECT goes out once the connection is open"
    );
    assert_eq!(r.completed(c, slot), 0);
    r.broker(c, &CONNACK_OK);
    assert_eq!(r.completed(c, slot), 1);
    assert_eq!(r.core.collect(c, slot, &mut r.pool), Some(Ok(())));
    r.assert_buffers_home();
}

#[test]
fn connect_when_connected_fails_at_once() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let slot = r.submit(c, connect_command(None, 500)).unwrap();
    r.run();
    assert_eq!(
        r.core.collect(c, slot, &mut r.pool),
        Some(Err(Failure::NotConnected))
    );
}

#[test]
fn open_failure_fails_the_connect_and_returns_its_packet() {
    let mut r = Rig::new();
    let c = r.create();
    let slot = r.submit(c, connect_command(None, 500)).unwrap();
    r.run();
    r.core.open_failed(c, &mut r.pool);
    r.run();
    assert_eq!(r.completed(c, slot), 1);
    assert_eq!(
        r.core.collect(c, slot, &mut r.pool),
        Some(Err(Failure::OpenFailed))
    );
    r.assert_buffers_home();
}

#[test]
fn refused_connack_fails_the_connect_closes_without_a_disconnect_event() {
    let mut r = Rig::new();
    let c = r.create();
    let slot = r.submit(c, connect_command(Some(1), 500)).unwrap();
    r.run();
    r.core.opened(c, r.now);
    r.run();
    r.broker(c, &[0x20, 0x02, 0x00, 0x05]);
    assert_eq!(
        r.core.collect(c, slot, &mut r.pool),
        Some(Err(Failure::Refused(ConnectReturnCode::NotAuthorized)))
    );
    assert!(r
        .did
        .iter()
        .any(|d| matches!(d, Did::Closed(_, CloseReason::Refused(_), false))));
    assert!(
        !r.did.iter().any(|d| matches!(d, Did::Disconnected(..))),
        "a refused connect was never connected"
    );
    r.assert_buffers_home();
}

#[test]
fn connack_wait_is_the_callers_time_not_the_keep_alive_timeout() {
    // Issue #12: a TLS handshake took seconds on the device; the CONNACK must
    // have what is left of the connect call's time (+2 ticks), whatever the
    // keep-alive timeout (20 ticks here).
    let mut r = Rig::new();
    let c = r.create();
    let slot = r.submit(c, connect_command(None, 3000)).unwrap(); // start 1000
    r.run();
    r.now = 2000; // 1000 ticks of opening (TCP, TLS)
    r.core.opened(c, r.now);
    r.run();
    r.advance(1000); // 2000 of 3000 used: far beyond the keep-alive timeout
    assert_eq!(r.completed(c, slot), 0);
    r.broker(c, &CONNACK_OK);
    assert_eq!(r.core.collect(c, slot, &mut r.pool), Some(Ok(())));
}

#[test]
fn no_connack_in_the_callers_time_fails_the_connect() {
    let mut r = Rig::new();
    let c = r.create();
    let slot = r.submit(c, connect_command(Some(1), 300)).unwrap();
    r.run();
    r.core.opened(c, r.now);
    r.run();
    r.advance(301);
    assert_eq!(
        r.completed(c, slot),
        0,
        "the caller's own timeout comes first (+2 ticks)"
    );
    r.advance(2);
    assert_eq!(
        r.core.collect(c, slot, &mut r.pool),
        Some(Err(Failure::Closed(CloseReason::ConnAckTimeout)))
    );
    assert!(!r.did.iter().any(|d| matches!(d, Did::Disconnected(..))));
    r.assert_buffers_home();
}

#[test]
fn late_connack_after_the_caller_gave_up_disconnects_again() {
    let mut r = Rig::new();
    let c = r.create();
    let slot = r.submit(c, connect_command(Some(1), 300)).unwrap();
    r.run();
    r.core.opened(c, r.now);
    r.run();
    assert_eq!(
        r.core.collect(c, slot, &mut r.pool),
        None,
        "timed out: abandoned"
    );
    r.did.clear();
    r.broker(c, &CONNACK_OK);
    assert_eq!(r.sent(c), vec![vec![0xE0, 0x00]]);
    assert!(r
        .did
        .contains(&Did::Closed(c, CloseReason::LateConnAck, true)));
    assert_eq!(r.completed(c, slot), 0, "nobody waits for it");
    assert!(!r.did.iter().any(|d| matches!(d, Did::Disconnected(..))));
    r.assert_buffers_home();
}

#[test]
fn connect_withdrawn_before_the_platform_opened_it() {
    let mut r = Rig::new();
    let c = r.create();
    let slot = r.submit(c, connect_command(None, 10)).unwrap();
    // The caller times out before the task polled.
    assert_eq!(r.core.collect(c, slot, &mut r.pool), None);
    r.run();
    assert!(r.did.is_empty(), "no Open for a withdrawn connect");
    r.assert_buffers_home();
    let again = r.submit(c, connect_command(None, 10)).unwrap();
    r.run();
    assert_eq!(
        r.did,
        vec![Did::Open(c, "broker")],
        "the client can connect again"
    );
    let _ = again;
}

// --------------------------------------------------------------- publish

#[test]
fn qos1_publish_gets_a_packet_id_from_the_core_and_completes_on_puback() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let slot = r.submit(c, publish_cmd(QoS::AtLeastOnce)).unwrap();
    r.run();
    let sent = r.sent(c);
    assert_eq!(sent.len(), 1);
    let id = sent_id(&sent[0]);
    assert_ne!(id, 0);
    assert_eq!(r.completed(c, slot), 0);
    r.broker(c, &puback(id));
    assert_eq!(r.core.collect(c, slot, &mut r.pool), Some(Ok(())));
    r.assert_buffers_home();
}

#[test]
fn an_answer_before_its_packet_went_out_does_not_free_the_slot_over_the_packet() {
    // A hostile broker acknowledges a publish that still waits to be sent: the
    // operation completes, but its slot keeps the packet until it is handed
    // out, so the next command takes another slot and no buffer is lost.
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let first = r.submit(c, publish_cmd(QoS::AtLeastOnce)).unwrap();
    // The first id of a connection is 1 (asserted below, from the wire).
    r.wires[c].incoming.extend(puback(1));
    assert_eq!(r.core.received(c, &mut r.wires[c], r.now, &mut r.pool), RxStatus::Idle);
    assert_eq!(r.core.collect(c, first, &mut r.pool), Some(Ok(())));
    let second = r.submit(c, publish_cmd(QoS::AtMostOnce)).unwrap();
    assert_ne!(second, first, "the slot still holds its unsent packet");
    r.run();
    let sent = r.sent(c);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent_id(&sent[0]), 1);
    assert_eq!(r.core.collect(c, second, &mut r.pool), Some(Ok(())));
    r.assert_buffers_home();
}

#[test]
fn packet_ids_in_flight_are_distinct_and_never_zero() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    for _ in 0..OPS {
        r.submit(c, publish_cmd(QoS::AtLeastOnce)).unwrap();
    }
    r.run();
    let mut ids: Vec<u16> = r.sent(c).iter().map(|p| sent_id(p)).collect();
    assert!(ids.iter().all(|i| *i != 0));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), OPS);
}

#[test]
fn all_slots_busy_is_refused_for_a_retry() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    for _ in 0..OPS {
        r.submit(c, publish_cmd(QoS::AtLeastOnce)).unwrap();
    }
    assert_eq!(
        r.submit(c, publish_cmd(QoS::AtLeastOnce)),
        Err(Refused::Busy)
    );
}

#[test]
fn qos0_publish_completes_once_sent() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let slot = r.submit(c, publish_cmd(QoS::AtMostOnce)).unwrap();
    r.run();
    assert_eq!(r.completed(c, slot), 1);
    assert_eq!(r.core.collect(c, slot, &mut r.pool), Some(Ok(())));
    r.assert_buffers_home();
}

#[test]
fn publish_when_not_connected_fails() {
    let mut r = Rig::new();
    let c = r.create();
    let slot = r.submit(c, publish_cmd(QoS::AtLeastOnce)).unwrap();
    r.run();
    assert_eq!(
        r.core.collect(c, slot, &mut r.pool),
        Some(Err(Failure::NotConnected))
    );
}

#[test]
fn a_packet_larger_than_any_buffer_fails_and_an_empty_pool_is_a_retry() {
    let mut r = Rig::with_pool(0);
    let c = r.create();
    assert_eq!(
        r.submit(c, connect_command(None, 10)),
        Err(Refused::NoBufferNow),
        "no buffer now: the caller retries within its time"
    );
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let big = [0u8; BUF];
    let slot = r
        .submit(
            c,
            Command::Publish {
                topic: b"t",
                payload: &big,
                qos: QoS::AtLeastOnce,
                retain: false,
            },
        )
        .unwrap();
    r.run();
    assert_eq!(
        r.core.collect(c, slot, &mut r.pool),
        Some(Err(Failure::NoBuffer))
    );
}

#[test]
fn late_puback_after_a_timeout_frees_the_slot_and_reaches_nobody() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let slot = r.submit(c, publish_cmd(QoS::AtLeastOnce)).unwrap();
    r.run();
    let id = sent_id(&r.sent(c)[0]);
    assert_eq!(r.core.collect(c, slot, &mut r.pool), None);
    r.did.clear();
    r.broker(c, &puback(id));
    assert_eq!(r.completed(c, slot), 0);
    // The slot is free again: OPS new operations fit.
    for _ in 0..OPS {
        r.submit(c, publish_cmd(QoS::AtMostOnce)).unwrap();
    }
}

#[test]
fn qos2_publish_sends_pubrel_on_pubrec_and_completes_on_pubcomp() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let slot = r.submit(c, publish_cmd(QoS::ExactlyOnce)).unwrap();
    r.run();
    let id = sent_id(&r.sent(c)[0]);
    let b = id.to_be_bytes();
    r.did.clear();
    r.broker(c, &[0x50, 0x02, b[0], b[1]]);
    assert_eq!(r.sent(c), vec![vec![0x62, 0x02, b[0], b[1]]]);
    assert_eq!(r.completed(c, slot), 0);
    r.broker(c, &[0x70, 0x02, b[0], b[1]]);
    assert_eq!(r.core.collect(c, slot, &mut r.pool), Some(Ok(())));
}

#[test]
fn an_ack_of_the_wrong_kind_is_a_protocol_violation() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let slot = r.submit(c, publish_cmd(QoS::AtLeastOnce)).unwrap();
    r.run();
    let b = sent_id(&r.sent(c)[0]).to_be_bytes();
    r.broker(c, &[0x70, 0x02, b[0], b[1]]); // PUBCOMP for a QoS 1 publish
    assert!(r.did.contains(&Did::Closed(
        c,
        CloseReason::Protocol(ProtocolViolation::MismatchedAck),
        false
    )));
    assert_eq!(
        r.core.collect(c, slot, &mut r.pool),
        Some(Err(Failure::Closed(CloseReason::Protocol(
            ProtocolViolation::MismatchedAck
        ))))
    );
}

// ------------------------------------------------------- connection loss

#[test]
fn a_lost_connection_fails_every_waiter_and_tells_the_application_once() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let a = r.submit(c, publish_cmd(QoS::AtLeastOnce)).unwrap();
    let b = r.submit(c, publish_cmd(QoS::AtLeastOnce)).unwrap();
    r.run();
    r.wires[c].fail = true;
    r.pump(c);
    r.pump(c);
    assert_eq!(
        r.did
            .iter()
            .filter(|d| matches!(d, Did::Disconnected(..)))
            .count(),
        1
    );
    assert!(r
        .did
        .contains(&Did::Closed(c, CloseReason::ReadFailed, false)));
    for slot in [a, b] {
        assert_eq!(r.completed(c, slot), 1);
        assert_eq!(
            r.core.collect(c, slot, &mut r.pool),
            Some(Err(Failure::Closed(CloseReason::ReadFailed)))
        );
    }
    r.assert_buffers_home();
}

#[test]
fn disconnect_sends_disconnect_then_closes_without_an_event() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let slot = r.submit(c, Command::Disconnect).unwrap();
    r.run();
    assert_eq!(r.did[0], Did::Sent(c, vec![0xE0, 0x00]));
    assert_eq!(r.did[1], Did::Closed(c, CloseReason::Requested, true));
    assert_eq!(r.core.collect(c, slot, &mut r.pool), Some(Ok(())));
    assert!(!r.did.iter().any(|d| matches!(d, Did::Disconnected(..))));
}

/// The platform reports a send at its next pass, after the actions of the
/// batch it was in: a failed DISCONNECT of the closed connection must not end
/// the connect the application submitted meanwhile (it did: the connect failed
/// with `SendFailed`, its CONNECT buffer went back and its open request was
/// overwritten in its slot).
#[test]
fn a_send_failure_reported_after_the_close_does_not_touch_the_next_connect() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    r.submit(c, Command::Disconnect).unwrap();
    // The task takes the batch: DISCONNECT, then the close; the report of the
    // send waits for its next pass.
    assert!(matches!(r.core.poll(&mut r.pool), Some(Next { action: Action::Send { out: Out::Small { word, .. }, complete: None }, .. }) if word.to_le_bytes()[0] == 0xE0));
    assert!(matches!(r.core.poll(&mut r.pool), Some(Next { action: Action::Close { close: (CloseReason::Requested, _) }, .. })));
    while r.core.poll(&mut r.pool).is_some() {}
    // The application connects again before that pass.
    let slot = r.submit(c, connect_command(Some(1), 500)).unwrap();
    // The next pass: the old connection's send had failed.
    r.core.sent(c, None, false, r.now, &mut r.pool);
    r.run();
    assert_eq!(r.did, vec![Did::Open(c, "broker")], "the connect goes on: no completion, no close");
    r.core.opened(c, r.now);
    r.run();
    assert_eq!(r.sent(c).last().map(|p| p[0]), Some(0x10), "its CONNECT goes out");
    r.broker(c, &CONNACK_OK);
    assert_eq!(r.core.collect(c, slot, &mut r.pool), Some(Ok(())));
    assert!(!r.did.iter().any(|d| matches!(d, Did::Disconnected(..))));
    r.assert_buffers_home();
}

#[test]
fn disconnect_when_not_connected_fails() {
    let mut r = Rig::new();
    let c = r.create();
    let slot = r.submit(c, Command::Disconnect).unwrap();
    r.run();
    assert_eq!(
        r.core.collect(c, slot, &mut r.pool),
        Some(Err(Failure::NotConnected))
    );
}

#[test]
fn delete_frees_the_client_and_its_handle_goes_stale() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let (i, g) = *r.handles.last().unwrap();
    let slot = r.submit(c, Command::Delete).unwrap();
    assert!(
        !r.core.live(i, g),
        "no new operations on a client being deleted"
    );
    r.run();
    assert_eq!(r.core.collect(c, slot, &mut r.pool), Some(Ok(())));
    assert!(!r.core.live(i, g));
    let (i2, g2) = r.core.create().unwrap();
    assert_eq!(i2, i, "the slot is reused");
    assert_ne!(g2, g, "with a new generation");
}

/// Another task deletes the client while its connect's connection is being
/// opened by the platform (without the lock): the client must not come back
/// to life when the open finishes, nor hand its connection to the next client
/// created in its slot.
#[test]
fn a_client_deleted_while_its_connection_opens_is_not_revived_by_the_open() {
    let mut r = Rig::new();
    let c = r.create();
    let _other = r.create(); // Every client in use: `create` finds only a freed one.
    let connect = r.submit(c, connect_command(Some(1), 500)).unwrap();
    r.run();
    assert_eq!(r.did, vec![Did::Open(c, "broker")]);
    let delete = r.submit(c, Command::Delete).unwrap();
    r.run();
    assert_eq!(r.core.peek(c, delete), None, "not done while its connection opens");
    assert!(r.core.create().is_none());
    // The platform's open finishes after the delete.
    r.core.opened(c, r.now);
    r.run();
    assert!(!r.sent(c).iter().any(|p| p[0] == 0x10), "no CONNECT for a deleted client");
    assert!(r.did.contains(&Did::Closed(c, CloseReason::Requested, true)), "its connection is closed");
    assert_eq!(
        r.core.collect(c, connect, &mut r.pool),
        Some(Err(Failure::Closed(CloseReason::Requested)))
    );
    assert_eq!(r.core.collect(c, delete, &mut r.pool), Some(Ok(())));
    // The slot is free: a new client there starts with no connection.
    let (i, g) = r.core.create().expect("freed");
    assert_eq!(i, c);
    r.handles.push((i, g));
    assert!(r.core.is_closed(i));
    r.assert_buffers_home();
}

/// A connect withdrawn by its caller before the platform was asked to open it
/// leaves no connection: a delete submitted meanwhile is done then (it waited
/// for the open's end, which never comes).
#[test]
fn a_delete_waiting_for_an_open_is_done_when_the_connect_is_withdrawn() {
    let mut r = Rig::new();
    let c = r.create();
    let connect = r.submit(c, connect_command(Some(1), 500)).unwrap();
    let delete = r.submit(c, Command::Delete).unwrap();
    assert_eq!(r.core.collect(c, connect, &mut r.pool), None, "withdrawn");
    r.run();
    assert!(!r.did.iter().any(|d| matches!(d, Did::Open(..))), "nothing to open");
    assert_eq!(r.completed(c, delete), 1);
    assert_eq!(r.core.collect(c, delete, &mut r.pool), Some(Ok(())));
    r.assert_buffers_home();
}

/// MQTT_AGENT_Delete waits without a limit, yet the core's rule holds for any
/// caller: one who gives up waiting does not stop the delete, and the client
/// is freed once its connection is closed.
#[test]
fn a_delete_whose_caller_gave_up_still_frees_the_client_after_the_close() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let (i, g) = *r.handles.last().unwrap();
    let _other = r.create(); // Every client in use: `create` finds only a freed one.
    let slot = r.submit(c, Command::Delete).unwrap();
    assert_eq!(r.core.collect(c, slot, &mut r.pool), None, "not done before the close");
    assert!(r.core.create().is_none(), "not free before its connection is closed");
    r.run();
    assert_eq!(r.did[0], Did::Sent(c, vec![0xE0, 0x00]));
    assert_eq!(r.did[1], Did::Closed(c, CloseReason::Requested, true));
    assert!(!r.core.live(i, g));
    let (i2, g2) = r.core.create().expect("freed after the close");
    assert_eq!((i2, g2 != g), (i, true));
    assert!(r.core.is_closed(i2));
    assert_eq!(r.completed(c, slot), 0, "nobody waits: no completion");
    r.assert_buffers_home();
}

// ------------------------------------------------------------- keep-alive

#[test]
fn pingreq_after_the_interval_and_no_pingresp_drops_the_connection() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    r.advance(KEEP_ALIVE.interval);
    assert_eq!(r.sent(c), vec![vec![0xC0, 0x00]]);
    r.did.clear();
    r.broker(c, &PINGRESP);
    r.advance(KEEP_ALIVE.interval);
    assert_eq!(
        r.sent(c),
        vec![vec![0xC0, 0x00]],
        "answered: the next interval pings again"
    );
    r.did.clear();
    r.advance(KEEP_ALIVE.timeout);
    assert!(r
        .did
        .contains(&Did::Closed(c, CloseReason::KeepAliveTimeout, false)));
    assert!(r.did.contains(&Did::Disconnected(c, 9)));
}

#[test]
fn next_deadline_is_the_earliest_of_the_connections() {
    let mut r = Rig::new();
    let a = r.create();
    let b = r.create();
    assert_eq!(r.core.next_deadline(r.now), None);
    r.connect(a);
    r.advance(30);
    r.connect(b);
    assert_eq!(r.core.next_deadline(r.now), Some(KEEP_ALIVE.interval - 30));
    assert_eq!(r.tick(r.now), Some(KEEP_ALIVE.interval - 30), "tick gives the same");
}

#[test]
fn the_deadline_from_tick_is_that_after_the_due_work() {
    // A connection being closed is not timed: the work due closes it before
    // the task sleeps, and the deadline is then the others'.
    let mut r = Rig::new();
    let a = r.create();
    let b = r.create();
    r.connect(b);
    r.advance(30);
    r.connect(a);
    r.submit(b, Command::Disconnect).unwrap();
    assert_eq!(r.core.next_deadline(r.now), Some(KEEP_ALIVE.interval - 30));
    assert_eq!(r.tick(r.now), Some(KEEP_ALIVE.interval));
    r.run();
    assert_eq!(r.core.next_deadline(r.now), Some(KEEP_ALIVE.interval));
    // A PINGREQ sent by tick: the deadline is its PINGRESP's.
    r.now = r.now.wrapping_add(KEEP_ALIVE.interval);
    assert_eq!(r.tick(r.now), Some(KEEP_ALIVE.timeout));
}

// ----------------------------------------------------------------- receive

#[test]
fn headers_are_read_whole_not_a_byte_per_read() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    r.wires[c].asked.clear();
    r.broker(c, &publish("a/b", b"x", 0, 0, false));
    assert_eq!(
        r.wires[c].asked[0], 2,
        "type and one-byte length in one read"
    );
    assert_eq!(r.wires[c].asked[1], 6, "then the body in one read");
}

#[test]
fn a_long_remaining_length_is_read_as_needed() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    // 200-byte publish: two length bytes; no buffer that large, so it is dropped (and acknowledged).
    let p = publish("t", &[7u8; 200], 1, 5, false);
    r.broker(c, &p);
    assert_eq!(
        r.sent(c),
        vec![puback(5).to_vec()],
        "dropped but acknowledged"
    );
    assert!(!r.did.iter().any(|d| matches!(d, Did::Delivered(..))));
    r.assert_buffers_home();
}

#[test]
fn a_publish_without_a_free_buffer_is_dropped_and_still_acknowledged() {
    let mut r = Rig::with_pool(1);
    let c = r.create();
    // connect uses and returns the pool's only buffer; then the application holds it.
    r.connect(c);
    let held = r.pool.take(1).unwrap();
    r.broker(c, &publish("a/b", b"x", 1, 3, false));
    assert_eq!(r.sent(c), vec![puback(3).to_vec()]);
    assert!(!r.did.iter().any(|d| matches!(d, Did::Delivered(..))));
    assert!(r.did.contains(&Did::Dropped(c, 8)), "the drop is reported for the log");
    r.pool.give(held);
    r.assert_buffers_home();
}

#[test]
fn a_dropped_publish_keeps_its_packet_id_across_discarded_chunks() {
    // The topic is long enough that the id straddles the first two discarded
    // chunks (offsets 31 and 32 of the body): the acknowledgement still carries it.
    let mut r = Rig::with_pool(1);
    let c = r.create();
    r.connect(c);
    let held = r.pool.take(1).unwrap();
    let topic = format!("a/{}", "x".repeat(27));
    let packet = publish(&topic, &[7; 40], 2, 0x1234, false);
    r.broker(c, &packet);
    assert_eq!(r.sent(c), vec![vec![0x50, 0x02, 0x12, 0x34]]);
    assert!(!r.did.iter().any(|d| matches!(d, Did::Delivered(..))));
    assert!(r.did.contains(&Did::Dropped(c, 2 + 29 + 2 + 40)));
    // The next packet is read from its header on.
    r.broker(c, &PINGRESP);
    assert!(r.core.is_open(c));
    r.pool.give(held);
    r.assert_buffers_home();
}

#[test]
fn a_dropped_publish_keeps_its_topic_length_and_id_however_its_bytes_arrive() {
    // The bytes arrive in pieces of every size from 1 to 34 (the 32-byte chunk that was):
    // reads end anywhere, also inside the topic length and the id.
    for topic_len in [1usize, 2, 29, 30, 31, 60] {
        for piece in 1..=34 {
            let mut r = Rig::with_pool(1);
            let c = r.create();
            r.connect(c);
            let held = r.pool.take(1).unwrap();
            let topic = "t".repeat(topic_len);
            let packet = publish(&topic, &[7; 40], 1, 0x1234, false);
            for bytes in packet.chunks(piece) {
                r.broker(c, bytes);
            }
            assert_eq!(r.sent(c), vec![puback(0x1234).to_vec()], "topic {topic_len}, pieces of {piece}");
            r.pool.give(held);
            r.assert_buffers_home();
        }
    }
}

#[test]
fn exact_filters_before_wildcards_in_subscription_order_until_one_keeps_the_buffer() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    for (filter, cb) in [("a/+", 1u8), ("a/b", 2), ("#", 3), ("a/b", 4), ("x/y", 5)] {
        let slot = r
            .submit(
                c,
                Command::Subscribe {
                    filter: filter.as_bytes(),
                    qos: QoS::AtLeastOnce,
                    callback: Some(cb),
                },
            )
            .unwrap();
        r.run();
        let id = sent_id(r.sent(c).last().unwrap());
        let b = id.to_be_bytes();
        r.broker(c, &[0x90, 0x03, b[0], b[1], 0x01]);
        let _ = r.core.collect(c, slot, &mut r.pool);
    }
    r.did.clear();
    r.broker(c, &publish("a/b", b"x", 0, 0, false));
    // "a/b" was subscribed twice: the second replaced the first callback (4), "x/y" did not fit (SUBS = 4)...
    let delivered: Vec<&Did> = r
        .did
        .iter()
        .filter(|d| matches!(d, Did::Delivered(..)))
        .collect();
    assert_eq!(
        delivered,
        vec![&Did::Delivered(
            c,
            "a/b".into(),
            b"x".to_vec(),
            vec![4, 1, 3]
        )]
    );
    r.keepers.push(1);
    r.did.clear();
    r.broker(c, &publish("a/b", b"y", 0, 0, false));
    let delivered: Vec<&Did> = r
        .did
        .iter()
        .filter(|d| matches!(d, Did::Delivered(..)))
        .collect();
    assert_eq!(
        delivered,
        vec![&Did::Delivered(
            c,
            "a/b".into(),
            b"y".to_vec(),
            vec![4, 1]
        )],
        "stops at the keeper"
    );
    assert_eq!(r.kept.len(), 1);
    let kept = r.kept.pop().unwrap();
    r.pool.give(kept); // MQTT_AGENT_ReturnBuffer
    r.assert_buffers_home();
}

#[test]
fn the_connect_callback_gets_publishes_no_subscription_matched() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    r.broker(c, &publish("z", b"x", 0, 0, false));
    assert!(r.did.contains(&Did::Delivered(
        c,
        "z".into(),
        b"x".to_vec(),
        vec![9]
    )));
}

#[test]
fn a_refused_subscription_leaves_the_table() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let slot = r
        .submit(
            c,
            Command::Subscribe {
                filter: b"a",
                qos: QoS::AtLeastOnce,
                callback: Some(1),
            },
        )
        .unwrap();
    r.run();
    let b = sent_id(&r.sent(c)[0]).to_be_bytes();
    r.broker(c, &[0x90, 0x03, b[0], b[1], 0x80]);
    assert_eq!(
        r.core.collect(c, slot, &mut r.pool),
        Some(Err(Failure::SubscriptionRefused))
    );
    r.did.clear();
    r.broker(c, &publish("a", b"x", 0, 0, false));
    assert!(r.did.contains(&Did::Delivered(
        c,
        "a".into(),
        b"x".to_vec(),
        vec![9]
    )));
}

#[test]
fn nothing_is_delivered_to_a_subscription_after_unsubscribe() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let slot = r
        .submit(
            c,
            Command::Subscribe {
                filter: b"a",
                qos: QoS::AtMostOnce,
                callback: Some(1),
            },
        )
        .unwrap();
    r.run();
    let b = sent_id(&r.sent(c)[0]).to_be_bytes();
    r.broker(c, &[0x90, 0x03, b[0], b[1], 0x00]);
    let _ = r.core.collect(c, slot, &mut r.pool);
    let _ = r.submit(c, Command::Unsubscribe { filter: b"a" }).unwrap();
    r.did.clear();
    r.broker(c, &publish("a", b"x", 0, 0, false)); // already in flight from the broker
    assert!(r.did.contains(&Did::Delivered(
        c,
        "a".into(),
        b"x".to_vec(),
        vec![9]
    )));
}

#[test]
fn qos2_received_once_dup_redelivery_acknowledged_not_delivered() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    r.broker(c, &publish("q", b"1", 2, 7, false));
    r.broker(c, &publish("q", b"1", 2, 7, true));
    let delivered = r
        .did
        .iter()
        .filter(|d| matches!(d, Did::Delivered(..)))
        .count();
    assert_eq!(delivered, 1);
    assert_eq!(
        r.sent(c),
        vec![vec![0x50, 0x02, 0, 7], vec![0x50, 0x02, 0, 7]]
    );
    r.did.clear();
    r.broker(c, &[0x62, 0x02, 0, 7]);
    assert_eq!(r.sent(c), vec![vec![0x70, 0x02, 0, 7]]);
    r.assert_buffers_home();
}

#[test]
fn packet_id_zero_on_a_qos1_publish_is_a_violation() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    r.broker(c, &publish("q", b"1", 1, 0, false));
    assert!(r.did.iter().any(|d| matches!(
        d,
        Did::Closed(
            _,
            CloseReason::Protocol(_) | CloseReason::Malformed(_),
            false
        )
    )));
    r.assert_buffers_home();
}

/// The exact close reason of a QoS 1/2 publish whose packet id is 0 or
/// missing, read into a buffer (decoded: the codec's error) and dropped for
/// want of one (its id read raw from the discarded bytes, a missing id as 0:
/// the session's violation). Pinned as it is (the two paths differ).
#[test]
fn a_publish_with_id_zero_or_no_id_closes_with_its_cause_decoded_or_dropped() {
    let violation = CloseReason::Protocol(ProtocolViolation::UnexpectedPacket);
    let zero = CloseReason::Malformed(DecodeError::ZeroPacketId);
    // The body of a QoS 1 "q" without its id: topic length, topic.
    let no_id: &[u8] = &[0x32, 0x03, 0x00, 0x01, b'q'];
    // The same with the id's first byte only.
    let half_id: &[u8] = &[0x34, 0x04, 0x00, 0x01, b'q', 0x00];
    let cases: [(Vec<u8>, CloseReason, CloseReason); 4] = [
        (publish("q", b"1", 1, 0, false), zero, violation),
        (publish("q", b"1", 2, 0, false), zero, violation),
        (no_id.to_vec(), CloseReason::Malformed(DecodeError::Truncated), violation),
        (half_id.to_vec(), CloseReason::Malformed(DecodeError::Truncated), violation),
    ];
    for (packet, decoded, dropped) in cases {
        for drop in [false, true] {
            let mut r = Rig::with_pool(1);
            let c = r.create();
            r.connect(c);
            let held = drop.then(|| r.pool.take(1).unwrap());
            r.broker(c, &packet);
            let expected = if drop { dropped } else { decoded };
            assert!(r.did.contains(&Did::Closed(c, expected, false)), "{packet:?} dropped {drop}: {:?}", r.did);
            assert!(r.sent(c).is_empty(), "nothing acknowledged");
            if let Some(held) = held {
                r.pool.give(held);
            }
            r.assert_buffers_home();
        }
    }
}

#[test]
fn an_oversized_ack_or_garbage_drops_the_connection_with_its_cause() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    r.broker(c, &[0x40, 0x20]);
    assert!(r
        .did
        .contains(&Did::Closed(c, CloseReason::Oversized, false)));
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    r.broker(c, &[0xF0, 0x00]); // reserved type 15
    assert!(r
        .did
        .iter()
        .any(|d| matches!(d, Did::Closed(_, CloseReason::Malformed(_), false))));
    r.assert_buffers_home();
}

#[test]
fn a_burst_of_qos2_publishes_pauses_receiving_while_acknowledgements_wait() {
    // 40 QoS 2 publishes at once: every one gets its PUBREC, none is lost, no
    // disconnect (the hostile broker's burst on the simulator).
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    for id in 1..=40u16 {
        r.wires[c].incoming.extend(publish("q", b"m", 2, id, false));
    }
    r.pump(c);
    let pubrecs = r.sent(c).iter().filter(|p| p[0] == 0x50).count();
    assert_eq!(pubrecs, 40);
    assert_eq!(r.did.iter().filter(|d| matches!(d, Did::Delivered(..))).count(), 40);
    assert!(!r.did.iter().any(|d| matches!(d, Did::Closed(..))));
    r.assert_buffers_home();
}

#[test]
fn disconnect_goes_after_the_packets_already_queued() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    r.submit(c, publish_cmd(QoS::AtMostOnce)).unwrap();
    r.submit(c, Command::Disconnect).unwrap();
    r.run();
    let sent = r.sent(c);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0][0], 0x30);
    assert_eq!(sent[1], vec![0xE0, 0x00]);
}

#[test]
fn the_receive_budget_bounds_one_pass() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    for _ in 0..200 {
        r.wires[c].incoming.extend(PINGRESP);
    }
    let status = r.core.received(c, &mut r.wires[c], r.now, &mut r.pool);
    assert_eq!(status, RxStatus::Budget);
    assert!(!r.wires[c].incoming.is_empty());
    r.run();
    assert_eq!(r.core.received(c, &mut r.wires[c], r.now, &mut r.pool), RxStatus::Budget, "the budget spans passes until the task rests");
    r.core.rested();
    r.run();
    assert_eq!(r.core.received(c, &mut r.wires[c], r.now, &mut r.pool), RxStatus::Idle, "the rest is read after a rest");
    assert!(r.wires[c].incoming.is_empty());
}

#[test]
fn a_publish_the_budget_runs_out_in_is_read_whole_in_one_pass() {
    // The budget (256 bytes in the rig) ends a pass between packets only: a
    // publish being read into its buffer finishes now, not after a rest.
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    for _ in 0..100 {
        r.wires[c].incoming.extend(PINGRESP); // 200 bytes
    }
    let big = publish("big", &[0x5A; 50], 0, 0, false); // bytes 200..257: the budget ends inside it
    assert!(big.len() > 56 && big.len() <= BUF);
    r.wires[c].incoming.extend(big);
    r.wires[c].incoming.extend(PINGRESP);
    let status = r.core.received(c, &mut r.wires[c], r.now, &mut r.pool);
    assert_eq!(status, RxStatus::Paused, "the whole publish is in, waiting for its delivery");
    r.run();
    assert!(r.did.iter().any(|d| matches!(d, Did::Delivered(_, t, p, ..) if t == "big" && p.len() == 50)));
    assert_eq!(
        r.core.received(c, &mut r.wires[c], r.now, &mut r.pool),
        RxStatus::Budget,
        "after it, the spent budget ends the pass before the next packet"
    );
    assert_eq!(r.wires[c].incoming.len(), 2);
}

#[test]
fn a_received_publish_pauses_receiving_until_delivered() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    r.wires[c].incoming.extend(publish("a", b"1", 0, 0, false));
    r.wires[c].incoming.extend(publish("a", b"2", 0, 0, false));
    assert_eq!(
        r.core.received(c, &mut r.wires[c], r.now, &mut r.pool),
        RxStatus::Paused
    );
    assert_eq!(r.pool.out.len(), 1, "one publish buffer at a time");
    r.run();
    assert_eq!(
        r.core.received(c, &mut r.wires[c], r.now, &mut r.pool),
        RxStatus::Paused
    );
    r.run();
    assert_eq!(
        r.core.received(c, &mut r.wires[c], r.now, &mut r.pool),
        RxStatus::Idle
    );
    r.assert_buffers_home();
}

#[test]
fn a_connection_lost_mid_publish_returns_its_buffer() {
    let mut r = Rig::new();
    let c = r.create();
    r.connect(c);
    let p = publish("a", b"12345", 0, 0, false);
    r.broker(c, &p[..5]);
    assert_eq!(
        r.pool.out.len(),
        1,
        "the body is being read into a pool buffer"
    );
    r.wires[c].fail = true;
    r.pump(c);
    r.assert_buffers_home();
}

#[test]
fn clients_are_independent() {
    let mut r = Rig::new();
    let a = r.create();
    let b = r.create();
    r.connect(a);
    r.connect(b);
    r.wires[a].fail = true;
    r.pump(a);
    let slot = r.submit(b, publish_cmd(QoS::AtLeastOnce)).unwrap();
    r.run();
    let id = sent_id(&r.sent(b)[0]);
    r.broker(b, &puback(id));
    assert_eq!(r.core.collect(b, slot, &mut r.pool), Some(Ok(())));
}
