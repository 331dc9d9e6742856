#!/usr/bin/env bash
# Profiles frontgate proxying (or serving a static file) under wrk, the way peers.sh loads it: the
# gateway on CPU 0 with GOMAXPROCS=1, wrk and an nginx upstream on CPU 1. Prints pprof's top and keeps
# the profile in $OUT (default /tmp/frontgate.prof).
#
#   go build -o bin/frontgate ./cmd/frontgate && bash bench/profile.sh [/demo2|/css/base.css]
set -euo pipefail
path=${1:-/demo2} DURATION=${DURATION:-10s} OUT=${OUT:-/tmp/frontgate.prof}
dir=$(mktemp -d /tmp/fgprof.XXXXXX); chmod 755 "$dir"; gw=""
trap 'kill $(cat "$dir/nginx.pid" 2>/dev/null) 2>/dev/null || true; [ -n "$gw" ] && kill $gw 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/nginx.conf" <<CONF
worker_processes 1; daemon on; pid $dir/nginx.pid; error_log $dir/error.log error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:19100; location / { return 200 "welcome\n"; } } }
CONF
taskset -c 1 nginx -c "$dir/nginx.conf" -p "$dir"
mkdir -p "$dir/static"; head -c 10240 /dev/urandom | base64 -w 100 >"$dir/static/base.css"
cat >"$dir/gw.yaml" <<CONF
listen: 127.0.0.1:19104
log: {level: info, format: json, access: true}
admin: {listen: 127.0.0.1:19105}
static: [{prefix: /css/, path: $dir/static, name: css}]
upstreams: {up: {targets: ["http://127.0.0.1:19100"]}}
routes: [{path: /demo2, upstream: up}, {path_prefix: /demo2/, upstream: up}]
CONF
GOMAXPROCS=1 taskset -c 0 bin/frontgate serve -config "$dir/gw.yaml" -cpuprofile "$OUT" 2>"$dir/gw.log" & gw=$!
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:19104$path" && break; sleep 0.1; done
taskset -c 1 wrk -t1 -c64 -d"$DURATION" --latency "http://127.0.0.1:19104$path" | sed -n '1,12p'
curl -s -o "${OUT%.prof}.allocs.prof" http://127.0.0.1:19105/debug/pprof/allocs || true
kill -TERM $gw; wait $gw || true
go tool pprof -top -nodecount=45 bin/frontgate "$OUT" 2>/dev/null | head -55
