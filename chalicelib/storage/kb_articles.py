"""Knowledge base articles in DynamoDB: one item per article, one partition, every write version-checked.

Keys (``models.KbArticleModel``): ``kind`` = "article", ``article_id`` = the slug. Reading one article
is a GetItem; the whole catalogue is a Query of the partition (the index rebuild); a language's
articles are a Query of the ``by_language`` index (summaries). Never a Scan. The search index's
marker lives in the same table (``kind`` = "index"): see ``storage/kb_index.py``.

The API imports the KB service at cold start, so the models (PynamoDB) are imported inside the
functions that use them, as in ``storage/macros.py``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.kb import Article
from chalicelib.storage.exceptions import BadCursor, ConditionFailed, condition_failed

__all__ = ["ArticlePage", "all_articles", "delete_article", "get_article", "get_articles", "list_articles",
           "save_article"]

_KIND = "article"
_SUMMARY = ("kind", "article_id", "title", "language", "status", "tags", "updated_at", "updated_by", "version")


@dataclass(frozen=True)
class ArticlePage:
    articles: list[Article]  # summaries from the index carry an empty body
    next_key: dict[str, Any] | None  # where the next page starts; None on the last page


def get_article(article_id: str, *, consistent: bool = False) -> Article | None:
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import KbArticleModel

    try:
        return _article(KbArticleModel.get(_KIND, article_id, consistent_read=consistent))
    except DoesNotExist:
        return None


def get_articles(article_ids: list[str]) -> dict[str, Article]:
    """The stored articles among ``article_ids`` (one BatchGetItem per 100), by id."""
    from chalicelib.storage.models import KbArticleModel

    found: dict[str, Article] = {}
    ids = list(dict.fromkeys(article_ids))
    for start in range(0, len(ids), 100):
        for item in KbArticleModel.batch_get([(_KIND, article_id) for article_id in ids[start:start + 100]]):
            found[item.article_id] = _article(item)
    return found


def save_article(article: Article, *, expected_version: int | None) -> None:
    """Store ``article`` (its ``version`` already the new one). ``expected_version`` None: only if no
    article has this id; a number: only if the stored one is still that version. ``ConditionFailed``
    otherwise — nothing was written."""
    from pynamodb.exceptions import PutError

    from chalicelib.storage.models import KbArticleModel

    item = KbArticleModel(_KIND, article.id, title=article.title, body=article.body, language=article.language,
                          status=article.status, tags=list(article.tags), related=list(article.related),
                          updated_at=article.updated_at, updated_by=article.updated_by, version=article.version)
    condition = (KbArticleModel.article_id.does_not_exist() if expected_version is None
                 else KbArticleModel.version == expected_version)
    try:
        item.save(condition=condition)
    except PutError as err:
        if _condition_failed(err):
            raise ConditionFailed(f"article {article.id} changed since it was read") from err
        raise


def delete_article(article_id: str, *, expected_version: int) -> None:
    """Delete the article as read; ``ConditionFailed`` if it is gone or moved on since."""
    from pynamodb.exceptions import DeleteError

    from chalicelib.storage.models import KbArticleModel

    condition = KbArticleModel.article_id.exists() & (KbArticleModel.version == expected_version)
    item = KbArticleModel(_KIND, article_id)
    try:
        item.delete(condition=condition, add_version_condition=False)
    except DeleteError as err:
        if _condition_failed(err):
            raise ConditionFailed(f"article {article_id} is gone or changed") from err
        raise


def list_articles(*, language: str | None, status: str | None, limit: int,
                  start: dict[str, Any] | None = None) -> ArticlePage:
    """A page of summaries by id: a Query of one language's index entries, or of the whole partition."""
    from pynamodb.exceptions import QueryError

    from chalicelib.storage.models import KbArticleModel

    query: dict[str, Any] = {"limit": limit, "last_evaluated_key": start}
    if status is not None:  # drafts are few: a filter on the page, not an index per status
        query["filter_condition"] = KbArticleModel.status == status
    try:
        if language is not None:
            results = KbArticleModel.by_language.query(language, **query)
        else:
            results = KbArticleModel.query(_KIND, attributes_to_get=list(_SUMMARY), **query)
        articles = [_article(item, language=language) for item in results]
    except (QueryError, ValueError, KeyError) as err:
        raise BadCursor("this cursor does not continue this list") from err
    return ArticlePage(articles, results.last_evaluated_key)


def all_articles(*, status: str | None = None) -> Iterator[Article]:
    """Every article (strongly consistent: what a rebuild after a write must see), ``status`` only if given."""
    from chalicelib.storage.models import KbArticleModel

    condition = KbArticleModel.status == status if status is not None else None
    for item in KbArticleModel.query(_KIND, filter_condition=condition, consistent_read=True):
        yield _article(item)


def _article(item: Any, *, language: str | None = None) -> Article:
    return Article(id=item.article_id, title=item.title or "", body=getattr(item, "body", None) or "",
                   language=getattr(item, "language", None) or language or "", status=item.status or "",
                   tags=tuple(item.tags or ()), related=tuple(getattr(item, "related", None) or ()),
                   updated_at=item.updated_at or "", updated_by=item.updated_by or "", version=int(item.version or 0))


def _condition_failed(err: Exception) -> bool:
    return condition_failed(err)
