"""Tracked knowledge-base links and the deflection KPI (issue 14), through the real handlers.

Tickets come in by mail and chat; the tracked link is what ``kb_tracking.tracked_url`` gives the pipeline and the
bot. A GET of the link only redirects (mail scanners follow links); the portal page's POSTs record the open and
the customer's answer. A "yes", the bot's confirmation, or a customer who opened an article and then stayed silent
for the desk's window makes the ticket deflected and solved — counted once in the KPI report, off the stream.
"""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from chalicelib.local import LocalDesk
from tests import chat
from tests.api import call
from tests.mail import compose

ARTICLE = "reset-your-password"
QUESTION = {"subject": "Forgot my password", "body": "I forgot my password and cannot log in. What do I do?"}


@pytest.fixture
def environment() -> dict[str, str]:
    return dict(chat.SECRETS)



def _mail_ticket(desk: Any, **mail: str) -> dict[str, Any]:
    before = {t["id"] for t in desk.tickets()}
    desk.receive_email(compose(**{**QUESTION, **mail}))
    desk.pump()
    (ticket,) = [t for t in desk.tickets() if t["id"] not in before]
    return ticket


def _ticket(desk: Any, ticket_id: str) -> dict[str, Any]:
    return next(t for t in desk.tickets() if t["id"] == ticket_id)


def _path(url: str) -> str:
    return urlsplit(url).path


def _link(ticket_id: str, article: str = ARTICLE) -> str:
    """The path of the tracked link the acknowledgement (or the bot) carries for this ticket and article."""
    from chalicelib import config
    from chalicelib.service import kb_tracking

    url = kb_tracking.tracked_url(ticket_id, article)
    assert url.startswith(config.setting("PUBLIC_BASE_URL").rstrip("/") + "/kb/go/k1."), url
    return _path(url)


def _post(desk: Any, path: str, event: str) -> tuple[int, Any]:
    return call(desk, "post", path, body={"event": event})


def _report(desk: Any, token: str) -> dict[str, Any]:
    from chalicelib import clock

    day = clock.now().date().isoformat()
    status, body = call(desk, "get", f"/reports/kpis?from={day}&to={day}&group_by=channel", token)
    assert status == 200, body
    return body


def test_a_mailed_link_only_redirects_and_the_portal_yes_deflects_and_solves_the_ticket(desk, imported, admin_token):
    ticket = _mail_ticket(desk)
    path = _link(ticket["id"])

    followed = desk.http.get(path)  # what a mail scanner (or the customer's click) does
    assert followed.status_code == 302
    location = followed.headers["Location"]
    assert location == f"../../portal?ref={path.rsplit('/', 1)[1]}#article/{ARTICLE}"
    assert followed.headers["Cache-Control"] == "no-store" and followed.headers["Referrer-Policy"] == "no-referrer"
    untouched = _ticket(desk, ticket["id"])
    assert untouched["version"] == ticket["version"] and untouched["kb_links"] is None  # a GET records nothing

    assert _post(desk, path, "opened") == (200, {"recorded": True, "answer": None, "deflected": False,
                                                 "language": "en"})
    opened = _ticket(desk, ticket["id"])
    assert opened["status"] == "open" and opened["kb_links"]["opened"] == [ARTICLE]
    assert opened["audit"][-1]["detail"] == f"the customer opened the suggested article {ARTICLE}"
    assert _post(desk, path, "opened")[1]["recorded"] is False  # the page reloaded: nothing new
    assert _ticket(desk, ticket["id"])["version"] == opened["version"]

    assert _post(desk, path, "solved") == (200, {"recorded": True, "answer": "solved", "deflected": True,
                                                 "language": "en"})
    solved = _ticket(desk, ticket["id"])
    assert solved["status"] == "solved" and solved["kb_links"]["opened_at"] == opened["kb_links"]["opened_at"]
    assert {k: solved["deflection"][k] for k in ("how", "via", "article")} == {
        "how": "confirmed", "via": "portal", "article": ARTICLE}
    assert solved["kb_links"]["answers"][ARTICLE]["answer"] == "solved"
    assert solved["audit"][-1]["action"] == "deflected" and solved["audit"][-1]["actor"] == "customer"

    assert _post(desk, path, "solved")[1] == {"recorded": False, "answer": "solved", "deflected": True,
                                              "language": "en"}  # a double click
    status, refused = _post(desk, path, "not_solved")
    assert status == 409 and refused["error"] == "already_answered"
    assert _ticket(desk, ticket["id"])["version"] == solved["version"]

    (email,) = _report(desk, admin_token)["rows"]
    assert (email["group"], email["volume"], email["solved"], email["deflected"], email["deflected_by_bot"],
            email["deflection_pct"]) == ("email", 1, 1, 1, 0, 100.0)


