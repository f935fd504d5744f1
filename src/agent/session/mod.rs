//! One client connection's MQTT protocol state, without I/O.
//!
//! The agent task feeds it what happened (a packet arrived, bytes were sent,
//! time passed, the connection dropped) and it answers what to do: complete a
//! caller's operation, acknowledge, deliver a publish, send a PINGREQ, or drop
//! the connection. Time is a wrapping `u32` tick count, as FreeRTOS keeps it.

use crate::mqtt::codec::client::FromServer;
use crate::mqtt::codec::{ConnectReturnCode, DecodeError, Packet, PacketType, QoS, SubAckCode};

/// Identifies the caller's operation that a packet completes: the agent's
/// op slot, below `OPS` (each slot has at most one packet in flight).
pub type Token = u16;

/// The token a CONNACK completes: the session does not keep the connect's
/// slot (the agent does, from the connect's submission on).
pub const CONNECT: Token = Token::MAX;

/// Which acknowledgement an in-flight packet waits for: its value is that
/// packet's type (so an acknowledgement is checked by comparing its type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Expect {
    /// Nothing (a slot without a packet in flight, whose id is 0): the
    /// value of a session that was never used (all its bytes 0, so that a
    /// table of clients is ready in `.bss` with no code to build it).
    Nothing = 0,
    /// QoS 1 PUBLISH → PUBACK.
    PubAck = PacketType::PubAck as u8,
    /// QoS 2 PUBLISH → PUBREC (then we send PUBREL).
    PubRec = PacketType::PubRec as u8,
    /// QoS 2 PUBREL → PUBCOMP.
    PubComp = PacketType::PubComp as u8,
    /// SUBSCRIBE → SUBACK.
    SubAck = PacketType::SubAck as u8,
    /// UNSUBSCRIBE → UNSUBACK.
    UnsubAck = PacketType::UnsubAck as u8,
}

/// How a caller's operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged (CONNACK accepted, PUBACK, PUBCOMP, UNSUBACK).
    Done,
    /// SUBACK granted this QoS.
    Granted(QoS),
    /// SUBACK refused the subscription (0x80).
    SubscriptionRefused,
    /// CONNACK refused the connection with this code.
    Refused(ConnectReturnCode),
}

/// An acknowledgement to send back to the broker. Each variant's tag is its
/// packet's first byte (type and flags): the agent's encoding reads the tag
/// (the compiler folds the match on the variant into it), no table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Ack {
    PubAck(u16) = 0x40,
    PubRec(u16) = 0x50,
    PubRel(u16) = 0x62,
    PubComp(u16) = 0x70,
}

/// What to do about a received packet, besides ending the operation that
/// it answers (which [`Session::received_small`] and
/// [`Session::received_from_server`] end themselves, through their `complete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reply {
    /// An acknowledgement to send.
    pub send: Option<Ack>,
    /// A received PUBLISH to hand to the application (false for a QoS 2
    /// duplicate already delivered).
    pub deliver: bool,
    /// A CONNACK's return code: the connect ([`CONNECT`]) ends, accepted or
    /// refused (the agent keeps its slot, and a refusal ends the connection).
    pub connack: Option<ConnectReturnCode>,
}

/// Everything a received packet asks for, the operation it ends included:
/// what [`Session::received`] answers (tests and the fuzz model compare it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reaction {
    /// A caller's operation that ends now.
    pub complete: Option<(Token, Outcome)>,
    /// An acknowledgement to send.
    pub send: Option<Ack>,
    /// A received PUBLISH to hand to the application (false for a QoS 2
    /// duplicate already delivered).
    pub deliver: bool,
}

impl From<Reply> for Reaction {
    /// A reply as a reaction: the operation it ends is the connect's, for a
    /// CONNACK's reply (an acknowledgement's goes to `complete` instead).
    fn from(reply: Reply) -> Self {
        let connect = reply.connack.map(|code| {
            (CONNECT, if code == ConnectReturnCode::Accepted { Outcome::Done } else { Outcome::Refused(code) })
        });
        Reaction { complete: connect, send: reply.send, deliver: reply.deliver }
    }
}

