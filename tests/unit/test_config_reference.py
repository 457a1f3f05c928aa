"""The README's configuration reference lists every environment variable the code reads.

The variables are found in the source (``ast``), not in a list kept by hand: ``os.environ[...]``,
``os.environ.get``, ``os.getenv``, ``"X" in os.environ``, the deployment settings
(``config.setting`` / ``config.int_setting``), the platform secrets (``secrets.get``, an
adapter's ``secrets(...)`` and ``require(secrets, ...)``) and the few helpers that pass a
variable's name on to one of those (``READERS``). A read whose name the scan cannot see (a
variable's name held in a variable) fails the test until it is taught where that name comes
from, so a new setting cannot slip past the reference.

Scanned: ``app.py`` and ``chalicelib/`` except ``chalicelib/local/`` (LocalDesk, the demo and
``make local`` set a stage's environment rather than read a deployment's).
"""
from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")

#: Functions (module, name) whose parameter is the name of a variable they read: a call of one of
#: them with ``"SOME_VARIABLE"`` among its arguments (or as a parameter's default) is a read.
READERS = {
    ("chalicelib/config.py", "setting"),  # the environment, else the dev stage's default
    ("chalicelib/config.py", "int_setting"),
    ("chalicelib/secrets.py", "get"),  # the environment, else SSM under SECRETS_SSM_PREFIX
    ("chalicelib/channels/webhook.py", "require"),  # require(secrets, name): a secret an adapter needs
    ("chalicelib/channels/meta.py", "_handle"),  # the Meta webhooks' handler, given the app secret's name
    ("chalicelib/outbound/platforms.py", "_secret"),  # a platform secret a sender needs
    ("chalicelib/storage/models.py", "_table"),  # a model's table name
    ("chalicelib/storage/shards.py", "count"),  # a shard count setting: DIRECTORY_SHARDS, TIME_SHARDS, ...
    ("chalicelib/storage/queues.py", "park"),  # the dead-letter queue's setting
    ("chalicelib/configuration.py", "_load"),  # a rule file's path: the environment, else the bundled file
}
#: Adapters are handed the secrets as a callable named ``secrets`` (``channels/webhook.py``: ``Secrets``;
#: ``receive.py`` passes ``secrets.get``), so ``secrets("NAME")`` is a read too.
SECRETS_CALLABLE = "secrets"


def _sources() -> list[Path]:
    return [ROOT / "app.py", *(path for path in sorted((ROOT / "chalicelib").rglob("*.py"))
                               if path.relative_to(ROOT / "chalicelib").parts[0] != "local")]


def _module_path(dotted: str) -> str:
    return dotted.replace(".", "/") + ".py"


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ"
            and isinstance(node.value, ast.Name) and node.value.id == "os")


