"""The notebooks extra on Colab: nothing it installs may replace Colab's own torch,
notebook, ipywidgets or ipykernel, and everything else must come as a wheel.

Colab's preinstalled set (Python 3.13, torch 2.11.0+cu128, notebook 6.5.7, ipywidgets
7.7.1, ...) is Colab's own published list, kept in ``tests/colab/``. A requirement on a
package Colab has is checked by specifier against Colab's version (torch's CUDA build
and its companions are not on PyPI as such, so they cannot be resolved); the rest is
resolved by ``pip install --dry-run --report`` for CPython 3.13 manylinux wheels, with
every other Colab package pinned to Colab's version. Needs PyPI: skipped when it cannot
be reached.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
COLAB = Path(__file__).parent / "colab" / "colab-gpu-2026-08-19.txt"
#: What the install cell must never change on Colab.
PROTECTED = {"torch", "notebook", "ipywidgets", "ipykernel"}
#: The notebooks extra as it was before it was made Colab-safe (issue 23), for the test
#: that shows the check can fail.
OLD_REQUIREMENTS = ["torch>=2.11", "nglview>=3.1", "ipywidgets>=8", "ipykernel"]


def colab_versions() -> dict[str, str]:
    """Package (canonical name) → version on Colab."""
    versions = {}
    for line in COLAB.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            versions[canonicalize_name(name)] = version.strip()
    return versions


def wheel_requirements(wheel: Path, extra: str = "notebooks") -> list[Requirement]:
    """The wheel's requirements for a plain install plus ``extra``."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    requirements = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = Requirement(line.split(":", 1)[1].strip())
            if requirement.marker is None or requirement.marker.evaluate(
                {
                    "extra": extra,
                    "python_version": "3.13",
                    "python_full_version": "3.13.0",
                    "sys_platform": "linux",
                    "platform_system": "Linux",
                    "platform_machine": "x86_64",
                    "implementation_name": "cpython",
                }
            ):
                requirements.append(requirement)
    return requirements


def pip_dry_run(requirements: list[str], constraints: Path, report: Path) -> tuple[int, str]:
    """``pip install --dry-run --report`` for CPython 3.13 manylinux wheels only."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "--isolated",
        "install",
        "--dry-run",
        "--quiet",
        "--ignore-installed",
        "--only-binary=:all:",
        "--python-version",
        "3.13",
        "--implementation",
        "cp",
        "--abi",
        "cp313",
        "--abi",
        "abi3",
        "--abi",
        "none",
        "--platform",
        "manylinux_2_28_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "any",
        "--report",
        str(report),
        "-c",
        str(constraints),
        *requirements,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    return result.returncode, result.stderr


def colab_problems(
    requirements: list[Requirement | str],
    colab: dict[str, str],
    resolve: Callable[[list[str], Path, Path], tuple[int, str]],
    workdir: Path,
) -> list[str]:
    """What installing ``requirements`` on Colab would break (empty: nothing)."""
    problems, to_resolve = [], []
    for requirement in requirements:
        requirement = Requirement(str(requirement))
        name = canonicalize_name(requirement.name)
        if name in colab:
            if not requirement.specifier.contains(Version(colab[name]), prereleases=True):
                problems.append(
                    f"{requirement}: Colab has {name} {colab[name]}, so pip would replace it"
                )
        else:  # without its marker (extra == "notebooks" would make pip skip it)
            to_resolve.append(f"{requirement.name}{requirement.specifier}")
    if not to_resolve:
        return problems
    pins = [f"{name}=={version}" for name, version in colab.items() if "+" not in version]
    constraints = workdir / "colab-constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    report = workdir / "report.json"
    returncode, stderr = resolve(to_resolve, constraints, report)
    if returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-6:])
        return problems + [f"{to_resolve} do not resolve to wheels on Colab's set:\n{tail}"]
    for item in json.loads(report.read_text())["install"]:
        name = canonicalize_name(item["metadata"]["name"])
        version = item["metadata"]["version"]
        if name in PROTECTED or (name in colab and colab[name] != version):
            problems.append(f"{name} would change on Colab: {colab.get(name)} → {version}")
        if not item["download_info"]["url"].endswith(".whl"):
            problems.append(f"{name} {version} has no wheel (an sdist to build on Colab)")
    return problems


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


network = pytest.mark.skipif(not _pypi_reachable(), reason="PyPI cannot be reached")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    return next(out.glob("gdynbook-*.whl"))


@network
def test_the_notebooks_extra_installs_on_colab_without_replacing_anything(wheel, tmp_path):
    requirements = wheel_requirements(wheel)
    names = {canonicalize_name(r.name) for r in requirements}
    assert {"py3dmol", "pandas", "mdtraj", "torch"} <= names
    assert not names & {"nglview", "ipywidgets"}, "widget views belong to the [viewer] extra"
    problems = colab_problems(requirements, colab_versions(), pip_dry_run, tmp_path)
    assert problems == [], "\n".join(problems)
    resolved = {
        canonicalize_name(item["metadata"]["name"])
        for item in json.loads((tmp_path / "report.json").read_text())["install"]
    }
    assert {"py3dmol", "mdtraj"} <= resolved  # the packages Colab lacks were resolved


@network
def test_the_old_notebooks_extra_fails_the_check(tmp_path):
    problems = colab_problems(OLD_REQUIREMENTS, colab_versions(), pip_dry_run, tmp_path)
    assert any(p.startswith("ipywidgets>=8: Colab has ipywidgets 7.7.1") for p in problems), (
        problems
    )


def test_the_specifier_check_and_the_report_reading(tmp_path):
    """Offline: the logic, with a stand-in for pip."""
    colab = {"torch": "2.11.0+cu128", "numpy": "2.1.3", "notebook": "6.5.7"}

    def resolver(installs):
        def resolve(requirements, constraints, report):
            assert "numpy==2.1.3" in constraints.read_text()
            assert "torch" not in constraints.read_text()  # +cu128 is not on PyPI
            report.write_text(json.dumps({"install": installs}))
            return 0, ""

        return resolve

    def item(name, version, url):
        return {"metadata": {"name": name, "version": version}, "download_info": {"url": url}}

    good = resolver([item("py3Dmol", "2.5.5", "https://x/py3dmol-2.5.5-py3-none-any.whl")])
    assert colab_problems(["torch>=2.1", "numpy>=1.24", "py3Dmol"], colab, good, tmp_path) == []
    problems = colab_problems(["torch>=2.12", "numpy<2"], colab, good, tmp_path)
    assert len(problems) == 2 and "Colab has torch 2.11.0+cu128" in problems[0]
    bad = resolver(
        [
            item("notebook", "7.4.0", "https://x/notebook-7.4.0-py3-none-any.whl"),
            item("nglview", "4.0.1", "https://x/nglview-4.0.1.tar.gz"),
        ]
    )
    problems = colab_problems(["nglview>=3.1"], colab, bad, tmp_path)
    assert any("notebook would change" in p for p in problems)
    assert any("nglview 4.0.1 has no wheel" in p for p in problems)
    assert re.search(r"6\.5\.7 → 7\.4\.0", "\n".join(problems))
