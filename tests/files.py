"""Agents' files in tests: download an attachment, upload one, as the console does (through the API's URLs).

In-process moto intercepts boto3, not ``requests`` (LocalDesk's platform stubs own
``requests``), so in-process tests follow a pre-signed URL to its object with
boto3 (the bucket and key the URL names); ``LocalDesk(server=True)`` tests use
the URLs with ``requests`` like a browser.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from tests.api import call


def object_of(url: str) -> tuple[str, str]:
    """The (bucket, key) a pre-signed URL names: virtual-hosted (AWS) or path-style (moto server)."""
    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    host = parts.hostname or ""
    if ".s3." in host or host.endswith(".s3.amazonaws.com"):
        return host.split(".s3", 1)[0], path
    bucket, _, key = path.partition("/")
    return bucket, key


def download(desk: Any, token: str, ticket_id: str, attachment: dict[str, Any]) -> bytes:
    """The attachment's bytes, fetched through ``GET /tickets/{id}/attachments/{attachment id}``'s URL."""
    status, link = call(desk, "get", f"/tickets/{ticket_id}/attachments/{attachment['id']}", token)
    assert status == 200, link
    bucket, key = object_of(link["url"])
    return desk._aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def upload(desk: Any, token: str, ticket_id: str, filename: str, content_type: str, data: bytes, *,
           stored_type: str | None = None) -> str:
    """Upload ``data`` as the console does; returns the upload id. ``stored_type``: a browser that lied."""
    status, grant = call(desk, "post", f"/tickets/{ticket_id}/uploads", token,
                         {"filename": filename, "content_type": content_type, "size": len(data)})
    assert status == 201, grant
    bucket, key = object_of(grant["url"])
    desk._aws("s3").put_object(Bucket=bucket, Key=key, Body=data,
                               ContentType=stored_type or grant["headers"]["Content-Type"])
    return grant["upload_id"]
