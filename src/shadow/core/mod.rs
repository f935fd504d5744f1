//! The shadow client's decisions, without I/O: which topics a client holds
//! and how many uses hold each, the pending operation and its `clientToken`,
//! which response answers it, which callback a publish goes to, and who owns
//! each MQTT buffer.
//!
//! The platform (`ffi::shadow`) drives it under its lock and performs what it
//! asks for:
//! - a caller's flow (operation, callback registration, connect, delete) is
//!   started with a `begin_*` call, then stepped with [`ShadowCore::resume`],
//!   which takes the outcome of the previous [`Step`] and returns the next one,
//!   until [`Step::Finish`] (or [`Step::Detach`] for a delete);
//! - a publish on a shadow topic is a [`Delivery`] stepped with
//!   [`ShadowCore::deliver`] until [`Delivered::Done`].
//!
//! Buffers: a buffer handed to [`Delivery::new`] belongs to the delivery (the
//! agent's) until `Done { kept }`: `kept == false` gives it back to the agent,
//! which frees it; `kept == true` means that a callback kept it (the
//! application owns it) or that a waiting Get holds it (the core owns it, see
//! [`ShadowCore::holds`]), to be handed to its caller by
//! [`ShadowCore::document`] after its `Finish`, or given back by
//! [`Step::ReturnBuffer`]. No other way in or out exists.
#![forbid(unsafe_code)]


use super::json;
use super::topic::{self, Kind, Operation, Topic, MAX_THING_NAME};
use crate::handle;
/// A step's and an operation's QoS: the agent's own type, so the platform
/// passes it on as it is (the shadow's are 0 and 1).
pub use crate::mqtt::codec::QoS;

#[cfg(feature = "rtos")]
mod cap {
    pub const CLIENTS: usize = crate::config::shadow::MAX_CLIENTS;
    pub const THINGS: usize = crate::config::shadow::MAX_THINGS_WITH_CALLBACKS;
}
#[cfg(not(feature = "rtos"))]
mod cap {
    /// Host builds (tests): the simulator tests' configuration.
    pub const CLIENTS: usize = 3;
    pub const THINGS: usize = 2;
}
pub use cap::{CLIENTS, THINGS};

/// Thing names a client holds: its things with callbacks, the pending
/// operation's, and things whose response subscriptions are kept.
pub const NAMES: usize = THINGS + 4;
/// `clientToken`s we generate are short; AWS allows 64 bytes, which we store too.
pub const MAX_TOKEN: usize = 64;
/// Room a request needs beyond the document: a generated token ("afr-" and
/// three decimal `u32`s) and `{"clientToken":"",}`.
pub const REQUEST_EXTRA: usize = 32 + 20;

const _: () = assert!(CLIENTS <= handle::MAX_SLOTS, "shadowconfigMAX_CLIENTS is at most 127");
const _: () = assert!(NAMES <= 255);

/// The platform's MQTT client (the agent handle as a number); never interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttId(pub usize);

/// An MQTT buffer (the agent's buffer handle as a number); never interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub usize);

/// A document inside a buffer: `at` is the platform's address of the payload,
/// carried, never read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Document {
    pub buffer: BufferId,
    pub at: usize,
    pub len: u32,
}

/// A shadow client: its slot and generation (what a handle encodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientId {
    pub slot: usize,
    pub generation: u32,
}

impl ClientId {
    /// The opaque handle C code holds.
    pub fn handle(self) -> usize {
        handle::encode(handle::Kind::Shadow, self.slot, self.generation)
    }
}

/// What an operation comes to: the value of AFR's `ShadowReturnCode_t`
/// (0 success, 1 timeout, 2 failure, or the service's rejection code), one
/// number to store, compare and hand to C as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(pub i16);

#[allow(non_upper_case_globals, non_snake_case)] // Named as the variants they stand for.
impl Code {
    pub const Success: Code = Code(0);
    pub const Timeout: Code = Code(1);
    pub const Failure: Code = Code(2);
    /// The service's rejection code (400–599 only: see `shadow::rejection_code`).
    pub const fn Rejected(code: i16) -> Code {
        Code(code)
    }
}

/// What a platform action ([`Step`]) came to: `Success` (for [`Step::Wait`]:
/// woken), `Timeout` or `Failure`, as the [`Code`] it becomes.
pub type Outcome = Code;

/// How long a step may block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// What is left of the caller's timeout.
    Caller,
    /// `shadowconfigCLEANUP_TIME_MS`.
    Cleanup,
    /// One tick: a withdrawal nobody waits for.
    Tick,
}

/// What the platform must do next for a caller's flow, on the client's MQTT
/// client ([`ShadowCore::mqtt`], fixed for the client's life: the platform
/// reads it once per flow). Steps that name a topic wrote it into the `topic`
/// passed to [`ShadowCore::resume`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Subscribe `topic` with the shadow's publish callback, within the caller's time.
    Subscribe { qos: QoS },
    /// Unsubscribe `topic` (the outcome does not matter).
    Unsubscribe { budget: Budget },
    /// Publish the request body (from `begin` with `Start::Operation`) on `topic`.
    Publish { qos: QoS },
    /// Wait until woken (by [`ShadowCore::deliver`]'s `wake`); report
    /// `Success` when woken, `Timeout` when the caller's time ran out. A
    /// wake-up is a hint: while the operation is unanswered, the next step
    /// is `Wait` again.
    Wait,
    /// Connect the MQTT client with the caller's parameters.
    Connect,
    /// Wait until no callback of the MQTT client that started before is still running.
    Barrier,
    /// Give `buffer` back to the agent (no outcome needed): ownership leaves the core.
    ReturnBuffer { buffer: BufferId },
    /// The flow is over: answer the caller. A Get that succeeded left its
    /// document in the core: the platform takes it at once, under the same
    /// lock, with [`ShadowCore::document`] (a smaller `Step`, measured).
    Finish { code: Code },
    /// A delete is over and the client is gone: delete a dedicated MQTT
    /// client, or hand a shared one back to the application (its callback, a barrier).
    Detach { dedicated: bool },
}

