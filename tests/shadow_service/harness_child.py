#!/usr/bin/env python3
"""Runs under run_with_broker.py (started by test_shadow_service.py) and checks
the harness's shadow service from the program's side: AFR_TEST_SHADOW, the
shadow-* control commands and the service's MQTT responses, across a broker
restart.

    harness_child.py shadow     (harness started with --shadow)
    harness_child.py noshadow   (harness started without it)

Prints "harness child: all passed" and exits 0, or prints the failure and
exits 1.
"""

import json
import os
import queue
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import shadow_service as ss  # noqa: E402

from harness_control import control, ok  # noqa: E402,F401


def error(cmd):
    status, _ = control(cmd)
    assert status.startswith("error: "), "%s -> %s (expected an error)" % (cmd, status)
    return status


class Device:
    """An MQTT client with a receiving thread."""

    def __init__(self, port):
        self.port = port
        self.q = queue.Queue()
        self.start()

    def start(self):
        self.client = ss.MqttClient(self.port, "harness-child", lambda t, p, q, r: self.q.put((t, p)))
        self.client.connect()
        self.client.subscribe(["$aws/things/dev1/shadow/+/+"], qos=1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        try:
            while not self.stop.is_set():
                self.client.loop(0.1)
        except ss.MqttError:
            pass

    def close(self):
        self.stop.set()
        self.client.wake()
        self.thread.join(5)
        self.client.close()

    def expect(self, suffix, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                topic, payload = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("nothing on .../%s" % suffix)
            if topic == "$aws/things/dev1/shadow/" + suffix:
                return json.loads(payload)


def check_shadow():
    assert os.environ.get("AFR_TEST_SHADOW") == "1", "AFR_TEST_SHADOW not set"
    port = int(os.environ["AFR_TEST_BROKER_PORT"])
    assert ok("shadow-reset") == []
    assert ok("shadow-get dev1") == ["none"]
    dev = Device(port)

    # An update from "outside": result, and the responses published on MQTT.
    res = ok('shadow-update dev1 {"state": {"desired": {"led": "on"}}, "clientToken": "ctl-1"}')
    assert len(res) == 1 and res[0].startswith("accepted "), res
    acc = json.loads(res[0][len("accepted "):])
    assert acc["version"] == 1 and acc["clientToken"] == "ctl-1", acc
    got = dev.expect("update/accepted")
    assert got["version"] == 1 and got["clientToken"] == "ctl-1", got
    delta = dev.expect("update/delta")
    assert delta["state"] == {"led": "on"} and delta["version"] == 1, delta

    doc = json.loads(ok("shadow-get dev1")[0])
    assert doc["state"] == {"desired": {"led": "on"}} and doc["version"] == 1, doc
    assert set(doc) == {"state", "metadata", "version"}, doc

    # The device answers over MQTT.
    dev.client.publish("$aws/things/dev1/shadow/update", b'{"state":{"reported":{"led":"on"}}}', qos=1)
    assert dev.expect("update/accepted")["version"] == 2

    res = ok("shadow-update dev1 not json")
    assert res[0].startswith("rejected "), res
    rej = json.loads(res[0][len("rejected "):])
    assert rej["code"] == 400 and rej["message"] == "Invalid JSON", rej
    assert dev.expect("update/rejected")["code"] == 400
    assert ok("shadow-stats") == ["updates 3 gets 0 deletes 0 rejections 1"], ok("shadow-stats")

    # Broker restart: broker-start returns once the service is back; the
    # shadow survived.
    dev.close()
    ok("broker-stop")
    ok("broker-start")
    dev = Device(port)
    dev.client.publish("$aws/things/dev1/shadow/get", b'{"clientToken":"g"}', qos=1)
    got = dev.expect("get/accepted")
    assert got["version"] == 2 and got["clientToken"] == "g", got
    assert got["state"] == {"desired": {"led": "on"}, "reported": {"led": "on"}}, got

    res = ok("shadow-delete dev1")
    assert res[0].startswith("accepted ") and json.loads(res[0][9:])["version"] == 2, res
    assert dev.expect("delete/accepted")["version"] == 2
    assert ok("shadow-get dev1") == ["none"]
    res = ok("shadow-delete dev1")
    assert json.loads(res[0][9:])["code"] == 404, res

    for bad in ("shadow-get", "shadow-get a b", "shadow-update dev1", "shadow-delete", "shadow-reset x",
                "shadow-stats x", "shadow-frob", "shadow-get a/b", "shadow-get +"):
        error(bad)
    ok("shadow-reset")
    assert ok("shadow-stats") == ["updates 0 gets 0 deletes 0 rejections 0"]
    assert ok("ping") == []
    dev.close()


def check_noshadow():
    assert "AFR_TEST_SHADOW" not in os.environ
    status = error("shadow-get dev1")
    assert "--shadow" in status, status
    assert ok("ping") == []


def main():
    try:
        {"shadow": check_shadow, "noshadow": check_noshadow}[sys.argv[1]]()
    except AssertionError as e:
        print("harness child: FAILED: %s" % e, flush=True)
        return 1
    print("harness child: all passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
