#!/usr/bin/env bash
# A throwaway one-node Ceph cluster with the RADOS Gateway (RGW), for the S3
# backend's tests and benchmark: a second real S3 server beside Swift. RGW
# checks SigV4 signatures, does multipart uploads and ranged GETs, and enforces
# `If-None-Match: *` and `If-Match` on PUT (but takes only the unquoted etag in
# `If-Match`, see src/backends/s3-conditional.ts).
#
#   ceph.sh start BASE_DIR PORT   # prints "endpoint=http://127.0.0.1:PORT" when S3 answers
#   ceph.sh stop BASE_DIR         # stops exactly the processes `start` recorded
#
# Credentials: access key "modelstore-test", secret "modelstore-test-secret", region us-east-1.
# One monitor, one OSD that keeps objects in memory (memstore), one radosgw with
# the beast frontend; no manager (nothing here needs one). Every process binds
# 127.0.0.1 only and the monitor's port is picked free at start, so several
# copies can run at once. cephx is off inside the cluster: the S3 clients still
# sign with SigV4, which RGW checks against the user created here.
# Needs root (Debian 12: ceph 16.2 "pacific"); no systemd.
set -euo pipefail

usage() { echo "usage: $0 start BASE_DIR PORT | stop BASE_DIR" >&2; exit 2; }

ACCESS_KEY=modelstore-test
SECRET_KEY=modelstore-test-secret

install_ceph() {
  command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && command -v radosgw >/dev/null \
    && command -v radosgw-admin >/dev/null && command -v monmaptool >/dev/null && return 0
  local pkgs="ceph-mon ceph-osd radosgw ceph-common"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>&1 || {
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  }
}

# A free TCP port on 127.0.0.1 (python3 comes with ceph-common).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}

stop() {
  local base=$1 pidfile pid pids=() i
  [ -d "$base/run" ] || return 0
  for pidfile in "$base"/run/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    pids+=("$pid")
    # Started with setsid, so the pid is its process group. The cluster is thrown
    # away: no orderly shutdown (an OSD waits for its monitor, and memstore would
    # write every object to the data dir on the way out).
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  # Gone before this returns, so the caller may remove the directory. A zombie counts
  # as gone: where pid 1 does not reap orphans (some containers), it stays one.
  for i in $(seq 1 50); do
    for pid in "${pids[@]}"; do alive "$pid" && break; pid=; done
    [ -z "${pid:-}" ] && return 0
    sleep 0.1
  done
}

write_config() {
  local base=$1 port=$2 mon_port=$3 fsid=$4
  cat > "$base/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public network = 127.0.0.0/8
# No cephx between the daemons and the tools: nothing but this machine talks to them.
auth cluster required = none
auth service required = none
auth client required = none
# Without cephx the monitor cannot do msgr2's "secure" mode alone: allow crc.
ms mon client mode = crc secure
ms mon cluster mode = crc secure
ms mon service mode = crc secure
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
# One OSD: pools of one replica and few placement groups.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon warn on pool no redundancy = false
# The temp dir's file system may be nearly full or small: no monitor refusal for that.
mon data avail crit = 0
mon data avail warn = 0
osd crush chooseleaf type = 0
run dir = $base/run
admin socket = $base/run/\$name.asok
log file = $base/log/\$name.log
log to stderr = false
err to stderr = false
debug ms = 0

[mon]
mon data = $base/mon/\$id
mon initial members = a

[osd]
osd data = $base/osd/\$id
osd objectstore = memstore
# Objects live in memory; tests write well under 2 GiB, bench:s3 writes ~2 GiB a run
# (memstore takes memory as objects arrive, not up front).
memstore device bytes = 6442450944

[client.rgw]
# tcp_nodelay: beast writes an answer's headers and body apart, and with Nagle on every
# body then waits ~40 ms for the client's delayed ACK (a GET of 1 byte took 45 ms).
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw thread pool size = 64
rgw enable usage log = false
# Deleted objects' data is freed by RGW's garbage collector, by default two hours later;
# a benchmark that writes and deletes GiBs would fill the memstore before then.
rgw gc obj min wait = 10
rgw gc processor period = 10
CONF
}

# Runs a daemon in its own session, recording its pid like swift.sh does.
spawn() {
  local base=$1 name=$2; shift 2
  setsid "$@" >"$base/log/$name.out" 2>&1 </dev/null & echo $! > "$base/run/$name.pid"
}

# `ceph ...` against this cluster, waiting up to 20 s for the monitor (a fresh one takes a moment).
ceph_cmd() {
  local base=$1; shift
  timeout 30 ceph -c "$base/ceph.conf" --connect-timeout 20 "$@"
}

fail() {
  local base=$1; shift
  echo "Ceph RGW did not start: $*; logs in $base/log" >&2
  tail -n 15 "$base"/log/*.log "$base"/log/*.out >&2 2>/dev/null || true
  stop "$base"
  exit 1
}

start() {
  local base=$1 port=$2
  install_ceph
  stop "$base"
  rm -rf "$base"
  mkdir -p "$base/run" "$base/log" "$base/mon/a" "$base/osd/0"
  local mon_port fsid osd_uuid
  mon_port=$(free_port)
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  write_config "$base" "$port" "$mon_port" "$fsid"
  export CEPH_CONF="$base/ceph.conf"

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$base/monmap" >/dev/null
  ceph-mon -c "$base/ceph.conf" --mkfs -i a --monmap "$base/monmap" >"$base/log/mon-mkfs.out" 2>&1 \
    || fail "$base" "ceph-mon --mkfs failed"
  spawn "$base" mon ceph-mon -c "$base/ceph.conf" -i a -f

  # The OSD's id comes from the monitor; memstore needs no disk of its own.
  local id
  id=$(ceph_cmd "$base" osd new "$osd_uuid" 2>"$base/log/osd-new.out") || fail "$base" "the monitor did not answer"
  [ "$id" = 0 ] || fail "$base" "unexpected OSD id $id"
  ceph-osd -c "$base/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$base/log/osd-mkfs.out" 2>&1 \
    || fail "$base" "ceph-osd --mkfs failed"
  spawn "$base" osd ceph-osd -c "$base/ceph.conf" -i 0 -f

  local i
  for i in $(seq 1 120); do
    ceph_cmd "$base" osd dump 2>/dev/null | grep -q '^osd.0 up' && break
    [ "$i" = 120 ] && fail "$base" "the OSD did not come up"
    sleep 0.25
  done

  # The user is stored in RADOS. Created before radosgw starts: both would set up
  # the default zone and its pools, and radosgw gives up when it loses that race.
  for i in $(seq 1 20); do
    if radosgw-admin -c "$base/ceph.conf" -n client.admin user create --uid=modelstore --display-name=modelstore \
      --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$base/log/user.out" 2>&1; then
      break
    fi
    [ "$i" = 20 ] && fail "$base" "radosgw-admin could not create the S3 user"
    sleep 0.5
  done
  spawn "$base" rgw radosgw -c "$base/ceph.conf" -n client.rgw -f

  for i in $(seq 1 240); do
    # An anonymous ListBuckets: any S3 answer (an empty list) means the frontend serves requests.
    if curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1; then
      echo "endpoint=http://127.0.0.1:$port"
      return 0
    fi
    kill -0 "$(cat "$base/run/rgw.pid")" 2>/dev/null || fail "$base" "radosgw exited"
    sleep 0.25
  done
  fail "$base" "radosgw did not answer on port $port"
}

case "${1:-}" in
  start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  *) usage ;;
esac
