#!/usr/bin/env bash
# Install GitHub's own REST description and webhook examples (npm) for the fake GitHub API tests.
#
#   tests/setup-octokit.sh            # installs into <repo>/.e2e/octokit (gitignored)
#   CI_HEALER_OCTOKIT_DIR=dir tests/setup-octokit.sh
#
# Idempotent: does nothing when the pinned versions are already installed.
set -euo pipefail

OPENAPI_VERSION="23.0.2"
WEBHOOKS_EXAMPLES_VERSION="7.6.1"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CI_HEALER_OCTOKIT_DIR:-${repo_root}/.e2e/octokit}"

installed_version() {
  local pkg_json="${target}/node_modules/$1/package.json"
  [ -f "${pkg_json}" ] || return 0
  node -e 'process.stdout.write(require(process.argv[1]).version)' "${pkg_json}"
}

if [ "$(installed_version @octokit/openapi)" = "${OPENAPI_VERSION}" ] \
  && [ "$(installed_version @octokit/webhooks-examples)" = "${WEBHOOKS_EXAMPLES_VERSION}" ]; then
  echo "octokit descriptions already installed in ${target}"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is required (Node.js 18+)" >&2; exit 1; }
mkdir -p "${target}"
cd "${target}"
[ -f package.json ] || printf '{\n  "name": "ci-healer-octokit-fixtures",\n  "private": true\n}\n' > package.json
npm install --no-audit --no-fund --save-exact --ignore-scripts \
  "@octokit/openapi@${OPENAPI_VERSION}" \
  "@octokit/webhooks-examples@${WEBHOOKS_EXAMPLES_VERSION}"
echo "installed into ${target}"
