//! The agent task: per client, the socket, the receive state and the
//! [`Session`]; runs operations, reads packets, keeps the connection alive and
//! calls the application's callbacks (with no lock held).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr::NonNull;

use super::{agent, sleep, Agent, CPtr, Command, Done, TxBuf, BROKERS, OPS};
use crate::agent::session::{Ack, Expect, KeepAlive, Outcome, Reaction, Session, Timer};
use crate::config::{kernel, mqtt};
use crate::ffi::agent_types::{MQTTAgentCallbackParams_t, MQTTAgentCallbackParams_u, MQTTAgentCallback_t, MQTTAgentEvent_t};
use crate::ffi::mqtt_lib::{MQTTPublishData_t, MQTTQoS_t};
use crate::mqtt::codec::{FixedHeader, HeaderDecoder, Packet, PacketType, PubAck, PubComp, PubRec, PubRel, Publish, QoS};
use crate::platform::link::Link;
use crate::platform::rtos;
use crate::platform::sockets::{NetError, PortTls, Socket, Socket_t};
use super::TLS_BY_SOCKETS_PORT;

/// Received QoS 2 publishes whose PUBREL is tracked, per client. More may be
/// in flight: the session tells re-deliveries by their DUP flag (see
/// `Session::received_publish`), so this only bounds memory.
const QOS2_IN: usize = 16;
/// Bytes read from one client per pass of the task loop: a broker that floods
/// one connection cannot keep the task from the other clients, their queued
/// operations and keep-alive. When a client used all of it, the task blocks for
/// one tick before the next pass: the data waits in the socket, and the
/// application's tasks (usually of lower priority than the agent) get the CPU
/// meanwhile. A connection's receive rate is thus bounded by this budget per tick.
const RX_BUDGET: usize = 4 * if mqtt::RX_BUFFER_SIZE > 64 { mqtt::RX_BUFFER_SIZE } else { 64 };
/// Largest body of a non-PUBLISH packet a server may send us (SUBACK for one filter is 3).
const SCRATCH: usize = 8;
/// Chunk used to read and discard a publish that no buffer can hold.
const DISCARD_CHUNK: usize = 64;

/// What a SUBSCRIBE brings besides its packet: its callback, when the
/// project enables subscription management.
#[cfg(afr_subscription_management)]
type SubscribeExtra = super::SubCallback;
#[cfg(not(afr_subscription_management))]
type SubscribeExtra = ();

#[cfg(afr_subscription_management)]
type Subscriptions = crate::mqtt::topic::FilterTable<
    { mqtt::SUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS },
    { mqtt::SUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH },
    super::SubCallback,
>;

/// Where the body of the packet being received goes.
enum Body {
    /// Non-PUBLISH packets: a few bytes.
    Scratch([u8; SCRATCH]),
    /// A PUBLISH, read straight into a buffer from the configured pool.
    Pooled(NonNull<u8>),
    /// A PUBLISH with no buffer: read and thrown away, keeping what is needed to acknowledge it.
    Dropped { topic_len: [u8; 2], id: [u8; 2] },
}

enum Rx {
    Header(HeaderDecoder),
    Body { header: FixedHeader, body: Body, filled: usize },
}

/// An operation waiting for the broker, with what its completion needs.
enum Pending {
    /// The SUBSCRIBE's buffer holds its filter, removed again if refused.
    Subscribe(TxBuf),
    Other,
}

struct ClientIo {
    /// The connection: a socket, or TLS on one.
    link: Option<Link>,
    /// The socket wakes the task when data arrives (else the task polls).
    wakeup: bool,
    session: Session<OPS, QOS2_IN>,
    rx: Rx,
    pending: [Option<Pending>; OPS],
    /// The operation slot of the CONNECT awaiting its CONNACK.
    connect_slot: Option<u16>,
    callback: MQTTAgentCallback_t,
    user_data: CPtr,
    #[cfg(afr_subscription_management)]
    subscriptions: Subscriptions,
}

extern "C" fn socket_wakeup(_socket: Socket_t) {
    if let Some(a) = agent() {
        a.wake();
    }
}