/// The broker broke the protocol; the connection must be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolViolation {
    /// A packet that is not valid in the connection's current state (e.g. a
    /// second CONNACK, or anything before CONNACK).
    UnexpectedPacket,
    /// An acknowledgement of a type that does not match what the packet id waits for.
    MismatchedAck,
}

/// What the keep-alive timer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Nothing due.
    Idle,
    /// Send a PINGREQ now (then call [`Session::ping_sent`]).
    SendPing,
    /// No CONNACK or PINGRESP in time: the link is dead, drop it.
    Dead,
}

/// The connection's state, the agent's link and the protocol's in one: in
/// this order (a connection is read in the last three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No connection.
    Closed,
    /// A connect was submitted at tick `start`, allowed `timeout` ticks; the
    /// platform opens its connection.
    Opening {
        start: u32,
        timeout: u32,
    },
    /// Open without a session: no CONNECT went out (the client is being
    /// deleted), or the CONNACK refused it (the agent closes the connection).
    Open,
    /// `allowed`: ticks from `since` the CONNACK may take (the connect call's own time).
    AwaitingConnAck {
        since: u32,
        allowed: u32,
    },
    Connected,
}

/// Timing of the keep-alive mechanism, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Silence after which a PINGREQ goes out (`mqttconfigKEEP_ALIVE_ACTUAL_INTERVAL_TICKS`).
    pub interval: u32,
    /// Time allowed for PINGRESP (`mqttconfigKEEP_ALIVE_TIMEOUT_TICKS`).
    pub timeout: u32,
}

/// The protocol state of one connection. `OPS` is the number of the
/// agent's op slots (`mqttconfigMAX_PARALLEL_OPS`, at most 32), each with at
/// most one packet in flight (its token is the slot); `QOS2_IN` bounds the
/// received QoS 2 publishes whose PUBREL is tracked (more may be in flight:
/// see [`Session::received_publish`]).
///
/// Laid out in declaration order (`repr(C)`), the slots' ids first: measured
/// 8 bytes less than rustc's order (the agent reaches them from the client).
#[repr(C)]
pub struct Session<const OPS: usize, const QOS2_IN: usize> {
    /// Each slot's packet in flight: its id, 0 for none (the caller of a
    /// slot that gave up still has it here: its late answer is recognised and
    /// the id not reused).
    in_flight: [u16; OPS],
    /// What each slot's packet in flight waits for (apart from the ids: the
    /// ids' searches read only them, and no padding).
    expect: [Expect; OPS],
    state: State,
    last_sent: u32,
    ping_sent: Option<u32>,
    next_packet_id: u16,
    /// Received QoS 2 ids awaiting PUBREL; 0 marks a free entry (no packet id is 0).
    inbound_qos2: [u16; QOS2_IN],
}

/// `a` is at or after `b` on the wrapping tick clock.
fn elapsed(now: u32, since: u32) -> u32 {
    now.wrapping_sub(since)
}

impl<const OPS: usize, const QOS2_IN: usize> Session<OPS, QOS2_IN> {
    /// A session never used. Every field's value is zero (the first
    /// packet id, 1, comes from skipping 0 in `begin`). The keep-alive
    /// timing is not kept here: the agent's is the same for every client,
    /// and given to [`timer`](Self::timer) and the others that need it.
    pub const fn new() -> Self {
        Self {
            state: State::Closed,
            last_sent: 0,
            ping_sent: None,
            next_packet_id: 0,
            in_flight: [0; OPS],
            expect: [Expect::Nothing; OPS],
            inbound_qos2: [0; QOS2_IN],
        }
    }

    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// No MQTT session: not awaiting a CONNACK nor connected.
    pub fn is_disconnected(&self) -> bool {
        matches!(self.state, State::Closed | State::Opening { .. } | State::Open)
    }

    /// No connection at all, not even one being opened.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// A connection is being opened.
    pub fn is_opening(&self) -> bool {
        matches!(self.state, State::Opening { .. })
    }

