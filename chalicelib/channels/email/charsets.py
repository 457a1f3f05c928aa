"""Charset labels read the way browsers read them: the WHATWG Encoding Standard's label table.

Mail clients label text with the charset they think they used, and often name
a subset of the one they did: "gb2312" for GBK text, "iso-8859-1" for
windows-1252 (curly quotes, €), "ks_c_5601-1987" for windows-949. Python's
codecs take the label literally and fail on the extra characters; browsers and
other help desks read the label through the WHATWG table
(https://encoding.spec.whatwg.org/#names-and-labels), which maps each label to
the superset real senders use. ``webencodings`` (BSD) carries that table;
``_DECODERS`` fixes the few places where it names a narrower Python codec than
the standard's decoder. Labels the standard does not know (utf-7) or maps to
its "replacement" decoder (iso-2022-kr: a browser shows U+FFFD, a mail reader
can decode it) fall back to Python's own codec of that name.

Used for body parts (``mime``) and RFC 2047 encoded words (``headers``) alike.
"""
from __future__ import annotations

import codecs
import functools
import re

__all__ = ["decode", "is_ascii_label", "python_codec", "with_whatwg_charsets"]

#: Where the WHATWG decoder is wider than the Python codec webencodings names for it.
#: Encoding Standard §10.1.1: the GBK decoder is the gb18030 decoder.
_DECODERS = {"gbk": "gb18030"}
#: Labels the standard maps to windows-1252 because they name ASCII (Encoding Standard §4.2).
_ASCII_LABELS = frozenset({"ascii", "us-ascii", "ansi_x3.4-1968", "iso646-us", "us", "ibm367", "cp367", "csascii",
                           "iso-ir-6", "iso_646.irv:1991"})
#: The five bytes windows-1252 leaves undefined; the standard decodes them to the C1 control of the same value.
_WINDOWS_1252_GAPS = {0xDC00 + byte: chr(byte) for byte in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
_MAX_LABEL = 64


@functools.lru_cache(maxsize=256)
def python_codec(label: str) -> str | None:
    """The Python codec that decodes text labelled ``label`` as the WHATWG standard does; None when unknown."""
    import webencodings  # pure Python and small, but only mail with a charset needs it

    label = label.strip().strip('"').lower()[:_MAX_LABEL]
    encoding = webencodings.lookup(label)
    if encoding is not None and encoding.name != "replacement":
        return _DECODERS.get(encoding.name, encoding.codec_info.name)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None  # not base64, zlib, ...


def is_ascii_label(label: str | None) -> bool:
    return bool(label) and label.strip().strip('"').lower() in _ASCII_LABELS


def decode(data: bytes, label: str) -> str:
    """Bytes labelled ``label`` as text; ``LookupError`` for an unknown label, ``UnicodeError`` for bytes it cannot hold."""
    codec = python_codec(label)
    if codec is None:
        raise LookupError(f"unknown charset {label!r}")
    if codec == "cp1252":
        return data.decode(codec, "surrogateescape").translate(_WINDOWS_1252_GAPS)
    return data.decode(codec)


#: An RFC 2047 encoded word's opening: "=?charset?B?" or "=?charset*lang?Q?" (RFC 2231 §5).
_ENCODED_WORD_START = re.compile(r"=\?([^?*\s]{1,64})((?:\*[^?\s]{0,40})?)\?([bBqQ]\?)")


def with_whatwg_charsets(value: str) -> str:
    """A header value whose encoded words name the codec the WHATWG standard decodes their label with.

    ``=?gb2312?B?...?=`` becomes ``=?gb18030?B?...?=``, so the stdlib's encoded-word
    decoder reads GBK characters instead of leaving them undecodable. ASCII and
    unknown labels stay as written: the caller's fallback reads their bytes as
    UTF-8 first, which is what such mislabelled headers mostly hold.
    """
    if "=?" not in value:
        return value

    def relabel(found: re.Match[str]) -> str:
        label = found.group(1)
        codec = None if is_ascii_label(label) else python_codec(label)
        if codec is None or codec == label.lower():
            return found.group(0)
        return f"=?{codec}{found.group(2)}?{found.group(3)}"

    return _ENCODED_WORD_START.sub(relabel, value)
