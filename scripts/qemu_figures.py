#!/usr/bin/env python3
"""Markdown tables from the "board-figure: <name> <value>" lines that the board's
programs print (scripts/qemu-figures.sh passes their logs, one per program)."""
import os
import sys


def figures(path):
    found = {}
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("board-figure: "):
                name, _, value = line[len("board-figure: "):].strip().rpartition(" ")
                found[name] = int(value)
    return found


def n(v):
    return "{:,}".format(v)


def main(paths):
    runs = {os.path.basename(p).split(".")[0]: figures(p) for p in paths}
    fig = runs.get("qemu_figures", {})
    out = []
    p = out.append
    p("## Cortex-M4F on QEMU (mps2-an386)")
    p("")
    p("Command: `scripts/qemu-figures.sh` (QEMU 7.2 `mps2-an386` with `-icount shift=0`; the firmware built with")
    p("arm-none-eabi-gcc `MinSizeRel` and the board support of `c_demo/mps2_an386`; network through UART1 and")
    p("`tests/tools/uart_bridge.py` to Mosquitto on loopback; FreeRTOS ARM_CM4F port, heap_4). Emulated: instruction")
    p("counts are exact for the code, not cycles; a real M4 at its clock takes more time per instruction for flash")
    p("wait states and memory.")
    p("")
    p("Agent task (`MQTT`) and heap, per program (the high-water mark of the whole run):")
    p("")
    p("| program | agent task stack used | of | heap peak use (heap_4 minimum ever free) |")
    p("|---|---:|---:|---:|")
    for name, f in runs.items():
        if "stack_size_bytes.MQTT" not in f:
            continue
        size = f["stack_size_bytes.MQTT"]
        p("| %s | %s | %s | %s |" % (name, n(size - f["stack_unused_bytes.MQTT"]), n(size), n(f["heap_peak_use_bytes"])))
    p("")
    if fig:
        p("Phases of `tests/qemu/figures_main.c` (agent task stack high-water mark and heap peak after each):")
        p("")
        p("| after | agent task stack used | heap peak use |")
        p("|---|---:|---:|")
        for phase, what in (("plain", "plain MQTT (connect, subscribe, 100 QoS 1 publishes)"),
                            ("shadow", "+ a shadow client (update, get, delete, delta callback)"),
                            ("tls", "+ mutual TLS (TLS 1.3, RSA-2048 both ways) and 100 publishes")):
            p("| %s | %s | %s |" % (what, n(fig["agent_stack_used_bytes." + phase]), n(fig["heap_peak_use_bytes." + phase])))
        p("")
        p("Instructions (timer 0 counts × 40 under `-icount shift=0`; interrupts count to the task they interrupt):")
        p("")
        p("| what | instructions |")
        p("|---|---:|")
        for key, what in (("qos1_round_trip_instructions.all_tasks", "QoS 1 publish round trip (MQTT_AGENT_Publish until PUBACK), all tasks but idle"),
                          ("qos1_round_trip_instructions.agent_task", "… of which the agent task"),
                          ("qos1_round_trip_instructions_tls.all_tasks", "QoS 1 publish round trip over TLS, all tasks but idle"),
                          ("qos1_round_trip_instructions_tls.agent_task", "… of which the agent task"),
                          ("tls_handshake_instructions.agent_task", "TLS connect in the agent task (handshake with RSA-2048 client signature, CONNECT, CONNACK)")):
            if key in fig:
                p("| %s | %s |" % (what, n(fig[key])))
        p("")
        p("Stack each API call takes from the calling task (high-water mark of a fresh task, minus an empty task's):")
        p("")
        p("| call | bytes |")
        p("|---|---:|")
        for key in sorted(k for k in fig if k.startswith("caller_stack_bytes.")):
            p("| `%s` | %s |" % (key[len("caller_stack_bytes."):], n(fig[key])))
        p("")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1:])
