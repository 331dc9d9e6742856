#!/usr/bin/env bash
# Soak: does frontgate's memory stay flat under load? Its RSS after 10 million proxied requests should
# equal its RSS after 1 million. The rig of profile.sh and ab.sh (rig.sh): an nginx upstream answering
# GET /demo2 with "welcome\n" on CPU 1; frontgate serve on CPU 0 with GOMAXPROCS=1, forwarding /demo2
# with its access log on (JSON, to /dev/null or to a rotated file); one wrk (-t1, keep-alive) on CPU 1
# that runs until frontgate has counted TOTAL requests. The script polls the admin /metrics every POLL
# seconds, and each time frontgate_requests_total passes the next multiple of CHECKPOINT it pauses wrk
# (SIGSTOP), waits for frontgate_inflight_requests to reach 0, forces a GC (/debug/pprof/heap?gc=1),
# reads the metrics and VmRSS, and lets wrk go on. So each row is taken at rest, the connections open
# and idle, and the heap column is the live heap, comparable between rows.
#
#   bash bench/soak.sh                                   # from the repository; builds the binary first
#   TOTAL=300000 CHECKPOINT=100000 bash bench/soak.sh    # a short check of the script itself
#
# Knobs: TOTAL (10000000), CHECKPOINT (1000000), CONNS (64), FRONTGATE (a prebuilt binary; default:
# build ./cmd/frontgate into the temp dir), ACCESS (null: the access log on stdout, sent to /dev/null;
# file: log.access_file in the temp dir, rotated at 64MiB keeping one backup), POLL (0.2, seconds),
# PROFILES (a folder to keep the heap profile of each row in, as heap-REQUESTS.pb.gz; compare two with
# `go tool pprof -base A B`). Ports 19150 (upstream), 19151 (frontgate), 19152 (admin). Needs nginx,
# wrk and curl.
# Output: a row before the load and one per checkpoint: requests (frontgate's count, a little past the
# checkpoint), seconds of load, req/s since the previous row, VmRSS, the live heap
# (go_memstats_heap_alloc_bytes right after the GC), all the Go runtime holds from the OS
# (go_memstats_sys_bytes), goroutines and open file descriptors. Then RSS at the last checkpoint / RSS
# at the first (1.00: flat), the req/s over the run, and how many answers were not 200.
# serve runs at GOGC=800 unless GOGC is set (README): the heap may grow to about 9x the live heap
# between collections, so RSS is mostly that headroom (some 55 MiB for a 5 MiB live heap) and moves by
# a few MiB from row to row; a leak shows first, and more plainly, in the heap column. GOGC=100 in the
# environment (it reaches frontgate) gives a smaller, steadier RSS.
set -euo pipefail
FRONTGATE=${FRONTGATE:+$(realpath "$FRONTGATE")} PROFILES=${PROFILES:+$(realpath -m "$PROFILES")}
cd "$(dirname "$0")/.."
TOTAL=${TOTAL:-10000000} CHECKPOINT=${CHECKPOINT:-1000000} CONNS=${CONNS:-64}
ACCESS=${ACCESS:-null} POLL=${POLL:-0.2}
[ -z "$PROFILES" ] || mkdir -p "$PROFILES"
case $ACCESS in null | file) ;; *) echo "ACCESS is null or file, not $ACCESS" >&2; exit 2 ;; esac
# shellcheck source=bench/rig.sh
source bench/rig.sh
rig_start 19150 19151 19152
wrk_pid=""
# rig_start's cleanup, with wrk ended first (continued, in case sample had paused it).
trap '[ -n "$wrk_pid" ] && kill $wrk_pid 2>/dev/null && kill -CONT $wrk_pid; kill $(cat "$dir/nginx.pid" 2>/dev/null) 2>/dev/null || true; [ -n "$gw_pid" ] && kill $gw_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
if [ -z "$FRONTGATE" ]; then
  go build -o "$dir/frontgate" ./cmd/frontgate
  FRONTGATE=$dir/frontgate
fi
out=/dev/null
if [ "$ACCESS" = file ]; then
  sed -i "s|access: true}|access: true, access_file: $dir/access.log, rotate: {max_size: 64MiB, max_backups: 1}}|" "$dir/gw.yaml"
  out=$dir/gw.out
fi
GOMAXPROCS=1 taskset -c 0 "$FRONTGATE" serve -config "$dir/gw.yaml" >"$out" 2>"$dir/gw.log" & gw_pid=$!
target=http://127.0.0.1:19151/demo2 admin=http://127.0.0.1:19152
rig_wait "$target"
curl -fs -o /dev/null "$target" || { echo "frontgate does not answer $target" >&2; cat "$dir/gw.log" >&2; exit 1; }