type TlsRequest = Option<Box<crate::platform::link::TlsRequest>>;

/// `MQTTAgentTLSError_t` codes of the port back-end (see `ffi::agent_tls`).
const PORT_REFUSED_OPTION: u8 = 18;
const PORT_CONNECT_FAILED: u8 = 19;

/// The connection over a connected socket: the library's TLS when asked for
/// and the project chose it (its handshake runs here, bounded by the
/// connect's timeout), else the socket itself (plain, or TLS by the port).
/// `Err` carries the `MQTTAgentTLSError_t` code.
#[cfg(feature = "tls")]
fn open_link(socket: Socket, host: &[u8], is_ip: bool, tls: TlsRequest) -> Result<Link, u8> {
    use crate::platform::tls::{open, Failure};
    let Some(request) = tls.filter(|_| !TLS_BY_SOCKETS_PORT) else { return Ok(Link::Plain(socket)) };
    let name = host.strip_suffix(&[0]).and_then(|h| core::str::from_utf8(h).ok()).ok_or(Failure::BadServerName as u8)?;
    open(socket, name, is_ip, &request).map(|s| Link::Tls(Box::new(s))).map_err(|f| f as u8)
}

#[cfg(not(feature = "tls"))]
fn open_link(socket: Socket, _host: &[u8], _is_ip: bool, _tls: TlsRequest) -> Result<Link, u8> {
    Ok(Link::Plain(socket))
}

/// Where a CONNECT goes, and the time its caller allows.
struct Target {
    host_at: usize,
    port: u16,
    is_ip: bool,
    start: u32,
    timeout: u32,
}

/// The agent task's body.
pub fn run() {
    #[cfg(feature = "selftest")]
    crate::ffi::selftest::stack::paint();
    let Some(agent) = agent() else { return };
    let keep_alive = KeepAlive { interval: mqtt::KEEP_ALIVE_ACTUAL_INTERVAL_TICKS, timeout: mqtt::KEEP_ALIVE_TIMEOUT_TICKS };
    let mut clients: Vec<Box<ClientIo>> = (0..BROKERS)
        .map(|_| {
            Box::new(ClientIo {
                link: None,
                wakeup: false,
                session: Session::new(keep_alive),
                rx: Rx::Header(HeaderDecoder::new()),
                pending: core::array::from_fn(|_| None),
                connect_slot: None,
                callback: None,
                user_data: CPtr(core::ptr::null_mut()),
                #[cfg(afr_subscription_management)]
                subscriptions: Subscriptions::new(),
            })
        })
        .collect();
    loop {
        let mut wait = kernel::MAX_DELAY;
        let mut flooded = false;
        for (index, c) in clients.iter_mut().enumerate() {
            if agent.take_queued(index) {
                for (slot, command) in agent.queued_commands(index) {
                    c.execute(agent, index, slot, command);
                }
            }
            flooded |= c.receive(agent, index);
            c.keep_alive(agent, index);
            if c.link.is_some() {
                let now = rtos::tick_count();
                if let Some(d) = c.session.next_deadline(now) {
                    wait = wait.min(d.max(1));
                }
                if !c.wakeup {
                    wait = wait.min(mqtt::MQTT_TASK_MAX_BLOCK_TICKS.max(1));
                }
            }
        }
        if flooded {
            // A budget ran out: more may be waiting. Block for a tick whatever
            // wake-ups are pending (a flood keeps the socket's wake-up coming).
            rtos::delay(1);
        } else {
            sleep(wait);
        }
    }
}

/// Where a SUBSCRIBE's or UNSUBSCRIBE's packet id sits: right after its fixed
/// header, whose length depends on the remaining length (2 to 5 bytes).
fn variable_header_at(buf: &TxBuf) -> usize {
    match FixedHeader::parse(buf.as_slice()) {
        Ok(Some((_, used))) => used,
        _ => usize::MAX, // Refused by patch_packet_id.
    }
}

