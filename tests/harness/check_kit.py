#!/usr/bin/env python3
"""Checks the assertion kit and watchdog of tests/common/test_support.

    check_kit.py PATH/TO/harness_selftest

Needs no broker: the demo modes of the self-test program use no sockets.
"""
import subprocess
import sys


def run(exe, mode):
    return subprocess.run([exe, mode], capture_output=True, text=True, timeout=60)


def main():
    exe = sys.argv[1]
    failures = []

    r = run(exe, "--kit-demo")
    lines = r.stdout.strip().splitlines()
    if r.returncode != 1:
        failures.append("--kit-demo: exit %d, expected 1" % r.returncode)
    if "CHECK failed: 1 == 2" not in r.stdout or "ASSERT failed: 0" not in r.stdout:
        failures.append("--kit-demo: failures not reported")
    if "UNREACHABLE" in r.stdout:
        failures.append("--kit-demo: TEST_ASSERT did not end the case")
    if "--- FAIL demo_failing_case" not in r.stdout:
        failures.append("--kit-demo: case not reported as failed")
    if not lines or lines[-1] != "0 passed, 1 failed":
        failures.append("--kit-demo: last line %r" % (lines[-1] if lines else None))

    r = run(exe, "--watchdog-demo")
    lines = r.stdout.strip().splitlines()
    if r.returncode != 1 or "WATCHDOG" not in r.stdout:
        failures.append("--watchdog-demo: exit %d, output %r" % (r.returncode, r.stdout))
    if not lines or lines[-1] != "0 passed, 1 failed":
        failures.append("--watchdog-demo: last line %r" % (lines[-1] if lines else None))

    for f in failures:
        print("FAIL:", f)
    print("kit checks: %s" % ("FAILED" if failures else "all passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
