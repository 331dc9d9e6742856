#!/usr/bin/env bash
# A/B: CPU microseconds per request of two frontgate builds under the same wrk load, alternating runs,
# so that a change too small for peers.sh's req/s noise still shows. Each build runs pinned to CPU 0
# (GOMAXPROCS=1) beside an nginx upstream and wrk on CPU 1; user and system time come from /proc.
#
#   go build -o /tmp/a ./cmd/frontgate   # before
#   go build -o /tmp/b ./cmd/frontgate   # after
#   bash bench/ab.sh /tmp/a /tmp/b [/demo2|/css/base.css] [runs]
set -euo pipefail
a=$1 b=$2 path=${3:-/demo2} runs=${4:-4} DURATION=${DURATION:-4s}
source "$(dirname "$0")/rig.sh"
rig_start 19110 19114 19115
tck=$(getconf CLK_TCK)
for r in $(seq "$runs"); do
  for which in a b; do
    bin=${!which}
    GOMAXPROCS=1 taskset -c 0 "$bin" serve -config "$dir/gw.yaml" >"$dir/gw.log" 2>&1 & gw_pid=$!
    rig_wait "http://127.0.0.1:19114$path"
    before=$(awk '{print $14, $15}' /proc/$gw_pid/stat)
    n=$(taskset -c 1 wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:19114$path" | awk '/requests in/{print $1}')
    after=$(awk '{print $14, $15}' /proc/$gw_pid/stat)
    kill $gw_pid; wait $gw_pid 2>/dev/null || true; gw_pid=""
    echo "$which $before $after $n" | awk -v t="$tck" '{u=($4-$2)/t/$6*1e6; s=($5-$3)/t/$6*1e6; printf "%s run: %8d req  user %5.1f  sys %5.1f  total %5.1f us/req\n", $1, $6, u, s, u+s}'
  done
done
