//! The MQTT agent's core for all its clients, without I/O (issue #13).
//!
//! One value holds every client's operations, connection state, receive
//! framing, subscriptions and outgoing packets. It never touches a socket, a
//! clock, a task or a C pointer: callers hand it typed [`Command`]s, the
//! agent task hands it what a socket has through a [`Reader`] and the time, and
//! it answers with [`Action`]s, one at a time, and the next deadline. The
//! platform (`platform::agent_task`) performs the actions: open or close a
//! connection, send bytes, wake a caller, call the application's callbacks.
//!
//! Buffers are values of the [`Pool`]'s `Buf` type, moved and never copied:
//! each is owned by exactly one party at every moment — the pool, the core
//! (receive state, outgoing queue, a pending delivery) or the platform (after
//! an [`Action`] handed it out: it then sends it and gives it back, or gives it
//! to C). The property tests count them.
//!
//! Rules kept from AFR v1.4.7's agent (CONTRACT.md) and the defects fixed
//! since are named tests in `tests.rs`.
#![forbid(unsafe_code)]

use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::DerefMut;

use heapless::Vec;

use crate::agent::session::{Ack, Expect, KeepAlive, Outcome, ProtocolViolation, Session, Timer, Token};
use crate::mqtt::codec::client::{self as wire, Frame};
use crate::mqtt::codec::{ConnectReturnCode, DecodeError, EncodeError, FixedHeader, PacketType, QoS};
use crate::mqtt::topic;

#[cfg(test)]
mod props;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

/// Received QoS 2 publishes whose PUBREL is tracked per client (see `Session`).
const QOS2_IN: usize = 16;
/// Largest body of a packet other than PUBLISH that a server may send a client
/// (a SUBACK for our one filter is 3 bytes).
const SMALL: usize = 8;

/// Buffers for received publishes and outgoing packets (the central pool).
pub trait Pool {
    /// One buffer; its slice is at least as long as asked for.
    type Buf: AsRef<[u8]> + AsMut<[u8]>;
    /// A free buffer of at least `len` bytes for an outgoing packet.
    fn take(&mut self, len: usize) -> Option<Self::Buf>;
    /// A free buffer of at least `len` bytes for a received publish.
    fn take_rx(&mut self, len: usize) -> Option<Self::Buf> {
        self.take(len)
    }
    /// Back to the pool.
    fn give(&mut self, buf: Self::Buf);
    /// The longest packet a buffer can hold (longer ones always fail).
    fn largest(&self) -> usize;
}

/// A CONNECT's user name, the same for every connect (configuration, not
/// the caller's argument), given by the type of the platform's open
/// request: the C API's connect does not store it in each command, and
/// the core's CONNECT needs no test of it. (The keep-alive stays in the
/// command: as a constant here too, measured 8 bytes more in all.)
pub trait Connects {
    /// The user name (AFR's metrics), if any: UTF-8 without U+0000 (not
    /// scanned again, as the command's strings).
    const USER_NAME: Option<&'static [u8]>;
}

/// What the agent task reads a connection through.
pub trait Reader {
    /// Bytes now in `into`: `Ok(0)` when nothing is there yet.
    fn read(&mut self, into: &mut [u8]) -> Result<usize, ()>;
}

/// Why a connection ended: kept for the log line that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The application disconnected or deleted the client.
    Requested,
    /// Reading the connection failed (closed by the peer, reset, TLS alert).
    ReadFailed,
    /// Sending failed.
    SendFailed,
    /// No PINGRESP within `mqttconfigKEEP_ALIVE_TIMEOUT_TICKS`.
    KeepAliveTimeout,
    /// No CONNACK within the connect call's time.
    ConnAckTimeout,
    /// The broker refused the connection (CONNACK return code).
    Refused(ConnectReturnCode),
    /// A CONNACK came after the connect's caller had given up.
    LateConnAck,
    /// The broker sent bytes that are not MQTT 3.1.1 for a client.
    Malformed(DecodeError),
    /// A packet or acknowledgement the protocol does not allow here.
    Protocol(ProtocolViolation),
    /// A packet other than PUBLISH longer than any the broker may send.
    Oversized,
}

/// A received packet's body is malformed ([`Session::received_small`]'s errors).
impl From<DecodeError> for CloseReason {
    fn from(e: DecodeError) -> Self {
        CloseReason::Malformed(e)
    }
}

/// A received packet is out of place ([`Session::received_small`]'s errors).
impl From<ProtocolViolation> for CloseReason {
    fn from(v: ProtocolViolation) -> Self {
        CloseReason::Protocol(v)
    }
}

/// Why an operation failed (AFR reports `eMQTTAgentFailure` for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Not connected (or connected already, for a connect).
    NotConnected,
    /// Opening the connection failed (the platform says why elsewhere).
    OpenFailed,
    /// The connection ended before the answer.
    Closed(CloseReason),
    /// CONNACK refused the connection.
    Refused(ConnectReturnCode),
    /// SUBACK refused the subscription.
    SubscriptionRefused,
    /// `mqttconfigMAX_PARALLEL_OPS` packets are in flight, or the
    /// subscription table is full.
    Full,
    /// No buffer for the packet (it is larger than a pool buffer).
    NoBuffer,
    /// Invalid parameters (a topic, a filter, a client id).
    Invalid,
}

/// Why a command was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The handle names no live client.
    BadHandle,
    /// All of the client's operation slots are busy: retry (within the caller's time).
    Busy,
    /// No pool buffer free now: retry (within the caller's time).
    NoBufferNow,
}

/// An operation of a caller, as the C API asks for it. Strings and payloads
/// are copied into the packet during [`AgentCore::submit`]. Strings are
/// bytes that the caller checked (well-formed UTF-8, no U+0000, a topic name
/// without wildcards, a filter's levels): the C API refuses any other with its
/// cause, and the shadow's topics are valid by construction. The core checks
/// only what the packet's form needs (lengths, a non-empty topic, the packet
/// id): it scans no string a second time.
pub enum Command<'a, O, CB> {
    /// CONNECT with a clean session (AFR's agent never keeps a session),
    /// its user name as `O`'s [`Connects`] says, and its keep-alive in seconds.
    /// `open` is what the platform needs to open the connection (host, port,
    /// TLS); `start` and `timeout` the caller's tick and time, which bound the
    /// opening and the CONNACK.
    Connect {
        client_id: &'a [u8],
        keep_alive: u16,
        /// `Some` until [`AgentCore::submit`] takes it (the command is
        /// lent to `submit`, which takes only this part out).
        open: Option<O>,
        callback: Option<CB>,
        start: u32,
        timeout: u32,
    },
    Subscribe {
        filter: &'a [u8],
        qos: QoS,
        callback: Option<CB>,
    },
    Unsubscribe {
        filter: &'a [u8],
    },
    Publish {
        topic: &'a [u8],
        payload: &'a [u8],
        qos: QoS,
        retain: bool,
    },
    Disconnect,
    /// Disconnects if needed and frees the client when the caller collects.
    Delete,
    /// Replaces the connect callback.
    SetCallback {
        callback: Option<CB>,
    },
    /// Completes after any callback of this client that runs now has returned.
    Barrier,
}

/// Bytes to send.
pub enum Out<B> {
    /// A packet in a pool buffer (the first `len` bytes).
    Buf { buf: B, len: usize },
    /// A packet of a few bytes (acknowledgements, PINGREQ, DISCONNECT):
    /// `len` of the bytes of `word` in memory order (`u32::to_le_bytes`).
    /// A word, not a byte array, as the small queue keeps it: the action's
    /// words stay words where `poll` builds one and the task stores it in
    /// its batch (an array's bytes were taken apart and put together again
    /// there, and the values kept across `poll`'s client loop spilled).
    Small { word: u32, len: u8 },
}

/// A received publish for the application: the buffer and where its parts are.
pub struct Delivery<B, CB, const SUBS: usize> {
    pub buf: B,
    pub qos: QoS,
    /// The topic's length: the topic is at `buf[2..2 + topic_len]`, after
    /// its length (as the C API's `usTopicLength`, a u16).
    pub topic_len: u16,
    /// Byte range (start, length) of the payload in `buf`.
    pub payload: (usize, usize),
    /// Matching subscription callbacks, exact filters first, then wildcards,
    /// each in subscription order; to be called until one keeps the buffer.
    /// When none matched: the connect callback (if any), alone (one list
    /// for the platform to walk, no separate fallback field).
    pub subscribers: Vec<CB, SUBS>,
    /// Never 0: every other field with spare values has 0 among its valid
    /// ones, so this one gives `Option<Delivery>`'s `None` the value 0 (a
    /// never-created client is all zero bytes, see [`Client::new`]).
    pub present: Present,
}

