"""Which batch-layer failures become a 503 the client may retry, and which stay bugs."""

from __future__ import annotations

import pytest
from dynabatch import Failure, GetResult, UnprocessedKeysError
from fleet.errors import ServiceUnavailable, as_fleet_error


def unread(code: str) -> UnprocessedKeysError:
    key = {"deviceId": "dev-1"}
    return UnprocessedKeysError(
        GetResult(failures=[Failure("devices", key, code, "why", dict(key), attempts=1)])
    )


@pytest.mark.parametrize("code", ["RetriesExhausted", "DeadlineExceeded"])
def test_keys_left_by_throttling_or_the_deadline_are_a_503(code: str) -> None:
    assert isinstance(as_fleet_error(unread(code)), ServiceUnavailable)


@pytest.mark.parametrize("code", ["ValidationException", "InvalidItem"])
def test_keys_refused_for_their_content_are_not_dressed_up_as_throttling(code: str) -> None:
    # The API validates its input first: a refused key is a bug, answered as a 500.
    assert as_fleet_error(unread(code)) is None
