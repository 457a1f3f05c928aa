"""Assignment: which agents may take a ticket, in the order the storage layer should try them.

This module decides; it does not write. The storage layer loads the agents, calls
``candidates`` and claims the first one with a conditional transaction (agent online,
``open_count < capacity``, ``last_assigned_at`` unchanged since it was read; ticket
still unassigned). A claim that loses a race moves on to the next candidate, so the
list is an *order of preference*, and its tail only matters when workers collide.

Strategies (per queue, from ``chalicelib/routing.yaml`` or the file named by env
``ROUTING_RULES``, validated with pydantic when loaded):

* ``round_robin``: agents serving the queue, least recently assigned first;
* ``load_balanced``: lowest ``open_count / capacity`` first, ties least recently assigned;
* ``skill_based``: as ``load_balanced``, but with ``require_language`` only agents who
  speak the ticket's language; if none is available the ticket waits (``[]``) unless
  ``language_fallback`` lets any agent serving the queue take it (speakers still first);
* ``manual``: never assigned automatically; tickets wait for an agent to pick them.

``sticky_reopen: true`` puts a reopened ticket's previous owner first when available.
Agents that are not ``available`` never appear; ``explain`` says why, one line per agent.

The derived cursor (round robin without a shared cursor item)
--------------------------------------------------------------
There is no "next agent" pointer. Each agent's own ``last_assigned_at`` is the state,
and the order is least recently assigned first. That is fair over time because every
assignment moves exactly one agent, the one that got the ticket, to the back; everyone
else keeps their place. It skips unavailable agents without side effects: an agent who
is offline, away or full is left out of the list, nobody's place changes, and when they
come back they are the least recently assigned, so they are next. A shared cursor that
"advances past" a skipped agent lands on the agent after it, which then gets a second
turn in a row: the kind of uneven share reported in Chatwoot #11034 (one agent received
more chats than the others once per-agent limits were on). Here the agent just assigned
is always the *most* recently assigned, so it is never first while anyone else is
available. The cursor needs no lock: the claim's condition on ``last_assigned_at``
makes two workers that read the same value race for the agent, and exactly one wins.

Spreading concurrent workers without giving up fairness
-------------------------------------------------------
Several Lambda copies assigning at once read the same agents; if all try the same
agent first, all but one lose and retry down the same list. So the agents *behind* the
head — the fallbacks among the k = min(3, n) least recently assigned — are rotated by a
hash of the ticket id: a worker only reaches them after losing a race (or if the head
went offline since it was read), so one-at-a-time assignment never uses them, while
racing workers spread out. The head itself is always strictly the least recently
assigned agent. An earlier version also rotated the head among agents assigned within
two seconds of each other (a "burst"), reasoning that their order carried no meaning;
but tickets processed one after another are exactly such a burst, and the rotation
passed one agent over turn after turn (three equal agents and twelve tickets split
5/4/3 or 5/5/2 instead of 4/4/4). Strict order costs racing copies a lost race on the
head, which the conditional claim turns into a retry on a fallback; it never costs
fairness. The most recently assigned agent is never among the fallbacks rotated to the
front (no double turns).

The storage layer must therefore, in the claiming transaction, set the agent's
``last_assigned_at`` to the assignment instant (``clock.iso``: fixed-width UTC, so the
strings sort chronologically) and increment ``open_count``, conditioned on the
``last_assigned_at`` it read; releasing a ticket decrements ``open_count`` only.
"""
from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import StrictBool, ValidationError, field_validator, model_validator

from chalicelib.domain import rule_files
from chalicelib.domain.triage import BusinessHours

__all__ = [
    "DEFAULT_ROUTING_PATH",
    "SPREAD",
    "STRATEGIES",
    "AgentState",
    "QueueRouting",
    "Routing",
    "RoutingError",
    "Strategy",
    "TicketToAssign",
    "WorkingHoursError",
    "available",
    "candidates",
    "explain",
    "load_routing",
    "parse_routing",
    "parse_working_hours",
    "pick_waiting",
    "serves",
]

DEFAULT_ROUTING_PATH = Path(__file__).resolve().parent.parent / "routing.yaml"

SPREAD = 3  # k: how many of the front-runners concurrent workers are spread over

