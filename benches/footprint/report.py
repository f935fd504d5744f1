#!/usr/bin/env python3
"""Reads the footprint images that benches/footprint/CMakeLists.txt builds and
prints the library's share of flash and RAM (scripts/footprint.sh runs it).

For each build variant (a build directory with fp_base.elf, fp_agent.elf,
fp_shadow.elf, and fp_tls.elf / fp_tls_roots.elf when built, and their .map
files):
- the share of each configuration = that image's section totals minus
  fp_base's (text = executable sections, rodata = other read-only ones, data =
  initialised writable, bss = zero-initialised), compared with the targets and
  with AFR v1.4.7's numbers measured the same way;
- with TLS (the library built with the `tls` feature, and with `tls` +
  `webpki-roots`): the same shares, the marginal cost of TLS (fp_tls minus
  fp_shadow) and of the root set (fp_tls_roots minus fp_tls); no target, only
  the share of a 1 MB-flash MCU they take;
- where those bytes come from, by the input files of the linker map: the Rust
  objects in libafrcloud.a, compiler_builtins, freertos-rust's C shim, kernel
  functions only the library uses, libgcc and newlib members it pulls in;
- (unless --smoke) the biggest symbols that come from libafrcloud.a, and their
  sum per crate, for the shadow image and for the biggest TLS image (with the
  crates grouped: rustls, rustls-webpki, RSA, P-256, AES-GCM, SHA-2, ...).

Writes a CSV of every row to --csv. Always exits 0 once the images were read:
this is a measurement, not a test.
"""

import argparse
import bisect
import csv
import os
import re
import subprocess
import sys

TOOL_PREFIX = "arm-none-eabi-"

# (image, label, flash target, AFR v1.4.7 flash, AFR v1.4.7 RAM = the RAM target)
CONFIGS = [
    ("agent", "agent + pool", 7000, 8749, 12796),
    ("shadow", "agent + pool + shadow", 12000, 15429, 13364),
]

# (image, label): the TLS images, when the build directory has them. No
# target: the aim is to fit a 1 MB-flash MCU with room to spare.
TLS_CONFIGS = [
    ("tls", "agent + pool + shadow + library TLS (Amazon roots)"),
    ("tls_roots", "agent + pool + shadow + library TLS (Mozilla roots)"),
]
MCU_FLASH = 1024 * 1024

CLASSES = ("text", "rodata", "data", "bss")


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def section_classes(elf):
    """Allocated sections of an ELF: {name: (class, size)}."""
    out = {}
    for line in run([TOOL_PREFIX + "readelf", "-S", "-W", elf]).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+(\S*)\s+\d+\s+\d+\s+\d+\s*$", line)
        if not m:
            continue
        name, typ, size, flags = m.group(1), m.group(2), int(m.group(3), 16), m.group(4)
        if "A" not in flags or size == 0:
            continue
        if typ == "NOBITS":
            cls = "bss"
        elif "X" in flags:
            cls = "text"
        elif "W" in flags:
            cls = "data"
        else:
            cls = "rodata"
        out[name] = (cls, size)
    return out


def totals(sections):
    t = dict.fromkeys(CLASSES, 0)
    for cls, size in sections.values():
        t[cls] += size
    return t


def origin_of(path):
    """Which part of the image an input file of the map belongs to."""
    m = re.search(r"libafrcloud\.a\((.*)\)$", path)
    if re.search(r"lib[A-Za-z0-9_]*_credentials\.a\(", path):
        return "lib: credentials shim (C)"
    if m:
        member = m.group(1)
        if member.startswith("compiler_builtins-"):
            return "lib: compiler_builtins"
        if member.endswith(".o") and ".rcgu." not in member:
            return "lib: freertos-rust C shim"
        return "lib: Rust code"
    if "libfp_freertos.a" in path:
        return "FreeRTOS kernel"
    if "libgcc.a" in path:
        return "libgcc"
    if re.search(r"lib(c|g|c_nano|g_nano|nosys)\.a", path):
        return "newlib"
    if "footprint_main" in path:
        return "main (calls)"
    if "startup_cm4f" in path or "stub_sockets" in path or "stub_tls_hooks" in path:
        return "startup + stub sockets + TLS hooks"
    return "other"


