"""What the scheduler moves around: entries, the outcome of a send, the events it yields."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from .retry import RetryPolicy

__all__ = [
    "Entry",
    "Outcome",
    "GivenUp",
    "EngineEvent",
    "Sender",
    "Preparer",
    "Builder",
    "Finisher",
    "max_sends_per_op",
]


def max_sends_per_op(policy: RetryPolicy, max_count: int) -> int:
    """The most times one op is sent: the retry budget plus the sends that isolate a
    refused op (halving a request of ``max_count``, and one split by table)."""
    return policy.max_attempts + split_limit(max_count)


def split_limit(max_count: int) -> int:
    """Splits of a request that do not count against the retry budget."""
    return math.ceil(math.log2(max(2, max_count))) + 1


@dataclass(slots=True)
class Entry:
    """One key to read or one write request, in wire (DynamoDB JSON) form.

    On the lean wire, a write's ``request`` is only its kind (``"PutRequest"`` or
    ``"DeleteRequest"``), ``text`` carries the whole encoded request and ``value`` the item
    or key as given. A put may leave the coordinator unencoded (``text`` None, ``size`` 0):
    the worker that sends it encodes it (see ``Scheduler(prepare=...)``).
    """

    table: str
    ident: Hashable
    request: Any
    size: int
    units: float = 1.0
    attempts: int = 0
    splits: int = 0
    #: The lean wire's encoded request (:func:`dynabatch.codec.encode_item` inside), if any.
    text: str | None = None
    #: The item or key as the caller gave it (lean wire writes).
    value: Any = None


@dataclass
class Outcome:
    """What a send reported back for one request."""

    sent: list[Entry]
    unprocessed: list[Entry] = field(default_factory=list)
    payload: Any = None
    consumed: list[dict[str, Any]] | None = None
    throttled: bool = False
    # BatchGetItem cut its response at 16 MB: go on at once, this is not throttling.
    size_cut: bool = False
    error: tuple[str, str] | None = None
    duration: float = 0.0
    # The deadline passed before the request could start: nothing was sent.
    not_sent: bool = False
    # Entries the worker found it cannot send (an item too large, a value DynamoDB cannot
    # store), each with a code and a reason: never sent, not in ``sent``.
    refused: list[tuple[Entry, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class GivenUp:
    """An entry the layer stopped trying, with DynamoDB's code (or the layer's) and why."""

    entry: Entry
    code: str
    reason: str


@dataclass
class EngineEvent:
    """Yielded to the caller: a finished request, and/or entries the layer gave up on."""

    outcome: Outcome | None = None
    given_up: list[GivenUp] = field(default_factory=list)
    superseded: int = 0


Sender = Callable[[list[Entry]], Outcome]
#: Runs on the worker before a send: the entries to send and those refused.
Preparer = Callable[[list[Entry]], tuple[list[Entry], list[tuple[Entry, str, str]]]]
#: The lean wire's request for a chunk: the operation and its JSON body.
Builder = Callable[[list[Entry]], tuple[str, str]]
#: What a lean wire response means for the chunk it answered.
Finisher = Callable[[list[Entry], dict[str, Any]], Outcome]
