#!/usr/bin/env python3
"""Writes BENCHMARKS.md (to stdout) from the CSVs the benchmark harnesses leave:
build/footprint/footprint.csv, build/bench-agent/agent.csv, target/bench/micro.csv,
and the board's section build/qemu/figures.md (scripts/qemu-figures.sh).

The generated sections replace those of the same heading in the existing
BENCHMARKS.md; a generated section whose input is missing keeps its old text;
every other section of the existing file (measurements written by hand, with
their command, e.g. hand-offs before and after a change) stays where it is.
--footprint-only: the footprint section alone (after scripts/footprint.sh)."""
import csv
import datetime
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rows(path):
    with open(os.path.join(ROOT, path), newline="") as f:
        return list(csv.DictReader(f))


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return "%s, %d cores, %s; commit %s" % (cpu, os.cpu_count() or 0, platform.platform(), rev or "?")


def fmt(v, digits=0):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return v or ""
    return "{:,.{}f}".format(x, digits)


def footprint_section(p):
    p("## Footprint on Cortex-M4F")
    p("")
    p("Command: `scripts/footprint.sh` (image with the library minus the same image without it;")
    p("`arm-none-eabi-gcc -Os -ffunction-sections -Wl,--gc-sections`, FreeRTOS ARM_CM4F, stub Secure Sockets,")
    p("`mqttconfigMAX_BROKERS` 4, 8 pool buffers of 512 bytes). Flash = .text + .rodata + .data, RAM = .data + .bss.")
    p("AFR v1.4.7 references were measured by the same method (given in the task). The images without the")
    p("cargo feature `tls` are those of the TLS back-end \"Secure Sockets port\" (no TLS bytes in the library);")
    p("the \"library TLS\" images build rustls in (`mqttconfigTLS_BACKEND` mqttagentTLS_BACKEND_LIBRARY). The feature")
    p("`sha384` (P-384, SHA-384) adds 172,092 bytes (measured once by the same method).")
    p("")
    p("| build | configuration | .text | .rodata | .data | .bss | flash | RAM | flash target | met | AFR flash / RAM |")
    p("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows("build/footprint/footprint.csv"):
        if not r.get("flash") and r.get("ram"):
            # The heap probe's rows: static RAM + the library's FreeRTOS heap, against AFR's RAM (the must).
            met = "yes" if r.get("ram_target_met") == "True" else "NO"
            p("| %s | %s | | | | | | %s | RAM ≤ %s (AFR) | %s | %s |" % (
                r["variant"], r["configuration"], fmt(r["ram"]), fmt(r["ram_target"]), met, r.get("note", "")))
            continue
        if not r.get("flash"):
            p("| %s | %s | | | | | | | | | %s |" % (r["variant"], r["configuration"], r.get("note", "")))
            continue
        if not r.get("flash_target"):
            # TLS rows: no flash target, the aim is a 1 MB-flash MCU with room to spare.
            target, met, afr = (r.get("note") or "").split(";")[0], "", ""
        else:
            # Issue #13: at most AFR's flash is the must, the target the goal.
            target = "≤ %s (AFR); goal %s" % (fmt(r["afr_flash"]), fmt(r["flash_target"]))
            must = float(r["flash"]) <= float(r["afr_flash"])
            met = "%s; goal %s" % ("yes" if must else "NO", "yes" if r["flash_target_met"] == "True" else "NO")
            afr = "%s / %s" % (fmt(r["afr_flash"]), fmt(r["afr_ram"]))
        p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["variant"], r["configuration"], fmt(r["text"]), fmt(r["rodata"]), fmt(r["data"]), fmt(r["bss"]),
            fmt(r["flash"]), fmt(r["ram"]), target, met, afr))
    p("")
    p("Builds: `s` = the shipped release profile (opt-level s, LTO, one codegen unit, panic abort);")
    p("`z` = opt-level z; `-lto` variants build the staticlib alone (the shipped CMake integration now does too); "
      "`s-nofp` = `s` without the frame pointer rustc's thumbv7em target forces in every function (nightly cargo "
      "with -Zbuild-std: a measurement of what that costs, not a build the library ships).")
    p("RAM counts static memory only; the agent's state and task stack come from the FreeRTOS heap (see the")
    p("heap probe in `scripts/footprint.sh`'s output).")
    p("")



