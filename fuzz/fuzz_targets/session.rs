//! Drives one connection's protocol state (`agent::session::Session`) with an
//! arbitrary sequence of the agent's calls, of server packets and of time, and
//! checks every answer against a small model of what the session must do.
//!
//! The input is read as a program: a few set-up bytes (keep-alive timing, the
//! start of the tick clock), then operations of one opcode byte plus operands.
//! Server packets come either as raw bytes or built from a choice of type and
//! packet id (ids of packets in flight are picked often, so acknowledgements
//! match); both go through the codec the way the agent receives them
//! (`HeaderDecoder`, then `Packet::decode_from_server` on the body).
//!
//! The calls follow the agent's own rules (`platform::agent_task`): CONNECT
//! only on a disconnected session, new packets only on a connected one, a
//! PINGREQ only while connected, an operation's token (its slot) never reused
//! while the operation waits, and the connection dropped after any protocol
//! violation or undecodable packet. A caller that gives up is the agent's
//! affair (the session is not told): its packet waits as any other.
//!
//! Checked after each step:
//! - every answer (`begin`, `received`, `received_publish`, `waits`,
//!   `in_flight`, the state, `poll`, `next_deadline`) equals the model's;
//! - a completion (an acknowledgement's, which the session ends itself
//!   through the `complete` of `received_from_server`, under `received`: at
//!   most one per packet; a CONNACK's, the reply's `connack`) names a token that is waiting (the connect's, `CONNECT`,
//!   while a CONNACK is awaited), and that token then no longer waits (no
//!   operation ends twice);
//! - `in_flight()` never exceeds `OPS`; `begin` (or `next_id`, then `track`
//!   or not) never hands out 0 or an id still in flight, and refuses only a
//!   token that is no slot (`OPS` or more); an id not tracked is not in flight;
//! - before `drop_connection`, `waits` names each waiting slot (the agent
//!   fails those); afterwards none, and nothing completes until the next CONNECT;
//! - `next_deadline(now, ka) == Some(d)`: `poll` is `Idle` before `now + d` and not
//!   at `now + d` (while the tick clock has not wrapped past the reference time).
//!
//! The session's CONNACK allowance and QoS 2 rule are mirrored in
//! [`connect_sent`] and [`model_inbound_qos2`].
#![no_main]

use afrcloud::agent::session::{
    Ack, Expect, KeepAlive, Outcome, ProtocolViolation, Reaction, Session, Timer, Token, CONNECT,
};
use afrcloud::mqtt::codec::{
    ConnAck, ConnectReturnCode, HeaderDecoder, Packet, PingResp, PubAck, PubComp, PubRec, PubRel,
    Publish, QoS, SubAck, UnsubAck,
};
use libfuzzer_sys::fuzz_target;

/// The agent's op slots, each with a packet in flight at most (small, so
/// that all are busy often).
const OPS: usize = 4;
/// Received QoS 2 publishes awaiting PUBREL.
const QOS2_IN: usize = 2;
/// Tokens (the agent's op slots) are drawn from 0..TOKENS: past `OPS` too,
/// which `begin` refuses.
const TOKENS: Token = 8;

type S = Session<OPS, QOS2_IN>;

// ---- calls into the session that the model mirrors ----

/// CONNECT was sent, its caller allowing the CONNACK `connack_timeout` ticks.
/// Returns that allowance, for the model.
fn connect_sent(s: &mut S, now: u32, connack_timeout: u32, ka: KeepAlive) -> u32 {
    let _ = ka;
    s.connect_sent(now, connack_timeout);
    connack_timeout
}

/// The agent's path for a PUBLISH whose body went to a pool buffer or was dropped.
fn received_publish(s: &mut S, qos: QoS, packet_id: Option<u16>, dup: bool) -> Result<Reaction, ProtocolViolation> {
    // (The session takes 0 for none: QoS 0's is not read, and 0 is never an id.)
    s.received_publish(qos, packet_id.unwrap_or(0), dup).map(Reaction::from)
}

/// The model's rule for a received QoS 2 PUBLISH with packet id `id`, given the
/// ids awaiting PUBREL (`pending`, at most `QOS2_IN` remembered). A tracked id
/// is a duplicate; a DUP publish is a re-delivery of one this connection got
/// (clean session); a fresh one is delivered and tracked while there is room.
/// Never a violation, however many are in flight.
fn model_inbound_qos2(pending: &mut Vec<u16>, id: u16, dup: bool) -> Result<Reaction, ProtocolViolation> {
    let send = Some(Ack::PubRec(id));
    if dup || pending.contains(&id) {
        return Ok(Reaction { complete: None, send, deliver: false });
    }
    if pending.len() < QOS2_IN {
        pending.push(id);
    }
    Ok(Reaction { complete: None, send, deliver: true })
}

