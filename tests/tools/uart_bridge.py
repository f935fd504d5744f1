#!/usr/bin/env python3
"""The host side of the board's UART link ("modem"): run a firmware image in
QEMU and open TCP connections to 127.0.0.1 on its behalf.

Usage:
    uart_bridge.py [--machine mps2-an386] [--qemu qemu-system-arm] [--icount]
                   [--timeout SECONDS] [--env NAME ...] [--stats]
                   --kernel ELF [-- EXTRA_QEMU_ARGS...]

The frame format and the rules are in c_demo/mps2_an386/README.md, section
"The UART link ("modem") protocol"; this file follows it and does not repeat it.

The bridge listens on a free 127.0.0.1 port, then starts

    qemu-system-arm -M MACHINE -nographic -monitor none -serial null
        -serial tcp:127.0.0.1:PORT
        -semihosting-config enable=on,target=native,arg=ELF,arg=NAME=VALUE,...
        [-icount shift=0] -kernel ELF EXTRA_QEMU_ARGS...

so the board's UART1 becomes a TCP client of the bridge. The semihosting
arguments (the firmware reads them with SYS_GET_CMDLINE, space separated) carry
the environment: every AFR_TEST_* variable, MQTT_BROKER_PORT and each
--env NAME that is set. QEMU's stdout and stderr are ours (QEMU 7.2 writes
semihosting output to stderr).

Exit status: QEMU's (the firmware's SYS_EXIT_EXTENDED status; 128+N if a
signal N ended it), 124 when --timeout expires, 3 on a protocol error, 2 on a
usage error.

--board-cmd 'CMD ... {port} ...' is a test seam (tests/tools/test_uart_bridge.py):
CMD is run (split like a shell would, {port} replaced by the bridge's port)
instead of QEMU, and plays the board.
"""

import argparse
import asyncio
import ipaddress
import os
import shlex
import struct
import sys

START = 0xA5
NO_SOCKET = 0xFF
MAX_PAYLOAD = 1024
MAX_SOCKETS = 16
VERSION = 1
CONNECT_TIMEOUT = 10.0  # seconds; the README's, module level so tests can shorten it

# Board -> bridge.
HELLO, CONNECT, SEND, CLOSE, WINDOW, RESOLVE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
# Bridge -> board.
HELLO_ACK, CONNECT_RESULT, DATA, HANGUP, CLOSE_ACK, RESOLVE_RESULT = 0x81, 0x82, 0x83, 0x84, 0x85, 0x86

# CONNECT_RESULT statuses.
CONNECTED, REFUSED, NOT_ALLOWED, TIMED_OUT, OTHER_ERROR = 0, 1, 2, 3, 4

NAMES = {HELLO: "HELLO", CONNECT: "CONNECT", SEND: "SEND", CLOSE: "CLOSE",
         WINDOW: "WINDOW", RESOLVE: "RESOLVE"}

# Payload length limits (min, max) of each board frame.
LENGTHS = {HELLO: (4, 4), CONNECT: (6, 6), SEND: (1, MAX_PAYLOAD), CLOSE: (0, 0),
           WINDOW: (2, 2), RESOLVE: (1, 253)}

EXIT_USAGE, EXIT_PROTOCOL, EXIT_TIMEOUT = 2, 3, 124


class ProtocolError(Exception):
    """The board broke the protocol: the session ends."""


class Stats:
    """What crossed the serial line, for --stats."""

    def __init__(self):
        self.frames_in = self.bytes_in = 0     # board -> bridge, whole frames
        self.frames_out = self.bytes_out = 0   # bridge -> board
        self.sent = self.received = 0          # SEND / DATA payload bytes
        self.connections = 0                   # successful CONNECTs

    def report(self, out):
        print("uart_bridge: board->bridge %d frames %d bytes (SEND payload %d); "
              "bridge->board %d frames %d bytes (DATA payload %d); %d connections"
              % (self.frames_in, self.bytes_in, self.sent, self.frames_out,
                 self.bytes_out, self.received, self.connections), file=out)


def frame(ftype, sock, payload=b""):
    return struct.pack("<BBBH", START, ftype, sock, len(payload)) + payload


def is_loopback(addr):
    return addr[0] == 127


