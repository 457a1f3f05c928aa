"""``blobs.describe``: a key S3 does not hold is "no such object", whether S3 says 404 or, to a role without
s3:ListBucket (every function's, by least privilege), 403; any other error is raised."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from chalicelib.storage import blobs


def _s3_answering(code: str) -> SimpleNamespace:
    def head_object(**_: str) -> dict:
        raise ClientError({"Error": {"Code": code, "Message": "..."}}, "HeadObject")
    return SimpleNamespace(head_object=head_object)


@pytest.mark.parametrize("code", ["404", "NoSuchKey", "403", "AccessDenied"])
def test_a_key_s3_will_not_show_is_no_object(monkeypatch, code):
    monkeypatch.setenv("MAIL_BUCKET", "relay-desk-mail")
    monkeypatch.setattr(blobs.aws, "client", lambda service: _s3_answering(code))
    assert blobs.describe("uploads/t-1/u-1") is None


def test_other_errors_are_not_taken_for_a_missing_object(monkeypatch):
    monkeypatch.setenv("MAIL_BUCKET", "relay-desk-mail")
    monkeypatch.setattr(blobs.aws, "client", lambda service: _s3_answering("SlowDown"))
    with pytest.raises(ClientError):
        blobs.describe("uploads/t-1/u-1")
