"""Satisfaction surveys through the real flow: solved → an hour later one survey on its channel → one answer.

Tickets arrive as mail (or a signed Slack message), an agent answers and solves them through
the API, the desk's clock moves on and the schedule runs as EventBridge would. What a
customer and a support lead notice: exactly one survey message with five signed links in
the customer's language, a link that opens a page and records nothing (mail scanners open
links), the page's form that records rating, NPS, CES and comment, every misuse of a link
refused (a JSON reason for API callers, a page with the same status for a browser) and
nothing recorded, a bad rating putting the ticket back in front of the team, CES in the
KPI report.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from tests import chat
from tests.mail import compose

SURVEY_SECRET = "survey-secret-for-tests-3f9a1c"
QUESTION = "How did we do? Rate 1–5"
LINK = re.compile(r"(https://desk\.example/surveys/(s1\.[A-Za-z0-9_-]+)\?rating=([0-9]+))")


@pytest.fixture
def environment():
    """The chat platforms' secrets and PUBLIC_BASE_URL (https://desk.example); tests add survey settings."""
    return dict(chat.SECRETS)


# --------------------------------------------------------------------------- helpers


def _agent_call(desk, method, path, token, body=None):
    response = getattr(desk.http, method)(path, headers={"Authorization": f"Bearer {token}",
                                                         "Content-Type": "application/json"},
                                          body=json.dumps(body) if body is not None else None)
    return response.status_code, json.loads(response.body or b"null")


def _ticket(desk, subject):
    (found,) = [t for t in desk.tickets() if t["subject"] == subject]
    return found


def _stored(ticket_id):
    from chalicelib.storage import repository

    return repository.get_ticket(ticket_id)


def _solve(desk, agent, ticket_id, reply="We have sent a replacement."):
    """The agent answers (unless ``reply`` is None: nobody answers spam) and solves the ticket."""
    if reply is not None:
        assert _agent_call(desk, "post", f"/tickets/{ticket_id}/replies", agent, {"text": reply})[0] == 201
    assert _agent_call(desk, "patch", f"/tickets/{ticket_id}", agent, {"status": "solved"})[0] == 200
    desk.pump()


def _solved_mail_ticket(desk, agent, subject, sender="Ann Customer <ann@customer.example>", *,
                        reply="We have sent a replacement.", headers=None, **verdicts):
    desk.receive_email(compose(subject=subject, sender=sender, headers=headers), **verdicts)
    desk.pump()
    ticket_id = _ticket(desk, subject)["id"]
    _solve(desk, agent, ticket_id, reply)
    return ticket_id


def _an_hour_later(desk):
    desk.advance(minutes=61)
    desk.run_schedules()
    desk.pump()


def _text(mail):
    return mail.get_body(preferencelist=("plain",)).get_content()


def _survey_mails(desk):
    return [mail for mail in desk.sent_emails() if QUESTION in _text(mail)]


def _links(text):
    """(rating, token) of every survey link in a message, in order."""
    return [(int(rating), token) for _, token, rating in LINK.findall(text)]


def _token_of(mail):
    tokens = {token for _, token in _links(_text(mail))}
    assert len(tokens) == 1, tokens
    return tokens.pop()


def _get(desk, token, rating=None, query=None):
    path = f"/surveys/{token}" + (f"?rating={rating}" if rating is not None else "") + (query or "")
    return desk.http.get(path)