Strategy = Literal["round_robin", "load_balanced", "skill_based", "manual"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
AgentStatus = Literal["online", "away", "offline"]
_STATUSES: tuple[str, ...] = get_args(AgentStatus)
ANY_QUEUE = "*"


class RoutingError(Exception):
    """The routing file cannot be used; the message names the file, queue and field."""


class WorkingHoursError(ValueError):
    """An agent's working hours are not usable; the message names each bad field."""


# --------------------------------------------------------------------------- agents and tickets


@dataclass(frozen=True)
class AgentState:
    """What assignment knows of one agent, as the storage layer read it.

    ``skills`` are queue slugs (``"*"`` serves every queue) and ``languages`` ISO 639-1
    codes; both accept any iterable (or None) and are normalised. ``working_hours``
    accepts a ``BusinessHours`` or its JSON mapping; None means always.
    """

    agent_id: str
    name: str = ""
    status: AgentStatus = "online"
    skills: frozenset[str] = frozenset({ANY_QUEUE})
    languages: frozenset[str] = frozenset()
    capacity: int = 10
    open_count: int = 0
    last_assigned_at: str = ""  # "" = never; fixed-width ISO UTC, so strings sort by time
    working_hours: BusinessHours | None = None
    active: bool = True  # False once removed

    def __post_init__(self) -> None:
        if self.status not in _STATUSES:
            raise ValueError(f"agent {self.agent_id!r}: status {self.status!r} is not one of {', '.join(_STATUSES)}")
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int) or self.capacity < 0:
            raise ValueError(f"agent {self.agent_id!r}: capacity must be a whole number >= 0, got {self.capacity!r}")
        if isinstance(self.open_count, bool) or not isinstance(self.open_count, int):
            raise ValueError(f"agent {self.agent_id!r}: open_count must be a whole number, got {self.open_count!r}")
        object.__setattr__(self, "skills", frozenset(s.strip().lower() for s in _items(self.skills)))
        languages = (_language(code) for code in _items(self.languages))
        object.__setattr__(self, "languages", frozenset(code for code in languages if code))
        object.__setattr__(self, "last_assigned_at", self.last_assigned_at or "")
        if isinstance(self.working_hours, Mapping):
            object.__setattr__(self, "working_hours", parse_working_hours(self.working_hours))

    @property
    def label(self) -> str:
        return f"{self.agent_id} ({self.name})" if self.name else self.agent_id


@dataclass(frozen=True)
class TicketToAssign:
    ticket_id: str
    queue: str  # the triage category
    language: str | None = None  # ISO 639-1 of the customer's messages, if known
    priority: str = "normal"
    previous_assignee: str | None = None  # set when a solved ticket was reopened


def _items(value: Iterable[str] | str | None) -> Iterable[str]:
    """A set from storage (None when empty in DynamoDB); a lone string is one item, not its letters."""
    return () if value is None else (value,) if isinstance(value, str) else value


# Norwegian has one ISO 639-1 macrolanguage code and two written standards; customers'
# mail clients say nb or nn, agents' profiles usually say no.
_LANGUAGE_ALIASES = {"nb": "no", "nn": "no"}


def _language(code: str) -> str | None:
    """"da", "DA", "da-DK", "nb_NO" → "da", "da", "da", "no"; "" → None."""
    primary = code.strip().lower().replace("_", "-").partition("-")[0]
    return _LANGUAGE_ALIASES.get(primary, primary) or None


def parse_working_hours(mapping: Mapping[str, Any]) -> BusinessHours:
    """An agent's working hours from JSON ``{timezone, days, start, end[, holidays]}``.

    Same rules as the desk's business hours (``"mon-fri"``, ``"08:00"``, IANA zones);
    ``WorkingHoursError`` lists every problem, so the API can answer 400 with it.
    """
    if not isinstance(mapping, Mapping):
        raise WorkingHoursError(
            f"working_hours must be an object with timezone, days, start and end, got {type(mapping).__name__}")
    try:
        return BusinessHours.model_validate(dict(mapping))
    except ValidationError as error:
        problems = [_describe_field(e, "working_hours") for e in error.errors()]
        raise WorkingHoursError("; ".join(problems)) from None


# --------------------------------------------------------------------------- routing file schema

_NAME = rule_files.NAME


_Strict = rule_files.Strict  # unknown and empty keys are errors


