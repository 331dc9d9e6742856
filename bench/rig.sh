# Sourced by profile.sh and ab.sh: the rig both use. An nginx upstream answering "welcome" on CPU 1,
# a 13 KiB stylesheet, and a frontgate config that forwards /demo2 to the upstream and serves the
# stylesheet under /css/, access log on, admin on the given port. Sets dir; cleans up on exit.
#   rig_start UPSTREAM_PORT GATEWAY_PORT ADMIN_PORT   ->  $dir/gw.yaml
rig_start() {
  local up=$1 gwport=$2 admin=$3
  dir=$(mktemp -d /tmp/fgrig.XXXXXX); chmod 755 "$dir"; gw_pid=""
  trap 'kill $(cat "$dir/nginx.pid" 2>/dev/null) 2>/dev/null || true; [ -n "$gw_pid" ] && kill $gw_pid 2>/dev/null; rm -rf "$dir"' EXIT
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1; daemon on; pid $dir/nginx.pid; error_log $dir/error.log error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$up; location / { return 200 "welcome\n"; } } }
CONF
  taskset -c 1 nginx -c "$dir/nginx.conf" -p "$dir"
  mkdir -p "$dir/static"; head -c 10240 /dev/urandom | base64 -w 100 >"$dir/static/base.css"
  cat >"$dir/gw.yaml" <<CONF
listen: 127.0.0.1:$gwport
log: {level: info, format: json, access: true}
admin: {listen: 127.0.0.1:$admin}
static: [{prefix: /css/, path: $dir/static, name: css}]
upstreams: {up: {targets: ["http://127.0.0.1:$up"]}}
routes: [{path: /demo2, upstream: up}, {path_prefix: /demo2/, upstream: up}]
CONF
}

# rig_wait URL: until the gateway answers.
rig_wait() { for _ in $(seq 50); do curl -fs -o /dev/null "$1" && return; sleep 0.1; done; }
