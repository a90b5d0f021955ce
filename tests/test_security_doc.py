"""SECURITY.md lists items 1–24, and every test it names exists (so the threat model cannot point
at a test that was renamed or removed)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
ITEM = re.compile(r"^(\d+)\. \*\*", re.MULTILINE)
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def items() -> dict[int, str]:
    starts = [(int(m.group(1)), m.start()) for m in ITEM.finditer(TEXT)]
    ends = [s for _, s in starts[1:]] + [TEXT.find("\n## ", starts[-1][1]) % (len(TEXT) + 1)]
    return {n: TEXT[s:e] for (n, s), e in zip(starts, ends, strict=True)}


def test_items_are_numbered_one_to_twenty_four() -> None:
    assert sorted(items()) == list(range(1, 25))


def test_every_item_names_a_test_and_every_named_test_exists() -> None:
    for number, text in items().items():
        refs = REFERENCE.findall(text)
        assert refs or "TODO" in text, f"item {number} names no test"
        for path, name in refs:
            source = (ROOT / path).read_text(encoding="utf-8")
            assert re.search(rf"^\s*def {name}\(", source, re.MULTILINE), (
                f"item {number}: {path}::{name} does not exist"
            )
