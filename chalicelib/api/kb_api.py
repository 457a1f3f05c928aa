"""The knowledge base over HTTP: public reads of published articles, agents' edits, ranked search.

Published articles are public content: reading, listing, searching and suggesting need no token.
A caller who sends a token is authenticated (a bad one is 401, never a silent downgrade) and also
sees drafts; writes need an agent token. A language the KB does not have is a 400 (a typo in
``language`` would otherwise quietly search everything); leaving ``language`` out searches all.
"""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, ValidationError

from chalicelib.api import views
from chalicelib.api.auth import authenticate
from chalicelib.api.errors import BadRequest, Conflict, Created, NotFound, PayloadTooLarge, Unauthorized, api_endpoint
from chalicelib.api.requests import Body, describe, read_object
from chalicelib.domain import kb
from chalicelib.service import kb as knowledge_base
from chalicelib.storage.exceptions import BadCursor

__all__ = ["ArticleBody", "article", "articles", "search", "suggest"]

SEARCH_LIMIT, MAX_SEARCH_LIMIT = 10, 50
LIST_LIMIT, MAX_LIST_LIMIT = 50, 100
_NUMBER = re.compile(r"^[0-9]{1,9}$")


class ArticleBody(Body):
    """``PUT /kb/articles/{article_id}``: the whole article; ``version`` as read to replace, absent to create."""

    title: str = Field(max_length=kb.MAX_TITLE_CHARS)
    body: str
    language: kb.Language
    status: kb.Status = "draft"
    tags: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=kb.MAX_TAGS)
    related: list[str] = Field(default_factory=list, max_length=kb.MAX_RELATED)
    version: int | None = Field(default=None, ge=1)


