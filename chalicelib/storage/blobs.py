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
