"""Secret redaction (SECURITY.md item 3): known literals and token shapes never survive."""

from __future__ import annotations

import base64
import json
import re
import time
from urllib.parse import quote, quote_plus

import pytest

from ci_healer.models import Block
from ci_healer.redact import MIN_SECRET_LENGTH, Redactor, marker, redact_text

# Fake credentials shaped like the real formats (random-looking, never valid).
GHP = "ghp_" + "R8f2kQ9zLx7Vw3Nc5Tb1Hy6Ju4Mp0Sd2Ae7G"  # 36 chars after the prefix
LLM_KEY = "sk-proj-Vq3xN8bK2mT7rW1yZ5cD9fH4jL6pS0aE-gU_iO"
LOG = f"""2024-05-01T10:00:01.1234567Z ##[group]Run ./scripts/deploy.sh
2024-05-01T10:00:01.2234567Z + curl -sS -H 'Authorization: token {GHP}' https://api.github.com/repos/o/r
2024-05-01T10:00:02.0000000Z {{"message":"Bad credentials"}}
2024-05-01T10:00:02.1000000Z + export OPENAI_API_KEY={LLM_KEY}
2024-05-01T10:00:02.2000000Z Traceback (most recent call last):
2024-05-01T10:00:02.3000000Z   File "/home/runner/work/r/r/deploy.py", line 3, in <module>
2024-05-01T10:00:02.4000000Z openai.AuthenticationError: Incorrect API key provided: {LLM_KEY}
2024-05-01T10:00:02.5000000Z ##[error]Process completed with exit code 1.
"""


def test_log_with_ghp_token_and_literal_llm_key_keeps_neither() -> None:
    redacted, counts = Redactor([LLM_KEY, None]).redact(LOG)
    assert GHP not in redacted
    assert LLM_KEY not in redacted
    assert "sk-proj-" not in redacted
    assert counts.counts == {"authorization_header": 1, "literal_secret": 2}
    assert counts.total == 3
    # The rest of the log is untouched.
    assert "openai.AuthenticationError: Incorrect API key provided: [REDACTED:literal_secret]" in redacted
    assert "##[error]Process completed with exit code 1." in redacted


def test_bare_token_without_header_is_counted_as_github_token() -> None:
    redacted, counts = Redactor().redact(f"push failed for {GHP}\n")
    assert redacted == f"push failed for {marker('github_token')}\n"
    assert counts.counts == {"github_token": 1}


PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDc5y0P8pWq5Jq4r0vS0Xk2c3mC1Z7Jbq0gHc1w8Zbq4gAAAJg9x0b2PcdG\n"
    "-----END OPENSSH PRIVATE KEY-----"
)

