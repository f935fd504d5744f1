#!/usr/bin/env bash
# Installs what the demos and tests need, skipping what is already there:
# Debian packages, Rust targets and cargo tools. Safe to run repeatedly.
set -euo pipefail

need_apt=()
# lib32asan8, lib32ubsan1: the 32-bit ASan and UBSan runtimes of Debian 12's
# gcc for the sanitizer build (scripts/sanitize.sh); gcc-multilib pulls them
# in today, named here so that a slimmer gcc-multilib cannot drop them.
# qemu-system-arm: the Cortex-M4F programs on QEMU's MPS2 AN386 board (tests/qemu).
for pkg in cmake gcc-multilib lib32asan8 lib32ubsan1 gcc-arm-none-eabi libnewlib-arm-none-eabi mosquitto mosquitto-clients openssl qemu-system-arm; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# The simulator's Secure Sockets port does TLS with mbedTLS for the "port" TLS
# back-end (c_demo/secure_sockets/sim_tls_mbedtls.c): the i386 build of
# libmbedtls-dev, from Debian's i386 architecture. The PKCS#11 tests use
# SoftHSM2's i386 module and tool (libsofthsm2:i386, softhsm2:i386).
need_i386=()
for pkg in libmbedtls-dev:i386 libsofthsm2:i386 softhsm2:i386; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_i386+=("$pkg")
done
if [ ${#need_i386[@]} -gt 0 ]; then
  echo "setup: installing ${need_i386[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  dpkg --print-foreign-architectures | grep -qx i386 || $SUDO dpkg --add-architecture i386
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_i386[@]}" >/dev/null
fi

# The TLS tests' PKI (tests/tools/tls_certs.py) needs the Python package
# cryptography (38 or later) for the python3 on PATH, which runs the harness.
if ! python3 -c 'import cryptography' >/dev/null 2>&1; then
  echo "setup: installing the Python package cryptography for $(command -v python3)"
  if ! python3 -m pip install -q cryptography; then
    # Debian's own python3 refuses pip (PEP 668): take Debian's package.
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-cryptography >/dev/null
  fi
  python3 -c 'import cryptography'
fi

# The broker must not run as a system service: tests start their own on free ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl stop mosquitto || true
fi

installed_targets=$(rustup target list --installed)
for t in i686-unknown-linux-gnu thumbv7em-none-eabihf; do
  grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
done
