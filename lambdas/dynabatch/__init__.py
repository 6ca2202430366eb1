"""dynabatch: fast, bounded, lossless multi-item DynamoDB work.

The batch layer of Device Fleet. Everything goes through :class:`BatchClient`::

    from dynabatch import BatchClient, Put, Delete

    batch = BatchClient(key_schemas={"devices": ("deviceId",)})
    batch.put_items("devices", devices)                 # any number, 25 a request, parallel
    found = batch.get_items({"devices": keys})          # any number, 100 a request, parallel
"""

from .capacity import CapacityBudget
from .client import DEFAULT_CONCURRENCY, BatchClient, make_client
from .constants import (
    MAX_GET_KEYS,
    MAX_ITEM_BYTES,
    MAX_REQUEST_BYTES,
    MAX_TRANSACT_ITEMS,
    MAX_WRITE_ITEMS,
)
from .exceptions import (
    BatchLayerError,
    CancellationReason,
    ItemTooLargeError,
    ThrottledError,
    TransactionCancelledError,
    UnprocessedItemsError,
    UnprocessedKeysError,
)
from .query import DeadlineExceededError, Page
from .reader import GetStream
from .retry import Deadline, RetryPolicy, deadline_from_context
from .serde import deserialize_item, item_size, serialize_item
from .transactions import (
    TransactCheck,
    TransactDelete,
    TransactGet,
    TransactionTooLargeError,
    TransactPut,
    TransactUpdate,
)
from .types import (
    Capacity,
    ChunkError,
    Delete,
    FailedUpdate,
    GetPage,
    GetResult,
    Put,
    Update,
    UpdateResult,
    WriteResult,
)
from .updates import UpdateItemsError
from .writer import BatchWriter, ops_from_request_items

__all__ = [
    "BatchClient",
    "BatchLayerError",
    "BatchWriter",
    "CancellationReason",
    "Capacity",
    "CapacityBudget",
    "ChunkError",
    "DEFAULT_CONCURRENCY",
    "Deadline",
    "DeadlineExceededError",
    "Delete",
    "FailedUpdate",
    "GetPage",
    "GetResult",
    "GetStream",
    "ItemTooLargeError",
    "MAX_GET_KEYS",
    "MAX_ITEM_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_TRANSACT_ITEMS",
    "MAX_WRITE_ITEMS",
    "Page",
    "Put",
    "RetryPolicy",
    "ThrottledError",
    "TransactCheck",
    "TransactDelete",
    "TransactGet",
    "TransactPut",
    "TransactUpdate",
    "TransactionCancelledError",
    "TransactionTooLargeError",
    "UnprocessedItemsError",
    "UnprocessedKeysError",
    "Update",
    "UpdateItemsError",
    "UpdateResult",
    "WriteResult",
    "deadline_from_context",
    "deserialize_item",
    "item_size",
    "make_client",
    "ops_from_request_items",
    "serialize_item",
]
