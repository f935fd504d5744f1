//! Drives the shadow core (`shadow::core::ShadowCore`, its three client slots)
//! the way the platform (`ffi::shadow`) and a hostile broker do, from an
//! arbitrary program: clients created on two shared MQTT clients or on a
//! dedicated one each (or discarded, their MQTT client not made); callers'
//! flows begun on them (updates with valid, fuzzed or self-tokened documents,
//! gets, deletes, callback registrations, connects, client deletes), several
//! in progress at once, stepped with fuzzed outcomes; publishes from the
//! broker on shadow topics and others, with fuzzed payloads or answers built
//! around the clientTokens the core wrote, each in a fresh buffer, delivered
//! step by step with fuzzed answers from the callbacks, while other callers'
//! flows go on during a callback (the platform calls it without its lock).
//!
//! Checked at every step:
//! - buffers: each buffer handed to a delivery is owned by exactly one of the
//!   delivery, the application (a callback kept it), the core (a waiting
//!   Get's document: `holds` agrees at every step), a caller (handed by
//!   `Finish` and `document`) or the agent (given back by `Done { kept: false }` or
//!   `ReturnBuffer`); `Done { kept }` says which; nothing is given back twice
//!   or handed out twice;
//! - flows: a begin is refused exactly when a flow runs on the client, the
//!   handle is stale, an update's document is unusable or one thing more would
//!   have callbacks; a request body reads back with a clientToken (the
//!   document's own, sent as is); the topics steps name are the flow's; a flow
//!   finishes once, a delete with `Detach` (and the client is gone), any other
//!   with `Finish`; a Finish document only for a Get that succeeded (always
//!   for one), the buffer of its answer; an operation's code is its answer's
//!   (unless its publish failed), else the failure's;
//! - deliveries: a wake is for a client on the publish's MQTT client waiting
//!   for that answer (thing, operation, token), between its publish and the
//!   end of its wait, once; a call is for a live client on the MQTT client, in
//!   slot order, of a callback registered (as of its registration's barrier)
//!   with its record;
//! and at the end, after every flow was driven to its end with timeouts and
//! failures (one that does not end is a failure) and every client deleted:
//! the core holds no buffer, every buffer is back with the agent, every slot
//! can be created again and no stale handle names a client.
//!
//! Every request body `begin` writes must read back (`json::fields`) with
//! exactly one clientToken: before 599f322 a document with a `null` one, or
//! one spelled with escapes, got a second (fuzz/README.md, Findings).
//!
//! Which topic uses make a SUBSCRIBE, the keep rules and the registration
//! limits in detail are the core's behaviour and property tests'
//! (`src/shadow/core/tests.rs`); this target looks for crashes, hangs and
//! lost or doubled buffers under inputs nobody wrote down.
#![no_main]

use std::collections::BTreeMap;

use afrcloud::shadow::core::{
    request_capacity, BufferId, Callback, ClientId, Code, Delivered, Delivery, MqttId, Outcome, QoS, ShadowCore, Start, Step, Wants, CLIENTS,
    MAX_TOKEN, THINGS,
};
use afrcloud::shadow::json;
use afrcloud::shadow::rejection_code;
use afrcloud::shadow::topic::{self, Kind, Operation, Topic};
use libfuzzer_sys::fuzz_target;

#[path = "../common/program.rs"]
mod program;
use program::Program;

/// The longest thing name AWS allows: the longest topics.
const LONG: &str = concat!(
    "0123456789abcdef",
    "0123456789abcdef",
    "0123456789abcdef",
    "0123456789abcdef",
    "0123456789abcdef",
    "0123456789abcdef",
    "0123456789abcdef",
    "0123456789abcdef"
);
const _: () = assert!(LONG.len() == topic::MAX_THING_NAME);
/// Three things: one more than a client may have callbacks for.
const THING_NAMES: [&str; 3] = ["lamp", "lamp:2", LONG];
const SHARED: [MqttId; 2] = [MqttId(0x100), MqttId(0x200)];
/// An MQTT client no shadow client uses.
const FOREIGN: MqttId = MqttId(0x300);
const OPERATIONS: [Operation; 3] = [Operation::Update, Operation::Get, Operation::Delete];
/// `code`s of answers: none, the service's, and what a broker may put there.
const CODES: [Option<i64>; 8] = [None, Some(404), Some(400), Some(599), Some(600), Some(0), Some(2), Some(-404)];
/// Buffers the application holds at most (then it gives back its oldest).
const APP_HELD: usize = 6;
/// Program steps (nested ones included) per input.
const MAX_OPS: u32 = 600;

