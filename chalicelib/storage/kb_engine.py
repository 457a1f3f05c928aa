"""The knowledge base's search engine: a tantivy index built from articles, shipped as bytes, searched in place.

Why tantivy (tantivy-py, MIT; a Rust library, one 5 MB abi3 wheel, no numpy/scipy): Snowball
stemmers and stop-word lists for English, Danish and Norwegian, BM25 ranking, and Levenshtein
automata for typo-tolerant and prefix terms, in a few milliseconds per query; bm25s would need
numpy and scipy in the Lambda bundle and has no typo tolerance.

Each language has its own fields (``title_da``, ``body_da``, ``tags_da``) analysed by its own
chain: words → lower case → drop words over 40 bytes → the language's stop words → its Snowball
stemmer → ASCII folding (so "kob" finds "køb" for a customer without a Danish keyboard). Text is
``domain.words.fold``-ed first (NFKC: a decomposed "å" from macOS mail is one letter). An article
fills only its language's fields, so a language filter is just which fields a query reads.

A question is analysed here with the same chains and turned into a query of our own making
(never tantivy's query language, so no field names, ranges or regexes come from a customer):
per word, the exact stem (BM25, title ×3, tags ×2, body ×1), the same stem within one or two
typos, and for Danish and Norwegian the root as a prefix (``domain.kb.word_root``). Fuzzy and
prefix terms score a constant, below any exact match.

Custom tokenizers are not stored in an index, so ``open_index`` registers them again. An index
is a directory; ``build`` returns it as a gzipped tar, ``open_index`` unpacks it under /tmp, and
``update`` replaces or removes a few articles in one (a publish) without reading the others.
"""
from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from chalicelib.domain import kb
from chalicelib.domain.words import fold

__all__ = ["Hit", "SearchIndex", "analyze", "build", "open_index", "update"]

_MAX_TERMS = 24  # distinct words a question contributes: a 500-character question has ~80
_MAX_WORD_BYTES = 40  # tantivy's remove_long: no real word is longer; keeps fuzzy automata small
_WRITER_HEAP = 50_000_000  # bytes; tantivy's floor is 15 MB per indexing thread
_SNIPPET_CHARS = 180
_FUZZY_BOOST, _PREFIX_BOOST = 0.4, 0.6
_FIELD_BOOSTS = {"title": 3.0, "tags": 2.0, "body": 1.0}


@dataclass(frozen=True)
class Hit:
    id: str
    title: str
    language: str
    snippet: str
    score: float


def _analyzer(language: str) -> Any:
    name = kb.ANALYSIS[language]
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.remove_long(_MAX_WORD_BYTES))
            .filter(tantivy.Filter.stopword(name))
            .filter(tantivy.Filter.stemmer(name))
            .filter(tantivy.Filter.ascii_fold())
            .build())


_ANALYZERS: dict[str, Any] = {}


def analyze(text: str, language: str) -> list[str]:
    """The terms ``text`` becomes in ``language``'s fields (what the index stores and a query looks up)."""
    analyzer = _ANALYZERS.get(language)
    if analyzer is None:
        analyzer = _ANALYZERS[language] = _analyzer(language)
    return list(analyzer.analyze(fold(text)))


def _schema() -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("language", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, index_option="basic", tokenizer_name="raw")
    for language in kb.LANGUAGES:
        builder.add_text_field(f"title_{language}", tokenizer_name=f"kb_{language}")
        builder.add_text_field(f"tags_{language}", tokenizer_name=f"kb_{language}")
        builder.add_text_field(f"body_{language}", stored=True, tokenizer_name=f"kb_{language}")
    return builder.build()


def _register(index: Any) -> None:
    for language in kb.LANGUAGES:
        index.register_tokenizer(f"kb_{language}", _analyzer(language))


