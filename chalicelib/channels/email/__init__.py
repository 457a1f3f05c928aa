"""The email channel: SES receipt rule in, parsed and normalised to InboundMessage.

``ses_inbound`` takes the SES event, ``intake`` turns the stored mail into an
``InboundMessage``, ``autoreply`` spots machine-sent mail. The parser's public
API is ``mime`` (``parse_email``, ``ParsedEmail``, ``Attachment``); its steps
are ``headers``, ``addresses``, ``html``, ``quotes``, ``attachments`` and the
shared helpers in ``text``.

Nothing is re-exported here. ``app.py``'s SES functions reach ``ses_inbound`` and
``ses_failures`` through this package, which imports each on first use
(``chalicelib.lazy``), and the parser is only imported when a mail is parsed
(``intake`` imports it lazily).
"""
from __future__ import annotations

from chalicelib import lazy

__getattr__ = lazy.submodules(__name__, {"ses_failures", "ses_inbound"})
