#!/usr/bin/env python3
"""Tests of tests/tools/shadow_service.py (the local AWS IoT Device Shadow
service) and of its place in tests/tools/run_with_broker.py.

    python3 -B -m unittest -v test_shadow_service     (from this directory)

The MQTT tests run the service against a private mosquitto on a free
127.0.0.1 port (run_with_broker.Broker) and check its answers against the
examples of the AWS IoT developer guide ("Interacting with shadows", "Device
Shadow service documents", "Device Shadow error messages"). Timestamps are
checked to be the current Unix time and then compared as "T".
"""

import copy
import itertools
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.normpath(os.path.join(HERE, "..", "tools"))
sys.path.insert(0, TOOLS)
import run_with_broker as rwb  # noqa: E402
import shadow_service as ss  # noqa: E402

T = "T"
T0 = int(time.time())


def norm(doc):
    """Replaces timestamps (checked to be now) by "T"."""
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            if k == "timestamp" and isinstance(v, int) and not isinstance(v, bool):
                now = int(time.time())
                if not T0 - 1 <= v <= now + 1:
                    raise AssertionError("timestamp %d is not the time (%d..%d)" % (v, T0, now))
                out[k] = T
            else:
                out[k] = norm(v)
        return out
    if isinstance(doc, list):
        return [norm(v) for v in doc]
    return doc


def meta(tree):
    """The metadata of a state tree, with "T" timestamps."""
    return ss.metadata_of(tree, T)


def payload_of(request):
    if isinstance(request, bytes):
        return request
    if isinstance(request, str):
        return request.encode("utf-8")
    return json.dumps(request).encode("utf-8")


# --------------------------------------------------------------------------
# The logic alone (no MQTT), with a clock under control


class Clock:
    def __init__(self):
        self.now = 1000

    def __call__(self):
        return self.now


class StoreTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.store = ss.ShadowStore(clock=self.clock)

    def h(self, op, request=b"", thing="thing1"):
        return self.store.handle(thing, op, payload_of(request))

    def one(self, op, request=b"", thing="thing1"):
        out = self.h(op, request, thing)
        self.assertEqual(len(out), 1, out)
        return out[0]

    def test_untouched_leaves_keep_their_timestamps(self):
        self.h("update", {"state": {"reported": {"a": 1, "b": {"c": 2, "d": 3}}, "desired": {"a": 5}}})
        self.clock.now = 2000
        self.h("update", {"state": {"reported": {"b": {"d": 4}, "e": [1, {"f": 2}]}}})
        doc = self.store.document("thing1")
        self.assertEqual(doc["state"], {"desired": {"a": 5}, "reported": {"a": 1, "b": {"c": 2, "d": 4}, "e": [1, {"f": 2}]}})
        self.assertEqual(doc["metadata"], {
            "desired": {"a": {"timestamp": 1000}},
            "reported": {"a": {"timestamp": 1000}, "b": {"c": {"timestamp": 1000}, "d": {"timestamp": 2000}},
                         "e": [{"timestamp": 2000}, {"f": {"timestamp": 2000}}]}})
        self.assertEqual(doc["version"], 2)
        # The delta's metadata is the desired one.
        self.clock.now = 3000
        _, got = self.one("get")
        self.assertEqual(got["state"]["delta"], {"a": 5})
        self.assertEqual(got["metadata"]["delta"], {"a": {"timestamp": 1000}})
        self.assertEqual(got["timestamp"], 3000)

    def test_type_changes_keep_metadata_in_step(self):
        self.h("update", {"state": {"reported": {"x": {"timestamp": 7, "y": 1}}}})
        self.clock.now = 2000
        self.h("update", {"state": {"reported": {"x": 5}}})
        self.assertEqual(self.store.document("thing1")["metadata"], {"reported": {"x": {"timestamp": 2000}}})
        self.h("update", {"state": {"reported": {"x": {"timestamp": 9}}}})
        doc = self.store.document("thing1")
        self.assertEqual(doc["state"], {"reported": {"x": {"timestamp": 9}}})
        self.assertEqual(doc["metadata"], {"reported": {"x": {"timestamp": {"timestamp": 2000}}}})

    def test_version_of_a_new_and_of_a_recreated_shadow(self):
        self.assertEqual(self.one("update", {"state": {"reported": {"a": 1}}, "version": 1})[1]["code"], 409)
        self.assertEqual(self.h("update", {"state": {"reported": {"a": 1}}, "version": 0})[0][1]["version"], 1)
        self.h("update", {"state": {"reported": {"a": 2}}})
        self.assertEqual(self.one("delete"), ("delete/accepted", {"version": 2, "timestamp": 1000}))
        # "Deleting a shadow does not reset its version number to 0."
        self.assertEqual(self.one("update", {"state": {}, "version": 0})[1]["code"], 409)
        out = self.h("update", {"state": {"reported": {"b": 1}}, "version": 2})
        self.assertEqual(out[0][1]["version"], 3)
        self.assertIsNone(out[1][1]["previous"])
        self.store.reset()
        self.assertEqual(self.h("update", {"state": {"reported": {"b": 1}}})[0][1]["version"], 1)
        self.assertEqual(self.store.stats(), "updates 1 gets 0 deletes 0 rejections 0")

    def test_size_limit_is_on_the_resulting_desired_plus_reported(self):
        # compact {"s":"xxx..."} is 8 + n bytes
        self.assertEqual(self.one("update", {"state": {"desired": {"s": "x" * 8185}}})[1]["code"], 413)
        self.assertEqual(self.h("update", {"state": {"desired": {"s": "x" * 8184}}})[0][0], "update/accepted")
        self.assertEqual(self.one("update", {"state": {"reported": {"t": 1}}})[1]["code"], 413)
        self.assertEqual(self.store.document("thing1")["version"], 1)
        # Metadata does not count; a request that shrinks the shadow is fine
        # even when it is large itself.
        big_nulls = {"k%d" % i: None for i in range(1000)}
        big_nulls["s"] = "y"
        self.assertEqual(self.h("update", {"state": {"desired": big_nulls}})[0][0], "update/accepted")
        self.assertEqual(self.store.document("thing1")["state"], {"desired": {"s": "y"}})
        # Multi-byte characters count in bytes.
        self.assertEqual(self.one("update", {"state": {"reported": {"u": "\u00e9" * 4090}}})[1]["code"], 413)

    def test_nesting_limit(self):
        six = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
        seven = {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}
        self.assertEqual(self.h("update", {"state": {"desired": six}})[0][0], "update/accepted")
        self.assertEqual(self.h("update", {"state": {"reported": {"a": {"b": {"c": {"d": {"e": [1]}}}}}}})[0][0],
                         "update/accepted")
        for deep in (seven, {"a": {"b": {"c": {"d": {"e": {"f": [1]}}}}}}):
            got = self.one("update", {"state": {"reported": deep}, "clientToken": "n"})
            self.assertEqual(got, ("update/rejected", {
                "code": 400, "message": "JSON contains too many levels of nesting; maximum is 6",
                "timestamp": 1000, "clientToken": "n"}))
        # Empty containers do not count as a level.
        self.assertEqual(self.h("update", {"state": {"reported": {"a": {"b": {"c": {"d": {"e": {"f": []}}}}}}}})[0][0],
                         "update/accepted")

    def test_delta_on_any_update_option(self):
        self.store.delta_on_any_update = True
        self.h("update", {"state": {"desired": {"a": 1}}})
        out = self.h("update", {"state": {"reported": {"b": 1}}})
        self.assertEqual([s for s, _ in out], ["update/accepted", "update/documents", "update/delta"])
        self.assertEqual(out[2][1]["state"], {"a": 1})

    def test_value_comparison(self):
        # Numbers by value; true is not 1; objects and arrays by content.
        self.h("update", {"state": {"reported": {"n": 1, "b": 1, "o": {"x": [1, {"y": True}]}, "f": 2.5}}})
        out = self.h("update", {"state": {"desired": {"n": 1.0, "b": True, "o": {"x": [1, {"y": True}]}, "f": 2.5}}})
        self.assertEqual(out[-1][0], "update/delta")
        self.assertEqual(out[-1][1]["state"], {"b": True})

    def test_garbage_never_raises(self):
        rnd = random.Random(1)
        samples = [b"", b"\0", b"{}\0\0", b"\xff", b"[" * 100000, b'{"state":' * 5000, b"1e999",
                   b'{"state":{"desired":{"a":1e999}}}', b'{"state":{"desired":{"\\ud800":1}}}',
                   b'{"state":{"desired":{"a":"\\udfff"}}}', b'{"clientToken":"\\ud800","state":{}}',
                   b'{"state":{"desired":{"a":-Infinity}}}']
        samples += [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 200))) for _ in range(300)]
        for s in samples:
            for op in ss.OPS:
                out = self.store.handle("g", op, s)
                for suffix, doc in out:
                    ss.dump(doc)  # always publishable
                    if suffix.endswith("rejected"):
                        self.assertIn(doc["code"], (400, 404, 413, 415), (s, doc))
        self.assertEqual(self.store.handle("g", "update", b'{"state":{"desired":{"a":"\\ud800"}}}')[0][1]["code"], 400)

    def test_trailing_nul_is_ignored(self):
        self.assertEqual(self.h("update", b'{"state":{"reported":{"a":1}},"clientToken":"z"}\0')[0][0],
                         "update/accepted")
        self.assertEqual(self.one("get", b'{"clientToken":"z"}\0')[1]["clientToken"], "z")


# --------------------------------------------------------------------------
# Over MQTT, against mosquitto


