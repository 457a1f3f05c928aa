"""The new part of a reply: quoted history, reply headers and the signature removed.

Agents and triage read what the customer just wrote. mailparser_reply finds the
quote headers in many languages, but its patterns are superlinear, so it only
sees a bounded, masked head of the text; its sign-off cut is checked line by
line. It is imported where it is used, to keep cold starts light.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable

__all__ = ["REPLY_LANGUAGES", "reply_text"]

#: Languages whose "On ... wrote:" headers and sign-offs mailparser_reply knows.
#: It has no Norwegian; Danish covers most of what Norwegian clients write.
REPLY_LANGUAGES = ("en", "da", "de", "sv", "nl", "fr", "es")

_MAX_SIGNATURE_CANDIDATES = 20
#: Text the quoted-reply stripper scans. mailparser_reply's quote-header patterns
#: are cubic in line length and quadratic in blank-line runs; the new reply sits
#: at the top, so a long head with no quote in it means everything is new text.
_REPLY_SCAN_CHARS = 32_768
#: Longest line the stripper sees. "On Mon, 3 Nov 2025 at 10:42, Ann Hansen
#: <ann.hansen@gmail.com> wrote:" is 75 characters; longer lines are never quote
#: headers and are hidden from it (and put back afterwards).
_REPLY_LINE_CHARS = 160


def reply_text(text: str) -> str:
    """The new part of a reply: quoted history, reply headers and the signature removed.

    The stripper's patterns are cubic in line length and quadratic in blank-line
    runs, so it sees at most ``_REPLY_SCAN_CHARS`` of the head, with lines over
    ``_REPLY_LINE_CHARS`` and long blank runs hidden behind placeholders that are
    put back afterwards.
    """
    if not text.strip():
        return ""
    head = text[:_REPLY_SCAN_CHARS]
    if len(text) > len(head) and "\n" in head:
        head = head[: head.rfind("\n")]  # whole lines only
    masked, restore = _mask_for_stripper(head)
    reply = restore(_strip_history_and_signature(masked)).strip()
    if len(text) > len(head) and reply == _normalised_lines(head):
        return text.strip()  # nothing was quoted in the head, so the tail is new text too
    return reply or text.strip()


def _normalised_lines(text: str) -> str:
    """The text as mailparser_reply returns it when it cuts nothing: lines stripped."""
    return "\n".join(line.strip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def _mask_for_stripper(text: str) -> tuple[str, Callable[[str], str]]:
    """Hide overlong lines and blank runs behind one-token lines; return the text and an undo.

    A placeholder is a private-use character the text does not contain plus a number,
    so it matches no quote-header or signature pattern and cannot collide.
    """
    marker = next((chr(code) for code in range(0xE000, 0xF900) if chr(code) not in text), None)
    if marker is None:
        return text, lambda reply: reply
    hidden: list[str] = []
    lines: list[str] = []
    blank_run = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            blank_run += 1
            if blank_run <= 2:
                lines.append("")
            elif blank_run == 3:
                hidden.append("")
                lines[-1:] = [f"{marker}{len(hidden) - 1}{marker}", ""]
            else:
                hidden[-1] += "\n"
            continue
        blank_run = 0
        if len(stripped) > _REPLY_LINE_CHARS:
            hidden.append(stripped)
            lines.append(f"{marker}{len(hidden) - 1}{marker}")
        else:
            lines.append(line)
    if not hidden:
        return text, lambda reply: reply
    placeholder = re.compile(f"{marker}(\\d+){marker}")

    def restore(reply: str) -> str:
        return placeholder.sub(lambda found: hidden[int(found.group(1))], reply)

    return "\n".join(lines), restore


def _strip_history_and_signature(text: str) -> str:
    from mailparser_reply.parser import EmailMessage as ReplyMessage

    # keep_hyphen_lists: its default treats any line starting with "- " as a
    # signature, which cuts every bulleted list a customer writes.
    message = ReplyMessage(text=text, languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True).read()
    if not message.replies:
        return text.strip()
    latest = message.replies[0].content.strip()
    return _strip_signature(latest, message.SIGNATURE_REGEX)


@functools.cache
def _sign_off_pattern() -> re.Pattern[str]:
    """A line that is only a sign-off, a signature separator or a "Sent from my ..." line."""
    from mailparser_reply.constants import MAIL_LANGUAGES

    languages = [MAIL_LANGUAGES.get(language, {}) for language in REPLY_LANGUAGES]
    phrases = [
        phrase
        for language in languages
        for phrase in language.get("signatures", [])
        if not phrase.startswith("/")  # Swedish "/Name" would match every "/path" line
    ]
    sent_from = [language["sent_from"] for language in languages if language.get("sent_from")]
    return re.compile(
        # RFC 3676 §4.3: "-- " is the signature separator (stripped to "--" by the parser).
        r"--|__|[_-]{32,}"
        rf"|(?:{'|'.join(phrases)})[\s,.!:;-]*"
        rf"|(?:{'|'.join(sent_from)})\b.*",
        re.IGNORECASE,
    )


def _strip_signature(text: str, signature_regex: re.Pattern[str]) -> str:
    """Cut the signature only where its first line is nothing but a sign-off.

    mailparser_reply's sign-off patterns have no word boundary and run to the
    end of the text: Danish "Tak" cuts "Tak for svaret. Det virker nu." and
    everything after it. Accept its match only when the matched line is a bare
    sign-off ("Med venlig hilsen", "Thanks,", "--"), else look further down.
    """
    position = 0
    for _ in range(_MAX_SIGNATURE_CANDIDATES):
        match = signature_regex.search(text, position)
        first_char = _NON_SPACE.search(text, match.start()) if match else None
        if first_char is None:
            return text
        start = text.rfind("\n", 0, first_char.start()) + 1
        end = text.find("\n", start)
        end = len(text) if end == -1 else end
        line = text[start:end].lstrip("> ").strip()
        if _sign_off_pattern().fullmatch(line):
            return text[:start].strip() or text
        position = end + 1
    return text


_NON_SPACE = re.compile(r"\S")
