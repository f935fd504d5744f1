#!/usr/bin/env python3
"""A local stand-in for the AWS IoT Device Shadow service (classic shadows, MQTT).

Usage:
    shadow_service.py --port BROKER_PORT [--client-id ID] [--quiet]
                      [--delta-on-any-update]

Connects to an MQTT broker (Mosquitto) on 127.0.0.1:BROKER_PORT with its own
small MQTT 3.1.1 client (clean session, keep-alive 20 s), subscribes with QoS 1
to

    $aws/things/+/shadow/update   $aws/things/+/shadow/get   $aws/things/+/shadow/delete

keeps one shadow per thing name in memory and answers the way the Device Shadow
service of AWS IoT does. It runs until SIGTERM/SIGINT and reconnects (and
re-subscribes) whenever the broker goes away; the shadows survive that, as they
survive a device's reconnection at AWS. Requests are handled one at a time in
the order the broker delivers them (mosquitto keeps a client's order per QoS;
a QoS 0 request may overtake QoS 1 ones waiting for its in-flight window).
Retained copies the broker replays on subscription are ignored. All responses
are published with QoS 1 (the subscriber's QoS caps it) and never retained.
Logs go to stderr (one line per response unless --quiet).

The broker harness (run_with_broker.py --shadow) runs the same service as a
thread of its own (class ShadowService) and adds control commands; see there.

Responses (T = Unix time in seconds; "clientToken" only if the request had a
valid one):

  $aws/things/<thing>/shadow/update/accepted
      {"state":<the request's state, as sent, nulls included>,
       "metadata":<the same tree, every leaf (null included) -> {"timestamp":T}>,
       "version":N,"timestamp":T,"clientToken":"..."}
  .../update/documents (after every accepted update)
      {"previous":<document before, or null if the shadow did not exist>,
       "current":<document after>,"timestamp":T,"clientToken":"..."}
      document = {"state":{"desired":{..},"reported":{..}},
                  "metadata":{"desired":{..},"reported":{..}},"version":N}
      (a section is absent when empty; "state" and "metadata" may be {})
  .../update/delta (after an accepted update whose state has a "desired" key,
      when the shadow's desired state then differs from its reported state)
      {"version":N,"timestamp":T,"state":<delta>,"metadata":<desired metadata
       of the delta's leaves>,"clientToken":"..."}
  .../get/accepted
      {"state":{"desired":..,"reported":..,"delta":..},
       "metadata":{"desired":..,"reported":..,"delta":..},
       "version":N,"timestamp":T,"clientToken":"..."}
  .../delete/accepted
      {"version":<version of the deleted shadow>,"timestamp":T,"clientToken":"..."}
  .../{update,get,delete}/rejected
      {"code":C,"message":"...","timestamp":T,"clientToken":"..."}
      404 (get/delete of a missing shadow) has no "timestamp", as AWS sends it:
      {"code":404,"message":"No shadow exists with name: '<thing>'"}

Semantics (AWS IoT developer guide: "Device Shadow service documents",
"Interacting with shadows", "Device Shadow MQTT topics", "Device Shadow error
messages"):
  * update: desired/reported are merged into the shadow: objects recursively,
    anything else (arrays included) replaced whole, null deletes; objects left
    empty are removed, as is an empty desired/reported section; "state": null
    clears the state (the shadow stays). A new shadow gets version 1, every
    accepted update adds 1. A deleted shadow's version is remembered: its next
    incarnation continues from it ("does not reset its version number to 0").
  * metadata mirrors the state: {"timestamp":T} per leaf, a list of per-element
    metadata for an array.
  * delta: every desired key whose value differs from reported (or that is not
    in reported), nested down to the differing leaves; arrays compared whole;
    keys only in reported are not in it.
  * validation of an update, in this order:
      415 "Unsupported documented encoding; supported encoding is UTF-8"
      400 "Invalid JSON"                      (not JSON, not an object, NaN,
                                               a number beyond double range,
                                               null inside an array of the state)
      400 "Invalid clientToken"               (not a string, > 64 bytes UTF-8)
      400 "Missing required node: state"
      400 "State node must be an object"
      400 "State contains an invalid node: '<key>'"   (other than desired/reported)
      400 "Desired node must be an object" / "Reported node must be an object"
      400 "Invalid version"                   (not a non-negative integer)
      400 "JSON contains too many levels of nesting; maximum is 6"
      409 "Version conflict"                  ("version" given and not the
                                               current one; 0, or the deleted
                                               shadow's, when there is none)
      413 "The payload exceeds the maximum size allowed"  (desired + reported of
                                               the resulting shadow, compact
                                               JSON, above 8192 bytes)
  * get: an empty payload is fine; a JSON object's clientToken is echoed (a bad
    one: 400 "Invalid clientToken"); anything else in the payload is ignored.
    delete: the same.
  * trailing NUL bytes of a payload are ignored (C applications often count the
    terminator in the length).
  * --delta-on-any-update: publish the delta after any accepted update (not only
    after those with "desired") when desired and reported differ.

Standard library only.
"""

