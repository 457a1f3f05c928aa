"""A deterministic corpus of inbound support mail for ``make bench``.

``generate(n, seed)`` returns ``n`` ``(kind, raw_bytes)`` pairs, always the same
bytes for the same arguments (no clock, no pid, no global ``random``: MIME
boundaries and Message-IDs come from the seeded generator). The raw bytes are
built by hand rather than with ``email.message.EmailMessage`` so that legacy
charsets travel as real 8-bit / quoted-printable / base64 bodies and
encoded-word headers, the way other mail clients send them.

Kinds (see ``KINDS``): new tickets from many senders, replies that thread by
``In-Reply-To`` (and some by ``References`` only) to an *earlier* corpus
message, attachments (small PDFs and PNGs, a few of ~1 MB), utf-8 /
iso-8859-1 / windows-1252 bodies with Danish and Norwegian text, HTML-only
mail, out-of-office auto-replies and bulk newsletters.

Every reply's parent is at least ``min_gap`` positions earlier, so a runner
that pumps the queue every ``min_gap`` messages always has the parent stored
before the reply arrives (replies also come from the parent's sender, so SQS
FIFO ordering per conversation would keep them in order anyway).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import random
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.utils import format_datetime, formataddr

__all__ = ["KINDS", "THREADING_KINDS", "TICKET_KINDS", "digest", "generate"]

#: kind → what it is. ``TICKET_KINDS`` open a ticket, ``THREADING_KINDS`` join one.
KINDS: dict[str, str] = {
    "new": "new ticket, plain text, utf-8 or us-ascii, English",
    "new_charset": "new ticket, Danish/Norwegian text in utf-8, iso-8859-1 or windows-1252, encoded-word subject",
    "html_only": "new ticket, text/html only (no text/plain part)",
    "attachment": "new ticket with one or two small PDFs/PNGs (2-60 KB)",
    "attachment_1mb": "new ticket with a ~1 MB PDF or PNG",
    "bulk": "newsletter: Precedence: bulk, List-Id, List-Unsubscribe (new ticket, no acknowledgement)",
    "reply": "customer reply: In-Reply-To + References to an earlier message, quoted history",
    "reply_references": "customer reply threading by References only (no In-Reply-To)",
    "auto_reply": "out-of-office answer to an earlier message (Auto-Submitted, X-Autoreply or subject only)",
}
TICKET_KINDS = ("new", "new_charset", "html_only", "attachment", "attachment_1mb", "bulk")
THREADING_KINDS = ("reply", "reply_references", "auto_reply")

# Relative weights; attachment_1mb is placed separately (a few per corpus).
_WEIGHTS = {
    "new": 24,
    "new_charset": 15,
    "html_only": 8,
    "attachment": 9,
    "bulk": 5,
    "reply": 24,
    "reply_references": 8,
    "auto_reply": 7,
}
_CRLF = "\r\n"
_BASE_DATE = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
_SUPPORT = ("Relay Desk Support", "support@example.com")

_FIRST = ["Ann", "Bob", "Carla", "David", "Emma", "Frank", "Grace", "Henry", "Isla", "Jack", "Karen", "Liam",
          "Søren", "Åse", "Jørgen", "Mette", "Bjørn", "Ærø", "Kristoffer", "Sigrid", "Øyvind", "Ingrid", "Mikkel",
          "Astrid", "Håkon", "Solveig", "Ole", "Birgitte", "Torbjørn", "Line"]
_LAST = ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Jensen", "Nielsen", "Hansen", "Pedersen",
         "Østergaard", "Andersen", "Bjørnstad", "Haugen", "Løkke", "Dæhlie", "Skåre", "Sørensen", "Kjær", "Berg"]
_DOMAINS = ["customer.example", "mail.example.com", "firma.example.dk", "post.example.no", "gmail.example",
            "outlook.example", "kunde.example.dk", "bedrift.example.no", "shop.example.org", "icloud.example"]

_SUBJECTS_EN = ["Order {n} never arrived", "Refund for order {n}", "Cannot log in to my account",
                "Invoice {n} is wrong", "Damaged item in delivery", "How do I change my delivery address?",
                "Question about the warranty", "Subscription cancelled by mistake",
                "Tracking says delivered but nothing here", "Wrong size sent for order {n}"]
_SUBJECTS_DA = ["Min ordre {n} er ikke kommet", "Faktura {n} stemmer ikke", "Spørgsmål om returnering",
                "Jeg kan ikke logge ind", "Ødelagt vare ved levering", "Ændring af leveringsadresse",
                "Rabatkode på 15 % virker ikke"]
_SUBJECTS_NO = ["Bestilling {n} har ikke kommet", "Feil beløp på fakturaen", "Spørsmål om garanti",
                "Får ikke logget inn", "Skadet vare ved levering", "Bytte av størrelse på skjørt",
                "Kvittering for ordre {n} mangler"]
_BODIES_EN = [
    "Hello,\n\nmy order {n} was due last week and has still not arrived. The tracking page has not changed "
    "for five days. Can you check what happened?\n\nThanks,\n{first}",
    "Hi there,\n\nI was charged twice for order {n}. Please refund the second payment.\n\n"
    "- first charge: 49.95 EUR\n- second charge: 49.95 EUR\n\nKind regards,\n{name}",
    "Good morning,\n\nI cannot log in since yesterday; the reset link says it has expired every time.\n\n"
    "Best,\n{first}\n\n-- \n{name}\nSent from my phone",
]
_BODIES_DA = [
    "Hej,\n\nmin ordre {n} skulle være leveret i sidste uge, men jeg har ikke modtaget noget. "
    "Kan I se, hvor pakken er?\n\nMed venlig hilsen\n{name}",
    "Hej med jer,\n\nfakturaen for ordre {n} viser et forkert beløb: 1.249,95 kr. i stedet for 999,95 kr. "
    "Rabatten på 20 % er ikke trukket fra.\n\nVenlig hilsen\n{first}",
    "Hej,\n\nstolen kom i dag, men det ene ben er knækket og æsken var våd. Jeg vil gerne have en ny "
    "eller pengene tilbage.\n\nMvh. {first}",
]
_BODIES_NO = [
    "Hei,\n\nbestillingen min ({n}) har ikke kommet ennå. Sporingen har stått stille i fem dager. "
    "Kan dere sjekke hva som har skjedd?\n\nMvh\n{name}",
    "Hei,\n\nfakturaen for oktober viser feil beløp, 2 499 kr i stedet for 1 999 kr. Kan dere se på det?\n\n"
    "Vennlig hilsen\n{first}",
    "Hei,\n\njeg får ikke logget inn på kontoen min. Passordet er byttet to ganger, men det hjelper ikke.\n\n"
    "Hilsen {first} på Løten",
]
# windows-1252 has what latin-1 lacks: curly quotes, en dash, euro sign.
_CP1252_EXTRA = "\n\nPS: Prisen var 129 € – ikke “129 kr” som der står på siden."
_REPLIES_EN = ["Thanks, it is order {n}. I placed it on 2 November.", "That did not help, the problem is still there.",
               "Here is the photo you asked for. Please let me know what happens next.",
               "Any news? It has been three days now."]
_REPLIES_DA = ["Tak for svaret. Ordrenummeret er {n}.", "Det virker desværre stadig ikke.",
               "Jeg har vedhæftet kvitteringen. Hvornår hører jeg fra jer?"]
_REPLIES_NO = ["Takk for svar. Ordrenummeret er {n}.", "Det fungerer dessverre fortsatt ikke.",
               "Når kan jeg forvente å høre fra dere?"]
_OOF = [
    ("Out of Office: {subject}", "I am out of the office until 1 December with limited access to email.", "en"),
    ("Automatic reply: {subject}", "Thank you for your message. I am on leave and will reply when I am back.", "en"),
    ("Automatisk svar: {subject}", "Jeg er på ferie til 1. december og læser ikke mails.", "da"),
    ("Fraværende: {subject}", "Jeg er fraværende og har begrænset adgang til e-mail.", "da"),
    ("Fravær: {subject}", "Jeg er på ferie til 1. desember. Ved hastesaker, ring sentralbordet.", "no"),
]


@dataclass
class _Conversation:
    sender: tuple[str, str]  # (display name, address)
    subject: str
    language: str
    charset: str
    message_ids: list[tuple[int, str]] = field(default_factory=list)  # (corpus index, Message-ID)


def generate(n: int = 1000, seed: int = 20261123, *, min_gap: int = 50) -> list[tuple[str, bytes]]:
    """``n`` mixed inbound mails, oldest first, as ``(kind, raw RFC 5322 bytes)``."""
    return _Generator(n, seed, min_gap).run()


def digest(corpus: list[tuple[str, bytes]]) -> str:
    """A short fingerprint of a corpus, to show two runs fed the same bytes."""
    h = hashlib.sha256()
    for kind, raw in corpus:
        h.update(kind.encode() + b"\0" + raw + b"\0")
    return h.hexdigest()[:16]


class _Generator:
    def __init__(self, n: int, seed: int, min_gap: int) -> None:
        self.n, self.min_gap = n, max(1, min_gap)
        self.rng = random.Random(seed)
        self.senders = self._sender_pool(max(40, n // 3))
        self.conversations: list[_Conversation] = []
        self.boundary_count = 0

    # --- the sequence ------------------------------------------------------
    def run(self) -> list[tuple[str, bytes]]:
        kinds = self.rng.choices(list(_WEIGHTS), weights=list(_WEIGHTS.values()), k=self.n)
        large = max(1, self.n // 250)
        for index in self.rng.sample(range(self.n), k=min(large, self.n)):
            kinds[index] = "attachment_1mb"
        corpus = []
        for index, kind in enumerate(kinds):
            if kind in THREADING_KINDS and self._parent(index) is None:
                kind = "new"  # nothing old enough to answer yet
            corpus.append((kind, self._message(index, kind)))
        return corpus

    def _message(self, index: int, kind: str) -> bytes:
        if kind == "bulk":
            return self._bulk(index)
        if kind in THREADING_KINDS:
            return self._reply(index, kind)
        return self._new_ticket(index, kind)

    # --- new tickets -------------------------------------------------------
    def _new_ticket(self, index: int, kind: str) -> bytes:
        rng = self.rng
        sender = self._pick_sender()
        number = rng.randint(10_000, 99_999)
        if kind == "new_charset":
            language = rng.choice(["da", "no"])
            charset = rng.choice(["utf-8", "iso-8859-1", "windows-1252"])
        else:
            language, charset = "en", rng.choice(["utf-8", "us-ascii"])
        subject = rng.choice({"en": _SUBJECTS_EN, "da": _SUBJECTS_DA, "no": _SUBJECTS_NO}[language]).format(n=number)
        body = rng.choice({"en": _BODIES_EN, "da": _BODIES_DA, "no": _BODIES_NO}[language])
        text = body.format(n=number, first=sender[0].split()[0], name=sender[0])
        if charset == "windows-1252":
            text += _CP1252_EXTRA
        if charset == "us-ascii" and not text.isascii():
            charset = "utf-8"

        if kind == "html_only":
            html_charset = rng.choice(["utf-8", "utf-8", "windows-1252"])
            part = _text_part(_html_of(text, subject, rng), "html", html_charset, rng.choice(["quoted-printable", "base64"]))
        else:
            part = _text_part(text, "plain", charset, self._cte(charset))
        if kind in ("attachment", "attachment_1mb"):
            files = [self._attachment(large=kind == "attachment_1mb")]
            if kind == "attachment" and rng.random() < 0.25:
                files.append(self._attachment(large=False))
            part = self._multipart("mixed", [part, *files])

        message_id = self._message_id(index, sender[1])
        conversation = _Conversation(sender, subject, language, charset if charset != "us-ascii" else "utf-8")
        conversation.message_ids.append((index, message_id))
        self.conversations.append(conversation)
        headers = self._envelope(index, sender, subject, message_id, charset)
        return _assemble(headers, part)

    def _bulk(self, index: int) -> bytes:
        rng = self.rng
        brand = rng.choice(["Deals Weekly", "Nordic Outdoor", "Tech Digest", "Boligmagasinet"])
        domain = brand.lower().replace(" ", "") + ".example"
        sender = (brand, f"news@{domain}")
        subject = rng.choice(["50% off everything this weekend", "Ugens tilbud: spar op til 40 %",
                              "Your November newsletter", "Nyhetsbrev: vinterens nyheter"])
        text = f"{subject}\n\nSee this week's offers at https://{domain}/offers\n\nUnsubscribe: https://{domain}/u"
        part = self._multipart("alternative", [
            _text_part(text, "plain", "utf-8", "quoted-printable"),
            _text_part(_html_of(text, subject, rng), "html", "utf-8", "quoted-printable"),
        ])
        headers = self._envelope(index, sender, subject, self._message_id(index, sender[1]), "utf-8")
        headers += [("Precedence", "bulk"), ("List-Id", f"<news.{domain}>"),
                    ("List-Unsubscribe", f"<https://{domain}/u>, <mailto:unsubscribe@{domain}>")]
        return _assemble(headers, part)

    # --- replies -------------------------------------------------------------
    def _parent(self, index: int) -> tuple[_Conversation, int, str] | None:
        """A conversation with a message at least ``min_gap`` earlier, and its latest such message."""
        limit = index - self.min_gap
        eligible = [c for c in self.conversations if c.message_ids[0][0] <= limit]
        if not eligible:
            return None
        conversation = self.rng.choice(eligible)
        parent_index, parent_id = [m for m in conversation.message_ids if m[0] <= limit][-1]
        return conversation, parent_index, parent_id

    def _reply(self, index: int, kind: str) -> bytes:
        rng = self.rng
        found = self._parent(index)
        assert found is not None
        conversation, _, parent_id = found
        chain = [mid for i, mid in conversation.message_ids if i <= index - self.min_gap]
        references = chain[-8:]
        sender, language, charset = conversation.sender, conversation.language, conversation.charset
        number = rng.randint(10_000, 99_999)
        extra: list[tuple[str, str]] = []
        if kind == "auto_reply":
            pattern, text, oof_language = rng.choice([o for o in _OOF if o[2] in (language, "en")])
            subject = pattern.format(subject=conversation.subject)
            style = rng.choice(["auto-submitted", "auto-submitted", "x-autoreply", "subject-only"])
            if style == "auto-submitted":
                extra.append(("Auto-Submitted", "auto-replied"))
            elif style == "x-autoreply":
                extra.append(("X-Autoreply", "yes"))
            body = f"{text}\n\n{sender[0]}"
            part = _text_part(body, "plain", charset, self._cte(charset))
        else:
            prefix = {"en": "Re: ", "da": rng.choice(["SV: ", "Re: "]), "no": rng.choice(["SV: ", "Re: "])}[language]
            subject = conversation.subject if conversation.subject.startswith(("Re: ", "SV: ")) else prefix + conversation.subject
            new_text = rng.choice({"en": _REPLIES_EN, "da": _REPLIES_DA, "no": _REPLIES_NO}[language]).format(n=number)
            quote_intro = {
                "en": f"On Mon, 23 Nov 2026 at 09:30, {_SUPPORT[0]} <{_SUPPORT[1]}> wrote:",
                "da": f"Den 23. nov. 2026 kl. 09.30 skrev {_SUPPORT[0]} <{_SUPPORT[1]}>:",
                "no": f"Den 23. nov. 2026 kl. 09:30 skrev {_SUPPORT[0]} <{_SUPPORT[1]}>:",
            }[language]
            quoted = "\n".join("> " + line for line in
                               ["We have received your request and will answer within 1 day.", "",
                                f"Your request: {conversation.subject}"])
            text = f"{new_text}\n\n{sender[0].split()[0]}\n\n{quote_intro}\n{quoted}\n"
            if rng.random() < 0.3:  # Gmail / Apple Mail style: text and HTML alternatives
                part = self._multipart("alternative", [
                    _text_part(text, "plain", "utf-8", "quoted-printable"),
                    _text_part(_html_of(text, subject, rng), "html", "utf-8", "quoted-printable"),
                ])
            else:
                part = _text_part(text, "plain", charset, self._cte(charset))
        message_id = self._message_id(index, sender[1])
        conversation.message_ids.append((index, message_id))
        headers = self._envelope(index, sender, subject, message_id, charset)
        if kind != "reply_references":
            headers.append(("In-Reply-To", parent_id))
        headers.append(("References", (_CRLF + " ").join(references)))
        return _assemble(headers + extra, part)

    # --- parts -------------------------------------------------------------
    def _attachment(self, *, large: bool) -> tuple[list[tuple[str, str]], bytes]:
        rng = self.rng
        if rng.random() < 0.5:
            size = rng.randint(1_000_000, 1_100_000) if large else rng.randint(2_000, 60_000)
            data = _pdf(rng, size)
            name, content_type = rng.choice(["invoice.pdf", "kvittering-ordre.pdf", "følgeseddel.pdf",
                                             "delivery note.pdf"]), "application/pdf"
        else:
            side = 580 if large else rng.randint(16, 120)
            data = _png(rng, side, side)
            name, content_type = rng.choice(["photo.png", "skade på vare.png", "screenshot.png"]), "image/png"
        if name.isascii():
            disposition = f'attachment; filename="{name}"'
            type_line = f'{content_type}; name="{name}"'
        else:  # RFC 2231 parameter encoding, as Thunderbird and Apple Mail send it
            quoted = "".join(ch if ch.isalnum() and ch.isascii() or ch in ".-_" else "".join(f"%{b:02X}" for b in ch.encode()) for ch in name)
            disposition = f"attachment; filename*=utf-8''{quoted}"
            type_line = content_type
        headers = [("Content-Type", type_line), ("Content-Disposition", disposition),
                   ("Content-Transfer-Encoding", "base64")]
        return headers, _base64_lines(data)

    def _multipart(self, subtype: str, parts: list[tuple[list[tuple[str, str]], bytes]]) -> tuple[list[tuple[str, str]], bytes]:
        self.boundary_count += 1
        boundary = f"=_relay-bench-{self.boundary_count:06d}-{self.rng.getrandbits(32):08x}"
        body = b""
        for headers, content in parts:
            body += f"--{boundary}{_CRLF}".encode() + _header_block(headers) + _CRLF.encode() + content + _CRLF.encode()
        body += f"--{boundary}--{_CRLF}".encode()
        return [("Content-Type", f'multipart/{subtype}; boundary="{boundary}"')], body

    def _cte(self, charset: str) -> str:
        if charset == "us-ascii":
            return "7bit"
        return self.rng.choice(["8bit", "quoted-printable", "base64"])

    # --- headers -----------------------------------------------------------
    def _envelope(self, index: int, sender: tuple[str, str], subject: str, message_id: str,
                  charset: str) -> list[tuple[str, str]]:
        header_charset = "utf-8" if charset == "us-ascii" else charset
        to = formataddr(_SUPPORT) if self.rng.random() < 0.7 else _SUPPORT[1]
        headers = [
            ("From", formataddr(sender, charset=header_charset)),
            ("To", to),
            ("Subject", _encoded_word(subject, header_charset, self.rng)),
            ("Date", format_datetime(_BASE_DATE + timedelta(seconds=37 * index))),
            ("Message-ID", message_id),
            ("MIME-Version", "1.0"),
        ]
        if self.rng.random() < 0.1:
            colleague = self._pick_sender()
            headers.append(("Cc", formataddr(colleague, charset="utf-8")))
        return headers

    def _message_id(self, index: int, address: str) -> str:
        return f"<{index:06d}.{self.rng.getrandbits(48):012x}@{address.rpartition('@')[2]}>"

    def _sender_pool(self, size: int) -> list[tuple[str, str]]:
        pool, seen = [], set()
        while len(pool) < size:
            first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
            local = f"{_ascii(first)}.{_ascii(last)}".lower()
            address = f"{local}{len(pool) % 7 or ''}@{self.rng.choice(_DOMAINS)}"
            if address in seen:
                continue
            seen.add(address)
            pool.append((f"{first} {last}", address))
        return pool

    def _pick_sender(self) -> tuple[str, str]:
        if self.rng.random() < 0.1:  # a few regulars write often (and meet the acknowledgement limit)
            return self.rng.choice(self.senders[:10])
        return self.rng.choice(self.senders)


# --- Encoding helpers -------------------------------------------------------------


def _ascii(name: str) -> str:
    for src, dst in (("æ", "ae"), ("ø", "o"), ("å", "aa"), ("Æ", "Ae"), ("Ø", "O"), ("Å", "Aa")):
        name = name.replace(src, dst)
    return name


def _encoded_word(text: str, charset: str, rng: random.Random) -> str:
    """RFC 2047 encoded words for non-ASCII headers, Q or B at random (clients differ), folded with CRLF."""
    if text.isascii():
        return text
    spec = Charset(charset)
    spec.header_encoding = rng.choice([QP, BASE64])
    return Header(text, charset=spec).encode(linesep=_CRLF)


def _text_part(text: str, subtype: str, charset: str, cte: str) -> tuple[list[tuple[str, str]], bytes]:
    data = text.replace("\r\n", "\n").replace("\n", _CRLF).encode(charset)
    if cte == "base64":
        body = _base64_lines(data)
    elif cte == "quoted-printable":
        body = binascii.b2a_qp(data, istext=True).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    else:
        body = data
    headers = [("Content-Type", f'text/{subtype}; charset="{charset}"'), ("Content-Transfer-Encoding", cte)]
    return headers, body


def _html_of(text: str, subject: str, rng: random.Random) -> str:
    paragraphs = "".join(f"<p>{_escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))
    extras = rng.choice([
        "",
        '<table border="0"><tr><td style="color:#333">Order</td><td><b>status</b></td></tr></table>',
        '<script>alert("x")</script><img src="cid:logo@example" onerror="steal()">',
        '<div style="font-family:Calibri"><a href="https://help.example.com">Help centre</a></div>',
    ])
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{_escape(subject)}</title>"
            f"<style>p {{ margin: 0 }}</style></head><body>{paragraphs}{extras}</body></html>")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76)) + b"\r\n"


def _header_block(headers: list[tuple[str, str]]) -> bytes:
    return "".join(f"{name}: {value}{_CRLF}" for name, value in headers).encode("ascii")


def _assemble(headers: list[tuple[str, str]], part: tuple[list[tuple[str, str]], bytes]) -> bytes:
    part_headers, body = part
    return _header_block(headers + part_headers) + _CRLF.encode() + body


def _pdf(rng: random.Random, size: int) -> bytes:
    """A small well-formed PDF whose one stream is padded (incompressible) to about ``size`` bytes."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n" \
           b"2 0 obj <</Type /Pages /Kids [3 0 R] /Count 1>> endobj\n" \
           b"3 0 obj <</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R>> endobj\n"
    payload = rng.randbytes(max(0, size - len(head) - 120))
    stream = b"4 0 obj <</Length %d /Filter /FlateDecode>> stream\n" % len(payload) + payload + b"\nendstream endobj\n"
    return head + stream + b"trailer <</Root 1 0 R>>\n%%EOF\n"


def _png(rng: random.Random, width: int, height: int) -> bytes:
    """A valid RGB PNG of noise (noise so that a 580x580 image really is ~1 MB)."""
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")
