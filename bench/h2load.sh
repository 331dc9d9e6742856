#!/usr/bin/env bash
# HTTP/2 over TLS at the front: h2load -c 64 -m 10 against frontgate, nginx and Caddy, each answering
# GET / with the 12-byte "Hello, world" over TLS 1.3 and h2, with the same self-signed ECDSA P-256
# certificate (made here with openssl). frontgate serves its demo route (demo: true, access log off,
# tls: {cert, key}); nginx `return 200 "Hello, world"` with one worker; Caddy `respond "Hello, world"`
# with admin and logs off. Each server is alone on CPU 0 (the Go ones with GOMAXPROCS=1; all three run
# for the whole script, but only the one under load is busy); h2load runs with one thread on CPU 1,
# TLS 1.3 and TLS_AES_128_GCM_SHA256 for all. The servers are interleaved within each round.
#
#   bash bench/h2load.sh                                  # from the repository; builds the binary first
#   FRONTGATE=./bin/frontgate ROUNDS=1 DURATION=3 bash bench/h2load.sh
#
# Knobs: ROUNDS (3), DURATION (5, seconds), CONNS (64), STREAMS (10, h2load -m), FRONTGATE (a prebuilt
# binary; default: go build into the scratch folder). Ports 19140-19142. Needs h2load (Debian's
# nghttp2-client), nginx (with http_v2), caddy, openssl, curl and taskset.
# Every run must negotiate TLSv1.3 and h2, with every request answered 2xx and 12 bytes of body each;
# else the script stops with h2load's output. frontgate cannot be held to TLS 1.3 by its config (it
# takes 1.2 and up); nginx and Caddy are (ssl_protocols TLSv1.3, protocols tls1.3).
# Output, per server, medians over the rounds: req/s (h2load's "finished in … req/s"); cpu_us/req, the
# server's CPU (user+system of its process tree, from /proc) over h2load's whole run divided by every
# 2xx answer h2load got; core_%, that CPU as a share of one core over the same time (near 100: the
# server is the limit); h2load_us/req, h2load's own CPU per answer (near 100% of CPU 1: h2load is the
# limit); mean_ms, h2load's mean "time for request"; max_ms, its max (the largest of all rounds);
# vs_nginx, req/s relative to nginx; then the req/s of each round.
set -euo pipefail
fg=${FRONTGATE:+$(realpath "$FRONTGATE")} # before the cd: relative to where the script was started
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} CONNS=${CONNS:-64} STREAMS=${STREAMS:-10}
for c in h2load nginx caddy openssl curl taskset; do
  command -v "$c" >/dev/null 2>&1 || { echo "$c is missing (h2load: apt-get install -y nghttp2-client)" >&2; exit 1; }
done
servers="frontgate nginx caddy"
declare -A PORT=([frontgate]=19140 [nginx]=19141 [caddy]=19142) PID=()
dir=$(mktemp -d /tmp/h2load.XXXXXX)
cleanup() {
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null

if [ -z "$fg" ]; then
  fg=$dir/frontgate
  go build -o "$fg" ./cmd/frontgate
fi
[ -x "$fg" ] || { echo "FRONTGATE=${FRONTGATE:-} is not an executable" >&2; exit 1; }
cat >"$dir/gw.yaml" <<CONF
listen: 127.0.0.1:${PORT[frontgate]}
demo: true
tls: {cert: cert.pem, key: key.pem}
log: {level: warn, format: json, access: false}
CONF

# `http2 on;` came with nginx 1.25.1; older ones (Debian 12 has 1.22) take `http2` on the listen line.
nv=$(nginx -v 2>&1 | sed 's|.*nginx/||')
if [ "$(printf '%s\n' 1.25.1 "$nv" | sort -V | head -1)" = 1.25.1 ]; then h2on="http2 on;" h2listen=""; else h2on="" h2listen=" http2"; fi
cat >"$dir/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $dir/nginx.pid; error_log $dir/nginx-error.log error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; default_type text/plain;
  server { listen 127.0.0.1:${PORT[nginx]} ssl$h2listen; $h2on
    ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem; ssl_protocols TLSv1.3;
    location = / { return 200 "Hello, world"; } } }
CONF

cat >"$dir/Caddyfile" <<CONF
{
  admin off
  auto_https disable_redirects
  log {
    level ERROR
  }
  servers {
    protocols h1 h2
  }
}
https://127.0.0.1:${PORT[caddy]} {
  tls $dir/cert.pem $dir/key.pem {
    protocols tls1.3
  }
  respond / "Hello, world" 200
}
CONF

GOMAXPROCS=1 taskset -c 0 "$fg" serve -config "$dir/gw.yaml" >"$dir/frontgate.log" 2>&1 & PID[frontgate]=$!
taskset -c 0 nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/nginx-error.log" >"$dir/nginx.log" 2>&1 & PID[nginx]=$!
# Caddy keeps its state under XDG_DATA_HOME and XDG_CONFIG_HOME: the scratch folder, not $HOME.
XDG_DATA_HOME=$dir/xdg XDG_CONFIG_HOME=$dir/xdg GOMAXPROCS=1 taskset -c 0 \
  caddy run --adapter caddyfile --config "$dir/Caddyfile" >"$dir/caddy.log" 2>&1 & PID[caddy]=$!

