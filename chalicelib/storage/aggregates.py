"""Daily KPI aggregates in DynamoDB: counted as events happen, read by reports.

Storage (``AggregateModel``, table relay-desk-aggregates): per series and UTC day, one
item of counters and one item per histogram. ``series`` is ``<group kind>#<group>``
(``channel#email``, ``priority#high``, ``queue#billing``, ``agent#a-0123456789ab``, and
``all#all`` for the whole desk). The counters item's range key is the day
(``YYYY-MM-DD``), with ``c_created`` for a counter; a histogram's item is at
``YYYY-MM-DD#<histogram>`` with ``b57`` for a bucket (``histogram.item_key``) and its
``histogram_scheme``. Flat top-level numbers, because every increment must be an
atomic ``ADD`` that also works on the day's first event: DynamoDB cannot ``ADD`` into a
map that does not exist yet, and initialising the map in the same expression is refused
as overlapping paths. Apart, because an update is billed on the whole item: a busy
day's single item (every counter and ~200 buckets of four histograms, ~25 KB at a
million tickets a month) cost 25 write units per update, twice in a transaction, for
adding one count; the counters item stays under 1 KB and a histogram's under ~2.5 KB
even with every one of its 409 buckets set. Days stored before the split (buckets as
``h_<histogram>_<bucket>`` on the day's item) are read as they are.

``record_all`` counts a batch of events (``Tally``: the ticket stream's consumer
hands it a whole stream batch) with ONE update per item it touches — each event
goes to its channel, priority, queue, agent and ``all#all`` — in TransactWriteItems
of up to 100 items, so an event is counted everywhere or nowhere and a report's
rows always add up to its totals; 100 new tickets of one day cost a handful of
updates, not 500. ``ADD`` is applied by DynamoDB, so concurrent Lambdas never lose a
count. Two transactions on the same item at the same moment make DynamoDB cancel
one with ``TransactionConflict`` (nothing of it applied): that one is retried with
backoff. Each call's ClientRequestToken is derived from the batch (its stream
sequence numbers), the chunk and the attempt: DynamoDB ignores a repeat within 10
minutes, so the same stream batch delivered again after a crash is not counted twice.

The histogram scheme is written with the first bucket of a histogram's day and every
later bucket write requires the same scheme: after a ``SCHEME_VERSION`` bump, writing
buckets into a day counted with the old scheme fails loudly (``HistogramSchemeConflict``)
instead of mixing bucket meanings, and so does reading a day whose items disagree. Bump
the scheme at a UTC midnight, or migrate the day.

``read`` never scans: the groups of each kind are known (the channels, the
priorities, the triage rules' queues, the agent directory), so it queries each
series for ``day BETWEEN start AND end#~`` (the day items and their histograms'):
O(days × groups) Queries' worth of items, merged per day. A queue dropped from the
triage rules is therefore no longer listed (its days stay in ``all#all``).

Suffixes (``AGGREGATE_SHARDS``, default 1). Every ``kpi_stream`` batch updates ``all#all`` and the
series every busy desk shares (``channel#email``): one partition, at most 1,000 write units a
second, reached at ~7,400 new tickets a second (docs/scaling.md: batches full at Lambda's 6 MB).
With N suffixes a batch writes its KPI series as ``<series>#<k>`` with ``k`` from a hash of the
batch's token (a batch delivered again lands on the same items, so its ClientRequestToken still
dedupes it), and
``read`` queries the unsuffixed series and its N suffixes and merges them per day. The
inbox counters (``ticket_counts``) are never suffixed: the console reads them by key. Raising
N needs nothing more; lowering it hides the higher suffixes' counts from reports.

``backlog`` is a snapshot of the open tickets by age (``kpis.backlog_by_age``), read
from the tickets' ``by_status`` index, created_at only.
"""
from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from chalicelib.domain import histogram, kpis
from chalicelib.domain.vocabulary import CHANNELS as CUSTOMER_CHANNELS
from chalicelib.domain.vocabulary import PRIORITIES
from chalicelib.storage import shards

__all__ = [
    "CHANNELS",
    "HistogramSchemeConflict",
    "Tally",
    "backlog",
    "check",
    "groups_of",
    "read",
    "record",
    "record_all",
    "series_key",
]

