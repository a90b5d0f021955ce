"""Log reading: line numbering on raw input, cleaning of one line, streaming bounds."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest

from ci_healer.logread import (
    MAX_CLEAN_CHARS,
    LineBatch,
    LogReadError,
    clean_line,
    iter_batches,
    iter_clean_lines,
    iter_lines,
    open_binary,
)

DATA = Path(__file__).parent / "data" / "logs"


@pytest.mark.parametrize(
    ("raw", "text", "marker"),
    [
        (b"2024-01-02T03:04:05.1234567Z hello", "hello", None),
        (
            b"2024-01-02T03:04:05.1234567Z ##[error]Process completed with exit code 1.",
            "Process completed with exit code 1.",
            "error",
        ),
        (b"2024-01-02T03:04:05.1234567Z ##[group]Run make test", "Run make test", "group"),
        (b"##[endgroup]", "", "endgroup"),
        (b"[2024-01-02T03:04:05.123Z] + make", "+ make", None),
        (b"\x1b[31;1mERROR\x1b[0m: boom", "ERROR: boom", None),
        (b"\x1b]8;;https://example.com\x07link\x1b]8;;\x07 text", "link text", None),
        (b"  10%\r  50%\r 100% done\r", " 100% done", None),
        (b"travis_fold:start:install\r\x1b[0K$ npm ci", "$ npm ci", None),
        (b"caf\xc3\xa9 \xff\xfe ok", "caf\u00e9 \ufffd\ufffd ok", None),
        (b"a\x00b\x00c", "abc", None),
        (b"", "", None),
        (b"\x00\x00\x00", "", None),
        (b"bell\x07 and backspace\x08", "bell and backspace", None),
    ],
)
def test_clean_line(raw: bytes, text: str, marker: str | None) -> None:
    assert clean_line(raw) == (text, marker)


def test_clean_line_accepts_str_and_caps_length() -> None:
    cleaned = clean_line("x" * 10_000)
    assert cleaned.text.startswith("x" * MAX_CLEAN_CHARS)
    assert cleaned.text.endswith(f"[+{10_000 - MAX_CLEAN_CHARS} chars]")


def test_timestamp_only_stripped_at_line_start() -> None:
    assert clean_line(b"built at 2024-01-02T03:04:05Z ok").text == "built at 2024-01-02T03:04:05Z ok"


def test_bare_cr_does_not_start_a_line() -> None:
    data = b"one\rstill one\ntwo\r\nthree"
    lines = list(iter_lines(io.BytesIO(data)))
    assert [n for n, _ in lines] == [1, 2, 3]
    assert lines[0][1] == b"one\rstill one"
    assert clean_line(lines[0][1]).text == "still one"


@pytest.mark.parametrize(
    ("data", "count"),
    [(b"", 0), (b"a", 1), (b"a\n", 1), (b"a\nb", 2), (b"\n\n", 2), (b"a\r\rb\r", 1)],
)
def test_line_count_convention(data: bytes, count: int) -> None:
    assert len(list(iter_lines(io.BytesIO(data)))) == count


@pytest.mark.parametrize("read_size", [1, 2, 3, 7, 64, 1 << 20])
def test_batches_are_independent_of_read_size(read_size: int) -> None:
    data = b"alpha\nbeta\r\n\ngamma delta\nlast"
    lines = [raw for _, raw in iter_lines(io.BytesIO(data), read_size=read_size)]
    assert lines == data.split(b"\n")


def test_huge_single_line_is_capped_while_streaming() -> None:
    data = b"x" * (5 * 1024 * 1024) + b"\nnext line\n"
    batches = list(iter_batches(io.BytesIO(data), read_size=64 * 1024, max_line_bytes=4096))
    lines = [line for b in batches for line in b.lines()]
    assert len(lines) == 2
    assert len(lines[0]) < 4200 and lines[0].endswith(b"[...line truncated]")
    assert lines[1] == b"next line"
    assert sum(b.n_lines for b in batches) == 2


def test_batch_numbering_is_contiguous() -> None:
    data = b"".join(b"line %d\n" % i for i in range(1, 5001))
    batches = list(iter_batches(io.BytesIO(data), read_size=1000))
    assert batches[0].first_line == 1
    for a, b in itertools.pairwise(batches):
        assert b.first_line == a.last_line + 1
    assert batches[-1].last_line == 5000
    assert isinstance(batches[0], LineBatch)


def test_github_log_file_numbers_and_markers() -> None:
    lines = dict(iter_clean_lines(DATA / "gha_pytest.log"))
    assert len(lines) == 29
    assert lines[1] == ("Run actions/checkout@v4", "group")
    assert lines[8].text.endswith("100%")
    assert lines[28] == ("Process completed with exit code 1.", "error")


@pytest.mark.parametrize("bad", [12, None, object()])
def test_unsupported_source_is_a_clear_error(bad: object) -> None:
    with pytest.raises(LogReadError, match="unsupported"), open_binary(bad):  # type: ignore[arg-type]
        pass


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LogReadError, match="cannot open"), open_binary(tmp_path / "nope.log"):
        pass


def test_text_mode_stream_is_refused() -> None:
    with pytest.raises(LogReadError, match="binary mode"):
        list(iter_batches(io.StringIO("text")))  # type: ignore[arg-type]


_STAMPS = [
    b"2024-01-02T03:04:05.1234567Z ",
    b"[2024-01-02T03:04:05.123Z] ",
    b"\xef\xbb\xbf2024-01-02T03:04:05Z ",
    b"2024-01-02T03:04:05+01:00 ",
]


@pytest.mark.parametrize(
    "rest",
    [
        b"hello",
        b"##[error]Process completed with exit code 1.",
        b"2024-01-02T03:04:05.1234567Z twice stamped",
        b"\x1b[31mred\x1b[0m error",
        b"50%\r75%\r\x1b[2Kdone",
        b"\xff\xfe invalid utf-8 \x00 with a NUL",
        b"\xd9\xa2\xd9\xa0\xd9\xa2\xd9\xa4-01-02T03:04:05Z arabic-indic digits",
        b"] bracket first",
        b"",
        b"   ",
    ],
)
@pytest.mark.parametrize("stamp", _STAMPS)
def test_bytes_timestamp_strips_what_clean_line_strips(stamp: bytes, rest: bytes) -> None:
    from ci_healer.logread import TIMESTAMP_BYTES, TIMESTAMP_FIRST_BYTES

    raw = stamp + rest
    assert raw[:1] in TIMESTAMP_FIRST_BYTES
    m = TIMESTAMP_BYTES.match(raw)
    assert m is not None
    # the line's cleaning depends only on what follows the stamp: any other stamp gives the same
    for other in _STAMPS:
        assert clean_line(other + raw[m.end() :]) == clean_line(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"2024-01-02 03:04:05 no T",
        b"\xd9\xa2\xd9\xa0\xd9\xa2\xd9\xa4-01-02T03:04:05Z x",
        b"2024-01-02T03:04:05.\xd9\xa2Z x",
        b"2024\x00-01-02T03:04:05Z x",
        b"[INFO] build",
        b"12 passed",
    ],
)
def test_bytes_timestamp_does_not_match_what_is_not_an_ascii_stamp(raw: bytes) -> None:
    from ci_healer.logread import TIMESTAMP_BYTES

    assert TIMESTAMP_BYTES.match(raw) is None
