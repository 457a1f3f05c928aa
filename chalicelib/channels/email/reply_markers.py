"""Lines that mail clients and list servers add to a reply: quote headers, separators, app footers.

``quotes`` decides the structure of a reply (what is quoted, what the customer
wrote); this module only recognises single lines, in the languages our customers
write (en, da, no, de, sv, nl, fr, es), plus the attributions and header fields
of a few more that peer parsers' test mails carry (it, pt, cs, pl, hu, ru, ja,
zh). Each recogniser sees one line cut to
``MAX_MARKER_CHARS`` (or a few joined lines), and every pattern is a prefix or
whole-line match of bounded width: the cost is linear in the text, whatever the
sender writes. The phrases come from the clients themselves (Gmail, Outlook
desktop/web/mobile, Apple Mail, Thunderbird, Samsung Email, Yahoo, Mutt); the
corpus in tests/fixtures/mail/replies/ has a reply of each, and
tests/fixtures/mail/peer/ holds the peer parsers' test mails (talon,
email_reply_parser, mail-parser-reply) we are measured on as well.
"""
from __future__ import annotations

import re

__all__ = [
    "MAX_MARKER_CHARS",
    "ends_like_attribution",
    "is_attribution",
    "is_forward_marker",
    "is_list_footer",
    "is_machine_line",
    "is_original_message",
    "is_separator",
    "outlook_header_length",
    "starts_like_attribution",
]

#: The longest line a marker can be. Gmail's "On Mon, Nov 3, 2025 at 10:42 AM Ann
#: Hansen <ann.hansen@example.com> wrote:" is about 80 characters; a long display
#: name and address double it. Longer lines are never markers.
MAX_MARKER_CHARS = 400

# --- "On <date>, <name> wrote:" and its translations --------------------------

#: Words that say "wrote" in attribution lines: en, da/no/sv, de, nl, fr, es, it, pt, cs, fi, pl, hu, ru, zh.
_WROTE = re.compile(
    r"\b(?:wrote|skrev|schrieb|schreef|a\s+écrit|escribió|ha\s+scritto|escreveu|napsal(?:\(a\))?|kirjoitti|napisał"
    r"|írta|написала?|写道)\b",
    re.IGNORECASE,
)
#: Attributions end with a colon; Chinese and Japanese clients write the full-width one.
_COLONS = (":", "：")
#: How attribution lines begin: "On", "Am", "Den", "Le", "El", "Op", "Em", "Il", "Dne", "På";
#: a weekday (Gmail in Norwegian: "man. 3. nov. 2025 ..."); a date ("03.11.2025 ..."); Mutt's "* ".
_OPENER = re.compile(
    r"(?:On|Am|Den|Le|El|Op|Em|Il|Dne|På|Dnia)\b"
    r"|(?:man|tir|ons|tor|fre|lør|søn|mån|tis|tors|lör|sön|Mo|Di|Mi|Do|Fr|Sa|So|Mon|Tue|Wed|Thu|Fri|Sat|Sun)\.?[\s,]"
    r"|\d|\*\s",
    re.IGNORECASE,
)
#: A time (10:42, 10.42) or a numeric date: attribution lines carry one, or an address.
_TIME_OR_DATE = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b")
#: Words after "wrote" that are still part of an attribution ("schrieb am Mo., 3. Nov. 2025, 10:42:").
_MAX_AFTER_VERB = 100
#: Gmail in some locales writes no verb: "2017-12-22 10:35 GMT-02:00 Ann <ann@example.com>:" (pt-BR, ja).
_ADDRESS_AT_END = re.compile(r"<[^<>\s@]{1,64}@[^<>\s@]{1,255}>[:：]")


def ends_like_attribution(line: str) -> bool:
    """The line ends as an attribution does: with a colon (half or full width)."""
    return line.rstrip().endswith(_COLONS)