CHANNELS: tuple[str, ...] = (*CUSTOMER_CHANNELS, "other")  # "other": a channel Twilio adds before we do
_ALL_SERIES = "all#all"
_CONFLICT_ATTEMPTS = 8  # TransactionConflict retries: contention on all#all is brief, but real
_BACKOFF_BASE_S = 0.02
_MAX_TRANSACTION = 100  # DynamoDB's TransactWriteItems limit
_APPLIED = "applied#"  # series of a batch transaction's marker: one item per applied transaction of a batch
_APPLIED_DAY = "batch"
_APPLIED_DAYS = 3  # after the batch's last day: past the stream's 24 hours, when nothing can replay the batch
_READ_THREADS = 8  # concurrent series Queries (botocore's default pool holds 10 connections)


class HistogramSchemeConflict(RuntimeError):
    """The day's buckets were counted with another ``histogram.SCHEME_VERSION``; see the module docstring."""


def series_key(group_kind: str, group: str) -> str:
    """The aggregate item's hash key: ``channel#email``."""
    return f"{group_kind}#{group}"


@dataclass(frozen=True)
class Tally:
    """One event to count: on ``moment``'s UTC day, in each of its ``groups`` and in ``all#all``.

    ``groups``: group kind → group, e.g. ``{"channel": "email", "priority": "high",
    "queue": "billing", "agent": "a-0123456789ab"}``; a kind left out or None is skipped.
    ``counters``: ``kpis.COUNTERS`` name → increment (0 is skipped). ``durations``:
    ``kpis.HISTOGRAMS`` name → minutes (adds 1 to that duration's bucket).
    """

    moment: datetime
    groups: Mapping[str, str | None]
    counters: Mapping[str, int] = field(default_factory=dict)
    durations: Mapping[str, float] = field(default_factory=dict)


def check(tally: Tally) -> None:
    """Raise ``ValueError`` for anything unknown, negative or naive in ``tally`` (``record_all`` would)."""
    _prepared(tally)


def record(
    moment: datetime,
    *,
    groups: Mapping[str, str | None],
    counters: Mapping[str, int] = {},  # noqa: B006 - read only
    durations: Mapping[str, float] = {},  # noqa: B006 - read only
) -> None:
    """Count one event now (see ``Tally``); one transaction over its series."""
    record_all([Tally(moment, groups, counters, durations)])


def record_all(tallies: Iterable[Tally], *, token: str | None = None,
               adjustments: Mapping[tuple[str, str], Mapping[str, int]] | None = None) -> int:
    """Count many events at once: one update per series and day, ``_MAX_TRANSACTION`` per transaction.

    ``adjustments`` ``{(series, day): {counter: delta}}`` go in the same updates: counters that are
    not daily KPIs (the inbox counts, ``ticket_counts``), deltas may be negative, names unchecked.
    Every tally is checked before anything is written (``ValueError``). ``token``
    names the batch (``ticket_stream.batch_token``): a retry of the same batch
    sends the same ClientRequestToken, which DynamoDB honours for 10 minutes, so a
    stream batch delivered again is not counted twice. Each of the batch's transactions also puts
    a marker item on the condition that it does not exist yet, kept until three days after the
    batch's last day (table TTL): a transaction of the batch that arrives after DynamoDB forgot the
    token (a batch of several transactions whose later one kept failing, redriven hours later by
    ``admin redrive --queue ticket-stream``) finds its marker and is skipped, not counted again.
    Returns the items updated.
    """
    sums: dict[tuple[str, str], _Sum] = {}
    suffix = _suffix(token)
    for tally in tallies:
        day, series, counters, buckets = _prepared(tally)
        for key in series:
            sums.setdefault((key + suffix, day), _Sum()).add(counters, buckets)
    for key, counters in (adjustments or {}).items():
        sums.setdefault(key, _Sum()).add(counters, ())
    items = sorted((update for (series, day), total in sums.items() for update in _updates(series, day, total)),
                   key=lambda update: update.key)
    per = _MAX_TRANSACTION if token is None else _MAX_TRANSACTION - 1  # room for the marker
    expires = _expiry(items)
    for number, start in enumerate(range(0, len(items), per)):
        _commit(items[start:start + per], None if token is None else f"{token[:28]}-{number}", expires)
    return len(items)


