"""The harness's control protocol (see run_with_broker.py), as the C side
speaks it, for Python programs run under the harness."""
import os
import time

_seq = 0


def control(cmd, timeout=20.0):
    """Sends one command; returns (status line, result lines)."""
    global _seq
    _seq += 1
    d = os.environ["AFR_TEST_CTL_DIR"]
    tmp = os.path.join(d, "req.%d.tmp" % _seq)
    with open(tmp, "w") as f:
        f.write(cmd + "\n")
    os.rename(tmp, os.path.join(d, "req.%d" % _seq))
    ack = os.path.join(d, "ack.%d" % _seq)
    deadline = time.monotonic() + timeout
    while not os.path.exists(ack):
        if time.monotonic() > deadline:
            raise AssertionError("no ack for %r" % cmd)
        time.sleep(0.005)
    with open(ack) as f:
        lines = f.read().splitlines()
    os.unlink(ack)
    return lines[0], lines[1:]


def ok(cmd):
    """Sends a command that must succeed; returns its result lines."""
    status, result = control(cmd)
    assert status == "ok", "%s -> %s" % (cmd, status)
    return result