/// Who owns a buffer handed to a delivery (given back: no entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Delivery,
    /// A callback answered that it keeps it.
    App,
    /// A waiting Get's document (`holds`).
    Core,
    /// Handed to a Get's caller by `Finish`.
    Caller,
}

struct Buffer {
    owner: Owner,
    /// The payload's address and length as the delivery had them.
    at: usize,
    len: u32,
}

#[derive(Debug)]
enum What {
    Operation { op: Operation, thing: usize, token: Vec<u8> },
    Register { thing: usize, want: u8, record: u32 },
    Connect,
    Delete,
}

struct Flow {
    what: What,
    /// The last step handed out.
    last: Option<Step>,
    /// Its request went out (`Publish`), with the outcome reported for it once reported.
    publish: Option<Option<Outcome>>,
    /// Between its publish and the end of its wait (an answer may reach it).
    open: bool,
    /// The answer that woke it, as the result it should come to.
    woken: Option<Code>,
    /// The buffer of its answer the core holds for it (a Get's).
    doc: Option<BufferId>,
}

struct Client {
    id: ClientId,
    mqtt: MqttId,
    dedicated: bool,
    flow: Option<Flow>,
}

/// A clientToken an operation was sent with (answers are built around it;
/// kept after the operation ended, for late answers).
struct Sent {
    mqtt: MqttId,
    thing: usize,
    op: Operation,
    token: Vec<u8>,
}

struct Rig {
    core: Box<ShadowCore<u32>>,
    /// By core slot.
    clients: [Option<Client>; CLIENTS],
    /// Deleted and discarded clients, most recent last.
    gone: Vec<ClientId>,
    /// (slot, generation, thing) -> (Wants bits, record), as the core should hold them.
    callbacks: BTreeMap<(usize, u32, usize), (u8, u32)>,
    /// Buffers not given back, by id.
    buffers: BTreeMap<usize, Buffer>,
    /// Buffers of the application and callers, oldest first.
    app_held: Vec<usize>,
    sent: Vec<Sent>,
    next_buffer: usize,
    next_record: u32,
    next_mqtt: usize,
    ops: u32,
}

fn outcome(b: u8) -> Outcome {
    [Code::Success, Code::Success, Code::Timeout, Code::Failure][usize::from(b & 3)]
}

fn failed() -> Step {
    Step::Finish { code: Code::Failure }
}

fn wants(bits: u8) -> Wants {
    Wants { updated: bits & 1 != 0, deleted: bits & 2 != 0, delta: bits & 4 != 0 }
}

/// Whether `begin` can use an update's document: a JSON object whose token (if any) fits.
fn usable(doc: &[u8]) -> bool {
    json::fields(doc).is_ok_and(|f| f.client_token.is_none_or(|t| t.len() <= MAX_TOKEN))
}

impl Rig {
    fn new() -> Self {
        Rig {
            core: Box::new(ShadowCore::new(0)),
            clients: Default::default(),
            gone: Vec::new(),
            callbacks: BTreeMap::new(),
            buffers: BTreeMap::new(),
            app_held: Vec::new(),
            sent: Vec::new(),
            next_buffer: 0,
            next_record: 0,
            next_mqtt: 0,
            ops: 0,
        }
    }

    fn check(&self) {
        for (&b, buf) in &self.buffers {
            let held = self.core.holds(BufferId(b));
            assert_eq!(held, buf.owner == Owner::Core, "buffer {b} is the {:?}'s, yet the core holds it: {held}", buf.owner);
            if held {
                let flows = self.clients.iter().flatten().filter(|c| c.flow.as_ref().is_some_and(|f| f.doc == Some(BufferId(b)))).count();
                assert_eq!(flows, 1, "buffer {b} held for {flows} flows");
            }
        }
        for (slot, c) in self.clients.iter().enumerate() {
            let Some(c) = c else { continue };
            assert_eq!(c.id.slot, slot);
            assert_eq!(self.core.client(c.id.handle()), Some(c.id), "a live client's handle");
            assert_eq!(self.core.mqtt(c.id), Some(c.mqtt));
            if let Some(b) = c.flow.as_ref().and_then(|f| f.doc) {
                assert_eq!(self.buffers.get(&b.0).map(|b| b.owner), Some(Owner::Core), "a flow's answer not held");
            }
        }
    }

    fn remember_gone(&mut self, id: ClientId) {
        if self.gone.len() == 8 {
            self.gone.remove(0);
        }
        self.gone.push(id);
    }

