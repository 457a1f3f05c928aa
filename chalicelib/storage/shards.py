"""Write sharding, one way for every sharded key: how many shards a setting asks for, and which shard a key is in.

The time indexes (``ticket_keys``, ``TIME_SHARDS``), the agent directory (``agents``, ``DIRECTORY_SHARDS``)
and the KPI series (``aggregates``, ``AGGREGATE_SHARDS``) spread one hot key over N. The shard must be
the same in every Lambda copy and every release (it is stored, and later found by it), so it is a
SHA-256 of the key, never Python's per-process ``hash``.
"""
from __future__ import annotations

import hashlib

from chalicelib import config

__all__ = ["count", "index", "spellings", "suffix"]


def count(setting: str) -> int:
    """The shard count a setting asks for; at least 1."""
    return max(1, config.int_setting(setting))


def index(key: str, shards: int) -> int:
    """The shard of ``key``, 0 .. shards - 1 (the time indexes' formula since they were first sharded)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % shards


def suffix(key: str, shards: int) -> str:
    """``key``'s shard as a suffix on the key it spreads: none with one shard (so an unsharded desk's keys
    keep their spelling), ``#<k>`` with more."""
    return "" if shards == 1 else f"#{index(key, shards)}"


def spellings(key: str, shards: int) -> list[str]:
    """Every key a sharded key's entries may be under: the unsharded spelling, then each shard's. Readers
    read the unsharded one at any count, so raising the count hides nothing written before."""
    return [key] if shards == 1 else [key, *(f"{key}#{k}" for k in range(shards))]
