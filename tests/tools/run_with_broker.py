#!/usr/bin/env python3
"""Run a test program next to a private Mosquitto broker on loopback.

Usage:
    run_with_broker.py [--relay] [--fake] [--hostile] [--shadow] [--broker-conf-extra FILE]
                       [--tls DIR] [--alpn] [--timeout SECONDS] -- PROGRAM [ARGS...]

Starts mosquitto (a child process, never a daemon) on a free 127.0.0.1 port
and, optionally, a freezable TCP relay in front of it (--relay), a scripted
fake MQTT server (--fake) and a local AWS IoT Device Shadow service connected
to the broker (--shadow: tests/tools/shadow_service.py, run as a thread of the
harness; it is subscribed before PROGRAM starts, reconnects by itself when the
broker restarts and keeps its shadows meanwhile).

--tls DIR: the broker also gets TLS listeners, with the test PKI in DIR
(tests/tools/tls_certs.py DIR is run first: it generates what is missing).
Each requires a client certificate issued by DIR/ca.pem (client.pem,
client-ec.pem), allows TLS 1.2 and 1.3 unless said otherwise, and accepts
clients without a user name; they are all the same broker as the plain port
(sessions, subscriptions, messages, log), except the TLS 1.2-only one, which
is a second mosquitto bridged to the first for all topics (# and $aws/#,
both ways; its log is mosquitto-tls12.log). broker-stop/-kill/-start act on
all of them, and the ports stay the same. --alpn: the ALPN/SNI recorder, a TLS
server (DIR/server.pem; implies --tls, with a fresh PKI in the temporary
directory if --tls is not given) that records what each ClientHello offers
(SNI host name, ALPN protocols), completes the handshake (server ALPN
["x-amzn-mqtt-ca"], client certificate optional but checked against ca.pem)
and then answers MQTT minimally: CONNACK accepted, PINGRESP, SUBACK granting
QoS 0, PUBACK / PUBREC+PUBCOMP, UNSUBACK; it closes on DISCONNECT or EOF.

PROGRAM runs with these environment variables:

    AFR_TEST_BROKER_PORT   the broker's port
    AFR_TEST_RELAY_PORT    the relay's port (--relay)
    AFR_TEST_FAKE_PORT     the fake server's port (--fake)
    AFR_TEST_HOSTILE_PORT  the hostile server's port (--hostile: scenarios of a
                           broker that floods, bursts and sends malformed
                           packets or shadow responses; tests/tools/hostile_broker.py)
    AFR_TEST_SHADOW        "1" (--shadow)
    AFR_TEST_CTL_DIR       the control directory (see below)
    AFR_TEST_BROKER_LOG    the broker's log file
    AFR_TEST_TLS_DIR       DIR, absolute (--tls or --alpn)
    AFR_TEST_TLS_PORT      TLS listener with server.pem (--tls, as the next five)
    AFR_TEST_TLS_PORT_EC   ... with server-ec.pem (P-256 key)
    AFR_TEST_TLS_PORT_WRONGHOST  ... with server-wronghost.pem (only
                           DNS:wrong.example.com)
    AFR_TEST_TLS_PORT_EXPIRED    ... with server-expired.pem (2020 to 2021)
    AFR_TEST_TLS_PORT_UNKNOWNCA  ... with server-unknownca.pem (by other-ca)
    AFR_TEST_TLS_PORT_TLS12      ... with server.pem, TLS 1.2 only
    AFR_TEST_ALPN_PORT     the ALPN/SNI recorder's port (--alpn)
    AFR_SIM_SOCKETS_PORT_443     the same (--alpn): the simulator's Secure
                           Sockets then connect there when asked for port 443

Control channel (made for programs under the FreeRTOS POSIX simulator, which
may only make quick, non-blocking system calls): the program writes one command
line to AFR_TEST_CTL_DIR/req.<seq>.tmp and renames it to req.<seq>; the harness
polls the directory every ~10 ms, runs the command, deletes the request and
writes ack.<seq> atomically (via ack.<seq>.tmp). The ack's first line is "ok"
or "error: <reason>"; any further lines are the command's result.

Commands:
    broker-stop            SIGTERM mosquitto and wait for it to exit
    broker-kill            SIGKILL mosquitto and wait for it to exit
    broker-start           start mosquitto again on the same port, wait until it
                           accepts connections (and, with --shadow, until the
                           shadow service is subscribed again)
    broker-log-tail N      result: the last N lines of the mosquitto log
    relay-freeze           relayed connections stay open, nothing is forwarded
    relay-thaw             forward again (including what was held back)
    relay-reset            close all relayed connections (both sides) with RST
    relay-stats            result: "connections <accepted total> <open now>"
    publish QOS TOPIC SIZE an outside client (mosquitto_pub) publishes SIZE
                           bytes to TOPIC on the broker
    fake-script NAME [ARG] script of the fake server for every connection it
                           accepts from now on (the connection being served is
                           not affected); scripts: normal-connack (default),
                           no-connack, refuse-connack N, connack-then-garbage,
                           connack-then-bad-length, connack-then-close,
                           no-pingresp
    fake-last-connect      result: hex of the last CONNECT the fake server got
                           (empty line if none)
    fake-close             close the connection the fake server is serving (FIN)
    fake-stats             result: "connections <accepted total>"
    hostile NAME [ARGS]    scenario of the hostile server for the connections
                           it accepts from now on (see hostile_broker.py)
    hostile-stats          result: "connections C pubrecs R pubcomps P pubacks A floods F"
    shadow-reset           the shadow service forgets all shadows (and the
                           versions of deleted ones) and zeroes its counters
    shadow-get THING       result: THING's shadow as stored, compact JSON
                           {"state":{"desired":..,"reported":..},"metadata":..,
                           "version":N}, or "none"
    shadow-update THING JSON
                           the service handles the update request JSON (the
                           rest of the line) for THING as if another client had
                           published it, responses included; result:
                           "accepted <update/accepted JSON>" or
                           "rejected <update/rejected JSON>"
    shadow-delete THING    the same for a delete request; result: "accepted
                           <JSON>" or "rejected <JSON>"
    shadow-stats           result: "updates U gets G deletes D rejections R"
                           (requests handled, control commands included)
    alpn-last              result: "sni=<host name or -> alpn=<offered ALPN
                           protocols, comma-separated, or -> connections=<N>"
                           for the most recent ClientHello the recorder got;
                           N counts the connections it accepted ("sni=-
                           alpn=- connections=0" before any)
    ping                   does nothing (checks the channel)

Exit status: PROGRAM's (128+N if it died from signal N); 124 if it exceeded
--timeout; 125 if the harness itself failed. mosquitto, the relay, the fake
server, the shadow service, the recorder and the temporary directory are always
cleaned up (DIR of --tls is kept). Set
AFR_TEST_KEEP_TMP=1 to keep the temporary directory (and its broker log).
"""