/// A word whose only value is 1 (see [`Delivery::present`]). A word, not a
/// byte: the compiler takes the field with the most spare values for
/// `Option`'s `None`, and another field's tag may be a word too (the platform's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Present {
    Yes = 1,
}

/// What the platform must do next, for the client [`AgentCore::poll`] gives
/// with it (in one place for every kind, not a field of each variant: the
/// poll's branches and the task's store of an action then move the client
/// once, not split into each variant's layout).
pub enum Action<B, CB, O> {
    /// Open the connection of `client`, then call [`AgentCore::opened`] or
    /// [`AgentCore::open_failed`].
    /// The request is `ManuallyDrop`, as in `Op::Opening`: no other action
    /// needs drop code, so neither does a batch of them; the platform takes
    /// it out (`ManuallyDrop::into_inner`) and frees it.
    Open { open: ManuallyDrop<O> },
    /// Send, then call [`AgentCore::sent`]; the buffer (if any) is the
    /// platform's: back to the pool after sending.
    Send {
        out: Out<B>,
        complete: Option<u16>,
    },
    /// Close the connection: why, and whether gracefully (asked for, e.g.
    /// end TLS with close_notify). The pair as the client keeps it: copied
    /// whole, not rebuilt byte by byte in this variant's layout (64 bytes).
    Close {
        close: (CloseReason, bool),
    },
    /// The operation in `slot` finished: wake its caller.
    Complete { slot: u16 },
    /// A publish waits for the application: take it with
    /// [`AgentCore::take_delivery`] (before the next poll) and hand it over
    /// without the lock; buffers not kept go back to the pool. (Apart from the
    /// action, so that every action stays a few words: the delivery's
    /// callback list is not copied with each of them.)
    Deliver,
    /// Tell the application its connection was lost (`eMQTTAgentDisconnect`), once.
    Disconnected { callback: CB },
    /// A publish of `len` bytes was dropped (and acknowledged): no buffer was free. For the log.
    Dropped { len: usize },
}

/// An action and its client, as [`AgentCore::poll`] gives them.
pub struct Next<B, CB, O> {
    pub client: usize,
    pub action: Action<B, CB, O>,
}

/// What the platform did with an action of a client, told to the core by
/// [`AgentCore::reported`] (at its next pass, under the lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// `Send` went out (`ok`) or failed; `complete`: the action's.
    Sent { complete: Option<u16>, ok: bool },
    /// `Open` opened the connection.
    Opened,
    /// `Open` failed.
    OpenFailed,
}

/// How the receive pass of a client ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxStatus {
    /// The connection has nothing more now (or is closed).
    Idle,
    /// The byte budget ran out: more may be waiting.
    Budget,
    /// A publish waits to be delivered: poll, then receive again.
    Paused,
}

enum Op<O> {
    Free,
    /// A connect whose connection the platform has not been asked to open yet
    /// (`Some`), or is opening (`None`). The request is `ManuallyDrop` (the
    /// platform's holds heap copies): an `Op` overwritten anywhere would
    /// otherwise need drop code at each place; it leaves only through `poll`
    /// (to the platform) or `collect` (dropped there), see `finish`.
    Opening(Option<ManuallyDrop<O>>),
    /// Waiting for the broker or for its packet to be sent.
    Waiting,
    /// Finished. Its Complete action is due while its bit of
    /// `Client::ready` is set: set once, as it becomes `Done` (`finish` from
    /// `Opening` or `Waiting`, `done` on a free slot), cleared as `poll`
    /// hands the Complete out; no flag of its own says it was handed out.
    Done {
        result: Result<(), Failure>,
    },
    /// The caller gave up; the late answer frees the slot.
    Abandoned,
}

/// The receive state: the fixed header's bytes, then the body, read by one
/// path into one target, counted by one count: `small` (the header, then the
/// body of a packet other than PUBLISH) or a pool buffer (a publish); a
/// publish without a buffer is thrown away through `small[4..]`, and
/// `small` keeps what its acknowledgement needs: the topic length at 0..2,
/// the packet id at 2..4.
struct Rx<B> {
    /// The whole fixed header, once read.
    header: Option<FixedHeader>,
    /// Bytes read of the header (while `header` is `None`), then of the body.
    have: usize,
    small: [u8; SMALL],
    buf: Option<B>,
}

const _: () = assert!(SMALL >= 5, "a fixed header is read into `small`");

impl<B> Rx<B> {
    const fn start() -> Self {
        Rx { header: None, have: 0, small: [0; SMALL], buf: None }
    }

    /// A publish without a buffer is being thrown away.
    fn discarding(&self) -> bool {
        matches!(self.header, Some(h) if h.packet_type == PacketType::Publish) && self.buf.is_none()
    }

    /// Ready for the next packet (any buffer was taken out).
    fn restart(&mut self) {
        self.header = None;
        self.have = 0;
    }
}

/// Which subscriptions [`drop_subs`] removes. (A word, with the filter
/// apart: the call's arguments all in registers.)
#[derive(Clone, Copy)]
enum Unsub {
    /// The one of the filter given with it.
    Filter,
    /// Those whose SUBSCRIBE in `slot` its SUBACK refused (none when it
    /// `granted`: theirs then no longer wait for it).
    Answered { slot: u16, granted: bool },
}

/// A subscription's `pending` when no SUBACK is awaited (no slot's number).
const NOT_PENDING: u16 = u16::MAX;

struct Sub<CB, const FILTER: usize> {
    filter: Vec<u8, FILTER>,
    callback: CB,
    wildcard: bool,
    /// The slot of the SUBSCRIBE that waits for its SUBACK; the entry goes
    /// if the broker refuses it or the connection ends first.
    /// (`NOT_PENDING`: none; a plain number, one compare: measured smaller
    /// than an `Option`.)
    pending: u16,
}

/// One client's state, opaque: the platform allocates the table of them
/// (see [`AgentCore::new`]).
///
/// Laid out in declaration order (`repr(C)`), the fields `poll`, the receive
/// path and the timers test on every pass first: Thumb-2's 16-bit loads and
/// stores reach byte fields in the first 32 bytes and words in the first 128
/// (rustc's own order put them after the tables, at offsets past 1,600).
#[repr(C)]
pub struct Client<B, CB, O, const OPS: usize, const SUBS: usize, const FILTER: usize> {
    /// The work due for `poll` but the completions and opens of `ready`: a
    /// byte per kind (`DUE_*`), in the order `poll` hands it out; `poll`
    /// takes the first byte not 0 and counts it down. A flag is 0 or 1;
    /// `due[DUE_SMALL]` is the number of entries in `small`. The payloads
    /// stay in their fields. One loop in `poll` reads them all, instead of
    /// a test of each optional field in turn.
    due: [u8; 8],
    allocated: bool,
    /// Why `DUE_CLOSE` closes the link (and whether gracefully).
    close: (CloseReason, bool),
    /// Why `DUE_CLOSE_AFTER_QUEUE` closes it once the queues went out.
    close_after_queue: (CloseReason, bool),
    /// The slot of the connect whose CONNECT waits for its connection or
    /// CONNACK, as its bit (0: none): the slots' other masks take it as it is.
    connect: u32,
    /// The slot of the delete that waits for the connection to end (`Some`:
    /// the client is being deleted).
    delete_slot: Option<u16>,
    /// Slots whose Complete or Open action is due (bit per slot): `poll`
    /// looks at these, not at every slot of every client on every call.
    ready: u32,
    /// Slots whose packet is due to be sent (the CONNECT's once its connection is open).
    to_send: u32,
    /// Slots that complete once their packet is sent (QoS 0 publishes).
    on_sent: u32,
    /// Bytes received since the task last rested ([`AgentCore::rested`]):
    /// the receive budget spans the pauses for deliveries.
    rx_used: usize,
    /// The length of a publish dropped for want of a buffer (`DUE_DROPPED`), for the log.
    dropped: usize,
    /// The handles' generation less `FIRST_GENERATION` (see `handle_generation`).
    generation: u32,
    /// Acknowledgements and PINGREQ, sent before queued packets, each in a
    /// word (its bytes in memory order, as [`Out::Small`] carries it).
    /// Receiving pauses while it is full, so that an acknowledgement always
    /// has room.
    small: [u32; SMALL_QUEUE],
    rx: Rx<B>,
    session: Session<OPS, QOS2_IN>,
    ops: [Op<O>; OPS],
    /// Each slot's packet until it is handed out to be sent (a CONNECT
    /// waits here while its connection opens). A caller waits for its own
    /// operation, so one task's packets go out in its order; slots go out in
    /// slot order.
    packets: [Option<(B, usize)>; OPS],
    callback: Option<CB>,
    delivery: Option<Delivery<B, CB, SUBS>>,
    subs: Vec<Sub<CB, FILTER>, SUBS>,
}

