"""The knowledge base's use cases: edit, publish, delete, import articles; search and suggest.

Every change that touches what the public can read (an article published, a published one
edited, unpublished or deleted) publishes a new search index (``storage/kb_index.py``); drafts
never do. Normally that article alone is replaced in the current index; when another publish is
in flight (or an import ran) the index is built anew from the stored published articles, so two
editors publishing at once still end with an index holding both changes (the revision counter).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib import clock
from chalicelib.domain import kb
from chalicelib.domain.kb import Article, ArticleError
from chalicelib.storage import kb_articles, kb_index
from chalicelib.storage.exceptions import ConditionFailed

if TYPE_CHECKING:
    from chalicelib.storage.kb_engine import Hit

__all__ = ["ArticleNotFound", "ImportReport", "IndexBuilt", "SUGGESTIONS", "VersionConflict", "delete", "get",
           "import_folder", "list_page", "rebuild", "save", "search", "suggest", "suggested_for", "visible_related"]

SUGGESTIONS = 5  # type-ahead: titles shown under the box
ACKNOWLEDGEMENT_SUGGESTIONS = 3  # articles an acknowledgement links: more is a reading list, not an answer


class ArticleNotFound(LookupError):
    pass


class VersionConflict(Exception):
    """The article moved on since the editor read it (or exists when they meant to create it)."""

    def __init__(self, reason: str, current: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.current = current


@dataclass(frozen=True)
class IndexBuilt:
    revision: int
    articles: int
    bytes: int
    current: bool  # False: a rebuild that read more became current first


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "<file>: <reason>"
    index: IndexBuilt | None = None


def get(article_id: str, *, include_drafts: bool) -> Article:
    article = kb_articles.get_article(article_id) if kb.SLUG.match(article_id or "") else None
    if article is None or (not include_drafts and not article.published):
        raise ArticleNotFound(article_id)
    return article


def visible_related(article: Article) -> tuple[str, ...]:
    """The related articles a customer may open: published ones that still exist (one BatchGetItem)."""
    if not article.related:
        return ()
    found = kb_articles.get_articles(list(article.related))
    return tuple(rid for rid in article.related if rid in found and found[rid].published)


def list_page(*, language: str | None, status: str | None, limit: int,
              start: dict[str, Any] | None = None) -> kb_articles.ArticlePage:
    return kb_articles.list_articles(language=language, status=status, limit=limit, start=start)


def save(article: Article, *, expected_version: int | None, by: str, rebuild_index: bool = True) -> tuple[Article, bool]:
    """Create (``expected_version`` None) or replace the article as the editor read it.

    Returns the stored article and whether it was created; ``ArticleError`` for one that cannot be
    stored, ``VersionConflict`` for a stale or clashing write, ``ArticleNotFound`` for a replace of
    nothing.
    """
    article = kb.check_article(article)
    current = kb_articles.get_article(article.id, consistent=True)
    if expected_version is None and current is not None:
        raise VersionConflict(f"article {article.id!r} exists (version {current.version}): send its version "
                              "to replace it", current.version)
    if expected_version is not None and current is None:
        raise ArticleNotFound(article.id)
    if current is not None and current.version != expected_version:
        raise VersionConflict(f"article {article.id!r} is at version {current.version}, not {expected_version}: "
                              "read it again and reapply your change", current.version)
    stored = replace(article, version=current.version if current else 0).stored_as(at=clock.iso(clock.now()), by=by)
    try:
        kb_articles.save_article(stored, expected_version=current.version if current else None)
    except ConditionFailed:
        latest = kb_articles.get_article(article.id, consistent=True)
        raise VersionConflict(f"article {article.id!r} changed while it was saved: read it again",
                              latest.version if latest else None) from None
    if rebuild_index and (stored.published or (current is not None and current.published)):
        rebuild(changed=stored)
    return stored, current is None


def delete(article_id: str, *, expected_version: int | None) -> Article:
    current = kb_articles.get_article(article_id, consistent=True) if kb.SLUG.match(article_id or "") else None
    if current is None:
        raise ArticleNotFound(article_id)
    if expected_version is not None and expected_version != current.version:
        raise VersionConflict(f"article {article_id!r} is at version {current.version}, not {expected_version}",
                              current.version)
    try:
        kb_articles.delete_article(article_id, expected_version=current.version)
    except ConditionFailed:
        raise VersionConflict(f"article {article_id!r} changed while it was deleted: read it again", None) from None
    if current.published:
        rebuild(removed=article_id)
    return current


def rebuild(*, changed: Article | None = None, removed: str | None = None) -> IndexBuilt:
    """Make an index of every published article current (unless a newer one already is).

    After one article's change (``changed`` as stored, or ``removed``), when the current index was
    built at the revision just before this change's, only that article is replaced in it: no read of
    the catalogue. Otherwise (a rebuild in flight or lost, an import) the whole index is built anew
    from the published articles, read with one consistent Query.
    """
    revision = kb_index.next_revision()  # after the write: see kb_index.next_revision
    latest = kb_index.marker(consistent=True) if changed is not None or removed is not None else None
    if latest is not None and latest.index_key is not None and latest.index_revision == revision - 1:
        article_id = changed.id if changed is not None else removed
        data, count = kb_index.update(latest.index_key, remove=[str(article_id)],
                                      add=[changed] if changed is not None and changed.published else [])
    else:
        published = list(kb_articles.all_articles(status="published"))
        data, count = kb_index.build(published), len(published)
    current = kb_index.publish(data, revision=revision, articles=count, at=clock.iso(clock.now()))
    return IndexBuilt(revision, count, len(data), current)


def search(question: str, *, language: str | None, limit: int) -> list["Hit"]:
    """Published articles for ``question`` (``ValueError`` for one over the limit), best first."""
    folded = kb.check_query(question)
    index = kb_index.opened()
    if index is None or not folded:
        return []
    return index.search(folded, _languages(language), limit)


def suggest(typed: str, *, language: str | None) -> list["Hit"]:
    folded = kb.check_query(typed)
    index = kb_index.opened()
    if index is None or not folded:
        return []
    return index.suggest(folded, _languages(language), SUGGESTIONS)


def suggested_for(question: str, *, language: str, min_score: float) -> list["Hit"]:
    """The published articles in ``language`` that answer a ticket's ``question`` well enough to link from its
    acknowledgement: at most ``ACKNOWLEDGEMENT_SUGGESTIONS``, each scoring at least ``min_score``, best first.

    A mail is longer than a search question may be, so only its opening (cut at a word) is asked: the
    subject and first lines say what it is about. Scores are BM25 (typo and prefix matches score a
    small constant), so the threshold keeps a "Hello, thanks" from linking whatever shares one word.
    """
    opening = question[:kb.MAX_QUERY_CHARS]
    if len(question) > kb.MAX_QUERY_CHARS and " " in opening:
        opening = opening.rsplit(" ", 1)[0]
    hits = search(opening, language=language, limit=ACKNOWLEDGEMENT_SUGGESTIONS)
    return [hit for hit in hits if hit.score >= min_score]


def import_folder(folder: Path, *, by: str = "import") -> ImportReport:
    """Create or update an article per ``*.md`` file (front matter + Markdown), then rebuild the index once.

    Idempotent: a file whose article is stored as written is left alone (no new version).
    """
    report = ImportReport()
    files = sorted(folder.glob("*.md"))
    if not files:
        raise FileNotFoundError(f"{folder}: no .md files")
    for path in files:
        try:
            article = kb.parse_markdown_file(path.name, path.read_text(encoding="utf-8"))
            current = kb_articles.get_article(article.id, consistent=True)
            if current is not None and _same(current, article):
                report.unchanged.append(article.id)
                continue
            save(article, expected_version=current.version if current else None, by=by, rebuild_index=False)
            (report.updated if current else report.created).append(article.id)
        except (ArticleError, VersionConflict, UnicodeDecodeError) as err:
            reason = str(getattr(err, "reason", err))
            report.refused.append(reason if reason.startswith(path.name) else f"{path.name}: {reason}")
    if report.created or report.updated or kb_index.marker(consistent=True).index_key is None:
        report.index = rebuild()
    return report


def _same(stored: Article, wanted: Article) -> bool:
    fields = ("title", "body", "language", "status", "tags", "related")
    return all(getattr(stored, name) == getattr(wanted, name) for name in fields)


def _languages(language: str | None) -> tuple[str, ...]:
    return (language,) if language else kb.LANGUAGES
