#!/usr/bin/env bash
# Profiles frontgate proxying (or serving a static file) under wrk, the way peers.sh loads it: the
# gateway on CPU 0 with GOMAXPROCS=1, wrk and an nginx upstream on CPU 1. Prints pprof's top and keeps
# the profile in $OUT (default /tmp/frontgate.prof).
#
#   go build -o bin/frontgate ./cmd/frontgate && bash bench/profile.sh [/demo2|/css/base.css]
set -euo pipefail
path=${1:-/demo2} DURATION=${DURATION:-10s} OUT=${OUT:-/tmp/frontgate.prof}
source "$(dirname "$0")/rig.sh"
rig_start 19100 19104 19105
GOMAXPROCS=1 taskset -c 0 bin/frontgate serve -config "$dir/gw.yaml" -cpuprofile "$OUT" >"$dir/gw.log" 2>&1 & gw_pid=$!
rig_wait "http://127.0.0.1:19104$path"
taskset -c 1 wrk -t1 -c64 -d"$DURATION" --latency "http://127.0.0.1:19104$path" | sed -n '1,12p'
curl -s -o "${OUT%.prof}.allocs.prof" http://127.0.0.1:19105/debug/pprof/allocs || true
kill -TERM $gw_pid; wait $gw_pid || true; gw_pid=""
go tool pprof -top -nodecount=45 bin/frontgate "$OUT" 2>/dev/null | head -55