class Observer:
    """One MQTT connection of the test: publishes requests, receives every
    response ($aws/things/+/shadow/+/+), in order."""

    _tokens = itertools.count(1)

    def __init__(self, port, client_id="shadow-test"):
        self.q = queue.Queue()
        self.client = ss.MqttClient(port, client_id, self._on)
        self.client.connect()
        self.client.subscribe(["$aws/things/+/shadow/+/+"], qos=1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _on(self, topic, payload, qos, retain):
        self.q.put((topic, payload))

    def _loop(self):
        try:
            while not self.stop.is_set():
                self.client.loop(0.1)
        except ss.MqttError as e:
            if not self.stop.is_set():
                sys.stderr.write("observer: %s\n" % e)

    def close(self):
        self.stop.set()
        self.client.wake()
        self.thread.join(5)
        self.client.close()

    def publish(self, thing, op, request, qos=1, retain=False):
        self.client.publish("$aws/things/%s/shadow/%s" % (thing, op), payload_of(request), qos=qos, retain=retain)

    def sync(self, thing, timeout=10.0):
        """Every response for thing up to now: the service answers in order,
        so everything before the answer to a get of our own is earlier."""
        token = "sync-%d" % next(self._tokens)
        self.publish(thing, "get", {"clientToken": token})
        prefix = "$aws/things/%s/shadow/" % thing
        out = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                topic, payload = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no answer to the sync get on %s; had %r" % (thing, out))
            if not topic.startswith(prefix):
                raise AssertionError("unexpected response on %s" % topic)
            doc = json.loads(payload)
            suffix = topic[len(prefix):]
            if suffix.startswith("get/") and isinstance(doc, dict) and doc.get("clientToken") == token:
                return out
            out.append((suffix, norm(doc)))

    def exchange(self, thing, op, request=b"", qos=1):
        self.publish(thing, op, request, qos)
        return self.sync(thing)


class BrokerCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="shadow-test-")
        cls.broker = rwb.Broker(cls.tmp)
        cls.broker.first_start()
        cls.service = ss.ShadowService(lambda: cls.broker.port, verbose=bool(os.environ.get("SHADOW_TEST_VERBOSE")))
        cls.service.start()
        if not cls.service.wait_ready(10):
            raise AssertionError("the service did not subscribe")
        cls.obs = Observer(cls.broker.port)

    @classmethod
    def tearDownClass(cls):
        cls.obs.close()
        cls.service.shutdown()
        cls.broker.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def thing(self):
        return self._testMethodName.replace("test_", "t-")

    def x(self, op, request=b"", thing=None, qos=1):
        return self.obs.exchange(thing or self.thing(), op, request, qos)

    def accepted(self, request, thing=None):
        out = self.x("update", request, thing)
        self.assertEqual(out[0][0], "update/accepted", out)
        return out

    def rejected(self, op, request, code, message, token=None, thing=None):
        expected = {"code": code, "message": message}
        if code != 404:
            expected["timestamp"] = T
        if token is not None:
            expected["clientToken"] = token
        self.assertEqual(self.x(op, request, thing), [(op + "/rejected", expected)])


