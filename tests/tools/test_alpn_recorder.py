"""Tests of run_with_broker.py's ALPN/SNI recorder (--alpn) and its ClientHello
parser, with Python's own TLS client. Needs tls_certs.py's `cryptography`.

    cd tests/tools && python3 -B -m unittest -v test_alpn_recorder
"""

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import run_with_broker as rwb  # noqa: E402
import tls_certs  # noqa: E402

CONNECT = bytes([0x10, 18, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 60, 0, 6]) + b"alpn-t"
SUBSCRIBE = bytes([0x82, 12, 0x12, 0x34, 0, 3]) + b"a/b" + bytes([1]) + bytes([0, 1]) + b"c" + bytes([2])
PUBLISH_QOS1 = bytes([0x32, 9, 0, 3]) + b"a/b" + bytes([0x56, 0x78]) + b"hi"


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise AssertionError("EOF after %r, wanted %d bytes" % (buf, n))
        buf += d
    return buf


def client_hello_records(server_hostname, alpn):
    """The ClientHello that Python's TLS client sends, as TLS records."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:  # waits for the ServerHello
        return outgoing.read()
    raise AssertionError("handshake finished without a server")


def split_into_two_records(records):
    """The same handshake message carried by two records."""
    assert records[0] == 22
    rlen = (records[3] << 8) | records[4]
    msg = records[5 : 5 + rlen]
    half = len(msg) // 2
    out = b""
    for part in (msg[:half], msg[half:]):
        out += records[0:3] + len(part).to_bytes(2, "big") + part
    return out


class ParserTest(unittest.TestCase):
    def test_sni_and_alpn(self):
        rec = client_hello_records("example.iot.us-east-1.amazonaws.com", ["x-amzn-mqtt-ca", "mqtt"])
        self.assertEqual(rwb.client_hello_length(rec), len(rec))
        self.assertEqual(
            rwb.parse_client_hello(rec), ("example.iot.us-east-1.amazonaws.com", ["x-amzn-mqtt-ca", "mqtt"])
        )

    def test_none(self):
        rec = client_hello_records(None, None)
        self.assertEqual(rwb.parse_client_hello(rec), (None, None))

    def test_incomplete(self):
        rec = client_hello_records("localhost", ["x-amzn-mqtt-ca"])
        for n in (0, 3, 5, 9, len(rec) - 1):
            self.assertIsNone(rwb.client_hello_length(rec[:n]), n)

    def test_two_records(self):
        rec = split_into_two_records(client_hello_records("localhost", ["x-amzn-mqtt-ca"]))
        self.assertIsNone(rwb.client_hello_length(rec[:-1]))
        self.assertEqual(rwb.client_hello_length(rec + b"\x17\x03\x03"), len(rec))
        self.assertEqual(rwb.parse_client_hello(rec), ("localhost", ["x-amzn-mqtt-ca"]))

    def test_not_tls(self):
        with self.assertRaises(ValueError):
            rwb.client_hello_length(CONNECT)
        with self.assertRaises(ValueError):
            rwb.parse_client_hello(b"\x16\x03\x01\x00\x04\x01\x00\x00\x10")  # truncated body


class RecorderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="afr-alpn-test-")
        cls.tls = os.path.join(cls.tmp, "tls")
        tls_certs.ensure(cls.tls)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.rec = rwb.AlpnRecorder(self.tls)

    def tearDown(self):
        self.rec.shutdown()

    def client_ctx(self, alpn=None, cert=None, check_hostname=True):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(os.path.join(self.tls, "ca.pem"))
        ctx.check_hostname = check_hostname
        if alpn:
            ctx.set_alpn_protocols(alpn)
        if cert:
            ctx.load_cert_chain(os.path.join(self.tls, cert + ".pem"), os.path.join(self.tls, cert + ".key"))
        return ctx

    def connect(self, ctx, server_hostname):
        raw = socket.create_connection(("127.0.0.1", self.rec.port), timeout=5.0)
        return ctx.wrap_socket(raw, server_hostname=server_hostname)

    def wait_line(self, want):
        deadline = time.monotonic() + 5.0
        while self.rec.last_line() != want and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(self.rec.last_line(), want)

    def test_before_any(self):
        self.assertEqual(self.rec.last_line(), "sni=- alpn=- connections=0")

    def test_sni_alpn_and_mqtt(self):
        with self.connect(self.client_ctx(["x-amzn-mqtt-ca"]), "localhost") as s:
            self.assertEqual(s.selected_alpn_protocol(), "x-amzn-mqtt-ca")
            self.assertEqual(self.rec.last_line(), "sni=localhost alpn=x-amzn-mqtt-ca connections=1")
            s.sendall(CONNECT)
            self.assertEqual(recv_exact(s, 4), b"\x20\x02\x00\x00")
            s.sendall(b"\xc0\x00")
            self.assertEqual(recv_exact(s, 2), b"\xd0\x00")
            s.sendall(SUBSCRIBE)
            self.assertEqual(recv_exact(s, 6), b"\x90\x04\x12\x34\x00\x00")
            s.sendall(PUBLISH_QOS1)
            self.assertEqual(recv_exact(s, 4), b"\x40\x02\x56\x78")
            s.sendall(b"\x30\x05\x00\x03a/b")  # QoS 0: no answer
            s.sendall(b"\xc0\x00")
            self.assertEqual(recv_exact(s, 2), b"\xd0\x00")
            s.sendall(b"\xe0\x00")  # DISCONNECT: the server closes
            self.assertEqual(s.recv(10), b"")

    def test_no_sni_no_alpn(self):
        with self.connect(self.client_ctx(None, check_hostname=False), None) as s:
            self.assertIsNone(s.selected_alpn_protocol())
            s.sendall(CONNECT)
            self.assertEqual(recv_exact(s, 4), b"\x20\x02\x00\x00")
        self.assertEqual(self.rec.last_line(), "sni=- alpn=- connections=1")

    def test_other_alpn_and_the_latest_wins(self):
        with self.connect(self.client_ctx(["x-amzn-mqtt-ca"]), "localhost"):
            pass
        with self.connect(self.client_ctx(["mqtt", "h2"]), "127.0.0.1") as s:
            # No common protocol: the handshake goes on without ALPN. An IP
            # address is never sent as SNI.
            self.assertIsNone(s.selected_alpn_protocol())
        self.assertEqual(self.rec.last_line(), "sni=- alpn=mqtt,h2 connections=2")

    def test_client_certificates(self):
        with self.connect(self.client_ctx(["x-amzn-mqtt-ca"], cert="client"), "localhost") as s:
            s.sendall(CONNECT)
            self.assertEqual(recv_exact(s, 4), b"\x20\x02\x00\x00")
        with self.connect(self.client_ctx(["x-amzn-mqtt-ca"], cert="client-ec"), "localhost") as s:
            s.sendall(CONNECT)
            self.assertEqual(recv_exact(s, 4), b"\x20\x02\x00\x00")
        # A certificate from another CA is refused (with TLS 1.3 the client
        # learns it only when it reads).
        with self.assertRaises((ssl.SSLError, ConnectionError, AssertionError)):
            with self.connect(self.client_ctx(["x-amzn-mqtt-ca"], cert="client-otherca"), "localhost") as s:
                s.sendall(CONNECT)
                recv_exact(s, 4)
        self.assertEqual(self.rec.last_line(), "sni=localhost alpn=x-amzn-mqtt-ca connections=3")

    def test_client_hello_in_pieces(self):
        """The recorder waits for the whole ClientHello (two records, sent in
        three TCP writes) before it parses."""
        rec = split_into_two_records(client_hello_records("piece.example", ["x-amzn-mqtt-ca"]))
        with socket.create_connection(("127.0.0.1", self.rec.port), timeout=5.0) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(rec[:3])
            time.sleep(0.05)
            s.sendall(rec[3:-10])
            time.sleep(0.05)
            self.assertEqual(self.rec.last_line(), "sni=- alpn=- connections=1")
            s.sendall(rec[-10:])
            self.wait_line("sni=piece.example alpn=x-amzn-mqtt-ca connections=1")


class HarnessTest(unittest.TestCase):
    """run_with_broker.py --alpn: environment and the alpn-last command."""

    def test_alpn_last_command(self):
        tmp = tempfile.mkdtemp(prefix="afr-alpn-test-")
        try:
            tls = os.path.join(tmp, "tls")
            program = textwrap.dedent(
                """
                import os, socket, ssl, sys
                sys.path.insert(0, %r)
                from harness_control import ok
                port = int(os.environ["AFR_TEST_ALPN_PORT"])
                assert os.environ["AFR_SIM_SOCKETS_PORT_443"] == str(port)
                assert os.environ["AFR_TEST_TLS_DIR"] == %r
                for v in ("", "_EC", "_WRONGHOST", "_EXPIRED", "_UNKNOWNCA", "_TLS12"):
                    assert int(os.environ["AFR_TEST_TLS_PORT" + v]) > 0, v
                assert ok("alpn-last") == ["sni=- alpn=- connections=0"], ok("alpn-last")
                ctx = ssl.create_default_context(cafile=os.path.join(%r, "ca.pem"))
                ctx.set_alpn_protocols(["x-amzn-mqtt-ca"])
                with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost") as s:
                    s.sendall(bytes([0xc0, 0]))
                    assert s.recv(2) == bytes([0xd0, 0])
                got = ok("alpn-last")
                assert got == ["sni=localhost alpn=x-amzn-mqtt-ca connections=1"], got
                print("harness alpn ok")
                """
                % (HERE, tls, tls)
            )
            r = subprocess.run(
                [sys.executable, "-B", os.path.join(HERE, "run_with_broker.py"), "--alpn", "--tls", tls,
                 "--timeout", "60", "--", sys.executable, "-B", "-c", program],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
            )
            out = r.stdout.decode() + r.stderr.decode()
            self.assertEqual(r.returncode, 0, out)
            self.assertIn("harness alpn ok", out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
