#!/usr/bin/env bash
# Highest clean rate (no failed transaction, <1 % retransmitted) of OPTIONS and of digest
# REGISTER, for rexian and for Kamailio as the reference, measured in one run on this machine.
#
#   bench/sip-rate.sh [SECONDS_PER_STEP]
#
# Needs: sipp (sip-tester), kamailio, a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
STEP_SECS=${1:-5}
OUT=bench/out; mkdir -p "$OUT"
BIN=target/release/rexian
[ -x "$BIN" ] || cargo build --release --quiet
RATES_OPTIONS="2000 4000 6000 8000 10000 12000 14000 16000 18000 20000 24000 28000 32000 36000 40000"
RATES_REGISTER="1000 2000 4000 6000 8000 10000 12000 14000 16000 18000 20000 24000 28000"
USERS=200

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# rexian on 127.0.0.1:5070 with $USERS accounts (password benchpass).
work=$(mktemp -d)
for i in $(seq 1 $USERS); do echo "$((8000 + i))"; done > "$work/ids"
for id in $(cat "$work/ids"); do
  "$BIN" agent add "$id" --password benchpass --data "$work/data" >/dev/null
done
REXIAN_LOG=warn "$BIN" serve --sip 127.0.0.1:5070 --http 127.0.0.1:0 --data "$work/data" \
  --recordings "$work/rec" > "$work/rexian.out" 2>&1 &
pids+=($!)
kamailio -f bench/kamailio.cfg -P "$work/kamailio.pid" -w "$work" -m 256 -M 16 -DD -E \
  > "$work/kamailio.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "rexian ready" "$work/rexian.out" && break; sleep 0.1; done
for _ in $(seq 1 50); do
  sipp 127.0.0.1:5080 -sf tests/sipp/options.xml -i 127.0.0.1 -m 1 -nostdin -timeout 1s \
    -timeout_error >/dev/null 2>&1 && break
done

# One step: rate, scenario, target → prints "ok" or "fail" and the retransmission share.
step() {
  local target=$1 scenario=$2 rate=$3 total=$(( $3 * STEP_SECS ))
  local stf="$work/stat-$RANDOM.csv"
  # sipp does not expand injected fields inside [authentication]: one account registers,
  # every call with a fresh Call-ID, so each is a full challenge-and-answer exchange.
  if sipp "$target" -sf "tests/sipp/$scenario" -s 8001 -au 8001 -ap benchpass -i 127.0.0.1 \
      -r "$rate" -m "$total" -l $(( rate * 2 )) -buff_size 4194304 -nostdin \
      -timeout $(( STEP_SECS * 4 ))s -timeout_error -trace_stat -stf "$stf" >/dev/null 2>&1; then
    local retrans
    retrans=$(tail -n1 "$stf" | awk -F';' '{print $0}' | python3 -c '
import sys,csv
rows=list(csv.reader(open(sys.argv[1]),delimiter=";"))
h=rows[0]; r=rows[-1]
i=h.index("Retransmissions(C)"); j=h.index("SuccessfulCall(C)")
print(int(r[i]), int(r[j]))' "$stf")
    set -- $retrans
    if [ $(( $1 * 100 )) -lt $(( $2 )) ]; then echo ok; return; fi
  fi
  echo fail
}

best() {
  local target=$1 scenario=$2 rates=$3 last=0
  for r in $rates; do
    if [ "$(step "$target" "$scenario" "$r")" = ok ]; then last=$r; else break; fi
  done
  echo $last
}

ro=$(best 127.0.0.1:5070 options.xml "$RATES_OPTIONS")
ko=$(best 127.0.0.1:5080 options.xml "$RATES_OPTIONS")
rr=$(best 127.0.0.1:5070 register_auth.xml "$RATES_REGISTER")
kr=$(best 127.0.0.1:5080 register_auth.xml "$RATES_REGISTER")
ratio() { python3 -c "print(f'{$1/$2:.2f}' if $2 else 'n/a')"; }
printf '%-20s %12s %12s %8s\n' "scenario" "rexian/s" "kamailio/s" "ratio"
printf '%-20s %12s %12s %8s\n' "OPTIONS" "$ro" "$ko" "$(ratio $ro $ko)"
printf '%-20s %12s %12s %8s\n' "REGISTER (digest)" "$rr" "$kr" "$(ratio $rr $kr)"
