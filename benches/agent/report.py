#!/usr/bin/env python3
"""Runs the agent benchmark programs against the same broker, group of
workloads by group, alternating between afr-cloud and libmosquitto, and prints
one table comparing them; writes it as CSV too.

Run inside tests/tools/run_with_broker.py (which exports AFR_TEST_BROKER_PORT):

    report.py --afr BIN --afr-nowakeup BIN --afr-tickwatch BIN --mosquitto BIN --out DIR [--smoke]

--afr is the agent with the simulator's Secure Sockets port as built for the
demos (wake-up callback, idle poller); --afr-nowakeup the same program with the
port without the wake-up callback (wake-up workload only); --afr-tickwatch the
same program with the port without its idle poller (socketsconfigSIM_IDLE_POLLER
0: per-tick wake-up, the conditions of AFR v1.4.7's reference figures), run for
TICK_WORKLOADS only.

Writes DIR/agent.csv (the table) and DIR/agent-raw.csv (every figure the
programs reported: repetitions, counts, errors, heap per workload). Asserts
nothing about speed: the exit status is non-zero only when a program failed or
an operation in a workload failed (a publish, or an echo that never came).
"""

import argparse
import csv
import ctypes
import os
import signal
import subprocess
import sys
import time

AFR = "afr"
AFR_POLL = "afr_poll"  # the same program with the Secure Sockets port that has no wake-up callback
AFR_TICK = "afr_tick"  # the same program with the port without its idle poller (per-tick wake-up)
LIB = "mosquitto"

QOS = (0, 1, 2)
TASKS = (1, 4)
PAYLOADS = (64, 4096)
RTT_QOS = (0, 1)
# Workload groups, each run by both programs in turn ("--only GROUP").
GROUPS = ("rate/q0/", "rate/q1/", "rate/q2/", "rtt/q0/", "rtt/q1/")
# The per-tick wake-up port's program runs these workloads only (each after
# afr-cloud and libmosquitto in its group), to keep the run short.
TICK_WORKLOADS = {"rate/q1/": "rate/q1/t1/64", "rtt/q1/": "rtt/q1/64"}
TICK_LABEL = "per-tick wake-up port (as AFR's reference)"
# Hand-offs per publish (afr-cloud only: counted by the benchmark build's kernel
# hooks and link-time wrappers, benches/agent/handoffs.h): (impl, key, label).
HANDOFF_ROWS = (
    (AFR, "handoffs/q1/64", "QoS 1 publish (to PUBACK), 1 task, 64 B"),
    (AFR, "handoffs/q0/64", "QoS 0 publish, 1 task, 64 B"),
    (AFR_TICK, "handoffs/q1/64", "QoS 1 publish (to PUBACK), 1 task, 64 B, " + TICK_LABEL),
)
HANDOFF_METRICS = (
    ("critical_per_publish", "critical sections"),
    ("suspend_all_per_publish", "scheduler suspensions"),
    ("switches_changed_per_publish", "task switches (task changed)"),
    ("switches_to_agent_per_publish", "task switches into the agent task"),
    ("switches_per_publish", "task switches (all, same task included)"),
)


def _die_with_parent():
    # The programs end with this script, even when the harness SIGKILLs it.
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run(label, argv, timeout):
    """Runs one program; returns its RESULT lines as {(impl, key, metric): value}."""
    sys.stderr.write("=== %s: %s\n" % (label, " ".join(argv)))
    sys.stderr.flush()
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, timeout=timeout, preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired as e:
        sys.stderr.write("=== %s: killed after %d s\n" % (label, timeout))
        proc = subprocess.CompletedProcess(argv, 124, e.stdout or b"")
    took = time.monotonic() - start
    results = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if not line.startswith("RESULT,"):
            sys.stderr.write(line + "\n")
            continue
        _, impl, key, metric, value = line.split(",")
        results[(impl, key, metric)] = float(value)
    sys.stderr.write("=== %s: exit %d after %.1f s\n" % (label, proc.returncode, took))
    return proc.returncode, results


def payload_name(p):
    return "4 KB" if p == 4096 else "%d B" % p


def fmt_num(v, unit):
    if v is None:
        return "n/a"
    if unit in ("msg/s", "bytes"):
        return "{:,.0f}".format(v)
    if unit == "us":
        return "{:,.0f}".format(v) if v >= 100 else "{:.1f}".format(v)
    return "{:g}".format(v)


