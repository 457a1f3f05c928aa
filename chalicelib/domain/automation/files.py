"""Loading rule files: the bundled set (``DEFAULT_RULES_PATH``) or a deployment's own,
as YAML, with errors that name the rule and field."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from chalicelib.domain import rule_files
from chalicelib.domain.automation.errors import AutomationRulesError
from chalicelib.domain.automation.schema import Actions, NotifyAction, RuleSet, Timer, Trigger, TriggerConditions

__all__ = ["DEFAULT_RULES_PATH", "load_rules", "parse_rules"]

DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent.parent / "automation_rules.yaml"


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rule file; ``AutomationRulesError`` says what is wrong and where."""
    return parse_rules(rule_files.read(path, "automation rules", AutomationRulesError), source=str(path))


def parse_rules(text: str, source: str = "<automation rules>") -> RuleSet:
    """Validate rule-file text (YAML); ``source`` names it in error messages."""
    raw = rule_files.load_yaml(text, source, AutomationRulesError, top="'triggers' and/or 'timers'",
                               loader=_rule_file_loader())
    return rule_files.validate(RuleSet, raw, source, "automation rules", AutomationRulesError, _describe)


@functools.lru_cache(maxsize=1)
def _rule_file_loader() -> type:
    import yaml

    class Loader(rule_files.unique_key_loader()):  # type: ignore[misc]  (refuses duplicate keys)
        """Keys are always strings here. YAML 1.1 reads an unquoted ``on:`` key as the
        boolean true, which would turn every trigger's ``on: [created]`` into
        "unknown field True"; no key in this schema is a boolean, so read them as written."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:bool" \
                        and key_node.style is None:
                    key_node.tag = "tag:yaml.org,2002:str"
            return super().construct_mapping(node, deep=deep)

    return Loader


_KNOWN_FIELDS = sorted({field.alias or name
                        for model in (RuleSet, Trigger, Timer, TriggerConditions, Actions, NotifyAction)
                        for name, field in model.model_fields.items()})


_TRIGGER_ONLY = {
    "status_in": "a timer watches its own `status`",
    "changed": "a timer runs when time is up, not on an update",
    "actor_in": "a timer runs when time is up, not on an update",
}


def _describe(error: Any, raw: dict[str, Any]) -> str:
    return rule_files.describe(error, raw, known_fields=_KNOWN_FIELDS, lists={"triggers": "trigger", "timers": "timer"},
                               refine=_trigger_only)


def _trigger_only(error: Any, message: str) -> str:
    """A trigger's condition written in a timer: say what it is for, not just "unknown"."""
    loc = error["loc"]
    field = str(loc[-1]) if loc else ""
    if error["type"] == "extra_forbidden" and loc[0] == "timers" and field in _TRIGGER_ONLY:
        return f"{field} is for triggers: {_TRIGGER_ONLY[field]}"
    return message
