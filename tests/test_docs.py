"""The docs stay whole: a page per registered stage, no dead relative link, a short README."""
from __future__ import annotations

import re
from pathlib import Path

from corpus.core import registry

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 260
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def relative_links(page: Path) -> list[str]:
    """Markdown link targets outside code blocks, less URLs and in-page anchors."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    targets = (m.group(1).split("#")[0] for m in LINK.finditer(text))
    return [t for t in targets if t and not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_every_registered_stage_has_its_page():
    missing = [name for name in registry.names()
               if not (ROOT / "docs" / "stages" / f"{name}.md").is_file()]
    assert not missing, f"no docs/stages/<name>.md for {missing}"


def test_relative_links_point_at_existing_files():
    dead = [f"{page.relative_to(ROOT)}: {target}" for page in doc_files()
            for target in relative_links(page) if not (page.parent / target).exists()]
    assert not dead, "dead links:\n" + "\n".join(dead)


def test_readme_stays_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; the reference goes in docs/"
