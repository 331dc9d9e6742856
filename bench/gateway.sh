#!/bin/sh
# The GATEWAY_CMD for ../shared/bench/peers.sh: writes a frontgate config from the variables peers.sh
# sets (GATEWAY_ADDR, UPSTREAM, STATIC_DIR, BENCH_DIR) and runs the gateway with its access log on.
#
#   go build -o bin/frontgate ./cmd/frontgate
#   GATEWAY_CMD='sh bench/gateway.sh' bash ../shared/bench/peers.sh
#
# FRONTGATE names the binary (default bin/frontgate). ACCESS_FILE=path writes the access log to that
# file instead of stdout; COMPRESS=1 turns on compression for every route and mount (defaults).
set -eu
file= defaults=
[ -n "${ACCESS_FILE:-}" ] && file=", access_file: \"$ACCESS_FILE\""
[ -n "${COMPRESS:-}" ] && defaults="defaults: {compress: true}"
cat >"$BENCH_DIR/frontgate.yaml" <<YAML
listen: "$GATEWAY_ADDR"
log: {level: info, format: json, access: true$file}
$defaults
static:
  - {prefix: /css/, path: "$STATIC_DIR", name: css}
upstreams:
  up: {targets: ["$UPSTREAM"]}
routes:
  - {path: /demo2, upstream: up, name: demo2}
  - {path_prefix: /demo2/, upstream: up, name: demo2_sub}
YAML
exec "${FRONTGATE:-bin/frontgate}" serve -config "$BENCH_DIR/frontgate.yaml"
