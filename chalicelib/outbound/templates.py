"""Jinja2 rendering for customer-facing text, HTML autoescaped, undefined names fatal."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2  # imported on first render, not on every cold start

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(name: str, **context: Any) -> str:
    return _environment().get_template(name).render(**context)
