#!/usr/bin/env bash
# User-space instructions per request of one frontgate build, counted by valgrind (cachegrind, no
# cache simulation): the same binary and load give the same count within about 2%, whatever else the
# machine is doing, so a small step that peers.sh's noise hides still shows. System calls and time
# spent waiting are not counted; use peers.sh for the whole cost.
#
# The gateway runs under valgrind (GOMAXPROCS=1, no async preemption: valgrind and Go's preemption
# signals do not mix; no RDTSCP, which valgrind 3.19 cannot run and without which the gateway dies
# and the count comes out negative) beside an nginx upstream; `frontgate selftest -c 16` sends the
# load. Two runs, of 1000 and 1000+N requests, are subtracted, so that start-up and shutdown cancel
# out.
#
#   go build -o bin/frontgate ./cmd/frontgate
#   bash bench/instructions.sh bin/frontgate [/demo2|/css/base.css] [N]
set -euo pipefail
bin=$1 path=${2:-/demo2} n=${3:-10000}
source "$(dirname "$0")/rig.sh"
rig_start 19130 19134 19135
load=$(dirname "$0")/../bin/frontgate # the load generator; any build will do
[ -x "$load" ] || load=$bin

count() { # requests -> instructions of a whole run
  local reqs=$1 out=$dir/cg.$1.out
  GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$out" \
    "$bin" serve -config "$dir/gw.yaml" >"$dir/gw.$reqs.log" 2>&1 & gw_pid=$!
  for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:19134$path" && break; sleep 0.2; done
  "$load" selftest -c 16 -n "$reqs" "http://127.0.0.1:19134$path" >/dev/null
  kill -TERM $gw_pid; wait $gw_pid 2>/dev/null || true; gw_pid=""
  awk '/^summary:/{print $2}' "$out"
}
a=$(count 1000)
b=$(count $((n + 1000)))
echo "$bin $path: $(((b - a) / n)) instructions per request (N=$n)"
