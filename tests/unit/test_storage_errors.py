"""What DynamoDB answered a PynamoDB call with (``storage.exceptions.error_code``), including no answer at all.

A read timeout after an applied write carries ``response = None``; PynamoDB's own ``cause_response_code``
raises AttributeError on it, which turned an applied transaction answered by a timeout into an
AttributeError in ``repository.commit`` (the 10,000-event proof parked a message for it)."""
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from pynamodb.exceptions import PutError, TransactWriteError

from chalicelib.storage.exceptions import condition_failed, error_code, error_message


def _client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "PutItem")


def test_a_timeout_has_no_code_where_pynamodb_raises():
    err = TransactWriteError("Failed to write transaction items",
                             ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"))
    with pytest.raises(AttributeError):
        err.cause_response_code  # noqa: B018 - what repository.commit used to read
    assert error_code(err) is None and not condition_failed(err)
    assert "Failed to write transaction items" in error_message(err)


def test_an_answer_s_code_and_message():
    err = PutError("Failed to put item", _client_error("ConditionalCheckFailedException", "The condition failed"))
    assert error_code(err) == "ConditionalCheckFailedException" and condition_failed(err)
    assert error_message(err) == "The condition failed"
    assert error_code(PutError("x", _client_error("ValidationException"))) == "ValidationException"
    assert error_code(ValueError("no cause")) is None