def member_of(path):
    m = re.search(r"([^/()]+)\(([^()]*)\)$", path)
    return f"{m.group(1)}({m.group(2)})" if m else os.path.basename(path)


def parse_map(path, sections):
    """Input sections of the memory map: list of (start, size, out_section, file)."""
    with open(path, errors="replace") as f:
        lines = f.read().splitlines()
    try:
        start = lines.index("Linker script and memory map")
    except ValueError:
        raise SystemExit(f"{path}: no memory map")
    pieces = []
    out_sec = None
    pending = None  # input section name whose address is on the next line
    last_file = None
    for line in lines[start + 1:]:
        if not line:
            continue
        if not line[0].isspace():
            name = line.split()[0]
            out_sec = name if name in sections else None
            pending = None
            continue
        if out_sec is None:
            continue
        m = re.match(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if m:
            name, addr, size, fname = m.group(1), int(m.group(2), 16), int(m.group(3), 16), m.group(4).strip()
            if size:
                pieces.append((addr, size, out_sec, fname))
            last_file = fname
            pending = None
            continue
        m = re.match(r"^ \*fill\*\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", line)
        if m:
            size = int(m.group(2), 16)
            if size and last_file:
                pieces.append((int(m.group(1), 16), size, out_sec, last_file))
            continue
        m = re.match(r"^ (\S+)$", line)
        if m and not m.group(1).startswith("*"):
            pending = m.group(1)
            continue
        m = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if m and pending:
            addr, size, fname = int(m.group(1), 16), int(m.group(2), 16), m.group(3).strip()
            if size:
                pieces.append((addr, size, out_sec, fname))
            last_file = fname
            pending = None
            continue
    pieces.sort()
    return pieces


class Image:
    def __init__(self, build_dir, name):
        self.elf = os.path.join(build_dir, f"fp_{name}.elf")
        self.sections = section_classes(self.elf)
        self.totals = totals(self.sections)
        self.pieces = parse_map(os.path.join(build_dir, f"fp_{name}.map"), self.sections)
        self._starts = [p[0] for p in self.pieces]

    def by_origin(self):
        """{origin: {class: bytes}}."""
        out = {}
        for addr, size, sec, fname in self.pieces:
            cls = self.sections[sec][0]
            d = out.setdefault(origin_of(fname), dict.fromkeys(CLASSES, 0))
            d[cls] += size
        return out

    def members(self, origin):
        """{member: bytes} for the input files of one origin."""
        out = {}
        for addr, size, sec, fname in self.pieces:
            if origin_of(fname) == origin:
                out[member_of(fname)] = out.get(member_of(fname), 0) + size
        return out

    def piece_at(self, addr):
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            start, size, sec, fname = self.pieces[i]
            if start <= addr < start + size:
                return self.pieces[i]
        return None

    def symbols(self):
        """Defined symbols with a size: (size, type, class, origin, name)."""
        text = run([TOOL_PREFIX + "nm", "-S", "-C", "--defined-only", self.elf])
        by_addr = {}
        for line in text.splitlines():
            parts = line.split(" ", 3)
            if len(parts) != 4:
                continue
            addr, size, typ, name = int(parts[0], 16), int(parts[1], 16), parts[2], parts[3]
            piece = self.piece_at(addr)
            if not piece or not size:
                continue
            # Aliases (memcpy / __aeabi_memcpy, weak and strong names) share an
            # address: count the bytes once, under the most descriptive name.
            prev = by_addr.get(addr)
            if prev and (prev[0] > size or (prev[0] == size and ("::" in prev[4] or typ in "wW"))):
                continue
            by_addr[addr] = (size, typ, self.sections[piece[2]][0], origin_of(piece[3]), name)
        return list(by_addr.values())


KNOWN_CRATES = ["afrcloud", "core", "alloc", "compiler_builtins", "heapless", "serde_json_core",
                "serde_core", "serde", "ryu", "freertos_rust", "hash32", "byteorder", "stable_deref_trait",
                # TLS (cargo feature tls / webpki-roots)
                "rustls", "rustls_pki_types", "webpki", "webpki_roots", "rsa", "num_bigint_dig", "num_bigint",
                "num_integer", "num_traits", "num_iter", "pkcs1", "pkcs8", "spki", "sec1", "der", "pem_rfc7468",
                "base64ct", "p256", "primeorder", "elliptic_curve", "ecdsa", "crypto_bigint", "ff", "group",
                "rfc6979", "aes", "aes_gcm", "ghash", "polyval", "universal_hash", "ctr", "cipher", "aead",
                "sha2", "hmac", "digest", "hkdf", "subtle", "zeroize", "signature", "rand_core", "generic_array",
                "typenum", "smallvec", "spin", "once_cell", "log", "cpufeatures", "inout", "block_buffer",
                "const_oid", "untrusted", "libm", "pki_types"]

# Crate groups for the TLS image's summary: where the flash goes.
CRATE_GROUPS = [
    ("MQTT agent, pool, shadow (afrcloud, serde-json-core, heapless, freertos-rust)",
     ["afrcloud", "afrcloud (C ABI)", "serde_json_core", "serde_core", "serde", "ryu", "heapless", "hash32",
      "byteorder", "stable_deref_trait", "freertos_rust", "freertos-rust shim (C)", "credentials shim (C)"]),
    ("TLS glue + provider (afrcloud::tls, platform TLS)", ["afrcloud::tls"]),
    ("rustls (+ rustls-pki-types)", ["rustls", "rustls_pki_types"]),
    ("rustls-webpki (+ untrusted)", ["webpki", "untrusted"]),
    ("webpki-roots", ["webpki_roots"]),
    ("RSA (rsa, num-bigint-dig, num-*, pkcs1, smallvec, libm)",
     ["rsa", "num_bigint_dig", "num_bigint", "num_integer", "num_traits", "num_iter", "pkcs1", "smallvec", "libm"]),
    ("P-256 (p256, primeorder, elliptic-curve, ecdsa, ff/group, rfc6979)",
     ["p256", "primeorder", "elliptic_curve", "ecdsa", "crypto_bigint", "ff", "group", "rfc6979"]),
    ("RustCrypto support (generic-array, typenum, subtle, zeroize, rand_core, signature)",
     ["generic_array", "typenum", "subtle", "zeroize", "rand_core", "signature"]),
    ("AES-GCM (aes, aes-gcm, ghash, polyval, ctr, cipher, aead)",
     ["aes", "aes_gcm", "ghash", "polyval", "universal_hash", "ctr", "cipher", "aead", "inout"]),
    ("SHA-2, HMAC, HKDF (sha2, hmac, digest, hkdf)", ["sha2", "hmac", "digest", "hkdf", "block_buffer"]),
    ("ASN.1 / PEM (der, const-oid, pkcs8, spki, sec1, base64ct)",
     ["der", "const_oid", "pkcs8", "spki", "sec1", "pem_rfc7468", "base64ct"]),
    ("core + alloc (incl. generic code instantiated for the crates above)", ["core", "alloc", "(machine outliner)"]),
    ("compiler_builtins", ["compiler_builtins"]),
]


def group_of(crate):
    for label, crates in CRATE_GROUPS:
        if crate in crates:
            return label
    return "other (" + crate + ")"


def crate_of(name, origin):
    if origin == "lib: freertos-rust C shim":
        return "freertos-rust shim (C)"
    if origin == "lib: credentials shim (C)":
        return "credentials shim (C)"
    if origin == "lib: compiler_builtins":
        return "compiler_builtins"
    for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)::", name):
        if m.group(1) in KNOWN_CRATES:
            if m.group(1) == "afrcloud" and re.match(r"afrcloud::(tls|platform::tls)\b", name[m.start():]):
                return "afrcloud::tls"
            return m.group(1)
    if re.match(r"^<(char|str|\[|u8|u16|u32|u64|usize|i32|bool)\b", name):
        return "core"
    if name.startswith("__rustc::") or name.startswith("__rust"):
        return "alloc"  # the allocator shim
    if name.startswith("OUTLINED_FUNCTION"):
        return "(machine outliner)"
    if "::" not in name:
        return "afrcloud (C ABI)" if re.match(r"^(MQTT_AGENT|BUFFERPOOL|SHADOW|FreeRTOS_Agent|MQTT)_", name) else "(C name)"
    return "(other)"


