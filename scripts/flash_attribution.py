#!/usr/bin/env python3
"""Where the library's flash goes in the Cortex-M4F footprint images
(scripts/flash-attribution.sh builds them and runs this).

Inputs: two build directories of benches/footprint/ with fp_base, fp_agent and
fp_shadow images (+ .map):
  --shipped DIR   the release build exactly as scripts/footprint.sh's "s"
                  variant makes it (the figures of record: symbol sizes and
                  section totals come from here)
  --dwarf DIR     the same build with line tables (CARGO_PROFILE_RELEASE_DEBUG=
                  line-tables-only), relinked with the debug sections kept
                  (fp_<image>.dwarf.elf): every 2-byte unit of the library's
                  Rust code is mapped to source (addr2line -i) to say which
                  source module the bytes were generated from, through LTO's
                  inlining. The Rust code must be byte-identical to --shipped
                  (checked: every Rust symbol has the same size in both).

Prints Markdown: per image (agent + pool, agent + pool + shadow), the flash
the library adds (image minus fp_base; flash = .text + .rodata + .data) by
origin, Rust code by source module and by the module of the function that
holds it, the top symbols, formatting and panic machinery, duplicates, data
in code. With --update FILE, replaces the text between the markers
"<!-- BEGIN flash-attribution.py -->" and "<!-- END flash-attribution.py -->".
"""

import argparse
import collections
import importlib.util
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("fp_report", os.path.join(ROOT, "benches", "footprint", "report.py"))
fp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fp)

TOOL = "arm-none-eabi-"
IMAGES = [("agent", "agent + pool"), ("shadow", "agent + pool + shadow")]
LIB_ORIGINS = ("lib: Rust code", "lib: freertos-rust C shim", "lib: compiler_builtins", "lib: credentials shim (C)")
PANIC_RE = re.compile(r"core::panicking|core::option::(expect|unwrap)_failed|core::result::unwrap_failed|"
                      r"slice_index_fail|slice_(start|end)_index|len_mismatch_fail|panic_bounds_check|"
                      r"core::panic::|on_panic|str_index_overflow_fail|slice_error_fail")


def run(args, stdin=None):
    return subprocess.run(args, check=True, capture_output=True, text=True, input=stdin).stdout


def flash(d):
    return d["text"] + d["rodata"] + d["data"]


def n(x):
    return "{:,}".format(int(round(x)))


# ---------------------------------------------------------------- source modules

def module_of_file(path):
    """A source file (from DWARF) -> a module label."""
    if not path or path.startswith("??"):
        return "(no line info)"
    m = re.search(r"/library/(core|alloc)/src/(.*)$", path)
    if m:
        crate, rest = m.group(1), m.group(2)
        first = rest.split("/")[0]
        first = first[:-3] if first.endswith(".rs") else first
        if crate == "core":
            if first == "fmt":
                return "core::fmt"
            if first in ("panicking", "panic"):
                return "core::panicking"
            if rest.startswith("slice/index.rs"):
                return "core::slice::index (bounds checks)"
            if rest.startswith("str/validations.rs") or rest.startswith("str/converts.rs") or rest.startswith("str/lossy.rs"):
                return "core::str (UTF-8 validation)"
        return "%s::%s" % (crate, first)
    if "compiler_builtins" in path or "compiler-builtins" in path:
        return "compiler_builtins"
    m = re.search(r"/registry/src/[^/]+/([A-Za-z0-9_.-]+?)-(\d+\.\d+\.\d+[^/]*)/(?:src/)?(.*)$", path)
    if m:
        crate = m.group(1).replace("-", "_")
        first = m.group(3).split("/")[0]
        first = first[:-3] if first.endswith(".rs") else first
        return "%s::%s" % (crate, first) if first not in ("lib", "mod") else crate
    m = re.search(r"(?:^|/)src/((?:[A-Za-z0-9_]+/)*[A-Za-z0-9_]+)\.rs$", path)
    if m and (path.startswith(ROOT) or not path.startswith("/")):
        parts = [p for p in m.group(1).split("/") if p != "mod"]
        depth = 3 if parts and parts[0] in ("platform", "agent") else 2
        return "afrcloud::" + "::".join(parts[:depth]) if parts[0] != "lib" else "afrcloud"
    if "/out/" in path or "/build/" in path:
        return "afrcloud (build.rs output)"
    if re.search(r"cgu\.\d+$", path):
        return "(LTO-generated, no source line)"
    return "(other: %s)" % os.path.basename(path)


