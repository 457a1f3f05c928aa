"""Which files agents (and web-chat visitors) may upload, and the ids that name uploads and attachments.

Plain Python: ``chalicelib.service.uploads`` presigns and claims with S3, the
agent API serves downloads; both decide here.

- *What may be uploaded*: images a browser renders safely (no SVG: it carries
  script), PDF, plain text and CSV, the common office documents and zip
  archives, at most ``MAX_FILE_BYTES`` each. HTML, SVG, executables and scripts
  are refused by type *and* by extension, and a filename whose extension
  disagrees with the declared type is refused: the customer's mail client
  picks the program by extension, so ``invoice.pdf.exe`` declared as PDF
  must never leave the desk.
- *Upload ids* carry what was declared (filename, type, size) and a random
  token; the object key is derived from them under the scope's own prefix
  (``uploads/ticket/<id>/…``). The key is never handed out except inside the
  pre-signed URL, a forged or altered id derives a key nobody could write, and
  an id issued for another scope derives a key under *this* scope's prefix
  that does not exist: only the scope an upload was presigned for can claim it.
- *Attachment ids* name a stored message's attachment by ticket, message and
  position; the API checks the ticket itself before it serves one.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from urllib.parse import quote

__all__ = [
    "ALLOWED_TYPES", "MAX_EMAIL_ATTACHMENT_BYTES", "MAX_FILES_PER_MESSAGE", "MAX_FILE_BYTES", "MAX_TOTAL_BYTES",
    "AttachmentAddress", "AttachmentRefused", "Scope", "Upload", "attachment_id", "claimed_key",
    "content_disposition", "declared_upload", "parse_attachment_id", "parse_scope", "parse_upload_id",
]

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_FILES_PER_MESSAGE = 10
MAX_TOTAL_BYTES = 20 * 1024 * 1024
# SES SendRawEmail (API v1, what chalicelib.outbound.email sends with) takes at most 10 MB per
# message, attachments included; base64 grows them by 4/3 and its line breaks by 78/76:
# 7 000 000 bytes become ~9.6 MB, leaving room for the text and headers.
MAX_EMAIL_ATTACHMENT_BYTES = 7_000_000

_OFFICE = "application/vnd.openxmlformats-officedocument"
#: Declared type → the filename extensions that agree with it.
ALLOWED_TYPES: dict[str, frozenset[str]] = {
    "image/png": frozenset({".png"}),
    "image/jpeg": frozenset({".jpg", ".jpeg"}),
    "image/gif": frozenset({".gif"}),
    "image/webp": frozenset({".webp"}),
    "image/heic": frozenset({".heic"}),
    "image/tiff": frozenset({".tif", ".tiff"}),
    "application/pdf": frozenset({".pdf"}),
    "text/plain": frozenset({".txt", ".log"}),
    "text/csv": frozenset({".csv"}),
    "application/rtf": frozenset({".rtf"}),
    "application/msword": frozenset({".doc"}),
    f"{_OFFICE}.wordprocessingml.document": frozenset({".docx"}),
    "application/vnd.ms-excel": frozenset({".xls", ".csv"}),  # what Windows browsers with Excel declare for .csv
    f"{_OFFICE}.spreadsheetml.sheet": frozenset({".xlsx"}),
    "application/vnd.ms-powerpoint": frozenset({".ppt"}),
    f"{_OFFICE}.presentationml.presentation": frozenset({".pptx"}),
    "application/vnd.oasis.opendocument.text": frozenset({".odt"}),
    "application/vnd.oasis.opendocument.spreadsheet": frozenset({".ods"}),
    "application/vnd.oasis.opendocument.presentation": frozenset({".odp"}),
    "application/zip": frozenset({".zip"}),
    "application/x-zip-compressed": frozenset({".zip"}),  # what Windows browsers declare for a .zip
}

# Refused whatever type is declared: markup that runs script in a browser, and what runs on a desktop.
_REFUSED_EXTENSIONS = frozenset({
    ".html", ".htm", ".xhtml", ".shtml", ".mht", ".mhtml", ".svg", ".svgz", ".xml", ".xsl",
    ".exe", ".com", ".scr", ".pif", ".msi", ".msp", ".dll", ".cpl", ".bat", ".cmd", ".ps1", ".psm1", ".vbs",
    ".vbe", ".js", ".jse", ".mjs", ".wsf", ".wsh", ".hta", ".jar", ".sh", ".bash", ".py", ".pl", ".rb", ".php",
    ".app", ".dmg", ".pkg", ".deb", ".rpm", ".apk", ".lnk", ".reg", ".iso", ".docm", ".xlsm", ".pptm",
})
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")  # incl. bidi overrides
_SCOPE = re.compile(r"^(ticket|webchat|portal):([A-Za-z0-9_-]{1,80})$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,32}$")
_MAX_FILENAME_CHARS = 200


class AttachmentRefused(Exception):
    """A file (or an id) the policy refuses; ``kind`` says how the edge answers.

    ``invalid`` (400: malformed, or the extension disagrees with the type),
    ``too_large`` (413), ``unsupported`` (415: a type or extension never accepted).
    """

    def __init__(self, reason: str, kind: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class Scope:
    """Who may claim an upload: ``ticket:<id>`` (an agent's reply), ``webchat:<session>`` (a visitor) or
    ``portal:<draft>`` (a portal form or reply: the draft id the upload route gave that browser)."""

    kind: str
    owner: str

    @property
    def path(self) -> str:
        return f"{self.kind}/{self.owner}"


@dataclass(frozen=True)
class Upload:
    """What a browser was allowed to upload: the declared file and the random token naming it."""

    token: str
    filename: str
    content_type: str
    size: int

    @property
    def upload_id(self) -> str:
        document = json.dumps([self.token, self.filename, self.content_type, self.size], separators=(",", ":"),
                              ensure_ascii=False)
        return _b64(document)

    def key(self, scope: Scope) -> str:
        """Where the browser PUTs the bytes: the scope's prefix, the token, a digest of what was declared."""
        declared = hashlib.sha256(f"{self.filename}\0{self.content_type}\0{self.size}".encode()).hexdigest()[:16]
        return f"uploads/{scope.path}/{self.token}-{declared}"


@dataclass(frozen=True)
class AttachmentAddress:
    """Where a stored attachment sits: the ticket whose messages hold it, the message, its position."""

    ticket_id: str
    message_sk: str
    index: int


def parse_scope(scope: str) -> Scope:
    match = _SCOPE.match(scope or "")
    if not match:
        raise ValueError(f"scope must be ticket:<id>, webchat:<session id> or portal:<draft>, not {scope!r}")
    return Scope(match.group(1), match.group(2))


def declared_upload(filename: str, content_type: str, size: int, token: str) -> Upload:
    """The upload the policy allows for what the browser declared, or ``AttachmentRefused``."""
    if not isinstance(filename, str) or not filename.strip():
        raise AttachmentRefused("filename must be a non-empty file name")
    if len(filename) > _MAX_FILENAME_CHARS or _CONTROL.search(filename) or "/" in filename or "\\" in filename:
        raise AttachmentRefused(f"filename must be at most {_MAX_FILENAME_CHARS} characters, without "
                                "control characters or path separators")
    if not isinstance(content_type, str) or not _CONTENT_TYPE.match(content_type.strip().lower()):
        raise AttachmentRefused("content_type must be a media type such as application/pdf (no parameters)")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise AttachmentRefused("size must be the file's size in bytes (at least 1)")
    if size > MAX_FILE_BYTES:
        raise AttachmentRefused(f"{filename!r} is {size:,} bytes; files may be at most {MAX_FILE_BYTES:,} bytes",
                                "too_large")
    kind = content_type.strip().lower()
    extension = _extension(filename)
    if extension in _REFUSED_EXTENSIONS:
        raise AttachmentRefused(f"{extension} files are refused: markup, scripts and programs can run on the "
                                "reader's machine", "unsupported")
    allowed = ALLOWED_TYPES.get(kind)
    if allowed is None:
        raise AttachmentRefused(f"content_type {kind} is not accepted; send images (not SVG), PDF, text, CSV, "
                                "office documents or zip", "unsupported")
    if extension not in allowed:
        raise AttachmentRefused(f"filename {filename!r} does not end in {' or '.join(sorted(allowed))}, "
                                f"which {kind} needs")
    if not _TOKEN.match(token or ""):
        raise ValueError("token must be 16-32 URL-safe characters")
    return Upload(token, filename.strip(), kind, size)


def parse_upload_id(upload_id: str) -> Upload:
    """The upload an id names, checked against the policy again; ``AttachmentRefused`` if it is not one of ours."""
    refused = AttachmentRefused(f"{str(upload_id)[:80]!r} is not an upload id this desk issued")
    if not isinstance(upload_id, str) or len(upload_id) > 1024:
        raise refused
    try:
        token, filename, content_type, size = json.loads(_unb64(upload_id))
        return declared_upload(filename, content_type, size, token)
    except (ValueError, TypeError, AttachmentRefused):
        raise refused from None


def claimed_key(scope: Scope, upload: Upload) -> str:
    """Where a claimed upload is kept for good (``uploads/`` expires): beside inbound mail's attachments."""
    return f"attachments/{scope.path}/{upload.token}{_extension(upload.filename)}"


def attachment_id(ticket_id: str, message_sk: str, index: int) -> str:
    """The opaque, URL-safe id of a stored message's attachment (not its S3 key)."""
    return _b64(f"{ticket_id}\n{message_sk}\n{index}")


def parse_attachment_id(value: str) -> AttachmentAddress | None:
    """The attachment an id names, or None when it is no id of ours."""
    if not isinstance(value, str) or not 1 <= len(value) <= 400:
        return None
    try:
        ticket_id, message_sk, index = _unb64(value).split("\n")
    except ValueError:
        return None
    if not (ticket_id and message_sk and index.isascii() and index.isdigit() and len(index) <= 3):
        return None
    return AttachmentAddress(ticket_id, message_sk, int(index))


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name (RFC 6266 §4.3, RFC 8187 encoding)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _extension(filename: str) -> str:
    name = filename.strip().rstrip(". ").lower()  # Windows drops trailing dots and spaces: "a.exe." runs
    return name[name.rfind("."):] if "." in name else ""


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _unb64(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as err:
        raise ValueError("not base64url") from err