class Row:
    def __init__(self, workload, unit, afr, lib, target="", check=None, afr_text=None, lib_text=None,
                 needs_lib=True):
        self.workload = workload
        self.needs_lib = needs_lib
        self.unit = unit
        self.afr = afr
        self.lib = lib
        self.target = target
        self.ratio = afr / lib if (afr is not None and lib not in (None, 0)) else None
        self.met = "" if check is None or afr is None else ("yes" if check(afr, lib, self.ratio) else "NO")
        self.afr_text = afr_text if afr_text is not None else fmt_num(afr, unit)
        self.lib_text = lib_text if lib_text is not None else fmt_num(lib, unit)

    def cells(self):
        ratio = "" if self.ratio is None else "%.2f×" % self.ratio
        name = "%s (%s)" % (self.workload, self.unit) if self.unit else self.workload
        return [name, self.afr_text, self.lib_text, ratio, self.target, self.met]


def build_rows(r):
    def get(impl, key, metric):
        return r.get((impl, key, metric))

    rows = []
    for q in QOS:
        for t in TASKS:
            for p in PAYLOADS:
                key = "rate/q%d/t%d/%d" % (q, t, p)
                name = "publish rate, QoS %d, %d task%s, %s" % (q, t, "" if t == 1 else "s", payload_name(p))
                target, check = "", None
                if q == 0 and t == 1:
                    target, check = "≥ 25,000 msg/s", lambda a, l, x: a >= 25000
                elif q == 1:
                    target, check = "≥ 1.0× libmosquitto", lambda a, l, x: x is not None and x >= 1.0
                rows.append(Row(name, "msg/s", get(AFR, key, "msgs_per_s"), get(LIB, key, "msgs_per_s"), target, check))
                if key in TICK_WORKLOADS.values():
                    # No target: the targets apply to the main rows.
                    rows.append(Row("%s, %s" % (name, TICK_LABEL), "msg/s", get(AFR_TICK, key, "msgs_per_s"),
                                    get(LIB, key, "msgs_per_s")))
    for q in RTT_QOS:
        for p in PAYLOADS:
            key = "rtt/q%d/%d" % (q, p)
            for metric, label in (("p50_us", "p50"), ("p99_us", "p99"), ("max_us", "max")):
                target, check = "", None
                if q == 1 and metric == "p50_us":
                    target, check = "≤ 1.2× libmosquitto", lambda a, l, x: x is not None and x <= 1.2
                elif q == 1 and metric == "p99_us":
                    target, check = "≤ 2× libmosquitto", lambda a, l, x: x is not None and x <= 2.0
                name = "round trip %s, QoS %d, %s" % (label, q, payload_name(p))
                rows.append(Row(name, "us", get(AFR, key, metric), get(LIB, key, metric), target, check))
            if key in TICK_WORKLOADS.values():
                for metric, label in (("p50_us", "p50"), ("p99_us", "p99"), ("max_us", "max")):
                    name = "round trip %s, QoS %d, %s, %s" % (label, q, payload_name(p), TICK_LABEL)
                    rows.append(Row(name, "us", get(AFR_TICK, key, metric), get(LIB, key, metric)))

    for impl, name, target, check in (
            (AFR, "data→callback, wake-up callback", "≤ 1 tick (p99)", lambda a, l, x: a <= 1.0),
            (AFR_POLL, "data→callback, no callback (polling)", "", None)):
        med = get(impl, "wakeup/q0/64", "median_ticks")
        p99 = get(impl, "wakeup/q0/64", "p99_ticks")
        mx = get(impl, "wakeup/q0/64", "max_ticks")
        text = "n/a" if med is None else "%g / %g / %g" % (med, p99, mx)
        rows.append(Row(name + ", med/p99/max", "ticks", p99, None, target, check, afr_text=text,
                        lib_text="n/a", needs_lib=False))
    for impl, key, label in HANDOFF_ROWS:
        for metric, what in HANDOFF_METRICS:
            rows.append(Row("hand-offs per %s: %s" % (label, what), "per publish",
                            get(impl, key, metric), None, needs_lib=False, lib_text="n/a"))
    rows.append(Row("peak heap in use, all workloads", "bytes",
                    get(AFR, "heap", "peak_bytes"), get(LIB, "heap", "peak_bytes")))
    afr_growth = lib_growth = None
    if get(AFR, "heap", "peak_bytes") is not None and get(AFR, "heap", "base_bytes") is not None:
        afr_growth = get(AFR, "heap", "peak_bytes") - get(AFR, "heap", "base_bytes")
    if get(LIB, "heap", "peak_bytes") is not None and get(LIB, "heap", "base_bytes") is not None:
        lib_growth = get(LIB, "heap", "peak_bytes") - get(LIB, "heap", "base_bytes")
    rows.append(Row("peak heap above connected idle", "bytes", afr_growth, lib_growth))
    for row in rows:
        if row.workload.startswith("peak heap"):
            row.ratio = None  # Different heaps (see the notes): no ratio.
    return rows