def _expiry(items: list["_Update"]) -> int | None:
    """When a batch's markers may go (epoch seconds): from the batch's own days, not the clock, so every
    attempt sends the same items under its token (DynamoDB refuses a token repeated with other items).
    None (kept) for a batch that moved only the inbox counters: it names no day."""
    days = [day for day in (_calendar_day(update.key[1]) for update in items) if day is not None]
    if not days:
        return None
    last = max(days)
    return int(datetime(last.year, last.month, last.day, tzinfo=timezone.utc).timestamp()) + _APPLIED_DAYS * 86400


def _suffix(token: str | None) -> str:
    """The suffix a batch's KPI series get: none with one shard; else one of N, the same for a batch's retries."""
    count = shards.count("AGGREGATE_SHARDS")
    if token is None and count > 1:  # a single event (a survey answer): any suffix, the reader sums them all
        return f"#{random.randrange(count)}"  # noqa: S311 - spreading load, not crypto
    return shards.suffix(token or "", count)


@dataclass
class _Sum:
    """What one series' day gains from a batch: counter increments and histogram bucket counts."""

    counters: Counter = field(default_factory=Counter)
    buckets: Counter = field(default_factory=Counter)  # (histogram name, bucket key) → count

    def add(self, counters: Mapping[str, int], buckets: Iterable[tuple[str, str]]) -> None:
        self.counters.update(counters)
        self.buckets.update(buckets)

    def __bool__(self) -> bool:
        return any(self.counters.values()) or bool(self.buckets)


@dataclass(frozen=True)
class _Update:
    """One item's ADDs: the counters of a series' day (with an agent's histograms: ``inline``), or the buckets
    of one of its histograms."""

    key: tuple[str, str]  # (series, range key)
    counters: Mapping[str, int] = field(default_factory=dict)
    buckets: Mapping[str, int] = field(default_factory=dict)  # bucket key → count, in a histogram's own item
    inline: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (histogram, bucket key) → count


#: Series whose day keeps its histograms on its counters item (``AggregateModel``: an agent's day is small).
_INLINE_KINDS = ("agent#",)


def _updates(series: str, day: str, total: _Sum) -> list[_Update]:
    """A series' day as the items it touches: its counters item, and each histogram that gained a count (on
    the counters item for an agent)."""
    from chalicelib.storage.models import AggregateModel

    counters = {name: value for name, value in total.counters.items() if value}
    if series.startswith(_INLINE_KINDS):
        return [_Update((series, day), counters=counters, inline=dict(total.buckets))] if total else []
    found = [_Update((series, day), counters=counters)] if counters else []
    per_histogram: dict[str, dict[str, int]] = {}
    for (name, key), count in total.buckets.items():
        per_histogram.setdefault(name, {})[key] = count
    found += [_Update((series, AggregateModel.histogram_day(day, name)), buckets=buckets)
              for name, buckets in per_histogram.items()]
    return found


def _calendar_day(range_key: str) -> date | None:
    """The day of a KPI item's range key (``2025-03-03``, ``2025-03-03#<histogram>``); None for the inbox
    counters' items, which are not daily."""
    try:
        return date.fromisoformat(range_key.partition("#")[0])
    except ValueError:
        return None