/// A thing's callbacks, as [`Wants`] bits (those of their topics' kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wants {
    pub updated: bool,
    pub deleted: bool,
    pub delta: bool,
}

impl Wants {
    /// The kind bits ([`Kind::index`]) of the wanted callbacks' topics:
    /// updated `update/documents` (7), deleted `delete/accepted` (4), delta
    /// `update/delta` (6). Stored so, a registration's topics are its
    /// callbacks' bits, and a publish's kind is the bit of its callback.
    pub fn bits(self) -> u8 {
        (self.updated as u8) << 7 | (self.deleted as u8) << 4 | (self.delta as u8) << 6
    }
}

/// Which of a thing's callbacks to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    // (In this order the delivery's code is the smallest measured.)
    /// `update/documents`; may keep the buffer.
    Updated,
    /// `delete/accepted`; no buffer.
    Deleted,
    /// `update/delta`; may keep the buffer.
    Delta,
}

/// A step of a publish's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered<T> {
    /// Call `record`'s callback of kind `callback` with the publish's thing
    /// ([`Delivery::thing`]) and, but for `Deleted`, its document; report the
    /// answer with [`Delivery::kept`] before the next step (`Deleted`'s is
    /// ignored: it never keeps the buffer).
    Call { slot: usize, callback: Callback, record: T },
    /// Over: `kept == false` hands the buffer back to the agent.
    Done { kept: bool },
}

/// What a caller's flow starts with ([`ShadowCore::begin`]).
#[derive(Clone, Copy)]
pub enum Start<'a, T> {
    /// Update, Get or Delete of `thing`'s shadow; `doc`: an update's document.
    Operation { op: Operation, thing: &'a str, qos: QoS, keep: bool, doc: &'a [u8] },
    /// `thing`'s callbacks become `want` ([`Wants::bits`]; 0: unregistered),
    /// with their `record`. Bits, made where the callbacks are read (the C
    /// call's entry): three flags carried into the flow cost more code.
    Register { thing: &'a str, want: u8, record: T },
    Connect,
    Delete,
}

/// Why `begin` or `create` refused.
pub type Refused = Code;

// ------------------------------------------------------------------ tables

/// A short string stored inline (`Copy`, so that tables are made by repetition).
#[derive(Clone, Copy)]
struct Text<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Text<N> {
    const fn new() -> Self {
        Text { len: 0, bytes: [0; N] }
    }
    fn as_bytes(&self) -> &[u8] {
        // `min`: no panic path (`len` never exceeds N).
        &self.bytes[..(self.len as usize).min(N)]
    }
    fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn clear(&mut self) {
        self.len = 0;
    }
    /// Becomes `s` (every text is written whole, once: a name when it is
    /// made, a document's token).
    fn set(&mut self, s: &[u8]) -> Result<(), ()> {
        let dst = self.bytes.get_mut(..s.len()).ok_or(())?;
        dst.copy_from_slice(s);
        self.len = s.len() as u8;
        Ok(())
    }
    #[inline(never)] // Called from many places: one copy.
    fn is(&self, s: &[u8]) -> bool {
        crate::bytes::same_out_of_line(self.as_bytes(), s)
    }
}

const _: () = assert!(MAX_THING_NAME < 256 && MAX_TOKEN < 256);

/// The topics a client can hold per thing: [`NameEntry::uses`] and the
/// core's kind numbers `k` are their [`Kind::index`].
#[cfg(test)]
const KINDS: [Kind; 8] = topic::SUBSCRIBED;

/// The topic a step names: its thing (index in the client's names) and [`Kind::index`].
type TopicOf = Option<(usize, usize)>;


/// A thing name a client holds, and its topics.
#[derive(Clone, Copy)]
struct NameEntry<T> {
    name: Text<MAX_THING_NAME>,
    /// Uses of each topic of [`KINDS`] by this client.
    uses: [u8; 8],
    /// Topics known subscribed on the MQT client (bit per kind).
    live: u8,
    /// Operations whose response pair is kept (bit per operation).
    kept: u8,
    /// Registered callbacks ([`Wants`] bits) and their record.
    callbacks: u8,
    record: T,
}

impl<T: Copy> NameEntry<T> {
    fn unused(&self) -> bool {
        self.name.is_empty()
    }
}

/// A client's operation: only its `run.flow` says whether one is in progress.
/// Between operations it is inert: closed, no document (`end` hands it on
/// to [`ShadowCore::document`], `retire` clears it).
/// `NONE` is all zeros (every tag 0), so a `static` table of clients is .bss.
#[derive(Clone, Copy)]
struct Pending {
    op: Operation,
    name: u8,
    keep: bool,
    /// Responses may answer it: from its publish until one did (its result
    /// is then the run's `code`) or its wait ended.
    open: bool,
    token: Text<MAX_TOKEN>,
    document: Option<Document>,
}

impl Pending {
    const NONE: Pending =
        Pending { op: Operation::Update, name: 0, keep: false, open: false, token: Text::new(), document: None };
}

/// Which flow a client runs. `repr(u8)`: `Idle` is tag 0, so an idle client
/// is all zeros (with [`Pending::NONE`]).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Flow {
    Idle,
    // The others in the order measured smallest.
    Connect,
    Register,
    Operation,
    Delete,
}

