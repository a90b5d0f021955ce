# ci-healer container action image.
#
# deps:    a virtual environment /opt/venv with the runtime dependencies, installed from the
#          hash-pinned lock requirements.txt (rebuilt only when a lock file changes);
# package: the ci-healer wheel, installed under the prefix /opt/pkg (a source change rebuilds
#          only this stage and the last, small layer of the final image);
# final:   the base image plus both trees; no pip cache, build tools, sources or tests.
#
# The base image: the multi-platform index of python:3.12-slim (python:3.12.14-slim, Debian trixie)
# pinned by digest, as published on Docker Hub (the same digest other public Dockerfiles pin).
# Dependabot (.github/dependabot.yml, docker ecosystem) proposes the next digest; it reads FROM
# lines only, not ARG defaults (dependabot-core#2057), hence this stage. Every other stage starts
# from BASE_IMAGE, which names this stage unless a build passes another base (a fork's mirror, a
# locally built image):
#   docker build --build-arg BASE_IMAGE=python:3.12-slim .
# BuildKit then skips this stage. The legacy builder processes every stage and so would still pull
# it: tests/e2e/harness.py, which has no registry, replaces this FROM line instead.
ARG BASE_IMAGE=pinned-base
FROM python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea AS pinned-base

FROM ${BASE_IMAGE} AS deps

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

# Both locks come from scripts/lock.sh. --require-hashes accepts only the files whose hashes the
# lock lists; --only-binary keeps sdist builds (and their unpinned build dependencies) out;
# --no-deps plus `pip check` prove the lock is complete and consistent on its own.
COPY requirements.txt requirements-build.txt /src/
RUN python3 -m pip install --no-compile --require-hashes --only-binary=:all: -r /src/requirements-build.txt \
 && python3 -m venv --without-pip /opt/venv \
 && python3 -m pip --python /opt/venv/bin/python install --require-hashes --only-binary=:all: --no-deps -r /src/requirements.txt \
 && python3 -m pip --python /opt/venv/bin/python check

# botocore ships the models of every AWS service (~25 MB); keep only what the bedrock backend and
# the standard credential chain (OIDC web identity via STS, SSO) load.
RUN cd /opt/venv/lib/python3*/site-packages/botocore/data \
 && find . -mindepth 1 -maxdepth 1 -type d ! -name bedrock-runtime ! -name sts ! -name sso ! -name sso-oidc -exec rm -rf {} + \
 && rm -rf /opt/venv/lib/python3*/site-packages/boto3/data


FROM deps AS package

COPY pyproject.toml /src/pyproject.toml
COPY README.md /src/README.md
COPY prompts /src/prompts
COPY src /src/src
RUN python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels /src \
 && python3 -m pip --python /opt/venv/bin/python install --no-deps --prefix /opt/pkg /tmp/wheels/ci_healer-*.whl \
 && PYTHONPATH="$(echo /opt/pkg/lib/python3*/site-packages)" /opt/venv/bin/python -c "import ci_healer"


FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="ci-healer" \
      org.opencontainers.image.description="Root cause, risk badge and a minimal fix for failed GitHub Actions runs" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=deps /opt/venv /opt/venv
COPY --from=package /opt/pkg/ /opt/venv/

# Docker actions run as root and must not rely on WORKDIR: paths come from GITHUB_* variables.
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONUTF8=1

ENTRYPOINT ["ci-healer", "action"]