def view(article: kb.Article, *, related: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {"id": article.id, "title": article.title, "body": article.body, "language": article.language,
            "status": article.status, "tags": list(article.tags),
            "related": list(article.related if related is None else related), "updated_at": article.updated_at,
            "updated_by": article.updated_by, "version": article.version, "url": _url(article.id)}


def summary(article: kb.Article) -> dict[str, Any]:
    return {"id": article.id, "title": article.title, "language": article.language, "status": article.status,
            "tags": list(article.tags), "updated_at": article.updated_at, "version": article.version,
            "url": _url(article.id)}


@api_endpoint
def articles(request: Any) -> dict[str, Any]:
    """``GET /kb/articles?language=&status=&limit=&cursor=`` → ``{"articles": [summary], "next_cursor"}``."""
    agent = _reader(request)
    params = _params(request, {"language", "status", "limit", "cursor"})
    language = _language(params)
    status = params.get("status")
    if status is not None and status not in kb.STATUSES:
        raise BadRequest(f"status {status!r}: one of {', '.join(kb.STATUSES)}")
    if agent is None:
        if status == "draft":
            raise Unauthorized("drafts need an agent token")
        status = "published"
    limit = _limit(params, LIST_LIMIT, MAX_LIST_LIMIT)
    try:
        page = knowledge_base.list_page(language=language, status=status, limit=limit,
                                        start=views.decode_cursor(params.get("cursor")))
    except BadCursor:
        raise BadRequest("cursor is not one this API issued for this list") from None
    return {"articles": [summary(a) for a in page.articles], "next_cursor": views.encode_cursor(page.next_key)}


@api_endpoint
def article(request: Any, article_id: str) -> Any:
    """GET (public if published), PUT (create or replace; 409 on a stale ``version``), DELETE (``?version=``)."""
    if request.method == "GET":
        agent = _reader(request)
        _params(request, set())
        try:
            found = knowledge_base.get(article_id, include_drafts=agent is not None)
        except knowledge_base.ArticleNotFound:
            raise NotFound(f"no article {article_id!r}") from None
        return view(found, related=None if agent is not None else knowledge_base.visible_related(found))
    agent = authenticate(request.headers)
    if request.method == "DELETE":
        params = _params(request, {"version"})
        version = _version(params.get("version"))
        try:
            gone = knowledge_base.delete(article_id, expected_version=version)
        except knowledge_base.ArticleNotFound:
            raise NotFound(f"no article {article_id!r}") from None
        except knowledge_base.VersionConflict as err:
            raise Conflict(err.reason) from None
        return {"deleted": gone.id, "version": gone.version}
    _params(request, set())
    body = _body(request)
    draft = kb.Article(id=article_id, title=body.title, body=body.body, language=body.language, status=body.status,
                       tags=tuple(body.tags), related=tuple(body.related))
    try:
        stored, created = knowledge_base.save(draft, expected_version=body.version, by=agent.agent_id)
    except kb.ArticleError as err:
        raise (PayloadTooLarge if err.too_large else BadRequest)(err.reason) from None
    except knowledge_base.ArticleNotFound:
        raise NotFound(f"no article {article_id!r} to replace: leave out version to create it") from None
    except knowledge_base.VersionConflict as err:
        raise Conflict(err.reason) from None
    return Created(view(stored)) if created else view(stored)


@api_endpoint
def search(request: Any) -> dict[str, Any]:
    """``GET /kb/search?q=&language=&limit=`` → ``{"results": [{"id", "title", "language", "snippet", "score",
    "url"}]}``, best first; published articles only, for everyone."""
    if request.headers and request.headers.get("authorization"):
        authenticate(request.headers)
    params = _params(request, {"q", "language", "limit"})
    language = _language(params)
    limit = _limit(params, SEARCH_LIMIT, MAX_SEARCH_LIMIT)
    try:
        hits = knowledge_base.search(_question(params), language=language, limit=limit)
    except ValueError as err:
        raise BadRequest(str(err)) from None
    return {"results": [{"id": h.id, "title": h.title, "language": h.language, "snippet": h.snippet,
                         "score": h.score, "url": _url(h.id)} for h in hits]}


@api_endpoint
def suggest(request: Any) -> dict[str, Any]:
    """``GET /kb/suggest?q=&language=`` → ``{"suggestions": [{"id", "title", "language", "url"}]}`` (at most 5)."""
    if request.headers and request.headers.get("authorization"):
        authenticate(request.headers)
    params = _params(request, {"q", "language"})
    language = _language(params)
    try:
        hits = knowledge_base.suggest(_question(params), language=language)
    except ValueError as err:
        raise BadRequest(str(err)) from None
    return {"suggestions": [{"id": h.id, "title": h.title, "language": h.language, "url": _url(h.id)}
                            for h in hits]}


def _reader(request: Any) -> Any | None:
    """The agent if a token was sent (a bad token is 401), None for the public."""
    if request.headers and request.headers.get("authorization"):
        return authenticate(request.headers)
    return None


def _params(request: Any, allowed: set[str]) -> dict[str, str]:
    params = dict(request.query_params or {})
    unknown = sorted(set(params) - allowed)
    if unknown:
        expected = f"; send {', '.join(sorted(allowed))}" if allowed else "; this call takes none"
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}{expected}")
    return params


def _language(params: dict[str, str]) -> str | None:
    language = params.get("language")
    if language is not None and language not in kb.LANGUAGES:
        raise BadRequest(f"language {language!r}: one of {', '.join(kb.LANGUAGES)} (leave it out for all)")
    return language


def _limit(params: dict[str, str], default: int, most: int) -> int:
    raw = params.get("limit")
    if raw is None:
        return default
    if not _NUMBER.match(raw) or not 1 <= int(raw) <= most:
        raise BadRequest(f"limit: a whole number from 1 to {most}")
    return int(raw)


def _version(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _NUMBER.match(raw) or int(raw) < 1:
        raise BadRequest("version: the article's version, a whole number from 1")
    return int(raw)


def _question(params: dict[str, str]) -> str:
    question = params.get("q")
    if question is None:
        raise BadRequest("q: the question to search for is missing")
    return question


def _body(request: Any) -> ArticleBody:
    try:
        return ArticleBody.model_validate(read_object(request))
    except ValidationError as err:
        raise BadRequest(describe(err)) from None


def _url(article_id: str) -> str:
    return f"/kb/articles/{article_id}"
