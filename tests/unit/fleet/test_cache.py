"""The device cache: exact values, TTLs, and a Valkey backend that never fails a request.

The Valkey backend is tested against a real RESP peer: fakeredis's TCP server, started on
a free port of 127.0.0.1 for the test and stopped after it.
"""

from __future__ import annotations

import socket
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
import valkey
from fleet.cache import (
    KEY_PREFIX,
    MEMORY_MAX_ENTRIES,
    TOMBSTONE_SECONDS,
    MemoryCache,
    NullCache,
    ValkeyCache,
    decode_item,
    open_cache,
)
from hypothesis import given
from hypothesis import strategies as st

DEVICE = {
    "deviceId": "dev-1",
    "ownerId": "user-0001",
    "name": "lamp",
    "battery": Decimal("87.125"),
    "big": Decimal("12345678901234567890.000000000001"),
    "tags": {"kitchen", "hue"},
    "readings": {Decimal(1), Decimal("2.5")},
    "blob": b"\x00\xffraw",
    "meta": {"fw": {"version": "1.2.3", "sig": b"\x01\x02"}, "ports": [1, "two", None, True]},
    "lastUpdate": "2026-11-23T20:00:00Z",
}


@pytest.fixture
def closed_port_url() -> str:
    """A redis:// URL where nothing listens (a port just released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_values_round_trip_exactly_through_the_embedded_cache() -> None:
    cache = MemoryCache()

    cache.set_many({"dev-1": DEVICE}, ttl_seconds=60)

    assert cache.get_many(["dev-1", "dev-2"]) == {"dev-1": DEVICE}


scalars = st.one_of(
    st.text(max_size=10),
    st.integers(-(10**30), 10**30).map(Decimal),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(lambda d: d.normalize()),
    st.binary(min_size=1, max_size=8),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=5))
def test_any_device_item_round_trips(attributes: dict[str, Any]) -> None:
    item = {**attributes, "deviceId": "dev-x"}
    cache = MemoryCache()
    cache.set_many({"dev-x": item}, 60)

    assert cache.get_many(["dev-x"]) == {"dev-x": item}


def test_embedded_entries_expire_after_their_ttl() -> None:
    now = [1000.0]
    cache = MemoryCache(clock=lambda: now[0])
    cache.set_many({"dev-1": DEVICE}, ttl_seconds=300)

    now[0] += 299
    assert "dev-1" in cache.get_many(["dev-1"])
    now[0] += 2
    assert cache.get_many(["dev-1"]) == {}
    assert len(cache) == 0


def test_returned_items_are_copies_not_the_cached_entry() -> None:
    cache = MemoryCache()
    cache.set_many({"dev-1": {"deviceId": "dev-1", "name": "lamp"}}, 60)

    cache.get_many(["dev-1"])["dev-1"]["name"] = "changed"

    assert cache.get_many(["dev-1"])["dev-1"]["name"] == "lamp"


def test_embedded_cache_is_safe_under_threads() -> None:
    cache = MemoryCache()
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(200):
                device_id = f"dev-{worker}-{n}"
                cache.set_many({device_id: {"deviceId": device_id, "n": n}}, 60)
                assert cache.get_many([device_id])[device_id]["n"] == n
                if n % 2:
                    cache.delete_many([device_id])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(cache) == 8 * 100


def test_memory_urls_share_one_cache_per_url_and_no_url_means_none() -> None:
    assert open_cache("memory://shared") is open_cache("memory://shared")
    assert open_cache("memory://shared") is not open_cache("memory://other")
    assert isinstance(open_cache(None), NullCache)
    assert NullCache().set_many({"dev-1": DEVICE}, 60) == 0
    assert NullCache().get_many(["dev-1"]) == {}


def test_valkey_backend_gets_sets_with_ttl_and_deletes(resp_server: str) -> None:
    cache = open_cache(resp_server)
    raw = valkey.Valkey.from_url(resp_server)

    assert cache.set_many({"dev-1": DEVICE, "dev-2": {"deviceId": "dev-2"}}, 120) == 2

    assert cache.get_many(["dev-1", "dev-2", "dev-3"]) == {
        "dev-1": DEVICE,
        "dev-2": {"deviceId": "dev-2"},
    }
    assert 0 < raw.ttl(KEY_PREFIX + "dev-1") <= 120
    cache.delete_many(["dev-1"])
    assert set(cache.get_many(["dev-1", "dev-2"])) == {"dev-2"}


def test_valkey_backend_treats_foreign_values_as_misses(resp_server: str) -> None:
    raw = valkey.Valkey.from_url(resp_server)
    raw.set(KEY_PREFIX + "dev-1", b"not json")
    raw.set(KEY_PREFIX + "dev-2", b'["a list"]')

    assert open_cache(resp_server).get_many(["dev-1", "dev-2"]) == {}
    assert decode_item('{"deviceId":{"S":"dev-3"}}') == {"deviceId": "dev-3"}


def test_an_unreachable_valkey_degrades_to_misses_quickly(
    closed_port_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ValkeyCache(closed_port_url, cooldown=60)
    started = time.monotonic()

    assert cache.get_many(["dev-1"]) == {}
    assert cache.set_many({"dev-1": DEVICE}, 60) == 0
    cache.delete_many(["dev-1"])

    assert time.monotonic() - started < 2.0
    assert "cache MGET failed" in caplog.text


def test_a_silent_valkey_times_out_instead_of_hanging() -> None:
    # A server that accepts connections and never answers.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        cache = ValkeyCache(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        started = time.monotonic()

        assert cache.get_many(["dev-1"]) == {}

        assert time.monotonic() - started < 1.5


def test_the_embedded_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    cache = MemoryCache(max_entries=3)
    cache.set_many({f"dev-{n}": {"deviceId": f"dev-{n}"} for n in range(3)}, 60)
    cache.get_many(["dev-0"])  # dev-0 is now more recent than dev-1 and dev-2

    cache.set_many({"dev-3": {"deviceId": "dev-3"}, "dev-4": {"deviceId": "dev-4"}}, 60)

    assert len(cache) == 3
    assert set(cache.get_many([f"dev-{n}" for n in range(5)])) == {"dev-0", "dev-3", "dev-4"}


def test_the_default_bound_holds_under_many_writes() -> None:
    cache = MemoryCache()
    cache.set_many(
        {f"dev-{n}": {"deviceId": f"dev-{n}"} for n in range(MEMORY_MAX_ENTRIES + 50)}, 60
    )

    assert len(cache) == cache.max_entries == MEMORY_MAX_ENTRIES


def test_a_forgotten_device_is_not_cached_again_until_its_tombstone_expires() -> None:
    now = [1000.0]
    cache = MemoryCache(clock=lambda: now[0])
    cache.set_many({"dev-1": DEVICE}, 300)

    cache.delete_many(["dev-1"])
    written = cache.set_many({"dev-1": DEVICE, "dev-2": {"deviceId": "dev-2"}}, 300)

    assert written == 1
    assert set(cache.get_many(["dev-1", "dev-2"])) == {"dev-2"}
    now[0] += TOMBSTONE_SECONDS
    assert cache.set_many({"dev-1": DEVICE}, 300) == 1
    assert cache.get_many(["dev-1"]) == {"dev-1": DEVICE}


def test_a_full_embedded_cache_keeps_its_tombstones() -> None:
    cache = MemoryCache(max_entries=2)
    cache.delete_many(["dev-1"])

    cache.set_many({f"dev-{n}": {"deviceId": f"dev-{n}"} for n in range(2, 10)}, 60)

    assert cache.set_many({"dev-1": DEVICE}, 60) == 0


def test_valkey_write_backs_respect_a_tombstone(resp_server: str) -> None:
    cache = open_cache(resp_server)
    raw = valkey.Valkey.from_url(resp_server)
    cache.set_many({"dev-1": DEVICE}, 120)

    cache.delete_many(["dev-1"])
    written = cache.set_many({"dev-1": DEVICE, "dev-2": {"deviceId": "dev-2"}}, 120)

    assert written == 1
    assert set(cache.get_many(["dev-1", "dev-2"])) == {"dev-2"}
    assert 0 < raw.ttl(KEY_PREFIX + "dev-1") <= TOMBSTONE_SECONDS
    raw.delete(KEY_PREFIX + "dev-1")  # what the tombstone's expiry does
    assert cache.set_many({"dev-1": DEVICE}, 120) == 1
    assert cache.get_many(["dev-1"]) == {"dev-1": DEVICE}
