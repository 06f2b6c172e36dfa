#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need (idempotent; root or sudo).
set -euo pipefail
pkgs="build-essential cmake pkg-config libcjson-dev libpcre2-dev clang libclang-rt-14-dev python3-venv"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "install_deps: installing$missing"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
fi
