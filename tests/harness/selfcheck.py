#!/usr/bin/env python3
"""Self-check of tests/tools/run_with_broker.py without any C.

    python3 tests/harness/selfcheck.py

runs itself under the harness (--relay --fake) and, inside, exercises the
broker, the control channel, the relay and every fake-server script with plain
sockets. Prints "N passed, M failed" and exits 0 only if all passed. It also
checks that the harness propagates exit codes, enforces --timeout and removes
its temporary directory.
"""

import os
import socket
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "..", "tools", "run_with_broker.py")

# CONNECT, MQTT 3.1.1, clean session, keep-alive 60 s, client id "selfcheck".
CONNECT = bytes([0x10, 21, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 60, 0, 9]) + b"selfcheck"
CONNACK_OK = b"\x20\x02\x00\x00"
PINGREQ = b"\xc0\x00"
PINGRESP = b"\xd0\x00"

sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from harness_control import control, ok as ctl_ok  # noqa: E402,F401


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5.0)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n, timeout=5.0):
    s.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise AssertionError("EOF after %r, wanted %d bytes" % (buf, n))
        buf += d
    return buf


def expect_closed(s, timeout=5.0):
    s.settimeout(timeout)
    try:
        d = s.recv(100)
    except ConnectionResetError:
        return "reset"
    assert d == b"", "expected EOF, got %r" % d
    return "eof"


def mqtt_connect(port, connect_bytes=CONNECT):
    s = connect(port)
    s.sendall(connect_bytes)
    assert recv_exact(s, 4) == CONNACK_OK
    return s


# --------------------------------------------------------------------------
# Checks run inside the harness


def t_control_channel():
    assert control("ping") == ("ok", [])
    status, _ = control("no-such-command")
    assert status.startswith("error:"), status
    status, _ = control("fake-script no-such-script")
    assert status.startswith("error:"), status
    lines = ctl_ok("broker-log-tail 5")
    assert 0 < len(lines) <= 5, lines


def t_broker_stop_start():
    port = int(os.environ["AFR_TEST_BROKER_PORT"])
    s = mqtt_connect(port)
    ctl_ok("broker-stop")
    expect_closed(s)
    s.close()
    status, _ = control("broker-stop")
    assert status.startswith("error:"), status
    ctl_ok("broker-start")
    s = mqtt_connect(port)
    s.sendall(PINGREQ)
    assert recv_exact(s, 2) == PINGRESP
    ctl_ok("broker-kill")
    expect_closed(s)
    s.close()
    ctl_ok("broker-start")
    mqtt_connect(port).close()


def t_relay():
    port = int(os.environ["AFR_TEST_RELAY_PORT"])
    s = mqtt_connect(port)
    ctl_ok("relay-freeze")
    s.sendall(PINGREQ)
    s.settimeout(0.5)
    try:
        d = s.recv(10)
        raise AssertionError("frozen relay forwarded %r" % d)
    except socket.timeout:
        pass
    ctl_ok("relay-thaw")
    assert recv_exact(s, 2) == PINGRESP  # the held-back PINGREQ goes through
    s.sendall(PINGREQ)
    assert recv_exact(s, 2) == PINGRESP
    ctl_ok("relay-reset")
    assert expect_closed(s) == "reset"
    s.close()
    # Broker down: the relay refuses relayed connections by resetting them.
    ctl_ok("broker-stop")
    try:
        s = connect(port)
    except ConnectionResetError:
        pass  # The reset can win the race with connect() itself.
    else:
        expect_closed(s)
        s.close()
    ctl_ok("broker-start")
    s = mqtt_connect(port)
    # Broker stops while relayed: the client sees the close through the relay.
    ctl_ok("broker-stop")
    expect_closed(s)
    s.close()
    ctl_ok("broker-start")
    assert ctl_ok("relay-stats")[0].startswith("connections ")


