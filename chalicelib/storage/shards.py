"""Write sharding, one way for every sharded key: how many shards a setting asks for, and which shard a key is in.

The time indexes (``ticket_keys``, ``TIME_SHARDS``), the agent directory (``agents``, ``DIRECTORY_SHARDS``)
and the KPI series (``aggregates``, ``AGGREGATE_SHARDS``) spread one hot key over N. The shard must be
the same in every Lambda copy and every release (it is stored, and later found by it), so it is a
SHA-256 of the key, never Python's per-process ``hash``.
"""
from __future__ import annotations

import hashlib

from chalicelib import config

__all__ = ["count", "index"]


def count(setting: str) -> int:
    """The shard count a setting asks for; at least 1."""
    return max(1, config.int_setting(setting))


def index(key: str, shards: int) -> int:
    """The shard of ``key``, 0 .. shards - 1 (the time indexes' formula since they were first sharded)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % shards