/// Where a flow is. Every flow is the same sequence, driven by data
/// ([`Run`]): connect, acquire topics (subscribe those not yet held),
/// publish and wait, release topics (unsubscribe the last use), end; a
/// flow skips the phases it has nothing for.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// A use of each kind of `mask` of `name` is counted, the first subscribed.
    /// Tag 0: an operation and a registration start here (`Run::IDLE`'s phase).
    Acquire,
    // The others in the order measured smallest (the phase matches' tables
    // and ranges), not the flows' order: connect, resubscribe, publish, wait,
    // settle, release or drop, end, and a registration's barrier.
    /// Delete: every topic in use goes (cursor `at`).
    Drop,
    /// A use of each kind of `mask` is dropped, the last unsubscribed.
    Release,
    End,
    /// The PUBLISH is out.
    Publishing,
    /// The document goes back unless handed out; then the keep decision.
    Settle,
    Waiting,
    /// After a connect: every topic in use is subscribed again (cursor `at`).
    Resubscribe,
    /// The CONNECT is out.
    Connecting,
    /// The Barrier is out.
    AfterBarrier,
}

/// A caller's flow: all zeros when idle.
#[derive(Clone, Copy)]
struct Run {
    flow: Flow,
    phase: Phase,
    /// The thing (index in the client's names); `NO_NAME`: none. A
    /// connect's and a delete's topic phase: the name it visits.
    name: u8,
    qos: QoS,
    /// Kinds of `name` the topic phase still visits, and those for the release phase.
    mask: u8,
    release: u8,
    /// Kinds of `name` this flow counted a use of (rolled back on failure).
    got: u8,
    /// Register: the new callbacks ([`Wants`] bits).
    want: u8,
    /// Connect and delete: the next name (`name` is the one being visited).
    at: u8,
    /// The kind of `name` whose SUBSCRIBE is out, + 1 (0: none).
    out: u8,
    /// The flow's result so far (`Success` until something failed).
    code: Code,
}

const NO_NAME: u8 = u8::MAX;

impl Run {
    /// `name` as an index into the client's names, for the phases that
    /// visit one (where a flow has none, `NO_NAME`, they do nothing with
    /// it). `min`: below `NAMES` for the compiler too, so the flow's many
    /// `names[n]` have no bounds checks and the image no panic path (measured).
    fn index(&self) -> usize {
        (self.name as usize).min(NAMES - 1)
    }
}

impl Run {
    const IDLE: Run = Run {
        flow: Flow::Idle,
        phase: Phase::Acquire,
        name: 0,
        qos: QoS::AtMostOnce,
        mask: 0,
        release: 0,
        got: 0,
        want: 0,
        at: 0,
        out: 0,
        code: Code::Success,
    };
}

/// `repr(C)`, in this order: what a handle's lookup reads (`in_use`,
/// `generation`, `mqtt`) first, the names, the registration's record, then
/// the operation and the run (Rust's own order put the pending operation
/// first and the run after the names, and cost 64 bytes more code; of the 24
/// orders of names, record, operation and run this one is the smallest, the
/// run before the names 100 to 450 bytes larger).
#[derive(Clone, Copy)]
#[repr(C)]
struct Client<T> {
    in_use: bool,
    retired: bool,
    dedicated: bool,
    /// The slot's generation minus one (zero-initialised tables); `retired`: used up.
    generation: u32,
    mqtt: MqttId,
    next_token: u32,
    names: [NameEntry<T>; NAMES],
    /// The record a registration in progress sets once it succeeded.
    registering: T,
    pending: Pending,
    run: Run,
}

/// Every shadow client's state. `T` is the platform's record of a thing's
/// callbacks (C function pointers), carried and handed back, never called.
pub struct ShadowCore<T> {
    clients: [Client<T>; CLIENTS],
}

impl<T: Copy> ShadowCore<T> {
    /// An empty table; `empty` is the record of a thing without callbacks.
    /// Mostly zeros, so that a `static` of it costs no flash.
    pub const fn new(empty: T) -> Self {
        const fn name<T: Copy>(record: T) -> NameEntry<T> {
            NameEntry { name: Text::new(), uses: [0; 8], live: 0, kept: 0, callbacks: 0, record }
        }
        const fn client<T: Copy>(record: T) -> Client<T> {
            Client {
                in_use: false,
                generation: 0,
                retired: false,
                dedicated: false,
                mqtt: MqttId(0),
                next_token: 0,
                names: [name(record); NAMES],
                pending: Pending::NONE,
                run: Run::IDLE,
                registering: record,
            }
        }
        ShadowCore { clients: [client(empty); CLIENTS] }
    }

    // ------------------------------------------------------------ clients

    /// A new client on `mqtt` (for a dedicated client, set it with
    /// [`set_mqtt`](Self::set_mqtt) once created). `None`: no free slot.
    pub fn create(&mut self, mqtt: MqttId, dedicated: bool) -> Option<ClientId> {
        let slot = self.clients.iter().position(|c| !c.in_use && !c.retired)?;
        let c = &mut self.clients[slot];
        c.in_use = true;
        c.dedicated = dedicated;
        c.mqtt = mqtt;
        c.next_token = 0;
        // Nothing else to reset: a free slot is as `retire` (or `new`) left it.
        Some(ClientId { slot, generation: c.generation + 1 })
    }

    /// The MQTT client of a dedicated client, once the platform created it.
    pub fn set_mqtt(&mut self, id: ClientId, mqtt: MqttId) {
        if let Some(c) = self.live_mut(id) {
            c.mqtt = mqtt;
        }
    }

    /// Frees a client's slot at once (its dedicated MQTT client could not be
    /// made): the handle was never given out.
    pub fn discard(&mut self, id: ClientId) {
        if self.live_mut(id).is_some() {
            self.retire(id.slot);
        }
    }

    /// The client a C handle names, if it is live.
    pub fn client(&self, handle: usize) -> Option<ClientId> {
        let (slot, generation) = handle::decode(handle::Kind::Shadow, handle, CLIENTS)?;
        let id = ClientId { slot, generation };
        self.live(id).map(|_| id)
    }

