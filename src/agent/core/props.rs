//! Property tests of the agent core over random sequences of commands, broker
//! packets, platform outcomes and time, for two clients:
//! - every buffer has exactly one owner at every step (pool, core, platform,
//!   application), and all are home once everything is closed;
//! - no operation completes twice, and only operations that were submitted;
//! - nothing is delivered to a subscription callback after its unsubscribe
//!   (or the clean session that ended it) was submitted;
//! - a deleted client's slot is free only once its connection is gone: a
//!   client created there starts with no connection.
//!
//! Sends are reported as the agent task reports them: at its next pass
//! (`run`), before it polls again, so that commands submitted in between meet
//! reports of sends made before them (and a send may fail).

use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::testkit::*;
use super::{Action, Command, Next, Out, Pool, Refused, RxStatus};
use crate::mqtt::codec::QoS;

static DELIVERED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

const FILTERS: [&str; 4] = ["a/b", "a/+", "#", "c"];
const TOPICS: [&str; 3] = ["a/b", "a/c", "c"];

#[derive(Debug, Clone)]
enum Step {
    Connect(usize),
    Subscribe(usize, usize),
    Unsubscribe(usize, usize),
    Publish(usize, u8),
    Disconnect(usize),
    /// Collect the oldest outstanding operation of a client (completed or not).
    Collect(usize),
    Opened(usize),
    OpenFailed(usize),
    ConnAck(usize, bool),
    /// Acknowledge the n-th packet id sent on the client (PUBACK/SUBACK/...).
    AckSent(usize, usize, u8),
    BrokerPublish(usize, usize, u8, u16, bool),
    PubRel(usize, u16),
    Garbage(usize),
    ReadFails(usize),
    Advance(u32),
    /// The application returns a kept buffer.
    ReturnKept,
    /// The next send of the client that the task reports failed.
    SendFails(usize),
    /// Delete the client (a new one is created in its slot once it is free).
    Delete(usize),
    KeepWith(u8),
    /// Connect, open, CONNACK, collect: a client that gets connected.
    Connected(usize),
    /// Only the first bytes of a publish (the rest comes with later steps).
    BrokerPartial(usize, usize, u8),
}

fn step() -> impl Strategy<Value = Step> {
    let c = 0..CLIENTS;
    prop_oneof![
        4 => c.clone().prop_map(Step::Connected),
        3 => (c.clone(), 0..TOPICS.len(), 0u8..3, 1u16..4, Just(false)).prop_map(|(c, t, q, id, d)| Step::BrokerPublish(c, t, q, id, d)),
        2 => (c.clone(), 0..FILTERS.len()).prop_map(|(c, f)| Step::Subscribe(c, f)),
        2 => (c.clone(), 0usize..2, Just(3u8)).prop_map(|(c, n, k)| Step::AckSent(c, n, k)),
        1 => c.clone().prop_map(Step::Connect),
        3 => c.clone().prop_map(Step::Opened),
        3 => (c.clone(), Just(true)).prop_map(|(c, ok)| Step::ConnAck(c, ok)),
        1 => (c.clone(), 0..TOPICS.len(), 1u8..8).prop_map(|(c, t, n)| Step::BrokerPartial(c, t, n)),
        1 => c.clone().prop_map(Step::Connect),
        1 => (c.clone(), 0..FILTERS.len()).prop_map(|(c, f)| Step::Subscribe(c, f)),
        1 => (c.clone(), 0..FILTERS.len()).prop_map(|(c, f)| Step::Unsubscribe(c, f)),
        1 => (c.clone(), 0u8..3).prop_map(|(c, q)| Step::Publish(c, q)),
        1 => c.clone().prop_map(Step::Disconnect),
        1 => c.clone().prop_map(Step::Collect),
        1 => c.clone().prop_map(Step::Opened),
        1 => c.clone().prop_map(Step::OpenFailed),
        1 => (c.clone(), any::<bool>()).prop_map(|(c, ok)| Step::ConnAck(c, ok)),
        1 => (c.clone(), 0usize..4, 0u8..6).prop_map(|(c, n, k)| Step::AckSent(c, n, k)),
        1 => (c.clone(), 0..TOPICS.len(), 0u8..3, 0u16..4, any::<bool>()).prop_map(|(c, t, q, id, d)| Step::BrokerPublish(c, t, q, id, d)),
        1 => (c.clone(), 0u16..4).prop_map(|(c, id)| Step::PubRel(c, id)),
        1 => c.clone().prop_map(Step::Garbage),
        1 => c.clone().prop_map(Step::ReadFails),
        1 => (1u32..60).prop_map(Step::Advance),
        1 => Just(Step::ReturnKept),
        2 => c.clone().prop_map(Step::SendFails),
        1 => c.clone().prop_map(Step::Delete),
        1 => (1u8..5).prop_map(Step::KeepWith),
    ]
}