class QueueRouting(_Strict):
    """How one queue's tickets are assigned."""

    strategy: Strategy
    sticky_reopen: StrictBool = False
    require_language: StrictBool = False
    language_fallback: StrictBool = False

    @model_validator(mode="after")
    def _consistent(self) -> QueueRouting:
        if (self.require_language or self.language_fallback) and self.strategy != "skill_based":
            raise ValueError(f"require_language and language_fallback only apply to strategy skill_based, "
                             f"not {self.strategy} (they would be ignored)")
        if self.language_fallback and not self.require_language:
            raise ValueError("language_fallback needs require_language: true (without it any language is fine)")
        return self


class Routing(_Strict):
    """A validated routing file. Build it with ``load_routing``; pass it to ``candidates``."""

    version: Literal[1] = 1
    default: QueueRouting = QueueRouting(strategy="round_robin")
    queues: dict[str, QueueRouting] = {}

    @field_validator("queues", mode="before")
    @classmethod
    def _queue_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name in value:
                if not isinstance(name, str) or not re.match(_NAME, name):
                    raise ValueError(f"{name!r} is not a queue name (lowercase letters, digits, _ . -)")
        return value

    def for_queue(self, queue: str) -> QueueRouting:
        return self.queues.get(queue, self.default)


# --------------------------------------------------------------------------- loading


def load_routing(path: str | Path, known_queues: Iterable[str] | None = None) -> Routing:
    """Read and validate a routing file; ``RoutingError`` says what is wrong and where."""
    return parse_routing(rule_files.read(path, "routing rules", RoutingError), source=str(path),
                         known_queues=known_queues)


def parse_routing(text: str, source: str = "<routing rules>", known_queues: Iterable[str] | None = None) -> Routing:
    """Validate routing-file text (YAML); ``source`` names it in error messages.

    ``known_queues``, when given, are the desk's queues; a queue not among them is an error.
    """
    raw = rule_files.load_yaml(text, source, RoutingError, top="'version', 'default' and 'queues'")
    parsed = rule_files.validate(Routing, raw, source, "routing rules", RoutingError, lambda e, _: _describe(e))
    if known_queues is not None:
        known = tuple(known_queues)
        unknown = [name for name in parsed.queues if name not in known]
        if unknown:
            lines = []
            for name in unknown:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                lines.append(f"queue {name!r}: not one of this desk's queues ({', '.join(known)}){hint}")
            raise RoutingError(
                f"{source}: {len(lines)} problem(s) in routing rules:\n  - " + "\n  - ".join(lines))
    return parsed


_KNOWN_FIELDS = sorted({f for model in (Routing, QueueRouting, BusinessHours) for f in model.model_fields})


def _describe(error: Any) -> str:
    """One pydantic error as the file's author reads it: which queue, which field, what is wrong."""
    loc = list(error["loc"])
    where = ""
    if loc == ["queues"] and error["type"] == "dict_type":
        return f"queues: expected a mapping of queue to settings, e.g. {{billing: {{strategy: load_balanced}}}}, " \
               f"got {error['input']!r}"
    if len(loc) >= 2 and loc[0] == "queues":
        where, loc = f"queue {loc[1]!r}", loc[2:]
    elif loc and loc[0] == "default":
        where, loc = "default", loc[1:]
    return ": ".join(part for part in (where, _describe_field(error, "", loc)) if part)


def _describe_field(error: Any, prefix: str, loc: list[Any] | None = None) -> str:
    loc = list(error["loc"]) if loc is None else loc
    kind, message = error["type"], error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        name = str(loc.pop())
        close = difflib.get_close_matches(name, _KNOWN_FIELDS, n=1)
        message = f"unknown field {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "literal_error" and loc and loc[-1] == "strategy":
        value = error["input"]
        close = difflib.get_close_matches(str(value), STRATEGIES, n=1)
        message = (f"{value!r} is not a strategy (one of {', '.join(STRATEGIES)})"
                   + (f"; did you mean {close[0]!r}?" if close else ""))
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping such as {{strategy: round_robin}}, got {error['input']!r}"
    elif kind in ("literal_error", "string_type", "int_type", "bool_type"):
        message += f", got {error['input']!r}"
    path = ".".join(str(part) for part in ([prefix] if prefix else []) + loc)
    return ": ".join(part for part in (path, message) if part)


# --------------------------------------------------------------------------- who can take a ticket


def available(agent: AgentState, now: datetime) -> bool:
    """Can take a ticket at ``now``: online, not removed, below capacity, within working hours."""
    return not _unavailable(agent, _aware(now))


