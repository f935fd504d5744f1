#!/usr/bin/env bash
# Makes the fixed test PKI the tls_records fuzz target trusts (a P-256 CA, a
# server certificate for iot.example.com, a client certificate), valid for 100
# years from the day it is run. Only for fuzzing: the keys are public.
# The committed files were made once with this script; rerunning it changes
# them, and then the recorded seed flights must be remade too
# (cargo +nightly run --release --example tls_seeds, in fuzz/).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:iot.example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
key ca.key
openssl req -x509 -new -config "$tmp/cnf" -extensions ca -key ca.key -subj /CN=fuzz-ca -days 36500 -sha256 -out ca.pem
for name in server client; do
    key "$name.key"
    openssl req -new -config "$tmp/cnf" -key "$name.key" -subj "/CN=fuzz-$name" -out "$tmp/$name.csr"
    openssl x509 -req -in "$tmp/$name.csr" -CA ca.pem -CAkey ca.key -set_serial 7 -days 36500 -sha256 \
        -extfile "$tmp/cnf" -extensions "$name" -out "$name.pem"
done
rm ca.key
