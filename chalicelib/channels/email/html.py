"""HTML bodies: sanitised for the agent UI, and turned into text when a mail has no plain part.

html5ever (in nh3) is superlinear on hostile HTML and inscriptis (which renders the
text) recurses once per nesting level, so each sees bounded input, and a linear
tag-stripping conversion covers the rest. nh3 and inscriptis are imported where
they are used: most mail needs neither, and importing them would slow every cold start.
"""
from __future__ import annotations

import html as html_entities
import re
from urllib.parse import quote

__all__ = ["html_text", "html_to_plain_text", "safe_html"]

#: HTML we sanitise (html_body). Newsletters are 50-150 KB; the rest is cut.
_MAX_HTML_CHARS = 2 * 1024 * 1024
#: html5ever (in nh3) is quadratic in nesting depth (20,000 nested lists take 4 s),
#: and inscriptis recurses per level. Real mail nests tables and quotes 10-50 deep.
_MAX_HTML_DEPTH = 256
#: inscriptis renders ordinary mail at about 2.5 MB a second and 256 KB of hostile
#: tables (one row of 26,000 cells) in under a second; larger HTML-only mail gets the
#: linear tag-stripping conversion instead, well inside the parse budget.
_MAX_FORMATTED_HTML_CHARS = 256 * 1024


def html_text(html_body: str | None, html_pieces: list[str], defects: list[str]) -> str:
    """The body text of a mail without plain text: formatted when it is small enough, else stripped tags."""
    if html_body is not None and len(html_body) <= _MAX_FORMATTED_HTML_CHARS:
        text = _html_to_text(html_body)
        if text is not None:
            return text
        defects.append("HTML could not be laid out as text; tags stripped instead")
        return html_to_plain_text(html_body)
    if html_pieces:
        # Too large or too deep for a formatted conversion: keep every word, lose the layout.
        defects.append("HTML too large or too deeply nested for formatted text; tags stripped instead")
        source = html_body if html_body is not None else "\n".join(html_pieces)[:_MAX_HTML_CHARS]
        return html_to_plain_text(source)
    return ""


def _html_to_text(html: str) -> str | None:
    """The text of sanitised HTML as a reader sees it laid out, or None when lxml or inscriptis refuses it.

    Links keep their target (``[status](https://…)``), lists their bullets and numbers,
    tables their columns; images (cid: references mean nothing in text) are left out.
    Quoted mail (``<blockquote>``, as Gmail, Apple Mail and Thunderbird send it) gets a
    ">" per level on each line, the way plain-text mail quotes, so the reply-text
    reader (quotes.py) tells the customer's lines from the history in HTML-only mail too.
    """
    if not html.strip():
        return "\n"
    # inscriptis (Apache-2.0) over lxml (BSD): only HTML-only mail needs them.
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.html_engine import Inscriptis
    from inscriptis.model.config import ParserConfig
    from lxml.etree import ParserError
    from lxml.html import HTMLParser, document_fromstring

    # "strict" is the browser's own layout; the "relaxed" profile indents every <div>
    # and puts spaces around every <span>, which mail nests by the dozen.
    config = ParserConfig(css=CSS_PROFILES["strict"], display_links=True,
                          annotation_rules={"blockquote": ["quote"]})
    try:
        # huge_tree: libxml2 otherwise stops at 255 levels and silently drops the rest of
        # the mail; safe_html has already refused anything nested deeper than _MAX_HTML_DEPTH.
        tree = document_fromstring(html, parser=HTMLParser(huge_tree=True))
        rendering = Inscriptis(tree, config)
        text = rendering.get_text()
        quotes = [(annotation.start, annotation.end) for annotation in rendering.get_annotations()]
    # ParserError: nothing lxml calls a document; ValueError: text it cannot encode (nh3's
    # output is valid Unicode, so not expected); RecursionError: only past safe_html's depth.
    except (ParserError, ValueError, RecursionError):
        return None
    return _quote_marked(text, quotes).strip("\n") + "\n"


def _quote_marked(text: str, quotes: list[tuple[int, int]]) -> str:
    """Each line inside n quote spans gets n ">" in front, in one pass; trailing spaces go.

    A blank line between quoted lines gets the lesser depth of its neighbours (a bare
    ">" inside a quote), so a quote's own margins do not spill onto the lines around it.
    """
    change = [0] * (len(text) + 1)
    for start, end in quotes:  # inscriptis trims the text's end, not the spans reaching it
        change[min(start, len(text))] += 1
        change[min(end, len(text))] -= 1
    lines: list[tuple[int, str]] = []  # (depth where the line's text starts, the line); blank: depth -1
    depth = position = 0
    for line in text.split("\n"):
        first = position + len(line) - len(line.lstrip())
        for offset in range(position, first + 1):
            depth += change[offset]
        lines.append((depth if line.strip() else -1, line.rstrip()))
        for offset in range(first + 1, position + len(line) + 1):
            depth += change[offset]
        position += len(line) + 1
    out: list[str] = []
    before = 0
    after = [0] * (len(lines) + 1)
    for index in range(len(lines) - 1, -1, -1):
        after[index] = lines[index][0] if lines[index][0] >= 0 else after[index + 1]
    for index, (level, line) in enumerate(lines):
        if level < 0:
            out.append(">" * min(before, after[index + 1]))
        else:
            out.append(f"{'>' * level} {line}" if level else line)
            before = level
    return "\n".join(out)


