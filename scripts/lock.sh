#!/usr/bin/env bash
# Regenerates the two hash-pinned lock files the action image installs from (see Dockerfile):
#
#   requirements.txt        the runtime dependencies ([project] dependencies of pyproject.toml)
#   requirements-build.txt  the build backend ([build-system] requires of pyproject.toml), used
#                           only to build the wheel; it is not in the final image
#
# both resolved for CPython 3.12 on Linux (the image's interpreter), each with the hashes of every
# file published for the pinned version, so `pip install --require-hashes` accepts nothing else.
# Versions already in a lock are kept when they still satisfy pyproject.toml; pass --upgrade (or
# --upgrade-package NAME) to move them. Needs uv: pip install uv.
#
#   bash scripts/lock.sh              # after changing dependencies in pyproject.toml
#   bash scripts/lock.sh --upgrade    # take the newest allowed versions
set -euo pipefail
cd "$(dirname "$0")/.."

common=(
  --generate-hashes
  --python-version 3.12
  --python-platform x86_64-manylinux_2_28
  --no-config
  --quiet
  --custom-compile-command "bash scripts/lock.sh"
)

uv pip compile pyproject.toml "${common[@]}" "$@" -o requirements.txt

python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
  | uv pip compile - "${common[@]}" "$@" -o requirements-build.txt
