"""Knowledge base search: latency at 100 and 10,000 articles, index build time and size, cold load.

    .venv/bin/python benchmarks/kb_search.py              # 100 and 10,000 articles (~1 min)
    .venv/bin/python benchmarks/kb_search.py --sizes 100  # smoke run
    .venv/bin/python benchmarks/kb_search.py --api        # also GET /kb/search and a publishing PUT through
                                                          # LocalDesk (--stored 100 articles in moto)

The articles are the 20 demo articles (``chalicelib/kb/articles``) and variations of them:
each variation keeps its original's language and topic, shuffles its paragraphs, borrows a
paragraph from another article of its language and adds product names and order numbers, so
the vocabulary grows with the catalogue as a real shop's does. Questions are 36 customer
questions in English, Danish and Norwegian (plain, inflected and misspelt), each searched
``--rounds`` times in turn; p50/p99 are over every search. Suggest is timed the same way
with the questions cut after their first 8 characters.

* build: ``kb_engine.build`` (what a publish runs after reading the published articles);
* size: the gzipped tar stored in S3;
* cold load: a fresh interpreter that imports tantivy and opens the bytes (``open_index``),
  timed inside it (what the first KB search in a new Lambda pays, before the S3 GET); and the
  same open in this warm process.

Figures, not pass/fail: they depend on the machine (2 shared cores here).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from chalicelib.admin import DEMO_ARTICLES  # noqa: E402
from chalicelib.domain import kb  # noqa: E402
from chalicelib.storage import kb_engine  # noqa: E402

QUESTIONS = [
    ("where is my parcel", "en"), ("when will I be refunded", "en"), ("how do I return a jacket", "en"),
    ("forgot my password", "en"), ("company invoice with VAT number", "en"), ("can I cancel my order", "en"),
    ("delivery to Norway how long", "en"), ("tracking says delivered but no package", "en"),
    ("pasword reset email never arrives", "en"), ("refnd to paypal", "en"), ("locked out of my account", "en"),
    ("shipping costs to the UK", "en"),
    ("hvor er min pakke", "da"), ("hvordan returnerer jeg en vare", "da"), ("hvornår får jeg pengene tilbage", "da"),
    ("jeg har glemt min adgangskode", "da"), ("faktura med CVR nummer", "da"), ("hvad koster fragt", "da"),
    ("min pakke er forsinket", "da"), ("refundering til mobilepay", "da"), ("kan ikke logge ind", "da"),
    ("varen er defekt", "da"), ("returnering af sko", "da"), ("adgangskoode", "da"),
    ("hvor er pakken min", "no"), ("kan jeg returnere varen", "no"), ("når får jeg pengene tilbake", "no"),
    ("glemt passord", "no"), ("må jeg betale toll", "no"), ("hvor lang tid tar leveringen", "no"),
    ("faktura til bedrift", "no"), ("refusjon vipps", "no"), ("får ikke logget inn", "no"),
    ("angrerett 30 dager", "no"), ("sporingsnummer", "no"), ("returetikett", "no"),
]
_PRODUCTS = ["jacket", "sneakers", "backpack", "rain coat", "wool sweater", "jakke", "sko", "rygsæk", "regnjakke",
             "genser", "ryggsekk", "strømper", "lue", "hue", "scarf", "gloves", "vanter", "votter"]


def demo_articles() -> list[kb.Article]:
    return [kb.parse_markdown_file(p.name, p.read_text(encoding="utf-8")) for p in sorted(DEMO_ARTICLES.glob("*.md"))]


def catalogue(size: int, seed: int = 14) -> list[kb.Article]:
    """``size`` articles: the demo ones, then variations of them (see the module docstring)."""
    rng = random.Random(seed)
    demo = demo_articles()
    by_language: dict[str, list[kb.Article]] = {}
    for article in demo:
        by_language.setdefault(article.language, []).append(article)
    articles = list(demo[:size])
    for number in range(len(articles), size):
        base = demo[number % len(demo)]
        paragraphs = [p for p in base.body.split("\n\n") if p.strip()]
        rng.shuffle(paragraphs)
        other = rng.choice(by_language[base.language])
        borrowed = rng.choice([p for p in other.body.split("\n\n") if p.strip()])
        products = ", ".join(f"{rng.choice(_PRODUCTS)} model {rng.randint(100, 99999)}" for _ in range(3))
        extra = f"Order {rng.randint(100000, 999999)} · {products}."
        articles.append(kb.Article(
            id=f"{base.id}-{number}", title=f"{base.title} ({rng.choice(_PRODUCTS)} {number})",
            body="\n\n".join([*paragraphs, borrowed, extra]), language=base.language, status="published",
            tags=base.tags))
    return articles


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


_COLD = r"""
import sys, time
sys.path.insert(0, {project!r})
started = time.perf_counter()
from chalicelib.storage import kb_engine
imported = time.perf_counter()
index = kb_engine.open_index(open({path!r}, "rb").read())
opened = time.perf_counter()
index.search("where is my parcel", ("en", "da", "no"), 5)
searched = time.perf_counter()
index.close()
print(imported - started, opened - imported, searched - opened)
"""


def cold_load(data: bytes, runs: int = 3) -> tuple[float, float, float]:
    """Medians (s) in a fresh interpreter: import, open from bytes, first search."""
    with tempfile.NamedTemporaryFile(suffix=".tar.gz", delete=False) as handle:
        handle.write(data)
    try:
        samples = []
        for _ in range(runs):
            out = subprocess.run([sys.executable, "-c", _COLD.format(project=str(PROJECT), path=handle.name)],
                                 capture_output=True, text=True, check=True, cwd=PROJECT).stdout
            samples.append(tuple(float(x) for x in out.split()))
        return tuple(statistics.median(s[i] for s in samples) for i in range(3))  # type: ignore[return-value]
    finally:
        os.unlink(handle.name)


def measure(size: int, rounds: int) -> dict[str, float]:
    articles = catalogue(size)
    started = time.perf_counter()
    data = kb_engine.build(articles)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    index = kb_engine.open_index(data)
    warm_open_s = time.perf_counter() - started
    search_ms, suggest_ms, scoped_ms = [], [], []
    for _ in range(rounds):
        for question, language in QUESTIONS:
            t = time.perf_counter()
            index.search(question, kb.LANGUAGES, 10)
            search_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            index.search(question, (language,), 10)
            scoped_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            index.suggest(question[:8], (language,), 5)
            suggest_ms.append((time.perf_counter() - t) * 1000)
    index.close()
    cold_import, cold_open, cold_first = cold_load(data)
    return {"articles": size, "build_s": build_s, "index_bytes": len(data), "warm_open_s": warm_open_s,
            "cold_import_s": cold_import, "cold_open_s": cold_open, "cold_first_search_s": cold_first,
            "search_all_p50_ms": statistics.median(search_ms), "search_all_p99_ms": percentile(search_ms, 0.99),
            "search_lang_p50_ms": statistics.median(scoped_ms), "search_lang_p99_ms": percentile(scoped_ms, 0.99),
            "suggest_p50_ms": statistics.median(suggest_ms), "suggest_p99_ms": percentile(suggest_ms, 0.99),
            "searches": len(search_ms)}


def api_latency(rounds: int, stored: int) -> dict[str, float]:
    """Through LocalDesk (Chalice test client, moto): GET /kb/search (route, JSON, the marker check), and
    PUT /kb/articles/{id} publishing one article with ``stored`` published articles in the table and
    the index (the write, the S3 GET of the index, one article replaced, the S3 PUT, the marker); and
    the full rebuild a publish falls back to (a consistent Query of the catalogue in moto)."""
    import json
    from urllib.parse import quote

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from chalicelib.local import LocalDesk
    from chalicelib.service import kb as knowledge_base
    from chalicelib.storage import kb_articles

    with LocalDesk() as desk:
        _, token = desk.add_agent("Bench Editor", "editor@example.com", role="admin")
        knowledge_base.import_folder(DEMO_ARTICLES)
        for article in catalogue(stored)[20:]:
            kb_articles.save_article(article.stored_as(at="2026-01-01T00:00:00.000000Z", by="bench"),
                                     expected_version=None)
        t = time.perf_counter()
        full = knowledge_base.rebuild()  # the fallback: every published article read and indexed
        full_s = time.perf_counter() - t
        assert full.articles == stored, full
        samples = []
        for _ in range(rounds):
            for question, language in QUESTIONS:
                t = time.perf_counter()
                answer = desk.http.get(f"/kb/search?q={quote(question)}&language={language}")
                samples.append((time.perf_counter() - t) * 1000)
                assert answer.status_code == 200, answer.body
        publish = []
        for number in range(3):
            body = json.dumps({"title": f"Opening hours {number}", "body": "We answer 8-16 on weekdays.",
                               "language": "en", "status": "published"})
            t = time.perf_counter()
            answer = desk.http.put(f"/kb/articles/opening-hours-{number}", body=body,
                                   headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            publish.append(time.perf_counter() - t)
            assert answer.status_code == 201, answer.body
    return {"api_p50_ms": statistics.median(samples), "api_p99_ms": percentile(samples, 0.99),
            "publish_s": statistics.median(publish), "full_rebuild_s": full_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--api", action="store_true")
    parser.add_argument("--stored", type=int, default=100, help="--api: published articles in the table")
    args = parser.parse_args(argv)
    for size in (int(s) for s in args.sizes.split(",")):
        figures = measure(size, args.rounds)
        print(f"{size:>6} articles: build {figures['build_s']:.2f} s, index {figures['index_bytes'] / 1024:.0f} KiB; "
              f"open from bytes warm {figures['warm_open_s'] * 1000:.1f} ms; fresh interpreter: import "
              f"{figures['cold_import_s'] * 1000:.0f} ms + open {figures['cold_open_s'] * 1000:.1f} ms + first "
              f"search {figures['cold_first_search_s'] * 1000:.1f} ms")
        print(f"        search (all languages) p50 {figures['search_all_p50_ms']:.2f} ms p99 "
              f"{figures['search_all_p99_ms']:.2f} ms; one language p50 {figures['search_lang_p50_ms']:.2f} ms p99 "
              f"{figures['search_lang_p99_ms']:.2f} ms; suggest p50 {figures['suggest_p50_ms']:.2f} ms p99 "
              f"{figures['suggest_p99_ms']:.2f} ms ({figures['searches']} searches each)")
    if args.api:
        figures = api_latency(max(1, args.rounds // 2), max(20, args.stored))
        print(f"via LocalDesk (moto), {max(20, args.stored)} articles stored: GET /kb/search p50 "
              f"{figures['api_p50_ms']:.1f} ms p99 {figures['api_p99_ms']:.1f} ms; PUT publishing one article "
              f"(write + one article replaced in the index + S3 + marker) median {figures['publish_s']:.2f} s; "
              f"full rebuild (consistent Query of the catalogue + build + S3 + marker) {figures['full_rebuild_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
