#!/usr/bin/env python3
"""Tests of uart_bridge.py's protocol engine against a fake board, no QEMU.

The bridge runs in this process (uart_bridge.main) with its test seam
--board-cmd: instead of QEMU it starts this file as `--board SCENARIO PORT
[ARG]`, a Python fake board that connects to the bridge's port as QEMU's UART1
would, speaks the protocol (c_demo/mps2_an386/README.md) and checks the
answers. A scenario's failure is a traceback on stderr and exit status 1, which
the bridge passes through. The fake board runs its own TCP servers (echo,
blast, reset, full backlog) on loopback.

    python3 -B tests/tools/test_uart_bridge.py -v
"""

import contextlib
import io
import os
import random
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import uart_bridge as ub  # noqa: E402

NO = ub.NO_SOCKET
LO = bytes([127, 0, 0, 1])


# ---- the fake board (runs in a child process of the bridge) ----

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("the bridge closed the link after %r, wanted %d bytes" % (buf, n))
        buf += d
    return buf


def addr(host):
    return socket.inet_aton(host)


class Board:
    """The board's end of the serial link, with a DATA credit check."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.lock = threading.Lock()  # a sender thread and the receiver both write
        self.window = 0
        self.credit = {}

    def send(self, ftype, sock=NO, payload=b""):
        with self.lock:
            self.s.sendall(ub.frame(ftype, sock, payload))

    def recv(self):
        start, ftype, sock, n = struct.unpack("<BBBH", recv_exact(self.s, 5))
        assert start == 0xA5, "start byte 0x%02x" % start
        payload = recv_exact(self.s, n)
        if ftype == ub.DATA:
            assert 1 <= n <= ub.MAX_PAYLOAD, "DATA of %d bytes" % n
            assert n <= self.credit[sock], "DATA of %d bytes on socket %d with a credit of %d" % (
                n, sock, self.credit[sock])
            self.credit[sock] -= n
        return ftype, sock, payload

    def expect(self, ftype, sock):
        got = self.recv()
        assert got[:2] == (ftype, sock), "wanted 0x%02x for %d, got %r" % (ftype, sock, got)
        return got[2]

    def expect_silence(self, seconds):
        self.s.settimeout(seconds)
        try:
            got = self.s.recv(1)
        except socket.timeout:
            return
        finally:
            self.s.settimeout(10)
        raise AssertionError("the bridge sent %r where it should be silent" % got)

    def hello(self, sockets=8, window=2048):
        self.window = window
        self.send(ub.HELLO, NO, struct.pack("<BBH", 1, sockets, window))
        assert self.expect(ub.HELLO_ACK, NO) == b"\x01"

    def connect_start(self, sock, host, port):
        self.send(ub.CONNECT, sock, addr(host) + struct.pack(">H", port))

    def connect(self, sock, host, port):
        self.connect_start(sock, host, port)
        status = self.expect(ub.CONNECT_RESULT, sock)[0]
        if status == 0:
            self.credit[sock] = self.window
        return status

    def grant(self, sock, n):
        self.credit[sock] += n  # before the WINDOW: DATA may follow at once
        self.send(ub.WINDOW, sock, struct.pack("<H", n))

    def close(self, sock):
        self.send(ub.CLOSE, sock)
        self.expect(ub.CLOSE_ACK, sock)

    def resolve(self, name):
        self.send(ub.RESOLVE, NO, name.encode())
        return socket.inet_ntoa(self.expect(ub.RESOLVE_RESULT, NO))

    def wait_closed(self):
        """Until the bridge closes the link (after a protocol error)."""
        self.s.settimeout(10)
        try:
            while self.s.recv(4096):
                pass
        except ConnectionError:
            pass


def serve(handler, backlog=8):
    """A loopback server running handler(conn) per connection; its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(backlog)

    def loop():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


def echo(c):
    while True:
        d = c.recv(4096)
        if not d:
            break
        c.sendall(d)
    c.close()


def pattern(n, seed):
    return random.Random(seed).randbytes(n)


def blast(c):
    c.sendall(pattern(10000, 1))
    c.close()