// ---- input ----

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes([self.u8()?, self.u8()?, self.u8()?, self.u8()?]))
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

// ---- the model ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    /// The CONNECT's caller (`CONNECT`) waits.
    AwaitingConnAck { since: u64, timeout: u32 },
    Connected,
}

#[derive(Debug, Clone, Copy)]
struct Flight {
    id: u16,
    expect: Expect,
    token: Token,
}

/// The connect's bit in [`Model::waiting_set`] (slots are below 8).
const CONNECT_BIT: u16 = 1 << 15;

fn bit(t: Token) -> u16 {
    if t == CONNECT { CONNECT_BIT } else { 1 << t }
}

/// Times are kept unwrapped (u64) here; the session sees them as wrapping u32.
struct Model {
    ka: KeepAlive,
    now: u64,
    state: State,
    flights: Vec<Flight>,
    inbound_qos2: Vec<u16>,
    last_sent: u64,
    ping_sent: Option<u64>,
}

/// Beyond this much real time since a reference point, the wrapping tick
/// clock cannot tell how much time passed: timer answers are not checked.
const CLOCK_SPAN: u64 = 1 << 32;

impl Model {
    fn now32(&self) -> u32 {
        self.now as u32
    }

    /// Slots with a packet still waiting for the broker, sorted (each once:
    /// the harness never lets two waiting operations share a slot).
    fn waiting(&self) -> Vec<Token> {
        let mut w: Vec<Token> = self.flights.iter().map(|f| f.token).collect();
        w.sort_unstable();
        w
    }

    /// The operations waiting as a set: bit `t` for slot `t`, bit 15 for the
    /// connect (`CONNECT`) while its CONNACK is awaited. Cheaper than
    /// [`waiting`](Self::waiting).
    fn waiting_set(&self) -> u16 {
        let mut set = 0u16;
        for f in &self.flights {
            set |= 1 << f.token;
        }
        if let State::AwaitingConnAck { .. } = self.state {
            set |= CONNECT_BIT;
        }
        set
    }

    /// The running timer: (its start, its span, what it says when it expires).
    fn timer(&self) -> Option<(u64, u32, Timer)> {
        match self.state {
            State::Disconnected => None,
            State::AwaitingConnAck { since, timeout, .. } => Some((since, timeout, Timer::Dead)),
            State::Connected => Some(match self.ping_sent {
                Some(at) => (at, self.ka.timeout, Timer::Dead),
                None => (self.last_sent, self.ka.interval, Timer::SendPing),
            }),
        }
    }

    fn received(&mut self, p: &Packet<'_>) -> Result<Reaction, ProtocolViolation> {
        let mut r = Reaction::default();
        match (self.state, p) {
            (State::AwaitingConnAck { .. }, Packet::ConnAck(ack)) => {
                let outcome = if ack.code == ConnectReturnCode::Accepted {
                    self.state = State::Connected;
                    Outcome::Done
                } else {
                    self.state = State::Disconnected;
                    Outcome::Refused(ack.code)
                };
                r.complete = Some((CONNECT, outcome));
            }
            (State::Connected, Packet::PingResp(_)) => self.ping_sent = None,
            (State::Connected, Packet::PubAck(a)) => r.complete = self.finish(a.0, Expect::PubAck, Outcome::Done)?,
            (State::Connected, Packet::PubComp(a)) => r.complete = self.finish(a.0, Expect::PubComp, Outcome::Done)?,
            (State::Connected, Packet::UnsubAck(a)) => r.complete = self.finish(a.0, Expect::UnsubAck, Outcome::Done)?,
            (State::Connected, Packet::SubAck(a)) => {
                let outcome = match a.return_codes.first() {
                    Some(&c @ 0..=2) => Outcome::Granted(QoS::try_from(c).unwrap()),
                    _ => Outcome::SubscriptionRefused,
                };
                r.complete = self.finish(a.packet_id, Expect::SubAck, outcome)?;
            }
            (State::Connected, Packet::PubRec(a)) => {
                if let Some(f) = self.flights.iter_mut().find(|f| f.id == a.0) {
                    if f.expect != Expect::PubRec && f.expect != Expect::PubComp {
                        return Err(ProtocolViolation::MismatchedAck);
                    }
                    f.expect = Expect::PubComp;
                }
                r.send = Some(Ack::PubRel(a.0));
            }
            (State::Connected, Packet::PubRel(a)) => {
                self.inbound_qos2.retain(|id| *id != a.0);
                r.send = Some(Ack::PubComp(a.0));
            }
            (State::Connected, Packet::Publish(p)) => return self.publish(p.qos, p.packet_id, p.dup),
            _ => return Err(ProtocolViolation::UnexpectedPacket),
        }
        Ok(r)
    }