/// The rig with the properties' bookkeeping.
struct Model {
    r: Rig,
    /// Per client: submitted, not yet collected slots, oldest first.
    outstanding: [Vec<u16>; CLIENTS],
    /// Completions seen since submit, per (client, slot).
    completed: BTreeSet<(usize, u16)>,
    /// Per client: callbacks whose subscription has ended.
    ended: [BTreeSet<u8>; CLIENTS],
    /// Per client: packet ids we sent, by kind (first byte).
    sent_ids: [Vec<(u8, u16)>; CLIENTS],
    pending_open: [bool; CLIENTS],
    /// Sends performed, reported at the next pass: client, completed slot.
    reports: Vec<(usize, Option<u16>)>,
    /// The client's next reported send failed.
    failing: [bool; CLIENTS],
    /// The client is being deleted (its handle refused from the submit on).
    deleting: [bool; CLIENTS],
}

impl Model {
    fn new() -> Self {
        let mut r = Rig::with_pool(6);
        for _ in 0..CLIENTS {
            r.create();
        }
        Model {
            r,
            outstanding: Default::default(),
            completed: BTreeSet::new(),
            ended: Default::default(),
            sent_ids: Default::default(),
            pending_open: [false; CLIENTS],
            reports: Vec::new(),
            failing: [false; CLIENTS],
            deleting: [false; CLIENTS],
        }
    }

    fn submit(&mut self, client: usize, command: Command<'_, Open, Cb>) {
        match self.r.submit(client, command) {
            Ok(slot) => {
                assert!(
                    !self.outstanding[client].contains(&slot),
                    "a slot handed out twice"
                );
                self.outstanding[client].push(slot);
                self.completed.remove(&(client, slot));
            }
            Err(Refused::Busy | Refused::NoBufferNow) => {}
            Err(Refused::BadHandle) => assert!(self.deleting[client], "live handle refused"),
        }
    }

    /// One pass of the task: the last pass's send reports, then the core's
    /// actions, each checked and performed.
    fn run(&mut self) {
        for (client, complete) in std::mem::take(&mut self.reports) {
            let ok = !std::mem::take(&mut self.failing[client]);
            self.r.core.sent(client, complete, ok, self.r.now, &mut self.r.pool);
            self.check_owners();
        }
        while let Some(Next { client, action }) = self.r.core.poll(&mut self.r.pool) {
            match action {
                Action::Open { .. } => self.pending_open[client] = true,
                Action::Send { out, complete } => {
                    let bytes: Vec<u8> = match out {
                        Out::Buf { buf, len } => {
                            let b = buf.as_ref()[..len].to_vec();
                            self.r.pool.give(buf);
                            b
                        }
                        Out::Small { word, len } => word.to_le_bytes()[..len as usize].to_vec(),
                    };
                    let kind = bytes[0] & 0xF0;
                    if matches!(kind, 0x30 | 0x80 | 0xA0) && (kind != 0x30 || bytes[0] & 0x06 != 0)
                    {
                        self.sent_ids[client].push((bytes[0], sent_id(&bytes)));
                    }
                    self.reports.push((client, complete));
                }
                Action::Complete { slot } => {
                    assert!(
                        self.outstanding[client].contains(&slot),
                        "completed an operation nobody submitted"
                    );
                    assert!(
                        self.completed.insert((client, slot)),
                        "an operation completed twice"
                    );
                }
                Action::Deliver => {
                    let delivery = self.r.core.take_delivery(client).expect("a Deliver action has its delivery");
                    DELIVERED.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                    for cb in delivery.subscribers.iter() {
                        assert!(
                            !self.ended[client].contains(cb),
                            "delivered to callback {cb} after its subscription ended"
                        );
                    }
                    let keep = delivery
                        .subscribers
                        .iter()
                        .any(|cb| self.r.keepers.contains(cb));
                    if keep {
                        self.r.kept.push(delivery.buf);
                    } else {
                        self.r.pool.give(delivery.buf);
                    }
                }
                Action::Close { .. } | Action::Disconnected { .. } | Action::Dropped { .. } => {}
            }
            self.check_owners();
        }
        self.check_owners();
    }