    /// The connection is open (with or without a session).
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open | State::AwaitingConnAck { .. } | State::Connected)
    }

    /// A connect was submitted at tick `start` with `timeout` ticks: its
    /// connection is being opened.
    pub fn opening(&mut self, start: u32, timeout: u32) {
        self.state = State::Opening { start, timeout };
    }

    /// The connection being opened is open, and no CONNECT goes out on it
    /// (the agent closes it).
    pub fn opened_closing(&mut self) {
        self.state = State::Open;
    }

    /// The connection being opened is open (at tick `now`) and its CONNECT
    /// went out: as [`connect_sent`](Self::connect_sent), the CONNACK
    /// allowed what is left of the connect's time.
    pub fn opened(&mut self, now: u32) {
        let (start, timeout) = match self.state {
            State::Opening { start, timeout } => (start, timeout),
            _ => (now, 0), // (Not opening: the CONNACK gets two ticks.)
        };
        // The CONNACK may take what is left of the caller's time (after the
        // connection and a TLS handshake), as in AFR; two ticks more, so that
        // a caller who waited it all gets a timeout, not a racing failure.
        let allowed = timeout.saturating_sub(now.wrapping_sub(start)).saturating_add(2);
        self.connect_sent(now, allowed);
    }

    /// CONNECT was sent on a fresh connection (its operation is [`CONNECT`]),
    /// whose caller allows the CONNACK `allowed` more ticks (as AFR, the connect
    /// call's own timeout bounds it, not the keep-alive timeout: a slow TLS
    /// handshake or a cellular round trip must not fail a connect the broker accepted).
    pub fn connect_sent(&mut self, now: u32, allowed: u32) {
        self.clear_in_flight();
        self.inbound_qos2 = [0; QOS2_IN];
        self.ping_sent = None;
        self.last_sent = now;
        self.state = State::AwaitingConnAck { since: now, allowed };
    }

    /// Bytes went out: the keep-alive silence restarts.
    pub fn sent(&mut self, now: u32) {
        self.last_sent = now;
    }

    /// A PINGREQ went out.
    pub fn ping_sent(&mut self, now: u32) {
        self.last_sent = now;
        self.ping_sent = Some(now);
    }

    /// Packets in flight (waiting for an acknowledgement).
    pub fn in_flight(&self) -> usize {
        self.in_flight.iter().filter(|f| **f != 0).count()
    }

    /// Whether slot `token` has a packet in flight.
    pub fn waits(&self, token: usize) -> bool {
        self.in_flight.get(token).is_some_and(|f| *f != 0)
    }

    fn clear_in_flight(&mut self) {
        self.in_flight = [0; OPS];
    }

    /// Reserves a packet identifier for the packet of slot `token` (which
    /// has none in flight), that will wait for `expect`; `None` for a token
    /// that is no slot (`OPS` or more). A caller that stops waiting changes
    /// nothing here: its packet stays tracked so that the late answer is
    /// recognised (and completes its slot), and its id is not reused until then.
    pub fn begin(&mut self, expect: Expect, token: Token) -> Option<u16> {
        let id = self.next_id(expect, token)?;
        self.track(token, id);
        Some(id)
    }

    /// [`begin`](Self::begin) in two steps, for a packet that may yet fail
    /// between them (the agent's encoding): the id for slot `token`'s
    /// packet, waiting for `expect`, not in flight (nor `waits`) until
    /// [`track`](Self::track); one not tracked needs no cancel. (The id
    /// after it is tried first next time, tracked or not.)
    pub fn next_id(&mut self, expect: Expect, token: Token) -> Option<u16> {
        // [MQTT-2.3.1-2]: a new packet needs an identifier not in use; ids run 1..=65535.
        let mut id = self.next_packet_id;
        while id == 0 || self.in_flight.contains(&id) {
            id = id.wrapping_add(1);
        }
        // (What a slot without a packet in flight waits for is never read.)
        *self.expect.get_mut(token as usize)? = expect;
        self.next_packet_id = id.wrapping_add(1);
        Some(id)
    }

    /// Slot `token`'s packet, of the id [`next_id`](Self::next_id) gave
    /// it, is in flight (0: it has none, a QoS 0 publish's).
    pub fn track(&mut self, token: Token, id: u16) {
        if let Some(f) = self.in_flight.get_mut(token as usize) {
            debug_assert!(*f == 0, "a slot with a packet in flight");
            *f = id;
        }
    }

    /// Cancels the packet of slot `token` that was reserved with
    /// [`begin`](Self::begin) but could not be sent.
    pub fn cancel(&mut self, token: Token) {
        if let Some(f) = self.in_flight.get_mut(token as usize) {
            *f = 0;
        }
    }

    /// The connection is gone: nothing is in flight any more. The agent
    /// fails the operations first: each slot that [`waits`](Self::waits)
    /// now, and the connect's ([`CONNECT`], whose slot it keeps).
    pub fn drop_connection(&mut self) {
        self.state = State::Closed;
        // (The PINGREQ's time and the received QoS 2 ids are read only on a
        // connection, and `connect_sent` clears them for the next one.)
        self.clear_in_flight();
    }

    /// A packet arrived from the broker (the full codec's [`Packet`]; the
    /// agent hands a packet other than PUBLISH to
    /// [`received_small`](Self::received_small) undecoded): its reply,
    /// with the operation it ended (a packet ends one at most).
    pub fn received(
        &mut self,
        packet: &Packet<'_>,
        now: u32,
    ) -> Result<Reaction, ProtocolViolation> {
        let p = match packet {
            Packet::ConnAck(a) => FromServer::ConnAck(*a),
            Packet::PingResp(_) => FromServer::PingResp,
            Packet::PubAck(a) => FromServer::Ack { kind: PacketType::PubAck, id: a.0, code: None },
            Packet::PubRec(a) => FromServer::Ack { kind: PacketType::PubRec, id: a.0, code: None },
            Packet::PubRel(a) => FromServer::Ack { kind: PacketType::PubRel, id: a.0, code: None },
            Packet::PubComp(a) => FromServer::Ack { kind: PacketType::PubComp, id: a.0, code: None },
            Packet::UnsubAck(a) => FromServer::Ack { kind: PacketType::UnsubAck, id: a.0, code: None },
            // We send one filter per SUBSCRIBE, so the first code is the answer.
            Packet::SubAck(a) => FromServer::Ack {
                kind: PacketType::SubAck,
                id: a.packet_id,
                code: Some(a.codes().next().unwrap_or(SubAckCode::Failure)),
            },
            Packet::Publish(p) => return self.received_publish(p.qos, p.packet_id.unwrap_or(0), p.dup).map(Reaction::from),
            _ => return Err(ProtocolViolation::UnexpectedPacket),
        };
        let mut ended = None;
        let reply = self.received_from_server(&p, now, |token, outcome| {
            assert!(ended.replace((token, outcome)).is_none(), "complete is called once at most");
        })?;
        let mut r = Reaction::from(reply);
        assert!(r.complete.is_none() || ended.is_none(), "a packet ends one operation at most");
        r.complete = r.complete.or(ended);
        Ok(r)
    }

    /// A packet other than PUBLISH arrived from the broker (a PUBLISH goes to
    /// [`received_publish`](Self::received_publish)). The operation that an
    /// acknowledgement answers ends here: `complete` is called with its token
    /// and how it ended, once, and its packet no longer [`waits`](Self::waits)
    /// then (a CONNACK's, the connect's, is the reply's `connack`). (Called where each answer is known, its
    /// outcome a constant there: the agent's completion needs no dispatch
    /// on a returned value.)
    ///
    /// For a decoded packet (tests, the fuzz model, [`received`](Self::received)):
    /// the agent calls [`received_small`](Self::received_small) with the
    /// undecoded body, which the tests check against this.
    pub fn received_from_server(
        &mut self,
        packet: &FromServer,
        now: u32,
        complete: impl FnOnce(Token, Outcome),
    ) -> Result<Reply, ProtocolViolation> {
        let _ = now;
        match (self.state, packet) {
            (State::AwaitingConnAck { .. }, FromServer::ConnAck(ack)) => {
                // Refused, the connection stays until the agent closes it.
                self.state = if ack.code == ConnectReturnCode::Accepted { State::Connected } else { State::Open };
                Ok(Reply { connack: Some(ack.code), ..Reply::default() })
            }
            (State::Connected, p) => self.received_connected(p, complete),
            _ => Err(ProtocolViolation::UnexpectedPacket),
        }
    }

    #[inline(always)]
    fn received_connected(&mut self, packet: &FromServer, complete: impl FnOnce(Token, Outcome)) -> Result<Reply, ProtocolViolation> {
        let mut r = Reply::default();
        match *packet {
            FromServer::PingResp => self.ping_sent = None,
            FromServer::Ack { kind: PacketType::PubRel, id, .. } => {
                // Incoming QoS 2, step 3: the id may be reused by the broker from now on.
                if let Some(i) = self.inbound_qos2.iter_mut().find(|i| **i == id) {
                    *i = 0; // Ids are unique in the table.
                }
                r.send = Some(Ack::PubComp(id));
            }
            FromServer::Ack { kind, id, code } => {
                // PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK: the in-flight packet
                // of `id` must wait for this type. An unknown id is ignored (a
                // duplicate or an answer to a dropped connection's packet).
                let rec = kind == PacketType::PubRec;
                if rec {
                    // Outgoing QoS 2, step 2 [MQTT-4.3.3]: answer PUBREL (an unknown
                    // id too, so that the broker can finish) and wait for PUBCOMP.
                    r.send = Some(Ack::PubRel(id));
                }
                // (Id 0 is no packet's: a free slot's.)
                let Some(i) = self.in_flight.iter().position(|f| *f == id && id != 0) else { return Ok(r) };
                let (Some(f), Some(e)) = (self.in_flight.get_mut(i), self.expect.get_mut(i)) else { return Ok(r) };
                // A PUBREC again while PUBCOMP is awaited is answered again.
                if *e as u8 != kind as u8 && !(rec && *e == Expect::PubComp) {
                    return Err(ProtocolViolation::MismatchedAck);
                }
                if rec {
                    *e = Expect::PubComp;
                } else {
                    *f = 0;
                    complete(
                        i as Token,
                        match code {
                            None => Outcome::Done,
                            Some(SubAckCode::Granted(q)) => Outcome::Granted(q),
                            Some(SubAckCode::Failure) => Outcome::SubscriptionRefused,
                        },
                    );
                }
            }
            FromServer::Publish(p) => return self.received_publish(p.qos, p.packet_id, p.dup),
            FromServer::ConnAck(_) => return Err(ProtocolViolation::UnexpectedPacket),
        }
        Ok(r)
    }

    /// A packet other than PUBLISH arrived from the broker, as the agent has
    /// it: its type (from a header [`FixedHeader::parse`](crate::mqtt::codec::FixedHeader::parse)
    /// read) and its body, of exactly the header's length. The body is
    /// checked and the packet answered in one match on the type: the
    /// result, errors included, is the client codec's
    /// [`decode_body`](crate::mqtt::codec::client::decode_body) (`E` from
    /// its [`DecodeError`]) and then [`received_from_server`](Self::received_from_server)
    /// (`E` from its [`ProtocolViolation`]) on the decoded packet; the tests
    /// compare the two on every input they generate. (No decoded value in
    /// between, matched a second time: measured smaller.)
    #[inline(always)]
    pub fn received_small<E: From<DecodeError> + From<ProtocolViolation>>(
        &mut self,
        kind: PacketType,
        body: &[u8],
        complete: impl FnOnce(Token, Outcome),
    ) -> Result<Reply, E> {
        // The body's checks first (in decode_body's order), then the
        // state's: a malformed packet is malformed in any state.
        let mut r = Reply::default();
        let (id, outcome) = match kind {
            PacketType::ConnAck => {
                let [flags, code] = *body else {
                    return Err(E::from(if body.len() < 2 { DecodeError::Truncated } else { DecodeError::LengthMismatch }));
                };
                if flags & 0xfe != 0 {
                    return Err(E::from(DecodeError::InvalidConnackFlags));
                }
                let code = ConnectReturnCode::try_from(code)?;
                if flags != 0 && code != ConnectReturnCode::Accepted {
                    return Err(E::from(DecodeError::SessionPresentWithError));
                }
                r.connack = Some(code);
                (0, Outcome::Done)
            }
            PacketType::PingResp => {
                if !body.is_empty() {
                    return Err(E::from(DecodeError::LengthMismatch));
                }
                (0, Outcome::Done)
            }
            // The six acknowledgements: one id, then a SUBACK's return codes
            // (the others end after their id).
            PacketType::PubAck
            | PacketType::PubRec
            | PacketType::PubRel
            | PacketType::PubComp
            | PacketType::UnsubAck
            | PacketType::SubAck => {
                let (id, codes) = match *body {
                    [a, b, ref codes @ ..] if a | b != 0 => (u16::from_be_bytes([a, b]), codes),
                    [_, _, ..] => return Err(E::from(DecodeError::ZeroPacketId)),
                    _ => return Err(E::from(DecodeError::Truncated)),
                };
                let outcome = if kind == PacketType::SubAck {
                    let Some(&first) = codes.first() else { return Err(E::from(DecodeError::EmptySuback)) };
                    for &b in codes {
                        SubAckCode::try_from(b)?;
                    }
                    // We send one filter per SUBSCRIBE, so the first code
                    // is the answer (checked above: 0, 1, 2 or 0x80).
                    match first {
                        0 => Outcome::Granted(QoS::AtMostOnce),
                        1 => Outcome::Granted(QoS::AtLeastOnce),
                        2 => Outcome::Granted(QoS::ExactlyOnce),
                        _ => Outcome::SubscriptionRefused,
                    }
                } else if !codes.is_empty() {
                    return Err(E::from(DecodeError::LengthMismatch));
                } else {
                    Outcome::Done
                };
                (id, outcome)
            }
            // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT: never from a
            // server (and PUBLISH: not here).
            _ => return Err(E::from(DecodeError::UnexpectedPacket)),
        };
        // A CONNACK only while awaited, the others only once connected.
        let awaited = if let Some(code) = r.connack {
            let awaited = matches!(self.state, State::AwaitingConnAck { .. });
            // Refused, the connection stays until the agent closes it.
            if awaited {
                self.state = if code == ConnectReturnCode::Accepted { State::Connected } else { State::Open };
            }
            awaited
        } else {
            self.state == State::Connected
        };
        if !awaited {
            return Err(E::from(ProtocolViolation::UnexpectedPacket));
        }
        match kind {
            PacketType::ConnAck => {}
            PacketType::PingResp => self.ping_sent = None,
            PacketType::PubRel => {
                // Incoming QoS 2, step 3: the id may be reused by the broker from now on.
                for i in self.inbound_qos2.iter_mut().filter(|i| **i == id) {
                    *i = 0; // (Ids are unique in the table: one at most.)
                }
                r.send = Some(Ack::PubComp(id));
            }
            _ => {
                // PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK: as in received_connected.
                let rec = kind == PacketType::PubRec;
                if rec {
                    r.send = Some(Ack::PubRel(id));
                }
                // (The id is not 0: no free slot matches.)
                let waiting = self.in_flight.iter_mut().zip(self.expect.iter_mut()).enumerate();
                let Some((i, (f, e))) = waiting.into_iter().find(|(_, (f, _))| **f == id) else { return Ok(r) };
                if *e as u8 != kind as u8 && !(rec && *e == Expect::PubComp) {
                    return Err(E::from(ProtocolViolation::MismatchedAck));
                }
                if rec {
                    *e = Expect::PubComp;
                } else {
                    *f = 0;
                    complete(i as Token, outcome);
                }
            }
        }
        Ok(r)
    }

    /// A PUBLISH arrived (or only its header: the agent drops a publish it has
    /// no buffer for, yet still acknowledges it so that the broker moves on).
    ///
    /// QoS 2 is delivered once per message with bounded memory and never ends
    /// the connection, however many are in flight. Sessions are clean, so
    /// within one connection a broker re-sends a QoS 2 PUBLISH only as a
    /// re-delivery of one this connection already received, flagged DUP
    /// [MQTT-3.3.1-1], and never after it has our PUBREC and sent PUBREL
    /// [MQTT-4.3.3-2]. Hence: an id awaiting PUBREL is a duplicate; a DUP
    /// publish is a re-delivery of a message already received here, tracked
    /// or not, and is acknowledged but not delivered again; a fresh (DUP 0)
    /// one is delivered, and tracked while `QOS2_IN` ids are (the table only
    /// guards against a broker re-sending without DUP).
    ///
    /// `id` is its packet identifier, not read for QoS 0 (which has none);
    /// for QoS 1 and 2, 0 (never an identifier) is a protocol violation.
    pub fn received_publish(
        &mut self,
        qos: QoS,
        id: u16,
        dup: bool,
    ) -> Result<Reply, ProtocolViolation> {
        if !self.is_connected() {
            return Err(ProtocolViolation::UnexpectedPacket);
        }
        let mut r = Reply::default();
        match qos {
            QoS::AtMostOnce => r.deliver = true,
            // [MQTT-2.3.1-1]: a packet identifier is never 0 (the agent reads a
            // dropped publish's id raw, so a too-short body arrives here as 0).
            _ if id == 0 => return Err(ProtocolViolation::UnexpectedPacket),
            QoS::AtLeastOnce => {
                r.deliver = true;
                r.send = Some(Ack::PubAck(id));
            }
            QoS::ExactlyOnce => {
                // Method B of §4.3.3: deliver now, remember the id until PUBREL.
                r.send = Some(Ack::PubRec(id));
                if !dup {
                    // One walk: the id (a duplicate), or a free entry (the
                    // last; none: full, untracked, see above).
                    let mut free = None;
                    for i in self.inbound_qos2.iter_mut() {
                        if *i == id {
                            return Ok(r);
                        }
                        if *i == 0 {
                            free = Some(i);
                        }
                    }
                    if let Some(free) = free {
                        *free = id;
                    }
                    r.deliver = true;
                }
            }
        }
        Ok(r)
    }

    /// Keep-alive (timing `ka`) and CONNACK timing.
    pub fn poll(&self, now: u32, ka: KeepAlive) -> Timer {
        match self.timer(now, ka) {
            Some((0, at_end)) => at_end,
            _ => Timer::Idle,
        }
    }

    /// Ticks until [`poll`](Self::poll) may answer something other than `Idle`;
    /// `None` when nothing is scheduled.
    pub fn next_deadline(&self, now: u32, ka: KeepAlive) -> Option<u32> {
        self.timer(now, ka).map(|(left, _)| left)
    }

    /// The running timer: the ticks left until it ends (0: ended) and what
    /// [`poll`](Self::poll) answers then; `None` when nothing is scheduled.
    /// One reading of the state for both (the agent's tick wants both).
    pub fn timer(&self, now: u32, ka: KeepAlive) -> Option<(u32, Timer)> {
        let (since, span, at_end) = match self.state {
            State::Closed | State::Opening { .. } | State::Open => return None,
            State::AwaitingConnAck { since, allowed, .. } => (since, allowed, Timer::Dead),
            State::Connected => match self.ping_sent {
                Some(at) => (at, ka.timeout, Timer::Dead),
                None => (self.last_sent, ka.interval, Timer::SendPing),
            },
        };
        Some((span.saturating_sub(elapsed(now, since)), at_end))
    }
}

#[cfg(test)]
mod tests;
