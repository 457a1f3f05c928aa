"""``make demo``: realistic mail through the real handlers on an embedded local AWS.

Everything printed is read back from moto (DynamoDB, SES, SQS) or from the
EMF metrics the functions emitted; nothing here is computed for show.
"""
from __future__ import annotations

from collections import Counter
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone

from chalicelib.local import LocalDesk

_DATE = format_datetime(datetime(2026, 11, 23, 8, 15, tzinfo=timezone.utc))


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


def _table(title: str, header: list[str], rows: list[list[object]]) -> None:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join("-" * w for w in widths)
    print(line)
    for index, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if index == 0:
            print(line)


def _api(desk: LocalDesk, method: str, path: str, token: str, body: dict | None = None) -> dict:
    import json

    response = getattr(desk.http, method)(path, headers={"Authorization": f"Bearer {token}",
                                                         "Content-Type": "application/json"},
                                          body=json.dumps(body) if body is not None else None)
    return json.loads(response.body)


def main() -> None:
    with LocalDesk() as desk:
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
        newsletter = _mail("Deals Weekly <news@deals.example>", "50% off everything",
                           "Unsubscribe any time.", List_Id="<deals.deals.example>",
                           Precedence="bulk")
        spam = _mail("Prince <prince@lottery.example>", "You have won", "Send your bank details.")
        for message, verdict in ((ann, "PASS"), (bjorn, "PASS"), (dana, "PASS"), (newsletter, "PASS"),
                                 (spam, "FAIL")):
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

        # Mette answers Ann with the "ask-order-number" macro... Ann gave it already, so she
        # writes her own reply; Ola answers Bjørn with a canned response and its actions.
        tickets = {t["number"]: t for t in desk.tickets()}
        ann_ticket = next(t for t in tickets.values() if t["requester"] == "email:ann@jensen.example")
        bjorn_ticket = next(t for t in tickets.values() if t["requester"] == "email:bjorn@haugen.example")
        _api(desk, "post", f"/tickets/{ann_ticket['id']}/replies", mette,
             {"text": "Hi Ann, order 5521 left our warehouse today; you will have it on Thursday. Mette"})
        _api(desk, "post", f"/tickets/{bjorn_ticket['id']}/notes", ola, {"text": "Credit note issued in the ERP."})
        _api(desk, "post", f"/tickets/{bjorn_ticket['id']}/replies", ola, {"macro_id": "refund-received"})
        desk.pump()

        tickets = desk.tickets()
        _table("Tickets (DynamoDB)", ["#", "status", "priority", "category", "customer", "subject", "messages",
                                      "acknowledgement", "assignee", "first response"],
               [[t["number"], t["status"], t["priority"], t["category"], t["customer"]["name"] or t["requester"],
                 t["subject"],
                 t["message_count"], t["acknowledgement"]["status"] + (f" ({t['acknowledgement']['reason']})"
                                                                      if t["acknowledgement"]["reason"] else ""),
                 t["assignee_name"] or "-", _minutes_after(t["created_at"], t["first_response_at"])]
                for t in tickets])
        _table("Agents (GET /agents)", ["agent", "status", "skills", "languages", "open / capacity"],
               [[a["name"], a["status"], ", ".join(a["skills"]), ", ".join(a["languages"]) or "-",
                 f"{a['open_count']} / {a['capacity']}"]
                for a in _api(desk, "get", "/agents", mette)["agents"]])
        _table("Audit trail of the billing ticket", ["at", "who", "what", "changes / detail"],
               [[e["at"][11:19], e["actor_name"] or e["actor"], e["action"],
                 (json_changes(e["changes"]) or e["detail"] or "").replace("\n", " ")[:70]]
                for e in next(t for t in tickets if t["id"] == bjorn_ticket["id"])["audit"]])
        _table("Messages by ticket", ["#", "kind", "joined by", "from", "text", "attachments"],
               [[t["number"], m["kind"], m["joined_by"], m["from"], (m["text"] or "").replace("\n", " ")[:40],
                 ", ".join(f"{a['filename']} ({a['size']:,} B)" for a in m["attachments"]) or "-"]
                for t in tickets for m in t["messages"]])
        _table("Why (triage rules that fired)", ["#", "rules", "reasons"],
               [[t["number"], ", ".join(t["triage"]["rules_fired"]) or "-", "; ".join(t["triage"]["reasons"]) or "-"]
                for t in tickets])
        _table("Mail sent (read back from SES)", ["to", "from", "subject", "in reply to", "auto-submitted"],
               [[m["To"], m["From"], m["Subject"], m["In-Reply-To"], m["Auto-Submitted"] or "-"]
                for m in desk.sent_emails()])
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
        print(f"\nSurvey sent to {survey['To']}; the link opened the page (HTTP {opened.status_code}, nothing "
              f"recorded); the customer confirmed 5, NPS 9, CES 6: HTTP {answer.status_code}")
        from chalicelib.api.reports_api import kpi_report

        print("\nKPIs today (GET /reports/kpis, from the daily aggregates)")
        print(kpi_report(None, None, "channel").as_table())
        letters = desk.dead_letters()
        print(f"\nDead letters: {len(letters)}" + "".join(f"\n  - {d['reason']}" for d in letters))


def _minutes_after(start: str, end: str | None) -> str:
    from chalicelib import clock

    if not end:
        return "-"
    return f"{(clock.parse_iso(end) - clock.parse_iso(start)).total_seconds():.1f} s"


def json_changes(changes: dict | None) -> str:
    return ", ".join(f"{field}: {old} → {new}" for field, (old, new) in (changes or {}).items())


if __name__ == "__main__":
    main()