    /// The MQTT client of a live client.
    pub fn mqtt(&self, id: ClientId) -> Option<MqttId> {
        self.live(id).map(|c| c.mqtt)
    }

    fn live(&self, id: ClientId) -> Option<&Client<T>> {
        self.clients.get(id.slot).filter(|c| c.in_use && c.generation.wrapping_add(1) == id.generation)
    }

    fn live_mut(&mut self, id: ClientId) -> Option<&mut Client<T>> {
        self.clients.get_mut(id.slot).filter(|c| c.in_use && c.generation.wrapping_add(1) == id.generation)
    }

    #[inline(never)] // Called from two places: one copy.
    fn retire(&mut self, slot: usize) {
        let c = &mut self.clients[slot];
        c.in_use = false;
        c.pending = Pending::NONE;
        c.run = Run::IDLE;
        for n in c.names.iter_mut() {
            clear_name(n);
        }
        match handle::next_generation(c.generation + 1) {
            Some(g) => c.generation = g - 1,
            None => c.retired = true,
        }
    }

    /// The document of `id`'s Get that just finished (its `Finish` step): the
    /// caller's now. Taken once, at once: none while a flow runs.
    pub fn document(&mut self, id: ClientId) -> Option<Document> {
        self.clients.get_mut(id.slot).filter(|c| c.run.flow == Flow::Idle)?.pending.document.take()
    }

    /// Buffers the core owns now (Get documents waiting for their caller).
    pub fn holds(&self, buffer: BufferId) -> bool {
        self.clients.iter().any(|c| c.pending.document.is_some_and(|d| d.buffer == buffer))
    }

    /// Uses of `thing`'s topic of `kind` by client `id` (tests, diagnostics).
    pub fn uses(&self, id: ClientId, thing: &str, kind: Kind) -> u8 {
        let (Some(c), k @ 0..=7) = (self.live(id), kind.index()) else { return 0 };
        self.find_name(id.slot, thing.as_bytes()).map_or(0, |n| c.names[n].uses[k])
    }

    // ---------------------------------------------------------- topic uses

    /// Whether a client other than `slot` on its MQTT client holds name `n`'s
    /// topic `k` (`live`: and knows it subscribed).
    // (Left to the inliner: with one client, the footprint configuration's,
    // it folds away at each call site; out of line it cost 20 bytes.)
    fn held_elsewhere(&self, slot: usize, n: usize, k: usize, live: bool) -> bool {
        let mine = &self.clients[slot];
        let name = mine.names[n].name.as_bytes();
        self.clients.iter().enumerate().any(|(i, c)| {
            i != slot
                && c.in_use
                && c.mqtt == mine.mqtt
                && c.names.iter().any(|e| !e.unused() && e.uses[k] > 0 && (!live || e.live & (1 << k) != 0) && e.name.is(name))
        })
    }

    /// Counts a use of topic `k` of name `n`; true when it must be subscribed.
    fn acquire(&mut self, slot: usize, n: usize, k: usize) -> bool {
        let uses = self.clients[slot].names[n].uses[k];
        let elsewhere = uses == 0 && self.held_elsewhere(slot, n, k, true);
        let entry = &mut self.clients[slot].names[n];
        entry.uses[k] = uses.saturating_add(1);
        if elsewhere {
            entry.live |= 1 << k;
        }
        uses == 0 && !elsewhere
    }

    /// Drops a use of topic `k` of name `n`; true when it must be unsubscribed
    /// (this was the last use on its MQTT client).
    fn release(&mut self, slot: usize, n: usize, k: usize) -> bool {
        let entry = &mut self.clients[slot].names[n];
        if entry.uses[k] == 0 {
            return false;
        }
        drop_use(entry, k);
        entry.uses[k] == 0 && !self.held_elsewhere(slot, n, k, false)
    }

    /// The name slot of `thing`, if the client holds it.
    fn find_name(&self, slot: usize, thing: &[u8]) -> Option<usize> {
        self.clients[slot].names.iter().position(|n| !n.unused() && n.name.is(thing))
    }

    /// How many of a client's names have callbacks, and how many hold only
    /// kept pairs: one loop for both counts (measured smaller).
    #[inline(never)]
    fn count(&self, slot: usize) -> (usize, usize) {
        self.clients[slot].names.iter().fold((0, 0), |(with, kept), e| {
            (with + (e.callbacks != 0) as usize, kept + (e.kept != 0 && e.callbacks == 0) as usize)
        })
    }

    /// The name slot of `thing`, made if absent.
    fn name_slot(&mut self, slot: usize, thing: &[u8]) -> Option<usize> {
        match self.find_name(slot, thing) {
            Some(i) => Some(i),
            None => self.new_name(slot, thing),
        }
    }

    /// A name slot made for `thing`, which the client does not hold.
    #[inline(never)] // Two callers: one copy.
    fn new_name(&mut self, slot: usize, thing: &[u8]) -> Option<usize> {
        let names = &mut self.clients[slot].names;
        let i = names.iter().position(|n| n.unused())?;
        names[i].name.set(thing).ok()?;
        Some(i)
    }

    /// Frees name `n` when nothing refers to it any more.
    #[inline(never)] // Called from several places: one copy.
    fn collect(&mut self, slot: usize, n: usize) {
        // No operation is in progress here (every caller ended it or never
        // began it): only the uses, kept pairs and callbacks hold a name.
        let c = &mut self.clients[slot];
        if let Some(e) = c.names.get_mut(n) {
            if e.kept == 0 && e.callbacks == 0 && e.uses == [0; 8] {
                clear_name(e);
            }
        }
    }

    // ------------------------------------------------------------ operations