def _commit(items: list[_Update], token: str | None, expires: int | None = None) -> None:
    """One TransactWriteItems of ADDs (so an event is counted everywhere or nowhere, and concurrent
    writers never lose a count); a TransactionConflict is retried with backoff."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    from chalicelib.storage.models import AggregateModel

    connection = AggregateModel._get_connection().connection
    for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
        try:
            # Every attempt carries the batch's token: DynamoDB remembers a token only for a transaction it
            # applied, so an attempt after a cancelled one still runs, and a redelivered batch whose last
            # attempt was applied (then answered with a timeout, or the function died) is not counted again.
            # A token per attempt did count it again: the retry's first attempt had never been applied
            # (the 10,000-event proof: 3,852 tickets counted for 3,849 stored).
            with TransactWrite(connection=connection, client_request_token=token) as transaction:
                if token is not None:  # first: its cancellation reason is reasons[0]
                    marker = AggregateModel(_APPLIED + token, _APPLIED_DAY, expires_at=expires)
                    transaction.save(marker, condition=AggregateModel.series.does_not_exist())
                for update in items:
                    actions, condition = _actions(update)
                    transaction.update(AggregateModel(*update.key), actions=actions, condition=condition)
            return
        except TransactWriteError as err:
            reasons = err.cancellation_reasons or []
            codes = {reason.code for reason in reasons if reason is not None}
            if token is not None and reasons and reasons[0] is not None \
                    and reasons[0].code == "ConditionalCheckFailed":
                return  # this transaction of the batch was applied before, after its token was forgotten
            if "ConditionalCheckFailed" in codes:
                raise HistogramSchemeConflict(
                    f"aggregates were counted with another histogram scheme than {histogram.SCHEME_VERSION}: "
                    f"{', '.join(f'{series} {day}' for (series, day) in (update.key for update in items))}") from err
            if "TransactionConflict" not in codes or attempt == _CONFLICT_ATTEMPTS:
                raise
            # Cancelled means nothing was applied: the next attempt (same token) applies it once.
            time.sleep(random.uniform(0, _BACKOFF_BASE_S * 2 ** attempt))  # noqa: S311 - jitter, not crypto


def _actions(update: _Update) -> tuple[list[Any], Any]:
    from chalicelib.storage.models import AggregateModel

    actions = [AggregateModel.counter(name).add(value) for name, value in sorted(update.counters.items())]
    actions += [AggregateModel.histogram_bucket(key).add(value) for key, value in sorted(update.buckets.items())]
    actions += [AggregateModel.inline_bucket(name, key).add(value)
                for (name, key), value in sorted(update.inline.items())]
    if not update.buckets and not update.inline:
        return actions, None
    actions.append(AggregateModel.histogram_scheme.set(histogram.SCHEME_VERSION))
    return actions, (AggregateModel.histogram_scheme.does_not_exist()
                     | (AggregateModel.histogram_scheme == histogram.SCHEME_VERSION))


def read(start: date, end: date, group_kind: str) -> list[kpis.DailyAggregate]:
    """Every aggregate of ``group_kind`` from ``start`` to ``end`` (inclusive): one Query per series (and suffix).

    ``group_kind`` is one of ``kpis.GROUP_KINDS``. Queries run concurrently (a report by
    agent has one series per agent); each is paginated. Days without events have no item.
    """
    from chalicelib.storage.models import AggregateModel

    if group_kind not in kpis.GROUP_KINDS:
        raise ValueError(f"group_kind must be one of {', '.join(kpis.GROUP_KINDS)}, got {group_kind!r}")
    if start > end:
        return []
    # "~" sorts after every histogram name: the end day's histogram items are inside the range.
    condition = AggregateModel.day.between(start.isoformat(), f"{end.isoformat()}{AggregateModel.HISTOGRAM_SEPARATOR}~")

    count = shards.count("AGGREGATE_SHARDS")

    def query(group: str) -> list[kpis.DailyAggregate]:
        keys = shards.spellings(series_key(group_kind, group), count)
        items = [item for key in keys for item in AggregateModel.query(key, condition)]
        return _daily(items, group_kind, group)

    groups = groups_of(group_kind)
    if len(groups) == 1:
        return query(groups[0])
    with ThreadPoolExecutor(max_workers=min(_READ_THREADS, len(groups)), thread_name_prefix="aggregates") as pool:
        return [aggregate for found in pool.map(query, groups) for aggregate in found]


def groups_of(group_kind: str) -> list[str]:
    """The groups ``read`` queries for a kind: fixed lists, the triage rules' queues, the agent directory."""
    if group_kind == "all":
        return ["all"]
    if group_kind == "channel":
        return list(CHANNELS)
    if group_kind == "priority":
        return list(PRIORITIES)
    if group_kind == "queue":
        from chalicelib import configuration

        rule_set = configuration.triage_rules()
        if rule_set.categories is not None:
            return list(rule_set.categories)
        named = [rule_set.defaults.category, *(rule.then.category for rule in rule_set.rules)]
        return list(dict.fromkeys(name for name in named if name))
    if group_kind == "agent":
        from chalicelib.storage import agents

        return [agent.agent_id for agent in agents.directory()]  # removed agents too: their history counts
    raise ValueError(f"group_kind must be one of {', '.join(kpis.GROUP_KINDS)}, got {group_kind!r}")


