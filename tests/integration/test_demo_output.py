"""``make demo`` reads well (issue 15): every line fits 120 columns, no Python ``None`` leaks, the chat bot
scene ends as the story says, the newsletter takes nobody's slot, and nothing ends in a dead-letter queue."""
from __future__ import annotations

import re

import pytest

from chalicelib.local import demo


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> list[str]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        demo.main()
    return out.getvalue().splitlines()


def _table(lines: list[str], title: str) -> list[str]:
    """The rows of the table under ``title`` (between its second rule and the blank line after it)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 4:]:
        if not line.strip():
            break
        rows.append(line)
    return rows


def test_every_line_fits_120_columns(printed):
    assert len(printed) > 80
    too_long = [f"{len(line)}: {line}" for line in printed if len(line) > demo.WIDTH]
    assert too_long == []


def test_python_none_never_shows(printed):
    assert [line for line in printed if re.search(r"\bNone\b", line)] == []


def test_shortened_cells_end_with_an_ellipsis_after_a_whole_word(printed):
    cut = [line for line in printed if "…" in line]
    assert cut  # the demo's long texts are shortened somewhere
    assert "Order 5521 never arrived" in "\n".join(printed)  # short enough: shown whole


@pytest.mark.parametrize("text, width, shown", [
    ("Hi, my order 5521 was due last week", 20, "Hi, my order 5521…"),  # not "Hi, my order 5521 w…"
    ("Hi, my order 5521 was due last week", 35, "Hi, my order 5521 was due last week"),
    ("Hi, my order 5521 was due last week", 34, "Hi, my order 5521 was due last…"),
    ("prince@lottery.example", 12, "prince@lott…"),  # one long word: cut inside it, still marked
    ("Credit note issued in the ERP.", 30, "Credit note issued in the ERP."),
    ("a, b, c", 5, "a, b…"),  # no dangling comma before the ellipsis
])
def test_shorten_cuts_at_the_last_word_that_fits(text, width, shown):
    assert demo.shorten(text, width) == shown
    assert len(shown) <= width


def test_the_newsletter_is_closed_and_unassigned(printed):
    row = next(line for line in _table(printed, "Tickets (DynamoDB)") if "Deals Weekly" in line)
    assert re.match(r"\d+\s+closed\s+low\s+general\s+Deals Weekly", row), row
    assert "bulk-mail: machine-sent bulk (Precedence: bulk)" in "\n".join(printed)


def test_the_team_lead_alert_names_the_ticket_number_and_links_the_console(printed):
    at = next(i for i, line in enumerate(printed) if line.startswith("The team lead's alert"))
    assert re.fullmatch(r"  Urgent ticket #\d+: Checkout is down", printed[at + 1])
    assert re.fullmatch(r"  Open it in the console: https://\S+/console#ticket/t-[0-9a-f]+", printed[at + 2])


def test_the_bot_deflects_one_question_and_hands_the_other_to_a_person(printed):
    rows = _table(printed, "Chat bot on Telegram")
    sofie = next(row for row in rows if "Sofie Dahl" in row)
    jonas = next(row for row in rows if "Jonas Berg" in row)
    assert "How do I reset my password?" in sofie and "reset-your-password" in sofie
    assert sofie.rstrip().endswith("solved, deflected")
    assert " no " in jonas and re.search(r"handed to (Mette Holm|Ola Nordmann)$", jonas.rstrip()), jonas
    kpis = _table(printed, "KPIs by channel")
    telegram = next(row for row in kpis if row.startswith("telegram"))
    assert re.match(r"telegram\s+2\s+1\s+1 \(1\)", telegram), telegram


def test_it_ends_without_dead_letters(printed):
    assert printed[-1] == "Dead letters: 0"