    /// Starts `id`'s flow (one at a time per client: refused with `Timeout`
    /// while one runs, the platform's operation lock; with `Failure` for a
    /// handle that is not live), then [`resume`](Self::resume) it.
    /// An operation's request body is written into `out` (at least
    /// `request_capacity` bytes), with our `clientToken` when the document
    /// (Update only) has none; returns its length (0 for other flows).
    pub fn begin(&mut self, id: ClientId, start: Start<'_, T>, out: &mut [u8]) -> Result<usize, Refused> {
        // An idle client has no pending operation (`end` closes it, the
        // platform takes its document at once, `retire` clears both).
        // Its run is `Run::IDLE` (`end`, `retire`, `new`): a flow sets only
        // the fields it starts with.
        // Busy: `Timeout`, the platform waits for the flow's end and tries again.
        if self.live(id).ok_or(Code::Failure)?.run.flow != Flow::Idle {
            return Err(Code::Timeout);
        }
        match start {
            Start::Operation { op, thing, qos, keep, doc } => self.start_operation(id, op, thing, qos, keep, doc, out),
            Start::Register { thing, want, record } => self.start_register(id, thing, want, record).map(|()| 0),
            Start::Connect => Ok(self.start_connect(id)),
            Start::Delete => {
                let r = &mut self.clients[id.slot].run;
                (r.flow, r.phase, r.name) = (Flow::Delete, Phase::Drop, NO_NAME);
                Ok(0)
            }
        }
    }

    /// [`begin`](Self::begin) registering (`want` all false: unregistering) `thing`'s callbacks.
    pub fn begin_register(&mut self, id: ClientId, thing: &str, want: Wants, record: T) -> Result<(), Refused> {
        self.begin(id, Start::Register { thing, want: want.bits(), record }, &mut []).map(|_| ())
    }

    /// [`begin`](Self::begin) a connect.
    pub fn begin_connect(&mut self, id: ClientId) -> Result<(), Refused> {
        self.begin(id, Start::Connect, &mut []).map(|_| ())
    }

    /// [`begin`](Self::begin) deleting a client: its topics are released
    /// (unsubscribed where no other client on its MQTT client holds them),
    /// then it is gone.
    pub fn begin_delete(&mut self, id: ClientId) -> Result<(), Refused> {
        self.begin(id, Start::Delete, &mut []).map(|_| ())
    }

