"""Automation: what the desk does by itself when a ticket changes (triggers) or waits (timers).

Zendesk calls these triggers and automations. Rules are data
(``chalicelib/automation_rules.yaml``, or the file named by env ``AUTOMATION_RULES``),
validated with pydantic when loaded: a bad rule file raises ``AutomationRulesError``
naming the rule and field, instead of quietly never reminding a customer.

This package only decides; it writes nothing. The caller applies an ``Outcome``
(changes, tags, macros, notifications) to the ticket in one conditional write.

Triggers (``evaluate_triggers``), run after a ticket is created or updated:

* every trigger whose ``on`` includes the event and whose ``if`` conditions *all* hold
  fires, in file order, all judged on the same facts;
* their actions are applied in file order, so for ``set_*`` and ``assign_to`` the
  **last fired rule wins**; ``add_tags`` / ``remove_tags`` are applied in the same
  order (a later rule's remove undoes an earlier rule's add); macros and notifications
  accumulate, identical ones once; ``send_survey`` holds if any fired rule asked for it;
* the result is then judged again as an "updated" event by the system actor (``changed``
  = the fields the pass changed), because one rule's change may be another rule's
  condition ("priority became urgent → tell the team lead"). At most ``MAX_PASSES``
  passes, and a trigger fires at most once per call: two rules that flip priority back
  and forth stop instead of looping (Zendesk has the same "fire once per update" rule);
* ``changed`` conditions hold on a "created" event: every field of a new ticket is new,
  so one rule covers "urgent when created or when raised to urgent".

Timers (``next_timer_due`` / ``due_timers``), run by a scheduled sweep:

* a timer watches one status and is due ``after_minutes`` of calendar time after
  ``status_changed_at``; it fires at most once per status period: the caller keeps the
  names in ``TicketFacts.fired`` (written in the same write as the timer's changes, so a
  retried sweep does not remind twice) and clears them when the status changes;
* ``next_timer_due`` is what the caller stores in its due-time index, so the sweep
  queries "due before now" instead of scanning every ticket.

Surveys (``send_survey: true``): the caller sends the ticket's satisfaction survey
(``chalicelib.service.surveys``), which itself refuses spam, machine-opened, merged and
already-surveyed tickets. A survey only makes sense for a solved ticket, so a timer with
``send_survey`` must watch ``solved`` (and leave the status alone) and a trigger must have
``status_in: [solved]``; the delay ("an hour after solving") is the timer's ``after_minutes``.

Notifications (``notify``): the message may use the ``{{ name }}`` placeholders in ``PLACEHOLDERS``
(``ticket_number``, ``console_url``, ...; ``chalicelib.service.notify`` fills them); any other name is
refused when the rules load, so a typo never reaches the team lead as "{{ ticket_nubmer }}".

Words (``any_words`` / ``none_words``) match as in triage (``chalicelib/domain/triage.py``):
whole words or phrases in subject and latest customer text, case-folded, ``*`` for any
ending.

The package, one job a module: ``schema`` (the pydantic models of the rule file),
``files`` (loading and validating rule files, ``DEFAULT_RULES_PATH``), ``errors``
(``AutomationRulesError``), ``facts`` (``TicketFacts``, what a rule reads), ``matching``
(whether a rule's conditions hold, and why), ``outcome`` (``Outcome`` and merging fired
rules' actions), ``triggers`` (``evaluate_triggers`` and ``MAX_PASSES``) and ``timers``
(``due_timers``, ``next_timer_due``). Import from ``chalicelib.domain.automation``.
"""
from __future__ import annotations

from chalicelib.domain.automation.errors import AutomationRulesError
from chalicelib.domain.automation.facts import TicketFacts
from chalicelib.domain.automation.files import DEFAULT_RULES_PATH, load_rules, parse_rules
from chalicelib.domain.automation.outcome import Notification, Outcome
from chalicelib.domain.automation.schema import (
    ASSIGN_VIA_QUEUE,
    CHANGEABLE_FIELDS,
    PLACEHOLDERS,
    Actions,
    RuleSet,
    Timer,
    TimerConditions,
    Trigger,
    TriggerConditions,
)
from chalicelib.domain.automation.timers import due_timers, next_timer_due
from chalicelib.domain.automation.triggers import MAX_PASSES, evaluate_triggers
from chalicelib.domain.vocabulary import STATUSES

__all__ = [
    "ASSIGN_VIA_QUEUE",
    "CHANGEABLE_FIELDS",
    "DEFAULT_RULES_PATH",
    "MAX_PASSES",
    "PLACEHOLDERS",
    "STATUSES",
    "Actions",
    "AutomationRulesError",
    "Notification",
    "Outcome",
    "RuleSet",
    "TicketFacts",
    "Timer",
    "TimerConditions",
    "Trigger",
    "TriggerConditions",
    "due_timers",
    "evaluate_triggers",
    "load_rules",
    "next_timer_due",
    "parse_rules",
]