def serves(agent: AgentState, queue: str) -> bool:
    """Works this queue: its skills name the queue, or ``"*"``."""
    return ANY_QUEUE in agent.skills or queue in agent.skills


def _unavailable(agent: AgentState, now: datetime) -> list[str]:
    """Why the agent cannot take a ticket now (empty: it can)."""
    reasons = []
    if not agent.active:
        reasons.append("removed")
    if agent.status != "online":
        reasons.append(agent.status)
    if agent.capacity <= 0 or agent.open_count >= agent.capacity:
        reasons.append(f"at capacity {agent.open_count}/{agent.capacity}")
    if agent.working_hours is not None and not _within(agent.working_hours, now):
        reasons.append(f"outside working hours ({agent.working_hours.start}-{agent.working_hours.end} "
                       f"{agent.working_hours.timezone})")
    return reasons


def _within(hours: BusinessHours, now: datetime) -> bool:
    try:
        return hours.is_open(now)
    except (OverflowError, ValueError):  # year 1 or 9999 in a far zone: cannot say, so not working
        return False


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware: working hours depend on the instant")
    return now


@dataclass
class _Plan:
    order: list[AgentState]
    notes: dict[str, str]  # agent id → why it is where it is, or why it was skipped


def _plan(ticket: TicketToAssign, agents: Iterable[AgentState], config: Routing, now: datetime,
          retry: int = 0) -> _Plan:
    """The one place the decision is made; ``candidates`` and ``explain`` both read it."""
    now = _aware(now)
    rule = config.for_queue(ticket.queue)
    notes: dict[str, str] = {}
    pool: list[AgentState] = []
    seen: set[str] = set()
    for agent in agents:
        if agent.agent_id in seen:
            continue  # the same agent listed twice: one place in the order
        seen.add(agent.agent_id)
        reasons = _unavailable(agent, now)
        if not serves(agent, ticket.queue):
            reasons.append(f"lacks skill {ticket.queue!r}")
        if reasons:
            notes[agent.agent_id] = "skipped: " + ", ".join(reasons)
        else:
            pool.append(agent)

    sticky = None
    if rule.sticky_reopen and ticket.previous_assignee:
        sticky = next((a for a in pool if a.agent_id == ticket.previous_assignee), None)

    if rule.strategy == "manual":
        for agent in pool:
            notes[agent.agent_id] = f"skipped: queue {ticket.queue!r} is manual (an agent picks its tickets)"
        order = [sticky] if sticky is not None else []
    elif rule.strategy == "round_robin":
        order = _spread(sorted(pool, key=_cursor_key), ticket.ticket_id, retry)
    else:
        speakers, others = pool, []
        wanted = _language(ticket.language) if rule.require_language and ticket.language else None
        if wanted is not None:
            speakers = [a for a in pool if wanted in a.languages]
            others = [a for a in pool if wanted not in a.languages]
            for agent in others:
                spoken = ", ".join(sorted(agent.languages)) or "none recorded"
                notes[agent.agent_id] = (f"skipped: lacks language {wanted!r} (speaks {spoken})"
                                         if not rule.language_fallback
                                         else f"lacks language {wanted!r}: language fallback after the speakers")
            if not rule.language_fallback:
                others = []
        order = _by_load(speakers, ticket.ticket_id) + _by_load(others, ticket.ticket_id)
        if sticky is not None and sticky not in order:
            order.append(sticky)  # the previous owner may take it back even without the language

    if sticky is not None:
        order = [sticky] + [a for a in order if a is not sticky]
        notes[sticky.agent_id] = "previous owner, sticky reopen"
    for position, agent in enumerate(order, start=1):
        why = notes.get(agent.agent_id)
        notes[agent.agent_id] = f"candidate {position} of {len(order)}" + (f" ({why})" if why else "")
    return _Plan(order, notes)


def candidates(ticket: TicketToAssign, agents: Iterable[AgentState], config: Routing,
               now: datetime, *, retry: int = 0) -> list[AgentState]:
    """Agents to try for ``ticket``, best first; ``[]`` means the ticket waits.

    Only available agents serving the queue appear, each once, in the order of the
    queue's strategy (see the module docstring); the storage layer claims the first and,
    on losing a race, the next. ``retry``: how many claims this worker already lost for
    the ticket (see ``_spread``). ``now`` must be timezone-aware.
    """
    return _plan(ticket, agents, config, now, retry).order