def test_the_bot_confirms_a_chat_ticket_once_and_the_report_counts_it_as_the_bots(desk, imported, admin_token):
    from chalicelib.service import kb_tracking

    message = "Hej, jeg kan ikke logge ind på min konto, og jeg har glemt min adgangskode. Hvad skal jeg gøre?"
    assert chat.post_telegram(desk, chat.telegram_text(text=message)).status_code == 200
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["channel"] == "telegram" and ticket["status"] in ("open", "pending")  # pending: the bot asked

    assert kb_tracking.confirm_solved(ticket["id"], article_id="glemt-adgangskode", via="bot") is True
    assert kb_tracking.confirm_solved(ticket["id"], article_id="glemt-adgangskode", via="bot") is False
    assert kb_tracking.confirm_solved(ticket["id"], article_id=None, via="portal") is False
    desk.deliver_streams()  # called here, not inside a function: the stream's consumer runs now
    stored = _ticket(desk, ticket["id"])
    assert stored["status"] == "solved" and stored["deflection"]["via"] == "bot"
    assert [a["action"] for a in stored["audit"]].count("deflected") == 1
    assert stored["audit"][-1]["actor"] == "bot"

    (telegram,) = _report(desk, admin_token)["rows"]
    assert (telegram["group"], telegram["deflected"], telegram["deflected_by_bot"], telegram["solved"]) == (
        "telegram", 1, 1, 1)
    with pytest.raises(ValueError):
        kb_tracking.confirm_solved(ticket["id"], article_id=None, via="email")
    assert kb_tracking.confirm_solved("t-00000000000000000000", article_id=None, via="bot") is False


def test_a_customer_who_opened_an_article_and_stayed_silent_is_deflected_when_the_window_ends(desk, imported,
                                                                                               admin_token):
    from chalicelib.storage import repository

    ticket = _mail_ticket(desk)
    path = _link(ticket["id"])
    assert _post(desk, path, "opened")[0] == 200
    opened_at = _ticket(desk, ticket["id"])["kb_links"]["opened_at"]
    assert repository.get_ticket(ticket["id"]).timer_at <= _plus_hours(opened_at, 72)  # the sweep will look

    desk.advance(hours=71)
    desk.run_schedules()
    assert _ticket(desk, ticket["id"])["status"] == "open"

    desk.advance(hours=2)
    desk.run_schedules()
    desk.run_schedules()  # a second (or overlapping) sweep settles nothing more
    settled = _ticket(desk, ticket["id"])
    assert settled["status"] == "solved" and settled["deflection"]["how"] == "silent"
    entry = settled["audit"][-1]
    assert (entry["action"], entry["actor"], entry["actor_name"]) == ("deflected", "self-service", "Self-service")
    assert entry["detail"].startswith(f"solved by self-service: the customer opened the suggested article {ARTICLE}")
    assert [a["action"] for a in settled["audit"]].count("deflected") == 1
    assert (_report(desk, admin_token)["totals"]["deflected"]) == 1

    # Days later the customer says the article did not help after all: the ticket goes back to the team.
    assert _post(desk, path, "not_solved")[1] == {"recorded": True, "answer": "not_solved", "deflected": True,
                                                  "language": "en"}
    reopened = _ticket(desk, ticket["id"])
    assert reopened["status"] == "open" and reopened["audit"][-1]["action"] == "reopened"


def _plus_hours(stamp: str, hours: int) -> str:
    from chalicelib import clock

    return clock.iso(clock.parse_iso(stamp) + timedelta(hours=hours))


def test_writing_again_or_an_agent_reply_keeps_the_ticket_with_the_team(desk, imported, admin_token):
    wrote = _mail_ticket(desk, sender="Ann Customer <ann@customer.example>")
    answered = _mail_ticket(desk, sender="Bo Buyer <bo@buyer.example>", subject="Password help")
    for ticket in (wrote, answered):
        assert _post(desk, _link(ticket["id"]), "opened")[0] == 200
    desk.advance(hours=1)
    desk.receive_email(compose(sender="Ann Customer <ann@customer.example>", subject=f"Re: [#{wrote['number']}]",
                               body="The article did not help, the reset mail never comes."))
    desk.pump()
    assert _ticket(desk, wrote["id"])["message_count"] == 2
    status, _ = call(desk, "post", f"/tickets/{answered['id']}/replies", admin_token,
                     {"text": "I have sent you a new reset link."})
    assert status in (200, 201, 202)

    # A "yes" after the agent's answer is recorded for the agent, but it is the team's solve, not self-service's.
    assert _post(desk, _link(answered["id"]), "solved")[1] == {"recorded": True, "answer": "solved",
                                                               "deflected": False, "language": "en"}
    desk.advance(hours=80)
    desk.run_schedules()
    for ticket in (wrote, answered):
        stored = _ticket(desk, ticket["id"])
        assert stored["status"] == "open" and stored["deflection"] is None, stored["audit"][-1]
    assert _report(desk, admin_token)["totals"]["deflected"] == 0


