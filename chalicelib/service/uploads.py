"""Files a browser uploads straight to S3, then a reply (or a web-chat message) claims.

Two steps, so file bytes never pass through API Gateway (10 MB payload limit) or
a Lambda: ``presign_upload`` checks what the browser declares against
``domain.attachment_policy`` and hands out a pre-signed PUT URL for an object
under the scope's ``uploads/`` prefix (expired by an S3 lifecycle rule after a
day); ``claim_uploads`` proves each object is there and is what was declared
(HeadObject: size, Content-Type) and copies it to ``attachments/``, where the
message that claims it keeps it. Both speak a *scope* — ``ticket:<id>`` for an
agent's reply, ``webchat:<session id>`` for a visitor — and an upload is only
found under the scope it was presigned for.

Refusals are ``chalicelib.errors`` types (400, 409, 413, 415 with a reason): the
HTTP edges answer them as they are.
"""
from __future__ import annotations

import secrets
from typing import Any

from chalicelib.domain import attachment_policy as policy
from chalicelib.domain.messages import AttachmentRef
from chalicelib.errors import BadRequest, Conflict, HttpError, PayloadTooLarge, UnsupportedMediaType
from chalicelib.storage import blobs

__all__ = ["URL_SECONDS", "claim_uploads", "presign_upload", "refusal"]

URL_SECONDS = 300  # long enough to start a 10 MB upload on a slow line; short enough to be worthless if leaked


def presign_upload(scope: str, filename: str, content_type: str, size: int) -> dict[str, Any]:
    """Where and how the browser PUTs one file: ``{upload_id, url, headers, expires_in, max_bytes}``.

    ``headers`` must be sent with the PUT exactly (Content-Type is part of the signature).
    ``max_bytes`` is the declared size: a claim refuses an object larger than that.
    """
    where = policy.parse_scope(scope)
    try:
        upload = policy.declared_upload(filename, content_type, size, secrets.token_urlsafe(16))
    except policy.AttachmentRefused as err:
        raise refusal(err) from None
    url = blobs.presign_upload(upload.key(where), content_type=upload.content_type, expires_in=URL_SECONDS)
    return {"upload_id": upload.upload_id, "url": url, "headers": {"Content-Type": upload.content_type},
            "expires_in": URL_SECONDS, "max_bytes": upload.size}


def claim_uploads(scope: str, upload_ids: list[str], *,
                  max_total_bytes: int = policy.MAX_TOTAL_BYTES) -> list[AttachmentRef]:
    """The uploads, checked and kept for good, as attachments for the message that claims them.

    Every upload is checked before any is copied: one bad id and nothing is kept.
    ``max_total_bytes``: what the message's channel can carry (email: SES's message size).
    """
    where = policy.parse_scope(scope)
    if len(upload_ids) > policy.MAX_FILES_PER_MESSAGE:
        raise BadRequest(f"at most {policy.MAX_FILES_PER_MESSAGE} attachments per message")
    if len(set(upload_ids)) != len(upload_ids):
        raise BadRequest("the same upload id is listed twice")
    checked: list[tuple[policy.Upload, int]] = []
    for upload_id in upload_ids:
        try:
            upload = policy.parse_upload_id(upload_id)
        except policy.AttachmentRefused as err:
            raise refusal(err) from None
        stored = blobs.describe(upload.key(where))
        if stored is None:
            raise Conflict(f"upload {upload.filename!r} has no file here: PUT it to the URL it came with first "
                           f"(URLs last {URL_SECONDS} s, unclaimed uploads a day; an upload belongs to the "
                           "ticket or chat it was made for)")
        size, content_type = stored
        if size > upload.size:
            raise PayloadTooLarge(f"{upload.filename!r} is {size:,} bytes, more than the {upload.size:,} declared")
        if content_type.split(";")[0].strip().lower() != upload.content_type:
            raise Conflict(f"{upload.filename!r} was stored as {content_type or 'no type'!r}, not the "
                           f"{upload.content_type} declared; upload it again with the headers given")
        checked.append((upload, size))
    total = sum(size for _, size in checked)
    if total > max_total_bytes:
        raise PayloadTooLarge(f"attachments total {total:,} bytes; this message can carry at most "
                              f"{max_total_bytes:,}")
    return [AttachmentRef(upload.filename, upload.content_type, size,
                          blobs.copy(upload.key(where), policy.claimed_key(where, upload), upload.content_type))
            for upload, size in checked]


def refusal(err: policy.AttachmentRefused) -> HttpError:
    """The HTTP refusal for a policy refusal: 413 too large, 415 a type never accepted, 400 otherwise."""
    status = {"too_large": PayloadTooLarge, "unsupported": UnsupportedMediaType}.get(err.kind, BadRequest)
    return status(err.reason)
