"""The action image: what it contains and that the slimmed dependencies still work."""

from __future__ import annotations

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e

IMAGE_LIMIT_BYTES = 250 * 1000 * 1000


def _python(daemon: harness.DockerDaemon, tag: str, code: str) -> str:
    done = daemon.docker(
        "run",
        "--rm",
        "--network",
        "host",
        "--entrypoint",
        "python3",
        tag,
        "-c",
        code,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_bedrock_client_and_the_credential_chain_models_survive_the_pruning(
    docker_daemon: harness.DockerDaemon, action_image: harness.BuildInfo
) -> None:
    out = _python(
        docker_daemon,
        action_image.tag,
        "import boto3\n"
        "c = boto3.client('bedrock-runtime', region_name='us-east-1')\n"
        "print('Converse' in c.meta.service_model.operation_names)\n"
        "for name in ('sts', 'sso', 'sso-oidc'):\n"
        "    boto3.client(name, region_name='us-east-1')\n"
        "import botocore.session, os\n"
        "data = os.path.join(os.path.dirname(botocore.session.__file__), 'data')\n"
        "print(sorted(d for d in os.listdir(data) if os.path.isdir(os.path.join(data, d))))\n",
    )
    lines = out.splitlines()
    assert lines[0] == "True"
    assert lines[1] == "['bedrock-runtime', 'sso', 'sso-oidc', 'sts']"


def test_the_image_runs_the_cli_and_holds_no_sources_or_tests(
    docker_daemon: harness.DockerDaemon, action_image: harness.BuildInfo
) -> None:
    out = _python(
        docker_daemon,
        action_image.tag,
        "import ci_healer, ci_healer.templating as t, os, shutil\n"
        "print(t.prompts_dir().name)\n"
        "print(shutil.which('ci-healer') is not None, shutil.which('pip') is None or 'venv' not in shutil.which('pip'))\n"
        "print(os.path.exists('/src'), os.path.exists('/tests'))\n",
    )
    assert out.splitlines() == ["_prompts", "True True", "False False"]
    assert action_image.size_bytes is not None and action_image.size_bytes < IMAGE_LIMIT_BYTES
