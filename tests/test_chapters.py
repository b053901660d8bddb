"""Every chapter follows the book's template and installs gdynbook from the one URL."""

from __future__ import annotations

import json
import re
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
    for block in markdown.split("```{admonition} Solution")[1:]:
        assert block.splitlines()[1].strip() == ":class: dropdown", "solutions stay hidden"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_opens_with_the_running_dropdown_and_the_device_cell(path: Path) -> None:
    """Title, then the hidden "Running this chapter" install cell, then the device cell."""
    cells = json.loads(path.read_text())["cells"]
    title, install, device = cells[:3]
    assert title["cell_type"] == "markdown"
    assert "".join(title["source"]).startswith("# ")
    assert install["cell_type"] == "code"
    assert "hide-cell" in install["metadata"].get("tags", [])
    assert install["metadata"]["mystnb"]["code_prompt_show"] == "Running this chapter"
    source = "".join(install["source"])
    assert source.startswith("# Running this chapter\n")
    assert '"google.colab" in sys.modules' in source
    # The Colab cell cannot read _config.yml at run time: this keeps it on the same
    # repository and ref as the Colab buttons (one place to change for a release).
    url, ref = CONFIG["repository"]["url"], CONFIG["repository"]["branch"]
    assert f'"gdynbook[notebooks] @ git+{url}@{ref}"' in source
    assert "enable_custom_widget_manager()" in source, "nglview (the [viewer] extra) needs it"
    device_source = "".join(device["source"])
    assert "DEVICE = config.device()" in device_source
    assert "print(config.describe_run())" in device_source


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapters_that_train_use_the_device_cell(path: Path) -> None:
    code = "\n".join(
        "".join(c["source"])
        for c in json.loads(path.read_text())["cells"][3:]
        if c["cell_type"] == "code"
    )
    trains = re.search(r"\b(fit|train_toy_models|train_run|train_model)\(|\"train\",", code)
    if trains:
        assert "DEVICE" in code, "a chapter that trains passes device=DEVICE"
    assert "import dgl" not in code, "Colab runs Python 3.12, where DGL has no wheel"


def test_intro_learning_path_lists_every_chapter_with_both_times() -> None:
    intro = (ROOT / "intro.md").read_text()
    path = intro.split("## Learning path", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in path.splitlines() if line.startswith("|") and "{doc}" in line]
    listed = [re.search(r"\{doc\}`(book/\w+)`", row).group(1) for row in rows]
    assert listed == _toc_files(), "the learning path follows the table of contents"
    for row in rows:
        fast, full = (cell.strip() for cell in row.strip("|").split("|")[-2:])
        assert re.fullmatch(r"\d+\s(s|min)", fast) and re.fullmatch(r"\d+\s(s|min)", full), row
    assert "fast-mode" in intro and "How to cite" in intro


def test_citation_agrees_with_the_package_and_the_intro() -> None:
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == version
    assert citation["repository-code"] == CONFIG["repository"]["url"]
    intro = (ROOT / "intro.md").read_text()
    assert f"version = {{{version}}}" in intro
    assert f"url     = {{{CONFIG['repository']['url']}}}" in intro


#: Chapters whose exercises get their solutions with the Li⁺-state chapters (issue 21).
SOLUTIONS_PENDING = {"07_peo_states.ipynb", "08_peo_state_meaning.ipynb", "09_transference.ipynb"}


@pytest.mark.parametrize(
    "path", [p for p in CHAPTERS if p.name not in SOLUTIONS_PENDING], ids=lambda p: p.name
)
def test_every_exercise_has_a_hidden_solution(path: Path) -> None:
    """One "Solution to k" cell per exercise, tagged ``solution`` and collapsed; solution
    code cells are tagged too, so `gdynbook notebooks --no-solutions` drops them all."""
    cells = json.loads(path.read_text())["cells"]
    exercises = next(
        "".join(c["source"]) for c in cells if "".join(c["source"]).startswith("## Exercises")
    )
    n_exercises = len(re.findall(r"^\d+\. ", exercises, flags=re.MULTILINE))
    assert n_exercises >= 1
    solutions = [c for c in cells if "solution" in c.get("metadata", {}).get("tags", [])]
    titles = [
        int(m.group(1))
        for c in solutions
        for m in [re.search(r"Solution to (\d+)", "".join(c["source"]))]
        if m
    ]
    assert titles == list(range(1, n_exercises + 1)), "one solution per exercise, in order"
    for cell in solutions:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            assert ":class: dropdown" in source, "a solution is collapsed by default"
        else:
            assert "hide-cell" in cell["metadata"]["tags"], "solution code is collapsed"
    assert "Solution" not in exercises, "solutions live in their own tagged cells"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_cell_has_a_unique_id(path: Path) -> None:
    """nbformat 4.5 requires cell ids (missing ones are a warning now, an error later)."""
    ids = [cell.get("id") for cell in json.loads(path.read_text())["cells"]]
    assert None not in ids, f"{path.name}: cells {[i for i, c in enumerate(ids) if c is None]}"
    assert len(set(ids)) == len(ids)