def is_attribution(line: str) -> bool:
    """An "On ... wrote:" line (or a translation): the header a client puts above the text it quotes.

    It must end with ":" (or "："), name the writer by address or carry a time or date, and
    start like one (a customer's "Jeg skrev til jer i går:" does not).
    """
    line = line.strip()
    if not line.endswith(_COLONS) or len(line) > MAX_MARKER_CHARS:
        return False
    if line.startswith("* ") and "@" in line:  # Mutt: "* Ann Hansen <ann@example.com> [2025-11-03 10:42]:"
        return True
    if line[0].isdigit() and _TIME_OR_DATE.search(line) and _ADDRESS_AT_END.fullmatch(line[line.rfind("<") :]):
        return True  # verb-less Gmail: a date, a time, and the writer's address closing the line
    verb = _WROTE.search(line)
    if verb is None or len(line) - verb.end() > _MAX_AFTER_VERB:
        return False
    if "@" not in line and not _TIME_OR_DATE.search(line):
        return False
    # "Ann Hansen <ann@example.com> schrieb am ...:" starts with the writer, not an opener.
    return bool(_OPENER.match(line)) or "@" in line[: verb.start()]


def starts_like_attribution(line: str) -> bool:
    """The first line of an attribution a client wrapped ("On Mon, Nov 3, 2025 at 10:42 AM Ann <")."""
    return bool(_OPENER.match(line.strip()))


# --- Outlook's From/Sent/To/Subject block -------------------------------------

_FIELD_KINDS = {
    "from": "from fra von från van de od feladó",
    "sent": "sent sendt gesendet skickat verzonden envoyé enviado enviada date dato datum fecha data wysłano elküldve",
    "to": "to til an till aan à a para do címzett",
    "subject": "subject emne betreff ämne onderwerp objet asunto assunto temat tárgy",
    "cc": "cc kopi kopia reply-to",
}
_KIND_OF = {word: kind for kind, words in _FIELD_KINDS.items() for word in words.split()}
#: "From: ...", "*Fra:* ...", "Enviado el: ...", "Enviada em: ...", "Reply-To: ..." — a field name and a colon.
_FIELD = re.compile(r"\*?([^\W\d_]{1,10}(?:-[^\W\d_]{1,10}| el| em)?)\*?[ \t]?:(?:[ \t*]|$)", re.IGNORECASE)
#: Spanish and Portuguese Outlook add a preposition to the sent field ("Enviado el:", "Enviada em:").
_FIELD_SUFFIXES = (" el", " em")
#: A header block a converter flattened onto one line: "Date: ... From: ... To: ... Subject: ...".
_INLINE_FIELD = re.compile(r"(?:^|\s)(from|sent|date|to|cc|subject):\s", re.IGNORECASE)
#: Field lines an Outlook header block may have (From, Sent, To, Cc, Subject, plus Outlook for Mac's Date).
_MAX_FIELDS = 7


def _field_kind(line: str) -> str | None:
    found = _FIELD.match(line.strip()[:MAX_MARKER_CHARS])
    if found is None:
        return None
    name = found.group(1).lower()
    return _KIND_OF.get(name[:-3] if name.endswith(_FIELD_SUFFIXES) else name)


def _is_header_block(kinds: list[str]) -> bool:
    """Sender first (or the date, when the recipient and subject follow: Hotmail), and the time."""
    if not kinds or "from" not in kinds or "sent" not in kinds:
        return False
    if kinds[0] == "from":
        return bool({"to", "subject"} & set(kinds))
    return kinds[0] == "sent" and {"to", "subject"} <= set(kinds)


def _inline_header(line: str) -> bool:
    """All the fields on one line, as an HTML-to-text converter leaves a Hotmail header."""
    stripped = line.strip()[:MAX_MARKER_CHARS]
    kinds = [found.group(1).lower() for found in _INLINE_FIELD.finditer(stripped)]
    kinds = ["sent" if kind == "date" else kind for kind in kinds]
    return len(kinds) >= 3 and _FIELD.match(stripped) is not None and _is_header_block(kinds)


def outlook_header_length(lines: list[str], start: int) -> int:
    """How many lines from ``start`` form a From/Sent/To/Subject header block (0 when they do not).

    Outlook, Samsung Email and most webmail put it above the history they include
    unquoted. It must start with the sender field and name the time and the
    recipient or subject (or start with the date and name sender, recipient and
    subject), so a customer's "From: Oslo / To: Bergen" is no header. A block a
    converter flattened onto one line counts as one line.
    """
    kinds: list[str] = []
    for line in lines[start : start + _MAX_FIELDS]:
        kind = _field_kind(line)
        if kind is None:
            break
        kinds.append(kind)
    if _is_header_block(kinds):
        return len(kinds)
    return 1 if start < len(lines) and _inline_header(lines[start]) else 0


