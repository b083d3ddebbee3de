#!/usr/bin/env bash
# Start what strop's sandboxes need: the docker engine (as root, when not answering) and its image.
set -uo pipefail
cd "$(dirname "$0")/.."
if command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "services: starting dockerd"
    nohup dockerd >/tmp/strop-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  fi
fi
if docker info >/dev/null 2>&1; then
  .venv/bin/strop sandbox image || echo "services: warning: could not build the sandbox image" >&2
else
  echo "services: docker engine not available; the docker backend will be reported unavailable" >&2
fi
