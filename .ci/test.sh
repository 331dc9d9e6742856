#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need from Debian's packages
# (headless Chromium for the demo-page tests, curl for the README tour and the interop matrix, nginx,
# Python's aiohttp and Node for the matrix's upstreams and clients, logrotate for the access log,
# HdrHistogram's Java log tools for selftest's interval logs, redis-server for the shared rate limits,
# HAProxy for the rolling restart), then checks formatting and vet and runs every test with the race
# detector, the fuzz targets' seed corpora included. Run from anywhere: bash .ci/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)                               # interop: an upstream
/usr/bin/python3 -c 'import aiohttp' >/dev/null 2>&1 || missing+=(python3-aiohttp) # interop: upstream, client
command -v node >/dev/null 2>&1 || missing+=(nodejs)                            # interop: upstream, fetch
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)                 # basic auth: bcrypt htpasswd files
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)                         # rolling restart: the balancer
[ -x /usr/sbin/logrotate ] || missing+=(logrotate)                              # access log: an external mover, then SIGUSR1
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)              # HdrHistogram's own log tools
[ -f /usr/share/java/hdrhistogram.jar ] || missing+=(libhdrhistogram-java)      # read selftest's -hdr-log
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)             # rate limits shared through Redis
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian's packages" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  # Packages with a service (nginx, redis-server) must not start it: the tests run their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
  fi
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change: $bad" >&2; exit 1; fi
go vet ./...
go test -race -count=1 -timeout 15m ./...
