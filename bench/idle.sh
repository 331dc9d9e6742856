#!/usr/bin/env bash
# Memory per idle keep-alive connection: N client connections (default 10,000), each after one
# answered request (GET / → "Hello, world"), held open and idle; the server's resident memory (VmRSS of
# its process tree) before and after, and the difference per connection. Frontgate (`serve`, demo
# routes, access log off, GOMAXPROCS=1), nginx (one worker) and Caddy (GOMAXPROCS=1), each alone on
# CPU 0; the client (bench/idleconns) on CPU 1.
#
#   bash bench/idle.sh                  # from the repository; builds the binaries first
#
# Knobs: N (10000), SETTLE (5, seconds the connections sit idle before the reading), ONLY (servers to
# run, of "frontgate nginx caddy"), FRONTGATE (a prebuilt binary), FG_ENV (more environment for
# frontgate, e.g. GOGC=100). Output, per server: RSS MiB before and with the connections idle, KiB
# per idle connection, and whether the server kept them all open.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000} SETTLE=${SETTLE:-5} ONLY=${ONLY:-frontgate nginx caddy}
ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) > N + 100 )) || { echo "idle.sh: the descriptor limit $(ulimit -n) is below N=$N" >&2; exit 1; }
dir=$(mktemp -d /tmp/idlebench.XXXXXX); chmod 755 "$dir"; srv=""
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
go build -o "$dir/idleconns" ./bench/idleconns
fg=${FRONTGATE:-$dir/frontgate}
[ -n "${FRONTGATE:-}" ] || go build -o "$fg" ./cmd/frontgate
port=19160

cat >"$dir/fg.yaml" <<CONF
listen: 127.0.0.1:$port
demo: true
log: {level: warn, format: json, access: false}
CONF
cat >"$dir/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $dir/nginx.pid; error_log $dir/nginx-error.log error;
worker_rlimit_nofile $((N + 1000));
events { worker_connections $((N + 1000)); }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:$port backlog=4096; location / { return 200 "Hello, world"; } } }
CONF
cat >"$dir/Caddyfile" <<CONF
{
	admin off
	auto_https off
	log {
		level ERROR
	}
	servers {
		timeouts {
			idle 300s
		}
	}
}
http://127.0.0.1:$port {
	respond "Hello, world"
}
CONF
declare -A CMD=(
  [frontgate]="GOMAXPROCS=1 ${FG_ENV:-} exec $fg serve -config $dir/fg.yaml"
  [nginx]="exec nginx -c $dir/nginx.conf -p $dir"
  [caddy]="GOMAXPROCS=1 exec caddy run --config $dir/Caddyfile --adapter caddyfile"
)

# rss PID: VmRSS in KiB of PID and its children.
rss() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

printf '%-10s %10s %10s %12s  %s\n' server "rss0 MiB" "rss MiB" "KiB/conn" "closed by server"
for s in $ONLY; do
  taskset -c 0 sh -c "${CMD[$s]}" >"$dir/$s.log" 2>&1 & srv=$!
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  sleep 1
  r0=$(rss "$srv")
  mkfifo "$dir/hold"
  taskset -c 1 "$dir/idleconns" -n "$N" -addr "127.0.0.1:$port" -path / <"$dir/hold" >"$dir/client.out" 2>&1 & cl=$!
  exec 3>"$dir/hold" # the client holds its connections until this closes
  for _ in $(seq 600); do grep -q '^ready' "$dir/client.out" && break; kill -0 $cl 2>/dev/null || break; sleep 0.1; done
  grep -q '^ready' "$dir/client.out" || { echo "idle.sh: $s: the client failed:" >&2; cat "$dir/client.out" "$dir/$s.log" >&2; exit 1; }
  sleep "$SETTLE"
  r1=$(rss "$srv")
  exec 3>&-
  wait $cl || true
  rm -f "$dir/hold"
  closed=$(awk '/^closed_by_server/{print $2}' "$dir/client.out")
  kill $srv; wait $srv 2>/dev/null || true; srv=""
  awk -v s="$s" -v a="$r0" -v b="$r1" -v n="$N" -v c="$closed" \
    'BEGIN{printf "%-10s %10.1f %10.1f %12.2f  %s\n", s, a/1024, b/1024, (b-a)/n, c}'
done
