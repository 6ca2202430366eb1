"""Invariants of ownership under any sequence of transfers (hypothesis, against moto).

Whatever transfers are tried (by owners and non-owners, to known and unknown users), every
device stays in exactly one owner's set, the one its ``ownerId`` names, and the outcome of
each request is what a plain model of ownership predicts.
"""

from __future__ import annotations

from typing import Any

from dynabatch import BatchClient
from fleet.handlers import transfer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.handlers import TABLE_NAMES, FakeContext, answer, seed, transfer_event
from tests.unit.handlers.test_transfer import assert_exact, owners

USERS = ["user-a", "user-b", "user-c"]
DEVICES = ["dev-1", "dev-2", "dev-3", "dev-4"]
EVERYONE = [*USERS, "user-ghost"]  # user-ghost does not exist

steps = st.lists(
    st.tuples(st.sampled_from(DEVICES), st.sampled_from(USERS), st.sampled_from(EVERYONE)),
    max_size=10,
)
initial = st.fixed_dictionaries({d: st.sampled_from(USERS) for d in DEVICES})


def reset(batch: BatchClient, start: dict[str, str]) -> None:
    users_table, devices_table = TABLE_NAMES["users"], TABLE_NAMES["devices"]
    batch.delete_items(users_table, [{"userId": u} for u in USERS])
    batch.delete_items(devices_table, [{"deviceId": d} for d in DEVICES])
    seed(batch, {u: [d for d, o in start.items() if o == u] for u in USERS})


def expected(model: dict[str, str], device: str, frm: str, to: str) -> int:
    if frm == to:
        return 400
    if model[device] != frm:
        return 409  # a non-owner learns nothing more, whoever the receiver is
    return 200 if to in USERS else 404


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(start=initial, sequence=steps)
def test_ownership_stays_exact(batch: BatchClient, start: dict[str, str], sequence: Any) -> None:
    reset(batch, start)
    model = dict(start)
    for device, frm, to in sequence:
        event = transfer_event(device, {"fromUserId": frm, "toUserId": to}, caller=frm)

        status, _ = answer(transfer.handler(event, FakeContext()))

        assert status == expected(model, device, frm, to)
        if status == 200:
            model[device] = to
    assert_exact(batch)
    assert owners(batch)[1] == model
