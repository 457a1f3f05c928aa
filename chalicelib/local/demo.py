"""``make demo``: realistic mail and chat through the real handlers on an embedded local AWS.

Everything printed is read back from moto (DynamoDB, SES, SQS), from the stubbed chat
platforms or from the EMF metrics the functions emitted; nothing here is computed for show.
Every line fits ``WIDTH`` columns: tables shorten their widest columns at word boundaries
(with "…"), and prose is wrapped. Nothing leaves the machine: the chat platforms are
stubbed at the HTTP layer by ``LocalDesk``.
"""
from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from chalicelib.local import LocalDesk

WIDTH = 120  # columns: a terminal beside an editor
_DATE = format_datetime(datetime(2026, 11, 23, 8, 15, tzinfo=timezone.utc))
_MIN_COLUMN = 6  # a column never shrinks below this (or its header, if shorter)

# The Telegram bot the chat scene talks to (LocalDesk stubs api.telegram.org: these never leave the machine).
_TELEGRAM_SECRET_TOKEN = "demo-telegram-webhook-secret"
_ENVIRONMENT = {
    "TEAM_LEAD": "email:lead@example.com",
    "TELEGRAM_SECRET_TOKEN": _TELEGRAM_SECRET_TOKEN,
    "TELEGRAM_BOT_TOKEN": "7000000001:demo-bot-token-not-real",
}


def _mail(sender: str, subject: str, body: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Relay Desk Support <support@example.com>"
    message["Subject"] = subject
    message["Date"] = _DATE
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">"))
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


# --- output that fits ------------------------------------------------------------------------


