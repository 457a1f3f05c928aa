"""Agents' files: download a message's attachment, upload one for a reply (both through pre-signed S3 URLs).

``GET /tickets/{ticket_id}/attachments/{attachment_id}`` answers a short-lived GET
URL (``service.attachments``); ``POST /tickets/{ticket_id}/uploads`` a PUT URL for
a file a reply then names in ``attachments`` (``service.uploads``). The bytes go
between the browser and S3 only: API Gateway and Lambda never carry them.
"""
from __future__ import annotations

from typing import Any

from chalicelib.api.auth import authenticate
from chalicelib.api.errors import Conflict, Created, api_endpoint
from chalicelib.api.requests import parse
from chalicelib.api.ticket_api import load


@api_endpoint
def download(request: Any, ticket_id: str, attachment_id: str) -> dict[str, Any]:
    from chalicelib.service import attachments

    authenticate(request.headers)
    return attachments.download(load(ticket_id), attachment_id)


@api_endpoint
def upload(request: Any, ticket_id: str) -> Any:
    from chalicelib.api.upload_bodies import UploadBody
    from chalicelib.service import uploads

    authenticate(request.headers)
    body = parse(request, UploadBody)
    ticket = load(ticket_id)
    if ticket.merged_into:  # its replies go on the surviving ticket, and so must its uploads
        raise Conflict(f"ticket was merged into {ticket.merged_into}; upload there")
    return Created(uploads.presign_upload(f"ticket:{ticket.ticket_id}", body.filename, body.content_type, body.size))
