"""The expired-session sweeper, driven through its handler with EventBridge events."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from dynabatch import BatchClient
from fleet.handlers import sweeper
from fleet.runtime import get_runtime
from fleet.sessions import expiry_shard, new_session
from fleet.sweeper import Sweeper
from fleet.tables import EXPIRY_SHARDS

from tests.support.handlers import TABLE_NAMES, FakeContext, scheduled_event, throttle

SESSIONS = TABLE_NAMES["sessions"]


def make_sessions(batch: BatchClient, expired: int, live: int) -> tuple[set[str], set[str]]:
    now = int(time.time())
    dead = {f"s-dead-{n}" for n in range(expired)}
    alive = {f"s-live-{n}" for n in range(live)}
    items = [new_session(s, "user-0001", now - 60 - n) for n, s in enumerate(sorted(dead))]
    items += [new_session(s, "user-0002", now + 3600) for s in alive]
    batch.put_items(SESSIONS, items)
    return dead, alive


def stored(batch: BatchClient) -> set[str]:
    return {s["sessionId"] for s in batch.scan(SESSIONS, consistent_read=True)}


def count_calls(client: Any) -> dict[str, int]:
    counts: dict[str, int] = {}

    def seen(model: Any, **_: Any) -> None:
        counts[model.name] = counts.get(model.name, 0) + 1

    client.meta.events.register("before-call.dynamodb", seen)
    return counts


def test_expiry_shards_are_stable_and_spread() -> None:
    shards = {expiry_shard(f"s-{n}") for n in range(1000)}

    assert shards == {str(n) for n in range(EXPIRY_SHARDS)}
    assert (
        expiry_shard("s-42") == expiry_shard("s-42") == new_session("s-42", "u", 1)["expiryShard"]
    )


def test_a_scheduled_sweep_deletes_exactly_the_expired_sessions(batch: BatchClient) -> None:
    _, alive = make_sessions(batch, expired=60, live=25)
    calls = count_calls(get_runtime().client)

    report = sweeper.handler(scheduled_event(), FakeContext())

    assert stored(batch) == alive
    assert report["deleted"] == 60
    assert report["skipped_not_expired"] == 0
    assert report["stopped_early"] is False
    assert report["pages"] == EXPIRY_SHARDS
    # It reads the index and re-reads candidates; it never scans the table.
    assert "Scan" not in calls
    assert calls["Query"] == EXPIRY_SHARDS


def test_nothing_to_sweep_is_a_quiet_run(batch: BatchClient) -> None:
    _, alive = make_sessions(batch, expired=0, live=5)

    report = sweeper.handler(scheduled_event(), FakeContext())

    assert (report["deleted"], stored(batch)) == (0, alive)


def test_a_session_refreshed_after_the_index_was_read_is_kept(batch: BatchClient) -> None:
    now = int(time.time())
    batch.put_items(
        SESSIONS,
        [new_session("s-old", "u", now - 100), new_session("s-refreshed", "u", now + 3600)],
    )
    stale = new_session("s-refreshed", "u", now - 100)  # what a lagging index still shows
    asked: list[str] = []

    def note_shard(request: Any, **_: Any) -> None:
        # From the body as sent, whichever wire built it.
        values = json.loads(request.body).get("ExpressionAttributeValues", {}).values()
        asked.append(next(v["S"] for v in values if "S" in v))

    def lagging_index(parsed: dict[str, Any], **_: Any) -> None:
        if asked[-1] == stale["expiryShard"]:
            parsed["Items"].append(
                {
                    "sessionId": {"S": "s-refreshed"},
                    "expiryShard": {"S": stale["expiryShard"]},
                    "expiresAt": {"N": str(stale["expiresAt"])},
                }
            )

    client = get_runtime().client
    client.meta.events.register_first("before-send.dynamodb.Query", note_shard)
    client.meta.events.register("after-call.dynamodb.Query", lagging_index)

    report = sweeper.handler(scheduled_event(), FakeContext())

    assert stored(batch) == {"s-refreshed"}
    assert report["deleted"] == 1
    assert report["skipped_not_expired"] == 1


@dataclass
class RunningOut(FakeContext):
    """A context whose remaining time drops below the margin after ``checks`` looks."""

    checks: int = 5
    looked: int = 0

    def get_remaining_time_in_millis(self) -> int:
        self.looked += 1
        return 60_000 if self.looked <= self.checks else 5_000


def test_an_interrupted_sweep_leaves_the_rest_for_the_next_run(
    batch: BatchClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEPER_SAFETY_MARGIN_SECONDS", "10")
    dead, alive = make_sessions(batch, expired=200, live=30)

    first = sweeper.handler(scheduled_event(), RunningOut(checks=5))

    left = stored(batch)
    assert first["stopped_early"] is True
    assert 0 < first["deleted"] < 200
    assert alive <= left  # nothing live deleted
    assert len(dead - left) == first["deleted"]

    second = sweeper.handler(scheduled_event(), FakeContext())

    assert second["stopped_early"] is False
    assert stored(batch) == alive
    assert first["deleted"] + second["deleted"] == 200


def test_overlapping_runs_delete_each_expired_session_and_nothing_else(
    batch: BatchClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto's in-process tables are not safe across threads (a Query iterates a dict that
    # a delete on the other thread changes): one request at a time, as DynamoDB applies
    # each atomically, while the two runs still interleave request by request.
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.Lock()
    answer = BotocoreStubber.__call__

    def one_at_a_time(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return answer(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", one_at_a_time)
    _, alive = make_sessions(batch, expired=150, live=20)
    reports: list[dict[str, Any]] = []

    def run() -> None:
        reports.append(sweeper.handler(scheduled_event(), FakeContext()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(reports) == 2
    assert stored(batch) == alive


def test_throttled_deletes_are_retried_and_nothing_is_lost(batch: BatchClient) -> None:
    _, alive = make_sessions(batch, expired=80, live=10)
    refused = throttle(get_runtime().client, "BatchWriteItem", times=3)

    report = sweeper.handler(scheduled_event(), FakeContext())

    assert refused[0] == 3
    assert (report["deleted"], report["unprocessed"]) == (80, 0)
    assert stored(batch) == alive


def test_every_index_page_is_followed(batch: BatchClient) -> None:
    _, alive = make_sessions(batch, expired=120, live=10)
    sweeper_service = Sweeper(get_runtime().batch("bulk"), SESSIONS, page_size=7)

    report = sweeper_service.sweep()

    assert stored(batch) == alive
    assert report.deleted == 120
    assert report.pages > EXPIRY_SHARDS