def lto_state(build_dir):
    """Whether cross-crate LTO happened: the Rust objects (other than
    compiler_builtins, which is never LTO'd) in the libafrcloud.a the images link."""
    with open(os.path.join(build_dir, "fp_agent.map"), errors="replace") as f:
        m = re.search(r"^LOAD (\S*libafrcloud\.a)$", f.read(), re.M)
    if not m:
        return "libafrcloud.a not found in the map"
    lib = m.group(1) if os.path.isabs(m.group(1)) else os.path.join(build_dir, m.group(1))
    crates = sorted({name.split("-")[0] for name in run([TOOL_PREFIX + "ar", "t", lib]).split()
                     if name.endswith(".rcgu.o") and not name.startswith("compiler_builtins-")})
    if len(crates) <= 1:
        return "cross-crate LTO applied (one Rust object besides compiler_builtins)"
    return f"cross-crate LTO NOT applied: {len(crates)} crates stay separate objects ({', '.join(crates)})"


def fmt(n):
    return f"{n:,}"


def flash(t):
    return t["text"] + t["rodata"] + t["data"]


def ram(t):
    return t["data"] + t["bss"]


def pct_mcu(f):
    return f"{100.0 * f / MCU_FLASH:.1f}% of 1 MB flash"


def fmt_machinery(symbols):
    """Bytes of the formatting and panic machinery among library symbols:
    (core::fmt, Debug/Display impls, panicking)."""
    fmt_b = dbg_b = panic_b = 0
    for size, typ, cls, origin, name in symbols:
        if not origin.startswith("lib: "):
            continue
        if re.search(r"core::panicking|core::panic::|panic_fmt|panic_bounds_check|slice_(start|end)_index|"
                     r"core::option::(expect|unwrap)_failed|core::result::unwrap_failed|rust_begin_unwind", name):
            panic_b += size
        elif re.search(r" as core::fmt::(Debug|Display|LowerHex|UpperHex|Write)>", name):
            dbg_b += size
        elif name.startswith("core::fmt::") or "<core::fmt::" in name:
            fmt_b += size
    return fmt_b, dbg_b, panic_b