def reset(c):
    c.recv(1)  # not before the bridge has reported the connect: that would be a race
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # RST


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def hanging_port():
    """A listener whose accept queue is full: a connect to it hangs (Linux)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(srv.getsockname())
        fillers.append(c)
    time.sleep(0.1)
    hanging_port.keep = (srv, fillers)
    return srv.getsockname()[1]


def send_pieces(board, plan, limit, progress):
    """SEND every plan[sock] in pieces of varied size, the sockets interleaved,
    never more than `limit` bytes ahead of what came back (so the echo servers
    never block on full TCP buffers: see the bridge's head-of-line note)."""
    sizes = [1, 7, 300, 1024, 513, 64, 1000, 2]
    offsets = dict.fromkeys(plan, 0)
    i = 0
    while any(offsets[s] < len(plan[s]) for s in plan):
        for sock, data in plan.items():
            if offsets[sock] >= len(data):
                continue
            with progress:
                progress.wait_for(lambda: offsets[sock] - progress.got[sock] < limit)
            piece = data[offsets[sock]:offsets[sock] + sizes[i % len(sizes)]]
            board.send(ub.SEND, sock, piece)
            offsets[sock] += len(piece)
            i += 1


def echo_through(board, plan, limit=16384):
    """Send plan's data through echo connections, take it back within the credit."""
    progress = threading.Condition()
    progress.got = dict.fromkeys(plan, 0)
    sender = threading.Thread(target=send_pieces, args=(board, plan, limit, progress), daemon=True)
    sender.start()
    back = {s: bytearray() for s in plan}
    ungranted = dict.fromkeys(plan, 0)
    exhausted = 0
    while any(len(back[s]) < len(plan[s]) for s in plan):
        ftype, sock, data = board.recv()
        assert ftype == ub.DATA and sock in plan, (ftype, sock)
        back[sock] += data
        ungranted[sock] += len(data)
        with progress:
            progress.got[sock] = len(back[sock])
            progress.notify_all()
        exhausted += board.credit[sock] == 0
        if board.credit[sock] < 64:
            time.sleep(0.002)  # give the bridge a chance to overrun the credit
            board.grant(sock, ungranted[sock])
            ungranted[sock] = 0
    sender.join(10)
    for sock in plan:
        assert back[sock] == plan[sock], "socket %d: the echo differs" % sock
    assert exhausted > 0, "the credit never ran out: the test proved nothing"


def scenario_basic(board, arg):
    board.hello()
    assert board.resolve("localhost") == "127.0.0.1"
    assert board.resolve("LocalHost") == "127.0.0.1"
    assert board.resolve("127.0.0.5") == "127.0.0.5"
    assert board.resolve("example.com") == "0.0.0.0"
    assert board.resolve("10.0.0.1") == "0.0.0.0"
    assert board.resolve("127.0.0.256") == "0.0.0.0"
    echo_port = serve(echo)
    assert board.connect(0, "127.0.0.1", echo_port) == 0
    assert board.connect(1, "127.0.0.1", closed_port()) == 1
    t = time.monotonic()
    assert board.connect(2, "10.0.0.1", echo_port) == 2
    assert time.monotonic() - t < 1
    board.send(ub.SEND, 0, b"hello")
    assert board.expect(ub.DATA, 0) == b"hello"
    for sock in (0, 1, 2, 5):  # 5 was never used: CLOSE_ACK all the same
        board.close(sock)
    assert board.connect(0, "127.0.0.1", echo_port) == 0  # the number is free again
    board.send(ub.SEND, 0, b"again")
    assert board.expect(ub.DATA, 0) == b"again"
    # A second HELLO (the board restarted) forgets socket 0.
    board.hello(sockets=2)
    assert board.connect(0, "127.0.0.1", echo_port) == 0
    board.send(ub.SEND, 0, b"x")
    assert board.expect(ub.DATA, 0) == b"x"
    board.close(0)


def scenario_echo(board, arg):
    board.hello(window=256)
    assert board.connect(3, "127.0.0.1", serve(echo)) == 0
    echo_through(board, {3: pattern(50 * 1024, 2)})
    board.close(3)


def scenario_many(board, arg):
    board.hello(sockets=4, window=512)
    port = serve(echo)
    for sock in range(4):
        assert board.connect(sock, "127.0.0.1", port) == 0
    echo_through(board, {sock: pattern(8000 + sock, 10 + sock) for sock in range(4)}, limit=4096)
    for sock in range(4):
        board.close(sock)


def scenario_hangup(board, arg):
    board.hello(window=256)
    assert board.connect(1, "127.0.0.1", serve(blast)) == 0
    got = bytearray()
    ungranted = 0
    while True:
        ftype, sock, data = board.recv()
        assert sock == 1
        if ftype == ub.HANGUP:
            break
        assert ftype == ub.DATA
        got += data
        ungranted += len(data)
        if board.credit[1] == 0:
            time.sleep(0.002)
            board.grant(1, ungranted)
            ungranted = 0
    assert got == pattern(10000, 1), "HANGUP after %d of 10000 bytes" % len(got)
    board.send(ub.SEND, 1, b"dropped")   # the peer is gone: no error
    board.grant(1, ungranted)            # a late WINDOW is fine
    board.expect_silence(0.3)            # nothing after HANGUP ...
    board.close(1)                       # ... but the CLOSE_ACK
    assert board.connect(1, "127.0.0.1", serve(reset)) == 0
    board.send(ub.SEND, 1, b"!")
    board.expect(ub.HANGUP, 1)           # a reset is a hang-up too
    board.close(1)


def scenario_connect_timeout(board, arg):
    # The bridge runs with CONNECT_TIMEOUT 0.5 s for this one.
    board.hello()
    port = hanging_port()
    board.connect_start(0, "127.0.0.1", port)
    board.connect_start(1, "127.0.0.1", port)
    # Other frames are served while connects are pending.
    assert board.resolve("localhost") == "127.0.0.1"
    board.close(1)  # while connecting: CLOSE_ACK, and no CONNECT_RESULT after it
    assert board.expect(ub.CONNECT_RESULT, 0) == bytes([3])
    board.expect_silence(0.8)
    board.close(0)


def scenario_exit(board, arg):
    board.hello()
    return int(arg)


def scenario_sleep(board, arg):
    with open(arg, "w") as f:
        f.write(str(os.getpid()))
    board.hello()
    time.sleep(60)


# A protocol error: the frame to send after HELLO (8 sockets), or None for none.
ERRORS = {
    "bad_start": (True, b"\x5a\x01\xff\x04\x00" + struct.pack("<BBH", 1, 8, 2048)),
    "bad_type": (True, ub.frame(0x81, NO, b"\x01")),
    "out_of_range": (True, ub.frame(ub.CLOSE, 8)),
    "too_long": (True, struct.pack("<BBBH", 0xA5, ub.SEND, 0, 1025) + bytes(1025)),
    "before_hello": (False, ub.frame(ub.CLOSE, 0)),
    "send_unconnected": (True, ub.frame(ub.SEND, 0, b"x")),
    "window_overflow": (True, None),
    "connect_in_use": (True, None),
    "error_closes": (True, None),
}


def scenario_error(board, arg):
    name, _, port = arg.partition(":")
    hello, bad = ERRORS[name]
    if hello:
        board.hello()
    if name == "window_overflow":
        assert board.connect(0, "127.0.0.1", serve(echo)) == 0
        board.grant(0, 1)
    elif name == "connect_in_use":
        assert board.connect(0, "127.0.0.1", closed_port()) == 1
        board.connect_start(0, "127.0.0.1", closed_port())
    elif name == "error_closes":
        assert board.connect(0, "127.0.0.1", int(port)) == 0
        board.s.sendall(bytes(5))
    else:
        board.s.sendall(bad)
    board.wait_closed()
    time.sleep(30)  # the bridge kills us


def board_main(argv):
    scenario, port = argv[0], int(argv[1])
    arg = argv[2] if len(argv) > 2 else None
    try:
        board = Board(port)
        return globals()["scenario_" + scenario](board, arg) or 0
    except Exception:
        traceback.print_exc()
        print("fake board: scenario %s failed" % scenario, file=sys.stderr)
        return 1


# ---- the tests (run the bridge) ----

def board_cmd(scenario, arg=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--board", scenario, "{port}"]
    return " ".join(shlex.quote(a) for a in cmd + ([arg] if arg else []))


class BridgeTest(unittest.TestCase):

    def bridge(self, scenario, arg=None, timeout=20, expect=0):
        """Run the bridge in this process with the fake board; its stderr.
        Records every TCP connect the bridge attempts in self.connects."""
        self.connects = []
        real = ub.asyncio.open_connection

        def spy(host, port, **kw):
            self.connects.append((host, port))
            return real(host, port, **kw)
        err = io.StringIO()
        t = time.monotonic()
        with mock.patch.object(ub.asyncio, "open_connection", spy), contextlib.redirect_stderr(err):
            rc = ub.main(["--timeout", str(timeout), "--stats", "--board-cmd", board_cmd(scenario, arg)])
        self.elapsed = time.monotonic() - t
        self.assertEqual(rc, expect, "bridge stderr:\n" + err.getvalue())
        for host, _ in self.connects:
            self.assertTrue(host.startswith("127."), "the bridge connected to %s" % host)
        return err.getvalue()

    def test_basic(self):
        """HELLO, RESOLVE, CONNECT ok / refused / not allowed, CLOSE, re-use, re-HELLO."""
        self.bridge("basic")
        # Socket 0 to echo, 1 to a closed port, 0 again, 0 after the second
        # HELLO; none for 10.0.0.1.
        self.assertEqual([h for h, _ in self.connects], ["127.0.0.1"] * 4)

    def test_echo_50k_small_window(self):
        err = self.bridge("echo")
        self.assertIn("1 connections", err)

    def test_many_sockets(self):
        self.bridge("many")

    def test_hangup(self):
        self.bridge("hangup")

    def test_connect_timeout(self):
        with mock.patch.object(ub, "CONNECT_TIMEOUT", 0.5):
            self.bridge("connect_timeout")

    def test_exit_status(self):
        self.bridge("exit", "7", expect=7)

    def test_board_exits_before_connecting(self):
        self.connects = []
        cmd = "%s -c 'import sys; sys.exit(9)'" % shlex.quote(sys.executable)
        self.assertEqual(ub.main(["--timeout", "10", "--board-cmd", cmd]), 9)

    def test_timeout(self):
        with tempfile.TemporaryDirectory() as tmp:
            pidfile = os.path.join(tmp, "pid")
            err = self.bridge("sleep", pidfile, timeout=2, expect=124)
            self.assertIn("timed out", err)
            self.assertLess(self.elapsed, 10)
            with open(pidfile) as f:
                pid = int(f.read())
        with self.assertRaises(ProcessLookupError):  # killed (and reaped)
            os.kill(pid, 0)

    def test_protocol_errors(self):
        messages = {
            "bad_start": "bad start byte 0x5a",
            "bad_type": "unknown frame type 0x81",
            "out_of_range": "socket 8, out of range",
            "too_long": "1025 bytes",
            "before_hello": "CLOSE before HELLO",
            "send_unconnected": "SEND for socket 0, which is not connected",
            "window_overflow": "more than the window",
            "connect_in_use": "CONNECT for socket 0, which is in use",
        }
        for name, message in messages.items():
            with self.subTest(name):
                err = self.bridge("error", name, expect=3)
                self.assertIn("protocol error: ", err)
                self.assertIn(message, err)
                self.assertLess(self.elapsed, 10)

    def test_protocol_error_closes_connections(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(10)
        accepted = []
        t = threading.Thread(target=lambda: accepted.append(srv.accept()[0]), daemon=True)
        t.start()
        self.bridge("error", "error_closes:%d" % srv.getsockname()[1], expect=3)
        t.join(5)
        conn = accepted[0]
        conn.settimeout(5)
        self.assertEqual(conn.recv(1), b"")  # the bridge closed it
        conn.close()
        srv.close()


class CommandLineTest(unittest.TestCase):

    def test_qemu_command(self):
        opts = ub.parse_args(["--icount", "--env", "EXTRA", "--env", "UNSET", "--kernel", "/k.elf",
                              "--", "-d", "guest_errors"])
        env = {"AFR_TEST_B": "x,y", "MQTT_BROKER_PORT": "1883", "EXTRA": "e", "HOME": "/h", "AFR_OTHER": "no"}
        self.assertEqual(ub.qemu_command(opts, 4242, env), [
            "qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
            "-serial", "null", "-serial", "tcp:127.0.0.1:4242",
            "-semihosting-config",
            "enable=on,target=native,arg=/k.elf,arg=AFR_TEST_B=x,,y,arg=EXTRA=e,arg=MQTT_BROKER_PORT=1883",
            "-icount", "shift=0", "-kernel", "/k.elf", "-d", "guest_errors"])

    def test_refused_environment(self):
        for env, extra in (({"AFR_TEST_A": "a b"}, []), ({"A=B": "1"}, ["--env", "A=B"])):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = ub.main(extra + ["--kernel", "/nonexistent.elf"], environ=env)
            self.assertEqual(rc, 2)
            self.assertIn("cannot pass", err.getvalue())

    def test_script_exit_status(self):
        """The script itself, as ctest or a user runs it."""
        r = subprocess.run([sys.executable, os.path.join(HERE, "uart_bridge.py"), "--timeout", "20",
                            "--board-cmd", board_cmd("exit", "7")], timeout=30)
        self.assertEqual(r.returncode, 7)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--board":
        sys.exit(board_main(sys.argv[2:]))
    unittest.main()