def resolve(name):
    """RESOLVE's answer: loopback names only, never DNS."""
    if name.lower().rstrip(".") == "localhost":
        return bytes([127, 0, 0, 1])
    try:
        addr = ipaddress.IPv4Address(name).packed
    except ValueError:
        return bytes(4)
    return addr if is_loopback(addr) else bytes(4)


class Conn:
    """One socket number from CONNECT to CLOSE_ACK."""

    def __init__(self, number):
        self.number = number
        self.state = "connecting"    # then "open", "failed" or "hungup"
        self.reader = self.writer = None
        self.credit = 0
        self.has_credit = asyncio.Event()
        self.task = None             # connect, then pump

    def add_credit(self, n):
        self.credit += n
        if self.credit > 0:
            self.has_credit.set()

    def take_credit(self, n):
        self.credit -= n
        if self.credit == 0:
            self.has_credit.clear()

    def close(self):
        if self.task:
            self.task.cancel()
        if self.writer:
            self.writer.close()


class Link:
    """The protocol engine: one session on the serial socket."""

    def __init__(self, reader, writer, stats=None, log=None):
        self.reader, self.writer = reader, writer
        self.stats = stats or Stats()
        self.log = log or sys.stderr
        self.sockets = 0             # 0 until the first HELLO
        self.window = 0
        self.conns = {}

    async def run(self):
        """Serve frames until the serial socket closes; ProtocolError on a bad one."""
        try:
            while True:
                got = await self.read_frame()
                if got is None:
                    return
                await self.dispatch(*got)
        finally:
            self.reset()
            self.writer.close()

    def reset(self):
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()

    def send(self, ftype, sock, payload=b""):
        # No drain: DATA is bounded by the board's credit, everything else is
        # an answer to a board frame, so the buffer stays small.
        data = frame(ftype, sock, payload)
        self.writer.write(data)
        self.stats.frames_out += 1
        self.stats.bytes_out += len(data)

    async def read_frame(self):
        try:
            head = await self.reader.readexactly(5)
        except asyncio.IncompleteReadError as e:
            if e.partial:
                print("uart_bridge: the serial link closed in the middle of a frame", file=self.log)
            return None
        except ConnectionError:
            return None  # QEMU went away; its exit status tells why
        start, ftype, sock, length = struct.unpack("<BBBH", head)
        if start != START:
            raise ProtocolError("bad start byte 0x%02x" % start)
        if ftype not in NAMES:
            raise ProtocolError("unknown frame type 0x%02x" % ftype)
        if length > MAX_PAYLOAD:
            raise ProtocolError("%s payload of %d bytes, more than %d" % (NAMES[ftype], length, MAX_PAYLOAD))
        try:
            payload = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            print("uart_bridge: the serial link closed in the middle of a frame", file=self.log)
            return None
        self.stats.frames_in += 1
        self.stats.bytes_in += 5 + length
        return ftype, sock, payload

    async def dispatch(self, ftype, sock, payload):
        name = NAMES[ftype]
        low, high = LENGTHS[ftype]
        if not low <= len(payload) <= high:
            raise ProtocolError("%s with a %d-byte payload" % (name, len(payload)))
        if ftype in (HELLO, RESOLVE):
            if sock != NO_SOCKET:
                raise ProtocolError("%s for socket %d (must be 0xff)" % (name, sock))
        elif self.sockets == 0:
            raise ProtocolError("%s before HELLO" % name)
        elif sock >= self.sockets:
            raise ProtocolError("%s for socket %d, out of range (HELLO said %d sockets)" % (name, sock, self.sockets))
        handler = {HELLO: self.on_hello, CONNECT: self.on_connect, SEND: self.on_send,
                   CLOSE: self.on_close, WINDOW: self.on_window, RESOLVE: self.on_resolve}[ftype]
        await handler(sock, payload)

    def conn_for(self, name, sock):
        conn = self.conns.get(sock)
        if conn is None:
            raise ProtocolError("%s for socket %d, which is not connected" % (name, sock))
        if conn.state == "connecting":
            raise ProtocolError("%s for socket %d before its CONNECT_RESULT" % (name, sock))
        return conn

    async def on_hello(self, sock, payload):
        version, sockets, window = struct.unpack("<BBH", payload)
        if version != VERSION:
            raise ProtocolError("HELLO version %d (the bridge speaks %d)" % (version, VERSION))
        if not 1 <= sockets <= MAX_SOCKETS or window < 64:
            raise ProtocolError("HELLO with %d sockets and a window of %d" % (sockets, window))
        self.reset()  # the board restarted: its old connections are gone
        self.sockets, self.window = sockets, window
        self.send(HELLO_ACK, NO_SOCKET, bytes([VERSION]))

    async def on_connect(self, sock, payload):
        if sock in self.conns:
            raise ProtocolError("CONNECT for socket %d, which is in use (no CLOSE since)" % sock)
        addr, port = payload[:4], struct.unpack(">H", payload[4:])[0]
        conn = self.conns[sock] = Conn(sock)
        if not is_loopback(addr):
            conn.state = "failed"
            self.send(CONNECT_RESULT, sock, bytes([NOT_ALLOWED]))
            return
        # In a task: a slow connect must not stop the other sockets' frames.
        conn.task = asyncio.ensure_future(self.connect_and_pump(conn, str(ipaddress.IPv4Address(addr)), port))

    async def on_send(self, sock, payload):
        conn = self.conn_for("SEND", sock)
        self.stats.sent += len(payload)
        if conn.writer is None or conn.writer.is_closing():
            return  # the peer is gone: dropped, the board learns it from HANGUP
        conn.writer.write(payload)
        try:
            # Back-pressure: no more serial frames until the peer takes these.
            await conn.writer.drain()
        except OSError:
            pass  # reset by the peer: the pump sends HANGUP

    async def on_close(self, sock, payload):
        conn = self.conns.pop(sock, None)
        if conn:
            conn.close()
        self.send(CLOSE_ACK, sock)

    async def on_window(self, sock, payload):
        conn = self.conn_for("WINDOW", sock)
        conn.add_credit(struct.unpack("<H", payload)[0])
        if conn.credit > self.window:
            raise ProtocolError("WINDOW for socket %d: credit %d, more than the window %d"
                                % (sock, conn.credit, self.window))

    async def on_resolve(self, sock, payload):
        if 0 in payload:
            raise ProtocolError("RESOLVE name with a NUL byte")
        self.send(RESOLVE_RESULT, NO_SOCKET, resolve(payload.decode("ascii", "replace")))

    async def connect_and_pump(self, conn, host, port):
        status = await self.open(conn, host, port)
        if self.conns.get(conn.number) is not conn:
            return  # closed meanwhile (CLOSE or HELLO): CLOSE_ACK was the last word
        self.send(CONNECT_RESULT, conn.number, bytes([status]))
        if status != CONNECTED:
            conn.state = "failed"
            return
        conn.state = "open"
        self.stats.connections += 1
        conn.add_credit(self.window)
        await self.pump(conn)

    async def open(self, conn, host, port):
        """Connect; the CONNECT_RESULT status."""
        try:
            # A small limit: the stream stops reading the socket after ~2 KB
            # unread, so a board without credit holds the peer back over TCP.
            conn.reader, conn.writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=MAX_PAYLOAD), CONNECT_TIMEOUT)
        except asyncio.TimeoutError:
            return TIMED_OUT
        except ConnectionRefusedError:
            return REFUSED
        except OSError:
            return OTHER_ERROR
        return CONNECTED

    async def pump(self, conn):
        """TCP -> DATA frames within the credit, then HANGUP."""
        try:
            while True:
                # Read only with credit. (So an EOF with credit 0 is seen when
                # credit comes back; HANGUP is after all DATA anyway.)
                await conn.has_credit.wait()
                data = await conn.reader.read(min(conn.credit, MAX_PAYLOAD))
                if not data:
                    break
                conn.take_credit(len(data))
                self.stats.received += len(data)
                self.send(DATA, conn.number, data)
        except OSError:
            pass  # reset: a hang-up too
        conn.state = "hungup"
        conn.writer.close()
        self.send(HANGUP, conn.number)


