"""A hostile MQTT server for robustness tests (run_with_broker.py --hostile).

It accepts any number of connections on a free loopback port, one thread
each, answers CONNECT with CONNACK accepted and otherwise acts as a minimal
broker (SUBACK granting the QoS asked for, UNSUBACK, PUBACK/PUBREC for the
client's publishes, PUBCOMP for PUBREL, PINGRESP), except where the scenario
in force when the connection was accepted says otherwise. Every loop is
bounded in time; the server talks only to the clients that connect to it.

Scenarios (control command `hostile NAME [ARGS...]`):

    normal                    the minimal broker
    slow-connack TENTHS       CONNACK only after TENTHS tenths of a second
    pingresp-flood SECONDS    PINGRESPs nobody asked for, as fast as the socket
                              takes them, for SECONDS
    publish-flood SECONDS QOS after the client's first SUBSCRIBE: PUBLISHes to
                              hostile/flood (16-byte payload) for SECONDS
    qos2-burst N DUPS         after the first SUBSCRIBE: N QoS 2 PUBLISHes to
                              hostile/q2 (payloads q2-1 .. q2-N, ids 1..N) at
                              once, then the first DUPS again with DUP set;
                              PUBREL for each only once all N PUBRECs arrived
    raw HEX                   after CONNACK: the bytes HEX, then the minimal broker
    raw-then-silence HEX      after CONNACK: the bytes HEX, then reads and
                              answers nothing (no PINGRESP)
    shadow MODE [ARG]         a Device Shadow service for requests published
                              to $aws/things/<thing>/shadow/<op>; the response
                              goes to <op>/accepted (QoS 1) unless MODE says:
        before-puback         the response goes out before the request's PUBACK
        late-puback           the response goes out, the PUBACK never does
        depth-bomb            first a response of ARG (default 4000) nested
                              '[' with the request's token, then the real one
        huge-number           first a /rejected with the token and a `code`
                              of 5000 digits, then the real response
        escaped-token         the token echoed with every character as \\uXXXX,
                              after 200 escaped characters of other text
        code N                a /rejected {"code":N} with the token
        tokenless             a /rejected {"code":404} without a token
        wrong-token           the response with another token
        other-thing           the response on another thing's topics
        late-response MS      the response MS milliseconds later

Statistics (`hostile-stats`): "connections C pubrecs R pubcomps P pubacks A
floods F" (PUBRECs/PUBCOMPs/PUBACKs the clients sent, flood packets sent).
"""

import json
import socket
import threading
import time

SCENARIOS = {
    "normal": (0, 0),
    "slow-connack": (1, 1),
    "pingresp-flood": (1, 1),
    "publish-flood": (2, 2),
    "qos2-burst": (2, 2),
    "raw": (1, 1),
    "raw-then-silence": (1, 1),
    "shadow": (1, 2),
}
SHADOW_MODES = ("before-puback", "late-puback", "depth-bomb", "huge-number", "escaped-token", "code",
                "tokenless", "wrong-token", "other-thing", "late-response")
# A connection never lives longer than this, whatever its scenario.
MAX_CONNECTION_SECONDS = 120.0
FLOOD_SECONDS_MAX = 10.0


def encode_length(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic, payload, qos=0, packet_id=0, dup=False):
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t
    if qos:
        body += packet_id.to_bytes(2, "big")
    body += payload
    first = 0x30 | (qos << 1) | (0x08 if dup else 0)
    return bytes([first]) + encode_length(len(body)) + body


class _Conn:
    """One client connection: a locked writer (the flood thread and the
    answering loop both write) and a reader that gives up at the deadline."""

    def __init__(self, sock, harness):
        self.sock = sock
        self.h = harness
        self.rbuf = bytearray()
        self.wlock = threading.Lock()
        self.deadline = time.monotonic() + MAX_CONNECTION_SECONDS
        self.closed = False
        sock.settimeout(0.2)

    def send(self, data):
        with self.wlock:
            end = time.monotonic() + 5.0
            view = memoryview(data)
            while view:
                if time.monotonic() > end or self.closed:
                    raise self.h._Closed()
                try:
                    n = self.sock.send(view)
                except socket.timeout:
                    continue
                view = view[n:]

    def exact(self, n):
        # Reads in large pieces: a flooded client answers every packet, and a
        # server that reads slowly would stall it.
        while len(self.rbuf) < n:
            if time.monotonic() > self.deadline or self.closed:
                raise self.h._Closed()
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise self.h._Closed()
            self.rbuf += data
        out = bytes(self.rbuf[:n])
        del self.rbuf[:n]
        return out

    def packet(self):
        first = self.exact(1)[0]
        length = 0
        for i in range(4):
            b = self.exact(1)[0]
            length |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                break
        else:
            raise self.h._Closed()
        return first, self.exact(length)