/// Writes the packet id the session chose over the placeholder at `at`.
fn patch_packet_id(buf: &mut [u8], at: usize, id: u16) -> bool {
    match buf.get_mut(at..at.saturating_add(2)) {
        Some(slot) => {
            slot.copy_from_slice(&id.to_be_bytes());
            true
        }
        None => false,
    }
}

fn encode_ack(ack: Ack, out: &mut [u8; 4]) -> usize {
    let r = match ack {
        Ack::PubAck(id) => PubAck(id).encode(out),
        Ack::PubRec(id) => PubRec(id).encode(out),
        Ack::PubRel(id) => PubRel(id).encode(out),
        Ack::PubComp(id) => PubComp(id).encode(out),
    };
    r.unwrap_or(0)
}

/// Calls a subscription callback. C returns an `MQTTBool_t`, whose size is the
/// target's enum size; it is read as an integer of that size, so that a value
/// other than 0 or 1 from C cannot be an invalid Rust enum.
#[cfg(afr_subscription_management)]
fn call_publish_callback(cb: &super::SubCallback, data: &MQTTPublishData_t) -> bool {
    use crate::ffi::mqtt_lib::MQTTBool_t;
    let Some(f) = cb.f else { return false };
    let raw = f as *const c_void;
    // SAFETY: C declares the callback as returning MQTTBool_t, an enum that the C
    // ABI returns exactly like an unsigned integer of the same size; the pointer
    // is the application's callback, called with valid arguments.
    unsafe {
        match core::mem::size_of::<MQTTBool_t>() {
            1 => {
                let f: unsafe extern "C" fn(*mut c_void, *const MQTTPublishData_t) -> u8 = core::mem::transmute(raw);
                f(cb.ctx.0, data) == 1
            }
            _ => {
                let f: unsafe extern "C" fn(*mut c_void, *const MQTTPublishData_t) -> u32 = core::mem::transmute(raw);
                f(cb.ctx.0, data) == 1
            }
        }
    }
}