def _post_json(desk, token, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return desk.http.post(f"/surveys/{token}", headers={"Content-Type": "application/json"}, body=raw)


def _post_form(desk, token, form):
    raw = form if isinstance(form, bytes) else form.encode()
    return desk.http.post(f"/surveys/{token}", headers={"Content-Type": "application/x-www-form-urlencoded"},
                          body=raw)


def _refused(response, status, error):
    """The desk's one error shape, with the survey's reason code."""
    assert (response.status_code, response.headers["Content-Type"]) == (status, "application/json"), response.body
    body = json.loads(response.body)
    assert body["error"] == error and body["reason"], body
    return body


def _nothing_recorded(ticket_id):
    from chalicelib.storage.models import LookupModel

    survey = _stored(ticket_id).survey
    return (survey is not None and "answered_at" not in survey
            and LookupModel.count(f"survey:{survey['nonce']}") == 0)


def _kpis_today(group_kind="all"):
    from chalicelib import clock
    from chalicelib.storage import aggregates

    today = clock.now().date()
    return {a.group: dict(a.counters) for a in aggregates.read(today, today, group_kind)}


# --------------------------------------------------------------------------- the survey goes out once


def test_a_solved_ticket_gets_one_survey_an_hour_later_and_a_click_records_the_rating(desk):
    from chalicelib import clock

    ann_id, ann = desk.add_agent("Ann", "ann@example.com")
    ticket_id = _solved_mail_ticket(desk, ann, "Parcel never arrived")
    solved = _ticket(desk, "Parcel never arrived")

    desk.advance(minutes=59)
    desk.run_schedules()
    desk.pump()
    assert _survey_mails(desk) == []  # not before the hour is up

    desk.advance(minutes=2)
    desk.run_schedules()
    desk.pump()
    desk.run_schedules()  # EventBridge may deliver twice; later sweeps find nothing more to do
    desk.advance(hours=3)
    desk.run_schedules()
    desk.pump()
    (mail,) = _survey_mails(desk)
    assert mail["To"] == "Ann Customer <ann@customer.example>" and mail["Subject"] == "Re: Parcel never arrived [#1]"
    assert "your request #1 (Parcel never arrived)" in _text(mail)
    links = _links(_text(mail))
    assert [rating for rating, _ in links] == [5, 4, 3, 2, 1] and len({token for _, token in links}) == 1
    token = _token_of(mail)

    ticket = _ticket(desk, "Parcel never arrived")
    (survey_message,) = [m for m in ticket["messages"] if m["kind"] == "automated"]
    assert survey_message["delivery"] == "sent" and survey_message["channel"] == "email"
    assert ticket["status"] == "solved" and ticket["first_response_at"] == solved["first_response_at"]
    assert any(e["actor"] == "automation:csat-survey" for e in ticket["audit"])
    sent = _stored(ticket_id).survey
    assert set(sent) == {"sent_at", "nonce", "expires_at"}
    valid_for = clock.parse_iso(sent["expires_at"]) - clock.parse_iso(sent["sent_at"])
    assert timedelta(days=14, seconds=-1) < valid_for <= timedelta(days=14)  # SURVEY_TTL_DAYS' default

    described = _get(desk, token)
    assert described.status_code == 200 and described.headers["Cache-Control"] == "no-store"
    assert json.loads(described.body)["ticket_number"] == 1 and not json.loads(described.body)["answered"]
    assert [q["name"] for q in json.loads(described.body)["questions"]] == ["rating", "comment", "nps", "ces"]

    clicked = _get(desk, token, rating=4)  # a mail scanner opening every link: nothing is recorded
    assert clicked.status_code == 200 and clicked.headers["Referrer-Policy"] == "no-referrer"
    assert json.loads(clicked.body)["rating"] == 4 and json.loads(clicked.body)["language"] == "en"
    assert all(_get(desk, token, rating=r).status_code == 200 for r in (5, 3, 2, 1)) and _nothing_recorded(ticket_id)
    confirmed = _post_form(desk, token, "rating=4")
    assert confirmed.status_code == 200 and confirmed.headers["Referrer-Policy"] == "no-referrer"
    assert json.loads(confirmed.body)["status"] == "recorded" and json.loads(confirmed.body)["rating"] == 4
    status, shown = _agent_call(desk, "get", f"/tickets/{ticket_id}", ann)
    assert status == 200 and shown["status"] == "solved" and "low_csat" not in shown["tags"]
    (entry,) = [e for e in shown["audit"] if e["action"] == "survey_answered"]
    assert entry["actor"] == "customer" and entry["detail"] == "CSAT 4/5"
    answered = _stored(ticket_id).survey
    assert answered["rating"] == 4 and answered["answered_at"] and answered["nonce"] == sent["nonce"]
    kpis = _kpis_today()
    assert kpis["all"]["csat_responses"] == 1 and kpis["all"]["csat_satisfied"] == 1
    assert _kpis_today("agent")[ann_id]["csat_responses"] == 1

    _refused(_post_form(desk, token, "rating=1"), 409, "already_answered")  # reused: the first answer stands
    _refused(_post_json(desk, token, {"rating": 2, "comment": "changed my mind"}), 409, "already_answered")
    assert _stored(ticket_id).survey == answered and _kpis_today()["all"]["csat_responses"] == 1
    assert json.loads(_get(desk, token).body)["answered"] is True


def test_a_chat_ticket_gets_its_survey_in_the_chat(desk):
    _, ann = desk.add_agent("Ann", "ann@example.com")
    assert chat.post_slack(desk, chat.slack_message(text="My order 1234 arrived broken")).status_code == 200
    desk.pump()
    (ticket,) = desk.tickets()
    _solve(desk, ann, ticket["id"], reply="A replacement is on its way.")
    before = len(desk.sent_chat_messages())

    _an_hour_later(desk)
    desk.run_schedules()
    desk.pump()
    new = desk.sent_chat_messages()[before:]
    assert [m["platform"] for m in new] == ["slack"] and QUESTION in new[0]["text"]
    assert [rating for rating, _ in _links(new[0]["text"])] == [5, 4, 3, 2, 1]
    assert _survey_mails(desk) == []  # the customer wrote in Slack: no mail
    token = _links(new[0]["text"])[0][1]
    assert _post_json(desk, token, {"rating": 5, "nps": 10, "ces": 7}).status_code == 200
    assert _stored(ticket["id"]).survey["nps"] == 10
    assert _kpis_today("channel")["slack"]["nps_promoters"] == 1


def test_spam_machine_opened_and_merged_tickets_never_get_a_survey(desk):
    from chalicelib.service import surveys

    _, ann = desk.add_agent("Ann", "ann@example.com")
    spam_id = _solved_mail_ticket(desk, ann, "You won a prize", "Prize <win@lottery.example>", reply=None,
                                  spam="FAIL")
    marked_id = _solved_mail_ticket(desk, ann, "Cheap watches", "Watch <deal@watches.example>", reply=None)
    assert _agent_call(desk, "patch", f"/tickets/{marked_id}", ann, {"status": "spam"})[0] == 200
    assert _agent_call(desk, "patch", f"/tickets/{marked_id}", ann, {"status": "solved"})[0] == 200
    auto_id = _solved_mail_ticket(desk, ann, "Automatic reply: order", "Bo <bo@customer.example>",
                                  headers={"Auto-Submitted": "auto-replied"})
    duplicate_id = _solved_mail_ticket(desk, ann, "Parcel question", "Cy <cy@customer.example>")
    survivor_id = _solved_mail_ticket(desk, ann, "Parcel question again", "Cy <cy@customer.example>")
    assert _agent_call(desk, "post", f"/tickets/{duplicate_id}/merge", ann, {"into": survivor_id})[0] == 200
    assert _stored(auto_id).auto_submitted is True and _stored(spam_id).quarantine_reason
    assert {_stored(t).status for t in (spam_id, marked_id, auto_id, survivor_id)} == {"solved"}

    _an_hour_later(desk)
    surveyed = {t["subject"] for t in desk.tickets() if _stored(t["id"]).survey}
    assert surveyed == {"Parcel question again"}
    assert [mail["To"].addresses[0].username for mail in _survey_mails(desk)] == ["cy"]
    assert not any(surveys.send(_stored(ticket_id)) for ticket_id in (spam_id, marked_id, auto_id, duplicate_id,
                                                                       survivor_id))
    desk.pump()
    assert len(_survey_mails(desk)) == 1


# --------------------------------------------------------------------------- links that must not work


@pytest.mark.parametrize("environment", [{**chat.SECRETS, "SURVEY_SECRET": SURVEY_SECRET}], ids=["SURVEY_SECRET"])
def test_forged_foreign_and_expired_links_are_refused_and_record_nothing(desk):
    from chalicelib import clock
    from chalicelib.domain import survey_tokens

    _, ann = desk.add_agent("Ann", "ann@example.com")
    first_id = _solved_mail_ticket(desk, ann, "Broken lamp")
    second_id = _solved_mail_ticket(desk, ann, "Late sofa", sender="Bo <bo@customer.example>")
    _an_hour_later(desk)
    tokens = {mail["To"].addresses[0].username: _token_of(mail) for mail in _survey_mails(desk)}
    first, second = tokens["ann"], tokens["bo"]
    signed_with = survey_tokens.verify(first, secret=SURVEY_SECRET.encode(), now=clock.now())
    assert signed_with.ticket_id == first_id  # SURVEY_SECRET, when set, is the key

    middle = len(first) // 2
    forged = first[:middle] + ("B" if first[middle] != "B" else "C") + first[middle + 1:]
    _refused(_get(desk, forged, rating=5), 403, "bad_signature")
    _refused(_post_json(desk, forged, {"rating": 5}), 403, "bad_signature")
    _refused(_get(desk, first[:12], rating=5), 400, "malformed_token")
    _refused(_get(desk, "not-a-token", rating=5), 400, "malformed_token")
    other_secret = survey_tokens.issue(first_id, secret=b"someone else's key, 32 bytes ok", now=clock.now(),
                                       ttl=timedelta(days=1), nonce=_stored(first_id).survey["nonce"])
    _refused(_get(desk, other_secret, rating=5), 403, "bad_signature")
    # Genuinely signed, but naming the first ticket with the second ticket's nonce: not the first's survey.
    crossed = survey_tokens.issue(first_id, secret=SURVEY_SECRET.encode(), now=clock.now(), ttl=timedelta(days=1),
                                  nonce=_stored(second_id).survey["nonce"])
    _refused(_get(desk, crossed, rating=1), 403, "wrong_ticket")
    assert _nothing_recorded(first_id) and _nothing_recorded(second_id)

    assert _post_json(desk, second, {"rating": 5}).status_code == 200  # the second link answers the second only
    assert _stored(second_id).survey["rating"] == 5 and _nothing_recorded(first_id)

    desk.advance(days=15)
    desk.run_schedules()  # solved-auto-close has closed both meanwhile
    _refused(_get(desk, first, rating=5), 410, "expired")
    _refused(_get(desk, first), 410, "expired")
    _refused(_post_form(desk, first, "rating=5"), 410, "expired")
    assert _nothing_recorded(first_id) and _stored(first_id).status == "closed"
    assert "csat_responses" not in _kpis_today().get("all", {})  # the second answer counted on its day


BAD_ANSWERS = [
    ("json", {"rating": 6}, 400, "invalid_answer"),
    ("json", {"rating": 0}, 400, "invalid_answer"),
    ("json", {"rating": "5"}, 400, "invalid_answer"),
    ("json", {"rating": True}, 400, "invalid_answer"),
    ("json", {"rating": 4.5}, 400, "invalid_answer"),
    ("json", {"rating": None}, 400, "invalid_answer"),
    ("json", {}, 400, "invalid_answer"),
    ("json", {"rating": 5, "mood": "happy"}, 400, "invalid_answer"),
    ("json", {"rating": 5, "nps": 11}, 400, "invalid_answer"),
    ("json", {"rating": 5, "ces": 0}, 400, "invalid_answer"),
    ("json", {"rating": 5, "comment": 42}, 400, "invalid_answer"),
    ("json", {"rating": 5, "comment": "x" * 2001}, 400, "invalid_answer"),
    ("json", [5], 400, "bad_request"),
    ("json", b'{"rating": 5', 400, "bad_request"),
    ("json", b"", 400, "bad_request"),
    ("json", b'{"rating": 5, "comment": "' + b"x" * 40_000 + b'"}', 413, "payload_too_large"),
    ("form", "rating=5&&&", 400, "bad_request"),
    ("form", "%%%garbage", 400, "bad_request"),
    ("form", b"rating=5&comment=%FF%FE", 400, "bad_request"),
    ("form", "rating=1&rating=5", 400, "bad_request"),
    ("form", "rating=%%%", 400, "invalid_answer"),
    ("form", "rating=", 400, "invalid_answer"),
    ("form", "rating=5&mood=happy", 400, "invalid_answer"),
    ("form", urlencode({"rating": "5", "comment": "y" * 2001}), 400, "invalid_answer"),
    ("form", "&".join(f"f{i}=1" for i in range(20)), 400, "bad_request"),
    ("get", "6", 400, "invalid_answer"),
    ("get", "abc", 400, "invalid_answer"),
    ("get", "5&rating=1", 400, "bad_request"),
]


def test_bad_answers_are_refused_with_a_reason_and_record_nothing(desk):
    _, ann = desk.add_agent("Ann", "ann@example.com")
    ticket_id = _solved_mail_ticket(desk, ann, "Wrong size")
    _an_hour_later(desk)
    token = _token_of(_survey_mails(desk)[0])
    send = {"json": _post_json, "form": _post_form, "get": lambda d, t, v: _get(d, t, rating=v)}

    refusals = [(kind, body, _refused(send[kind](desk, token, body), status, error))
                for kind, body, status, error in BAD_ANSWERS]
    assert len(refusals) == len(BAD_ANSWERS)
    assert "rating must be a whole number from 1 to 5" in refusals[0][2]["reason"]
    assert "mood" in refusals[7][2]["reason"]
    assert _nothing_recorded(ticket_id) and "csat_responses" not in _kpis_today().get("all", {})
    assert not [e for e in _ticket(desk, "Wrong size")["audit"] if e["action"] == "survey_answered"]

    answered = _post_form(desk, token, "rating=4&comment=Quick+and+kind%21&nps=9&ces=")  # a plain HTML form
    assert answered.status_code == 200, answered.body
    recorded = _stored(ticket_id).survey
    assert {"rating": 4, "comment": "Quick and kind!", "nps": 9, "ces": None}.items() <= recorded.items()


# --------------------------------------------------------------------------- a bad rating comes back


def test_a_bad_rating_reopens_the_ticket_for_the_team(desk):
    ann_id, ann = desk.add_agent("Ann", "ann@example.com")
    ticket_id = _solved_mail_ticket(desk, ann, "Refund still missing")
    _an_hour_later(desk)
    token = _token_of(_survey_mails(desk)[0])

    response = _post_json(desk, token, {"rating": 1, "comment": "  Nobody read my mail.  ", "nps": 2})
    assert response.status_code == 200 and "sorry" in json.loads(response.body)["message"]
    status, ticket = _agent_call(desk, "get", f"/tickets/{ticket_id}", ann)
    assert status == 200 and ticket["status"] == "open" and ticket["reopen_count"] == 1
    assert "low_csat" in ticket["tags"] and ticket["assignee_id"] == ann_id
    assert {"actor": "customer", "action": "survey_answered"}.items() <= next(
        e for e in ticket["audit"] if e["action"] == "survey_answered").items()
    assert "comment: Nobody read my mail." in next(e["detail"] for e in ticket["audit"]
                                                   if e["action"] == "survey_answered")
    assert _stored(ticket_id).survey["comment"] == "Nobody read my mail."
    kpis = _kpis_today()["all"]
    assert kpis["csat_responses"] == 1 and "csat_satisfied" not in kpis and kpis["nps_detractors"] == 1

    assert _agent_call(desk, "patch", f"/tickets/{ticket_id}", ann, {"status": "solved"})[0] == 200
    _an_hour_later(desk)  # solved again: the timer fires again, but a ticket is surveyed once
    assert len(_survey_mails(desk)) == 1 and _stored(ticket_id).survey["rating"] == 1


@pytest.mark.parametrize("environment", [{**chat.SECRETS, "SURVEY_LOW_RATING_ACTION": "flag"}], ids=["flag"])
def test_a_bad_rating_flags_the_ticket_when_configured(desk):
    _, ann = desk.add_agent("Ann", "ann@example.com")
    _solved_mail_ticket(desk, ann, "Scratched table")
    _an_hour_later(desk)
    assert _ticket(desk, "Scratched table")["priority"] == "normal"

    assert _post_json(desk, _token_of(_survey_mails(desk)[0]), {"rating": 2}).status_code == 200
    ticket = _ticket(desk, "Scratched table")
    assert ticket["status"] == "solved" and ticket["reopen_count"] == 0
    assert "low_csat" in ticket["tags"] and ticket["priority"] == "high"  # one step up
    assert any(e["actor"] == "customer" and e["changes"] and "priority" in e["changes"] for e in ticket["audit"])


# --------------------------------------------------------------------------- settings


def test_without_any_secret_no_survey_is_recorded_or_sent(monkeypatch):
    from chalicelib.service import surveys
    from chalicelib.storage.models import TicketModel

    monkeypatch.delenv("SURVEY_SECRET", raising=False)
    monkeypatch.delenv("SECRETS_SSM_PREFIX", raising=False)
    monkeypatch.setenv("REPLY_ADDRESS_SECRET", "")
    solved = TicketModel("t-0123456789abcdef0123", number=7, status="solved", priority="normal", channel="email",
                         customer_id="c-1", created_at="2026-11-23T10:00:00.000000Z",
                         last_activity_at="2026-11-23T10:00:00.000000Z")
    assert surveys.send(solved) is False and solved.survey is None  # refused before any write
    with pytest.raises(surveys.SurveyNotConfigured, match="SURVEY_SECRET"):
        surveys.describe("s1.AAAA")


@pytest.mark.parametrize("setting,value,expected", [
    ("SURVEY_SECRET", "too-short", "at least 16 bytes"),
    ("SURVEY_TTL_DAYS", "two weeks", "SURVEY_TTL_DAYS must be a whole number of days"),
])
def test_a_bad_survey_setting_is_a_503_that_names_it(desk, monkeypatch, setting, value, expected):
    from chalicelib.service import surveys

    monkeypatch.setenv(setting, value)
    if setting == "SURVEY_SECRET":
        body = _refused(_get(desk, "s1.AAAA", rating=5), 503, "not_configured")
    else:
        with pytest.raises(surveys.SurveyNotConfigured) as caught:
            surveys._ttl()
        body = {"reason": caught.value.reason}
    assert expected in body["reason"]


def test_links_use_public_base_url(monkeypatch):
    from chalicelib.service import surveys

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://help.shop.example/api/")
    assert surveys.link("s1.abc", 3) == "https://help.shop.example/api/surveys/s1.abc?rating=3"
    monkeypatch.delenv("PUBLIC_BASE_URL")
    assert surveys.link("s1.abc") == "https://support.example.com/surveys/s1.abc"


# --------------------------------------------------------------------------- the page a person answers on

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"}
FORM = {**BROWSER, "Content-Type": "application/x-www-form-urlencoded"}


def _page(desk, token, rating=None, headers=None):
    path = f"/surveys/{token}" + (f"?rating={rating}" if rating is not None else "")
    return desk.http.get(path, headers={**BROWSER, **(headers or {})})


def _submit(desk, token, form, headers=None):
    raw = form if isinstance(form, bytes) else (form if isinstance(form, str) else urlencode(form)).encode()
    return desk.http.post(f"/surveys/{token}", headers={**FORM, **(headers or {})}, body=raw)


def _html(response, status):
    """A page for a person: the status, HTML, the desk's CSP (forms post to the desk only), never cached."""
    from chalicelib.api import static

    assert response.status_code == status, response.body[:2000]
    headers = response.headers
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == static.content_security_policy(form_action="'self'")
    assert "form-action 'self'" in headers["Content-Security-Policy"]
    assert (headers["Cache-Control"], headers["Referrer-Policy"]) == ("no-store", "no-referrer")
    text = response.body.decode() if isinstance(response.body, bytes) else response.body
    assert "<script" not in text and "style=" not in text and "<style" not in text  # the CSP allows neither
    assert '<link rel="stylesheet" href="../survey.css">' in text
    return text


def _checked(text, name):
    """The values of the radio buttons named ``name`` that are checked."""
    return re.findall(rf'name="{name}" value="([0-9]*)"(?: required)? checked', text)


def test_the_link_opens_a_page_that_records_nothing_and_only_its_form_records(desk, admin_token):
    from chalicelib.storage.models import LookupModel

    ann_id, ann = desk.add_agent("Ann", "ann@example.com")
    ticket_id = _solved_mail_ticket(desk, ann, "Parcel never arrived")
    _an_hour_later(desk)
    (mail,) = _survey_mails(desk)
    assert "opens a short page where you confirm your rating" in _text(mail)
    token = _token_of(mail)

    page = _html(_page(desk, token, rating=4), 200)
    assert '<html lang="en">' in page and "How did we do?" in page and "About your request #1" in page
    assert _checked(page, "rating") == ["4"] and _checked(page, "nps") == [""] and _checked(page, "ces") == [""]
    assert f'<form method="post" action="{token}"' in page and page.count('name="nps"') == 12
    assert page.count('name="ces"') == 8 and 'maxlength="2000"' in page and "Strongly agree" in page
    # What link scanners do: open every link, with and without a browser's Accept, and HEAD.
    for rating in (5, 4, 3, 2, 1):
        assert _page(desk, token, rating=rating).status_code == 200
        assert desk.http.get(f"/surveys/{token}?rating={rating}").status_code == 200
        assert desk.http.request("HEAD", f"/surveys/{token}?rating={rating}", headers=BROWSER).status_code >= 400
    assert _nothing_recorded(ticket_id) and "csat_responses" not in _kpis_today().get("all", {})

    comment = '<script>alert("hi")</script> & thanks <b>a lot</b>'
    thanks = _html(_submit(desk, token, {"rating": "4", "nps": "9", "ces": "6", "comment": comment}), 200)
    assert "Thank you!" in thanks and "Your answer has been recorded." in thanks
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt; &amp; thanks &lt;b&gt;a lot&lt;/b&gt;" in thanks
    assert "4 – Satisfied" in thanks and "6 – Agree" in thanks and "<b>a lot" not in thanks
    survey = _stored(ticket_id).survey
    assert {"rating": 4, "nps": 9, "ces": 6, "comment": comment}.items() <= survey.items()
    assert LookupModel.count(f"survey:{survey['nonce']}") == 1
    kpis = _kpis_today()["all"]
    assert (kpis["csat_responses"], kpis["nps_promoters"], kpis["ces_responses"], kpis["ces_6"]) == (1, 1, 1, 1)

    status, report = _agent_call(desk, "get", "/reports/kpis?group_by=agent", admin_token)
    assert status == 200, report
    (row,) = [r for r in report["rows"] if r["group"] == ann_id]
    assert (row["ces_responses"], row["ces_average"], row["ces_easy_pct"]) == (1, 6.0, 100.0)
    assert row["ces_distribution"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0, "6": 1, "7": 0}
    assert (row["nps_responses"], row["nps"], row["csat_pct"]) == (1, 100.0, 100.0)

    again = _html(_page(desk, token, rating=1), 409)
    assert "Already answered" in again and "<form" not in again
    assert "Already answered" in _html(_submit(desk, token, "rating=1"), 409)
    assert _stored(ticket_id).survey == survey  # the first answer stands

    css = desk.http.get("/survey.css")
    assert css.status_code == 200 and css.headers["Content-Type"] == "text/css; charset=utf-8"


LANGUAGES = [
    ("en", "Hello, order 1234 has not arrived. Can you help me with this please?",
     "How did we do? Rate 1–5", "5 – Very satisfied: ", "How did we do?", "Send my answer", "Thank you!"),
    ("da", "Hej, jeg har ikke modtaget min pakke endnu. Hvad sker der? Venlig hilsen Ann",
     "Hvordan klarede vi det? Giv en bedømmelse fra 1 til 5", "5 – Meget tilfreds: ", "Hvordan klarede vi det?",
     "Send mit svar", "Tak!"),
    ("no", "Hei, jeg har ikke mottatt pakken min ennå. Hva skjer? Vennlig hilsen Ann",
     "Hvordan gjorde vi det? Gi en vurdering fra 1 til 5", "5 – Svært fornøyd: ", "Hvordan gjorde vi det?",
     "Send svaret mitt", "Takk!"),
]


@pytest.mark.parametrize("language,body,mail_intro,mail_link,heading,button,thanks", LANGUAGES,
                         ids=[case[0] for case in LANGUAGES])
def test_mail_and_page_are_in_the_customers_language(desk, language, body, mail_intro, mail_link, heading,
                                                     button, thanks):
    _, ann = desk.add_agent("Ann", "ann@example.com")
    desk.receive_email(compose(subject="Pakke / parcel", body=body))
    desk.pump()
    ticket_id = _ticket(desk, "Pakke / parcel")["id"]
    assert _stored(ticket_id).language == language
    _solve(desk, ann, ticket_id)
    _an_hour_later(desk)
    (mail,) = [m for m in desk.sent_emails() if mail_intro in _text(m)]
    assert mail_link in _text(mail) and len(_links(_text(mail))) == 5
    token = _token_of(mail)

    page = _html(_page(desk, token, rating=5), 200)
    assert f'<html lang="{language}">' in page and heading in page and button in page
    assert _checked(page, "rating") == ["5"]
    assert json.loads(_get(desk, token).body)["language"] == language  # and for API callers
    done = _html(_submit(desk, token, "rating=5&nps=10&ces=7&comment=Tak+%2F+takk+%2F+thanks"), 200)
    assert thanks in done and f'<html lang="{language}">' in done and "Tak / takk / thanks" in done
    assert {"rating": 5, "nps": 10, "ces": 7}.items() <= _stored(ticket_id).survey.items()
    assert f'<html lang="{language}">' in _html(_page(desk, token), 409)


@pytest.mark.parametrize("environment", [{**chat.SECRETS, "SURVEY_SECRET": SURVEY_SECRET}], ids=["SURVEY_SECRET"])
def test_forged_cut_expired_and_answered_links_get_pages_with_their_status(desk):
    from chalicelib import clock
    from chalicelib.domain import survey_tokens

    _, ann = desk.add_agent("Ann", "ann@example.com")
    ticket_id = _solved_mail_ticket(desk, ann, "Broken lamp")
    _an_hour_later(desk)
    token = _token_of(_survey_mails(desk)[0])
    middle = len(token) // 2
    forged = token[:middle] + ("B" if token[middle] != "B" else "C") + token[middle + 1:]

    assert "This link is not valid" in _html(_page(desk, forged, rating=5), 403)
    assert "This link is not valid" in _html(_submit(desk, forged, "rating=5"), 403)
    assert "changed or cut short" in _html(_page(desk, token[:20], rating=5), 400)
    danish = _html(_page(desk, forged, headers={"Accept-Language": "da-DK,da;q=0.9,en;q=0.5"}), 403)
    assert '<html lang="da">' in danish and "Linket er ikke gyldigt" in danish  # no ticket: the browser's language
    norwegian = _html(_page(desk, "not-a-token", headers={"Accept-Language": "nb-NO"}), 400)
    assert '<html lang="no">' in norwegian and "Lenken er ikke gyldig" in norwegian
    crossed = survey_tokens.issue("t-0123456789abcdef0123", secret=SURVEY_SECRET.encode(), now=clock.now(),
                                  ttl=timedelta(days=1), nonce="nonce-of-nothing")
    assert "not the survey link we sent" in _html(_page(desk, crossed), 403)
    # A "token" that is a script URL: refused, and never echoed into a link on the page.
    hostile = _html(_submit(desk, "javascript:alert(1)", b"%%%"), 400)
    assert "javascript:" not in hostile and "<a href" not in hostile
    assert _nothing_recorded(ticket_id)

    desk.advance(days=15)
    expired = _html(_page(desk, token, rating=5), 410)
    assert "This link has expired" in expired and "reply to our message" in expired
    assert "This link has expired" in _html(_submit(desk, token, "rating=5"), 410)
    assert _nothing_recorded(ticket_id)


def test_a_bad_answer_gets_the_form_again_with_what_to_fix_and_records_nothing(desk):
    _, ann = desk.add_agent("Ann", "ann@example.com")
    ticket_id = _solved_mail_ticket(desk, ann, "Wrong size")
    _an_hour_later(desk)
    token = _token_of(_survey_mails(desk)[0])

    mangled = _html(_page(desk, token, rating=9), 400)  # a link a mail client broke: choose again
    assert "The rating in the link is not one we know" in mangled and _checked(mangled, "rating") == []
    assert _html(_page(desk, token, rating="5&rating=1"), 400).count("checked") == 2  # NPS and CES: no answer
    no_rating = _html(_submit(desk, token, "nps=7&ces=3&comment=Hmm"), 400)
    assert "Please choose a rating from 1 to 5." in no_rating
    assert _checked(no_rating, "nps") == ["7"] and _checked(no_rating, "ces") == ["3"] and ">Hmm</textarea>" in no_rating
    long_comment = "<i>x</i>" * 251  # 2008 characters: one form field too long
    too_long = _html(_submit(desk, token, {"rating": "5", "comment": long_comment}), 400)
    assert "Your comment is too long" in too_long and _checked(too_long, "rating") == ["5"]
    assert "&lt;i&gt;x&lt;/i&gt;" in too_long and "<i>x</i>" not in too_long  # given back, escaped
    assert "Please choose a number from 0 to 10" in _html(_submit(desk, token, "rating=5&nps=11"), 400)
    assert "Please choose a number from 1 to 7" in _html(_submit(desk, token, "rating=5&ces=0"), 400)
    assert "something we do not ask for" in _html(_submit(desk, token, "rating=5&mood=happy"), 400)
    huge = _html(_submit(desk, token, urlencode({"rating": "5", "comment": "y" * 40_000})), 413)
    assert "That was more than we can take" in huge and f'<a href="{token}">' in huge
    assert "could not be read" in _html(_submit(desk, token, b"rating=5&comment=%FF%FE"), 400)
    assert "could not be read" in _html(_submit(desk, token, "rating=1&rating=5"), 400)
    assert _nothing_recorded(ticket_id) and "csat_responses" not in _kpis_today().get("all", {})

    assert "Thank you!" in _html(_submit(desk, token, "rating=5&nps=&ces=&comment="), 200)
    assert {"rating": 5, "nps": None, "ces": None, "comment": None}.items() <= _stored(ticket_id).survey.items()


@pytest.mark.parametrize("token", ["s1.", "s1." + "A" * 600, "%00", "s1.%F0%9F%99%82", "%3Cscript%3Ealert(1)",
                                   "s1.AAAA%22%3E%3Cb%3E"])
def test_hostile_links_get_a_refusal_page_never_an_error_nor_an_echo(desk, token):
    for response in (_page(desk, token, rating=5), _submit(desk, token, "rating=5&comment=%3Cb%3E")):
        text = _html(response, 400)
        assert "This link is not valid" in text and "<b>" not in text and "<a href" not in text


@pytest.mark.parametrize("token", ["..%2F..%2Fconsole", "%3Cscript%3Ealert(1)%3C%2Fscript%3E"])
def test_a_token_with_an_encoded_slash_is_another_path_404_without_an_echo(desk, token):
    """The HTTP API decodes the path before routing (%2F is a slash), so no survey route takes it."""
    for response in (_page(desk, token, rating=5), _submit(desk, token, "rating=5&comment=%3Cb%3E")):
        assert response.status_code == 404 and response.headers["Content-Type"] == "application/json"
        assert json.loads(response.body)["error"] == "not_found" and b"<" not in response.body