class _Reads(ast.NodeVisitor):
    """Variable names one module reads; ``unseen``: reads whose name is neither a constant nor resolvable."""

    def __init__(self, path: Path, tree: ast.Module) -> None:
        self.module = str(path.relative_to(ROOT))
        self.names: set[str] = set()
        self.unseen: list[str] = []
        self._scopes: list[ast.AST] = []  # functions, comprehensions and for loops around the node
        self._modules: dict[str, str] = {}  # local name → module path (``from chalicelib import config``)
        self._functions: dict[str, tuple[str, str]] = {}  # local name → (module path, function)
        self._constants: dict[str, list[str]] = {}  # module-level tuples of strings
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chalicelib"):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    if (ROOT / _module_path(target)).exists():
                        self._modules[alias.asname or alias.name] = _module_path(target)
                    else:
                        self._functions[alias.asname or alias.name] = (_module_path(node.module), alias.name)
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, (ast.Tuple, ast.List))):
                self._constants[node.targets[0].id] = [e.value for e in node.value.elts
                                                       if isinstance(e, ast.Constant) and isinstance(e.value, str)]

    # --- what is a read ---------------------------------------------------------------------------
    def _reader(self, call: ast.Call) -> tuple[str, str] | None:
        """The reading function a call calls: ("os", "environ.get"), a READERS entry, or None."""
        func = call.func
        if isinstance(func, ast.Attribute):
            if func.attr in ("get", "getenv") and (_is_environ(func.value) or
                                                   (isinstance(func.value, ast.Name) and func.value.id == "os")):
                return ("os", func.attr)
            if isinstance(func.value, ast.Name) and func.value.id in self._modules:
                key = (self._modules[func.value.id], func.attr)
                return key if key in READERS else None
            return None
        if isinstance(func, ast.Name):
            key = self._functions.get(func.id) or (self.module, func.id)
            if key in READERS:
                return key
            if func.id == SECRETS_CALLABLE and (SECRETS_CALLABLE not in self._modules or self._parameter(func.id)):
                return ("chalicelib/channels/webhook.py", "Secrets")
        return None

    def _parameter(self, name: str) -> bool:
        """``name`` is a parameter of a function around the node (it shadows a module of that name)."""
        return any(name in {a.arg for a in [*scope.args.posonlyargs, *scope.args.args, *scope.args.kwonlyargs]}
                   for scope in self._scopes if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)))

    def visit_Call(self, node: ast.Call) -> None:
        reader = self._reader(node)
        if reader is not None:
            defaulted = reader in _readers_with_a_default()  # park(...) without dlq_setting reads INBOUND_DLQ
            self._read(node, [*node.args, *(keyword.value for keyword in node.keywords)], defaulted=defaulted)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            self._read(node, [node.slice])
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and any(map(_is_environ, node.comparators)):
            self._read(node, [node.left])
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if (self.module, node.name) in READERS:  # a default a caller may rely on: park(dlq_setting="INBOUND_DLQ")
            self.names |= _env_defaults(node)
        self._scoped(node)

    def _scoped(self, node: ast.AST) -> None:
        self._scopes.append(node)
        self.generic_visit(node)
        self._scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_For = _scoped  # type: ignore[assignment]

    # --- which names it reads -----------------------------------------------------------------------
    def _read(self, node: ast.AST, arguments: list[ast.AST], *, defaulted: bool = False) -> None:
        names: set[str] = set()
        for argument in arguments:
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str) and ENV_NAME.match(argument.value):
                names.add(argument.value)
            elif isinstance(argument, (ast.Name, ast.JoinedStr)):
                names |= self._resolved(argument)
        self.names |= names
        if not names and not defaulted and not self._inside_reader():
            function = next((f.name for f in reversed(self._scopes) if hasattr(f, "name")), "<module>")
            self.unseen.append(f"{self.module}:{node.lineno} in {function}")  # type: ignore[attr-defined]

    def _inside_reader(self) -> bool:
        """A reader's own body: its caller names the variable."""
        return any((self.module, getattr(scope, "name", None)) in READERS for scope in self._scopes)

    def _resolved(self, argument: ast.AST) -> set[str]:
        """A loop variable over constants (``for s in ("A", "B")``, or a module-level tuple), or an
        f-string of one (``f"{s}_URL"``): every name it takes."""
        for scope in reversed(self._scopes):
            loops = scope.generators if hasattr(scope, "generators") else [scope] if isinstance(scope, ast.For) else []
            for loop in loops:
                if not isinstance(loop.target, ast.Name):
                    continue
                values = self._values(loop.iter)
                names = {self._spelled(argument, loop.target.id, value) for value in values}
                names.discard(None)
                if names and all(ENV_NAME.match(name) for name in names):  # type: ignore[arg-type]
                    return names  # type: ignore[return-value]
        return set()

    def _values(self, node: ast.AST) -> list[str]:
        if isinstance(node, (ast.Tuple, ast.List)):
            return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if isinstance(node, ast.Name):
            return self._constants.get(node.id, [])
        return []

    @staticmethod
    def _spelled(argument: ast.AST, variable: str, value: str) -> str | None:
        if isinstance(argument, ast.Name):
            return value if argument.id == variable else None
        parts = []
        for piece in argument.values:  # type: ignore[attr-defined]
            if isinstance(piece, ast.Constant):
                parts.append(str(piece.value))
            elif isinstance(piece, ast.FormattedValue) and isinstance(piece.value, ast.Name) and piece.value.id == variable:
                parts.append(value)
            else:
                return None
        return "".join(parts)


