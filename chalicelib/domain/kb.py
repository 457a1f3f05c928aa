"""The knowledge base's vocabulary and rules: what an article is, what a search may ask.

Plain Python (no AWS, no search engine): the API validates with these rules, storage
stores ``Article`` values, the index (``storage/kb_index.py``) reads ``plain_text`` and
``LANGUAGES``, and the import command reads Markdown files with ``parse_markdown_file``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from chalicelib.domain.words import fold

__all__ = ["ANALYSIS", "Article", "ArticleError", "LANGUAGES", "Language", "MAX_BODY_BYTES", "MAX_QUERY_CHARS",
           "MAX_RELATED", "MAX_TAGS", "MAX_TITLE_CHARS", "STATUSES", "Status", "check_article", "check_query",
           "parse_markdown_file", "plain_text", "SLUG", "word_root"]

#: The languages the desk's customers write (``domain/language.py`` detects the same three).
Language = Literal["en", "da", "no"]
LANGUAGES: tuple[str, ...] = get_args(Language)
Status = Literal["draft", "published"]
STATUSES: tuple[str, ...] = get_args(Status)

#: Per language: Snowball stemmer and stop-word list names (tantivy's ``Filter.stemmer``/``stopword``).
#: Adding a language is a line here and in ``Language``.
ANALYSIS: dict[str, str] = {"en": "english", "da": "danish", "no": "norwegian"}

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")  # URL-safe, readable: "returns-and-refunds"
_TAG = re.compile(r"^[\w-]{1,40}$")
MAX_TITLE_CHARS = 200
MAX_BODY_BYTES = 100 * 1024  # a long article is ~10 kB; DynamoDB items stop at 400 kB
MAX_TAGS = 20
MAX_RELATED = 10
MAX_QUERY_CHARS = 500  # a question, not a document: longer is noise (issue 14, "10 kB of noise")


class ArticleError(ValueError):
    """An article that cannot be stored; ``too_large`` says the answer is 413, not 400."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


@dataclass(frozen=True)
class Article:
    """One help article in one language. ``version`` counts stored writes (0: never stored)."""

    id: str
    title: str
    body: str  # Markdown
    language: str
    status: str = "draft"
    tags: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    updated_at: str = ""
    updated_by: str = ""
    version: int = 0

    @property
    def published(self) -> bool:
        return self.status == "published"

    def stored_as(self, *, at: str, by: str) -> "Article":
        """The article as the next write stores it."""
        return replace(self, updated_at=at, updated_by=by, version=self.version + 1)


def check_article(article: Article) -> Article:
    """The article with tags normalised, or ``ArticleError`` naming the first problem."""
    if not SLUG.match(article.id):
        raise ArticleError(f"id {article.id!r}: lower-case letters, digits and '-', 1-80 characters")
    title = " ".join(article.title.split())
    if not title:
        raise ArticleError("title: must not be empty")
    if len(article.title) > MAX_TITLE_CHARS:  # as sent: what the API's schema promises
        raise ArticleError(f"title: at most {MAX_TITLE_CHARS} characters")
    if article.language not in LANGUAGES:
        raise ArticleError(f"language {article.language!r}: one of {', '.join(LANGUAGES)}")
    if article.status not in STATUSES:
        raise ArticleError(f"status {article.status!r}: one of {', '.join(STATUSES)}")
    size = len(article.body.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise ArticleError(f"body is {size} bytes; the limit is {MAX_BODY_BYTES}", too_large=True)
    if article.published and not article.body.strip():
        raise ArticleError("body: a published article needs a body")
    tags = tuple(dict.fromkeys(fold(tag).strip() for tag in article.tags))
    if len(article.tags) > MAX_TAGS or not all(_TAG.match(tag) for tag in tags):
        raise ArticleError(f"tags: at most {MAX_TAGS}, each 1-40 letters, digits, '_' or '-'")
    related = tuple(dict.fromkeys(article.related))
    if len(article.related) > MAX_RELATED or not all(SLUG.match(r) for r in related):
        raise ArticleError(f"related: at most {MAX_RELATED} article ids")
    if article.id in related:
        raise ArticleError("related: an article cannot be related to itself")
    return replace(article, title=title, tags=tags, related=related)


def check_query(text: str) -> str:
    """A search question, folded and trimmed; ``ValueError`` for one longer than a question can be."""
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"q is {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
    return " ".join(fold(text).split())


# --- Word roots: what Snowball leaves apart ------------------------------------------------------
# Snowball's Danish and Norwegian stemmers keep the nouns made from verbs whole ("returnering",
# "bestilling", "levering") while the verbs lose their ending ("returnere" → "return"). The index
# matches a question's word also by prefix on its root, so the noun finds the verb and back.
_NORDIC_SUFFIXES = tuple(sorted(("eringerne", "eringene", "eringen", "eringer", "ering", "lingen", "linger", "ling",
                                 "ingen", "inger", "ing", "elsen", "else", "erede", "eret", "erer", "ere"),
                                key=len, reverse=True))  # longest first: "returneringen" → "return"
_MIN_ROOT = 4  # shorter roots ("lev") would match half the dictionary


def word_root(word: str, language: str) -> str | None:
    """The root a Danish or Norwegian noun shares with its verb ("returnering" → "return"), or None."""
    if language not in ("da", "no"):
        return None
    for suffix in _NORDIC_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_ROOT:
            return word[: -len(suffix)]
    return None


# --- Markdown as text: what the index reads and snippets show (the portal renders the Markdown) ----
_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_HTML = re.compile(r"<[^>\n]{0,200}>")
_LINE_MARKS = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+|\d{1,3}[.)]\s+)", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_RULE = re.compile(r"^\s{0,3}([-*_]\s*){3,}$", re.MULTILINE)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$", re.MULTILINE)


