#!/usr/bin/env bash
# Highest clean call rate of rexian on the greeting path (trunk INVITE → 200 with media
# anchored → greeting plays → BYE after HOLD_MS), with sipp's own UAC→UAS as the reference in
# the same run, and the INVITE → 100 Trying response time at the best clean rate.
#
#   [RTT_RATE=calls/s] bench/call-rate.sh [SECONDS_PER_STEP] [HOLD_MS]
#
# RTT_RATE sets the rate of the INVITE → 100 Trying run (default: 80 % of the best clean rate).
#
# "Clean": every call completed, none failed. Needs sipp and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP_SECS=${1:-10}
HOLD_MS=${2:-1000}
BIN=target/release/rexian
[ -x "$BIN" ] || cargo build --release --quiet
RATES=${RATES:-"100 200 400 600 800 1000 1200 1500 2000 2500 3000"}
ulimit -n 65536 2>/dev/null || true
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The demo dialplans, with two limits that are not what is measured lifted: the loopback
# trunk's max_calls (500, 20 kept for emergencies: 480 calls at once, i.e. about 400 calls/s
# at a 1 s hold, answered 503 beyond) and the abuse limit (sipp sends one caller number, so
# from the 11th call on every call would get the restriction notice, not the greeting).
cp -r dialplans "$work/dialplans"
ln -s "$PWD/prompts" "$work/prompts"   # the plans name their prompts as ../prompts/…
sed -i -e 's/^max_calls = 500$/max_calls = 100000/' "$work/dialplans/trunks.toml"
sed -i -e 's/^enabled = true/enabled = false/' "$work/dialplans/abuse.toml"
cat > "$work/rexian.toml" <<TOML
[media]
rtp_ports = "20000-59999"
TOML
REXIAN_LOG=warn "$BIN" serve --config "$work/rexian.toml" --sip 127.0.0.1:5070 \
  --http 127.0.0.1:0 --data "$work/data" --recordings "$work/rec" --dialplans "$work/dialplans" > "$work/rexian.out" 2>&1 &
pids+=($!)
# sipp -bg prints "Background mode - PID=[n]": stop exactly that process at the end.
uas_pid=$(sipp -sn uas -i 127.0.0.1 -p 5090 -bg -nostdin 2>&1 | sed -n 's/.*PID=\[\([0-9]*\)\].*/\1/p' || true)
[ -n "$uas_pid" ] && pids+=("$uas_pid")
for _ in $(seq 1 100); do grep -q "rexian ready" "$work/rexian.out" && break; sleep 0.1; done

# One step → "ok" when every call of the step completed.
step() {
  local target=$1 rate=$2 total=$(( $2 * STEP_SECS )) stf="$work/stat-$RANDOM.csv"
  shift 2
  if sipp "$target" "$@" -i 127.0.0.1 -r "$rate" -m "$total" -l $(( rate * (HOLD_MS / 1000 + 3) )) \
      -d "$HOLD_MS" -buff_size 4194304 -nostdin -timeout $(( STEP_SECS * 3 ))s -timeout_error \
      -trace_stat -stf "$stf" -trace_rtt -rtt_freq 100000 >/dev/null 2>&1; then
    echo ok
  else
    echo fail
  fi
}

best() {
  local target=$1 last=0
  shift
  for r in $RATES; do
    if [ "$(step "$target" "$r" "$@")" = ok ]; then last=$r; else break; fi
  done
  echo $last
}

ours=$(best 127.0.0.1:5070 -sf tests/sipp/trunk_late_offer.xml -s 12345 -mp 30000)
theirs=$(best 127.0.0.1:5090 -sn uac)
[ -n "$uas_pid" ] && kill "$uas_pid" 2>/dev/null || true

# INVITE → 100 Trying at a steady 80 % of the best clean rate: every call's time, p50/p99.
# The trunk scenario, timing from the INVITE (rtd 1) to the 100 Trying.
sed -e '0,/<send retrans="500">/s//<send retrans="500" start_rtd="1">/' \
    -e 's#<recv response="100" optional="true"/>#<recv response="100" rtd="1"/>#' \
    -e 's#<recv response="200" rtd="true">#<recv response="200">#' \
    tests/sipp/trunk_late_offer.xml > "$work/trunk_rtt.xml"
rate=${RTT_RATE:-$(( ours * 8 / 10 ))}; [ "$rate" -gt 0 ] || rate=50
( cd "$work" && sipp 127.0.0.1:5070 -sf "$work/trunk_rtt.xml" -s 12345 -mp 31000 \
    -i 127.0.0.1 -r "$rate" -m $(( rate * STEP_SECS )) -d "$HOLD_MS" -buff_size 4194304 \
    -nostdin -timeout $(( STEP_SECS * 3 ))s -trace_rtt -rtt_freq 1 >/dev/null 2>&1 || true )
trying=$(python3 - "$work" <<'PY'
import glob, sys
vals = []
for f in glob.glob(sys.argv[1] + "/*_rtt.csv"):
    for line in open(f):
        parts = line.strip().split(";")
        if len(parts) >= 3 and parts[1].replace(".", "", 1).isdigit():
            vals.append(float(parts[1]))
vals.sort()
if vals:
    p = lambda q: vals[min(len(vals) - 1, int(q * len(vals)))]
    print(f"{len(vals)} calls, p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms")
else:
    print("n/a")
PY
)
printf '%-34s %10s\n' "greeting path, rexian (calls/s)" "$ours"
printf '%-34s %10s\n' "sipp uac -> sipp uas (calls/s)" "$theirs"
python3 -c "print(f'ratio {$ours/$theirs:.2f}' if $theirs else 'ratio n/a')"
echo "INVITE -> 100 Trying at ${rate}/s: $trying"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
