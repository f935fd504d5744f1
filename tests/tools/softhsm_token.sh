#!/usr/bin/env bash
# Makes a SoftHSM2 token for the PKCS#11 tests: DIR/softhsm2.conf, a token
# "afr" (user PIN 0000) holding KEY (any PEM private key) as AFR's device TLS
# key ("Device Priv TLS Key"). The library under test never sees KEY: it signs
# through the token. Usage: softhsm_token.sh DIR KEY
set -euo pipefail
dir=$1
key=$2
rm -rf "$dir"
mkdir -p "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" >"$dir/softhsm2.conf"
export SOFTHSM2_CONF=$dir/softhsm2.conf
openssl pkey -in "$key" -out "$dir/key.p8" # softhsm2-util imports PKCS#8
softhsm2-util --init-token --free --label afr --pin 0000 --so-pin 123456 >/dev/null
softhsm2-util --import "$dir/key.p8" --token afr --label "Device Priv TLS Key" --id 01 --pin 0000 >/dev/null
rm -f "$dir/key.p8"
echo "softhsm_token: token afr in $dir"
