"""The 24/7 chat bot (issue 14): how often it answers right, hands off or answers wrongly, and how long it takes.

    POWERTOOLS_LOG_LEVEL=ERROR .venv/bin/python benchmarks/bot.py             # both parts (~1 min)
    POWERTOOLS_LOG_LEVEL=ERROR .venv/bin/python benchmarks/bot.py --quick     # 10 questions timed end to end
    POWERTOOLS_LOG_LEVEL=ERROR .venv/bin/python benchmarks/bot.py --thresholds 4,8,16 --latency-questions 50

``make bench`` prints it as section 12.

**Decision quality.** The 100 questions of ``benchmarks/bot_questions.yaml`` (50 English, 25 Danish,
25 Norwegian; 60 answered by one of the demo articles in the customer's language, 40 for a person)
are each put to the bot's decision, ``chalicelib.service.bot.decide(question, language=, settings=)``,
on a LocalDesk (moto in-process) with the 20 demo articles imported and published. Each decision is
one of:

* answered correctly: answered with the expected article;
* handed off correctly: a person should answer, and the bot handed off;
* missed: handed off, although an article in the customer's language answers it;
* wrong article: answered with another article than the expected one;
* answered, should hand off: answered a question a person should answer.

The last two are the wrong answers. The question is put as the pipeline puts a chat's first
message (``chat_question``: its subject, which chat adapters take from the first line, then the
text), in three ways:

* in the labelled language: the bot's ceiling, with a perfect guess of the customer's language;
* in the desk's language pick: ``domain.language.detect`` on that question, else the desk's
  ``default_language`` (a new web-chat visitor states no preference): what a visitor gets today;
* the text as typed (no subject line), in the labelled language, at the configured threshold
  only: a check that the repeated first line does not change the decision.

``bot_min_score`` is swept (``settings.model_copy(update={"bot_min_score": x})``) so a team can
choose; the suggested threshold is the one with the fewest wrong answers among those that answer at
least half of the answerable questions correctly (a tie goes to the one answering more).

**End-to-end latency.** ``--latency-questions`` of the questions (a fixed shuffle) each go from a
new web-chat visitor through the real handlers: ``POST /webhooks/webchat`` (SQS), then
``desk.pump()`` until every queue is idle (process_inbound: the ticket, the bot's decision; then
send_outbound: the answer stored on the ticket, which is the web chat's delivery). Timed from the
POST to the pump going idle; the visitor's widget then reads it (``GET
/webchat/sessions/{id}/messages``, not timed, checked), and the table stream's reactions (KPIs,
assignment) run after, untimed: Lambda runs them apart from the visitor's path. Baseline in the
same run, interleaved message by message in alternating order: the same message with
``bot_enabled`` false (the plain chat acknowledgement). The pipeline's own decisions (the ticket's
``bot`` map) are checked against the desk's-language-pick decisions measured above. "app" is the
POST plus the functions' own invocations (without the harness's SQS receive and delete calls, which
Lambda's poller makes); AWS calls are the app's.

Figures, not pass/fail: the machine is shared (2 cores); ratios are against the baseline measured
in the same run.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from benchmarks.apimeter import ApiMeter, DeskProbe  # noqa: E402
from benchmarks.run import _prepare_environment, _prewarm, ms, pct, section, table  # noqa: E402

QUESTIONS_FILE = Path(__file__).resolve().with_name("bot_questions.yaml")
THRESHOLDS = (3.0, 5.0, 7.0, 9.0, 12.0, 15.0)
LANGUAGES = ("en", "da", "no")
CORRECT, HANDED_OFF, MISSED, WRONG_ARTICLE, WRONG_ANSWER = (
    "answered correctly", "handed off correctly", "missed", "wrong article", "answered, should hand off")
OUTCOMES = (CORRECT, HANDED_OFF, MISSED, WRONG_ARTICLE, WRONG_ANSWER)
WRONG = (WRONG_ARTICLE, WRONG_ANSWER)
LABELLED, DESK_PICKED, AS_TYPED = "labelled language", "desk's language pick", "labelled language, text as typed"
BOT, NO_BOT = "bot on", "bot off (baseline)"
_SHUFFLE_SEED = 14


# --- the question set and the decisions ----------------------------------------------------------


@dataclass(frozen=True)
class Question:
    text: str
    language: str
    expected: str | None  # the article that answers it in ``language``; None: a person should answer
    note: str

    @property
    def answerable(self) -> bool:
        return self.expected is not None


def load_questions(path: Path = QUESTIONS_FILE) -> list[Question]:
    import yaml

    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    return [Question(str(e["text"]), str(e["language"]), e["expected"], str(e.get("note") or "")) for e in entries]


@dataclass(frozen=True)
class Decision:
    answer: bool
    article_id: str | None
    score: float | None
    reason: str


Decide = Callable[[str, str, Any], Decision]  # (text, language, settings) -> Decision


def decider() -> tuple[str, Decide]:
    """The bot's own decision; until ``chalicelib.service.bot.decide`` exists, the acknowledgement's
    search (``service.kb.suggested_for`` at ``bot_min_score``) with its top hit as the answer."""
    try:
        bot = importlib.import_module("chalicelib.service.bot")
    except ModuleNotFoundError as err:
        if err.name not in ("chalicelib.service.bot",):
            raise
        bot = None
    decide = getattr(bot, "decide", None)
    if decide is not None:
        def ask(text: str, language: str, settings: Any) -> Decision:
            made = decide(text, language=language, settings=settings)
            return Decision(bool(made.answer), getattr(made, "article_id", None), getattr(made, "score", None),
                            str(getattr(made, "reason", "")))

        return "chalicelib.service.bot.decide", ask

    from chalicelib.service import kb as knowledge_base

    def top_hit(text: str, language: str, settings: Any) -> Decision:
        hits = knowledge_base.suggested_for(text, language=language, min_score=settings.bot_min_score)
        if hits:
            return Decision(True, hits[0].id, hits[0].score, "top hit")
        return Decision(False, None, None, f"no article scores {settings.bot_min_score:g}")

    return "service.kb.suggested_for, top hit (chalicelib.service.bot.decide does not exist yet)", top_hit


def classify(question: Question, decision: Decision) -> str:
    if not decision.answer:
        return MISSED if question.answerable else HANDED_OFF
    if not question.answerable:
        return WRONG_ANSWER
    return CORRECT if decision.article_id == question.expected else WRONG_ARTICLE


def chat_question(text: str) -> str:
    """What the pipeline asks the bot about a chat's first message (``pipeline.steps._question``): the subject
    the chat adapters give it (its first line, at most 80 characters), then the customer's words."""
    subject = (text.strip().splitlines() or [""])[0][:80]
    return f"{subject}\n{text}".strip()


