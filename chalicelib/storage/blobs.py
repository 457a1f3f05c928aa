"""S3 for what does not fit a DynamoDB item: raw mail, attachments, large bodies."""
from __future__ import annotations

from chalicelib import aws, config
from chalicelib.storage.exceptions import BlobMissing


def get(bucket: str, key: str) -> bytes:
    s3 = aws.client("s3")
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey as err:
        raise BlobMissing(f"s3://{bucket}/{key} does not exist") from err


def put(key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    """Store in the mail bucket; returns the key. Same key, same bytes: retries are harmless."""
    aws.client("s3").put_object(Bucket=config.setting("MAIL_BUCKET"), Key=key, Body=data, ContentType=content_type)
    return key


def read(key: str) -> bytes:
    return get(config.setting("MAIL_BUCKET"), key)


def browser_origin() -> str:
    """The origin a browser talks to for this bucket's pre-signed URLs (for the console's CSP ``connect-src``).

    Presigning is local (no AWS call), so the origin is read off a signed URL rather than guessed from the
    region: virtual-hosted or path-style, AWS or a local endpoint, it is the one the console will use.
    """
    url = aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": config.setting("MAIL_BUCKET"), "Key": "origin"}, ExpiresIn=60)
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


# --- Attachments agents and visitors download and upload through pre-signed URLs ---------
# Presigning is local (no AWS call) and signs with the function's role: the role needs
# s3:GetObject on attachments/ and s3:PutObject on uploads/ (.chalice/policy.json).


def presign_download(key: str, *, content_disposition: str, expires_in: int) -> str:
    """A GET URL for one stored object, served as a download (never rendered inline by the bucket's origin)."""
    return aws.presigner("s3").generate_presigned_url(
        "get_object", ExpiresIn=expires_in,
        Params={"Bucket": config.setting("MAIL_BUCKET"), "Key": key,
                "ResponseContentDisposition": content_disposition})


def presign_upload(key: str, *, content_type: str, expires_in: int) -> str:
    """A PUT URL for one object; Content-Type is signed, so the browser must send exactly this type."""
    return aws.presigner("s3").generate_presigned_url(
        "put_object", ExpiresIn=expires_in,
        Params={"Bucket": config.setting("MAIL_BUCKET"), "Key": key, "ContentType": content_type})


def describe(key: str) -> tuple[int, str] | None:
    """The stored object's size and Content-Type (HeadObject), or None when there is no such object.

    S3 answers a missing key with 403, not 404, to a role without ``s3:ListBucket`` (ours have none: listing
    would show every key of the bucket), and HeadObject's 403 carries no body to tell the two apart. The
    keys asked for are ours (an upload's), so a 403 here means it was never stored.
    """
    from botocore.exceptions import ClientError

    try:
        head = aws.client("s3").head_object(Bucket=config.setting("MAIL_BUCKET"), Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "403", "Forbidden",
                                                          "AccessDenied"):
            return None
        raise
    return int(head["ContentLength"]), head.get("ContentType") or ""


def copy(source_key: str, key: str, content_type: str) -> str:
    """Copy within the mail bucket (one request up to 5 GB); same source, same copy: retries are harmless."""
    bucket = config.setting("MAIL_BUCKET")
    aws.client("s3").copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key},
                                 ContentType=content_type, MetadataDirective="REPLACE")
    return key