def generated_sections():
    """Heading -> lines of each section whose input exists."""
    out = {}

    def section(heading, build):
        lines = []
        build(lines.append)
        out[heading] = lines

    if os.path.exists(os.path.join(ROOT, "build/footprint/footprint.csv")):
        section("## Footprint on Cortex-M4F", lambda p: footprint_section(p))
    qemu = os.path.join(ROOT, "build/qemu/figures.md")
    if os.path.exists(qemu):
        with open(qemu) as f:
            text = f.read().rstrip().split("\n")
        out[text[0]] = text + [""]
    if os.path.exists(os.path.join(ROOT, "build/bench-agent/agent.csv")):
        section("## MQTT agent under the simulator vs libmosquitto", agent_section)
    if os.path.exists(os.path.join(ROOT, "target/bench/micro.csv")):
        section("## Micro-benchmarks (criterion)", micro_section)
    return out


def agent_section(p):
    p("## MQTT agent under the simulator vs libmosquitto")
    p("")
    p("Command: `scripts/bench-agent.sh` (FreeRTOS POSIX simulator, 32-bit, Mosquitto on loopback; libmosquitto")
    p("native in the same run, one message at a time, waiting for its publish callback; wall-clock times with")
    p("CLOCK_MONOTONIC). Reference from the task: AFR v1.4.7's C agent on this kind of machine, QoS 0 ≈ 7,900 msg/s,")
    p("QoS 1 ≈ 2,500 msg/s, QoS 1 round trip p50 180 µs / p99 1,600 µs; it cannot publish 4 KB with 2,176-byte buffers.")
    p("")
    p("| workload | unit | afr-cloud | libmosquitto | ratio | target | met |")
    p("|---|---|---:|---:|---:|---|---|")
    for r in rows("build/bench-agent/agent.csv"):
        p("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["workload"], r["unit"], fmt(r["afr_cloud"], 1), fmt(r["libmosquitto"], 1), fmt(r["ratio"], 2),
            r["target"], r["met"]))
    p("")


def micro_section(p):
    p("## Micro-benchmarks (criterion)")
    p("")
    p("Command: `scripts/bench-micro.sh` (`cargo bench --bench micro`, release profile).")
    p("")
    p("| benchmark | median | throughput |")
    p("|---|---:|---:|")
    for r in rows("target/bench/micro.csv"):
        ns = float(r["median_ns"])
        t = "%.1f ns" % ns if ns < 1000 else "%.2f µs" % (ns / 1000)
        per_s = float(r["throughput_per_s"] or 0)
        if r["throughput_kind"] == "Bytes":
            tp = "%.2f GiB/s" % (per_s / 2**30) if per_s >= 2**30 else "%.0f MiB/s" % (per_s / 2**20)
        elif per_s:
            tp = "%.2f M/s" % (per_s / 1e6)
        else:
            tp = ""
        p("| %s | %s | %s |" % (r["benchmark"], t, tp))
    p("")
    p("Topic matching: `topic_exact/N` grows ~2 ns per doubling of N (hashed, sorted index), not linearly;")
    p("`topic_all_wildcard/N` is the linear worst case (wildcard filters are scanned).")
    p("")


def existing_sections():
    """(heading, lines) of the current BENCHMARKS.md's `## ` sections, in order."""
    path = os.path.join(ROOT, "BENCHMARKS.md")
    if not os.path.exists(path):
        return []
    sections, current = [], None
    with open(path) as f:
        for line in f.read().rstrip().split("\n"):
            if line.startswith("## "):
                current = (line, [line])
                sections.append(current)
            elif current is not None:
                current[1].append(line)
    return sections


def main():
    out = []
    p = out.append
    if "--footprint-only" in sys.argv:
        footprint_section(p)
        print("\n".join(out))
        return
    p("# Benchmarks")
    p("")
    p("Generated by `scripts/benchmarks.sh` on %s UTC." % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"))
    p("Machine: %s." % machine())
    p("")
    p("Benchmarks print figures; tests assert behaviour. CI runs each harness in a short smoke mode only.")
    p("Sections without a generator (measurements by hand, each with its command) are kept from the last run.")
    p("")
    fresh = generated_sections()
    done = set()
    for heading, lines in existing_sections():
        body = fresh.get(heading, lines)
        done.add(heading)
        out.extend(body)
        if body and body[-1] != "":
            p("")
    for heading, lines in fresh.items():
        if heading not in done:
            out.extend(lines)
    print("\n".join(out).rstrip())


if __name__ == "__main__":
    main()
