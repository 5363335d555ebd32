#!/usr/bin/env bash
# Installs the real servers the tests run against, from Debian, when missing.
# OpenStack Swift with its S3 API: a real S3 server that checks SigV4 signatures.
set -euo pipefail
packages=()
command -v swift-proxy-server >/dev/null || packages+=(swift-proxy swift-object swift-container swift-account)
command -v memcached >/dev/null || packages+=(memcached)
# Ceph's RADOS Gateway: a second real S3 server, one that enforces conditional writes (test/support/ceph.sh).
{ command -v ceph-mon && command -v ceph-osd && command -v radosgw && command -v ceph; } >/dev/null \
  || packages+=(ceph-mon ceph-osd radosgw ceph-common)
# strace: the file-system durability test reads which fsync, rename and link calls a put makes.
command -v strace >/dev/null || packages+=(strace)
# PostgreSQL for the metadata tests: initdb and pg_ctl live in /usr/lib/postgresql/<version>/bin on Debian.
# As root the test cluster runs as the "postgres" OS user, which the Debian package creates.
if ! { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; } || ! id postgres >/dev/null 2>&1; then
  packages+=(postgresql)
fi
[ ${#packages[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
}