for s in $servers; do # wait until each answers GET / with the body over h2, for up to 10 s
  url=https://127.0.0.1:${PORT[$s]}/ body=
  for _ in $(seq 100); do
    body=$(curl -sk --http2 --max-time 1 "$url" 2>/dev/null) && [ "$body" = "Hello, world" ] && break
    kill -0 "${PID[$s]}" 2>/dev/null || break
    sleep 0.1
  done
  [ "$body" = "Hello, world" ] || { echo "$s did not answer \"Hello, world\" on $url (got \"$body\")" >&2; cat "$dir/$s.log" >&2; exit 1; }
done

tree() { local p=$1; echo "$p"; for c in $(pgrep -P "$p" || true); do tree "$c"; done; }
cpu_ticks() { local s=0; for p in $(tree "$1"); do [ -r "/proc/$p/stat" ] && s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $s; }
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else printf "%.3f", v*1000 }'; }
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
tck=$(getconf CLK_TCK)

run() { # server -> "req/s cpu_us/req core_% h2load_us/req mean_ms max_ms", or exits showing h2load's output
  local s=$1 out before after t0 t1 n ok answered rps mean max bad=
  before=$(cpu_ticks "${PID[$s]}") t0=$(date +%s.%N)
  { time taskset -c 1 h2load -t1 -c"$CONNS" -m"$STREAMS" -D"$DURATION" --tls13-ciphers=TLS_AES_128_GCM_SHA256 \
    "https://127.0.0.1:${PORT[$s]}/" >"$dir/$s.h2load" 2>&1; } 2>"$dir/$s.time" || { echo "$s: h2load failed" >&2; cat "$dir/$s.h2load" >&2; exit 1; }
  after=$(cpu_ticks "${PID[$s]}") t1=$(date +%s.%N)
  out=$(<"$dir/$s.h2load")
  grep -q '^TLS Protocol: TLSv1.3$' <<<"$out" || bad=" not TLSv1.3"
  grep -q '^Application protocol: h2$' <<<"$out" || bad="$bad not h2"
  read -r n ok < <(awk '/^requests:/{print $6, $8}' <<<"$out") # done and succeeded in the timed part
  { [ "${n:-0}" -gt 0 ] && [ "$ok" = "$n" ]; } || bad="$bad only ${ok:-0} of ${n:-0} requests succeeded"
  # Status codes count the answers that came after the timed part too: all of them must be 2xx.
  answered=$(awk '/^status codes:/{if ($5 + $7 + $9 == 0) print $3; else print 0}' <<<"$out")
  [ "${answered:-0}" -ge "${n:-1}" ] || bad="$bad non-2xx answers"
  # Data bytes over the timed requests, rounded: a request whose last frame came after the timed part
  # may leave a few bytes over.
  awk '/^traffic:/{d=$(NF-1); gsub(/[()]/, "", d); exit !(int(d / n + 0.5) == 12)}' n="$n" <<<"$out" || bad="$bad the body is not 12 bytes"
  [ -z "$bad" ] || { echo "$s:$bad" >&2; echo "$out" >&2; exit 1; }
  rps=$(awk '/^finished in/{print $4}' <<<"$out")
  read -r mean max < <(awk '/^time for request:/{print $6, $5}' <<<"$out")
  # The server's CPU covers all of h2load's run (handshakes and the answers after the timed part
  # too), so it is divided by every answer h2load got; so is h2load's own CPU.
  awk -v d=$((after - before)) -v t="$tck" -v n="$answered" -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" \
    -v rps="$rps" -v mean="$(ms "$mean")" -v max="$(ms "$max")" \
    '{printf "%.0f %.1f %.0f %.1f %s %s\n", rps, d/t/n*1e6, 100*d/t/w, ($1+$2)*1e6/n, mean, max}' "$dir/$s.time"
}

declare -A RPS=() CPU=() CORE=() GEN=() MEAN=() MAX=()
TIMEFORMAT='%3U %3S' # bash's time: h2load's user and system CPU seconds
for _ in $(seq "$ROUNDS"); do
  for s in $servers; do
    line=$(run "$s")
    read -r rps cpu core gen mean max <<<"$line"
    RPS[$s]+="$rps " CPU[$s]+="$cpu " CORE[$s]+="$core " GEN[$s]+="$gen " MEAN[$s]+="$mean " MAX[$s]+="$max "
  done
done

proto=$(awk '/^Cipher:|^Server Temp Key:/{sub(/^[^:]*: /, ""); printf "%s%s", sep, $0; sep=", "}' "$dir/nginx.h2load")
echo "h2load.sh: $(nproc) cores, rounds=$ROUNDS duration=${DURATION}s conns=$CONNS streams=$STREAMS; server on CPU 0, h2load -t1 on CPU 1; TLSv1.3, h2 ($proto)"
printf '%-9s %8s %10s %7s %13s %8s %8s %8s  %s\n' server req/s cpu_us/req core_% h2load_us/req mean_ms max_ms vs_nginx "req/s per round"
base=$(median <<<"${RPS[nginx]}")
for s in $servers; do
  rps=$(median <<<"${RPS[$s]}")
  printf '%-9s %8s %10s %7s %13s %8s %8s %8.2f  %s\n' "$s" "$rps" "$(median <<<"${CPU[$s]}")" "$(median <<<"${CORE[$s]}")" \
    "$(median <<<"${GEN[$s]}")" "$(median <<<"${MEAN[$s]}")" "$(tr ' ' '\n' <<<"${MAX[$s]}" | awk 'NF' | sort -g | tail -1)" \
    "$(awk -v a="$rps" -v b="$base" 'BEGIN{print a/b}')" "${RPS[$s]}"
done