import argparse
import ctypes
import errno
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

LOOPBACK = "127.0.0.1"
MOSQUITTO = "/usr/sbin/mosquitto"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.01


def log(msg):
    sys.stderr.write("[run_with_broker] %s\n" % msg)
    sys.stderr.flush()


# --------------------------------------------------------------------------
# Child processes die with the harness (even on SIGKILL of the harness).

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _prctl = _libc.prctl
except (OSError, AttributeError):  # pragma: no cover
    _prctl = None


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1. Children are only spawned from the main thread,
    # which lives as long as the harness.
    if _prctl is not None:
        _prctl(1, signal.SIGKILL, 0, 0, 0)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def listen_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((LOOPBACK, 0))
    s.listen(16)
    return s


def set_rst_on_close(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


def port_accepts(port, timeout=0.2):
    try:
        s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    except OSError:
        return False
    s.close()
    return True


def port_listening(port):
    """A socket listens on 127.0.0.1:port. From /proc/net/tcp, so that TLS
    listeners are not bothered with a connection that never says hello (each
    would log an error); with no /proc, a connection it is."""
    want = ":%04X" % port
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                # local_address "0100007F:PORT", state 0A = LISTEN
                if len(fields) > 3 and fields[3] == "0A" and fields[1].endswith(want):
                    if fields[1].startswith(("0100007F:", "00000000:")):
                        return True
        return False
    except (OSError, StopIteration):
        return port_accepts(port)


def file_tail(path, size=500):
    """The last `size` bytes of a file, as text ("" if unreadable)."""
    try:
        with open(path, "rb") as f:
            return f.read()[-size:].decode("utf-8", "replace").strip()
    except OSError:
        return ""


def stop_process(proc, sig, name="mosquitto"):
    """Sends `sig` to a child and waits for it; SIGKILL if it ignores it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log("%s ignored signal %d; killing it" % (name, sig))
        proc.kill()
        proc.wait()


def stop_server_thread(listener, conns, thread):
    """Stops a server thread: shuts its listener and connections down, joins it."""
    for sock in [listener] + list(conns):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    thread.join(5.0)
    listener.close()


def accept_unless_stopping(server):
    """The next connection of a server thread (with .listener, .lock, .stopping
    and .accepted), counted; None once the server stops."""
    try:
        conn, _ = server.listener.accept()
    except OSError:
        return None
    with server.lock:
        if server.stopping:
            conn.close()
            return None
        server.accepted += 1
    return conn


class CommandError(Exception):
    pass


# --------------------------------------------------------------------------
# Broker


# TLS listeners of the broker (--tls): (environment variable, server
# certificate stem in the --tls directory). Every one requires a client
# certificate issued by ca.pem and allows TLS 1.2 and 1.3.
TLS_LISTENERS = [
    ("AFR_TEST_TLS_PORT", "server"),
    ("AFR_TEST_TLS_PORT_EC", "server-ec"),
    ("AFR_TEST_TLS_PORT_WRONGHOST", "server-wronghost"),
    ("AFR_TEST_TLS_PORT_EXPIRED", "server-expired"),
    ("AFR_TEST_TLS_PORT_UNKNOWNCA", "server-unknownca"),
]
# The TLS 1.2-only listener (server.pem) lives in a second mosquitto: see
# Tls12Broker.
TLS12_ENV = "AFR_TEST_TLS_PORT_TLS12"
TLS12_BRIDGE_ID = "afr-tls12-bridge"


def tls_listener_conf(port, tls_dir, stem, min_version="tlsv1.2"):
    # mosquitto 2.0's tls_version is the *minimum* version (tlsv1.2: 1.2 and
    # 1.3 are allowed).
    return [
        "listener %d %s" % (port, LOOPBACK),
        "cafile %s" % os.path.join(tls_dir, "ca.pem"),
        "certfile %s" % os.path.join(tls_dir, stem + ".pem"),
        "keyfile %s" % os.path.join(tls_dir, stem + ".key"),
        "require_certificate true",
        "tls_version %s" % min_version,
    ]


class Broker:
    def __init__(self, tmpdir, extra_conf_file=None, tls_dir=None):
        self.tmpdir = tmpdir
        self.log_path = os.path.join(tmpdir, "mosquitto.log")
        self.conf_path = os.path.join(tmpdir, "mosquitto.conf")
        self.extra_conf_file = extra_conf_file
        self.port = None
        self.proc = None
        self.stderr_path = os.path.join(tmpdir, "mosquitto.stderr")
        self.tls_dir = tls_dir
        self.tls_ports = {}  # environment variable -> port (--tls)
        self.tls12 = Tls12Broker(tmpdir, tls_dir, self) if tls_dir else None

    def env(self):
        """Environment variables for PROGRAM: the TLS ports (with --tls)."""
        env = {}
        if self.tls_dir:
            env.update((k, str(v)) for k, v in self.tls_ports.items())
            env[TLS12_ENV] = str(self.tls12.port)
            env["AFR_TEST_TLS_DIR"] = self.tls_dir
        return env

    def _write_conf(self):
        lines = [
            "# generated by run_with_broker.py",
            "listener %d %s" % (self.port, LOOPBACK),
            "allow_anonymous true",
            "persistence false",
            "max_queued_messages 10000",
            "log_dest file %s" % self.log_path,
            "log_type all",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Otherwise mosquitto drops to user "mosquitto", which cannot write
            # the log into our private temporary directory.
            lines.append("user root")
        if self.extra_conf_file:
            with open(self.extra_conf_file) as f:
                lines.append("# from %s" % self.extra_conf_file)
                lines.append(f.read())
        # Last, so that listener options of the extra file still belong to the
        # plain listener.
        for var, stem in TLS_LISTENERS if self.tls_dir else []:
            lines.append("# %s" % var)
            lines += tls_listener_conf(self.tls_ports[var], self.tls_dir, stem)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def first_start(self):
        """Choose a port and start; retry on another port if it was taken."""
        last = None
        for _ in range(5):
            self.port = free_port()
            if self.tls_dir:
                self.tls_ports = {var: free_port() for var, _ in TLS_LISTENERS}
                self.tls12.port = free_port()
                self.tls12.write_conf()
            self._write_conf()
            try:
                self.start()
                return
            except CommandError as e:
                last = e
                log("broker did not start on port %d (%s); trying other ports" % (self.port, e))
        raise CommandError("mosquitto failed to start: %s" % last)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        if self.running():
            raise CommandError("broker already running")
        self._start_main()
        if self.tls12 is not None:
            try:
                self.tls12.start()
            except CommandError:
                self._signal_and_wait(signal.SIGKILL)
                raise

    def _start_main(self):
        self.proc = None
        errf = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", self.conf_path],
                stdin=subprocess.DEVNULL,
                stdout=errf,
                stderr=errf,
                preexec_fn=_die_with_parent,
                close_fds=True,
            )
        finally:
            errf.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CommandError(
                    "mosquitto exited with status %s: %s"
                    % (self.proc.returncode, self._stderr_tail())
                )
            if port_accepts(self.port) and all(port_listening(p) for p in self.tls_ports.values()):
                return
            time.sleep(0.02)
        self._signal_and_wait(signal.SIGKILL)
        raise CommandError("mosquitto did not accept connections within %.0f s" % READY_TIMEOUT)

    def _stderr_tail(self):
        return file_tail(self.stderr_path)

    def _signal_and_wait(self, sig):
        stop_process(self.proc, sig)
        self.proc = None

    def stop(self):
        if not self.running():
            raise CommandError("broker not running")
        if self.tls12 is not None:
            self.tls12.signal_and_wait(signal.SIGTERM)
        self._signal_and_wait(signal.SIGTERM)

    def kill(self):
        if not self.running():
            raise CommandError("broker not running")
        if self.tls12 is not None:
            self.tls12.signal_and_wait(signal.SIGKILL)
        self._signal_and_wait(signal.SIGKILL)

    def shutdown(self):
        if self.tls12 is not None:
            self.tls12.signal_and_wait(signal.SIGTERM)
        if self.proc is not None:
            self._signal_and_wait(signal.SIGTERM)

    def check_alive(self):
        """Logs (once) a mosquitto that exited without being told to."""
        if self.proc is not None and self.proc.poll() is not None:
            log(
                "mosquitto exited unexpectedly (status %s): %s"
                % (self.proc.returncode, self._stderr_tail())
            )
            self.proc = None
        if self.tls12 is not None:
            self.tls12.check_alive()

    def log_tail(self, n):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace")
        except OSError as e:
            raise CommandError("cannot read broker log: %s" % e)
        lines = data.splitlines()
        return lines[-n:] if n > 0 else []


class Tls12Broker:
    """The TLS 1.2-only listener (AFR_TEST_TLS_PORT_TLS12, server.pem).

    mosquitto 2.0.11 cannot make one listener TLS 1.2-only: its tls_version
    is a minimum, and ciphers_tls1.3 refuses an empty list (any non-empty one
    still makes OpenSSL choose TLS 1.3 for a client that offers it, and then
    fail on the cipher suites instead of falling back to 1.2). So a second
    mosquitto serves it, with an OpenSSL configuration (OPENSSL_CONF,
    MaxProtocol = TLSv1.2) that holds for that process only. It bridges every
    topic (# and $aws/#, both ways) to the main broker, so the two act as one
    broker for messages (sessions and retained messages are its own). It is
    started and stopped together with the main broker; its log is
    mosquitto-tls12.log in the temporary directory.
    """

    def __init__(self, tmpdir, tls_dir, main):
        self.tmpdir = tmpdir
        self.tls_dir = tls_dir
        self.main = main
        self.port = None
        self.proc = None
        self.conf_path = os.path.join(tmpdir, "mosquitto-tls12.conf")
        self.openssl_conf_path = os.path.join(tmpdir, "openssl-tls12.cnf")
        self.log_path = os.path.join(tmpdir, "mosquitto-tls12.log")
        self.stderr_path = os.path.join(tmpdir, "mosquitto-tls12.stderr")

    def write_conf(self):
        lines = [
            "# generated by run_with_broker.py: the TLS 1.2-only listener",
            "allow_anonymous true",
            "persistence false",
            "log_dest file %s" % self.log_path,
            "log_type all",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            lines.append("user root")
        lines += tls_listener_conf(self.port, self.tls_dir, "server")
        lines += [
            "connection afr-tls12",
            "address %s:%d" % (LOOPBACK, self.main.port),
            "remote_clientid %s" % TLS12_BRIDGE_ID,
            "bridge_protocol_version mqttv311",
            "try_private true",
            "cleansession true",
            "notifications false",
            "start_type automatic",
            "restart_timeout 1",
            "topic # both 2",
            "topic $aws/# both 2",
        ]
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(self.openssl_conf_path, "w") as f:
            f.write(
                "openssl_conf = openssl_init\n"
                "[openssl_init]\n"
                "ssl_conf = ssl_sect\n"
                "[ssl_sect]\n"
                "system_default = system_default_sect\n"
                "[system_default_sect]\n"
                "MinProtocol = TLSv1.2\n"
                "MaxProtocol = TLSv1.2\n"
            )

    def _bridge_connections(self):
        """How often the main broker's log says the bridge connected."""
        try:
            with open(self.main.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return 0
        return data.count(b" as " + TLS12_BRIDGE_ID.encode() + b" ")

    def start(self):
        before = self._bridge_connections()
        env = dict(os.environ)
        env["OPENSSL_CONF"] = self.openssl_conf_path
        errf = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", self.conf_path],
                stdin=subprocess.DEVNULL,
                stdout=errf,
                stderr=errf,
                env=env,
                preexec_fn=_die_with_parent,
                close_fds=True,
            )
        finally:
            errf.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise CommandError("mosquitto (TLS 1.2) exited with status %s: %s" % (rc, self._stderr_tail()))
            if port_listening(self.port) and self._bridge_connections() > before:
                return
            time.sleep(0.02)
        self.signal_and_wait(signal.SIGKILL)
        raise CommandError("mosquitto (TLS 1.2) did not accept connections and bridge within %.0f s" % READY_TIMEOUT)

    def _stderr_tail(self):
        return file_tail(self.stderr_path)

    def signal_and_wait(self, sig):
        stop_process(self.proc, sig, "mosquitto (TLS 1.2)")
        self.proc = None

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            log(
                "mosquitto (TLS 1.2) exited unexpectedly (status %s): %s"
                % (self.proc.returncode, self._stderr_tail())
            )
            self.proc = None


# --------------------------------------------------------------------------
# Relay: a freezable, resettable TCP forwarder in front of the broker.


class _Conn:
    """One relayed connection: client socket <-> upstream (broker) socket."""

    def __init__(self, client, upstream):
        self.socks = (client, upstream)
        # pending[i]: bytes read from socks[i] not yet written to socks[1 - i]
        self.pending = [bytearray(), bytearray()]
        self.eof = [False, False]  # socks[i] sent FIN
        self.shut = [False, False]  # shutdown(SHUT_WR) done on socks[i]


class Relay:
    MAX_PENDING = 256 * 1024

    def __init__(self, target_port_fn):
        self.target_port_fn = target_port_fn
        self.listener = listen_socket()
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.frozen = False
        self.reset_requested = None  # threading.Event while a reset is pending
        self.stopping = False
        self.conns = []
        self.accepted = 0
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.thread = threading.Thread(target=self._run, name="relay", daemon=True)
        self.thread.start()

    def _wake(self):
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass

    # Commands (from the main thread).
    def freeze(self):
        with self.lock:
            self.frozen = True
        self._wake()

    def thaw(self):
        with self.lock:
            self.frozen = False
        self._wake()

    def reset(self):
        done = threading.Event()
        with self.lock:
            self.reset_requested = done
        self._wake()
        if not done.wait(5.0):
            raise CommandError("relay thread did not process the reset")

    def stats(self):
        with self.lock:
            return "connections %d %d" % (self.accepted, len(self.conns))

    def shutdown(self):
        with self.lock:
            self.stopping = True
        self._wake()
        self.thread.join(5.0)

    # Relay thread.
    def _close_conn(self, c, rst):
        for s in c.socks:
            if rst:
                set_rst_on_close(s)
            try:
                s.close()
            except OSError:
                pass
        if c in self.conns:
            self.conns.remove(c)

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log("relay accept failed: %s" % e)
                return
            try:
                upstream = socket.create_connection((LOOPBACK, self.target_port_fn()), timeout=2.0)
            except OSError:
                # Broker down: the client sees a reset, as if nothing listened.
                set_rst_on_close(client)
                client.close()
                continue
            for s in (client, upstream):
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns.append(_Conn(client, upstream))
                self.accepted += 1

    def _service(self, c, events_by_sock):
        """Move data for one connection; returns False if it was closed."""
        for i in (0, 1):
            src, dst = c.socks[i], c.socks[1 - i]
            ev = events_by_sock.get(src, 0)
            if ev & selectors.EVENT_READ and not c.eof[i]:
                try:
                    data = src.recv(65536)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError:
                    # Reset by one side: pass the reset on to the other.
                    self._close_conn(c, rst=True)
                    return False
                if data is not None:
                    if data:
                        c.pending[i] += data
                    else:
                        c.eof[i] = True
        for i in (0, 1):
            dst = c.socks[1 - i]
            if c.pending[i]:
                try:
                    n = dst.send(c.pending[i])
                    del c.pending[i][:n]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._close_conn(c, rst=True)
                    return False
            if c.eof[i] and not c.pending[i] and not c.shut[1 - i]:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                c.shut[1 - i] = True
        if c.shut[0] and c.shut[1]:
            self._close_conn(c, rst=False)
            return False
        return True

    def _run(self):
        try:
            self._loop()
        except Exception:  # pragma: no cover - reported, the test then fails
            log("relay thread crashed:\n" + traceback.format_exc())
        finally:
            for c in list(self.conns):
                self._close_conn(c, rst=True)
            self.listener.close()

    def _loop(self):
        while True:
            with self.lock:
                stopping = self.stopping
                frozen = self.frozen
                reset = self.reset_requested
                self.reset_requested = None
            if stopping:
                return
            if reset is not None:
                for c in list(self.conns):
                    self._close_conn(c, rst=True)
                reset.set()

            sel = selectors.DefaultSelector()
            try:
                sel.register(self.wake_r, selectors.EVENT_READ)
                sel.register(self.listener, selectors.EVENT_READ)
                if not frozen:
                    for c in self.conns:
                        for i in (0, 1):
                            s = c.socks[i]
                            ev = 0
                            if not c.eof[i] and len(c.pending[i]) < self.MAX_PENDING:
                                ev |= selectors.EVENT_READ
                            if c.pending[1 - i]:
                                ev |= selectors.EVENT_WRITE
                            if ev:
                                sel.register(s, ev)
                ready = sel.select(timeout=0.5)
            finally:
                sel.close()

            events = {}
            for key, ev in ready:
                events[key.fileobj] = events.get(key.fileobj, 0) | ev
            if self.wake_r in events:
                try:
                    while self.wake_r.recv(4096):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
            if self.listener in events:
                self._accept()
            with self.lock:
                # A freeze that arrived while we were selecting wins.
                frozen = self.frozen
            if not frozen:
                for c in list(self.conns):
                    self._service(c, events)


# --------------------------------------------------------------------------
# Fake MQTT server


FAKE_SCRIPTS = {
    "normal-connack": 0,
    "no-connack": 0,
    "refuse-connack": 1,
    "connack-then-garbage": 0,
    "connack-then-bad-length": 0,
    "connack-then-close": 0,
    "no-pingresp": 0,
}


class _Closed(Exception):
    pass


class FakeServer:
    def __init__(self):
        self.listener = listen_socket()
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.script = ("normal-connack", None)
        self.last_connect = None
        self.accepted = 0
        self.current = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="fake", daemon=True)
        self.thread.start()

    # Commands (main thread).
    def set_script(self, args):
        if not args or args[0] not in FAKE_SCRIPTS:
            raise CommandError(
                "unknown fake script %r (known: %s)" % (" ".join(args), ", ".join(sorted(FAKE_SCRIPTS)))
            )
        name = args[0]
        nargs = FAKE_SCRIPTS[name]
        if len(args) - 1 != nargs:
            raise CommandError("fake script %s takes %d argument(s)" % (name, nargs))
        arg = None
        if nargs:
            try:
                arg = int(args[1], 0)
            except ValueError:
                raise CommandError("bad argument %r" % args[1])
            if not 0 <= arg <= 255:
                raise CommandError("argument out of range: %d" % arg)
        with self.lock:
            self.script = (name, arg)

    def last_connect_hex(self):
        with self.lock:
            return self.last_connect.hex() if self.last_connect is not None else ""

    def stats(self):
        with self.lock:
            return "connections %d" % self.accepted

    def close_current(self):
        with self.lock:
            s = self.current
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def shutdown(self):
        with self.lock:
            self.stopping = True
            s = self.current
        stop_server_thread(self.listener, [s] if s is not None else [], self.thread)

    # Server thread.
    def _run(self):
        while True:
            conn = accept_unless_stopping(self)
            if conn is None:
                return
            with self.lock:
                self.current = conn
                script = self.script
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._serve(conn, script)
            except (_Closed, OSError):
                pass
            except Exception:  # pragma: no cover
                log("fake server crashed on a connection:\n" + traceback.format_exc())
            finally:
                with self.lock:
                    self.current = None
                try:
                    conn.close()
                except OSError:
                    pass

    def _read_packet(self, conn):
        """One MQTT packet: (first byte, raw bytes, body) or raises _Closed."""
        return read_mqtt_packet(conn)

    @staticmethod
    def _drain(conn):
        """Read and discard until the client closes."""
        while conn.recv(4096):
            pass

    def _serve(self, conn, script):
        name, arg = script
        first, raw, _ = self._read_packet(conn)
        with self.lock:
            self.last_connect = raw
        if first != 0x10:
            log("fake server: first packet is not a CONNECT (0x%02x); closing" % first)
            return
        if name == "no-connack":
            self._drain(conn)
            return
        if name == "refuse-connack":
            conn.sendall(bytes([0x20, 0x02, 0x00, arg]))
            self._drain(conn)
            return
        conn.sendall(b"\x20\x02\x00\x00")
        if name == "connack-then-garbage":
            time.sleep(0.2)
            conn.sendall(b"\xf0\x00")
            self._drain(conn)
            return
        if name == "connack-then-bad-length":
            conn.sendall(b"\x30\xff\xff\xff\xff\x01")
            self._drain(conn)
            return
        if name == "connack-then-close":
            time.sleep(0.2)
            return
        self._session(conn, answer_ping=(name != "no-pingresp"))

    def _session(self, conn, answer_ping):
        serve_mqtt(conn, answer_ping=answer_ping)

# --------------------------------------------------------------------------
# ALPN/SNI recorder (--alpn): a TLS server that notes what each ClientHello
# offers, then plays a minimal MQTT broker.


MAX_CLIENT_HELLO = 64 * 1024


def client_hello_length(data):
    """Bytes of `data` (the start of a TLS stream) that hold the whole first
    handshake message, the ClientHello, with its record headers; None while
    more are needed. Raises ValueError if it is not a TLS handshake."""
    handshake = bytearray()
    pos = 0
    while pos + 5 <= len(data):
        ctype, major = data[pos], data[pos + 1]
        if ctype != 22 or major != 3:
            raise ValueError("not a TLS handshake record (type %d, version %d.x)" % (ctype, major))
        rlen = (data[pos + 3] << 8) | data[pos + 4]
        if rlen == 0:
            raise ValueError("empty handshake record")
        if pos + 5 + rlen > len(data):
            return None
        handshake += data[pos + 5 : pos + 5 + rlen]
        pos += 5 + rlen
        if len(handshake) >= 4:
            mlen = (handshake[1] << 16) | (handshake[2] << 8) | handshake[3]
            if len(handshake) >= 4 + mlen:
                return pos
            if 4 + mlen > MAX_CLIENT_HELLO:
                raise ValueError("ClientHello too long (%d bytes)" % mlen)
    return None


def parse_client_hello(data):
    """(SNI host name or None, [ALPN protocols] or None) of the ClientHello
    at the start of `data` (TLS records, as client_hello_length() accepts).
    Raises ValueError when it is malformed."""
    handshake = bytearray()
    pos = 0
    while pos + 5 <= len(data):
        rlen = (data[pos + 3] << 8) | data[pos + 4]
        handshake += data[pos + 5 : pos + 5 + rlen]
        pos += 5 + rlen
    if len(handshake) < 4 or handshake[0] != 1:
        raise ValueError("not a ClientHello")
    mlen = (handshake[1] << 16) | (handshake[2] << 8) | handshake[3]
    body = bytes(handshake[4 : 4 + mlen])
    if len(body) != mlen:
        raise ValueError("truncated ClientHello")

    def take(buf, i, n):
        if i + n > len(buf):
            raise ValueError("truncated ClientHello")
        return buf[i : i + n], i + n

    def vector(buf, i, width):
        raw, i = take(buf, i, width)
        return take(buf, i, int.from_bytes(raw, "big"))

    i = 2 + 32  # legacy_version, random
    _, i = vector(body, i, 1)  # legacy_session_id
    _, i = vector(body, i, 2)  # cipher_suites
    _, i = vector(body, i, 1)  # legacy_compression_methods
    sni = alpn = None
    if i == len(body):
        return sni, alpn  # no extensions at all
    exts, i = vector(body, i, 2)
    j = 0
    while j < len(exts):
        etype, j = take(exts, j, 2)
        edata, j = vector(exts, j, 2)
        etype = int.from_bytes(etype, "big")
        if etype == 0 and sni is None:  # server_name
            names, _ = vector(edata, 0, 2)
            k = 0
            while k < len(names):
                ntype, k = take(names, k, 1)
                name, k = vector(names, k, 2)
                if ntype[0] == 0:  # host_name
                    sni = name.decode("ascii", "replace")
                    break
        elif etype == 16 and alpn is None:  # application_layer_protocol_negotiation
            protos, _ = vector(edata, 0, 2)
            alpn = []
            k = 0
            while k < len(protos):
                proto, k = vector(protos, k, 1)
                alpn.append(proto.decode("ascii", "replace"))
    return sni, alpn


def peek_client_hello(conn, timeout=10.0):
    """The raw records of the ClientHello, read with MSG_PEEK (left in the
    socket for the TLS handshake)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        data = conn.recv(MAX_CLIENT_HELLO + 1024, socket.MSG_PEEK)
        if not data:
            raise _Closed()
        n = client_hello_length(data)
        if n is not None:
            return data[:n]
        if len(data) > MAX_CLIENT_HELLO:
            raise ValueError("ClientHello too long")
        if time.monotonic() > deadline:
            raise ValueError("incomplete ClientHello after %.0f s (%d bytes)" % (timeout, len(data)))
        if len(data) == seen:
            time.sleep(0.005)  # the rest is on its way
        seen = len(data)


def read_mqtt_packet(conn):
    """One MQTT packet: (first byte, raw bytes, body) or raises _Closed."""

    def exact(n):
        buf = bytearray()
        while len(buf) < n:
            data = conn.recv(n - len(buf))
            if not data:
                raise _Closed()
            buf += data
        return bytes(buf)

    head = exact(1)
    raw = bytearray(head)
    length = 0
    for i in range(4):
        b = exact(1)[0]
        raw.append(b)
        length |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            break
    else:
        raise _Closed()  # malformed remaining length
    body = exact(length)
    raw += body
    return head[0], bytes(raw), body


def serve_mqtt(conn, answer_ping=True, answer_connect=False, grant_qos=None):
    """A minimal MQTT broker on `conn` until DISCONNECT or EOF (_Closed):
    CONNACK accepted (with answer_connect), PINGRESP (with answer_ping), SUBACK
    granting each filter its requested QoS (or grant_qos), UNSUBACK, PUBACK /
    PUBREC for QoS 1 / 2 publishes, PUBCOMP for PUBREL."""
    while True:
        first, _, body = read_mqtt_packet(conn)
        ptype = first >> 4
        if ptype == 1 and answer_connect:  # CONNECT
            conn.sendall(b"\x20\x02\x00\x00")
        elif ptype == 12:  # PINGREQ
            if answer_ping:
                conn.sendall(b"\xd0\x00")
        elif ptype == 8 and len(body) >= 2:  # SUBSCRIBE
            granted = bytearray()
            i = 2
            while i + 2 <= len(body):
                i += 2 + ((body[i] << 8) | body[i + 1])
                if i >= len(body):
                    break
                granted.append(body[i] & 0x03 if grant_qos is None else grant_qos)
                i += 1
            payload = body[0:2] + bytes(granted)
            conn.sendall(bytes([0x90, len(payload)]) + payload)
        elif ptype == 10 and len(body) >= 2:  # UNSUBSCRIBE
            conn.sendall(b"\xb0\x02" + body[0:2])
        elif ptype == 3:  # PUBLISH
            qos = (first >> 1) & 0x03
            if qos and len(body) >= 2:
                tlen = (body[0] << 8) | body[1]
                pid = body[2 + tlen : 4 + tlen]
                if len(pid) == 2:
                    conn.sendall((b"\x40\x02" if qos == 1 else b"\x50\x02") + pid)
        elif ptype == 6 and len(body) >= 2:  # PUBREL
            conn.sendall(b"\x70\x02" + body[0:2])
        elif ptype == 14:  # DISCONNECT
            return


ALPN_SERVER_PROTOCOLS = ["x-amzn-mqtt-ca"]


class AlpnRecorder:
    """TLS server (server.pem of the --tls directory) on a free port. For each
    connection: records the SNI host name and the ALPN protocols that the
    ClientHello offers (peeked before the handshake), completes the handshake
    (ALPN ["x-amzn-mqtt-ca"], client certificate optional but verified
    against ca.pem when sent), then answers MQTT minimally: CONNACK accepted,
    PINGRESP, SUBACK granting QoS 0, PUBACK (QoS 1), PUBREC/PUBCOMP (QoS 2),
    UNSUBACK; closes on DISCONNECT or EOF. One thread per connection."""

    def __init__(self, tls_dir):
        import ssl

        self.ssl = ssl
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(tls_dir, "server.pem"), os.path.join(tls_dir, "server.key"))
        self.ctx.load_verify_locations(os.path.join(tls_dir, "ca.pem"))
        self.ctx.verify_mode = ssl.CERT_OPTIONAL
        self.ctx.set_alpn_protocols(ALPN_SERVER_PROTOCOLS)
        self.listener = listen_socket()
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.accepted = 0
        self.last = None  # (sni, [alpn]) of the last ClientHello
        self.conns = set()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="alpn", daemon=True)
        self.thread.start()

    def last_line(self):
        with self.lock:
            sni, alpn = self.last if self.last is not None else (None, None)
            return "sni=%s alpn=%s connections=%d" % (
                sni if sni else "-",
                ",".join(alpn) if alpn else "-",
                self.accepted,
            )

    def shutdown(self):
        with self.lock:
            self.stopping = True
            conns = list(self.conns)
        stop_server_thread(self.listener, conns, self.thread)

    def _run(self):
        while True:
            conn = accept_unless_stopping(self)
            if conn is None:
                return
            with self.lock:
                self.conns.add(conn)
            threading.Thread(target=self._connection, args=(conn,), name="alpn-conn", daemon=True).start()

    def _connection(self, conn):
        tls = None
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(10.0)
            try:
                sni, alpn = parse_client_hello(peek_client_hello(conn))
            except ValueError as e:
                log("alpn recorder: unusable ClientHello: %s" % e)
                return
            with self.lock:
                self.last = (sni, alpn)
            try:
                tls = self.ctx.wrap_socket(conn, server_side=True)
            except (self.ssl.SSLError, OSError) as e:
                log("alpn recorder: TLS handshake failed: %s" % e)
                return
            tls.settimeout(None)
            self._mqtt(tls)
        except (_Closed, OSError):
            pass
        except Exception:  # pragma: no cover
            log("alpn recorder crashed on a connection:\n" + traceback.format_exc())
        finally:
            with self.lock:
                self.conns.discard(conn)
            for s in (tls, conn):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    @staticmethod
    def _mqtt(conn):
        serve_mqtt(conn, answer_connect=True, grant_qos=0)

# --------------------------------------------------------------------------
# Shadow service (tests/tools/shadow_service.py, next to this file)


def shadow_service_module():
    if "shadow_service" not in sys.modules:
        here = os.path.dirname(os.path.abspath(__file__))
        if here not in sys.path:
            sys.path.insert(0, here)
        sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    import shadow_service

    return shadow_service


def make_tls_certs(tls_dir):
    """tls_certs.py DIR (next to this file): generates what is missing."""
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run(
        [sys.executable, "-B", os.path.join(here, "tls_certs.py"), tls_dir],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    if r.returncode != 0:
        raise CommandError("tls_certs.py %s failed: %s" % (tls_dir, r.stdout.decode("utf-8", "replace").strip()))


def start_shadow_service(broker):
    mod = shadow_service_module()
    service = mod.ShadowService(lambda: broker.port).start()
    if not service.wait_ready(READY_TIMEOUT):
        service.shutdown()
        raise CommandError("the shadow service did not subscribe within %.0f s" % READY_TIMEOUT)
    return service


# --------------------------------------------------------------------------
# Control channel


class Control:
    def __init__(self, ctl_dir, broker, relay, fake, shadow=None, alpn=None, hostile=None):
        self.dir = ctl_dir
        self.hostile = hostile
        self.broker = broker
        self.relay = relay
        self.fake = fake
        self.shadow = shadow
        self.alpn = alpn

    def poll(self):
        try:
            names = os.listdir(self.dir)
        except OSError:
            return
        reqs = []
        for n in names:
            if n.startswith("req.") and not n.endswith(".tmp"):
                try:
                    reqs.append((int(n[4:]), n))
                except ValueError:
                    pass
        for seq, n in sorted(reqs):
            path = os.path.join(self.dir, n)
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            line = text.strip().splitlines()[0].strip() if text.strip() else ""
            try:
                result = self.execute(line)
                reply = ["ok"] + list(result)
            except CommandError as e:
                reply = ["error: %s" % e]
            except Exception as e:  # harness bug: report it to the program
                log("command %r crashed:\n%s" % (line, traceback.format_exc()))
                reply = ["error: harness exception: %s" % e]
            log("ctl %d: %s -> %s" % (seq, line, reply[0]))
            tmp = os.path.join(self.dir, "ack.%d.tmp" % seq)
            with open(tmp, "w") as f:
                f.write("\n".join(reply) + "\n")
            os.rename(tmp, os.path.join(self.dir, "ack.%d" % seq))
            try:
                os.unlink(path)
            except OSError:
                pass

    def _need(self, what, obj):
        if obj is None:
            raise CommandError("no %s (run the harness with --%s)" % (what, what))
        return obj

    def execute(self, line):
        words = line.split()
        if not words:
            raise CommandError("empty command")
        cmd, args = words[0], words[1:]

        def noargs():
            if args:
                raise CommandError("%s takes no arguments" % cmd)

        if cmd == "ping":
            noargs()
            return []
        if cmd == "broker-stop":
            noargs()
            self.broker.stop()
            return []
        if cmd == "broker-kill":
            noargs()
            self.broker.kill()
            return []
        if cmd == "broker-start":
            noargs()
            connections = self.shadow.connections if self.shadow is not None else 0
            self.broker.start()
            if self.shadow is not None and not self.shadow.wait_reconnected(connections, READY_TIMEOUT):
                raise CommandError("the shadow service did not reconnect within %.0f s" % READY_TIMEOUT)
            return []
        if cmd == "broker-log-tail":
            if len(args) != 1 or not args[0].isdigit():
                raise CommandError("usage: broker-log-tail N")
            return self.broker.log_tail(int(args[0]))
        if cmd in ("relay-freeze", "relay-thaw", "relay-reset", "relay-stats"):
            noargs()
            relay = self._need("relay", self.relay)
            if cmd == "relay-freeze":
                relay.freeze()
            elif cmd == "relay-thaw":
                relay.thaw()
            elif cmd == "relay-reset":
                relay.reset()
            else:
                return [relay.stats()]
            return []
        if cmd == "publish":
            # publish QOS TOPIC SIZE: an outside client (mosquitto_pub) publishes
            # SIZE bytes of 'x' to TOPIC, as another device would.
            if len(args) != 3 or args[0] not in ("0", "1", "2") or not args[2].isdigit():
                raise CommandError("usage: publish QOS TOPIC SIZE")
            subprocess.run(
                ["mosquitto_pub", "-h", LOOPBACK, "-p", str(self.broker.port), "-q", args[0],
                 "-t", args[1], "-s"],
                input=b"x" * int(args[2]), check=True, timeout=20,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return []
        if cmd == "fake-script":
            self._need("fake", self.fake).set_script(args)
            return []
        if cmd == "fake-last-connect":
            noargs()
            return [self._need("fake", self.fake).last_connect_hex()]
        if cmd == "fake-close":
            noargs()
            self._need("fake", self.fake).close_current()
            return []
        if cmd == "fake-stats":
            noargs()
            return [self._need("fake", self.fake).stats()]
        if cmd == "hostile":
            self._need("hostile", self.hostile).set_scenario(args)
            return []
        if cmd == "hostile-stats":
            noargs()
            return [self._need("hostile", self.hostile).stats()]
        if cmd == "alpn-last":
            noargs()
            return [self._need("alpn", self.alpn).last_line()]
        if cmd.startswith("shadow-"):
            shadow = self._need("shadow", self.shadow)
            try:
                return shadow.control(line)
            except shadow_service_module().ControlError as e:
                raise CommandError(str(e))
        raise CommandError("unknown command %r" % cmd)


# --------------------------------------------------------------------------


class _Terminated(Exception):
    def __init__(self, signum):
        self.signum = signum


def parse_args(argv):
    if "--" not in argv:
        sys.stderr.write(__doc__)
        sys.exit(125)
    i = argv.index("--")
    opts, program = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(prog="run_with_broker.py")
    p.add_argument("--relay", action="store_true", help="start the freezable relay")
    p.add_argument("--fake", action="store_true", help="start the scripted fake MQTT server")
    p.add_argument("--hostile", action="store_true", help="start the hostile MQTT server (hostile_broker.py)")
    p.add_argument("--shadow", action="store_true", help="start the Device Shadow service on the broker")
    p.add_argument("--broker-conf-extra", metavar="FILE", help="append FILE to the mosquitto config")
    p.add_argument("--tls", metavar="DIR", help="TLS listeners, with the test PKI of tls_certs.py DIR")
    p.add_argument("--alpn", action="store_true", help="start the ALPN/SNI recorder (implies --tls)")
    p.add_argument("--timeout", type=float, default=300.0, help="overall limit in seconds (default 300)")
    ns = p.parse_args(opts)
    if not program:
        p.error("no PROGRAM after --")
    return ns, program


TMP_PREFIX = "afr-broker-"


def remove_stale_tmpdirs():
    """Temporary directories of harnesses that were SIGKILLed (their children
    died with them: PR_SET_PDEATHSIG) and so could not clean up."""
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for n in names:
        if not n.startswith(TMP_PREFIX):
            continue
        d = os.path.join(base, n)
        try:
            with open(os.path.join(d, "harness.pid")) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError):
            pass


def main(argv):
    ns, program = parse_args(argv)
    remove_stale_tmpdirs()

    def on_signal(signum, _frame):
        raise _Terminated(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    tmpdir = tempfile.mkdtemp(prefix=TMP_PREFIX)
    broker = relay = fake = shadow = alpn = hostile = proc = None
    status = 125
    try:
        with open(os.path.join(tmpdir, "harness.pid"), "w") as f:
            f.write("%d\n" % os.getpid())
        ctl_dir = os.path.join(tmpdir, "ctl")
        os.mkdir(ctl_dir)
        tls_dir = None
        if ns.tls or ns.alpn:
            tls_dir = os.path.abspath(ns.tls) if ns.tls else os.path.join(tmpdir, "tls")
            make_tls_certs(tls_dir)
        broker = Broker(tmpdir, ns.broker_conf_extra, tls_dir)
        broker.first_start()
        env = dict(os.environ)
        env["AFR_TEST_BROKER_PORT"] = str(broker.port)
        env["AFR_TEST_CTL_DIR"] = ctl_dir
        env["AFR_TEST_BROKER_LOG"] = broker.log_path
        env.update(broker.env())
        if ns.alpn:
            alpn = AlpnRecorder(tls_dir)
            env["AFR_TEST_ALPN_PORT"] = str(alpn.port)
            env["AFR_SIM_SOCKETS_PORT_443"] = str(alpn.port)
        if ns.relay:
            relay = Relay(lambda: broker.port)
            env["AFR_TEST_RELAY_PORT"] = str(relay.port)
        if ns.fake:
            fake = FakeServer()
            env["AFR_TEST_FAKE_PORT"] = str(fake.port)
        if ns.hostile:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import hostile_broker

            hostile = hostile_broker.HostileServer(sys.modules[__name__])
            env["AFR_TEST_HOSTILE_PORT"] = str(hostile.port)
        if ns.shadow:
            shadow = start_shadow_service(broker)
            env["AFR_TEST_SHADOW"] = "1"
        log(
            "broker :%d%s%s%s%s%s%s ctl %s"
            % (
                broker.port,
                " tls %s" % " ".join(":%s" % v for k, v in sorted(broker.env().items()) if k.startswith("AFR_TEST_TLS_PORT"))
                if tls_dir
                else "",
                " alpn :%d" % alpn.port if alpn else "",
                " relay :%d" % relay.port if relay else "",
                " fake :%d" % fake.port if fake else "",
                " hostile :%d" % hostile.port if hostile else "",
                " shadow" if shadow else "",
                ctl_dir,
            )
        )
        control = Control(ctl_dir, broker, relay, fake, shadow, alpn, hostile)

        deadline = time.monotonic() + ns.timeout
        sys.stdout.flush()
        proc = subprocess.Popen(program, env=env, preexec_fn=_die_with_parent)
        while True:
            try:
                rc = proc.wait(timeout=POLL_INTERVAL)
                break
            except subprocess.TimeoutExpired:
                pass
            control.poll()
            broker.check_alive()
            if time.monotonic() > deadline:
                log("TIMEOUT: %s ran longer than %.0f s; killing it" % (program[0], ns.timeout))
                proc.kill()
                proc.wait()
                rc = None
                break
        if rc is None:
            status = 124
        elif rc < 0:
            log("%s died from signal %d" % (program[0], -rc))
            status = 128 - rc
        else:
            status = rc
    except _Terminated as t:
        log("harness got signal %d; cleaning up" % t.signum)
        status = 128 + t.signum
    except Exception:
        log("harness failure:\n" + traceback.format_exc())
        status = 125
    finally:
        # No more signal-driven exceptions while cleaning up.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if status != 0 and broker is not None:
            try:
                tail = broker.log_tail(40)
                log("last lines of the broker log:\n  " + "\n  ".join(tail))
            except CommandError:
                pass
        for part in (shadow, alpn, hostile, fake, relay, broker):
            if part is not None:
                try:
                    part.shutdown()
                except Exception:
                    log("cleanup error:\n" + traceback.format_exc())
        if os.environ.get("AFR_TEST_KEEP_TMP"):
            log("kept %s" % tmpdir)
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
