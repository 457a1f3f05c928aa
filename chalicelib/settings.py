"""Desk behaviour as data: self-help links, acknowledgement cap, reopening.

Response-time promises come from the SLA policies (``chalicelib/sla_policies.yaml``),
so the acknowledgement promises exactly what the SLA clocks measure.

Validated with pydantic on first use, so a bad settings file fails loudly in the
first test or invocation that reads it, not silently at 3 a.m. The file is
``chalicelib/desk_settings.json`` unless ``DESK_SETTINGS`` names another path.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from chalicelib import config

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: tuple[str, ...] = ("urgent", "high", "normal", "low")
CHANNELS: tuple[str, ...] = ("email", "slack", "whatsapp", "messenger", "telegram", "sms", "webchat")
Channel = Literal["email", "slack", "whatsapp", "messenger", "telegram", "sms", "webchat"]
_DEFAULT_PATH = Path(__file__).with_name("desk_settings.json")


class SelfHelpLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1)
    url: HttpUrl


class AcknowledgementLimit(BaseModel):
    """RFC 3834 §2 asks responders to limit replies to one sender; this is the cap."""

    model_config = ConfigDict(extra="forbid")
    max_per_sender: int = Field(ge=1)
    window_minutes: int = Field(ge=1, le=7 * 24 * 60)


class DeskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    self_help_links: list[SelfHelpLink] = []
    acknowledgement_limit: AcknowledgementLimit
    reopen_on_reply: bool = True


def desk_settings() -> DeskSettings:
    return _load(config.setting("DESK_SETTINGS") or str(_DEFAULT_PATH))


@functools.lru_cache(maxsize=4)
def _load(path: str) -> DeskSettings:
    return DeskSettings.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
