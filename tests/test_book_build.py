"""The book build fails on a broken cross-reference, an unknown citation or a missing figure.

A small book is built with the project's own ``_config.yml`` and the flags ``make
build-book`` uses: once clean (it must build) and once with one of each fault (it must
fail, naming every fault).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"

CLEAN_PAGE = """# A page

(a-label)=
## A section

See {ref}`a-label`, {doc}`intro` and {cite:t}`xie2019gdynets`.

![a figure](figure.png)

A formula: $\\tau = -\\ln \\lambda$.
"""

FAULTS = {
    "broken reference": ("{ref}`no-such-label`", "undefined label"),
    "missing document": ("{doc}`no-such-page`", "unknown document"),
    "unknown citation": ("{cite:t}`no-such-key-2099`", "no-such-key-2099"),
    "missing figure": ("![lost](no-such-figure.png)", "no-such-figure.png"),
}


def _book_flags() -> list[str]:
    match = re.search(r"^BOOK_FLAGS\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "the Makefile defines BOOK_FLAGS for jupyter-book build"
    return match.group(1).split()


def _build(book: Path, page: str) -> subprocess.CompletedProcess[str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["bibtex_bibfiles"] = [str(ROOT / "reference" / "references.bib")]
    config["sphinx"]["local_extensions"] = {"offline_mathjax": str(ROOT / "reference" / "_ext")}
    config["execute"]["execute_notebooks"] = "off"
    book.mkdir()
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n")
    (book / "intro.md").write_text("# Intro\n\n```{bibliography}\n:all:\n```\n")
    (book / "page.md").write_text(page)
    _tiny_png(book / "figure.png")
    return subprocess.run(
        [str(JUPYTER_BOOK), "build", *_book_flags(), "--path-output", str(book), str(book)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _tiny_png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    fig.savefig(path)
    plt.close(fig)


@pytest.mark.skipif(not JUPYTER_BOOK.exists(), reason="jupyter-book is not installed")
def test_build_fails_on_each_fault_and_passes_without(tmp_path: Path) -> None:
    clean = _build(tmp_path / "clean", CLEAN_PAGE)
    assert clean.returncode == 0, clean.stdout[-3000:] + clean.stderr[-3000:]
    # math is served by the book's own MathJax, not a CDN
    html = (tmp_path / "clean" / "_build" / "html" / "page.html").read_text()
    assert "_static/mathjax/tex-svg.js" in html and "cdn.jsdelivr" not in html
    assert (tmp_path / "clean" / "_build" / "html" / "_static" / "mathjax" / "tex-svg.js").is_file()

    faulty_page = CLEAN_PAGE + "\n".join(snippet for snippet, _ in FAULTS.values()) + "\n"
    faulty = _build(tmp_path / "faulty", faulty_page)
    log = faulty.stdout + faulty.stderr
    assert faulty.returncode != 0, "the build passed with broken references and figures"
    for fault, (_, message) in FAULTS.items():
        assert message in log, f"the build log does not name the {fault} ({message!r})"


def test_api_reference_documents_every_module() -> None:
    api = (ROOT / "reference" / "api.md").read_text()
    documented = set(re.findall(r"automodule:: ([\w.]+)", api))
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "gdynbook").rglob("*.py")
        if path.stem not in ("__init__", "__main__")
    }
    assert modules - documented == set(), "add these modules to reference/api.md"
    assert documented - modules == set(), "reference/api.md names modules that do not exist"
