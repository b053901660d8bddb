"""Sphinx extension: serve MathJax 3 from the book itself, so formulas render offline.

MathJax 3.2.2 (``tex-svg.js``: TeX in, SVG out, no web fonts needed) comes with the
``sphinx-mathjax-offline`` package from PyPI (a dev dependency). At the end of a build its
``mathjax`` folder is copied into ``_static/mathjax`` and every page loads it from there
instead of a CDN.
"""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util.fileutil import copy_asset

MATHJAX_FILE = "mathjax/tex-svg.js"


def mathjax_folder() -> Path:
    """The MathJax 3 folder shipped by the ``sphinx-mathjax-offline`` distribution."""
    folder = Path(
        distribution("sphinx-mathjax-offline").locate_file("sphinx-mathjax-offline/static/mathjax")
    )
    if not (folder / "tex-svg.js").is_file():
        raise RuntimeError(f"MathJax is missing from {folder}: reinstall sphinx-mathjax-offline.")
    return folder


def _copy(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        copy_asset(str(mathjax_folder()), str(Path(app.outdir) / "_static" / "mathjax"))


def setup(app: Sphinx) -> dict[str, bool]:
    mathjax_folder()  # fail early, with the fix, if the package is missing
    app.config.mathjax_path = MATHJAX_FILE
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
