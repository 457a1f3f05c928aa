"""Desk behaviour as data: self-help links, acknowledgement cap, reopening.

Response-time promises come from the SLA policies (``chalicelib/sla_policies.yaml``),
so the acknowledgement promises exactly what the SLA clocks measure.

Validated with pydantic on first use, so a bad settings file fails loudly in the
first test or invocation that reads it, not silently at 3 a.m. Which file is
read is ``chalicelib.configuration``'s business (``DESK_SETTINGS``, else the
bundled ``desk_settings.json``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

from chalicelib.domain.vocabulary import DEFAULT_LANGUAGE, Language


_DEFAULT_PATH = Path(__file__).with_name("desk_settings.json")


class SelfHelpLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1)
    url: HttpUrl
    # The title in other languages ({"da": "Følg din ordre"}); a language left out shows ``title``.
    titles: dict[Language, Annotated[str, Field(min_length=1)]] = {}

    def title_in(self, language: str) -> str:
        """The title a customer reading ``language`` sees (``language.for_customer`` chose it)."""
        return self.titles.get(language, self.title)  # type: ignore[call-overload]


class AcknowledgementLimit(BaseModel):
    """RFC 3834 §2 asks responders to limit replies to one sender; these are the caps.

    The short window stops two robots ping-ponging; the daily cap stops one
    sender (or a forger) from making us mail the same address all day.
    """

    model_config = ConfigDict(extra="forbid")
    max_per_sender: int = Field(ge=1)
    window_minutes: int = Field(ge=1, le=7 * 24 * 60)
    max_per_sender_per_day: int = Field(default=10, ge=1)


class SenderAuthentication(BaseModel):
    """What to do with mail whose sender SES could not authenticate (SPF, DKIM, DMARC verdicts).

    ``enforce``: a mail that fails DMARC, or fails both SPF and DKIM where the
    domain publishes no DMARC record, gets no acknowledgement, joins no existing
    ticket and is held for review (status ``spam`` with the reason) until an
    agent releases it. ``monitor``: the verdict is recorded on the message and
    logged, nothing else changes. ``off``: verdicts are ignored.
    """

    model_config = ConfigDict(extra="forbid")
    mode: Literal["enforce", "monitor", "off"] = "enforce"


class WebchatSessionLimit(BaseModel):
    """Anonymous web-chat sessions one client address may open per window (each can open a ticket)."""

    model_config = ConfigDict(extra="forbid")
    max_per_client: int = Field(default=20, ge=1)
    window_minutes: int = Field(default=60, ge=1, le=24 * 60)


_ORIGIN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"


def web_origin(value: str) -> str:
    """A browser origin as browsers send it (``https://shop.example``, ``http://127.0.0.1:8080``): scheme,
    host and port only, lower case, no path or trailing slash; ``ValueError`` otherwise."""
    if not isinstance(value, str) or not re.match(_ORIGIN, value.strip()):
        raise ValueError(f"{value!r} is not an origin such as https://shop.example (scheme, host, port; no path)")
    return value.strip().lower()


class DeskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    self_help_links: list[SelfHelpLink] = []
    # The BM25 score a knowledge-base article needs to be linked from an acknowledgement instead of the fixed
    # ``self_help_links`` (a word in the title of the right article scores ~10; a typo-only match 0.4-0.6).
    kb_suggestion_min_score: float = Field(default=5.0, ge=0)
    acknowledgement_limit: AcknowledgementLimit
    sender_authentication: SenderAuthentication = SenderAuthentication()
    webchat_session_limit: WebchatSessionLimit = WebchatSessionLimit()
    # Sites whose pages may embed the web-chat widget (CORS allow-list; WEBCHAT_ALLOWED_ORIGINS overrides it).
    webchat_allowed_origins: list[Annotated[str, AfterValidator(web_origin)]] = []
    reopen_on_reply: bool = True
    # Silent deflection: a ticket whose customer opened a suggested article and then, for this many hours, neither
    # wrote again nor got an agent's reply counts as deflected and is solved by self-service (0 = off).
    deflection_window_hours: int = Field(default=72, ge=0, le=30 * 24)
    # The 24/7 chat bot (domain/bot.py): on chat channels it answers a new question with the one article that
    # scores at least ``bot_min_score`` and asks whether that solved it; below, it hands over to a person at
    # once. The threshold is higher than ``kb_suggestion_min_score``: a link is a hint, the bot's answer is
    # the reply (``make bench`` section "bot" measures right and wrong answers per threshold).
    bot_enabled: bool = True
    bot_min_score: float = Field(default=8.0, ge=0)
    # What a customer reads when neither their preference nor their message names a language we have.
    default_language: Language = DEFAULT_LANGUAGE


def load_settings(path: str | Path) -> DeskSettings:
    """Read and validate a settings file (``chalicelib.configuration.desk_settings`` picks which one)."""
    return DeskSettings.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