# ---- QEMU's command line ----

def environment(extra_names, environ):
    """The (name, value) pairs to pass: AFR_TEST_*, MQTT_BROKER_PORT, --env NAMEs."""
    names = {n for n in environ if n.startswith("AFR_TEST_") or n == "MQTT_BROKER_PORT"}
    names.update(n for n in extra_names if n in environ)
    return [(n, environ[n]) for n in sorted(names)]


def semihosting_config(kernel, pairs):
    """-semihosting-config's value; ValueError for what cannot be passed."""
    args = [kernel] + ["%s=%s" % p for p in pairs]
    for (name, value) in pairs:
        if "=" in name or " " in name or not name:
            raise ValueError("cannot pass the variable name %r (empty, or a space or '=' in it)" % name)
        if " " in value:
            raise ValueError("cannot pass %s: the firmware splits its command line at spaces" % name)
    if " " in kernel:
        raise ValueError("cannot pass the kernel path %r: it has a space" % kernel)
    # QEMU's option parser reads ",," as a comma inside a value.
    return ",".join(["enable=on", "target=native"] + ["arg=" + a.replace(",", ",,") for a in args])


def qemu_command(opts, port, environ):
    cmd = [opts.qemu, "-M", opts.machine, "-nographic", "-monitor", "none",
           "-serial", "null", "-serial", "tcp:127.0.0.1:%d" % port,
           "-semihosting-config", semihosting_config(opts.kernel, environment(opts.env, environ))]
    if opts.icount:
        cmd += ["-icount", "shift=0"]
    return cmd + ["-kernel", opts.kernel] + opts.extra


