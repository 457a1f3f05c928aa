"""Reply text keeps every line the customer wrote, on real replies from many clients and languages.

The corpus in tests/fixtures/mail/replies/ holds replies as Gmail, Outlook (desktop,
web, iOS, Android), Apple Mail, iPhone, Thunderbird, Samsung Email, Yahoo and
mailing lists write them (top, bottom and inline posting; English, Danish,
Norwegian, German). Its manifest says, for each, what a person reading the mail
calls "what the customer wrote"; the reply text must keep exactly those lines,
plus the quoted lines an inline or bottom-posted answer replies to (prefixed
"> ", shown collapsed), and nothing of the quoted history or machine footers.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.channels.email.mime import parse_email
from chalicelib.channels.email.quotes import reply_text

REPLIES = Path(__file__).resolve().parents[1] / "fixtures" / "mail" / "replies"
MANIFEST = json.loads((REPLIES / "manifest.json").read_text(encoding="utf-8"))["replies"]
#: Share of the corpus kept correctly: 12 of 65 (18.5%) with the mailparser_reply-based stripper
#: (it cut at the first quote header and at the sign-off), 65 of 65 after issue 12.
FLOOR = 0.95


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _written(reply: str) -> list[str]:
    """The customer's own lines of a reply text: quoted context ("> ") left out."""
    return [line for line in _lines(reply) if not line.startswith(">")]


def _has_quoted_context(reply: str) -> bool:
    return any(line.startswith(">") for line in _lines(reply))


def kept_correctly(entry: dict, reply: str) -> bool:
    return _written(reply) == _lines(entry["wrote"]) and _has_quoted_context(reply) == entry["quoted_context"]


def _reply(entry: dict) -> str:
    return parse_email((REPLIES / entry["file"]).read_bytes()).reply_text


def test_the_corpus_covers_the_clients_languages_and_styles():
    assert len(MANIFEST) >= 50
    assert {entry["language"] for entry in MANIFEST} == {"en", "da", "no", "de"}
    assert {entry["style"] for entry in MANIFEST} == {"top", "bottom", "inline"}
    clients = " ".join(entry["client"] for entry in MANIFEST)
    for client in ("Gmail", "Outlook desktop", "Outlook for iOS", "Apple Mail", "iPhone", "Thunderbird", "Android", "Yahoo"):
        assert client in clients


def test_the_share_of_replies_kept_correctly_is_above_the_floor(capsys):
    wrong = [entry["file"] for entry in MANIFEST if not kept_correctly(entry, _reply(entry))]
    share = 1 - len(wrong) / len(MANIFEST)
    with capsys.disabled():
        print(f"\nreply corpus: {len(MANIFEST) - len(wrong)}/{len(MANIFEST)} kept correctly ({share:.1%}); wrong: {wrong}")
    assert share >= FLOOR, wrong


@pytest.mark.parametrize("entry", MANIFEST, ids=[entry["file"] for entry in MANIFEST])
def test_each_reply_keeps_what_the_customer_wrote(entry):
    reply = _reply(entry)
    assert _written(reply) == _lines(entry["wrote"]), reply
    assert _has_quoted_context(reply) == entry["quoted_context"], reply


def test_a_spanish_outlook_header_with_enviado_el_ends_the_reply():
    # Spanish Outlook writes "Enviado el:"; the field was read as an unknown word and the history stayed.
    text = (
        "Hola,\n\nEl pedido es el 55012.\n\nSaludos,\nAna\n\n"
        "De: Soporte <soporte@example.com>\nEnviado el: lunes, 3 de noviembre de 2025 10:42\n"
        "Para: Ana <ana@example.es>\nAsunto: Su pedido\n\nHola Ana, ¿cuál es su número de pedido?\n"
    )
    assert _lines(reply_text(text)) == ["Hola,", "El pedido es el 55012.", "Saludos,", "Ana"]


def test_a_header_block_that_starts_with_the_date_needs_sender_recipient_and_subject():
    # Hotmail puts Date first; a customer's own "Date / From / To" lines (no subject) are not a header.
    hotmail = "Yes, that works.\n\nDate: Tue, 2 Oct 2012 02:35:10 +0000\nFrom: support@example.com\nTo: ann@example.com\nSubject: Your order\n\nHi Ann\n"
    assert _lines(reply_text(hotmail)) == ["Yes, that works."]
    trip = "My trip:\n\nDate: Monday 3 Nov\nFrom: Oslo\nTo: Bergen\n\nCan I rebook it?\n"
    assert _lines(reply_text(trip)) == ["My trip:", "Date: Monday 3 Nov", "From: Oslo", "To: Bergen", "Can I rebook it?"]
