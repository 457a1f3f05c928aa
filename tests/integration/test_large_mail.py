"""Mail at SES's size limit is ingested whole: nothing truncated, nothing over DynamoDB's item limit."""
import hashlib
import json
import random
from email.message import EmailMessage

from tests.files import download
from tests.mail import compose

_DYNAMODB_ITEM_LIMIT = 400 * 1024  # bytes, names and values together
_SES_MAX_MAIL = 40 * 1024 * 1024  # SES receiving accepts up to 40 MB, headers and encoding included


def _only(items):
    assert len(items) == 1, items
    return items[0]


def _text_of_size(size, seed):
    """Readable lines (no quoting, no signature) of about ``size`` bytes, each one different."""
    rng = random.Random(seed)
    words = ["order", "parcel", "invoice", "refund", "delivery", "tracking", "warehouse", "customer", "Zürich", "naïve"]
    lines, total = [], 0
    while total < size:
        line = f"{len(lines):06d} " + " ".join(rng.choice(words) for _ in range(9)) + "."
        lines.append(line)
        total += len(line.encode()) + 1
    return "\n".join(lines) + "\n"


def _stored_body(desk, message):
    stored = desk._aws("s3").get_object(Bucket=desk.inbound_bucket, Key=message["body_s3_key"])["Body"].read()
    return json.loads(stored)


def _message_item_size(desk, ticket_id):
    """Size of the message's DynamoDB item as stored (JSON of the wire form: an upper bound)."""
    from chalicelib import config

    items = desk._aws("dynamodb").query(
        TableName=config.setting("MESSAGES_TABLE"), KeyConditionExpression="ticket_id = :t",
        ExpressionAttributeValues={":t": {"S": ticket_id}})["Items"]
    return len(json.dumps(_only(items), ensure_ascii=False).encode())


def test_25_mb_mail_with_an_18_mb_attachment_is_ingested_whole(desk, admin_token):
    attachment = random.Random(25).randbytes(18 * 1024 * 1024)  # incompressible, like a photo or a PDF
    body = _text_of_size(500 * 1024, seed=1)
    raw = compose(subject="Photos of the damaged parcel", body=body,
                  attachments=[("damage.jpg", "image/jpeg", attachment)])
    assert 24 * 1024 * 1024 < len(raw) < _SES_MAX_MAIL  # base64 makes 18 MB about 24.3 MB on the wire

    desk.receive_email(raw)
    assert desk.pump() == 1
    assert desk.dead_letters() == []

    ticket = _only(desk.tickets())
    assert ticket["subject"] == "Photos of the damaged parcel" and ticket["status"] == "open"
    message = _only(ticket["messages"])

    stored_attachment = _only(message["attachments"])
    assert stored_attachment["filename"] == "damage.jpg" and stored_attachment["content_type"] == "image/jpeg"
    assert stored_attachment["size"] == len(attachment)
    data = download(desk, admin_token, ticket["id"], stored_attachment)
    assert len(data) == len(attachment) and hashlib.sha256(data).digest() == hashlib.sha256(attachment).digest()

    # The 500 KB body does not fit a DynamoDB item: it lives in S3, whole; the item keeps a preview.
    assert message["body_s3_key"]
    assert _stored_body(desk, message)["text"] == body
    assert body.startswith(message["full_text"]) and len(message["full_text"]) < len(body)
    assert _message_item_size(desk, ticket["id"]) < _DYNAMODB_ITEM_LIMIT

    assert len(desk.sent_emails()) == 1  # acknowledged like any other mail


def test_large_html_only_mail_gets_a_readable_text_body(desk):
    paragraphs = [f"<p>Paragraph {n}: my <b>order {n:05d}</b> was never delivered.</p>" for n in range(8000)]
    html = ("<html><head><style>p { color: red }</style><script>alert('x')</script></head><body>"
            + "".join(paragraphs) + "</body></html>")
    message = EmailMessage()
    message["From"] = "Ann Customer <ann@customer.example>"
    message["To"] = "support@example.com"
    message["Subject"] = "HTML only"
    message["Message-ID"] = "<html-only@customer.example>"
    message.set_content(html, subtype="html")
    assert len(html) > 400 * 1024

    desk.receive_email(message.as_bytes())
    assert desk.pump() == 1
    ticket = _only(desk.tickets())
    stored_message = _only(ticket["messages"])
    assert stored_message["body_s3_key"] and _message_item_size(desk, ticket["id"]) < _DYNAMODB_ITEM_LIMIT

    stored = _stored_body(desk, stored_message)
    text = stored["text"]
    assert text.startswith("Paragraph 0: my order 00000 was never delivered.")
    assert "Paragraph 7999: my order 07999 was never delivered." in text
    assert "<p>" not in text and "<b>" not in text and "alert(" not in text and "color: red" not in text
    assert "<script" not in stored["html"] and "Paragraph 7999" in stored["html"]  # sanitised, kept whole
    assert stored_message["full_text"].startswith("Paragraph 0: my order 00000")  # the preview agents see


def test_small_html_only_mail_gets_a_text_body_in_the_ticket(desk):
    message = EmailMessage()
    message["From"] = "Ann Customer <ann@customer.example>"
    message["To"] = "support@example.com"
    message["Subject"] = "HTML only, small"
    message.set_content("<html><body><h1>Hello</h1><p>My order <b>1234</b> never arrived.</p>"
                        "<img src=\"cid:logo\"><script>steal()</script></body></html>", subtype="html")
    desk.receive_email(message.as_bytes())
    assert desk.pump() == 1
    stored_message = _only(_only(desk.tickets())["messages"])
    assert stored_message["body_s3_key"] is None
    assert "Hello" in stored_message["full_text"] and "My order 1234 never arrived." in stored_message["full_text"]
    assert "<" not in stored_message["full_text"] and "steal()" not in stored_message["full_text"]
    assert "steal()" not in (stored_message["html"] or "") and "1234" in stored_message["html"]
