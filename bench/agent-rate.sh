#!/usr/bin/env bash
# Highest clean call rate of rexian on the agent path: trunk INVITE → 200 with media anchored →
# a short greeting → queue → an agent rung, answering, bridged and recorded → the trunk's BYE
# after HOLD_MS (rexian then BYEs the agent). AGENTS accounts are created with `rexian agent
# add`, registered by one sipp from an injection file and answered by another sipp. sipp's own
# UAC → UAS in the same run is the reference. Run it by hand, not in CI.
#
#   bench/agent-rate.sh [SECONDS_PER_STEP] [HOLD_MS] [AGENTS]
#
# "Clean": every call of the step completed for sipp, and every one has a call record
# answered by an agent. The dialplans are the demo set with a one-word greeting, no wrap-up
# (agents are ready again as soon as a call ends), no announcements, no survey, the abuse
# limit off (every call comes from one number) and room on the trunk.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP_SECS=${1:-10}
HOLD_MS=${2:-2000}
AGENTS=${3:-500}
BIN=${BIN:-target/release/rexian}
[ -x "$BIN" ] || cargo build --release --quiet
RATES=${RATES:-"25 50 75 100 125 150 200 250 300 400"}
REF_RATES=${REF_RATES:-"100 200 400 600 800 1000 1200 1500 2000 2500 3000"}
SIP=127.0.0.1:5072
UAS_PORT=5092
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/dialplans"
cp -r dialplans/. "$work/dialplans/"
ln -s "$PWD/prompts" "$work/prompts"
sed -i -e 's/^greeting = \["greeting"\]/greeting = ["digit_1"]/' \
       -e 's/^wrap_up_secs = .*/wrap_up_secs = 0/' \
       -e 's/^announce_every_secs = .*/announce_every_secs = 0/' \
       -e 's/^announce_expected_wait = .*/announce_expected_wait = false/' \
       -e 's/^max_length = .*/max_length = 5000/' \
       -e 's/^rating = true.*/rating = false/' "$work/dialplans/queues.toml"
sed -i -e 's/^enabled = true/enabled = false/' "$work/dialplans/abuse.toml"
sed -i -e 's/^max_calls = .*/max_calls = 10000/' "$work/dialplans/trunks.toml"
cat > "$work/rexian.toml" <<TOML
[media]
rtp_ports = "20000-59999"
TOML
"$BIN" check --config "$work/rexian.toml" --dialplans "$work/dialplans" >/dev/null

echo SEQUENTIAL > "$work/agents.csv"
for i in $(seq 1 "$AGENTS"); do
  id=$(( 80000 + i ))
  REXIAN_LOG=warn "$BIN" agent add "$id" --password "pw-$id" --data "$work/data" >/dev/null
  echo "$id;[authentication username=$id password=pw-$id]" >> "$work/agents.csv"
done

REXIAN_LOG=warn "$BIN" serve --config "$work/rexian.toml" --sip "$SIP" --http 127.0.0.1:0 \
  --data "$work/data" --recordings "$work/rec" --dialplans "$work/dialplans" \
  > "$work/rexian.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "rexian ready" "$work/rexian.out" && break; sleep 0.1; done
http=$(grep -o 'http=[^ ]*' "$work/rexian.out" | cut -d= -f2)

# The agents' phones: one sipp answers for all of them, another registers them all there.
sipp -sf tests/sipp/agent_answer.xml -i 127.0.0.1 -p "$UAS_PORT" -mp 61000 -buff_size 4194304 \
  -nostdin > /dev/null 2>&1 &
pids+=($!)
sipp "$SIP" -sf tests/sipp/agent_register_inf.xml -inf "$work/agents.csv" -key contact_port \
  "$UAS_PORT" -i 127.0.0.1 -m "$AGENTS" -r 200 -nostdin -timeout 60s -timeout_error \
  > "$work/register.log" 2>&1 || { grep -A12 -m1 "unexpected\|Aborting" "$work/register.log"; exit 1; }
ready=$("$BIN" status --json --http "$http" --data "$work/data" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["agents_by_state"].get("ready", 0))')
echo "agents registered and ready: $ready of $AGENTS"

# Records of calls that arrived at or after $1 (Unix ms) and that an agent answered.
answered_since() {
  python3 - "$work/data/rexian.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
print(db.execute("SELECT count(*) FROM call_records WHERE arrived_ms >= ? AND agent IS NOT NULL",
                 (int(sys.argv[2]),)).fetchone()[0])
PY
}

# Queue wait (queued → agent's 200 OK: choosing, ringing, answering) of calls since $1, ms.
waits_since() {
  python3 - "$work/data/rexian.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
w = sorted(r[0] for r in db.execute(
    "SELECT wait_ms FROM call_records WHERE arrived_ms >= ? AND wait_ms IS NOT NULL",
    (int(sys.argv[2]),)))
p = lambda q: w[min(len(w) - 1, int(q * len(w)))]
print(f"{len(w)} calls, queue wait p50 {p(0.5)} ms, p99 {p(0.99)} ms, max {w[-1]} ms" if w else "n/a")
PY
}

# One step → "ok" when every call completed and was answered by an agent.
step() {
  local target=$1 rate=$2 check=$3 total=$(( $2 * STEP_SECS ))
  shift 3
  local since
  since=$(date +%s%3N)
  if ! sipp "$target" "$@" -i 127.0.0.1 -r "$rate" -m "$total" -l $(( rate * (HOLD_MS / 1000 + 3) )) \
      -d "$HOLD_MS" -buff_size 4194304 -nostdin -timeout $(( STEP_SECS * 3 ))s -timeout_error \
      >/dev/null 2>&1; then
    echo fail
    return
  fi
  if [ "$check" = records ]; then
    # Records are written as calls end; give the last ones a moment.
    local n=0
    for _ in $(seq 1 50); do
      n=$(answered_since "$since")
      [ "$n" -ge "$total" ] && break
      sleep 0.2
    done
    [ "$n" -ge "$total" ] || { echo "fail"; return; }
    waits_since "$since" > "$work/waits-$rate"
  fi
  echo ok
}

best() {
  local target=$1 check=$2 rates=$3 last=0
  shift 3
  for r in $rates; do
    if [ "$(step "$target" "$r" "$check" "$@")" = ok ]; then last=$r; else break; fi
  done
  echo $last
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
ours=$(best "$SIP" records "$RATES" -sf tests/sipp/trunk_late_offer.xml -s 12345 -mp 61100)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

sipp -sn uas -i 127.0.0.1 -p 5093 -buff_size 4194304 -nostdin > /dev/null 2>&1 &
uas=$!
pids+=($uas)
theirs=$(best 127.0.0.1:5093 none "$REF_RATES" -sn uac)
kill "$uas" 2>/dev/null || true

printf '%-40s %10s\n' "agent path, rexian (calls/s)" "$ours"
printf '%-40s %10s\n' "sipp uac -> sipp uas (calls/s)" "$theirs"
python3 -c "print(f'ratio {$ours/$theirs:.3f}' if $theirs else 'ratio n/a')"
echo "agents $AGENTS, hold ${HOLD_MS} ms, steps of ${STEP_SECS} s"
if [ "$ours" -gt 0 ]; then echo "at ${ours}/s: $(cat "$work/waits-$ours")"; fi
echo "load average before / after the rexian steps: $load_before / $load_after"
