"""HTML bodies: sanitised for the agent UI, and turned into text when a mail has no plain part.

Both html5ever (in nh3) and html2text are superlinear on hostile HTML, so each
sees bounded input, and a linear tag-stripping conversion covers the rest.
nh3 and html2text are imported where they are used: most mail needs neither,
and importing them would slow every cold start.
"""
from __future__ import annotations

import html as html_entities
import re
from urllib.parse import quote

__all__ = ["html_text", "html_to_plain_text", "safe_html"]

#: HTML we sanitise (html_body). Newsletters are 50-150 KB; the rest is cut.
_MAX_HTML_CHARS = 2 * 1024 * 1024
#: html5ever (in nh3) and html2text are quadratic in nesting depth: 20,000 nested
#: lists take 4 s and 60 s. Real mail nests tables and quotes 10-50 deep.
_MAX_HTML_DEPTH = 256
#: html2text converts about 300 KB a second; larger HTML-only mail gets the linear
#: tag-stripping conversion instead.
_MAX_HTML2TEXT_CHARS = 256 * 1024


def html_text(html_body: str | None, html_pieces: list[str], defects: list[str]) -> str:
    """The body text of a mail without plain text: html2text when it is small enough, else stripped tags."""
    if html_body is not None and len(html_body) <= _MAX_HTML2TEXT_CHARS:
        return _html_to_text(html_body)
    if html_pieces:
        # Too large or too deep for html2text: keep every word, lose the layout.
        defects.append("HTML too large or too deeply nested for formatted text; tags stripped instead")
        source = html_body if html_body is not None else "\n".join(html_pieces)[:_MAX_HTML_CHARS]
        return html_to_plain_text(source)
    return ""


def _html_to_text(html: str) -> str:
    import html2text  # only HTML-only mail needs it

    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: the UI wraps
    converter.ignore_images = True  # cid: references mean nothing in text
    converter.ignore_emphasis = True
    converter.unicode_snob = True  # keep æøå, do not transliterate
    return converter.handle(html).strip("\n") + "\n"


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

    The fallback for HTML html2text (and html5ever, in nh3) would need quadratic
    time for. Script and style content is dropped, entities are decoded.
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