def desk_language(text: str, settings: Any) -> str | None:
    """The language the pipeline asks the bot in for a new web-chat visitor (``steps.consult_bot``, a first
    contact with no stated preference): detected from the question it reads, else None — every language's
    articles, the best one's language becoming the ticket's."""
    from chalicelib.domain import language

    return language.detect(text)


def _with(settings: Any, **update: Any) -> Any:
    known = {name: value for name, value in update.items() if name in type(settings).model_fields}
    return settings.model_copy(update=known) if known else settings


# --- 1. decision quality ---------------------------------------------------------------------------


@dataclass
class Asked:
    question: Question
    language: str  # the language the bot was asked in
    decision: Decision
    outcome: str
    seconds: float


@dataclass
class QualityReport:
    decider: str
    threshold: float  # the configured bot_min_score
    enabled: bool | None  # the configured bot_enabled (None: no such setting)
    runs: dict[tuple[str, float], list[Asked]]  # (mode, threshold) -> every question
    thresholds: tuple[float, ...]
    seconds: float


def measure_quality(questions: Sequence[Question], *, thresholds: Sequence[float] = THRESHOLDS) -> QualityReport:
    from chalicelib import configuration
    from chalicelib.admin import DEMO_ARTICLES
    from chalicelib.local import LocalDesk
    from chalicelib.service import kb as knowledge_base

    started = time.perf_counter()
    with LocalDesk():
        imported = knowledge_base.import_folder(DEMO_ARTICLES)
        if imported.refused:
            raise RuntimeError(f"demo articles refused: {imported.refused}")
        configured = configuration.desk_settings()
        name, decide = decider()
        threshold = float(getattr(configured, "bot_min_score", 8.0))
        enabled = getattr(configured, "bot_enabled", None)
        base = _with(configured, bot_enabled=True)
        sweep = tuple(sorted({*map(float, thresholds), threshold}))
        runs: dict[tuple[str, float], list[Asked]] = {}
        for question in questions[:5]:  # warm: the index's first open, the analysers
            decide(question.text, question.language, base)
        for value in sweep:
            settings = _with(base, bot_min_score=value)
            for mode in (LABELLED, DESK_PICKED, AS_TYPED) if value == threshold else (LABELLED, DESK_PICKED):
                asked = []
                for question in questions:
                    text = question.text if mode == AS_TYPED else chat_question(question.text)
                    language = desk_language(text, settings) if mode == DESK_PICKED else question.language
                    t = time.perf_counter()
                    decision = decide(text, language, settings)
                    seconds = time.perf_counter() - t
                    asked.append(Asked(question, language, decision, classify(question, decision), seconds))
                runs[(mode, value)] = asked
    return QualityReport(name, threshold, enabled, runs, sweep, time.perf_counter() - started)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _tally(asked: Sequence[Asked]) -> Counter:
    return Counter(a.outcome for a in asked)


