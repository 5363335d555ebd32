#!/usr/bin/env bash
# A throwaway one-node OpenStack Swift with the s3api middleware, for the S3
# backend's tests and benchmark. Swift checks SigV4 signatures for real, does
# multipart uploads and ranged GETs, and answers 501 to conditional PUTs.
#
#   swift.sh start BASE_DIR PORT   # prints "endpoint=http://127.0.0.1:PORT" when healthy
#   swift.sh stop BASE_DIR         # stops exactly the processes `start` recorded
#
# Credentials (tempauth): access key "test:tester", secret "testing", region us-east-1.
# Every process binds 127.0.0.1 only; the internal ports (account, container,
# object, memcached) are picked free at start so several copies can run at once.
# Needs root for apt when Swift is missing (Debian 12: swift 2.30).
set -euo pipefail

usage() { echo "usage: $0 start BASE_DIR PORT | stop BASE_DIR" >&2; exit 2; }

install_swift() {
  command -v swift-proxy-server >/dev/null && command -v memcached >/dev/null && return 0
  local pkgs="swift-proxy swift-object swift-container swift-account memcached"
  export DEBIAN_FRONTEND=noninteractive
  # Try without `apt-get update` first: it is slow and the lists are usually there.
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>&1 || {
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  }
}

# A free TCP port on 127.0.0.1 (python3 is there: Swift is written in it).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

stop() {
  local base=$1 pidfile pid
  [ -d "$base/run" ] || return 0
  for pidfile in "$base"/run/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    # Each server was started with setsid, so its pid is its process group:
    # killing the group also ends the worker processes Swift forks.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

write_configs() {
  local base=$1 port=$2 mc_port=$3 acc=$4 con=$5 obj=$6
  cat > "$base/etc/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
swift_dir = $base/etc
workers = 1
user = $(id -un)
log_level = WARNING

[pipeline:main]
# s3api must sit before tempauth: it turns the SigV4 Authorization header
# into something tempauth can check against user_test_tester's key.
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
s3_acl = false
# The default (1000) also applies here; tests page past it on purpose.
max_bucket_listing = 1000

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mc_port
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CONF
  local spec name p
  for spec in "account:$acc" "container:$con" "object:$obj"; do
    name=${spec%%:*}; p=${spec##*:}
    cat > "$base/etc/$name-server.conf" <<CONF
[DEFAULT]
devices = $base/node
mount_check = false
bind_ip = 127.0.0.1
bind_port = $p
workers = 1
user = $(id -un)
swift_dir = $base/etc
log_level = WARNING

[pipeline:main]
pipeline = $name-server

[app:$name-server]
use = egg:swift#$name
CONF
    # One partition power of 10, one replica, one device: the smallest valid ring.
    ( cd "$base/etc" \
      && swift-ring-builder "$name.builder" create 10 1 1 >/dev/null \
      && swift-ring-builder "$name.builder" add "r1z1-127.0.0.1:$p/d1" 1 >/dev/null \
      && swift-ring-builder "$name.builder" rebalance >/dev/null ) || {
      # rebalance exits 1 on warnings; the ring file is what matters.
      [ -e "$base/etc/$name.ring.gz" ] || { echo "could not build the $name ring" >&2; exit 1; }
    }
  done
}

start() {
  local base=$1 port=$2
  install_swift
  stop "$base"
  rm -rf "$base"
  mkdir -p "$base/etc" "$base/node/d1" "$base/run"
  local mc_port acc con obj
  mc_port=$(free_port); acc=$(free_port); con=$(free_port); obj=$(free_port)
  write_configs "$base" "$port" "$mc_port" "$acc" "$con" "$obj"

  setsid memcached -u "$(id -un)" -l 127.0.0.1 -p "$mc_port" -m 64 \
    >"$base/run/memcached.log" 2>&1 </dev/null & echo $! > "$base/run/memcached.pid"
  local n
  for n in account container object proxy; do
    setsid "swift-$n-server" "$base/etc/$n-server.conf" \
      >"$base/run/$n.log" 2>&1 </dev/null & echo $! > "$base/run/$n.pid"
  done

  local i
  for i in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/healthcheck" >/dev/null 2>&1; then
      echo "endpoint=http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.25
  done
  echo "Swift did not become healthy on port $port; logs in $base/run" >&2
  tail -n 20 "$base"/run/*.log >&2 || true
  stop "$base"
  exit 1
}

case "${1:-}" in
  start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  *) usage ;;
esac
