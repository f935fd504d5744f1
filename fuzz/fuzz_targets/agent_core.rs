//! Drives the agent core (`agent::core::AgentCore`, two clients) the way the
//! agent task and its callers do, from an arbitrary program: callers' commands
//! and collects, the platform's opens, passes with send reports a pass late
//! (and failing), a hostile broker's bytes (raw, or packets built around the ids the
//! client sent), read failures and time.
//!
//! Checked at every step:
//! - the pool: no buffer given back twice or never taken (its `give` panics);
//! - a completion names an operation that was submitted and not yet collected,
//!   and comes once;
//! - a result from `collect` comes only after the completion;
//! - a delivery's buffer and ranges are in bounds;
//! and at the end, after every connection was failed and every operation
//! collected: every buffer is back in the pool, and every client slot holds a
//! live client (a deleted one was freed and created again).
//!
//! The receive and drop policy, keep-alive and dispatch rules are the core's
//! property and behaviour tests' (`src/agent/core/`); this target looks for
//! crashes, hangs and lost or doubled buffers under inputs nobody wrote down.
#![no_main]

use std::collections::{BTreeSet, VecDeque};

use afrcloud::agent::core::{Action, AgentCore, Client, Command, Connects, Next, Out, Pool, Reader, Refused, RxStatus};
use afrcloud::agent::session::KeepAlive;
use afrcloud::mqtt::codec::QoS;
use libfuzzer_sys::fuzz_target;

#[path = "../common/program.rs"]
mod program;
use program::Program;

const CLIENTS: usize = 2;
const OPS: usize = 3;
const SUBS: usize = 3;
const FILTER: usize = 16;
/// Bytes per pool buffer, and buffers in the pool (few, so it runs dry).
const BUF: usize = 48;
const BUFFERS: u32 = 4;
const FILTERS: [&[u8]; 4] = [b"a/b", b"a/+", b"#", b"c"];

struct Buf {
    id: u32,
    bytes: Vec<u8>,
}

impl AsRef<[u8]> for Buf {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsMut<[u8]> for Buf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

#[derive(Default)]
struct TestPool {
    next: u32,
    out: BTreeSet<u32>,
}

impl Pool for TestPool {
    type Buf = Buf;
    fn take(&mut self, len: usize) -> Option<Buf> {
        if len > BUF || self.out.len() as u32 >= BUFFERS {
            return None;
        }
        self.next += 1;
        self.out.insert(self.next);
        Some(Buf { id: self.next, bytes: vec![0xA5; BUF] })
    }
    fn give(&mut self, buf: Buf) {
        assert!(self.out.remove(&buf.id), "buffer {} given back twice or never taken", buf.id);
    }
    fn largest(&self) -> usize {
        BUF
    }
}

#[derive(Default)]
struct Wire {
    incoming: VecDeque<u8>,
    fail: bool,
}

impl Reader for Wire {
    fn read(&mut self, into: &mut [u8]) -> Result<usize, ()> {
        if self.fail {
            return Err(());
        }
        let n = into.len().min(self.incoming.len());
        for b in into.iter_mut().take(n) {
            *b = self.incoming.pop_front().unwrap_or(0);
        }
        Ok(n)
    }
}

/// The open request: nothing in it; the CONNECT has no user name.
struct FuzzOpen;

impl Connects for FuzzOpen {
    const USER_NAME: Option<&'static [u8]> = None;
}

type Core<'c> = AgentCore<&'c mut [Client<Buf, u8, FuzzOpen, OPS, SUBS, FILTER>], Buf, u8, FuzzOpen, CLIENTS, OPS, SUBS, FILTER>;
const KEEP_ALIVE: KeepAlive = KeepAlive { interval: 50, timeout: 10 };
type Table = [Client<Buf, u8, FuzzOpen, OPS, SUBS, FILTER>; CLIENTS];

struct Rig<'c> {
    core: Core<'c>,
    pool: TestPool,
    wires: [Wire; CLIENTS],
    now: u32,
    handles: [Option<(usize, u32)>; CLIENTS],
    /// Per client: submitted, not yet collected slots, oldest first.
    outstanding: [Vec<u16>; CLIENTS],
    completed: BTreeSet<(usize, u16)>,
    /// Opens handed to the platform, not yet reported.
    opening: [bool; CLIENTS],
    /// Sends performed, reported at the next pass: client, completed slot.
    reports: Vec<(usize, Option<u16>)>,
    /// The client's next reported send failed.
    failing: [bool; CLIENTS],
    /// Packet ids each client sent, most recent last.
    ids: [Vec<u16>; CLIENTS],
    kept: Vec<Buf>,
}

