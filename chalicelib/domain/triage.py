"""Triage: the priority and queue (category) a new ticket gets, and the rules that said so.

Rules are data (``chalicelib/triage_rules.yaml``, or the file named by env
``TRIAGE_RULES``), validated with pydantic when loaded: a bad rule file raises
``TriageRulesError`` naming the rule and field, in the first test or invocation
that reads it, instead of quietly misrouting tickets.

How a ticket is triaged (``triage``):

* every rule whose ``when`` conditions *all* hold fires; ``rules_fired`` lists them
  in file order, and ``reasons`` says, per fired rule, what matched (the audit trail);
* priority is the most urgent priority set by a fired rule; ``defaults.priority``
  applies only when no fired rule sets one (so a rule may also *lower* priority);
* category is the first fired rule's category, in file order (``defaults.category``
  when none sets one) — so put the more specific queue's rule first;
* tags are the union of the fired rules' tags, first seen first;
* status: a new ticket is open unless a fired rule sets ``status: closed`` (the first that
  sets one): it is then recorded closed, in no queue, never assigned and never
  acknowledged. The bundled ``bulk-mail`` rule does this to newsletters;
* ``stop: true`` ends triage at that rule: the rules below it are not evaluated, so a rule
  near the top can decide a ticket on its own (bulk mail saying "urgent" stays low).

``machine_sent_in`` matches what kind of machine sent the message
(``chalicelib.domain.messages.MACHINE_KINDS``: bounce, auto_reply, bulk, automated; email's
``channels/email/autoreply.py`` tells them apart), so a person's mail never matches it.

Word matching (``any_words`` / ``all_words`` / ``none_words``) is on whole words or
phrases in subject and text, after Unicode NFKC normalisation and case folding, with
Unicode word boundaries (``\\w`` covers æ, ø, å): "down" does not match "downstairs"
or "meltdown", "nede" does not match "nedenfor". A phrase's words may be separated by
any run of whitespace ("ikke  modtaget" across a line break still matches). A trailing
``*`` on a word matches any ending: "refund*" matches refund, refunds, refunded,
refunding, and "faktura*" matches fakturaen, fakturanummer. Without ``*`` a word
matches only itself, so "refund" does *not* match "refunded" (Danish and Norwegian
inflect with suffixes: -en, -et, -er, -erne, so the default rules use ``*`` there).
Hyphens separate words: "down" matches in "drop-down", which is why the default
outage rule lists such phrases under ``none_words``.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, StrictBool, StrictInt, field_validator, model_validator

from chalicelib.domain import rule_files, words
from chalicelib.domain.business_time import Schedule
from chalicelib.domain.messages import MACHINE_KINDS
from chalicelib.domain.vocabulary import PRIORITIES, Priority

__all__ = [
    "DEFAULT_RULES_PATH",
    "EVERYONE",
    "BusinessHours",
    "Rule",
    "RuleSet",
    "TriageInput",
    "TriageResult",
    "TriageRulesError",
    "load_rules",
    "parse_rules",
    "triage",
    "users_affected",
]

DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "triage_rules.yaml"

# "all our users", "alle brugere", "hele teamet": no number, but as large as it gets.
EVERYONE = 1_000_000


class TriageRulesError(Exception):
    """The rule file cannot be used; the message names the file, rule and field."""


# --------------------------------------------------------------------------- ticket in, result out


@dataclass(frozen=True)
class TriageInput:
    """What triage looks at: one new ticket's first message and what we know of its sender."""

    channel: str  # email, slack, webchat, whatsapp, ...
    subject: str
    text: str
    sender: str  # identity key, e.g. "email:ann@example.com" or "slack:T1:U2"
    received_at: datetime  # timezone-aware
    repeat_contacts: int = 0  # tickets this customer opened in the last 7 days; 0 if unknown
    machine_kind: str | None = None  # one of MACHINE_KINDS when a machine sent the message, else None
    machine_reason: str = ""  # the sign it showed, e.g. "Precedence: bulk" (for the audit trail)

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None or self.received_at.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware: business hours depend on the instant")
        if self.repeat_contacts < 0:
            raise ValueError("repeat_contacts cannot be negative")
        if self.machine_kind is not None and self.machine_kind not in MACHINE_KINDS:
            raise ValueError(f"machine_kind must be one of {', '.join(MACHINE_KINDS)}, got {self.machine_kind!r}")


