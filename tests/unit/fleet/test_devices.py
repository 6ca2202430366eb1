"""The loader's query parsing and cursors (the route's behaviour is tested via the handler)."""

from __future__ import annotations

import contextlib

import pytest
from fleet.devices import (
    MAX_LIMIT,
    DevicePageRequest,
    decode_cursor,
    encode_cursor,
    parse_page_request,
)
from fleet.errors import BadRequest
from hypothesis import given
from hypothesis import strategies as st


@given(st.text(min_size=1, max_size=40), st.integers(0, 10**6))
def test_a_cursor_round_trips_for_its_user_only(user_id: str, offset: int) -> None:
    cursor = encode_cursor(user_id, offset)

    assert decode_cursor(user_id, cursor) == offset
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    with pytest.raises(BadRequest):
        decode_cursor(user_id + "x", cursor)


@given(st.text(max_size=60))
def test_any_other_text_is_an_invalid_cursor_never_a_crash(text: str) -> None:
    # Whatever the text, the answer is an offset or BadRequest: nothing else escapes.
    with contextlib.suppress(BadRequest):
        assert decode_cursor("user-0001", text) >= 0


def test_defaults_and_parsing() -> None:
    assert parse_page_request("u", None) == DevicePageRequest("u", None, MAX_LIMIT, 0)
    request = parse_page_request(
        "u", {"limit": "7", "fields": " name , state,name", "cursor": encode_cursor("u", 14)}
    )
    assert request == DevicePageRequest("u", ("name", "state"), 7, 14)