impl ClientIo {
    fn execute(&mut self, agent: &Agent, index: usize, slot: u16, command: Command) {
        let done = match command {
            Command::Connect { buf, packet_len, host_at, port, is_ip, callback, user_data, start, timeout, tls } => {
                let target = Target { host_at, port, is_ip, start, timeout };
                self.connect(agent, index, slot, buf, packet_len, target, callback, user_data, tls)
            }
            #[cfg(afr_subscription_management)]
            Command::Subscribe { buf, len, callback } => self.subscribe(agent, index, slot, buf, len, callback),
            #[cfg(not(afr_subscription_management))]
            Command::Subscribe { buf, len } => self.subscribe(agent, index, slot, buf, len, ()),
            Command::Unsubscribe { buf, len } => {
                // The callback goes now, not at UNSUBACK: a late UNSUBACK (its caller
                // timed out) must not remove a newer subscription to the same filter.
                #[cfg(afr_subscription_management)]
                if let Some(filter) = unsubscribe_filter(&buf) {
                    self.subscriptions.remove(filter);
                }
                let id_at = variable_header_at(&buf);
                self.send_tracked(agent, index, slot, buf, len, id_at, Expect::UnsubAck, false)
            }
            Command::Publish { buf, len, qos, id_at } => match qos {
                QoS::AtMostOnce => self.send_now(agent, index, &buf.as_slice()[..len]),
                QoS::AtLeastOnce => self.send_tracked(agent, index, slot, buf, len, id_at, Expect::PubAck, false),
                QoS::ExactlyOnce => self.send_tracked(agent, index, slot, buf, len, id_at, Expect::PubRec, false),
            },
            Command::Disconnect => {
                if self.link.is_some() {
                    let _ = self.send_now(agent, index, &[0xE0, 0x00]);
                    self.close(agent, index, false);
                    Some(Done::Success)
                } else {
                    Some(Done::Failure)
                }
            }
            Command::Delete => {
                if self.link.is_some() {
                    let _ = self.send_now(agent, index, &[0xE0, 0x00]);
                    self.close(agent, index, false);
                }
                self.callback = None;
                #[cfg(afr_subscription_management)]
                self.subscriptions.clear();
                Some(Done::Success)
            }
            Command::SetCallback { callback, user_data } => {
                self.callback = callback;
                self.user_data = user_data;
                Some(Done::Success)
            }
            Command::Barrier => Some(Done::Success),
        };
        if let Some(done) = done {
            let _ = agent.complete(index, slot, done);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        agent: &Agent,
        index: usize,
        slot: u16,
        buf: TxBuf,
        packet_len: usize,
        target: Target,
        callback: MQTTAgentCallback_t,
        user_data: CPtr,
        tls: TlsRequest,
    ) -> Option<Done> {
        let Target { host_at, port, is_ip, start, timeout } = target;
        if self.link.is_some() || !self.session.is_disconnected() {
            return Some(Done::Failure); // Already connected.
        }
        agent.set_tls_failure(index, 0);
        let bytes = buf.as_slice();
        let Some(host) = bytes.get(host_at..).and_then(|h| h.iter().position(|b| *b == 0).map(|end| &h[..=end])) else {
            return Some(Done::Failure);
        };
        let send_timeout = (mqtt::TCP_SEND_TIMEOUT_MS as u64 * kernel::TICK_RATE_HZ as u64 / 1000) as u32;
        // TLS by the Secure Sockets port: AFR v1.4.7's options before SOCKETS_Connect.
        let port_tls = tls.as_deref().filter(|_| TLS_BY_SOCKETS_PORT).map(|r| PortTls {
            trusted_pem: r.trusted_pem.as_deref(),
            sni: !is_ip,
            aws_alpn: r.aws_alpn,
        });
        let socket = match Socket::connect(host, is_ip, port, send_timeout.max(1), port_tls.as_ref()) {
            Ok(socket) => socket,
            Err(e) => {
                match (e, port_tls.is_some()) {
                    (NetError::TlsOptionRefused(option), _) => {
                        crate::platform::log::debug(format_args!(
                            "MQTT: the Secure Sockets port refused TLS option {option}: connect failed (never plain TCP)"
                        ));
                        agent.set_tls_failure(index, PORT_REFUSED_OPTION);
                    }
                    (NetError::Connect, true) => agent.set_tls_failure(index, PORT_CONNECT_FAILED),
                    _ => {}
                }
                return Some(Done::Failure);
            }
        };
        let link = match open_link(socket, host, is_ip, tls) {
            Ok(link) => link,
            Err(code) => {
                agent.set_tls_failure(index, code);
                return Some(Done::Failure);
            }
        };
        self.wakeup = link.set_wakeup(socket_wakeup);
        self.link = Some(link);
        self.rx = Rx::Header(HeaderDecoder::new());
        self.callback = callback;
        self.user_data = user_data;
        #[cfg(afr_subscription_management)]
        self.subscriptions.clear(); // Clean session: the broker forgot them too.
        let now = rtos::tick_count();
        // The CONNACK may take what is left of the caller's time (after the TCP
        // connect and a TLS handshake), as in AFR; two ticks more, so that a
        // caller who waited it all gets eMQTTAgentTimeout, not a racing failure.
        let allowed = timeout.saturating_sub(now.wrapping_sub(start)).saturating_add(2);
        self.session.connect_sent(slot, now, allowed);
        self.connect_slot = Some(slot);
        self.pending[slot as usize] = Some(Pending::Other);
        if self.send_raw(&bytes[..packet_len]).is_err() {
            self.close(agent, index, false);
        }
        None // Completed by CONNACK, a timeout of the session, or the connection dropping.
    }

    fn subscribe(
        &mut self,
        agent: &Agent,
        index: usize,
        slot: u16,
        buf: TxBuf,
        len: usize,
        callback: SubscribeExtra,
    ) -> Option<Done> {
        #[cfg(afr_subscription_management)]
        if callback.f.is_some() {
            let cb = callback;
            let Some(filter) = subscribe_filter(&buf, len) else { return Some(Done::Failure) };
            if self.link.is_none() || self.subscriptions.insert(filter, cb).is_err() {
                return Some(Done::Failure); // Not connected, or the subscription manager is full.
            }
        }
        #[cfg(not(afr_subscription_management))]
        let _ = callback;
        let id_at = variable_header_at(&buf);
        self.send_tracked(agent, index, slot, buf, len, id_at, Expect::SubAck, true)
    }

    /// Sends a packet that waits for an acknowledgement; `id_at` is where its
    /// packet id goes. `keep` keeps a SUBSCRIBE's buffer until completion (its filter).
    #[allow(clippy::too_many_arguments)]
    fn send_tracked(
        &mut self,
        agent: &Agent,
        index: usize,
        slot: u16,
        mut buf: TxBuf,
        len: usize,
        id_at: usize,
        expect: Expect,
        keep: bool,
    ) -> Option<Done> {
        if !self.session.is_connected() {
            self.forget_subscription(&buf, len, expect);
            return Some(Done::Failure);
        }
        let Some(id) = self.session.begin(expect, slot) else { return Some(Done::Failure) };
        if !patch_packet_id(buf.as_mut_slice(), id_at, id) {
            self.session.cancel(id);
            return Some(Done::Failure);
        }
        let sent = self.send_raw(&buf.as_slice()[..len]);
        self.pending[slot as usize] = Some(if keep { Pending::Subscribe(buf) } else { Pending::Other });
        if sent.is_err() {
            self.close(agent, index, true);
        }
        None
    }

    /// Sends a packet that completes once written (QoS 0 PUBLISH, DISCONNECT).
    fn send_now(&mut self, agent: &Agent, index: usize, bytes: &[u8]) -> Option<Done> {
        if self.link.is_none() || !self.session.is_connected() {
            return Some(Done::Failure);
        }
        if self.send_raw(bytes).is_err() {
            self.close(agent, index, true);
            return Some(Done::Failure);
        }
        Some(Done::Success)
    }

    fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ()> {
        let link = self.link.as_mut().ok_or(())?;
        link.send_all(bytes).map_err(|_| ())?;
        self.session.sent(rtos::tick_count());
        Ok(())
    }

    /// A subscription whose SUBSCRIBE failed leaves the table again.
    fn forget_subscription(&mut self, buf: &TxBuf, len: usize, expect: Expect) {
        #[cfg(afr_subscription_management)]
        if expect == Expect::SubAck {
            if let Some(filter) = subscribe_filter(buf, len) {
                self.subscriptions.remove(filter);
            }
        }
        #[cfg(not(afr_subscription_management))]
        let _ = (buf, len, expect);
    }

    /// Ends the connection: every waiting caller fails; `lost` (not asked for by
    /// the application) also reports `eMQTTAgentDisconnect`, once.
    fn close(&mut self, agent: &Agent, index: usize, lost: bool) {
        let was_connected = self.session.is_connected();
        let link = self.link.take();
        if self.connect_slot.is_some() {
            // The connect fails: say why when TLS ended it (e.g. the server refused our certificate).
            if let Some(code) = link.as_ref().map(Link::tls_failure).filter(|c| *c != 0) {
                agent.set_tls_failure(index, code);
            }
        }
        if link.is_none() && self.session.is_disconnected() {
            return;
        }
        if let (Some(mut link), false) = (link, lost) {
            link.close_notify(); // Asked for: end TLS cleanly, then the socket closes.
        }
        if let Rx::Body { body: Body::Pooled(ptr), .. } = self.rx {
            // SAFETY: the receive buffer came from the configured pool and is unused now.
            unsafe { mqtt::buffer_fxn::return_buffer(ptr.as_ptr()) };
        }
        self.rx = Rx::Header(HeaderDecoder::new());
        self.connect_slot = None;
        let waiting: heapless::Vec<u16, { OPS + 1 }> = self.session.drop_connection().collect();
        for slot in waiting {
            if let Some(Pending::Subscribe(buf)) = self.pending.get_mut(slot as usize).and_then(Option::take) {
                self.forget_subscription(&buf, buf.as_slice().len(), Expect::SubAck);
            }
            let _ = agent.complete(index, slot, Done::Failure);
        }
        self.pending.iter_mut().for_each(|p| *p = None);
        if lost && was_connected {
            if let Some(cb) = self.callback {
                // SAFETY: MQTTAgentCallbackParams_t is plain data; zeroed is a valid union.
                let mut params: MQTTAgentCallbackParams_t = unsafe { core::mem::zeroed() };
                params.xMQTTEvent = MQTTAgentEvent_t::eMQTTAgentDisconnect;
                // SAFETY: the application's callback, called from the agent task as AFR did.
                unsafe { cb(self.user_data.0, &params) };
            }
        }
    }

    fn keep_alive(&mut self, agent: &Agent, index: usize) {
        if self.link.is_none() {
            return;
        }
        match self.session.poll(rtos::tick_count()) {
            Timer::Idle => {}
            Timer::SendPing => {
                if self.send_raw(&[0xC0, 0x00]).is_err() {
                    self.close(agent, index, true);
                } else {
                    self.session.ping_sent(rtos::tick_count());
                }
            }
            Timer::Dead => self.close(agent, index, true),
        }
    }

    /// Reads and handles the packets the socket has now, up to [`RX_BUDGET`]
    /// bytes. True when the budget ran out (more may be waiting).
    fn receive(&mut self, agent: &Agent, index: usize) -> bool {
        let mut budget = RX_BUDGET;
        while self.link.is_some() {
            match self.receive_step(agent, index) {
                Ok(0) => return false,
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return true;
                    }
                }
                Err(()) => {
                    self.close(agent, index, true);
                    return false;
                }
            }
        }
        false
    }

    /// One read; the bytes it took, 0 when the socket has nothing more now.
    fn receive_step(&mut self, agent: &Agent, index: usize) -> Result<usize, ()> {
        let socket = self.link.as_mut().ok_or(())?;
        match &mut self.rx {
            Rx::Header(decoder) => {
                let mut byte = [0u8; 1];
                if socket.recv(&mut byte).map_err(|_| ())? == 0 {
                    return Ok(0);
                }
                if let Some(header) = decoder.push(byte[0]).map_err(|_| ())? {
                    self.rx = Rx::Body { body: self.body_for(&header)?, header, filled: 0 };
                    self.finish_if_complete(agent, index)?;
                }
                Ok(1)
            }
            Rx::Body { header, body, filled } => {
                let total = header.remaining_len as usize;
                let want = (total - *filled).min(mqtt::RX_BUFFER_SIZE.max(1));
                let n = match body {
                    Body::Scratch(s) => socket.recv(&mut s[*filled..*filled + want]),
                    Body::Pooled(ptr) => {
                        // SAFETY: the pool buffer holds at least `total` bytes (requested
                        // with that length) and is owned by this receive state.
                        let dest = unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr().add(*filled), want) };
                        socket.recv(dest)
                    }
                    Body::Dropped { topic_len, id } => {
                        let mut chunk = [0u8; DISCARD_CHUNK];
                        let take = want.min(DISCARD_CHUNK);
                        let n = socket.recv(&mut chunk[..take]).map_err(|_| ())?;
                        // Keep the topic length (offset 0..2) and the packet id after the topic.
                        for (k, b) in chunk[..n].iter().enumerate() {
                            let at = *filled + k;
                            if at < 2 {
                                topic_len[at] = *b;
                                continue;
                            }
                            let id_at = 2 + u16::from_be_bytes(*topic_len) as usize;
                            if (id_at..id_at + 2).contains(&at) {
                                id[at - id_at] = *b;
                            }
                        }
                        Ok(n)
                    }
                }
                .map_err(|_| ())?;
                if n == 0 {
                    return Ok(0);
                }
                *filled += n;
                self.finish_if_complete(agent, index)?;
                Ok(n)
            }
        }
    }

    /// Chooses where a packet's body goes once its fixed header is known.
    fn body_for(&self, header: &FixedHeader) -> Result<Body, ()> {
        let len = header.remaining_len as usize;
        if header.packet_type != PacketType::Publish {
            return if len <= SCRATCH { Ok(Body::Scratch([0; SCRATCH])) } else { Err(()) };
        }
        let mut want = header.remaining_len;
        // SAFETY: the configured GetFreeBuffer function takes a pointer to a u32 length.
        let raw = unsafe { mqtt::buffer_fxn::get_free_buffer(&mut want) };
        match NonNull::new(raw) {
            Some(ptr) if want as usize >= len => Ok(Body::Pooled(ptr)),
            other => {
                if let Some(ptr) = other {
                    // SAFETY: returned unused to the pool it came from.
                    unsafe { mqtt::buffer_fxn::return_buffer(ptr.as_ptr()) };
                }
                crate::platform::log::debug(format_args!(
                    "MQTT: dropped an incoming publish of {len} bytes: no buffer large enough is free"
                ));
                Ok(Body::Dropped { topic_len: [0; 2], id: [0; 2] })
            }
        }
    }

    fn finish_if_complete(&mut self, agent: &Agent, index: usize) -> Result<(), ()> {
        let Rx::Body { header, filled, .. } = &self.rx else { return Ok(()) };
        if *filled < header.remaining_len as usize {
            return Ok(());
        }
        let Rx::Body { header, body, .. } = core::mem::replace(&mut self.rx, Rx::Header(HeaderDecoder::new())) else {
            return Ok(());
        };
        let len = header.remaining_len as usize;
        match body {
            Body::Scratch(s) => {
                let packet = Packet::decode_from_server(&header, &s[..len]).map_err(|_| ())?;
                let reaction = self.session.received(&packet, rtos::tick_count()).map_err(|_| ())?;
                self.react(agent, index, reaction)
            }
            Body::Pooled(ptr) => {
                // SAFETY: `len` bytes were received into this pool buffer, owned here.
                let bytes = unsafe { core::slice::from_raw_parts(ptr.as_ptr(), len) };
                let decoded = Packet::decode_from_server(&header, bytes);
                let Ok(Packet::Publish(publish)) = decoded else {
                    // SAFETY: returned unused to its pool.
                    unsafe { mqtt::buffer_fxn::return_buffer(ptr.as_ptr()) };
                    return Err(());
                };
                let reaction = match self.session.received_publish(publish.qos, publish.packet_id, publish.dup) {
                    Ok(r) => r,
                    Err(_) => {
                        // SAFETY: as above.
                        unsafe { mqtt::buffer_fxn::return_buffer(ptr.as_ptr()) };
                        return Err(());
                    }
                };
                if reaction.deliver {
                    self.deliver(&publish, ptr);
                } else {
                    // SAFETY: a duplicate, not delivered: the buffer goes back.
                    unsafe { mqtt::buffer_fxn::return_buffer(ptr.as_ptr()) };
                }
                self.react(agent, index, Reaction { deliver: false, ..reaction })
            }
            Body::Dropped { id, .. } => {
                let qos = QoS::try_from((header.flags >> 1) & 0x03).map_err(|_| ())?;
                let packet_id = (qos != QoS::AtMostOnce).then(|| u16::from_be_bytes(id));
                let dup = header.flags & 0x08 != 0;
                let reaction = self.session.received_publish(qos, packet_id, dup).map_err(|_| ())?;
                self.react(agent, index, Reaction { deliver: false, ..reaction })
            }
        }
    }

    fn react(&mut self, agent: &Agent, index: usize, reaction: Reaction) -> Result<(), ()> {
        if let Some((slot, outcome)) = reaction.complete {
            let is_connack = self.connect_slot == Some(slot);
            if is_connack {
                self.connect_slot = None;
            }
            let pending = self.pending.get_mut(slot as usize).and_then(Option::take);
            let done = match outcome {
                Outcome::Done | Outcome::Granted(_) => Done::Success,
                Outcome::SubscriptionRefused | Outcome::Refused(_) => Done::Failure,
            };
            match pending {
                Some(Pending::Subscribe(buf)) if done == Done::Failure => {
                    self.forget_subscription(&buf, buf.as_slice().len(), Expect::SubAck)
                }
                _ => {}
            }
            let delivered = agent.complete(index, slot, done);
            if let Outcome::Refused(_) = outcome {
                self.link = None; // The broker closes after a refusal [MQTT-3.2.2-5].
                self.rx = Rx::Header(HeaderDecoder::new());
            } else if !delivered && is_connack && self.session.is_connected() {
                // The application was told its connect timed out: it does not
                // expect a connection, so a late CONNACK closes it again.
                let _ = self.send_raw(&[0xE0, 0x00]);
                self.close(agent, index, false);
            }
        }
        if let Some(ack) = reaction.send {
            let mut out = [0u8; 4];
            let n = encode_ack(ack, &mut out);
            self.send_raw(&out[..n])?;
        }
        Ok(())
    }

    /// Hands a received publish to the application: subscription callbacks
    /// (exact match first, then wildcards) until one takes the buffer, else the
    /// connect callback when no subscription callback ran. Whoever does not
    /// take the buffer leaves it to the library, which returns it to the pool.
    fn deliver(&mut self, publish: &Publish<'_>, buffer: NonNull<u8>) {
        let data = MQTTPublishData_t {
            xQos: match publish.qos {
                QoS::AtMostOnce => MQTTQoS_t::eMQTTQoS0,
                QoS::AtLeastOnce => MQTTQoS_t::eMQTTQoS1,
                QoS::ExactlyOnce => MQTTQoS_t::eMQTTQoS2,
            },
            pucTopic: publish.topic.as_ptr(),
            usTopicLength: publish.topic.len() as u16,
            pvData: publish.payload.as_ptr() as *const c_void,
            ulDataLength: publish.payload.len() as u32,
            xBuffer: buffer.as_ptr() as *mut c_void,
        };
        #[cfg_attr(not(afr_subscription_management), allow(unused_mut))]
        let mut invoked = false;
        let mut taken = false;
        #[cfg(afr_subscription_management)]
        for (_, cb) in self.subscriptions.matching(publish.topic) {
            if cb.f.is_some() {
                invoked = true;
                if call_publish_callback(cb, &data) {
                    taken = true;
                    break;
                }
            }
        }
        if !invoked {
            if let Some(cb) = self.callback {
                let params = MQTTAgentCallbackParams_t {
                    xMQTTEvent: MQTTAgentEvent_t::eMQTTAgentPublish,
                    u: MQTTAgentCallbackParams_u { xPublishData: data },
                };
                // SAFETY: the application's connect callback, with valid parameters.
                taken = unsafe { cb(self.user_data.0, &params) } == crate::ffi::types::pdTRUE;
            }
        }
        if !taken {
            // SAFETY: nobody took the buffer; it goes back to the pool it came from.
            unsafe { mqtt::buffer_fxn::return_buffer(buffer.as_ptr()) };
        }
    }
}

/// The topic filter of a single-filter SUBSCRIBE or UNSUBSCRIBE we encoded:
/// after the fixed header and the packet id comes the length-prefixed filter.
/// (Read directly rather than through the packet decoder, which a client
/// otherwise never needs for packets of its own: it would cost flash.)
#[cfg(afr_subscription_management)]
fn first_filter(packet: &[u8]) -> Option<&str> {
    let (header, used) = FixedHeader::parse(packet).ok()??;
    let body = packet.get(used..used + header.remaining_len as usize)?;
    let len = u16::from_be_bytes([*body.get(2)?, *body.get(3)?]) as usize;
    core::str::from_utf8(body.get(4..4 + len)?).ok()
}

/// The filter of the SUBSCRIBE in `buf` (`len` bytes).
#[cfg(afr_subscription_management)]
fn subscribe_filter(buf: &TxBuf, len: usize) -> Option<&str> {
    first_filter(buf.as_slice().get(..len)?)
}

#[cfg(afr_subscription_management)]
fn unsubscribe_filter(buf: &TxBuf) -> Option<&str> {
    first_filter(buf.as_slice())
}
