"""The knowledge base's analysis and ranking, without AWS: stemming, folding, roots, and no question that raises."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.admin import DEMO_ARTICLES
from chalicelib.domain import kb
from chalicelib.storage import kb_engine


@pytest.fixture(scope="module")
def demo_index():
    articles = [kb.parse_markdown_file(path.name, path.read_text(encoding="utf-8"))
                for path in sorted(DEMO_ARTICLES.glob("*.md"))]
    index = kb_engine.open_index(kb_engine.build(articles))
    yield index
    index.close()


@pytest.mark.parametrize("language, forms", [
    ("en", ["refund", "refunds", "refunded", "Refunding"]),
    ("en", ["password", "passwords", "PASSWORDS"]),
    ("da", ["returnere", "returnerer", "returneret"]),
    ("da", ["bestillingen", "bestilling"]),
    ("no", ["bestillingen", "bestillinger", "bestilling"]),
    ("no", ["passordet", "passord"]),
])
def test_a_words_forms_share_one_term(language, forms):
    terms = {tuple(kb_engine.analyze(form, language)) for form in forms}
    assert len(terms) == 1, terms


def test_case_accents_and_decomposed_letters_fold_alike():
    assert kb_engine.analyze("KØB", "da") == kb_engine.analyze("køb", "da") == kb_engine.analyze("kob", "da")
    assert kb_engine.analyze("pa\u030a", "no") == kb_engine.analyze("på", "no")  # macOS mail's decomposed å


def test_stop_words_are_dropped_per_language():
    assert kb_engine.analyze("the and of", "en") == []
    assert kb_engine.analyze("jeg har ikke", "da") == []
    assert kb_engine.analyze("jeg har ikke", "no") == []
    assert kb_engine.analyze("the", "da") == ["the"]  # English stop words are Danish words to be searched


@pytest.mark.parametrize("word, language, root", [
    ("returnering", "da", "return"), ("returnere", "da", "return"), ("bestilling", "no", "bestil"),
    ("leveringen", "no", "lever"), ("levering", "da", "lever"), ("ting", "da", None), ("returning", "en", None),
])
def test_nordic_nouns_share_a_root_with_their_verbs(word, language, root):
    assert kb.word_root(word, language) == root


def test_markdown_becomes_the_text_a_reader_sees():
    text = kb.plain_text("# Returns\n\n1. Go to **My account**\n- see [our terms](https://x/terms) `now`\n"
                         "```\ncode\n```\n![a box](box.png) <b>bold</b>")
    assert text.splitlines() == ["Returns", "Go to My account", "see our terms now", "code", "a box bold"]


def test_front_matter_reads_norwegian_as_norwegian_and_refuses_unknown_fields():
    article = kb.parse_markdown_file("x.md", "---\ntitle: Hei\nlanguage: no\ntags: [a, B]\n---\nTekst\n")
    assert (article.id, article.language, article.status, article.tags) == ("x", "no", "published", ("a", "b"))
    with pytest.raises(kb.ArticleError, match="unknown front matter field"):
        kb.parse_markdown_file("x.md", "---\ntitle: Hei\nlanguage: no\nauthor: me\n---\nTekst\n")
    with pytest.raises(kb.ArticleError, match="no front matter"):
        kb.parse_markdown_file("x.md", "# Just Markdown\n")


def test_every_demo_article_is_valid_and_each_language_has_the_topics():
    articles = [kb.parse_markdown_file(p.name, p.read_text(encoding="utf-8")) for p in DEMO_ARTICLES.glob("*.md")]
    assert 15 <= len(articles) <= 20
    by_language = {language: [a for a in articles if a.language == language] for language in kb.LANGUAGES}
    assert all(len(found) >= 5 for found in by_language.values())
    ids = {a.id for a in articles}
    assert all(set(a.related) <= ids for a in articles)  # every related article exists


def test_a_typo_still_finds_the_article(demo_index):
    assert demo_index.search("retrun an item", ("en",), 3)[0].id == "return-an-item"
    assert demo_index.search("adgangskoode", ("da",), 3)[0].id == "glemt-adgangskode"


def test_an_exact_match_outranks_a_fuzzy_one(demo_index):
    hits = demo_index.search("invoice", ("en",), 5)
    assert hits[0].id == "invoices-and-receipts" and hits[0].score > hits[-1].score


def test_a_language_filter_reads_only_that_languages_articles(demo_index):
    assert {hit.language for hit in demo_index.search("faktura", ("no",), 10)} == {"no"}
    assert {hit.language for hit in demo_index.search("faktura", kb.LANGUAGES, 10)} == {"da", "no"}


def test_an_index_round_trips_through_bytes_and_is_removed_on_close():
    index = kb_engine.open_index(kb_engine.build([kb.Article("a", "Opening hours", "We answer 8-16.", "en",
                                                             "published")]))
    assert index.size == 1 and index.search("opening", ("en",), 1)[0].title == "Opening hours"
    index.close()
    assert not index.directory.exists()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(max_size=kb.MAX_QUERY_CHARS), typing=st.booleans(),
       languages=st.sampled_from([("en",), ("da",), ("no",), kb.LANGUAGES]))
def test_no_question_raises(demo_index, question, typing, languages):
    folded = kb.check_query(question)
    hits = (demo_index.suggest if typing else demo_index.search)(folded, languages, 5)
    assert len(hits) <= 5 and all(hit.score > 0 for hit in hits)


@given(question=st.text(min_size=kb.MAX_QUERY_CHARS + 1, max_size=kb.MAX_QUERY_CHARS + 50))
def test_a_question_over_the_limit_is_refused(question):
    with pytest.raises(ValueError, match="limit"):
        kb.check_query(question)


def test_an_update_replaces_and_removes_articles_without_the_others():
    hours = kb.Article("hours", "Opening hours", "We answer 8-16.", "en", "published")
    gifts = kb.Article("gifts", "Gift cards", "Gift cards last three years.", "en", "published")
    data, count = kb_engine.update(kb_engine.build([hours, gifts]), remove=["gifts"],
                                   add=[kb.Article("hours", "Opening hours", "We answer 9-17 on Saturdays.", "en",
                                                   "published")])
    index = kb_engine.open_index(data)
    try:
        assert count == index.size == 1
        assert index.search("saturdays", ("en",), 5)[0].id == "hours"
        assert index.search("gift cards", ("en",), 5) == []
    finally:
        index.close()