def _text(value: object) -> str:
    """A cell's text: "-" for nothing (None, "", an empty list), one line."""
    if value is None or value == "" or value == [] or value == ():
        return "-"
    return " ".join(str(value).split())


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` columns: cut at the last word boundary that fits, marked "…"."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    cut = text[: width - 1]
    ends_a_word = not text[width - 1].isalnum()  # "b" in "a, b, c": the next character is not a letter
    space = cut.rfind(" ")
    if not ends_a_word and space >= width // 2:  # back to a boundary not too far back; else cut the long word
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def _fit(widths: list[int], minimums: list[int], width: int) -> list[int]:
    """Shrink the widest columns one column at a time until the row (two spaces between cells) fits."""
    widths = list(widths)
    while sum(widths) + 2 * (len(widths) - 1) > width:
        shrinkable = [i for i, w in enumerate(widths) if w > minimums[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(header)] + [[_text(c) for c in row] for row in rows]
    natural = [max(len(row[i]) for row in cells) for i in range(len(header))]
    widths = _fit(natural, [min(len(h), _MIN_COLUMN) if len(h) < _MIN_COLUMN else min(len(h), 12) for h in header],
                  WIDTH)
    print(f"\n{title}")
    line = "  ".join("-" * w for w in widths)
    print(line)
    for index, row in enumerate(cells):
        print("  ".join(shorten(c, w).ljust(w) for c, w in zip(row, widths)).rstrip())
        if index == 0:
            print(line)


def _say(text: str) -> None:
    """Prose, wrapped at word boundaries to ``WIDTH``."""
    print("\n" + textwrap.fill(" ".join(text.split()), WIDTH, break_long_words=True, break_on_hyphens=False))


def _address(header: object) -> str:
    """"Ann Jensen <ann@jensen.example>" → "ann@jensen.example"."""
    return parseaddr(str(header or ""))[1] or _text(header)


def json_changes(changes: dict | None, names: dict[str, str] | None = None) -> str:
    """An audit entry's changes, as people say them: "status open → solved", "priority normal" (set on a new
    ticket); agents by name (``names``: agent id → name)."""
    said = []
    for field, (old, new) in (changes or {}).items():
        label = "assignee" if field == "assignee_id" else field
        before, after = _value(old, names), _value(new, names)
        said.append(f"{label} {after}" if old in (None, [], "") else f"{label} {before} → {after}")
    return ", ".join(said)


def _value(value: object, names: dict[str, str] | None = None) -> str:
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value) or "none"
    if value is None:
        return "nobody"  # only assignees are ever emptied (a status or priority always has a value)
    return (names or {}).get(str(value), str(value))


def _who(identity: str, names: dict[str, str] | None = None) -> str:
    """An identity key as people read it: "email:ann@x.example" → "ann@x.example", "agent:a-…" → the agent's name."""
    kind, _, value = identity.partition(":")
    if kind == "agent":
        return (names or {}).get(value, value)
    return value or identity


def _api(desk: LocalDesk, method: str, path: str, token: str, body: dict | None = None) -> dict:
    response = getattr(desk.http, method)(path, headers={"Authorization": f"Bearer {token}",
                                                         "Content-Type": "application/json"},
                                          body=json.dumps(body) if body is not None else None)
    return json.loads(response.body)


# --- the scenes ------------------------------------------------------------------------------


def main() -> None:
    from chalicelib.observability import logger

    level = logger.log_level
    logger.setLevel("WARNING")  # the story, not the functions' INFO lines (make demo sets the same)
    try:
        _story()
    finally:
        logger.setLevel(level)


def _story() -> None:
    with LocalDesk(environment=_ENVIRONMENT) as desk:
        # The team: Mette answers logistics and account questions in Danish and English; Ola
        # takes billing in Norwegian and English, at most 2 tickets at once; Kim is off today.
        _, mette = desk.add_agent("Mette Holm", "mette@example.com", skills=("logistics", "account", "general"),
                                  languages=("da", "en"))
        _, ola = desk.add_agent("Ola Nordmann", "ola@example.com", skills=("billing", "general"),
                                languages=("no", "en"), capacity=2)
        desk.add_agent("Kim Lund", "kim@example.com", status="offline")
        ann = _mail("Ann Jensen <ann@jensen.example>", "Order 5521 never arrived",
                    "Hi,\n\nmy order 5521 was due last week and has not arrived. Can you check?\n\nAnn")
        bjorn = _mail("=?utf-8?q?Bj=C3=B8rn_Haugen?= <bjorn@haugen.example>", "Faktura stemmer ikke",
                      "Hei,\n\nfakturaen for oktober viser feil beløp. Kan dere se på det?\n\nMvh Bjørn")
        dana = _mail("Dana Smith <dana@smith.example>", "Broken hinge on delivery",
                     "The cabinet arrived with a broken hinge, photo attached.")
        dana.add_attachment(b"%PDF-1.7\n" + b"0" * 48_000, maintype="application", subtype="pdf",
                            filename="delivery-note.pdf")
        # A newsletter, as mailing services send them: recorded and closed by the bulk-mail triage rule,
        # so it takes nobody's slot (triage_rules.yaml).
        newsletter = _mail("Deals Weekly <news@deals.example>", "50% off everything",
                           "Prices are down today only! Unsubscribe any time.", List_Id="<deals.deals.example>",
                           List_Unsubscribe="<https://deals.example/unsubscribe>", Precedence="bulk",
                           Auto_Submitted="auto-generated")
        spam = _mail("Prince <prince@lottery.example>", "You have won", "Send your bank details.")
        # A business customer whose checkout is down: urgent, and the team lead is told (automation_rules.yaml).
        outage = _mail("Nora Berg <nora@nordicretail.example>", "Checkout is down",
                       "Our checkout has been down since 08:00; none of our customers can pay.")
        for message, verdict in ((ann, "PASS"), (bjorn, "PASS"), (dana, "PASS"), (newsletter, "PASS"),
                                 (spam, "FAIL"), (outage, "PASS")):
            desk.receive_email(message.as_bytes(), spam=verdict)
        desk.pump()

        # Ann answers the acknowledgement from her mail client: it threads by In-Reply-To.
        ack_to_ann = next(m for m in desk.sent_emails() if "ann@jensen.example" in m["To"])
        reply = _mail("Ann Jensen <ann@jensen.example>", ack_to_ann["Subject"],
                      "It is order 5521, placed on 2 November.\n\nOn Mon, Relay Desk wrote:\n> We have received it",
                      In_Reply_To=ack_to_ann["Message-ID"],
                      References=f"{ann['Message-ID']} {ack_to_ann['Message-ID']}")
        # Bjørn's out-of-office answers his acknowledgement: threads, gets no auto-reply.
        ack_to_bjorn = next(m for m in desk.sent_emails() if "bjorn@haugen.example" in m["To"])
        away = _mail("=?utf-8?q?Bj=C3=B8rn_Haugen?= <bjorn@haugen.example>", "Automatisk svar: " + ack_to_bjorn["Subject"],
                     "Jeg er på ferie til 1. desember.", Auto_Submitted="auto-replied",
                     In_Reply_To=ack_to_bjorn["Message-ID"])
        for message in (reply, away):
            desk.receive_email(message.as_bytes())
        desk.pump()

        # Mette answers Ann in her own words; Ola answers Bjørn with a canned response and its actions.
        tickets = {t["number"]: t for t in desk.tickets()}
        ann_ticket = next(t for t in tickets.values() if t["requester"] == "email:ann@jensen.example")
        bjorn_ticket = next(t for t in tickets.values() if t["requester"] == "email:bjorn@haugen.example")
        _api(desk, "post", f"/tickets/{ann_ticket['id']}/replies", mette,
             {"text": "Hi Ann, order 5521 left our warehouse today; you will have it on Thursday. Mette"})
        _api(desk, "post", f"/tickets/{bjorn_ticket['id']}/notes", ola, {"text": "Credit note issued in the ERP."})
        _api(desk, "post", f"/tickets/{bjorn_ticket['id']}/replies", ola, {"macro_id": "refund-received"})
        desk.pump()

        agents = _api(desk, "get", "/agents", mette)["agents"]
        names = {a["id"]: a["name"] for a in agents}
        tickets = desk.tickets()
        _table("Tickets (DynamoDB)", ["#", "status", "priority", "queue", "customer", "subject", "assignee",
                                      "first response"],
               [[t["number"], t["status"], t["priority"], t["category"], t["customer"]["name"] or _who(t["requester"]),
                 t["subject"], t["assignee_name"], _seconds_after(t["created_at"], t["first_response_at"])]
                for t in tickets])
        _table("Acknowledgements not sent, and why", ["#", "subject", "reason"],
               [[t["number"], t["subject"], t["acknowledgement"]["reason"]] for t in tickets
                if t["acknowledgement"]["status"] == "suppressed"])
        _table("Agents (GET /agents)", ["agent", "status", "skills", "languages", "open / capacity"],
               [[a["name"], a["status"], ", ".join(a["skills"]), ", ".join(a["languages"]),
                 f"{a['open_count']} / {a['capacity']}"] for a in agents])
        _table("Audit trail of the billing ticket", ["at", "who", "what", "changes / detail"],
               [[e["at"][11:19], e["actor_name"] or e["actor"], e["action"],
                 json_changes(e["changes"], names) or e["detail"]]
                for e in next(t for t in tickets if t["id"] == bjorn_ticket["id"])["audit"]])
        _table("Messages by ticket", ["#", "kind", "joined by", "from", "text", "attachments"],
               [[t["number"], m["kind"], m["joined_by"] or ("reply" if m["kind"] == "agent" else None),
                 _who(m["from"], names), m["text"],
                 ", ".join(f"{a['filename']} ({a['size']:,} B)" for a in m["attachments"])]
                for t in tickets for m in t["messages"]])
        _table("Why (triage rules that fired)", ["#", "rules", "reasons"],
               [[t["number"], ", ".join(t["triage"]["rules_fired"]), "; ".join(t["triage"]["reasons"])]
                for t in tickets])
        sent = desk.sent_emails()
        _table("Mail sent (read back from SES)", ["to", "subject", "sent as", "threaded", "auto-submitted"],
               [[_address(m["To"]), m["Subject"], parseaddr(str(m["From"]))[0] or _address(m["From"]),
                 "yes" if m["In-Reply-To"] else "no", m["Auto-Submitted"]] for m in sent])
        alert = next((m for m in sent if _address(m["To"]) == "lead@example.com"), None)
        if alert is not None:
            print(f"\nThe team lead's alert ({alert['Subject']}):")
            for line in alert.get_body(("plain",)).get_content().strip().splitlines():
                print(textwrap.fill(line, WIDTH, initial_indent="  ", subsequent_indent="  ") if line.strip() else "")

        _chat_bot_scene(desk)
        _metrics(desk)

        # An hour after Bjørn's ticket was solved, the schedule sends his satisfaction survey;
        # he clicks "5" in the mail (in his language), which opens the survey page and records nothing;
        # he adds NPS and CES and confirms. Then the KPI report, read from the daily aggregates.
        desk.advance(minutes=61)
        desk.run_schedules()
        desk.pump()
        survey = next(m for m in desk.sent_emails() if "/surveys/" in m.get_body(("plain",)).get_content())
        link = next(line.strip() for line in survey.get_body(("plain",)).get_content().splitlines()
                    if "rating=5" in line)
        path = "/surveys/" + link.split("/surveys/", 1)[1].split()[0]
        browser = {"Accept": "text/html"}
        opened = desk.http.get(path, headers=browser)
        answer = desk.http.post(path.split("?")[0], body=b"rating=5&nps=9&ces=6&comment=",
                                headers={**browser, "Content-Type": "application/x-www-form-urlencoded"})
        _say(f"Survey sent to {_address(survey['To'])}; the link opened the page (HTTP {opened.status_code}, "
             f"nothing recorded); the customer confirmed 5, NPS 9, CES 6: HTTP {answer.status_code}.")
        _kpis()
        letters = desk.dead_letters()
        print(f"\nDead letters: {len(letters)}")
        for letter in letters:
            print(textwrap.fill(_text(letter["reason"]), WIDTH, initial_indent="  - ", subsequent_indent="    "))


def _chat_bot_scene(desk: LocalDesk) -> None:
    """The 24/7 chat bot on Telegram, with the demo knowledge base: one customer's question is answered and
    she presses "Yes, solved" (solved as deflected, no agent); another says "no" and gets a person."""
    from chalicelib.admin import DEMO_ARTICLES
    from chalicelib.service import kb

    imported = kb.import_folder(DEMO_ARTICLES)
    _say(f"Knowledge base: {len(imported.created) + len(imported.updated)} demo articles imported "
         f"(chalicelib/kb/articles). Two Telegram customers write to the bot.")
    customers = [
        _Telegram(desk, 5010000001, "Sofie", "Dahl"),
        _Telegram(desk, 5010000002, "Jonas", "Berg"),
    ]
    sofie, jonas = customers
    sofie.say("How do I reset my password?")
    jonas.say("How do I return an item I bought?")
    sofie.press("bot:yes", "Yes, solved")
    jonas.say("no")
    rows = []
    for customer in customers:
        ticket = customer.ticket()
        bot = ticket.get("bot") or {}
        outcome = ("solved, deflected" if ticket["status"] == "solved" and bot.get("state") == "solved"
                   and (ticket.get("deflection") or {}).get("via") == "bot"
                   else f"handed to {ticket['assignee_name']}" if bot.get("state") == "handed_off"
                   and ticket["assignee_name"] else f"{ticket['status']}, bot {bot.get('state') or 'silent'}")
        rows.append([ticket["number"], f"{customer.first} {customer.last}", customer.said[0],
                     bot.get("article_id"), customer.said[-1], outcome])
    _table("Chat bot on Telegram (tickets read back from DynamoDB)",
           ["#", "customer", "asked", "bot answered with", "then", "outcome"], rows)
    said = [m for m in desk.sent_chat_messages() if m["platform"] == "telegram"]
    _table("What the bot said (the stubbed Telegram API received)", ["to", "text"],
           [[next((c.first for c in customers if str(c.user_id) == m["recipient"]), m["recipient"]), m["text"]]
            for m in said])


class _Telegram:
    """One Telegram customer writing to the bot: each message is an update through the real webhook."""

    _update_id = 700_000

    def __init__(self, desk: LocalDesk, user_id: int, first: str, last: str) -> None:
        self.desk, self.user_id, self.first, self.last = desk, user_id, first, last
        self.said: list[str] = []

    def _person(self) -> dict[str, Any]:
        return {"id": self.user_id, "is_bot": False, "first_name": self.first, "last_name": self.last}

    def _chat(self) -> dict[str, Any]:
        return {"id": self.user_id, "first_name": self.first, "last_name": self.last, "type": "private"}

    def say(self, text: str) -> None:
        self._post({"message": {"message_id": _Telegram._update_id, "from": self._person(), "chat": self._chat(),
                                "date": int(datetime.now(timezone.utc).timestamp()), "text": text}}, text)

    def press(self, choice: str, label: str) -> None:
        """A press on the bot's "Did this solve it?" button, as Telegram sends it (a callback query)."""
        keyboard = {"inline_keyboard": [[{"text": label, "callback_data": choice}]]}
        self._post({"callback_query": {
            "id": f"demo{_Telegram._update_id}", "from": self._person(), "data": choice, "chat_instance": "1",
            "message": {"message_id": 1, "from": {"id": 7000000001, "is_bot": True, "first_name": "Relay Desk"},
                        "chat": self._chat(), "date": int(datetime.now(timezone.utc).timestamp()),
                        "text": "Did this solve it?", "reply_markup": keyboard}}}, f"[pressed] {label}")

    def _post(self, update: dict[str, Any], said: str) -> None:
        _Telegram._update_id += 1
        response = self.desk.http.post("/webhooks/telegram", body=json.dumps({"update_id": _Telegram._update_id,
                                                                              **update}).encode(),
                                       headers={"Content-Type": "application/json",
                                                "X-Telegram-Bot-Api-Secret-Token": _TELEGRAM_SECRET_TOKEN})
        if response.status_code != 200:
            raise RuntimeError(f"the Telegram webhook answered HTTP {response.status_code}: {response.body!r}")
        self.said.append(said)
        self.desk.pump()

    def ticket(self) -> dict[str, Any]:
        return next(t for t in self.desk.tickets() if t["requester"] == f"telegram:{self.user_id}")


def _metrics(desk: LocalDesk) -> None:
    totals: Counter[str] = Counter()
    timings: dict[str, list[float]] = {}
    for document in desk.metrics:
        for definition in document["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                value = document.get(metric["Name"], 0)
                value = value[0] if isinstance(value, list) else value
                if metric.get("Unit") == "Seconds":
                    timings.setdefault(f"{metric['Name']} ({document.get('clock', 'calendar')})", []).append(value)
                else:
                    totals[metric["Name"]] += int(value)
    _table("Metrics emitted (CloudWatch EMF)", ["metric", "count / values"],
           sorted(totals.items()) + [[name, ", ".join(f"{v:.1f} s" for v in values)]
                                     for name, values in sorted(timings.items())])


def _kpis() -> None:
    """The KPI report (GET /reports/kpis), the columns a newcomer reads first; ``python -m chalicelib.admin
    report`` prints every column."""
    from chalicelib.api.reports_api import kpi_report

    report = kpi_report(None, None, "channel")
    rows = [*report.rows, report.totals]
    _table(f"KPIs by channel, {report.start} to {report.end} (GET /reports/kpis, from the daily aggregates)",
           ["channel", "volume", "solved", "deflected (bot)", "FR p50", "res p50", "SLA", "CSAT", "NPS", "CES"],
           [[row.label if row is not report.totals else "total", row.volume, row.solved,
             f"{row.deflected} ({row.deflected_by_bot})", _duration(row.first_response_p50),
             _duration(row.resolution_p50), _percent(row.sla_pct), _percent(row.csat_pct),
             _number(row.nps), _number(row.ces_average)] for row in rows])
    _say("FR = first response, res = resolution (calendar time, p50 within ±2 %); CSAT = the share satisfied "
         "(4-5 of 5); NPS = promoters minus detractors, in points; CES = average effort score (1-7, 7 = easiest).")
    if report.backlog is not None:
        _say("Open backlog by age: " + ", ".join(f"{k}: {v}" for k, v in report.backlog.items()) + ".")


def _duration(minutes: float | None) -> str:
    if minutes is None:
        return "-"
    seconds = minutes * 60
    return "<1 s" if seconds < 1 else f"{seconds:.0f} s" if minutes < 1 else f"{minutes:.1f} min"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _seconds_after(start: str, end: str | None) -> str:
    from chalicelib import clock

    if not end:
        return "-"
    return f"{(clock.parse_iso(end) - clock.parse_iso(start)).total_seconds():.1f} s"


if __name__ == "__main__":
    main()
