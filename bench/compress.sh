#!/usr/bin/env bash
# compress.sh: on-the-fly compression of a static file, frontgate beside nginx and Caddy, in one run.
#
#   go build -o bin/frontgate ./cmd/frontgate
#   bash bench/compress.sh                 # FRONTGATE=path/to/binary to measure another build
#
# The file is 13 KiB of source text served as text/css (about 4 KiB gzipped). Each server gets CPU 0 and one worker; wrk gets CPU 1. Scenarios, each a median of ROUNDS:
#   gzip      GET /css/base.css with Accept-Encoding: gzip   (nginx gzip_comp_level 5, Caddy encode
#             gzip, frontgate compress: {encodings: [gzip]}: all gzip level 5)
#   zstd      the same with Accept-Encoding: zstd            (Caddy and frontgate; nginx-light has none)
#   identity  no Accept-Encoding, compression configured     (what compression costs a client that
#             does not ask for it)
# Columns: req/s, p99, CPU µs per request of the server, bytes per answer, req/s relative to nginx.
# Knobs: ROUNDS (3), DURATION (5s), CONNS (64).
set -euo pipefail
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5s} CONNS=${CONNS:-64}
FRONTGATE=${FRONTGATE:-bin/frontgate}
need() { command -v "$1" >/dev/null 2>&1; }
need nginx && need caddy && need wrk || { echo "needs nginx, caddy and wrk (apt-get install nginx-light caddy wrk)" >&2; exit 1; }

dir=$(mktemp -d /tmp/compress.XXXXXX)
chmod 755 "$dir"
mkdir -p "$dir/static"
# Text that compresses as real CSS, JSON or HTML does (about 4:1): 13 KiB of Go's net/http source.
# (peers.sh's random base64 is a worst case: klauspost's levels 1-6 find no match in it and store it.)
head -c 13312 "$(go env GOROOT)/src/net/http/server.go" >"$dir/static/base.css"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

cat >"$dir/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $dir/nginx.pid; error_log $dir/nginx-error.log error;
events { worker_connections 4096; }
http { access_log off; sendfile on; keepalive_requests 1000000; include /etc/nginx/mime.types;
  gzip on; gzip_comp_level 5; gzip_min_length 1024; gzip_types text/css; gzip_vary on;
  server { listen 127.0.0.1:19101; location /css/ { alias $dir/static/; } } }
EOF
cat >"$dir/Caddyfile" <<EOF
{
  admin off
  auto_https off
}
http://127.0.0.1:19102 {
  encode zstd gzip
  handle_path /css/* {
    root * $dir/static
    file_server
  }
}
EOF
cat >"$dir/frontgate.yaml" <<EOF
listen: 127.0.0.1:19103
log: {level: info, format: json, access: true}
defaults: {compress: {encodings: [zstd, gzip]}}
static:
  - {prefix: /css/, path: "$dir/static", name: css}
EOF
declare -A ADDR=([nginx]=127.0.0.1:19101 [caddy]=127.0.0.1:19102 [frontgate]=127.0.0.1:19103) PID=()
taskset -c 0 nginx -c "$dir/nginx.conf" -p "$dir" & PID[nginx]=$!
GOMAXPROCS=1 taskset -c 0 caddy run --adapter caddyfile --config "$dir/Caddyfile" >"$dir/caddy.log" 2>&1 & PID[caddy]=$!
GOMAXPROCS=1 taskset -c 0 "$FRONTGATE" serve -config "$dir/frontgate.yaml" >"$dir/frontgate.log" 2>&1 & PID[frontgate]=$!
pids+=("${PID[@]}")
for t in nginx caddy frontgate; do
  for _ in $(seq 100); do curl -fs -o /dev/null "http://${ADDR[$t]}/css/base.css" && break; sleep 0.1; done
  curl -fs -o /dev/null "http://${ADDR[$t]}/css/base.css" || { echo "$t did not answer" >&2; cat "$dir/$t.log" 2>/dev/null >&2; exit 1; }
done

tree() { local p=$1; echo "$p"; for c in $(pgrep -P "$p" || true); do tree "$c"; done; }
cpu_ticks() { local s=0; for p in $(tree "$1"); do [ -r /proc/$p/stat ] && s=$((s + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $s; }
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else printf "%.3f", v*1000 }'; }
median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "-"; else print a[int((NR+1)/2)] }'; }
tck=$(getconf CLK_TCK)

run() { # target encoding -> "rps p99 cpu_us_per_req"
  local t=$1 enc=$2 before after out n
  before=$(cpu_ticks "${PID[$t]}")
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency ${enc:+-H "Accept-Encoding: $enc"} "http://${ADDR[$t]}/css/base.css")
  after=$(cpu_ticks "${PID[$t]}")
  n=$(awk '/requests in/{print $1}' <<<"$out")
  grep -q 'Non-2xx' <<<"$out" && echo "$t $enc: $(grep Non-2xx <<<"$out")" >&2
  echo "$(awk '/^Requests\/sec/{print $2}' <<<"$out") $(ms "$(awk '$1=="99%"{print $2}' <<<"$out")") $(awk -v d=$((after - before)) -v n="$n" -v t="$tck" 'BEGIN{printf "%.1f", d/t/n*1e6}')"
}
size() { # target encoding -> bytes of the answer's body as sent, and its Content-Encoding
  curl -s -o /dev/null -w '%{size_download} %header{content-encoding}' ${2:+-H "Accept-Encoding: $2"} "http://${ADDR[$1]}/css/base.css"
}

echo "compress.sh: rounds=$ROUNDS duration=$DURATION conns=$CONNS; servers on CPU 0 with one worker, wrk on CPU 1"
for scen in gzip zstd identity; do
  enc=$scen; [ "$scen" = identity ] && enc=
  targets="nginx caddy frontgate"; [ "$scen" = zstd ] && targets="caddy frontgate"
  declare -A R=()
  for _ in $(seq "$ROUNDS"); do for t in $targets; do R[$t]+="$(run "$t" "$enc")"$'\n'; done; done
  echo
  echo "== $scen: GET /css/base.css${enc:+ with Accept-Encoding: $enc}, $CONNS connections, median of $ROUNDS"
  printf '%-10s %10s %9s %12s %18s %9s\n' target req/s p99_ms cpu_us/req bytes vs_first
  base=
  for t in $targets; do
    col() { awk -v c="$1" 'NF{print $c}' <<<"${R[$t]}" | median; }
    rps=$(col 1); base=${base:-$rps}
    printf '%-10s %10.0f %9s %12s %18s %9.2f\n' "$t" "$rps" "$(col 2)" "$(col 3)" "$(size "$t" "$enc")" "$(awk -v a="$rps" -v b="$base" 'BEGIN{print a/b}')"
  done
  unset R
done