TOKEN_SHAPES = [
    ("github_token", GHP),
    ("github_token", "gho_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    ("github_token", "ghs_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8N"),
    ("github_token", "ghu_" + "0123456789abcdefghijABCDEFGHIJklmnopqr"),
    ("github_token", "ghr_" + "1x2y3z4w5v6u7t8s9r0q1p2o3n4m5l6k7j8i9h0"),
    ("github_token", "github_pat_11ABCDEFG0abcdefghijkl_" + "m" * 30 + "1234567890ABCDEFGHIJKLMNOPQRSTUVWXY"),
    ("openai_key", "sk-" + "T3BlbkFJ" + "q8W2e4R6t8Y0u2I4o6P8a0S2d4F6g8H0j2K4"),
    ("openai_key", LLM_KEY),
    ("anthropic_key", "sk-ant-api03-" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5kL7nP9r"),
    ("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_access_key_id", "ASIAY34FZKBOKMUTVV7A"),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    ("private_key", PRIVATE_KEY),
    ("slack_token", "xoxb-2048137512-9876543210-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("slack_webhook", "https://hooks.slack.com/services/T0000AAAA/B1111BBBB/abcdefghijklmnopqrstuvwx"),
    ("google_api_key", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"),
    ("npm_token", "npm_" + "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8"),
]


@pytest.mark.parametrize(
    ("kind", "secret"), TOKEN_SHAPES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(TOKEN_SHAPES)]
)
def test_each_token_shape_is_replaced_and_counted(kind: str, secret: str) -> None:
    text = f"step output: {secret} (end)\nnext line"
    redacted, counts = Redactor().redact(text)
    assert secret not in redacted
    assert redacted == f"step output: {marker(kind)} (end)\nnext line"
    assert counts.counts == {kind: 1}


LABELLED = [
    # (text, kind, secret, what must stay)
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = ",
    ),
    (
        '"AWS_SECRET_ACCESS_KEY": "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"',
        "aws_secret_access_key",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        '"AWS_SECRET_ACCESS_KEY": "',
    ),
    (
        "> Authorization: Bearer abc.def-123_ghi~jkl",
        "authorization_header",
        "abc.def-123_ghi~jkl",
        "> Authorization: Bearer ",
    ),
    (
        "authorization: Basic dXNlcjpwYXNzd29yZDEyMw==",
        "authorization_header",
        "dXNlcjpwYXNzd29yZDEyMw==",
        "authorization: Basic ",
    ),
    (
        "http.extraheader=AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX3h4eA==",
        "authorization_header",
        "eC1hY2Nlc3MtdG9rZW46Z2hzX3h4eA==",
        "AUTHORIZATION: basic ",
    ),
    (
        "using Bearer 4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
        "bearer_token",
        "4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
        "using Bearer ",
    ),
    (
        "git clone https://deploy:s3cr3t-pa55@git.example.com/o/r.git",
        "url_credentials",
        "s3cr3t-pa55",
        "https://deploy:",
    ),
]


@pytest.mark.parametrize(("text", "kind", "secret", "kept"), LABELLED)
def test_labelled_values_are_replaced_but_labels_kept(text: str, kind: str, secret: str, kept: str) -> None:
    redacted, counts = Redactor().redact(text)
    assert secret not in redacted
    assert kept in redacted
    assert marker(kind) in redacted
    assert counts.counts == {kind: 1}


FALSE_POSITIVES = [
    "HEAD is now at 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39 Merge pull request #12",
    "request id 123e4567-e89b-12d3-a456-426614174000 failed",
    "pip install sk-learn-compat scikit-learn==1.4.2 && task-runner sk-build-system-helpers",
    "![logo](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==)",
    "Set the Authorization header to send a token; see the Authorization section.",
    'curl -H "Authorization: Bearer $GITHUB_TOKEN" https://api.github.com',
    "Authorization: token ***",
    "The ghp_ prefix marks a personal access token; ghs_short is not one.",
    "AKIA is the prefix of long-term access keys",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "Bearer authentication is described in RFC 6750",
    "https://github.com/owner/repo/actions/runs/123456789/job/987654321",
    "git@github.com:owner/repo.git",
]


@pytest.mark.parametrize("text", FALSE_POSITIVES)
def test_ordinary_text_is_left_alone(text: str) -> None:
    redacted, counts = Redactor().redact(text)
    assert redacted == text
    assert counts.total == 0


def test_literal_secret_is_redacted_in_url_encoded_and_base64_forms() -> None:
    secret = "p@ss/w0rd+with=odd&chars"
    forms = [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()]
    text = " | ".join(forms)
    redacted, counts = Redactor([secret]).redact(text)
    for form in forms:
        assert form not in redacted
    assert counts.counts == {"literal_secret": 3}


@pytest.mark.parametrize("value", [None, "", "   ", "abc", "x" * (MIN_SECRET_LENGTH - 1)])
def test_short_or_missing_literals_are_ignored(value: str | None) -> None:
    text = "abc xxxxx ordinary words"
    redactor = Redactor([value])
    assert redactor.redact(text) == (text, redactor.redact(text)[1])
    assert redactor.redact(text)[1].total == 0


def test_literal_with_surrounding_whitespace_is_matched_stripped() -> None:
    redacted, counts = Redactor(["  hunter2-secret-value\n"]).redact("pw=hunter2-secret-value;")
    assert redacted == "pw=[REDACTED:literal_secret];"
    assert counts.counts == {"literal_secret": 1}


def test_literal_is_counted_once_even_when_it_has_a_token_shape() -> None:
    _, counts = Redactor([GHP]).redact(f"a {GHP} b")
    assert counts.counts == {"literal_secret": 1}


def test_truncated_private_key_block_is_redacted_through_its_base64_lines() -> None:
    text = "cat key\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx1x2x3x4x5x6x7x8x9\nAbCdEfGhIjKlMnOpQrStUvWxYz012345\n\nnext step"
    redacted, counts = Redactor().redact(text)
    assert "MIIEpAIBAAKCAQEA" not in redacted and "AbCdEfGh" not in redacted
    assert redacted.startswith("cat key\n[REDACTED:private_key]")
    assert redacted.endswith("next step")
    assert counts.counts == {"private_key": 1}


def test_redactor_repr_hides_secrets() -> None:
    assert LLM_KEY not in repr(Redactor([LLM_KEY]))


@pytest.mark.parametrize("bad", [None, b"bytes", 12, ["list"]])
def test_non_string_input_raises_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="expects str"):
        Redactor().redact(bad)  # type: ignore[arg-type]


def test_redact_all_and_blocks_sum_counts() -> None:
    redactor = Redactor([LLM_KEY])
    texts, counts = redactor.redact_all([f"k={LLM_KEY}", f"t={GHP}", "clean"])
    assert texts == ["k=[REDACTED:literal_secret]", "t=[REDACTED:github_token]", "clean"]
    assert counts.counts == {"literal_secret": 1, "github_token": 1}
    block = Block(start_line=3, end_line=4, reason="python-traceback", text=f"x {GHP}\ny {LLM_KEY}")
    blocks, bcounts = redactor.redact_blocks([block])
    assert blocks[0].text == "x [REDACTED:github_token]\ny [REDACTED:literal_secret]"
    assert (blocks[0].start_line, blocks[0].end_line, blocks[0].reason) == (3, 4, "python-traceback")
    assert bcounts.total == 2
    assert redact_text(f"k={LLM_KEY}", [LLM_KEY])[0] == "k=[REDACTED:literal_secret]"


ADVERSARIAL = [
    "eyJ" + "A" * 2_000_000 + ".",  # JWT-like prefix with no second segment
    "-----BEGIN RSA PRIVATE KEY-----" * 50_000,  # many BEGIN lines, no END
    "a" * 1_000_000 + "://" + "b" * 1_000_000,  # URL-credential prefix without '@'
    ("Authorization: Bearer " + "-" * 50) * 40_000,
    "sk-" + "a-" * 1_000_000,
]


@pytest.mark.parametrize(
    "text", ADVERSARIAL, ids=["jwt-prefix", "pem-begins", "url-no-at", "auth-dashes", "sk-long"]
)
def test_adversarial_inputs_take_linear_time(text: str) -> None:
    start = time.perf_counter()
    Redactor(["literal-secret-value"]).redact(text)
    assert time.perf_counter() - start < 5.0


def test_five_megabyte_log_is_redacted_quickly_and_completely() -> None:
    line = "2024-05-01T10:00:01.1234567Z PASSED tests/test_api.py::test_get[case-17] 3f2a9c1d8e7b in 0.02s https://x.org\n"
    body = line * (5_000_000 // len(line))
    text = body + f"leak {GHP} and {LLM_KEY}\n" + body
    assert len(text) > 10_000_000 // 2
    start = time.perf_counter()
    redacted, counts = Redactor([LLM_KEY]).redact(text)
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0, f"redaction took {elapsed:.1f}s"
    assert GHP not in redacted and LLM_KEY not in redacted
    assert counts.counts == {"github_token": 1, "literal_secret": 1}


# --- encodings of a known literal (SECURITY.md items 3 and 22) ------------------------------------
RUN_TOKEN = "ghs_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8N"
API_KEY = 'sk-proj-Vq3xN8bK2mT7/rW1y+Z5c"D9f\\H4jL6pS0aE'  # with the characters JSON and URLs escape


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# The secret at offsets 0, 1 and 2 of a base64 group, with and without bytes after it: a Basic
# credential (RFC 7617) is base64("user:" + token), git's http.extraheader uses "x-access-token:".
B64_WRAPPINGS = [
    ("", ""),
    ("u", ""),
    ("us", ""),
    ("user:", ""),
    ("x-access-token:", ""),
    ("", ":x"),
    ("a", "bc"),
    ("ab", "c"),
]


@pytest.mark.parametrize("secret", [RUN_TOKEN, API_KEY], ids=["token", "key"])
@pytest.mark.parametrize(("prefix", "suffix"), B64_WRAPPINGS)
def test_literal_inside_a_longer_base64_string_is_redacted_at_every_offset(
    secret: str, prefix: str, suffix: str
) -> None:
    encoded = _b64(prefix + secret + suffix)
    for alphabet in (encoded, encoded.replace("+", "-").replace("/", "_")):
        text = f"git -c http.extraheader='AUTHORISATION {alphabet}' fetch"
        redacted, counts = Redactor([secret]).redact(text)
        assert counts.counts == {"literal_secret": 1}, redacted
        # What survives of the encoded string decodes to at most two bytes of the secret.
        survivors = redacted.split("AUTHORISATION ")[1].split("' fetch")[0].split("[REDACTED:literal_secret]")
        assert sum(len(s.rstrip("=")) for s in survivors) <= len(_b64(prefix)) + len(_b64(suffix)) + 4


@pytest.mark.parametrize("secret", [RUN_TOKEN, API_KEY], ids=["token", "key"])
def test_literal_in_hex_json_and_url_encodings_is_redacted(secret: str) -> None:
    raw = secret.encode()
    forms = {
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "json": json.dumps({"token": secret}),
        "json-slash": json.dumps({"token": secret}).replace("/", "\\/"),
        "url": "https://example.com/cb?token=" + quote(secret, safe=""),
        "url-lower": "https://example.com/cb?token="
        + re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe="")),
        "form": "token=" + quote_plus(secret),
        "markdown": secret.replace("_", "\\_").replace("-", "\\-").replace("*", "\\*"),
    }
    for name, text in forms.items():
        redacted, counts = Redactor([secret]).redact(text)
        assert counts.counts.get("literal_secret") == 1, (name, redacted)
        assert "Zz9Yy8Xx7Ww6" not in redacted and "Vq3xN8bK2mT7" not in redacted, name
        assert raw.hex()[8:40] not in redacted.lower(), name