class HostileServer:
    def __init__(self, harness):
        self.h = harness
        self.listener = harness.listen_socket()
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.scenario = ("normal", [])
        self.accepted = 0
        self.counts = {"pubrecs": 0, "pubcomps": 0, "pubacks": 0, "floods": 0}
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="hostile", daemon=True)
        self.thread.start()

    # Commands (main thread).
    def set_scenario(self, args):
        if not args or args[0] not in SCENARIOS:
            raise self.h.CommandError("unknown hostile scenario %r (known: %s)" % (" ".join(args), ", ".join(sorted(SCENARIOS))))
        lo, hi = SCENARIOS[args[0]]
        if not lo <= len(args) - 1 <= hi:
            raise self.h.CommandError("hostile %s takes %d to %d argument(s)" % (args[0], lo, hi))
        if args[0] in ("raw", "raw-then-silence"):
            try:
                bytes.fromhex(args[1])
            except ValueError:
                raise self.h.CommandError("not hex: %r" % args[1])
        elif args[0] == "shadow":
            if args[1] not in SHADOW_MODES:
                raise self.h.CommandError("unknown shadow mode %r" % args[1])
        else:
            for a in args[1:]:
                try:
                    float(a)
                except ValueError:
                    raise self.h.CommandError("not a number: %r" % a)
        with self.lock:
            self.scenario = (args[0], args[1:])
            for k in self.counts:
                self.counts[k] = 0

    def stats(self):
        with self.lock:
            c = self.counts
            return "connections %d pubrecs %d pubcomps %d pubacks %d floods %d" % (
                self.accepted, c["pubrecs"], c["pubcomps"], c["pubacks"], c["floods"])

    def shutdown(self):
        with self.lock:
            self.stopping = True
            conns = [c.sock for c in self.conns]
            for c in self.conns:
                c.closed = True
        self.h.stop_server_thread(self.listener, conns, self.thread)

    def _count(self, what, n=1):
        with self.lock:
            self.counts[what] += n

    # Server threads.
    def _run(self):
        while True:
            sock = self.h.accept_unless_stopping(self)
            if sock is None:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock, self.h)
            with self.lock:
                scenario = self.scenario
                self.conns.append(conn)
            threading.Thread(target=self._serve_guarded, args=(conn, scenario), name="hostile-conn", daemon=True).start()

    def _serve_guarded(self, conn, scenario):
        try:
            self._serve(conn, scenario)
        except (self.h._Closed, OSError):
            pass
        except Exception:  # pragma: no cover
            import traceback
            self.h.log("hostile server crashed on a connection:\n" + traceback.format_exc())
        finally:
            conn.closed = True
            with self.lock:
                if conn in self.conns:
                    self.conns.remove(conn)
            try:
                conn.sock.close()
            except OSError:
                pass

    def _serve(self, conn, scenario):
        name, args = scenario
        first, _ = conn.packet()
        if first != 0x10:
            return
        if name == "slow-connack":
            time.sleep(min(float(args[0]) / 10.0, 30.0))
        conn.send(b"\x20\x02\x00\x00")
        if name == "pingresp-flood":
            self._flood(conn, float(args[0]), lambda i: b"\xd0\x00" * 256, 256)
        elif name in ("raw", "raw-then-silence"):
            conn.send(bytes.fromhex(args[0]))
            if name == "raw-then-silence":
                while True:  # Read and drop until the client gives up.
                    conn.packet()
        state = {"subscribed": 0, "pubrecs": set(), "released": False}
        while True:
            first, body = conn.packet()
            ptype = first >> 4
            if ptype == 12:
                conn.send(b"\xd0\x00")
            elif ptype == 8 and len(body) >= 2:
                self._suback(conn, body)
                state["subscribed"] += 1
                if state["subscribed"] == 1:
                    self._after_first_subscribe(conn, name, args)
            elif ptype == 10 and len(body) >= 2:
                conn.send(b"\xb0\x02" + body[0:2])
            elif ptype == 3:
                self._client_publish(conn, first, body, name, args)
            elif ptype == 4:
                self._count("pubacks")
            elif ptype == 5 and len(body) >= 2:
                self._count("pubrecs")
                state["pubrecs"].add(body[0:2])
                if name == "qos2-burst" and not state["released"] and len(state["pubrecs"]) >= int(float(args[0])):
                    state["released"] = True
                    conn.send(b"".join(b"\x62\x02" + pid for pid in sorted(state["pubrecs"])))
            elif ptype == 6 and len(body) >= 2:
                conn.send(b"\x70\x02" + body[0:2])
            elif ptype == 7:
                self._count("pubcomps")
            elif ptype == 14:
                return

    @staticmethod
    def _suback(conn, body):
        granted = bytearray()
        i = 2
        while i + 2 <= len(body):
            i += 2 + ((body[i] << 8) | body[i + 1])
            if i >= len(body):
                break
            granted.append(body[i] & 0x03)
            i += 1
        payload = body[0:2] + bytes(granted)
        conn.send(bytes([0x90]) + encode_length(len(payload)) + payload)

    def _flood(self, conn, seconds, make, per_batch):
        """Sends make(i) batches for `seconds` (bounded) in another thread."""
        seconds = min(seconds, FLOOD_SECONDS_MAX)

        def run():
            end = time.monotonic() + seconds
            i = 0
            try:
                while time.monotonic() < end and not conn.closed:
                    conn.send(make(i))
                    self._count("floods", per_batch)
                    i += 1
            except (self.h._Closed, OSError):
                pass

        threading.Thread(target=run, name="hostile-flood", daemon=True).start()

    def _after_first_subscribe(self, conn, name, args):
        if name == "publish-flood":
            qos = int(float(args[1])) & 1

            def batch(i):
                return b"".join(
                    publish_packet("hostile/flood", b"f" * 16, qos, ((i * 64 + k) % 65535) + 1) for k in range(64))

            self._flood(conn, float(args[0]), batch, 64)
        elif name == "qos2-burst":
            n, dups = int(float(args[0])), int(float(args[1]))
            conn.send(b"".join(publish_packet("hostile/q2", b"q2-%d" % i, 2, i) for i in range(1, n + 1)))
            # Re-deliveries of messages the client has (or is about to PUBREC).
            conn.send(b"".join(publish_packet("hostile/q2", b"q2-%d" % i, 2, i, dup=True) for i in range(1, dups + 1)))

    # The shadow service's part.
    def _client_publish(self, conn, first, body, name, args):
        qos = (first >> 1) & 0x03
        if len(body) < 2:
            return
        tlen = (body[0] << 8) | body[1]
        topic = body[2:2 + tlen].decode("utf-8", "replace")
        rest = body[2 + tlen:]
        pid = rest[0:2] if qos else b""
        payload = rest[2:] if qos else rest
        ack = (b"\x40\x02" if qos == 1 else b"\x50\x02") + pid if qos else b""
        parts = topic.split("/")
        is_request = name == "shadow" and len(parts) == 5 and parts[:2] == ["$aws", "things"] and \
            parts[3] == "shadow" and parts[4] in ("get", "update", "delete")
        if not is_request:
            if ack:
                conn.send(ack)
            return
        mode, arg = args[0], (args[1] if len(args) > 1 else None)
        thing, op = parts[2], parts[4]
        try:
            token = json.loads(payload.decode("utf-8").rstrip("\0")).get("clientToken")
        except (ValueError, UnicodeDecodeError, AttributeError):
            token = None
        base = "$aws/things/%s/shadow/%s" % (thing, op)
        doc = {"state": {"reported": {"hostile": 1}}, "version": 1, "timestamp": 1}
        if token is not None:
            doc["clientToken"] = token
        real = publish_packet(base + "/accepted", json.dumps(doc).encode(), 1, 0x7000)
        out = []
        if mode == "before-puback":
            out = [real, ack]
        elif mode == "late-puback":
            out = [real]
        elif mode == "depth-bomb":
            depth = int(arg) if arg else 4000
            bomb = '{"clientToken":%s,"state":%s}' % (json.dumps(token), "[" * depth)
            out = [ack, publish_packet(base + "/accepted", bomb.encode(), 1, 0x7001), real]
        elif mode == "huge-number":
            huge = '{"code":%s,"clientToken":%s}' % ("9" * 5000, json.dumps(token))
            out = [ack, publish_packet(base + "/rejected", huge.encode(), 1, 0x7001), real]
        elif mode == "escaped-token":
            esc = "".join("\\u%04x" % ord(c) for c in (token or ""))
            noise = "\\u00e9" * 200
            text = '{"note":"%s","clientToken":"%s","version":1}' % (noise, esc)
            out = [ack, publish_packet(base + "/accepted", text.encode(), 1, 0x7001)]
        elif mode == "code":
            rej = '{"code":%s,"message":"hostile","clientToken":%s}' % (arg, json.dumps(token))
            out = [ack, publish_packet(base + "/rejected", rej.encode(), 1, 0x7001)]
        elif mode == "tokenless":
            out = [ack, publish_packet(base + "/rejected", b'{"code":404,"message":"no token"}', 1, 0x7001)]
        elif mode == "wrong-token":
            doc["clientToken"] = "not-%s" % token
            out = [ack, publish_packet(base + "/accepted", json.dumps(doc).encode(), 1, 0x7001)]
        elif mode == "other-thing":
            other = "$aws/things/other-%s/shadow/%s" % (thing, op)
            out = [ack, publish_packet(other + "/accepted", json.dumps(doc).encode(), 1, 0x7001),
                   publish_packet(other + "/rejected", b'{"code":404}', 1, 0x7002)]
        elif mode == "late-response":
            conn.send(ack)

            def later():
                time.sleep(int(arg or "1000") / 1000.0)
                try:
                    conn.send(real)
                except (self.h._Closed, OSError):
                    pass

            threading.Thread(target=later, name="hostile-late", daemon=True).start()
        conn.send(b"".join(out))