def area_of_module(mod):
    """A coarse grouping of modules, for the summary table."""
    rules = [
        (r"^afrcloud::mqtt::codec", "MQTT codec (mqtt::codec)"),
        (r"^afrcloud::mqtt::topic", "topic matching (mqtt::topic)"),
        (r"^afrcloud::mqtt", "mqtt (other)"),
        (r"^afrcloud::platform::agent_task", "agent task (platform::agent_task)"),
        (r"^afrcloud::agent", "agent core / session (agent::)"),
        (r"^afrcloud::ffi::agent", "C ABI: agent (ffi::agent*)"),
        (r"^afrcloud::ffi::bufferpool", "C ABI: buffer pool (ffi::bufferpool)"),
        (r"^afrcloud::ffi::shadow", "C ABI: shadow (ffi::shadow*)"),
        (r"^afrcloud::ffi", "C ABI: other ffi"),
        (r"^afrcloud::pool", "buffer pool (pool)"),
        (r"^afrcloud::handle", "handles (handle)"),
        (r"^afrcloud::shadow::json", "shadow JSON (shadow::json)"),
        (r"^afrcloud::shadow", "shadow (shadow::, other)"),
        (r"^afrcloud::platform::(rtos|heap|runtime|log|link|sockets)", "platform glue (rtos, heap, sockets, ...)"),
        (r"^afrcloud", "afrcloud (other)"),
        (r"^heapless", "heapless"),
        (r"^serde_json_core", "serde-json-core"),
        (r"^serde", "serde"),
        (r"^freertos_rust", "freertos-rust (Rust side)"),
        (r"^core::fmt", "core::fmt"),
        (r"^core::panicking", "panics (core::panicking)"),
        (r"^core::slice::index", "bounds-check panics (core::slice::index)"),
        (r"^core::str \(UTF-8", "UTF-8 validation (core::str)"),
        (r"^core::(ptr|intrinsics|mem)", "core::ptr / mem (copies, drops)"),
        (r"^core::", "core (other: iter, slice, option, cmp, num, ...)"),
        (r"^alloc", "alloc"),
        (r"^compiler_builtins", "compiler_builtins"),
    ]
    for pat, label in rules:
        if re.search(pat, mod):
            return label
    return mod


# ---------------------------------------------------------------- DWARF

def dwarf_frames(elf, addrs):
    """{addr: [(function, module), ...] innermost first} via addr2line -i."""
    out = {}
    text = run([TOOL + "addr2line", "-e", elf, "-a", "-i", "-f", "-C"], "\n".join("0x%x" % a for a in addrs) + "\n")
    cur = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if re.match(r"^0x[0-9a-f]+$", line):
            cur = int(line, 16)
            out[cur] = []
            i += 1
            continue
        func = line
        loc = lines[i + 1] if i + 1 < len(lines) else "??:0"
        out[cur].append((func, module_of_file(loc.rsplit(":", 1)[0])))
        i += 2
    return out


def holder_module(frames):
    """The module of the outermost frame that is not core/alloc (the function,
    possibly a closure inlined into a core shim, that holds the code)."""
    for func, mod in reversed(frames):
        if not mod.startswith(("core", "alloc", "(no line")):
            return mod
    return frames[-1][1] if frames else "(no line info)"


# ---------------------------------------------------------------- per image