    fn publish(&mut self, qos: QoS, id: Option<u16>, dup: bool) -> Result<Reaction, ProtocolViolation> {
        if self.state != State::Connected {
            return Err(ProtocolViolation::UnexpectedPacket);
        }
        match (qos, id) {
            (QoS::AtMostOnce, _) => Ok(Reaction { deliver: true, ..Reaction::default() }),
            // A packet identifier is never 0 [MQTT-2.3.1-1].
            (_, Some(0)) => Err(ProtocolViolation::UnexpectedPacket),
            (QoS::AtLeastOnce, Some(id)) => Ok(Reaction { complete: None, send: Some(Ack::PubAck(id)), deliver: true }),
            (QoS::ExactlyOnce, Some(id)) => model_inbound_qos2(&mut self.inbound_qos2, id, dup),
            _ => Err(ProtocolViolation::UnexpectedPacket),
        }
    }

    fn finish(&mut self, id: u16, expect: Expect, outcome: Outcome) -> Result<Option<(Token, Outcome)>, ProtocolViolation> {
        let Some(i) = self.flights.iter().position(|f| f.id == id) else { return Ok(None) };
        if self.flights[i].expect != expect {
            return Err(ProtocolViolation::MismatchedAck);
        }
        Ok(Some((self.flights.remove(i).token, outcome)))
    }
}

// ---- the harness ----

struct Harness {
    s: S,
    m: Model,
}

impl Harness {
    /// The session's answer to a packet or a publish header, against the
    /// model's; a violation drops the connection, as the agent does.
    fn check_reaction(&mut self, got: Result<Reaction, ProtocolViolation>, want: Result<Reaction, ProtocolViolation>, waiting_before: u16) {
        assert_eq!(got, want, "reaction");
        match got {
            Ok(r) => {
                if let Some((t, _)) = r.complete {
                    assert!(waiting_before & bit(t) != 0, "token {t} completed while not waiting");
                    assert!(self.m.waiting_set() & bit(t) == 0, "token {t} still waits after completing");
                }
            }
            Err(_) => self.drop_connection(),
        }
    }

    fn packet(&mut self, p: &Packet<'_>, via_publish_path: bool) {
        let waiting = self.m.waiting_set();
        let now = self.m.now32();
        match p {
            Packet::Publish(pb) if via_publish_path => {
                let want = self.m.publish(pb.qos, pb.packet_id, pb.dup);
                let got = received_publish(&mut self.s, pb.qos, pb.packet_id, pb.dup);
                self.check_reaction(got, want, waiting);
            }
            _ => {
                let want = self.m.received(p);
                let got = self.s.received(p, now);
                self.check_reaction(got, want, waiting);
            }
        }
    }

    /// Feeds a byte stream through the agent's receive path: header byte by
    /// byte, then the body. An incomplete last frame is left unread; a bad
    /// header or body drops the connection.
    fn bytes(&mut self, mut data: &[u8], via_publish_path: bool) {
        let mut dec = HeaderDecoder::new();
        while let [b, rest @ ..] = data {
            data = rest;
            match dec.push(*b) {
                Ok(None) => {}
                Ok(Some(h)) => {
                    let len = h.remaining_len as usize;
                    if data.len() < len {
                        return;
                    }
                    let (body, rest) = data.split_at(len);
                    data = rest;
                    match Packet::decode_from_server(&h, body) {
                        Ok(p) => self.packet(&p, via_publish_path),
                        Err(_) => self.drop_connection(),
                    }
                }
                Err(_) => {
                    self.drop_connection();
                    return;
                }
            }
        }
    }

