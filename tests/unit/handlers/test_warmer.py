"""The cache warmer, driven through its handler with scheduled and manual events,
and the loader reading what it warmed: embedded cache, a real RESP server, a dead one."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import valkey
from dynabatch import BatchClient
from fleet.cache import KEY_PREFIX
from fleet.errors import InvalidEvent
from fleet.handlers import loader, warmer
from fleet.runtime import get_runtime, reset_runtime
from fleet.sessions import new_session

from tests.support.handlers import (
    TABLE_NAMES,
    FakeContext,
    answer,
    device,
    list_event,
    scheduled_event,
    seed,
)


def count_calls(client: Any) -> dict[str, int]:
    counts: dict[str, int] = {}

    def seen(model: Any, **_: Any) -> None:
        counts[model.name] = counts.get(model.name, 0) + 1

    client.meta.events.register("before-call.dynamodb", seen)
    return counts


@pytest.fixture
def fleet(batch: BatchClient) -> BatchClient:
    """user-0001 (live session) owns 50 devices; user-0002 (expired session) owns 3."""
    seed(
        batch,
        {
            "user-0001": [f"dev-{n:03d}" for n in range(50)],
            "user-0002": ["dev-900", "dev-901", "dev-902"],
            "user-0003": [],
        },
    )
    now = int(time.time())
    batch.put_items(
        TABLE_NAMES["sessions"],
        [
            new_session("s-1", "user-0001", now + 600),
            new_session("s-2", "user-0001", now + 900),
            new_session("s-3", "user-0002", now - 5),
        ],
    )
    return batch


def test_the_schedule_warms_the_devices_of_users_with_a_live_session(fleet: BatchClient) -> None:
    report = warmer.handler(scheduled_event("device-fleet-warmer"), FakeContext())

    assert report["source"] == "liveSessions"
    assert (report["users"], report["warmed"], report["missing"]) == (1, 50, 0)
    cache = get_runtime().cache
    assert len(cache.get_many([f"dev-{n:03d}" for n in range(50)])) == 50
    assert cache.get_many(["dev-900"]) == {}
    assert cache.get_many(["dev-000"])["dev-000"] == device("dev-000", "user-0001")


def test_a_warmed_list_costs_one_dynamodb_read(fleet: BatchClient) -> None:
    warmer.handler(scheduled_event(), FakeContext())
    calls = count_calls(get_runtime().client)

    status, body = answer(loader.handler(list_event("user-0001"), FakeContext()))

    assert (status, body["count"]) == (200, 50)
    assert calls == {"BatchGetItem": 1}


def test_a_manual_invoke_warms_the_given_devices_and_counts_missing(fleet: BatchClient) -> None:
    report = warmer.handler({"deviceIds": ["dev-900", "dev-001", "dev-gone"]}, FakeContext())

    assert report["source"] == "deviceIds"
    assert (report["requested"], report["warmed"], report["missing"]) == (3, 2, 1)
    assert set(get_runtime().cache.get_many(["dev-900", "dev-001", "dev-gone"])) == {
        "dev-900",
        "dev-001",
    }


def test_a_manual_invoke_warms_the_given_users_devices(fleet: BatchClient) -> None:
    report = warmer.handler({"userIds": ["user-0002", "user-0003", "user-9"]}, FakeContext())

    assert (report["users"], report["warmed"]) == (3, 3)
    assert len(get_runtime().cache.get_many(["dev-900", "dev-901", "dev-902"])) == 3


@pytest.mark.parametrize(
    "event",
    [
        {"deviceIds": "dev-1"},
        {"deviceIds": ["dev-1", 7]},
        {"deviceIds": [""]},
        {"userIds": ["u"], "deviceIds": ["d"]},
        {"devices": ["dev-1"]},
        {"deviceIds": [f"d-{n}" for n in range(10_001)]},
    ],
)
def test_a_bad_manual_event_is_refused_clearly(fleet: BatchClient, event: Any) -> None:
    with pytest.raises(InvalidEvent):
        warmer.handler(event, FakeContext())


def test_warmer_and_loader_share_a_valkey_server(
    fleet: BatchClient, resp_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_URL", resp_server)
    monkeypatch.setenv("CACHE_TTL_SECONDS", "120")
    reset_runtime()

    report = warmer.handler(scheduled_event(), FakeContext())

    raw = valkey.Valkey.from_url(resp_server)
    assert report["warmed"] == 50
    assert 0 < raw.ttl(KEY_PREFIX + "dev-000") <= 120
    calls = count_calls(get_runtime().client)
    status, body = answer(loader.handler(list_event("user-0001", fields="ownerId"), FakeContext()))
    assert (status, body["count"], calls) == (200, 50, {"BatchGetItem": 1})
    assert body["devices"][0] == {"deviceId": "dev-000", "ownerId": "user-0001"}


def test_a_dead_cache_slows_the_loader_but_never_fails_it(
    fleet: BatchClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CACHE_URL", f"redis://127.0.0.1:{port}/0")
    reset_runtime()

    status, body = answer(loader.handler(list_event("user-0001"), FakeContext()))
    warm = warmer.handler(scheduled_event(), FakeContext())

    assert (status, body["count"]) == (200, 50)
    assert (warm["warmed"], warm["loaded"]) == (0, 50)