class Analysis:
    def __init__(self, shipped, dwarf, name):
        self.name = name
        self.base = fp.Image(shipped, "base")
        self.img = fp.Image(shipped, name)
        self.dimg = fp.Image(dwarf, name)
        self.delf = os.path.join(dwarf, "fp_%s.dwarf.elf" % name)
        base_o = self.base.by_origin()
        self.origins = {}
        for o, d in self.img.by_origin().items():
            b = base_o.get(o, dict.fromkeys(fp.CLASSES, 0))
            self.origins[o] = {c: d[c] - b[c] for c in fp.CLASSES}
        for o, b in base_o.items():
            if o not in self.origins:
                self.origins[o] = {c: -b[c] for c in fp.CLASSES}
        t, bt = self.img.totals, self.base.totals
        self.delta = {c: t[c] - bt[c] for c in fp.CLASSES}
        self.symbols = [s for s in self.img.symbols() if s[3] in LIB_ORIGINS]
        self.check_identical()
        self.attribute()

    def check_identical(self):
        def rust(img):
            return collections.Counter((s[4], s[0]) for s in img.symbols() if s[3] == "lib: Rust code")
        a, b = rust(self.img), rust(self.dimg)
        self.identical = a == b
        self.mismatch = sorted(set((a - b).keys()) | set((b - a).keys()))[:5]

    def attribute(self):
        """Per 2-byte unit of the Rust code's .text in the DWARF image."""
        units = []
        for addr, size, sec, fname in self.dimg.pieces:
            if fp.origin_of(fname) == "lib: Rust code" and self.dimg.sections[sec][0] == "text":
                units.extend(range(addr, addr + size, 2))
        frames = dwarf_frames(self.delf, units)
        self.by_source = collections.Counter()
        self.by_holder = collections.Counter()
        self.cross = collections.defaultdict(collections.Counter)  # source -> holder -> bytes
        self.sym_sources = collections.defaultdict(collections.Counter)  # symbol addr -> source -> bytes
        syms = sorted((s[0], s) for s in [])
        # Symbol ranges of the DWARF image (Rust code), to know which function holds a unit.
        ranges = []
        for line in run([TOOL + "nm", "-S", "-C", "--defined-only", self.delf]).splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4 and parts[2] in "tTwW":
                ranges.append((int(parts[0], 16) & ~1, int(parts[1], 16), parts[3]))
        ranges.sort()
        starts = [r[0] for r in ranges]
        import bisect
        self.unit_symbol = {}
        for a in units:
            fr = frames.get(a) or [("??", "(no line info)")]
            src = fr[0][1]
            hold = holder_module(fr)
            self.by_source[src] += 2
            self.by_holder[hold] += 2
            self.cross[src][hold] += 2
            i = bisect.bisect_right(starts, a) - 1
            if i >= 0 and ranges[i][0] <= a < ranges[i][0] + ranges[i][1]:
                self.sym_sources[ranges[i][2]][src] += 2
        self.rust_text = len(units) * 2

    def rodata_pieces(self):
        """The library's read-only data pieces: (input section, size, preview)."""
        out = []
        with open(self.img.elf.replace(".elf", ".map"), errors="replace") as f:
            text = f.read()
        text = text[text.index("Linker script and memory map"):]  # not the discarded sections
        for m in re.finditer(r"^ (\.rodata\S*)\s*\n?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$", text, re.M):
            name, addr, size, fname = m.group(1), int(m.group(2), 16), int(m.group(3), 16), m.group(4)
            if size and addr and fp.origin_of(fname) in LIB_ORIGINS:
                out.append((name, addr, size))
        return out


def read_bytes(elf, addr, size):
    """Bytes of the image at addr (for previews of constants), from the file
    offset of the allocated section that holds them."""
    for line in run([TOOL + "readelf", "-S", "-W", elf]).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+\S+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+\S+\s+(\S*)", line)
        if not m or "A" not in m.group(5) or m.group(1) == "NOBITS":
            continue
        sec_addr, off, sec_size = int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16)
        if sec_addr <= addr < sec_addr + sec_size:
            with open(elf, "rb") as f:
                f.seek(off + addr - sec_addr)
                return f.read(size)
    return b""


