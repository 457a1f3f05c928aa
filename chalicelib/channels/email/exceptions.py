"""Why an email cannot become a ticket; each carries a reason a person can read."""


class MalformedEmail(ValueError):
    """The raw message cannot be turned into a ticket (empty, no sender, not MIME)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MailTooLarge(MalformedEmail):
    """The mail exceeds a structural limit (size, parts, attachments) set to bound parsing work.

    A subclass, so the worker parks it like any malformed mail: a person reads the
    reason and still has the raw mail in S3. Nothing of it has been stored yet.
    """
