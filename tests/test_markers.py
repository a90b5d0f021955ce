"""The one metadata-line format (ci_healer.markers) as the proposal, fix-PR and ledger readers use it."""

from __future__ import annotations

import re

import pytest

from ci_healer.flow import FixMetadata, embed_fix_metadata, read_fix_metadata
from ci_healer.ledger import LedgerFields, embed_ledger, read_ledger
from ci_healer.markers import (
    COMMENT_MARKER,
    COMMIT_SHA,
    FIX,
    METADATA,
    PROPOSAL_ID_RE,
    decode_metadata_line,
    encode_metadata_line,
    read_metadata_line,
    replace_metadata_line,
)
from ci_healer.render import embed_metadata, read_metadata

SHA = "3f2c9d0b7a1e4c5d6e7f8091a2b3c4d5e6f70819"
DIGEST = "ab" * 32


def test_a_value_cannot_close_the_comment_and_decodes_back() -> None:
    line = encode_metadata_line(METADATA, {"note": "--> <b>&amp;</b>"})
    assert line.count("-->") == 1 and line.endswith(" -->") and "<b>" not in line
    assert decode_metadata_line(METADATA, line + "\r") == {"note": "--> <b>&amp;</b>"}
    assert decode_metadata_line(FIX, line) is None  # another kind is not read


@pytest.mark.parametrize("payload", ["[1, 2]", "not json", ""])
def test_a_line_that_is_not_one_json_object_is_not_metadata(payload: str) -> None:
    assert decode_metadata_line(METADATA, f"<!-- ci-healer:metadata {payload} -->") is None


def test_proposal_and_fix_bodies_share_the_format_at_their_fixed_positions() -> None:
    proposal = embed_metadata({"proposal_id": "12-abcdef01", "head_sha": SHA}) + "text\n"
    fix = embed_fix_metadata(FixMetadata(proposal_id="12-abcdef01", base_sha=SHA, digest=DIGEST)) + "body\n"
    assert proposal.split("\n")[1].startswith("<!-- ci-healer:metadata {")
    assert fix.startswith("<!-- ci-healer:fix {")
    assert read_metadata_line(proposal) == (METADATA, read_metadata(proposal).model_dump(mode="json"))
    assert read_metadata_line(fix)[0] == FIX and read_fix_metadata(fix).digest == DIGEST
    # the same line anywhere else is ignored
    assert read_metadata_line("intro\n" + proposal) is None
    assert read_metadata_line(COMMENT_MARKER + "\n\n" + fix) is None


def test_ledger_fields_go_into_either_kind_and_keep_the_other_fields() -> None:
    proposal = embed_metadata({"proposal_id": "12-abcdef01", "head_sha": SHA}) + "text\n"
    fix = embed_fix_metadata(FixMetadata(proposal_id="12-abcdef01", base_sha=SHA, digest=DIGEST)) + "body\n"
    fields = LedgerFields(category="dependency", risk="low")
    for body in (proposal, fix):
        written = embed_ledger(body, fields)
        assert read_ledger(written) == fields
        assert written.split("\n")[2:] == body.split("\n")[2:]
    assert read_metadata(embed_ledger(proposal, fields)) == read_metadata(proposal)
    assert read_fix_metadata(embed_ledger(fix, fields)) == read_fix_metadata(fix)
    with pytest.raises(ValueError, match="no ci-healer metadata line"):
        replace_metadata_line("plain text\n", {})


def test_id_patterns() -> None:
    assert re.fullmatch(COMMIT_SHA, SHA) and re.fullmatch(COMMIT_SHA, "0" * 64)
    assert not re.fullmatch(COMMIT_SHA, SHA[:12]) and not re.fullmatch(COMMIT_SHA, SHA.upper())
    assert (
        PROPOSAL_ID_RE.match("12-abcdef01")
        and not PROPOSAL_ID_RE.match("-12")
        and not PROPOSAL_ID_RE.match("a b")
    )