class ExampleTests(BrokerCase):
    """The AWS developer guide's examples."""

    def test_lightbulb_walkthrough(self):
        # "Device Shadow service data flow": the light bulb reports, an app
        # asks for green, the bulb complies and clears desired.
        red_meta = {"reported": meta({"color": "red"})}
        self.assertEqual(self.x("update", {"state": {"reported": {"color": "red"}}}), [
            ("update/accepted", {"state": {"reported": {"color": "red"}}, "metadata": red_meta,
                                 "version": 1, "timestamp": T}),
            ("update/documents", {"previous": None,
                                  "current": {"state": {"reported": {"color": "red"}}, "metadata": red_meta,
                                              "version": 1},
                                  "timestamp": T}),
        ])
        self.assertEqual(self.x("get"), [("get/accepted", {
            "state": {"reported": {"color": "red"}}, "metadata": red_meta, "version": 1, "timestamp": T})])

        green_meta = {"desired": meta({"color": "green"})}
        self.assertEqual(self.x("update", {"state": {"desired": {"color": "green"}}}), [
            ("update/accepted", {"state": {"desired": {"color": "green"}}, "metadata": green_meta,
                                 "version": 2, "timestamp": T}),
            ("update/documents", {
                "previous": {"state": {"reported": {"color": "red"}}, "metadata": red_meta, "version": 1},
                "current": {"state": {"desired": {"color": "green"}, "reported": {"color": "red"}},
                            "metadata": {"desired": meta({"color": "green"}), "reported": meta({"color": "red"})},
                            "version": 2},
                "timestamp": T}),
            ("update/delta", {"version": 2, "timestamp": T, "state": {"color": "green"},
                              "metadata": {"color": {"timestamp": T}}}),
        ])

        out = self.x("update", {"state": {"reported": {"color": "green"}, "desired": None}})
        self.assertEqual(out, [
            ("update/accepted", {"state": {"reported": {"color": "green"}, "desired": None},
                                 "metadata": {"reported": {"color": {"timestamp": T}}, "desired": {"timestamp": T}},
                                 "version": 3, "timestamp": T}),
            ("update/documents", {
                "previous": {"state": {"desired": {"color": "green"}, "reported": {"color": "red"}},
                             "metadata": {"desired": meta({"color": "green"}), "reported": meta({"color": "red"})},
                             "version": 2},
                "current": {"state": {"reported": {"color": "green"}},
                            "metadata": {"reported": meta({"color": "green"})}, "version": 3},
                "timestamp": T}),
        ])
        self.assertEqual(self.x("get"), [("get/accepted", {
            "state": {"reported": {"color": "green"}}, "metadata": {"reported": meta({"color": "green"})},
            "version": 3, "timestamp": T})])

        # Delete, then the shadow is gone.
        self.assertEqual(self.x("delete"), [("delete/accepted", {"version": 3, "timestamp": T})])
        self.rejected("get", b"", 404, "No shadow exists with name: 't-lightbulb_walkthrough'")
        self.rejected("delete", b"", 404, "No shadow exists with name: 't-lightbulb_walkthrough'")
        # An update creates it again; the version goes on.
        out = self.accepted({"state": {"reported": {"color": "blue"}}})
        self.assertEqual(out[0][1]["version"], 4)
        self.assertIsNone(out[1][1]["previous"])

    def test_updating_a_shadow(self):
        # "Updating a shadow": only the fields in the request change; the
        # delta holds the desired fields that differ.
        self.accepted({"state": {"reported": {"color": {"r": 255, "g": 255, "b": 0}}}})
        out = self.x("update", {"state": {"desired": {"color": {"r": 10}, "engine": "ON"}}})
        self.assertEqual([s for s, _ in out], ["update/accepted", "update/documents", "update/delta"])
        self.assertEqual(out[2][1], {"version": 2, "timestamp": T, "state": {"color": {"r": 10}, "engine": "ON"},
                                     "metadata": {"color": {"r": {"timestamp": T}}, "engine": {"timestamp": T}}})
        out = self.x("update", {"state": {"reported": {"color": {"r": 10}, "engine": "ON"}}})
        self.assertEqual([s for s, _ in out], ["update/accepted", "update/documents"])
        self.assertEqual(out[0][1]["state"], {"reported": {"color": {"r": 10}, "engine": "ON"}})
        self.assertEqual(out[0][1]["metadata"], {"reported": {"color": {"r": {"timestamp": T}}, "engine": {"timestamp": T}}})
        got = self.x("get")[0][1]
        self.assertEqual(got["state"], {"desired": {"color": {"r": 10}, "engine": "ON"},
                                        "reported": {"color": {"r": 10, "g": 255, "b": 0}, "engine": "ON"}})
        self.assertEqual(got["metadata"], {"desired": meta({"color": {"r": 10}, "engine": "ON"}),
                                           "reported": meta({"color": {"r": 10, "g": 255, "b": 0}, "engine": "ON"})})
        self.assertEqual(got["version"], 3)

    def test_delta_state_example(self):
        # "Delta state": desired fields missing from reported are in the
        # delta, reported-only fields are not; its metadata is desired's.
        out = self.x("update", {"state": {"desired": {"color": "RED", "state": "STOP"}}})
        self.assertEqual(out[2], ("update/delta", {"version": 1, "timestamp": T,
                                                   "state": {"color": "RED", "state": "STOP"},
                                                   "metadata": meta({"color": "RED", "state": "STOP"})}))
        out = self.x("update", {"state": {"reported": {"color": "GREEN", "engine": "ON"}}})
        self.assertEqual([s for s, _ in out], ["update/accepted", "update/documents"])  # no delta
        self.assertEqual(self.x("get"), [("get/accepted", {
            "state": {"desired": {"color": "RED", "state": "STOP"},
                      "reported": {"color": "GREEN", "engine": "ON"},
                      "delta": {"color": "RED", "state": "STOP"}},
            "metadata": {"desired": meta({"color": "RED", "state": "STOP"}),
                         "reported": meta({"color": "GREEN", "engine": "ON"}),
                         "delta": meta({"color": "RED", "state": "STOP"})},
            "version": 2, "timestamp": T})])

    def test_nested_delta(self):
        # "When nested objects differ, the delta contains the path all the
        # way to the root."
        self.accepted({"state": {"reported": {"lights": {"color": {"r": 255, "g": 0, "b": 255}}}}})
        out = self.x("update", {"state": {"desired": {"lights": {"color": {"r": 255, "g": 255, "b": 255}}}}})
        self.assertEqual(out[2], ("update/delta", {"version": 2, "timestamp": T,
                                                   "state": {"lights": {"color": {"g": 255}}},
                                                   "metadata": {"lights": {"color": {"g": {"timestamp": T}}}}}))
        got = self.x("get")[0][1]
        self.assertEqual(got["state"]["delta"], {"lights": {"color": {"g": 255}}})
        self.assertEqual(got["metadata"]["delta"], {"lights": {"color": {"g": {"timestamp": T}}}})
        # A value that turns into an object (or back) is in the delta whole.
        out = self.x("update", {"state": {"desired": {"lights": {"color": "white"}}}})
        self.assertEqual(out[2][1]["state"], {"lights": {"color": "white"}})

    def test_delta_only_after_desired_updates(self):
        out = self.x("update", {"state": {"desired": {"x": 1}}})
        self.assertEqual(out[2][1]["state"], {"x": 1})
        # Reported-only updates publish no delta, even while one exists.
        out = self.x("update", {"state": {"reported": {"y": 2}}})
        self.assertEqual([s for s, _ in out], ["update/accepted", "update/documents"])
        # Desired again, even unchanged: delta with everything that differs.
        out = self.x("update", {"state": {"desired": {"z": 3}}, "clientToken": "again"})
        self.assertEqual(out[2], ("update/delta", {"version": 3, "timestamp": T, "state": {"x": 1, "z": 3},
                                                   "metadata": meta({"x": 1, "z": 3}), "clientToken": "again"}))
        # Desired that matches reported: no delta.
        self.accepted({"state": {"reported": {"x": 1, "z": 3}}})
        out = self.x("update", {"state": {"desired": {"x": 1}}})
        self.assertEqual([s for s, _ in out], ["update/accepted", "update/documents"])
        self.assertNotIn("delta", self.x("get")[0][1]["state"])

    def test_deleting_data_with_null(self):
        # "Deleting data": null removes a field, or a whole section.
        self.accepted({"state": {"desired": {"lights": {"color": "RED"}, "engine": "ON"},
                                 "reported": {"lights": {"color": "GREEN"}, "engine": "OFF"}}})
        out = self.accepted({"state": {"desired": None, "reported": {"engine": None}}})
        self.assertEqual(out[0][1], {"state": {"desired": None, "reported": {"engine": None}},
                                     "metadata": {"desired": {"timestamp": T}, "reported": {"engine": {"timestamp": T}}},
                                     "version": 2, "timestamp": T})
        self.assertEqual(out[1][1]["current"], {"state": {"reported": {"lights": {"color": "GREEN"}}},
                                                "metadata": {"reported": meta({"lights": {"color": "GREEN"}})},
                                                "version": 2})
        # Objects left empty disappear, and so does an empty section.
        self.accepted({"state": {"reported": {"lights": {"color": None}}}})
        self.assertEqual(self.x("get")[0][1], {"state": {}, "metadata": {}, "version": 3, "timestamp": T})
        # Nulls for fields that do not exist, and empty objects, change nothing
        # but the version.
        self.accepted({"state": {"reported": {"a": None, "b": {"c": None}, "d": {}}}})
        self.assertEqual(self.x("get")[0][1], {"state": {}, "metadata": {}, "version": 4, "timestamp": T})
        # "state": null clears everything; the shadow stays.
        self.accepted({"state": {"desired": {"a": 1}, "reported": {"b": 2}}})
        out = self.accepted({"state": None})
        self.assertEqual(out[0][1], {"state": None, "metadata": {"timestamp": T}, "version": 6, "timestamp": T})
        self.assertEqual(out[1][1]["current"], {"state": {}, "metadata": {}, "version": 6})
        self.assertEqual(self.x("get")[0][1], {"state": {}, "metadata": {}, "version": 6, "timestamp": T})

    def test_arrays_are_replaced_whole(self):
        # "Array values in shadow documents".
        self.accepted({"state": {"desired": {"colors": ["RED", "GREEN", "BLUE"]}}})
        self.accepted({"state": {"reported": {"colors": ["RED"]}}})
        got = self.x("get")[0][1]
        self.assertEqual(got["state"]["delta"], {"colors": ["RED", "GREEN", "BLUE"]})
        self.assertEqual(got["metadata"]["delta"], {"colors": [{"timestamp": T}] * 3})
        out = self.accepted({"state": {"desired": {"colors": ["RED"]}}})
        self.assertEqual([s for s, _ in out], ["update/accepted", "update/documents"])
        got = self.x("get")[0][1]
        self.assertEqual(got["state"], {"desired": {"colors": ["RED"]}, "reported": {"colors": ["RED"]}})
        self.assertEqual(got["metadata"]["desired"], {"colors": [{"timestamp": T}]})
        # "Arrays can't have null values."
        self.rejected("update", {"state": {"desired": {"colors": [None, "RED", "GREEN"]}}}, 400, "Invalid JSON")

    def test_optimistic_locking(self):
        # "Optimistic locking": version 10, an update with 9 is refused (409),
        # one with 10 is accepted and makes 11.
        self.accepted({"state": {"desired": {"colors": ["RED", "GREEN", "BLUE"]}}})
        for v in range(2, 11):
            self.assertEqual(self.accepted({"state": {"desired": {"colors": ["RED", "GREEN", "BLUE"]}}})[0][1]["version"], v)
        token = "426bfd96-e720-46d3-95cd-014e3ef12bb6"
        self.rejected("update", {"state": {"desired": {"colors": ["BLUE"]}}, "version": 9, "clientToken": token},
                      409, "Version conflict", token)
        self.rejected("update", {"state": {"desired": {"colors": ["BLUE"]}}, "version": 11}, 409, "Version conflict")
        out = self.accepted({"state": {"desired": {"colors": ["BLUE"]}}, "version": 10})
        self.assertEqual(out[0][1]["version"], 11)
        got = self.x("get")[0][1]
        self.assertEqual((got["state"], got["version"]), ({"desired": {"colors": ["BLUE"]}, "delta": {"colors": ["BLUE"]}}, 11))
        for bad in ("11", -1, True, 1.5, [11]):
            self.rejected("update", {"state": {"desired": {"a": 1}}, "version": bad}, 400, "Invalid version")