    /// A packet built from a type and an id, encoded, then received as bytes
    /// (it must decode to itself).
    fn built_packet(&mut self, kind: u8, id: u16, extra: u8, via_publish_path: bool) {
        let codes = [[0u8, 1, 2, 0x80][extra as usize & 3], 0x80, 1];
        let p = match kind % 9 {
            0 => {
                let code = ConnectReturnCode::try_from(extra % 6).unwrap();
                let session_present = code == ConnectReturnCode::Accepted && extra & 0x80 != 0;
                Packet::ConnAck(ConnAck { session_present, code })
            }
            1 => Packet::PubAck(PubAck(id)),
            2 => Packet::PubRec(PubRec(id)),
            3 => Packet::PubRel(PubRel(id)),
            4 => Packet::PubComp(PubComp(id)),
            5 => Packet::UnsubAck(UnsubAck(id)),
            6 => Packet::SubAck(SubAck { packet_id: id, return_codes: &codes[..1 + (extra as usize >> 2) % 3] }),
            7 => Packet::PingResp(PingResp),
            _ => {
                let qos = QoS::try_from(extra % 3).unwrap();
                let q0 = qos == QoS::AtMostOnce;
                Packet::Publish(Publish {
                    topic: "a/b",
                    qos,
                    packet_id: (!q0).then_some(id),
                    dup: !q0 && extra & 0x40 != 0,
                    retain: extra & 0x80 != 0,
                    payload: b"x",
                })
            }
        };
        let mut buf = [0u8; 32];
        let frame = &mut buf[..p.encoded_len().expect("built packets are valid")];
        p.encode(frame).unwrap();
        let (decoded, _) = afrcloud::mqtt::codec::decode_frame_from_server(frame).unwrap().unwrap();
        assert_eq!(decoded, p, "a built packet decodes to itself");
        let frame: &[u8] = frame;
        self.bytes(frame, via_publish_path);
    }

    fn drop_connection(&mut self) {
        let got: Vec<Token> = (0..TOKENS).filter(|&t| self.s.waits(t as usize)).collect();
        assert_eq!(got, self.m.waiting(), "each waiting slot waits before drop_connection");
        self.s.drop_connection();
        assert!((0..TOKENS).all(|t| !self.s.waits(t as usize)), "nothing waits after drop_connection");
        self.m.state = State::Disconnected;
        self.m.flights.clear();
        self.m.inbound_qos2.clear();
        self.m.ping_sent = None;
    }

    /// A packet id: often one in flight or awaiting PUBREL, else any; never 0
    /// (which cannot be encoded; the header-only publish path may have
    /// recorded a QoS 2 id 0).
    fn pick_id(&self, sel: u8, raw: u16) -> u16 {
        let id = if sel < 0xa0 && !self.m.flights.is_empty() {
            self.m.flights[sel as usize % self.m.flights.len()].id
        } else if sel < 0xc0 && !self.m.inbound_qos2.is_empty() {
            self.m.inbound_qos2[sel as usize % self.m.inbound_qos2.len()]
        } else {
            raw
        };
        id.max(1)
    }

    fn check(&self) {
        let (s, m) = (&self.s, &self.m);
        assert!(s.in_flight() <= OPS);
        assert_eq!(s.in_flight(), m.flights.len(), "in_flight");
        for t in 0..TOKENS {
            assert_eq!(s.waits(t as usize), m.flights.iter().any(|f| f.token == t), "waits({t})");
        }
        assert_eq!(s.is_connected(), m.state == State::Connected, "connected");
        assert_eq!(s.is_disconnected(), m.state == State::Disconnected, "disconnected");
        let now = m.now32();
        let deadline = s.next_deadline(now, m.ka);
        match m.timer() {
            None => {
                assert_eq!(s.poll(now, m.ka), Timer::Idle);
                assert_eq!(deadline, None);
            }
            Some((since, span, expired)) => {
                let elapsed = m.now - since;
                if elapsed >= CLOCK_SPAN {
                    return; // The tick clock wrapped: the session cannot know.
                }
                let want = if elapsed >= u64::from(span) { expired } else { Timer::Idle };
                assert_eq!(s.poll(now, m.ka), want, "poll after {elapsed} of {span}");
                let d = deadline.expect("a timer runs, so there is a deadline");
                assert_eq!(u64::from(d), u64::from(span).saturating_sub(elapsed), "next_deadline");
                assert_ne!(s.poll(now.wrapping_add(d), m.ka), Timer::Idle, "poll at the deadline");
                if d > 0 {
                    assert_eq!(s.poll(now.wrapping_add(d - 1), m.ka), Timer::Idle, "poll just before the deadline");
                }
            }
        }
    }
}

