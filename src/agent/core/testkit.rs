//! Test kit of the agent core: a counting pool, a scripted connection, and a
//! platform stand-in that performs actions and records what happened.

use std::collections::VecDeque;
use std::vec::Vec;

use super::{Client,
    Action, AgentCore, CloseReason, Command, KeepAlive, Next, Out, Pool, Reader, Refused, RxStatus,
};

pub const CLIENTS: usize = 2;
pub const OPS: usize = 3;
pub const SUBS: usize = 4;
pub const FILTER: usize = 32;
pub const BUF: usize = 64;

/// A pool buffer: an id (to count owners) and its bytes.
#[derive(Debug)]
pub struct TestBuf {
    pub id: u32,
    bytes: Vec<u8>,
}

impl AsRef<[u8]> for TestBuf {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsMut<[u8]> for TestBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

/// `free` buffers of `BUF` bytes; counts what is out.
pub struct TestPool {
    pub free: u32,
    next_id: u32,
    pub out: std::collections::BTreeSet<u32>,
}

impl TestPool {
    pub fn new(free: u32) -> Self {
        TestPool {
            free,
            next_id: 1,
            out: Default::default(),
        }
    }
}

impl Pool for TestPool {
    type Buf = TestBuf;
    fn take(&mut self, len: usize) -> Option<TestBuf> {
        if len > BUF || self.free == 0 {
            return None;
        }
        self.free -= 1;
        let id = self.next_id;
        self.next_id += 1;
        self.out.insert(id);
        Some(TestBuf {
            id,
            bytes: vec![0xAA; BUF],
        })
    }
    fn give(&mut self, buf: TestBuf) {
        assert!(
            self.out.remove(&buf.id),
            "buffer {} given back twice or never taken",
            buf.id
        );
        self.free += 1;
    }
    fn largest(&self) -> usize {
        BUF
    }
}

/// Bytes the broker sent, read in whatever pieces the core asks for;
/// `fail` makes the next read fail (connection reset).
#[derive(Default)]
pub struct Wire {
    pub incoming: VecDeque<u8>,
    pub fail: bool,
    /// The sizes the core asked for, in order.
    pub asked: Vec<usize>,
}

impl Reader for Wire {
    fn read(&mut self, into: &mut [u8]) -> Result<usize, ()> {
        self.asked.push(into.len());
        if self.fail {
            return Err(());
        }
        let n = into.len().min(self.incoming.len());
        for b in into.iter_mut().take(n) {
            *b = self.incoming.pop_front().unwrap();
        }
        Ok(n)
    }
}

/// A callback as the platform would hold it: which one it is.
pub type Cb = u8;
/// What the platform needs to open a connection: a label.
pub type Open = &'static str;

/// The tests' CONNECT has no user name.
impl crate::agent::core::Connects for Open {
    const USER_NAME: Option<&'static [u8]> = None;
}

pub type Core = AgentCore<std::boxed::Box<[Client<TestBuf, Cb, Open, OPS, SUBS, FILTER>]>, TestBuf, Cb, Open, CLIENTS, OPS, SUBS, FILTER>;

/// Something the platform was told to do, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Did {
    Open(usize, Open),
    Sent(usize, Vec<u8>),
    Closed(usize, CloseReason, bool),
    Completed(usize, u16),
    /// Client, topic, payload, callbacks called in order (the subscribers,
    /// or the connect callback alone when none matched).
    Delivered(usize, String, Vec<u8>, Vec<Cb>),
    Disconnected(usize, Cb),
    Dropped(usize, usize),
}

/// The platform stand-in: the core, the pool, each client's wire and the clock.
pub struct Rig {
    pub core: Core,
    pub pool: TestPool,
    pub wires: [Wire; CLIENTS],
    pub now: u32,
    pub did: Vec<Did>,
    /// Subscription callbacks that keep the buffer they are given.
    pub keepers: Vec<Cb>,
    /// Buffers the application kept, to give back later.
    pub kept: Vec<TestBuf>,
    /// Handles.
    pub handles: Vec<(usize, u32)>,
}

pub const KEEP_ALIVE: KeepAlive = KeepAlive {
    interval: 100,
    timeout: 20,
};

impl Rig {
    pub fn new() -> Self {
        Self::with_pool(8)
    }

    pub fn with_pool(buffers: u32) -> Self {
        Rig {
            core: Core::new(std::boxed::Box::new([const { Client::new() }; CLIENTS]), 256, KEEP_ALIVE),
            pool: TestPool::new(buffers),
            wires: Default::default(),
            now: 1000,
            did: Vec::new(),
            keepers: Vec::new(),
            kept: Vec::new(),
            handles: Vec::new(),
        }
    }

    pub fn create(&mut self) -> usize {
        let h = self.core.create().expect("a free client");
        self.handles.push(h);
        h.0
    }

    fn handle(&self, client: usize) -> (usize, u32) {
        *self
            .handles
            .iter()
            .rev()
            .find(|h| h.0 == client)
            .expect("created")
    }

    pub fn submit(
        &mut self,
        client: usize,
        mut command: Command<'_, Open, Cb>,
    ) -> Result<u16, Refused> {
        let (i, g) = self.handle(client);
        self.core.submit(i, g, &mut command, &mut self.pool)
    }

