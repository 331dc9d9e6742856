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
dir=$(mktemp -d /tmp/fgab.XXXXXX); chmod 755 "$dir"; pid=""
trap 'kill $(cat "$dir/nginx.pid" 2>/dev/null) 2>/dev/null || true; [ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/nginx.conf" <<CONF
worker_processes 1; daemon on; pid $dir/nginx.pid; error_log $dir/error.log error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:19110; location / { return 200 "welcome\n"; } } }
CONF
taskset -c 1 nginx -c "$dir/nginx.conf" -p "$dir"
mkdir -p "$dir/static"; head -c 10240 /dev/urandom | base64 -w 100 >"$dir/static/base.css"
cat >"$dir/gw.yaml" <<CONF
listen: 127.0.0.1:19114
log: {level: info, format: json, access: true}
static: [{prefix: /css/, path: $dir/static, name: css}]
upstreams: {up: {targets: ["http://127.0.0.1:19110"]}}
routes: [{path: /demo2, upstream: up}]
CONF
tck=$(getconf CLK_TCK)
for r in $(seq "$runs"); do
  for which in a b; do
    bin=${!which}
    GOMAXPROCS=1 taskset -c 0 "$bin" serve -config "$dir/gw.yaml" 2>"$dir/gw.log" & pid=$!
    for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:19114$path" && break; sleep 0.1; done
    before=$(awk '{print $14, $15}' /proc/$pid/stat)
    n=$(taskset -c 1 wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:19114$path" | awk '/requests in/{print $1}')
    after=$(awk '{print $14, $15}' /proc/$pid/stat)
    kill $pid; wait $pid 2>/dev/null || true; pid=""
    echo "$which $before $after $n" | awk -v t="$tck" '{u=($4-$2)/t/$6*1e6; s=($5-$3)/t/$6*1e6; printf "%s run: %8d req  user %5.1f  sys %5.1f  total %5.1f us/req\n", $1, $6, u, s, u+s}'
  done
done
