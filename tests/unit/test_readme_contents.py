"""The README can be navigated: its contents name every section, and every in-page link lands on a heading."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _headings(text: str) -> dict[str, str]:
    """Anchor → heading text, outside code blocks."""
    found: dict[str, str] = {}
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip()
            found[_slug(title)] = title
    return found


def _contents(text: str) -> str:
    start = text.index("**Contents**")
    return text[start:text.index("\n\n", start)]


def test_slugs_follow_githubs_rules():
    assert _slug("The whole flow on your machine: `make local`") == "the-whole-flow-on-your-machine-make-local"
    assert _slug("The agents' console") == "the-agents-console"
    assert _slug("The 24/7 chat bot") == "the-247-chat-bot"


def test_every_in_page_link_lands_on_a_heading():
    text = README.read_text(encoding="utf-8")
    anchors = _headings(text)
    broken = sorted({link for link in re.findall(r"\]\(#([^)]+)\)", text) if link not in anchors})
    assert broken == [], f"README links to headings that do not exist: {broken}"


def test_the_contents_name_every_top_level_section():
    text = README.read_text(encoding="utf-8")
    sections = [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]
    listed = set(re.findall(r"\]\(#([^)]+)\)", _contents(text)))
    missing = [title for title in sections if _slug(title) not in listed]
    assert missing == [], f"add these sections to the README's contents (at the top): {missing}"


def test_the_contents_link_the_licence_and_the_changelog():
    contents = _contents(README.read_text(encoding="utf-8"))
    for name in ("LICENSE", "CHANGELOG.md"):
        assert f"]({name})" in contents and (ROOT / name).is_file()
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
