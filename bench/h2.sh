#!/usr/bin/env bash
# HTTP/2 load generators side by side: h2load -c 64 -m 10 against frontgate selftest -h2c -c 64
# -streams 10, in one run, against the same h2c target: frontgate serve (h2c: true, the demo's "/",
# access log off) alone on CPU 1. Each generator gets CPU 0 (selftest with GOMAXPROCS=1, h2load with one
# thread) for the same time. Req/s is taken from the target's own count (frontgate_requests_total on the
# admin listener), not from what the generators print, so both are judged by the same meter.
#
#   bash bench/h2.sh            # from the repository; builds the binary first
#
# Knobs: ROUNDS (3), DURATION (5, seconds), CONNS (64), STREAMS (10). Needs h2load (Debian's
# nghttp2-client) and curl. Output: the median req/s and CPU µs per request of each generator (the
# target on its one core may be the limit of both; CPU per request still tells the generators apart),
# and selftest's req/s relative to h2load.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} CONNS=${CONNS:-64} STREAMS=${STREAMS:-10}
command -v h2load >/dev/null 2>&1 || { echo "h2load is missing: apt-get install -y nghttp2-client" >&2; exit 1; }
dir=$(mktemp -d /tmp/h2bench.XXXXXX); gw_pid=""
trap '[ -n "$gw_pid" ] && kill $gw_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
go build -o "$dir/frontgate" ./cmd/frontgate
cat >"$dir/gw.yaml" <<CONF
listen: 127.0.0.1:19130
h2c: true
demo: true
log: {level: warn, format: json, access: false}
admin: {listen: 127.0.0.1:19131}
CONF
GOMAXPROCS=1 taskset -c 1 "$dir/frontgate" serve -config "$dir/gw.yaml" >"$dir/gw.log" 2>&1 & gw_pid=$!
for _ in $(seq 50); do curl -fs -o /dev/null http://127.0.0.1:19131/metrics && break; sleep 0.1; done
target=http://127.0.0.1:19130/
served() { curl -fs http://127.0.0.1:19131/metrics | awk '/^frontgate_requests_total/{n+=$NF} END{printf "%d", n}'; }

declare -A CMD=(
  [h2load]="h2load -t1 -c$CONNS -m$STREAMS -D$DURATION $target"
  [selftest]="$dir/frontgate selftest -h2c -c $CONNS -streams $STREAMS -d ${DURATION}s $target"
)
declare -A RPS=() CPU=()
TIMEFORMAT='%3U %3S' # bash's time: the generator's user and system CPU seconds
for r in $(seq "$ROUNDS"); do
  for g in h2load selftest; do
    a=$(served); t0=$(date +%s.%N)
    { time GOMAXPROCS=1 taskset -c 0 sh -c "exec ${CMD[$g]}" >"$dir/$g.out" 2>&1; } 2>"$dir/$g.time" || { cat "$dir/$g.out" >&2; exit 1; }
    t1=$(date +%s.%N); b=$(served)
    RPS[$g]+="$(awk -v n=$((b - a)) -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n/(b-a)}') "
    CPU[$g]+="$(awk -v n=$((b - a)) '{printf "%.1f", ($1+$2)*1e6/n}' "$dir/$g.time") "
  done
done
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
h=$(median <<<"${RPS[h2load]}") s=$(median <<<"${RPS[selftest]}")
hc=$(median <<<"${CPU[h2load]}") sc=$(median <<<"${CPU[selftest]}")
echo "h2.sh: $(nproc) cores, rounds=$ROUNDS duration=${DURATION}s conns=$CONNS streams=$STREAMS; generator on CPU 0, frontgate h2c target on CPU 1"
printf '%-9s %10s %11s  %s\n' generator req/s cpu_us/req "req/s per round"
printf '%-9s %10s %11s  %s\n' h2load "$h" "$hc" "${RPS[h2load]}" selftest "$s" "$sc" "${RPS[selftest]}"
awk -v s="$s" -v h="$h" 'BEGIN{printf "selftest/h2load: %.2f\n", s/h}'