impl<'c> Rig<'c> {
    fn new(table: &'c mut Table) -> Self {
        let mut core = Core::new(table, 64, KEEP_ALIVE);
        let handles = [core.create(), core.create()];
        Rig {
            core,
            pool: TestPool::default(),
            wires: Default::default(),
            now: 0xFFFF_FF00, // The tick count wraps during a run.
            handles,
            outstanding: Default::default(),
            completed: BTreeSet::new(),
            opening: [false; CLIENTS],
            reports: Vec::new(),
            failing: [false; CLIENTS],
            ids: Default::default(),
            kept: Vec::new(),
        }
    }

    fn submit(&mut self, c: usize, mut command: Command<'_, FuzzOpen, u8>) {
        let Some((i, g)) = self.handles[c] else { return };
        match self.core.submit(i, g, &mut command, &mut self.pool) {
            Ok(slot) => {
                assert!(!self.outstanding[c].contains(&slot), "a slot handed out twice");
                self.completed.remove(&(c, slot));
                self.outstanding[c].push(slot);
            }
            Err(Refused::Busy | Refused::NoBufferNow) => {}
            Err(Refused::BadHandle) => assert!(!self.core.live(i, g), "a live handle refused"),
        }
    }

    fn collect(&mut self, c: usize) {
        if self.outstanding[c].is_empty() {
            return;
        }
        let slot = self.outstanding[c].remove(0);
        let completed = self.completed.remove(&(c, slot));
        let got = self.core.collect(c, slot, &mut self.pool);
        assert!(got.is_none() || completed, "a result without a completion");
    }

    /// A pass of the task: the last pass's send reports, then every action
    /// the core has, performed (their sends reported at the next pass).
    fn pass(&mut self) {
        for (c, complete) in std::mem::take(&mut self.reports) {
            let ok = !std::mem::take(&mut self.failing[c]);
            self.core.sent(c, complete, ok, self.now, &mut self.pool);
        }
        let mut guard = 0;
        while let Some(Next { client, action }) = self.core.poll(&mut self.pool) {
            guard += 1;
            assert!(guard < 10_000, "poll never runs dry");
            match action {
                Action::Open { .. } => {
                    assert!(!self.opening[client], "a second open before the first was reported");
                    self.opening[client] = true;
                }
                Action::Send { out, complete } => {
                    let first = match out {
                        Out::Buf { buf, len } => {
                            assert!(len <= buf.as_ref().len());
                            let b = buf.as_ref().to_vec();
                            self.pool.give(buf);
                            b.get(..len.min(4)).map(|h| h.to_vec()).unwrap_or_default()
                        }
                        Out::Small { word, len } => word.to_le_bytes()[..(len as usize).min(4)].to_vec(),
                    };
                    self.record_id(client, &first);
                    self.reports.push((client, complete));
                }
                Action::Complete { slot } => {
                    assert!(self.outstanding[client].contains(&slot), "completed an operation nobody waits for");
                    assert!(self.completed.insert((client, slot)), "an operation completed twice");
                }
                Action::Deliver => {
                    let d = self.core.take_delivery(client).expect("a Deliver action has its delivery");
                    let len = d.buf.as_ref().len();
                    assert!(2 + usize::from(d.topic_len) <= len && d.payload.0 + d.payload.1 <= len, "ranges out of the buffer");
                    // A callback with an odd number keeps the buffer (pdTRUE).
                    if d.subscribers.iter().any(|cb| cb % 2 == 1) {
                        self.kept.push(d.buf);
                    } else {
                        self.pool.give(d.buf);
                    }
                }
                Action::Close { .. } | Action::Disconnected { .. } | Action::Dropped { .. } => {}
            }
        }
        // A deleted client's slot, once free, gets a new client.
        for c in 0..CLIENTS {
            if self.handles[c].is_some_and(|(i, g)| !self.core.live(i, g)) {
                if let Some((i, g)) = self.core.create() {
                    self.handles[i] = Some((i, g));
                }
            }
        }
    }

    /// Remembers the packet id of a SUBSCRIBE, UNSUBSCRIBE or QoS 1/2 PUBLISH
    /// (its first bytes: the id of a publish follows the topic, not kept here).
    fn record_id(&mut self, c: usize, head: &[u8]) {
        if let [0x82 | 0xA2, _, hi, lo] = *head {
            self.ids[c].push(u16::from_be_bytes([hi, lo]));
        }
    }

    fn receive(&mut self, c: usize) {
        for _ in 0..64 {
            let status = self.core.received(c, &mut self.wires[c], self.now, &mut self.pool);
            self.pass();
            match status {
                RxStatus::Idle => return,
                RxStatus::Budget => self.core.rested(),
                RxStatus::Paused => {}
            }
        }
    }
}

fn id_or(ids: &[u16], pick: u8) -> [u8; 2] {
    let id = if ids.is_empty() || pick & 0x80 != 0 { u16::from(pick & 0x7f) } else { ids[usize::from(pick) % ids.len()] };
    id.to_be_bytes()
}

