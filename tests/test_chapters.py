"""Every chapter follows the book's template and installs gdynbook from the one URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
TEMPLATE = ["## Aim", "## Theory", "## Practice", "## Discussion", "## Exercises", "## References"]


def _toc_files() -> list[str]:
    return [
        chapter["file"]
        for part in TOC["parts"]
        for chapter in part["chapters"]
        if chapter["file"].startswith("book/")
    ]


CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))


def test_every_chapter_is_in_the_table_of_contents() -> None:
    listed = {f"{name}.ipynb" for name in _toc_files()}
    present = {f"book/{path.name}" for path in CHAPTERS}
    assert listed == present


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_follows_the_template(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    headings = [line.strip() for line in markdown.splitlines() if line.startswith("## ")]
    assert [h for h in headings if h in TEMPLATE] == TEMPLATE, headings
    assert markdown.lstrip().startswith("# "), "a chapter starts with its title"
    assert "{dropdown} Running this notebook" in markdown
    for block in markdown.split("```{admonition} Solution")[1:]:
        assert block.splitlines()[1].strip() == ":class: dropdown", "solutions stay hidden"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_first_code_cell_installs_from_the_configured_repository(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    first = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
    assert '"google.colab" in sys.modules' in first
    assert f"git+{CONFIG['repository']['url']}" in first