def _env_defaults(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    defaults = [*function.args.defaults, *(d for d in function.args.kw_defaults if d is not None)]
    return {d.value for d in defaults if isinstance(d, ast.Constant) and isinstance(d.value, str)
            and ENV_NAME.match(d.value)}


@functools.lru_cache(maxsize=1)
def _readers_with_a_default() -> frozenset[tuple[str, str]]:
    found = set()
    for module, name in READERS:
        for node in ast.walk(ast.parse((ROOT / module).read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name and _env_defaults(node):
                found.add((module, name))
    return frozenset(found)


def _scan(path: Path, source: str) -> _Reads:
    tree = ast.parse(source, filename=str(path))
    reads = _Reads(path, tree)
    reads.visit(tree)
    return reads


@functools.lru_cache(maxsize=1)
def variables_read() -> tuple[frozenset[str], tuple[str, ...]]:
    """Every variable name the code reads, and the reads whose name the scan could not see."""
    names: set[str] = set()
    unseen: list[str] = []
    for path in _sources():
        reads = _scan(path, path.read_text(encoding="utf-8"))
        names |= reads.names
        unseen += reads.unseen
    return frozenset(names), tuple(unseen)


def reference_table() -> dict[str, tuple[str, str]]:
    """The README's configuration reference: name → (default, what it does), from its table rows."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n### Configuration\n") + len("\n### Configuration\n")
    section = re.split(r"\n#{1,3} ", text[start:], maxsplit=1)[0]  # up to the next heading
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) == 3 and cells[0].startswith("`"):
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
                rows[name] = (cells[1], cells[2])
    return rows


def test_the_scan_sees_each_way_of_reading_a_variable():
    source = '''
import os
from chalicelib import config, secrets
from chalicelib import secrets as app_secrets
from chalicelib.channels.webhook import require

NAMES = ("FROM_A_CONSTANT",)

def handler(secrets_callable, name):
    os.environ["BY_INDEX"]
    os.environ.get("BY_GET")
    os.getenv("BY_GETENV")
    if "BY_IN" in os.environ:
        pass
    config.setting("BY_SETTING") + str(config.int_setting("BY_INT_SETTING"))
    secrets.get("BY_SECRETS") or app_secrets.get("BY_ALIAS")
    {s: os.environ.get(f"{s}_URL") for s in ("LOOPED",)}
    [config.setting(n) for n in NAMES]
    os.environ["NOT_A_READ"] = "written"
    os.environ.get(name)

def adapter(request, secrets):
    return secrets("BY_CALLABLE"), require(secrets, "BY_REQUIRE")
'''
    reads = _scan(ROOT / "chalicelib" / "example.py", source)

    assert reads.names == {"BY_INDEX", "BY_GET", "BY_GETENV", "BY_IN", "BY_SETTING", "BY_INT_SETTING", "BY_SECRETS",
                           "BY_ALIAS", "LOOPED_URL", "FROM_A_CONSTANT", "BY_CALLABLE", "BY_REQUIRE"}
    assert reads.unseen == ["chalicelib/example.py:20 in handler"]  # os.environ.get(name): from where?


def test_every_reader_the_scan_trusts_exists():
    for module, name in READERS:
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        assert any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name
                   for node in ast.walk(tree)), f"{module} defines no {name}(): update READERS"


def test_every_read_names_its_variable_where_the_scan_can_see_it():
    _, unseen = variables_read()
    assert unseen == (), ("reads whose variable name the scan cannot see; add the helper to READERS "
                          "(its callers name the variable) or read a constant name")


def test_the_scan_finds_the_settings_the_issue_named_and_every_kind_of_read():
    names, _ = variables_read()
    assert {"META_GRAPH_VERSION", "WHATSAPP_TEMPLATE_LANGUAGE", "SLACK_BOT_USER_ID"} <= names  # secrets
    assert {"TICKETS_TABLE", "PARSE_BUDGET_SECONDS", "INBOUND_QUEUE"} <= names  # config.setting, _table
    assert {"TRIAGE_RULES", "WEBCHAT_ALLOWED_ORIGINS", "AWS_REGION", "SURVEY_TTL_DAYS"} <= names  # os.environ
    assert {"INBOUND_QUEUE_URL", "OUTBOUND_DLQ_URL"} <= names  # f"{s}_URL" over the queue settings
    assert {"WHATSAPP_APP_SECRET", "TWILIO_AUTH_TOKEN", "SECRETS_SSM_PREFIX"} <= names


def test_the_readme_reference_lists_every_variable_the_code_reads():
    names, _ = variables_read()
    listed = reference_table()
    missing = sorted(names - set(listed))
    assert missing == [], f"add these to README.md's configuration reference (name, default, what it does): {missing}"


def test_every_row_of_the_reference_has_a_default_and_a_description():
    rows = reference_table()
    assert len(rows) >= 40
    for name, (default, description) in rows.items():
        assert default, f"{name}: say its default (or 'none' / 'required')"
        assert len(description) > 10, f"{name}: say what it does"


def test_the_reference_lists_nothing_the_code_does_not_read():
    names, _ = variables_read()
    stale = sorted(set(reference_table()) - names)
    assert stale == [], f"README.md's configuration reference lists variables nothing reads: {stale}"


@pytest.mark.parametrize("name", ["PARSE_BUDGET_SECONDS", "SIGNIN_LINK_MINUTES", "TICKET_NUMBER_BLOCK", "SESSION_HOURS"])
def test_defaults_in_the_reference_are_the_code_defaults(name):
    from chalicelib import config

    default = reference_table()[name][0]
    assert f"`{config._DEFAULTS[name]}`" in default