    fn check_owners(&self) {
        assert_eq!(
            self.r.pool.out.len(),
            self.r.core.buffers_held() + self.r.kept.len(),
            "a buffer with no owner, or with two"
        );
    }

    fn pump(&mut self, client: usize) {
        loop {
            let status = self.r.core.received(
                client,
                &mut self.r.wires[client],
                self.r.now,
                &mut self.r.pool,
            );
            self.check_owners();
            self.run();
            match status {
                RxStatus::Paused => {}
                RxStatus::Budget => self.r.core.rested(), // The task waits a tick.
                RxStatus::Idle => break,
            }
        }
    }

    fn broker(&mut self, client: usize, bytes: &[u8]) {
        self.r.wires[client].incoming.extend(bytes.iter().copied());
        self.pump(client);
    }

    fn apply(&mut self, s: &Step) {
        match *s {
            Step::Connect(c) => {
                // A clean session: every subscription of this client ends.
                let ended: Vec<u8> = (1..=FILTERS.len() as u8).collect();
                let before = self.outstanding[c].len();
                let proceeds = self.r.core.is_closed(c);
                self.submit(c, connect_command(Some(9), 200));
                if self.outstanding[c].len() > before && proceeds {
                    self.ended[c].extend(ended);
                    self.r.wires[c].incoming.clear();
                    self.r.wires[c].fail = false;
                }
            }
            Step::Subscribe(c, f) => {
                let cb = f as u8 + 1;
                self.ended[c].remove(&cb);
                self.submit(
                    c,
                    Command::Subscribe {
                        filter: FILTERS[f].as_bytes(),
                        qos: QoS::AtLeastOnce,
                        callback: Some(cb),
                    },
                );
            }
            Step::Unsubscribe(c, f) => {
                // The subscription ends when the core took the unsubscribe
                // (not refused, not failed at once: then the callback stays).
                let before = self.outstanding[c].clone();
                self.submit(c, Command::Unsubscribe { filter: FILTERS[f].as_bytes() });
                if let Some(slot) = self.outstanding[c].iter().copied().find(|s| !before.contains(s)) {
                    if !matches!(self.r.core.peek(c, slot), Some(Err(_))) {
                        self.ended[c].insert(f as u8 + 1);
                    }
                }
            }
            Step::Publish(c, q) => {
                let qos = QoS::try_from(q).unwrap();
                self.submit(
                    c,
                    Command::Publish {
                        topic: b"p/q",
                        payload: b"data",
                        qos,
                        retain: false,
                    },
                );
            }
            Step::Disconnect(c) => self.submit(c, Command::Disconnect),
            Step::Collect(c) => {
                if !self.outstanding[c].is_empty() {
                    let slot = self.outstanding[c].remove(0);
                    let was_completed = self.completed.remove(&(c, slot));
                    let got = self.r.core.collect(c, slot, &mut self.r.pool);
                    assert_eq!(
                        got.is_some(),
                        was_completed,
                        "a result without a completion, or the reverse"
                    );
                }
            }
            Step::Opened(c) => {
                if std::mem::take(&mut self.pending_open[c]) {
                    self.r.core.opened(c, self.r.now);
                }
            }
            Step::OpenFailed(c) => {
                if std::mem::take(&mut self.pending_open[c]) {
                    self.r.core.open_failed(c, &mut self.r.pool);
                }
            }
            Step::ConnAck(c, ok) => self.broker(c, &[0x20, 0x02, 0x00, if ok { 0 } else { 5 }]),
            Step::AckSent(c, n, k) => {
                let id = self.sent_ids[c]
                    .iter()
                    .rev()
                    .nth(n)
                    .map(|x| x.1)
                    .unwrap_or(1)
                    .to_be_bytes();
                let packet: Vec<u8> = match k {
                    0 => vec![0x40, 2, id[0], id[1]],
                    1 => vec![0x50, 2, id[0], id[1]],
                    2 => vec![0x70, 2, id[0], id[1]],
                    3 => vec![0x90, 3, id[0], id[1], 0x01],
                    4 => vec![0x90, 3, id[0], id[1], 0x80],
                    _ => vec![0xB0, 2, id[0], id[1]],
                };
                self.broker(c, &packet);
            }
            Step::BrokerPublish(c, t, q, id, dup) => {
                self.broker(c, &publish(TOPICS[t], b"m", q, id, dup))
            }
            Step::Connected(c) => {
                let before = self.outstanding[c].clone();
                self.apply(&Step::Connect(c));
                self.apply(&Step::Opened(c));
                self.apply(&Step::ConnAck(c, true));
                if let Some(slot) = self.outstanding[c]
                    .iter()
                    .copied()
                    .find(|s| !before.contains(s))
                {
                    self.outstanding[c].retain(|x| *x != slot);
                    let was_completed = self.completed.remove(&(c, slot));
                    let got = self.r.core.collect(c, slot, &mut self.r.pool);
                    assert_eq!(got.is_some(), was_completed);
                }
            }
            Step::BrokerPartial(c, t, n) => {
                let p = publish(TOPICS[t], b"payload", 0, 0, false);
                self.broker(c, &p[..(n as usize).min(p.len())]);
            }
            Step::PubRel(c, id) => self.broker(c, &[0x62, 2, 0, id as u8]),
            Step::Garbage(c) => self.broker(c, &[0x00, 0x00]),
            Step::ReadFails(c) => {
                self.r.wires[c].fail = true;
                self.pump(c);
            }
            Step::Advance(t) => {
                self.r.now = self.r.now.wrapping_add(t);
                self.r.tick(self.r.now);
                self.run();
            }
            Step::ReturnKept => {
                if let Some(b) = self.r.kept.pop() {
                    self.r.pool.give(b);
                }
            }
            Step::SendFails(c) => self.failing[c] = true,
            Step::Delete(c) => {
                let before = self.outstanding[c].len();
                if !self.deleting[c] {
                    self.submit(c, Command::Delete);
                }
                if self.outstanding[c].len() > before {
                    // Taken (not refused for want of a slot): its subscriptions end with it.
                    self.deleting[c] = true;
                    self.ended[c].extend(1..=FILTERS.len() as u8);
                }
            }
            Step::KeepWith(cb) => {
                if !self.r.keepers.contains(&cb) {
                    self.r.keepers.push(cb);
                }
            }
        }
        self.run();
        self.recreate();
    }