def backlog(now: datetime) -> dict[str, int]:
    """Open, pending and on-hold tickets by age at ``now`` (``kpis.BACKLOG_BUCKETS``), from ``by_status``.

    Only ``created_at`` is asked for (a ProjectionExpression: less to transfer; the index
    projects every attribute, so the read units are those of whole items).
    """
    from chalicelib import clock
    from chalicelib.storage.models import TicketModel
    from chalicelib.storage.ticket_keys import ACTIVE, view_keys

    created = (clock.parse_iso(ticket.created_at)
               for status in ACTIVE for key in view_keys(status)
               for ticket in TicketModel.by_status.query(key, attributes_to_get=["created_at"]))
    return kpis.backlog_by_age(created, now)


# --------------------------------------------------------------------------- internals


def _utc_day(moment: datetime) -> str:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"moment must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(timezone.utc).date().isoformat()


def _checked_groups(groups: Mapping[str, str | None]) -> list[tuple[str, str]]:
    unknown = sorted(set(groups) - set(kpis.GROUP_BY))
    if unknown:
        raise ValueError(f"unknown group kind(s) {', '.join(map(repr, unknown))}: use {', '.join(kpis.GROUP_BY)} "
                         f"(all#all is always counted)")
    checked = []
    for kind in kpis.GROUP_BY:  # a fixed order: the transaction's items in a stable order
        group = groups.get(kind)
        if group is None:
            continue
        if not isinstance(group, str) or not group.strip() or group != group.strip():
            raise ValueError(f"{kind} must be a non-empty name, got {group!r}")
        # Channels and priorities are fixed lists: one outside them would be counted where no report reads.
        if kind == "channel" and group not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, got {group!r}")
        if kind == "priority" and group not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, got {group!r}")
        checked.append((kind, group))
    return checked


def _prepared(tally: Tally) -> tuple[str, list[str], dict[str, int], list[tuple[str, str]]]:
    """The tally checked: its day, series, counter increments and histogram buckets."""
    day = _utc_day(tally.moment)
    series = [series_key(kind, group) for kind, group in _checked_groups(tally.groups)] + [_ALL_SERIES]
    counters, durations = tally.counters, tally.durations
    unknown = sorted(set(counters) - set(kpis.COUNTERS)) + sorted(set(durations) - set(kpis.HISTOGRAMS))
    if unknown:
        raise ValueError(f"unknown counter or histogram name(s): {', '.join(map(repr, unknown))}")
    for name, value in counters.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"counter {name} must be a non-negative int, got {value!r}")
    buckets = [(name, histogram.item_key(minutes)) for name, minutes in durations.items()]  # ValueError if < 0 / NaN
    return day, series, {name: value for name, value in counters.items() if value}, buckets


def _daily(items: Iterable[Any], group_kind: str, group: str) -> list[kpis.DailyAggregate]:
    """A series' items (counters and histograms, either shape) as one ``DailyAggregate`` per day."""
    days: dict[str, list[Any]] = {}
    for item in items:
        days.setdefault(item.calendar_day, []).append(item)
    return [_aggregate(day, found, group_kind, group) for day, found in days.items()]


def _aggregate(day: str, items: list[Any], group_kind: str, group: str) -> kpis.DailyAggregate:
    counters: Counter = Counter()
    histograms: dict[str, Counter] = {}
    schemes = set()
    for item in items:
        counters.update({name: value for name, value in item.counter_values().items()
                         if value and name not in kpis.RETIRED_COUNTERS})
        buckets = item.bucket_values()
        for name, counts in buckets.items():
            histograms.setdefault(name, Counter()).update(histogram.from_item(counts))
        if buckets and item.histogram_scheme is not None:
            schemes.add(int(item.histogram_scheme))
    if len(schemes) > 1:
        raise HistogramSchemeConflict(f"{series_key(group_kind, group)} {day} mixes histogram schemes "
                                      f"{', '.join(map(str, sorted(schemes)))}")
    return kpis.DailyAggregate(
        day=date.fromisoformat(day),
        group_kind=group_kind,
        group=group,
        counters=dict(counters),
        histograms={name: dict(counts) for name, counts in histograms.items()},
        histogram_scheme=schemes.pop() if schemes else histogram.SCHEME_VERSION,
    )