def board_command(opts, port, environ):
    if opts.board_cmd:
        return [a.replace("{port}", str(port)) for a in shlex.split(opts.board_cmd)]
    return qemu_command(opts, port, environ)


# ---- the run ----

def exit_status(returncode):
    return 128 - returncode if returncode < 0 else returncode


def first_link():
    """start_server's callback, and a future of the first (reader, writer)."""
    first = asyncio.get_running_loop().create_future()

    def accept(reader, writer):
        if first.done():
            writer.close()  # exactly one serial connection
        else:
            first.set_result((reader, writer))
    return accept, first


async def session(first, stats, server):
    reader, writer = await first
    server.close()  # nobody else may connect
    await Link(reader, writer, stats).run()


async def supervise(proc, link_task):
    """The exit status, once the board or the session ends."""
    proc_task = asyncio.ensure_future(proc.wait())
    await asyncio.wait({proc_task, link_task}, return_when=asyncio.FIRST_COMPLETED)
    if link_task.done() and not link_task.cancelled() and link_task.exception():
        raise link_task.exception()
    # QEMU has exited, or the serial socket closed (QEMU is exiting).
    return exit_status(await proc_task)


async def run(opts, environ=os.environ):
    stats = Stats()
    accept, first = first_link()
    server = await asyncio.start_server(accept, "127.0.0.1", 0, limit=4 * MAX_PAYLOAD)
    port = server.sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(*board_command(opts, port, environ))
    link_task = asyncio.ensure_future(session(first, stats, server))
    try:
        return await asyncio.wait_for(supervise(proc, link_task), opts.timeout)
    except asyncio.TimeoutError:
        print("uart_bridge: timed out after %g s, killing the board" % opts.timeout, file=sys.stderr)
        return EXIT_TIMEOUT
    except ProtocolError as e:
        print("uart_bridge: protocol error: %s" % e, file=sys.stderr)
        return EXIT_PROTOCOL
    finally:
        link_task.cancel()  # closes every connection and the serial socket
        await asyncio.gather(link_task, return_exceptions=True)
        server.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if opts.stats:
            stats.report(sys.stderr)


def parse_args(argv):
    argv = list(argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="uart_bridge.py", description=__doc__.split("\n")[0])
    p.add_argument("--machine", default="mps2-an386")
    p.add_argument("--qemu", default="qemu-system-arm")
    p.add_argument("--icount", action="store_true", help="-icount shift=0: deterministic guest time")
    p.add_argument("--timeout", type=float, help="kill QEMU after SECONDS and exit 124")
    p.add_argument("--env", action="append", default=[], metavar="NAME",
                   help="also pass this variable, if set")
    p.add_argument("--stats", action="store_true", help="at exit, print the traffic on stderr")
    p.add_argument("--kernel", metavar="ELF")
    p.add_argument("--board-cmd", metavar="CMD", help="test seam: run CMD ({port} replaced) instead of QEMU")
    opts = p.parse_args(argv)
    if not opts.kernel and not opts.board_cmd:
        p.error("--kernel is required")
    opts.extra = extra
    return opts


def main(argv=None, environ=os.environ):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if not opts.board_cmd:
        try:
            semihosting_config(opts.kernel, environment(opts.env, environ))
        except ValueError as e:
            print("uart_bridge: %s" % e, file=sys.stderr)
            return EXIT_USAGE
    return asyncio.run(run(opts, environ))


if __name__ == "__main__":
    sys.exit(main())
