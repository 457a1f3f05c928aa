"""The error a rule file that cannot be used raises."""
from __future__ import annotations

__all__ = ["AutomationRulesError"]


class AutomationRulesError(Exception):
    """The rule file cannot be used; the message names the file, rule and field."""
