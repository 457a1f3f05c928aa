"""The reply text: every line the customer wrote, without the history their client quoted.

Agents and triage read what the customer just wrote, wherever they wrote it:
above the quote (top posting), below it (bottom posting) or between quoted
lines (inline answers, common on mailing-list style clients and in long threads).

The representation is plain text:

* The customer's lines are kept as written (trailing spaces removed), including
  their sign-off and signature (name, phone), and "-- " signature separators.
* Quoted lines the customer answers below or between are kept, each starting
  with ">", so the console collapses every run of ">" lines into one toggle and
  an inline answer still shows the question it answers. Quote headers ("On …
  wrote:", "Am … schrieb …:", "Den … skrev …:") among them are dropped.
* Dropped: quoted history after the customer's last line and the header above
  it; history a client includes unquoted below an attribution, an Outlook
  From/Sent/To/Subject block (any of en, da, no, de, sv, nl, fr, es, pt, pl, hu;
  Hotmail's Date-first order; a block a converter flattened onto one line) or an
  "-----Original Message-----" line, to the end; separator lines ("-----",
  "_____") left at the end of the customer's text; a mailing list's footer
  (Google Groups, Mailman) below its separator; and footers the customer's app
  added on its own ("Sent from my iPhone", "Get Outlook for iOS"): the customer
  never typed them.
* Forwarded mail the customer includes ("---------- Forwarded message ---------")
  is their content and stays, header block and all.
* When nothing but quotes is left, the whole text is the reply text: it is
  never empty for a non-empty mail.

Segments of the kept text are separated by one blank line. ``InboundMessage.own_words``
gives the customer's lines without the quoted context (what triage reads).

Every step is one pass over the lines with recognisers of bounded width
(``reply_markers``), so the cost is linear whatever the sender writes; only the
first ``_REPLY_SCAN_CHARS`` are read line by line, the rest is kept as written
unless history started above it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.channels.email.reply_markers import (
    MAX_MARKER_CHARS,
    ends_like_attribution,
    is_attribution,
    is_forward_marker,
    is_list_footer,
    is_machine_line,
    is_original_message,
    is_separator,
    outlook_header_length,
    starts_like_attribution,
)

__all__ = ["reply_text"]

#: Text read line by line. A reply the customer types is a few KB; a pasted log or a
#: bottom-posted answer under a long thread stays far below this.
_REPLY_SCAN_CHARS = 1024 * 1024
#: Gmail wraps a long attribution over up to three lines ("... Support <" / "support@...> wrote:").
_ATTRIBUTION_LINES = 3
#: Lines at the end searched for a mailing list's separator and footer (Google Groups: 4, Mailman: 4-5).
_FOOTER_LINES = 12


@dataclass
class _Segment:
    quoted: bool
    lines: list[str] = field(default_factory=list)


def reply_text(text: str) -> str:
    """Every line the customer wrote, quoted lines they answer kept with ">", history and footers dropped."""
    if not text.strip():
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    head, tail = _split_for_scan(text)
    lines = [line.rstrip() for line in head.split("\n")]
    lines = lines if tail else _without_list_footer(lines)
    segments, history_found = _segments(lines)
    tail_lines = [line.rstrip() for line in tail[1:].split("\n")] if tail else []
    if not history_found and any(line.strip() and not _is_quoted(line) for line in tail_lines):
        # The customer wrote in the unread tail: keep it as written; it answers any quote above it.
        if segments and not segments[-1].quoted:
            segments[-1].lines += tail_lines
        else:
            segments.append(_Segment(quoted=False, lines=tail_lines))
    return _assemble(segments).strip() or text.strip()


def _split_for_scan(text: str) -> tuple[str, str]:
    if len(text) <= _REPLY_SCAN_CHARS:
        return text, ""
    cut = text.rfind("\n", 0, _REPLY_SCAN_CHARS)
    cut = _REPLY_SCAN_CHARS if cut <= 0 else cut
    return text[:cut], text[cut:]


def _without_list_footer(lines: list[str]) -> list[str]:
    """Cut a list server's footer: the last separator near the end whose lines below read like one."""
    content = [index for index, line in enumerate(lines) if line.strip()]
    for index in reversed(content[-_FOOTER_LINES:]):
        if is_separator(lines[index]) and is_list_footer(lines[index + 1 :]):
            return lines[:index]
    return lines


def _segments(lines: list[str]) -> tuple[list[_Segment], bool]:
    """Runs of the customer's lines and of quoted lines, quote headers left out; True when history was cut."""
    segments: list[_Segment] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        header = _header_length(lines, index)
        if header:
            following = _next_content(lines, index + header)
            if following is None or not _is_quoted(lines[following]):
                return segments, True  # history included unquoted, or nothing after: all of it goes
            index += header
            continue
        if not line.strip():
            if segments:
                segments[-1].lines.append(line)
            index += 1
            continue
        quoted = _is_quoted(line)
        if not segments or segments[-1].quoted != quoted:
            segments.append(_Segment(quoted=quoted))
        segments[-1].lines.append(line)
        index += 1
    return segments, False


def _header_length(lines: list[str], index: int) -> int:
    """Lines from ``index`` that are a quote header: an attribution, an Outlook block, an "Original Message" line."""
    line = lines[index]
    stripped = line.strip()
    if not stripped or stripped.startswith(">") or len(stripped) > MAX_MARKER_CHARS:
        return 0
    if is_original_message(stripped):
        return 1 + outlook_header_length(lines, index + 1)
    block = outlook_header_length(lines, index)
    if block:
        previous = _previous_content(lines, index)
        return 0 if previous is not None and is_forward_marker(lines[previous]) else block
    if is_attribution(stripped):
        return 1
    if not starts_like_attribution(stripped):
        return 0
    joined = stripped
    for span in range(2, _ATTRIBUTION_LINES + 1):  # Gmail wraps long attributions over adjacent lines
        if ends_like_attribution(joined) or index + span > len(lines) or not lines[index + span - 1].strip():
            break
        joined = f"{joined} {lines[index + span - 1].strip()}"
        if len(joined) > MAX_MARKER_CHARS:
            break
        if is_attribution(joined):
            return span
    return 0


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _next_content(lines: list[str], start: int) -> int | None:
    return next((index for index in range(start, len(lines)) if lines[index].strip()), None)


def _previous_content(lines: list[str], start: int) -> int | None:
    return next((index for index in range(start - 1, -1, -1) if lines[index].strip()), None)


def _assemble(segments: list[_Segment]) -> str:
    """The customer's segments, and the quoted segments some customer text follows (their context)."""
    last_written = max((i for i, segment in enumerate(segments) if not segment.quoted), default=-1)
    parts: list[str] = []
    for position, segment in enumerate(segments):
        if segment.quoted:
            if position < last_written:
                parts.append(_context(segment.lines))
        else:
            parts.append(_written(segment.lines))
    return "\n\n".join(part for part in parts if part)


def _written(lines: list[str]) -> str:
    """The customer's lines: app footers out, and no separator or blank line left at either end."""
    kept = [line for line in lines if not is_machine_line(line)]
    while kept and (not kept[-1].strip() or is_separator(kept[-1])):
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    return "\n".join(kept)


def _context(lines: list[str]) -> str:
    """Quoted lines an answer follows, as one ">" run: quote headers, blank lines and empty edges out."""
    kept = [line.lstrip() for line in lines if line.strip() and not is_attribution(line.lstrip(" >"))]
    while kept and not kept[0].strip(" >"):
        kept.pop(0)
    while kept and not kept[-1].strip(" >"):
        kept.pop()
    return "\n".join(kept)