def test_a_window_of_zero_turns_silent_deflection_off(tmp_path: Path):
    bundled = json.loads((Path(__file__).parents[2] / "chalicelib" / "desk_settings.json").read_text())
    settings = tmp_path / "desk_settings.json"
    settings.write_text(json.dumps({**bundled, "deflection_window_hours": 0}))
    with LocalDesk(settings_path=settings) as desk:
        ticket = _mail_ticket(desk)
        assert _post(desk, _link(ticket["id"]), "opened")[0] == 200
        desk.advance(days=10)
        desk.run_schedules()
        assert _ticket(desk, ticket["id"])["status"] == "open"


def test_the_ticket_view_shows_the_suggested_articles_the_pipeline_stored(desk, imported):
    """The acknowledgement's suggestions travel on the new ticket (``NewTicket.kb_suggested``, set by the pipeline)."""
    ticket = _mail_ticket(desk, sender="Cy <cy@customer.example>")
    assert ARTICLE in ticket["kb_suggested"] and len(ticket["kb_suggested"]) <= 3
    nothing = _mail_ticket(desk, sender="Di <di@customer.example>", subject="qwxz", body="zxqv plmkj wqpfh xkcdq")
    assert nothing["kb_suggested"] == []  # the fixed self-help links are no suggestions


# --------------------------------------------------------------------------- bad input


def test_forged_garbled_expired_and_other_tickets_links_are_refused_and_nothing_leaks(desk, imported):
    ticket = _mail_ticket(desk)
    other = _mail_ticket(desk, sender="Bo Buyer <bo@buyer.example>", subject="Refund please")
    path = _link(ticket["id"])
    token = path.rsplit("/", 1)[1]
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    cases = {
        f"/kb/go/{flipped}": (403, "bad_signature"),
        "/kb/go/k1.not-a-token": (400, "malformed_token"),
        "/kb/go/s1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA": (400, "malformed_token"),  # a survey's shape
        "/kb/go/" + "k1." + "A" * 600: (400, "malformed_token"),
        "/kb/go/%00%01": (400, "malformed_token"),
    }
    for bad, (status, code) in cases.items():
        for method in ("get", "post"):
            answered, body = call(desk, method, bad, body={"event": "solved"})
            assert (answered, body["error"]) == (status, code), (method, bad, body)
            assert ticket["subject"] not in json.dumps(body)

    from chalicelib.service import kb_tracking

    gone = _path(kb_tracking.tracked_url("t-0123456789abcdef0123", ARTICLE))  # genuine, but no such ticket
    assert desk.http.get(gone).status_code == 302  # the article is public; nothing is recorded
    status, body = _post(desk, gone, "opened")
    assert status == 404 and body["error"] == "not_found" and "t-0123" not in body["reason"]

    for raw, status, code in ((b"x" * 5000, 413, "payload_too_large"), (b"{not json", 400, "bad_request"),
                              (b'{"event": "maybe"}', 400, "bad_request"),
                              (b'{"event": "solved", "ticket_id": "t-1"}', 400, "bad_request"),
                              (b"[]", 400, "bad_request"), (b"", 400, "bad_request")):
        answered, body = call(desk, "post", path, raw=raw)
        assert (answered, body["error"]) == (status, code), (raw[:30], body)

    desk.advance(days=366)
    assert call(desk, "get", path)[0] == 410
    assert _post(desk, path, "solved")[1]["error"] == "expired"
    untouched = {t["id"]: t for t in desk.tickets()}
    assert untouched[ticket["id"]]["kb_links"] is None and untouched[ticket["id"]]["status"] == "open"
    assert untouched[other["id"]]["version"] == other["version"]  # one ticket's link never touches another



def test_without_a_secret_links_are_neither_made_nor_followed(desk, monkeypatch):
    """No REPLY_ADDRESS_SECRET (nor its SSM parameter): 503, never a 500 or an unsigned link."""
    from chalicelib import secrets
    from chalicelib.service import kb_tracking

    monkeypatch.setattr(secrets, "get", lambda name: None)  # the stage's variable unset, SSM has nothing
    with pytest.raises(kb_tracking.LinkNotConfigured):
        kb_tracking.tracked_url("t-0123456789abcdef0123", ARTICLE)
    for method in ("get", "post"):
        status, body = call(desk, method, "/kb/go/k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", body={"event": "opened"})
        assert (status, body["error"]) == (503, "not_configured"), (method, body)
