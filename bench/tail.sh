#!/usr/bin/env bash
# The latency tail at a fixed rate: frontgate and nginx proxying GET /demo2 to an nginx upstream, each
# alone on CPU 0 (one worker; frontgate GOMAXPROCS=1 through bench/gateway.sh, access log on), loaded by
# `frontgate selftest -rate RATE` in open loop (latency from each request's due time, so a stall
# counts for every request it delays) on CPU 1 beside the upstream. peers.sh's closed loop couples
# latency to throughput (64 connections over req/s); at one rate both servers can carry, the tail is
# the servers' own. GODEBUG=gctrace=1 counts frontgate's collections during each run.
#
#   go build -o bin/frontgate ./cmd/frontgate && bash bench/tail.sh
#
# Knobs: RATE (10000 req/s), DURATION (10s), CONNS (64), ROUNDS (3), PATHS ("/demo2"; /css/base.css
# is served from a 13 KiB file by both), FRONTGATE (default bin/frontgate). Output per path and server,
# medians over the rounds: p50, p90, p99, p99.9 and max latency (ms), and for frontgate the GC cycles
# per second and their longest stop-the-world pause; then frontgate's p99 over nginx's.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-10000} DURATION=${DURATION:-10s} CONNS=${CONNS:-64} ROUNDS=${ROUNDS:-3} PATHS=${PATHS:-/demo2}
fg=$(realpath "${FRONTGATE:-bin/frontgate}")
export BENCH_DIR=$(mktemp -d /tmp/tail.XXXXXX) UPSTREAM=http://127.0.0.1:19170 GATEWAY_ADDR=127.0.0.1:19172
export STATIC_DIR=$BENCH_DIR/static
chmod 755 "$BENCH_DIR"; mkdir -p "$STATIC_DIR"
head -c 10240 /dev/urandom | base64 -w 100 >"$STATIC_DIR/base.css"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$BENCH_DIR"' EXIT
cat >"$BENCH_DIR/upstream.conf" <<CONF
worker_processes 1; daemon off; pid $BENCH_DIR/up.pid; error_log $BENCH_DIR/up-error.log error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:19170; location / { return 200 "welcome\n"; } } }
CONF
cat >"$BENCH_DIR/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $BENCH_DIR/nginx.pid; error_log $BENCH_DIR/nginx-error.log error;
events { worker_connections 4096; }
http { access_log off; sendfile on; keepalive_requests 1000000;
  upstream up { server 127.0.0.1:19170; keepalive 128; }
  server { listen 127.0.0.1:19171;
    location /demo2 { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /css/ { alias $STATIC_DIR/; } } }
CONF
taskset -c 1 nginx -c "$BENCH_DIR/upstream.conf" -p "$BENCH_DIR" & pids+=($!)
taskset -c 0 nginx -c "$BENCH_DIR/nginx.conf" -p "$BENCH_DIR" & pids+=($!)
FRONTGATE=$fg GODEBUG=gctrace=1 GOMAXPROCS=1 taskset -c 0 sh bench/gateway.sh >/dev/null 2>"$BENCH_DIR/gw.err" & pids+=($!)
declare -A ADDR=([nginx]=127.0.0.1:19171 [frontgate]=$GATEWAY_ADDR)
for s in nginx frontgate; do
  for _ in $(seq 100); do curl -fs -o /dev/null "http://${ADDR[$s]}/demo2" && break; sleep 0.1; done
  curl -fs -o /dev/null "http://${ADDR[$s]}/demo2" || { echo "$s does not answer" >&2; cat "$BENCH_DIR/gw.err" >&2; exit 1; }
done
secs=$(awk -v d="$DURATION" 'BEGIN{sub(/s$/, "", d); print d}')

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo "tail.sh: rate=$RATE/s duration=$DURATION conns=$CONNS rounds=$ROUNDS; servers on CPU 0, selftest and the upstream on CPU 1"
printf '%-14s %-10s %8s %8s %8s %8s %8s %8s %9s\n' path server p50_ms p90_ms p99_ms p999_ms max_ms gc_per_s gc_stw_ms
for path in $PATHS; do
  declare -A P50=() P90=() P99=() P999=() MAX=() GCS=() STW=()
  for _ in $(seq "$ROUNDS"); do
    for s in nginx frontgate; do
      g0=$(grep -c '^gc ' "$BENCH_DIR/gw.err" || true)
      GOMAXPROCS=1 taskset -c 1 "$fg" selftest -rate "$RATE" -d "$DURATION" -c "$CONNS" -o json "http://${ADDR[$s]}$path" >"$BENCH_DIR/st.json"
      read -r p50 p90 p99 p999 mx errs < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); l = d["latency_ms"]
print(l["p50"], l["p90"], l["p99"], l["p999"], l["max"], d["errors"])' "$BENCH_DIR/st.json")
      [ "$errs" = 0 ] || { echo "$s $path: $errs errors" >&2; exit 1; }
      P50[$s]+="$p50 " P90[$s]+="$p90 " P99[$s]+="$p99 " P999[$s]+="$p999 " MAX[$s]+="$mx "
      if [ "$s" = frontgate ]; then
        # gctrace: "gc N @Ts P%: A+B+C ms clock, ..." where A and C are the stop-the-world phases.
        tail -n +$((g0 + 1)) <(grep '^gc ' "$BENCH_DIR/gw.err") >"$BENCH_DIR/gc.run"
        GCS[$s]+="$(awk -v s="$secs" 'END{printf "%.1f", NR/s}' "$BENCH_DIR/gc.run") "
        STW[$s]+="$(awk '{split($5, t, "+"); v = t[1] + t[3]; if (v > m) m = v} END{printf "%.2f", m}' "$BENCH_DIR/gc.run") "
      fi
    done
  done
  for s in nginx frontgate; do
    printf '%-14s %-10s %8s %8s %8s %8s %8s %8s %9s\n' "$path" "$s" "$(median <<<"${P50[$s]}")" "$(median <<<"${P90[$s]}")" \
      "$(median <<<"${P99[$s]}")" "$(median <<<"${P999[$s]}")" "$(median <<<"${MAX[$s]}")" "$(median <<<"${GCS[$s]:-}")" "$(median <<<"${STW[$s]:-}")"
  done
  awk -v a="$(median <<<"${P99[frontgate]}")" -v b="$(median <<<"${P99[nginx]}")" -v p="$path" 'BEGIN{printf "%s: frontgate p99 / nginx p99 = %.2f\n", p, a/b}'
  unset P50 P90 P99 P999 MAX GCS STW
done
