"""Sessions: the item shape, and the expiry shard that puts them in the expiry index.

Every session carries ``expiryShard`` (one of ``"0"``..``"15"``), so it appears in the
sparse expiry index (:data:`fleet.tables.EXPIRY_INDEX`), partitioned by shard and sorted by
``expiresAt``. "expiresAt <= now" on each shard then reads expired sessions only, and
"expiresAt > now" live ones only: no Scan of the table is ever needed.

Sessions are refreshed (``expiresAt`` pushed forward) only while they are live; an expired
session is never brought back. The sweeper relies on that.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from .tables import EXPIRY_SHARDS

__all__ = ["expiry_shard", "new_session", "shards", "with_expiry_shard", "EXPIRY_SHARDS"]


def expiry_shard(session_id: str) -> str:
    """The expiry-index shard of ``session_id``: stable across processes and releases.

    CRC-32 rather than ``hash()``: Python salts ``hash`` of strings per process.

    Example
    -------
    >>> expiry_shard("s-1") == expiry_shard("s-1")
    True
    """
    return str(zlib.crc32(session_id.encode("utf-8")) % EXPIRY_SHARDS)


def with_expiry_shard(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` with its ``expiryShard`` filled in when it expires and has none (in place).

    A session stored without its shard never appears in the expiry index, so the sweeper
    would never find it: whatever writes sessions in bulk (``fleet import``) calls this.
    """
    if "expiresAt" in item and "expiryShard" not in item and isinstance(item.get("sessionId"), str):
        item["expiryShard"] = expiry_shard(item["sessionId"])
    return item


def shards() -> list[str]:
    """Every shard value, ``"0"`` to ``str(EXPIRY_SHARDS - 1)``."""
    return [str(n) for n in range(EXPIRY_SHARDS)]


def new_session(
    session_id: str,
    user_id: str,
    expires_at: int | None = None,
    *,
    ttl_seconds: int = 3600,
    **attributes: Any,
) -> dict[str, Any]:
    """A session item ready to put: key, owner, expiry (epoch seconds) and its shard.

    Parameters
    ----------
    session_id, user_id:
        The session and the user it belongs to.
    expires_at:
        Epoch seconds; default now + ``ttl_seconds``.
    attributes:
        Anything else to store on the session.
    """
    if expires_at is None:
        expires_at = int(time.time()) + ttl_seconds
    return {
        **attributes,
        "sessionId": session_id,
        "userId": user_id,
        "expiresAt": int(expires_at),
        "expiryShard": expiry_shard(session_id),
    }