    /// An operation: records it and writes its request body.
    #[allow(clippy::too_many_arguments)]
    fn start_operation(
        &mut self,
        id: ClientId,
        op: Operation,
        thing: &str,
        qos: QoS,
        keep: bool,
        doc: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Refused> {
        let n = self.name_slot(id.slot, thing.as_bytes()).ok_or(Code::Failure)?;
        let c = &mut self.clients[id.slot];
        let was_kept = c.names[n].kept & (1 << op as usize) != 0;
        let next = c.next_token;
        // Filled in place: the token is written straight into the table,
        // whole (a refused request leaves one that nothing reads: it is
        // never opened). Between operations it is closed (`open` false) and
        // holds no document (`document`, `retire`, `new`): only the rest is set.
        let p = &mut c.pending;
        (p.op, p.name, p.keep) = (op, n as u8, keep);
        match write_request(op, doc, out, &mut p.token, id, next) {
            Ok((len, generated)) => {
                c.next_token = next.wrapping_add(generated as u32);
                // A kept pair is held already: publish at once.
                let pair = if was_kept { 0 } else { 3 << (2 * op as usize) };
                let r = &mut c.run;
                (r.flow, r.name, r.qos, r.mask) = (Flow::Operation, n as u8, qos, pair);
                Ok(len)
            }
            Err(()) => {
                // Never opened: no response reaches it.
                self.collect(id.slot, n);
                Err(Code::Failure)
            }
        }
    }

    /// A registration.
    fn start_register(&mut self, id: ClientId, thing: &str, want: u8, record: T) -> Result<(), Refused> {
        let known = self.find_name(id.slot, thing.as_bytes());
        let c = &self.clients[id.slot];
        let with_callbacks = self.count(id.slot).0;
        // A new name has none.
        let had = known.and_then(|n| c.names.get(n)).map_or(0, |e| e.callbacks);
        let n = match known {
            Some(n) if had != 0 || want == 0 => n,
            // Nothing registered, nothing wanted: only the barrier.
            _ if want == 0 => NO_NAME as usize,
            _ if with_callbacks >= THINGS => return Err(Code::Failure),
            Some(n) => n,
            None => self.new_name(id.slot, thing.as_bytes()).ok_or(Code::Failure)?,
        };
        let c = &mut self.clients[id.slot];
        c.registering = record;
        let r = &mut c.run;
        (r.flow, r.name, r.qos, r.want) = (Flow::Register, n as u8, QoS::AtLeastOnce, want);
        (r.mask, r.release) = (want & !had, had & !want);
        Ok(())
    }

    /// A connect: kept response subscriptions did not survive the old
    /// session; the topics of callbacks are subscribed again once connected.
    fn start_connect(&mut self, id: ClientId) -> usize {
        let c = &mut self.clients[id.slot];
        for e in c.names.iter_mut() {
            for k in 0..6 {
                if e.kept & (1 << (k / 2)) != 0 {
                    e.uses[k] = e.uses[k].saturating_sub(1);
                }
            }
            e.kept = 0;
            e.live = 0;
        }
        for n in 0..NAMES {
            self.collect(id.slot, n);
        }
        let r = &mut self.clients[id.slot].run;
        (r.flow, r.phase, r.qos, r.name) = (Flow::Connect, Phase::Connecting, QoS::AtLeastOnce, NO_NAME);
        0
    }

    /// The next step of `id`'s flow, given what the previous step came to
    /// (ignored for the first step). A step naming a topic wrote it into `topic`.
    pub fn resume(&mut self, id: ClientId, outcome: Outcome, topic: &mut Topic) -> Step {
        // The flows name the topic (name index, kind); it is written here, once.
        let mut of = None;
        let step = match self.live(id) {
            Some(_) => self.next_step(id.slot, outcome, &mut of),
            None => finish(Code::Failure),
        };
        if let Some((n, kind)) = of {
            if let Some(e) = self.clients.get(id.slot).and_then(|c| c.names.get(n)) {
                topic::write(e.name.as_bytes(), kind, topic);
            }
        }
        step
    }

    /// Every flow, one step at a time (see [`Phase`]).
    fn next_step(&mut self, slot: usize, mut outcome: Outcome, topic: &mut TopicOf) -> Step {
        let c = &mut self.clients[slot];
        let r = &mut c.run;
        if r.flow == Flow::Idle {
            return finish(Code::Failure);
        }
        // The name visited (kept in step with `r.name`: one bound for all the
        // phases, measured smaller than one per use).
        let mut n = r.index();
        // The answer to a SUBSCRIBE that was out.
        if r.out != 0 {
            let k = (r.out - 1) as usize;
            r.out = 0;
            if outcome == Outcome::Success {
                c.names[n].live |= 1 << k;
            } else {
                r.code = outcome;
                if r.flow == Flow::Connect {
                    r.phase = Phase::End;
                } else {
                    // Roll back what this flow counted.
                    (r.phase, r.mask) = (Phase::Release, r.got);
                    drop_use(&mut c.names[n], k);
                    // The SUBSCRIBE that timed out may still go out: withdraw it.
                    if outcome == Outcome::Timeout && !self.held_elsewhere(slot, n, k, false) {
                        *topic = Some((n, k));
                        return Step::Unsubscribe { budget: Budget::Tick };
                    }
                }
            }
            outcome = Outcome::Success;
        }
        loop {
            let c = &mut self.clients[slot];
            let r = &mut c.run;
            // (`cfg`, not `debug_assert!`: the latter's dead code in a release
            // build still changed how this function was inlined, +112 bytes.)
            #[cfg(debug_assertions)]
            assert!(r.name == NO_NAME || n == r.name as usize);
            match r.phase {
                Phase::Connecting => {
                    r.phase = Phase::Resubscribe;
                    return Step::Connect;
                }
                // The topic phases: the kinds of `mask` of `name`, lowest first;
                // a connect's and a delete's visit every name in turn (cursor
                // `at`), each with the kinds it uses.
                Phase::Acquire | Phase::Release | Phase::Resubscribe | Phase::Drop => {
                    let all = matches!(r.phase, Phase::Resubscribe | Phase::Drop);
                    if r.mask == 0 {
                        if r.phase == Phase::Resubscribe && r.at == 0 && outcome != Outcome::Success {
                            // The CONNECT failed.
                            r.code = outcome;
                            r.phase = Phase::End;
                            continue;
                        }
                        // A dedicated MQTT client goes with its subscriptions.
                        let dropped = r.phase == Phase::Drop && c.dedicated;
                        if all && (r.at as usize) < NAMES && !dropped {
                            // The next name: the kinds it uses.
                            n = r.at as usize;
                            let e = &c.names[n];
                            r.name = r.at;
                            r.at += 1;
                            r.mask = (0..8).fold(0, |m, k| m | ((e.uses[k] > 0) as u8) << k);
                            continue;
                        }
                        if r.phase == Phase::Acquire && r.flow == Flow::Operation {
                            // Its topics held: the request goes out.
                            r.phase = Phase::Publishing;
                            let p = &mut c.pending;
                            p.open = true;
                            *topic = Some((n, Kind::Request(p.op).index()));
                            return Step::Publish { qos: r.qos };
                        }
                        r.phase = match r.phase {
                            Phase::Acquire => Phase::Release,
                            _ => Phase::End,
                        };
                        if all {
                            r.name = NO_NAME;
                        }
                        // The release phase's kinds (the phases after the others ignore `mask`).
                        r.mask = r.release;
                        continue;
                    }
                    let k = r.mask.trailing_zeros() as usize;
                    r.mask &= r.mask - 1;
                    let phase = r.phase;
                    *topic = Some((n, k));
                    let subscribe = match phase {
                        Phase::Acquire => {
                            // Counted here, before its SUBSCRIBE: a rollback
                            // finds the failed one's use dropped already.
                            r.got |= 1 << k;
                            self.acquire(slot, n, k)
                        }
                        Phase::Resubscribe => true,
                        _ => false,
                    };
                    let r = &mut self.clients[slot].run;
                    if subscribe {
                        r.out = k as u8 + 1;
                        return Step::Subscribe { qos: r.qos };
                    }
                    // Released: a rollback of a registration, nobody waits for it.
                    let mut budget = if r.flow == Flow::Register && r.code != Code::Success { Budget::Cleanup } else { Budget::Caller };
                    let unsubscribe = match phase {
                        Phase::Release => self.release(slot, n, k),
                        Phase::Drop => {
                            let e = &mut self.clients[slot].names[n];
                            e.uses[k] = 0;
                            e.live &= !(1 << k);
                            budget = Budget::Cleanup;
                            !self.held_elsewhere(slot, n, k, false)
                        }
                        _ => false,
                    };
                    if unsubscribe {
                        return Step::Unsubscribe { budget };
                    }
                    *topic = None;
                }
                Phase::Publishing | Phase::Waiting => {
                    // Still open: not answered (an answer closed it and set `code`).
                    let p = &mut c.pending;
                    if p.open && outcome == Outcome::Success {
                        r.phase = Phase::Waiting;
                        return Step::Wait;
                    }
                    // Unanswered (open) or unsent (the publish failed: a
                    // response that came before does not count, the result
                    // stands only with a sent request).
                    let publishing = r.phase == Phase::Publishing;
                    if outcome != Outcome::Success && (publishing || p.open) {
                        r.code = if publishing { outcome } else { Code::Timeout };
                    }
                    // Late answers reach nobody from now on.
                    p.open = false;
                    r.phase = Phase::Settle;
                }
                Phase::Settle => {
                    let p = &mut c.pending;
                    // A Get document that is not handed out goes back.
                    if r.code != Code::Success {
                        if let Some(d) = p.document.take() {
                            return Step::ReturnBuffer { buffer: d.buffer };
                        }
                    }
                    let (keep, bit) = (p.keep, 1u8 << p.op as usize);
                    r.phase = Phase::Release;
                    r.mask = 3 << (2 * p.op as usize);
                    if !keep {
                        c.names[n].kept &= !bit;
                    } else if self.may_keep(slot, n) {
                        // (A pair kept before is kept still: the name's `kept` has its bit.)
                        self.clients[slot].names[n].kept |= bit;
                        self.clients[slot].run.mask = 0;
                    }
                }
                // One call site: `end` is inlined (measured smaller).
                Phase::End | Phase::AfterBarrier => {
                    if r.phase == Phase::AfterBarrier {
                        // The barrier's outcome is the registration's.
                        r.code = outcome;
                    }
                    return self.end(slot);
                }
            }
        }
    }

    /// Whether name `n` may stay only for kept subscriptions: the things with
    /// callbacks still to come and the next operation keep a free name. A
    /// client's names are held only by callbacks, kept pairs and the current
    /// operation (`n`, here neither kept nor with callbacks), so that is:
    /// fewer than `NAMES - THINGS - 1` names hold only kept pairs (at most
    /// THINGS have callbacks, so the free ones are more than the
    /// registrations still possible).
    fn may_keep(&self, slot: usize, n: usize) -> bool {
        let c = &self.clients[slot];
        let e = &c.names[n];
        if (e.kept | e.callbacks) != 0 {
            return true;
        }
        debug_assert!(
            c.names.iter().enumerate().all(|(i, e)| i == n || e.unused() || e.kept != 0 || e.callbacks != 0),
            "a name held by neither callbacks, a kept pair nor the operation"
        );
        // (And at most THINGS names have callbacks: a registration refuses more.)
        debug_assert!(c.names.iter().filter(|e| e.callbacks != 0).count() <= THINGS);
        self.count(slot).1 + THINGS + 1 < NAMES
    }

    /// A flow's last steps: the answer to its caller (a registration's after a barrier).
    fn end(&mut self, slot: usize) -> Step {
        let c = &mut self.clients[slot];
        let r = c.run;
        let n = r.name as usize;
        // No document to give back here: only a published request gets one,
        // and `Settle` gives it back unless the operation succeeded.
        match (r.flow, r.phase) {
            (Flow::Delete, _) => {
                let dedicated = c.dedicated;
                self.retire(slot);
                return Step::Detach { dedicated };
            }
            (Flow::Register, Phase::End) if r.code == Code::Success => {
                if let Some(e) = c.names.get_mut(n) {
                    e.callbacks = r.want;
                    // Copied as a one-element slice: a copy that says the two
                    // places do not overlap (`memcpy`, as the rest of the
                    // image's copies); a plain assignment between two places
                    // of the client was the shadow's only `memmove` call.
                    core::slice::from_mut(&mut e.record).copy_from_slice(core::slice::from_ref(&c.registering));
                }
                // An old callback may be running: none runs once the call returned.
                c.run.phase = Phase::AfterBarrier;
                return Step::Barrier;
            }
            _ => {}
        }
        c.run = Run::IDLE;
        // The operation is closed: only its publish opens it, and the end
        // of its wait (or its answer) closed it.
        debug_assert!(!c.pending.open);
        self.collect(slot, n);
        // A document is left only after a success (`Settle` gave back any
        // other), for `document`.
        Step::Finish { code: r.code }
    }

    // ------------------------------------------------------------ deliveries

    /// The next step of a publish's delivery to the clients on its MQTT client:
    /// for each, in slot order, the answer its waiting caller waits for, then
    /// the thing's callbacks; it stops at the first that keeps the buffer.
    /// A waiting caller whose answer this is is woken at once, with `wake(slot)`
    /// (under the platform's lock, as every core call).
    pub fn deliver(&mut self, d: &mut Delivery<'_>, mut wake: impl FnMut(usize)) -> Delivered<T> {
        if d.calling {
            d.calling = false; // Not reported: the callback did not keep it.
        }
        loop {
            if d.kept || d.slot as usize >= CLIENTS {
                d.slot = CLIENTS as u8;
                return Delivered::Done { kept: d.kept };
            }
            // Each client is visited once, in one call: the answer and at most
            // one callback (a client's names are distinct). The cursor moves on
            // first, so nothing more is done for a client once its callback
            // was called (it may be deleted, and its slot reused, meanwhile).
            let slot = d.slot as usize;
            d.slot += 1;
            let c = &mut self.clients[slot];
            if !(c.in_use && c.mqtt == d.mqtt) {
                continue;
            }
            // Accepted and rejected responses: kinds 0-5, 2 × operation (+ 1: rejected).
            if d.kind < 6 && answer(c, d) {
                wake(slot);
            }
            // update/documents, delete/accepted, update/delta ([`Kind::index`]).
            // A callback's bit is its topic's kind ([`Wants::bits`]).
            let want = match d.kind {
                7 => Some(Callback::Updated),
                4 => Some(Callback::Deleted),
                6 => Some(Callback::Delta),
                _ => None,
            };
            if let Some(callback) = want {
                let found = c.names.iter().find(|n| n.callbacks & (1 << d.kind) != 0 && n.name.is(d.thing));
                if let Some(e) = found {
                    d.calling = callback != Callback::Deleted;
                    return Delivered::Call { slot, callback, record: e.record };
                }
            }
        }
    }
}

/// Whether a response answers client `c`'s waiting operation (same thing,
/// operation and clientToken); if so its result (and a Get's document) is kept.
fn answer<T>(c: &mut Client<T>, d: &mut Delivery<'_>) -> bool {
    let p = &mut c.pending;
    if !p.open || p.op as usize != d.kind / 2 || !c.names.get(p.name as usize).is_some_and(|e| e.name.is(d.thing)) {
        return false;
    }
    let Ok(f) = json::fields(d.payload) else { return false };
    // A response without this operation's token (another client's, a
    // token-less rejection) never completes it.
    if !f.client_token.is_some_and(|t| json::same_string(t, p.token.as_bytes())) {
        return false;
    }
    let result = match d.kind & 1 {
        1 => super::rejection_code(f.code).map_or(Code::Failure, Code::Rejected),
        _ => Code::Success,
    };
    // A Get's acceptance (kind 2 × Get: the operation matched above).
    if d.kind == 2 * Operation::Get as usize {
        p.document = Some(d.document);
        d.kept = true;
    }
    // Answered: its result is the flow's (its run's code is `Success` until
    // the publish went out), and no other response answers it.
    c.run.code = result;
    p.open = false;
    true
}

fn drop_use<T>(e: &mut NameEntry<T>, k: usize) {
    // (`k` is a kind, below 8: `get_mut` only spares the panic path.)
    if let Some(u) = e.uses.get_mut(k) {
        *u = u.saturating_sub(1);
        if *u == 0 {
            e.live &= !(1 << k);
        }
    }
}

#[inline(never)] // Called from several places: one copy.
fn finish(code: Code) -> Step {
    Step::Finish { code }
}

fn clear_name<T: Copy>(e: &mut NameEntry<T>) {
    e.name.clear();
    e.uses = [0; 8];
    e.live = 0;
    e.kept = 0;
    e.callbacks = 0;
}

/// "afr-<slot>-<generation>-<n>", built without formatting machinery.
fn new_token(t: &mut Text<MAX_TOKEN>, slot: usize, generation: u32, n: u32) {
    // At most "afr", three '-' and 30 digits: no byte is past 64.
    const _: () = assert!(MAX_TOKEN.is_power_of_two() && MAX_TOKEN >= 3 + 33);
    t.bytes[..3].copy_from_slice(b"afr");
    t.len = 3;
    field(t, slot as u32);
    field(t, generation);
    field(t, n);
}

/// Appends '-' and `v` in decimal: its leading digits first, by recursion
/// (at most ten deep), the '-' at the deepest; rather than counting the
/// digits and writing them backwards (measured smaller).
fn field(t: &mut Text<MAX_TOKEN>, v: u32) {
    let q = v / 10;
    if q != 0 {
        field(t, q);
    } else {
        put(t, b'-');
    }
    put(t, b'0' + (v - 10 * q) as u8);
}

/// Appends a byte to a token being made (it stays shorter than 64: `new_token`).
fn put(t: &mut Text<MAX_TOKEN>, b: u8) {
    t.bytes[t.len as usize % MAX_TOKEN] = b;
    t.len += 1;
}

/// Writes the request body of `op` into `out` and its clientToken into
/// `token`: the document's own, or a new one (then `true`).
fn write_request(op: Operation, doc: &[u8], out: &mut [u8], token: &mut Text<MAX_TOKEN>, id: ClientId, next: u32) -> Result<(usize, bool), ()> {
    // Get and Delete send only a token: the body of an empty document.
    let doc: &[u8] = if op == Operation::Update { doc } else { b"{}" };
    let f = json::fields(doc).map_err(|_| ())?;
    if let Some(t) = f.client_token {
        token.set(t)?;
        let body = out.get_mut(..doc.len()).ok_or(())?;
        body.copy_from_slice(doc);
        return Ok((doc.len(), false));
    }
    new_token(token, id.slot, id.generation, next);
    json::with_token(f.members, token.as_bytes(), out).map(|n| (n, true)).map_err(|_| ())
}

/// The size of the body buffer an operation's `begin` needs for a document of `doc_len` bytes.
pub fn request_capacity(op: Operation, doc_len: usize) -> usize {
    match op {
        Operation::Update => doc_len + REQUEST_EXTRA,
        _ => REQUEST_EXTRA,
    }
}

/// A publish on a shadow topic being delivered. It holds the buffer until
/// [`Delivered::Done`].
#[derive(Debug)]
pub struct Delivery<'a> {
    mqtt: MqttId,
    thing: &'a [u8],
    /// [`Kind::index`] (of a subscribed kind).
    kind: usize,
    payload: &'a [u8],
    document: Document,
    /// The next client to visit.
    slot: u8,
    kept: bool,
    calling: bool,
}

impl<'a> Delivery<'a> {
    /// A publish received on `mqtt`; `None` when `topic` is no shadow topic
    /// (the buffer stays the agent's).
    pub fn new(mqtt: MqttId, topic: &'a [u8], payload: &'a [u8], buffer: BufferId, at: usize) -> Option<Self> {
        let (thing, kind) = topic::parse(topic)?;
        let document = Document { buffer, at, len: payload.len() as u32 };
        Some(Delivery { mqtt, thing, kind, payload, document, slot: 0, kept: false, calling: false })
    }

    /// The answer of the callback of the last [`Delivered::Call`] with a
    /// document: `true` (`pdTRUE`), the application keeps the buffer.
    pub fn kept(&mut self, kept: bool) {
        // (`kept` is false while a callback with a document runs: the
        // delivery stops at the first keep.)
        self.kept |= self.calling && kept;
        self.calling = false;
    }

    /// The thing the publish is about (a valid thing name).
    pub fn thing(&self) -> &'a [u8] {
        self.thing
    }

    /// The buffer this delivery carries.
    pub fn buffer(&self) -> BufferId {
        self.document.buffer
    }
}

#[cfg(test)]
mod tests;