fuzz_target!(|data: &[u8]| {
    let mut p = Program(data);
    let mut table: Table = [const { Client::new() }; CLIENTS];
    let mut r = Rig::new(&mut table);
    let mut steps = 0;
    while !p.0.is_empty() && steps < 400 {
        steps += 1;
        let op = p.byte();
        let c = usize::from(op >> 7);
        match op & 0x0f {
            0 => r.submit(c, Command::Connect {
                client_id: b"fuzz",
                keep_alive: 60,
                open: Some(FuzzOpen),
                callback: Some(p.byte()),
                start: r.now,
                timeout: u32::from(p.byte()),
            }),
            1 => {
                let f = p.byte();
                let qos = QoS::try_from(f >> 6).unwrap_or(QoS::AtMostOnce);
                r.submit(c, Command::Subscribe { filter: FILTERS[usize::from(f & 3)], qos, callback: Some(f & 0x0f) });
            }
            2 => r.submit(c, Command::Unsubscribe { filter: FILTERS[usize::from(p.byte() & 3)] }),
            3 => {
                let q = p.byte();
                let payload = p.bytes(usize::from(q >> 3));
                let payload = payload.to_vec();
                let qos = QoS::try_from(q & 3).unwrap_or(QoS::ExactlyOnce);
                r.submit(c, Command::Publish { topic: b"p/q", payload: &payload, qos, retain: q & 4 != 0 });
            }
            4 => r.submit(c, Command::Disconnect),
            5 => r.submit(c, Command::Delete),
            6 => r.collect(c),
            7 => {
                if std::mem::take(&mut r.opening[c]) {
                    r.core.opened(c, r.now);
                }
            }
            8 => {
                if std::mem::take(&mut r.opening[c]) {
                    r.core.open_failed(c, &mut r.pool);
                }
            }
            9 => {
                // Raw bytes from the broker.
                let n = usize::from(p.byte() & 0x3f);
                let bytes = p.bytes(n).to_vec();
                r.wires[c].incoming.extend(bytes);
                r.receive(c);
            }
            10 => {
                // A packet built around the ids this client sent.
                let kind = p.byte();
                let id = id_or(&r.ids[c], p.byte());
                let packet: Vec<u8> = match kind % 9 {
                    0 => vec![0x20, 2, 0, kind >> 4 & 7],
                    1 => vec![0x40, 2, id[0], id[1]],
                    2 => vec![0x50, 2, id[0], id[1]],
                    3 => vec![0x62, 2, id[0], id[1]],
                    4 => vec![0x70, 2, id[0], id[1]],
                    5 => vec![0x90, 3, id[0], id[1], [0, 1, 2, 0x80][usize::from(kind >> 4 & 3)]],
                    6 => vec![0xB0, 2, id[0], id[1]],
                    7 => vec![0xD0, 0],
                    _ => {
                        // PUBLISH to one of the filters' topics, QoS from the kind.
                        let qos = kind >> 4 & 3;
                        let topic: &[u8] = [b"a/b".as_slice(), b"a/c", b"c"][usize::from(kind >> 6) % 3];
                        let mut body = vec![0, topic.len() as u8];
                        body.extend_from_slice(topic);
                        if qos != 0 {
                            body.extend_from_slice(&id);
                        }
                        body.extend_from_slice(&[b'm'; 5]);
                        let mut v = vec![0x30 | qos << 1 | (kind & 8), body.len() as u8];
                        v.extend(body);
                        v
                    }
                };
                r.wires[c].incoming.extend(packet);
                r.receive(c);
            }
            11 => {
                r.wires[c].fail = true;
                r.receive(c);
                r.wires[c].fail = false;
                r.wires[c].incoming.clear();
            }
            12 => {
                r.now = r.now.wrapping_add(u32::from(p.byte()));
                r.core.tick(r.now, &mut r.pool);
                let _ = r.core.next_deadline(r.now);
            }
            13 => r.failing[c] = true,
            14 => {
                if let Some(b) = r.kept.pop() {
                    r.pool.give(b);
                }
            }
            _ => r.receive(c),
        }
        r.pass();
    }
    // Everything ends: opens fail, connections drop, time runs out, every
    // operation is collected and every kept buffer returned.
    for round in 0..3 {
        for c in 0..CLIENTS {
            if std::mem::take(&mut r.opening[c]) {
                r.core.open_failed(c, &mut r.pool);
            }
            r.wires[c].fail = true;
            r.receive(c);
        }
        r.now = r.now.wrapping_add(1_000_000);
        r.core.tick(r.now, &mut r.pool);
        r.pass();
        if round == 1 {
            for c in 0..CLIENTS {
                while !r.outstanding[c].is_empty() {
                    r.collect(c);
                }
            }
        }
    }
    while let Some(b) = r.kept.pop() {
        r.pool.give(b);
    }
    assert!(r.pool.out.is_empty(), "buffers never came back: {:?}", r.pool.out);
    for c in 0..CLIENTS {
        assert!(
            r.handles[c].is_some_and(|(i, g)| r.core.live(i, g)),
            "client {c}: deleted and never freed, or not created again"
        );
    }
});
