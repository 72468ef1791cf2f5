#!/usr/bin/env bash
# Runs every test of rexian on this machine, installing what the tests need first.
# Needs root for apt-get (Debian packages: sipp, baresip, linphonec, sox, espeak-ng, kannel,
# kannel-extras) and starts the local PostgreSQL when it is not running.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v baresip >/dev/null || need+=(baresip)
command -v linphonec >/dev/null || need+=(linphone-cli)
command -v sox >/dev/null || need+=(sox libsox-fmt-base)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/sbin/bearerbox ] || need+=(kannel)
[ -x /usr/lib/kannel/test/fakesmsc ] || need+=(kannel-extras)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi

# Unit, integration (real sockets, sipp, baresip, linphonec) and doc tests, one build.
cargo test --locked