def t_fake_scripts():
    port = int(os.environ["AFR_TEST_FAKE_PORT"])

    # normal-connack (default) with SUBSCRIBE, PUBLISH QoS1, PINGREQ
    s = mqtt_connect(port)
    assert ctl_ok("fake-last-connect") == [CONNECT.hex()]
    sub = bytes([0x82, 0x0E, 0x12, 0x34, 0, 3]) + b"a/b" + bytes([1, 0, 3]) + b"c/d" + bytes([2])
    s.sendall(sub)
    assert recv_exact(s, 6) == bytes([0x90, 4, 0x12, 0x34, 1, 2])
    pub = bytes([0x32, 9, 0, 3]) + b"a/b" + bytes([0x00, 0x07]) + b"xy"
    s.sendall(pub)
    assert recv_exact(s, 4) == bytes([0x40, 2, 0, 7])
    s.sendall(PINGREQ)
    assert recv_exact(s, 2) == PINGRESP
    s.close()

    ctl_ok("fake-script no-pingresp")
    s = mqtt_connect(port)
    s.sendall(PINGREQ)
    s.settimeout(0.5)
    try:
        d = s.recv(10)
        raise AssertionError("no-pingresp answered %r" % d)
    except socket.timeout:
        pass
    s.close()

    ctl_ok("fake-script no-connack")
    s = connect(port)
    s.sendall(CONNECT)
    s.settimeout(0.5)
    try:
        d = s.recv(10)
        raise AssertionError("no-connack sent %r" % d)
    except socket.timeout:
        pass
    s.close()

    ctl_ok("fake-script refuse-connack 5")
    s = connect(port)
    s.sendall(CONNECT)
    assert recv_exact(s, 4) == b"\x20\x02\x00\x05"
    s.close()

    ctl_ok("fake-script connack-then-garbage")
    s = mqtt_connect(port)
    t0 = time.monotonic()
    assert recv_exact(s, 2) == b"\xf0\x00"
    assert time.monotonic() - t0 > 0.1
    s.close()

    ctl_ok("fake-script connack-then-bad-length")
    s = mqtt_connect(port)
    assert recv_exact(s, 6) == b"\x30\xff\xff\xff\xff\x01"
    s.close()

    ctl_ok("fake-script connack-then-close")
    s = mqtt_connect(port)
    assert expect_closed(s) == "eof"
    s.close()

    # A CONNECT split into pieces, with a 2-byte remaining length.
    ctl_ok("fake-script normal-connack")
    cid = b"x" * 200
    body = bytes([0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 10, 0, len(cid)]) + cid
    rl = len(body)
    big = bytes([0x10, (rl & 0x7F) | 0x80, rl >> 7]) + body
    s = connect(port)
    for i in range(0, len(big), 7):
        s.sendall(big[i : i + 7])
        time.sleep(0.001)
    assert recv_exact(s, 4) == CONNACK_OK
    assert ctl_ok("fake-last-connect") == [big.hex()]
    ctl_ok("fake-close")
    assert expect_closed(s) == "eof"
    s.close()
    assert ctl_ok("fake-stats")[0].startswith("connections ")


def inner():
    passed = failed = 0
    for name, fn in sorted((n, f) for n, f in globals().items() if n.startswith("t_")):
        try:
            fn()
            print("--- PASS %s" % name, flush=True)
            passed += 1
        except Exception:
            print("--- FAIL %s\n%s" % (name, traceback.format_exc()), flush=True)
            failed += 1
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


# --------------------------------------------------------------------------
# Checks of the harness from outside


def run_harness(*args, timeout=60):
    return subprocess.run(
        [sys.executable, HARNESS] + list(args), timeout=timeout, capture_output=True, text=True
    )


def outer():
    failed = 0

    def check(ok, what, proc=None):
        nonlocal failed
        print("--- %s %s" % ("PASS" if ok else "FAIL", what), flush=True)
        if not ok:
            failed += 1
            if proc is not None:
                print(proc.stdout + proc.stderr)

    r = run_harness("--", sys.executable, "-c", "import sys; sys.exit(7)")
    check(r.returncode == 7, "exit code is propagated", r)

    script = "import os,time; print(os.environ['AFR_TEST_CTL_DIR'], flush=True); time.sleep(30)"
    r = run_harness("--timeout", "2", "--", sys.executable, "-c", script)
    ctl = r.stdout.strip()
    check(r.returncode == 124 and "TIMEOUT" in r.stderr, "--timeout kills the program", r)
    check(ctl != "" and not os.path.exists(os.path.dirname(ctl)), "temporary directory removed", r)

    r = run_harness("--", sys.executable, "-c", "import os; print(os.environ.get('AFR_TEST_RELAY_PORT'))")
    check(r.returncode == 0 and r.stdout.strip() == "None", "no relay without --relay", r)

    r = run_harness("--relay", "--fake", "--", sys.executable, os.path.abspath(__file__), "--inner", timeout=120)
    sys.stdout.write(r.stdout)
    check(r.returncode == 0, "inner checks under the harness", r)
    print("selfcheck: %s" % ("FAILED" if failed else "all passed"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(inner() if "--inner" in sys.argv else outer())
