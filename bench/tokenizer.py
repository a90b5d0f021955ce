"""Optional real token counts with ``tiktoken``, only when its encoding loads without network.

``tiktoken`` downloads its BPE ranks (``o200k_base.tiktoken``) on first use and caches them
(``TIKTOKEN_CACHE_DIR``). The benchmark must not depend on network, so :func:`load` first tries
the encoding in a child process with a time limit; when that fails the benchmark reports
estimated tokens only (``ci_healer.tokens.estimate_tokens``: UTF-8 bytes / 4, rounded up) and says why.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

ENCODING = "o200k_base"
"""The encoding of GPT-4o-class models."""

_PROBE = f"import tiktoken; tiktoken.get_encoding({ENCODING!r}).encode('probe')"


def load(*, timeout: float = 30) -> tuple[Callable[[str], int] | None, str]:
    """``(count_tokens, note)``: a counter for ``ENCODING``, or ``None`` and the reason it is unavailable."""
    try:
        import tiktoken
    except ImportError:
        return None, "tiktoken is not installed"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return (
            None,
            f"tiktoken could not load {ENCODING} within {timeout:.0f} s (it downloads its encoding at run time)",
        )
    if proc.returncode != 0:
        error = (
            (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
            .split(":", 1)[0]
            .rsplit(".", 1)[-1][:80]
        )
        return (
            None,
            f"tiktoken is installed but cannot load {ENCODING} offline (it downloads the encoding at run time; the download failed: {error})",
        )
    encoding = tiktoken.get_encoding(ENCODING)
    return (lambda text: len(encoding.encode(text, disallowed_special=()))), f"tiktoken {ENCODING}"
