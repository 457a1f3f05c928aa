"""HTML-only mail as an agent reads it: text laid out by inscriptis, quotes marked, nothing lost.

The conversion used to be html2text (GPL-3.0); these pin what it gave agents — links with
their targets, lists, tables, quoted history marked with ">" — plus the traps of the
converter that replaced it (libxml2 silently dropping everything past 255 levels).
"""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from chalicelib.channels.email.html import html_text
from chalicelib.channels.email.mime import parse_email

PROJECT = Path(__file__).resolve().parents[2]


def html_mail(html: str) -> bytes:
    head = "From: Kari <kari@customer.example>\r\nTo: support@example.com\r\nSubject: Re: login\r\n"
    return (head + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()


GMAIL_REPLY = (
    '<div dir="ltr"><div>Thanks, that fixed it! The export works again.</div><div>Kari</div></div><br>'
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, 1 Dec 2025 at 10:00, Relay Desk '
    '&lt;support@example.com&gt; wrote:<br></div>'
    '<blockquote class="gmail_quote" style="margin:0 0 0 .8ex">Hello Kari,<br><br>please try restarting '
    'the export.<blockquote>Our first answer<br>with two lines</blockquote>Best regards</blockquote></div>'
)


def test_an_html_only_reply_keeps_the_customers_lines_and_drops_the_quoted_history():
    mail = parse_email(html_mail(GMAIL_REPLY))

    assert "Thanks, that fixed it! The export works again.\nKari\n" in mail.text_body
    assert "> Hello Kari,\n>\n> please try restarting the export." in mail.text_body
    assert ">> Our first answer\n>> with two lines\n> Best regards" in mail.text_body
    assert "Thanks, that fixed it!" in mail.reply_text and "Kari" in mail.reply_text
    assert "please try restarting" not in mail.reply_text and "Our first answer" not in mail.reply_text


def test_quoted_lines_the_customer_answers_between_stay_marked():
    html = ("<blockquote>Which order is it?</blockquote><p>Order 1234.</p>"
            "<blockquote>And since when?</blockquote><p>Since Friday.</p>")
    mail = parse_email(html_mail(html))

    assert mail.text_body == "> Which order is it?\n\nOrder 1234.\n\n> And since when?\n\nSince Friday.\n"
    assert "Order 1234." in mail.reply_text and "Since Friday." in mail.reply_text


def test_links_lists_tables_and_entities_read_as_text():
    html = ("<p>Hello <b>Ann</b>, see <a href='https://status.example.com'>status</a> &amp; "
            "<a href='mailto:help@example.com'>help</a>.</p>"
            "<ul><li>one</li><li>two</li></ul><ol><li>first</li><li>second</li></ol>"
            "<table><tr><th>Order</th><th>Status</th></tr><tr><td>1234</td><td>late</td></tr></table>"
            "<p>Blåbærsyltetøy&nbsp;æøå</p><img src='cid:logo' alt='logo'>")
    text = parse_email(html_mail(html)).text_body

    assert "Hello Ann, see [status](https://status.example.com) & [help](mailto:help@example.com)." in text
    assert "  * one\n  * two\n" in text and " 1. first\n 2. second\n" in text
    assert "Order  Status\n1234   late\n" in text  # columns aligned, no trailing spaces
    assert "Blåbærsyltetøy æøå" in text
    assert "logo" not in text and "cid:" not in text
    assert "<" not in text


def test_spans_and_divs_are_not_padded_with_spaces():
    # inscriptis' default ("relaxed") profile indents each <div> and pads each <span>:
    # mail nests both by the dozen, so the browser's ("strict") layout is used.
    html = "<div><div><div>Order <span>12</span><span>34</span> is late</div></div></div>"
    assert parse_email(html_mail(html)).text_body == "Order 1234 is late\n"


def test_text_past_libxml2s_depth_limit_is_not_dropped():
    # libxml2 stops at 255 levels unless told otherwise and keeps only what came before:
    # "after" would vanish without a word. safe_html admits up to 256 levels, as here.
    html = "<p>before</p>" + "<div>" * 256 + "deep down" + "</div>" * 256 + "<p>after</p>"
    mail = parse_email(html_mail(html))

    assert mail.html_body is not None  # within the sanitiser's limit, so formatted, not stripped
    assert mail.text_body == "before\n\ndeep down\n\nafter\n"
    assert not mail.defects


def test_html_the_converter_cannot_lay_out_falls_back_to_stripped_tags_with_a_defect():
    # inscriptis recurses once per level: 1,200 levels (only possible past safe_html's limit)
    # exhaust Python's stack; every word is still kept.
    html = "<p>before</p>" + "<div>" * 1200 + "deep down" + "</div>" * 1200 + "<p>after</p>"
    defects: list[str] = []

    assert html_text(html, [html], defects) == "before\n\ndeep down\n\nafter\n"
    assert defects == ["HTML could not be laid out as text; tags stripped instead"]


def test_empty_html_gives_an_empty_body():
    defects: list[str] = []
    assert html_text("", [], defects) == "\n" and html_text(" \n", [" \n"], defects) == "\n"
    assert html_text(None, [], defects) == "" and defects == []


def test_large_html_gets_the_linear_conversion_and_says_so():
    html = "<p>" + "word " * 60_000 + "</p>"  # 300 KB, over the formatted conversion's 256 KB
    defects: list[str] = []
    text = html_text(html, [html], defects)

    assert text.count("word") == 60_000
    assert defects == ["HTML too large or too deeply nested for formatted text; tags stripped instead"]


# --- Licences of what ships in the Lambda bundle ----------------------------------


def _runtime_distributions() -> dict[str, metadata.Distribution]:
    """requirements.txt and everything it pulls in (no extras), as installed."""
    from packaging.requirements import Requirement

    pending = [Requirement(line.split("#", 1)[0].strip())
               for line in (PROJECT / "requirements.txt").read_text().splitlines()
               if line.split("#", 1)[0].strip()]
    found: dict[str, metadata.Distribution] = {}
    while pending:
        requirement = pending.pop()
        key = requirement.name.lower().replace("_", "-")
        if key in found:
            continue
        try:
            found[key] = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{requirement.name} (requirements.txt) is not installed: run make test")
        for text in found[key].requires or []:
            dependency = Requirement(text)
            if dependency.marker is None or dependency.marker.evaluate({"extra": ""}):
                pending.append(dependency)
    return found


def test_nothing_in_the_lambda_bundle_is_gpl_licensed():
    distributions = _runtime_distributions()
    assert {"inscriptis", "lxml"} <= set(distributions) and "html2text" not in distributions

    def licence(distribution: metadata.Distribution) -> str:
        fields = distribution.metadata
        return " ".join([fields.get("License-Expression") or "", (fields.get("License") or "")[:200],
                         *(c for c in fields.get_all("Classifier") or [] if c.startswith("License"))])

    copyleft = {name: licence(d) for name, d in distributions.items()
                if "GPL" in licence(d) or "General Public License" in licence(d)}
    assert copyleft == {}