class RequestTests(BrokerCase):
    def test_client_token_echo(self):
        out = self.x("update", {"state": {"desired": {"a": 1}}, "clientToken": "tok-1"})
        self.assertEqual([(s, d.get("clientToken")) for s, d in out],
                         [("update/accepted", "tok-1"), ("update/documents", "tok-1"), ("update/delta", "tok-1")])
        self.assertEqual(self.x("get", {"clientToken": "tok-2"})[0][1]["clientToken"], "tok-2")
        self.rejected("update", {"clientToken": "tok-3"}, 400, "Missing required node: state", "tok-3")
        for token in ("x" * 64, "\u00e9" * 32, ""):
            self.assertEqual(self.accepted({"state": {"reported": {"a": 1}}, "clientToken": token})[0][1]["clientToken"],
                             token)
        # Longer than 64 bytes (UTF-8), or not a string: refused, not echoed.
        for token in ("x" * 65, "\u00e9" * 33, 5, None, {"a": 1}):
            self.rejected("update", {"state": {"reported": {"a": 1}}, "clientToken": token}, 400, "Invalid clientToken")
            self.rejected("get", {"clientToken": token}, 400, "Invalid clientToken")
            self.rejected("delete", {"clientToken": token}, 400, "Invalid clientToken")
        self.assertEqual(self.x("get")[0][1]["version"], 4)

    def test_get_and_delete_payloads(self):
        self.accepted({"state": {"reported": {"a": 1}}})
        # Empty payload: no clientToken; other content is ignored.
        for payload in (b"", b"{}", b"not json", b"[1]", b"\xff\xfe", b'{"other":1}'):
            got = self.x("get", payload)
            self.assertEqual(got, [("get/accepted", {"state": {"reported": {"a": 1}}, "metadata": {"reported": meta({"a": 1})},
                                                     "version": 1, "timestamp": T})], payload)
        self.assertEqual(self.x("delete", b"anything"), [("delete/accepted", {"version": 1, "timestamp": T})])

    def test_missing_shadow_404(self):
        thing = self.thing()
        msg = "No shadow exists with name: '%s'" % thing
        self.rejected("get", {"clientToken": "c1"}, 404, msg, "c1")
        self.rejected("delete", {"clientToken": "c2"}, 404, msg, "c2")
        self.rejected("get", b"", 404, msg)
        self.accepted({"state": {"reported": {"a": 1}}})
        self.assertEqual(self.x("delete", {"clientToken": "c3"}), [("delete/accepted", {"version": 1, "timestamp": T,
                                                                                        "clientToken": "c3"})])
        self.rejected("get", {"clientToken": "c4"}, 404, msg, "c4")
        self.rejected("delete", b"", 404, msg)

    def test_too_large_413(self):
        self.rejected("update", {"state": {"desired": {"s": "x" * 8185}}, "clientToken": "big"}, 413,
                      "The payload exceeds the maximum size allowed", "big")
        self.rejected("get", b"", 404, "No shadow exists with name: '%s'" % self.thing())  # nothing stored
        self.accepted({"state": {"desired": {"s": "x" * 8184}}})
        self.accepted({"state": {"reported": {"a": 5000 * "x"}, "desired": {"s": "x" * 3000}}})
        self.rejected("update", {"state": {"desired": {"b": "y" * 200}}}, 413,
                      "The payload exceeds the maximum size allowed")
        self.assertEqual(self.x("get")[0][1]["version"], 2)

    def test_bad_requests_400(self):
        cases = [
            (b"{not json", "Invalid JSON", None),
            (b"", "Invalid JSON", None),
            (b"[1,2]", "Invalid JSON", None),
            (b"null", "Invalid JSON", None),
            (b'"state"', "Invalid JSON", None),
            (b'{"state":{"desired":{"a":NaN}}}', "Invalid JSON", None),
            (b'{"state":{"desired":{"a":1}}} trailing', "Invalid JSON", None),
            ({"clientToken": "t1", "desired": {"a": 1}}, "Missing required node: state", "t1"),
            ({}, "Missing required node: state", None),
            ({"state": "on", "clientToken": "t2"}, "State node must be an object", "t2"),
            ({"state": [1]}, "State node must be an object", None),
            ({"state": {"desired": 5}, "clientToken": "t3"}, "Desired node must be an object", "t3"),
            ({"state": {"desired": "a"}}, "Desired node must be an object", None),
            ({"state": {"reported": [1]}}, "Reported node must be an object", None),
            ({"state": {"reported": True}}, "Reported node must be an object", None),
            ({"state": {"delta": {"a": 1}}, "clientToken": "t4"}, "State contains an invalid node: 'delta'", "t4"),
            ({"state": {"desired": {"a": 1}, "color": "red"}}, "State contains an invalid node: 'color'", None),
            ({"state": {"desired": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}},
             "JSON contains too many levels of nesting; maximum is 6", None),
        ]
        for request, message, token in cases:
            with self.subTest(request=request):
                self.rejected("update", request, 400, message, token)
        self.rejected("update", b"\xff\xfe{}", 415, "Unsupported documented encoding; supported encoding is UTF-8")
        self.rejected("get", b"", 404, "No shadow exists with name: '%s'" % self.thing())

    def test_new_shadow_starts_at_version_1_and_counts_up(self):
        for v in range(1, 6):
            out = self.accepted({"state": {"reported": {"n": v}}})
            self.assertEqual([d.get("version") for _, d in out], [v, None])
            self.assertEqual((out[1][1]["current"]["version"], out[1][1]["previous"] and out[1][1]["previous"]["version"]),
                             (v, v - 1 if v > 1 else None))
        # Rejections do not count.
        self.rejected("update", b"x", 400, "Invalid JSON")
        self.assertEqual(self.accepted({"state": {}})[0][1]["version"], 6)

    def test_requests_are_handled_in_order(self):
        # A burst of updates, each requiring the version its predecessor makes:
        # all are accepted only if they are handled in the order sent. (One
        # QoS: mosquitto lets QoS 0 messages overtake QoS 1 ones that wait for
        # its in-flight window; MQTT orders messages per QoS only.)
        thing = self.thing()
        n = 300
        for i in range(n):
            self.obs.publish(thing, "update", {"state": {"reported": {"i": i}}, "version": i, "clientToken": "b%d" % i},
                             qos=1)
        out = self.obs.sync(thing, timeout=20)
        accepted = [(d["version"], d["clientToken"]) for s, d in out if s == "update/accepted"]
        self.assertEqual(accepted, [(i + 1, "b%d" % i) for i in range(n)])
        self.assertEqual(len(out), 2 * n)
        self.assertEqual(self.service.document(thing)["state"], {"reported": {"i": n - 1}})

    def test_qos0_requests(self):
        out = self.x("update", {"state": {"reported": {"q": 0}}}, qos=0)
        self.assertEqual(out[0][1]["version"], 1)
        self.assertEqual(self.x("get", b"", qos=0)[0][0], "get/accepted")

    def test_things_are_separate(self):
        a, b = self.thing() + "-a", self.thing() + "-b"
        self.accepted({"state": {"reported": {"who": "a"}}}, thing=a)
        self.accepted({"state": {"reported": {"who": "b"}}}, thing=b)
        self.accepted({"state": {"reported": {"who": "b2"}}}, thing=b)
        self.assertEqual(self.x("get", thing=a)[0][1]["version"], 1)
        self.assertEqual(self.x("get", thing=b)[0][1]["state"], {"reported": {"who": "b2"}})
        self.assertEqual(self.service.document(a)["state"], {"reported": {"who": "a"}})

    def test_robust_against_junk(self):
        thing = self.thing()
        rnd = random.Random(7)
        junk = [b"\0" * 10, b"[" * 200000, b"{" * 70000, b'{"state":{"desired":' * 3000, b"x" * 300000,
                b'{"state":{"desired":{"a":"' + b"z" * 200000 + b'"}}}']
        junk += [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 500))) for _ in range(50)]
        for data in junk:
            for op in ss.OPS:
                self.obs.publish(thing, op, data, qos=rnd.choice((0, 1)))
        out = self.obs.sync(thing, timeout=20)
        self.assertTrue(all(s.endswith("/rejected") for s, _ in out), [s for s, _ in out])
        self.assertEqual(len(out), 3 * len(junk))
        # Topics that are not requests of a classic shadow get no answer.
        for topic in ("$aws/things//shadow/update", "$aws/things/%s/shadow/name/n/update" % thing,
                      "$aws/things/%s/shadow/updatex" % thing, "$aws/things/%s/shadow" % thing):
            self.obs.client.publish(topic, b'{"state":{}}', qos=1)
        self.assertEqual(self.obs.sync(thing), [])
        self.assertTrue(self.service.alive())
        self.assertEqual(self.accepted({"state": {"reported": {"ok": True}}})[0][1]["version"], 1)

    def test_retained_requests_are_not_replayed(self):
        # A retained request is handled when it is published; the copy the
        # broker replays when the service subscribes again is not a request.
        thing = self.thing()
        self.obs.publish(thing, "update", {"state": {"reported": {"r": 1}}}, qos=1, retain=True)
        try:
            self.assertEqual([s for s, _ in self.obs.sync(thing)], ["update/accepted", "update/documents"])
            connections = self.service.connections
            self.service.client.wake()  # the service reconnects and subscribes again
            deadline = time.monotonic() + 10
            while self.service.connections == connections or not self.service.ready.is_set():
                self.assertLess(time.monotonic(), deadline, "the service did not reconnect")
                time.sleep(0.01)
            self.assertEqual(self.obs.sync(thing), [])
            self.assertEqual(self.service.document(thing)["version"], 1)
        finally:
            # Clearing the retained message is itself delivered as an (empty) update.
            self.obs.publish(thing, "update", b"", qos=1, retain=True)
            self.obs.sync(thing)

    def test_responses_are_not_retained(self):
        thing = self.thing()
        self.accepted({"state": {"desired": {"a": 1}}})
        late = Observer(self.broker.port, "late-subscriber")
        try:
            self.assertEqual(late.sync(thing), [])
        finally:
            late.close()
        self.assertEqual([s for s, _ in self.obs.sync(thing)], ["get/accepted"])  # the late one's sync


