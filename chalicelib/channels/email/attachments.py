"""Attachments: decoded parts with file names that are safe as S3 key parts.

A file name is written by the sender: it may carry path parts, bidi overrides
that spoof the extension, or be missing. Attached emails are serialised back
to .eml files, named after their subject like mail clients do.
"""
from __future__ import annotations

import functools
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.generator import BytesGenerator, Generator
from email.message import Message
from io import BytesIO, StringIO

from chalicelib.channels.email.exceptions import MailTooLarge
from chalicelib.channels.email.headers import decode_unstructured, header_values, unfolded_headers
from chalicelib.channels.email.text import first, repair_surrogates

__all__ = ["Attachment", "extract_attachments", "part_content_id", "part_filename"]

_MAX_FILENAME_CHARS = 150
#: Decoded attachments together. Decoding base64 only shrinks, so this only
#: trips on a decoding bug or a crafted nested message; it bounds what goes to S3.
_MAX_ATTACHMENT_BYTES = 40 * 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    """A non-body MIME part, decoded, with a name that is safe as an S3 key part."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)  # may be 25 MB: keep it out of logs and test output
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.content)


_PATH_SEPARATORS = re.compile(r"[\\/]")
_RESERVED_FILENAME_CHARS = re.compile(r'[:*?"<>|]')  # reserved on Windows, awkward in S3 keys
_EXTENSION_OVERRIDES = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/calendar": ".ics",
    "image/jpeg": ".jpg",
}


def extract_attachments(parts: list[Message], linesep: str, limit: int | None = None) -> list[Attachment]:
    """Decoded attachments; MailTooLarge once their total passes ``limit`` (default _MAX_ATTACHMENT_BYTES)."""
    limit = _MAX_ATTACHMENT_BYTES if limit is None else limit
    attachments = []
    total = 0
    for index, part in enumerate(parts, 1):
        content = _part_bytes(part, linesep)
        total += len(content)
        if total > limit:
            raise MailTooLarge(
                f"attachments too large: more than {limit:,} bytes decoded (limit {limit:,}); the raw mail is kept"
            )
        content_type = part.get_content_type()
        content_id = part_content_id(part)
        disposition = part.get_content_disposition()
        name = part_filename(part) or _attached_message_name(part)
        attachments.append(
            Attachment(
                filename=_safe_filename(name, index, content_type),
                content_type=content_type,
                content=content,
                content_id=content_id,
                inline=disposition == "inline" or (disposition is None and content_id is not None),
            )
        )
    return attachments


def part_filename(part: Message) -> str | None:
    """The part's file name as the sender wrote it (not yet safe), or None; a named text part is a file."""
    try:
        name = part.get_filename()
    except Exception:  # RFC 2231 parameters in the wild break the param parser
        return None
    if not isinstance(name, str) or not name.strip():
        return None
    return repair_surrogates(name, "attachment filename", [])


def part_content_id(part: Message) -> str | None:
    """The Content-ID without brackets, which cid: references in the HTML body point at; None if absent."""
    for name, value in part.raw_items():
        if name.lower() == "content-id":
            content_id = "".join(str(value).split()).strip("<>")
            return content_id or None
    return None


def _attached_message_name(part: Message) -> str | None:
    """An attached email without a filename is named after its subject, like mail clients do."""
    if part.get_content_maintype() != "message" or not part.is_multipart():
        return None
    payload = part.get_payload()
    if not isinstance(payload, list) or not payload:
        return None
    subject = first(header_values(unfolded_headers(payload[0]), "subject"))
    return f"{decode_unstructured('Subject', subject, [])}.eml" if subject else None


def _part_bytes(part: Message, linesep: str) -> bytes:
    """The decoded content; an attached message is serialised back to an .eml file.

    ``is_multipart`` first: a plain ``get_payload()`` decodes 8-bit text with the part's
    charset parameter and raises on a hostile one (a NUL in it); ``decode=True`` never does.
    """
    if not part.is_multipart():
        return part.get_payload(decode=True) or b""
    return b"".join(_serialise(message, linesep) for message in part.get_payload() if isinstance(message, Message))


def _serialise(message: Message, linesep: str) -> bytes:
    buffer = BytesIO()
    # refold_source="none": write headers as received; refolding can raise on broken ones.
    out_policy = policy.default.clone(refold_source="none", linesep=linesep)
    try:
        BytesGenerator(buffer, policy=out_policy).flatten(message)
        return buffer.getvalue()
    except (UnicodeError, LookupError, ValueError, TypeError, AttributeError):
        # BytesGenerator writes a multipart whose boundary never appears through
        # get_payload(), which has already turned its 8-bit bytes into U+FFFD,
        # then fails to encode that as ASCII. The text generator has no such step.
        text = StringIO()
        Generator(text, policy=policy.compat32.clone(linesep=linesep)).flatten(message)
        return text.getvalue().encode("utf-8", "surrogateescape")


def _safe_filename(name: str | None, index: int, content_type: str) -> str:
    """A download name that cannot escape its S3 prefix or spoof its extension."""
    if name:
        name = unicodedata.normalize("NFC", name)
        name = _PATH_SEPARATORS.split(name)[-1]  # no path parts
        # Cc: controls; Cf: bidi overrides ("gpj.exe" shown as "exe.jpg"); Cs: lone surrogates.
        name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
        name = _RESERVED_FILENAME_CHARS.sub("_", name)
        name = " ".join(name.split()).strip(" .")  # no hidden files, no "..", no trailing dot
        name = _truncate_filename(name)
    return name or f"attachment-{index}{_guess_extension(content_type)}"


def _truncate_filename(name: str) -> str:
    if len(name) <= _MAX_FILENAME_CHARS:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and len(extension) <= 16:
        keep = _MAX_FILENAME_CHARS - len(extension) - 1
        return f"{stem[:keep].rstrip(' .')}.{extension}"
    return name[:_MAX_FILENAME_CHARS].rstrip(" .")


def _guess_extension(content_type: str) -> str:
    if content_type in _EXTENSION_OVERRIDES:
        return _EXTENSION_OVERRIDES[content_type]
    return _mime_types().guess_extension(content_type) or ".bin"


@functools.cache
def _mime_types() -> mimetypes.MimeTypes:
    # Python's built-in table only: /etc/mime.types differs between a laptop and Lambda.
    return mimetypes.MimeTypes()