    /// `SHADOW_ClientCreate`: shared (`arg` 0, 1), dedicated (2, 3), whose
    /// MQTT client cannot be made (3 with bit 2): discarded.
    fn create(&mut self, arg: u8) {
        let free = self.clients.iter().any(|c| c.is_none());
        let (mqtt, dedicated) = match arg & 3 {
            a @ (0 | 1) => (SHARED[usize::from(a)], false),
            _ => (MqttId(0), true),
        };
        let Some(id) = self.core.create(mqtt, dedicated) else {
            assert!(!free, "create refused with a slot free");
            return;
        };
        assert!(self.clients.get(id.slot).is_some_and(|c| c.is_none()), "a live client's slot handed out again");
        assert!(!self.gone.contains(&id), "a stale handle made live again");
        let mqtt = if dedicated {
            if arg & 7 == 7 {
                self.core.discard(id);
                assert_eq!(self.core.client(id.handle()), None, "a discarded client is live");
                self.remember_gone(id);
                return;
            }
            self.next_mqtt += 1;
            let m = MqttId(0x1000 + self.next_mqtt);
            self.core.set_mqtt(id, m);
            m
        } else {
            mqtt
        };
        self.clients[id.slot] = Some(Client { id, mqtt, dedicated, flow: None });
    }

    /// The client a begin is for: `slot`'s, or (slot 3) the latest stale
    /// handle; and whether it must be refused for being busy or stale.
    fn target(&self, slot: usize) -> Option<(ClientId, bool)> {
        match self.clients.get(slot) {
            Some(c) => c.as_ref().map(|c| (c.id, c.flow.is_some())),
            None => self.gone.last().map(|&id| (id, true)),
        }
    }

    /// After a refused begin: nothing new runs on the client (an idle one
    /// has no step; a busy one's flow goes on).
    /// A busy client's is `Timeout` (the platform waits), any other `Failure`.
    fn refused(&mut self, id: ClientId, got: Result<usize, Code>) {
        let busy = self.clients[id.slot].as_ref().is_some_and(|c| c.id == id && c.flow.is_some());
        assert_eq!(got, Err(if busy { Code::Timeout } else { Code::Failure }));
        if !busy {
            let mut topic = Topic::new();
            assert_eq!(self.core.resume(id, Code::Success, &mut topic), failed(), "a step after a refused begin");
        }
    }

    fn started(&mut self, slot: usize, what: What) {
        let c = self.clients[slot].as_mut().expect("begun on a live client");
        c.flow = Some(Flow { what, last: None, publish: None, open: false, woken: None, doc: None });
    }

    /// `SHADOW_Update`, `_Get`, `_Delete`: an operation; `short` bytes less
    /// than `request_capacity` for its body.
    #[allow(clippy::too_many_arguments)]
    fn begin_operation(&mut self, slot: usize, op: Operation, thing: usize, qos: u8, keep: bool, doc: &[u8], short: usize) {
        let Some((id, refuse)) = self.target(slot) else { return };
        let mut out = vec![0u8; request_capacity(op, doc.len()).saturating_sub(short)];
        let qos = if qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
        let start = Start::Operation { op, thing: THING_NAMES[thing], qos, keep, doc };
        let got = self.core.begin(id, start, &mut out);
        let own = if op == Operation::Update { json::fields(doc).ok().and_then(|f| f.client_token) } else { None };
        if refuse {
            return self.refused(id, got);
        }
        if short == 0 {
            let ok = op != Operation::Update || usable(doc);
            assert_eq!(got.is_ok(), ok, "begin {op:?} with {:?}: {got:?}", String::from_utf8_lossy(doc));
        }
        let Ok(len) = got else { return self.refused(id, got) };
        assert!(len <= out.len());
        let body = &out[..len];
        let token = json::fields(body).ok().and_then(|f| f.client_token);
        let token = token.unwrap_or_else(|| panic!("a request body without its clientToken: {:?}", String::from_utf8_lossy(body)));
        if own.is_some() {
            assert_eq!(body, doc, "a document with its own clientToken is sent as is");
        }
        let mqtt = self.clients[slot].as_ref().map_or(FOREIGN, |c| c.mqtt);
        if self.sent.len() == 8 {
            self.sent.remove(0);
        }
        self.sent.push(Sent { mqtt, thing, op, token: token.to_vec() });
        self.started(slot, What::Operation { op, thing, token: token.to_vec() });
    }