class ConnectionTests(unittest.TestCase):
    """Broker restarts and broken MQTT input."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shadow-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_survives_broker_restart(self):
        broker = rwb.Broker(self.tmp)
        broker.first_start()
        self.addCleanup(broker.shutdown)
        service = ss.ShadowService(lambda: broker.port, verbose=False).start()
        self.addCleanup(service.shutdown)
        self.assertTrue(service.wait_ready(10))
        obs = Observer(broker.port)
        obs.exchange("r", "update", {"state": {"reported": {"a": 1}}})
        obs.close()
        for stop in (broker.stop, broker.kill):
            stop()
            time.sleep(0.2)
            self.assertFalse(service.ready.is_set())
            broker.start()
            self.assertTrue(service.wait_ready(10))
            obs = Observer(broker.port)
            out = obs.exchange("r", "update", {"state": {"reported": {"a": 2}}})
            obs.close()
        self.assertEqual(out[0][1]["version"], 3)
        self.assertTrue(service.alive())

    def test_malformed_mqtt_input(self):
        fake = rwb.FakeServer()
        self.addCleanup(fake.shutdown)

        def accepted():
            return int(fake.stats().split()[1])

        def wait_for(cond, what, timeout=10):
            deadline = time.monotonic() + timeout
            while not cond():
                self.assertLess(time.monotonic(), deadline, what)
                time.sleep(0.01)

        fake.set_script(["no-connack"])
        service = ss.ShadowService(lambda: fake.port, verbose=False).start()
        self.addCleanup(service.shutdown)
        wait_for(lambda: accepted() >= 1, "no connection")
        fake.close_current()  # while the service waits for its CONNACK
        wait_for(lambda: accepted() >= 2, "no reconnection after no-connack")
        for script in (["connack-then-garbage"], ["connack-then-bad-length"], ["refuse-connack", "5"]):
            fake.set_script(script)
            fake.close_current()
            before = accepted()
            wait_for(lambda: accepted() >= before + 2, "no reconnection after %s" % script)
            self.assertTrue(service.alive(), script)
            self.assertFalse(service.ready.is_set(), script)
        fake.set_script(["normal-connack"])
        fake.close_current()
        self.assertTrue(service.wait_ready(10))
        connections = service.connections
        fake.close_current()
        wait_for(lambda: service.connections > connections and service.ready.is_set(), "no reconnection")
        self.assertTrue(service.alive())

    def test_packet_decoder_on_garbage(self):
        rnd = random.Random(3)
        for _ in range(3000):
            buf = bytearray(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 40)))
            try:
                while True:
                    pkt = ss.decode_packet(buf)
                    if pkt is None:
                        break
                    if pkt[0] == ss.PUBLISH:
                        ss.parse_publish(pkt[1], pkt[2])
            except ss.MqttError:
                pass
        with self.assertRaises(ss.MqttError):
            ss.decode_packet(bytearray(b"\x30\xff\xff\xff\xff\x01"))
        self.assertIsNone(ss.decode_packet(bytearray(b"\x30\x05ab")))
        buf = bytearray(b"\x30\x05\x00\x01tXY\xd0\x00")
        self.assertEqual(ss.decode_packet(buf), (3, 0, b"\x00\x01tXY"))
        self.assertEqual(ss.decode_packet(buf), (13, 0, b""))
        self.assertEqual(ss.parse_publish(2, b"\x00\x01t\x12\x34hi"), ("t", 1, False, False, 0x1234, b"hi"))
        for flags, body in ((6, b"\x00\x01t\x00\x01"), (2, b"\x00\x05t"), (0, b"\x00")):
            with self.assertRaises(ss.MqttError):
                ss.parse_publish(flags, body)


class HarnessTests(unittest.TestCase):
    """run_with_broker.py --shadow, from a program's side."""

    def run_child(self, harness_opts, mode):
        cmd = [sys.executable, "-B", os.path.join(TOOLS, "run_with_broker.py")] + harness_opts + [
            "--timeout", "60", "--", sys.executable, "-B", os.path.join(HERE, "harness_child.py"), mode]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "harness child failed:\n%s\n%s" % (out, err[-4000:]))
        self.assertIn("harness child: all passed", out)
        return err

    def test_with_shadow(self):
        err = self.run_child(["--shadow"], "shadow")
        self.assertIn("shadow_service", err)

    def test_without_shadow(self):
        err = self.run_child([], "noshadow")
        self.assertNotIn("[shadow_service]", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
