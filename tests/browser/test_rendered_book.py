"""Open every rendered chapter in headless Chromium, as a reader would.

Runs after the book build (``make browser``, part of ``make test``). It needs the Debian
``chromium`` package and the ``playwright`` Python package (no browser download: the
system Chromium is used). Outside CI a missing browser or book skips these tests; with
``CI=true`` it fails them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CHAPTERS = [
    c["file"] for part in TOC["parts"] for c in part["chapters"] if c["file"].startswith("book/")
]
ERROR_OUTPUTS = ".cell_output .output.traceback, .cell_output .output.error"


def _missing() -> str | None:
    if not (HTML / "index.html").is_file():
        return "the book is not built (make build-book)"
    if CHROMIUM is None:
        return "no chromium on PATH (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


@pytest.fixture(scope="module")
def page():
    reason = _missing()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser check cannot run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        # Builds and tests never need the network: block everything that is not a file.
        context.route(
            "**/*",
            lambda route: (
                route.abort() if not route.request.url.startswith("file://") else route.continue_()
            ),
        )
        yield context.new_page()
        browser.close()


def _open(page, relative: str) -> None:
    page.goto((HTML / relative).as_uri(), wait_until="load")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_renders_without_errors(page, chapter: str) -> None:
    _open(page, f"{chapter}.html")
    heading = page.locator("main h1").first.inner_text().strip()
    assert heading and page.title().strip(), "the page has a title"
    assert page.locator(ERROR_OUTPUTS).count() == 0, "an output cell shows an error"
    # The Colab install cell sits, collapsed, under a "Running this chapter" toggle, and
    # the device cell's output says the page shows a fast-mode run.
    toggle = page.locator("details summary", has_text="Running this chapter")
    assert toggle.count() == 1, "no 'Running this chapter' toggle"
    assert not page.get_by_text("enable_custom_widget_manager").first.is_visible()
    assert page.locator(".cell_output", has_text="fast mode (GDYNBOOK_FAST=1)").count() == 1
    widths = page.evaluate(
        """async () => {
            const images = Array.from(document.querySelectorAll("main img"));
            images.forEach((img) => { img.loading = "eager"; });
            await Promise.all(images.map((img) => img.complete ? null :
                new Promise((done) => { img.onload = done; img.onerror = done; })));
            return images.map((img) => [img.getAttribute("src"), img.naturalWidth]);
        }"""
    )
    broken = [src for src, width in widths if width == 0]
    assert not broken, f"figures that did not load: {broken}"
    expected = (
        f"{CONFIG['launch_buttons']['colab_url']}/github/"
        f"{CONFIG['repository']['url'].removeprefix('https://github.com/')}/blob/"
        f"{CONFIG['repository']['branch']}/{chapter}.ipynb"
    )
    links = [
        page.locator("a").nth(i).get_attribute("href") or ""
        for i in range(page.locator("a").count())
    ]
    assert expected in links, f"no Colab button pointing at {expected}"
    repository, branch = CONFIG["repository"]["url"], CONFIG["repository"]["branch"]
    assert any(link.startswith(f"{repository}/issues") for link in links), "no issues button"
    assert any(
        link.startswith(f"{repository}/edit/{branch}/{chapter}") for link in links
    ), "no edit button"
    # Math is typeset offline by the book's own MathJax: no raw TeX delimiters remain in
    # the text of a page that has formulas, and none failed to parse.
    page.wait_for_function(
        "() => !window.MathJax || !window.MathJax.startup || "
        "window.MathJax.startup.promise !== undefined",
        timeout=10_000,
    )
    page.evaluate(
        "() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise"
    )
    source = (HTML / f"{chapter}.html").read_text()
    if "\\(" in source or "\\[" in source or 'class="math' in source:
        assert page.locator("mjx-container").count() > 0, "formulas were not typeset"
        assert page.locator("mjx-merror").count() == 0, "a formula failed to parse"
        text = page.locator("main").inner_text()
        assert "\\(" not in text and "\\[" not in text, "raw TeX left in the page"


def test_screenshots_of_the_intro_and_the_toy_chapter(page) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, relative in (("intro", "intro.html"), ("toy-system", "book/03_toy_system.html")):
        _open(page, relative)
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)  # the whole page
        assert path.stat().st_size > 10_000
