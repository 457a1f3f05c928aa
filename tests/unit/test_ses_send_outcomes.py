"""``outbound.email.send`` tells its callers what SES's answer means for sending again: a refusal for good is
``Undeliverable``; throttling, an outage or an endpoint never reached is ``NotSent`` (certainly not sent, so the
at-most-once records may be given back); a read timeout stays what it is (SES may have sent it)."""
from __future__ import annotations

from email.message import EmailMessage
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from chalicelib.outbound import email as email_out


def _mail() -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = "Hi", "support@example.com", "ann@customer.example"
    mail.set_content("Hello")
    return mail


def _ses_raising(error: BaseException):
    def send_raw_email(**_):
        raise error
    return lambda service: SimpleNamespace(send_raw_email=send_raw_email)


@pytest.mark.parametrize("error, outcome", [
    (ClientError({"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}, "SendRawEmail"),
     email_out.NotSent),
    (ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendRawEmail"), email_out.NotSent),
    (EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"), email_out.NotSent),
    (ClientError({"Error": {"Code": "MessageRejected", "Message": "Email address is not verified."}},
                 "SendRawEmail"), email_out.Undeliverable),
    (ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"), ReadTimeoutError),
])
def test_what_ses_answered_decides_whether_it_may_be_sent_again(monkeypatch, error, outcome):
    monkeypatch.setenv("SUPPORT_ADDRESS", "support@example.com")
    monkeypatch.setattr(email_out.aws, "client", _ses_raising(error))
    with pytest.raises(outcome):
        email_out.send(_mail(), "ann@customer.example")
