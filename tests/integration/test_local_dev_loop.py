"""The developer loop: ``fleet invoke`` with the shipped events, handlers reloaded when
their code changes, ``--state-dir`` across a restart, the console kept free of metrics,
and the embedded moto's transactions (rolled back exactly, serialised)."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import boto3
import pytest
import requests
from aws_lambda_powertools import Metrics
from botocore.exceptions import ClientError

from fleetcli.local.console import MetricsFilter
from fleetcli.local.embedded import start_moto
from fleetcli.local.invoke import CodeWatcher, LocalFunction, events_dir
from infra.constants import FunctionSpec

from .conftest import Stack, run_fleet, start_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("devloop")
    with start_stack(workdir, "--sweep-every", "0", "--warm-every", "0") as running:
        yield running
        assert running.stop(signal.SIGTERM) == 0


def test_every_function_has_a_sample_event_that_runs(stack: Stack) -> None:
    assert {p.stem for p in events_dir().glob("*.json")} >= {
        "loader",
        "transfer",
        "warmer",
        "sweeper",
    }
    listed = run_fleet("invoke", "loader", "--endpoint-url", stack.dynamodb)
    assert listed.returncode == 0, listed.stderr
    answer = json.loads(listed.stdout)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["userId"] == "user-0001"
    moved = run_fleet(
        "invoke",
        "transfer",
        "--event",
        str(events_dir() / "transfer.json"),
        "--endpoint-url",
        stack.dynamodb,
    )
    assert moved.returncode == 0, moved.stderr
    assert json.loads(json.loads(moved.stdout)["body"])["ownerId"] == "user-0002"
    for name in ("sweeper", "warmer"):
        ran = run_fleet("invoke", name, "--endpoint-url", stack.dynamodb)
        assert ran.returncode == 0, ran.stderr
        assert isinstance(json.loads(ran.stdout), dict)
        assert '{"_aws"' not in ran.stdout + ran.stderr  # no metrics without --verbose


def test_invoke_reads_the_event_from_stdin_and_refuses_a_bad_one(
    stack: Stack, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    refused = run_fleet("invoke", "loader", "--event", str(bad), "--endpoint-url", stack.dynamodb)
    assert refused.returncode == 2
    assert "bad.json: cannot read the event" in refused.stderr
    unknown = run_fleet("invoke", "nosuchfunction")
    assert unknown.returncode == 2 and "usage:" in unknown.stderr


def test_a_changed_handler_is_reloaded_on_the_next_invocation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = f"reloadme_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    code = tmp_path / package / "app.py"
    code.write_text("def handler(event, context):\n    return {'version': 1}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = FunctionSpec("reloadme", f"{package}.app.handler", 128, 3, "a test function")
    function = LocalFunction(spec, "us-east-1", watcher=CodeWatcher(0, packages=(package,)))
    assert function.invoke({}) == {"version": 1}
    code.write_text("def handler(event, context):\n    return {'version': 2}\n")
    later = code.stat().st_mtime_ns + 2_000_000_000  # a coarse clock must see it too
    os.utime(code, ns=(later, later))
    assert function.invoke({}) == {"version": 2}
    assert function.invoke({}) == {"version": 2}
    for name in [m for m in sys.modules if m.startswith(package)]:
        monkeypatch.delitem(sys.modules, name)


def test_state_dir_keeps_the_data_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / ".local-state"
    flags = ("--sweep-every", "0", "--warm-every", "0", "--state-dir", str(state))
    with start_stack(tmp_path, *flags) as first:
        moved = requests.post(
            f"{first.api}/devices/dev-00003/transfer",
            headers={"X-Dev-User": "user-0001", "Content-Type": "application/json"},
            json={"fromUserId": "user-0001", "toUserId": "user-0002"},
            timeout=30,
        )
        assert moved.status_code == 200, moved.text
        assert first.stop(signal.SIGTERM) == 0
    assert "saved to" in first.stderr()
    assert (state / "devices.jsonl").exists()
    (tmp_path / "second").mkdir()
    with start_stack(tmp_path / "second", *flags) as second:
        assert "restored from" in second.out.read_text()
        mine = requests.get(
            f"{second.api}/users/user-0002/devices",
            headers={"X-Dev-User": "user-0002"},
            timeout=30,
        )
        assert "dev-00003" in {d["deviceId"] for d in mine.json()["devices"]}
        assert second.stop(signal.SIGTERM) == 0


def test_powertools_metrics_never_reach_the_console_without_verbose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Disabled metrics are never cleared, and the 100th value of one metric prints the
    # lot anyway: the blob that showed up after 16 minutes. The filter drops it.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    raw = io.StringIO()
    metrics = Metrics(namespace="FleetTest", service="filter-test")
    try:
        with redirect_stdout(raw):
            for _ in range(100):
                metrics.add_metric("Pages", "Count", 1)
        assert '{"_aws"' in raw.getvalue()  # what Powertools does unfiltered

        console = io.StringIO()
        with redirect_stdout(MetricsFilter(console)):  # type: ignore[type-var]
            for _ in range(100):
                metrics.add_metric("Pages", "Count", 1)
            print("[schedule] sweeper: {}")
        assert console.getvalue() == "[schedule] sweeper: {}\n"
    finally:
        metrics.clear_metrics()


@pytest.fixture(scope="module")
def moto_client() -> Iterator[object]:
    server, url = start_moto(0)
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    for name in ("things", "pairs"):
        keys = [{"AttributeName": "id", "KeyType": "HASH"}]
        attrs = [{"AttributeName": "id", "AttributeType": "S"}]
        if name == "pairs":
            keys.append({"AttributeName": "n", "KeyType": "RANGE"})
            attrs.append({"AttributeName": "n", "AttributeType": "N"})
        client.create_table(
            TableName=name,
            KeySchema=keys,
            AttributeDefinitions=attrs,
            BillingMode="PAY_PER_REQUEST",
        )
    try:
        yield client
    finally:
        server.stop()


def test_a_failed_transaction_changes_nothing_and_a_good_one_all(moto_client: object) -> None:
    client = moto_client
    put = client.put_item  # type: ignore[attr-defined]
    for n in range(50):
        put(TableName="things", Item={"id": {"S": f"t{n}"}, "v": {"N": "1"}, "tags": {"SS": ["a"]}})
        put(TableName="pairs", Item={"id": {"S": "p"}, "n": {"N": str(n)}, "v": {"N": "1"}})
    update = {
        "TableName": "things",
        "Key": {"id": {"S": "t1"}},
        "UpdateExpression": "SET v = :two ADD tags :b",
        "ExpressionAttributeValues": {":two": {"N": "2"}, ":b": {"SS": ["b"]}},
    }
    pair = {
        "TableName": "pairs",
        "Key": {"id": {"S": "p"}, "n": {"N": "7"}},
        "UpdateExpression": "SET v = :two",
        "ExpressionAttributeValues": {":two": {"N": "2"}},
    }
    failing = {
        "TableName": "things",
        "Key": {"id": {"S": "t2"}},
        "ConditionExpression": "v = :nine",
        "UpdateExpression": "SET v = :two",
        "ExpressionAttributeValues": {":nine": {"N": "9"}, ":two": {"N": "2"}},
    }
    new = {"TableName": "things", "Item": {"id": {"S": "t-new"}, "v": {"N": "1"}}}
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(  # type: ignore[attr-defined]
            TransactItems=[{"Update": update}, {"Update": pair}, {"Put": new}, {"Update": failing}]
        )
    get = client.get_item  # type: ignore[attr-defined]
    t1 = get(TableName="things", Key={"id": {"S": "t1"}}, ConsistentRead=True)["Item"]
    assert t1["v"] == {"N": "1"} and t1["tags"] == {"SS": ["a"]}
    p7 = get(TableName="pairs", Key={"id": {"S": "p"}, "n": {"N": "7"}})["Item"]
    assert p7["v"] == {"N": "1"}
    assert "Item" not in get(TableName="things", Key={"id": {"S": "t-new"}})
    assert client.scan(TableName="things", Select="COUNT")["Count"] == 50  # type: ignore[attr-defined]

    client.transact_write_items(  # type: ignore[attr-defined]
        TransactItems=[{"Update": update}, {"Update": pair}, {"Put": new}]
    )
    t1 = get(TableName="things", Key={"id": {"S": "t1"}})["Item"]
    assert t1["v"] == {"N": "2"} and sorted(t1["tags"]["SS"]) == ["a", "b"]
    assert get(TableName="pairs", Key={"id": {"S": "p"}, "n": {"N": "7"}})["Item"]["v"] == {
        "N": "2"
    }
    assert client.scan(TableName="things", Select="COUNT")["Count"] == 51  # type: ignore[attr-defined]