def build(articles: Iterable[kb.Article]) -> bytes:
    """The index of ``articles`` (published ones: the caller chooses) as a gzipped tar of its directory."""
    directory = Path(tempfile.mkdtemp(prefix="kb-build-"))
    try:
        index = tantivy.Index(_schema(), path=str(directory), reuse=False)
        _register(index)
        _write(index, remove=(), add=articles)
        return _pack(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def update(data: bytes, *, remove: Iterable[str], add: Iterable[kb.Article]) -> tuple[bytes, int]:
    """``data``'s index without the articles ``remove`` names, with ``add`` (replacing any of the same id):
    the new bytes and how many articles they hold. What one publish costs instead of a whole rebuild."""
    directory = _unpack(data)
    try:
        index = tantivy.Index.open(str(directory))
        _register(index)
        _write(index, remove=remove, add=add)
        index.reload()
        return _pack(directory), int(index.searcher().num_docs)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write(index: Any, *, remove: Iterable[str], add: Iterable[kb.Article]) -> None:
    writer = index.writer(heap_size=_WRITER_HEAP, num_threads=1)
    added = list(add)
    for article_id in {*remove, *(article.id for article in added)}:
        writer.delete_documents_by_term("id", article_id)  # "raw" tokenizer: the id is the term
    for article in added:
        language = article.language
        writer.add_document(tantivy.Document(
            id=article.id, language=language, title=article.title,
            **{f"title_{language}": fold(article.title), f"tags_{language}": " ".join(article.tags),
               f"body_{language}": unicodedata.normalize("NFKC", kb.plain_text(article.body))}))
    writer.commit()
    writer.garbage_collect_files()  # the replaced segments' files: not packed into the next bytes
    writer.wait_merging_threads()  # consumes the writer


def _pack(directory: Path) -> bytes:
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(directory.iterdir()):
            if path.is_file() and not path.name.endswith(".lock"):
                tar.add(path, arcname=path.name)
    return packed.getvalue()


def _unpack(data: bytes) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="kb-index-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(directory, filter="data")  # our own bytes, still never outside the directory
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return directory


def open_index(data: bytes) -> "SearchIndex":
    """An index ``build`` made, unpacked under /tmp (Lambda's writable disk) and opened for searching."""
    directory = _unpack(data)
    try:
        index = tantivy.Index.open(str(directory))
        _register(index)
        index.reload()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return SearchIndex(index, directory)


class SearchIndex:
    """An opened index: ``search`` ranks articles for a question, ``suggest`` completes a title as typed."""

    def __init__(self, index: Any, directory: Path) -> None:
        self._index = index
        self._schema = index.schema
        self._searcher = index.searcher()
        self.directory = directory

    @property
    def size(self) -> int:
        """How many articles the index holds."""
        return int(self._searcher.num_docs)

    def close(self) -> None:
        """Remove the unpacked files (a replaced index in a warm Lambda would otherwise fill /tmp)."""
        shutil.rmtree(self.directory, ignore_errors=True)

    def search(self, question: str, languages: tuple[str, ...], limit: int) -> list[Hit]:
        """The best ``limit`` articles for ``question`` among ``languages``, best first, with a snippet."""
        return self._run(question, languages, limit, complete_last=False, snippets=True)

    def suggest(self, typed: str, languages: tuple[str, ...], limit: int) -> list[Hit]:
        """Titles for a question still being typed: the last word counts as the start of a word."""
        return self._run(typed, languages, limit, complete_last=True, snippets=False)

    def _run(self, text: str, languages: tuple[str, ...], limit: int, *, complete_last: bool,
             snippets: bool) -> list[Hit]:
        clauses: list[tuple[Any, Any]] = []
        asked: dict[str, Any] = {}
        for language in languages:
            query = self._query(text, language, complete_last=complete_last)
            if query is not None:
                clauses.append((tantivy.Occur.Should, query))
                asked[language] = query
        if not clauses:
            return []
        query = clauses[0][1] if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)
        found = self._searcher.search(query, limit=limit, count=False).hits
        hits, generators = [], {}
        for score, address in found:
            doc = self._searcher.doc(address)
            language = doc.get_first("language")
            snippet = ""
            if snippets:
                if language not in generators:
                    generators[language] = tantivy.SnippetGenerator.create(
                        self._searcher, asked.get(language, query), self._schema, f"body_{language}")
                    generators[language].set_max_num_chars(_SNIPPET_CHARS)
                snippet = generators[language].snippet_from_doc(doc).fragment()
                if not snippet:  # the title matched, the body did not: its opening words
                    snippet = _opening(doc.get_first(f"body_{language}") or "")
            hits.append(Hit(doc.get_first("id"), doc.get_first("title"), language, " ".join(snippet.split()),
                            round(float(score), 4)))
        return hits

    def _query(self, text: str, language: str, *, complete_last: bool) -> Any | None:
        words = _words(text)[: _MAX_TERMS * 2]
        clauses: list[tuple[Any, Any]] = []
        seen: set[tuple[str, str]] = set()
        for position, word in enumerate(words):
            last = complete_last and position == len(words) - 1
            for term in analyze(word, language)[:1]:
                self._add(clauses, seen, "exact", term, language)
                self._add(clauses, seen, "fuzzy", term, language)
                if last:
                    self._add(clauses, seen, "prefix", term, language)
            root = kb.word_root(fold(word), language)
            if root:
                for term in analyze(root, language)[:1]:
                    self._add(clauses, seen, "prefix", term, language)
            if len(seen) >= _MAX_TERMS * 3:
                break
        if not clauses:
            return None
        return tantivy.Query.boolean_query(clauses)

    def _add(self, clauses: list[tuple[Any, Any]], seen: set[tuple[str, str]], kind: str, term: str,
             language: str) -> None:
        if (kind, term) in seen or len(term) < {"exact": 1, "prefix": 3, "fuzzy": 4}[kind]:
            return  # a typo in a three-letter word is another word; a two-letter prefix matches everything
        seen.add((kind, term))
        for field, weight in _FIELD_BOOSTS.items():
            name = f"{field}_{language}"
            if kind == "exact":
                query = tantivy.Query.term_query(self._schema, name, term)
                boost = weight
            elif kind == "fuzzy":
                query = tantivy.Query.fuzzy_term_query(self._schema, name, term,
                                                       distance=1 if len(term) < 8 else 2)
                boost = weight * _FUZZY_BOOST
            else:
                query = tantivy.Query.fuzzy_term_query(self._schema, name, term, distance=0, prefix=True)
                boost = weight * _PREFIX_BOOST
            clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(query, boost)))


def _words(text: str) -> list[str]:
    """The question's words, folded, each once, in order (the analyzers split the same way)."""
    words: dict[str, None] = {}
    current: list[str] = []
    for char in fold(text) + " ":
        if char.isalnum():
            current.append(char)
        elif current:
            words.setdefault("".join(current), None)
            current = []
    return list(words)


def _opening(body: str) -> str:
    text = " ".join(body.split())
    if len(text) <= _SNIPPET_CHARS:
        return text
    return text[:_SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"
