"""The deployment's configuration, read in one place: desk settings and the five rule files.

Each file is named by an environment variable (``DESK_SETTINGS``, ``TRIAGE_RULES``,
``ROUTING_RULES``, ``AUTOMATION_RULES``, ``SLA_POLICIES``, ``MACROS_FILE``) or is the
bundled one, validated by the schema that lives next to the domain code that reads
it, and loaded once per path. The domain never reads the environment or a file:
it is handed what this module loaded.

Read on every call, cached by path: the Chalice test client (and Lambda) sets a
stage's environment only while a function runs, so a value captured at import
would be the wrong one. A file that fails validation is not cached: it fails
every time it is asked for, with a message naming the rule and field.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from chalicelib.domain.assignment import Routing
    from chalicelib.domain.automation import RuleSet as AutomationRules
    from chalicelib.domain.macros import Macro
    from chalicelib.domain.sla import SlaPolicies
    from chalicelib.domain.triage import RuleSet as TriageRules
    from chalicelib.settings import DeskSettings

__all__ = ["automation_rules", "desk_settings", "routing", "sla_policies", "starter_macros",
           "triage_rules", "webchat_allowed_origins"]

_BUNDLED = Path(__file__).resolve().parent
T = TypeVar("T")


def desk_settings() -> DeskSettings:
    from chalicelib import settings

    return _load(settings.load_settings, "DESK_SETTINGS", "desk_settings.json")


def webchat_allowed_origins() -> frozenset[str]:
    """The origins whose pages may call the web-chat routes: ``WEBCHAT_ALLOWED_ORIGINS`` (comma-separated)
    when set, else the desk settings' ``webchat_allowed_origins``; each validated as an origin."""
    override = os.environ.get("WEBCHAT_ALLOWED_ORIGINS")
    if override is None:
        return frozenset(desk_settings().webchat_allowed_origins)
    return _origins(override)


@functools.lru_cache(maxsize=8)
def _origins(listed: str) -> frozenset[str]:
    from chalicelib import settings

    return frozenset(settings.web_origin(item) for item in listed.split(",") if item.strip())


def triage_rules() -> TriageRules:
    from chalicelib.domain import triage

    return _load(triage.load_rules, "TRIAGE_RULES", "triage_rules.yaml")


def automation_rules() -> AutomationRules:
    from chalicelib.domain import automation

    return _load(automation.load_rules, "AUTOMATION_RULES", "automation_rules.yaml")


def sla_policies() -> SlaPolicies:
    from chalicelib.domain import sla

    return _load(sla.load_policies, "SLA_POLICIES", "sla_policies.yaml")


def starter_macros() -> tuple[Macro, ...]:
    from chalicelib.domain import macros

    return _load(macros.load_macros, "MACROS_FILE", "macros.yaml")


def routing() -> Routing:
    """The assignment rules. A deployment's own file must name only the desk's queues (its triage
    categories, when it declares them): a typo ("biling") fails at load instead of quietly using the
    default. The bundled file is checked against the bundled triage rules by the unit tests."""
    from chalicelib.domain import assignment

    custom = os.environ.get("ROUTING_RULES")
    if not custom:
        return _cached(assignment.load_routing, str(_BUNDLED / "routing.yaml"), None)
    categories = triage_rules().categories
    return _cached(assignment.load_routing, custom, tuple(categories) if categories is not None else None)


def _load(loader: Callable[[str], T], variable: str, bundled: str) -> T:
    return _cached(loader, os.environ.get(variable) or str(_BUNDLED / bundled))


@functools.lru_cache(maxsize=32)
def _cached(loader: Callable[..., Any], path: str, *args: Any) -> Any:
    return loader(path, *args)
