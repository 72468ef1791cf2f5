#!/usr/bin/env bash
# Time from an agent's emergency action to the far end's INVITE, with CALLS other calls in
# progress (queued, hearing music on hold: media anchored for every one).
#
#   bench/handoff-latency.sh [CALLS] [SAMPLES]
#
# Agent 7001 (sipp) talks to one citizen call; CALLS more calls wait in the queue. The bench
# asks for a three-way hand-off to 110 over the desk API (POST /api/v1/agents/7001/call) and
# times the moment the INVITE for 110 arrives at the far end behind the trunk (a UDP socket of
# the bench, which answers 486 so the agent stays with the caller and the next sample can
# start). Prints p50/p99/max over SAMPLES. Needs sipp, python3 and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-500}
SAMPLES=${2:-300}
BIN=target/release/rexian
[ -x "$BIN" ] || cargo build --release --quiet
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; pkill -f "sipp 127.0.0.1:5071" || true; }
trap cleanup EXIT

FAR=5096
mkdir -p "$work/plans"
cp dialplans/*.toml "$work/plans/"
cp -r dialplans/calendar "$work/plans/"
ln -s "$(pwd)/prompts" "$work/prompts"
sed -i "s/address = \"127.0.0.1:5080\"/address = \"127.0.0.1:$FAR\"/" "$work/plans/trunks.toml"
sed -i 's/greeting = \["greeting"\]/greeting = ["digit_1"]/; s/max_wait_secs = [0-9]*/max_wait_secs = 3600/; s/max_length = 300/max_length = 100000/' \
  "$work/plans/queues.toml"
sed -i 's/max_calls = 500/max_calls = 5000/' "$work/plans/trunks.toml"
# The load comes from one caller number: the abuse limit would restrict it.
sed -i 's/^enabled = true/enabled = false/' "$work/plans/abuse.toml"
cat > "$work/rexian.toml" <<TOML
[media]
rtp_ports = "20000-59999"
TOML

"$BIN" agent add 7001 --password secret-7001 --data "$work/data" >/dev/null
TOKEN=$("$BIN" token create --role supervisor --data "$work/data")
REXIAN_LOG=warn "$BIN" serve --config "$work/rexian.toml" --dialplans "$work/plans" \
  --sip 127.0.0.1:5071 --http 127.0.0.1:8471 --data "$work/data" --recordings "$work/rec" \
  > "$work/rexian.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "rexian ready" "$work/rexian.out" && break; sleep 0.1; done
grep -q "rexian ready" "$work/rexian.out" || { cat "$work/rexian.out"; exit 1; }

# Agent 7001: answers and stays on the call.
sed -e 's#<!-- KEYS -->##' -e 's#<!-- END -->#<pause milliseconds="3600000"/>#' \
  tests/sipp/agent_keys.xml > "$work/agent.xml"
sipp 127.0.0.1:5071 -sf "$work/agent.xml" -i 127.0.0.1 -p 5097 -mp 6100 -m 1 -nostdin \
  -bg >/dev/null 2>&1 || true
sipp 127.0.0.1:5071 -sf tests/sipp/agent_register.xml -i 127.0.0.1 -p 5098 -s 7001 -au 7001 \
  -ap secret-7001 -key contact_port 5097 -m 1 -nostdin >/dev/null 2>&1
# The citizen the agent talks to, then the load.
sipp 127.0.0.1:5071 -sf tests/sipp/trunk_late_offer.xml -s 12345 -i 127.0.0.1 -p 5099 -mp 6200 \
  -m 1 -d 3600000 -nostdin -bg >/dev/null 2>&1 || true
sleep 3
if [ "$CALLS" -gt 0 ]; then
  sipp 127.0.0.1:5071 -sf tests/sipp/trunk_late_offer.xml -s 12345 -i 127.0.0.1 -p 5100 -mp 7000 \
    -r 100 -m "$CALLS" -l "$CALLS" -d 3600000 -nostdin -bg >/dev/null 2>&1 || true
  sleep $(( CALLS / 100 + 4 ))
fi

python3 - "$FAR" "$TOKEN" "$SAMPLES" "$CALLS" <<'PY'
import json, socket, sys, time, urllib.error, urllib.request
far, token, samples, calls = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", far))
sock.settimeout(5)

def busy(msg, addr):
    head = msg.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    keep = [l for l in lines[1:] if l.split(":", 1)[0].lower() in ("via", "from", "call-id", "cseq")]
    to = next(l for l in lines if l.lower().startswith("to:"))
    resp = "SIP/2.0 486 Busy Here\r\n" + "\r\n".join(keep) + "\r\n" + to + ";tag=far1\r\nContent-Length: 0\r\n\r\n"
    sock.sendto(resp.encode(), addr)

status = json.load(urllib.request.urlopen(urllib.request.Request(
    "http://127.0.0.1:8471/api/v1/status", headers={"Authorization": "Bearer " + token})))
print(f"calls in progress: {status['calls_in_progress']}")
body = json.dumps({"action": "emergency", "number": "110", "mode": "three_way"}).encode()
lat = []
for i in range(samples):
    req = urllib.request.Request("http://127.0.0.1:8471/api/v1/agents/7001/call", data=body,
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        urllib.request.urlopen(req).read()
    except urllib.error.HTTPError as e:
        sys.exit(f"sample {i}: {e.code} {e.read().decode()}; status: {json.dumps(status)}")
    while True:
        msg, addr = sock.recvfrom(65535)
        if msg.startswith(b"INVITE sip:110@"):
            lat.append((time.perf_counter() - t0) * 1000)
            busy(msg, addr)
            break
        if msg.startswith(b"ACK"):
            continue
    # Take the ACK for the 486, then let call control clear the third party.
    try:
        sock.settimeout(0.05)
        while True:
            sock.recvfrom(65535)
    except socket.timeout:
        pass
    sock.settimeout(5)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"emergency action -> far-end INVITE with {calls} other calls: {len(lat)} samples, "
      f"p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, max {lat[-1]:.2f} ms")
PY
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
