"""Why an email cannot become a ticket; each carries a reason a person can read."""


class MalformedEmail(ValueError):
    """The raw message cannot be turned into a ticket (empty, no sender, not MIME)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
