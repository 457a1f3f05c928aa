"""Storage failures the pipeline treats differently from a transient AWS error."""


class BlobMissing(LookupError):
    """The S3 object (e.g. the raw mail SES should have stored) does not exist."""


class DuplicateDelivery(Exception):
    """A conditional write found the message already stored: another delivery won."""


class RejectedWrite(ValueError):
    """DynamoDB will never accept these writes (a key over 2 KB, an item over 400 KB): retrying cannot help.

    Recognised before the first attempt where the size can be known, else from
    DynamoDB's ``ValidationException``; the message is parked with ``reason``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