def suggested_threshold(report: QualityReport, mode: str = LABELLED) -> float | None:
    """Fewest wrong answers among the thresholds that answer at least half the answerable questions correctly."""
    candidates = []
    for value in report.thresholds:
        asked = report.runs[(mode, value)]
        counts = _tally(asked)
        answerable = sum(a.question.answerable for a in asked)
        if answerable and counts[CORRECT] * 2 >= answerable:
            candidates.append((counts[WRONG_ARTICLE] + counts[WRONG_ANSWER], -counts[CORRECT], value))
    return min(candidates)[2] if candidates else None


def print_quality(report: QualityReport, summary: dict[str, str]) -> None:
    threshold = report.threshold
    print(f"\n  decision: {report.decider}; bot_min_score configured {threshold:g}"
          + ("" if report.enabled is None else f", bot_enabled configured {report.enabled} (forced on here)"))
    for mode in (LABELLED, DESK_PICKED):
        asked = report.runs[(mode, threshold)]
        rows = []
        for language in (*LANGUAGES, "all"):
            mine = [a for a in asked if language in ("all", a.question.language)]
            counts = _tally(mine)
            answerable = sum(a.question.answerable for a in mine)
            answered = sum(a.decision.answer for a in mine)
            wrong = counts[WRONG_ARTICLE] + counts[WRONG_ANSWER]
            rows.append([language, len(mine), answerable, *(counts[o] for o in OUTCOMES),
                         *(_share(counts[o], len(mine)) for o in (CORRECT, HANDED_OFF, MISSED)),
                         _share(wrong, len(mine)), _share(counts[CORRECT], answerable), _share(wrong, answered)])
        table(f"Bot decisions at bot_min_score {threshold:g}, asked in the {mode} (counts, then shares of the "
              f"questions in that language)",
              ["lang", "asked", "answerable", "correct", "handed off ok", "missed", "wrong article",
               "should hand off", "correct %", "handed off ok %", "missed %", "wrong %", "correct/answerable",
               "wrong/answers"], rows,
              note=("correct = answered with the expected article; handed off ok = a person should answer and got it;\n"
                    "missed = handed off although an article in that language answers it; wrong = wrong article +\n"
                    "answered when a person should answer. wrong/answers = how often a bot answer is wrong.")
              + ("" if mode == LABELLED else
                 "\nlanguage asked in: domain.language.detect on the question the pipeline reads, else the desk's\n"
                 "default_language (what a new web-chat visitor with no stated preference gets)."))
        if mode == DESK_PICKED:
            picked = Counter((a.question.language, a.language) for a in asked)
            print("  language the desk picked, by the language written: " + "; ".join(
                f"{written} -> " + ", ".join(f"{got} {picked[(written, got)]}" for got in LANGUAGES
                                              if picked[(written, got)]) for written in LANGUAGES))

    for mode in (LABELLED, DESK_PICKED):
        rows = []
        for value in report.thresholds:
            asked = report.runs[(mode, value)]
            counts = _tally(asked)
            answerable = sum(a.question.answerable for a in asked)
            answered = sum(a.decision.answer for a in asked)
            wrong = counts[WRONG_ARTICLE] + counts[WRONG_ANSWER]
            rows.append([f"{value:g}" + (" (configured)" if value == threshold else ""), answered,
                         *(counts[o] for o in OUTCOMES), _share(counts[CORRECT], answerable),
                         _share(wrong, answered), _share(wrong, len(asked)),
                         _share(counts[HANDED_OFF] + counts[MISSED], len(asked))])
        suggestion = suggested_threshold(report, mode)
        table(f"bot_min_score sweep, asked in the {mode} ({len(report.runs[(mode, threshold)])} questions)",
              ["bot_min_score", "answered", "correct", "handed off ok", "missed", "wrong article", "should hand off",
               "correct/answerable", "wrong/answers", "wrong/all", "handed off/all"], rows,
              note=("suggested: fewest wrong answers among thresholds answering >= half of the answerable questions "
                    f"correctly -> {'none qualifies' if suggestion is None else f'{suggestion:g}'}"))

    asked = report.runs[(LABELLED, threshold)]
    wrong = [a for a in asked if a.outcome in WRONG]
    if wrong:
        table(f"The wrong answers at bot_min_score {threshold:g} (labelled language)",
              ["lang", "question", "expected", "answered with", "score"],
              [[a.question.language, _cut(a.question.text, 58), a.question.expected or "(a person)",
                a.decision.article_id, _score(a.decision.score)] for a in wrong])
    missed = [a for a in asked if a.outcome == MISSED]
    if missed:
        table(f"The missed ones at bot_min_score {threshold:g} (handed off, answerable)",
              ["lang", "question", "expected", "reason"],
              [[a.question.language, _cut(a.question.text, 58), a.question.expected, _cut(a.decision.reason, 50)]
               for a in missed])
    typed = report.runs[(AS_TYPED, threshold)]
    same = sum(1 for a, b in zip(asked, typed) if _verdict(a.decision) == _verdict(b.decision))
    print(f"\n  the text as typed (no subject line) gets the same decision as the pipeline's question in {same} of "
          f"{len(asked)} (labelled language, bot_min_score {threshold:g}); outcomes as typed: "
          + ", ".join(f"{o} {_tally(typed)[o]}" for o in OUTCOMES))
    seconds = [a.seconds for run in report.runs.values() for a in run]
    print(f"\n  one decision in-process (warm index, {len(seconds)} decisions): p50 {ms(pct(seconds, 50))} ms, "
          f"p99 {ms(pct(seconds, 99))} ms")

    counts = _tally(asked)
    answerable = sum(a.question.answerable for a in asked)
    answered = sum(a.decision.answer for a in asked)
    wrong_n = counts[WRONG_ARTICLE] + counts[WRONG_ANSWER]
    desk = _tally(report.runs[(DESK_PICKED, threshold)])
    suggestion = suggested_threshold(report, LABELLED)
    summary["bot_quality"] = (
        f"{len(asked)} questions at bot_min_score {threshold:g} ({report.decider.split(',')[0]}): answered "
        f"correctly {counts[CORRECT]} ({_share(counts[CORRECT], answerable)} of {answerable} answerable), handed off "
        f"correctly {counts[HANDED_OFF]}, missed {counts[MISSED]}, wrong {wrong_n} ({counts[WRONG_ARTICLE]} wrong "
        f"article, {counts[WRONG_ANSWER]} should have handed off; {_share(wrong_n, answered)} of answers); with the "
        f"desk's language pick: correct {desk[CORRECT]}, wrong {desk[WRONG_ARTICLE] + desk[WRONG_ANSWER]}; "
        f"suggested threshold {'-' if suggestion is None else f'{suggestion:g}'}")