def crate_tables(img, title, top, grouped):
    """Library symbols of one image by crate (and by crate group), and the biggest ones."""
    syms = img.symbols()
    lib = [s for s in syms if s[3].startswith("lib: ")]
    per_crate = {}
    for size, typ, cls, origin, name in lib:
        k = crate_of(name, origin)
        per_crate.setdefault(k, dict.fromkeys(CLASSES, 0))[cls] += size
    lib_total = {c: 0 for c in CLASSES}
    for o, d in img.by_origin().items():
        if o.startswith("lib: "):
            for c in CLASSES:
                lib_total[c] += d[c]
    named = {c: sum(d[c] for d in per_crate.values()) for c in CLASSES}
    unnamed = {c: lib_total[c] - named[c] for c in CLASSES}
    if grouped:
        groups = {}
        for k, d in per_crate.items():
            g = groups.setdefault(group_of(k), dict.fromkeys(CLASSES, 0))
            for c in CLASSES:
                g[c] += d[c]
        print(f"\n   library symbols in the '{title}' image, by crate group (from the demangled names;"
              " generic code counts where its path says, e.g. core::slice::sort for rustls' types):")
        grows = [[k, fmt(d["text"]), fmt(d["rodata"]), fmt(d["data"]), fmt(d["bss"]), fmt(flash(d)),
                  f"{100.0 * flash(d) / max(flash(lib_total), 1):.1f}%"]
                 for k, d in sorted(groups.items(), key=lambda kv: -flash(kv[1]))]
        grows.append(["(no symbol: constants, root certificates, panic locations, padding)", fmt(unnamed["text"]),
                      fmt(unnamed["rodata"]), fmt(unnamed["data"]), fmt(unnamed["bss"]), fmt(flash(unnamed)),
                      f"{100.0 * flash(unnamed) / max(flash(lib_total), 1):.1f}%"])
        grows.append(["library total (all of libafrcloud.a + credentials shim)", fmt(lib_total["text"]),
                      fmt(lib_total["rodata"]), fmt(lib_total["data"]), fmt(lib_total["bss"]),
                      fmt(flash(lib_total)), "100%"])
        table(grows, ["   group", ".text", ".rodata", ".data", ".bss", "flash", "of lib"])
    print(f"\n   library symbols in the '{title}' image, by crate (from the demangled names;"
          " closures called through a vtable count as core):")
    crows = [[k, fmt(d["text"]), fmt(d["rodata"]), fmt(d["data"]), fmt(d["bss"]), fmt(flash(d))]
             for k, d in sorted(per_crate.items(), key=lambda kv: -flash(kv[1]))]
    crows.append(["(no symbol: constants, panic locations, padding)", fmt(unnamed["text"]), fmt(unnamed["rodata"]),
                  fmt(unnamed["data"]), fmt(unnamed["bss"]), fmt(flash(unnamed))])
    table(crows, ["   crate", ".text", ".rodata", ".data", ".bss", "flash"])
    f_b, d_b, p_b = fmt_machinery(syms)
    print(f"   formatting and panic machinery among them: core::fmt {fmt(f_b)}, Debug/Display/Write impls "
          f"{fmt(d_b)}, panic paths {fmt(p_b)} bytes")
    print(f"\n   top {top} library symbols in the '{title}' image:")
    lib.sort(key=lambda s: -s[0])
    srows = [[fmt(s), t, c, crate_of(n, o), (n if len(n) <= 100 else n[:97] + "...")] for s, t, c, o, n in lib[:top]]
    table(srows, ["   bytes", "type", "class", "crate", "symbol"])
    return syms


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    def line(r):
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--smoke", action="store_true", help="skip the attribution and symbol listings")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--heap", help="the heap probe's output line (heap_probe: task=... agent=... clients=... shadow=...)")
    ap.add_argument("--variant", nargs=2, action="append", required=True, metavar=("LABEL", "BUILD_DIR"),
                    help="a build directory of benches/footprint; the first is the headline")
    args = ap.parse_args()

    csv_rows = []
    verdicts = []
    tls_verdicts = []
    summary = []
    for vi, (label, build_dir) in enumerate(args.variant):
        base = Image(build_dir, "base")
        images = {key: Image(build_dir, key) for key, *_ in CONFIGS}
        tls_keys = [key for key, _ in TLS_CONFIGS if os.path.exists(os.path.join(build_dir, f"fp_{key}.elf"))]
        images.update({key: Image(build_dir, key) for key in tls_keys})
        vname, vdesc = label.split(":")[0], label.split(": ", 1)[-1]
        print()
        print(f"== {label}" + ("   <- headline (the build cmake/AfrCloud.cmake ships)" if vi == 0 else ""))
        print(f"   {lto_state(build_dir)}")
        print(f"   baseline image (no library): text {fmt(base.totals['text'])}, rodata {fmt(base.totals['rodata'])}, "
              f"data {fmt(base.totals['data'])}, bss {fmt(base.totals['bss'])}")
        rows = []
        for key, name, flash_target, afr_flash, afr_ram in CONFIGS:
            d = {c: images[key].totals[c] - base.totals[c] for c in CLASSES}
            f, r = flash(d), ram(d)
            flash_ok, ram_ok = f <= flash_target, r <= afr_ram
            target = (f"flash <= {fmt(flash_target)}: {'met' if flash_ok else 'MISSED'}; "
                      f"RAM <= {fmt(afr_ram)}: {'met' if ram_ok else 'MISSED'}")
            rows.append([name, fmt(d["text"]), fmt(d["rodata"]), fmt(d["data"]), fmt(d["bss"]),
                         fmt(f), fmt(r), target, f"{fmt(afr_flash)} flash / {fmt(afr_ram)} RAM"])
            csv_rows.append({"variant": vname, "description": vdesc, "configuration": name, **d, "flash": f, "ram": r,
                             "flash_target": flash_target, "flash_target_met": flash_ok,
                             "ram_target": afr_ram, "ram_target_met": ram_ok,
                             "afr_flash": afr_flash, "afr_ram": afr_ram})
            if vi == 0:
                verdicts.append((name, f, flash_target, flash_ok, r, afr_ram, ram_ok))
            summary.append((vname, name, f, r, flash_target, flash_ok))
        shadow_only = {c: images["shadow"].totals[c] - images["agent"].totals[c] for c in CLASSES}
        rows.append(["(shadow alone: row 2 - row 1)", fmt(shadow_only["text"]), fmt(shadow_only["rodata"]),
                     fmt(shadow_only["data"]), fmt(shadow_only["bss"]), fmt(flash(shadow_only)),
                     fmt(ram(shadow_only)), "-", f"{fmt(15429 - 8749)} flash / {fmt(13364 - 12796)} RAM"])
        # TLS: no target, only the aim to fit a 1 MB-flash MCU with room to spare.
        marginals = [("(TLS alone: fp_tls - fp_shadow)", "tls", "shadow"),
                     ("(Mozilla roots instead of Amazon's: fp_tls_roots - fp_tls)", "tls_roots", "tls")]
        for key, name in TLS_CONFIGS:
            if key not in images:
                rows.append([name, "-", "-", "-", "-", "-", "-", "not built in this variant", "-"])
                continue
            d = {c: images[key].totals[c] - base.totals[c] for c in CLASSES}
            f, r = flash(d), ram(d)
            rows.append([name, fmt(d["text"]), fmt(d["rodata"]), fmt(d["data"]), fmt(d["bss"]),
                         fmt(f), fmt(r), pct_mcu(f), "-"])
            csv_rows.append({"variant": vname, "description": vdesc, "configuration": name, **d, "flash": f, "ram": r,
                             "note": pct_mcu(f) + "; no target (aim: fit a 1 MB-flash MCU with room to spare)"})
            if vi == 0:
                tls_verdicts.append((name, f, r))
            summary.append((vname, name, f, r, None, None))
        for name, key, ref in marginals:
            if key in images and ref in images:
                d = {c: images[key].totals[c] - images[ref].totals[c] for c in CLASSES}
                rows.append([name, fmt(d["text"]), fmt(d["rodata"]), fmt(d["data"]), fmt(d["bss"]),
                             fmt(flash(d)), fmt(ram(d)), pct_mcu(flash(d)), "-"])
                csv_rows.append({"variant": vname, "description": vdesc, "configuration": name, **d,
                                 "flash": flash(d), "ram": ram(d), "note": pct_mcu(flash(d))})
                if vi == 0:
                    tls_verdicts.append((name, flash(d), ram(d)))
        table(rows, ["configuration", ".text", ".rodata", ".data", ".bss", "flash", "RAM", "target", "AFR v1.4.7"])
        # The split is only meaningful if --gc-sections dropped the shadow client
        # (and its JSON code) from the agent + pool image.
        leaked = {}
        for size, t, c, o, n in images["agent"].symbols():
            if o.startswith("lib: ") and re.search(r"shadow|SHADOW_|serde|ryu", n):
                leaked[n] = (size, c)
        if leaked:
            total = sum(size for size, c in leaked.values())
            code = sum(size for size, c in leaked.values() if c in ("text", "rodata"))
            print(f"   split check: the agent + pool image still holds {len(leaked)} shadow/JSON symbols, "
                  f"{fmt(total)} bytes ({', '.join(f'{n} {sz} {c}' for n, (sz, c) in sorted(leaked.items())[:4])})"
                  + ("" if code else ": statics only, which LLVM's global merging put next to the agent's"))
        else:
            print("   split check: no shadow or JSON symbol in the agent + pool image (--gc-sections dropped them)")

        # The attribution and symbols: for the headline build and the last
        # variant (the smallest: opt-level z with the LTO applied).
        if args.smoke or vi not in (0, len(args.variant) - 1):
            continue

        # Where the share comes from: the shadow image and the biggest TLS image.
        base_o = base.by_origin()
        tls_key = tls_keys[-1] if tls_keys else None
        tls_name = dict(TLS_CONFIGS).get(tls_key)
        origin_configs = [(key, name) for key, name, *_ in CONFIGS] + ([(tls_key, tls_name)] if tls_key else [])
        for key, name in origin_configs:
            img_o = images[key].by_origin()
            print(f"\n   where the '{name}' share comes from (linker map, image minus baseline):")
            orows = []
            for origin in sorted(set(img_o) | set(base_o)):
                a, b = img_o.get(origin, dict.fromkeys(CLASSES, 0)), base_o.get(origin, dict.fromkeys(CLASSES, 0))
                d = {c: a[c] - b[c] for c in CLASSES}
                if any(d.values()):
                    orows.append([origin, fmt(d["text"]), fmt(d["rodata"]), fmt(d["data"]), fmt(d["bss"]),
                                  fmt(flash(d)), fmt(ram(d))])
            table(orows, ["   origin", ".text", ".rodata", ".data", ".bss", "flash", "RAM"])
            for origin in ("libgcc", "newlib"):
                extra = {m: s for m, s in images[key].members(origin).items() if m not in base.members(origin)}
                if extra:
                    print(f"   {origin} members only the library pulls in: " +
                          ", ".join(f"{m.split('(')[-1].rstrip(')')} {fmt(s)}"
                                    for m, s in sorted(extra.items(), key=lambda x: -x[1])))

        # Symbols.
        base_kernel = {n for s, t, c, o, n in base.symbols() if o == "FreeRTOS kernel"}
        img = images["shadow"]
        syms = crate_tables(img, CONFIGS[-1][1], args.top, grouped=False)
        kextra = sorted(((s, n) for s, t, c, o, n in syms if o == "FreeRTOS kernel" and n not in base_kernel), reverse=True)
        if kextra:
            print(f"   kernel functions only the library uses ({fmt(sum(s for s, n in kextra))} bytes): " +
                  ", ".join(f"{n} {s}" for s, n in kextra))
        if tls_key:
            tsyms = crate_tables(images[tls_key], tls_name, args.top, grouped=True)
            have = {n for s, t, c, o, n in syms}
            kextra = sorted(((s, n) for s, t, c, o, n in tsyms
                             if o == "FreeRTOS kernel" and n not in base_kernel and n not in have), reverse=True)
            if kextra:
                print(f"   kernel functions only TLS uses ({fmt(sum(s for s, n in kextra))} bytes): " +
                      ", ".join(f"{n} {s}" for s, n in kextra))


    if len(args.variant) > 1:
        print("\n== all variants: the library's flash (text + rodata + data) and static RAM")
        srows = [[v, n, fmt(f), fmt(r), (f"{fmt(t)}: {'met' if ok else 'MISSED by ' + fmt(f - t)}" if t is not None
                                         else f"none ({pct_mcu(f)})")]
                 for v, n, f, r, t, ok in summary]
        table(srows, ["variant", "configuration", "flash", "RAM", "flash target"])

    heap = None
    if args.heap:
        heap = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", args.heap))
    if heap:
        static = {v[0]: v[4] for v in verdicts}
        agent_heap = heap["agent"] + heap["clients"] - heap["task"]
        rows = []
        for (key, name, _, _, afr_ram), extra in zip(CONFIGS, (agent_heap, agent_heap + heap["shadow"])):
            total = static[name] + extra
            rows.append([name, fmt(static[name]), fmt(extra), fmt(total), fmt(afr_ram),
                         "met" if total <= afr_ram else f"MISSED by {fmt(total - afr_ram)}"])
            csv_rows.append({"variant": "RAM incl. heap (POSIX simulator probe)", "configuration": name,
                             "ram": total, "ram_target": afr_ram, "ram_target_met": total <= afr_ram,
                             "afr_ram": afr_ram,
                             "note": f"static {static[name]} + heap {extra} (the MQTT task's stack and TCB, "
                                     f"{heap['task']} bytes there, excluded)"})
        print("\n== RAM including the library's FreeRTOS heap use (heap probe on the 32-bit POSIX simulator,"
              " same AFR configuration)")
        print(f"   heap taken: MQTT_AGENT_Init + agent task start {fmt(heap['agent'])} (of which the MQTT task's"
              f" stack + TCB {fmt(heap['task'])}, left out below: AFR's agent allocated its task the same way),"
              f" MQTT_AGENT_Create of mqttconfigMAX_BROKERS clients {fmt(heap['clients'])}, dedicated SHADOW_ClientCreate {fmt(heap['shadow'])}")
        table(rows, ["configuration", "static RAM", "heap", "total", "AFR v1.4.7 RAM", "vs AFR"])
        print("   (kernel objects differ a little in size between the POSIX port and ARM_CM4F; AFR's own heap"
              " use, its command queue and semaphores, is not in its 12,796 / 13,364 either.)")

    print("\nTargets (headline build):")
    for name, f, ft, fok, r, rt, rok in verdicts:
        print(f"  {name}: flash {fmt(f)} <= {fmt(ft)} {'MET' if fok else 'MISSED by ' + fmt(f - ft)}; "
              f"RAM {fmt(r)} <= {fmt(rt)} (AFR's) {'MET' if rok else 'MISSED by ' + fmt(r - rt)}")
    if tls_verdicts:
        for name, f, r in tls_verdicts:
            print(f"  {name}: flash {fmt(f)} = {pct_mcu(f)}; static RAM {fmt(r)} (no target; aim: fit a"
                  " 1 MB-flash MCU with room to spare)")
        print("  TLS RAM at run time is mostly heap, not in .data/.bss: per TLS connection the record buffers"
              " (mqttconfigTLS_RX_BUFFER_SIZE + mqttconfigTLS_TX_BUFFER_SIZE, 16,645 + 4,096 by default)"
              " and rustls' session state, taken from the FreeRTOS heap at connect.")
    else:
        print("  + TLS: not built (FOOTPRINT_TLS=none)")
    print("  RAM here is static (.data + .bss) only, as AFR's numbers were measured: what the library takes")
    print("  from the FreeRTOS heap at run time (agent and client state, task stack) is inside heap_4's ucHeap,")
    print("  in every image alike" + (" (see the heap probe above)." if heap else "; scripts/footprint.sh without --smoke runs a heap probe."))
    print(f"\nCSV: {args.csv}")
    write_csv(args.csv, csv_rows)
    return 0


def write_csv(path, csv_rows):
    """The CSV, once every row (the heap probe's RAM rows too) is known."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fields = ["variant", "description", "configuration", *CLASSES, "flash", "ram", "flash_target", "flash_target_met",
              "ram_target", "ram_target_met", "afr_flash", "afr_ram", "note"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in csv_rows:
            w.writerow({k: r.get(k, "") for k in fields})


if __name__ == "__main__":
    sys.exit(main())