/// The agent core. `CLIENTS` is `mqttconfigMAX_BROKERS`, `OPS`
/// `mqttconfigMAX_PARALLEL_OPS`, `SUBS` and `FILTER` the subscription
/// manager's size and longest filter.
pub struct AgentCore<
    T,
    B,
    CB,
    O,
    const CLIENTS: usize,
    const OPS: usize,
    const SUBS: usize,
    const FILTER: usize,
> {
    /// `CLIENTS` entries, the platform's table: a static one, all zero bytes
    /// (`.bss`) until used, so that no code builds it (see [`Client::new`]).
    /// `T` owns or borrows it: `&'static mut [Client]` on the device, a
    /// `Box` in tests (so that each test frees its own).
    clients: T,
    rx_budget: usize,
    /// Every client's keep-alive timing (the same for all: set once, not
    /// per client).
    keep_alive: KeepAlive,
    _client: PhantomData<fn() -> Client<B, CB, O, OPS, SUBS, FILTER>>,
}

impl<B, CB, O, const OPS: usize, const SUBS: usize, const FILTER: usize>
    Client<B, CB, O, OPS, SUBS, FILTER>
{
    /// A client never created yet. Every field's value is zero bytes,
    /// so that a static table of them
    /// sits in `.bss`: no code builds it (no struct literal written field by
    /// field, no copy through a stack frame).
    pub const fn new() -> Self {
        Client {
            allocated: false,
            delete_slot: None,
            generation: 0,
            session: Session::new(),
            ops: [const { Op::Free }; OPS],
            packets: [const { None }; OPS],
            to_send: 0,
            on_sent: 0,
            connect: 0,
            rx: Rx::start(),
            delivery: None,
            subs: Vec::new(),
            callback: None,
            close: (CloseReason::Requested, false),
            close_after_queue: (CloseReason::Requested, false),
            small: [0; SMALL_QUEUE],
            dropped: 0,
            rx_used: 0,
            ready: 0,
            due: [0; 8],
        }
    }

    /// The generation its handles carry: `generation` counts from 0 (the
    /// handles' first, `FIRST_GENERATION`); a retired slot's is `u32::MAX`,
    /// which gives 0, no handle's.
    fn handle_generation(&self) -> u32 {
        self.generation.wrapping_add(crate::handle::FIRST_GENERATION)
    }

    /// The connection is open and not being closed: it is read and timed.
    /// (A close due, `DUE_CLOSE`, needs no test: `end_link` dropped the
    /// session's connection before it set it, and only a connect opening
    /// meets it there until it is handed out.)
    /// Inlined at its call sites in the task's every pass (each client) and
    /// receive loop: out of line it saved 20 bytes of flash and cost 144
    /// instructions per QoS 1 round trip in the agent task (QEMU mps2-an386).
    #[inline(always)]
    fn reading(&self) -> bool {
        debug_assert!(self.due[DUE_CLOSE] == 0 || !self.session.is_open(), "a connection whose close is due is not open");
        self.due[DUE_CLOSE_AFTER_QUEUE] == 0 && self.session.is_open()
    }

    /// Queues an acknowledgement or PINGREQ; `false` when the queue is full.
    #[inline(never)]
    fn push_small(&mut self, bytes: [u8; 4]) -> bool {
        let n = &mut self.due[DUE_SMALL];
        let Some(e) = self.small.get_mut(*n as usize) else { return false };
        *e = u32::from_le_bytes(bytes);
        *n += 1;
        true
    }

    /// Ends operation `slot` (see [`finish`]); `true` when its caller had
    /// given up (the slot is free now).
    #[inline(always)]
    fn finish_op(&mut self, slot: u16, result: Result<(), Failure>) -> bool {
        finish(&mut self.ops, &mut self.ready, slot, result)
    }

    /// A free slot (whose packet, if a hostile broker answered it before it
    /// was sent, has gone out too), or `OPS` when none is (at most 32, see
    /// `Core::new`): one value that the caller tests once, below `OPS`.
    #[inline(never)]
    fn free_slot(&self) -> u16 {
        (0..OPS).find(|&i| matches!(self.ops[i], Op::Free) && self.packets[i].is_none()).unwrap_or(OPS) as u16
    }

    fn remove_sub(&mut self, filter: &[u8]) {
        // Filters are unique in the table (a subscription replaces the same filter's).
        drop_subs(&mut self.subs, filter, Unsub::Filter);
    }
}

/// Removes the subscriptions `which` names, keeping the others' order:
/// one non-inlined table walk for every removal (and for a SUBACK's
/// subscription, kept when granted). The filters are compared byte by
/// byte ([`crate::bytes::same`]): this was the agent image's only `memcmp`.
#[inline(never)]
fn drop_subs<CB, const FILTER: usize, const SUBS: usize>(subs: &mut Vec<Sub<CB, FILTER>, SUBS>, filter: &[u8], which: Unsub) {
    // Kept entries move down over the dropped ones (swapped, in order:
    // delivery order is subscription order), then the tail goes. Not
    // `Vec::remove`: its memmove was the agent image's only one (newlib's,
    // 58 bytes; measured agent+pool -40).
    let mut kept = 0;
    let all: &mut [Sub<CB, FILTER>] = subs;
    for i in 0..all.len() {
        let Some((s, before)) = all.get_mut(..=i).and_then(|p| p.split_last_mut()) else { break };
        let drop = match which {
            Unsub::Filter => crate::bytes::same(&s.filter, filter),
            Unsub::Answered { slot, granted } => {
                let answered = s.pending == slot;
                if answered && granted {
                    s.pending = NOT_PENDING;
                }
                answered && !granted
            }
        };
        if !drop {
            if let Some(to) = before.get_mut(kept) {
                core::mem::swap(to, s);
            }
            kept += 1;
        }
    }
    subs.truncate(kept);
}

fn ack_bytes(ack: Ack) -> [u8; 4] {
    let (kind, id) = match ack {
        Ack::PubAck(id) => (0x40, id),
        Ack::PubRec(id) => (0x50, id),
        Ack::PubRel(id) => (0x62, id),
        Ack::PubComp(id) => (0x70, id),
    };
    let id = id.to_be_bytes();
    [kind, 0x02, id[0], id[1]]
}

// The bytes of `Client::due`, in `poll`'s order.
/// A received publish waits to be delivered (`Action::Deliver` not handed out yet).
const DUE_DELIVER: usize = 0;
/// A publish was dropped (`Client::dropped`).
const DUE_DROPPED: usize = 1;
/// Acknowledgements or PINGREQ wait in `Client::small`: their number (the
/// length of each is 2 + its second byte).
const DUE_SMALL: usize = 2;
/// Packets wait in `Client::packets` (`Client::to_send`).
const DUE_SEND: usize = 3;
/// A DISCONNECT goes out after the queued packets, before the close.
const DUE_DISCONNECT: usize = 4;
/// Close once the queues went out (`Client::close_after_queue`).
const DUE_CLOSE_AFTER_QUEUE: usize = 5;
/// Close the link (`Client::close`).
const DUE_CLOSE: usize = 6;
/// Tell the application its connection was lost (eMQTTAgentDisconnect).
const DUE_LOST: usize = 7;