    /// Performs every action the core has; the platform's side of each.
    pub fn run(&mut self) {
        while let Some(Next { client, action }) = self.core.poll(&mut self.pool) {
            match action {
                Action::Open { open } => self.did.push(Did::Open(client, core::mem::ManuallyDrop::into_inner(open))),
                Action::Send { out, complete } => {
                    let bytes = match out {
                        Out::Buf { buf, len } => {
                            let b = buf.as_ref()[..len].to_vec();
                            self.pool.give(buf);
                            b
                        }
                        Out::Small { word, len } => word.to_le_bytes()[..len as usize].to_vec(),
                    };
                    self.did.push(Did::Sent(client, bytes));
                    self.core
                        .sent(client, complete, true, self.now, &mut self.pool);
                }
                Action::Close { close: (reason, graceful) } => self.did.push(Did::Closed(client, reason, graceful)),
                Action::Complete { slot } => self.did.push(Did::Completed(client, slot)),
                Action::Deliver => {
                    let d = self.core.take_delivery(client).expect("a Deliver action has its delivery");
                    let topic = String::from_utf8(
                        d.buf.as_ref()[2..2 + usize::from(d.topic_len)].to_vec(),
                    )
                    .unwrap();
                    let payload = d.buf.as_ref()[d.payload.0..d.payload.0 + d.payload.1].to_vec();
                    let mut called = Vec::new();
                    let mut taken = false;
                    for cb in d.subscribers.iter() {
                        called.push(*cb);
                        if self.keepers.contains(cb) {
                            taken = true;
                            break;
                        }
                    }
                    if taken {
                        self.kept.push(d.buf);
                    } else {
                        self.pool.give(d.buf);
                    }
                    self.did
                        .push(Did::Delivered(client, topic, payload, called));
                }
                Action::Disconnected { callback } => {
                    self.did.push(Did::Disconnected(client, callback))
                }
                Action::Dropped { len } => self.did.push(Did::Dropped(client, len)),
            }
        }
    }

    /// The broker sends `bytes` to `client`; the task reads them and acts.
    pub fn broker(&mut self, client: usize, bytes: &[u8]) {
        self.wires[client].incoming.extend(bytes.iter().copied());
        self.pump(client);
    }

    /// One pass of the task for `client`: receive (across pauses), tick, act.
    pub fn pump(&mut self, client: usize) {
        loop {
            let status =
                self.core
                    .received(client, &mut self.wires[client], self.now, &mut self.pool);
            self.run();
            match status {
                RxStatus::Idle => break,
                RxStatus::Budget => self.core.rested(), // The task waits a tick.
                RxStatus::Paused => {}
            }
        }
        self.tick(self.now);
        self.run();
    }

    /// `tick`, checked: the deadline it gives is the earliest of the
    /// connections it times (open, not closing), after its PINGREQs and closes.
    pub fn tick(&mut self, now: u32) -> Option<u32> {
        let next = self.core.tick(now, &mut self.pool);
        let timed = self.core.clients.iter().filter(|c| c.reading());
        assert_eq!(next, timed.filter_map(|c| c.session.next_deadline(now, KEEP_ALIVE)).min());
        next
    }

    pub fn advance(&mut self, ticks: u32) {
        self.now = self.now.wrapping_add(ticks);
        for c in 0..CLIENTS {
            self.tick(self.now);
            self.run();
            let _ = c;
        }
    }

    /// Connects `client` (CONNECT sent, CONNACK accepted) and collects the connect.
    pub fn connect(&mut self, client: usize) {
        let slot = self.submit(client, connect_command(Some(9), 5000)).unwrap();
        self.run();
        self.core.opened(client, self.now);
        self.run();
        self.broker(client, &[0x20, 0x02, 0x00, 0x00]);
        assert_eq!(
            self.core.collect(client, slot, &mut self.pool),
            Some(Ok(()))
        );
        self.did.clear();
    }

    pub fn sent(&self, client: usize) -> Vec<Vec<u8>> {
        self.did
            .iter()
            .filter_map(|d| match d {
                Did::Sent(c, b) if *c == client => Some(b.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn completed(&self, client: usize, slot: u16) -> usize {
        self.did
            .iter()
            .filter(|d| **d == Did::Completed(client, slot))
            .count()
    }

    /// Every buffer is in the pool or kept by the application.
    pub fn assert_buffers_home(&self) {
        let kept: std::collections::BTreeSet<u32> = self.kept.iter().map(|b| b.id).collect();
        assert_eq!(
            self.pool.out, kept,
            "buffers outside the pool that the application does not hold"
        );
    }
}

pub fn connect_command(callback: Option<Cb>, timeout: u32) -> Command<'static, Open, Cb> {
    Command::Connect {
        client_id: b"core",
        keep_alive: 1200,
        open: Some("broker"),
        callback,
        start: 1000,
        timeout,
    }
}

/// A PUBLISH from the broker.
pub fn publish(topic: &str, payload: &[u8], qos: u8, id: u16, dup: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    let mut p = vec![0x30 | (qos << 1) | if dup { 0x08 } else { 0 }];
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        p.push(b);
        if len == 0 {
            break;
        }
    }
    p.extend_from_slice(&body);
    p
}

/// The packet id of a packet we sent (SUBSCRIBE, UNSUBSCRIBE, PUBLISH QoS>0).
pub fn sent_id(packet: &[u8]) -> u16 {
    let kind = packet[0] >> 4;
    let at = 2; // Remaining lengths in these tests are < 128.
    if kind == 3 {
        let tl = u16::from_be_bytes([packet[at], packet[at + 1]]) as usize;
        u16::from_be_bytes([packet[at + 2 + tl], packet[at + 3 + tl]])
    } else {
        u16::from_be_bytes([packet[at], packet[at + 1]])
    }
}