# --- Separators -------------------------------------------------------------------

#: "-----Original Message-----" and its translations; Samsung's "-------- Original message --------".
_ORIGINAL_MESSAGE = re.compile(
    r"-{2,}\s?(?:original message|original-nachricht|originalnachricht|ursprüngliche nachricht|oprindelig meddelelse"
    r"|opprinnelig melding|opprinnelig e-post|ursprungligt meddelande|oorspronkelijk bericht|message d'origine"
    r"|mensaje original)\s?-{2,}",
    re.IGNORECASE,
)
#: A line that only separates: "--", "-----", "_____" (Outlook's 32 underscores), "=====", "*****".
_SEPARATOR = re.compile(r"--|[-_=*~]{3,}")
#: Forwarded mail a customer includes is their content: the header block below it is kept.
_FORWARD = re.compile(
    r"(?:-{2,}\s?)?(?:forwarded message|begin forwarded message|videresendt (?:besked|meddelelse|melding|e-post)"
    r"|weitergeleitete nachricht|anfang der weitergeleiteten nachricht|vidarebefordrat meddelande"
    r"|doorgestuurd bericht|message transféré|mensaje reenviado)\b.{0,40}",
    re.IGNORECASE,
)


def is_original_message(line: str) -> bool:
    return bool(_ORIGINAL_MESSAGE.fullmatch(line.strip()[:MAX_MARKER_CHARS]))


def is_separator(line: str) -> bool:
    """A line of dashes or underscores (or "-- "), or an "Original Message" line."""
    stripped = line.strip()
    return len(stripped) <= MAX_MARKER_CHARS and (bool(_SEPARATOR.fullmatch(stripped)) or is_original_message(stripped))


def is_forward_marker(line: str) -> bool:
    return bool(_FORWARD.fullmatch(line.strip()[:MAX_MARKER_CHARS]))


# --- Lines the customer's app or list server added ------------------------------

_LINK = r"(?:\s*(?:<https?://[^<>\s]{1,200}>|\(https?://[^()\s]{1,200}\)))?"
#: Footers phones and mail apps add on their own: "Sent from my iPhone" and its translations,
#: "Sent from Yahoo Mail on Android", "Sent from Mail for Windows", "Get Outlook for iOS",
#: "Sent with Sparrow (http://www.sparrowmailapp.com/?sig)".
_MACHINE_LINE = re.compile(
    r"(?:(?:sent from my|sendt fra min|skickat från min|verzonden (?:vanaf|met) mijn|envoyé de mon|enviado desde mi)"
    r" [\w .'-]{1,40}"
    r"|von meinem [\w .'-]{1,40} gesendet"
    r"|(?:sent from|sendt fra|gesendet von|skickat från|verzonden (?:vanaf|met)|envoyé (?:de|depuis)|enviado desde)"
    r" (?:yahoo mail|mail|outlook|gmail|aol|proton mail|samsung email)(?: (?:for|on|til|für|för|voor|pour|para) [\w .-]{1,30})?"
    r"|sent with (?:sparrow|airmail|spark|newton|polymail|superhuman|blackberry work)"
    r"|(?:get|hent|få|skaff) outlook (?:for|til) (?:ios|android)"
    r"|outlook für (?:ios|android) beziehen"
    r"|skaffa outlook för (?:ios|android))"
    + _LINK,
    re.IGNORECASE,
)


def is_machine_line(line: str) -> bool:
    """A footer the sender's app added ("Sent from my iPhone"): not something the customer wrote."""
    return bool(_MACHINE_LINE.fullmatch(line.strip().rstrip(".")[:MAX_MARKER_CHARS]))


#: What list servers write below every post: Google Groups, Mailman 2 and 3, Sympa, Groups.io.
_LIST_FOOTER = re.compile(
    r"you received this (?:message|email) because you are subscribed|to unsubscribe|unsubscribe:"
    r"|mailing list\b|/listinfo/|/mailman/|groups\.io|-leave@|-unsubscribe@|\+unsubscribe@",
    re.IGNORECASE,
)


def is_list_footer(lines: list[str]) -> bool:
    """The lines below a separator are a mailing list's footer (subscription and unsubscribe text)."""
    return any(_LIST_FOOTER.search(line[:MAX_MARKER_CHARS]) for line in lines)
