#!/usr/bin/env bash
# strop setup, for a fresh Debian/Ubuntu machine (as root for the system packages):
#   system packages when missing (git, gcc, docker.io, bubblewrap, libseccomp2), then .venv with strop and its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v git >/dev/null || need+=(git)
command -v cc >/dev/null || need+=(gcc)
command -v dockerd >/dev/null || need+=(docker.io)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v pgrep >/dev/null || need+=(procps)
ldconfig -p 2>/dev/null | grep 'libseccomp\.so\.2' >/dev/null || need+=(libseccomp2)  # the sandboxes' syscall filter
command -v chromium >/dev/null || need+=(chromium)  # headless browser tests of strop ui and reports
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v systemd-analyze >/dev/null || need+=(systemd)  # `strop nightly install` verifies its timer units with it
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
  else
    echo "setup: warning: missing ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
  fi
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup: strop needs Python >= 3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev,ray,mle]'  # ray: the cluster executor and its tests; mle: statsmodels
echo "setup: done. Next: bash scripts/test.sh"