const PINGREQ: [u8; 4] = [0xC0, 0x00, 0, 0];
const DISCONNECT: [u8; 4] = [0xE0, 0x00, 0, 0];
/// Acknowledgements and PINGREQ waiting to go out, per client.
const SMALL_QUEUE: usize = 4;

impl<T, B, CB, O, const CLIENTS: usize, const OPS: usize, const SUBS: usize, const FILTER: usize>
    AgentCore<T, B, CB, O, CLIENTS, OPS, SUBS, FILTER>
where
    T: DerefMut<Target = [Client<B, CB, O, OPS, SUBS, FILTER>]>,
    B: AsRef<[u8]> + AsMut<[u8]>,
    CB: Copy,
    O: Connects,
{
    /// A core over `clients` (new [`Client`]s); `rx_budget`: bytes read
    /// from one client per receive pass; `keep_alive`: every connection's
    /// keep-alive timing.
    pub fn new(clients: T, rx_budget: usize, keep_alive: KeepAlive) -> Self {
        const { assert!(OPS <= 32, "mqttconfigMAX_PARALLEL_OPS is at most 32 (a bit per slot)") };
        debug_assert_eq!(clients.len(), CLIENTS);
        AgentCore { clients, rx_budget: rx_budget.max(1), keep_alive, _client: PhantomData }
    }

    // ------------------------------------------------------------- handles

    /// A new client: its index and generation; `None` when all exist.
    pub fn create(&mut self) -> Option<(usize, u32)> {
        // A retired slot (generation u32::MAX) is never handed out again.
        let (index, c) = self
            .clients
            .iter_mut()
            .enumerate()
            .find(|(_, c)| !c.allocated && c.generation != u32::MAX)?;
        c.allocated = true;
        Some((index, c.handle_generation()))
    }

    /// The client of `(index, generation)` if it is live and not being deleted.
    pub fn live(&self, index: usize, generation: u32) -> bool {
        self.clients
            .get(index)
            .is_some_and(|c| c.allocated && c.delete_slot.is_none() && c.handle_generation() == generation)
    }

    // ------------------------------------------------------------ commands

    /// Takes a caller's command for client `(index, generation)`; the slot the
    /// caller then waits on. Packet ids are assigned and packets encoded here
    /// (the payload is copied once, into the packet's buffer). The command
    /// is lent, not moved: a refused one stays with the caller, to retry
    /// within its time; an accepted connect's open request is taken out.
    #[inline(never)] // A caller's stack: its own frame, not merged into the caller's.
    pub fn submit<'a, P: Pool<Buf = B>>(
        &mut self,
        index: usize,
        generation: u32,
        command: &mut Command<'a, O, CB>,
        pool: &mut P,
    ) -> Result<u16, Refused> {
        if !self.live(index, generation) {
            return Err(Refused::BadHandle);
        }
        let c = &mut self.clients[index];
        // (Below `OPS`, tested here once: the slot's indexes below, and those
        // of the functions it is given to, need no bounds check of their
        // own; measured 44 bytes less. The test as a compare of one number,
        // not an `Option`'s: the agent image's last bounds checks go, and
        // with them its panic code, 48 bytes.)
        let slot = c.free_slot();
        let i = slot as usize;
        if i >= OPS {
            return Err(Refused::Busy);
        }
        // The packet's buffer first (its length does not depend on the packet
        // id): without one now, nothing has changed and the caller retries.
        let frame = frame(command);
        let mut packet = match frame.as_ref().map(Frame::encoded_len_prechecked) {
            None => None,
            Some(Err(_)) => return Ok(Self::done(c, slot, Err(Failure::Invalid))),
            Some(Ok(len)) => match pool.take(len) {
                Some(buf) => Some((buf, len)),
                None if len > pool.largest() => return Ok(Self::done(c, slot, Err(Failure::NoBuffer))),
                None => return Err(Refused::NoBufferNow),
            },
        };
        // The packet id (and the checks that need no packet), then the packet
        // encoded here, at the top of the call: the encoder's frames are not
        // stacked on a helper's (a caller's stack); then the subscription
        // table, for a SUBSCRIBE or UNSUBSCRIBE. One way out for every
        // failure from here on.
        let mut id = 0;
        let failed = match Self::packet_id(c, slot, command) {
            Err(f) => Some(f),
            Ok(n) => {
                id = n;
                match packet.as_mut().map(|(buf, len)| encode(frame.as_ref(), id, *len, buf.as_mut()) == Ok(*len)) {
                    None => None,
                    Some(false) => Some(Failure::Invalid),
                    Some(true) => Self::update_subs(c, command, slot).err(),
                }
            }
        };
        if let Some(f) = failed {
            if let Some((buf, _)) = packet.take() {
                pool.give(buf);
            }
            return Ok(Self::done(c, slot, Err(f)));
        }
        // The packet waits in its slot (a CONNECT's while its connection
        // opens) until it is handed out to be sent.
        let queued = packet.is_some();
        if packet.is_some() {
            c.packets[i] = packet;
        }
        let result = match command {
            Command::Connect { open, callback, start, timeout, .. } if queued => {
                c.connect = 1 << slot;
                c.session.opening(*start, *timeout);
                c.callback = *callback;
                // (The table is empty: `end_link` emptied it.)
                debug_assert!(c.subs.is_empty(), "a subscription outlived its connection");
                c.ops[i] = Op::Opening(open.take().map(ManuallyDrop::new));
                c.ready |= 1 << slot;
                return Ok(slot);
            }
            _ if queued => {
                // SUBSCRIBE, UNSUBSCRIBE or PUBLISH: QoS 0 completes once
                // sent; the others at their acknowledgement.
                c.session.track(slot, id); // (QoS 0: 0, none.)
                let bit = 1 << slot;
                if id == 0 {
                    c.on_sent |= bit;
                }
                c.to_send |= bit;
                c.due[DUE_SEND] = 1;
                None
            }
            Command::Disconnect => {
                if c.session.is_open() {
                    Self::queue_disconnect(c, CloseReason::Requested);
                    Some(Ok(()))
                } else {
                    Some(Err(Failure::NotConnected))
                }
            }
            Command::Delete => {
                c.delete_slot = Some(slot);
                c.callback = None; // (Its subscriptions end with the connection, see `end_link`.)
                // Done once the client has no connection left (see
                // `deleted`), so that a client created in its slot never
                // meets its connection: an open one is closed after a
                // DISCONNECT, one being opened as soon as it is open.
                if c.session.is_open() {
                    Self::queue_disconnect(c, CloseReason::Requested);
                    None
                } else if c.session.is_closed() && c.due[DUE_CLOSE] == 0 {
                    Some(Ok(()))
                } else {
                    None // Being opened, or being closed.
                }
            }
            Command::SetCallback { callback } => {
                c.callback = *callback;
                Some(Ok(()))
            }
            Command::Barrier => Some(Ok(())),
            _ => Some(Err(Failure::Invalid)),
        };
        match result {
            Some(result) => Ok(Self::done(c, slot, result)),
            None => {
                c.ops[i] = Op::Waiting;
                Ok(slot)
            }
        }
    }

    /// `slot` finished at once with `result`.
    #[inline(never)]
    fn done(c: &mut Client<B, CB, O, OPS, SUBS, FILTER>, slot: u16, result: Result<(), Failure>) -> u16 {
        if let Some(op) = c.ops.get_mut(slot as usize) {
            *op = Op::Done { result };
            c.ready |= 1 << slot;
        }
        slot
    }

    /// The word of the command's packet: its packet id (0: none, for QoS 0)
    /// or a CONNECT's keep-alive (see `Frame`); the id
    /// taken from the session when the packet waits for an acknowledgement,
    /// or why the command cannot send it now.
    fn packet_id(c: &mut Client<B, CB, O, OPS, SUBS, FILTER>, slot: u16, command: &Command<'_, O, CB>) -> Result<u16, Failure> {
        let expect = match command {
            Command::Connect { .. } if !c.session.is_closed() => return Err(Failure::NotConnected),
            // Its frame's word: the keep-alive (see `Frame`).
            Command::Connect { keep_alive, .. } => return Ok(*keep_alive),
            Command::Subscribe { .. } => Some(Expect::SubAck),
            Command::Unsubscribe { .. } => Some(Expect::UnsubAck),
            Command::Publish { qos: QoS::AtLeastOnce, .. } => Some(Expect::PubAck),
            Command::Publish { qos: QoS::ExactlyOnce, .. } => Some(Expect::PubRec),
            Command::Publish { .. } => None, // QoS 0: no id, but it needs the connection too.
            _ => return Ok(0),
        };
        if !c.session.is_connected() {
            return Err(Failure::NotConnected);
        }
        match expect {
            // In flight once the packet is queued (see `submit`).
            Some(e) => c.session.next_id(e, slot).ok_or(Failure::Full),
            None => Ok(0),
        }
    }

    /// The subscription table as the command's packet changes it: a
    /// SUBSCRIBE's callback entered, waiting for its SUBACK; an UNSUBSCRIBE's
    /// removed. Apart (and never inlined): the entry is built only for a
    /// subscribe, not on the stack of every publish; the command by
    /// reference, so that the call needs no arguments on the caller's stack.
    #[inline(never)]
    fn update_subs(c: &mut Client<B, CB, O, OPS, SUBS, FILTER>, command: &Command<'_, O, CB>, slot: u16) -> Result<(), Failure> {
        let (filter, cb) = match *command {
            Command::Subscribe { filter, callback: Some(cb), .. } => (filter, cb),
            // The callback goes now, not at UNSUBACK: a late UNSUBACK (its
            // caller timed out) must not remove a newer subscription.
            Command::Unsubscribe { filter } => {
                c.remove_sub(filter);
                return Ok(());
            }
            _ => return Ok(()),
        };
        if filter.len() > FILTER {
            return Err(Failure::Invalid);
        }
        c.remove_sub(filter); // A new subscription to the same filter replaces the callback.
        if c.subs.is_full() {
            return Err(Failure::Full);
        }
        // The entry is pushed empty and its filter copied in place.
        let wildcard = filter.iter().any(|&b| b == b'+' || b == b'#');
        let _ = c.subs.push(Sub { filter: Vec::new(), callback: cb, wildcard, pending: slot });
        if let Some(sub) = c.subs.last_mut() {
            let _ = sub.filter.extend_from_slice(filter);
        }
        Ok(())
    }

    #[inline(never)]
    fn queue_disconnect(c: &mut Client<B, CB, O, OPS, SUBS, FILTER>, reason: CloseReason) {
        if c.session.is_connected() {
            c.due[DUE_DISCONNECT] = 1;
        }
        c.close_after_queue = (reason, true);
        c.due[DUE_CLOSE_AFTER_QUEUE] = 1;
    }

    /// The caller of `slot` stopped waiting (`signalled`: it was woken). Its
    /// result, or `None` when it timed out: the slot is then abandoned and the
    /// late answer frees it, reaching nobody.
    #[inline(never)] // A caller's stack: its own frame, not merged into the caller's.
    pub fn collect<P: Pool<Buf = B>>(
        &mut self,
        index: usize,
        slot: u16,
        pool: &mut P,
    ) -> Option<Result<(), Failure>> {
        let c = self.clients.get_mut(index)?;
        let op = c.ops.get_mut(slot as usize)?;
        let mut withdrawn = false;
        let result = match core::mem::replace(op, Op::Free) {
            Op::Done { result, .. } => Some(result),
            Op::Opening(Some(open)) => {
                // Never handed to the platform: the connect is withdrawn.
                drop(ManuallyDrop::into_inner(open));
                withdrawn = true;
                None
            }
            Op::Free => None,
            _ => {
                // The session keeps the slot's token: the late answer (or the
                // connection's end) frees the slot, and it is not reused before.
                *op = Op::Abandoned;
                None
            }
        };
        if withdrawn {
            // As if opening failed: its CONNECT goes back (the slot is free
            // already, so nothing fails), no connection is left (a delete
            // may wait for that).
            Self::end_link(c, None, pool);
        }
        // A delete not done yet goes on without its caller: `deleted` frees the client.
        if delete_slot_matches(c.delete_slot, slot) && result.is_some() {
            Self::free_client(c);
        }
        result
    }

    /// A deleted client's slot is free for `create` (a retired one, whose
    /// generations ran out, never again).
    fn free_client(c: &mut Client<B, CB, O, OPS, SUBS, FILTER>) {
        c.allocated = false;
        // The next handle generation, less FIRST_GENERATION; u32::MAX (retired) when none is left.
        c.generation = crate::handle::next_generation(c.handle_generation()).unwrap_or(0).wrapping_sub(crate::handle::FIRST_GENERATION);
        c.delete_slot = None;
    }

    /// The client's connection is gone: a delete waiting for that is done
    /// (and the client freed at once if its caller gave up waiting).
    fn deleted(c: &mut Client<B, CB, O, OPS, SUBS, FILTER>) {
        let Some(slot) = c.delete_slot else { return };
        if c.finish_op(slot, Ok(())) {
            Self::free_client(c);
        }
    }

    // ------------------------------------------------------ connection events

    /// What the platform did with an action of `client` (at tick `now`):
    /// one entry for every report, which finds the client once.
    pub fn reported<P: Pool<Buf = B>>(&mut self, client: usize, report: Report, now: u32, pool: &mut P) {
        let Some(c) = self.clients.get_mut(client) else {
            return;
        };
        match report {
            Report::Sent { complete, ok } => Self::sent_on(c, complete, ok, now, pool),
            Report::Opened => Self::opened_on(c, now),
            Report::OpenFailed => Self::open_failed_on(c, pool),
        }
    }

    /// The platform opened the connection of `client`: the CONNECT goes out.
    pub fn opened(&mut self, client: usize, now: u32) {
        if let Some(c) = self.clients.get_mut(client) {
            Self::opened_on(c, now);
        }
    }

    /// Opening the connection failed: the connect fails.
    pub fn open_failed<P: Pool<Buf = B>>(&mut self, client: usize, pool: &mut P) {
        self.reported(client, Report::OpenFailed, 0, pool);
    }

    /// `Send` went out (`ok`) or failed.
    pub fn sent<P: Pool<Buf = B>>(
        &mut self,
        client: usize,
        complete: Option<u16>,
        ok: bool,
        now: u32,
        pool: &mut P,
    ) {
        self.reported(client, Report::Sent { complete, ok }, now, pool);
    }

    fn opened_on(c: &mut Client<B, CB, O, OPS, SUBS, FILTER>, now: u32) {
        if c.connect == 0 {
            return;
        }
        // (The receive state is at rest: the last connection's end left it so.)
        debug_assert!(c.rx.header.is_none() && c.rx.have == 0 && c.rx.buf.is_none());
        if c.delete_slot.is_some() {
            // Deleted while it opened: closed at the next poll, no CONNECT
            // (the connect fails, the delete is done).
            c.session.opened_closing();
            c.close_after_queue = (CloseReason::Requested, true);
            c.due[DUE_CLOSE_AFTER_QUEUE] = 1;
            return;
        }
        c.to_send |= c.connect; // The CONNECT, waiting in its slot.
        c.due[DUE_SEND] = 1;
        c.session.opened(now);
    }

    fn open_failed_on<P: Pool<Buf = B>>(c: &mut Client<B, CB, O, OPS, SUBS, FILTER>, pool: &mut P) {
        Self::end_link(c, None, pool);
    }

    fn sent_on<P: Pool<Buf = B>>(
        c: &mut Client<B, CB, O, OPS, SUBS, FILTER>,
        complete: Option<u16>,
        ok: bool,
        now: u32,
        pool: &mut P,
    ) {
        if let Some(slot) = complete {
            c.finish_op(
                slot,
                if ok {
                    Ok(())
                } else {
                    Err(Failure::Closed(CloseReason::SendFailed))
                },
            );
        }
        if ok {
            c.session.sent(now);
        } else if c.session.is_open() {
            Self::lose(c, CloseReason::SendFailed, pool);
        }
        // Else the send was on a connection that ended since (the platform
        // reports at its next pass): a failure of the old one must not end a
        // connect submitted meanwhile.
    }

    /// Ends the connection: the queue is emptied, every waiting caller fails,
    /// the platform is told to close it, and (`lost`, not asked for) the
    /// application is told, once.
    #[inline(always)]
    fn end<P: Pool<Buf = B>>(
        c: &mut Client<B, CB, O, OPS, SUBS, FILTER>,
        reason: CloseReason,
        graceful: bool,
        pool: &mut P,
    ) {
        Self::end_link(c, Some((reason, graceful)), pool);
    }

    /// [`end`](Self::end) with a close (`Some`), or for a connection that
    /// will not be opened (`None`: opening failed, or the connect was
    /// withdrawn before the platform had it): the packets go back (one
    /// being opened has only its CONNECT), the connect fails
    /// (`Failure::OpenFailed`), and a delete waiting for no connection is
    /// done; the session and the receive state are at rest already. One
    /// routine for every end of a connection.
    #[inline(never)]
    fn end_link<P: Pool<Buf = B>>(
        c: &mut Client<B, CB, O, OPS, SUBS, FILTER>,
        close: Option<(CloseReason, bool)>,
        pool: &mut P,
    ) {
        // A connection not opened is being opened (`is_opening`: the
        // platform reports on each Open once, and only a CONNACK, a read, a
        // send or a close after the queue, all on an open link, end one), so
        // the test of a link ended already never stops it.
        debug_assert!(close.is_some() || c.session.is_opening(), "a connection not opened is being opened");
        let was_connected = c.session.is_connected();
        if c.session.is_closed() {
            return; // Ended already.
        }
        if let Some(buf) = c.rx.buf.take() {
            pool.give(buf);
        }
        c.rx.restart();
        // Every waiting caller fails, with one failure: those of the
        // session's packets and of the connect, and those that complete
        // when sent (QoS 0 publishes, never queued before a CONNACK: none
        // when it refuses).
        let failure = match close {
            None => Failure::OpenFailed,
            Some((CloseReason::Refused(code), _)) => Failure::Refused(code),
            Some((other, _)) => Failure::Closed(other),
        };
        debug_assert!(!matches!(failure, Failure::Refused(_)) || c.on_sent == 0, "a QoS 0 publish queued before CONNACK");
        let waiting = c.on_sent | c.connect;
        c.connect = 0;
        c.to_send = 0;
        c.on_sent = 0;
        c.due[DUE_SEND] = 0;
        // One walk of the slots: each packet not sent yet back to the pool,
        // each waiting caller failed (with a packet in flight, or in `waiting`).
        for slot in 0..OPS {
            if let Some((buf, _)) = c.packets[slot].take() {
                pool.give(buf);
            }
            if waiting & (1 << slot) != 0 || c.session.waits(slot) {
                c.finish_op(slot as u16, Err(failure));
            }
        }
        c.session.drop_connection(); // Closed.
        // No subscription outlives its connection: a connect starts a clean
        // session (the broker forgot them too), and the table is read only
        // on one (a subscribe, an unsubscribe and a delivery need it open;
        // a deleted client takes no command). So it is emptied here, once,
        // not at each connect and delete, and none is removed for a SUBACK
        // that never comes.
        c.subs.clear();
        let Some((reason, graceful)) = close else {
            Self::deleted(c);
            return;
        };
        c.close = (reason, graceful);
        // The queues and a DISCONNECT are gone; the close replaces a close after them.
        c.due[DUE_SMALL] = 0;
        c.due[DUE_DISCONNECT] = 0;
        c.due[DUE_CLOSE_AFTER_QUEUE] = 0;
        c.due[DUE_CLOSE] = 1;
        if !graceful && was_connected {
            c.due[DUE_LOST] = 1;
        }
    }

    fn lose<P: Pool<Buf = B>>(
        c: &mut Client<B, CB, O, OPS, SUBS, FILTER>,
        reason: CloseReason,
        pool: &mut P,
    ) {
        Self::end(c, reason, false, pool);
    }

    // --------------------------------------------------------------- receive

    /// The task blocked (slept or waited a tick): every client's receive
    /// budget starts again. A broker that floods one connection thus gets at
    /// most the budget per rest, and lower-priority tasks the CPU in between.
    pub fn rested(&mut self) {
        self.clients.iter_mut().for_each(|c| c.rx_used = 0);
    }

    /// Reads what `client`'s connection has, up to the receive budget (since
    /// the task last rested), and handles each whole packet. (`_now`, the
    /// tick: no received packet's handling reads the clock.)
    pub fn received<P: Pool<Buf = B>>(
        &mut self,
        client: usize,
        reader: &mut impl Reader,
        _now: u32,
        pool: &mut P,
    ) -> RxStatus {
        let budget = self.rx_budget;
        let Some(c) = self.clients.get_mut(client) else {
            return RxStatus::Idle;
        };
        while c.reading() {
            // The budget ends a pass between packets (or while a publish
            // without a buffer is thrown away): a packet being read into its
            // buffer is bounded by that buffer and finishes now, not a tick
            // later (a 4 KB publish with a 4 KB budget waited a tick for its tail).
            // A publish waiting for its delivery is handed over first (Paused).
            if c.delivery.is_some() || c.due[DUE_SMALL] as usize >= SMALL_QUEUE {
                return RxStatus::Paused;
            }
            let between = (c.rx.header.is_none() && c.rx.have == 0) || c.rx.discarding();
            if c.rx_used >= budget && between {
                return RxStatus::Budget;
            }
            match Self::receive_step(c, reader, pool) {
                Ok(0) => return RxStatus::Idle,
                Ok(n) => c.rx_used += n,
                Err(reason) => {
                    Self::lose(c, reason, pool);
                    return RxStatus::Idle;
                }
            }
        }
        RxStatus::Idle
    }

    /// One read: the bytes it took (0: nothing now).
    fn receive_step<P: Pool<Buf = B>>(
        c: &mut Client<B, CB, O, OPS, SUBS, FILTER>,
        reader: &mut impl Reader,
        pool: &mut P,
    ) -> Result<usize, CloseReason> {
        let rx = &mut c.rx;
        let discarding = rx.discarding();
        let end = match rx.header {
            // Two bytes first (type and the usual one-byte length), then one
            // more per continued length byte: never past the header.
            None => rx.have.max(1) + 1,
            Some(header) => header.remaining_len as usize,
        };
        let into: &mut [u8] = match rx.buf.as_mut() {
            Some(buf) => buf.as_mut().get_mut(rx.have..end).unwrap_or_default(),
            None if discarding => {
                // Read part by part: the topic length (0..2) and the packet
                // id after the topic straight into `small` (at 0..2 and
                // 2..4), the rest into `small[4..]` and thrown away: no
                // chunk on the stack, no byte loop after the read (measured
                // agent+pool -32; a dropped publish is read 4 bytes a call).
                const _: () = assert!(SMALL > 4, "a dropped publish's bytes are thrown away through small[4..]");
                let have = rx.have;
                let id_at = 2 + u16::from_be_bytes([rx.small[0], rx.small[1]]) as usize;
                let (stop, keep) = if have < 2 {
                    (2, Some(0))
                } else if have < id_at {
                    (id_at, None)
                } else if have < id_at + 2 {
                    (id_at + 2, Some(id_at - 2))
                } else {
                    (end, None)
                };
                let stop = stop.min(end);
                let (from, to) = match keep {
                    Some(k) => (have - k, stop - k),
                    None => (4, 4 + (stop - have).min(SMALL - 4)),
                };
                rx.small.get_mut(from..to).unwrap_or_default()
            }
            None => rx.small.get_mut(rx.have..end).unwrap_or_default(),
        };
        let n = reader.read(into).map_err(|_| CloseReason::ReadFailed)?;
        if n == 0 {
            return Ok(0);
        }
        rx.have += n;
        Self::advance(c, pool)?;
        Ok(n)
    }

    /// After a read: a whole header chooses where the body goes; a whole packet is handled.
    #[inline(never)] // Inlined into the task's pass, it cost 200 bytes more there (register pressure).
    fn advance<P: Pool<Buf = B>>(
        c: &mut Client<B, CB, O, OPS, SUBS, FILTER>,
        pool: &mut P,
    ) -> Result<(), CloseReason> {
        let rx = &mut c.rx;
        let header = match rx.header {
            Some(header) => header,
            None => {
                // (One match: its ways out share their code; measured 12
                // bytes less than `?` then `let else`.)
                let (header, _) = match FixedHeader::parse(rx.small.get(..rx.have).unwrap_or_default()) {
                    Ok(Some(parsed)) => parsed,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(CloseReason::Malformed(e)),
                };
                let len = header.remaining_len as usize;
                if header.packet_type != PacketType::Publish {
                    if len > SMALL {
                        return Err(CloseReason::Oversized);
                    }
                } else {
                    match pool.take_rx(len) {
                        Some(buf) if buf.as_ref().len() >= len => rx.buf = Some(buf),
                        other => {
                            if let Some(buf) = other {
                                pool.give(buf);
                            }
                            c.dropped = len;
                            c.due[DUE_DROPPED] = 1;
                            rx.small = [0; SMALL];
                        }
                    }
                }
                rx.header = Some(header);
                rx.have = 0; // The body's bytes from now on.
                header
            }
        };
        if rx.have >= header.remaining_len as usize {
            // The header in its parts: as one value (no pair of scalars) it
            // went through the stack.
            let buf = rx.buf.take();
            Self::handle(c, header.packet_type, header.flags, header.remaining_len as usize, buf, pool)?;
        }
        Ok(())
    }

    #[inline(never)] // Measured: smaller out of line (the task's pass inlines the rest).
    fn handle<P: Pool<Buf = B>>(
        c: &mut Client<B, CB, O, OPS, SUBS, FILTER>,
        kind: PacketType,
        flags: u8,
        len: usize,
        buf: Option<B>,
        pool: &mut P,
    ) -> Result<(), CloseReason> {
        c.rx.restart(); // Ready for the next packet (`buf` was taken out).
        // One session call for every packet and one reply; a publish read
        // into a buffer keeps its buffer until it is delivered or given back.
        let reply = if kind != PacketType::Publish {
            // The session checks the body and answers it in one match (a
            // malformed body is `Malformed`, a packet out of place `Protocol`),
            // and ends the operation an acknowledgement answers where it
            // knows how (its slot here, at once); a CONNACK's comes back in
            // the reply (it may end the connection).
            let Client { session, ops, ready, subs, rx, .. } = &mut *c;
            // (The closure inlined: measured 4 bytes less; it runs where
            // the session knows the outcome.)
            let reply = session.received_small::<CloseReason>(
                kind,
                rx.small.get(..len).unwrap_or(&[]),
                #[inline(always)]
                |token: Token, outcome| {
                    let granted = outcome != Outcome::SubscriptionRefused;
                    drop_subs(subs, &[], Unsub::Answered { slot: token, granted });
                    finish(ops, ready, token, if granted { Ok(()) } else { Err(Failure::SubscriptionRefused) });
                },
            )?;
            if let Some(code) = reply.connack {
                Self::connack(c, code, pool);
            }
            reply
        } else {
            // A publish: decoded in its buffer, or thrown away (acknowledged
            // from its header and id, never delivered); one session call.
            // (Not 3: the header was checked. A match, not a table on the
            // stack: measured 4 bytes less.)
            let qos = match (flags >> 1) & 0x03 {
                0 => QoS::AtMostOnce,
                1 => QoS::AtLeastOnce,
                _ => QoS::ExactlyOnce,
            };
            let decoded = buf.as_ref().map(|b| wire::decode_publish(flags, b.as_ref().get(..len).unwrap_or(&[])));
            let result = match decoded {
                Some(Ok(p)) => Ok(p.packet_id),
                Some(Err(e)) => Err(CloseReason::Malformed(e)),
                // (Read for QoS 0 too, where the session does not look at it.)
                None => Ok(u16::from_be_bytes([c.rx.small[2], c.rx.small[3]])),
            }
            .and_then(|id| c.session.received_publish(qos, id, flags & 0x08 != 0).map_err(CloseReason::Protocol));
            // A buffer goes back when the publish ends the connection.
            let reply = match result {
                Ok(r) => r,
                Err(reason) => return Self::give_then(pool, buf, reason),
            };
            if let (Some(buf), Some(Ok(p))) = (buf, decoded) {
                if reply.deliver {
                    // Built where it stays; the subscribers are found into it (no
                    // list returned and copied with the delivery).
                    c.due[DUE_DELIVER] = 1;
                    let d = c.delivery.insert(Delivery { buf, qos, topic_len: p.topic.1 as u16, payload: p.payload, subscribers: Vec::new(), present: Present::Yes });
                    let name = d.buf.as_ref().get(p.topic.0..p.topic.0 + p.topic.1).unwrap_or(&[]);
                    Self::matching(&c.subs, name, &mut d.subscribers);
                    // None matched: the connect callback instead, alone (room:
                    // SUBS is at least 1, checked at build time).
                    const { assert!(SUBS > 0, "a delivery's list holds the connect callback: SUBS >= 1") };
                    if let (true, Some(cb)) = (d.subscribers.is_empty(), c.callback) {
                        let _ = d.subscribers.push(cb); // The list is empty.
                    }
                } else {
                    pool.give(buf); // Not delivered (a QoS 2 re-delivery): acknowledged only.
                }
            }
            reply
        };
        if let Some(ack) = reply.send {
            // Room is certain: receiving pauses while the queue is full.
            c.push_small(ack_bytes(ack));
        }
        Ok(())
    }

    /// Gives `buf` (if any) back and fails with `reason`.
    fn give_then<P: Pool<Buf = B>>(pool: &mut P, buf: Option<B>, reason: CloseReason) -> Result<(), CloseReason> {
        if let Some(buf) = buf {
            pool.give(buf);
        }
        Err(reason)
    }

    /// The subscription callbacks for `topic`, into `found`: exact filters
    /// first, then wildcards.
    #[inline(never)] // Measured: smaller out of line.
    fn matching(subs: &[Sub<CB, FILTER>], topic: &[u8], found: &mut Vec<CB, SUBS>) {
        // Two walks: the exact filters, then the wildcards.
        for pass in 0..2 {
            for s in subs.iter().filter(|s| u8::from(s.wildcard) == pass) {
                // Without wildcards, a filter matches the topic equal to it.
                if topic::matches_valid(&s.filter, topic) {
                    let _ = found.push(s.callback);
                }
            }
        }
    }

    /// The CONNACK's outcome, applied: part of `handle`, its one caller.
    #[inline(always)]
    fn connack<P: Pool<Buf = B>>(c: &mut Client<B, CB, O, OPS, SUBS, FILTER>, code: ConnectReturnCode, pool: &mut P) {
        if code != ConnectReturnCode::Accepted {
            // The broker closes after a refusal [MQTT-3.2.2-5]. The connect
            // (still in the connect slot) fails with the refusal as the
            // connection ends, as any caller waiting then would.
            // (Never connected: the application is not told it was lost.)
            Self::end(c, CloseReason::Refused(code), false, pool);
            debug_assert_eq!(c.due[DUE_LOST], 0, "a refused connection reported lost");
            return;
        }
        // A CONNACK completes the connect slot (the session does not know it;
        // it is set while the session awaits a CONNACK).
        // (No connect slot: 32, no slot (as the session's `CONNECT` token).)
        let slot = c.connect.trailing_zeros() as u16;
        c.connect = 0;
        if c.finish_op(slot, Ok(())) {
            // The application was told its connect timed out: it does not
            // expect a connection, so a late CONNACK closes it again.
            Self::queue_disconnect(c, CloseReason::LateConnAck);
        }
    }

    // ----------------------------------------------------------------- time

    /// Keep-alive and CONNACK timing of every connection, and the ticks
    /// until it has something to do again (`None`: nothing scheduled), in
    /// one walk of the clients: the deadline of each connection it timed,
    /// after its PINGREQ or close. That is [`next_deadline`](Self::next_deadline)
    /// once the due work is out (the task sleeps only then): the connections
    /// not timed here are those closing, which that work closes.
    pub fn tick<P: Pool<Buf = B>>(&mut self, now: u32, pool: &mut P) -> Option<u32> {
        let ka = self.keep_alive;
        let mut next = None;
        for c in self
            .clients
            .iter_mut()
            // The connections read (`reading`), as the session's timer says:
            // it runs only on an open one, and one whose close is due has
            // none (`end_link` dropped it); a close after the queues, though,
            // waits with its connection open.
            .filter(|c| c.due[DUE_CLOSE_AFTER_QUEUE] == 0)
        {
            let Some((mut left, at_end)) = c.session.timer(now, ka) else { continue };
            debug_assert!(c.reading(), "a timed connection is one read");
            if left == 0 {
                if at_end == Timer::Dead {
                    let reason = if c.session.is_connected() {
                        CloseReason::KeepAliveTimeout
                    } else {
                        CloseReason::ConnAckTimeout
                    };
                    Self::lose(c, reason, pool);
                    continue;
                }
                if c.push_small(PINGREQ) {
                    c.session.ping_sent(now);
                    left = ka.timeout; // The timer's span once a PINGREQ went out.
                }
            }
            next = Some(next.map_or(left, |n: u32| n.min(left)));
        }
        next
    }

    /// Ticks until [`tick`](Self::tick) has something to do; `None`: nothing scheduled.
    pub fn next_deadline(&self, now: u32) -> Option<u32> {
        let mut next = None;
        // (Only an open connection's session has a deadline.)
        for c in self.clients.iter() {
            if let Some(d) = c.session.next_deadline(now, self.keep_alive) {
                next = Some(next.map_or(d, |n: u32| n.min(d)));
            }
        }
        next
    }

    /// The publish a [`Action::Deliver`] announced: from now on the caller's.
    pub fn take_delivery(&mut self, client: usize) -> Option<Delivery<B, CB, SUBS>> {
        self.clients.get_mut(client)?.delivery.take()
    }

    /// [`take_delivery`](Self::take_delivery) into `into`, which holds none
    /// (the delivery is moved once, not through a temporary).
    pub fn move_delivery(&mut self, client: usize, into: &mut Option<Delivery<B, CB, SUBS>>) {
        if let Some(c) = self.clients.get_mut(client) {
            core::mem::swap(&mut c.delivery, into);
        }
    }

    /// Whether `client` has a connection (opening or open) that the platform reads (tests).
    #[cfg(test)]
    pub fn is_open(&self, client: usize) -> bool {
        self.clients.get(client).is_some_and(Client::reading)
    }

    /// The result of `slot` if it has finished (tests).
    #[cfg(test)]
    pub fn peek(&self, client: usize, slot: u16) -> Option<Result<(), Failure>> {
        match self.clients[client].ops.get(slot as usize)? {
            Op::Done { result, .. } => Some(*result),
            _ => None,
        }
    }

    /// Whether `client`'s slot is free for `create` (tests).
    #[cfg(test)]
    pub fn is_free(&self, client: usize) -> bool {
        !self.clients[client].allocated
    }

    /// Whether `client` has no connection at all (a connect would proceed).
    #[cfg(test)]
    pub fn is_closed(&self, client: usize) -> bool {
        self.clients[client].session.is_closed()
    }

    /// Buffers the core holds now (tests count every buffer's owner).
    #[cfg(test)]
    pub fn buffers_held(&self) -> usize {
        self.clients
            .iter()
            .map(|c| {
                c.packets.iter().filter(|p| p.is_some()).count()
                    + usize::from(c.rx.buf.is_some())
                    + usize::from(c.delivery.is_some())
            })
            .sum()
    }

    // ---------------------------------------------------------------- actions

    /// The next thing the platform must do, if any, and for which client.
    pub fn poll<P: Pool<Buf = B>>(&mut self, pool: &mut P) -> Option<Next<B, CB, O>> {
        for (client, c) in self.clients.iter_mut().enumerate() {
            if u64::from_ne_bytes(c.due) == 0 && c.ready == 0 {
                continue; // Idle: one test, not a scan of every byte (speed).
            }
            // One loop over the due work, in the order of `DUE_*`: the first
            // byte not 0, counted down as it is taken (a flag is 1; the send
            // flag is set again while packets remain).
            loop {
                let due = u64::from_le_bytes(c.due);
                if due == 0 {
                    break;
                }
                let kind = (due.trailing_zeros() / 8) as usize & 7;
                c.due[kind] -= 1;
                match kind {
                    DUE_DELIVER => return Some(Next { client, action: Action::Deliver }),
                    DUE_DROPPED => return Some(Next { client, action: Action::Dropped { len: c.dropped } }),
                    DUE_SMALL => {
                        // The queue moved up by a word: four words read and
                        // written, not a memmove call (SMALL_QUEUE is 4: the
                        // pattern does not build otherwise).
                        let [word, b, d, e] = c.small;
                        c.small = [b, d, e, 0];
                        // The length is 2 and the second byte's.
                        let len = 2 + (word >> 8) as u8;
                        return Some(Next { client, action: Action::Send { out: Out::Small { word, len }, complete: None } });
                    }
                    DUE_SEND => {
                        let slot = c.to_send.trailing_zeros() as u16;
                        let bit = 1 << slot;
                        c.to_send &= !bit;
                        if c.to_send != 0 {
                            c.due[DUE_SEND] = 1;
                        }
                        let complete = (c.on_sent & bit != 0).then_some(slot);
                        c.on_sent &= !bit;
                        if let Some(Some((buf, len))) = c.packets.get_mut(slot as usize).map(Option::take) {
                            return Some(Next { client, action: Action::Send { out: Out::Buf { buf, len }, complete } });
                        }
                    }
                    // Asked for (or a late CONNACK): after everything queued, DISCONNECT, then the close.
                    DUE_DISCONNECT => {
                        return Some(Next { client, action: Action::Send { out: Out::Small { word: u32::from_le_bytes(DISCONNECT), len: 2 }, complete: None } })
                    }
                    DUE_CLOSE_AFTER_QUEUE => {
                        let (reason, graceful) = c.close_after_queue;
                        Self::end(c, reason, graceful, pool);
                    }
                    DUE_CLOSE => {
                        let close = c.close;
                        Self::deleted(c);
                        return Some(Next { client, action: Action::Close { close } });
                    }
                    _ => {
                        // DUE_LOST
                        if let Some(callback) = c.callback {
                            return Some(Next { client, action: Action::Disconnected { callback } });
                        }
                    }
                }
            }
            while c.ready != 0 {
                let slot = c.ready.trailing_zeros() as u16;
                c.ready &= c.ready - 1;
                match c.ops.get_mut(slot as usize) {
                    Some(Op::Done { .. }) => {
                        return Some(Next { client, action: Action::Complete { slot } });
                    }
                    Some(Op::Opening(open)) => {
                        if let Some(open) = open.take() {
                            return Some(Next { client, action: Action::Open { open } });
                        }
                    }
                    _ => {}
                }
            }
        }
        None
    }
}