# Linear by construction: "[^<>]*" stops at the next "<", so "<<<<" costs one pass, and
# the possessive name (Python 3.11) cannot trade characters with it ("<a" + 1 MB of letters).
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*+)[^<>]*>|<!--|<[^<>]*>")
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption footer form h1 h2 h3 h4 h5 h6 header hr "
    "li main nav ol p pre section table td th tr ul".split()
)
_CONTENT_DROPPED_TAGS = ("script", "style", "head", "title", "template", "noscript", "textarea", "xmp", "iframe", "noembed")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_plain_text(html: str) -> str:
    """Text of any HTML in one linear pass: block tags become line breaks, other tags vanish.

    The fallback for HTML too large for inscriptis or too deep for html5ever (in nh3,
    quadratic in nesting). Script and style content is dropped, entities are decoded.
    """
    out: list[str] = []
    position = 0
    lowered = html.lower()
    for match in _TAG.finditer(html):
        if match.start() < position:
            continue  # inside a comment or a dropped element we already skipped
        out.append(html[position : match.start()])
        position = match.end()
        token = match.group()
        if token == "<!--":
            end = html.find("-->", position)
            position = len(html) if end == -1 else end + 3
            continue
        name = (match.group(2) or "").lower()
        if not match.group(1) and name in _CONTENT_DROPPED_TAGS:
            end = lowered.find(f"</{name}", position)
            position = len(html) if end == -1 else end
        elif name in _BLOCK_TAGS:
            out.append("\n")
    out.append(html[position:])
    text = html_entities.unescape("".join(out))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


_VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# End tags HTML lets authors leave out (WHATWG §13.1.2.4); they do not nest.
_OPTIONAL_END_TAGS = frozenset("p li dt dd tr td th option optgroup thead tbody tfoot colgroup rb rt rp rtc".split())


def _html_depth(html: str) -> int:
    """An upper estimate of the element nesting depth, in one linear pass over the tags."""
    depth = deepest = 0
    for match in _TAG.finditer(html):
        name = (match.group(2) or "").lower()
        if not name or name in _VOID_TAGS or name in _OPTIONAL_END_TAGS or match.group().endswith("/>"):
            continue
        if match.group(1):
            depth = max(depth - 1, 0)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def safe_html(pieces: list[str], defects: list[str]) -> str | None:
    """The HTML body sanitised for the agent UI, or None when it is too deep to sanitise in bounded time."""
    html = "\n".join(pieces)
    if len(html) > _MAX_HTML_CHARS:
        defects.append(f"HTML body longer than {_MAX_HTML_CHARS:,} characters; cut")
        html = html[:_MAX_HTML_CHARS]
    depth = _html_depth(html)
    if depth > _MAX_HTML_DEPTH:
        defects.append(f"HTML nested {depth:,} levels deep (limit {_MAX_HTML_DEPTH}); only its text is kept")
        return None
    return _sanitise_html(html).strip()


_INLINE_IMAGE = re.compile(r"data:image/[a-z0-9.+-]+[;,]", re.IGNORECASE)
# nh3's defaults minus cite= (a URL no browser fetches, but nothing an agent needs either).
_NO_URL_ATTRIBUTES = ("cite",)


def _sanitise_html(html: str) -> str:
    """Remove script, style, event handlers and every remote resource; keep cid: and data: images.

    Showing a mail must not tell a tracker it was read: remote image sources become
    an inline placeholder naming the host (the original is only in the raw mail),
    relative and protocol-relative URLs are refused, and style attributes, <link>,
    background=, srcset and poster never pass nh3's allow-lists. Links stay (a
    click is consent) with rel="noopener noreferrer".
    """
    import nh3

    attributes = {
        tag: {name for name in names if name not in _NO_URL_ATTRIBUTES}
        for tag, names in nh3.ALLOWED_ATTRIBUTES.items()
    }
    return nh3.clean(
        html,
        attributes=attributes,
        attribute_filter=_filter_attribute,
        url_schemes=nh3.ALLOWED_URL_SCHEMES | {"cid", "data"},
        url_relative="deny",
        link_rel="noopener noreferrer",
    )


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    """nh3 calls this after its own URL checks; what it returns is not checked again."""
    if tag == "img" and name == "src":
        scheme = value.split(":", 1)[0].strip().lower()
        if scheme == "cid" or (scheme == "data" and _INLINE_IMAGE.match(value.strip())):
            return value
        return _remote_image_placeholder(value)
    if name in ("href", "src") and value.split(":", 1)[0].strip().lower() in ("data", "cid"):
        return None  # data: and cid: are for images only
    return value


def _remote_image_placeholder(url: str) -> str:
    """An inline SVG saying which host the image came from; nothing is fetched."""
    host = url.split("//", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].split("?", 1)[0][:100]
    label = html_entities.escape(f"[remote image removed: {host}]", quote=True)
    svg = (
        "<svg xmlns='http://www.w3.org/2000/svg' width='320' height='24'>"
        f"<text x='4' y='16' font-family='sans-serif' font-size='12' fill='#666'>{label}</text></svg>"
    )
    return "data:image/svg+xml;charset=utf-8," + quote(svg, safe=" =/:;,'[]()")