    /// `SHADOW_RegisterCallbacks`.
    fn begin_register(&mut self, slot: usize, thing: usize, want: u8) {
        let Some((id, refuse)) = self.target(slot) else { return };
        self.next_record += 1;
        let record = self.next_record;
        let got = self.core.begin_register(id, THING_NAMES[thing], wants(want), record).map(|()| 0);
        let mine = |k: &(usize, u32, usize)| k.0 == id.slot && k.1 == id.generation;
        let with_callbacks = self.callbacks.keys().filter(|k| mine(k)).count();
        let registered = self.callbacks.contains_key(&(id.slot, id.generation, thing));
        let full = want != 0 && !registered && with_callbacks >= THINGS;
        assert_eq!(got.is_ok(), !refuse && !full, "register {want:#b} on thing {thing} ({with_callbacks} with callbacks): {got:?}");
        if got.is_err() {
            return self.refused(id, got);
        }
        self.started(slot, What::Register { thing, want, record });
    }

    /// `SHADOW_ClientConnect` and `SHADOW_ClientDelete`.
    fn begin_plain(&mut self, slot: usize, delete: bool) {
        let Some((id, refuse)) = self.target(slot) else { return };
        let got = if delete { self.core.begin_delete(id) } else { self.core.begin_connect(id) };
        assert_eq!(got.is_ok(), !refuse, "{}: {got:?}", if delete { "delete" } else { "connect" });
        if got.is_err() {
            return self.refused(id, got.map(|()| 0));
        }
        self.started(slot, if delete { What::Delete } else { What::Connect });
    }

    /// One step of the flow on `slot` (slot 3: a stale handle), `outcome`
    /// being what its last step came to. `None`: no flow there.
    fn resume(&mut self, slot: usize, outcome: Outcome) -> Option<Step> {
        let mut topic = Topic::new();
        let Some(Some(c)) = self.clients.get_mut(slot) else {
            if let Some(&id) = self.gone.last() {
                assert_eq!(self.core.resume(id, outcome, &mut topic), failed(), "a step for a stale handle");
                // The platform takes a Finish's document at once: none for a stale handle.
                assert_eq!(self.core.document(id), None, "a document for a stale handle");
            }
            return None;
        };
        let (id, dedicated) = (c.id, c.dedicated);
        let Some(mut flow) = c.flow.take() else {
            assert_eq!(self.core.resume(id, outcome, &mut topic), failed(), "a step for a client without a flow");
            assert_eq!(self.core.document(id), None, "a document for a client without a flow");
            return None;
        };
        if let Some(Step::Publish { .. }) = flow.last {
            flow.publish = Some(Some(outcome));
        }
        let step = self.core.resume(id, outcome, &mut topic);
        let ours = || topic::parse(topic.as_bytes()).and_then(|(t, k)| Some((THING_NAMES.iter().position(|n| n.as_bytes() == t)?, k)));
        let mut ended = false;
        match step {
            Step::Subscribe { .. } | Step::Unsubscribe { .. } => {
                let (thing, kind) = ours().unwrap_or_else(|| panic!("{step:?} names {:?}, none of our things' topics", topic.as_str()));
                let fits = match flow.what {
                    What::Operation { op, thing: t, .. } => thing == t && kind < 6 && kind / 2 == op as usize,
                    What::Register { thing: t, .. } => thing == t && matches!(kind, 4 | 6 | 7),
                    What::Connect => matches!(step, Step::Subscribe { .. }),
                    What::Delete => matches!(step, Step::Unsubscribe { .. }),
                };
                assert!(fits, "{step:?} of {:?} in a {:?} flow", topic.as_str(), flow.what);
            }
            Step::Publish { .. } => {
                let What::Operation { op, thing, .. } = flow.what else { panic!("a publish in a {:?} flow", flow.what) };
                assert!(flow.publish.is_none(), "a request published twice");
                let expected = topic::topic(THING_NAMES[thing], Kind::Request(op)).expect("a valid thing");
                assert_eq!(topic.as_bytes(), expected.as_bytes(), "the request topic");
                flow.publish = Some(None);
            }
            Step::Wait => {
                assert!(matches!(flow.what, What::Operation { .. }) && flow.publish.is_some(), "a wait without a request out");
            }
            Step::Connect => assert!(matches!(flow.what, What::Connect), "a CONNECT in a {:?} flow", flow.what),
            Step::Barrier => {
                let What::Register { thing, want, record } = flow.what else { panic!("a barrier in a {:?} flow", flow.what) };
                // The core set the callbacks as the barrier went out.
                let key = (id.slot, id.generation, thing);
                if want == 0 {
                    self.callbacks.remove(&key);
                } else {
                    self.callbacks.insert(key, (want, record));
                }
            }
            Step::ReturnBuffer { buffer } => {
                let owner = self.buffers.get(&buffer.0).map(|b| b.owner);
                let why = if owner.is_none() && (1..=self.next_buffer).contains(&buffer.0) { "given back already" } else { "" };
                assert_eq!(owner, Some(Owner::Core), "ReturnBuffer of buffer {} {why}", buffer.0);
                assert_eq!(flow.doc, Some(buffer), "ReturnBuffer of a buffer held for another flow");
                self.buffers.remove(&buffer.0);
                flow.doc = None;
            }
            Step::Finish { code } => {
                // Taken at once, under the same lock, as the platform does.
                let document = self.core.document(id);
                assert_eq!(self.core.document(id), None, "a document handed out twice");
                ended = true;
                let get = matches!(flow.what, What::Operation { op: Operation::Get, .. });
                assert!(!matches!(flow.what, What::Delete), "a delete ended without Detach");
                match document {
                    Some(d) => {
                        assert!(get && code == Code::Success, "a document handed by a {:?} flow ending with {code:?}", flow.what);
                        assert_eq!(Some(d.buffer), flow.doc, "a document other than this Get's answer");
                        let b = self.buffers.get_mut(&d.buffer.0).expect("a document given back already");
                        assert_eq!(b.owner, Owner::Core, "a document handed out twice");
                        assert_eq!((d.at, d.len), (b.at, b.len), "the document's place");
                        b.owner = Owner::Caller;
                        self.app_held.push(d.buffer.0);
                        flow.doc = None;
                    }
                    None => assert!(!(get && code == Code::Success), "a Get succeeded without its document"),
                }
                if let What::Operation { .. } = flow.what {
                    let expected = match (flow.publish, flow.woken) {
                        (None, _) => None,
                        (Some(None), _) => panic!("finished before its publish's outcome"),
                        (Some(Some(o)), _) if o != Code::Success => Some(o),
                        (Some(Some(_)), Some(result)) => Some(result),
                        (Some(Some(_)), None) => Some(Code::Timeout),
                    };
                    match expected {
                        Some(e) => assert_eq!(code, e, "an operation's code (publish {:?}, answer {:?})", flow.publish, flow.woken),
                        None => assert!(matches!(code, Code::Timeout | Code::Failure), "never published, yet {code:?}"),
                    }
                }
            }
            Step::Detach { dedicated: d } => {
                assert!(matches!(flow.what, What::Delete), "Detach ended a {:?} flow", flow.what);
                assert_eq!(d, dedicated);
                assert_eq!(self.core.client(id.handle()), None, "a deleted client is live");
                assert_eq!(self.core.mqtt(id), None);
                self.callbacks.retain(|k, _| !(k.0 == id.slot && k.1 == id.generation));
                self.clients[slot] = None;
                self.remember_gone(id);
                return Some(step);
            }
        }
        flow.open = matches!(step, Step::Publish { .. } | Step::Wait);
        flow.last = Some(step);
        if !ended {
            if let Some(c) = self.clients[slot].as_mut() {
                c.flow = Some(flow);
            }
        }
        Some(step)
    }

