"""Where the KB search index lives: bytes in S3, a marker in DynamoDB, an opened copy in each function.

A publish builds the whole index (``kb_engine.build``), stores it at a new S3 key
(``kb/index/<revision>-<random>.tar.gz`` in the mail bucket) and moves the marker
(``models.KbIndexMarkerModel``) to it — only forward: the marker keeps the highest revision
built, so of two concurrent rebuilds the one that read more wins whatever order they finish in.

A function keeps the index it opened between invocations and asks the marker (one GetItem) at
most every ``KB_INDEX_CHECK_SECONDS`` whether a newer one was published: never a table read per
query. The function that published opens its own bytes at once, so an editor sees their change.
Old index objects are left in S3 (a function may be loading one); each is a few kB to a few MB.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import config
from chalicelib.storage import blobs
from chalicelib.storage.exceptions import condition_failed

if TYPE_CHECKING:
    from chalicelib.storage.kb_engine import SearchIndex

__all__ = ["IndexMarker", "build", "forget", "marker", "next_revision", "opened", "publish", "update"]

_KIND, _CURRENT = "index", "current"
_PREFIX = "kb/index/"


@dataclass(frozen=True)
class IndexMarker:
    revision: int  # published changes counted so far
    index_revision: int | None  # the revision the current index was built from (None: never built)
    index_key: str | None
    index_articles: int
    index_bytes: int
    built_at: str | None


@dataclass
class _Opened:
    index: "SearchIndex | None"
    revision: int | None
    checked_at: float


_lock = threading.Lock()
_opened: _Opened | None = None


def marker(*, consistent: bool = False) -> IndexMarker:
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import KbIndexMarkerModel

    try:
        item = KbIndexMarkerModel.get(_KIND, _CURRENT, consistent_read=consistent)
    except DoesNotExist:
        return IndexMarker(0, None, None, 0, 0, None)
    return IndexMarker(int(item.revision or 0), None if item.index_revision is None else int(item.index_revision),
                       item.index_key, int(item.index_articles or 0), int(item.index_bytes or 0), item.built_at)


def next_revision() -> int:
    """Count one published change (an atomic ADD) and return the count: call it after the article's
    write, so the rebuild holding the highest revision has read every counted change."""
    from chalicelib.storage.models import KbIndexMarkerModel

    item = KbIndexMarkerModel(_KIND, _CURRENT)
    item.update(actions=[KbIndexMarkerModel.revision.add(1)], add_version_condition=False)
    return int(item.revision)


def publish(data: bytes, *, revision: int, articles: int, at: str) -> bool:
    """Store an index built at ``revision`` and point the marker at it unless a newer one is there.

    Returns whether this index became current; if it did, this process serves it from now on (an
    editor sees their own publish at once; other functions within ``KB_INDEX_CHECK_SECONDS``).
    """
    from pynamodb.exceptions import UpdateError

    from chalicelib.storage.models import KbIndexMarkerModel

    key = f"{_PREFIX}{revision:012d}-{uuid.uuid4().hex[:12]}.tar.gz"
    blobs.put(key, data, "application/gzip")
    item = KbIndexMarkerModel(_KIND, _CURRENT)
    try:
        item.update(actions=[KbIndexMarkerModel.index_revision.set(revision), KbIndexMarkerModel.index_key.set(key),
                             KbIndexMarkerModel.index_articles.set(articles),
                             KbIndexMarkerModel.index_bytes.set(len(data)), KbIndexMarkerModel.built_at.set(at)],
                    condition=KbIndexMarkerModel.index_revision.does_not_exist()
                    | (KbIndexMarkerModel.index_revision < revision),
                    add_version_condition=False)
    except UpdateError as err:
        if condition_failed(err):
            return False  # a rebuild that read more is already current
        raise
    _replace(_open(data), revision)
    return True


def opened() -> "SearchIndex | None":
    """The current index, opened in this function (None while nothing was ever published).

    Asks the marker only when the last check is older than ``KB_INDEX_CHECK_SECONDS``.
    """
    global _opened
    now = time.monotonic()
    current = _opened
    if current is not None and now - current.checked_at < config.int_setting("KB_INDEX_CHECK_SECONDS"):
        return current.index
    from pynamodb.exceptions import PynamoDBException  # off app.py's import path, as the models are

    try:
        latest = marker()
    except PynamoDBException:
        if current is None:
            raise
        current.checked_at = now  # DynamoDB unreachable or throttled: keep serving the index we have
        return current.index
    with _lock:
        current = _opened
        if current is not None and (latest.index_revision is None or current.revision is not None
                                    and latest.index_revision <= current.revision):
            current.checked_at = now
            return current.index
    if latest.index_key is None:
        _opened = _Opened(None, None, now)
        return None
    return _replace(_open(blobs.read(latest.index_key)), latest.index_revision)


def forget() -> None:
    """Drop this process's opened index (LocalDesk between desks; a test that swaps the bucket)."""
    global _opened
    with _lock:
        if _opened is not None and _opened.index is not None:
            _opened.index.close()
        _opened = None


def _open(data: bytes) -> "SearchIndex":
    # Imported here, not at the top: tantivy (a 17 MB native library) stays off the import path of
    # app.py, which every function of the desk loads at its cold start; only KB searches pay for it.
    from chalicelib.storage import kb_engine

    return kb_engine.open_index(data)


def _replace(index: "SearchIndex", revision: int | None) -> "SearchIndex":
    """Keep ``index`` if it is newer than the one open (closing the old), else close it."""
    global _opened
    with _lock:
        current = _opened
        if current is not None and current.revision is not None and revision is not None \
                and current.revision >= revision:
            index.close()
            current.checked_at = time.monotonic()
            return current.index  # type: ignore[return-value]
        if current is not None and current.index is not None:
            current.index.close()
        _opened = _Opened(index, revision, time.monotonic())
        return index


def update(key: str, *, remove: list[str], add: list[Any]) -> tuple[bytes, int]:
    """The index stored at ``key`` with ``remove`` taken out and ``add`` put in (``kb_engine.update``)."""
    from chalicelib.storage import kb_engine  # imported on use, as in ``_open``

    return kb_engine.update(blobs.read(key), remove=remove, add=add)


def build(articles: Any) -> bytes:
    """The index of ``articles`` as bytes (``kb_engine.build``; imported on use, as in ``_open``)."""
    from chalicelib.storage import kb_engine

    return kb_engine.build(articles)
