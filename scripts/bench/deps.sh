#!/usr/bin/env bash
# Installs what the benchmark needs beyond npm packages (Debian): wrk, nginx-light, openssl, and
# valgrind (callgrind counts the instructions per request).
set -euo pipefail
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v openssl >/dev/null || need+=(openssl)
command -v valgrind >/dev/null || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # nginx-light's package may start a system nginx; the benchmark runs its own.
  if command -v systemctl >/dev/null; then $SUDO systemctl stop nginx 2>/dev/null || true; fi
fi
