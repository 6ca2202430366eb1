"""The batch layer's contract, checked by a model-based test against a faulty DynamoDB.

A hypothesis state machine writes and reads random ops (good, refused by DynamoDB, invalid
before sending, for a missing table; from lists or from generators that may raise; with
and without a deadline) while the in-memory fake throttles, leaves items unprocessed and
fails at random. After every call it checks the contract:

* each op given is written (the fake holds it) or in ``result.failures`` exactly once,
  with the right code for what was wrong with it;
* no op is sent more often than the retry budget allows;
* nothing is in flight once the call returned or raised;
* no request starts after the deadline.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from dynabatch import (
    BatchAbortedError,
    BatchClient,
    Delete,
    Put,
    RequestEvent,
    RetryPolicy,
    UnprocessedItemsError,
    UnprocessedKeysError,
    WriteResult,
)
from dynabatch.engine import max_sends_per_op
from dynabatch.serde import key_identity, serialize_item
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from moto import mock_aws

from tests.support.fake_dynamodb import POISON, FakeDynamoDB
from tests.support.recorder import Recorder

from .conftest import stored

# Backoffs longer than a request (virtual time costs nothing), so a wait that is not
# clipped to the deadline shows.
POLICY = RetryPolicy(max_attempts=4, base_delay=0.004, max_delay=0.02)
SCHEMAS = {"t1": {"k": "S"}, "t2": {"k": "S", "n": "N"}}
KINDS = ["put", "put", "put", "delete", "t2", "poison", "invalid", "gone"]
REFUSED = {"poison": "ValidationException", "invalid": "InvalidItem"}
STOPPED = {"DeadlineExceeded", "Aborted", "RetriesExhausted"}

faults = st.sampled_from([(0.0, 0.0), (0.0, 0.3), (0.3, 0.0), (0.2, 0.5), (0.0, 1.0)])
deadlines = st.one_of(st.none(), st.sampled_from([0.0, 0.005, 0.02, 0.05]))


def identity(table: str, plain: dict[str, Any]) -> tuple[str, Any]:
    names = SCHEMAS.get(table, {"k": "S"})
    return table, key_identity(serialize_item({n: plain[n] for n in names}))


def op_identity(table: str, request: dict[str, Any]) -> tuple[str, Any]:
    body = (
        request["PutRequest"]["Item"]
        if "PutRequest" in request
        else request["DeleteRequest"]["Key"]
    )
    return identity(table, body)


class BatchContract(RuleBasedStateMachine):
    wire = "lean"

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeDynamoDB(SCHEMAS, seed=7)
        keys: dict[str, Any] = {t: dict(s) for t, s in SCHEMAS.items()}
        # The parallel client knows the missing table's schema, so its ops are sent (and
        # share requests with healthy tables); the serial one must describe it and fails.
        self.parallel = BatchClient(
            self.fake.client,
            concurrency=2,
            retry=POLICY,
            key_schemas={**keys, "gone": ("k",)},
            wire=self.wire,
        )
        # Deadline runs use one request at a time, so that the fake's virtual clock reads
        # the same instant the layer checked (no other request moves it in between).
        self.serial = BatchClient(
            self.fake.client, concurrency=1, retry=POLICY, key_schemas=keys, wire=self.wire
        )
        for batch in (self.parallel, self.serial):  # virtual time: fast and exact
            batch.context.clock = self.fake.clock
            batch.context.sleep = self.fake.clock.sleep
        self.model: dict[tuple[str, Any], dict[str, Any]] = {}
        self.fresh = 0

    def teardown(self) -> None:
        self.parallel.close()
        self.serial.close()

    # -- making ops ------------------------------------------------------------------

    def _op(self, kind: str, pick: int) -> Put | Delete:
        self.fresh += 1
        key = f"k{self.fresh}"
        if kind == "delete":
            existing = [item for (t, _), item in self.model.items() if t == "t1"]
            victim = existing[pick % len(existing)]["k"] if existing else key
            return Delete("t1", {"k": victim})
        if kind == "t2":
            return Put("t2", {"k": key, "n": pick, "v": "x" * pick})
        if kind == "poison":
            return Put("t1", {"k": key, POISON: True})
        if kind == "invalid":
            bad = [set(), float("nan"), Decimal("1E+126"), 10**38 + 1][pick % 4]
            return Put("t1", {"k": key, "bad": bad})
        if kind == "gone":
            return Put("gone", {"k": key})
        return Put("t1", {"k": key, "v": pick})

    # -- the rules -------------------------------------------------------------------

    @rule(
        size=st.integers(0, 130),
        seed=st.integers(0, 2**16),
        fault=faults,
        as_generator=st.booleans(),
        raise_at=st.one_of(st.none(), st.integers(0, 130)),
        stop_after=st.one_of(st.none(), st.integers(0, 3)),
        deadline=deadlines,
    )
    def write(
        self,
        size: int,
        seed: int,
        fault: tuple[float, float],
        as_generator: bool,
        raise_at: int | None,
        stop_after: int | None,
        deadline: float | None,
    ) -> None:
        draw = random.Random(seed)
        plan = [(draw.choice(KINDS), draw.randrange(50)) for _ in range(size)]
        ops: list[Put | Delete] = []
        seen: set[tuple[str, Any]] = set()
        kinds: dict[tuple[str, Any], str] = {}
        for kind, pick in plan:
            op = self._op(kind, pick)
            plain = op.item if isinstance(op, Put) else op.key
            ident = identity(op.table, dict(plain))
            if ident not in seen:  # one op per key, so each op's fate is its key's
                seen.add(ident)
                ops.append(op)
                kinds[ident] = kind
        self.fake.faults.throttle, self.fake.faults.unprocessed = fault
        batch = self.serial if deadline is not None else self.parallel
        deadline_at = None if deadline is None else self.fake.clock() + deadline
        pulled: list[Put | Delete] = []
        raised: list[bool] = []
        raises = as_generator and raise_at is not None and raise_at < len(ops)

        def source() -> Iterator[Put | Delete]:
            for index, op in enumerate(ops):
                if raises and index == raise_at:
                    raised.append(True)
                    raise RuntimeError("the source broke")
                pulled.append(op)
                yield op

        before_requests, before_sends = len(self.fake.requests), self.fake.sends.copy()
        events: list[RequestEvent] = []

        def on_request(event: RequestEvent) -> None:
            # A progress callback that fails midway: requests may still be in flight.
            if stop_after is not None and len(events) >= stop_after:
                raise LookupError("the progress display broke")
            events.append(event)

        result, error = self._call(
            lambda: batch.write_items(
                source() if as_generator else ops, deadline_at=deadline_at, on_request=on_request
            )
        )
        assert isinstance(result, WriteResult)
        given = pulled if as_generator else ops
        if raised:
            assert isinstance(error, BatchAbortedError)
        if isinstance(error, BatchAbortedError):
            assert isinstance(error.__cause__, (RuntimeError, LookupError))
        else:
            assert sum(e.items for e in events) >= result.written

        # Every op given ends in exactly one place.
        failed = {op_identity(f.table, f.request): f for f in result.failures}
        assert len(failed) == len(result.failures), "an op was reported twice"
        given_ids = [
            identity(op.table, dict(op.item if isinstance(op, Put) else op.key)) for op in given
        ]
        assert set(failed) <= set(given_ids)
        assert result.superseded == 0
        assert result.written + len(failed) == len(given)
        for op, ident in zip(given, given_ids, strict=True):
            kind = kinds[ident]
            if ident in failed:
                code = failed[ident].code
                if kind in REFUSED:
                    assert code in {REFUSED[kind]} | STOPPED, (kind, failed[ident])
                elif kind == "gone":
                    assert code in {"ResourceNotFoundException"} | STOPPED, failed[ident]
                else:
                    assert code in STOPPED, (kind, failed[ident])
                if kind == "invalid":
                    assert code == "InvalidItem" and failed[ident].attempts == 0
                    assert self.fake.sends[ident] == before_sends[ident]
                continue
            assert kind not in REFUSED and kind != "gone", f"{kind} op was written"
            if isinstance(op, Put):
                self.model[ident] = dict(op.item)
            else:
                self.model.pop(ident, None)
        calm = fault == (0.0, 0.0) and deadline is None and not isinstance(error, BatchAbortedError)
        if calm:
            # Nothing went wrong but the ops themselves: every good op is written.
            assert all(kinds[i] in REFUSED or kinds[i] == "gone" for i in failed)
        self._check_calls(before_requests, before_sends, deadline_at)
        self._check_store()

    @rule(
        picks=st.lists(st.integers(0, 200), max_size=150),
        fault=faults,
        deadline=deadlines,
        absent=st.integers(0, 5),
    )
    def read(
        self, picks: list[int], fault: tuple[float, float], deadline: float | None, absent: int
    ) -> None:
        known = list(self.model)
        keys: dict[str, list[dict[str, Any]]] = {"t1": [], "t2": []}
        for pick in picks:
            if known:
                table, _ = known[pick % len(known)]
                item = self.model[known[pick % len(known)]]
                keys[table].append({n: item[n] for n in SCHEMAS[table]} | {"extra": pick})
        keys["t1"] += [{"k": f"absent-{i}"} for i in range(absent)]
        self.fake.faults.throttle, self.fake.faults.unprocessed = fault
        batch = self.serial if deadline is not None else self.parallel
        deadline_at = None if deadline is None else self.fake.clock() + deadline
        before_requests, before_sends = len(self.fake.requests), self.fake.sends.copy()
        result, _ = self._call(lambda: batch.get_items(keys, deadline_at=deadline_at))

        wanted = {identity(t, k) for t, ks in keys.items() for k in ks}
        found = {identity(t, i): i for t, items in result.items.items() for i in items}
        missing = {identity(t, k) for t, ks in result.missing.items() for k in ks}
        failed = [identity(f.table, f.key or {}) for f in result.failures]
        assert len(set(failed)) == len(failed), "a key was reported twice"
        # Each distinct key answered exactly once: found, missing or failed.
        assert len(found) + len(missing) + len(failed) == len(wanted)
        assert set(found) | missing | set(failed) == wanted
        for ident, item in found.items():
            assert item == self.model[ident]
        assert not missing & set(self.model)
        if fault == (0.0, 0.0) and deadline is None:
            assert not failed
        self._check_calls(before_requests, before_sends, deadline_at)

    # -- checks ----------------------------------------------------------------------

    @staticmethod
    def _call(run: Callable[[], Any]) -> tuple[Any, BaseException | None]:
        try:
            return run(), None
        except (UnprocessedItemsError, UnprocessedKeysError, BatchAbortedError) as error:
            return error.result, error

    def _check_calls(
        self, before_requests: int, before_sends: Any, deadline_at: float | None
    ) -> None:
        assert self.fake.in_flight == 0, "a request was still in flight after the call"
        budget = max(max_sends_per_op(POLICY, 25), max_sends_per_op(POLICY, 100))
        for ident, count in self.fake.sends.items():
            assert count - before_sends[ident] <= budget, f"{ident} sent {count} times"
        if deadline_at is not None:
            late = [r for r in self.fake.requests[before_requests:] if r.started > deadline_at]
            assert not late, f"{len(late)} request(s) started after the deadline"
            # Waits end at the deadline; only the request started just before it runs on.
            assert self.fake.clock() <= deadline_at + self.fake.latency

    def _check_store(self) -> None:
        for table in SCHEMAS:
            held = {ident: item for ident, item in self.model.items() if ident[0] == table}
            stored = self.fake.stored(table)
            assert len(stored) == len(held)
            for (_, key), item in held.items():
                assert stored[key] == serialize_item(item)

    @invariant()
    def nothing_in_flight(self) -> None:
        assert self.fake.in_flight == 0


BatchContract.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_the_batch_contract_holds_under_random_faults = BatchContract.TestCase


class BotocoreWireContract(BatchContract):
    """The same machine on the botocore wire; fewer examples, the lean one is the default."""

    wire = "botocore"


BotocoreWireContract.TestCase.settings = settings(BatchContract.TestCase.settings, max_examples=15)
test_the_batch_contract_holds_on_the_botocore_wire = BotocoreWireContract.TestCase


# -- the same promises against moto: fewer, slower examples --------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(0, 90),
    seed=st.integers(0, 2**16),
    refuse=st.sampled_from([0.0, 0.3]),
    raise_at=st.one_of(st.none(), st.integers(0, 90)),
)
def test_the_contract_holds_against_moto(
    size: int, seed: int, refuse: float, raise_at: int | None
) -> None:
    draw = random.Random(seed)
    kinds = [draw.choice(["put", "put", "poison", "invalid", "gone"]) for _ in range(size)]
    items = [
        {"deviceId": f"d-{i}", "v": i}
        | ({"bad": set()} if kind == "invalid" else {})
        | ({"poison": True} if kind == "poison" else {})
        for i, kind in enumerate(kinds)
    ]
    ops = [
        Put("gone" if k == "gone" else "devices", item)
        for k, item in zip(kinds, items, strict=True)
    ]
    pulled: list[Put] = []

    def source() -> Iterator[Put]:
        for index, op in enumerate(ops):
            if index == raise_at:
                raise RuntimeError("the source broke")
            pulled.append(op)
            yield op

    with mock_aws():
        ddb = boto3.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
        ddb.create_table(
            TableName="devices",
            KeySchema=[{"AttributeName": "deviceId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "deviceId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        recorder = Recorder(ddb)
        lock = threading.Lock()
        recorder.refuse = lambda table, wire: refuse > 0 and _chance(lock, draw, refuse)
        recorder.poison = lambda table, wire: "poison" in wire
        schemas = {"devices": ("deviceId",), "gone": ("deviceId",)}
        with BatchClient(ddb, concurrency=3, retry=POLICY_FAST, key_schemas=schemas) as batch:
            result, error = BatchContract._call(lambda: batch.write_items(source()))
        assert recorder.in_flight == 0
        held = {i["deviceId"]: i for i in stored(ddb, "devices")}

    failed = {(f.table, f.request["PutRequest"]["Item"]["deviceId"]): f for f in result.failures}
    assert len(failed) == len(result.failures)
    assert result.written + len(failed) == len(pulled)
    for op, kind in zip(pulled, kinds, strict=False):
        ident = (op.table, op.item["deviceId"])
        if ident in failed:
            assert kind != "put" or failed[ident].code in STOPPED
            continue
        assert kind == "put" and held[op.item["deviceId"]] == op.item
    assert len(held) == result.written
    if error is not None and not isinstance(error, BatchAbortedError):
        assert isinstance(error, UnprocessedItemsError)


POLICY_FAST = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.005)


def _chance(lock: threading.Lock, draw: random.Random, p: float) -> bool:
    with lock:  # the refusal hook runs on the layer's worker threads
        return draw.random() < p