/// Operation `slot` ends with `result`, its bit set in `ready` (`Client::ready`)
/// when its Complete is due; an abandoned one is freed (its caller is
/// gone): `true` then. One out-of-line routine for every end of an operation.
#[inline(never)]
fn finish<O>(ops: &mut [Op<O>], ready: &mut u32, slot: u16, result: Result<(), Failure>) -> bool {
    let Some(op) = ops.get_mut(slot as usize) else { return false };
    // An open request is taken (poll) or withdrawn (collect) before its
    // operation can end: overwriting one would leak it (`ManuallyDrop`).
    debug_assert!(!matches!(op, Op::Opening(Some(_))), "an open request left in a finished connect");
    match op {
        Op::Abandoned => {
            *op = Op::Free;
            return true;
        }
        Op::Free | Op::Done { .. } => {} // Ends once.
        Op::Opening(_) | Op::Waiting => {
            *op = Op::Done { result };
            *ready |= 1 << slot;
        }
    }
    false
}

/// The packet a command sends, if it sends one.
fn frame<'a, O: Connects, CB>(command: &Command<'a, O, CB>) -> Option<Frame<'a>> {
    Some(match *command {
        Command::Connect { client_id, .. } => Frame::connect(client_id, O::USER_NAME),
        Command::Subscribe { filter, qos, .. } => Frame::subscribe(filter, qos),
        Command::Unsubscribe { filter } => Frame::unsubscribe(filter),
        Command::Publish { topic, payload, qos, retain } => Frame::publish(topic, payload, qos, retain),
        _ => return None,
    })
}

/// Encodes `frame` (packet id `id`), whose `encoded_len` was `len`, into `out`.
fn encode(frame: Option<&Frame<'_>>, id: u16, len: usize, out: &mut [u8]) -> Result<usize, EncodeError> {
    match frame {
        Some(f) => f.encode_checked(id, len, out),
        None => Err(EncodeError::NoFilters),
    }
}

fn delete_slot_matches(delete: Option<u16>, slot: u16) -> bool {
    delete == Some(slot)
}
