"""Storage failures the pipeline treats differently from a transient AWS error."""


class BlobMissing(LookupError):
    """The S3 object (e.g. the raw mail SES should have stored) does not exist."""


class DuplicateDelivery(Exception):
    """A conditional write found the message already stored: another delivery won."""