def plain_text(markdown: str) -> str:
    """The words a reader sees, without Markdown's marks: links keep their text, images their alt text.

    Linear regexes only (no nesting), so a 100 kB body costs a few milliseconds.
    """
    text = _FENCE.sub("", markdown)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _HTML.sub(" ", text)
    text = _TABLE_RULE.sub("", text)
    text = _RULE.sub("", text).replace("|", " ")
    text = _LINE_MARKS.sub("", text)
    text = _EMPHASIS.sub(r"\2", text)
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


# --- The import format: a Markdown file with a small YAML front matter ------------------------------
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.DOTALL)
_FRONT_FIELDS = {"title", "language", "tags", "status", "related"}


def parse_markdown_file(name: str, text: str) -> Article:
    """``returns.md`` with ``---\\ntitle: …\\nlanguage: da\\n---`` on top → a checked Article (id = file stem).

    ``status`` defaults to published: a folder is imported to publish it.
    """
    # Imported here: only the import command reads front matter, and PyYAML (13 ms) would otherwise be
    # loaded with the API's knowledge-base routes.
    import yaml

    match = _FRONT_MATTER.match(text.replace("\r\n", "\n"))
    if not match:
        raise ArticleError(f"{name}: starts with no front matter (---, title:, language:, ---)")
    try:
        # BaseLoader: every value a string, so "language: no" stays Norwegian (YAML 1.1 reads it as false)
        meta: Any = yaml.load(match.group(1), Loader=yaml.BaseLoader)  # noqa: S506 (BaseLoader builds no objects)
    except yaml.YAMLError as err:
        raise ArticleError(f"{name}: front matter is not YAML: {err}") from None
    if not isinstance(meta, dict):
        raise ArticleError(f"{name}: front matter must be key: value lines")
    unknown = sorted(set(map(str, meta)) - _FRONT_FIELDS)
    if unknown:
        raise ArticleError(f"{name}: unknown front matter field(s) {', '.join(unknown)}")
    tags, related = meta.get("tags") or [], meta.get("related") or []
    if not isinstance(tags, list) or not isinstance(related, list):
        raise ArticleError(f"{name}: tags and related are lists")
    stem = name.rsplit("/", 1)[-1].removesuffix(".md")
    article = Article(id=stem, title=str(meta.get("title") or ""), body=match.group(2).strip() + "\n",
                      language=str(meta.get("language") or ""), status=str(meta.get("status") or "published"),
                      tags=tuple(map(str, tags)), related=tuple(map(str, related)))
    try:
        return check_article(article)
    except ArticleError as err:
        raise ArticleError(f"{name}: {err.reason}") from None