def preview(b):
    s = "".join(chr(c) if 32 <= c < 127 else "." for c in b)
    printable = sum(1 for c in b if 32 <= c < 127)
    if printable >= 0.8 * len(b):
        return '"%s"' % s[:60].replace("|", "\\|")
    return "(binary: %s%s)" % (b[:12].hex(" "), " ..." if len(b) > 12 else "")


def rust_text_ranges(img):
    return [(a, a + s) for a, s, sec, f in img.pieces
            if fp.origin_of(f) == "lib: Rust code" and img.sections[sec][0] == "text"]


def panic_sites(elf, img):
    """Calls (bl/b.w) from library Rust code to panic functions: {target: [caller, ...]}."""
    sites = collections.defaultdict(list)
    ranges = rust_text_ranges(img)
    if not ranges:
        return sites
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    dis = run([TOOL + "objdump", "-d", "-C", "--no-show-raw-insn", "--start-address=0x%x" % lo,
               "--stop-address=0x%x" % hi, elf])
    func = None
    for line in dis.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            func = m.group(1)
            continue
        m = re.search(r"\b(bl|b\.w|b)\s+[0-9a-f]+ <([^>+]+)(\+0x[0-9a-f]+)?>", line)
        if m and PANIC_RE.search(m.group(2)) and not PANIC_RE.search(func or ""):
            sites[m.group(2)].append(func)
    return sites


def data_in_code(elf, img):
    """Bytes of data inside Rust functions ($d mapping symbols: literal pools,
    jump tables), by function; and the number of tbb/tbh jump tables."""
    syms = []
    for line in run([TOOL + "nm", "-n", "--special-syms", "-C", elf]).splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            syms.append((int(parts[0], 16), parts[1], parts[2]))
    ranges = rust_text_ranges(img)

    def lib_range(a):
        return next(((lo, hi) for lo, hi in ranges if lo <= a < hi), None)
    per_func = collections.Counter()
    func = None
    for i, (a, t, name) in enumerate(syms):
        if t in "tTwW" and not name.startswith("$"):
            func = name
        r = lib_range(a)
        if name.startswith("$d") and r:
            nxt = next((b for b, _, _ in syms[i + 1:] if b > a), r[1])
            per_func[func] += min(nxt, r[1]) - a
    lo = min(r[0] for r in ranges)
    hi = max(r[1] for r in ranges)
    dis = run([TOOL + "objdump", "-d", "--no-show-raw-insn", "--start-address=0x%x" % lo, "--stop-address=0x%x" % hi, elf])
    tables = len(re.findall(r"\ttb[bh]\b", dis))
    return per_func, tables


# ---------------------------------------------------------------- output

def table(p, header, rows, right=None):
    right = right or [i > 0 for i in range(len(header))]
    p("| " + " | ".join(header) + " |")
    p("|" + "|".join("---:" if r else "---" for r in right) + "|")
    for r in rows:
        p("| " + " | ".join(str(c) for c in r) + " |")
    p("")