@dataclass(frozen=True)
class TriageResult:
    priority: Priority
    category: str
    tags: tuple[str, ...] = ()
    rules_fired: tuple[str, ...] = ()  # every rule that fired, in file order
    reasons: tuple[str, ...] = ()  # one line per fired rule, same order: what matched
    status: Literal["closed"] | None = None  # set by a rule: the ticket starts in it instead of open
    status_rule: str | None = None  # the rule that set status


# --------------------------------------------------------------------------- text helpers


# Counting affected people: "50 users", "100 medarbejdere", "1.000 brugere", "20+ ansatte",
# "all our users", "alle vores brugere", "hele teamet", "the whole company".
_GROUP_NOUNS = (
    # English
    r"users?|employees?|staff|people|persons?|colleagues?|co-?workers?|agents?|teams?|"
    r"company|office|offices|organi[sz]ations?|departments?|"
    # Danish
    r"bruger(?:e|en|ne)?|medarbejder(?:e|en|ne)?|ansatte(?:ne)?|kolleg(?:a|aer|aerne|er|erne)|"
    r"personer(?:ne)?|folk|teamet|firma(?:et)?|virksomhed(?:en)?|kontor(?:et)?|afdeling(?:en)?|"
    r"organisation(?:en)?|"
    # Norwegian (where it differs)
    r"bruker(?:e|en|ne)?|medarbeider(?:e|en|ne)?|bedrift(?:en)?|avdeling(?:a)?|organisasjon(?:en)?"
)
_FILLER = r"(?:\w+\s+){0,2}?"  # "50 of our users", "alle vores brugere", "av våre ansatte"
_COUNTED = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[.,\u00a0 ]\d{3}){1,3}|\d{1,9})(?![\d])\+?\s+" + _FILLER
    + r"(?:" + _GROUP_NOUNS + r")(?!\w)"
)
_EVERYONE = re.compile(
    r"(?<!\w)(?:all|alle|hele|every|entire|whole|samtlige)\s+" + _FILLER
    + r"(?:" + _GROUP_NOUNS + r")(?!\w)"
)


def users_affected(text: str) -> int:
    """How many people a message says are affected: the largest count found, ``EVERYONE``
    for "all/alle/hele ..." and 0 when it does not say (a single customer)."""
    folded = words.fold(text)
    if _EVERYONE.search(folded):
        return EVERYONE
    counts = [int(re.sub(r"\D", "", m.group(1))) for m in _COUNTED.finditer(folded)]
    return max(counts, default=0)


# --------------------------------------------------------------------------- rule file schema

_NAME = rule_files.NAME


_Strict = rule_files.Strict  # unknown and empty keys are errors