def _verdict(decision: Decision) -> tuple[bool, str | None]:
    """What the customer gets: an answer with this article, or a person."""
    return decision.answer, decision.article_id if decision.answer else None


def _cut(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _score(score: float | None) -> str:
    return "-" if score is None else f"{score:.1f}"


# --- 2. end-to-end latency -------------------------------------------------------------------------


@dataclass
class Sample:
    question: Question
    mode: str
    status: int
    wall: float  # POST until the pump is idle: the answer is stored for the visitor
    app: float  # the POST plus the functions' invocations
    calls: Counter
    desk_lines: list[str]  # what the visitor's widget then reads from the desk (text)
    stored: list[str]  # the kinds of the desk's messages stored on the ticket (bot, acknowledgement, ...)
    bot: dict[str, Any] | None  # the ticket's bot state, when the ticket stores one


@dataclass
class LatencyReport:
    samples: list[Sample] = field(default_factory=list)
    warmup: int = 0
    seconds: float = 0.0
    setup_seconds: float = 0.0


def measure_latency(questions: Sequence[Question], meter: ApiMeter, *, count: int, warmup: int = 2) -> LatencyReport:
    from tests import chat

    from chalicelib.admin import DEMO_ARTICLES
    from chalicelib.local import LocalDesk
    from chalicelib.service import kb as knowledge_base

    started = time.perf_counter()
    picks = list(questions)
    random.Random(_SHUFFLE_SEED).shuffle(picks)
    report = LatencyReport(warmup=warmup)
    with tempfile.TemporaryDirectory() as folder, \
            LocalDesk(environment=dict(chat.SECRETS), stream_delivery="manual") as desk:
        files = _settings_files(Path(folder))
        knowledge_base.import_folder(DEMO_ARTICLES)
        with DeskProbe(desk, meter) as probe:
            serials = iter(range(10**9))
            for number in range(warmup):  # warm both paths: imports, clients, the index
                for mode in (BOT, NO_BOT):
                    _one(desk, probe, meter, files, picks[-1 - number], mode, next(serials))
            report.setup_seconds = time.perf_counter() - started
            for number, question in enumerate(picks[:count]):
                for mode in ((BOT, NO_BOT) if number % 2 == 0 else (NO_BOT, BOT)):
                    report.samples.append(_one(desk, probe, meter, files, question, mode, next(serials)))
    report.seconds = time.perf_counter() - started
    return report


def _settings_files(folder: Path) -> dict[str, str]:
    """The desk's own settings with the bot on and off (``DESK_SETTINGS`` picks one per message)."""
    from chalicelib import configuration

    current = json.loads(configuration.desk_settings().model_dump_json())
    files = {}
    for mode, enabled in ((BOT, True), (NO_BOT, False)):
        path = folder / f"settings-{'on' if enabled else 'off'}.json"
        path.write_text(json.dumps({**current, "bot_enabled": enabled}), encoding="utf-8")
        files[mode] = str(path)
    return files


def _one(desk: Any, probe: DeskProbe, meter: ApiMeter, files: dict[str, str], question: Question, mode: str,
         serial: int) -> Sample:
    from tests import chat

    os.environ["DESK_SETTINGS"] = files[mode]
    with chat.from_address(f"2001:db8:{serial:x}::1"):  # one visitor each: the session limit is not measured
        opened = desk.http.post("/webchat/sessions", headers={"Content-Type": "application/json"},
                                body=json.dumps({"name": f"Visitor {serial}"}).encode())
    if opened.status_code != 201:
        raise RuntimeError(f"POST /webchat/sessions answered {opened.status_code}: {opened.body[:200]!r}")
    session = json.loads(opened.body)
    mark = probe.mark()
    scope = meter.open()
    t = time.perf_counter()
    try:
        response = chat.post_webchat(desk, session["session_token"], question.text, message_id=f"bench-{serial:08d}")
        post = time.perf_counter() - t
    finally:
        meter.close(scope)
    desk.pump()
    wall = time.perf_counter() - t
    invocations, _ = probe.since(mark)
    calls = Counter(scope.calls)
    for invocation in invocations:
        calls.update(invocation.scope.calls)
    read = desk.http.get(f"/webchat/sessions/{session['session_id']}/messages?wait=0",
                         headers={"Authorization": f"Bearer {session['session_token']}"})
    lines = [m["text"] for m in json.loads(read.body).get("messages", []) if m.get("from") != "visitor"] \
        if read.status_code == 200 else []
    state, stored = _stored(session["session_id"])
    desk.deliver_streams()  # the table stream's reactions (KPIs, assignment) run after, as Lambda runs them: async
    return Sample(question, mode, response.status_code, wall, post + sum(i.wall for i in invocations), calls, lines,
                  stored, state)


def _stored(session_id: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The bot's part on the visitor's ticket (its ``bot`` map: state, article_id, reason) and the kinds of the
    desk's messages stored on it, read outside the timing."""
    from chalicelib.storage import conversations
    from chalicelib.storage import tickets as stored_tickets

    state, kinds = None, []
    for ticket in stored_tickets.tickets_by_ids(conversations.conversation_tickets(f"webchat:{session_id}")):
        if isinstance(getattr(ticket, "bot", None), dict):
            state = ticket.bot
        kinds += [m.kind for m in conversations.messages_after(ticket.ticket_id, None) if m.direction == "outbound"]
    return state, kinds


def print_latency(report: LatencyReport, summary: dict[str, str], quality: QualityReport | None = None) -> None:
    by_mode = {mode: [s for s in report.samples if s.mode == mode] for mode in (BOT, NO_BOT)}
    base = by_mode[NO_BOT]
    base_50, base_99 = pct([s.wall for s in base], 50), pct([s.wall for s in base], 99)
    rows = []
    groups: list[tuple[str, list[Sample]]] = [(BOT, by_mode[BOT])]
    answered = [s for s in by_mode[BOT] if _bot_answered(s)]
    if answered and len(answered) < len(by_mode[BOT]):
        groups += [("  of which the bot answered", answered),
                   ("  of which it handed off", [s for s in by_mode[BOT] if not _bot_answered(s)])]
    groups.append((NO_BOT, base))
    for label, samples in groups:
        walls, apps = [s.wall for s in samples], [s.app for s in samples]
        calls: Counter = Counter()
        for sample in samples:
            calls.update(sample.calls)
        per = ", ".join(f"{op.split('.', 1)[1]} {count / len(samples):.2g}" for op, count in sorted(calls.items())
                        if count) if samples else "-"
        rows.append([label, len(samples), ms(pct(walls, 50)), ms(pct(walls, 99)), ms(pct(apps, 50)),
                     ms(pct(apps, 99)), f"{pct(walls, 50) / base_50:.2f}x", f"{pct(walls, 99) / base_99:.2f}x",
                     f"{sum(calls.values()) / max(1, len(samples)):.1f}", per])
    table(f"A new web-chat visitor's first message until the desk's answer is stored for them (ms; "
          f"{len(by_mode[BOT])} messages each way, interleaved)",
          ["", "n", "p50", "p99", "app p50", "app p99", "p50/base", "p99/base", "AWS calls", "by operation"], rows,
          note=("p50/p99: POST /webhooks/webchat + desk.pump() until idle (process_inbound, then send_outbound\n"
                "storing the answer on the ticket); the table stream's reactions run after, untimed, as Lambda\n"
                "runs them apart.\n"
                "app = the POST + the functions' invocations (no harness SQS receive/delete).\n"
                "Baseline: the same message with bot_enabled false (the plain chat acknowledgement)."))
    statuses = Counter(s.status for s in report.samples)
    unread = {mode: sum(1 for s in samples if not s.desk_lines) for mode, samples in by_mode.items()}
    print(f"\n  POST answers: {dict(statuses)}; messages whose visitor then read nothing from the desk: "
          + ", ".join(f"{mode} {count}" for mode, count in unread.items()))
    for mode, samples in by_mode.items():
        kinds = Counter(kind for s in samples for kind in s.stored)
        print(f"  {mode}: the desk's messages stored on the tickets: {dict(kinds)}")
    states = Counter((s.bot or {}).get("state", "no bot state") for s in by_mode[BOT])
    print(f"  bot on: bot state on the tickets {dict(states)}; bot answers {len(answered)} of {len(by_mode[BOT])}")
    outcomes = Counter(classify(s.question, _e2e_decision(s)) for s in by_mode[BOT])
    print("  bot on, as decided inside the pipeline: " + ", ".join(f"{o} {outcomes[o]}" for o in OUTCOMES))
    if quality is not None:
        asked = {a.question: a for a in quality.runs[(DESK_PICKED, quality.threshold)]}
        same = sum(1 for s in by_mode[BOT]
                   if s.question in asked and _verdict(_e2e_decision(s)) == _verdict(asked[s.question].decision))
        print(f"  the pipeline's decisions equal the decisions measured above (desk's language pick) for {same} "
              f"of {len(by_mode[BOT])} messages")
    mix = Counter((s.question.language, s.question.answerable) for s in by_mode[BOT])
    print("  questions timed: " + ", ".join(f"{lang} {'answerable' if ok else 'for a person'} {mix[(lang, ok)]}"
                                             for lang in LANGUAGES for ok in (True, False) if mix[(lang, ok)]))
    bot = [s.wall for s in by_mode[BOT]]
    summary["bot_latency"] = (f"web chat first message to the answer stored, bot on p50 {ms(pct(bot, 50))} ms / "
                              f"p99 {ms(pct(bot, 99))} ms vs bot off p50 {ms(base_50)} / p99 {ms(base_99)} ms "
                              f"({pct(bot, 50) / base_50:.2f}x / {pct(bot, 99) / base_99:.2f}x); bot answered "
                              f"{len(answered)}/{len(by_mode[BOT])}")


def _bot_answered(sample: Sample) -> bool:
    return bool(sample.bot) and sample.bot.get("state") in ("asked", "solved")


def _e2e_decision(sample: Sample) -> Decision:
    state = sample.bot or {}
    return Decision(_bot_answered(sample), state.get("article_id"), None, str(state.get("reason") or ""))


# --- the section -------------------------------------------------------------------------------------


def bench_bot(summary: dict[str, str], meter: ApiMeter, *, quick: bool = False,
              thresholds: Sequence[float] = THRESHOLDS, latency_questions: int | None = None) -> None:
    """``make bench`` section 12 (also ``python benchmarks/bot.py``)."""
    count = latency_questions or (10 if quick else 30)
    questions = load_questions()
    section(12, f"The chat bot: {len(questions)} customer questions (benchmarks/bot_questions.yaml), right / handed "
                f"off / wrong per bot_min_score; a web-chat message to the bot's answer, {count} messages, vs the "
                f"plain acknowledgement")
    started = time.perf_counter()
    print(f"  load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs (timings are "
          f"noisy on a shared machine; the decisions are not)")
    _prewarm()
    quality = measure_quality(questions, thresholds=thresholds)
    print_quality(quality, summary)
    print(f"\n  (decisions: {quality.seconds:.1f} s)", flush=True)
    latency = measure_latency(questions, meter, count=count)
    print_latency(latency, summary, quality)
    print(f"\n  (latency: {latency.seconds:.1f} s, of which set-up and warm-up {latency.setup_seconds:.1f} s)")
    print(f"\n  (section 12: {time.perf_counter() - started:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 messages timed end to end instead of 30")
    parser.add_argument("--thresholds", default=",".join(f"{t:g}" for t in THRESHOLDS),
                        help="bot_min_score values to sweep (the configured one is always added)")
    parser.add_argument("--latency-questions", type=int, default=None, help="messages timed each way (default 30)")
    args = parser.parse_args(argv)
    _prepare_environment()
    summary: dict[str, str] = {}
    meter = ApiMeter().install()
    try:
        bench_bot(summary, meter, quick=args.quick, thresholds=[float(x) for x in args.thresholds.split(",") if x],
                  latency_questions=args.latency_questions)
    finally:
        meter.uninstall()
    section(None, "Summary")
    for key, value in summary.items():
        print(f"  {key:<11} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