    /// Steps the flow on `slot` with successes until it waits or ends (at most 12 steps).
    fn drive(&mut self, slot: usize) {
        for _ in 0..12 {
            match self.resume(slot, Code::Success) {
                None | Some(Step::Wait | Step::Finish { .. } | Step::Detach { .. }) => return,
                Some(_) => {}
            }
        }
    }

    /// The application gives back a buffer a callback kept or a Get returned.
    fn give_back(&mut self, pick: usize) {
        if self.app_held.is_empty() {
            return;
        }
        let b = self.app_held.remove(pick % self.app_held.len());
        let buf = self.buffers.remove(&b).expect("the application's buffer");
        assert!(matches!(buf.owner, Owner::App | Owner::Caller), "the application gave back the {:?}'s buffer", buf.owner);
    }

    /// A woken caller: the answer it waits for.
    fn woken(&mut self, slot: usize, mqtt: MqttId, thing: Option<usize>, kind: usize, payload: &[u8], buffer: BufferId) {
        let c = self.clients.get_mut(slot).and_then(|c| c.as_mut()).expect("woke a free slot");
        assert_eq!(c.mqtt, mqtt, "woke a client of another MQTT client");
        let f = c.flow.as_mut().expect("woke a client without a flow");
        let What::Operation { op, thing: t, ref token } = f.what else { panic!("woke a {:?} flow", f.what) };
        assert!(f.open, "woke an operation outside its wait");
        assert!(f.woken.is_none(), "an operation answered twice");
        assert!(thing == Some(t) && kind < 6 && kind / 2 == op as usize, "woke a {op:?} of thing {t} with kind {kind} of {thing:?}");
        let fields = json::fields(payload).expect("woken by an unreadable answer");
        assert!(fields.client_token.is_some_and(|x| json::same_string(x, token)), "woken by another clientToken");
        let result = if kind & 1 == 1 { rejection_code(fields.code).map_or(Code::Failure, Code::Rejected) } else { Code::Success };
        f.woken = Some(result);
        if result == Code::Success && op == Operation::Get {
            f.doc = Some(buffer);
        }
    }

