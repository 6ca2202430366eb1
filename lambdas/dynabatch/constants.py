"""DynamoDB service limits the batch layer packs requests against.

Named once so that code and tests refer to the same numbers.
"""

from __future__ import annotations

#: BatchGetItem accepts at most this many keys per request, across all tables.
MAX_GET_KEYS = 100
#: BatchWriteItem accepts at most this many put/delete requests per call.
MAX_WRITE_ITEMS = 25
#: Both batch calls refuse a request whose items add up to more than 16 MB, and
#: BatchGetItem stops filling its response at 16 MB.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
#: The largest item DynamoDB stores (attribute names plus values).
MAX_ITEM_BYTES = 400 * 1024
#: TransactWriteItems / TransactGetItems accept at most this many actions.
MAX_TRANSACT_ITEMS = 100
#: The aggregate size limit of one transaction.
MAX_TRANSACT_BYTES = 4 * 1024 * 1024

#: Error codes with which DynamoDB says "slow down". Only these make the layer back off.
THROTTLING_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
    }
)

#: Server-side failures worth another try after a backoff (botocore's own retries are
#: off in :func:`dynabatch.make_client`, so the layer's budget is the real one).
TRANSIENT_ERROR_CODES = frozenset(
    {"InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException"}
)

#: Errors that concern a whole table: they fail that table's ops only.
TABLE_ERROR_CODES = frozenset({"ResourceNotFoundException", "AccessDeniedException"})

#: A transaction's CancellationReasons codes that mean throttling, retried with backoff.
TRANSACTION_THROTTLE_CODES = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})