fn run(data: &[u8]) -> Option<()> {
    let mut input = Input(data);
    // Set-up: keep-alive timing (small values, so that timers fire), clock start.
    let ka = KeepAlive { interval: u32::from(input.u16()?), timeout: u32::from(input.u8()?) * 4 };
    let start = input.u32()?;
    let mut h = Harness {
        s: S::new(),
        m: Model {
            ka,
            now: u64::from(start),
            state: State::Disconnected,
            flights: Vec::new(),
            inbound_qos2: Vec::new(),
            last_sent: u64::from(start),
            ping_sent: None,
        },
    };
    h.check();
    loop {
        let op = input.u8()?;
        // The top bit is an operand of some operations (which receive path).
        match (op & 0x7f) % 12 {
            0 => {
                let _token = input.u8()?; // The connect's slot: the agent's to keep.
                let connack_timeout = u32::from(input.u16()?);
                if h.m.state == State::Disconnected {
                    let now = h.m.now32();
                    let timeout = connect_sent(&mut h.s, now, connack_timeout, ka);
                    h.m.state = State::AwaitingConnAck { since: h.m.now, timeout };
                    h.m.flights.clear();
                    h.m.inbound_qos2.clear();
                    h.m.ping_sent = None;
                    h.m.last_sent = h.m.now;
                }
            }
            1 => {
                let b = input.u8()?;
                let expect = [Expect::PubAck, Expect::PubRec, Expect::PubComp, Expect::SubAck, Expect::UnsubAck][b as usize % 5];
                let token = Token::from(b >> 4) % TOKENS;
                if h.m.state == State::Connected && h.m.waiting_set() & 1 << token == 0 {
                    // The top bit: the agent's two steps, `next_id` and then
                    // `track` once the packet is queued (bit 3: never, it
                    // failed: nothing is in flight then).
                    let two_step = op & 0x80 != 0;
                    let got = if two_step { h.s.next_id(expect, token) } else { h.s.begin(expect, token) };
                    if usize::from(token) >= OPS {
                        assert_eq!(got, None, "begin for token {token}, no slot");
                    } else {
                        let id = got.expect("begin refused a free slot");
                        assert_ne!(id, 0, "packet id 0");
                        assert!(h.m.flights.iter().all(|f| f.id != id), "packet id {id} is still in flight");
                        if two_step && b & 0x08 != 0 {
                            assert!(!h.s.waits(usize::from(token)), "an id not tracked waits");
                        } else {
                            if two_step {
                                h.s.track(token, id);
                            }
                            h.m.flights.push(Flight { id, expect, token });
                        }
                    }
                }
            }
            2 => {
                // A slot's packet cancelled (any slot: one with none is left as it is).
                let token = Token::from(input.u8()?) % TOKENS;
                h.s.cancel(token);
                h.m.flights.retain(|f| f.token != token);
            }
            3 => {
                // The slot of a packet in flight (or of none) cancelled.
                let sel = input.u8()?;
                let raw = input.u16()?;
                let id = h.pick_id(sel, raw);
                let token = h.m.flights.iter().find(|f| f.id == id).map_or(Token::from(sel) % TOKENS, |f| f.token);
                h.s.cancel(token);
                h.m.flights.retain(|f| f.token != token);
            }
            4 => {
                h.s.sent(h.m.now32());
                h.m.last_sent = h.m.now;
            }
            5 => {
                if h.m.state == State::Connected {
                    h.s.ping_sent(h.m.now32());
                    h.m.last_sent = h.m.now;
                    h.m.ping_sent = Some(h.m.now);
                }
            }
            6 => h.drop_connection(),
            7 => {
                // Time passes: a little, some, or a lot (wrapping the tick clock).
                let b = input.u8()?;
                let step = match b >> 6 {
                    0 => u64::from(b & 0x3f),
                    1 => u64::from(input.u8()?) * 4,
                    2 => u64::from(input.u16()?),
                    _ => u64::from(input.u32()?),
                };
                h.m.now += step;
            }
            8 => {
                // Raw server bytes.
                let len = input.u8()? as usize;
                let via = op & 0x80 != 0;
                h.bytes(input.bytes(len), via);
            }
            9 | 10 => {
                // A packet of a chosen type and id.
                let kind = input.u8()?;
                let sel = input.u8()?;
                let extra = input.u8()?;
                let raw = if sel >= 0xc0 { input.u16()? } else { 0 };
                let id = h.pick_id(sel, raw);
                h.built_packet(kind, id, extra, op & 0x80 != 0);
            }
            _ => {
                // A publish the agent had no buffer for: only its header is known,
                // the id read raw (0 included).
                let b = input.u8()?;
                let qos = QoS::try_from(b % 3).unwrap();
                let id = if b & 0x80 != 0 { Some(input.u16()?) } else { None };
                let dup = b & 0x40 != 0;
                let waiting = h.m.waiting_set();
                let want = h.m.publish(qos, id, dup);
                let got = received_publish(&mut h.s, qos, id, dup);
                h.check_reaction(got, want, waiting);
            }
        }
        h.check();
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
