"""The bot benchmark's question set (``benchmarks/bot_questions.yaml``) is what its header says it is.

The benchmark's shares are only as honest as the labels: every expected article must exist in
the language the customer wrote in, and the mix of languages and answerable questions must be the
one the figures are reported against.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from chalicelib.admin import DEMO_ARTICLES
from chalicelib.domain import kb

QUESTIONS = Path(__file__).resolve().parents[2] / "benchmarks" / "bot_questions.yaml"
LANGUAGES = {"en", "da", "no"}


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]


@pytest.fixture(scope="module")
def article_languages() -> dict[str, str]:
    articles = (kb.parse_markdown_file(path.name, path.read_text(encoding="utf-8"))
                for path in sorted(DEMO_ARTICLES.glob("*.md")))
    return {article.id: article.language for article in articles}


def test_there_are_100_questions_each_with_text_language_expected_and_note(questions):
    assert len(questions) == 100
    for entry in questions:
        assert set(entry) == {"text", "language", "expected", "note"}, entry
        assert isinstance(entry["text"], str) and entry["text"].strip(), entry
        assert isinstance(entry["note"], str) and entry["note"].strip(), entry
        assert entry["expected"] is None or isinstance(entry["expected"], str), entry


def test_languages_are_ours_about_half_english_and_a_quarter_each_danish_and_norwegian(questions):
    languages = Counter(entry["language"] for entry in questions)  # an unquoted `no` would load as False
    assert set(languages) <= LANGUAGES, languages
    assert 45 <= languages["en"] <= 55 and 20 <= languages["da"] <= 30 and 20 <= languages["no"] <= 30, languages


def test_every_expected_article_exists_in_the_language_the_customer_wrote(questions, article_languages):
    for entry in questions:
        if entry["expected"] is not None:
            assert entry["expected"] in article_languages, entry
            assert article_languages[entry["expected"]] == entry["language"], entry


def test_about_six_in_ten_are_answerable_in_every_language(questions):
    for language in LANGUAGES:
        asked = [entry for entry in questions if entry["language"] == language]
        answerable = sum(entry["expected"] is not None for entry in asked)
        assert 0.5 <= answerable / len(asked) <= 0.7, (language, answerable, len(asked))
    assert 55 <= sum(entry["expected"] is not None for entry in questions) <= 65


def test_no_question_is_asked_twice_in_the_same_language(questions):
    asked = Counter((entry["language"], entry["text"].strip().lower()) for entry in questions)
    assert [key for key, times in asked.items() if times > 1] == []


def test_the_answerable_questions_spread_over_the_topics_of_every_language(questions, article_languages):
    for language in LANGUAGES:
        expected = {entry["expected"] for entry in questions if entry["language"] == language and entry["expected"]}
        articles = {article for article, written in article_languages.items() if written == language}
        assert len(expected) >= min(6, len(articles)), (language, sorted(expected))