    /// A publish received on `mqtt`, delivered in a fresh buffer.
    fn publish(&mut self, p: &mut Program, mqtt: MqttId, topic: &[u8], payload: &[u8]) {
        self.next_buffer += 1;
        let buffer = BufferId(self.next_buffer);
        let at = self.next_buffer << 12 | 0x40;
        let parsed = topic::parse(topic);
        let Some(mut d) = Delivery::new(mqtt, topic, payload, buffer, at) else {
            assert!(parsed.is_none(), "a shadow topic refused");
            return; // Not a shadow topic: the agent frees the buffer.
        };
        let (thing_name, kind) = parsed.expect("a delivery of a topic that is no shadow topic");
        assert_eq!((d.thing(), d.buffer()), (thing_name, buffer));
        let thing = THING_NAMES.iter().position(|n| n.as_bytes() == thing_name);
        self.buffers.insert(buffer.0, Buffer { owner: Owner::Delivery, at, len: payload.len() as u32 });
        let mut app_kept = false;
        let mut called: Option<usize> = None;
        for round in 0.. {
            assert!(round <= 2 * CLIENTS, "a delivery that does not end");
            let mut woken = Vec::new();
            let step = self.core.deliver(&mut d, |slot| woken.push(slot));
            for slot in woken {
                self.woken(slot, mqtt, thing, kind, payload, buffer);
            }
            match step {
                Delivered::Call { slot, callback, record } => {
                    assert!(called.is_none_or(|s| slot > s), "slot {slot} called after slot {called:?}");
                    called = Some(slot);
                    let c = self.clients.get(slot).and_then(|c| c.as_ref()).expect("a callback of a free slot");
                    assert_eq!(c.mqtt, mqtt, "a callback of a client of another MQTT client");
                    let (bit, on) = match callback {
                        Callback::Updated => (1, 7),
                        Callback::Deleted => (2, 4),
                        Callback::Delta => (4, 6),
                    };
                    assert_eq!(kind, on, "{callback:?} for kind {kind}");
                    let registered = thing.and_then(|t| self.callbacks.get(&(slot, c.id.generation, t)));
                    assert!(
                        registered.is_some_and(|&(want, r)| want & bit != 0 && r == record),
                        "{callback:?} with record {record} of slot {slot} for {thing:?}: registered {registered:?}"
                    );
                    self.check();
                    // The callback runs without the platform's lock: other callers go on.
                    let a = p.byte();
                    for _ in 0..(a >> 2 & 3) {
                        self.step(p, true);
                    }
                    if a & 3 != 0 {
                        let kept = a & 2 != 0;
                        d.kept(kept);
                        app_kept |= kept && callback != Callback::Deleted;
                    }
                }
                Delivered::Done { kept } => {
                    let held = self.core.holds(buffer);
                    assert!(!(held && app_kept), "buffer {} kept by a callback and held by the core", buffer.0);
                    assert_eq!(kept, held || app_kept, "Done {{ kept: {kept} }} with a callback keeping it: {app_kept}, the core holding it: {held}");
                    if held {
                        self.buffers.get_mut(&buffer.0).expect("the delivery's").owner = Owner::Core;
                    } else if app_kept {
                        self.buffers.get_mut(&buffer.0).expect("the delivery's").owner = Owner::App;
                        self.app_held.push(buffer.0);
                        if self.app_held.len() > APP_HELD {
                            self.give_back(0);
                        }
                    } else {
                        self.buffers.remove(&buffer.0);
                    }
                    break;
                }
            }
        }
    }

    /// The MQTT client a publish comes on.
    fn mqtt_of(&self, b: u8) -> MqttId {
        match b & 3 {
            0 | 1 => SHARED[usize::from(b & 1)],
            2 => self.clients[usize::from(b >> 2) % CLIENTS].as_ref().map_or(FOREIGN, |c| c.mqtt),
            _ => FOREIGN,
        }
    }

