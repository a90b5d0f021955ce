# ci-healer container action image.
#
# deps:    a virtual environment /opt/venv with the runtime dependencies from pyproject.toml
#          (rebuilt only when pyproject.toml changes);
# package: the ci-healer wheel, installed under the prefix /opt/pkg (a source change rebuilds
#          only this stage and the last, small layer of the final image);
# final:   the base image plus both trees; no pip cache, build tools, sources or tests.
FROM python:3.12-slim AS deps

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m pip install --no-compile hatchling \
 && python3 -m venv --without-pip /opt/venv

COPY pyproject.toml /src/pyproject.toml
RUN python3 -c 'import tomllib; print("\n".join(tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
 && python3 -m pip --python /opt/venv/bin/python install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# botocore ships the models of every AWS service (~25 MB); keep only what the bedrock backend and
# the standard credential chain (OIDC web identity via STS, SSO) load.
RUN cd /opt/venv/lib/python3*/site-packages/botocore/data \
 && find . -mindepth 1 -maxdepth 1 -type d ! -name bedrock-runtime ! -name sts ! -name sso ! -name sso-oidc -exec rm -rf {} + \
 && rm -rf /opt/venv/lib/python3*/site-packages/boto3/data


FROM deps AS package

COPY README.md /src/README.md
COPY prompts /src/prompts
COPY src /src/src
RUN python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels /src \
 && python3 -m pip --python /opt/venv/bin/python install --no-deps --prefix /opt/pkg /tmp/wheels/ci_healer-*.whl \
 && PYTHONPATH="$(echo /opt/pkg/lib/python3*/site-packages)" /opt/venv/bin/python -c "import ci_healer"


FROM python:3.12-slim

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
