#!/usr/bin/env bash
# Media engine benchmark (outside CI): rexian's media engine on core 0, the load generator on
# core 1, both directions of every call relayed and recorded, at fixed loads.
#
#   bench/media/run.sh [LOADS...]        default: 250 500 1000 2000
#   SECONDS_PER_LOAD=10 WARMUP=3 NO_RECORD=1 NICE=-10 bench/media/run.sh 1000
#   THREADS=2 SERVER_CPUS=0,1 bench/media/run.sh 2000   # two engine threads on both cores
#   MODE=three-way bench/media/run.sh 100 250 500      # three-way conferences (mixed)
#   MODE=listen bench/media/run.sh 250                 # bridged calls, each with a listener
#   SERVER_BIN=/tmp/old-engine bench/media/run.sh 500  # a prebuilt engine, for A/B runs
#   EPOLL=1 bench/media/run.sh 1000                     # the epoll loop instead of io_uring
#   GEN_SPIN=1 bench/media/run.sh 500                   # the generator yields, never sleeps
#
# In the three-way and listen modes the caller's leg talks and the others send silence, so the
# delay is the caller's audio reaching the two other legs (through the mixer's jitter buffer
# for a conference); loss counts those arrivals against the caller's packets × 2.
#
# On a machine shared with other work, NICE=-10 (as root) keeps other processes on the two
# cores from starving the engine or the generator; the load seen is printed with the table.
#
# cpu_% is the engine process's own time; core_% is everything its core did (interrupts and
# softirqs included, /proc/stat), so a gap between them is kernel work done for the engine's
# sockets outside its system calls, or other work on its core.
#
# p50_us/p99_us are measured by the generator (send to receipt: two loopback hops, and its own
# scheduling, included); kp99_us is its p99 to the kernel's receipt stamp of each returning
# packet, which leaves out the generator's own polling and scheduling on the way back. With
# HELD=1 the engine also stamps arrivals and reports held_p99 and held_p999: kernel receipt
# of a packet to the end of its handling, the socket queue included, as bucket bounds in µs
# (this costs the engine about a tenth more CPU).
# rearmed counts io_uring receives the kernel ended (the buffer pool ran dry) and the
# engine armed again; the server's raw line also says how many threads used io_uring.
#
# Prints the machine's kernel floor (`udp-floor`: what one relayed packet costs in syscalls
# alone) and its stalls (`stall-meter`), then one table row per load; raw lines go to
# bench/out/media-<load>.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -gt 0 ]; then LOADS=("$@"); else LOADS=(250 500 1000 2000); fi
MEASURE=${SECONDS_PER_LOAD:-10}
WARMUP=${WARMUP:-3}
OUT=bench/out
mkdir -p "$OUT"
REC_DIR=$(mktemp -d /tmp/rexian-media-bench.XXXXXX)
trap 'rm -rf "$REC_DIR"' EXIT

# SERVER_BIN=path runs a prebuilt engine (e.g. two builds back to back) instead of building.
[ -n "${SERVER_BIN:-}" ] || cargo build --release --locked --example media_engine_server >&2
(cd bench/media/loadgen && cargo build --release >&2)
SERVER=${SERVER_BIN:-target/release/examples/media_engine_server}
GEN=bench/media/loadgen/target/release/media-loadgen
ulimit -n 65536 2>/dev/null || true

udp_errors() { awk '/^Udp:/ { if (h) { print $4; exit } h = 1 }' /proc/net/snmp; }

echo "uptime: $(uptime)  threads=${THREADS:-1} server_cpus=${SERVER_CPUS:-0} mode=${MODE:-bridge} loop=$([ -n "${EPOLL:-}" ] && echo epoll || echo io_uring)"
# This machine's floor: one relayed packet's sendto + recvfrom alone, on the engine's core.
first_cpu=${SERVER_CPUS:-0}
echo "kernel floor: $(taskset -c "${first_cpu%%,*}" bench/media/loadgen/target/release/udp-floor 200000)"
# What the machine itself takes from a busy thread (interrupts, other tasks, a VM's host): both
# cores spun at once for 3 s. late_1ms_pct is the share of a steady stream such gaps alone
# would hold back more than 1 ms — a p99 below 1 ms cannot be shown where it nears 1 %.
bench/media/loadgen/target/release/stall-meter 3 "${first_cpu%%,*}" 1 | sed 's/^/machine stalls: /'
printf '%6s %9s %7s %7s %8s %9s %10s %8s %8s %8s %8s %8s %9s %9s %9s %9s %9s %8s\n' \
  calls pps_each cpu_% core_% us/pkt us/call_s loss_rx loss_rex kern_drop p50_us p99_us kp99_us held_p99 held_p999 rss/call rec_drop sweep_us rearmed
for n in "${LOADS[@]}"; do
  ports="$REC_DIR/ports-$n"
  rm -f "$ports"
  extra=(--mode "${MODE:-bridge}")
  [ -n "${NO_RECORD:-}" ] && extra+=(--no-record)
  [ -n "${HELD:-}" ] && extra+=(--measure-held)
  [ -n "${EPOLL:-}" ] && extra+=(--epoll)
  talk=()
  [ "${MODE:-bridge}" != bridge ] && talk=(--talkers first --hearers 2)
  [ -n "${GEN_SPIN:-}" ] && talk+=(--spin)
  nice -n "${NICE:-0}" taskset -c "${SERVER_CPUS:-0}" "$SERVER" --threads "${THREADS:-1}" --calls "$n" --ports-file "$ports" --recordings "$REC_DIR/rec-$n" \
    --measure-after "$WARMUP" "${extra[@]}" > "$OUT/media-$n-server.txt" 2>/dev/null &
  spid=$!
  for _ in $(seq 1 600); do [ -f "$ports" ] && break; sleep 0.1; done
  [ -f "$ports" ] || { echo "server did not get ready for $n calls" >&2; kill "$spid"; exit 1; }
  e0=$(udp_errors)
  nice -n "${NICE:-0}" taskset -c 1 "$GEN" --ports-file "$ports" --server-pid "$spid" --server-core "${first_cpu%%,*}" --warmup "$WARMUP" \
    --seconds "$MEASURE" "${talk[@]}" > "$OUT/media-$n.txt"
  e1=$(udp_errors)
  kill -TERM "$spid"
  wait "$spid" || true
  g=$(cat "$OUT/media-$n.txt")
  s=$(cat "$OUT/media-$n-server.txt")
  val() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
  printf '%6s %9s %7s %7s %8s %9s %10s %8s %8s %8s %8s %8s %9s %9s %9s %9s %9s %8s\n' \
    "$n" "$(val "$g" pps_each_way)" "$(val "$g" cpu_pct)" "$(val "$g" core_busy_pct)" "$(val "$g" cpu_us_per_pkt)" \
    "$(val "$g" cpu_us_per_call_s)" "$(val "$g" loss)/$(val "$g" expected)" "$(val "$s" lost)" \
    "$((e1 - e0))" "$(val "$g" p50_us)" "$(val "$g" p99_us)" "$(val "$g" kernel_p99_us)" "$(val "$s" held_p99_us)" "$(val "$s" held_p999_us)" "$(val "$g" rss_per_call_kb)" \
    "$(val "$s" recorder_dropped)" "$(val "$s" longest_sweep_us)" "$(val "$s" rearmed)"
  rm -rf "$REC_DIR/rec-$n"
done