    /// A publish from the broker: topic, payload and MQTT client from the program.
    fn publish_raw(&mut self, p: &mut Program) {
        let (t, q, m) = (p.byte(), p.byte(), p.byte());
        let mqtt = self.mqtt_of(m);
        let topic: Vec<u8> = if t >= 0xE0 {
            match t >> 3 & 3 {
                0 => b"$aws/things/lamp/shadow/update".to_vec(),
                1 => p.bytes(usize::from(q >> 2)).to_vec(),
                2 => b"$aws/things/la+mp/shadow/get/accepted".to_vec(),
                _ => b"$aws/things/lamp/shadow/update/accepted/x".to_vec(),
            }
        } else {
            let thing = THING_NAMES.get(usize::from(t >> 3 & 3)).copied().unwrap_or("other-thing");
            let mut topic = Topic::new();
            topic::write(thing.as_bytes(), usize::from(t & 7), &mut topic);
            topic.as_bytes().to_vec()
        };
        let payload: Vec<u8> = match q & 3 {
            0 => p.bytes(usize::from(q >> 2)).to_vec(),
            1 => {
                let token = self.sent.get(usize::from(q >> 2) % self.sent.len().max(1)).map(|s| s.token.clone());
                let token = token.unwrap_or_else(|| b"afr-0-1-0".to_vec());
                answer(&token, CODES[usize::from(q >> 2 & 7)], q & 0x80 != 0)
            }
            2 => [&br#"{"code":404,"message":"x"}"#[..], br#"{"state":{"desired":{"on":1}},"version":2}"#][usize::from(q >> 7)].to_vec(),
            _ => Vec::new(),
        };
        self.publish(p, mqtt, &topic, &payload);
    }

    /// An answer to an operation sent (or a near miss: another operation's topic, another MQTT client).
    fn publish_answer(&mut self, p: &mut Program) {
        let (a, c) = (p.byte(), p.byte());
        if self.sent.is_empty() {
            return;
        }
        let s = &self.sent[usize::from(a >> 2) % self.sent.len()];
        let (mut op, mut mqtt) = (s.op, s.mqtt);
        match a & 3 {
            1 => op = OPERATIONS[(op as usize + 1 + usize::from(c >> 7)) % 3],
            2 => mqtt = if mqtt == SHARED[0] { SHARED[1] } else { SHARED[0] },
            _ => {}
        }
        let kind = if c & 1 != 0 { Kind::Rejected(op) } else { Kind::Accepted(op) };
        let topic = topic::topic(THING_NAMES[s.thing], kind).expect("a valid thing");
        let payload = answer(&s.token, CODES[usize::from(c >> 1 & 7)], a & 3 == 3);
        self.publish(p, mqtt, topic.as_bytes(), &payload);
    }

    /// A publish for callbacks (`update/documents`, `update/delta`, `delete/accepted`)
    /// on a client's MQTT client.
    fn publish_event(&mut self, p: &mut Program) {
        let a = p.byte();
        let thing = THING_NAMES[usize::from(a & 3) % 3];
        let kind = [Kind::Documents, Kind::Delta, Kind::Accepted(Operation::Delete), Kind::Accepted(Operation::Update)][usize::from(a >> 2 & 3)];
        let mqtt = self.clients[usize::from(a >> 4 & 3) % CLIENTS].as_ref().map_or(SHARED[usize::from(a >> 6 & 1)], |c| c.mqtt);
        let topic = topic::topic(thing, kind).expect("a valid thing");
        let payload = if a & 0x80 != 0 { &br#"{"state":{"on":1},"version":9}"#[..] } else { br#"{"previous":null,"current":{"state":{}}}"# };
        self.publish(p, mqtt, topic.as_bytes(), payload);
    }

    /// One instruction of the program. `nested`: during a callback (no
    /// delivery begins: the agent task is in one).
    fn step(&mut self, p: &mut Program, nested: bool) {
        if self.ops >= MAX_OPS {
            return;
        }
        self.ops += 1;
        let op = p.byte();
        let target = usize::from(op >> 4 & 3);
        let slot = target % CLIENTS;
        match op & 0x0f {
            0 => self.create(p.byte()),
            1 => {
                let a = p.byte();
                let short = if a & 0x80 != 0 { usize::from(p.byte() & 0x3f) } else { 0 };
                let doc: Vec<u8> = match a >> 4 & 7 {
                    0 | 1 => format!(r#"{{"state":{{"reported":{{"on":{}}}}}}}"#, a & 0x0f).into_bytes(),
                    2 => {
                        let tokens: [&[u8]; 4] = [b"mine", b"afr-0-1-0", &[b't'; MAX_TOKEN], &[b't'; MAX_TOKEN + 1]];
                        let mut d = br#"{"state":{"desired":{"on":1}},"clientToken":""#.to_vec();
                        d.extend_from_slice(tokens[usize::from(a & 3)]);
                        d.extend_from_slice(br#""}"#);
                        d
                    }
                    3 if a & 1 == 0 => br#" {"clientToken":"a\/b","state":{}} "#.to_vec(),
                    3 => br#"{"clientToken":null,"state":{}}"#.to_vec(),
                    4 => b"{}".to_vec(),
                    _ => {
                        let n = usize::from(p.byte() & 0x3f);
                        p.bytes(n).to_vec()
                    }
                };
                self.begin_operation(target, Operation::Update, usize::from(a & 3) % 3, a >> 2 & 1, a & 8 != 0, &doc, short);
            }
            2 | 3 => {
                let a = p.byte();
                let short = if a & 0x80 != 0 { usize::from(p.byte() & 0x3f) } else { 0 };
                let op = if op & 0x0f == 2 { Operation::Get } else { Operation::Delete };
                self.begin_operation(target, op, usize::from(a & 3) % 3, a >> 2 & 1, a & 8 != 0, &[], short);
            }
            4 => {
                let a = p.byte();
                self.begin_register(target, usize::from(a & 3) % 3, a >> 2 & 7);
            }
            5 => self.begin_plain(target, false),
            6 => self.begin_plain(target, true),
            7 | 15 => {
                let a = p.byte();
                for i in 0..=(a >> 2 & 3) {
                    self.resume(target, outcome(if i == 0 { a } else { 0 }));
                }
            }
            8 => self.drive(slot),
            9 | 10 | 14 if nested => {
                self.resume(target, outcome(p.byte()));
            }
            9 => self.publish_raw(p),
            10 => self.publish_answer(p),
            14 => self.publish_event(p),
            11 => self.give_back(usize::from(p.byte())),
            12 => {
                // A handle from C: a live client's, or none.
                let h = usize::from(u16::from_le_bytes([p.byte(), p.byte()]));
                if let Some(id) = self.core.client(h) {
                    assert!(self.clients[id.slot].as_ref().is_some_and(|c| c.id == id), "handle {h:#x} names {id:?}, not live");
                }
                for id in &self.gone {
                    assert_eq!(self.core.client(id.handle()), None, "a stale handle names a client");
                }
            }
            _ => {
                // Every caller takes a step.
                let a = p.byte();
                for s in 0..CLIENTS {
                    self.resume(s, outcome(a >> (2 * s)));
                }
            }
        }
        self.check();
    }

    /// Every flow driven to its end, every buffer home, every client deleted.
    fn finish(&mut self) {
        for slot in 0..CLIENTS {
            for i in 0.. {
                if !self.clients[slot].as_ref().is_some_and(|c| c.flow.is_some()) {
                    break;
                }
                assert!(i < 100, "a flow that never ends (slot {slot})");
                self.resume(slot, if i % 2 == 0 { Code::Timeout } else { Code::Failure });
                self.check();
            }
        }
        for b in 1..=self.next_buffer {
            assert!(!self.core.holds(BufferId(b)), "buffer {b} held with no flow in progress");
        }
        while !self.app_held.is_empty() {
            self.give_back(0);
        }
        assert!(self.buffers.is_empty(), "buffers never given back: {:?}", self.buffers.keys().collect::<Vec<_>>());
        for slot in 0..CLIENTS {
            if self.clients[slot].is_none() {
                continue;
            }
            self.begin_plain(slot, true);
            for i in 0.. {
                assert!(i < 100, "a delete that never ends (slot {slot})");
                if let Some(Step::Detach { .. }) = self.resume(slot, Code::Success) {
                    break;
                }
            }
            self.check();
        }
        for id in &self.gone {
            assert_eq!(self.core.client(id.handle()), None, "a stale handle names a client");
        }
        for _ in 0..CLIENTS {
            assert!(self.core.create(SHARED[0], false).is_some(), "a slot not freed");
        }
        assert!(self.core.create(SHARED[0], false).is_none(), "more clients than slots");
    }
}

/// A response to the operation sent with `token`: `{"clientToken":…}`, with
/// a `code` and a state.
fn answer(token: &[u8], code: Option<i64>, state: bool) -> Vec<u8> {
    let mut v = br#"{"clientToken":""#.to_vec();
    v.extend_from_slice(token);
    v.push(b'"');
    if let Some(c) = code {
        v.extend_from_slice(format!(r#","code":{c},"message":"no""#).as_bytes());
    }
    if state {
        v.extend_from_slice(br#","state":{"reported":{"on":1}},"version":3"#);
    }
    v.push(b'}');
    v
}

fuzz_target!(|data: &[u8]| {
    let mut p = Program(data);
    let mut r = Rig::new();
    while !p.0.is_empty() && r.ops < MAX_OPS {
        r.step(&mut p, false);
    }
    r.finish();
});
