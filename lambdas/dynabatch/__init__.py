"""dynabatch: fast, bounded, lossless multi-item DynamoDB work.

The batch layer of Device Fleet. Everything goes through :class:`BatchClient`::

    from dynabatch import BatchClient, Put, Delete

    batch = BatchClient(key_schemas={"devices": ("deviceId",)})
    batch.put_items("devices", devices)                 # any number, 25 a request, parallel
    found = batch.get_items({"devices": keys})          # any number, 100 a request, parallel
"""

from .capacity import CapacityBudget
from .checks import check_item, check_key
from .client import DEFAULT_CONCURRENCY, BatchClient, make_client
from .constants import (
    MAX_GET_KEYS,
    MAX_ITEM_BYTES,
    MAX_REQUEST_BYTES,
    MAX_TRANSACT_ITEMS,
    MAX_WRITE_ITEMS,
)
from .exceptions import (
    BatchAbortedError,
    BatchLayerError,
    CancellationReason,
    InvalidItemError,
    ItemTooLargeError,
    ThrottledError,
    TransactionCancelledError,
    UnprocessedItemsError,
    UnprocessedKeysError,
)
from .query import DeadlineExceededError, Page
from .reader import GetStream
from .retry import Deadline, RetryPolicy, deadline_from_context
from .serde import NumberMode, deserialize_item, deserializer, item_size, serialize_item
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
    Failure,
    GetPage,
    GetResult,
    Put,
    RequestEvent,
    Update,
    UpdateResult,
    WriteResult,
)
from .updates import UpdateItemsError
from .writer import BatchWriter, ops_from_request_items

__all__ = [
    "BatchAbortedError",
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
    "Failure",
    "GetPage",
    "GetResult",
    "GetStream",
    "InvalidItemError",
    "ItemTooLargeError",
    "MAX_GET_KEYS",
    "MAX_ITEM_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_TRANSACT_ITEMS",
    "MAX_WRITE_ITEMS",
    "NumberMode",
    "Page",
    "Put",
    "RequestEvent",
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
    "check_item",
    "check_key",
    "deadline_from_context",
    "deserialize_item",
    "deserializer",
    "item_size",
    "make_client",
    "ops_from_request_items",
    "serialize_item",
]