    /// A deleted client whose slot is free again: the application creates a
    /// new one there, which starts with no connection.
    fn recreate(&mut self) {
        for c in 0..CLIENTS {
            if self.deleting[c] && self.r.core.is_free(c) {
                assert_eq!(self.r.create(), c, "the freed slot is the one created");
                assert!(self.r.core.is_closed(c), "a new client starts with no connection");
                assert!(!self.pending_open[c], "freed while the platform opened its connection");
                self.deleting[c] = false;
                self.r.wires[c].incoming.clear();
                self.r.wires[c].fail = false;
            }
        }
    }

    /// Everything ends: failed opens, lost connections, collected operations,
    /// kept buffers returned. Then every buffer is home.
    fn finish(&mut self) {
        for c in 0..CLIENTS {
            if std::mem::take(&mut self.pending_open[c]) {
                self.r.core.open_failed(c, &mut self.r.pool);
            }
            self.r.wires[c].fail = true;
            self.r.wires[c].incoming.clear();
            self.pump(c);
            self.r.tick(self.r.now.wrapping_add(100_000));
            self.run();
        }
        for c in 0..CLIENTS {
            for slot in std::mem::take(&mut self.outstanding[c]) {
                let _ = self.r.core.collect(c, slot, &mut self.r.pool);
            }
        }
        while let Some(b) = self.r.kept.pop() {
            self.r.pool.give(b);
        }
        while !self.reports.is_empty() {
            self.run();
        }
        assert!(
            self.r.pool.out.is_empty(),
            "buffers never came back: {:?}",
            self.r.pool.out
        );
        let _ = BTreeMap::<u8, u8>::new();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::test_cases(512), ..ProptestConfig::default() })]

    #[test]
    fn buffers_completions_and_deliveries_hold(steps in proptest::collection::vec(step(), 1..80)) {
        let mut m = Model::new();
        for s in &steps {
            m.apply(s);
        }
        m.finish();
    }
}

#[test]
#[cfg_attr(miri, ignore)] // 64 whole sequences: too slow under Miri, which runs the properties above.
fn the_sequences_reach_deliveries() {
    // Guards the generator: the properties above mean little if random
    // sequences never connect and receive.
    let mut runner = proptest::test_runner::TestRunner::default();
    let before = DELIVERED.load(core::sync::atomic::Ordering::Relaxed);
    for _ in 0..64 {
        let steps = proptest::collection::vec(step(), 1..80)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let mut m = Model::new();
        for s in &steps {
            m.apply(s);
        }
        m.finish();
    }
    assert!(
        DELIVERED.load(core::sync::atomic::Ordering::Relaxed) - before >= 16,
        "too few deliveries"
    );
}