# sample pauses wrk (SIGSTOP), waits until no request is in flight, forces a GC and reads the metrics
# and VmRSS, then lets wrk go on; the pause does not count in the seconds. Sets n (requests), t (seconds
# of load), rss (MiB) and row (the columns from rss on).
t0=$EPOCHREALTIME
sample() {
  local m p=$EPOCHREALTIME
  t=$(awk -v a="$t0" -v b="$p" 'BEGIN{printf "%.1f", b-a}')
  [ -z "$wrk_pid" ] || kill -STOP "$wrk_pid"
  for _ in $(seq 100); do
    [ "$(scrape | awk '/^frontgate_inflight_requests/{n+=$NF} END{printf "%d", n}')" -gt 0 ] || break
    sleep 0.01
  done
  taskset -c 1 curl -fs -o "$dir/heap.pb.gz" "$admin/debug/pprof/heap?gc=1"
  m=$(scrape)
  rss=$(awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$gw_pid/status")
  [ -z "$wrk_pid" ] || kill -CONT "$wrk_pid"
  t0=$(awk -v a="$t0" -v p="$p" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.6f", a+b-p}')
  n=$(awk '/^frontgate_requests_total/{n+=$NF} END{printf "%d", n}' <<<"$m")
  row=$(awk -v rss="$rss" '
    $1=="go_memstats_heap_alloc_bytes"{h=$2} $1=="go_memstats_sys_bytes"{s=$2}
    $1=="go_goroutines"{g=$2} $1=="process_open_fds"{f=$2}
    END{printf "%9.1f %9.1f %9.1f %10d %5d", rss, h/1048576, s/1048576, g, f}' <<<"$m")
  if [ -n "$PROFILES" ]; then mv "$dir/heap.pb.gz" "$PROFILES/heap-$n.pb.gz"; fi
}
scrape() { taskset -c 1 curl -fs "$admin/metrics"; }
count() { scrape | awk '/^frontgate_requests_total/{n+=$NF} END{printf "%d", n}'; }

echo "soak.sh: $(nproc) cores, total=$TOTAL checkpoint=$CHECKPOINT conns=$CONNS access=$ACCESS gogc=${GOGC:-800}; frontgate on CPU 0 (GOMAXPROCS=1), wrk and nginx on CPU 1"
printf '%10s %7s %8s %9s %9s %9s %10s %5s\n' requests secs req/s rss_MiB heap_MiB sys_MiB goroutines fds
sample
printf '%10d %7s %8s %s\n' "$n" - - "$row"
n_start=$n prev_n=$n prev_t=0 first_rss="" next=$CHECKPOINT
t0=$EPOCHREALTIME t=0
taskset -c 1 wrk -t1 -c"$CONNS" -d24h "$target" >"$dir/wrk.out" 2>&1 & wrk_pid=$!
while :; do
  sleep "$POLL"
  kill -0 "$wrk_pid" 2>/dev/null || { echo "wrk stopped early:" >&2; cat "$dir/wrk.out" >&2; exit 1; }
  kill -0 "$gw_pid" 2>/dev/null || { echo "frontgate stopped:" >&2; cat "$dir/gw.log" >&2; exit 1; }
  [ "$(count)" -ge "$next" ] || continue
  sample
  rate=$(awk -v dn=$((n - prev_n)) -v a="$prev_t" -v b="$t" 'BEGIN{printf "%.0f", dn/(b-a)}')
  printf '%10d %7s %8s %s\n' "$n" "$t" "$rate" "$row"
  last_rss=$rss; [ -n "$first_rss" ] || first_rss=$rss
  prev_n=$n prev_t=$t
  while [ "$next" -le "$n" ]; do next=$((next + CHECKPOINT)); done
  [ "$n" -lt "$TOTAL" ] || break
done
kill -INT "$wrk_pid"; wait "$wrk_pid" 2>/dev/null || true; wrk_pid=""
m=$(scrape)
bad=$(awk '/^frontgate_requests_total/ && !/status="200"/{n+=$NF} END{printf "%d", n}' <<<"$m")
awk -v a="$last_rss" -v b="$first_rss" 'BEGIN{printf "RSS at the last checkpoint / RSS at the first: %.2f (%.1f / %.1f MiB)\n", a/b, a, b}'
awk -v dn=$((prev_n - n_start)) -v dt="$prev_t" 'BEGIN{printf "req/s over the run: %.0f\n", dn/dt}'
errs=$(grep -E 'Socket errors|Non-2xx' "$dir/wrk.out" | tr -s ' ' | paste -sd ';' || true)
echo "answers other than 200: $bad; wrk's errors: ${errs:-none}"