import argparse
import copy
import json
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback

LOOPBACK = "127.0.0.1"
MAX_STATE_BYTES = 8192
MAX_DEPTH = 6
MAX_CLIENT_TOKEN_BYTES = 64
DEFAULT_CLIENT_ID = "afr-shadow-service"
KEEPALIVE = 20
OPS = ("update", "get", "delete")
REQUEST_FILTERS = ["$aws/things/+/shadow/%s" % op for op in OPS]


def log(msg):
    sys.stderr.write("[shadow_service] %s\n" % msg)
    sys.stderr.flush()


# --------------------------------------------------------------------------
# JSON helpers


class _BadJson(ValueError):
    pass


def _reject_constant(name):
    raise _BadJson("not JSON: %s" % name)


def _parse_float(text):
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise _BadJson("number out of range: %s" % text)
    return value


def parse_json(text):
    """Strict JSON (no NaN/Infinity, no overflowing numbers); raises _BadJson."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except (ValueError, RecursionError) as e:
        raise _BadJson(str(e))


def dump(obj):
    """Compact UTF-8 JSON; raises _BadJson for strings that are not Unicode
    (lone surrogates from \\ud800 escapes)."""
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError) as e:
        raise _BadJson(str(e))


def json_equal(a, b):
    """JSON value equality: numbers by value, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def merge(target, patch):
    """Merges patch (a dict) into target (a dict) in place: objects
    recursively, null deletes, anything else replaces; emptied objects go."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            if not isinstance(current, dict):
                current = {}
            merge(current, value)
            if current:
                target[key] = current
            else:
                target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)


def metadata_of(node, ts):
    """The metadata tree of a state (or request) tree."""
    if isinstance(node, dict):
        return {k: metadata_of(v, ts) for k, v in node.items()}
    if isinstance(node, list):
        return [metadata_of(v, ts) for v in node]
    return {"timestamp": ts}


def rebuild_metadata(state, old, patch, ts):
    """Metadata for a merged state tree: the request's metadata (patch) where
    the request wrote, the previous metadata (old) elsewhere."""
    if isinstance(state, dict):
        out = {}
        for key, value in state.items():
            p = patch.get(key) if isinstance(patch, dict) else None
            o = old.get(key) if isinstance(old, dict) else None
            out[key] = rebuild_metadata(value, o, p, ts)
        return out
    if patch is not None:
        return copy.deepcopy(patch)
    if old is not None:
        return copy.deepcopy(old)
    return metadata_of(state, ts)  # not reached: every stored leaf was written


_MISSING = object()


def compute_delta(desired, reported):
    """Desired keys whose values differ from reported (dicts)."""
    out = {}
    for key, d in desired.items():
        r = reported.get(key, _MISSING) if isinstance(reported, dict) else _MISSING
        if r is _MISSING:
            out[key] = copy.deepcopy(d)
        elif isinstance(d, dict) and isinstance(r, dict):
            sub = compute_delta(d, r)
            if sub:
                out[key] = sub
        elif not json_equal(d, r):
            out[key] = copy.deepcopy(d)
    return out


def delta_metadata(delta, desired_meta, ts):
    if isinstance(delta, dict):
        return {
            k: delta_metadata(v, desired_meta.get(k) if isinstance(desired_meta, dict) else None, ts)
            for k, v in delta.items()
        }
    if desired_meta is not None:
        return copy.deepcopy(desired_meta)
    return metadata_of(delta, ts)


def too_deep(node, level=1):
    """AWS: at most 6 levels in desired or reported (the section itself is
    level 1; a non-empty object or array at level 7 is too deep)."""
    if isinstance(node, dict):
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return False
    if not children:
        return False
    if level > MAX_DEPTH:
        return True
    return any(too_deep(c, level + 1) for c in children)


def null_in_array(node, in_array=False):
    if node is None:
        return in_array
    if isinstance(node, dict):
        return any(null_in_array(v) for v in node.values())
    if isinstance(node, list):
        return any(null_in_array(v, True) for v in node)
    return False


# --------------------------------------------------------------------------
# The shadows


class Rejected(Exception):
    def __init__(self, code, message, token=None, timestamp=True):
        Exception.__init__(self, "%d %s" % (code, message))
        self.code = code
        self.message = message
        self.token = token
        self.timestamp = timestamp


class _Shadow:
    def __init__(self, version):
        self.state = {}  # "desired"/"reported" -> non-empty dict
        self.meta = {}
        self.version = version

    def document(self):
        return {"state": copy.deepcopy(self.state), "metadata": copy.deepcopy(self.meta), "version": self.version}


class ShadowStore:
    """The service's logic without MQTT. handle() returns the responses to
    publish, [(topic suffix such as "update/accepted", document)], in order.
    Not thread-safe by itself (ShadowService serializes the calls)."""

    def __init__(self, clock=time.time, delta_on_any_update=False):
        self.clock = clock
        self.delta_on_any_update = delta_on_any_update
        self.reset()

    def reset(self):
        self.shadows = {}
        self.last_versions = {}  # versions of deleted shadows
        self.counts = {"updates": 0, "gets": 0, "deletes": 0, "rejections": 0}

    def stats(self):
        c = self.counts
        return "updates %d gets %d deletes %d rejections %d" % (
            c["updates"], c["gets"], c["deletes"], c["rejections"])

    def document(self, thing):
        s = self.shadows.get(thing)
        return None if s is None else s.document()

    def _now(self):
        return int(self.clock())

    @staticmethod
    def _decode(payload):
        payload = bytes(payload).rstrip(b"\0")
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(415, "Unsupported documented encoding; supported encoding is UTF-8")

    @staticmethod
    def _token(request):
        if "clientToken" not in request:
            return None
        token = request["clientToken"]
        if not isinstance(token, str):
            raise Rejected(400, "Invalid clientToken")
        try:
            size = len(token.encode("utf-8"))
        except UnicodeEncodeError:
            raise Rejected(400, "Invalid clientToken")
        if size > MAX_CLIENT_TOKEN_BYTES:
            raise Rejected(400, "Invalid clientToken")
        return token

    def handle(self, thing, op, payload):
        ts = self._now()
        self.counts[{"update": "updates", "get": "gets", "delete": "deletes"}[op]] += 1
        try:
            if op == "update":
                return self._update(thing, payload, ts)
            return self._get_or_delete(thing, op, payload, ts)
        except Rejected as r:
            self.counts["rejections"] += 1
            doc = {"code": r.code, "message": r.message}
            if r.timestamp:
                doc["timestamp"] = ts
            if r.token is not None:
                doc["clientToken"] = r.token
            return [(op + "/rejected", doc)]

    # update

    def _update(self, thing, payload, ts):
        text = self._decode(payload)
        try:
            request = parse_json(text)
        except _BadJson:
            raise Rejected(400, "Invalid JSON")
        if not isinstance(request, dict):
            raise Rejected(400, "Invalid JSON")
        token = self._token(request)
        try:
            return self._update_checked(thing, request, token, ts)
        except Rejected as r:
            r.token = token
            raise

    def _update_checked(self, thing, request, token, ts):
        if "state" not in request:
            raise Rejected(400, "Missing required node: state")
        state = request["state"]
        if state is not None and not isinstance(state, dict):
            raise Rejected(400, "State node must be an object")
        sections = state or {}
        for key in sections:
            if key not in ("desired", "reported"):
                raise Rejected(400, "State contains an invalid node: '%s'" % key)
        for key, name in (("desired", "Desired"), ("reported", "Reported")):
            if key in sections and sections[key] is not None and not isinstance(sections[key], dict):
                raise Rejected(400, "%s node must be an object" % name)
        version = request.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
            raise Rejected(400, "Invalid version")
        if any(too_deep(v) for v in sections.values()):
            raise Rejected(400, "JSON contains too many levels of nesting; maximum is 6")
        if any(null_in_array(v) for v in sections.values()):
            raise Rejected(400, "Invalid JSON")
        try:
            dump(state)  # only Unicode strings (the response echoes it)
        except _BadJson:
            raise Rejected(400, "Invalid JSON")

        old = self.shadows.get(thing)
        current_version = old.version if old is not None else self.last_versions.get(thing, 0)
        if version is not None and version != current_version:
            raise Rejected(409, "Version conflict")

        new = _Shadow(current_version + 1)
        if old is not None:
            new.state = copy.deepcopy(old.state)
            new.meta = copy.deepcopy(old.meta)
        if state is None:
            new.state, new.meta = {}, {}
            request_meta = {"timestamp": ts}
        else:
            request_meta = {}
            for key, value in sections.items():
                request_meta[key] = metadata_of(value, ts)
                if value is None:
                    new.state.pop(key, None)
                    new.meta.pop(key, None)
                    continue
                merged = new.state.get(key, {})
                merge(merged, value)
                if merged:
                    new.state[key] = merged
                    new.meta[key] = rebuild_metadata(merged, new.meta.get(key), request_meta[key], ts)
                else:
                    new.state.pop(key, None)
                    new.meta.pop(key, None)
        new.state = {k: new.state[k] for k in ("desired", "reported") if k in new.state}
        new.meta = {k: new.meta[k] for k in ("desired", "reported") if k in new.meta}
        size = sum(len(dump(v)) for v in new.state.values())
        if size > MAX_STATE_BYTES:
            raise Rejected(413, "The payload exceeds the maximum size allowed")

        self.shadows[thing] = new
        self.last_versions.pop(thing, None)

        def with_token(doc):
            if token is not None:
                doc["clientToken"] = token
            return doc

        out = [
            ("update/accepted", with_token(
                {"state": state, "metadata": request_meta, "version": new.version, "timestamp": ts})),
            ("update/documents", with_token(
                {"previous": old.document() if old is not None else None,
                 "current": new.document(), "timestamp": ts})),
        ]
        if "desired" in sections or self.delta_on_any_update:
            delta = compute_delta(new.state.get("desired", {}), new.state.get("reported"))
            if delta:
                out.append(("update/delta", with_token(
                    {"version": new.version, "timestamp": ts, "state": delta,
                     "metadata": delta_metadata(delta, new.meta.get("desired"), ts)})))
        return out

    # get, delete

    def _get_or_delete(self, thing, op, payload, ts):
        token = None
        try:
            text = bytes(payload).rstrip(b"\0").decode("utf-8")
            request = parse_json(text) if text.strip() else None
        except (UnicodeDecodeError, _BadJson):
            request = None  # the content is ignored
        if isinstance(request, dict):
            token = self._token(request)
        shadow = self.shadows.get(thing)
        if shadow is None:
            raise Rejected(404, "No shadow exists with name: '%s'" % thing, token, timestamp=False)
        if op == "get":
            state = copy.deepcopy(shadow.state)
            meta = copy.deepcopy(shadow.meta)
            delta = compute_delta(state.get("desired", {}), state.get("reported"))
            if delta:
                state["delta"] = delta
                meta["delta"] = delta_metadata(delta, shadow.meta.get("desired"), ts)
            doc = {"state": state, "metadata": meta, "version": shadow.version, "timestamp": ts}
        else:
            del self.shadows[thing]
            self.last_versions[thing] = shadow.version
            doc = {"version": shadow.version, "timestamp": ts}
        if token is not None:
            doc["clientToken"] = token
        return [(op + "/accepted", doc)]


# --------------------------------------------------------------------------
# A small MQTT 3.1.1 client


class MqttError(Exception):
    pass


CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14
MAX_PACKET = 16 * 1024 * 1024


def encode_length(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_string(s):
    data = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    if len(data) > 0xFFFF:
        raise MqttError("string too long")
    return struct.pack("!H", len(data)) + data


def packet(first, body):
    return bytes([first]) + encode_length(len(body)) + body


def decode_packet(buf):
    """The first complete packet of buf (a bytearray, consumed) as
    (packet type, flags, body), or None if incomplete. Raises MqttError on a
    malformed or oversized remaining length."""
    length = 0
    i = 1
    while True:
        if i >= len(buf):
            return None
        b = buf[i]
        length |= (b & 0x7F) << (7 * (i - 1))
        i += 1
        if not b & 0x80:
            break
        if i > 4:
            raise MqttError("malformed remaining length")
    if length > MAX_PACKET:
        raise MqttError("packet of %d bytes refused" % length)
    if len(buf) < i + length:
        return None
    first = buf[0]
    body = bytes(buf[i:i + length])
    del buf[:i + length]
    return first >> 4, first & 0x0F, body


def parse_publish(flags, body):
    """(topic, qos, retain, dup, packet id or None, payload)."""
    qos = (flags >> 1) & 3
    if qos == 3:
        raise MqttError("PUBLISH with QoS 3")
    if len(body) < 2:
        raise MqttError("short PUBLISH")
    tlen = struct.unpack("!H", body[:2])[0]
    pos = 2 + tlen
    if len(body) < pos + (2 if qos else 0):
        raise MqttError("short PUBLISH")
    topic = body[2:pos].decode("utf-8", "replace")
    pid = None
    if qos:
        pid = struct.unpack("!H", body[pos:pos + 2])[0]
        pos += 2
    return topic, qos, bool(flags & 1), bool(flags & 8), pid, body[pos:]


class MqttClient:
    """Blocking connect/subscribe; then loop() from one thread delivers
    messages to on_message(topic, payload, qos, retain); publish() may be
    called from any thread."""

    def __init__(self, port, client_id, on_message, keepalive=KEEPALIVE, host=LOOPBACK):
        if host != LOOPBACK:
            raise ValueError("loopback only")
        self.port = port
        self.client_id = client_id
        self.on_message = on_message
        self.keepalive = keepalive
        self.sock = None
        self.buf = bytearray()
        self.send_lock = threading.Lock()
        self.next_pid = 0
        self.inflight = {}  # our QoS 1 publishes awaiting PUBACK: pid -> topic
        self.qos2_received = set()
        self.last_send = 0.0
        self.ping_sent = None
        self.closed = False

    # sending

    def _send(self, data):
        with self.send_lock:
            if self.sock is None:
                raise MqttError("not connected")
            self._sendall(data)

    def _sendall(self, data):
        # under send_lock
        try:
            self.sock.sendall(data)
        except OSError as e:
            # Part of a packet may have gone: the stream is unusable. Make the
            # receiving side (loop()) fail too, so that the owner reconnects.
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise MqttError("send failed: %s" % e)
        self.last_send = time.monotonic()

    def _pid(self):
        # under send_lock
        for _ in range(0x10000):
            self.next_pid = self.next_pid % 0xFFFF + 1
            if self.next_pid not in self.inflight:
                return self.next_pid
        raise MqttError("no free packet identifier")

    def publish(self, topic, payload, qos=1, retain=False):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if qos not in (0, 1):
            raise ValueError("QoS 0 or 1")
        with self.send_lock:
            if self.sock is None:
                raise MqttError("not connected")
            body = encode_string(topic)
            if qos:
                pid = self._pid()
                body += struct.pack("!H", pid)
                self.inflight[pid] = topic
            self._sendall(packet(0x30 | (qos << 1) | (1 if retain else 0), body + bytes(payload)))

    # connection

    def _read_packet(self, deadline):
        while True:
            pkt = decode_packet(self.buf)
            if pkt is not None:
                return pkt
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MqttError("timed out")
            r, _, _ = select.select([self.sock], [], [], remaining)
            if r:
                data = self.sock.recv(65536)
                if not data:
                    raise MqttError("connection closed by the broker")
                self.buf += data

    def connect(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        try:
            sock = socket.create_connection((LOOPBACK, self.port), timeout=timeout)
        except OSError as e:
            raise MqttError("cannot connect to %s:%d: %s" % (LOOPBACK, self.port, e))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(10.0)  # sends; reads only after select
        self.sock = sock
        self.buf = bytearray()
        self.inflight.clear()
        self.qos2_received.clear()
        self.ping_sent = None
        try:
            body = encode_string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", self.keepalive)
            body += encode_string(self.client_id)
            self._send(packet(0x10, body))
            ptype, _, body = self._read_packet(deadline)
            if ptype != CONNACK or len(body) != 2:
                raise MqttError("expected CONNACK, got packet type %d" % ptype)
            if body[1] != 0:
                raise MqttError("CONNACK refused the connection (return code %d)" % body[1])
        except (MqttError, OSError) as e:
            self.close()
            raise MqttError(str(e))

    def subscribe(self, filters, qos=1, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.send_lock:
            pid = self._pid()
        body = struct.pack("!H", pid)
        for f in filters:
            body += encode_string(f) + bytes([qos])
        self._send(packet(0x82, body))
        while True:
            ptype, flags, body = self._read_packet(deadline)
            if ptype == SUBACK and len(body) >= 2 and struct.unpack("!H", body[:2])[0] == pid:
                codes = list(body[2:])
                if len(codes) != len(filters) or any(c == 0x80 for c in codes):
                    raise MqttError("subscription refused: %r" % codes)
                return codes
            self._dispatch(ptype, flags, body)

    def close(self):
        with self.send_lock:
            sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def disconnect(self):
        try:
            self._send(b"\xe0\x00")
        except MqttError:
            pass
        self.close()

    def wake(self):
        """Makes a loop() in another thread return (with an MqttError)."""
        with self.send_lock:
            sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # receiving

    def loop(self, timeout):
        """Waits up to timeout for input, handles it, sends PINGREQ when due.
        Raises MqttError when the connection is lost or broken."""
        sock = self.sock
        if sock is None:
            raise MqttError("not connected")
        now = time.monotonic()
        if self.ping_sent is not None and now - self.ping_sent > self.keepalive:
            raise MqttError("no PINGRESP within %d s" % self.keepalive)
        if self.ping_sent is None and now - self.last_send >= self.keepalive / 2:
            self._send(b"\xc0\x00")
            self.ping_sent = now
        if self.ping_sent is not None:
            due = self.ping_sent + self.keepalive
        else:
            due = self.last_send + self.keepalive / 2
        wait = max(0.0, min(timeout, due - now))
        try:
            r, _, _ = select.select([sock], [], [], wait)
            if r:
                data = sock.recv(65536)
                if not data:
                    raise MqttError("connection closed by the broker")
                self.buf += data
        except (OSError, ValueError) as e:
            raise MqttError("receive failed: %s" % e)
        while True:
            pkt = decode_packet(self.buf)
            if pkt is None:
                return
            self._dispatch(*pkt)

    def _dispatch(self, ptype, flags, body):
        if ptype == PUBLISH:
            topic, qos, retain, _dup, pid, payload = parse_publish(flags, body)
            if qos == 2:
                if pid not in self.qos2_received:
                    self.qos2_received.add(pid)
                    self.on_message(topic, payload, qos, retain)
                self._send(b"\x50\x02" + struct.pack("!H", pid))
                return
            self.on_message(topic, payload, qos, retain)
            if qos == 1:
                self._send(b"\x40\x02" + struct.pack("!H", pid))
        elif ptype == PUBACK and len(body) == 2:
            with self.send_lock:
                self.inflight.pop(struct.unpack("!H", body)[0], None)
        elif ptype == PUBREL and len(body) == 2:
            self.qos2_received.discard(struct.unpack("!H", body)[0])
            self._send(b"\x70\x02" + body)
        elif ptype == PINGRESP:
            self.ping_sent = None
        elif ptype in (SUBACK, UNSUBACK, PUBREC, PUBCOMP):
            pass  # not expected here; harmless
        else:
            raise MqttError("unexpected packet type %d from the broker" % ptype)


# --------------------------------------------------------------------------
# The service: the store behind an MQTT connection, in a thread


class ControlError(Exception):
    pass


def _check_thing(thing):
    if not thing or any(c in thing for c in "/+#") or len(thing.encode("utf-8")) > 128:
        raise ControlError("bad thing name %r" % thing)


class ShadowService:
    """ShadowService(port_fn).start(); wait_ready(); ... shutdown().
    port_fn() gives the broker's port (asked again at each reconnection)."""

    RETRY_INTERVAL = 0.05

    def __init__(self, port_fn, client_id=DEFAULT_CLIENT_ID, verbose=True, delta_on_any_update=False):
        self.port_fn = port_fn
        self.client_id = client_id
        self.verbose = verbose
        self.store = ShadowStore(delta_on_any_update=delta_on_any_update)
        self.lock = threading.RLock()  # one request (and its responses) at a time
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.client = None
        self.connections = 0
        self.thread = None

    # lifecycle

    def start(self):
        self.thread = threading.Thread(target=self._run, name="shadow-service", daemon=True)
        self.thread.start()
        return self

    def wait_ready(self, timeout):
        return self.ready.wait(timeout)

    def wait_reconnected(self, connections, timeout):
        """Waits until subscribed on a connection made after the first
        `connections` ones (the service's count, read before)."""
        deadline = time.monotonic() + timeout
        while not (self.connections > connections and self.ready.is_set()):
            if time.monotonic() > deadline or not self.alive():
                return False
            time.sleep(0.01)
        return True

    def alive(self):
        return self.thread is not None and self.thread.is_alive()

    def shutdown(self):
        self.stopping.set()
        c = self.client
        if c is not None:
            c.wake()
        if self.thread is not None:
            self.thread.join(5.0)

    def _run(self):
        failing = False
        while not self.stopping.is_set():
            client = MqttClient(self.port_fn(), self.client_id, self._on_message)
            try:
                client.connect()
                self.client = client  # requests may come before the SUBACK
                client.subscribe(REQUEST_FILTERS, qos=1)
            except (MqttError, OSError) as e:
                self.client = None
                client.close()
                if not failing:
                    log("cannot connect/subscribe (%s); retrying every %.2f s" % (e, self.RETRY_INTERVAL))
                    failing = True
                self.stopping.wait(self.RETRY_INTERVAL)
                continue
            failing = False
            self.connections += 1
            log("connected to %s:%d as %s, subscribed to %s"
                % (LOOPBACK, client.port, self.client_id, " ".join(REQUEST_FILTERS)))
            self.ready.set()
            try:
                while not self.stopping.is_set():
                    client.loop(0.5)
            except MqttError as e:
                if not self.stopping.is_set():
                    log("connection lost: %s" % e)
            except Exception:  # a bug: report it, keep serving
                log("service error:\n" + traceback.format_exc())
            finally:
                self.ready.clear()
                self.client = None
                if self.stopping.is_set():
                    client.disconnect()
                else:
                    client.close()
            self.stopping.wait(self.RETRY_INTERVAL)

    # requests

    def _on_message(self, topic, payload, qos, retain):
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != "$aws" or parts[1] != "things" or parts[3] != "shadow" \
                or parts[4] not in OPS:
            log("ignoring a message on %r" % topic)
            return
        if retain:
            # A retained message replayed by the broker on subscription, not a
            # request (AWS IoT keeps no retained messages on these topics).
            log("ignoring a retained message on %r" % topic)
            return
        if not parts[2]:
            log("ignoring a request with an empty thing name")
            return
        try:
            self.process(parts[2], parts[4], payload, "qos%d" % qos)
        except Exception:
            log("request on %s crashed:\n%s" % (topic, traceback.format_exc()))

    def process(self, thing, op, payload, origin):
        """Handles one request and publishes its responses; returns them."""
        with self.lock:
            responses = self.store.handle(thing, op, payload)
            for suffix, doc in responses:
                topic = "$aws/things/%s/shadow/%s" % (thing, suffix)
                data = dump(doc)
                if self.verbose:
                    log("%s %s (%s, %d bytes) -> %s %s"
                        % (op, thing, origin, len(payload), suffix, data[:300].decode("utf-8", "replace")))
                client = self.client
                try:
                    if client is None:
                        raise MqttError("not connected")
                    client.publish(topic, data, qos=1)
                except MqttError as e:
                    log("response on %s lost: %s" % (topic, e))
            return responses

    # control (the harness's commands)

    def reset(self):
        with self.lock:
            self.store.reset()

    def document(self, thing):
        with self.lock:
            return self.store.document(thing)

    def stats(self):
        with self.lock:
            return self.store.stats()

    def control(self, line):
        """Runs one control command line; returns its result lines."""
        words = line.split(None, 2)
        cmd, args = words[0], words[1:]
        if cmd == "shadow-reset":
            if args:
                raise ControlError("shadow-reset takes no arguments")
            self.reset()
            return []
        if cmd == "shadow-stats":
            if args:
                raise ControlError("shadow-stats takes no arguments")
            return [self.stats()]
        if cmd == "shadow-get":
            if len(args) != 1:
                raise ControlError("usage: shadow-get THING")
            _check_thing(args[0])
            doc = self.document(args[0])
            return ["none" if doc is None else dump(doc).decode("utf-8")]
        if cmd in ("shadow-update", "shadow-delete"):
            op = cmd[len("shadow-"):]
            if op == "update" and len(args) != 2:
                raise ControlError("usage: shadow-update THING JSON")
            if op == "delete" and len(args) != 1:
                raise ControlError("usage: shadow-delete THING")
            _check_thing(args[0])
            payload = args[1].encode("utf-8") if op == "update" else b""
            suffix, doc = self.process(args[0], op, payload, "control")[0]
            return ["%s %s" % (suffix.split("/")[1], dump(doc).decode("utf-8"))]
        raise ControlError("unknown command %r" % cmd)


# --------------------------------------------------------------------------


def main(argv):
    p = argparse.ArgumentParser(prog="shadow_service.py", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True, help="the broker's port on 127.0.0.1")
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    p.add_argument("--quiet", action="store_true", help="log connections and errors only")
    p.add_argument("--delta-on-any-update", action="store_true",
                   help="publish /update/delta after any accepted update when desired differs from reported")
    ns = p.parse_args(argv)
    service = ShadowService(lambda: ns.port, ns.client_id, verbose=not ns.quiet,
                            delta_on_any_update=ns.delta_on_any_update)
    done = threading.Event()

    def on_signal(_signum, _frame):
        done.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    service.start()
    while not done.is_set():
        done.wait(0.5)
    service.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