def print_table(rows):
    header = ["workload", "afr-cloud", "libmosquitto", "ratio", "target", "met?"]
    cells = [header] + [row.cells() for row in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    right = (False, True, True, True, False, False)

    def line(c):
        parts = [(c[i].rjust(widths[i]) if right[i] else c[i].ljust(widths[i])) for i in range(len(c))]
        return "| " + " | ".join(parts) + " |"

    print(line(header))
    print("|" + "|".join(("-" * (w + 1) + ":" if right[i] else "-" * (w + 2)) for i, w in enumerate(widths)) + "|")
    for c in cells[1:]:
        print(line(c))


def print_slow_table(results):
    """The share of publish calls and round trips that took longer than half a tick."""
    print("Operations slower than 0.5 ms (half a simulator tick: the agent waited for a tick), % of them:")
    print()
    slow_rows = []
    for q in QOS:
        for t in TASKS:
            for p in PAYLOADS:
                slow_rows.append(("publish calls, QoS %d, %d task%s, %s" % (q, t, "" if t == 1 else "s", payload_name(p)),
                                  "rate/q%d/t%d/%d" % (q, t, p)))
                key = "rate/q%d/t%d/%d" % (q, t, p)
                if key in TICK_WORKLOADS.values():
                    slow_rows.append(("publish calls, QoS %d, %d task%s, %s, %s"
                                      % (q, t, "" if t == 1 else "s", payload_name(p), TICK_LABEL), key, AFR_TICK))
    for q in RTT_QOS:
        for p in PAYLOADS:
            key = "rtt/q%d/%d" % (q, p)
            slow_rows.append(("round trips, QoS %d, %s" % (q, payload_name(p)), key))
            if key in TICK_WORKLOADS.values():
                slow_rows.append(("round trips, QoS %d, %s, %s" % (q, payload_name(p), TICK_LABEL), key, AFR_TICK))
    slow_rows = [r if len(r) == 3 else r + (AFR,) for r in slow_rows]
    width = max(len(name) for name, _, _ in slow_rows)
    print("| %s | afr-cloud | libmosquitto |" % "operations".ljust(width))
    print("|%s|----------:|-------------:|" % ("-" * (width + 2)))
    for name, key, impl in slow_rows:
        a = results.get((impl, key, "slow_pct"))
        b = results.get((LIB, key, "slow_pct"))
        print("| %s | %9s | %12s |" % (name.ljust(width), "n/a" if a is None else "%.1f" % a,
                                         "n/a" if b is None else "%.1f" % b))


def print_handoffs(results):
    """Hand-offs per publish, with the task they belong to, and the idle background."""
    print("Hand-offs per publish (afr-cloud; kernel trace hooks and link-time wrappers of the benchmark build, "
          "benches/agent/handoffs.h; one task publishes one message at a time, averaged over all of them):")
    print()

    def g(impl, key, metric):
        return results.get((impl, key, metric))

    def groups(impl, key, what, per):
        parts = []
        for grp in ("caller", "agent", "sockets", "idle", "other"):
            v = g(impl, key, "%s_%s_per_%s" % (what, grp, per))
            if v:
                parts.append("%s %.1f" % (grp, v))
        return ", ".join(parts) or "-"

    for impl, key, label in HANDOFF_ROWS:
        crit = g(impl, key, "critical_per_publish")
        if crit is None:
            print("- %s: n/a" % label)
            continue
        print("- %s: %.1f critical sections (in %s), %.1f scheduler suspensions (in %s), %.1f yields; "
              "%.1f task switches (%.1f to the agent task; into %s), %.1f scheduling decisions in all; "
              "%.2f ticks and %.0f us per publish; %d publishes, %d errors"
              % (label, crit, groups(impl, key, "critical_in", "publish"),
                 g(impl, key, "suspend_all_per_publish"), groups(impl, key, "suspend_all_in", "publish"),
                 g(impl, key, "yields_per_publish"),
                 g(impl, key, "switches_changed_per_publish"), g(impl, key, "switches_to_agent_per_publish"),
                 groups(impl, key, "switches_to", "publish"), g(impl, key, "switches_per_publish"),
                 g(impl, key, "ticks_per_publish"), g(impl, key, "us_per_publish"),
                 g(impl, key, "publishes") or 0, g(impl, key, "errors") or 0))
    idle = g(AFR, "handoffs/idle", "critical_per_tick")
    if idle is not None:
        print("- background while every task sleeps (already inside the figures above, in proportion to their "
              "ticks): per tick %.1f critical sections (in %s), %.1f scheduler suspensions, %.1f task switches "
              "(into %s)"
              % (idle, groups(AFR, "handoffs/idle", "critical_in", "tick"), g(AFR, "handoffs/idle", "suspend_all_per_tick"),
                 g(AFR, "handoffs/idle", "switches_changed_per_tick"),
                 groups(AFR, "handoffs/idle", "switches_to", "tick")))
    print("Critical sections: taskENTER_CRITICAL / portENTER_CRITICAL entered from the kernel, the library "
          "(freertos-rust's shim), the Secure Sockets port and the program, by the task running at the time "
          "(caller: the publishing task). Task switches: traceTASK_SWITCHED_IN where the task changed, by the "
          "task switched in; 'all' includes the scheduler's decisions to keep the same task.")


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "unit", "afr_cloud", "libmosquitto", "ratio", "target", "met"])
        for row in rows:
            w.writerow([
                row.workload, row.unit,
                "" if row.afr is None else "%.3f" % row.afr,
                "" if row.lib is None else "%.3f" % row.lib,
                "" if row.ratio is None else "%.4f" % row.ratio,
                row.target, row.met,
            ])