class When(_Strict):
    """Conditions; every one given must hold for the rule to fire."""

    channel_in: tuple[str, ...] | None = None
    any_words: tuple[str, ...] | None = None
    all_words: tuple[str, ...] | None = None
    none_words: tuple[str, ...] | None = None
    sender_in: tuple[str, ...] | None = None
    sender_domain_in: tuple[str, ...] | None = None
    impact_users_at_least: StrictInt | None = Field(None, ge=1)
    outside_business_hours: StrictBool | None = None
    repeat_contacts_at_least: StrictInt | None = Field(None, ge=1)
    machine_sent_in: tuple[str, ...] | None = None  # kinds of machine-sent mail (MACHINE_KINDS)

    _any: re.Pattern[str] | None = PrivateAttr(None)
    _all: tuple[re.Pattern[str], ...] = PrivateAttr(())
    _none: re.Pattern[str] | None = PrivateAttr(None)

    @field_validator("any_words", "all_words", "none_words")
    @classmethod
    def _words(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("needs at least one word or phrase")
            value = words.compile_words(value)
        return value

    @field_validator("channel_in")
    @classmethod
    def _channels(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("needs at least one channel")
            for channel in value:
                if not re.match(r"^[a-z][a-z0-9_-]*$", channel):
                    raise ValueError(f"{channel!r} is not a channel name (lowercase, e.g. email, slack, webchat)")
        return value

    @field_validator("machine_sent_in")
    @classmethod
    def _machine_kinds(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("needs at least one kind")
            unknown = [kind for kind in value if kind not in MACHINE_KINDS]
            if unknown:
                raise ValueError(f"{unknown[0]!r} is not a kind of machine-sent mail "
                                 f"(one of {', '.join(MACHINE_KINDS)})")
        return value

    @field_validator("sender_in")
    @classmethod
    def _senders(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("needs at least one address or identity key")
            value = tuple(words.fold(v).strip() for v in value)
            if not all(value):
                raise ValueError("empty address or identity key")
        return value

    @field_validator("sender_domain_in")
    @classmethod
    def _domains(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("needs at least one domain")
            value = tuple(words.fold(v).strip().lstrip("@").rstrip(".") for v in value)
            for domain in value:
                if not re.match(r"^[^\s@/:]+\.[^\s@/:]+$", domain):
                    raise ValueError(f"{domain!r} is not a mail domain (e.g. example.com)")
        return value

    @model_validator(mode="after")
    def _something_to_check(self) -> When:
        if not self.model_fields_set:
            raise ValueError("needs at least one condition (use defaults for what applies to every ticket)")
        return self

    def model_post_init(self, context: Any) -> None:
        if self.any_words:
            self._any = words.alternation(self.any_words)
        if self.all_words:
            self._all = tuple(re.compile(words.phrase_pattern(w)) for w in self.all_words)
        if self.none_words:
            self._none = words.alternation(self.none_words)


class Then(_Strict):
    """What a fired rule sets; at least one of these."""

    priority: Priority | None = None
    category: str | None = Field(None, pattern=_NAME)
    tags: tuple[str, ...] = ()
    # Closed is the one status a new ticket may start in besides open (spam is for quarantined mail,
    # pending and solved would start SLA clocks, surveys and solve counts for mail nobody read).
    status: Literal["closed"] | None = None
    stop: Literal[True] | None = None  # "stop: false" would be a rule that says nothing

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return rule_files.checked_tags(value)

    @model_validator(mode="after")
    def _sets_something(self) -> Then:
        if self.priority is None and self.category is None and not self.tags and self.status is None \
                and not self.stop:
            raise ValueError("needs a priority, a category or tags (or status: closed, or stop: true)")
        return self


class Rule(_Strict):
    name: str = Field(pattern=_NAME)
    description: str = ""
    when: When
    then: Then


# Business hours are the same model SLA clocks use (schedule, holidays, public-holiday
# calendars), so "outside business hours" here and an SLA's business time never disagree.
BusinessHours = Schedule


class Defaults(_Strict):
    priority: Priority = "normal"
    category: str = Field("general", pattern=_NAME)


class RuleSet(_Strict):
    """A validated rule file. Build it with ``load_rules``; pass it to ``triage``."""

    version: Literal[1] = 1
    defaults: Defaults = Defaults()
    # The queues this desk has; when given, every category must be one of them, so a
    # typo ("biling") fails at load instead of creating a queue nobody watches.
    categories: tuple[str, ...] | None = None
    business_hours: BusinessHours | None = None
    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _consistent(self) -> RuleSet:
        problems = []
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            label = f"rule {rule.name!r} (rules[{index}])"
            if rule.name in seen:
                problems.append(f"{label}: name used twice; names must be unique for the audit trail")
            seen.add(rule.name)
            if rule.when.outside_business_hours is not None and self.business_hours is None:
                problems.append(f"{label}: when.outside_business_hours needs a top-level business_hours block")
            if self.categories is not None and rule.then.category is not None \
                    and rule.then.category not in self.categories:
                problems.append(f"{label}: then.category {rule.then.category!r} is not one of categories "
                                f"({', '.join(self.categories)})")
        if self.categories is not None and self.defaults.category not in self.categories:
            problems.append(f"defaults.category {self.defaults.category!r} is not one of categories")
        if problems:
            raise ValueError("\n".join(problems))  # parse_rules lists each line as its own problem
        return self


# --------------------------------------------------------------------------- loading


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rule file; ``TriageRulesError`` says what is wrong and where."""
    return parse_rules(rule_files.read(path, "triage rules", TriageRulesError), source=str(path))


def parse_rules(text: str, source: str = "<triage rules>") -> RuleSet:
    """Validate rule-file text (YAML); ``source`` names it in error messages."""
    raw = rule_files.load_yaml(text, source, TriageRulesError, top="a 'rules' list")
    return rule_files.validate(RuleSet, raw, source, "triage rules", TriageRulesError, _describe)


_KNOWN_FIELDS = sorted({f for model in (RuleSet, Rule, When, Then, BusinessHours, Defaults)
                        for f in model.model_fields})


def _describe(error: Any, raw: dict[str, Any]) -> str:
    return rule_files.describe(error, raw, known_fields=_KNOWN_FIELDS, lists={"rules": "rule"})


# --------------------------------------------------------------------------- triage


class _Facts(words.FoldedText):
    """What the rules ask about one ticket, each worked out at most once."""

    def __init__(self, ticket: TriageInput, rule_set: RuleSet) -> None:
        super().__init__(ticket.subject, ticket.text)
        self.ticket = ticket
        self.channel = ticket.channel.casefold()
        self.sender = words.fold(ticket.sender).strip()
        kind, colon, value = self.sender.partition(":")
        self.sender_value = value if colon else self.sender
        self.sender_domain = self.sender_value.rpartition("@")[2].rstrip(".") if "@" in self.sender_value else ""
        self._rule_set = rule_set

    @functools.cached_property
    def users_affected(self) -> int:
        return max(users_affected(self.ticket.subject), users_affected(self.ticket.text))

    @functools.cached_property
    def open(self) -> bool | None:
        hours = self._rule_set.business_hours
        if hours is None:
            return None
        try:
            return hours.is_open(self.ticket.received_at)
        except (OverflowError, ValueError):  # year 1 or 9999 in a far zone: cannot say
            return None


def _why(when: When, facts: _Facts) -> str | None:
    """Why this rule fires for this ticket (for the audit trail), or None if it does not."""
    reasons = []
    if when.channel_in is not None:
        if facts.channel not in when.channel_in:
            return None
        reasons.append(f"channel {facts.channel}")
    if when._any is not None:
        found = facts.search(when._any)
        if found is None:
            return None
        reasons.append(f"words {found!r}")
    if when._all:
        found_all = [facts.search(pattern) for pattern in when._all]
        if None in found_all:
            return None
        reasons.append("all words " + ", ".join(repr(f) for f in found_all))
    if when._none is not None and facts.search(when._none) is not None:
        return None
    if when.sender_in is not None:
        if facts.sender not in when.sender_in and facts.sender_value not in when.sender_in:
            return None
        reasons.append(f"sender {facts.sender}")
    if when.sender_domain_in is not None:
        domain = facts.sender_domain
        if not domain or not any(domain == d or domain.endswith("." + d) for d in when.sender_domain_in):
            return None
        reasons.append(f"sender domain {domain}")
    if when.impact_users_at_least is not None:
        if facts.users_affected < when.impact_users_at_least:
            return None
        affected = facts.users_affected
        reasons.append("everyone affected" if affected >= EVERYONE else f"{affected} people affected")
    if when.outside_business_hours is not None:
        if facts.open is None or facts.open == when.outside_business_hours:
            return None
        reasons.append("outside business hours" if when.outside_business_hours else "in business hours")
    if when.repeat_contacts_at_least is not None:
        if facts.ticket.repeat_contacts < when.repeat_contacts_at_least:
            return None
        reasons.append(f"{facts.ticket.repeat_contacts} earlier tickets in 7 days")
    if when.machine_sent_in is not None:
        kind = facts.ticket.machine_kind
        if kind is None or kind not in when.machine_sent_in:
            return None
        sign = facts.ticket.machine_reason
        reasons.append(f"machine-sent {kind.replace('_', ' ')}" + (f" ({sign})" if sign else ""))
    return "; ".join(reasons)


def triage(ticket: TriageInput, rule_set: RuleSet) -> TriageResult:
    """Priority, category and tags for a new ticket, with every rule that fired and why."""
    facts = _Facts(ticket, rule_set)
    fired: list[str] = []
    reasons: list[str] = []
    priorities: list[str] = []
    category: str | None = None
    status: Rule | None = None
    tags: dict[str, None] = {}
    for rule in rule_set.rules:
        why = _why(rule.when, facts)
        if why is None:
            continue
        fired.append(rule.name)
        reasons.append(f"{rule.name}: {why}")
        if rule.then.priority is not None:
            priorities.append(rule.then.priority)
        if category is None and rule.then.category is not None:
            category = rule.then.category
        if status is None and rule.then.status is not None:
            status = rule
        tags.update(dict.fromkeys(rule.then.tags))
        if rule.then.stop:
            break
    priority = min(priorities, key=PRIORITIES.index) if priorities else rule_set.defaults.priority
    return TriageResult(
        priority=priority,  # type: ignore[arg-type]  (one of PRIORITIES by construction)
        category=category or rule_set.defaults.category,
        tags=tuple(tags),
        rules_fired=tuple(fired),
        reasons=tuple(reasons),
        status=status.then.status if status is not None else None,
        status_rule=status.name if status is not None else None,
    )
