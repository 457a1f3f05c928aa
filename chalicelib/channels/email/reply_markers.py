"""Lines that mail clients and list servers add to a reply: quote headers, separators, app footers.

``quotes`` decides the structure of a reply (what is quoted, what the customer
wrote); this module only recognises single lines, in the languages our customers
write (en, da, no, de, sv, nl, fr, es). Each recogniser sees one line cut to
``MAX_MARKER_CHARS`` (or a few joined lines), and every pattern is a prefix or
whole-line match of bounded width: the cost is linear in the text, whatever the
sender writes. The phrases come from the clients themselves (Gmail, Outlook
desktop/web/mobile, Apple Mail, Thunderbird, Samsung Email, Yahoo, Mutt); the
corpus in tests/fixtures/mail/replies/ has a reply of each.
"""
from __future__ import annotations

import re

__all__ = [
    "MAX_MARKER_CHARS",
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

#: Words that say "wrote" in attribution lines: en, da/no/sv, de, nl, fr, es, it, pt, cs, fi, pl.
_WROTE = re.compile(
    r"\b(?:wrote|skrev|schrieb|schreef|a\s+écrit|escribió|ha\s+scritto|escreveu|napsal(?:\(a\))?|kirjoitti|napisał)\b",
    re.IGNORECASE,
)
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


def is_attribution(line: str) -> bool:
    """An "On ... wrote:" line (or a translation): the header a client puts above the text it quotes.

    It must end with ":", name the writer by address or carry a time or date, and
    start like one (a customer's "Jeg skrev til jer i går:" does not).
    """
    line = line.strip()
    if not line.endswith(":") or len(line) > MAX_MARKER_CHARS:
        return False
    if line.startswith("* ") and "@" in line:  # Mutt: "* Ann Hansen <ann@example.com> [2025-11-03 10:42]:"
        return True
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
    "from": "from fra von från van de od",
    "sent": "sent sendt gesendet skickat verzonden envoyé enviado date dato datum fecha data",
    "to": "to til an till aan à a para",
    "subject": "subject emne betreff ämne onderwerp objet asunto",
    "cc": "cc kopi kopia",
}
_KIND_OF = {word: kind for kind, words in _FIELD_KINDS.items() for word in words.split()}
#: "From: ...", "*Fra:* ...", "Enviado el: ..." — a field name (up to two words) and a colon.
_FIELD = re.compile(r"\*?([^\W\d_]{1,10}(?: el)?)\*?[ \t]?:(?:[ \t*]|$)", re.IGNORECASE)
#: Field lines an Outlook header block may have (From, Sent, To, Cc, Subject, plus Outlook for Mac's Date).
_MAX_FIELDS = 7


def _field_kind(line: str) -> str | None:
    found = _FIELD.match(line.strip()[:MAX_MARKER_CHARS])
    return _KIND_OF.get(found.group(1).lower()) if found else None


def outlook_header_length(lines: list[str], start: int) -> int:
    """How many lines from ``start`` form a From/Sent/To/Subject header block (0 when they do not).

    Outlook, Samsung Email and most webmail put it above the history they include
    unquoted. It must start with the sender field and name the time and the
    recipient or subject, so a customer's "From: Oslo / To: Bergen" is no header.
    """
    kinds: list[str] = []
    for line in lines[start : start + _MAX_FIELDS]:
        kind = _field_kind(line)
        if kind is None:
            break
        kinds.append(kind)
    if not kinds or kinds[0] != "from" or "sent" not in kinds or not {"to", "subject"} & set(kinds):
        return 0
    return len(kinds)


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

_LINK = r"(?:\s*<https?://[^<>\s]{1,200}>)?"
#: Footers phones and mail apps add on their own: "Sent from my iPhone" and its translations,
#: "Sent from Yahoo Mail on Android", "Sent from Mail for Windows", "Get Outlook for iOS".
_MACHINE_LINE = re.compile(
    r"(?:(?:sent from my|sendt fra min|skickat från min|verzonden (?:vanaf|met) mijn|envoyé de mon|enviado desde mi)"
    r" [\w .'-]{1,40}"
    r"|von meinem [\w .'-]{1,40} gesendet"
    r"|(?:sent from|sendt fra|gesendet von|skickat från|verzonden (?:vanaf|met)|envoyé (?:de|depuis)|enviado desde)"
    r" (?:yahoo mail|mail|outlook|gmail|aol|proton mail|samsung email)(?: (?:for|on|til|für|för|voor|pour|para) [\w .-]{1,30})?"
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