def write_raw(path, results):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["impl", "workload", "metric", "value"])
        for (impl, key, metric), value in sorted(results.items()):
            w.writerow([impl, key, metric, "%.3f" % value])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--afr", required=True)
    p.add_argument("--afr-nowakeup", required=True)
    p.add_argument("--afr-tickwatch", required=True)
    p.add_argument("--mosquitto", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--smoke", action="store_true")
    ns = p.parse_args()
    extra = ["--smoke"] if ns.smoke else []
    start = time.monotonic()
    with open("/proc/loadavg") as f:
        load_before = " ".join(f.read().split()[:3])

    # Workload groups alternate between the two programs (and which goes first),
    # so that changes in the host's load over the run hit both alike.
    collected = {}
    failures = []

    def collect(label, argv, timeout):
        rc, res = run(label, argv, timeout)
        if rc != 0:
            failures.append("%s (exit %d)" % (" ".join(argv), rc))
        for k, v in res.items():
            collected.setdefault(k, []).append(v)

    afr_label = "afr-cloud agent (simulator)"
    lib_label = "libmosquitto (native)"
    tick_label = "afr-cloud agent, Secure Sockets with per-tick wake-up only (simulator)"
    for i, group in enumerate(GROUPS):
        pair = [(afr_label, ns.afr), (lib_label, ns.mosquitto)]
        for label, prog in (pair if i % 2 == 0 else pair[::-1]):
            collect(label, [prog] + extra + ["--only", group], 300)
        if group in TICK_WORKLOADS:
            collect(tick_label, [ns.afr_tickwatch] + extra + ["--only", TICK_WORKLOADS[group]], 300)
    collect(afr_label, [ns.afr] + extra + ["--only", "handoffs/"], 120)
    collect(tick_label, [ns.afr_tickwatch] + extra + ["--only", "handoffs/q1/"], 120)
    collect(afr_label, [ns.afr] + extra + ["--only", "wakeup/"], 120)
    collect("afr-cloud agent, Secure Sockets without wake-up callback (simulator)",
            [ns.afr_nowakeup] + extra + ["--only", "wakeup/"], 120)

    results = {}
    for (impl, key, metric), values in collected.items():
        if metric == "us_per_tick":
            results[(impl, key, metric)] = sum(values) / len(values)
        elif metric == "seconds":
            results[(impl, key, metric)] = sum(values)
        elif key == "heap":
            results[(impl, key, metric)] = max(values)
        else:
            results[(impl, key, metric)] = values[-1]

    rows = build_rows(results)
    os.makedirs(ns.out, exist_ok=True)
    csv_path = os.path.join(ns.out, "agent.csv")
    write_csv(csv_path, rows)
    write_raw(os.path.join(ns.out, "agent-raw.csv"), results)

    print()
    print("MQTT agent benchmark%s: afr-cloud (32-bit FreeRTOS POSIX simulator) vs libmosquitto (native), "
          "Mosquitto on loopback" % (" (SMOKE: tiny counts, figures meaningless)" if ns.smoke else ""))
    print()
    print_table(rows)
    print()
    print_slow_table(results)
    print()
    print_handoffs(results)
    print()
    tick = results.get((AFR, "wakeup/q0/64", "us_per_tick"))
    print("afr-cloud rows: the simulator's Secure Sockets port with its wake-up callback and idle poller: when the "
          "system is idle a reader is woken at once, as a device's network stack signals arrivals; when the CPU is "
          "busy, at the next tick. Rows marked '%s': the same program with the port built without the idle poller "
          "(socketsconfigSIM_IDLE_POLLER 0): data wakes the agent only at the per-tick watcher's next poll, the "
          "conditions of AFR v1.4.7's reference figures below (a non-blocking port that wakes the agent from a "
          "per-tick watcher task); run for the QoS 1 publish rate (1 task, 64 B) and round trip (64 B) only, no "
          "target (the targets apply to the main rows)." % TICK_LABEL)
    print("Workload groups alternate between the programs (afr-cloud, libmosquitto, then the other way round; the "
          "per-tick port's program after both in its groups). "
          "Rates: median of 3 repetitions; each publish waits for its completion (QoS 0 written, QoS 1 PUBACK, "
          "QoS 2 PUBCOMP). Round trips: publish -> own subscription callback, one at a time. Ratio: afr-cloud / "
          "libmosquitto. Wall time: CLOCK_MONOTONIC.")
    if tick is not None:
        print("Simulator tick: %.0f us measured during the wake-up workload (nominal 1,000 us). Wake-up: another "
              "process publishes QoS 0, 64 B at random times; ticks that happen from the data's arrival (send + the "
              "broker's forwarding, %.0f us) to the subscription callback, 1 = at the first tick after it; send to "
              "callback p50 %.0f us, max %.0f us." % (tick, results.get((AFR, "wakeup/q0/64", "broker_hop_us"), 0),
                                                      results.get((AFR, "wakeup/q0/64", "p50_us"), 0),
                                                      results.get((AFR, "wakeup/q0/64", "max_us"), 0)))
    if (AFR, "heap", "peak_bytes") in results:
        print("afr-cloud heap: FreeRTOS heap_4 (configTOTAL_HEAP_SIZE %s), total minus minimum ever free, reset per "
              "workload; includes every task's stack (%d tasks, %s bytes of stacks: idle, timer, SockWake, SockPoll, "
              "MQTT agent, bench and 4 publisher tasks), kernel objects, the agent's state and the socket; the %s-byte "
              "buffer pool is static and not included."
              % (fmt_num(results[(AFR, "heap", "total_bytes")], "bytes"), results[(AFR, "heap", "tasks")],
                 fmt_num(results[(AFR, "heap", "task_stacks_bytes")], "bytes"),
                 fmt_num(results[(AFR, "heap", "pool_static_bytes")], "bytes")))
    if (LIB, "heap", "peak_bytes") in results:
        print("libmosquitto heap: bytes malloc'd and not yet freed (malloc_usable_size), peak per workload; thread "
              "stacks are mmap'd and not included.")

    print("For reference (AFR v1.4.7's C agent with a per-tick wake-up port, same kind of machine, other runs, "
          "64 B): QoS 0 ~7,900 msg/s; QoS 1 "
          "~2,500 msg/s against libmosquitto's ~5,100; QoS 1 round trip p50 180 us, p99 1,600 us against "
          "libmosquitto's 170 / 260 us; with 2,176-byte pool buffers it cannot publish 4 KB at all.")
    errors = [(impl, key, v) for (impl, key, metric), v in sorted(results.items()) if metric == "errors" and v > 0]
    for impl, key, v in errors:
        print("ERRORS: %s %s: %d failed operations" % (impl, key, v))
    missing = [row.workload for row in rows
               if row.afr is None or (row.lib is None and row.needs_lib)]
    for m in missing:
        print("MISSING: %s" % m)
    with open("/proc/loadavg") as f:
        load_after = " ".join(f.read().split()[:3])
    print("Host: %d CPUs; load average %s before, %s after (other work on the machine skews the figures)."
          % (os.cpu_count() or 0, load_before, load_after))
    print()
    print("CSV: %s (raw figures: %s); %.0f s" % (csv_path, os.path.join(ns.out, "agent-raw.csv"),
                                                 time.monotonic() - start))
    sys.stdout.flush()
    if failures:
        print("bench-agent: benchmark program(s) failed: %s" % "; ".join(failures))
        return 1
    if errors or missing:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