def explain(ticket: TicketToAssign, agents: Iterable[AgentState], config: Routing, now: datetime) -> list[str]:
    """One line per agent (in the order given): its place in the order, or why it was skipped.

    For logs and the assignment audit, e.g. ``"a-7 (Bo): skipped: offline"``,
    ``"a-2 (Ann): skipped: at capacity 5/5"``, ``"a-3 (Cy): candidate 1 of 2"``.
    """
    agents = list(agents)
    plan = _plan(ticket, agents, config, now)
    lines, seen = [], set()
    for agent in agents:
        if agent.agent_id not in seen:
            seen.add(agent.agent_id)
            lines.append(f"{agent.label}: {plan.notes[agent.agent_id]}")
    return lines


def pick_waiting(agent: AgentState, waiting: Sequence[TicketToAssign], config: Routing,
                 now: datetime) -> list[TicketToAssign]:
    """Waiting tickets for an agent who just came online or freed capacity.

    ``waiting`` is oldest first; the result keeps that order and holds at most the
    agent's free capacity. A ticket is taken only if the agent would be a candidate for
    it on its own: never from a manual queue (unless it is the agent's own reopened
    ticket with ``sticky_reopen``), and with ``require_language`` only in a language the
    agent speaks (any language with ``language_fallback``, since the ticket waited
    because nobody was available).
    """
    now = _aware(now)
    if not available(agent, now):
        return []
    free = agent.capacity - agent.open_count
    picked: list[TicketToAssign] = []
    for ticket in waiting:
        if len(picked) >= free:
            break
        if _plan(ticket, [agent], config, now).order:
            picked.append(ticket)
    return picked


# --------------------------------------------------------------------------- ordering


def _cursor_key(agent: AgentState) -> tuple[str, str]:
    return agent.last_assigned_at, agent.agent_id  # "" (never assigned) sorts first


def _load(agent: AgentState) -> Fraction:
    return Fraction(max(agent.open_count, 0), agent.capacity)  # capacity > 0 for available agents


def _by_load(pool: list[AgentState], ticket_id: str) -> list[AgentState]:
    """Lowest load first, ties least recently assigned; the spread only among exact ties at the front."""
    if not pool:
        return []
    ordered = sorted(pool, key=lambda a: (_load(a), *_cursor_key(a)))
    lightest = _load(ordered[0])
    ties = [a for a in ordered if _load(a) == lightest]
    return _spread(ties, ticket_id) + ordered[len(ties):]


def _spread(ordered: list[AgentState], ticket_id: str, retry: int = 0) -> list[AgentState]:
    """``ordered`` (least recently assigned first) with only the fallbacks spread by the ticket's hash.

    The head stays strictly first (fair one at a time); the next k - 1 of the first
    k = min(SPREAD, n), leaving out the most recently assigned agent (no double turns),
    rotate so racing workers that lost the head try different agents. Everyone else
    keeps the strict order. After a lost race (``retry`` > 0) every racing copy has
    re-read the same directory: then the whole front rotates, by the ticket's hash and
    the retry, so they do not all pile onto the new head again.
    """
    if len(ordered) < 2:
        return list(ordered)
    head, rest = ordered[0], ordered[1:]
    newest = ordered[-1].last_assigned_at
    all_tied = head.last_assigned_at == newest
    if retry:
        window = [a for a in ordered[:SPREAD] if all_tied or a.last_assigned_at != newest]
        front = {a.agent_id for a in window}
        return _rotate(window, _turns(ticket_id)[0] + retry) + [a for a in ordered if a.agent_id not in front]
    fallbacks = [a for a in rest[:SPREAD - 1] if all_tied or a.last_assigned_at != newest]
    behind = {a.agent_id for a in fallbacks}
    return [head] + _rotate(fallbacks, _turns(ticket_id)[1]) + [a for a in rest if a.agent_id not in behind]


def _turns(ticket_id: str) -> tuple[int, int]:
    # sha256, not hash(): Python salts str hashes per process, and every Lambda copy
    # must agree on where a ticket starts (and tests must be reproducible).
    digest = hashlib.sha256(ticket_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:16], "big")


def _rotate(items: list[AgentState], turn: int) -> list[AgentState]:
    if len(items) < 2:
        return list(items)
    start = turn % len(items)
    return items[start:] + items[:start]