def section(p, a, label):
    p("### %s (%s bytes of flash over the baseline image)" % (label, n(flash(a.delta))))
    p("")
    p("Image minus `fp_base`: .text %s, .rodata %s, .data %s (flash %s); .bss %s. "
      "Rust code identical in the line-table build: %s."
      % (n(a.delta["text"]), n(a.delta["rodata"]), n(a.delta["data"]), n(flash(a.delta)), n(a.delta["bss"]),
         "yes (every Rust symbol has the same size)" if a.identical else "NO (%s)" % a.mismatch))
    p("")
    p("**By origin** (linker map, image minus baseline):")
    p("")
    rows = sorted(((o, flash(d), d["text"], d["rodata"], d["data"], d["bss"]) for o, d in a.origins.items()
                   if any(d.values())), key=lambda r: -r[1])
    table(p, ["origin", "flash", ".text", ".rodata", ".data", ".bss"],
          [(o, n(f), n(t), n(r), n(d), n(b)) for o, f, t, r, d, b in rows])

    total = a.rust_text
    p("**Rust code (.text, %s bytes) by area**: each 2-byte unit attributed to the source its line-table row "
      "names, innermost inlined frame first (so `core::slice::index` = bounds-check code inlined into "
      "callers, wherever it sits):" % n(total))
    p("")
    areas = collections.Counter()
    for mod, b in a.by_source.items():
        areas[area_of_module(mod)] += b
    table(p, ["area", "bytes", "share"], [(ar, n(b), "%.1f%%" % (100.0 * b / total)) for ar, b in areas.most_common()])

    p("**Rust code by source module** (innermost frame), and **by holding module** (the function the bytes "
      "sit in: outermost frame outside core/alloc, so a closure inlined into a `call_once` vtable shim counts "
      "for the closure's module):")
    p("")
    mods = sorted(set(a.by_source) | set(a.by_holder), key=lambda m: -(a.by_source[m] + a.by_holder[m]))
    table(p, ["module", "generated from (innermost)", "held by (outermost)"],
          [(m, n(a.by_source[m]), n(a.by_holder[m])) for m in mods if a.by_source[m] >= 16 or a.by_holder[m] >= 16])

    p("**Top 30 library symbols** (sizes from the shipped image; the main sources of their bytes from the "
      "line tables):")
    p("")
    rows = []
    for size, typ, cls, origin, name in sorted(a.symbols, key=lambda s: -s[0])[:30]:
        src = a.sym_sources.get(name)
        top = ", ".join("%s %s" % (m, n(b)) for m, b in src.most_common(3)) if src else origin.replace("lib: ", "")
        rows.append((n(size), cls, "`%s`" % name.replace("|", "\\|"), top))
    table(p, ["bytes", "class", "symbol", "generated from (top 3)"], rows, right=[True, False, False, False])

    # Formatting and panics.
    fmt_syms = [s for s in a.symbols if "core::fmt" in s[4] or re.search(r" as core::fmt::", s[4])]
    fmt_bytes = a.by_source.get("core::fmt", 0)
    panic_syms = [s for s in a.symbols if PANIC_RE.search(s[4])]
    sites = panic_sites(a.dimg.elf.replace(".elf", ".dwarf.elf"), a.dimg)
    p("**Formatting and panics**: core::fmt symbols: %d (%s bytes); code generated from core/src/fmt: %s bytes. "
      "Panic entry points: %s (%s bytes); inline code from core::panicking %s bytes, from "
      "core::slice::index %s bytes. Panic call sites in Rust code: %d."
      % (len(fmt_syms), n(sum(s[0] for s in fmt_syms)), n(fmt_bytes),
         ", ".join("`%s` %d" % (s[4], s[0]) for s in sorted(panic_syms, key=lambda s: -s[0])) or "none",
         n(sum(s[0] for s in panic_syms)), n(a.by_source.get("core::panicking", 0)),
         n(a.by_source.get("core::slice::index (bounds checks)", 0)), sum(len(v) for v in sites.values())))
    p("")
    if sites:
        rows = []
        for target, callers in sorted(sites.items(), key=lambda kv: -len(kv[1])):
            c = collections.Counter(callers)
            rows.append(("`%s`" % target, len(callers), ", ".join("`%s` %d" % (f, k) for f, k in c.most_common(6))
                         + (" ..." if len(c) > 6 else "")))
        table(p, ["panic function", "call sites", "callers (sites)"], rows, right=[False, True, False])

    # Duplicates.
    names = collections.defaultdict(list)
    for s in a.symbols:
        names[s[4]].append(s[0])
    dups = sorted(((k, v) for k, v in names.items() if len(v) > 1), key=lambda kv: -sum(kv[1]))
    generic = collections.defaultdict(list)
    for s in a.symbols:
        g = re.sub(r"<[^<>]*>", "<_>", s[4])
        generic[g].append((s[0], s[4]))
    mono = sorted(((k, v) for k, v in generic.items() if len({x[1] for x in v}) > 1), key=lambda kv: -sum(x[0] for x in kv[1]))
    p("**Same name, several copies** (closures and shims that LTO kept apart, monomorphised instances):")
    p("")
    rows = [("`%s`" % k.replace("|", "\\|"), len(v), n(sum(v)), ", ".join(str(x) for x in sorted(v, reverse=True)[:8]))
            for k, v in dups[:10]]
    rows += [("`%s` (generic)" % k.replace("|", "\\|"), len(v), n(sum(x[0] for x in v)),
              ", ".join(str(x[0]) for x in sorted(v, reverse=True)[:8])) for k, v in mono[:10]]
    table(p, ["symbol", "copies", "bytes", "sizes"], rows, right=[False, True, True, False])

    per_func, tables = data_in_code(a.dimg.elf.replace(".elf", ".dwarf.elf"), a.dimg)
    p("**Data in code** (literal pools and jump tables inside Rust functions, `$d` mapping symbols): %s bytes; "
      "%d `tbb`/`tbh` jump tables. Largest: %s."
      % (n(sum(per_func.values())), tables,
         ", ".join("`%s` %d" % (f, b) for f, b in per_func.most_common(6))))
    p("")
    ro = a.rodata_pieces()
    p("**Library .rodata** (%s bytes in %d pieces; largest):" % (n(sum(r[2] for r in ro)), len(ro)))
    p("")
    rows = [(r[0][:70], r[2], preview(read_bytes(a.img.elf, r[1], r[2]))) for r in sorted(ro, key=lambda r: -r[2])[:12]]
    table(p, ["input section", "bytes", "contents"], rows, right=[False, True, False])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shipped", required=True)
    ap.add_argument("--dwarf", required=True)
    ap.add_argument("--update", help="Markdown file whose generated block to replace")
    ns = ap.parse_args()
    out = []
    p = out.append
    analyses = [(Analysis(ns.shipped, ns.dwarf, name), label) for name, label in IMAGES]
    p("Generated by `scripts/flash-attribution.sh` (commit %s)."
      % run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip())
    p("")
    a0, a1 = analyses[0][0], analyses[1][0]
    p("Summary: agent + pool %s bytes of flash, agent + pool + shadow %s (shadow alone %s)."
      % (n(flash(a0.delta)), n(flash(a1.delta)), n(flash(a1.delta) - flash(a0.delta))))
    p("")
    for a, label in analyses:
        section(p, a, label)
    # Shadow alone, by area.
    p("### The shadow client alone (agent + pool + shadow minus agent + pool), Rust code by area")
    p("")
    areas0, areas1 = collections.Counter(), collections.Counter()
    for mod, b in a0.by_source.items():
        areas0[area_of_module(mod)] += b
    for mod, b in a1.by_source.items():
        areas1[area_of_module(mod)] += b
    rows = sorted(((ar, areas1[ar] - areas0[ar], areas0[ar], areas1[ar]) for ar in set(areas0) | set(areas1)),
                  key=lambda r: -r[1])
    table(p, ["area", "shadow adds", "agent + pool", "+ shadow"], [(r[0], n(r[1]), n(r[2]), n(r[3])) for r in rows])
    text = "\n".join(out)
    if ns.update:
        with open(ns.update) as f:
            doc = f.read()
        begin, end = "<!-- BEGIN flash-attribution.py -->", "<!-- END flash-attribution.py -->"
        if begin not in doc or end not in doc:
            sys.exit("%s: no generated block (%s ... %s)" % (ns.update, begin, end))
        doc = doc[:doc.index(begin) + len(begin)] + "\n" + text + "\n" + doc[doc.index(end):]
        with open(ns.update, "w") as f:
            f.write(doc)
    else:
        print(text)


if __name__ == "__main__":
    main()
