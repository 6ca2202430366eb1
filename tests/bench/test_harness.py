"""Smoke test of the benchmark harness: its servers count right and every item arrives.

No timing is asserted here, ever: the numbers belong to ``make bench``, read by people.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from bench.breakdown import PARTS, breakdown_table, measure_breakdown
from bench.cpuprobe import measure_cpu
from bench.methods import build_methods
from bench.report import markdown_table
from bench.runner import Plan, run_plan
from bench.servers import Endpoint
from bench.sweep import measure_sweeps
from bench.workloads import DEVICE_TABLE, Workload, device, device_key


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "bench-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bench-test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)


@pytest.fixture
def responder() -> Iterator[Endpoint]:
    with Endpoint("client-bound", 0) as endpoint:
        yield endpoint


def test_responder_counts_every_request_and_stores_every_item_sent(responder: Endpoint) -> None:
    methods = build_methods(responder.url, ["boto3", "dynabatch"])
    try:
        responder.reset()
        methods["dynabatch"].write(DEVICE_TABLE, [device(i) for i in range(110)])
        stats = responder.stats()
        assert stats["stored"] == {DEVICE_TABLE: 110}
        assert stats["requests"] == {"BatchWriteItem": 5}  # ceil(110 / 25)
        assert stats["max_in_flight"] <= 5

        responder.reset()
        found = methods["boto3"].read(DEVICE_TABLE, [device_key(i) for i in range(150)])
        stats = responder.stats()
        assert found == 150
        assert stats["requests"] == {"BatchGetItem": 2}  # ceil(150 / 100)
        assert stats["items_read"] == 150
    finally:
        for method in methods.values():
            method.close()


def test_unprocessed_items_on_demand_are_retried_until_stored() -> None:
    with Endpoint("client-bound", 0, unprocessed_every=7) as endpoint:
        methods = build_methods(endpoint.url, ["dynabatch", "threadpool", "aiodynamo", "lean"])
        for name, method in methods.items():
            endpoint.reset()
            method.write(DEVICE_TABLE, [device(i) for i in range(100)])
            stats = endpoint.stats()
            assert stats["stored"] == {DEVICE_TABLE: 100}, name
            assert stats["unprocessed"] > 0
            assert stats["requests"]["BatchWriteItem"] > 4  # the leftovers cost more requests
            method.close()


def test_delay_proxy_in_front_of_moto_keeps_every_item_and_counts_requests() -> None:
    with Endpoint("moto", 5) as endpoint:
        direct = boto3.client("dynamodb", endpoint_url=endpoint.server_url)
        direct.create_table(
            TableName=DEVICE_TABLE,
            KeySchema=[{"AttributeName": "deviceId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "deviceId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert endpoint.url != endpoint.server_url  # the clients go through the proxy
        methods = build_methods(endpoint.url, ["dynabatch", "pynamodb"])
        endpoint.reset()
        methods["pynamodb"].write(DEVICE_TABLE, [device(i) for i in range(60)])
        assert endpoint.stats()["requests"] == {"BatchWriteItem": 3}
        assert direct.scan(TableName=DEVICE_TABLE, Select="COUNT")["Count"] == 60

        endpoint.reset()
        assert methods["dynabatch"].read(DEVICE_TABLE, [device_key(i) for i in range(60)]) == 60
        assert endpoint.stats()["requests"] == {"BatchGetItem": 1}
        for method in methods.values():
            method.close()


def test_a_tiny_plan_measures_every_method_side_by_side() -> None:
    plan = Plan(
        modes=["client-bound"],
        latencies={"client-bound": [0]},
        workloads={"client-bound": [Workload("write30", "write", 30)]},
        methods=["one-call", "boto3", "threadpool", "pynamodb", "aiodynamo", "dynabatch"],
        repeats=3,
    )
    figures = run_plan(plan, log=lambda _: None)
    assert [f.method for f in figures] == plan.methods
    assert {f.method: f.requests for f in figures} == {
        "one-call": 30,
        "boto3": 2,
        "threadpool": 2,
        "pynamodb": 2,
        "aiodynamo": 2,
        "dynabatch": 2,
    }
    assert "dynabatch" in markdown_table(figures)


@pytest.mark.parametrize("mode", ["client-bound", "moto"])
def test_a_device_list_reads_its_user_first_and_its_floor_counts_that_round(mode: str) -> None:
    # The spec's device list: the user, then its devices; the floor is one L more than
    # the batch rounds. A method that read the user alongside its devices would have two
    # requests in flight at the server at once.
    plan = Plan(
        modes=[mode],
        latencies={mode: [5]},
        workloads={mode: [Workload("devicelist7", "list", 7)]},
        methods=["one-call", "boto3", "threadpool", "pynamodb", "aiodynamo", "dynabatch"],
        repeats=1,
    )
    figures = {f.method: f for f in run_plan(plan, log=lambda _: None)}
    assert {m: (f.requests, f.max_in_flight) for m, f in figures.items()} == {
        "one-call": (8, 1),
        **dict.fromkeys(plan.methods[1:], (2, 1)),
    }
    assert figures["dynabatch"].floor == pytest.approx(0.010)  # 2 rounds of 5 ms
    assert figures["one-call"].floor == pytest.approx(0.040)  # 8 calls one after another


def test_responder_answers_a_batch_get_with_the_bytes_of_its_answer() -> None:
    # The responder splices item texts instead of dumping dicts: byte-level shortcuts
    # must still say exactly what answer() says, unprocessed keys and bad bodies too.
    import json

    from bench.responder import FakeDynamo

    body = {
        "RequestItems": {
            "devices": {"Keys": [{"deviceId": {"S": f"d-\u00e9{i}"}} for i in range(10)]},
            "app-sessions": {"Keys": [{"sessionId": {"S": "s"}, "n": {"N": "7"}}]},
        }
    }
    raw = json.dumps(body).encode()
    for every in (0, 3):
        status, payload = FakeDynamo(unprocessed_every=every).answer("BatchGetItem", raw)
        status_bytes, data = FakeDynamo(unprocessed_every=every).respond("BatchGetItem", raw)
        assert (status_bytes, json.loads(data)) == (status, payload)
        assert payload["Responses"]["devices"][0]["firmware"]["S"].startswith("fw-")
    status, data = FakeDynamo().respond("BatchGetItem", b"{")
    assert status == 400 and b"ValidationException" in data


def test_sweep_deletes_every_expired_session_in_its_own_process() -> None:
    rows = measure_sweeps([300], ["keys", "sweeper"], log=lambda _: None)
    assert [(r["what"], r["deleted"], r["removed"]) for r in rows] == [
        ("keys", 300, 300),
        ("sweeper", 300, 300),
    ]
    assert all(r["peak_bytes"] > 0 for r in rows)


def test_unprocessed_keys_are_read_again_by_the_async_and_lean_peers() -> None:
    with Endpoint("client-bound", 0, unprocessed_every=7) as endpoint:
        methods = build_methods(endpoint.url, ["aiodynamo", "lean"])
        for name, method in methods.items():
            endpoint.reset()
            assert method.read(DEVICE_TABLE, [device_key(i) for i in range(150)]) == 150, name
            stats = endpoint.stats()
            assert stats["unprocessed"] > 0
            assert stats["requests"]["BatchGetItem"] > 2, name  # ceil(150 / 100) and the rest
            method.close()


def test_cpu_probe_runs_every_method_without_the_network() -> None:
    methods = ["threadpool", "aiodynamo", "dynabatch", "lean"]
    workloads = [Workload("read120", "read", 120), Workload("write60", "write", 60)]
    rows = measure_cpu(methods, workloads, repeats=1, log=lambda _: None)
    requests = {(r["method"], r["workload"]): r["requests"] for r in rows}
    # Every method's requests reached the in-process endpoint: none went to the network.
    assert requests == {
        **{(m, "read120"): 2 for m in methods},
        **{(m, "write60"): 3 for m in methods},
    }
    assert all(r["cpu_us_per_item"] > 0 for r in rows)


def test_breakdown_times_every_part_of_both_paths_for_a_written_and_a_read_item() -> None:
    rows = measure_breakdown(log=lambda _: None, calls=2, layer_items=100)
    assert [(r["kind"], r["path"]) for r in rows] == [
        ("write", "botocore"),
        ("write", "lean codec+wire"),
        ("read", "botocore"),
        ("read", "lean codec+wire"),
    ]
    for row in rows:
        for part in PARTS:
            if not (row["path"] != "botocore" and part == "layer"):
                assert row[part] == row[part], (row, part)  # measured, not NaN
    assert "| one written (25 a request) | botocore |" in breakdown_table(rows)


def test_targets_name_the_cell_and_say_missed_when_a_peer_is_ahead() -> None:
    # The verdicts people read after a run: a peer ahead in a cell, or a CPU figure above
    # aiodynamo's, must read MISSED; dynabatch ahead everywhere must read met.
    from bench.runner import Figure
    from bench.targets import check_targets

    def figure(method: str, seconds: float, cpu: float) -> Figure:
        return Figure(
            "client-bound",
            20,
            "write10000",
            method,
            10_000,
            16,
            seconds,
            requests=400,
            cpu_seconds=cpu,
        )

    ahead = [figure("dynabatch", 0.55, 0.3), figure("aiodynamo", 0.8, 0.6)]
    behind = [figure("dynabatch", 0.55, 0.3), figure("threadpool", 0.6, 0.2)]
    cpu = [
        {"method": "dynabatch", "workload": "write10000", "cpu_us_per_item": 8.0},
        {"method": "aiodynamo", "workload": "write10000", "cpu_us_per_item": 9.0},
        {"method": "threadpool", "workload": "write10000", "cpu_us_per_item": 40.0},
    ]

    def status(verdicts: list[dict[str, object]], start: str) -> str:
        (found,) = [v for v in verdicts if str(v["target"]).startswith(start)]
        return str(found["status"])

    assert status(check_targets(ahead, cpu, [], None), "client-bound L=20 write10000") == "met"
    assert status(check_targets(behind, cpu, [], None), "client-bound L=20 write10000") == "MISSED"
    assert status(check_targets(ahead, cpu, [], None), "write10000 at L=20") == "met"  # 1.1x
    assert status(check_targets([], cpu, [], None), "client CPU per item, no") == "met"
    cpu[0]["cpu_us_per_item"] = 9.5
    assert status(check_targets([], cpu, [], None), "client CPU per item, no") == "MISSED"
